"""Loads that did not finish: take back their rows, say why, before anyone reads them.

A load commits its rows chunk by chunk and completes in one last transaction that
marks it ``ok``/``partial``/``failed`` (:mod:`zantara_nb.ingest.load`). A load still
``running`` when another process holds the warehouse is one whose process died (a
kill, a crash, a power cut): a loader holds the warehouse for writing from start to
end, so nobody else can see its rows while it lives. The first process to find such a
load removes what it wrote (events, their identity links, its quarantine rows) and
marks it ``interrupted`` with the reason; loading the file again then loads every row
exactly once. Readers find it before their first query (the engine checks on every
hold, see :mod:`.duckdb_engine`), so no report counts part of a file.
"""

from __future__ import annotations

import contextlib
from datetime import UTC, datetime


def undo_load(con, load_id: int) -> int:
    """Remove what load ``load_id`` wrote (its events, their identity links, its
    quarantine rows) in one transaction; returns the number of events removed."""
    con.execute("BEGIN TRANSACTION")
    try:
        n = con.execute("DELETE FROM events WHERE load_id = ?", [load_id]).fetchall()[0][0]
        # the load's links, and those of rows it had not appended yet (events wait for a
        # whole row group, their links do not): every link has its event otherwise
        con.execute(
            "DELETE FROM identity_links l WHERE NOT EXISTS "
            "(SELECT 1 FROM events e WHERE e.uuid = l.uuid)"
        )
        con.execute("DELETE FROM quarantine WHERE load_id = ?", [load_id])
        con.execute("COMMIT")
    except BaseException:
        with contextlib.suppress(Exception):
            con.execute("ROLLBACK")
        raise
    return int(n)


def running_loads(con) -> int:
    """How many loads are marked ``running`` (0 when there is no ``loads`` table yet)."""
    try:
        return int(
            con.execute("SELECT count(*) FROM loads WHERE status = 'running'").fetchall()[0][0]
        )
    except Exception:  # noqa: BLE001 - a new or foreign file: nothing to recover
        return 0


def recover_interrupted_loads(con) -> list[int]:
    """Take back and mark ``interrupted`` every ``running`` load. Call it only while
    holding the warehouse for writing (then no loader is alive). Returns their ids."""
    rows = con.execute(
        "SELECT load_id, message FROM loads WHERE status = 'running' ORDER BY load_id"
    ).fetchall()
    for load_id, message in rows:
        removed = undo_load(con, load_id)
        now = datetime.now(UTC)
        who = f" ({message})" if message else ""
        con.execute(
            "UPDATE loads SET status = 'interrupted', finished_at = ?, loaded = 0, message = ? "
            "WHERE load_id = ? AND status = 'running'",
            [
                now,
                f"interrupted: the process loading this file{who} stopped before the end "
                f"(killed, crashed or the machine went down); its {removed:,} rows were "
                f"removed at {now:%Y-%m-%d %H:%M:%S} UTC; load the file again",
                load_id,
            ],
        )
    return [r[0] for r in rows]
