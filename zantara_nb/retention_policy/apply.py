"""One retention run: roll up the days about to lose raw events, then delete past the ages.

:func:`apply_retention` (``zantara-nb retention apply [--dry-run] [--today D]``), for a
run on local day ``today`` (policy time zone):

- ``cutoff_day = today - events_days``; raw events before its local midnight go;
- ``horizon = cutoff_day + LOOKBACK_DAYS``: the metric functions read days before it
  from the roll-ups (:mod:`zantara_nb.warehouse.rollups`);
- **roll-ups** of the local days ``[previous horizon (or the first day of data),
  horizon)``: active users, event counts, the daily health and MRR numbers; and the
  cohort retention cells whose return period starts before the new ``cutoff_day``
  (and at or after the previous one): the cells that lose raw events in this run;
- **deletion**:

  * raw events before the cut-off, except billing events (their own age,
    ``billing_days``) and each person's *history skeleton*: the first event of each
    kind, the latest event, and the events that set person properties. The skeleton is
    what "first ever" rules need (signup cohorts, new vs returning, first payment):
    without it a long-time user would look new the day their old events went. It is
    a handful of rows per person, removed with the person (``persons_days``) or on
    erasure;
  * billing events older than ``billing_days``;
  * quarantined rows of loads older than ``quarantine_days`` (with their raw text);
  * persons not seen for ``persons_days`` and without a billing record within
    ``billing_days``: all their rows (events left, identity links, stitching map,
    person row);

- the run is recorded in ``retention_runs`` (cut-off, horizon, counts).

**All or nothing** on DuckDB: the roll-ups, the run record and the deletions are one
transaction. On ClickHouse (no transactions) the roll-ups of the days are replaced
first, then the run record, then the lightweight deletes: a run cut short is completed
by running it again (each step is idempotent, and the metrics read the roll-ups for
every day before the recorded horizon, whatever raw rows are left).

A repeated run on the same day rolls up nothing new and deletes nothing more.
"""

from __future__ import annotations

import time
import uuid
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from datetime import time as dtime
from zoneinfo import ZoneInfo

import pandas as pd

from .. import config
from ..warehouse import rollups
from ..warehouse.rollups import LOOKBACK_DAYS, RUNS_TABLE, retention_state
from . import build
from .policy import Policy


@dataclass
class RetentionRun:
    """What a run did (or would do, for a dry run)."""

    today: date
    tz: str
    cutoff_day: date
    horizon: date
    dry_run: bool = False
    rolled: dict[str, int] = field(default_factory=dict)  # roll-up table -> rows written
    rolled_days: tuple[date, date] | None = None
    deleted: dict[str, int] = field(default_factory=dict)  # what -> rows
    kept: dict[str, int] = field(default_factory=dict)  # older than the cut-off, kept
    seconds: float = 0.0
    run_id: str = ""
    message: str = ""

    def __str__(self) -> str:
        verb = "would" if self.dry_run else "did"
        lines = [
            f"retention run for {self.today:%Y-%m-%d} ({self.tz}){' — dry run' if self.dry_run else ''}",
            f"  cut-off: raw events before {self.cutoff_day:%Y-%m-%d}; metrics read roll-ups "
            f"for days before {self.horizon:%Y-%m-%d}",
        ]
        if self.rolled_days:
            a, b = self.rolled_days
            lines.append(
                f"  roll-ups ({verb} write): days {a:%Y-%m-%d} → {b - timedelta(days=1):%Y-%m-%d}: "
                + ", ".join(f"{t} {n:,}" for t, n in self.rolled.items())
            )
        else:
            lines.append("  roll-ups: nothing new to roll up")
        lines.append(
            f"  {verb} delete: " + ", ".join(f"{k} {n:,}" for k, n in self.deleted.items())
        )
        lines.append(
            "  kept past the cut-off: " + ", ".join(f"{k} {n:,}" for k, n in self.kept.items())
        )
        if self.message:
            lines.append(f"  {self.message}")
        lines.append(f"  time {self.seconds:.2f} s")
        return "\n".join(lines)


def _midnight(d: date, tz: str) -> datetime:
    return datetime.combine(d, dtime(0), tzinfo=ZoneInfo(tz)).astimezone(UTC)


def _predicates(wh, policy: Policy, cutoff: datetime, today: date) -> dict[str, str]:
    """The rows each deletion removes (SQL predicates over its table)."""
    d = wh.dialect
    cut = d.ts_lit(cutoff)
    billing = d.str_list(policy.billing_events) if policy.billing_events else "''"
    bill_cut = d.ts_lit(_midnight(today - timedelta(days=policy.billing_days), policy.timezone))
    persons_cut = d.ts_lit(_midnight(today - timedelta(days=policy.persons_days), policy.timezone))
    loads_cut = d.ts_lit(_midnight(today - timedelta(days=policy.quarantine_days), policy.timezone))
    doomed = f"timestamp < {cut} AND event NOT IN ({billing}) AND set_props IS NULL"
    skeleton = f"""
        SELECT {d.arg_min("uuid", "timestamp")} FROM events
        WHERE timestamp < {cut} GROUP BY person_id, event
        UNION ALL
        SELECT {d.arg_max("uuid", "timestamp")} FROM events
        WHERE person_id IN (SELECT person_id FROM events WHERE {doomed})
        GROUP BY person_id HAVING max(timestamp) < {cut}"""
    # not seen for persons_days, and no billing record still within its own age (a
    # subscriber who never opens the app is still a customer: MRR needs the record)
    expired = (
        f"SELECT person_id FROM persons WHERE last_seen < {persons_cut} AND person_id NOT IN "
        f"(SELECT person_id FROM events WHERE event IN ({billing}) AND timestamp >= {bill_cut})"
    )
    expired_ids = (
        f"SELECT distinct_id FROM person_distinct_ids WHERE person_id IN ({expired}) "
        f"UNION ALL {expired}"
    )
    return {
        # persons first: their ids are read from the tables the later steps change
        "identity_links of expired persons": (
            f"distinct_id IN ({expired_ids}) OR anon_distinct_id IN ({expired_ids})"
        ),
        "events of expired persons": f"person_id IN ({expired})",
        "person_distinct_ids of expired persons": f"person_id IN ({expired})",
        "persons not seen for persons_days": f"person_id IN ({expired})",
        "raw events": f"{doomed} AND uuid NOT IN ({skeleton})",
        "billing events": f"event IN ({billing}) AND timestamp < {bill_cut}",
        "quarantine": f"load_id IN (SELECT load_id FROM loads WHERE started_at < {loads_cut})",
        "_kept_skeleton": f"timestamp < {cut} AND event NOT IN ({billing})",
        "_kept_billing": f"timestamp < {cut} AND event IN ({billing})",
    }


_TABLE = {
    "identity_links of expired persons": "identity_links",
    "events of expired persons": "events",
    "person_distinct_ids of expired persons": "person_distinct_ids",
    "persons not seen for persons_days": "persons",
    "raw events": "events",
    "billing events": "events",
    "quarantine": "quarantine",
}


def _count(wh, table: str, pred: str) -> int:
    return int(wh.engine.rows(f"SELECT count(*) FROM {table} WHERE {pred}")[0][0])


def _first_day(wh, tz: str) -> date | None:
    first = wh.engine.rows("SELECT min(timestamp) FROM events")[0][0]
    if first is None:
        return None
    if first.tzinfo is None:
        first = first.replace(tzinfo=UTC)
    return first.astimezone(ZoneInfo(tz)).date()


def apply_retention(
    wh, policy: Policy, *, today: str | date | None = None, dry_run: bool = False
) -> RetentionRun:
    """Roll up, then delete past the policy's ages (see the module docstring)."""
    t0 = time.perf_counter()
    tz = policy.timezone
    if today is None:
        today = datetime.now(ZoneInfo(tz)).date()
    elif not isinstance(today, date):
        today = date.fromisoformat(str(today))
    cutoff_day = today - timedelta(days=policy.events_days)
    cutoff = _midnight(cutoff_day, tz)
    run = RetentionRun(today, tz, cutoff_day, cutoff_day + timedelta(days=LOOKBACK_DAYS), dry_run)
    run.run_id = uuid.uuid4().hex
    with wh.writing():
        prev = retention_state(wh)
        if prev is not None and prev.tz != tz:
            raise config.SettingError(
                f"retention timezone {tz!r}: the roll-ups so far are in {prev.tz!r}; "
                "keep the policy's time zone"
            )
        if prev is not None and prev.cutoff_day >= cutoff_day:
            # nothing new past the events' age: keep the recorded horizon
            run.cutoff_day, run.horizon = prev.cutoff_day, prev.horizon
            cutoff = prev.cutoff
        first = _first_day(wh, tz)
        roll_from = prev.horizon if prev is not None else first
        frames: dict[str, pd.DataFrame] = {}
        if first is not None and roll_from is not None and roll_from < run.horizon:
            lo, hi = roll_from, run.horizon
            run.rolled_days = (lo, hi)
            frames["rollup_active_daily"] = build.active_daily(wh, tz, lo, hi)
            frames["rollup_event_counts"] = build.event_counts(wh, tz, lo, hi)
            frames["rollup_daily"] = build.daily(wh, tz, lo, hi)
        if first is not None and (prev is None or prev.cutoff_day < run.cutoff_day):
            freeze_from = prev.cutoff_day if prev is not None else None
            frames["rollup_cohorts"] = pd.concat(
                [
                    build.cohorts(wh, tz, unit, first, freeze_from, run.cutoff_day, today)
                    for unit in ("week", "month")
                ],
                ignore_index=True,
            )
            frames["rollup_funnels"] = build.funnels(
                wh, tz, first, freeze_from, run.cutoff_day, today
            )
        run.rolled = {t: len(f) for t, f in frames.items()}
        preds = _predicates(wh, policy, cutoff, today)
        for name, table in _TABLE.items():
            run.deleted[name] = _count(wh, table, preds[name])
        if dry_run:
            run.kept = _kept(wh, preds, run.deleted)
            run.seconds = time.perf_counter() - t0
            return run
        rollups.ensure(wh)
        if wh.engine.transactional:
            wh.con.execute("BEGIN TRANSACTION")
        try:
            _write_rollups(wh, frames, run)
            _record(wh, run, cutoff, t0)
            for name, table in _TABLE.items():
                if run.deleted[name]:
                    run.deleted[name] = wh.engine.delete_where(table, preds[name])
            if wh.engine.transactional:
                wh.con.execute("COMMIT")
        except BaseException:
            if wh.engine.transactional:
                wh.con.execute("ROLLBACK")
            raise
        run.kept = _kept(wh, preds, {})
    run.seconds = time.perf_counter() - t0
    return run


def _kept(wh, preds: dict[str, str], to_delete: dict[str, int]) -> dict[str, int]:
    old = _count(wh, "events", preds["_kept_skeleton"])
    gone = to_delete.get("raw events", 0) + to_delete.get("events of expired persons", 0)
    return {
        "history skeleton events": max(old - gone, 0),
        "billing events": _count(wh, "events", preds["_kept_billing"]),
    }


def _write_rollups(wh, frames: dict[str, pd.DataFrame], run: RetentionRun) -> None:
    """Replace the rows of the rolled-up days (and frozen cohort cells) with ``frames``."""
    d = wh.dialect
    for table, df in frames.items():
        if table == "rollup_funnels":
            for week in sorted(set(df["cohort"])):
                wh.engine.delete_where(table, f"unit = 'week' AND cohort = {d.date_lit(week)}")
        elif table == "rollup_cohorts":
            for unit, part in df.groupby("unit"):
                keys = [
                    f"(cohort = {d.date_lit(c)} AND k = {int(k)})"
                    for c, k in zip(part["cohort"], part["k"], strict=True)
                ]
                for i in range(0, len(keys), 500):
                    wh.engine.delete_where(
                        table,
                        f"unit = {d.str_lit(str(unit))} AND ({' OR '.join(keys[i : i + 500])})",
                    )
        elif run.rolled_days is not None:
            lo, hi = run.rolled_days
            wh.engine.delete_where(table, f"day >= {d.date_lit(lo)} AND day < {d.date_lit(hi)}")
        if df.empty:
            continue
        name = f"_rp_{table}"
        wh.con.register(name, df)
        try:
            cols = ", ".join(df.columns)
            wh.execute(f"INSERT INTO {table} ({cols}) SELECT {cols} FROM {name}")
        finally:
            wh.con.unregister(name)


def _record(wh, run: RetentionRun, cutoff: datetime, t0: float) -> None:
    lo, hi = run.rolled_days or (None, None)
    wh.execute(
        f"INSERT INTO {RUNS_TABLE} (run_id, ran_at, status, tz, cutoff, cutoff_day, horizon, "
        "rolled_from, rolled_until, events_deleted, events_kept, quarantine_deleted, "
        "persons_deleted, seconds, message) VALUES (?, ?, 'done', ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        [
            run.run_id,
            datetime.now(UTC),
            run.tz,
            cutoff,
            run.cutoff_day,
            run.horizon,
            lo,
            hi,
            run.deleted.get("raw events", 0) + run.deleted.get("billing events", 0),
            None,
            run.deleted.get("quarantine", 0),
            run.deleted.get("persons not seen for persons_days", 0),
            time.perf_counter() - t0,
            run.message or None,
        ],
    )
