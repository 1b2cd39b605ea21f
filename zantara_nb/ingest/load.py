"""The load pipeline: detect, read in chunks, stage, dedupe, insert, record, stitch.

Per file:

1. a ``loads`` row is written first (status ``running``) to get the ``load_id``;
2. each chunk (≤ :data:`~.readers.CHUNK_ROWS` rows) is registered as an Arrow table
   and staged with one SQL pass (:func:`.normalize.stage_sql`) into an Arrow table
   (rows needing a camelCase rename or a redaction get a per-key-combination patch);
   staging runs on a second, in-memory connection in a worker thread, one chunk ahead
   of the writes below (:func:`_staged`), so reading and staging overlap the
   single-threaded appends and commits;
3. rows with no quarantine reason whose uuid is new (not in ``events``, not already
   pending from an earlier chunk, first occurrence in the chunk) become events with
   ``person_id = coalesce(person_distinct_ids.person_id, distinct_id)``; their
   identity links are inserted; rows with a reason go to ``quarantine`` unless the
   same (raw_hash, reason) is already there; the rest are counted as duplicates;
4. events are appended in whole row groups, on one thread (see :func:`_flush`);
5. per-chunk aggregates feed the summary (unknown events/properties, naming, naive
   timestamps, redactions);
6. the ``loads`` row is completed; identity stitching is re-run when the load added
   links, else the ``persons`` table is rebuilt when it added events.

Each chunk is its own transaction (one per file would keep every row appended in
memory until it commits), and the load completes in one last transaction (the rest
of the rows, the ``loads`` record, identity stitching). Until then the load is
``running``: a load that fails takes back what it wrote and is recorded as failed; a
process killed half way (or a power cut) leaves a ``running`` load whose rows the next
process to hold the warehouse removes before anything reads them, marking the load
``interrupted`` (:mod:`zantara_nb.warehouse.recovery`). So a file is loaded whole or
not at all. Loading a file again is always safe: everything already there counts as
a duplicate.
"""

from __future__ import annotations

import contextlib
import os
import re
import time
from collections import Counter
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from pathlib import Path

import duckdb
import pyarrow as pa
import pyarrow.compute as pc

from ..warehouse import tracking_plan as tp
from ..warehouse.recovery import undo_load
from . import privacy_gate  # added for gdpr: suppression, consent, horizon, PII scrub
from .detect import detect
from .normalize import (
    envelope,
    patch_table,
    property_detail_sql,
    scrub_raw_sql,
    stage_sql,
)
from .readers import CHUNK_ROWS, FileHasher, Restart, file_digest, open_source
from .summary import IngestError, LoadSummary
from .validate import PlanCounts, patch_spec

_LAYOUT = {
    "posthog-csv": "csv",
    "csv": "csv",
    "posthog-parquet": "parquet",
    "parquet": "parquet",
}

_EVENT_COLUMNS = (
    "uuid, event, timestamp, distinct_id, person_id, session_id, properties, set_props, "
    "anon_distinct_id, ip, " + ", ".join(c.name for c in tp.TYPED_COLUMNS) + ", load_id"
)


def _event_select(load_id: int) -> str:
    typed = ", ".join(f"s.{c.name}" for c in tp.TYPED_COLUMNS)
    return (
        "s.uuid, s.event, s.timestamp, s.distinct_id, "
        "coalesce(p.person_id, s.distinct_id) AS person_id, s.session_id, s.properties, "
        f"s.set_props, s.anon_distinct_id, s.ip, {typed}, {int(load_id)}::INTEGER AS load_id"
    )


#: DuckDB's row group size. Events are appended in whole row groups (the rest waits for
#: the next chunk): a partly filled row group left by one commit is rewritten by the
#: next checkpoint, which for this wide table costs about as much as the insert.
ROW_GROUP = 122_880


def _flush(con, totals, final: bool) -> None:
    """Insert the pending events: whole row groups only, unless ``final``."""
    pending = totals.pending
    n = pending.num_rows if final else (pending.num_rows // ROW_GROUP) * ROW_GROUP
    if n == 0:
        return
    con.register("_zn_ins", pending.slice(0, n))
    # one thread: a parallel append leaves each thread's part of a row group to be
    # merged and rewritten at the next checkpoint (DuckDB 2.0: ~4x the CPU, 2x the file)
    con.execute("SET threads = 1")
    try:
        con.execute(f"INSERT INTO events ({_EVENT_COLUMNS}) SELECT * FROM _zn_ins")
    finally:
        con.execute(f"SET threads = {totals.threads}")
        con.unregister("_zn_ins")
    totals.pending = pending.slice(n)


class _Totals:
    def __init__(self, threads: int = 1) -> None:
        self.threads = threads
        self.rows_read = 0
        self.loaded = 0
        self.duplicates = 0
        self.quarantined: Counter = Counter()
        self.naive = 0
        self.links = 0
        self.blank = 0  # blank lines (JSON lines: dropped by the stage; CSV: by the reader)
        self.plan = PlanCounts()
        self.patches: dict = {}
        self.pending: pa.Table = pa.table({"uuid": pa.array([], pa.string())})


_BATCH = 65_536

_AGGREGATE = """
    SELECT event, keys, set_keys, reason, count(*) AS n, count_if(naive) AS naive
    FROM _zn_stage GROUP BY ALL
"""


def _arrow(con, sql: str) -> pa.Table:
    return con.sql(sql).to_arrow_reader(_BATCH).read_all()


def _patch_key(keys, set_keys) -> tuple:
    return (keys is None, tuple(keys or ()), set_keys is None, tuple(set_keys or ()))


def _new_patches(groups, known: dict) -> dict:
    """Patch specs for key combinations in ``groups`` that need one and are not known."""
    new: dict = {}
    for g in groups:
        key = _patch_key(g[1], g[2])
        if key in known or key in new:
            continue
        spec = patch_spec(g[1], g[2])
        if spec:
            new[key] = (g[1], g[2], spec)
    return new


def _stage(con, chunk, env, now: datetime, totals: _Totals) -> tuple[pa.Table, list[tuple]]:
    """Stage one chunk (an Arrow table, freed with the chunk: a temp table would be kept
    until the transaction commits); returns it and its (event, keys, ...) groups.

    Rows whose keys need renaming or redaction get a patch per key combination
    (computed in Python from the groups, joined by the stage). Once a file has shown
    such combinations, its later chunks are staged with the patches known so far; rows
    with a combination not seen before are staged again with it.
    """
    con.register("_zn_chunk", chunk)
    try:
        known = totals.patches
        if known:
            con.register("_zn_patch", patch_table(list(known.values())))
        stage = _arrow(con, stage_sql(env, now, patched=bool(known)))
        totals.blank += chunk.num_rows - stage.num_rows  # the stage drops blank lines only
        con.register("_zn_stage", stage)
        groups = con.execute(_AGGREGATE).fetchall()
        new = _new_patches(groups, known)
        if not new:
            return stage, groups
        known.update(new)
        con.register("_zn_patch", patch_table(list(known.values())))
        con.register("_zn_newpatch", patch_table(list(new.values())))
        lines = _arrow(
            con,
            """
            SELECT s._line FROM _zn_stage s SEMI JOIN _zn_newpatch p
              ON hash(p.keys, p.set_keys) = hash(s.keys, s.set_keys)
             AND p.keys IS NOT DISTINCT FROM s.keys
             AND p.set_keys IS NOT DISTINCT FROM s.set_keys
            """,
        )
        con.unregister("_zn_newpatch")
        if lines.num_rows * 2 > stage.num_rows:
            stage = _arrow(con, stage_sql(env, now, patched=True))
        else:
            con.register("_zn_flag", lines)
            source = "(SELECT * FROM _zn_chunk WHERE _line IN (SELECT _line FROM _zn_flag))"
            fixed = _arrow(con, stage_sql(env, now, patched=True, source=source))
            con.unregister("_zn_flag")
            keep = stage.filter(pc.invert(pc.is_in(stage["_line"], value_set=lines["_line"])))
            stage = pa.concat_tables([keep, fixed.cast(keep.schema)])
        con.register("_zn_stage", stage)
        return stage, con.execute(_AGGREGATE).fetchall()
    finally:
        con.unregister("_zn_chunk")
        for name in ("_zn_patch", "_zn_stage"):
            with contextlib.suppress(Exception):
                con.unregister(name)


def _stage_connection(threads: int) -> duckdb.DuckDBPyConnection:
    """An in-memory connection for staging (it reads only registered Arrow tables)."""
    scon = duckdb.connect()
    scon.execute("SET TimeZone = 'UTC'")  # a timestamp without an offset is UTC
    with contextlib.suppress(duckdb.Error):
        scon.execute("SET enable_progress_bar = false")
    scon.execute(f"SET threads = {int(threads)}")
    scon.execute(f"SET memory_limit = '{INGEST_MEMORY_LIMIT}'")
    return scon


def _staged(chunks: Iterable[pa.Table], scon, env, now: datetime, totals: _Totals):
    """Yield ``(stage, groups)`` per chunk, in order, reading and staging the next chunk
    on ``scon`` in a worker thread while the caller writes the current one.

    Staging is pure computation over the chunk (and the file's patches, which only the
    worker touches), so it overlaps with the single-threaded appends and commits of
    the warehouse connection; at most one staged chunk waits. Errors (a
    :class:`~.readers.Restart` included) are raised here, in the caller's thread.
    """
    it = iter(chunks)

    def work():
        chunk = next(it, None)
        if chunk is None:
            return None
        # added for gdpr: the privacy gate on the staged chunk, still in the worker
        return privacy_gate.after_stage(scon, _stage(scon, chunk, env, now, totals), totals)

    pool = ThreadPoolExecutor(1, thread_name_prefix="zantara-stage")
    try:
        fut = pool.submit(work)
        while (staged := fut.result()) is not None:
            fut = pool.submit(work)
            yield staged
    finally:
        pool.shutdown(wait=True, cancel_futures=True)


def _process_chunk(con, staged, load_id: int, file: str, totals: _Totals) -> None:
    stage, groups = staged
    con.register("_zn_stage", stage)
    try:
        _insert_chunk(con, groups, load_id, file, totals)
    finally:
        con.unregister("_zn_stage")
        del stage


# The per-chunk SQL, over the staged chunk ``_zn_stage``; the relations it checks against
# are named, so the ClickHouse writer runs the same statements over what it looked up.


def new_rows_sql(events: str = "events") -> str:
    """The first line of each valid uuid not in ``events`` nor pending (``_zn_pending``)."""
    return f"""
        SELECT min(_line) AS _line FROM _zn_stage s
        WHERE reason IS NULL
          AND NOT EXISTS (SELECT 1 FROM {events} e WHERE e.uuid = s.uuid)
          AND NOT EXISTS (SELECT 1 FROM _zn_pending q WHERE q.uuid = s.uuid)
        GROUP BY uuid
        """


def event_rows_sql(load_id: int, persons: str = "person_distinct_ids") -> str:
    """The events of the new lines (``_zn_new``), each with its current person."""
    return f"""
        SELECT {_event_select(load_id)}
        FROM _zn_stage s LEFT JOIN {persons} p ON p.distinct_id = s.distinct_id
        WHERE s._line IN (SELECT _line FROM _zn_new)
        """


#: The identity links of the new lines.
LINK_ROWS_SQL = """
        SELECT distinct_id, anon_distinct_id, link_kind AS kind, timestamp, uuid FROM _zn_stage
        WHERE _line IN (SELECT _line FROM _zn_new)
          AND anon_distinct_id IS NOT NULL AND anon_distinct_id <> distinct_id
        """
LINK_COLUMNS = "distinct_id, anon_distinct_id, kind, timestamp, uuid"
QUARANTINE_COLUMNS = "load_id, file, line, reason, field, detail, distinct_id, raw, raw_hash"


def quarantine_sql(quarantine: str = "quarantine", insert: bool = True) -> str:
    """The quarantine rows of the chunk (parameters: load id, file): the first line of
    each (raw_hash, reason) not already in ``quarantine``. ``insert``: DuckDB inserts
    them and returns (reason, count); else the rows themselves are selected."""
    rows = f"""
                SELECT ?::INTEGER AS load_id, ?::VARCHAR AS file, _line AS line, reason, field,
                    CASE WHEN reason = 'invalid_property' THEN {property_detail_sql()} ELSE detail END AS detail,
                    distinct_id, {scrub_raw_sql("raw")} AS raw, raw_hash
                FROM q
                WHERE _line IN (SELECT _line FROM firsts)
                  AND NOT EXISTS (SELECT 1 FROM {quarantine} x
                                  WHERE x.raw_hash = q.raw_hash AND x.reason = q.reason)"""
    head = """
            WITH q AS (
                SELECT *, md5(raw) AS raw_hash FROM _zn_stage WHERE reason IS NOT NULL
            ), firsts AS (
                SELECT min(_line) AS _line FROM q GROUP BY raw_hash, reason
            )"""
    if not insert:
        return head + rows
    return f"""{head}, ins AS (
                INSERT INTO {quarantine} ({QUARANTINE_COLUMNS})
                {rows}
                RETURNING reason
            )
            SELECT reason, count(*) FROM ins GROUP BY reason
            """


def count_chunk(groups: list[tuple], totals: _Totals) -> tuple[int, int]:
    """Add a chunk's rows to the totals (rows read, tracking plan, naive timestamps);
    returns its (valid, bad) row counts."""
    rows = sum(g[4] for g in groups)
    valid = sum(g[4] for g in groups if g[3] is None)
    totals.rows_read += rows
    for event, keys, set_keys, reason, n, naive in groups:
        if reason is None:
            totals.plan.add(event, keys, set_keys, n)
            totals.naive += naive
    return valid, rows - valid


def _insert_chunk(con, groups: list[tuple], load_id: int, file: str, totals: _Totals) -> None:
    valid, bad = count_chunk(groups, totals)
    pending = totals.pending
    con.register("_zn_pending", pending.select(["uuid"]))
    new = _arrow(con, new_rows_sql())
    con.unregister("_zn_pending")
    con.register("_zn_new", new)
    rows_new = _arrow(con, event_rows_sql(load_id))
    loaded = rows_new.num_rows
    totals.pending = pa.concat_tables([pending, rows_new]) if pending.num_rows else rows_new
    _flush(con, totals, final=False)
    totals.links += con.execute(
        f"INSERT INTO identity_links ({LINK_COLUMNS}) {LINK_ROWS_SQL}"
    ).fetchall()[0][0]
    quarantined: list[tuple[str, int]] = []
    if bad:
        quarantined = con.execute(quarantine_sql(), [load_id, file]).fetchall()
    con.unregister("_zn_new")
    totals.loaded += loaded
    totals.quarantined.update(dict(quarantined))
    totals.duplicates += (valid - loaded) + (bad - sum(n for _, n in quarantined))


class _Tx:
    """``with tx:`` runs a block in a transaction (rolled back on any exception)."""

    def __init__(self, con) -> None:
        self.con = con

    def __enter__(self):
        self.con.execute("BEGIN TRANSACTION")
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        if exc_type is None:
            self.con.execute("COMMIT")
        else:
            with contextlib.suppress(duckdb.Error):
                self.con.execute("ROLLBACK")


def _setting(con, name: str) -> str:
    return con.execute("SELECT current_setting(?)", [name]).fetchall()[0][0]


#: DuckDB memory limit while loading (only ever lowered, never raised): bounds the
#: buffer pool that would otherwise keep every block just written in memory.
INGEST_MEMORY_LIMIT = "1GB"

_UNITS = {
    "b": 1,
    "kb": 1e3,
    "mb": 1e6,
    "gb": 1e9,
    "tb": 1e12,
    "kib": 2**10,
    "mib": 2**20,
    "gib": 2**30,
    "tib": 2**40,
    "bytes": 1,
}


def _to_bytes(text: str) -> float:
    m = re.fullmatch(r"\s*([0-9.]+)\s*([a-zA-Z]*)\s*", str(text))
    if not m:
        return float("inf")
    return float(m.group(1)) * _UNITS.get(m.group(2).lower() or "b", 1)


def _status(totals: _Totals) -> tuple[str, str]:
    q = sum(totals.quarantined.values())
    if totals.rows_read == 0:
        return "failed", "no rows in the file"
    if q == 0:
        return "ok", ""
    reasons = ", ".join(f"{r} {n:,}" for r, n in totals.quarantined.most_common())
    if q == totals.rows_read:
        return "failed", f"every row was quarantined ({reasons})"
    return "partial", f"{q:,} rows quarantined ({reasons})"


def _finish_load(con, load_id: int, s: LoadSummary, sha: str | None, nbytes: int | None) -> None:
    con.execute(
        """
        UPDATE loads SET file_sha256 = ?, file_bytes = ?, finished_at = ?, rows_read = ?,
            loaded = ?, duplicates = ?, quarantined = ?, naive_timestamps = ?,
            unknown_events = ?, unknown_properties = ?, redacted_properties = ?,
            status = ?, message = ?, blank_lines = ?
        WHERE load_id = ?
        """,
        [
            sha,
            nbytes,
            datetime.now(UTC),
            s.rows_read,
            s.loaded,
            s.duplicates,
            s.quarantined_total,
            s.naive_timestamps,
            sum(s.unknown_events.values()),
            sum(s.unknown_properties.values()),
            s.redacted_properties,
            s.status,
            s.message,
            s.blank_lines,
            load_id,
        ],
    )


def _fail_load(con, load_id: int, message: str) -> None:
    with contextlib.suppress(duckdb.Error):
        con.execute(
            "UPDATE loads SET finished_at = ?, status = 'failed', message = ? WHERE load_id = ?",
            [datetime.now(UTC), message[:2000], load_id],
        )


class _DuckDBWriter:
    """Writes one file's load into a DuckDB warehouse: a transaction per chunk, and one
    last transaction that appends the rest, records the load and stitches."""

    errors: tuple[type[BaseException], ...] = (duckdb.Error,)

    def __init__(self, wh, path: Path) -> None:
        self.wh = wh
        self.con = wh.con
        self.file = str(path)
        self.load_id = 0
        self.tx = _Tx(self.con)
        self._saved: tuple[str, str, str] | None = None

    def begin(self, fmt: str) -> int:
        """Record the load as ``running``; returns its id."""
        self.load_id = self.con.execute(
            "INSERT INTO loads (path, format, started_at, status, message) "
            "VALUES (?, ?, ?, 'running', ?) RETURNING load_id",
            [self.file, fmt, datetime.now(UTC), _loader()],
        ).fetchall()[0][0]
        return self.load_id

    def record(self, s: LoadSummary, sha: str | None, nbytes: int | None) -> None:
        _finish_load(self.con, self.load_id, s, sha, nbytes)

    def prepare(self) -> int:
        """Loading settings on (UTC, no insertion order, a bounded buffer pool); returns
        the number of threads staging may use."""
        con = self.con
        self._saved = (
            _setting(con, "preserve_insertion_order"),
            _setting(con, "memory_limit"),
            _setting(con, "TimeZone"),
        )
        threads = int(_setting(con, "threads"))
        con.execute("SET TimeZone = 'UTC'")  # a timestamp without an offset is UTC
        con.execute("SET preserve_insertion_order = false")
        if _to_bytes(self._saved[1]) > _to_bytes(INGEST_MEMORY_LIMIT):
            con.execute(f"SET memory_limit = '{INGEST_MEMORY_LIMIT}'")
        return threads

    def restore(self) -> None:
        if self._saved is None:
            return
        order, memory, zone = self._saved
        self.con.execute(f"SET preserve_insertion_order = {order}")
        self.con.execute(f"SET memory_limit = '{memory}'")
        self.con.execute(f"SET TimeZone = '{zone}'")

    def write(self, staged, totals: _Totals) -> None:
        with self.tx:
            _process_chunk(self.con, staged, self.load_id, self.file, totals)

    def undo(self) -> None:
        undo_load(self.con, self.load_id)

    def complete(self, totals: _Totals, s: LoadSummary, digest: tuple) -> None:
        """The load completes in one transaction: the last rows, its record, persons."""
        with self.tx:
            _flush(self.con, totals, final=True)
            privacy_gate.finish(self.wh, totals, s)  # added for gdpr: counts and consent
            self.record(s, *digest)
            _crash_point("finish")
            _update_persons(self.wh, s)
            _crash_point("commit")

    def fail(self, message: str, *, interrupted: bool = False) -> None:
        _fail_load(self.con, self.load_id, message)
        if interrupted:
            with contextlib.suppress(duckdb.Error):
                self.con.execute(
                    "UPDATE loads SET status = 'interrupted' WHERE load_id = ?", [self.load_id]
                )

    def done(self) -> None:
        self.con.execute(
            "UPDATE loads SET finished_at = ? WHERE load_id = ?", [datetime.now(UTC), self.load_id]
        )


def _update_persons(wh, s: LoadSummary) -> None:
    """Identity stitching when the load added links, else a persons rebuild when it
    added events (they move persons' first/last seen and properties)."""
    if s.identity_links:
        from ..warehouse.identity import stitch_in_transaction

        stitch_in_transaction(wh)
    elif s.loaded:
        from ..warehouse.identity import rebuild_persons

        rebuild_persons(wh)


def _summarize(s: LoadSummary, totals: _Totals, skipped_blank: int) -> None:
    """Fill a load summary from the totals of its chunks."""
    s.rows_read = totals.rows_read
    s.loaded = totals.loaded
    s.duplicates = totals.duplicates
    s.quarantined = dict(totals.quarantined.most_common())
    s.naive_timestamps = totals.naive
    s.unknown_events = dict(totals.plan.unknown_events.most_common())
    s.unknown_properties = dict(totals.plan.unknown_properties.most_common())
    s.naming_problems = dict(totals.plan.naming_problems.most_common())
    s.redacted_properties = totals.plan.redacted
    s.long_values = dict(totals.plan.long_values.most_common())
    s.identity_links = totals.links
    s.blank_lines = totals.blank + skipped_blank
    s.status, s.message = _status(totals)


def _writer_for(wh, path: Path):
    """The engine's writer: DuckDB's transactions, or ClickHouse's batches."""
    if getattr(wh.engine, "transactional", True):
        return _DuckDBWriter(wh, path)
    from .load_clickhouse import ClickHouseWriter

    return ClickHouseWriter(wh, path)


def _load_file(
    wh, path: Path, format: str | None, mapping: dict | None, now: datetime, chunk_rows: int
) -> LoadSummary:
    t0 = time.perf_counter()
    fmt, sn = detect(path, format)
    layout = _LAYOUT.get(fmt) or ("jsonl" if sn.kind in ("json-lines", "empty") else "json")
    if format == "posthog-jsonl" and sn.kind == "json-document":
        layout = "jsonl"  # named JSON lines: read it as such (broken first lines included)
    writer = _writer_for(wh, path)
    gate = privacy_gate.open_gate(wh, now)  # added for gdpr (before the load is recorded)
    load_id = writer.begin(fmt)
    summary = LoadSummary(path=str(path), format=fmt, load_id=load_id)

    if sn.kind == "empty":
        sha, nbytes = file_digest(path)
        summary.status, summary.message = "failed", "the file is empty"
        summary.seconds = time.perf_counter() - t0
        writer.record(summary, sha, nbytes)
        return summary

    threads = writer.prepare()
    scon = _stage_connection(threads)
    hasher = FileHasher(path)
    source = None
    totals = _Totals(threads)
    # DuckDB: a transaction per chunk (one per file keeps every appended row in memory
    # until the commit: +650 MB per million rows measured), then one last transaction
    # that appends the rest, marks the load done and stitches. Until then the load is
    # 'running', and a process that finds a 'running' load while holding the warehouse
    # (so its loader is gone) removes its rows before anyone reads them (recovery.py).
    try:
        for slow in (False, True):
            totals = _Totals(threads)
            totals.gate = gate.fresh()  # added for gdpr
            source = open_source(sn, layout, slow=slow, con=scon, chunk_rows=chunk_rows)
            try:
                env = envelope(
                    str(path),
                    fmt,
                    layout,
                    source.columns,
                    source.arrow_types,
                    mapping,
                    sn.delimiter,
                )
                # closing: the worker is done with the source before it is closed
                with contextlib.closing(_staged(source.chunks, scon, env, now, totals)) as it:
                    for staged in it:
                        writer.write(staged, totals)
                        _crash_point("chunk")
            except Restart:
                source.close()
                writer.undo()  # an error here leaves the load 'running': recovered
                if slow:  # pragma: no cover - the slow path never restarts
                    raise
                continue
            break

        s = summary
        _summarize(s, totals, source.skipped["blank"])
        s.seconds = time.perf_counter() - t0
        writer.complete(totals, s, hasher.result())
    except BaseException as exc:
        # all or nothing: take back the chunks already written for this load (should
        # that fail too, the load stays 'running' and the next holder recovers it)
        try:
            writer.undo()
        except Exception:  # noqa: BLE001 - recovered later; report the first error
            raise exc from None
        if isinstance(exc, IngestError):
            writer.fail(str(exc))
            raise
        if isinstance(exc, writer.errors):
            msg = f"{path}: load failed: {str(exc).splitlines()[0]}"
            writer.fail(msg)
            raise IngestError(msg) from exc
        if isinstance(exc, KeyboardInterrupt):
            writer.fail(
                f"{path}: load interrupted (Ctrl-C); nothing of it was kept", interrupted=True
            )
            raise
        writer.fail(f"{path}: load failed: {type(exc).__name__}: {exc}")
        raise
    finally:
        if source is not None:
            source.close()
        scon.close()
        writer.restore()
    summary.seconds = time.perf_counter() - t0
    writer.done()
    return summary


def _crash_point(where: str) -> None:
    """Tests only: ``$ZANTARA_TEST_CRASH_AT=where[:n]`` kills the process (SIGKILL) the
    n-th time the load passes ``where`` (``chunk``, ``finish``, ``commit``)."""
    spec = os.environ.get("ZANTARA_TEST_CRASH_AT")
    if not spec:
        return
    name, _, n = spec.partition(":")
    if name != where:
        return
    _CRASH_COUNTS[where] += 1
    if _CRASH_COUNTS[where] >= int(n or 1):
        import signal

        os.kill(os.getpid(), signal.SIGKILL)


_CRASH_COUNTS: Counter = Counter()


def ingest(
    wh,
    paths: str | os.PathLike | Iterable[str | os.PathLike],
    format: str | None = None,
    mapping: dict[str, str] | None = None,
    now: datetime | None = None,
    *,
    chunk_rows: int = CHUNK_ROWS,
) -> list[LoadSummary]:
    """Load event files into the warehouse; one :class:`LoadSummary` per file.

    ``format`` is one of :data:`~.detect.FORMATS` (None: detected per file);
    ``mapping`` maps canonical names to source columns for plain parquet/csv
    (``{"event": "action", "timestamp": "ts", "distinct_id": "user"}``; unmapped
    columns become properties); ``now`` is the clock for the future-timestamp rule.
    Raises :class:`IngestError` (message starting with the path) for a file that is
    not what it claims to be; files before it stay loaded.
    """
    if isinstance(paths, (str, os.PathLike)):
        paths = [paths]
    paths = list(paths)
    if getattr(wh, "read_only", False):
        first = paths[0] if paths else "ingest"
        raise IngestError(f"{first}: the warehouse is open read-only; open it writable to ingest")
    if now is None:
        now = datetime.now(UTC)
    elif now.tzinfo is None:
        now = now.replace(tzinfo=UTC)
    # held for writing throughout: readers wait for the end (or are waited for first)
    with wh.writing():
        return [_load_file(wh, Path(p), format, mapping, now, chunk_rows) for p in paths]


def _loader() -> str:
    """Who is loading, for the ``running`` row (and the message if the process dies)."""
    import socket
    import sys

    cmd = " ".join([Path(sys.argv[0]).name, *sys.argv[1:]]) if sys.argv else "python"
    return f"pid {os.getpid()} on {socket.gethostname()}: {cmd[:200]}"
