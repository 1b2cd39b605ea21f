"""The ClickHouse engines: ``chdb`` (in-process) and ``clickhouse`` (a server over HTTP).

Both speak the same SQL (:class:`~.dialects.clickhouse.ClickHouseDialect`), create the
same tables (:mod:`.clickhouse_schema`) and run with the same session settings; they
differ only in how a statement reaches the engine and how Arrow data is inserted.

Addresses (``Warehouse(address)``, ``--warehouse``, ``$ZANTARA_WAREHOUSE``):

- ``chdb:data/zantara.chdb``: a chdb data directory (one per process at a time:
  chdb runs one embedded server per process; close a chdb warehouse before opening
  one at another path). ``chdb::memory:`` or ``Warehouse(":memory:", engine="chdb")``
  is a throw-away warehouse: a database of its own in the process's embedded server.
- ``clickhouse://user@host:8123/zantara``: a ClickHouse server or cluster through
  ``clickhouse-connect``; the password comes from ``$ZANTARA_CLICKHOUSE_PASSWORD``
  (``clickhouses://`` for HTTPS).

``chdb`` and ``clickhouse-connect`` are the optional extra ``clickhouse``
(``pip install -e '.[clickhouse]'``); nothing here imports them until such a
warehouse is opened.
"""

from __future__ import annotations

import contextlib
import gc
import io
import os
import re
import threading
import uuid as uuidlib
import weakref
from collections.abc import Mapping, Sequence
from datetime import date, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlparse

import pandas as pd
import pyarrow as pa

from . import clickhouse_schema
from .dialects.clickhouse import LOCAL_MARK, ClickHouseDialect
from .engines import Engine
from .schema import SCHEMA_VERSION
from .sqltrace import inline_params

EXTRA_HINT = (
    "the ClickHouse engines need the optional extra 'clickhouse': "
    "pip install -e '.[clickhouse]' (or pip install 'zantara-nb[clickhouse]')"
)
PASSWORD_ENV = "ZANTARA_CLICKHOUSE_PASSWORD"

#: Session settings every ClickHouse connection of the warehouse runs with: standard SQL
#: NULLs for outer joins, empty aggregates and casts; UNION means UNION DISTINCT; UTC.
SETTINGS: dict[str, Any] = {
    "join_use_nulls": 1,
    "aggregate_functions_null_for_empty": 1,
    "cast_keep_nullable": 1,
    "union_default_mode": "DISTINCT",
    "session_timezone": "UTC",
    "mutations_sync": 2,
    "lightweight_deletes_sync": 2,
    "max_query_size": 16 * 1024 * 1024,
    "output_format_arrow_string_as_string": 1,
    "output_format_arrow_low_cardinality_as_dictionary": 0,
    "allow_experimental_join_condition": 1,
    # a column of the FROM clause wins over a same-named alias of the SELECT list (SQL)
    "prefer_column_name_to_alias": 1,
}


def _need(module: str):
    try:
        return __import__(module)
    except ImportError as exc:  # pragma: no cover - depends on the environment
        raise ImportError(f"{module} is not installed: {EXTRA_HINT}") from exc


# -- results ------------------------------------------------------------------------------


_QUALIFIED = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*\.([A-Za-z_][A-Za-z0-9_]*)$")


def _plain_arrow(tbl: pa.Table) -> pa.Table:
    """Arrow as DuckDB would hand it back: local times naive, counters signed, no dictionaries."""
    cols, names = [], []
    for name, col in zip(tbl.column_names, tbl.columns, strict=True):
        t = col.type
        if pa.types.is_dictionary(t):
            col = col.cast(t.value_type)
            t = col.type
        if pa.types.is_timestamp(t):
            if t.tz == LOCAL_MARK:
                col = col.cast(pa.int64()).cast(pa.timestamp("us"))
            elif t.tz is not None and t.tz != "UTC":
                col = col.cast(pa.timestamp("us", tz="UTC"))
        elif pa.types.is_unsigned_integer(t):
            col = col.cast(pa.int64(), safe=False)
        elif pa.types.is_decimal(t):
            col = col.cast(pa.float64())
        elif pa.types.is_large_string(t):
            col = col.cast(pa.string())
        cols.append(col)
        names.append(name)
    # ClickHouse names ``d.day`` of a query with several joins "d.day"; SQL says "day"
    for i, name in enumerate(names):
        m = _QUALIFIED.match(name)
        if m and m.group(1) not in names:
            names[i] = m.group(1)
    return pa.table(cols, names=names)


def _to_frame(tbl: pa.Table) -> pd.DataFrame:
    """A DataFrame like DuckDB's ``.df()``: DATE as datetime64, nullable integers as Int64."""
    data = {}
    for name, col in zip(tbl.column_names, tbl.columns, strict=True):
        t = col.type
        if pa.types.is_integer(t) and col.null_count:
            s = col.to_pandas(types_mapper={t: pd.Int64Dtype()}.get)
            if s.dtype != pd.Int64Dtype():
                s = s.astype("Int64")
        elif pa.types.is_date(t):
            s = col.to_pandas(date_as_object=False).astype("datetime64[us]")
        elif pa.types.is_timestamp(t):
            s = col.to_pandas().astype("datetime64[us, UTC]" if t.tz else "datetime64[us]")
        elif pa.types.is_boolean(t) and col.null_count:
            s = col.to_pandas(types_mapper={t: pd.BooleanDtype()}.get)
        else:
            s = col.to_pandas()
        data[name] = s.reset_index(drop=True) if isinstance(s, pd.Series) else s
    if not data:
        return pd.DataFrame(index=range(tbl.num_rows))
    return pd.DataFrame(data)


def _py_column(col: pa.ChunkedArray, raw_type: pa.DataType) -> list[Any]:
    """Python values of a column. ClickHouse has no boolean result of a predicate (``a IN
    (...)``, ``x > 1`` are UInt8): a UInt8 column holding only 0/1 comes back as bools,
    as DuckDB's would (``True == 1``, so a small integer 0/1 still compares equal)."""
    values = [_py(v) for v in col.to_pylist()]
    if pa.types.is_uint8(raw_type) and all(v in (0, 1, None) for v in values):
        return [None if v is None else bool(v) for v in values]
    return values


def _py(v: Any) -> Any:
    if isinstance(v, datetime) and v.tzinfo is not None and str(v.tzinfo) == LOCAL_MARK:
        return v.replace(tzinfo=None)
    return v


class Cursor:
    """The rows of one statement (DB-API style ``fetchall``/``fetchone``, plus ``df``)."""

    def __init__(self, table: pa.Table | None) -> None:
        raw = table if table is not None else pa.table({})
        self._types = raw.schema.types
        self._table = _plain_arrow(raw)
        self._rows: list[tuple] | None = None
        self._pos = 0

    @property
    def description(self) -> list[tuple]:
        return [
            (n, str(t), None, None, None, None, None)
            for n, t in zip(self._table.column_names, self._table.schema.types, strict=True)
        ]

    def _all(self) -> list[tuple]:
        if self._rows is None:
            cols = [_py_column(c, t) for c, t in zip(self._table.columns, self._types, strict=True)]
            self._rows = list(zip(*cols, strict=True)) if cols else []
        return self._rows

    def fetchall(self) -> list[tuple]:
        rows = self._all()[self._pos :]
        self._pos = len(self._all())
        return rows

    def fetchone(self) -> tuple | None:
        rows = self._all()
        if self._pos >= len(rows):
            return None
        self._pos += 1
        return rows[self._pos - 1]

    def df(self) -> pd.DataFrame:
        return _to_frame(self._table)

    fetchdf = df

    def arrow(self) -> pa.Table:
        return self._table


# -- parameters ---------------------------------------------------------------------------


def _plain(v: Any) -> Any:
    if hasattr(v, "item") and not isinstance(v, str | bytes):  # numpy scalars
        try:
            return v.item()
        except (ValueError, AttributeError):
            return v
    if isinstance(v, pd.Timestamp):
        return v.to_pydatetime()
    if isinstance(v, Decimal):
        return float(v)
    return v


def _quote_param(dialect: ClickHouseDialect, v: Any) -> str:
    v = _plain(v)
    if isinstance(v, list | tuple):
        return "[" + ", ".join(_quote_param(dialect, x) for x in v) + "]"
    if isinstance(v, datetime) and v.tzinfo is None:
        # DuckDB reads a naive datetime parameter as a wall-clock TIMESTAMP
        return f"toDateTime64('{v.strftime('%Y-%m-%d %H:%M:%S.%f')}', 6, '{LOCAL_MARK}')"
    if isinstance(v, date) and not isinstance(v, datetime):
        return dialect.date_lit(v)
    return dialect.quote(v)


# -- Arrow in -----------------------------------------------------------------------------


def to_arrow(data: Any) -> pa.Table:
    """An Arrow table of a DataFrame / Arrow table, instants as microseconds, no null type."""
    if isinstance(data, pd.DataFrame):
        tbl = pa.Table.from_pandas(data, preserve_index=False)
    elif isinstance(data, pa.RecordBatch):
        tbl = pa.Table.from_batches([data])
    else:
        tbl = data
    cols = []
    for col in tbl.columns:
        t = col.type
        if pa.types.is_null(t):
            col = col.cast(pa.string())
        elif pa.types.is_timestamp(t) and t.unit != "us":
            col = col.cast(pa.timestamp("us", tz=t.tz), safe=False)
        elif pa.types.is_large_string(t):
            col = col.cast(pa.string())
        elif pa.types.is_dictionary(t):
            col = col.cast(t.value_type)
        cols.append(col)
    return pa.table(cols, names=tbl.column_names)


def ch_type(t: pa.DataType) -> str:
    """The Nullable ClickHouse type of an Arrow type (for temporary tables)."""
    if pa.types.is_boolean(t):
        base = "Bool"
    elif pa.types.is_integer(t):
        base = "Int64"
    elif pa.types.is_floating(t) or pa.types.is_decimal(t):
        base = "Float64"
    elif pa.types.is_timestamp(t):
        base = "DateTime64(6, 'UTC')" if t.tz else f"DateTime64(6, '{LOCAL_MARK}')"
    elif pa.types.is_date(t):
        base = "Date32"
    elif pa.types.is_list(t) or pa.types.is_large_list(t):
        return f"Array({ch_type(t.value_type)})"
    else:
        base = "String"
    return f"Nullable({base})"


# -- the engines ----------------------------------------------------------------------


class ClickHouseEngine(Engine):
    """What the chdb and server engines share: SQL, settings, schema, Arrow in and out."""

    name = "clickhouse"
    database: str = "default"

    def __init__(self) -> None:
        self.dialect = ClickHouseDialect()
        self.con = ClickHouseConnection(self)

    # transport, per engine
    def _arrow(self, query: str) -> pa.Table:  # pragma: no cover - abstract
        raise NotImplementedError

    def _command(self, query: str) -> None:  # pragma: no cover - abstract
        raise NotImplementedError

    def insert_arrow(self, table: str, data: Any, columns: Sequence[str] | None = None) -> int:
        """Insert a DataFrame or Arrow table (its columns by name); returns the row count."""
        raise NotImplementedError  # pragma: no cover - abstract

    # the Engine interface
    def _sql(self, query: str, params: Sequence[Any] | Mapping[str, Any] | None) -> str:
        query = self.dialect.prepare(query)
        if params:
            return inline_params(query, params, lambda v: _quote_param(self.dialect, v))
        return query

    def execute(self, query: str, params: list | dict | None = None) -> Cursor:
        q = self._sql(query, params).strip().rstrip(";")
        head = q.lstrip("( \n\t").split(None, 1)[0].upper() if q.strip() else ""
        if head in {"SELECT", "WITH", "SHOW", "DESCRIBE", "DESC", "EXPLAIN"}:
            return Cursor(self._arrow(q))
        self._command(q)
        return Cursor(None)

    def frame(self, query: str, params: list | dict | None = None) -> pd.DataFrame:
        return _to_frame(_plain_arrow(self._arrow(self._sql(query, params).strip().rstrip(";"))))

    def create_schema(self) -> None:
        for stmt in clickhouse_schema.single_server_ddl():
            self._command(stmt)
        # a warehouse made by an older version gains the columns added since
        for t in clickhouse_schema.TABLES:
            adds = ", ".join(f"ADD COLUMN IF NOT EXISTS `{c}` {typ}" for c, typ in t.columns)
            self._command(f"ALTER TABLE {t.name} {adds}")
        have = self._arrow("SELECT max(value) AS v FROM meta WHERE key = 'schema_version'")
        if have.column(0)[0].as_py() != str(SCHEMA_VERSION):
            self._command("DELETE FROM meta WHERE key = 'schema_version'")
            self._command(f"INSERT INTO meta VALUES ('schema_version', '{SCHEMA_VERSION}')")

    # helpers the warehouse modules use on ClickHouse
    def truncate(self, table: str) -> None:
        self._command(f"TRUNCATE TABLE IF EXISTS {self.dialect.ident(table)}")

    def apply_person_map(self, mapping: Mapping[str, str]) -> int:
        """Replace ``person_distinct_ids`` and give every event its person; returns the
        number of events whose person changed.

        ``person_id`` is in the events' sorting key, so changed events are written again
        with their new person and the old rows deleted (no update in place). The rule is
        DuckDB's: a mapped distinct id takes its person, any other its own id; events
        without a distinct id keep theirs.
        """
        self.truncate("person_distinct_ids")
        if mapping:
            self.insert_arrow(
                "person_distinct_ids",
                pa.table({"distinct_id": list(mapping), "person_id": list(mapping.values())}),
            )
        target = (
            "multiIf(e.distinct_id IS NULL, e.person_id, "
            "m.person_id IS NOT NULL, m.person_id, e.distinct_id)"
        )
        tmp = "_zantara_restitch"
        self._command(f"DROP TABLE IF EXISTS {tmp}")
        self._command(
            f"""CREATE TABLE {tmp} ENGINE = Memory AS
            SELECT e.uuid AS uuid, ifNull(e.person_id, '') AS old_pid, {target} AS new_pid
            FROM events e LEFT JOIN person_distinct_ids m ON e.distinct_id = m.distinct_id
            WHERE e.person_id IS DISTINCT FROM {target}"""
        )
        try:
            n = int(self._arrow(f"SELECT count() AS n FROM {tmp}").column(0)[0].as_py())
            if n:
                self._command(
                    f"""INSERT INTO events
                    SELECT e.* REPLACE (r.new_pid AS person_id)
                    FROM events e
                    INNER JOIN {tmp} r ON e.uuid = r.uuid AND ifNull(e.person_id, '') = r.old_pid"""
                )
                self._command(
                    f"DELETE FROM events WHERE (uuid, ifNull(person_id, '')) "
                    f"IN (SELECT uuid, old_pid FROM {tmp})"
                )
        finally:
            self._command(f"DROP TABLE IF EXISTS {tmp}")
        return n

    def optimize(self, table: str) -> None:
        """Merge a table's parts now (ReplacingMergeTree drops repeated keys)."""
        self._command(f"OPTIMIZE TABLE {self.dialect.ident(table)} FINAL")

    # -- added for gdpr --

    #: No multi-statement transactions on MergeTree tables: the GDPR delete records the
    #: suppression first and deletes table by table, so a run cut short is finished by
    #: running it again (every step is idempotent).
    transactional = False

    def table_columns(self) -> dict[str, list[str]]:
        rows = self.rows(
            "SELECT table, name FROM system.columns WHERE database = currentDatabase() "
            "AND NOT startsWith(table, '_') ORDER BY table, position"
        )
        out: dict[str, list[str]] = {}
        for table, column in rows:
            out.setdefault(str(table), []).append(str(column))
        return out

    def create_table(
        self, name: str, columns: list[tuple[str, str]], order_by: list[str] | None = None
    ) -> None:
        """A ``MergeTree`` table; every column Nullable except those of the sorting key."""
        types = dict(clickhouse_schema._TYPE, DATE="Date", TIMESTAMPTZ=clickhouse_schema.TS)
        types["JSON"] = "String"
        key = list(order_by or [])
        cols = ", ".join(
            f"{self.dialect.ident(c)} "
            + (types[t.upper()] if c in key else f"Nullable({types[t.upper()]})")
            for c, t in columns
        )
        order = ", ".join(self.dialect.ident(c) for c in key) or "tuple()"
        self._command(
            f"CREATE TABLE IF NOT EXISTS {self.dialect.ident(name)} ({cols}) "
            f"ENGINE = MergeTree ORDER BY ({order})"
        )

    def delete_where(self, table: str, predicate: str) -> int:
        """A lightweight ``DELETE`` (rows hidden at once, removed at the next merge;
        ``lightweight_deletes_sync = 2`` waits for it), counted first."""
        t = self.dialect.ident(table)
        n = int(self.rows(f"SELECT count() FROM {t} WHERE {predicate}")[0][0])
        if n:
            self._command(f"DELETE FROM {t} WHERE {predicate}")
        return n


#: ClickHouse has no multi-statement transactions on MergeTree tables: each INSERT is
#: atomic on its own, and the warehouse's writers are written so that a repeated run
#: converges (dedupe by uuid, person map rewritten whole). These are accepted and do nothing.
_TRANSACTION_WORDS = {"BEGIN", "BEGIN TRANSACTION", "COMMIT", "ROLLBACK", "ABORT"}


class ClickHouseConnection:
    """``wh.con`` on ClickHouse: ``execute``, ``register``/``unregister`` (temporary
    tables from DataFrames or Arrow) and ``close``, the part of DuckDB's connection API
    the package and its tests use."""

    def __init__(self, engine: ClickHouseEngine) -> None:
        self._engine = engine
        self._registered: set[str] = set()

    def execute(self, query: str, params: list | dict | None = None) -> Cursor:
        if query.strip().rstrip(";").upper() in _TRANSACTION_WORDS:
            return Cursor(None)
        return self._engine.execute(query, params)

    def sql(self, query: str) -> Cursor:
        return self._engine.execute(query)

    def register(self, name: str, data: Any) -> ClickHouseConnection:
        tbl = to_arrow(data)
        name = self._engine.dialect.ident(name)
        cols = ", ".join(
            f"`{n}` {ch_type(t)}" for n, t in zip(tbl.column_names, tbl.schema.types, strict=True)
        )
        self._engine._command(f"DROP TABLE IF EXISTS {name}")
        self._engine._command(f"CREATE TABLE {name} ({cols}) ENGINE = Memory")
        if tbl.num_rows:
            self._engine.insert_arrow(name, tbl)
        self._registered.add(name)
        return self

    def unregister(self, name: str) -> ClickHouseConnection:
        self._engine._command(f"DROP TABLE IF EXISTS {self._engine.dialect.ident(name)}")
        self._registered.discard(name)
        return self

    def close(self) -> None:
        self._engine.close()


# -- chdb ---------------------------------------------------------------------------------


class _EmbeddedServer:
    """chdb runs one embedded server per process, at one path; sessions share it.

    A data directory can be open in one process at a time (a second one fails to start
    its server), so while this process has one open it holds the directory's advisory
    lock (:mod:`.locking`, ``DIR.locks/``) exclusively: another zantara-nb process waits
    its turn (up to ``$ZANTARA_LOCK_TIMEOUT``) and is told who has it, instead of
    failing. A report run takes the lock for its whole run and its kernels open the
    directory under it (:func:`~.connection.held_for_run`).
    """

    lock = threading.RLock()
    path: str | None = None
    #: open chdb engines of this process (a warehouse dropped without close() goes with GC)
    engines: weakref.WeakSet = weakref.WeakSet()
    #: the directory's advisory lock while this process has it open (None: not taken)
    held: Any = None


def _take_directory(path: str) -> None:
    """Hold ``path`` for this process (wait for another process that has it open)."""
    from .locking import OPEN, FileLock, held_by_run

    if path == ":memory:" or held_by_run(path):
        return
    lock = FileLock(Path(path))
    _EmbeddedServer.held = (lock, lock.acquire(OPEN, purpose="chdb warehouse"))


def _let_directory_go() -> None:
    """Release the directory once no chdb warehouse of this process is open."""
    if _EmbeddedServer.held is None or _live():
        return
    lock, held = _EmbeddedServer.held
    _EmbeddedServer.held = None
    held.release()
    lock.close()


def _live() -> list:
    return [e for e in list(_EmbeddedServer.engines) if not e._closed]


def _open_chdb_session(path: str | None, engine: Any):
    """A chdb session on ``path`` (None: whatever server runs, else a memory one)."""
    _need("chdb")
    from chdb import session as chs

    with _EmbeddedServer.lock:
        live = _live()
        if live and path is not None and _EmbeddedServer.path != path:
            gc.collect()  # warehouses nobody closed
            live = _live()
        running = _EmbeddedServer.path if live else None
        want = path if path is not None else (running or ":memory:")
        if running is not None and running != want:
            raise RuntimeError(
                f"chdb:{want}: this process already has the chdb warehouse {running} open "
                "(chdb runs one embedded server per process: close it first)"
            )
        if running is None:
            _let_directory_go()  # warehouses closed by GC leave it taken
            _take_directory(want)
        try:
            s = chs.Session(want)
        except BaseException:
            _let_directory_go()
            raise
        _EmbeddedServer.path = want
        _EmbeddedServer.engines.add(engine)
        return s


class ChdbEngine(ClickHouseEngine):
    """ClickHouse in-process (the ``chdb`` package): a data directory, nothing to run."""

    name = "chdb"
    one_process_at_a_time = True

    def __init__(
        self,
        path: Path | None,
        *,
        read_only: bool = False,
        memory_limit: str | None = None,
        threads: int | None = None,
        database: str | None = None,
        **_: Any,
    ) -> None:
        super().__init__()
        self.path = Path(path).resolve() if path is not None else None
        self._own_database = database is None
        self.read_only = read_only
        self._closed = False
        if self.path is not None and not read_only:
            self.path.mkdir(parents=True, exist_ok=True)
        self._session = _open_chdb_session(str(self.path) if self.path is not None else None, self)
        self._lock = threading.RLock()
        settings = dict(SETTINGS)
        limit = memory_limit or os.environ.get("ZANTARA_MEMORY_LIMIT")
        if limit:
            settings["max_memory_usage"] = _bytes(limit)
        if threads:
            settings["max_threads"] = int(threads)
        for k, v in settings.items():
            self._session.query(f"SET {k} = {self.dialect.quote(v)}")
        if database is not None:  # another connection to an open warehouse's database
            self.database = self.dialect.ident(database)
        elif self.path is None:
            # a throw-away warehouse: its own database in the process's embedded server
            self.database = "zantara_mem_" + uuidlib.uuid4().hex[:12]
            self._session.query(f"CREATE DATABASE {self.database}")
        else:
            self.database = "default"
        self._session.query(f"USE {self.database}")

    def _arrow(self, query: str) -> pa.Table:
        with self._lock:
            try:
                return self._session.query(query, "ArrowTable")
            except Exception as exc:
                raise _error(exc, query) from None

    def _command(self, query: str) -> None:
        with self._lock:
            try:
                self._session.query(query, "Null")
            except Exception as exc:
                raise _error(exc, query) from None

    def insert_arrow(self, table: str, data: Any, columns: Sequence[str] | None = None) -> int:
        tbl = to_arrow(data)
        if columns is not None:
            tbl = tbl.select(list(columns))
        if not tbl.num_rows:
            return 0
        sink = io.BytesIO()
        with pa.ipc.new_stream(sink, tbl.schema) as w:
            w.write_table(tbl)
        cols = ", ".join(f"`{c}`" for c in tbl.column_names)
        with self._lock:
            try:
                ins = self._session._conn.send_insert(
                    f"INSERT INTO {self.dialect.ident(table)} ({cols})", "ArrowStream"
                )
                ins.append(sink.getvalue())
                ins.finish()
            except Exception as exc:
                raise _error(exc, f"INSERT INTO {table} ({cols}) FORMAT ArrowStream") from None
        return tbl.num_rows

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        try:
            if self.path is None and self._own_database:
                self._session.query(f"DROP DATABASE IF EXISTS {self.database} SYNC")
        finally:
            self._session.close()
            with _EmbeddedServer.lock:
                _let_directory_go()

    def __del__(self) -> None:
        if not getattr(self, "_closed", True):
            self._closed = True
            with contextlib.suppress(Exception):
                self._session.close()

    def describe(self) -> str:
        return f"chdb:{self.path or ':memory:'}"


class ClickHouseError(RuntimeError):
    """A statement ClickHouse refused (its message, then the statement)."""


def _error(exc: Exception, query: str) -> ClickHouseError:
    text = str(exc).strip()
    return ClickHouseError(f"{text}\n-- statement:\n{query[:4000]}")


def _bytes(limit: str) -> int:
    s = limit.strip().upper().replace("IB", "B")
    for unit, mult in (("TB", 1 << 40), ("GB", 1 << 30), ("MB", 1 << 20), ("KB", 1 << 10)):
        if s.endswith(unit):
            return int(float(s[: -len(unit)]) * mult)
    return int(s.rstrip("B"))


# -- a server over HTTP ---------------------------------------------------------------


def parse_clickhouse_url(url: str) -> dict[str, Any]:
    """Host, port, user, database and TLS of ``clickhouse://user@host:8123/db``."""
    u = urlparse(url)
    if u.scheme not in {"clickhouse", "clickhouses"}:
        raise ValueError(f"{url}: not a clickhouse:// address")
    if not u.hostname:
        raise ValueError(f"{url}: no host (clickhouse://user@host:8123/zantara)")
    secure = u.scheme == "clickhouses"
    return {
        "host": u.hostname,
        "port": u.port or (8443 if secure else 8123),
        "username": unquote(u.username or "default"),
        "database": (u.path or "/").strip("/") or "zantara",
        "secure": secure,
    }


class ServerEngine(ClickHouseEngine):
    """A ClickHouse server or cluster over HTTP (``clickhouse-connect``)."""

    name = "clickhouse"

    def __init__(
        self,
        path: Path | None = None,
        *,
        address: str | None = None,
        read_only: bool = False,
        memory_limit: str | None = None,
        threads: int | None = None,
        client: Any = None,
        **_: Any,
    ) -> None:
        super().__init__()
        if address is None:
            raise ValueError(
                "the clickhouse engine needs an address: clickhouse://user@host:8123/db"
            )
        self.address = address
        self.path = None
        self.read_only = read_only
        cfg = parse_clickhouse_url(address)
        self.database = cfg["database"]
        settings = dict(SETTINGS)
        if memory_limit or os.environ.get("ZANTARA_MEMORY_LIMIT"):
            settings["max_memory_usage"] = _bytes(
                memory_limit or os.environ["ZANTARA_MEMORY_LIMIT"]
            )
        if threads:
            settings["max_threads"] = int(threads)
        self.settings = settings
        if client is None:
            _need("clickhouse_connect")
            import clickhouse_connect

            client = clickhouse_connect.get_client(
                host=cfg["host"],
                port=cfg["port"],
                username=cfg["username"],
                password=os.environ.get(PASSWORD_ENV, ""),
                database=cfg["database"],
                secure=cfg["secure"],
                settings=settings,
            )
        self.client = client

    def _arrow(self, query: str) -> pa.Table:
        try:
            return self.client.query_arrow(query, settings=self.settings)
        except Exception as exc:
            raise _error(exc, query) from None

    def _command(self, query: str) -> None:
        try:
            self.client.command(query, settings=self.settings)
        except Exception as exc:
            raise _error(exc, query) from None

    def insert_arrow(self, table: str, data: Any, columns: Sequence[str] | None = None) -> int:
        tbl = to_arrow(data)
        if columns is not None:
            tbl = tbl.select(list(columns))
        if not tbl.num_rows:
            return 0
        self.client.insert_arrow(table, tbl, settings=self.settings)
        return tbl.num_rows

    def create_schema(self) -> None:
        if self.database != "default":
            self._command(f"CREATE DATABASE IF NOT EXISTS `{self.database}`")
        super().create_schema()

    def close(self) -> None:
        close = getattr(self.client, "close", None)
        if close:
            close()

    def describe(self) -> str:
        return self.address
