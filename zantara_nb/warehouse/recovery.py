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

ClickHouse has neither transactions nor a lock file: its loader writes rows tagged with
the load's id (:mod:`zantara_nb.ingest.load_clickhouse`), and a writer opening the
warehouse, like every load before it starts, takes back the ``running`` loads whose
process is gone (same machine, no such pid). On chdb a reader does too (a chdb
directory is open in one process at a time, so no live loader can be writing it). A
reader of a ClickHouse server that opens it after a crash and before any writer does
sees the dead load's rows (a loader elsewhere may still be running).
"""

from __future__ import annotations

import contextlib
import os
import socket
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
        mark_interrupted(con, load_id, message, undo_load(con, load_id))
    return [r[0] for r in rows]


def mark_interrupted(con, load_id: int, message: str | None, removed: int) -> None:
    """Mark a ``running`` load whose rows were taken back as ``interrupted``, saying why."""
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


# -- ClickHouse: no transactions, no lock to hold ------------------------------------


def undo_load_clickhouse(engine, load_id: int) -> int:
    """Remove what load ``load_id`` wrote (events, their identity links, its quarantine
    rows); returns the number of events removed. Each delete is idempotent, so a run cut
    short is finished by running it again."""
    lid = int(load_id)
    n = engine.delete_where("events", f"load_id = {lid}")
    # every link has its event (links are written per chunk, events in batches)
    engine.delete_where("identity_links", "uuid NOT IN (SELECT uuid FROM events)")
    engine.delete_where("quarantine", f"load_id = {lid}")
    return n


def _alive(message: str | None) -> bool:
    """Whether the loader a ``running`` row names (``pid N on HOST: ...``) may still be
    running: yes unless it is on this machine and its process is gone."""
    if not message or not message.startswith("pid "):
        return False
    pid_text, _, rest = message[4:].partition(" on ")
    host = rest.split(":", 1)[0]
    if host != socket.gethostname():
        return True  # another machine's loader: cannot tell, leave it
    try:
        os.kill(int(pid_text), 0)
    except (ValueError, ProcessLookupError):
        return False
    except PermissionError:
        return True
    return True


def recover_dead_loads(wh) -> list[int]:
    """Take back and mark ``interrupted`` every ``running`` load whose loader is gone
    (ClickHouse has no lock to hold: a load on another machine is left alone)."""
    rows = wh.engine.rows(
        "SELECT load_id, message FROM loads WHERE status = 'running' ORDER BY load_id"
    )
    done = []
    for load_id, message in rows:
        if _alive(message):
            continue
        mark_interrupted(wh.con, load_id, message, undo_load_clickhouse(wh.engine, load_id))
        done.append(int(load_id))
    if done:  # the map may hold links of the removed rows: stitch again without them
        from .identity import stitch

        stitch(wh)
    return done
