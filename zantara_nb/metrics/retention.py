"""Retention and cohorts (METRICS.md section 6), N-day retention (section 2), churn rate.

Functions
---------
:func:`retention`       cohort table: persons whose first start event falls in period P0,
                        share returning in period k (calendar or rolling, on / on or after).
:func:`nday_retention`  D1/D7/D14/D30: share active in ``[t0 + N·24h, t0 + (N+1)·24h)``.
:func:`churn_rate`      per period, share of the previous period's active persons not
                        active in this one.

Definitions and the choices METRICS.md leaves open (also in ``docs/metrics-retention.md``):

- **Cohort.** ``first_time`` (default): a person's cohort is the period of their first
  start event over *all* history before ``as_of`` (not only the range). ``recurring``: a
  person joins the cohort of every period in which they have a start event; ``t0`` is
  their first start event in that period.
- **Cohort periods.** The cohorts are the whole calendar periods (local ``tz``, weeks
  Monday–Sunday) that overlap ``[start, end)``: a range that does not begin on a period
  boundary is widened to it, as PostHog snaps ``date_from`` to the start of its interval.
  Periods without any start event are listed with ``cohort_size`` 0. Without
  ``start``/``window`` the range is the ``periods + 1`` periods ending with the one that
  holds the last moment before ``as_of``.
- **Return.** A return event (default the active event ``message_sent``; a list means
  any of them) in period ``k >= 1``. *Calendar* (default, PostHog):
  ``k = bucket(t) - bucket(t0)`` in local periods. *Rolling* (Amplitude): ``k`` is the
  index of the ``[t0 + k·L, t0 + (k+1)·L)`` window, ``L`` = 1, 7 or 30 days (a rolling
  "month" is 30 days). Period 0 is the cohort itself (retained = cohort size, 100%), as
  PostHog shows it. Events before ``t0`` (e.g. anonymous ones merged by identity
  stitching) are never returns.
- **On / on or after.** ``on_or_after=False`` (default): returned *in* period k.
  ``True`` (PostHog "on or after", Amplitude "unbounded"): returned in k or any later
  period observed before ``as_of`` (so the cell can still grow for recent cohorts).
- **Observation.** A cell is missing (NaN, ``observed=False``), never 0, unless fully
  observed by ``as_of``. Calendar: period ``P0 + k`` has ended by ``as_of``. Rolling:
  the cohort period has ended *and* ``t0 + (k+1)·L <= as_of`` for every member (the whole
  cell, so a cell's denominator is always the whole cohort). Period 0 is observed once
  the cohort period has ended. (PostHog gives 0 for periods not reached yet; see
  docs/posthog-differences.md.)
- **Averages** (:meth:`RetentionResult.average`) are weighted by cohort size (pooled
  ``sum(retained) / sum(cohort_size)``) over the cohorts where that period is observed,
  with a Wilson interval on the pooled counts.
- **Filters** apply to every event read, start and return events alike (PostHog's
  retention insight applies its global property filters to both); person-property
  filters select persons. **Breakdown**: a person property (latest value; every return
  counts) or an event property: the value on the start event that defines the cohort,
  and a return counts only when the return event carries the same value (a missing
  value matches a missing one), as PostHog, whose retention groups events by person and
  breakdown value. The same holds for N-day retention.
- **N-day retention.** Persons whose first start event (all history) is in
  ``[start, end)``; for each N, only persons with ``t0 + (N+1)·24h <= as_of`` are in the
  denominator (per person, as Amplitude); those still open are reported as ``pending``.
  Without a range, the 28 days ending ``max(days) + 1`` days before ``as_of`` are used
  so every Dn is measured on the same, complete cohort.
- **Churn rate** for period P: persons active in P−1 (any active event) who have no
  active event in P, divided by those active in P−1. Missing while P has not ended by
  ``as_of``. With an event-property breakdown a person is counted under the value of
  their first active event in P−1.

SQL shape (one pass each over start and return events, no per-cohort loops): a
``GROUP BY person_id`` gives each person's first start (``min``/``arg_min``), the cohort
is the persons whose first start falls in the cohort periods, and one hash join of the
cohort with the return events (after ``t0``) gives the distinct ``(person, cohort, k)``
pairs; ``GROUPING SETS`` counts cohort sizes and returns in the same pass. Calendar
mode first reduces return events to distinct ``(person, local period)``; the local
period of an event comes from a join with a small table of UTC quarter-hours (local
midnights fall on UTC quarter-hours for every current tz offset), so there is no
time-zone conversion per event.
"""

from __future__ import annotations

import dataclasses
import html
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any, Literal

import numpy as np
import pandas as pd
from typing_extensions import Unpack

from .. import config
from ..display import charts
from ..display.formatting import fmt_int, fmt_pct
from ..warehouse.dialects import Dialect
from ..warehouse.scope import PERSON_FILTER_KEYS, Scope, ScopeArgs, is_person_key, resolve
from ..warehouse.sqltrace import records_sql
from .grids import complete_grid
from .history import retention_from_rollups
from .results import MetricResult, header_html
from .stats import add_rate as _add_rate

Period = Literal["day", "week", "month"]
UNITS: tuple[str, ...] = ("day", "week", "month")
#: Length in days of one rolling-mode period (Amplitude-style 24 h multiples).
ROLLING_DAYS: dict[str, int] = {"day": 1, "week": 7, "month": 30}
DAY_S = 86_400

__all__ = [
    "RetentionResult",
    "churn_rate",
    "nday_retention",
    "retention",
]


# ------------------------------------------------------------------------------------------
# Calendar helpers (Python side: the cohort periods and their observation)
# ------------------------------------------------------------------------------------------


def check_unit(unit: str) -> str:
    if unit not in UNITS:
        raise ValueError(f"unknown period {unit!r} (day, week, month)")
    return unit


def period_floor(d: date, unit: str) -> date:
    """The first day of the local day/week (Monday)/month holding ``d``."""
    if unit == "day":
        return d
    if unit == "week":
        return d - timedelta(days=d.weekday())
    if unit == "month":
        return d.replace(day=1)
    raise ValueError(f"unknown period {unit!r} (day, week, month)")


def add_periods(d: date, unit: str, n: int) -> date:
    """``d`` (a period start) moved by ``n`` periods."""
    if unit == "day":
        return d + timedelta(days=n)
    if unit == "week":
        return d + timedelta(days=7 * n)
    m = d.year * 12 + d.month - 1 + n
    return date(m // 12, m % 12 + 1, 1)


def period_starts(start: date, end: date, unit: str) -> list[date]:
    """Starts of the whole periods overlapping ``[start, end)`` (none for an empty range)."""
    if start >= end:
        return []
    out, p = [], period_floor(start, unit)
    while p < end:
        out.append(p)
        p = add_periods(p, unit, 1)
    return out


def event_list(x: str | Sequence[str] | None, default: str) -> list[str]:
    if x is None:
        return [default]
    if isinstance(x, str):
        return [x]
    out = [str(e) for e in x]
    if not out:
        raise ValueError("an empty list of events")
    return out


def events_label(events: Sequence[str]) -> str:
    return " | ".join(events)


def _wide(sc: Scope) -> Scope:
    """The scope with its range end pushed past ``as_of``: reads every event before it."""
    return sc.with_range(sc.start, max(sc.end, sc.as_of.date() + timedelta(days=2)))


# ------------------------------------------------------------------------------------------
# SQL bits built from the dialect's primitives
# ------------------------------------------------------------------------------------------


def _window_index(d: Dialect, ts: str, t0: str, seconds: int) -> str:
    """SQL: index k of the ``[t0 + k·L, t0 + (k+1)·L)`` window holding ``ts``."""
    return f"floor(({d.epoch_us(ts)} - {d.epoch_us(t0)}) / {int(seconds) * 1_000_000})"


_QUARTER_US = 900_000_000  # 15 minutes in microseconds


def _quarter(d: Dialect, col: str) -> str:
    """SQL: the UTC quarter-hour number of an instant (integer arithmetic only)."""
    return d.int_div(d.epoch_us(col), _QUARTER_US)


def _quarter_buckets_sql(sc: Scope, unit: str, lo: date, until: datetime) -> str:
    """SQL: one row per UTC quarter-hour ``q`` from local day ``lo`` to ``until`` with its
    local period ``b``.

    Joining events to this small table on ``q`` gives each event's local period with
    one time-zone conversion per quarter-hour instead of one per event. Exact because
    local midnights fall on UTC quarter-hours (every current tz offset is a multiple of
    15 minutes).
    """
    first = int(sc.local_midnight(lo).timestamp() * 1_000_000) // _QUARTER_US
    last = int(until.timestamp() * 1_000_000) // _QUARTER_US
    ts = sc.d.from_epoch_us(f"q * {_QUARTER_US}")
    return f"SELECT q, {sc.bucket(unit, ts)} AS b FROM {sc.d.int_series(first, last + 1, 'q', 't')}"


def _period_index(d: Dialect, p0: str, p: str, unit: str) -> str:
    """SQL: number of whole periods from bucket ``p0`` to bucket ``p`` (both period starts)."""
    if unit == "day":
        return d.days_between(p0, p)
    if unit == "week":
        return f"({d.days_between(p0, p)} / 7)"
    return d.months_between(p0, p)


# ------------------------------------------------------------------------------------------
# The cohort of first start events (shared with inputs.py)
# ------------------------------------------------------------------------------------------


def first_start_cohort_sql(
    sc: Scope,
    start_events: Sequence[str],
    lo: date,
    hi: date,
    *,
    bucket: str | None = None,
    filter_mode: Literal["events", "cohort"] = "events",
) -> str:
    """SQL: persons whose first start event (all history before ``as_of``) is in ``[lo, hi)``.

    Columns ``person_id``, ``t0`` (UTC), ``breakdown`` (of that first start event, or the
    person property) and, with ``bucket``, ``cohort`` (its local period start, DATE).

    ``filter_mode="events"`` (PostHog retention): event-property filters select which
    start events count, and the first matching one is ``t0``. ``"cohort"``: ``t0`` is
    the person's first start event of all, and the person is kept when that event
    passes the event-property filters. Person-property filters select persons in both.
    """
    src = _wide(sc)
    cols = "e.person_id, e.timestamp"
    keep = ""
    if filter_mode == "cohort":
        person = {k: v for k, v in sc.filters.items() if k in PERSON_FILTER_KEYS}
        event = {k: v for k, v in sc.filters.items() if k not in PERSON_FILTER_KEYS}
        src = dataclasses.replace(src, filters=person)
        if event:
            pred = dataclasses.replace(src, filters=event).filter_sql("e", "p")
            cols += f", coalesce(({pred}), FALSE) AS ok"
            keep = " AND ok"
    starts = src.events_cte(start_events, columns=cols, start=False)
    ok = f", {sc.d.arg_min('ok', 'timestamp')} AS ok" if keep else ""
    cohort = f", {sc.bucket(bucket, 't0')} AS cohort" if bucket else ""
    first_bd = sc.d.arg_min("breakdown", "timestamp")
    return f"""
        SELECT person_id, t0, breakdown{cohort}
        FROM (
            SELECT person_id, min(timestamp) AS t0, {first_bd} AS breakdown{ok}
            FROM ({starts}) s
            GROUP BY person_id
        ) f
        WHERE t0 >= {sc.ts_sql(lo)} AND t0 < {sc.ts_sql(hi)}{keep}"""


def same_value_breakdown(sc: Scope) -> bool:
    """Whether returns must carry the cohort's breakdown value: a breakdown by an event
    property (PostHog's retention groups events by person and value); not by a person
    property (the person's one value is on every event)."""
    return bool(sc.breakdown) and not is_person_key(sc.breakdown)


def _recurring_cohort_sql(sc: Scope, start_events: Sequence[str], lo: date, hi: date, unit: str):
    starts = (
        _wide(sc).with_range(lo, hi).events_cte(start_events, columns="e.person_id, e.timestamp")
    )
    b = sc.bucket(unit, "timestamp")
    return f"""
        SELECT person_id, min(timestamp) AS t0, {sc.d.arg_min("breakdown", "timestamp")} AS breakdown,
               {b} AS cohort
        FROM ({starts}) s
        GROUP BY person_id, {b}"""


# ------------------------------------------------------------------------------------------
# retention()
# ------------------------------------------------------------------------------------------


def _retention_sql(
    sc: Scope,
    *,
    unit: str,
    periods: int,
    start_events: Sequence[str],
    return_events: Sequence[str],
    cohort_type: str,
    mode: str,
    on_or_after: bool,
    lo: date,
    hi: date,
) -> str:
    """SQL: rows (breakdown, cohort, k, total, n, max_t0).

    ``total = 1`` rows give the cohort size ``n`` and the latest ``t0``; ``total = 0`` rows
    give, per k >= 1, the persons returning in k (``on``) or whose last return period is k
    (``on or after``, k capped at ``periods``), ``k`` NULL for persons who never returned.
    """
    if cohort_type == "first_time":
        cohort = first_start_cohort_sql(sc, start_events, lo, hi, bucket=unit)
    else:
        cohort = _recurring_cohort_sql(sc, start_events, lo, hi, unit)
    # By an event property a return counts only when it carries the cohort's value
    # (PostHog groups events by person and value); by a person property every return does.
    match = same_value_breakdown(sc)
    ret_scope = dataclasses.replace(_wide(sc), breakdown=sc.breakdown if match else None)
    until = sc.as_of
    if not on_or_after:  # nothing after the last cohort's period `periods` can count
        if mode == "calendar":
            horizon = sc.local_midnight(add_periods(hi, unit, periods))
        else:
            horizon = sc.local_midnight(hi) + timedelta(days=ROLLING_DAYS[unit] * (periods + 1))
        until = min(until, horizon)
    returns = ret_scope.events_cte(
        return_events,
        columns="e.person_id, e.timestamp",
        range_start=lo + timedelta(days=1),
        extra_where=f"e.timestamp < {sc.ts_sql(until)}",
    )
    if mode == "calendar":
        # distinct (person, local period) pairs first; the period comes from a small
        # quarter-hour table, so no time-zone conversion per event
        qb = _quarter_buckets_sql(sc, unit, lo, until)
        value = ", s.breakdown" if match else ""
        returns = (
            f"SELECT s.person_id, qb.b AS rb{value} FROM ({returns}) s "
            f"JOIN ({qb}) qb ON qb.q = {_quarter(sc.d, 's.timestamp')} "
            f"GROUP BY s.person_id, qb.b{value}"
        )
        k = _period_index(sc.d, "c.cohort", "r.rb", unit)
        after = "r.rb > c.cohort"
    else:
        k = _window_index(sc.d, "r.timestamp", "c.t0", ROLLING_DAYS[unit] * DAY_S)
        after = "r.timestamp > c.t0"
    upper = "" if on_or_after else f" AND {k} <= {int(periods)}"
    same = " AND r.breakdown = c.breakdown" if match else ""
    join = (
        f"FROM cohort c LEFT JOIN ({returns}) r ON r.person_id = c.person_id{same} "
        f"AND {after} AND {k} >= 1{upper}"
    )
    if on_or_after:
        per = f"""
            SELECT c.breakdown, c.cohort, c.person_id, c.t0,
                   CASE WHEN max({k}) > {int(periods)} THEN {int(periods)} ELSE max({k}) END AS k
            {join}
            GROUP BY c.breakdown, c.cohort, c.person_id, c.t0"""
    else:
        per = f"SELECT DISTINCT c.breakdown, c.cohort, c.person_id, c.t0, {k} AS k {join}"
    return f"""
        WITH cohort AS ({cohort}),
        per AS ({per})
        SELECT breakdown, cohort, CAST(k AS INTEGER) AS k, GROUPING(k) AS total,
               count(DISTINCT person_id) AS n, max(t0) AS max_t0
        FROM per
        GROUP BY GROUPING SETS ((breakdown, cohort), (breakdown, cohort, k))"""


@dataclass
class RetentionResult(MetricResult):
    """A cohort retention table: tidy ``df`` plus matrix, weighted average, curves, heat map.

    ``df`` has one row per (breakdown), cohort and period k: ``cohort_size``, ``retained``,
    ``rate`` with its Wilson interval, and ``observed`` (False: not fully observed by
    ``as_of``; retained and rate are NaN, never 0).
    """

    @property
    def period(self) -> str:
        return self.extra.get("period", "week")

    @property
    def has_breakdown(self) -> bool:
        return "breakdown" in self.df.columns

    def matrix(self, value: str = "rate", breakdown: str | None = None) -> pd.DataFrame:
        """Cohorts × periods of ``value`` (``rate`` or ``retained``); NaN where not observed.

        With a breakdown the index is (breakdown, cohort) unless one ``breakdown`` value
        is chosen.
        """
        df = self.df
        if self.has_breakdown and breakdown is not None:
            df = df[df["breakdown"] == breakdown]
        index = ["breakdown", "cohort"] if self.has_breakdown and breakdown is None else "cohort"
        if df.empty:
            return pd.DataFrame(columns=pd.Index([], name="period"), dtype=float)
        keys = [index] if isinstance(index, str) else index
        m = df.set_index(keys + ["period"])[value].astype(float).unstack("period")
        return m.reindex(columns=sorted(df["period"].unique()))

    def sizes(self) -> pd.Series:
        """Cohort sizes (indexed like :meth:`matrix`)."""
        first = self.df[self.df["period"] == 0]
        idx = ["breakdown", "cohort"] if self.has_breakdown else ["cohort"]
        return first.set_index(idx)["cohort_size"]

    def average(self) -> MetricResult:
        """Per period, retention over the cohorts observed for it, weighted by cohort size.

        ``rate = sum(retained) / sum(cohort_size)`` over observed cohorts (Wilson CI on
        the pooled counts); NaN for a period no cohort has reached yet.
        """
        by = (["breakdown"] if self.has_breakdown else []) + ["period"]
        cols = by + ["cohorts", "cohort_size", "retained", "rate", "ci_low", "ci_high"]
        if self.df.empty:
            out = pd.DataFrame(columns=cols)
        else:
            d = self.df[self.df["observed"] & (self.df["cohort_size"] > 0)]
            g = (
                d.groupby(by, sort=True)
                .agg(
                    cohorts=("cohort", "count"),
                    cohort_size=("cohort_size", "sum"),
                    retained=("retained", "sum"),
                )
                .reset_index()
            )
            grid = self.df[by].drop_duplicates().sort_values(by)
            out = grid.merge(g, on=by, how="left")
            out["cohorts"] = out["cohorts"].fillna(0).astype(int)
            out = _add_rate(out, "retained", "cohort_size")
            out = out[cols].reset_index(drop=True)
        return MetricResult(
            name=f"{self.name}_average",
            title=f"{self.title}: weighted average",
            df=out,
            definition=(
                "Retention in each period, pooled over the cohorts that have been fully "
                "observed for it (weighted by cohort size), with a 95% Wilson interval."
            ),
            scope=self.scope,
            units={"cohort_size": "users", "retained": "users", **RATE_UNITS},
            x="period",
            y="rate",
            hue="breakdown" if self.has_breakdown else None,
            extra=dict(self.extra),
        )

    def plot(self, ax=None, cohorts: bool = False, **kw):
        """Retention curves: the weighted average (per breakdown value), or every cohort."""
        unit_word = f"{self.period}s after the cohort {self.period}"
        if cohorts:
            d = self.df[self.df["observed"]].copy()
            d["cohort_label"] = d["cohort"].dt.strftime("%Y-%m-%d")
            hue = "cohort_label"
            if self.has_breakdown:
                d["cohort_label"] = d["breakdown"].astype(str) + " · " + d["cohort_label"]
            return charts.line(
                d,
                "period",
                "rate",
                title=self.title,
                ylabel="Retained (%)",
                xlabel=unit_word,
                unit="rate",
                hue=hue,
                ax=ax,
            )
        avg = self.average().df.dropna(subset=["rate"])
        return charts.line(
            avg,
            "period",
            "rate",
            title=f"{self.title} (weighted average)",
            ylabel="Retained (%)",
            xlabel=unit_word,
            unit="rate",
            hue="breakdown" if self.has_breakdown else None,
            band=None if self.has_breakdown else ("ci_low", "ci_high"),
            ax=ax,
        )

    def heatmap(self, ax=None, breakdown: str | None = None):
        """Cohort heat map (rows cohorts, columns periods); unobserved cells stay blank."""
        m = self.matrix("rate", breakdown=breakdown)
        if isinstance(m.index, pd.MultiIndex):
            m.index = [f"{b} · {c:%Y-%m-%d}" for b, c in m.index]
        else:
            m.index = [f"{c:%Y-%m-%d}" for c in m.index]
        return charts.heatmap(
            m,
            title=self.title,
            xlabel=f"{self.period.capitalize()}s after the cohort {self.period}",
            ylabel=f"Cohort ({self.period} of first event)",
            unit="rate",
            ax=ax,
        )

    def table(self) -> pd.DataFrame:
        """The matrix as display strings with cohort sizes and the weighted average row."""
        if self.df.empty:
            return pd.DataFrame()
        m = self.matrix("rate")
        sizes = self.sizes().reindex(m.index)
        out = pd.DataFrame(index=m.index)
        out["persons"] = [fmt_int(v) for v in sizes]
        for k in m.columns:
            out[f"{self.period} {k}"] = [fmt_pct(v, 0) for v in m[k]]
        out = out.reset_index()
        out["cohort"] = out["cohort"].dt.strftime("%Y-%m-%d")
        avg = self.average().df
        for b, g in avg.groupby("breakdown") if self.has_breakdown else [(None, avg)]:
            row: dict[str, Any] = {"cohort": "weighted average", "persons": ""}
            if b is not None:
                row["breakdown"] = b
            for _, r in g.iterrows():
                row[f"{self.period} {int(r['period'])}"] = fmt_pct(r["rate"], 0)
            out = pd.concat([out, pd.DataFrame([row])], ignore_index=True)
        return out.fillna("—")

    def _repr_html_(self) -> str:
        head = header_html(self.title, self.definition, self.scope)
        if self.df.empty:
            return head + "<em>No cohorts in this range.</em>"
        note = (
            "<div style='color:#666;font-size:0.85em'>— = not fully observed yet "
            f"(as of {html.escape(str(self.scope.as_of) if self.scope else '')})</div>"
        )
        return head + self.table().to_html(index=False, border=0, escape=True) + note


RATE_UNITS = {"rate": "rate", "ci_low": "rate", "ci_high": "rate"}


def has_range(scope: dict[str, Any]) -> bool:
    return any(scope.get(k) is not None for k in ("start", "window"))


@records_sql
def retention(
    wh,
    *,
    period: Period = "week",
    periods: int = 8,
    start_event: str | Sequence[str] = "user_signed_up",
    return_event: str | Sequence[str] | None = None,
    cohort_type: Literal["first_time", "recurring"] = "first_time",
    mode: Literal["calendar", "rolling"] = "calendar",
    on_or_after: bool = False,
    **scope: Unpack[ScopeArgs],
) -> RetentionResult:
    """Cohort retention: of the persons whose first ``start_event`` falls in period P0,
    the share with a ``return_event`` in period k (k = 0..``periods``).

    ``mode="calendar"`` (PostHog): k = local period of the return − period of the first
    event; ``"rolling"`` (Amplitude): k-th 24 h × period-length window after it.
    ``on_or_after=True`` counts a person in k when they returned in k or any later
    period. Cells not fully observed by ``as_of`` are NaN. See the module docstring.
    """
    unit = check_unit(period)
    if cohort_type not in ("first_time", "recurring"):
        raise ValueError("cohort_type must be 'first_time' or 'recurring'")
    if mode not in ("calendar", "rolling"):
        raise ValueError("mode must be 'calendar' or 'rolling'")
    if periods < 0:
        raise ValueError("periods must be >= 0")
    starts_ev = event_list(start_event, "user_signed_up")
    returns_ev = event_list(return_event, config.DEFAULT_ACTIVE_EVENT)
    span = ROLLING_DAYS[unit] * (periods + 1)
    sc = resolve(wh, default_window=span, **scope)
    if not has_range(scope) and sc.end > sc.start:
        last = period_floor(sc.end - timedelta(days=1), unit)
        sc = sc.with_range(add_periods(last, unit, -periods), sc.end)
    cohorts = period_starts(sc.start, sc.end, unit)

    kind = "on or after" if on_or_after else "on"
    title = (
        f"{unit.capitalize()}ly retention: {events_label(starts_ev)} → {events_label(returns_ev)}"
        + (" (recurring)" if cohort_type == "recurring" else "")
        + (" (rolling)" if mode == "rolling" else "")
    )
    definition = (
        f"Persons whose {'first ' if cohort_type == 'first_time' else ''}"
        f"{events_label(starts_ev)} falls in a {unit} (cohort), share with {events_label(returns_ev)} "
        f"{kind} {unit} k after it ({mode} {unit}s); — = not fully observed yet."
    )
    extra = {
        "period": unit,
        "periods": periods,
        "start_event": starts_ev,
        "return_event": returns_ev,
        "cohort_type": cohort_type,
        "mode": mode,
        "on_or_after": on_or_after,
    }
    cols = ["cohort", "cohort_size", "period", "retained", "rate", "ci_low", "ci_high", "observed"]
    if sc.breakdown:
        cols = ["breakdown"] + cols
    units = {"cohort_size": "users", "retained": "users", **RATE_UNITS}

    def result(df: pd.DataFrame) -> RetentionResult:
        return RetentionResult(
            name="retention",
            title=title,
            df=df,
            definition=definition,
            scope=sc,
            units=units,
            x="period",
            y="rate",
            kind="heatmap",
            hue="breakdown" if sc.breakdown else None,
            extra=extra,
        )

    if not cohorts:
        return result(empty_rates(cols))
    lo, hi = cohorts[0], add_periods(cohorts[-1], unit, 1)
    raw = wh.sql(
        _retention_sql(
            sc,
            unit=unit,
            periods=periods,
            start_events=starts_ev,
            return_events=returns_ev,
            cohort_type=cohort_type,
            mode=mode,
            on_or_after=on_or_after,
            lo=lo,
            hi=hi,
        )
    )
    df = _shape_retention(raw, sc, unit, periods, cohorts, mode, on_or_after)
    # cells whose return period lost its raw events to the retention policy (issue 15)
    df = retention_from_rollups(
        wh,
        sc,
        df,
        unit=unit,
        start_events=starts_ev,
        return_events=returns_ev,
        cohort_type=cohort_type,
        mode=mode,
        on_or_after=on_or_after,
    )
    return result(df[cols] if sc.breakdown else df[cols].reset_index(drop=True))


def empty_rates(cols: list[str]) -> pd.DataFrame:
    return pd.DataFrame({c: pd.Series(dtype=_DTYPES.get(c, "float64")) for c in cols})


_DTYPES = {
    "breakdown": "object",
    "cohort": "datetime64[ns]",
    "period": "datetime64[ns]",
    "observed": "bool",
    "day": "int64",
}


def _shape_retention(
    raw: pd.DataFrame,
    sc: Scope,
    unit: str,
    periods: int,
    cohorts: list[date],
    mode: str,
    on_or_after: bool,
) -> pd.DataFrame:
    """Full grid (breakdown × cohort × k) with sizes, counts, observation, rates."""
    raw = raw.copy()
    raw["cohort"] = pd.to_datetime(raw["cohort"])
    tot = raw[raw["total"] == 1][["breakdown", "cohort", "n", "max_t0"]]
    tot = tot.rename(columns={"n": "cohort_size"})
    hits = raw[(raw["total"] == 0) & raw["k"].notna()][["breakdown", "cohort", "k", "n"]]
    hits = hits.astype({"k": int})
    values = sorted(tot["breakdown"].unique()) if sc.breakdown else ["all"]
    axes = {"breakdown": values, "cohort": pd.to_datetime(cohorts), "period": range(periods + 1)}
    df = complete_grid(tot, axes, on=["breakdown", "cohort"], zero={"cohort_size": int})
    counts = hits.rename(columns={"k": "period"})
    if on_or_after and not counts.empty:
        # n(k) persons whose last return period is k -> retained(k) = sum over k' >= k
        counts = counts.sort_values(
            ["breakdown", "cohort", "period"], ascending=[True, True, False]
        )
        counts["n"] = counts.groupby(["breakdown", "cohort"])["n"].cumsum()
        full = complete_grid(counts, axes | {"period": range(1, periods + 1)})
        full = full.sort_values(["breakdown", "cohort", "period"], ascending=[True, True, False])
        full["n"] = full.groupby(["breakdown", "cohort"])["n"].ffill()
        counts = full.dropna(subset=["n"])
    df = df.merge(counts, on=["breakdown", "cohort", "period"], how="left")
    df["retained"] = df["n"].fillna(0).astype(float)
    df.loc[df["period"] == 0, "retained"] = df["cohort_size"].astype(float)
    df["observed"] = _observed(df, sc, unit, mode)
    df.loc[~df["observed"], "retained"] = np.nan
    df = _add_rate(df, "retained", "cohort_size")
    return df.sort_values(["breakdown", "cohort", "period"]).reset_index(drop=True)


def _observed(df: pd.DataFrame, sc: Scope, unit: str, mode: str) -> pd.Series:
    """Whether each (cohort, period) cell is fully observed by ``as_of``."""
    as_of = pd.Timestamp(sc.as_of_utc)
    ends: dict[tuple[date, int], bool] = {}
    cohort_done: dict[date, bool] = {}
    out = []
    length = pd.Timedelta(days=ROLLING_DAYS[unit])
    for c, k, t in zip(df["cohort"], df["period"], df["max_t0"], strict=True):
        c = c.date()
        if c not in cohort_done:
            cohort_done[c] = sc.local_midnight(add_periods(c, unit, 1)) <= sc.as_of
        if mode == "calendar" or k == 0 or pd.isna(t):
            key = (c, int(k) if mode == "calendar" else 0)
            if key not in ends:
                ends[key] = sc.local_midnight(add_periods(c, unit, key[1] + 1)) <= sc.as_of
            out.append(ends[key])
        else:
            t = pd.Timestamp(t)
            t = t.tz_localize("UTC") if t.tzinfo is None else t
            out.append(cohort_done[c] and t + (int(k) + 1) * length <= as_of)
    return pd.Series(out, index=df.index, dtype=bool)


# ------------------------------------------------------------------------------------------
# Cohort window rates: N-day retention here, activation / week 2 / paid conversion in inputs
# ------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Window:
    """An outcome: one of ``events`` in ``[t0 + lo_s, t0 + hi_s)`` (seconds after t0),
    optionally also meeting ``where`` (SQL on the outcome event ``r``, whose extra
    ``columns`` of ``events`` are then read)."""

    events: tuple[str, ...]
    lo_s: int
    hi_s: int
    where: str = "TRUE"
    columns: tuple[str, ...] = ()


@dataclass(frozen=True)
class CohortRate:
    """A share of the cohort: persons meeting every window, among those with ``closed_s``
    seconds observed after t0 (``t0 + closed_s <= as_of``)."""

    name: str
    windows: tuple[Window, ...]
    closed_s: int


def cohort_rates_sql(
    sc: Scope,
    start_events: Sequence[str],
    rates: Sequence[CohortRate],
    lo: date,
    hi: date,
    *,
    bucket: str | None = None,
    filter_mode: Literal["events", "cohort"] = "events",
    same_value: bool = False,
) -> str:
    """SQL: per breakdown (and cohort period with ``bucket``): ``signups`` (all cohort
    persons), and per rate ``i``: ``n_i`` (window closed) and ``k_i`` (closed and met).

    One GROUP BY for the first start per person, one hash join of that cohort with the
    outcome events inside ``[t0 + min lo, t0 + max hi)``. ``filter_mode="events"``:
    filters apply to start and outcome events (PostHog); ``"cohort"``: they select the
    cohort by its first start event (see :func:`first_start_cohort_sql`) and outcome
    events are not filtered. ``same_value``: an outcome event counts only when it carries
    the cohort's breakdown value (retention by an event property).
    """
    cohort = first_start_cohort_sql(
        sc, start_events, lo, hi, bucket=bucket, filter_mode=filter_mode
    )
    windows = sorted(
        {w for r in rates for w in r.windows}, key=lambda w: (w.lo_s, w.hi_s, w.events, w.where)
    )
    out_events = sorted({e for w in windows for e in w.events})
    extra_cols = sorted({c for w in windows for c in w.columns})
    d = sc.d
    src = dataclasses.replace(_wide(sc), breakdown=sc.breakdown if same_value else None)
    if filter_mode == "cohort":
        src = dataclasses.replace(src, filters={})
    cols = ", ".join(["e.person_id", "e.event", "e.timestamp"] + [f"e.{c}" for c in extra_cols])
    lo_s = min(w.lo_s for w in windows)
    hi_s = max(w.hi_s for w in windows)
    outcomes = src.events_cte(
        out_events,
        columns=cols,
        range_start=lo,
        extra_where=f"e.timestamp < {d.add_seconds(sc.ts_sql(hi), hi_s)}",
    )
    flags = []
    for i, w in enumerate(windows):
        cond = (
            f"r.event IN ({d.str_list(w.events)}) AND r.timestamp >= {d.add_seconds('c.t0', w.lo_s)} "
            f"AND r.timestamp < {d.add_seconds('c.t0', w.hi_s)} AND ({w.where})"
        )
        flags.append(f"coalesce({d.bool_or(cond)}, FALSE) AS w{i}")
    group = "c.person_id, c.t0, c.breakdown" + (", c.cohort" if bucket else "")
    aggs = ["count(*) AS signups"]
    as_of = sc.as_of_sql()
    for i, r in enumerate(rates):
        closed = f"{d.add_seconds('t0', r.closed_s)} <= {as_of}"
        met = " AND ".join(f"w{windows.index(w)}" for w in r.windows)
        aggs.append(f"count(*) FILTER (WHERE {closed}) AS n_{i}")
        aggs.append(f"count(*) FILTER (WHERE {closed} AND {met}) AS k_{i}")
    keys = "breakdown" + (", cohort" if bucket else "")
    return f"""
        WITH cohort AS ({cohort}),
        per AS (
            SELECT {group}, {", ".join(flags)}
            FROM cohort c LEFT JOIN ({outcomes}) r
              ON r.person_id = c.person_id{" AND r.breakdown = c.breakdown" if same_value else ""}
             AND r.timestamp >= {d.add_seconds("c.t0", lo_s)}
             AND r.timestamp < {d.add_seconds("c.t0", hi_s)}
            GROUP BY {group}
        )
        SELECT {keys}, {", ".join(aggs)}
        FROM per
        GROUP BY {keys}"""


def closed_window_rate(
    df: pd.DataFrame, outcome: str, *, n: str = "n", k: str = "k"
) -> pd.DataFrame:
    """Shape cohort-rate counts: ``persons`` (windows closed by as_of), the ``outcome``
    count, ``pending`` (signups whose window is still open) and the rate with its CI."""
    df = df.copy()
    df["persons"] = df[n]
    df[outcome] = df[k].astype(float)
    df["pending"] = df["signups"] - df["persons"]
    return _add_rate(df, outcome, "persons")


def long_rates(raw: pd.DataFrame, rates: Sequence[CohortRate], keys: list[str]) -> pd.DataFrame:
    """Reshape ``n_i``/``k_i`` columns to rows: keys, rate name, signups, n, k."""
    parts = []
    for i, r in enumerate(rates):
        part = raw[keys + ["signups"]].copy()
        part["metric"] = r.name
        part["order"] = i
        part["n"] = raw[f"n_{i}"].astype(int)
        part["k"] = raw[f"k_{i}"].astype(int)
        parts.append(part)
    if not parts:
        return pd.DataFrame(columns=keys + ["signups", "metric", "order", "n", "k"])
    return pd.concat(parts, ignore_index=True)


@records_sql
def nday_retention(
    wh,
    *,
    days: Sequence[int] = (1, 7, 14, 30),
    start_event: str | Sequence[str] = "user_signed_up",
    return_event: str | Sequence[str] | None = None,
    **scope: Unpack[ScopeArgs],
) -> MetricResult:
    """N-day retention (D1, D7, D14, D30): among persons whose first ``start_event`` is in
    the range, the share with a ``return_event`` in ``[t0 + N·24h, t0 + (N+1)·24h)``.

    Only persons whose day-N window has closed by ``as_of`` are in that row's denominator
    (``persons``); the others are counted as ``pending``.
    """
    days = sorted({int(d) for d in days})
    if not days or days[0] < 0:
        raise ValueError("days must be non-negative integers")
    starts_ev = event_list(start_event, "user_signed_up")
    returns_ev = event_list(return_event, config.DEFAULT_ACTIVE_EVENT)
    sc = resolve(wh, **scope)
    if not has_range(scope) and scope.get("end") is None:
        sc = closed_default_range(sc, (days[-1] + 1) * DAY_S)
    rates = [
        CohortRate(
            f"D{n}",
            (Window(tuple(returns_ev), n * DAY_S, (n + 1) * DAY_S),),
            (n + 1) * DAY_S,
        )
        for n in days
    ]
    cols = ["day", "persons", "retained", "rate", "ci_low", "ci_high", "pending"]
    if sc.breakdown:
        cols = ["breakdown"] + cols
    if sc.start < sc.end:
        raw = wh.sql(
            cohort_rates_sql(
                sc, starts_ev, rates, sc.start, sc.end, same_value=same_value_breakdown(sc)
            )
        )
        long = long_rates(raw, rates, ["breakdown"])
        long["day"] = [days[i] for i in long["order"]]
        long = closed_window_rate(long, "retained")
        df = long.sort_values(["breakdown", "day"])[cols].reset_index(drop=True)
    else:
        df = empty_rates(cols)
    return MetricResult(
        name="nday_retention",
        title=f"N-day retention: {events_label(starts_ev)} → {events_label(returns_ev)}",
        df=df,
        definition=(
            f"Persons whose first {events_label(starts_ev)} is in the range and whose day-N window "
            f"has closed: share with {events_label(returns_ev)} in [t0 + N·24h, t0 + (N+1)·24h)."
        ),
        scope=sc,
        units={"persons": "users", "retained": "users", "pending": "users", **RATE_UNITS},
        x="day",
        y="rate",
        kind="bar",
        hue="breakdown" if sc.breakdown else None,
        extra={"days": days, "start_event": starts_ev, "return_event": returns_ev},
        plotter=_plot_rates_by("day", "D"),
    )


def closed_default_range(sc: Scope, seconds: int, days: int = 28) -> Scope:
    """The ``days`` local days ending at the last midnight at or before ``as_of - seconds``."""
    last = (sc.as_of - timedelta(seconds=seconds)).date()
    return sc.with_range(last - timedelta(days=days), last)


def _plot_rates_by(col: str, prefix: str):
    def plot(res: MetricResult, ax=None, **kw):
        d = res.df.dropna(subset=["rate"]).copy()
        d["label"] = [f"{prefix}{int(v)}" for v in d[col]]
        if "breakdown" in d.columns:
            return charts.line(
                d,
                col,
                "rate",
                title=res.title,
                ylabel="Retained (%)",
                xlabel=col,
                unit="rate",
                hue="breakdown",
                ax=ax,
            )
        return charts.bar(
            d, "label", "rate", title=res.title, ylabel="Retained (%)", unit="rate", ax=ax
        )

    return plot


# ------------------------------------------------------------------------------------------
# churn_rate()
# ------------------------------------------------------------------------------------------


def _churn_sql(sc: Scope, unit: str, active: Sequence[str], first: date, hi: date) -> str:
    prev = add_periods(first, unit, -1)
    src = _wide(sc)
    scan = src.events_cte(active, columns="e.person_id, e.timestamp", range_start=prev)
    qb = _quarter_buckets_sql(sc, unit, prev, sc.as_of)
    nxt = _period_index(sc.d, "b", "nb", unit)
    return f"""
        WITH pb AS (
            SELECT s.person_id, qb.b, {sc.d.arg_min("s.breakdown", "s.timestamp")} AS breakdown
            FROM ({scan}) s JOIN ({qb}) qb ON qb.q = {_quarter(sc.d, "s.timestamp")}
            GROUP BY s.person_id, qb.b
        ),
        nx AS (
            SELECT b, breakdown, lead(b) OVER (PARTITION BY person_id ORDER BY b) AS nb
            FROM pb
        )
        SELECT b AS previous, breakdown, count(*) AS previous_active,
               count(*) FILTER (WHERE nb IS NULL OR {nxt} <> 1) AS churned
        FROM nx
        WHERE b >= DATE '{prev.isoformat()}' AND b < DATE '{add_periods(hi, unit, -1).isoformat()}'
        GROUP BY b, breakdown"""


@records_sql
def churn_rate(
    wh,
    *,
    period: Period = "week",
    periods: int = 8,
    active_event: str | Sequence[str] | None = None,
    **scope: Unpack[ScopeArgs],
) -> MetricResult:
    """Churn rate per period: the share of the previous period's active persons with no
    active event in this period (Wilson CI). Missing while the period has not ended.

    Without ``start``/``window`` the last ``periods`` periods up to ``as_of`` are shown.
    """
    unit = check_unit(period)
    active = event_list(active_event, config.DEFAULT_ACTIVE_EVENT)
    sc = resolve(wh, default_window=ROLLING_DAYS[unit] * periods, **scope)
    if not has_range(scope) and sc.end > sc.start:
        last = period_floor(sc.end - timedelta(days=1), unit)
        sc = sc.with_range(add_periods(last, unit, -(periods - 1)), sc.end)
    starts = period_starts(sc.start, sc.end, unit)
    cols = ["period", "previous_active", "churned", "rate", "ci_low", "ci_high", "observed"]
    if sc.breakdown:
        cols = ["breakdown"] + cols
    if starts:
        hi = add_periods(starts[-1], unit, 1)
        raw = wh.sql(_churn_sql(sc, unit, active, starts[0], hi))
        raw["period"] = [add_periods(pd.Timestamp(p).date(), unit, 1) for p in raw["previous"]]
        values = sorted(raw["breakdown"].unique()) if sc.breakdown else ["all"]
        df = complete_grid(
            raw.drop(columns="previous"),
            {"breakdown": values, "period": starts},
            zero={"previous_active": int, "churned": float},
        )
        df["observed"] = [
            sc.local_midnight(add_periods(p, unit, 1)) <= sc.as_of for p in df["period"]
        ]
        df.loc[~df["observed"], "churned"] = np.nan
        df = _add_rate(df, "churned", "previous_active")
        df["period"] = pd.to_datetime(df["period"])
        df = df.sort_values(["breakdown", "period"])[cols].reset_index(drop=True)
    else:
        df = empty_rates(cols)
    return MetricResult(
        name="churn_rate",
        title=f"{unit.capitalize()}ly churn rate",
        df=df,
        definition=(
            f"Share of the persons active ({events_label(active)}) in the previous {unit} with no "
            f"such event this {unit}; — while the {unit} is not over."
        ),
        scope=sc,
        units={"previous_active": "users", "churned": "users", **RATE_UNITS},
        x="period",
        y="rate",
        kind="line",
        hue="breakdown" if sc.breakdown else None,
        extra={"period": unit, "active_event": active},
    )
