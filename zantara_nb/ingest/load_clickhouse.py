"""The loader's writes on ClickHouse (``chdb``, ``clickhouse://``).

Everything before the write is the loader's own (:mod:`.load`): detection, reading in
chunks, the staging SQL with its checks, the privacy gate, on an in-memory DuckDB
connection. Only what touches the warehouse differs, because ClickHouse has no
multi-statement transactions and its tables are not joined cheaply row by row:

1. per chunk, the uuids, distinct ids and quarantine hashes the chunk needs are looked
   up in the warehouse in three batched queries (each over a temporary table of the
   chunk's keys), and the loader's per-chunk SQL (:func:`.load.new_rows_sql`,
   :func:`.load.event_rows_sql`, ...) runs over what came back on a local DuckDB
   connection: the same statements decide what is new, a duplicate or quarantined;
2. new events are inserted in large Arrow batches (:data:`FLUSH_ROWS`), their identity
   links and quarantine rows per chunk, every row carrying the load's id;
3. the ``loads`` row is written ``running`` first and completed last; a load that
   fails takes back its rows (lightweight deletes by load id); one whose process died
   is taken back by the next load on the same warehouse (:func:`recover_dead_loads`).

Reloading a file adds nothing: its uuids are found in ``events``. ``events`` is a
ReplacingMergeTree keyed by uuid too, so a row written twice (two loaders racing on one
file) disappears at the next merge.
"""

from __future__ import annotations

import contextlib
import os
from datetime import UTC, datetime
from pathlib import Path

import duckdb
import pyarrow as pa

from ..warehouse.clickhouse_engine import ClickHouseError
from ..warehouse.recovery import recover_dead_loads, undo_load_clickhouse
from . import privacy_gate
from .load import (
    LINK_ROWS_SQL,
    _crash_point,
    _fail_load,
    _finish_load,
    _loader,
    _Totals,
    _update_persons,
    count_chunk,
    event_rows_sql,
    new_rows_sql,
    quarantine_sql,
)
from .summary import LoadSummary

#: New events wait until this many are pending, then go in one Arrow insert (ClickHouse
#: wants few large inserts: each one is a part to merge).
FLUSH_ROWS = 500_000


class ClickHouseWriter:
    """Writes one file's load into a ClickHouse warehouse (see the module docstring)."""

    errors: tuple[type[BaseException], ...] = (ClickHouseError, duckdb.Error)

    def __init__(self, wh, path: Path) -> None:
        self.wh = wh
        self.engine = wh.engine
        self.file = str(path)
        self.load_id = 0
        self.local = duckdb.connect()  # the per-chunk decisions, over looked-up keys
        self.local.execute("SET TimeZone = 'UTC'")
        self._tmp = f"_zn_keys_{os.getpid()}_{id(self):x}"

    # -- the load record -----------------------------------------------------------------

    def begin(self, fmt: str) -> int:
        """Record the load as ``running``; returns its id (one more than the largest)."""
        recover_dead_loads(self.wh)
        self.load_id = int(
            self.engine.rows("SELECT coalesce(max(load_id), 0) + 1 FROM loads")[0][0]
        )
        self.engine.insert_arrow(
            "loads",
            pa.table(
                {
                    "load_id": pa.array([self.load_id], pa.int32()),
                    "path": [self.file],
                    "format": [fmt],
                    "started_at": pa.array([datetime.now(UTC)], pa.timestamp("us", tz="UTC")),
                    "status": ["running"],
                    "message": [_loader()],
                }
            ),
        )
        return self.load_id

    def record(self, s: LoadSummary, sha: str | None, nbytes: int | None) -> None:
        _finish_load(self.wh.con, self.load_id, s, sha, nbytes)

    def prepare(self) -> int:
        return max(1, min(os.cpu_count() or 1, 4))

    def restore(self) -> None:
        self.local.close()

    # -- chunks ---------------------------------------------------------------------------

    def _lookup(self, sql_keys: str, query: str) -> pa.Table:
        """Run ``query`` on the warehouse with the chunk's keys (``sql_keys`` over the
        staged chunk, run locally) as the temporary table ``{keys}``."""
        keys = self.local.sql(sql_keys).to_arrow_table()
        con = self.wh.con
        con.register(self._tmp, keys)
        try:
            return self.engine.execute(query.format(keys=self._tmp)).arrow()
        finally:
            con.unregister(self._tmp)

    def write(self, staged, totals: _Totals) -> None:
        stage, groups = staged
        valid, bad = count_chunk(groups, totals)
        local = self.local
        local.register("_zn_stage", stage)
        try:
            seen = self._lookup(
                "SELECT DISTINCT uuid FROM _zn_stage WHERE reason IS NULL",
                "SELECT DISTINCT uuid FROM events WHERE uuid IN (SELECT uuid FROM {keys})",
            )
            persons = self._lookup(
                "SELECT DISTINCT distinct_id FROM _zn_stage "
                "WHERE reason IS NULL AND distinct_id IS NOT NULL",
                "SELECT distinct_id, any(person_id) AS person_id FROM person_distinct_ids "
                "WHERE distinct_id IN (SELECT distinct_id FROM {keys}) GROUP BY distinct_id",
            )
            local.register("_zn_seen", seen)
            local.register("_zn_pmap", persons)
            local.register("_zn_pending", totals.pending.select(["uuid"]))
            local.register("_zn_new", local.sql(new_rows_sql("_zn_seen")).to_arrow_table())
            rows_new = local.sql(event_rows_sql(self.load_id, "_zn_pmap")).to_arrow_table()
            links = local.sql(LINK_ROWS_SQL).to_arrow_table()
            quarantined = pa.table({"reason": pa.array([], pa.string())})
            if bad:
                qseen = self._lookup(
                    "SELECT DISTINCT md5(raw) AS raw_hash FROM _zn_stage WHERE reason IS NOT NULL",
                    "SELECT DISTINCT raw_hash, reason FROM quarantine "
                    "WHERE raw_hash IN (SELECT raw_hash FROM {keys})",
                )
                local.register("_zn_qseen", qseen)
                quarantined = local.sql(
                    quarantine_sql("_zn_qseen", insert=False), params=[self.load_id, self.file]
                ).to_arrow_table()
        finally:
            for name in (
                "_zn_stage",
                "_zn_seen",
                "_zn_pmap",
                "_zn_pending",
                "_zn_new",
                "_zn_qseen",
            ):
                with contextlib.suppress(Exception):
                    local.unregister(name)
        pending = totals.pending
        totals.pending = pa.concat_tables([pending, rows_new]) if pending.num_rows else rows_new
        if totals.pending.num_rows >= FLUSH_ROWS:
            self._flush(totals)
        self.engine.insert_arrow("identity_links", links)
        self.engine.insert_arrow("quarantine", quarantined)
        by_reason: dict[str, int] = {}
        for r in quarantined.column("reason").to_pylist():
            by_reason[r] = by_reason.get(r, 0) + 1
        totals.links += links.num_rows
        totals.loaded += rows_new.num_rows
        totals.quarantined.update(by_reason)
        totals.duplicates += (valid - rows_new.num_rows) + (bad - quarantined.num_rows)

    def _flush(self, totals: _Totals) -> None:
        self.engine.insert_arrow("events", totals.pending)
        totals.pending = totals.pending.slice(0, 0)

    # -- the end --------------------------------------------------------------------------

    def undo(self) -> None:
        undo_load_clickhouse(self.engine, self.load_id)

    def complete(self, totals: _Totals, s: LoadSummary, digest: tuple) -> None:
        """The last rows, the privacy counts, the load's record, then persons. The load
        counts as done once its record says so; a crash before that is taken back."""
        if totals.pending.num_rows:
            self._flush(totals)
        privacy_gate.finish(self.wh, totals, s)
        _crash_point("finish")
        _update_persons(self.wh, s)
        self.record(s, *digest)
        _crash_point("commit")

    def fail(self, message: str, *, interrupted: bool = False) -> None:
        with contextlib.suppress(Exception):
            _fail_load(self.wh.con, self.load_id, message)
            if interrupted:
                self.wh.execute(
                    "UPDATE loads SET status = 'interrupted' WHERE load_id = ?", [self.load_id]
                )

    def done(self) -> None:
        self.wh.execute(
            "UPDATE loads SET finished_at = ? WHERE load_id = ?", [datetime.now(UTC), self.load_id]
        )
