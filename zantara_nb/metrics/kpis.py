"""The headline numbers of a period against the previous one and the seed's targets.

``kpis(wh, as_of=..., period="week")`` takes the last complete week (or month) before
``as_of`` and the one before it, and gives one row per KPI: current, previous, absolute
and relative change, a significance flag, the target from ``parameters/targets.yaml``
and whether it is met. Every number comes from the metric module that defines it (no
SQL here), computed for both periods in one call where the metric supports ``by``.

Choices (METRICS.md leaves them open):

- **Cohort KPIs use the latest cohort whose window has closed.** Activation: signups in
  the period (24 h windows closed by ``as_of``). Week-2 retention: signups in the period
  shifted back 14 days; paid conversion: shifted back 30 days (their windows close by the
  period end). The label says which cohort.
- **Active users** of the period = persons with an active event in it (WAU for a week,
  calendar-month actives for a month); growth is its period-over-period change, target 10%.
- **Engagement** = message_sent / active users over the calendar weeks starting in the
  period (one week for a weekly report).
- **MRR** is the value at the end of the period's last day.
- **Significance**: two-proportion z-test for shares (activation, week-2 retention, paid
  conversion, error rate, satisfaction, DAU/MAU on person-days), Poisson test for counts
  (active users, messages, new users), a normal test on NPS using its interval. P95
  latency, cost per 1K, cost per active user, engagement and MRR carry no test
  (``p_value`` missing): they are not counts or shares, and MRR is a census, not a sample.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import pandas as pd

from .. import config
from ..display.formatting import fmt, fmt_change, fmt_p
from ..warehouse.scope import last_complete_period, resolve
from ..warehouse.sqltrace import records_sql
from . import active, health, inputs, revenue
from .results import MetricResult, header_html
from .stats import Change, poisson_p, two_proportion_p

DEFAULT_TARGETS = config.PARAMETERS_DIR / "targets.yaml"


@dataclass(frozen=True)
class Target:
    """A seed target: ``direction`` higher means at least ``value``, lower means at most."""

    value: float | None
    direction: str = "higher"
    note: str = ""

    def met(self, x: float | None) -> bool | None:
        if self.value is None or x is None or (isinstance(x, float) and math.isnan(x)):
            return None
        return x >= self.value if self.direction == "higher" else x <= self.value


def load_targets(source: str | Path | dict | None = None) -> dict[str, Target]:
    """Targets from a parameters file (``targets:`` mapping), a dict, or the default file."""
    if isinstance(source, dict):
        raw = source.get("targets", source)
    else:
        path = Path(source) if source else DEFAULT_TARGETS
        raw = config.load_parameters(path).get("targets", {}) if path.exists() else {}
    out = {}
    for key, spec in raw.items():
        if isinstance(spec, dict):
            out[key] = Target(
                spec.get("target"), spec.get("direction", "higher"), spec.get("note", "")
            )
        else:
            out[key] = Target(spec)
    return out


@dataclass
class _Row:
    group: str
    kpi: str
    label: str
    unit: str
    current: float | None
    previous: float | None
    p_value: float | None = None


def _num(x: Any) -> float | None:
    if x is None:
        return None
    try:
        v = float(x)
    except (TypeError, ValueError):
        return None
    return None if math.isnan(v) else v


def _pair(df: pd.DataFrame, col: str, cur: date, prev: date, value: str) -> tuple:
    """(current, previous) values of ``value`` in rows whose ``col`` is each period start."""
    idx = pd.to_datetime(df[col]).dt.date
    c = df.loc[idx == cur, value]
    p = df.loc[idx == prev, value]
    return (_num(c.iloc[0]) if len(c) else None, _num(p.iloc[0]) if len(p) else None)


def _rate_pair(res_now, res_prev) -> _Row:
    return (
        res_now.value,
        res_prev.value,
        two_proportion_p(
            res_now.numerator, res_now.denominator, res_prev.numerator, res_prev.denominator
        ),
    )


class KPIResult(MetricResult):
    """One row per KPI; ``formatted()`` formats each row in its own unit."""

    def formatted(self, max_rows: int | None = None) -> pd.DataFrame:
        df = self.df if max_rows is None else self.df.head(max_rows)
        rows = []
        for r in df.itertuples():
            rows.append(
                {
                    "KPI": r.label,
                    "This period": fmt(r.current, r.unit),
                    "Previous": fmt(r.previous, r.unit),
                    "Change": fmt_change(r.change_rel)
                    if r.unit not in {"rate", "change"}
                    else fmt(r.change, "pp"),
                    "p": fmt_p(r.p_value),
                    "Significant": "yes" if r.significant else "",
                    "Target": "—"
                    if r.target is None or pd.isna(r.target)
                    else fmt(r.target, r.unit),
                    "Met": {True: "✔ met", False: "✘ missed"}.get(r.target_met, "—"),
                }
            )
        return pd.DataFrame(rows)

    def _repr_html_(self) -> str:
        table = self.formatted().to_html(index=False, border=0, escape=True)
        return header_html(self.title, self.definition, self.scope) + table

    def plot(self, ax=None, **kw):
        from ..display import charts

        d = self.df.dropna(subset=["change_rel"]).copy()
        return charts.barh(
            d,
            "label",
            "change_rel",
            title=self.title,
            xlabel="change vs previous period (%)",
            unit="rate",
            ax=ax,
        )

    def row(self, kpi: str) -> pd.Series:
        """The row of one KPI by key (``"activation_rate"``...)."""
        return self.df.set_index("kpi").loc[kpi]


@records_sql
def kpis(
    wh,
    as_of: str | date | None = None,
    period: str = "week",
    *,
    targets: str | Path | dict | None = None,
    tz: str | None = None,
    filters: dict[str, Any] | None = None,
) -> KPIResult:
    """Headline KPIs of the last complete ``period`` (week or month) before ``as_of``.

    ``as_of`` defaults to the end of the data. Each row: current and previous value,
    change (absolute, relative), p-value and significance, target and whether it is met.
    """
    if period not in {"week", "month"}:
        raise ValueError(f"period {period!r}: use 'week' or 'month'")
    tz = tz or config.default_timezone()
    base = resolve(wh, tz=tz, filters=filters, **({"as_of": as_of} if as_of else {}))
    start, end = last_complete_period(base.as_of, period, tz)
    prev_start, _ = last_complete_period(start, period, tz)
    prev2_start, _ = last_complete_period(prev_start, period, tz)
    kw = {"tz": tz, "filters": filters, "as_of": base.as_of}
    both = {**kw, "start": prev_start, "end": end}
    tgt = load_targets(targets)
    rows: list[_Row] = []

    # -- North Star: active users (three periods, for growth) --------------------------
    life = active.lifecycle(wh, period=period, **{**kw, "start": prev2_start, "end": end}).df
    au = _pair(life, "period", start, prev_start, "active")
    au_prev2 = _pair(life, "period", prev_start, prev2_start, "active")[1]
    label = "Weekly active users (North Star)" if period == "week" else "Monthly active users"
    rows.append(_Row("north_star", "active_users", label, "users", *au, _p_count(*au)))
    growth_now = Change(*au).relative
    growth_prev = Change(au[1], au_prev2).relative
    rows.append(
        _Row("north_star", "wow_growth", "Active-user growth", "change", growth_now, growth_prev)
    )
    new = _pair(life, "period", start, prev_start, "new")
    rows.append(_Row("north_star", "new_users", "New active users", "users", *new, _p_count(*new)))

    # -- messages, errors, DAU/MAU -------------------------------------------------------
    err = health.error_rate(wh, by=period, **both).df
    msgs = _pair(err, period, start, prev_start, "messages")
    rows.append(_Row("input", "messages", "Messages sent", "count", *msgs, _p_count(*msgs)))
    stick = active.stickiness(wh, **{**kw, "start": end - timedelta(days=1), "end": end}).df
    stick_prev = active.stickiness(
        wh, **{**kw, "start": start - timedelta(days=1), "end": start}
    ).df
    rows.append(
        _Row("north_star", "dau_mau", "DAU/MAU (stickiness)", "rate", *_stick(stick, stick_prev))
    )

    # -- inputs ----------------------------------------------------------------------------
    act = [
        inputs.activation(wh, **{**kw, "start": s, "end": e})
        for s, e in ((start, end), (prev_start, start))
    ]
    rows.append(
        _Row(
            "input",
            "activation_rate",
            "Activation rate (signups this period)",
            "rate",
            *_rate_pair(*act),
        )
    )
    w2 = [
        inputs.week2_retention(
            wh, **{**kw, "start": s - timedelta(days=14), "end": e - timedelta(days=14)}
        )
        for s, e in ((start, end), (prev_start, start))
    ]
    rows.append(
        _Row(
            "input",
            "week2_retention",
            "Week-2 retention (signups 14 days earlier)",
            "rate",
            *_rate_pair(*w2),
        )
    )
    eng = active.engagement(wh, **both).df
    rows.append(
        _Row(
            "input",
            "engagement",
            "Messages per active user per week",
            "ratio",
            *_engagement(eng, start, prev_start, end),
        )
    )

    # -- outputs ---------------------------------------------------------------------------
    m = revenue.mrr(wh, **{**kw, "start": start - timedelta(days=1), "end": end}).df
    m_days = pd.to_datetime(m["day"]).dt.date
    cur_mrr = m.loc[m_days == end - timedelta(days=1), "mrr"]
    prev_mrr = m.loc[m_days == start - timedelta(days=1), "mrr"]
    rows.append(
        _Row(
            "output",
            "mrr_usd",
            "MRR (end of period)",
            "usd",
            _num(cur_mrr.iloc[0]) if len(cur_mrr) else None,
            _num(prev_mrr.iloc[0]) if len(prev_mrr) else None,
        )
    )
    paid = [
        inputs.paid_conversion(
            wh, **{**kw, "start": s - timedelta(days=30), "end": e - timedelta(days=30)}
        )
        for s, e in ((start, end), (prev_start, start))
    ]
    rows.append(
        _Row(
            "output",
            "paid_conversion",
            "Paid conversion in 30 days (signups 30 days earlier)",
            "rate",
            *_rate_pair(*paid),
        )
    )
    n = revenue.nps(wh, by=period, **both).df
    rows.append(_Row("output", "nps", "NPS", "score", *_nps(n, period, start, prev_start)))

    # -- health ----------------------------------------------------------------------------
    lat = health.p95_latency(wh, by=period, **both).df
    rows.append(
        _Row(
            "health",
            "p95_latency_ms",
            "P95 response latency",
            "ms",
            *_pair(lat, period, start, prev_start, "latency_ms"),
        )
    )
    er_now = _pair(err, period, start, prev_start, "errors")
    rows.append(
        _Row(
            "health",
            "error_rate",
            "Error rate (errors / messages)",
            "rate",
            *_pair(err, period, start, prev_start, "error_rate"),
            _p_share(er_now, msgs),
        )
    )
    cost = health.cost_per_1k(wh, by=period, **both).df
    rows.append(
        _Row(
            "health",
            "cost_per_1k_usd",
            "AI cost per 1K queries",
            "usd",
            *_pair(cost, period, start, prev_start, "cost_per_1k"),
        )
    )
    cpu = health.cost_per_active_user(wh, by=period, **both).df
    rows.append(
        _Row(
            "health",
            "cost_per_active_user_usd",
            "AI cost per active user",
            "usd",
            *_pair(cpu, period, start, prev_start, "cost_per_active_user"),
        )
    )
    sat = health.satisfaction(wh, by=period, **both).df
    pos = _pair(sat, period, start, prev_start, "positive")
    fb = _pair(sat, period, start, prev_start, "feedbacks")
    rows.append(
        _Row(
            "health",
            "satisfaction",
            "Satisfaction (share positive)",
            "rate",
            *_pair(sat, period, start, prev_start, "share_positive"),
            _p_share(pos, fb),
        )
    )

    df = _frame(rows, tgt)
    scope = resolve(wh, tz=tz, filters=filters, start=start, end=end, as_of=base.as_of)
    return KPIResult(
        name="kpis",
        title=f"KPIs, {period} of {start:%Y-%m-%d} vs previous",
        df=df,
        definition="Headline numbers of the period vs the previous one, with significance (p < 0.05) and the seed's targets",
        scope=scope,
        units={},
        kind="table",
        extra={"period": period, "start": start, "end": end, "previous_start": prev_start},
    )


def _p_count(cur: float | None, prev: float | None) -> float | None:
    return None if cur is None or prev is None else poisson_p(cur, prev)


def _p_share(k: tuple, n: tuple) -> float | None:
    if None in k or None in n:
        return None
    return two_proportion_p(k[0], n[0], k[1], n[1])


def _stick(now: pd.DataFrame, prev: pd.DataFrame) -> tuple:
    def one(df: pd.DataFrame) -> tuple:
        if df.empty:
            return None, None, None
        r = df.iloc[-1]
        mau = _num(r.get("mau"))
        mean = _num(r.get("mean_dau"))
        if not mau or mean is None:
            return _num(r.get("stickiness")), None, None
        return _num(r.get("stickiness")), round(mean * 30), mau * 30

    c, ck, cn = one(now)
    p, pk, pn = one(prev)
    pv = None if None in (ck, cn, pk, pn) else two_proportion_p(ck, cn, pk, pn)
    return c, p, pv


def _engagement(df: pd.DataFrame, start: date, prev_start: date, end: date) -> tuple:
    if df.empty:
        return None, None
    weeks = pd.to_datetime(df["week"]).dt.date
    done = df["complete"].astype(bool)

    def over(a: date, b: date) -> float | None:
        sel = df[(weeks >= a) & (weeks < b) & done]
        wau = sel["wau"].sum()
        return None if not wau else float(sel["messages"].sum() / wau)

    return over(start, end), over(prev_start, start)


def _nps(df: pd.DataFrame, period: str, start: date, prev_start: date) -> tuple:
    cur, prev = _pair(df, period, start, prev_start, "nps")
    lo = _pair(df, period, start, prev_start, "ci_low")
    hi = _pair(df, period, start, prev_start, "ci_high")
    if None in (cur, prev) or None in lo or None in hi:
        return cur, prev, None
    se = math.hypot((hi[0] - lo[0]) / 3.92, (hi[1] - lo[1]) / 3.92)
    if se == 0:
        return cur, prev, None
    from scipy.stats import norm

    return cur, prev, float(2 * norm.sf(abs(cur - prev) / se))


def _frame(rows: list[_Row], targets: dict[str, Target]) -> pd.DataFrame:
    out = []
    for r in rows:
        ch = Change(r.current, r.previous, r.p_value)
        t = targets.get(r.kpi)
        out.append(
            {
                "group": r.group,
                "kpi": r.kpi,
                "label": r.label,
                "unit": r.unit,
                "current": r.current,
                "previous": r.previous,
                "change": ch.absolute,
                "change_rel": ch.relative,
                "direction": ch.direction,
                "p_value": r.p_value,
                "significant": ch.significant,
                "target": None if t is None else t.value,
                "target_direction": None if t is None else t.direction,
                "target_met": None if t is None else t.met(r.current),
            }
        )
    return pd.DataFrame(out)
