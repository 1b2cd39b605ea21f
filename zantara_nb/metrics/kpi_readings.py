"""How each headline KPI is read from the metric that defines it, for two periods.

Each reader takes a :class:`KPIContext` (the period, the one before, and a cache of the
metric results shared by several KPIs) and returns a :class:`Reading`: this period's
value, the previous period's, and the p-value of the change when a test applies. No SQL
here: every number comes from a metric function. The list of KPIs, their labels, units,
good directions and targets is the registry (:mod:`.kpi_registry`).

Choices (METRICS.md leaves them open):

- **Cohort KPIs use the latest cohort whose window has closed.** Activation: signups in
  the period (24 h windows closed by ``as_of``). Week-2 retention: signups in the period
  shifted back 14 days; paid conversion: shifted back 30 days (their windows close by the
  period end).
- **Active users** of the period = persons with an active event in it (WAU for a week,
  calendar-month actives for a month); growth is its period-over-period change.
- **Engagement** = message_sent / active users over the calendar weeks starting in the
  period (one week for a weekly report).
- **MRR** is the value at the end of the period's last day.
- **Significance**: two-proportion z-test for shares (activation, week-2 retention, paid
  conversion, error rate, satisfaction, DAU/MAU on person-days), Poisson test for counts
  (active users, messages, new users), a normal test on NPS using its interval. P95
  latency, cost per 1K, cost per active user, engagement and MRR carry no test: they are
  not counts or shares, and MRR is a census, not a sample.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import Any

import pandas as pd

from . import active, health, inputs, revenue
from .stats import Change, poisson_p, two_proportion_p


@dataclass(frozen=True)
class Reading:
    """A KPI's value this period and the previous one, with the change's p-value."""

    current: float | None
    previous: float | None
    p_value: float | None = None


@dataclass
class KPIContext:
    """The periods a KPI table compares, and the metric results its KPIs share."""

    wh: Any
    period: str
    start: date
    end: date
    prev_start: date
    prev2_start: date
    kw: dict[str, Any]
    _cache: dict[str, Any] = field(default_factory=dict)

    @property
    def both(self) -> dict[str, Any]:
        """Scope keywords covering the previous and the current period."""
        return {**self.kw, "start": self.prev_start, "end": self.end}

    def cached(self, name: str, make: Callable[[], Any]) -> Any:
        """A metric result computed once per KPI table."""
        if name not in self._cache:
            self._cache[name] = make()
        return self._cache[name]

    def pair(self, df: pd.DataFrame, col: str, value: str) -> tuple:
        """(current, previous) of ``value`` in the rows whose ``col`` is each period start."""
        return _pair(df, col, self.start, self.prev_start, value)


def num(x: Any) -> float | None:
    """A float, or None for missing, NaN and non-numbers."""
    if x is None:
        return None
    try:
        v = float(x)
    except (TypeError, ValueError):
        return None
    return None if math.isnan(v) else v


def _pair(df: pd.DataFrame, col: str, cur: date, prev: date, value: str) -> tuple:
    idx = pd.to_datetime(df[col]).dt.date
    c = df.loc[idx == cur, value]
    p = df.loc[idx == prev, value]
    return (num(c.iloc[0]) if len(c) else None, num(p.iloc[0]) if len(p) else None)


def _p_count(cur: float | None, prev: float | None) -> float | None:
    return None if cur is None or prev is None else poisson_p(cur, prev)


def _p_share(k: tuple, n: tuple) -> float | None:
    if None in k or None in n:
        return None
    return two_proportion_p(k[0], n[0], k[1], n[1])


def _rate(res_now, res_prev) -> Reading:
    return Reading(
        res_now.value,
        res_prev.value,
        two_proportion_p(
            res_now.numerator, res_now.denominator, res_prev.numerator, res_prev.denominator
        ),
    )


# -- shared metric results ------------------------------------------------------------------


def _lifecycle(c: KPIContext) -> pd.DataFrame:
    return c.cached(
        "lifecycle",
        lambda: (
            active.lifecycle(
                c.wh, period=c.period, **{**c.kw, "start": c.prev2_start, "end": c.end}
            ).df
        ),
    )


def _errors(c: KPIContext) -> pd.DataFrame:
    return c.cached("error_rate", lambda: health.error_rate(c.wh, by=c.period, **c.both).df)


def _satisfaction(c: KPIContext) -> pd.DataFrame:
    return c.cached("satisfaction", lambda: health.satisfaction(c.wh, by=c.period, **c.both).df)


# -- readers, one per KPI ------------------------------------------------------------------


def active_users(c: KPIContext) -> Reading:
    """Persons with an active event in the period (WAU of a week, MAU of a month)."""
    au = c.pair(_lifecycle(c), "period", "active")
    return Reading(*au, _p_count(*au))


def growth(c: KPIContext) -> Reading:
    """Period-over-period change of active users (this one, and the one before)."""
    life = _lifecycle(c)
    au = c.pair(life, "period", "active")
    au_prev2 = _pair(life, "period", c.prev_start, c.prev2_start, "active")[1]
    return Reading(Change(*au).relative, Change(au[1], au_prev2).relative)


def new_users(c: KPIContext) -> Reading:
    """Persons whose first active event ever falls in the period."""
    new = c.pair(_lifecycle(c), "period", "new")
    return Reading(*new, _p_count(*new))


def messages(c: KPIContext) -> Reading:
    """``message_sent`` events in the period."""
    msgs = c.pair(_errors(c), c.period, "messages")
    return Reading(*msgs, _p_count(*msgs))


def dau_mau(c: KPIContext) -> Reading:
    """Stickiness on the period's last day (mean DAU over 30 days / MAU)."""
    now = active.stickiness(c.wh, **{**c.kw, "start": c.end - timedelta(days=1), "end": c.end})
    prev = active.stickiness(c.wh, **{**c.kw, "start": c.start - timedelta(days=1), "end": c.start})
    return Reading(*_stick(now.df, prev.df))


def activation_rate(c: KPIContext) -> Reading:
    """Share of the period's signups activated within 24 h."""
    res = [
        inputs.activation(c.wh, **{**c.kw, "start": s, "end": e})
        for s, e in ((c.start, c.end), (c.prev_start, c.start))
    ]
    return _rate(*res)


def week2_retention(c: KPIContext) -> Reading:
    """Week-2 retention of signups 14 days before the period."""
    d14 = timedelta(days=14)
    res = [
        inputs.week2_retention(c.wh, **{**c.kw, "start": s - d14, "end": e - d14})
        for s, e in ((c.start, c.end), (c.prev_start, c.start))
    ]
    return _rate(*res)


def engagement(c: KPIContext) -> Reading:
    """Messages per active user per week, over the weeks starting in the period."""
    df = active.engagement(c.wh, **c.both).df
    if df.empty:
        return Reading(None, None)
    weeks = pd.to_datetime(df["week"]).dt.date
    done = df["complete"].astype(bool)

    def over(a: date, b: date) -> float | None:
        sel = df[(weeks >= a) & (weeks < b) & done]
        wau = sel["wau"].sum()
        return None if not wau else float(sel["messages"].sum() / wau)

    return Reading(over(c.start, c.end), over(c.prev_start, c.start))


def mrr(c: KPIContext) -> Reading:
    """MRR at the end of the period's last day, and of the previous period's."""
    m = revenue.mrr(c.wh, **{**c.kw, "start": c.start - timedelta(days=1), "end": c.end}).df
    days = pd.to_datetime(m["day"]).dt.date
    cur = m.loc[days == c.end - timedelta(days=1), "mrr"]
    prev = m.loc[days == c.start - timedelta(days=1), "mrr"]
    return Reading(num(cur.iloc[0]) if len(cur) else None, num(prev.iloc[0]) if len(prev) else None)


def paid_conversion(c: KPIContext) -> Reading:
    """Paid conversion within 30 days of signups 30 days before the period."""
    d30 = timedelta(days=30)
    res = [
        inputs.paid_conversion(c.wh, **{**c.kw, "start": s - d30, "end": e - d30})
        for s, e in ((c.start, c.end), (c.prev_start, c.start))
    ]
    return _rate(*res)


def nps(c: KPIContext) -> Reading:
    """NPS of the period's respondents, with a normal test on the two scores."""
    df = revenue.nps(c.wh, by=c.period, **c.both).df
    cur, prev = c.pair(df, c.period, "nps")
    lo = c.pair(df, c.period, "ci_low")
    hi = c.pair(df, c.period, "ci_high")
    if None in (cur, prev) or None in lo or None in hi:
        return Reading(cur, prev)
    se = math.hypot((hi[0] - lo[0]) / 3.92, (hi[1] - lo[1]) / 3.92)
    if se == 0:
        return Reading(cur, prev)
    from scipy.stats import norm

    return Reading(cur, prev, float(2 * norm.sf(abs(cur - prev) / se)))


def p95_latency(c: KPIContext) -> Reading:
    """P95 response latency of the period's replies (ms)."""
    return Reading(
        *c.pair(health.p95_latency(c.wh, by=c.period, **c.both).df, c.period, "latency_ms")
    )


def error_rate(c: KPIContext) -> Reading:
    """Errors per message sent, with a two-proportion test."""
    err = _errors(c)
    er = c.pair(err, c.period, "errors")
    msgs = c.pair(err, c.period, "messages")
    return Reading(*c.pair(err, c.period, "error_rate"), _p_share(er, msgs))


def cost_per_1k(c: KPIContext) -> Reading:
    """AI cost of 1,000 queries (USD)."""
    df = health.cost_per_1k(c.wh, by=c.period, **c.both).df
    return Reading(*c.pair(df, c.period, "cost_per_1k"))


def cost_per_active_user(c: KPIContext) -> Reading:
    """AI cost per active user (USD)."""
    df = health.cost_per_active_user(c.wh, by=c.period, **c.both).df
    return Reading(*c.pair(df, c.period, "cost_per_active_user"))


def satisfaction(c: KPIContext) -> Reading:
    """Share of positive feedback, with a two-proportion test."""
    sat = _satisfaction(c)
    pos = c.pair(sat, c.period, "positive")
    fb = c.pair(sat, c.period, "feedbacks")
    return Reading(*c.pair(sat, c.period, "share_positive"), _p_share(pos, fb))


def _stick(now: pd.DataFrame, prev: pd.DataFrame) -> tuple:
    def one(df: pd.DataFrame) -> tuple:
        if df.empty:
            return None, None, None
        r = df.iloc[-1]
        mau = num(r.get("mau"))
        mean = num(r.get("mean_dau"))
        if not mau or mean is None:
            return num(r.get("stickiness")), None, None
        return num(r.get("stickiness")), round(mean * 30), mau * 30

    c, ck, cn = one(now)
    p, pk, pn = one(prev)
    pv = None if None in (ck, cn, pk, pn) else two_proportion_p(ck, cn, pk, pn)
    return c, p, pv
