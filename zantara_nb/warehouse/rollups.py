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
"""

from __future__ import annotations

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
