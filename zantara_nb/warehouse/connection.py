"""The warehouse: one object per open warehouse, on the engine its address names.

>>> from zantara_nb import Warehouse
>>> wh = Warehouse()              # data/zantara.duckdb or $ZANTARA_WAREHOUSE
>>> wh.sql("SELECT count(*) AS n FROM events")
>>> wh.dialect.local_ts("timestamp", "Asia/Jakarta")   # SQL primitives of its engine

The engine is chosen by name from the registry (:mod:`.engines`): ``engine="duckdb"``
(the default: one file, nothing to start). Every statement run through :meth:`sql`,
:meth:`execute` or :meth:`scalar` is recorded while a metric runs, so results carry the
SQL that produced them (:mod:`.sqltrace`).
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager
from pathlib import Path
from typing import Any

import pandas as pd

from .. import config
from .dialects.base import Dialect
from .engines import Engine, get_engine, parse_address
from .sqltrace import SqlRecorder


class Warehouse:
    """A connection to a zantara-nb warehouse.

    ``path`` may be a file path, ``":memory:"`` (tests), or None for the configured
    default. Timestamps are stored and returned in UTC; every metric converts to the
    report timezone itself.
    """

    def __init__(
        self,
        path: str | os.PathLike | None = None,
        *,
        engine: str | None = None,
        read_only: bool = False,
        memory_limit: str | None = None,
        threads: int | None = None,
        timeout: float | None = None,
    ) -> None:
        # the address may name its engine: chdb:PATH, clickhouse://user@host:8123/db
        engine, path = parse_address(path or os.environ.get("ZANTARA_WAREHOUSE"), engine)
        extra: dict[str, Any] = {}
        if timeout is not None:
            extra["timeout"] = timeout
        if engine == "clickhouse":
            self.path: Path | None = None
            extra["address"] = path
        elif str(path) == ":memory:":
            self.path = None
        else:
            self.path = config.warehouse_path(path)
            if not read_only:
                self.path.parent.mkdir(parents=True, exist_ok=True)
            elif not self.path.exists():
                raise FileNotFoundError(
                    f"{self.path}: no warehouse here (run `zantara-nb demo` or `zantara-nb ingest`)"
                )
        self.read_only = read_only
        self.engine: Engine = get_engine(engine)(
            self.path, read_only=read_only, memory_limit=memory_limit, threads=threads, **extra
        )
        self._recorder = SqlRecorder()
        if not read_only:
            self.engine.create_schema()
        # DuckDB recovers on every hold. ClickHouse when a writer opens it, and chdb when
        # anyone does (a chdb directory is open in one process at a time, so no live
        # loader can be writing it): the rows of loads whose process died are taken back
        # before the first read (see recovery).
        exclusive = self.engine.one_process_at_a_time and self.path is not None
        if not self.engine.transactional and (not read_only or exclusive):
            from .recovery import recover_dead_loads

            recover_dead_loads(self)

    # -- plumbing ---------------------------------------------------------------------

    @property
    def dialect(self) -> Dialect:
        """The SQL primitives of this warehouse's engine."""
        return self.engine.dialect

    @property
    def con(self) -> Any:
        """The engine's own connection (the loaders use DuckDB's API directly)."""
        return self.engine.con

    @contextmanager
    def recording(self) -> Iterator[list[str]]:
        """Collect the statements run inside a ``with`` block (see :mod:`.sqltrace`).

        The block also holds the warehouse for reading (:meth:`reading`): a metric reads
        one state of the data and takes its turn once for all its statements.
        """
        with self.reading(), self._recorder.recording() as log:
            yield log

    def reading(self) -> AbstractContextManager[None]:
        """Hold the warehouse for reading for a ``with`` block.

        Outside such a block every statement holds it for itself. On DuckDB, readers in
        any number of processes share the file; a writer waits until they are done, and
        they wait while it writes (up to ``$ZANTARA_LOCK_TIMEOUT`` seconds, saying who
        holds it). An idle warehouse object holds nothing.
        """
        return self.engine.hold("read")

    def writing(self) -> AbstractContextManager[None]:
        """Hold the warehouse for writing for a ``with`` block (reads allowed inside).

        Waits for readers and for another writer (bounded, see :meth:`reading`); loads,
        stitching and the demo hold it this way.
        """
        return self.engine.hold("write")

    def _record(self, query: str, params: Any) -> None:
        self._recorder.record(self.dialect.prepare(query), params, self.dialect.quote)

    def sql(self, query: str, params: list | dict | None = None) -> pd.DataFrame:
        """Run a query and return a DataFrame (timestamps in UTC)."""
        self._record(query, params)
        return self.engine.frame(query, params)

    def execute(self, query: str, params: list | dict | None = None) -> Any:
        """Run a statement and return the engine's cursor.

        DuckDB 2 refuses new work on a connection while a result is unfinished: fetch
        everything (``fetchall()``), not just ``fetchone()``.
        """
        self._record(query, params)
        return self.engine.execute(query, params)

    def scalar(self, query: str, params: list | dict | None = None) -> Any:
        """First column of the first row, or None."""
        self._record(query, params)
        rows = self.engine.rows(query, params)
        return rows[0][0] if rows else None

    def close(self) -> None:
        self.engine.close()

    def __enter__(self) -> Warehouse:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        if self.engine.name != "duckdb":
            return f"Warehouse({self.engine.describe()!r})"
        where = self.path or ":memory:"
        return f"Warehouse({str(where)!r})"

    # -- conveniences -----------------------------------------------------------------

    def ingest(self, paths, **kwargs):
        """Load files into the warehouse; see :func:`zantara_nb.ingest.ingest`."""
        from ..ingest import ingest

        return ingest(self, paths, **kwargs)

    def status(self):
        """Row counts, date range, freshness, loads and quarantine; see :mod:`.status`."""
        from .status import warehouse_status

        return warehouse_status(self)

    def stitch(self):
        """Recompute person ids from identify/alias links; see :mod:`.identity`."""
        from .identity import stitch

        return stitch(self)


@contextmanager
def held_for_run(address: str | os.PathLike | None, *, purpose: str) -> Iterator[None]:
    """Hold a warehouse for reading through a whole report run.

    Every number of the run then comes from one state of the data: a load that starts
    meanwhile waits for the run to end (up to ``$ZANTARA_LOCK_TIMEOUT``, saying who
    holds it), and a run that starts during a load waits for the load. The run's
    notebook kernels, started inside the block, read without queueing behind such a
    writer. A missing warehouse is not held (the run reports it itself).

    A warehouse that one process at a time may open (chdb) is held through its advisory
    lock alone, without opening it: the run and its kernels open it under that hold,
    one after another, and any other process waits for the run to end.
    """
    from .engines import data_path, one_process_at_a_time
    from .locking import OPEN, FileLock, WarehouseBusy, run_holds

    if one_process_at_a_time(address):
        path = data_path(address)
        if path is None or not path.exists():
            yield
            return
        lock = FileLock(path)
        held = lock.acquire(OPEN, purpose=purpose)
        try:
            with run_holds(path):
                yield
        finally:
            held.release()
            lock.close()
        return
    wh = hold = None
    try:
        wh = Warehouse(address, read_only=True)
        hold = wh.engine.hold("read", purpose=purpose)
        hold.__enter__()
    except (WarehouseBusy, config.SettingError):
        if wh is not None:
            wh.close()
        raise
    except Exception:  # noqa: BLE001 - missing or unusable: the run's own checks say why
        if wh is not None:
            wh.close()
        wh = hold = None
    if wh is None or hold is None:
        yield
        return
    try:
        with run_holds(wh.path or ":memory:"):
            yield
    finally:
        hold.__exit__(None, None, None)
        wh.close()
