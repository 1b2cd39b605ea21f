"""DDL of the warehouse on ClickHouse: the same tables as :mod:`.schema`, as ClickHouse tables.

Choices (``docs/scale.md`` explains them at length):

- ``events`` is a ``ReplacingMergeTree`` partitioned by UTC month and ordered by
  ``(person_id, timestamp, uuid)``: one person's events are contiguous and in time
  order (funnels, retention, stickiness read them as one run), and a second copy of an
  event (same uuid, so the same person and time) is removed when parts merge. The
  loader already refuses uuids it has loaded; the engine is the safety net.
- ``person_id`` is part of the sorting key, so re-stitching an identity rewrites the
  events of the distinct ids whose person changed (insert the new rows, delete the
  old ones) instead of updating them in place.
- ``person_distinct_ids``, ``persons`` and ``meta`` are ``ReplacingMergeTree`` by their
  key; ``loads``, ``quarantine`` and ``identity_links`` are plain ``MergeTree``.
- Columns that may be NULL in DuckDB are ``Nullable`` here, so every query sees the same
  values.

For a cluster (``cluster=NAME``) every table is ``Replicated*MergeTree`` on each shard
(``<table>_local``) with a ``Distributed`` table of the usual name in front, sharded by
``cityHash64(person_id)`` for the person tables (``events``, ``persons``,
``person_distinct_ids``) so that all of one person's rows live on one shard: per-person
work (funnels, retention, stickiness, first touch) runs on each shard and only
per-group counts cross the network. Small bookkeeping tables (``loads``, ``meta``,
``quarantine``, ``identity_links``) are sharded by ``rand()``/their key.
"""

from __future__ import annotations

from dataclasses import dataclass

from .schema import SCHEMA_VERSION

_TYPE = {
    "VARCHAR": "String",
    "JSON": "String",
    "DOUBLE": "Float64",
    "FLOAT": "Float32",
    "INTEGER": "Int32",
    "BIGINT": "Int64",
    "HUGEINT": "Int128",
    "BOOLEAN": "Bool",
    "DATE": "Date32",
    "TIMESTAMP WITH TIME ZONE": "DateTime64(6, 'UTC')",
    "TIMESTAMP": "DateTime64(6, 'UTC')",
}
TS = "DateTime64(6, 'UTC')"


@dataclass(frozen=True)
class Table:
    """One warehouse table on ClickHouse."""

    name: str
    columns: tuple[tuple[str, str], ...]
    engine: str  # MergeTree family name without the Replicated prefix
    order_by: str
    partition_by: str | None = None
    #: sharding key of the Distributed table on a cluster
    shard_by: str = "rand()"
    settings: str = ""


@dataclass(frozen=True)
class Layout:
    """How a table is stored on ClickHouse (its columns come from the DuckDB schema)."""

    engine: str = "MergeTree"
    order_by: str = "tuple()"
    partition_by: str | None = None
    shard_by: str = "rand()"
    settings: str = ""


#: Storage of each table; a table of :data:`.schema.DDL` not listed is a plain MergeTree.
LAYOUT: dict[str, Layout] = {
    "meta": Layout("ReplacingMergeTree", "key"),
    "loads": Layout("MergeTree", "load_id", shard_by="load_id"),
    "events": Layout(
        "ReplacingMergeTree",
        "(person_id, timestamp, uuid)",
        partition_by="toYYYYMM(timestamp)",
        shard_by="cityHash64(ifNull(person_id, ''))",
        settings="allow_nullable_key = 1",
    ),
    "quarantine": Layout("MergeTree", "tuple()"),
    "identity_links": Layout(
        "MergeTree", "(distinct_id, anon_distinct_id)", shard_by="cityHash64(distinct_id)"
    ),
    "person_distinct_ids": Layout(
        "ReplacingMergeTree", "distinct_id", shard_by="cityHash64(person_id)"
    ),
    "persons": Layout("ReplacingMergeTree", "person_id", shard_by="cityHash64(person_id)"),
}


def _duckdb_columns() -> dict[str, list[tuple[str, str, bool]]]:
    """(column, DuckDB type, nullable) of every table of the DuckDB schema, in order:
    the one source of the warehouse's columns, whatever the engine."""
    import duckdb

    from .schema import DDL

    con = duckdb.connect(":memory:")
    try:
        for stmt in DDL:
            con.execute(stmt)
        rows = con.execute(
            "SELECT table_name, column_name, data_type, is_nullable FROM duckdb_columns() "
            "WHERE schema_name = 'main' AND NOT internal "
            "AND table_name IN (SELECT table_name FROM duckdb_tables()) "
            "ORDER BY table_name, column_index"
        ).fetchall()
    finally:
        con.close()
    out: dict[str, list[tuple[str, str, bool]]] = {}
    for table_name, col, typ, nullable in rows:
        out.setdefault(table_name, []).append((col, typ, bool(nullable)))
    return out


def _ch_type(duck: str, nullable: bool) -> str:
    base = _TYPE.get(duck.upper(), "String")
    return f"Nullable({base})" if nullable else base


def _tables() -> tuple[Table, ...]:
    cols = _duckdb_columns()
    order = [t for t in LAYOUT if t in cols] + sorted(t for t in cols if t not in LAYOUT)
    out = []
    for name in order:
        lay = LAYOUT.get(name, Layout())
        out.append(
            Table(
                name,
                tuple((c, _ch_type(t, n)) for c, t, n in cols[name]),
                lay.engine,
                lay.order_by,
                lay.partition_by,
                lay.shard_by,
                lay.settings,
            )
        )
    return tuple(out)


TABLES: tuple[Table, ...] = _tables()

TABLE_NAMES = tuple(t.name for t in TABLES)


def table(name: str) -> Table:
    """The table called ``name``."""
    for t in TABLES:
        if t.name == name:
            return t
    raise KeyError(name)


def _columns(t: Table) -> str:
    return ",\n    ".join(f"`{c}` {typ}" for c, typ in t.columns)


def _tail(t: Table, engine: str) -> str:
    parts = [f"ENGINE = {engine}"]
    if t.partition_by:
        parts.append(f"PARTITION BY {t.partition_by}")
    parts.append(f"ORDER BY {t.order_by}")
    if t.settings:
        parts.append(f"SETTINGS {t.settings}")
    return "\n".join(parts)


def single_server_ddl(database: str | None = None) -> list[str]:
    """CREATE statements for one server (or chdb): one MergeTree table per warehouse table."""
    q = f"`{database}`." if database else ""
    out = []
    if database:
        out.append(f"CREATE DATABASE IF NOT EXISTS `{database}`")
    for t in TABLES:
        out.append(
            f"CREATE TABLE IF NOT EXISTS {q}{t.name} (\n    {_columns(t)}\n)\n"
            f"{_tail(t, t.engine + '()')}"
        )
    return out


def cluster_ddl(cluster: str, database: str = "zantara") -> list[str]:
    """CREATE statements for a sharded, replicated cluster.

    On every node (``ON CLUSTER``): ``<table>_local`` as ``Replicated*MergeTree`` (the
    ZooKeeper/Keeper path and replica name come from the ``{shard}``/``{replica}``
    macros of each server's configuration) and ``<table>`` as a ``Distributed`` table
    over them, sharded as :data:`TABLES` says.
    """
    on = f"ON CLUSTER `{cluster}`"
    db = f"`{database}`"
    out = [f"CREATE DATABASE IF NOT EXISTS {db} {on}"]
    for t in TABLES:
        path = f"'/clickhouse/tables/{{shard}}/{database}/{t.name}'"
        engine = f"Replicated{t.engine}({path}, '{{replica}}')"
        out.append(
            f"CREATE TABLE IF NOT EXISTS {db}.{t.name}_local {on} (\n    {_columns(t)}\n)\n"
            f"{_tail(t, engine)}"
        )
        out.append(
            f"CREATE TABLE IF NOT EXISTS {db}.{t.name} {on} AS {db}.{t.name}_local\n"
            f"ENGINE = Distributed(`{cluster}`, {db}, {t.name}_local, {t.shard_by})"
        )
    return out


def ddl_script(cluster: str | None = None, database: str = "zantara") -> str:
    """The DDL as one script (``zantara-nb warehouse ddl --engine clickhouse``)."""
    stmts = cluster_ddl(cluster, database) if cluster else single_server_ddl(database)
    stmts.append(f"INSERT INTO `{database}`.meta VALUES ('schema_version', '{SCHEMA_VERSION}')")
    head = (
        f"-- zantara-nb warehouse schema v{SCHEMA_VERSION} for ClickHouse"
        + (f", cluster {cluster}" if cluster else ", one server")
        + "\n"
    )
    return head + "\n\n".join(s + ";" for s in stmts) + "\n"
