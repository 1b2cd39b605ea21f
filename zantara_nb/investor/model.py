"""The ROI model of METRICS.md section 9 (the seed's section 11), as named formulas.

Investment (year 1) = setup hours x hourly rate + 12 x monthly stack cost.

Returns, each an annual run rate over named inputs (USD a year):

- retention uplift   = MAU x retention uplift x paid conversion x ARPU x 12
  (users kept by acting on retention data, of whom the paid-conversion share pays)
- conversion uplift  = MAU x conversion uplift (percentage points) x ARPU x 12
- AI cost reduction  = AI inference cost per year x AI cost reduction
- churn reduction    = MAU x churn reduction x paid conversion x ARPU x 12
  (users saved from churning; as for retention, only the paying share brings revenue)

The effect may take ``ramp_months`` to arrive: month m earns ``min(1, m / ramp)`` of the
run rate (full from month 1 when the ramp is 0, as the seed's ROI assumes). Year-1
returns are the sum of months 1-12. Then:

- net ROI = (returns - investment) / investment
- return multiple = returns / investment
- payback month = the first month whose cumulative net (returns - setup - stack costs,
  setup paid in month 1) is at least 0; months after 12 continue at the run rate; None
  when it is not reached within :data:`PAYBACK_HORIZON` months.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, replace

import numpy as np
import pandas as pd

#: Months searched for the payback month (returns beyond month 12 continue at the run rate).
PAYBACK_HORIZON = 120

#: Every return line: key -> (label, formula as shown to readers).
LINES: dict[str, tuple[str, str]] = {
    "retention": (
        "Retention uplift",
        "MAU x retention uplift x paid conversion x ARPU x 12",
    ),
    "conversion": (
        "Conversion uplift",
        "MAU x conversion uplift (pp) x ARPU x 12",
    ),
    "ai_cost": (
        "AI cost reduction",
        "AI inference cost per year x AI cost reduction",
    ),
    "churn": (
        "Churn reduction",
        "MAU x churn reduction x paid conversion x ARPU x 12",
    ),
}


@dataclass(frozen=True)
class ROIInputs:
    """Every number the ROI model reads (monthly figures per month, rates as fractions)."""

    mau: float
    paid_conversion: float
    arpu_usd: float
    ai_cost_usd_per_year: float
    retention_uplift: float
    conversion_uplift_pp: float
    ai_cost_reduction: float
    churn_reduction: float
    setup_hours: float
    hourly_rate_usd: float
    stack_usd_per_month: float
    ramp_months: float = 0.0

    def replace(self, **changes: float) -> ROIInputs:
        """A copy with some inputs changed."""
        return replace(self, **changes)

    def as_dict(self) -> dict[str, float]:
        return asdict(self)


# -- the formulas -------------------------------------------------------------------------


def retention_return(mau: float, uplift: float, conversion: float, arpu: float) -> float:
    """Annual revenue from retention uplift: MAU x uplift x conversion x ARPU x 12 (USD)."""
    return mau * uplift * conversion * arpu * 12


def conversion_return(mau: float, uplift_pp: float, arpu: float) -> float:
    """Annual revenue from conversion uplift: MAU x uplift (pp) x ARPU x 12 (USD)."""
    return mau * uplift_pp * arpu * 12


def ai_cost_return(ai_cost_per_year: float, reduction: float) -> float:
    """Annual saving from AI cost reduction: AI cost per year x reduction (USD)."""
    return ai_cost_per_year * reduction


def churn_return(mau: float, reduction: float, conversion: float, arpu: float) -> float:
    """Annual revenue from churn reduction: MAU x reduction x conversion x ARPU x 12 (USD)."""
    return mau * reduction * conversion * arpu * 12


def investment(setup_hours: float, hourly_rate: float, stack_per_month: float) -> float:
    """Year-1 investment: setup hours x hourly rate + 12 x monthly stack cost (USD)."""
    return setup_hours * hourly_rate + 12 * stack_per_month


def net_roi(returns: float, invested: float) -> float | None:
    """(returns - investment) / investment; None when nothing is invested."""
    return None if invested <= 0 else (returns - invested) / invested


def return_multiple(returns: float, invested: float) -> float | None:
    """returns / investment; None when nothing is invested."""
    return None if invested <= 0 else returns / invested


def ramp_factor(month: int, ramp_months: float) -> float:
    """Share of the full effect earned in month ``month`` (1-based): min(1, month / ramp)."""
    if ramp_months <= 0:
        return 1.0
    return min(1.0, month / ramp_months)


def run_rates(x: ROIInputs) -> dict[str, float]:
    """The annual run rate of every return line (USD a year)."""
    return {
        "retention": retention_return(x.mau, x.retention_uplift, x.paid_conversion, x.arpu_usd),
        "conversion": conversion_return(x.mau, x.conversion_uplift_pp, x.arpu_usd),
        "ai_cost": ai_cost_return(x.ai_cost_usd_per_year, x.ai_cost_reduction),
        "churn": churn_return(x.mau, x.churn_reduction, x.paid_conversion, x.arpu_usd),
    }


def cumulative_net(
    run_rate: np.ndarray | float,
    setup_usd: np.ndarray | float,
    stack_per_month: np.ndarray | float,
    ramp_months: np.ndarray | float,
    months: int,
) -> np.ndarray:
    """Cumulative net cash at the end of months 1..``months`` (one row per set of inputs).

    Month m earns ``run_rate / 12 x min(1, m / ramp)`` and pays the stack, plus the setup in
    month 1. Arrays broadcast, so the Monte Carlo runs every draw at once.
    """
    run = np.atleast_1d(np.asarray(run_rate, dtype=float))[:, None]
    setup = np.atleast_1d(np.asarray(setup_usd, dtype=float))[:, None]
    stack = np.atleast_1d(np.asarray(stack_per_month, dtype=float))[:, None]
    ramp = np.atleast_1d(np.asarray(ramp_months, dtype=float))[:, None]
    m = np.arange(1, months + 1, dtype=float)[None, :]
    factor = np.where(ramp > 0, np.minimum(1.0, m / np.where(ramp > 0, ramp, 1.0)), 1.0)
    net = run / 12 * factor - stack
    net[:, 0] -= setup[:, 0]
    return np.cumsum(net, axis=1)


def first_payback(cumulative: np.ndarray) -> np.ndarray:
    """Per row of a cumulative-net matrix: the first month (1-based) at or above 0, else NaN."""
    ok = cumulative >= -1e-9
    first = ok.argmax(axis=1).astype(float) + 1
    first[~ok.any(axis=1)] = np.nan
    return first


def cash_curve(x: ROIInputs, months: int = 12) -> pd.DataFrame:
    """Month by month: returns, costs (setup in month 1 + stack), net and cumulative net."""
    run = sum(run_rates(x).values())
    m = np.arange(1, months + 1)
    returns = np.array([run / 12 * ramp_factor(int(i), x.ramp_months) for i in m])
    costs = np.full(months, x.stack_usd_per_month, dtype=float)
    costs[0] += x.setup_hours * x.hourly_rate_usd
    net = returns - costs
    return pd.DataFrame(
        {"month": m, "returns": returns, "costs": costs, "net": net, "cumulative": np.cumsum(net)}
    )


def payback_month(x: ROIInputs, horizon: int = PAYBACK_HORIZON) -> int | None:
    """First month whose cumulative net is at least 0 (None if not within ``horizon``)."""
    cum = cumulative_net(
        sum(run_rates(x).values()),
        x.setup_hours * x.hourly_rate_usd,
        x.stack_usd_per_month,
        x.ramp_months,
        horizon,
    )
    first = first_payback(cum)[0]
    return None if np.isnan(first) else int(first)


# -- the result ---------------------------------------------------------------------------


@dataclass
class ROIResult:
    """The ROI of one set of inputs.

    ``lines``: one row per return line (``line, label, formula, run_rate_usd, year1_usd``);
    ``cash``: the 12-month cash curve (``month, returns, costs, net, cumulative``).
    """

    inputs: ROIInputs
    lines: pd.DataFrame
    setup_usd: float
    stack_year_usd: float
    investment_usd: float
    returns_usd: float
    net_roi: float | None
    multiple: float | None
    payback_month: int | None
    cash: pd.DataFrame
    notes: list[str] = field(default_factory=list)

    def summary(self) -> pd.DataFrame:
        """The headline figures as a tidy table (figure, value, unit, formula)."""
        return pd.DataFrame(
            [
                ("Setup cost", self.setup_usd, "usd", "setup hours x hourly rate"),
                ("Analytics stack, 12 months", self.stack_year_usd, "usd", "12 x monthly cost"),
                ("Investment (year 1)", self.investment_usd, "usd", "setup + 12 x monthly"),
                ("Returns (year 1)", self.returns_usd, "usd", "sum of the return lines"),
                ("Net ROI", self.net_roi, "rate", "(returns - investment) / investment"),
                ("Return multiple", self.multiple, "ratio", "returns / investment"),
                ("Payback month", self.payback_month, "count", "first month cumulative net >= 0"),
            ],
            columns=["figure", "value", "unit", "formula"],
        )


def roi(x: ROIInputs) -> ROIResult:
    """Investment, returns by line, net ROI, return multiple, payback month and the
    12-month cumulative cash curve for inputs ``x``."""
    rates = run_rates(x)
    year_share = sum(ramp_factor(m, x.ramp_months) for m in range(1, 13)) / 12
    lines = pd.DataFrame(
        [
            {
                "line": k,
                "label": LINES[k][0],
                "formula": LINES[k][1],
                "run_rate_usd": v,
                "year1_usd": v * year_share,
            }
            for k, v in rates.items()
        ]
    )
    setup = x.setup_hours * x.hourly_rate_usd
    stack_year = 12 * x.stack_usd_per_month
    inv = investment(x.setup_hours, x.hourly_rate_usd, x.stack_usd_per_month)
    ret = float(lines["year1_usd"].sum())
    notes = []
    if x.ramp_months > 0:
        notes.append(
            f"The effect builds up linearly over {x.ramp_months:g} months: year 1 earns "
            f"{year_share:.0%} of the annual run rate."
        )
    return ROIResult(
        inputs=x,
        lines=lines,
        setup_usd=setup,
        stack_year_usd=stack_year,
        investment_usd=inv,
        returns_usd=ret,
        net_roi=net_roi(ret, inv),
        multiple=return_multiple(ret, inv),
        payback_month=payback_month(x),
        cash=cash_curve(x, 12),
        notes=notes,
    )
