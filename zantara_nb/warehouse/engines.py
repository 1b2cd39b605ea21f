"""Engines by name: what a :class:`~zantara_nb.warehouse.Warehouse` runs its SQL on.

An engine owns the connection and a :class:`~.dialects.Dialect`. Engines are registered
by name (the way papermill registers its engines and I/O handlers) so another one can
be added without touching the warehouse: ``duckdb`` is built in; the ClickHouse work
adds ``clickhouse`` and ``chdb``.

>>> from zantara_nb.warehouse.engines import engine_names, register_engine
>>> engine_names()
['chdb', 'clickhouse', 'duckdb']
"""

from __future__ import annotations

import os
from abc import ABC, abstractmethod
from collections.abc import Callable
from contextlib import nullcontext
from pathlib import Path
from typing import Any

import pandas as pd

from .dialects.base import Dialect


class Engine(ABC):
    """A live connection to one warehouse on one engine, with the engine's dialect."""

    name: str = ""
    dialect: Dialect

    #: Where the data lives (a file path), or None in memory / on a server.
    path: Path | None = None
    read_only: bool = False

    #: Only one process at a time can open the data (chdb: its embedded server holds the
    #: directory): a report run's notebooks then open it one after another.
    one_process_at_a_time: bool = False

    @abstractmethod
    def execute(self, query: str, params: list | dict | None = None) -> Any:
        """Run a statement; return the engine's cursor (fetch everything from it)."""

    @abstractmethod
    def frame(self, query: str, params: list | dict | None = None) -> pd.DataFrame:
        """Run a query and return its rows as a DataFrame (instants in UTC)."""

    def rows(self, query: str, params: list | dict | None = None) -> list[tuple]:
        """Run a query and return all its rows."""
        return self.execute(query, params).fetchall()

    @abstractmethod
    def create_schema(self) -> None:
        """Create the warehouse tables if they are missing."""

    @abstractmethod
    def close(self) -> None:
        """Release the connection."""

    def hold(self, mode: str = "read", *, wait: bool = True, purpose: str = "") -> Any:
        """A context manager holding the warehouse for ``"read"`` or ``"write"`` for a block.

        Engines whose readers and writers exclude each other (DuckDB's file) wait for their
        turn here and release the data between blocks; engines that serve many clients at
        once (a ClickHouse server) have nothing to hold.
        """
        return nullcontext()

    def describe(self) -> str:
        """Where this engine's data is, for messages and ``repr``."""
        return f"{self.name}:{self.path or ':memory:'}"

    # -- added for gdpr --
    # Primitives for the GDPR rights and the retention policy (zantara_nb.gdpr,
    # zantara_nb.retention_policy): find every table, create small tables, delete rows.
    # The defaults are portable SQL; an engine without multi-statement transactions
    # (ClickHouse) says so with ``transactional = False`` and overrides the rest.

    #: Several statements can be made one unit with BEGIN / COMMIT / ROLLBACK.
    transactional: bool = True

    def table_columns(self) -> dict[str, list[str]]:
        """Every table of the warehouse (this database only) and its column names."""
        rows = self.rows(
            "SELECT table_name, column_name FROM information_schema.columns "
            "WHERE table_catalog = current_database() AND table_schema = current_schema() "
            "ORDER BY table_name, ordinal_position"
        )
        out: dict[str, list[str]] = {}
        for table, column in rows:
            out.setdefault(str(table), []).append(str(column))
        return out

    def create_table(
        self, name: str, columns: list[tuple[str, str]], order_by: list[str] | None = None
    ) -> None:
        """``CREATE TABLE IF NOT EXISTS`` with portable column types (VARCHAR, BIGINT,
        INTEGER, DOUBLE, BOOLEAN, DATE, TIMESTAMPTZ, JSON); ``order_by`` is the sorting
        key where the engine has one."""
        cols = ", ".join(f"{self.dialect.ident(c)} {t}" for c, t in columns)
        self.execute(f"CREATE TABLE IF NOT EXISTS {self.dialect.ident(name)} ({cols})")

    def delete_where(self, table: str, predicate: str) -> int:
        """Delete the rows of ``table`` where ``predicate`` holds; returns how many."""
        t = self.dialect.ident(table)
        n = int(self.rows(f"SELECT count(*) FROM {t} WHERE {predicate}")[0][0])
        if n:
            self.execute(f"DELETE FROM {t} WHERE {predicate}")
        return n


EngineFactory = Callable[..., Engine]
_ENGINES: dict[str, EngineFactory] = {}


def register_engine(name: str, factory: EngineFactory) -> None:
    """Make an engine available by name (a later registration replaces an earlier one)."""
    _ENGINES[name] = factory


def engine_names() -> list[str]:
    """The names of the registered engines."""
    _builtin()
    return sorted(_ENGINES)


def get_engine(name: str) -> EngineFactory:
    """The factory of a registered engine; a clear error naming the known ones."""
    _builtin()
    try:
        return _ENGINES[name]
    except KeyError:
        known = ", ".join(sorted(_ENGINES))
        raise ValueError(f"unknown warehouse engine {name!r} (known: {known})") from None


def _builtin() -> None:
    if "duckdb" not in _ENGINES:
        from .duckdb_engine import DuckDBEngine

        register_engine("duckdb", DuckDBEngine)
    if "chdb" not in _ENGINES:
        # the module imports chdb / clickhouse-connect only when a warehouse is opened
        from .clickhouse_engine import ChdbEngine, ServerEngine

        register_engine("chdb", ChdbEngine)
        register_engine("clickhouse", ServerEngine)


#: Address prefixes that name their engine: ``chdb:data/zantara.chdb``,
#: ``clickhouse://user@host:8123/zantara``, ``duckdb:data/zantara.duckdb``.
_PREFIXES = (
    ("clickhouse://", "clickhouse"),
    ("clickhouses://", "clickhouse"),
    ("chdb:", "chdb"),
    ("duckdb:", "duckdb"),
)


def parse_address(address: str | None, engine: str | None = None) -> tuple[str, str | None]:
    """(engine name, location) of a warehouse address.

    A prefix names the engine (``chdb:PATH``, ``clickhouse://...``, ``duckdb:PATH``);
    otherwise ``engine``, else ``$ZANTARA_ENGINE``, else ``duckdb``. The location is the
    path (``None`` for the configured default), ``":memory:"``, or a server URL.
    """
    text = None if address is None else str(address)
    if text is not None:
        for prefix, name in _PREFIXES:
            if text.startswith(prefix):
                if engine is not None and engine != name:
                    raise ValueError(f"{text}: a {name} address, but engine={engine!r}")
                loc = text if name == "clickhouse" else text[len(prefix) :]
                return name, (loc or None)
    return engine or os.environ.get("ZANTARA_ENGINE") or "duckdb", text


def configured_address(address: str | os.PathLike | None) -> tuple[str, str | None]:
    """(engine, location) of ``address``, else of ``$ZANTARA_WAREHOUSE`` (see
    :func:`parse_address`)."""
    text = str(address) if address is not None and str(address) else None
    return parse_address(text or os.environ.get("ZANTARA_WAREHOUSE"))


def data_path(address: str | os.PathLike | None) -> Path | None:
    """The local file or directory holding the warehouse at ``address``, absolute (None
    on a server or in memory)."""
    from .. import config

    engine, where = configured_address(address)
    if engine == "clickhouse" or where == ":memory:":
        return None
    return config.warehouse_path(where).resolve()


def absolute_address(address: str | os.PathLike | None) -> str:
    """The warehouse ``address`` (None: the configured one) as another process, started in
    another directory, must be given it: a path made absolute, the engine named unless
    it is DuckDB's file (``chdb:/abs/dir``, ``/abs/file.duckdb``, a server URL as is)."""
    engine, where = configured_address(address)
    path = data_path(address)
    if path is None:
        return str(where) if engine == "clickhouse" else f"{engine}::memory:"
    return str(path) if engine == "duckdb" else f"{engine}:{path}"


def one_process_at_a_time(address: str | os.PathLike | None) -> bool:
    """Whether the engine of ``address`` lets only one process open its data at a time."""
    engine, _ = configured_address(address)
    return bool(getattr(get_engine(engine), "one_process_at_a_time", False))
