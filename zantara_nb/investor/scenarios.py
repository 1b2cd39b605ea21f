"""Scenarios, sensitivity (tornado) and Monte Carlo over the ROI model.

- **Scenarios** (:func:`scenarios`): conservative, base and optimistic from
  ``parameters/roi.yaml``; each overrides some uplifts (and the setup hours) of the base
  inputs; the measured baselines are the same in all three.
- **Sensitivity** (:func:`sensitivity`): each input moved to 50% and 150% of its base value,
  the others held; the effect on net ROI; sorted by the size of the swing (a tornado).
- **Monte Carlo** (:func:`monte_carlo`): every uncertain input drawn at once, ``draws``
  times with a fixed seed: a measured rate from its Beta(k + 1/2, n - k + 1/2) posterior
  (Jeffreys; it matches its Wilson interval), ARPU from Normal(mean, standard error), an
  assumption with a stated range from a *split triangular* on (low, value, high): half the
  draws on each side of the value, each half a triangle peaking at the value, so the value
  is the median of its draws (the base case is the middle belief of every input, also when
  its range is lopsided, e.g. 5%-10%-20%). Inputs without an interval or range stay fixed.
  Gives P10/P50/P90 of net ROI and payback month.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from .assumptions import LABELS, SCENARIOS, Assumptions
from .measure import Inputs
from .model import (
    PAYBACK_HORIZON,
    ROIInputs,
    ROIResult,
    cumulative_net,
    first_payback,
    net_roi,
    roi,
)

#: Inputs the tornado moves (every number of :class:`ROIInputs`).
SENSITIVITY_KEYS = (
    "mau",
    "paid_conversion",
    "arpu_usd",
    "ai_cost_usd_per_year",
    "retention_uplift",
    "conversion_uplift_pp",
    "ai_cost_reduction",
    "churn_reduction",
    "setup_hours",
    "hourly_rate_usd",
    "stack_usd_per_month",
    "ramp_months",
)


def base_inputs(inp: Inputs) -> ROIInputs:
    """The model inputs of the base case: measured baselines, ``roi.yaml`` assumptions and
    the chosen stack priced at the measured volumes."""
    a = inp.assumptions
    b = inp.baselines
    u = a.uplifts
    return ROIInputs(
        mau=b["mau"].value,
        paid_conversion=b["paid_conversion"].value,
        arpu_usd=b["arpu_usd"].value,
        ai_cost_usd_per_year=b["ai_cost_usd_per_year"].value,
        retention_uplift=u["retention_uplift"].value,
        conversion_uplift_pp=u["conversion_uplift_pp"].value,
        ai_cost_reduction=u["ai_cost_reduction"].value,
        churn_reduction=u["churn_reduction"].value,
        setup_hours=a.stack.setup_hours.value,
        hourly_rate_usd=a.hourly_rate.value,
        stack_usd_per_month=inp.stack.monthly_usd,
        ramp_months=u["ramp_months"].value,
    )


# -- scenarios ----------------------------------------------------------------------------


@dataclass
class ScenarioResult:
    """The ROI of each scenario; ``df`` has one row per scenario (conservative, base,
    optimistic) with its inputs and results."""

    df: pd.DataFrame
    results: dict[str, ROIResult]

    def _repr_html_(self) -> str:
        from .display import scenarios_html

        return scenarios_html(self)


def scenarios(base: ROIInputs, a: Assumptions) -> ScenarioResult:
    """Net ROI, multiple, payback and year-1 figures of the three scenarios of ``a``."""
    results: dict[str, ROIResult] = {}
    rows = []
    for name in SCENARIOS:
        sc = a.scenarios[name]
        x = base.replace(**sc.overrides)
        r = roi(x)
        results[name] = r
        rows.append(
            {
                "scenario": name,
                **{k: getattr(x, k) for k in ("retention_uplift", "conversion_uplift_pp",
                                              "ai_cost_reduction", "churn_reduction",
                                              "ramp_months", "setup_hours")},
                "investment_usd": r.investment_usd,
                "returns_usd": r.returns_usd,
                "net_roi": r.net_roi,
                "multiple": r.multiple,
                "payback_month": r.payback_month,
                "source": sc.source,
            }
        )  # fmt: skip
    return ScenarioResult(pd.DataFrame(rows), results)


# -- sensitivity --------------------------------------------------------------------------


@dataclass
class Sensitivity:
    """Tornado table: ``input, label, base_value, low_value, high_value, roi_low, roi_high,
    effect_low, effect_high, swing`` (net ROI at 50% and 150% of each input), largest swing
    first. ``base_roi`` is the net ROI of the base case."""

    df: pd.DataFrame
    base_roi: float | None
    step: float

    def _repr_html_(self) -> str:
        from .display import sensitivity_html

        return sensitivity_html(self)


def sensitivity(
    base: ROIInputs, keys: tuple[str, ...] = SENSITIVITY_KEYS, step: float = 0.5
) -> Sensitivity:
    """Move each input to (1 - step) and (1 + step) times its base value, the others held,
    and record net ROI; sorted by the swing |ROI(high) - ROI(low)|, largest first."""
    r0 = roi(base).net_roi
    rows = []
    for k in keys:
        v = getattr(base, k)
        lo, hi = v * (1 - step), v * (1 + step)
        r_lo = roi(base.replace(**{k: lo})).net_roi
        r_hi = roi(base.replace(**{k: hi})).net_roi
        rows.append(
            {
                "input": k,
                "label": LABELS.get(k, (k, ""))[0],
                "base_value": v,
                "low_value": lo,
                "high_value": hi,
                "roi_low": r_lo,
                "roi_high": r_hi,
                "effect_low": None if r_lo is None or r0 is None else r_lo - r0,
                "effect_high": None if r_hi is None or r0 is None else r_hi - r0,
            }
        )
    df = pd.DataFrame(rows)
    for c in ("roi_low", "roi_high", "effect_low", "effect_high"):
        df[c] = pd.to_numeric(df[c], errors="coerce").astype("float64")
    df["swing"] = (df["roi_high"] - df["roi_low"]).abs()
    df = df.sort_values(["swing", "input"], ascending=[False, True], kind="stable")
    return Sensitivity(df.reset_index(drop=True), r0, step)


# -- Monte Carlo --------------------------------------------------------------------------


@dataclass
class MonteCarlo:
    """Monte Carlo of net ROI and payback month.

    ``summary``: P10/P50/P90 of ``net_roi`` and ``payback_month`` (months beyond the
    horizon count as later than every month, so a percentile there is missing);
    ``distributions``: how each varied input was drawn; ``net_roi``/``payback``: the draws.
    """

    summary: pd.DataFrame
    distributions: pd.DataFrame
    net_roi: np.ndarray
    payback: np.ndarray
    base_roi: float | None
    base_payback: int | None
    draws: int
    seed: int
    fixed: list[str] = field(default_factory=list)

    def percentile(self, what: str, q: int) -> float | None:
        """P``q`` of ``net_roi`` or ``payback_month`` (None when beyond the horizon)."""
        v = self.summary.set_index("figure").at[what, f"p{q}"]
        return None if pd.isna(v) else float(v)

    def _repr_html_(self) -> str:
        from .display import monte_carlo_html

        return monte_carlo_html(self)


def split_triangular(
    rng: np.random.Generator, low: float, mode: float, high: float, n: int
) -> np.ndarray:
    """``n`` draws with median ``mode``: with probability 1/2 from the triangle rising from
    ``low`` to ``mode``, else from the triangle falling from ``mode`` to ``high``."""
    left = rng.random(n) < 0.5
    v = np.sqrt(rng.random(n))
    return np.where(left, low + (mode - low) * v, high - (high - mode) * v)


def _draw(
    rng: np.random.Generator, inp: Inputs, base: ROIInputs, n: int
) -> tuple[dict, list[dict], list[str]]:
    """Draws of every input of ``base`` (an array per varied input, else the scalar)."""
    a = inp.assumptions
    out: dict[str, np.ndarray | float] = {}
    dist: list[dict] = []
    fixed: list[str] = []
    conv = inp.conversion_counts
    for k in ("mau", "paid_conversion", "arpu_usd", "ai_cost_usd_per_year"):
        i = inp.baselines[k]
        v = getattr(base, k)
        if k == "paid_conversion" and i.measured and conv:
            kk, nn = conv
            out[k] = rng.beta(kk + 0.5, nn - kk + 0.5, n)
            dist.append({"input": k, "distribution": f"Beta({kk} + 1/2, {nn - kk} + 1/2)",
                         "source": "measured: Jeffreys posterior of the conversion counts"})  # fmt: skip
        elif k == "arpu_usd" and i.measured and inp.arpu_se:
            out[k] = np.maximum(0.0, rng.normal(v, inp.arpu_se, n))
            dist.append({"input": k, "distribution": f"Normal({v:.2f}, {inp.arpu_se:.2f})",
                         "source": "measured: mean and standard error of customer prices"})  # fmt: skip
        elif not i.measured and i.low is not None and i.high is not None and i.low < i.high:
            out[k] = split_triangular(rng, i.low, v, i.high, n)
            dist.append({"input": k, "distribution": f"Split triangular({i.low:g}, {v:g}, {i.high:g})",
                         "source": "assumed range"})  # fmt: skip
        else:
            out[k] = v
            fixed.append(k)
    ranged = {**a.uplifts, "setup_hours": a.stack.setup_hours}
    for k, asm in ranged.items():
        v = getattr(base, k)
        if asm.uncertain and asm.low <= v <= asm.high:
            out[k] = split_triangular(rng, asm.low, v, asm.high, n)
            dist.append({"input": k, "distribution": f"Split triangular({asm.low:g}, {v:g}, {asm.high:g})",
                         "source": "assumed range (roi.yaml)"})  # fmt: skip
        else:
            out[k] = v
            fixed.append(k)
    st = inp.stack
    if st.monthly_low < st.monthly_high:
        out["stack_usd_per_month"] = split_triangular(rng, st.monthly_low, st.monthly_usd,
                                                      st.monthly_high, n)  # fmt: skip
        dist.append({"input": "stack_usd_per_month",
                     "distribution": f"Split triangular({st.monthly_low:g}, {st.monthly_usd:g}, "
                                     f"{st.monthly_high:g})",
                     "source": "price range of the chosen stack"})  # fmt: skip
    else:
        out["stack_usd_per_month"] = base.stack_usd_per_month
        fixed.append("stack_usd_per_month")
    out["hourly_rate_usd"] = base.hourly_rate_usd
    fixed.append("hourly_rate_usd")
    return out, dist, fixed


def simulate(draws: dict) -> tuple[np.ndarray, np.ndarray]:
    """Net ROI and payback month of every draw (``draws``: arrays or scalars per input)."""
    d = {k: np.asarray(v, dtype=float) for k, v in draws.items()}
    run = (
        d["mau"] * d["retention_uplift"] * d["paid_conversion"] * d["arpu_usd"] * 12
        + d["mau"] * d["conversion_uplift_pp"] * d["arpu_usd"] * 12
        + d["ai_cost_usd_per_year"] * d["ai_cost_reduction"]
        + d["mau"] * d["churn_reduction"] * d["paid_conversion"] * d["arpu_usd"] * 12
    )
    setup = d["setup_hours"] * d["hourly_rate_usd"]
    n = max(np.size(v) for v in d.values())
    run, setup = np.broadcast_to(run, (n,)), np.broadcast_to(setup, (n,))
    stack = np.broadcast_to(d["stack_usd_per_month"], (n,))
    ramp = np.broadcast_to(d["ramp_months"], (n,))
    m = np.arange(1, 13, dtype=float)[None, :]
    factor = np.where(ramp[:, None] > 0, np.minimum(1.0, m / np.where(ramp > 0, ramp, 1)[:, None]),
                      1.0)  # fmt: skip
    year1 = (run[:, None] / 12 * factor).sum(axis=1)
    invest = setup + 12 * stack
    roi_v = np.where(invest > 0, (year1 - invest) / np.where(invest > 0, invest, 1), np.nan)
    payback = first_payback(cumulative_net(run, setup, stack, ramp, PAYBACK_HORIZON))
    return roi_v, payback


def monte_carlo(
    inp: Inputs, base: ROIInputs, *, draws: int | None = None, seed: int | None = None
) -> MonteCarlo:
    """P10/P50/P90 of net ROI and payback month over the uncertain inputs (seeded)."""
    a = inp.assumptions
    n = int(draws or a.mc_draws)
    s = int(a.mc_seed if seed is None else seed)
    rng = np.random.default_rng(s)
    d, dist, fixed = _draw(rng, inp, base, n)
    d["ramp_months"] = d.get("ramp_months", base.ramp_months)
    roi_v, payback = simulate(d)
    pay_sorted = np.where(np.isnan(payback), np.inf, payback)
    rows = []
    for fig, arr in (("net_roi", roi_v), ("payback_month", pay_sorted)):
        p = np.percentile(arr, [10, 50, 90], method="inverted_cdf")
        rows.append(
            {
                "figure": fig,
                "p10": p[0] if np.isfinite(p[0]) else np.nan,
                "p50": p[1] if np.isfinite(p[1]) else np.nan,
                "p90": p[2] if np.isfinite(p[2]) else np.nan,
                "mean": float(np.mean(arr)) if np.all(np.isfinite(arr)) else np.nan,
            }
        )
    r0 = roi(base)
    return MonteCarlo(
        summary=pd.DataFrame(rows),
        distributions=pd.DataFrame(dist, columns=["input", "distribution", "source"]),
        net_roi=roi_v,
        payback=payback,
        base_roi=net_roi(r0.returns_usd, r0.investment_usd),
        base_payback=r0.payback_month,
        draws=n,
        seed=s,
        fixed=fixed,
    )
