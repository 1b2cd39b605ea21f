"""HTML blocks of the investor report: headline cards and readable tables.

Every block is escaped HTML with inline styles (it reads the same in JupyterLab, in the
rendered reader page and in the PDF). Tables wrap long text instead of growing wider
than the page, so nothing is cut at the page edge.
"""

from __future__ import annotations

import html
import math
from collections.abc import Sequence
from typing import Any

from ..display.formatting import MISSING, fmt_int, fmt_p, fmt_pct, fmt_pp, fmt_usd, is_missing

_TABLE = "width:100%;border-collapse:collapse;font-size:0.86em;margin:4px 0 12px;table-layout:auto"
_TH = (
    "text-align:left;padding:4px 6px;background:#EEF1F5;border-bottom:1px solid #CCD3DC;"
    "vertical-align:bottom;font-weight:600;overflow-wrap:normal;hyphens:none"
)
_TD = (
    "text-align:left;padding:4px 6px;border-bottom:1px solid #E5E5E5;vertical-align:top;"
    "overflow-wrap:anywhere"
)
_NUM = _TD + ";text-align:right;white-space:nowrap;font-variant-numeric:tabular-nums"


def e(x: Any) -> str:
    """HTML-escaped text."""
    return html.escape(str(x))


def fmt_value(v: Any, unit: str) -> str:
    """A number for its unit: usd, rate, pp, count/users, ratio, hours, months, days."""
    if v is None or is_missing(v):
        return MISSING
    v = float(v)
    if math.isinf(v):
        return MISSING
    if unit == "usd":
        if v and abs(v) < 0.01:
            return f"${v:.6f}".rstrip("0")
        return fmt_usd(v, 2 if abs(v) < 1000 else 0)
    if unit == "rate":
        return fmt_pct(v, 1) if abs(v) < 1 else f"{100 * v:,.0f}%"
    if unit == "pp":
        return fmt_pp(v).lstrip("+")
    if unit in {"count", "users"}:
        return fmt_int(v)
    if unit == "ratio":
        return f"{v:,.1f}x" if abs(v) < 1000 else f"{v:,.0f}x"
    if unit in {"hours", "months", "days"}:
        s = f"{v:,.1f}".rstrip("0").rstrip(".")
        return f"{s} {unit[:-1] if s == '1' else unit}"
    if unit == "month":
        return f"month {int(v)}"
    if unit == "p":
        return fmt_p(v)
    return f"{v:,.2f}".rstrip("0").rstrip(".") if abs(v) < 1000 else f"{v:,.0f}"


def fmt_range(lo: Any, hi: Any, unit: str) -> str:
    """``low – high`` for an interval or range; empty when there is none."""
    if lo is None or hi is None or is_missing(lo) or is_missing(hi):
        return ""
    return f"{fmt_value(lo, unit)} – {fmt_value(hi, unit)}"


def table(
    headers: Sequence[str],
    rows: Sequence[Sequence[Any]],
    *,
    numeric: Sequence[int] = (),
    widths: Sequence[str | None] | None = None,
    raw: Sequence[int] = (),
) -> str:
    """An HTML table of display strings (escaped, except the columns in ``raw``)."""
    cols = []
    if widths:
        cols = ["<colgroup>"] + [
            f"<col style='width:{w}'>" if w else "<col>" for w in widths
        ] + ["</colgroup>"]  # fmt: skip
    head = "".join(
        f"<th style='{_TH}{';text-align:right' if i in numeric else ''}'>{e(h)}</th>"
        for i, h in enumerate(headers)
    )
    body = []
    for r in rows:
        cells = []
        for i, v in enumerate(r):
            text = str(v) if i in raw else e(MISSING if v is None else v)
            cells.append(f"<td style='{_NUM if i in numeric else _TD}'>{text}</td>")
        body.append("<tr>" + "".join(cells) + "</tr>")
    return (
        f"<table class='inv' style='{_TABLE}'>{''.join(cols)}<thead><tr>{head}</tr></thead>"
        f"<tbody>{''.join(body)}</tbody></table>"
    )


def heading(text: str, level: int = 2) -> str:
    return f"<h{level} style='margin:18px 0 6px'>{e(text)}</h{level}>"


def note(text: str) -> str:
    """A small grey note under a table or chart."""
    return f"<p style='color:#555;font-size:0.85em;margin:2px 0 10px'>{e(text)}</p>"


def paragraph(text: str) -> str:
    return f"<p style='line-height:1.5;max-width:60em;margin:6px 0'>{e(text)}</p>"


def card(label: str, value: str, lines: Sequence[str]) -> str:
    sub = "".join(
        f"<div style='color:#555;font-size:0.8em;margin-top:2px'>{e(t)}</div>" for t in lines
    )
    return (
        "<td style='text-align:left;vertical-align:top;border:1px solid #DDD;border-radius:8px;"
        "padding:8px 10px;background:#FAFAFA;overflow-wrap:anywhere'>"
        f"<div style='color:#444;font-size:0.85em'>{e(label)}</div>"
        f"<div style='font-size:1.6em;font-weight:bold;margin:2px 0'>{e(value)}</div>{sub}</td>"
    )


def cards(items: Sequence[tuple[str, str, Sequence[str]]]) -> str:
    """Headline cards side by side (a one-row table, so it prints the same)."""
    cells = "".join(card(*it) for it in items)
    return (
        "<table class='cards' style='width:100%;border-collapse:separate;border-spacing:8px 0;"
        f"table-layout:fixed;margin:6px 0 10px'><tr>{cells}</tr></table>"
    )


# -- blocks of the typed results (their _repr_html_) --------------------------------------


def inputs_table_html(inp) -> str:
    """Every input of the model in one table, with its source, period and interval."""
    rows = []
    for i in inp.all_inputs():
        rows.append(
            [
                i.label,
                fmt_value(i.value, i.unit),
                i.source,
                i.period,
                fmt_range(i.low, i.high, i.unit),
                i.detail,
            ]
        )
    return table(
        ["Input", "Value", "Source", "Period", "Interval / range", "What it rests on"],
        rows,
        numeric=(1,),
        widths=("19%", "9%", "11%", "14%", "12%", "35%"),
    )


def roi_lines_html(r) -> str:
    """The return lines: formula, the inputs' values, run rate and year-1 return."""
    x = r.inputs
    values = {
        "retention": f"{x.mau:,.0f} x {x.retention_uplift:.1%} x {x.paid_conversion:.2%} x "
        f"${x.arpu_usd:,.2f} x 12",
        "conversion": f"{x.mau:,.0f} x {100 * x.conversion_uplift_pp:.2f} pp x "
        f"${x.arpu_usd:,.2f} x 12",
        "ai_cost": f"${x.ai_cost_usd_per_year:,.0f} x {x.ai_cost_reduction:.0%}",
        "churn": f"{x.mau:,.0f} x {x.churn_reduction:.1%} x {x.paid_conversion:.2%} x "
        f"${x.arpu_usd:,.2f} x 12",
    }
    rows = [
        [row.label, row.formula, values[row.line], fmt_value(row.run_rate_usd, "usd"),
         fmt_value(row.year1_usd, "usd")]
        for row in r.lines.itertuples()
    ]  # fmt: skip
    rows.append(["Returns (year 1)", "sum of the lines", "", "", fmt_value(r.returns_usd, "usd")])
    rows.append(
        ["Investment (year 1)", "setup hours x hourly rate + 12 x monthly stack cost",
         f"{x.setup_hours:g} h x ${x.hourly_rate_usd:g} + 12 x ${x.stack_usd_per_month:,.2f}",
         "", fmt_value(r.investment_usd, "usd")]
    )  # fmt: skip
    return table(
        ["Line", "Formula", "With this month's inputs", "Full-year rate", "Year 1"],
        rows,
        numeric=(3, 4),
        widths=("16%", "30%", "30%", "12%", "12%"),
    )


def stack_table_html(c) -> str:
    """Every stack option: monthly cost (range), per user, per event, setup, year 1, notes."""
    rows = []
    for r in c.df.itertuples():
        rng = (
            fmt_range(r.monthly_low, r.monthly_high, "usd")
            if r.monthly_low != r.monthly_high
            else ""
        )
        rows.append(
            [
                ("▶ " if r.chosen else "") + r.label,
                fmt_value(r.monthly_usd, "usd") + (f" ({rng})" if rng else ""),
                fmt_value(r.cost_per_user, "usd"),
                fmt_value(r.cost_per_event, "usd"),
                f"{r.setup_hours:g} h",
                fmt_value(r.year1_usd, "usd"),
                r.notes,
            ]
        )
    return table(
        ["Stack", "Per month", "Per user", "Per event", "Setup", "Year 1", "Caveat"],
        rows,
        numeric=(1, 2, 3, 4, 5),
        widths=("22%", "13%", "10%", "11%", "7%", "10%", "27%"),
    )


def seed_table_html(c) -> str:
    """The seed's figures next to the model's, with why they differ."""
    rows = []
    for r in c.df.itertuples():
        unit = "rate" if r.unit == "rate" else r.unit
        rows.append(
            [r.section, r.line, fmt_value(r.seed, unit), fmt_value(r.model, unit), r.status, r.why]
        )
    return table(
        ["Seed section", "The seed says", "Seed figure", "Model", "Check", "Why"],
        rows,
        numeric=(2, 3),
        widths=("13%", "23%", "10%", "10%", "11%", "33%"),
    )


def unit_economics_html(ue) -> str:
    """The unit-economics headline table: value, interval, formula, period."""
    rows = [
        [r.label, fmt_value(r.value, r.unit), fmt_range(r.ci_low, r.ci_high, r.unit), r.formula,
         r.period, r.detail]
        for r in ue.df.itertuples()
    ]  # fmt: skip
    return table(
        ["Figure", "Value", "95% interval", "Formula", "Period", "Note"],
        rows,
        numeric=(1, 2),
        widths=("17%", "10%", "13%", "25%", "14%", "21%"),
    )


def monthly_html(ue) -> str:
    """The monthly series of unit economics (one row per month)."""
    rows = []
    for r in ue.monthly.itertuples():
        rows.append(
            [
                f"{r.month:%b %Y}",
                fmt_value(r.mrr_end, "usd"),
                fmt_int(r.paying_end),
                fmt_int(r.new_customers),
                fmt_value(r.arpu, "usd"),
                f"{fmt_pct(r.logo_churn)} ({fmt_int(r.churned_customers)}/"
                f"{fmt_int(r.customers_start)})",
                fmt_pct(r.grr),
                fmt_pct(r.nrr),
                fmt_value(r.inference_cost, "usd"),
                fmt_pct(r.gross_margin),
            ]
        )
    return table(
        ["Month", "MRR (end)", "Paying", "New", "ARPU", "Logo churn", "GRR", "NRR",
         "Inference", "Gross margin"],
        rows,
        numeric=tuple(range(1, 10)),
    )  # fmt: skip


def cohort_html(ue, kind: str = "nrr") -> str:
    """GRR or NRR by paying cohort (rows) and months after (columns); '—' not yet observed."""
    m = ue.cohort_matrix(kind)
    if m.empty:
        return note("No paying cohorts in the months shown.")
    sizes = ue.cohorts.groupby("cohort")["customers"].first()
    sizes.index = sizes.index.strftime("%Y-%m")
    headers = ["First paid in", "Customers"] + [f"+{int(k)} m" for k in m.columns]
    rows = [[idx, fmt_int(sizes.get(idx))] + [fmt_pct(v, 0) for v in m.loc[idx]] for idx in m.index]
    return table(headers, rows, numeric=tuple(range(1, len(headers))))


def scenarios_html(s) -> str:
    """The three scenarios: uplifts, investment, returns, net ROI, multiple, payback."""
    rows = []
    for r in s.df.itertuples():
        rows.append(
            [
                r.scenario,
                f"{r.retention_uplift:.1%} / {100 * r.conversion_uplift_pp:.1f} pp / "
                f"{r.ai_cost_reduction:.0%} / {r.churn_reduction:.1%}",
                f"{r.ramp_months:g} months",
                f"{r.setup_hours:g} h",
                fmt_value(r.investment_usd, "usd"),
                fmt_value(r.returns_usd, "usd"),
                fmt_value(r.net_roi, "rate"),
                fmt_value(r.multiple, "ratio"),
                "—"
                if r.payback_month is None or is_missing(r.payback_month)
                else f"month {int(r.payback_month)}",
                r.source,
            ]
        )
    return table(
        ["Scenario", "Retention / conversion / AI cost / churn", "Full effect after", "Setup",
         "Invested", "Returns, year 1", "Net ROI", "Multiple", "Payback", "What it assumes"],
        rows,
        numeric=(4, 5, 6, 7),
        widths=("11%", "16%", "8%", "6%", "8%", "9%", "8%", "7%", "7%", "20%"),
    )  # fmt: skip


def sensitivity_html(s) -> str:
    """The tornado as a table: each input at 50% and 150%, net ROI and the swing."""
    from .assumptions import LABELS

    rows = []
    for r in s.df.itertuples():
        unit = LABELS.get(r.input, ("", "number"))[1]
        rows.append(
            [
                r.label,
                fmt_value(r.base_value, unit),
                f"{fmt_value(r.low_value, unit)} → {fmt_value(r.roi_low, 'rate')}",
                f"{fmt_value(r.high_value, unit)} → {fmt_value(r.roi_high, 'rate')}",
                "—" if is_missing(r.swing) else f"{100 * r.swing:,.0f} pp",
            ]
        )
    return table(
        ["Input", "Base value", "At 50%: net ROI", "At 150%: net ROI", "Swing"],
        rows,
        numeric=(1, 2, 3, 4),
        widths=("34%", "14%", "20%", "20%", "12%"),
    )


def monte_carlo_html(mc) -> str:
    """P10/P50/P90 of net ROI and payback, and how each varied input was drawn."""

    def pay(v):
        return "beyond 10 years" if v is None or is_missing(v) else f"month {int(v)}"

    r, p = mc.summary.iloc[0], mc.summary.iloc[1]
    top = table(
        ["Figure", "P10", "P50 (median)", "P90", "Base case"],
        [
            ["Net ROI, year 1", fmt_value(r.p10, "rate"), fmt_value(r.p50, "rate"),
             fmt_value(r.p90, "rate"), fmt_value(mc.base_roi, "rate")],
            ["Payback month", pay(p.p10), pay(p.p50), pay(p.p90), pay(mc.base_payback)],
        ],
        numeric=(1, 2, 3, 4),
    )  # fmt: skip
    from .assumptions import LABELS

    dist = table(
        ["Input", "Drawn from", "Why"],
        [
            [LABELS.get(d.input, (d.input, ""))[0], d.distribution, d.source]
            for d in mc.distributions.itertuples()
        ],
        widths=("25%", "35%", "40%"),
    )
    fixed = ", ".join(LABELS.get(k, (k, ""))[0] for k in mc.fixed)
    return (
        top
        + dist
        + note(
            f"{mc.draws:,} draws, random seed {mc.seed} (the same numbers on every run). "
            f"Held at their base value: {fixed}."
        )
    )


def realised_html(r) -> str:
    """Before vs after go-live: rates, difference with interval, p-value, seed's assumption."""
    rows = []
    for x in r.df.itertuples():
        rows.append(
            [
                x.label,
                f"{fmt_pct(x.before_rate)} ({fmt_int(x.before_k)}/{fmt_int(x.before_n)})",
                f"{fmt_pct(x.after_rate)} ({fmt_int(x.after_k)}/{fmt_int(x.after_n)})",
                fmt_pp(x.difference),
                fmt_range(x.ci_low, x.ci_high, "pp"),
                fmt_value(x.relative, "rate") if not is_missing(x.relative) else MISSING,
                fmt_p(x.p_value) + (" (significant)" if x.significant else ""),
                x.seed_assumes,
            ]
        )
    return table(
        ["Rate", "Before", "After", "Difference", "95% interval", "Relative", "p-value",
         "The seed assumes"],
        rows,
        numeric=(1, 2, 3, 4, 5),
        widths=("15%", "15%", "15%", "9%", "13%", "8%", "10%", "15%"),
    )  # fmt: skip
