"""A/B tests over feature flags (PostHog ``$feature_flag_called``).

Functions
---------
:func:`experiments`   every flag seen in the range: persons per variant (first exposure),
                      persons seen with several variants, sample-ratio-mismatch check.
:func:`experiment`    one flag and one goal: rate (or mean) per variant measured after
                      each person's first exposure, difference vs control with its 95%
                      interval, two-proportion z-test, and the sample-ratio-mismatch check.

Exposure (documented choices)
-----------------------------
- An **exposure** is a ``$feature_flag_called`` event of the flag (typed columns
  ``feature_flag``, ``feature_flag_response``) with a non-null response. Scope filters
  select which exposure events count (PostHog's exposure criteria): person filters select
  persons, event filters (``$browser``, ``country``...) the exposure events.
- **First exposure wins**: a person's variant is the response of their first exposure
  over all history before ``as_of`` (ties on the timestamp broken by event uuid); their
  exposure time ``t_exp`` is that event's time. Persons seen with several responses are
  counted (``multi_variant``) and kept in their first variant (PostHog's "first seen"
  handling; its alternative, excluding them, is ``exclude_multi=True``).
- The **experiment population** is persons whose first exposure falls in ``[start, end)``
  (local days of ``tz``). Without a range: from the local day of the flag's first exposure
  to ``as_of``.
- **Control** is ``control`` (default ``"control"``); for a boolean flag without such a
  variant, ``"false"`` is used when present.

Goals, all measured *after* first exposure (outcome events are never filtered)
----------------------------------------------------------------------------
- **An event or funnel step** (``"subscription_started"``, a
  :class:`zantara_nb.metrics.funnels.Step` with property filters or alternatives): converted when a
  matching event happens in ``[t_exp, t_exp + conversion_window]`` (inclusive, default 14
  days, as the funnels). Only persons whose window has closed (``t_exp + window < as_of``)
  are in the denominator; the others are ``pending``.
- **activation** (METRICS.md section 2): persons with a first ``user_signed_up`` ``t0`` who
  were exposed before ``t0 + 24 h``, and whose 24 h have passed by ``as_of``; converted
  when a ``message_sent`` and a ``message_received`` both fall in
  ``[max(t0, t_exp), t0 + 24 h)``.
- **week2_retention**: exposed before ``t0 + 14 d``, 14 days observed; converted with an
  active event in ``[max(t0 + 7 d, t_exp), t0 + 14 d)``.
- **paid_conversion**: exposed before ``t0 + N d`` (default 30), N days observed; converted
  with a paid ``subscription_started`` (plan not ``free``, price not 0) in
  ``[max(t0, t_exp), t0 + N d)``.
  Persons exposed after the window closed (the flag could not change the outcome) or
  without a signup in the data are ``ineligible``: they count for the sample-ratio check
  but not in the rates.
- **A mean** (:class:`MeanGoal`, e.g. ``MeanGoal("sources_count")``): each person's mean of a
  numeric column over the goal events in ``[t_exp, t_exp + window]``; the variant's value is
  the mean over persons (each person weighs the same: persons, not events, are
  randomised); Welch normal test and interval. Persons without such an event are left out.

Statistics
----------
- Rates: Wilson 95% interval per variant; the difference ``variant − control`` with the
  Newcombe hybrid score interval (Newcombe 1998, method 10, from the two Wilson
  intervals); relative lift = difference / control rate; pooled two-proportion z-test
  (:func:`zantara_nb.metrics.stats.two_proportion_p`), significant when p < 0.05.
- **Sample ratio mismatch**: chi-square goodness of fit of the exposed persons per
  variant against ``weights`` (default an equal split over the variants seen); flagged
  when p < 0.001 (the usual SRM threshold: a mismatch means the assignment or the
  tracking is broken and the result should not be trusted).
- Breakdown: the first exposure's value (first touch); the test is run within each value.

SQL shape: one ``GROUP BY person`` over the flag's exposures (first exposure by
``arg_min``), one hash join of that cohort with the goal events (and first signups),
one aggregate per variant.
"""

from __future__ import annotations

import html
import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any, Literal

import numpy as np
import pandas as pd
from scipy import stats as st
from typing_extensions import Unpack

from .. import config
from ..display import charts
from ..display.formatting import fmt_p, fmt_pct, fmt_pp
from ..metrics.funnels import Step, parse_funnel_window, step_sql
from ..metrics.inputs import PAID_SQL
from ..metrics.results import MetricResult, header_html
from ..metrics.stats import ALPHA, Z95, mean_diff_p, two_proportion_p, wilson
from ..warehouse.dialects import Dialect
from ..warehouse.scope import Scope, ScopeArgs, resolve
from ..warehouse.sqltrace import records_sql, sql_details_html

__all__ = [
    "ExperimentResult",
    "MeanGoal",
    "SRM_ALPHA",
    "experiment",
    "experiments",
    "newcombe_interval",
    "srm_test",
]

SRM_ALPHA = 0.001
EXPOSURE_EVENT = "$feature_flag_called"
SIGNUP_EVENT = "user_signed_up"
_DAY = 86_400
COHORT_GOALS = ("activation", "week2_retention", "paid_conversion")


@dataclass(frozen=True)
class MeanGoal:
    """A numeric goal: each person's mean of ``column`` over ``event`` after exposure."""

    column: str
    event: str | Step = "message_received"
    name: str | None = None

    @property
    def label(self) -> str:
        ev = self.event if isinstance(self.event, str) else self.event.label
        return self.name or f"mean {self.column} per {ev}"


Goal = str | Step | MeanGoal | Sequence[str]


# ------------------------------------------------------------------------------------------
# Statistics
# ------------------------------------------------------------------------------------------


def newcombe_interval(k1: int, n1: int, k0: int, n0: int) -> tuple[float | None, float | None]:
    """95% interval of ``k1/n1 − k0/n0`` (Newcombe hybrid score, method 10)."""
    if not n1 or not n0:
        return None, None
    p1, p0 = k1 / n1, k0 / n0
    a, b = wilson(k1, n1), wilson(k0, n0)
    d = p1 - p0
    low = d - math.sqrt((p1 - a.low) ** 2 + (b.high - p0) ** 2)
    high = d + math.sqrt((a.high - p1) ** 2 + (p0 - b.low) ** 2)
    return low, high


def srm_test(counts: dict[str, int], weights: dict[str, float] | None = None) -> dict[str, Any]:
    """Chi-square goodness of fit of persons per variant against ``weights`` (default an
    equal split). Returns ``chi2``, ``p``, ``expected`` per variant and ``mismatch``
    (p < 0.001). Fewer than 2 variants or no persons: p None, no mismatch."""
    variants = sorted(set(counts) | set(weights or {}))
    obs = np.array([counts.get(v, 0) for v in variants], dtype=float)
    total = obs.sum()
    if len(variants) < 2 or total == 0:
        return {"chi2": None, "p": None, "expected": {}, "mismatch": False}
    w = np.array([(weights or {}).get(v, 1.0 if weights is None else 0.0) for v in variants])
    if w.sum() <= 0:
        raise ValueError("weights: give a positive weight to at least one variant")
    exp = total * w / w.sum()
    if np.any((exp == 0) & (obs > 0)):
        return {
            "chi2": math.inf,
            "p": 0.0,
            "expected": dict(zip(variants, exp.tolist(), strict=True)),
            "mismatch": True,
        }
    keep = exp > 0
    chi2, p = st.chisquare(obs[keep], exp[keep])
    return {
        "chi2": float(chi2),
        "p": float(p),
        "expected": dict(zip(variants, exp.tolist(), strict=True)),
        "mismatch": bool(p < SRM_ALPHA),
    }


# ------------------------------------------------------------------------------------------
# SQL
# ------------------------------------------------------------------------------------------


def _plus_seconds(d: Dialect, col: str, seconds: float) -> str:
    """SQL: an instant plus a number of seconds (microsecond precision)."""
    return d.add_microseconds(col, int(round(seconds * 1_000_000)))


def _greatest(a: str, b: str) -> str:
    return f"greatest({a}, {b})"


def _wide(sc: Scope) -> Scope:
    return sc.with_range(sc.start, max(sc.end, sc.as_of.date() + timedelta(days=2)))


def first_exposure_sql(sc: Scope, flag: str | None) -> str:
    """SQL: one row per (flag, person): ``t_exp``, ``variant`` (response of the first
    exposure, ties by uuid), ``breakdown`` (first touch), ``n_variants`` (distinct
    responses before ``as_of``). All history before ``as_of``."""
    d = sc.dialect
    where = "e.feature_flag IS NOT NULL AND e.feature_flag_response IS NOT NULL"
    if flag is not None:
        where += f" AND e.feature_flag = {d.str_lit(flag)}"
    src = _wide(sc).events_cte(
        [EXPOSURE_EVENT],
        columns="e.person_id, e.timestamp, e.uuid, e.feature_flag, e.feature_flag_response",
        start=False,
        extra_where=where,
    )
    key = d.row_key("x.timestamp", "x.uuid")
    return f"""
        SELECT x.feature_flag AS flag, x.person_id, min(x.timestamp) AS t_exp,
               {d.arg_min("x.feature_flag_response", key)} AS variant,
               {d.arg_min("x.breakdown", key)} AS breakdown,
               count(DISTINCT x.feature_flag_response) AS n_variants
        FROM ({src}) x
        GROUP BY x.feature_flag, x.person_id"""


@dataclass(frozen=True)
class _Plan:
    """How a goal is measured: anchor, outcome windows and maturity (seconds)."""

    name: str
    kind: Literal["rate", "mean"]
    anchor: Literal["exposure", "signup"]
    #: (SQL predicate over ``e``/``p``, lo_s, hi_s, lower clamp to t_exp) per outcome
    windows: tuple[tuple[str, float, float], ...]
    closed_s: float
    inclusive: bool = False
    value: str | None = None
    needs_persons: bool = False
    label: str = ""


def _plan(
    sc: Scope,
    goal: Goal,
    *,
    window_s: float,
    paid_days: int,
    active: list[str],
) -> _Plan:
    if isinstance(goal, MeanGoal):
        step = goal.event if isinstance(goal.event, Step) else Step(goal.event)
        pred, person = step_sql(sc, step)
        col = sc.prop_sql(goal.column, "e", "p")
        return _Plan(
            goal.label,
            "mean",
            "exposure",
            ((pred, 0, window_s),),
            window_s,
            inclusive=True,
            value=sc.d.try_cast(col, "DOUBLE"),
            needs_persons=person,
            label=goal.label,
        )
    if isinstance(goal, str) and goal in COHORT_GOALS:
        if goal == "activation":
            wins = (
                ("e.event = 'message_sent'", 0, _DAY),
                ("e.event = 'message_received'", 0, _DAY),
            )
            return _Plan(goal, "rate", "signup", wins, _DAY, label="Activation (24 h)")
        if goal == "week2_retention":
            pred = sc.d.in_list("e.event", active)
            return _Plan(
                goal,
                "rate",
                "signup",
                ((pred, 7 * _DAY, 14 * _DAY),),
                14 * _DAY,
                label="Week-2 retention",
            )
        pred = f"e.event = 'subscription_started' AND {PAID_SQL.replace('r.', 'e.')}"
        return _Plan(
            goal,
            "rate",
            "signup",
            ((pred, 0, paid_days * _DAY),),
            paid_days * _DAY,
            label=f"Paid conversion ({paid_days} d)",
        )
    if isinstance(goal, Step):
        step = goal
    elif isinstance(goal, list | tuple):
        step = Step(list(goal))
    else:
        step = Step(str(goal))
    pred, person = step_sql(sc, step)
    return _Plan(
        step.label,
        "rate",
        "exposure",
        ((pred, 0, window_s),),
        window_s,
        inclusive=True,
        needs_persons=person,
        label=step.label,
    )


def experiment_sql(sc: Scope, flag: str, plan: _Plan, *, exclude_multi: bool = False) -> str:
    """SQL: one row per (breakdown, variant): ``exposed``, ``multi_variant``, ``eligible``
    (in the goal's population), ``n`` (eligible and window closed), ``k`` (converted) or,
    for a mean goal, ``n``, ``mean``, ``sd``."""
    d = sc.dialect
    as_of = sc.as_of_sql()
    start, end = sc.ts_sql(sc.start), sc.ts_sql(sc.end)
    anchor = "c.t_exp" if plan.anchor == "exposure" else "a.t0"
    lo_max = max(w[2] for w in plan.windows)
    hi = _plus_seconds(d, anchor, lo_max)
    preds = " OR ".join(f"({w[0]})" for w in plan.windows)
    val = plan.value or "NULL"
    join_p = "LEFT JOIN persons p ON p.person_id = e.person_id" if plan.needs_persons else ""
    outcome_flags = ", ".join(f"({w[0]}) AS m{i}" for i, w in enumerate(plan.windows))
    signup_cte = ""
    signup_join = ""
    if plan.anchor == "signup":
        signup_cte = f""",
        signups AS (
            SELECT person_id, min(timestamp) AS t0 FROM events
            WHERE event = {d.str_lit(SIGNUP_EVENT)} AND timestamp < {as_of}
            GROUP BY person_id
        )"""
        signup_join = "LEFT JOIN signups a ON a.person_id = c.person_id"
    cmp_hi = "<=" if plan.inclusive else "<"
    flags = []
    for i, (_, lo_s, hi_s) in enumerate(plan.windows):
        lo = _greatest(_plus_seconds(d, anchor, lo_s), "c.t_exp")
        upto = _plus_seconds(d, anchor, hi_s)
        cond = f"o.m{i} AND o.timestamp >= {lo} AND o.timestamp {cmp_hi} {upto}"
        flags.append(f"coalesce({d.bool_or(cond)}, FALSE) AS w{i}")
    closed_cmp = "<" if plan.inclusive else "<="
    closed = f"{_plus_seconds(d, anchor, plan.closed_s)} {closed_cmp} {as_of}"
    eligible = "TRUE"
    if plan.anchor == "signup":
        eligible = f"(a.t0 IS NOT NULL AND c.t_exp < {_plus_seconds(d, 'a.t0', plan.closed_s)})"
    mean_lo = "o.timestamp >= c.t_exp"
    mean_hi = f"o.timestamp {cmp_hi} {_plus_seconds(d, anchor, plan.windows[0][2])}"
    multi = "AND n_variants = 1" if exclude_multi else ""
    per_cols = ", ".join(flags)
    if plan.kind == "mean":
        per_cols += f", avg(o.value) FILTER (WHERE o.m0 AND {mean_lo} AND {mean_hi}) AS pmean"
    met = " AND ".join(f"w{i}" for i in range(len(plan.windows)))
    if plan.kind == "rate":
        aggs = (
            "count(*) FILTER (WHERE eligible AND closed) AS n, "
            f"count(*) FILTER (WHERE eligible AND closed AND {met}) AS k, "
            "NULL AS mean, NULL AS sd"
        )
    else:
        aggs = (
            "count(pmean) FILTER (WHERE eligible AND closed) AS n, NULL AS k, "
            "avg(pmean) FILTER (WHERE eligible AND closed) AS mean, "
            "stddev_samp(pmean) FILTER (WHERE eligible AND closed) AS sd"
        )
    return f"""
        WITH fe AS ({first_exposure_sql(sc, flag)}),
        c AS (
            SELECT * FROM fe WHERE t_exp >= {start} AND t_exp < {end} {multi}
        ){signup_cte},
        o AS (
            SELECT e.person_id, e.timestamp, {val} AS value, {outcome_flags}
            FROM events e {join_p}
            WHERE ({preds}) AND e.timestamp >= {start} AND e.timestamp < {as_of}
        ),
        per AS (
            SELECT c.person_id, c.variant, c.breakdown, c.n_variants,
                   {eligible} AS eligible, {closed} AS closed, {per_cols}
            FROM c {signup_join}
            LEFT JOIN o ON o.person_id = c.person_id AND o.timestamp >= c.t_exp
                       AND o.timestamp {cmp_hi} {hi}
            GROUP BY ALL
        )
        SELECT breakdown, variant, count(*) AS exposed,
               count(*) FILTER (WHERE n_variants > 1) AS multi_variant,
               count(*) FILTER (WHERE eligible) AS eligible, {aggs}
        FROM per
        GROUP BY breakdown, variant"""


# ------------------------------------------------------------------------------------------
# Results
# ------------------------------------------------------------------------------------------


@dataclass
class ExperimentResult(MetricResult):
    """One flag, one goal: ``df`` has one row per variant (per breakdown value) with the
    rate and interval, the difference vs control with its interval, relative lift,
    p-value and significance; ``srm`` the sample-ratio-mismatch check."""

    flag: str = ""
    goal: str = ""
    control: str = "control"
    srm: dict[str, Any] = field(default_factory=dict)
    goal_kind: str = "rate"

    @property
    def variants(self) -> pd.DataFrame:
        return self.df

    @property
    def significant(self) -> bool:
        """True when any variant differs from control at p < 0.05."""
        return bool(self.df.get("significant", pd.Series(dtype=bool)).fillna(False).any())

    def headline(self) -> str:
        parts = []
        rows = self.df[self.df["variant"] != self.control] if len(self.df) else self.df
        for _, r in rows.iterrows():
            where = f" [{r['breakdown']}]" if "breakdown" in r else ""
            if self.goal_kind == "rate":
                diff = fmt_pp(r["diff"])
                lo, hi = fmt_pp(r["diff_low"]), fmt_pp(r["diff_high"])
                val = fmt_pct(r["rate"])
            else:
                diff = "—" if pd.isna(r["diff"]) else f"{r['diff']:+,.2f}"
                lo = "—" if pd.isna(r["diff_low"]) else f"{r['diff_low']:+,.2f}"
                hi = "—" if pd.isna(r["diff_high"]) else f"{r['diff_high']:+,.2f}"
                val = "—" if pd.isna(r["mean"]) else f"{r['mean']:,.2f}"
            sig = "significant" if r.get("significant") else "not significant"
            parts.append(
                f"{r['variant']}{where}: {val}, {diff} vs {self.control} "
                f"(95% CI {lo} to {hi}; p {fmt_p(r['p_value'])}, {sig})"
            )
        srm = self.srm or {}
        s = f"SRM p {fmt_p(srm.get('p'))}" + (
            " — SAMPLE RATIO MISMATCH, do not trust" if srm.get("mismatch") else ""
        )
        return f"{self.flag} / {self.goal}: " + ("; ".join(parts) or "no data") + f". {s}"

    def __str__(self) -> str:
        return f"{self.title}\n{self.headline()}\n{self.formatted().to_string(index=False)}"

    def _repr_html_(self) -> str:
        body = (
            "<em>No exposures in this range.</em>"
            if self.df.empty
            else self.formatted().to_html(index=False, border=0)
        )
        return (
            header_html(self.title, self.definition, self.scope)
            + f"<div><b>{html.escape(self.headline())}</b></div>"
            + body
            + sql_details_html(self.sql)
        )


def _plot_experiment(res: MetricResult, ax=None, **kw):
    d = res.df.copy()
    if "breakdown" in d:
        d["variant"] = d["breakdown"].astype(str) + " · " + d["variant"].astype(str)
    rate = res.extra.get("kind", "rate") == "rate"
    col = "rate" if rate else "mean"
    d[col] = d[col].fillna(0.0)
    return charts.barh(
        d,
        "variant",
        col,
        title=res.title,
        xlabel="conversion (%)" if rate else "mean",
        unit="rate" if rate else None,
        err=("ci_low", "ci_high"),
        ax=ax,
    )


def _resolve_control(variants: Sequence[str], control: str) -> str:
    if control in variants:
        return control
    if control == "control" and "false" in variants:
        return "false"
    return control


def _compare(g: pd.DataFrame, control: str, kind: str) -> pd.DataFrame:
    g = g.copy()
    ctrl = g[g["variant"] == control]
    for c in ("diff", "diff_low", "diff_high", "lift", "p_value"):
        g[c] = np.nan
    g["significant"] = False
    if ctrl.empty:
        return g
    c = ctrl.iloc[0]
    for i, r in g.iterrows():
        if r["variant"] == control:
            continue
        if kind == "rate":
            n1, k1, n0, k0 = int(r["n"]), int(r["k"]), int(c["n"]), int(c["k"])
            if not n1 or not n0:
                continue
            d = k1 / n1 - k0 / n0
            lo, hi = newcombe_interval(k1, n1, k0, n0)
            p = two_proportion_p(k1, n1, k0, n0)
            base = k0 / n0
        else:
            if pd.isna(r["rate"]) or pd.isna(c["rate"]):
                continue
            d = float(r["rate"] - c["rate"])
            s1, s0 = float(r["sd"] or 0), float(c["sd"] or 0)
            se = math.sqrt(s1 * s1 / r["n"] + s0 * s0 / c["n"]) if r["n"] and c["n"] else math.nan
            lo, hi = d - Z95 * se, d + Z95 * se
            p = mean_diff_p(r["rate"], s1, int(r["n"]), c["rate"], s0, int(c["n"]))
            base = float(c["rate"])
        g.loc[i, ["diff", "diff_low", "diff_high"]] = [d, lo, hi]
        g.loc[i, "lift"] = d / base if base else np.nan
        g.loc[i, "p_value"] = np.nan if p is None else p
        g.loc[i, "significant"] = p is not None and p < ALPHA
    return g


def _default_start(wh, sc: Scope, flag: str | None, scope: dict) -> Scope:
    if any(scope.get(k) is not None for k in ("start", "window")):
        return sc
    d = sc.dialect
    where = f"AND feature_flag = {d.str_lit(flag)}" if flag is not None else ""
    first = wh.scalar(
        f"SELECT min(timestamp) FROM events WHERE event = {d.str_lit(EXPOSURE_EVENT)} "
        f"AND timestamp < {sc.as_of_sql()} {where}"
    )
    if first is None:
        return sc.with_range(sc.end, sc.end)
    d = first.astimezone(sc.zone).date()
    return sc.with_range(min(d, sc.end), sc.end)


@records_sql
def experiment(
    wh,
    flag: str,
    *,
    goal: Goal = "activation",
    control: str = "control",
    conversion_window: str | int | timedelta = "14d",
    paid_days: int = 30,
    weights: dict[str, float] | None = None,
    exclude_multi: bool = False,
    active_event: str | Sequence[str] | None = None,
    **scope: Unpack[ScopeArgs],
) -> ExperimentResult:
    """A/B test of feature flag ``flag`` on ``goal`` (``"activation"``,
    ``"week2_retention"``, ``"paid_conversion"``, an event name, a funnel ``Step`` or a
    :class:`MeanGoal`), measured after each person's first exposure: per variant the
    rate with its Wilson interval, the difference vs ``control`` (Newcombe 95% interval),
    relative lift, two-proportion z-test, and a sample-ratio-mismatch check."""
    sc = resolve(wh, default_window="3650d", **scope)
    sc = _default_start(wh, sc, flag, dict(scope))
    win = parse_funnel_window(conversion_window)
    if isinstance(active_event, str):
        active = [active_event]
    elif active_event is None:
        active = [config.DEFAULT_ACTIVE_EVENT]
    else:
        active = [str(e) for e in active_event]
    plan = _plan(sc, goal, window_s=win.total_seconds(), paid_days=paid_days, active=active)
    bd = ["breakdown"] if sc.breakdown else []
    cols = [
        *bd,
        "variant",
        "exposed",
        "multi_variant",
        "eligible",
        "n",
        "k",
        "pending",
        "rate",
        "ci_low",
        "ci_high",
        "diff",
        "diff_low",
        "diff_high",
        "lift",
        "p_value",
        "significant",
    ]
    raw = pd.DataFrame()
    if sc.start < sc.end:
        raw = wh.sql(experiment_sql(sc, flag, plan, exclude_multi=exclude_multi))
    if raw.empty:
        df = pd.DataFrame(columns=cols)
        ctrl = control
        srm = srm_test({}, weights)
    else:
        raw["variant"] = raw["variant"].astype(str)
        ctrl = _resolve_control(sorted(raw["variant"].unique()), control)
        raw["pending"] = raw["eligible"] - raw["n"]
        if plan.kind == "rate":
            raw["rate"] = raw["k"] / raw["n"].where(raw["n"] > 0)
            cis = [wilson(k, n) for k, n in zip(raw["k"], raw["n"], strict=True)]
            raw["ci_low"] = [c.low for c in cis]
            raw["ci_high"] = [c.high for c in cis]
        else:
            raw["rate"] = raw["mean"].astype(float)
            se = raw["sd"].astype(float) / np.sqrt(raw["n"].where(raw["n"] > 0))
            raw["ci_low"] = raw["rate"] - Z95 * se
            raw["ci_high"] = raw["rate"] + Z95 * se
        parts = [
            _compare(g, ctrl, plan.kind)
            for _, g in raw.sort_values(["breakdown", "variant"]).groupby("breakdown", sort=True)
        ]
        df = pd.concat(parts, ignore_index=True)
        df = df.assign(_c=df["variant"] != ctrl).sort_values(["breakdown", "_c", "variant"])
        df = df[cols]
        counts = raw.groupby("variant")["exposed"].sum().astype(int).to_dict()
        srm = srm_test(counts, weights)
        srm["counts"] = counts
    df = df.reset_index(drop=True)
    if plan.kind == "mean":
        sd = raw.set_index(["breakdown", "variant"])["sd"] if len(raw) else pd.Series(dtype=float)
        keys = zip(df.get("breakdown", raw.get("breakdown", [])), df["variant"], strict=False)
        df = df.drop(columns=["k"]).rename(columns={"rate": "mean"})
        df.insert(df.columns.get_loc("mean") + 1, "sd", [sd.get(k, np.nan) for k in keys])
    what = {
        "activation": "message_sent and message_received in [max(signup, exposure), signup + 24 h)",
        "week2_retention": "active in [max(signup + 7 d, exposure), signup + 14 d)",
        "paid_conversion": f"paid subscription_started in [max(signup, exposure), signup + {paid_days} d)",
    }.get(plan.name, f"{plan.label} in [exposure, exposure + {conversion_window}]")
    return ExperimentResult(
        name="experiment",
        title=f"Experiment {flag}: {plan.label}",
        df=df,
        definition=(
            f"Persons by variant of their first {EXPOSURE_EVENT} for {flag} (first exposure "
            f"in range); goal: {what}. Difference vs {ctrl}: Newcombe 95% CI, z-test; "
            f"SRM flagged at p < {SRM_ALPHA}."
        ),
        scope=sc,
        units={
            "exposed": "users",
            "multi_variant": "users",
            "eligible": "users",
            "n": "users",
            "k": "users",
            "pending": "users",
            "rate": "rate",
            "mean": "number",
            "sd": "number",
            "ci_low": "rate" if plan.kind == "rate" else "number",
            "ci_high": "rate" if plan.kind == "rate" else "number",
            "diff": "pp" if plan.kind == "rate" else "number",
            "diff_low": "pp" if plan.kind == "rate" else "number",
            "diff_high": "pp" if plan.kind == "rate" else "number",
            "lift": "change",
            "p_value": "p",
        },
        kind="barh",
        extra={"kind": plan.kind, "window": conversion_window},
        plotter=_plot_experiment,
        flag=flag,
        goal=plan.name,
        control=ctrl,
        srm=srm,
        goal_kind=plan.kind,
    )


@records_sql
def experiments(
    wh, *, weights: dict[str, dict[str, float]] | None = None, **scope: Unpack[ScopeArgs]
) -> MetricResult:
    """Every feature flag with exposures in the range: one row per (flag, variant) with
    persons (first exposure in range, first exposure wins), share, persons seen with
    several variants, first/last first-exposure, and the flag's sample-ratio-mismatch
    p-value (chi-square vs ``weights[flag]`` or an equal split; flagged at p < 0.001)."""
    sc = resolve(wh, default_window="3650d", **scope)
    sc = _default_start(wh, sc, None, dict(scope))
    bd = ["breakdown"] if sc.breakdown else []
    cols = [
        "flag",
        *bd,
        "variant",
        "persons",
        "share",
        "multi_variant",
        "first_exposure",
        "last_exposure",
        "srm_p",
        "srm_mismatch",
    ]
    if sc.start >= sc.end:
        df = pd.DataFrame(columns=cols)
    else:
        start, end = sc.ts_sql(sc.start), sc.ts_sql(sc.end)
        df = wh.sql(
            f"""
            SELECT flag, breakdown, variant, count(*) AS persons,
                   count(*) FILTER (WHERE n_variants > 1) AS multi_variant,
                   min(t_exp) AS first_exposure, max(t_exp) AS last_exposure
            FROM ({first_exposure_sql(sc, None)})
            WHERE t_exp >= {start} AND t_exp < {end}
            GROUP BY flag, breakdown, variant
            ORDER BY flag, breakdown, variant"""
        )
        tot = df.groupby(["flag", "breakdown"])["persons"].transform("sum")
        df["share"] = df["persons"] / tot
        srm = {}
        for f, g in df.groupby("flag"):
            counts = g.groupby("variant")["persons"].sum().astype(int).to_dict()
            srm[f] = srm_test(counts, (weights or {}).get(f))
        df["srm_p"] = df["flag"].map(lambda f: srm[f]["p"])
        df["srm_mismatch"] = df["flag"].map(lambda f: srm[f]["mismatch"])
        df = df[cols] if sc.breakdown else df.drop(columns=["breakdown"])[cols]
    return MetricResult(
        name="experiments",
        title="Feature-flag experiments",
        df=df.reset_index(drop=True),
        definition=(
            f"Persons by variant of their first {EXPOSURE_EVENT} per flag (first exposure in "
            f"range); SRM: chi-square vs equal split, flagged at p < {SRM_ALPHA}."
        ),
        scope=sc,
        units={"persons": "users", "share": "rate", "multi_variant": "users", "srm_p": "p"},
        kind="table",
    )
