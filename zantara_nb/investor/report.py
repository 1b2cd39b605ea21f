"""The investor report in one object: every figure of ``notebooks/05_roi`` computed once.

>>> from zantara_nb import Warehouse, investor
>>> inv = investor.build_report(Warehouse(), as_of="2026-12-01")
>>> inv.roi.net_roi, inv.roi.payback_month, inv.unit_economics.value("ltv_cac")
>>> inv.headline()            # the cards and the summary paragraph (HTML)

The notebook's cells only call the block methods (:meth:`InvestorReport.headline`,
:meth:`~InvestorReport.roi_section`, ...), so the reader page, the PDF and the tests read
the same numbers.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path
from typing import Any

from . import charts as ichart
from . import display as d
from .assumptions import Assumptions, load_assumptions
from .measure import Inputs, ReportMonth, measure_inputs, report_month
from .model import ROIInputs, ROIResult, roi
from .realised import Realised, realised
from .scenarios import (
    MonteCarlo,
    ScenarioResult,
    Sensitivity,
    base_inputs,
    monte_carlo,
    scenarios,
    sensitivity,
)
from .seed import SeedCheck, seed_check
from .stack import StackComparison, compare_stacks
from .unit_economics import UnitEconomics, unit_economics


class Block:
    """A piece of HTML that renders in a notebook (and prints as its text)."""

    def __init__(self, html: str) -> None:
        self.html = html

    def _repr_html_(self) -> str:
        return self.html

    def __str__(self) -> str:
        import re

        return re.sub(r"<[^>]+>", " ", self.html)


@dataclass
class InvestorReport:
    """Every figure of the investor report for one month (see the module docstring)."""

    month: ReportMonth
    assumptions: Assumptions
    inputs: Inputs
    base: ROIInputs
    roi: ROIResult
    scenarios: ScenarioResult
    sensitivity: Sensitivity
    monte_carlo: MonteCarlo
    stacks: StackComparison
    unit_economics: UnitEconomics
    realised: Realised | None
    seed: SeedCheck
    timings: dict[str, float] = field(default_factory=dict)

    # -- text -----------------------------------------------------------------------------

    def summary_text(self) -> str:
        """The headline in plain words."""
        r, a = self.roi, self.assumptions
        lines = r.lines.sort_values("year1_usd", ascending=False)
        top = lines.iloc[0]
        share = top["year1_usd"] / r.returns_usd if r.returns_usd else 0
        sc = self.scenarios.df.set_index("scenario")
        mc = self.monte_carlo
        ue = self.unit_economics
        x = self.base
        pay = f"month {r.payback_month}" if r.payback_month else "not within 10 years"
        parts = [
            f"In the base case the analytics stack costs {d.fmt_value(r.investment_usd, 'usd')} "
            f"in its first year ({x.setup_hours:g} hours of setup at "
            f"${x.hourly_rate_usd:g} an hour and {d.fmt_value(x.stack_usd_per_month, 'usd')} a "
            f"month) and returns {d.fmt_value(r.returns_usd, 'usd')}: a net ROI of "
            f"{d.fmt_value(r.net_roi, 'rate')} ({d.fmt_value(r.multiple, 'ratio')} the money), "
            f"paid back in {pay}.",
            f"{top['label']} brings {share:.0%} of it.",
            f"The conservative scenario still returns "
            f"{d.fmt_value(sc.at['conservative', 'net_roi'], 'rate')}; across "
            f"{mc.draws:,} simulations, eight in ten fall between "
            f"{d.fmt_value(mc.percentile('net_roi', 10), 'rate')} and "
            f"{d.fmt_value(mc.percentile('net_roi', 90), 'rate')}.",
        ]
        mrr, paying = ue.value("mrr"), ue.value("paying_customers")
        if mrr is not None and paying:
            parts.append(
                f"The business behind it ({self.month.start:%B %Y}): "
                f"{d.fmt_value(mrr, 'usd')} MRR from {paying:,.0f} paying customers "
                f"({d.fmt_value(ue.value('arpu'), 'usd')} each), "
                f"{d.fmt_value(ue.value('logo_churn'), 'rate')} of customers lost a month, a "
                f"gross margin of {d.fmt_value(ue.value('gross_margin'), 'rate')} after inference "
                f"and analytics costs, and LTV:CAC of {d.fmt_value(ue.value('ltv_cac'), 'ratio')} "
                f"(CAC from an assumed {d.fmt_value(a.marketing_spend.value, 'usd')} monthly "
                "marketing spend)."
            )
        parts.append(
            "The returns rest on the seed's assumed uplifts; the before/after comparison below "
            "shows what the data says so far."
        )
        return " ".join(parts)

    # -- blocks for the notebook ----------------------------------------------------------

    def headline(self) -> Block:
        """Four cards (net ROI, payback, LTV:CAC, gross margin) and the summary paragraph."""
        r, ue, mc = self.roi, self.unit_economics, self.monte_carlo
        sc = self.scenarios.df.set_index("scenario")
        ltv_lo, ltv_hi = ue.interval("ltv_cac")
        pay = f"month {r.payback_month}" if r.payback_month else "beyond 10 years"
        p90 = mc.percentile("payback_month", 90)
        items = [
            (
                "Net ROI of analytics, year 1",
                d.fmt_value(r.net_roi, "rate"),
                [
                    f"returns {d.fmt_value(r.returns_usd, 'usd')} on "
                    f"{d.fmt_value(r.investment_usd, 'usd')} ({d.fmt_value(r.multiple, 'ratio')})",
                    f"scenarios {d.fmt_value(sc.at['conservative', 'net_roi'], 'rate')} to "
                    f"{d.fmt_value(sc.at['optimistic', 'net_roi'], 'rate')}",
                    f"simulated P10-P90 {d.fmt_value(mc.percentile('net_roi', 10), 'rate')} to "
                    f"{d.fmt_value(mc.percentile('net_roi', 90), 'rate')}",
                ],
            ),
            (
                "Payback",
                pay,
                [
                    "first month the cumulative cash is positive",
                    f"simulated P90: {'month ' + str(int(p90)) if p90 else 'beyond 10 years'}",
                ],
            ),
            (
                "LTV:CAC",
                d.fmt_value(ue.value("ltv_cac"), "ratio"),
                [
                    f"LTV {d.fmt_value(ue.value('ltv'), 'usd')} / CAC "
                    f"{d.fmt_value(ue.value('cac'), 'usd')}",
                    f"95% interval {d.fmt_range(ltv_lo, ltv_hi, 'ratio') or '—'}",
                    "CAC from an assumed marketing spend",
                ],
            ),
            (
                "Gross margin",
                d.fmt_value(ue.value("gross_margin"), "rate"),
                [
                    f"revenue {d.fmt_value(ue.value('revenue'), 'usd')}, inference "
                    f"{d.fmt_value(ue.value('inference_cost'), 'usd')}, analytics "
                    f"{d.fmt_value(ue.value('stack_cost'), 'usd')}",
                    f"{self.month.start:%B %Y}; other costs of revenue are not in the data",
                ],
            ),
        ]
        return Block(d.cards(items) + d.paragraph(self.summary_text()))

    def roi_section(self) -> Block:
        """How the ROI is made: each return line with its formula and values, investment."""
        notes = " ".join(self.roi.notes)
        return Block(
            d.roi_lines_html(self.roi)
            + d.note(
                "Net ROI = (returns - investment) / investment; return multiple = returns / "
                "investment; payback month = the first month whose cumulative net cash is at "
                "least 0 (setup paid in month 1). " + notes
            )
        )

    def inputs_section(self) -> Block:
        """Every assumption and measured input in one table with its source."""
        return Block(d.inputs_table_html(self.inputs))

    def scenarios_section(self) -> Block:
        return Block(d.scenarios_html(self.scenarios))

    def sensitivity_section(self) -> Block:
        return Block(d.sensitivity_html(self.sensitivity))

    def monte_carlo_section(self) -> Block:
        return Block(d.monte_carlo_html(self.monte_carlo))

    def unit_economics_section(self) -> Block:
        notes = " ".join(self.unit_economics.notes)
        return Block(d.unit_economics_html(self.unit_economics) + (d.note(notes) if notes else ""))

    def monthly_section(self) -> Block:
        return Block(d.monthly_html(self.unit_economics))

    def cohorts_section(self) -> Block:
        return Block(
            d.cohort_html(self.unit_economics, "nrr")
            + d.note(
                "Each row: the customers whose first payment fell in that month; each column: "
                "their MRR that many months later as a share of their MRR at the end of the "
                "first month (net revenue retention; '—': not yet observed)."
            )
        )

    def realised_section(self) -> Block:
        r = self.realised
        if r is None:
            return Block(d.note("No signups in the warehouse: nothing to compare."))
        when = (
            f"No go-live date is set (realised.analytics_live_date in parameters/roi.yaml): the "
            f"signups are split at the middle of the data, {r.live_date:%Y-%m-%d}, to show the "
            "method. This is not a measurement of what analytics changed."
            if r.illustrative
            else f"Analytics went live on {r.live_date:%Y-%m-%d}."
        )
        return Block(
            d.paragraph(
                f"{when} Before: signups {r.before[0]:%Y-%m-%d} to {r.before[1]:%Y-%m-%d}; "
                f"after: {r.after[0]:%Y-%m-%d} to {r.after[1]:%Y-%m-%d} (end excluded); only "
                "signups whose window has closed count."
            )
            + d.realised_html(r)
            + d.note(
                "Difference = after - before, in percentage points, with Newcombe's 95% "
                "interval; p-value of the two-proportion z-test. A before/after comparison is "
                "not an experiment: growth, seasonality and product changes move these rates "
                "too."
            )
        )

    def stacks_section(self) -> Block:
        v = self.stacks.volumes
        return Block(
            d.stack_table_html(self.stacks)
            + d.note(
                f"Priced at {v.mau:,.0f} MAU, {v.events:,.0f} events, {v.pageviews:,.0f} "
                f"pageviews, {v.recordings:,.0f} recordings and {v.flag_requests:,.0f} flag "
                "requests a month, with the seed's price points. Year 1 = setup hours x "
                f"${self.stacks.hourly_rate:g} + 12 x monthly. ▶ marks the stack in the ROI."
            )
        )

    def seed_section(self) -> Block:
        c = self.seed
        n = len(c.differing())
        return Block(
            d.paragraph(
                f"The seed's worked example checked line by line: the model fed with the "
                f"seed's own inputs reproduces every line that follows from them; {n} "
                "figures do not follow, and the table says why."
            )
            + d.seed_table_html(c)
        )

    # -- charts ---------------------------------------------------------------------------

    def cash_chart(self):
        return ichart.cash_curve_chart(self.roi)

    def returns_chart(self):
        return ichart.returns_chart(self.roi)

    def scenarios_chart(self):
        return ichart.scenarios_chart(self.scenarios)

    def tornado_chart(self):
        return ichart.tornado_chart(self.sensitivity)

    def monte_carlo_chart(self):
        return ichart.monte_carlo_chart(self.monte_carlo)

    def stack_chart(self):
        return ichart.stack_chart(self.stacks)

    def mrr_chart(self):
        return ichart.mrr_chart(self.unit_economics)

    def churn_chart(self):
        return ichart.churn_chart(self.unit_economics)

    def cohort_chart(self):
        return ichart.cohort_chart(self.unit_economics)


def build_report(
    wh,
    *,
    as_of: str | date | datetime | None = None,
    tz: str | None = None,
    assumptions: str | Path | dict[str, Any] | Assumptions | None = None,
) -> InvestorReport:
    """Compute every figure of the investor report for the last complete month before
    ``as_of``: measured inputs, ROI, scenarios, sensitivity, Monte Carlo, stack costs,
    unit economics, before/after cohorts and the seed check."""
    t: dict[str, float] = {}
    t0 = time.perf_counter()

    def lap(name: str) -> None:
        nonlocal t0
        now = time.perf_counter()
        t[name] = now - t0
        t0 = now

    a = assumptions if isinstance(assumptions, Assumptions) else load_assumptions(assumptions)
    m = report_month(as_of, tz)
    ue = unit_economics(wh, a, m)
    lap("unit_economics")
    from .subscriptions import load_timeline

    paying = load_timeline(wh, m.as_of).mrr_at(m.midnight(m.end))
    inp = measure_inputs(wh, a, as_of=m.as_of, tz=m.tz, paying=paying)
    lap("inputs")
    base = base_inputs(inp)
    result = roi(base)
    sc = scenarios(base, a)
    sens = sensitivity(base)
    mc = monte_carlo(inp, base)
    lap("roi_scenarios_sensitivity_monte_carlo")
    stacks = compare_stacks(a, inp.volumes)
    real = realised(wh, a, m)
    lap("realised")
    seed = seed_check(a)
    lap("seed_check")
    return InvestorReport(m, a, inp, base, result, sc, sens, mc, stacks, ue, real, seed, t)
