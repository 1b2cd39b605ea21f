"""Active users, the North Star, stickiness, lifecycle and engagement (METRICS.md 1-3).

Every function takes the :class:`~zantara_nb.warehouse.scope.ScopeArgs` keywords (``start``,
``end``, ``as_of``, ``window``, ``tz``, ``filters``, ``breakdown``) and an
``active_event`` (default ``config.DEFAULT_ACTIVE_EVENT`` = ``message_sent``; a list of
events, or ``"*"`` for any event). A person is a stitched ``person_id``.

Definitions (METRICS.md section 1, engagement/growth from 2-3):

- **DAU(d)**: persons with at least one active event on local day ``d``.
- **WAU(d)** / **MAU(d)**: persons with an active event in the 7 / 30 local days
  ending with ``d`` (PostHog ``weekly_active`` / ``monthly_active``). Events before the
  range start are read for the look-back.
- **North Star**: WAU of the report week (the last complete Monday–Sunday before
  ``as_of``, :func:`~zantara_nb.warehouse.scope.last_complete_period`) against the week before:
  growth ``(WAU_w - WAU_w-1) / WAU_w-1``, significance by a Poisson test on the two
  counts (:func:`~zantara_nb.metrics.stats.poisson_p`, p < 0.05).
- **Growth rate**: week-over-week change of calendar-week WAU, per week.
- **Stickiness ratio(d)**: mean DAU over the 30 days ending ``d`` / MAU(d).
- **Stickiness distribution**: persons active on exactly k days of the range.
- **Lifecycle** per period: new / returning / resurrecting / dormant (negative).
- **Engagement** per calendar week: ``message_sent`` count / that week's WAU.

SQL shape. DAU, WAU and MAU come from one query (:func:`active_users`) that reads the
events once: distinct (breakdown, person, local day) rows; for each, the next active
day of that person (``lead``); the person-day keeps the person in the N-day window
count on ``[day, min(day + N, next_day))`` (the intervals of one person never overlap);
each interval becomes +1 at its start and -1 at its end, and a running ``SUM`` over a
calendar of days gives the count for every day. No self-join over days.

Choices METRICS.md leaves open:

- **Not yet observed.** A day is observed when it has ended by ``as_of``; a week or
  month likewise. Daily values (DAU/WAU/MAU/stickiness) of days not observed are NaN
  (this includes the day ``as_of`` falls in: a partial day is not a value). Weekly and
  per-period results carry a ``complete`` column and their values are NaN when
  ``complete`` is False. Days with no activity that are observed are 0.
- **Before the first event.** The warehouse is taken as the full history: days before
  the first event are observed zeros (PostHog does the same). So WAU/MAU/stickiness in
  the first 6/29 days of data see a shorter history; nothing is marked missing for it.
- **Stickiness ratio** CI: Wilson interval of (sum of DAU over the 30 days) out of
  (30 × MAU) person-days. It treats person-days as independent, so it is optimistic.
- **Stickiness distribution** over a range not yet fully observed: counts so far,
  ``complete`` False, and NaN for k larger than the number of days begun by ``as_of``.
- **Lifecycle "new"** is the period of the person's first active event ever (all
  history before the range is read), within the filters and per breakdown value. With
  an event-property breakdown a person's history is taken per value. PostHog uses the
  person's creation time and looks one period back; we follow METRICS.md.
- **Breakdown.** One series per value. With an event-property breakdown a person is
  counted in every value they had an active event with (as PostHog), so values do not
  add up to the total. The North Star headline is always the total (GROUPING SETS).
- **Engagement** counts ``message_sent`` (whatever the active event) and divides by
  the week's active persons (active event); None when nobody was active.
"""

from __future__ import annotations

import html
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date, time, timedelta
from typing import Any

import numpy as np
import pandas as pd
from typing_extensions import Unpack

from ..display import charts
from ..display.formatting import fmt_change, fmt_int, fmt_p
from ..warehouse import rollups
from ..warehouse.scope import ActiveEvent, Scope, ScopeArgs, last_complete_period, resolve
from ..warehouse.scope import active_events as _events
from ..warehouse.sqltrace import records_sql
from .grids import complete_grid
from .results import MetricResult, format_frame, header_html
from .stats import Change, poisson_p, wilson

_WINDOW_NAMES = {1: "dau", 7: "wau", 30: "mau"}
_LIFECYCLE = ("new", "returning", "resurrecting", "dormant")


# ------------------------------------------------------------------------------------------
# helpers
# ------------------------------------------------------------------------------------------


def _describe_events(events: list[str] | None) -> str:
    return "any event" if events is None else " or ".join(events)


def _window_col(w: int) -> str:
    return _WINDOW_NAMES.get(w, f"active_{w}d")


def _shift_sql(scope: Scope, unit: str, expr: str, n: int) -> str:
    """SQL: the DATE ``expr`` moved by ``n`` periods."""
    if unit == "day":
        return scope.d.add_days(expr, n)
    if unit == "week":
        return scope.d.add_days(expr, 7 * n)
    return scope.d.add_months(expr, n)


def _period_start(d: date, unit: str) -> date:
    if unit == "day":
        return d
    if unit == "week":
        return d - timedelta(days=d.weekday())
    return d.replace(day=1)


def _period_next(d: date, unit: str) -> date:
    if unit == "day":
        return d + timedelta(days=1)
    if unit == "week":
        return d + timedelta(days=7)
    return (d.replace(day=28) + timedelta(days=4)).replace(day=1)


def _periods(start: date, end: date, unit: str) -> list[date]:
    """Period starts of every period overlapping ``[start, end)``."""
    out: list[date] = []
    p = _period_start(start, unit)
    while p < end:
        out.append(p)
        p = _period_next(p, unit)
    return out


def _first_open_day(scope: Scope) -> date:
    """The first local day not fully observed by ``as_of``."""
    return scope.as_of.astimezone(scope.zone).date()


def _shape(df: pd.DataFrame, scope: Scope, cols: list[str]) -> pd.DataFrame:
    """Drop the breakdown column when there is none; keep ``cols`` in order."""
    keep = [c for c in cols if c != "breakdown" or scope.breakdown]
    return df[keep].reset_index(drop=True)


def _plotter(ylabel: str, xlabel: str = ""):
    """A ``MetricResult.plotter`` drawing the result's chart with readable axis labels."""

    def draw(res: MetricResult, ax=None, **kw):
        y = res.y if isinstance(res.y, str) or res.hue else list(res.y or [])
        y0 = y if isinstance(y, str) else y[0]
        unit = res.units.get(y0)
        if res.kind == "bar" and not res.hue:
            return charts.bar(
                res.df, res.x, y0, title=res.title, ylabel=ylabel, xlabel=xlabel, unit=unit, ax=ax
            )
        return charts.line(
            res.df,
            res.x,
            y if not res.hue else y0,
            title=res.title,
            ylabel=ylabel,
            xlabel=xlabel,
            unit=unit,
            hue=res.hue,
            ax=ax,
            **kw,
        )

    return draw


def _as_ts(s: pd.Series) -> pd.Series:
    return pd.to_datetime(s).astype("datetime64[ns]")


def _empty(cols: Sequence[str], dates: Sequence[str] = ()) -> pd.DataFrame:
    """An empty frame with these columns (dates as datetime, breakdown as text)."""
    dtypes = {c: "datetime64[ns]" if c in dates else "float64" for c in cols}
    dtypes["breakdown"] = "object"
    dtypes.update({c: "bool" for c in ("complete", "significant") if c in dtypes})
    return pd.DataFrame({c: pd.Series(dtype=dtypes[c]) for c in cols})


# ------------------------------------------------------------------------------------------
# DAU / WAU / MAU: one query
# ------------------------------------------------------------------------------------------


def _active_sql(
    scope: Scope,
    events: list[str] | None,
    windows: Sequence[int],
    *,
    lookback: int,
    sum_dau: int | None = None,
) -> str:
    """Rolling active persons for every day of the range, for each window.

    Reads events from ``start - lookback`` days. ``sum_dau = n`` adds ``dau_sum``, the sum
    of DAU over the n days ending d (needs window 1 and ``lookback >= n - 1``).
    """
    first = scope.start - timedelta(days=lookback)
    plus_k = scope.d.add_days("iv.day", "w.k")
    day = scope.bucket("day", "e.timestamp")
    ev = scope.events_cte(events, columns=f"e.person_id, {day} AS day", range_start=first)
    ks = ", ".join(f"({k})" for k in (0, *windows))
    deltas = ",\n               ".join(
        f"sum(CASE WHEN k = 0 THEN 1 WHEN k = {w} THEN -1 ELSE 0 END) AS d{w}" for w in windows
    )
    filled = ",\n               ".join(f"coalesce(d.d{w}, 0) AS d{w}" for w in windows)
    runs = ",\n               ".join(
        f"sum(d{w}) OVER (PARTITION BY breakdown ORDER BY day "
        f"ROWS BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW) AS {_window_col(w)}"
        for w in windows
    )
    bvals = (
        "SELECT DISTINCT breakdown FROM deltas" if scope.breakdown else "SELECT 'all' AS breakdown"
    )
    if scope.breakdown:
        # One sort per person (by value, then day): the next row is the next active day
        # of the same value, or another value's first day (then there is no next day).
        iv = (
            "SELECT breakdown, day, CASE WHEN lead(breakdown) OVER w = breakdown "
            "THEN lead(day) OVER w END AS next_day "
            "FROM pd WINDOW w AS (PARTITION BY person_id ORDER BY breakdown, day)"
        )
    else:
        iv = (
            "SELECT breakdown, day, lead(day) OVER (PARTITION BY person_id ORDER BY day) "
            "AS next_day FROM pd"
        )
    outs = ", ".join(_window_col(w) for w in windows)
    extra = ""
    if sum_dau:
        extra = (
            f", sum(dau) OVER (PARTITION BY breakdown ORDER BY day "
            f"ROWS BETWEEN {sum_dau - 1} PRECEDING AND CURRENT ROW) AS dau_sum"
        )
    return f"""
        WITH ev AS ({ev}),
        pd AS (
            SELECT DISTINCT breakdown, person_id, day FROM ev WHERE person_id IS NOT NULL
        ),
        iv AS ({iv}),
        edges AS (
            SELECT iv.breakdown, w.k,
                   CASE WHEN w.k = 0 THEN iv.day
                        ELSE least({plus_k}, coalesce(iv.next_day, {plus_k})) END AS day
            FROM iv CROSS JOIN (VALUES {ks}) AS w(k)
        ),
        deltas AS (
            SELECT breakdown, day,
               {deltas}
            FROM edges WHERE day < {scope.date_sql(scope.end)}
            GROUP BY breakdown, day
        ),
        cal AS (
            SELECT b.breakdown, c.day
            FROM ({bvals}) b CROSS JOIN ({scope.d.calendar(first, scope.end)}) c
        ),
        daily AS (
            SELECT cal.breakdown, cal.day,
               {filled}
            FROM cal LEFT JOIN deltas d ON d.breakdown = cal.breakdown AND d.day = cal.day
        ),
        run AS (
            SELECT breakdown, day,
               {runs}
            FROM daily
        ),
        out AS (SELECT breakdown, day, {outs}{extra} FROM run)
        SELECT * FROM out WHERE day >= {scope.date_sql(scope.start)}
        ORDER BY breakdown, day
    """


def _active_frame(
    wh,
    scope: Scope,
    events: list[str] | None,
    windows: Sequence[int],
    *,
    sum_dau: int | None = None,
) -> pd.DataFrame:
    windows = sorted({int(w) for w in windows})
    if not windows or windows[0] < 1:
        raise ValueError("windows: positive numbers of days, e.g. (1, 7, 30)")
    lookback = max(windows[-1], sum_dau or 0) - 1
    cols = ["breakdown", "day", *(_window_col(w) for w in windows)]
    if sum_dau:
        cols.append("dau_sum")
    if scope.days == 0:
        return _empty(cols, dates=("day",))
    df = wh.sql(_active_sql(scope, events, windows, lookback=lookback, sum_dau=sum_dau))
    df["day"] = _as_ts(df["day"])
    values = [c for c in cols if c not in ("breakdown", "day")]
    df[values] = df[values].astype("float64")
    # days before the retention horizon: from the roll-ups (raw events are gone there)
    df = rollups.overlay_active(wh, scope, events, df, windows)
    df.loc[df["day"] >= pd.Timestamp(_first_open_day(scope)), values] = np.nan
    if scope.breakdown and len(df):
        # keep values with some activity in the range (not only in the look-back)
        live = df.groupby("breakdown")[values].transform(lambda s: s.fillna(0).abs().sum())
        df = df[live.sum(axis=1) > 0]
    return df[cols].reset_index(drop=True)


@records_sql
def active_users(
    wh,
    *,
    windows: Sequence[int] = (1, 7, 30),
    active_event: ActiveEvent = None,
    **scope: Unpack[ScopeArgs],
) -> MetricResult:
    """DAU, WAU and MAU for every day of the range, from one pass over the events.

    For each window N in ``windows`` (days), the persons with an active event in the N
    local days ending with each day (N=1: DAU, 7: WAU, 30: MAU; other N are named
    ``active_<N>d``). Days not yet over at ``as_of`` are NaN.
    """
    sc = resolve(wh, default_window="28d", **scope)
    events = _events(active_event)
    df = _active_frame(wh, sc, events, windows)
    names = [c for c in df.columns if c not in ("breakdown", "day")]
    df = _shape(df, sc, ["day", "breakdown", *names])
    y: str | list[str] = names if not sc.breakdown else ("wau" if "wau" in names else names[0])
    return MetricResult(
        name="active_users",
        title="Active users",
        df=df,
        definition=(
            f"Persons with ≥1 {_describe_events(events)} in the N local days ending each day "
            f"(N = {', '.join(str(w) for w in sorted(set(windows)))})."
        ),
        scope=sc,
        units=dict.fromkeys(names, "users"),
        x="day",
        y=y,
        hue="breakdown" if sc.breakdown else None,
        extra={"active_event": events},
        plotter=_plotter("Active users (persons)"),
    )


def _single_window(
    wh, window: int, name: str, title: str, active_event: ActiveEvent, scope: dict[str, Any]
) -> MetricResult:
    sc = resolve(wh, default_window="28d", **scope)
    events = _events(active_event)
    df = _shape(_active_frame(wh, sc, events, (window,)), sc, ["day", "breakdown", name])
    span = "on local day d" if window == 1 else f"in the {window} local days ending with day d"
    return MetricResult(
        name=name,
        title=title,
        df=df,
        definition=f"Persons with ≥1 {_describe_events(events)} {span}.",
        scope=sc,
        units={name: "users"},
        x="day",
        y=name,
        hue="breakdown" if sc.breakdown else None,
        extra={"active_event": events},
        plotter=_plotter(f"{name.upper()} (persons)"),
    )


@records_sql
def dau(wh, *, active_event: ActiveEvent = None, **scope: Unpack[ScopeArgs]) -> MetricResult:
    """Daily active users: persons with ≥1 active event on each local day of the range."""
    return _single_window(wh, 1, "dau", "Daily active users", active_event, scope)


@records_sql
def wau(wh, *, active_event: ActiveEvent = None, **scope: Unpack[ScopeArgs]) -> MetricResult:
    """Weekly active users (rolling): persons active in the 7 local days ending each day."""
    return _single_window(wh, 7, "wau", "Weekly active users (rolling 7 days)", active_event, scope)


@records_sql
def mau(wh, *, active_event: ActiveEvent = None, **scope: Unpack[ScopeArgs]) -> MetricResult:
    """Monthly active users (rolling): persons active in the 30 local days ending each day."""
    return _single_window(
        wh, 30, "mau", "Monthly active users (rolling 30 days)", active_event, scope
    )


# ------------------------------------------------------------------------------------------
# Stickiness
# ------------------------------------------------------------------------------------------


@records_sql
def stickiness(
    wh,
    *,
    days: int = 30,
    active_event: ActiveEvent = None,
    **scope: Unpack[ScopeArgs],
) -> MetricResult:
    """Stickiness ratio per day: mean DAU over the ``days`` days ending d, divided by MAU(d).

    MAU here is the rolling ``days``-day active count (30 by default). NaN when MAU is 0
    or the day is not yet over at ``as_of``. ``ci_low``/``ci_high``: Wilson interval of
    active person-days out of ``days`` × MAU.
    """
    if int(days) < 2:
        raise ValueError("days: the stickiness window needs at least 2 days (default 30)")
    sc = resolve(wh, default_window="28d", **scope)
    events = _events(active_event)
    windows = (1, days)
    df = _active_frame(wh, sc, events, windows, sum_dau=days)
    mcol = _window_col(days)
    df = df.rename(columns={mcol: "mau"}) if mcol != "mau" else df
    df["mean_dau"] = df["dau_sum"] / days
    ok = df["mau"] > 0
    df["stickiness"] = np.where(ok, df["mean_dau"] / df["mau"].where(ok), np.nan)
    cis = [
        wilson(s, days * m) if (m == m and m > 0) else None
        for s, m in zip(df["dau_sum"], df["mau"], strict=True)
    ]
    df["ci_low"] = [np.nan if c is None else c.low for c in cis]
    df["ci_high"] = [np.nan if c is None else c.high for c in cis]
    df = _shape(
        df, sc, ["day", "breakdown", "stickiness", "ci_low", "ci_high", "mean_dau", "dau", "mau"]
    )
    return MetricResult(
        name="stickiness",
        title="Stickiness (DAU/MAU)",
        df=df,
        definition=(
            f"Mean DAU over the {days} days ending each day ÷ persons active in those "
            f"{days} days ({_describe_events(events)})."
        ),
        scope=sc,
        units={
            "stickiness": "rate",
            "ci_low": "rate",
            "ci_high": "rate",
            "mean_dau": "number",
            "dau": "users",
            "mau": "users",
        },
        x="day",
        y="stickiness",
        hue="breakdown" if sc.breakdown else None,
        extra={"active_event": events, "days": days},
        plotter=_plotter("Mean DAU ÷ MAU (%)"),
    )


def _distribution_sql(scope: Scope, events: list[str] | None) -> str:
    day = scope.bucket("day", "e.timestamp")
    ev = scope.events_cte(events, columns=f"e.person_id, {day} AS day")
    return f"""
        WITH ev AS ({ev}),
        pd AS (
            SELECT DISTINCT breakdown, person_id, day FROM ev WHERE person_id IS NOT NULL
        ),
        pc AS (SELECT breakdown, person_id, count(*) AS k FROM pd GROUP BY breakdown, person_id)
        SELECT breakdown, k AS days_active, count(*) AS persons
        FROM pc GROUP BY breakdown, k ORDER BY breakdown, k
    """


@records_sql
def stickiness_distribution(
    wh, *, active_event: ActiveEvent = None, **scope: Unpack[ScopeArgs]
) -> MetricResult:
    """PostHog Stickiness: how many persons were active on exactly k days of the range.

    One row per k = 1 … number of days in the range. ``share`` is the share of the
    range's active persons (Wilson CI). When the range is not fully observed at
    ``as_of`` the counts are so far (``complete`` False) and k beyond the days begun
    by ``as_of`` is NaN.
    """
    sc = resolve(wh, default_window="28d", **scope)
    events = _events(active_event)
    cols = ["breakdown", "days_active", "persons", "share", "ci_low", "ci_high", "complete"]
    local = sc.as_of.astimezone(sc.zone)
    unbegun = local.date() + timedelta(days=0 if local.time() == time(0) else 1)
    begun = max(0, min(sc.days, (unbegun - sc.start).days))  # days begun by as_of
    raw = (
        wh.sql(_distribution_sql(sc, events))
        if sc.days
        else pd.DataFrame(columns=["breakdown", "days_active", "persons"])
    )
    values = sorted(raw["breakdown"].unique()) if sc.breakdown else ["all"]
    df = (
        complete_grid(
            raw,
            {"breakdown": values, "days_active": range(1, sc.days + 1)},
            zero={"persons": "float64"},
        )
        if sc.days and values
        else pd.DataFrame({c: [] for c in ["breakdown", "days_active", "persons"]})
    )
    df.loc[df["days_active"] > begun, "persons"] = np.nan
    totals = df.groupby("breakdown")["persons"].transform("sum")
    df["share"] = np.where(totals > 0, df["persons"] / totals.where(totals > 0), np.nan)
    cis = [
        wilson(k, n) if (k == k and n > 0) else None
        for k, n in zip(df["persons"], totals, strict=True)
    ]
    df["ci_low"] = [np.nan if c is None else c.low for c in cis]
    df["ci_high"] = [np.nan if c is None else c.high for c in cis]
    df["complete"] = sc.as_of >= sc.local_midnight(sc.end)
    df["days_active"] = df["days_active"].astype("int64")
    df = _shape(df, sc, ["breakdown", *cols[1:]])
    return MetricResult(
        name="stickiness_distribution",
        title="Stickiness: days active in the period",
        df=df,
        definition=(
            f"Persons with ≥1 {_describe_events(events)} on exactly k of the "
            f"{sc.days} local days of the range."
        ),
        scope=sc,
        units={"persons": "users", "share": "rate", "ci_low": "rate", "ci_high": "rate"},
        x="days_active",
        y="persons",
        kind="line" if sc.breakdown else "bar",
        hue="breakdown" if sc.breakdown else None,
        extra={"active_event": events, "complete": bool(sc.as_of >= sc.local_midnight(sc.end))},
        plotter=_plotter("Persons", "Days active in the period"),
    )


# ------------------------------------------------------------------------------------------
# Calendar weeks: North Star, growth rate, engagement
# ------------------------------------------------------------------------------------------


def _weekly_sql(
    scope: Scope,
    events: list[str] | None,
    first_week: date,
    end_week: date,
    *,
    messages: bool = False,
    totals: bool = False,
) -> str:
    """Persons with an active event per (breakdown, calendar week) in ``[first, end)``.

    ``messages`` adds the ``message_sent`` count; ``totals`` adds rows over all
    breakdown values (``is_total`` = 1) with GROUPING SETS.
    """
    sc = scope.with_range(first_week, end_week)
    read = (
        None if events is None else sorted(set(events) | ({"message_sent"} if messages else set()))
    )
    wk = scope.bucket("week", "e.timestamp")
    ev = sc.events_cte(read, columns=f"e.person_id, e.event, {wk} AS week")
    act = scope.d.in_list("event", events)
    cols = [f"count(DISTINCT person_id) FILTER (WHERE {act}) AS wau"]
    if messages:
        cols.append("count(*) FILTER (WHERE event = 'message_sent') AS messages")
    if totals and scope.breakdown:
        group = "GROUPING SETS ((breakdown, week), (week))"
        cols.append("grouping(breakdown) AS is_total")
    else:
        group = "breakdown, week"
        cols.append("1 AS is_total" if not scope.breakdown else "0 AS is_total")
    return f"""
        WITH ev AS ({ev})
        SELECT breakdown, week, {", ".join(cols)}
        FROM ev WHERE person_id IS NOT NULL
        GROUP BY {group}
    """


def _weekly_frame(
    wh,
    scope: Scope,
    events: list[str] | None,
    weeks: list[date],
    *,
    messages: bool = False,
    totals: bool = False,
) -> pd.DataFrame:
    """Calendar-week counts for every week in ``weeks`` (and every breakdown value).

    Rows with ``is_total`` 1 are over all values. Counts of weeks not complete at
    ``as_of`` are NaN.
    """
    value_cols = ["wau", *(["messages"] if messages else [])]
    cols = ["breakdown", "week", "is_total", *value_cols, "complete"]
    if not weeks:
        return _empty(cols, dates=("week",))
    raw = wh.sql(
        _weekly_sql(
            scope, events, weeks[0], weeks[-1] + timedelta(days=7), messages=messages, totals=totals
        )
    )
    raw["week"] = _as_ts(raw["week"])
    raw["breakdown"] = raw["breakdown"].where(raw["is_total"] == 0, "all")
    idx = [pd.Timestamp(w) for w in weeks]
    parts = []
    if scope.breakdown:
        for value in sorted(raw.loc[raw["is_total"] == 0, "breakdown"].unique()):
            parts.append((value, 0))
    if not scope.breakdown or totals:
        parts.append(("all", 1))
    frames = []
    for value, tot in parts:
        g = raw[(raw["breakdown"] == value) & (raw["is_total"] == tot)].set_index("week")
        f = g[value_cols].reindex(idx, fill_value=0).astype("float64")
        f.index.name = "week"
        f = f.reset_index()
        f.insert(0, "breakdown", value)
        f.insert(2, "is_total", tot)
        frames.append(f)
    if not frames:
        return _empty(cols, dates=("week",))
    df = pd.concat(frames, ignore_index=True)
    df = rollups.overlay_weekly(wh, scope, events, df, value_cols)  # weeks before the horizon
    open_day = pd.Timestamp(_first_open_day(scope))
    df["complete"] = (df["week"] + pd.Timedelta(days=7)) <= open_day
    df.loc[~df["complete"], value_cols] = np.nan
    return df[cols]


def _with_growth(df: pd.DataFrame) -> pd.DataFrame:
    """Add wau_prev, change, growth, p_value, significant (per breakdown, by week)."""
    df = df.sort_values(["is_total", "breakdown", "week"]).copy()
    df["wau_prev"] = df.groupby(["is_total", "breakdown"])["wau"].shift(1)
    df["change"] = df["wau"] - df["wau_prev"]
    ok = df["wau_prev"] > 0
    df["growth"] = np.where(ok, df["change"] / df["wau_prev"].where(ok), np.nan)
    ps = [
        poisson_p(a, b) if (a == a and b == b) else None
        for a, b in zip(df["wau"], df["wau_prev"], strict=True)
    ]
    df["p_value"] = [np.nan if p is None else p for p in ps]
    df["significant"] = df["p_value"] < 0.05
    return df


_GROWTH_COLS = [
    "week",
    "breakdown",
    "wau",
    "wau_prev",
    "change",
    "growth",
    "p_value",
    "significant",
    "complete",
]
_GROWTH_UNITS = {
    "wau": "users",
    "wau_prev": "users",
    "change": "count",
    "growth": "rate",
    "p_value": "ratio",
}


def _range_weeks(scope: Scope) -> list[date]:
    return _periods(scope.start, scope.end, "week") if scope.days else []


@records_sql
def growth_rate(
    wh, *, active_event: ActiveEvent = None, **scope: Unpack[ScopeArgs]
) -> MetricResult:
    """Week-over-week growth of calendar-week WAU, for every Monday–Sunday week in range.

    ``growth = (WAU_w - WAU_w-1) / WAU_w-1`` (NaN when WAU_w-1 is 0 or either week is
    not complete at ``as_of``), with a Poisson test of the two counts.
    """
    sc = resolve(wh, default_window="12w", **scope)
    events = _events(active_event)
    weeks = _range_weeks(sc)
    look = [weeks[0] - timedelta(days=7), *weeks] if weeks else []
    df = _with_growth(_weekly_frame(wh, sc, events, look))
    df = df[df["week"] >= pd.Timestamp(weeks[0])] if weeks else df
    df = _shape(df.sort_values(["breakdown", "week"]), sc, _GROWTH_COLS)
    return MetricResult(
        name="growth_rate",
        title="WAU growth, week over week",
        df=df,
        definition=(
            "(WAU_w − WAU_w−1) / WAU_w−1, WAU of calendar weeks (Mon–Sun), persons with "
            f"≥1 {_describe_events(events)}; significance: Poisson test, p < 0.05."
        ),
        scope=sc,
        units=_GROWTH_UNITS,
        x="week",
        y="growth",
        kind="line" if sc.breakdown else "bar",
        hue="breakdown" if sc.breakdown else None,
        extra={"active_event": events},
        plotter=_plotter("WAU change vs previous week (%)", "Week (Monday)"),
    )


@dataclass
class NorthStarResult(MetricResult):
    """The North Star (WAU of the report week vs the week before) and its weekly series.

    ``df`` is the weekly series (as :func:`growth_rate`); the headline is ``wau``,
    ``previous``, ``growth``, ``p_value``, ``significant`` over all persons, and
    ``summary`` has the same per breakdown value.
    """

    week_start: date | None = None
    week_end: date | None = None  # exclusive
    change: Change = field(default_factory=lambda: Change(None, None))
    summary: pd.DataFrame = field(default_factory=pd.DataFrame)

    @property
    def wau(self) -> int | None:
        return None if self.change.current is None else int(self.change.current)

    @property
    def previous(self) -> int | None:
        return None if self.change.previous is None else int(self.change.previous)

    @property
    def growth(self) -> float | None:
        return self.change.relative

    @property
    def p_value(self) -> float | None:
        return self.change.p_value

    @property
    def significant(self) -> bool:
        return self.change.significant

    def headline(self) -> str:
        if self.week_start is None:
            return f"{self.title}: —"
        last = self.week_end - timedelta(days=1) if self.week_end else self.week_start
        sig = "significant" if self.significant else "not significant"
        return (
            f"{self.title}, week {self.week_start:%Y-%m-%d} → {last:%Y-%m-%d}: "
            f"{fmt_int(self.wau)} ({fmt_change(self.growth)} vs {fmt_int(self.previous)}; "
            f"p = {fmt_p(self.p_value)}, {sig})"
        )

    def __str__(self) -> str:
        return self.headline() + "\n" + self.formatted(60).to_string(index=False)

    def _repr_html_(self) -> str:
        out = header_html(self.title, self.definition, self.scope)
        out += f"<div style='margin-bottom:6px'>{html.escape(self.headline())}</div>"
        if len(self.summary) > 1:
            out += format_frame(self.summary, self.units).to_html(index=False, border=0)
        body = (
            "<em>No weeks in this range.</em>"
            if self.df.empty
            else self.formatted(60).to_html(index=False, border=0)
        )
        return out + body


@records_sql
def north_star(
    wh, *, active_event: ActiveEvent = None, **scope: Unpack[ScopeArgs]
) -> NorthStarResult:
    """North Star: WAU of the report week (last full Mon–Sun week before ``as_of``).

    With week-over-week growth ``(WAU_w − WAU_w−1) / WAU_w−1`` and a Poisson
    significance flag (all persons; per breakdown value in ``.summary``), plus the
    calendar-week WAU series over the range for the trend chart (``.df``, ``.plot()``).
    """
    sc = resolve(wh, default_window="12w", **scope)
    events = _events(active_event)
    ws, we = last_complete_period(sc.as_of, "week", sc.tz)
    weeks = _range_weeks(sc)
    first = min([ws - timedelta(days=7), *(w - timedelta(days=7) for w in weeks[:1])])
    last = max([ws, *weeks[-1:]])
    span = [first + timedelta(days=7 * i) for i in range((last - first).days // 7 + 1)]
    full = _with_growth(_weekly_frame(wh, sc, events, span, totals=True))
    rep = full[full["week"] == pd.Timestamp(ws)]
    tot = rep[rep["is_total"] == 1]
    if len(tot):
        r = tot.iloc[0]
        change = Change(
            float(r["wau"]),
            float(r["wau_prev"]),
            None if r["p_value"] != r["p_value"] else r["p_value"],
        )
    else:
        change = Change(None, None)
    summary_src = rep[rep["is_total"] == (0 if sc.breakdown else 1)]
    summary = summary_src[[c for c in _GROWTH_COLS if c != "complete"]].copy()
    if not sc.breakdown:
        summary = summary.drop(columns=["breakdown"])
    series = full[full["is_total"] == (0 if sc.breakdown else 1)]
    series = series[series["week"].isin([pd.Timestamp(w) for w in weeks])]
    df = _shape(series.sort_values(["breakdown", "week"]), sc, _GROWTH_COLS)
    return NorthStarResult(
        name="north_star",
        title="North Star: weekly active users",
        df=df,
        definition=(
            f"Persons with ≥1 {_describe_events(events)} in the report week (Mon–Sun, last "
            "complete week before as_of); growth vs the week before, Poisson test p < 0.05."
        ),
        scope=sc,
        units=_GROWTH_UNITS,
        x="week",
        y="wau",
        hue="breakdown" if sc.breakdown else None,
        extra={"active_event": events},
        plotter=_plotter("Weekly active users (persons)", "Week (Monday)"),
        week_start=ws,
        week_end=we,
        change=change,
        summary=summary.reset_index(drop=True),
    )


@records_sql
def engagement(wh, *, active_event: ActiveEvent = None, **scope: Unpack[ScopeArgs]) -> MetricResult:
    """Messages per active user per calendar week: ``message_sent`` count / WAU.

    Both numbers are columns (``messages``, ``wau``); the ratio is NaN when nobody was
    active, and every value is NaN for weeks not complete at ``as_of`` (``complete``).
    """
    sc = resolve(wh, default_window="12w", **scope)
    events = _events(active_event)
    df = _weekly_frame(wh, sc, events, _range_weeks(sc), messages=True)
    ok = df["wau"] > 0
    df["engagement"] = np.where(ok, df["messages"] / df["wau"].where(ok), np.nan)
    df = _shape(
        df.sort_values(["breakdown", "week"]),
        sc,
        ["week", "breakdown", "engagement", "messages", "wau", "complete"],
    )
    return MetricResult(
        name="engagement",
        title="Engagement: messages per active user per week",
        df=df,
        definition=(
            "message_sent count in the calendar week (Mon–Sun) ÷ persons with ≥1 "
            f"{_describe_events(events)} that week."
        ),
        scope=sc,
        units={"engagement": "ratio", "messages": "count", "wau": "users"},
        x="week",
        y="engagement",
        hue="breakdown" if sc.breakdown else None,
        extra={"active_event": events},
        plotter=_plotter("Messages per active user", "Week (Monday)"),
    )


# ------------------------------------------------------------------------------------------
# Lifecycle
# ------------------------------------------------------------------------------------------


def _lifecycle_sql(
    scope: Scope, events: list[str] | None, period: str, first: date, end: date
) -> str:
    """Counts per (breakdown, period, status) for periods in ``[first, end)``.

    Reads all history before ``end`` so "new" means first active event ever.
    """
    sc = scope.with_range(first, end)
    per = scope.bucket(period, "e.timestamp")
    ev = sc.events_cte(events, columns=f"e.person_id, {per} AS period", start=False)
    nxt = _shift_sql(scope, period, "period", 1)
    return f"""
        WITH ev AS ({ev}),
        pp AS (
            SELECT DISTINCT breakdown, person_id, period FROM ev WHERE person_id IS NOT NULL
        ),
        lab AS (
            SELECT breakdown, period,
                   lag(period) OVER w AS prev_period,
                   lead(period) OVER w AS next_period,
                   {nxt} AS following
            FROM pp
            WINDOW w AS (PARTITION BY breakdown, person_id ORDER BY period)
        ),
        st AS (
            SELECT breakdown,
                   CASE WHEN x.k = 1 THEN following ELSE period END AS period,
                   CASE WHEN x.k = 1 THEN 'dormant'
                        WHEN prev_period IS NULL THEN 'new'
                        WHEN {_shift_sql(scope, period, "prev_period", 1)} = period THEN 'returning'
                        ELSE 'resurrecting' END AS status
            FROM lab CROSS JOIN (VALUES (0), (1)) AS x(k)
            WHERE x.k = 0 OR next_period IS NULL OR next_period > following
        )
        SELECT breakdown, period, status, count(*) AS persons
        FROM st
        WHERE period >= {scope.date_sql(first)} AND period < {scope.date_sql(end)}
        GROUP BY breakdown, period, status
    """


def _plot_lifecycle(res: MetricResult, ax=None, **kw):
    import matplotlib.pyplot as plt

    df = res.df
    if res.scope is not None and res.scope.breakdown:
        df = df.groupby("period", as_index=False)[list(_LIFECYCLE)].sum(min_count=1)
    if ax is None:
        _, ax = plt.subplots(figsize=charts.FIGSIZE)
    x = df["period"].dt.strftime("%Y-%m-%d") if len(df) else []
    colors = {
        "new": charts.PALETTE[0],
        "returning": charts.PALETTE[2],
        "resurrecting": charts.PALETTE[1],
        "dormant": charts.DOWN,
    }
    bottom = np.zeros(len(df))
    for status in ("returning", "resurrecting", "new"):
        v = df[status].fillna(0).to_numpy()
        ax.bar(x, v, bottom=bottom, label=status, color=colors[status])
        bottom = bottom + v
    ax.bar(x, df["dormant"].fillna(0).to_numpy(), label="dormant", color=colors["dormant"])
    ax.axhline(0, color="#333333", lw=0.8)
    ax.set_title(res.title)
    ax.set_xlabel(str(res.extra.get("period", "")))
    ax.set_ylabel("Persons (dormant below 0)")
    f = charts.axis_formatter("users")
    if f is not None:
        ax.yaxis.set_major_formatter(f)
    ax.tick_params(axis="x", rotation=30 if len(df) > 6 else 0)
    ax.legend(loc="upper left", bbox_to_anchor=(1.0, 1.0))
    return ax


@records_sql
def lifecycle(
    wh,
    *,
    period: str = "week",
    active_event: ActiveEvent = None,
    **scope: Unpack[ScopeArgs],
) -> MetricResult:
    """Lifecycle of active persons per ``day``/``week``/``month`` period of the range.

    *new*: first active event ever falls in the period; *returning*: active in the
    period and the previous one; *resurrecting*: active now, not in the previous
    period, not new; *dormant*: active in the previous period, not now (a negative
    number, drawn below zero). Periods not complete at ``as_of`` are NaN.
    """
    if period not in {"day", "week", "month"}:
        raise ValueError(f"period {period!r}: use day, week or month")
    sc = resolve(wh, default_window="12w", **scope)
    events = _events(active_event)
    periods = _periods(sc.start, sc.end, period) if sc.days else []
    cols = ["period", "breakdown", *_LIFECYCLE, "active", "quick_ratio", "complete"]
    if periods:
        end = _period_next(periods[-1], period)
        raw = wh.sql(_lifecycle_sql(sc, events, period, periods[0], end))
    else:
        raw = pd.DataFrame(columns=["breakdown", "period", "status", "persons"])
    raw["period"] = _as_ts(raw["period"])
    wide = (
        raw.groupby(["breakdown", "period", "status"])["persons"].sum().unstack("status")
        if len(raw)
        else pd.DataFrame(
            columns=list(_LIFECYCLE),
            index=pd.MultiIndex.from_tuples([], names=["breakdown", "period"]),
        )
    )
    values = sorted(raw["breakdown"].unique()) if sc.breakdown else ["all"]
    grid = pd.MultiIndex.from_product(
        [values, [pd.Timestamp(p) for p in periods]], names=["breakdown", "period"]
    )
    df = wide.reindex(index=grid, columns=list(_LIFECYCLE)).fillna(0).astype("float64")
    df.columns.name = None
    df = df.reset_index()
    df["dormant"] = -df["dormant"]
    df["active"] = df["new"] + df["returning"] + df["resurrecting"]
    gone = -df["dormant"]
    df["quick_ratio"] = np.where(
        gone > 0, (df["new"] + df["resurrecting"]) / gone.where(gone > 0), np.nan
    )
    ends = pd.Series([pd.Timestamp(_period_next(p.date(), period)) for p in df["period"]])
    df["complete"] = (ends <= pd.Timestamp(_first_open_day(sc))).to_numpy(dtype=bool)
    df.loc[~df["complete"], [*_LIFECYCLE, "active", "quick_ratio"]] = np.nan
    df = _shape(df, sc, cols)
    return MetricResult(
        name="lifecycle",
        title=f"Lifecycle of active users per {period}",
        df=df,
        definition=(
            f"Persons with ≥1 {_describe_events(events)} per {period}: new (first ever), "
            "returning (also active the period before), resurrecting (back after a gap), "
            "dormant (active the period before, not now; negative)."
        ),
        scope=sc,
        units={s: "users" for s in (*_LIFECYCLE, "active")} | {"quick_ratio": "ratio"},
        x="period",
        y=list(_LIFECYCLE),
        kind="bar",
        hue="breakdown" if sc.breakdown else None,
        extra={"active_event": events, "period": period},
        plotter=_plot_lifecycle,
    )


__all__ = [
    "NorthStarResult",
    "active_users",
    "dau",
    "engagement",
    "growth_rate",
    "lifecycle",
    "mau",
    "north_star",
    "stickiness",
    "stickiness_distribution",
    "wau",
]
