"""The investor model's parameters: price points and assumptions, each with its source.

They live in ``parameters/roi.yaml`` (read by :func:`load_assumptions`). Every number is an
:class:`Assumption` (value, unit, source and, when uncertain, a ``low``/``high`` range the
Monte Carlo draws from). Stack options keep their price points as given in the file and
are priced by :mod:`zantara_nb.investor.stack`.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, field, replace
from datetime import date
from pathlib import Path
from typing import Any

import pandas as pd

from .. import config

DEFAULT_FILE = "roi.yaml"

#: Label and unit of every scalar assumption the model reads (key -> (label, unit)).
LABELS: dict[str, tuple[str, str]] = {
    "hourly_rate_usd": ("Engineering hourly rate", "usd"),
    "setup_hours": ("Setup hours", "hours"),
    "stack_usd_per_month": ("Analytics stack cost per month", "usd"),
    "mau": ("Monthly active users (MAU)", "users"),
    "paid_conversion": ("Paid conversion (signup to paid, 30 days)", "rate"),
    "arpu_usd": ("ARPU (MRR per paying customer, per month)", "usd"),
    "ai_cost_usd_per_year": ("AI inference cost per year", "usd"),
    "retention_uplift": ("Retention uplift (share of MAU kept)", "rate"),
    "conversion_uplift_pp": ("Conversion uplift (percentage points)", "pp"),
    "ai_cost_reduction": ("AI cost reduction", "rate"),
    "churn_reduction": ("Churn reduction (share of MAU saved)", "rate"),
    "ramp_months": ("Months until the full effect", "months"),
    "events_per_user": ("Tracked events per MAU per month", "number"),
    "recordings_per_user": ("Session recordings per MAU per month", "number"),
    "flag_requests_per_user": ("Feature-flag requests per MAU per month", "number"),
    "pageviews_per_user": ("Pageviews per MAU per month", "number"),
    "marketing_spend_usd_per_month": ("Marketing spend per month", "usd"),
    "churn_months": ("Months pooled for logo churn", "months"),
    "cohort_months": ("Months followed per paying cohort", "months"),
    "window_days": ("Cohort window before/after go-live", "days"),
}

UPLIFT_KEYS = (
    "retention_uplift",
    "conversion_uplift_pp",
    "ai_cost_reduction",
    "churn_reduction",
    "ramp_months",
)
BASELINE_KEYS = ("mau", "paid_conversion", "arpu_usd", "ai_cost_usd_per_year")
SCENARIOS = ("conservative", "base", "optimistic")
#: Scenario keys that may override an assumption (the uplifts and the setup hours).
SCENARIO_KEYS = (*UPLIFT_KEYS, "setup_hours")


class AssumptionsError(ValueError):
    """The assumptions file is missing an entry or has an invalid one."""


@dataclass(frozen=True)
class Assumption:
    """One number of the model with where it comes from.

    ``low``/``high`` give the range of an uncertain assumption (None when it is fixed).
    """

    key: str
    value: float
    source: str
    low: float | None = None
    high: float | None = None

    @property
    def label(self) -> str:
        return LABELS.get(self.key, (self.key.replace("_", " "), "number"))[0]

    @property
    def unit(self) -> str:
        return LABELS.get(self.key, ("", "number"))[1]

    @property
    def uncertain(self) -> bool:
        return self.low is not None and self.high is not None and self.low != self.high


@dataclass(frozen=True)
class StackOption:
    """One analytics stack of the seed's comparison with its price points (see ``stack``)."""

    key: str
    label: str
    pricing: str
    setup_hours: Assumption
    spec: dict[str, Any]
    source: str


@dataclass(frozen=True)
class Scenario:
    """Overrides of the uplifts (and setup hours) for one named scenario."""

    name: str
    overrides: dict[str, float]
    source: str


@dataclass(frozen=True)
class Assumptions:
    """Everything ``parameters/roi.yaml`` holds, typed. ``path`` is the file it came from."""

    hourly_rate: Assumption
    stack_options: dict[str, StackOption]
    chosen_stack: str
    volumes: dict[str, Assumption]
    baselines: dict[str, Assumption]
    uplifts: dict[str, Assumption]
    scenarios: dict[str, Scenario]
    marketing_spend: Assumption
    churn_months: int
    cohort_months: int
    live_date: date | None
    window_days: int
    mc_draws: int
    mc_seed: int
    seed_example: dict[str, Any]
    path: Path | None = None
    raw: dict[str, Any] = field(default_factory=dict, repr=False)

    @property
    def stack(self) -> StackOption:
        """The stack the ROI pays for (``stack.chosen``)."""
        return self.stack_options[self.chosen_stack]

    def with_values(self, **values: float) -> Assumptions:
        """A copy with some uplifts, baselines or ``hourly_rate_usd``/``setup_hours`` changed."""
        uplifts, baselines = dict(self.uplifts), dict(self.baselines)
        hourly, options = self.hourly_rate, dict(self.stack_options)
        for key, v in values.items():
            if key in uplifts:
                uplifts[key] = replace(uplifts[key], value=float(v))
            elif key in baselines:
                baselines[key] = replace(baselines[key], value=float(v))
            elif key == "hourly_rate_usd":
                hourly = replace(hourly, value=float(v))
            elif key == "setup_hours":
                opt = options[self.chosen_stack]
                options[self.chosen_stack] = replace(
                    opt, setup_hours=replace(opt.setup_hours, value=float(v))
                )
            else:
                raise KeyError(f"unknown assumption {key!r}")
        return replace(
            self, uplifts=uplifts, baselines=baselines, hourly_rate=hourly, stack_options=options
        )

    def table(self) -> pd.DataFrame:
        """Every assumption in one table: key, label, value, unit, low, high, source."""
        rows: list[Assumption] = [self.hourly_rate, self.stack.setup_hours]
        rows += list(self.uplifts.values())
        rows += list(self.volumes.values())
        rows += [self.marketing_spend]
        return pd.DataFrame(
            [
                {
                    "key": a.key,
                    "label": a.label,
                    "value": a.value,
                    "unit": a.unit,
                    "low": a.low,
                    "high": a.high,
                    "source": a.source,
                }
                for a in rows
            ]
        )


# -- loading ------------------------------------------------------------------------------


def resolve_path(path: str | Path | None = None) -> Path:
    """The assumptions file: ``path`` (a relative one is looked up in ``parameters/`` when
    it does not exist as given), else ``parameters/roi.yaml``."""
    if path is None:
        return config.PARAMETERS_DIR / DEFAULT_FILE
    p = Path(path)
    if p.is_absolute() or p.exists():
        return p
    return config.PARAMETERS_DIR / p


def _number(x: Any, where: str) -> float:
    if isinstance(x, bool) or not isinstance(x, int | float):
        raise AssumptionsError(f"{where}: expected a number, got {x!r}")
    return float(x)


def _assumption(key: str, entry: Any, where: str) -> Assumption:
    """``{value, source, low?, high?}`` (or a bare number, then without a source)."""
    if isinstance(entry, int | float) and not isinstance(entry, bool):
        return Assumption(key, float(entry), "")
    if not isinstance(entry, dict) or "value" not in entry:
        raise AssumptionsError(f"{where}: expected {{value, source}}, got {entry!r}")
    low = entry.get("low")
    high = entry.get("high")
    a = Assumption(
        key=key,
        value=_number(entry["value"], f"{where}.value"),
        source=str(entry.get("source") or ""),
        low=None if low is None else _number(low, f"{where}.low"),
        high=None if high is None else _number(high, f"{where}.high"),
    )
    if (a.low is None) != (a.high is None):
        raise AssumptionsError(f"{where}: give both low and high, or neither")
    if a.low is not None and not a.low <= a.value <= a.high:
        raise AssumptionsError(f"{where}: need low <= value <= high ({a.low}, {a.value}, {a.high})")
    return a


def _section(raw: dict[str, Any], name: str) -> dict[str, Any]:
    sec = raw.get(name)
    if not isinstance(sec, dict):
        raise AssumptionsError(f"missing section {name!r}")
    return sec


def _stack_option(key: str, entry: dict[str, Any]) -> StackOption:
    where = f"stack.options.{key}"
    pricing = str(entry.get("pricing", ""))
    if pricing not in {"metered", "fixed", "per_mtu"}:
        raise AssumptionsError(f"{where}.pricing: use metered, fixed or per_mtu, got {pricing!r}")
    spec = copy.deepcopy(entry)
    return StackOption(
        key=key,
        label=str(entry.get("label") or key),
        pricing=pricing,
        setup_hours=_assumption("setup_hours", entry.get("setup_hours"), f"{where}.setup_hours"),
        spec=spec,
        source=str(entry.get("source") or ""),
    )


def parse_assumptions(raw: dict[str, Any], path: Path | None = None) -> Assumptions:
    """Check and type a parsed ``roi.yaml`` (see :func:`load_assumptions`)."""
    stack = _section(raw, "stack")
    options = {k: _stack_option(k, v) for k, v in _section(stack, "options").items()}
    chosen = str(stack.get("chosen", "recommended"))
    if chosen not in options:
        raise AssumptionsError(f"stack.chosen {chosen!r} is not one of {sorted(options)}")
    volumes = {k: _assumption(k, v, f"volumes.{k}") for k, v in _section(raw, "volumes").items()}
    base = _section(raw, "baselines")
    missing = [k for k in BASELINE_KEYS if k not in base]
    if missing:
        raise AssumptionsError(f"baselines: missing {missing}")
    baselines = {k: _assumption(k, base[k], f"baselines.{k}") for k in BASELINE_KEYS}
    up = _section(raw, "uplifts")
    missing = [k for k in UPLIFT_KEYS if k not in up]
    if missing:
        raise AssumptionsError(f"uplifts: missing {missing}")
    uplifts = {k: _assumption(k, up[k], f"uplifts.{k}") for k in UPLIFT_KEYS}
    sc_raw = _section(raw, "scenarios")
    scenarios: dict[str, Scenario] = {}
    for name in SCENARIOS:
        entry = dict(sc_raw.get(name) or {})
        source = str(entry.pop("source", ""))
        unknown = set(entry) - set(SCENARIO_KEYS)
        if unknown:
            raise AssumptionsError(f"scenarios.{name}: unknown keys {sorted(unknown)}")
        scenarios[name] = Scenario(
            name, {k: _number(v, f"scenarios.{name}.{k}") for k, v in entry.items()}, source
        )
    ue = _section(raw, "unit_economics")
    real = _section(raw, "realised")
    live = real.get("analytics_live_date")
    try:
        live_date = None if live in (None, "") else date.fromisoformat(str(live))
    except ValueError as exc:
        raise AssumptionsError(f"realised.analytics_live_date {live!r}: use YYYY-MM-DD") from exc
    mc = _section(raw, "monte_carlo")
    return Assumptions(
        hourly_rate=_assumption("hourly_rate_usd", raw.get("hourly_rate_usd"), "hourly_rate_usd"),
        stack_options=options,
        chosen_stack=chosen,
        volumes=volumes,
        baselines=baselines,
        uplifts=uplifts,
        scenarios=scenarios,
        marketing_spend=_assumption(
            "marketing_spend_usd_per_month",
            ue.get("marketing_spend_usd_per_month"),
            "unit_economics.marketing_spend_usd_per_month",
        ),
        churn_months=int(_assumption("churn_months", ue.get("churn_months"), "churn").value),
        cohort_months=int(_assumption("cohort_months", ue.get("cohort_months"), "cohort").value),
        live_date=live_date,
        window_days=int(_assumption("window_days", real.get("window_days"), "window").value),
        mc_draws=int(_number(mc.get("draws"), "monte_carlo.draws")),
        mc_seed=int(_number(mc.get("seed"), "monte_carlo.seed")),
        seed_example=dict(_section(raw, "seed_example")),
        path=path,
        raw=raw,
    )


def load_assumptions(path: str | Path | dict[str, Any] | None = None) -> Assumptions:
    """Read ``parameters/roi.yaml`` (or ``path``, or an already parsed mapping)."""
    if isinstance(path, dict):
        return parse_assumptions(copy.deepcopy(path))
    p = resolve_path(path)
    try:
        raw = config.load_parameters(p)
    except FileNotFoundError as exc:
        raise AssumptionsError(f"{p}: no such assumptions file") from exc
    except ValueError as exc:
        raise AssumptionsError(str(exc)) from exc
    return parse_assumptions(raw, p)
