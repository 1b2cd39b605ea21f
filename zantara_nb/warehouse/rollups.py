"""Roll-ups: the history the reports need after the raw events are gone.

The retention policy (``zantara-nb retention apply``, :mod:`zantara_nb.retention_policy`)
deletes raw events older than a configured age. Before they go, it rolls up what the
reports need into the tables below, which hold no person identifier (counts, sums,
percentiles per local day, week or cohort), and records each run in
``retention_runs``. This module is the reading side: the state of the last run
(:func:`retention_state`) and the roll-ups, for the metric functions.

Two dates matter (local days in the roll-up time zone, ``tz``):

- ``cutoff_day``: raw events before its local midnight (``cutoff``) are deleted;
- ``horizon``: the first day metrics read from raw events. Days before it come from
  the roll-ups. ``horizon = cutoff_day + LOOKBACK_DAYS`` so that every value computed
  from raw events at or after the horizon (a 30-day MAU window, a calendar week) has
  its whole look-back in raw events, and every day before it was rolled up while its
  look-back was still there.

Tables (no person identifiers):

``retention_runs``        one row per run: when, cut-off, horizon, time zone, rows deleted.
``rollup_active_daily``   per local day: DAU, WAU (7 days), MAU (30 days) of the default
                          active event, counts of persons.
``rollup_event_counts``   per local day, event, query category and country: events.
``rollup_daily``          per local day: messages, replies, latency p50/p95/p99 (ms),
                          AI cost (USD), ratings up/down, errors, MRR, subscribers.
``rollup_cohorts``        per cohort period (week, month) and period k: cohort size and
                          persons retained (the default retention of the reports).
``rollup_funnels``        per weekly cohort of the seed funnel's entries: persons at each
                          step, as ``funnel(SEED_FUNNEL)`` counted them (stored; the funnel
                          function does not read it yet).
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass
from datetime import date, datetime

#: Days of look-back the raw-event metrics need at the horizon (MAU: 30 days, plus the
#: days of a calendar week so weekly values at the horizon are whole).
LOOKBACK_DAYS = 35

RUNS_TABLE = "retention_runs"

TABLES: dict[str, tuple[list[tuple[str, str]], list[str]]] = {
    RUNS_TABLE: (
        [
            ("run_id", "VARCHAR"),
            ("ran_at", "TIMESTAMPTZ"),
            ("status", "VARCHAR"),
            ("tz", "VARCHAR"),
            ("cutoff", "TIMESTAMPTZ"),
            ("cutoff_day", "DATE"),
            ("horizon", "DATE"),
            ("rolled_from", "DATE"),
            ("rolled_until", "DATE"),
            ("events_deleted", "BIGINT"),
            ("events_kept", "BIGINT"),
            ("quarantine_deleted", "BIGINT"),
            ("persons_deleted", "BIGINT"),
            ("seconds", "DOUBLE"),
            ("message", "VARCHAR"),
        ],
        ["run_id"],
    ),
    "rollup_active_daily": (
        [
            ("day", "DATE"),
            ("tz", "VARCHAR"),
            ("dau", "BIGINT"),
            ("wau", "BIGINT"),
            ("mau", "BIGINT"),
        ],
        ["day"],
    ),
    "rollup_event_counts": (
        [
            ("day", "DATE"),
            ("tz", "VARCHAR"),
            ("event", "VARCHAR"),
            ("query_category", "VARCHAR"),
            ("country", "VARCHAR"),
            ("events", "BIGINT"),
        ],
        ["day"],
    ),
    "rollup_daily": (
        [
            ("day", "DATE"),
            ("tz", "VARCHAR"),
            ("messages", "BIGINT"),
            ("replies", "BIGINT"),
            ("latency_p50_ms", "DOUBLE"),
            ("latency_p95_ms", "DOUBLE"),
            ("latency_p99_ms", "DOUBLE"),
            ("cost_usd", "DOUBLE"),
            ("ratings_up", "BIGINT"),
            ("ratings_down", "BIGINT"),
            ("errors", "BIGINT"),
            ("mrr_usd", "DOUBLE"),
        ],
        ["day"],
    ),
    "rollup_cohorts": (
        [
            ("unit", "VARCHAR"),
            ("tz", "VARCHAR"),
            ("cohort", "DATE"),
            ("k", "INTEGER"),
            ("cohort_size", "BIGINT"),
            ("retained", "BIGINT"),
        ],
        ["unit", "cohort"],
    ),
    "rollup_funnels": (
        [
            ("unit", "VARCHAR"),
            ("tz", "VARCHAR"),
            ("cohort", "DATE"),
            ("step", "INTEGER"),
            ("name", "VARCHAR"),
            ("persons", "BIGINT"),
        ],
        ["cohort"],
    ),
}


@dataclass(frozen=True)
class RetentionState:
    """Where raw events end and roll-ups begin (the last completed retention run)."""

    run_id: str
    ran_at: datetime
    tz: str
    cutoff: datetime  # UTC: raw events before it are deleted
    cutoff_day: date  # local day of the cut-off
    horizon: date  # first local day read from raw events

    def note(self) -> str:
        """One sentence for a page: where the numbers before the horizon come from."""
        return (
            f"Raw events before {self.cutoff_day:%Y-%m-%d} were deleted by the retention "
            f"policy; values for days before {self.horizon:%Y-%m-%d} ({self.tz}) come from "
            "daily roll-ups without person identifiers, later days from raw events."
        )


def _has(wh, name: str) -> bool:
    return name in wh.engine.table_columns()


def retention_state(wh) -> RetentionState | None:
    """The last completed retention run, or None when raw events were never deleted."""
    if not _has(wh, RUNS_TABLE):
        return None
    rows = wh.engine.rows(
        f"SELECT run_id, ran_at, tz, cutoff, cutoff_day, horizon FROM {RUNS_TABLE} "
        "WHERE status = 'done' ORDER BY cutoff DESC, ran_at DESC LIMIT 1"
    )
    if not rows:
        return None
    r = rows[0]
    return RetentionState(str(r[0]), r[1], str(r[2]), r[3], _day(r[4]), _day(r[5]))


def _day(x) -> date:
    if isinstance(x, datetime):
        return x.date()
    if isinstance(x, date):
        return x
    return date.fromisoformat(str(x)[:10])


def ensure(wh, *names: str) -> None:
    """Create the named roll-up tables (all by default) when missing."""
    for name in names or tuple(TABLES):
        columns, order = TABLES[name]
        wh.engine.create_table(name, columns, order)


# -- reading: the metric functions' side ------------------------------------------------

#: Metric results whose values before the horizon come from the roll-ups (or whose data
#: is kept whole: MRR reads billing events, which follow their own age).
READS_ROLLUPS = frozenset(
    {
        "active_users",
        "dau",
        "wau",
        "mau",
        "north_star",
        "growth_rate",
        "engagement",
        "retention",
        "mrr",
        "mrr_movements",
    }
)
_WINDOW_COLS = {1: "dau", 7: "wau", 30: "mau"}


def _usable(state: RetentionState, scope, events) -> bool:
    """Whether the roll-ups answer this scope: their time zone, no filter, the default
    active event (breakdowns are handled by the callers)."""
    from .. import config

    return (
        scope.tz == state.tz
        and not scope.filters
        and list(events or []) == [config.DEFAULT_ACTIVE_EVENT]
    )


def _active_rows(wh, state: RetentionState, lo, hi):
    """``rollup_active_daily`` rows of local days ``[lo, hi)`` (recorded on the result)."""
    import pandas as pd

    d = wh.dialect
    df = wh.sql(
        "SELECT day, dau, wau, mau FROM rollup_active_daily "
        f"WHERE tz = {d.str_lit(state.tz)} AND day >= {d.date_lit(lo)} AND day < {d.date_lit(hi)}"
    )
    df["day"] = pd.to_datetime(df["day"]).astype("datetime64[ns]")
    return df.set_index("day")


def overlay_active(wh, scope, events, df, windows):
    """Daily DAU/WAU/MAU frame (``breakdown, day, <window cols>``) with the days before
    the horizon read from the roll-ups; NaN there when the roll-ups cannot answer (a
    filter, a breakdown, another active event, time zone or window)."""
    import numpy as np
    import pandas as pd

    state = retention_state(wh)
    if state is None or df.empty:
        return df
    horizon = pd.Timestamp(state.horizon)
    old = df["day"] < horizon
    if not old.any():
        return df
    values = [c for c in df.columns if c not in ("breakdown", "day")]
    df = df.copy()
    if not _usable(state, scope, events) or scope.breakdown:
        df.loc[old, values] = np.nan
        return df
    got = _active_rows(wh, state, df.loc[old, "day"].min().date(), state.horizon)
    for w in windows:
        col = _WINDOW_COLS.get(int(w))
        name = col or f"active_{int(w)}d"
        if name not in df.columns:
            continue
        if col is None:
            df.loc[old, name] = np.nan
            continue
        mapped = df.loc[old, "day"].map(got[col]) if len(got) else None
        if mapped is not None:
            has = mapped.notna()
            df.loc[mapped.index[has], name] = mapped[has].astype("float64")
    if "dau_sum" in df.columns:
        df.loc[old, "dau_sum"] = np.nan
    return df


def overlay_weekly(wh, scope, events, df, value_cols):
    """Calendar-week frame (``breakdown, week, is_total, wau[, messages], complete``) with
    the weeks ending before the horizon from the roll-ups: calendar-week WAU is the
    rolling 7-day WAU of its Sunday, messages the sum of its days' ``message_sent``."""
    import numpy as np
    import pandas as pd

    state = retention_state(wh)
    if state is None or df.empty:
        return df
    horizon = pd.Timestamp(state.horizon)
    sunday = df["week"] + pd.Timedelta(days=6)
    old = sunday < horizon
    if not old.any():
        return df
    df = df.copy()
    totals = (df["is_total"] == 1) if scope.breakdown else pd.Series(True, index=df.index)
    served = old & totals & _usable(state, scope, events)
    df.loc[old & ~served, value_cols] = np.nan
    if not served.any():
        return df
    first = df.loc[served, "week"].min().date()
    got = _active_rows(wh, state, first, state.horizon)
    wau = sunday[served].map(got["wau"]) if len(got) else None
    if wau is not None:
        has = wau.notna()
        df.loc[wau.index[has], "wau"] = wau[has].astype("float64")
    if "messages" in value_cols:
        d = wh.dialect
        m = wh.sql(
            "SELECT day, sum(events) AS n FROM rollup_event_counts "
            f"WHERE tz = {d.str_lit(state.tz)} AND event = 'message_sent' "
            f"AND day >= {d.date_lit(first)} AND day < {d.date_lit(state.horizon)} GROUP BY day"
        )
        m["day"] = pd.to_datetime(m["day"])
        m["week"] = m["day"] - pd.to_timedelta(m["day"].dt.day_of_week, unit="D")
        per_week = m.groupby("week")["n"].sum()
        df.loc[served, "messages"] = (
            df.loc[served, "week"].map(per_week).fillna(0).astype("float64")
        )
    return df


def frozen_cohorts(wh, scope, unit: str):
    """Frozen retention cells (``cohort, k, cohort_size, retained``) for the reports'
    default retention in ``scope``'s time zone, and the local day before which a cell's
    return period must come from them (None: no retention run)."""
    import pandas as pd

    state = retention_state(wh)
    if state is None:
        return None, None
    if scope.tz != state.tz or not _has(wh, "rollup_cohorts"):
        return pd.DataFrame(columns=["cohort", "k", "cohort_size", "retained"]), state
    d = wh.dialect
    df = wh.sql(
        "SELECT cohort, k, cohort_size, retained FROM rollup_cohorts "
        f"WHERE unit = {d.str_lit(unit)} AND tz = {d.str_lit(state.tz)}"
    )
    df["cohort"] = pd.to_datetime(df["cohort"])
    return df, state


def note_result(wh, result) -> None:
    """Say on a metric result where its history comes from, when its range reaches back
    before the retention cut-off (``extra['retention']`` and a sentence appended to the
    definition); nothing when raw events were never deleted."""
    scope = getattr(result, "scope", None)
    start = getattr(scope, "start", None)
    if start is None or not hasattr(result, "definition"):
        return
    state = retention_state(wh)
    if state is None or start >= state.horizon:
        return
    extra = getattr(result, "extra", None)
    if isinstance(extra, dict) and "retention" in extra:
        return
    name = getattr(result, "name", "")
    if name in READS_ROLLUPS:
        text = (
            f"Days before {state.horizon:%Y-%m-%d} come from daily roll-ups (raw events "
            f"before {state.cutoff_day:%Y-%m-%d} were deleted by the retention policy)."
        )
        if name.startswith("mrr"):
            text = (
                "Billing events are kept past the retention cut-off "
                f"({state.cutoff_day:%Y-%m-%d}): MRR is computed from them as before."
            )
    else:
        text = (
            f"Raw events before {state.cutoff_day:%Y-%m-%d} were deleted by the retention "
            "policy and this metric does not read the roll-ups: values for earlier days "
            "count only what is left (first events, billing events) and are not comparable."
        )
    if isinstance(extra, dict):
        extra["retention"] = text
    with contextlib.suppress(AttributeError, TypeError):
        result.definition = f"{result.definition} {text}".strip()
