"""What the PostHog pull keeps in the warehouse: cursors, and PostHog's person ids.

Two tables, created on first use (``CREATE TABLE IF NOT EXISTS``, portable SQL):

``posthog_cursors``     one row per *stream*: a project's incremental pull
                        (``https://eu.posthog.com/project/123``) or one backfill range
                        (``... backfill 2026-01-01..2026-02-01``). ``cursor_ts``/
                        ``cursor_uuid`` are the keyset position of the last committed
                        row; ``run_from``/``run_until`` the run in progress (NULL when
                        none: a run killed half-way is resumed from its cursor);
                        ``done_until`` the instant before which a completed run read
                        everything. Instants are text ``YYYY-MM-DD hh:mm:ss.ffffff`` (UTC),
                        which sorts as time.
``posthog_person_ids``  PostHog's ``person_id`` per distinct id (of its latest event),
                        kept beside our own stitching (``person_distinct_ids``) so the
                        status can say how often the two disagree.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass
from datetime import UTC, datetime

import pyarrow as pa

DDL = (
    """
    CREATE TABLE IF NOT EXISTS posthog_cursors (
        stream VARCHAR NOT NULL,
        source VARCHAR NOT NULL,
        cursor_ts VARCHAR,
        cursor_uuid VARCHAR,
        run_from VARCHAR,
        run_until VARCHAR,
        done_until VARCHAR,
        rows_read BIGINT,
        pages BIGINT,
        runs BIGINT,
        updated_at VARCHAR
    )
    """,
    """
    CREATE TABLE IF NOT EXISTS posthog_person_ids (
        source VARCHAR NOT NULL,
        distinct_id VARCHAR NOT NULL,
        posthog_person_id VARCHAR NOT NULL,
        last_seen VARCHAR
    )
    """,
)


def writing(wh):
    """Hold the warehouse for writing for a block, where the warehouse can (else nothing).

    PostHog pulls and batch-export folders keep their cursors and PostHog's persons in
    DuckDB SQL: on a ClickHouse warehouse they stop here, saying what to do instead."""
    if not getattr(getattr(wh, "engine", None), "transactional", True):
        from .summary import IngestError

        raise IngestError(
            f"{wh!r}: PostHog pulls and export folders load into DuckDB warehouses only "
            "for now; on ClickHouse, pull into a DuckDB file or load the export's files "
            "with `zantara-nb ingest FILE ...` (the loader writes to ClickHouse)"
        )
    hold = getattr(wh, "writing", None)
    return hold() if hold is not None else contextlib.nullcontext()


def ensure_tables(wh) -> None:
    """Create the tables if missing (nothing on a read-only warehouse)."""
    if getattr(wh, "read_only", False):
        return
    for stmt in DDL:
        wh.execute(stmt)


def ts_text(moment: datetime | None) -> str | None:
    """An instant as the sortable UTC text the tables keep."""
    if moment is None:
        return None
    return moment.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S.%f")


def parse_ts(text: str | None) -> datetime | None:
    if text is None:
        return None
    t = datetime.fromisoformat(text.strip().replace(" ", "T", 1))
    return t.replace(tzinfo=UTC) if t.tzinfo is None else t.astimezone(UTC)


@dataclass
class Cursor:
    stream: str
    source: str
    cursor_ts: str | None = None
    cursor_uuid: str | None = None
    run_from: str | None = None
    run_until: str | None = None
    done_until: str | None = None
    rows_read: int = 0
    pages: int = 0
    runs: int = 0
    updated_at: str | None = None

    @property
    def interrupted(self) -> bool:
        return self.run_until is not None


_FIELDS = (
    "stream, source, cursor_ts, cursor_uuid, run_from, run_until, done_until, rows_read, "
    "pages, runs, updated_at"
)


def read_cursor(wh, stream: str) -> Cursor | None:
    ensure_tables(wh)
    rows = wh.execute(
        f"SELECT {_FIELDS} FROM posthog_cursors WHERE stream = ?", [stream]
    ).fetchall()
    if not rows:
        return None
    r = rows[0]
    return Cursor(*r[:7], int(r[7] or 0), int(r[8] or 0), int(r[9] or 0), r[10])


def write_cursor(wh, c: Cursor) -> None:
    """Insert or update ``c`` (call inside the caller's transaction when it has one)."""
    c.updated_at = ts_text(datetime.now(UTC))
    vals = [
        c.source,
        c.cursor_ts,
        c.cursor_uuid,
        c.run_from,
        c.run_until,
        c.done_until,
        c.rows_read,
        c.pages,
        c.runs,
        c.updated_at,
    ]
    n = wh.execute(
        """
        UPDATE posthog_cursors SET source = ?, cursor_ts = ?, cursor_uuid = ?, run_from = ?,
            run_until = ?, done_until = ?, rows_read = ?, pages = ?, runs = ?, updated_at = ?
        WHERE stream = ?
        """,
        [*vals, c.stream],
    ).fetchall()[0][0]
    if not n:
        wh.execute(
            f"INSERT INTO posthog_cursors ({_FIELDS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            [c.stream, *vals],
        )


def cursors(wh):
    """Every stream's cursor as a DataFrame (empty when there is none)."""
    ensure_tables(wh)
    return wh.sql(f"SELECT {_FIELDS} FROM posthog_cursors ORDER BY stream")


def merge_person_ids(wh, source: str, latest: dict[str, tuple[str, str]]) -> int:
    """Keep, per distinct id, PostHog's person of its latest event (``{did: (ts, pid)}``)."""
    if not latest:
        return 0
    from .posthog_duckdb import insert_arrow

    dids = list(latest)
    table = pa.table(
        {
            "distinct_id": dids,
            "posthog_person_id": [latest[d][1] for d in dids],
            "last_seen": [latest[d][0] for d in dids],
        }
    )
    wh.execute(
        "CREATE TEMP TABLE IF NOT EXISTS _ph_new_persons "
        "(distinct_id VARCHAR, posthog_person_id VARCHAR, last_seen VARCHAR)"
    )
    wh.execute("DELETE FROM _ph_new_persons")
    insert_arrow(wh, "_ph_new_persons", table, ["distinct_id", "posthog_person_id", "last_seen"])
    wh.execute(
        """
        DELETE FROM posthog_person_ids
        WHERE source = ? AND distinct_id IN (
            SELECT n.distinct_id FROM _ph_new_persons n
            JOIN posthog_person_ids p ON p.distinct_id = n.distinct_id AND p.source = ?
            WHERE n.last_seen >= p.last_seen)
        """,
        [source, source],
    )
    wh.execute(
        """
        INSERT INTO posthog_person_ids (source, distinct_id, posthog_person_id, last_seen)
        SELECT ?, n.distinct_id, n.posthog_person_id, n.last_seen FROM _ph_new_persons n
        WHERE NOT EXISTS (SELECT 1 FROM posthog_person_ids p
                          WHERE p.source = ? AND p.distinct_id = n.distinct_id)
        """,
        [source, source],
    )
    wh.execute("DELETE FROM _ph_new_persons")
    return len(dids)


@dataclass
class PersonAgreement:
    """How PostHog's persons and our stitching group the same distinct ids."""

    source: str
    distinct_ids: int
    disagree: int
    we_merged: int  # our person spans several PostHog persons
    posthog_merged: int  # a PostHog person spans several of ours
    events: int
    events_disagree: int

    @property
    def share(self) -> float:
        return self.disagree / self.distinct_ids if self.distinct_ids else 0.0

    def line(self) -> str:
        ev = f"{self.events_disagree / self.events:.1%}" if self.events else "—"
        return (
            f"{self.source}: {self.distinct_ids:,} distinct ids with a PostHog person; "
            f"the groupings disagree on {self.disagree:,} ({self.share:.1%}): "
            f"{self.we_merged:,} merged by us only, {self.posthog_merged:,} by PostHog only; "
            f"{self.events_disagree:,} events ({ev})"
        )


def person_agreement(wh) -> list[PersonAgreement]:
    """Per PostHog source: distinct ids whose person differs between PostHog and us.

    A distinct id *agrees* when the distinct ids sharing its person are the same under
    both (``person_distinct_ids``, else itself, for ours; ``posthog_person_ids`` for
    PostHog's). Person ids are never compared as values: each side names persons its way.
    """
    ensure_tables(wh)
    rows = wh.execute(
        """
        WITH ours AS (
            SELECT p.source, p.distinct_id, p.posthog_person_id AS ph,
                   coalesce(m.person_id, p.distinct_id) AS us
            FROM posthog_person_ids p
            LEFT JOIN person_distinct_ids m ON m.distinct_id = p.distinct_id
        ), a AS (
            SELECT source, us, count(DISTINCT ph) AS n_ph FROM ours GROUP BY source, us
        ), b AS (
            SELECT source, ph, count(DISTINCT us) AS n_us FROM ours GROUP BY source, ph
        ), flagged AS (
            SELECT o.source, o.distinct_id,
                   CASE WHEN a.n_ph > 1 THEN 1 ELSE 0 END AS we,
                   CASE WHEN b.n_us > 1 THEN 1 ELSE 0 END AS they
            FROM ours o
            JOIN a ON a.source = o.source AND a.us = o.us
            JOIN b ON b.source = o.source AND b.ph = o.ph
        ), ev AS (
            SELECT distinct_id, count(*) AS n FROM events GROUP BY distinct_id
        )
        SELECT f.source, count(*), sum(CASE WHEN f.we + f.they > 0 THEN 1 ELSE 0 END),
               sum(f.we), sum(f.they), coalesce(sum(ev.n), 0),
               coalesce(sum(CASE WHEN f.we + f.they > 0 THEN ev.n ELSE 0 END), 0)
        FROM flagged f LEFT JOIN ev ON ev.distinct_id = f.distinct_id
        GROUP BY f.source ORDER BY f.source
        """
    ).fetchall()
    return [PersonAgreement(r[0], *(int(x or 0) for x in r[1:])) for r in rows]


def status_lines(wh) -> list[str]:
    """Lines for ``zantara-nb status``: each stream's cursor and the person agreement."""
    try:
        cur = cursors(wh)
    except Exception:  # noqa: BLE001 - a read-only warehouse without the tables
        return []
    if not len(cur):
        return []
    lines = ["PostHog"]
    for r in cur.itertuples():
        state = (
            f"interrupted at {r.cursor_ts or r.run_from} (run to {r.run_until})"
            if r.run_until
            else f"complete to {r.done_until or '—'}"
        )
        lines.append(
            f"  {r.stream}: {state}; {int(r.rows_read or 0):,} rows in {int(r.pages or 0):,} pages"
        )
    for a in person_agreement(wh):
        lines.append("  persons " + a.line())
    return lines
