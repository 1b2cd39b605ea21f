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
from .tracking_plan import TYPED_COLUMNS

_TYPE = {
    "VARCHAR": "String",
    "DOUBLE": "Float64",
    "INTEGER": "Int32",
    "BIGINT": "Int64",
    "BOOLEAN": "Bool",
}
TS = "DateTime64(6, 'UTC')"


def _n(t: str) -> str:
    return f"Nullable({t})"


@dataclass(frozen=True)
class Table:
    """One warehouse table on ClickHouse."""

    name: str
    columns: tuple[tuple[str, str], ...]
    engine: str  # MergeTree family name without the Replicated prefix, with its args
    order_by: str
    partition_by: str | None = None
    #: sharding key of the Distributed table on a cluster
    shard_by: str = "rand()"
    settings: str = ""


def _typed() -> tuple[tuple[str, str], ...]:
    return tuple((c.name, _n(_TYPE[c.sql_type])) for c in TYPED_COLUMNS)


TABLES: tuple[Table, ...] = (
    Table("meta", (("key", "String"), ("value", _n("String"))), "ReplacingMergeTree", "key"),
    Table(
        "loads",
        (
            ("load_id", "Int32"),
            ("path", "String"),
            ("format", _n("String")),
            ("file_sha256", _n("String")),
            ("file_bytes", _n("Int64")),
            ("started_at", _n(TS)),
            ("finished_at", _n(TS)),
            ("rows_read", _n("Int64")),
            ("loaded", _n("Int64")),
            ("duplicates", _n("Int64")),
            ("quarantined", _n("Int64")),
            ("naive_timestamps", _n("Int64")),
            ("unknown_events", _n("Int64")),
            ("unknown_properties", _n("Int64")),
            ("redacted_properties", _n("Int64")),
            ("status", _n("String")),
            ("message", _n("String")),
        ),
        "MergeTree",
        "load_id",
        shard_by="load_id",
    ),
    Table(
        "events",
        (
            ("uuid", "String"),
            ("event", "String"),
            ("timestamp", TS),
            ("distinct_id", _n("String")),
            ("person_id", _n("String")),
            ("session_id", _n("String")),
            ("properties", _n("String")),
            ("set_props", _n("String")),
            ("anon_distinct_id", _n("String")),
            ("ip", _n("String")),
            *_typed(),
            ("load_id", _n("Int32")),
        ),
        "ReplacingMergeTree",
        "(person_id, timestamp, uuid)",
        partition_by="toYYYYMM(timestamp)",
        shard_by="cityHash64(ifNull(person_id, ''))",
        settings="allow_nullable_key = 1",
    ),
    Table(
        "quarantine",
        (
            ("load_id", _n("Int32")),
            ("file", _n("String")),
            ("line", _n("Int64")),
            ("reason", _n("String")),
            ("field", _n("String")),
            ("detail", _n("String")),
            ("distinct_id", _n("String")),
            ("raw", _n("String")),
            ("raw_hash", _n("String")),
        ),
        "MergeTree",
        "tuple()",
    ),
    Table(
        "identity_links",
        (
            ("distinct_id", "String"),
            ("anon_distinct_id", "String"),
            ("kind", _n("String")),
            ("timestamp", _n(TS)),
            ("uuid", _n("String")),
        ),
        "MergeTree",
        "(distinct_id, anon_distinct_id)",
        shard_by="cityHash64(distinct_id)",
    ),
    Table(
        "person_distinct_ids",
        (("distinct_id", "String"), ("person_id", "String")),
        "ReplacingMergeTree",
        "distinct_id",
        shard_by="cityHash64(person_id)",
    ),
    Table(
        "persons",
        (
            ("person_id", "String"),
            ("first_seen", _n(TS)),
            ("last_seen", _n(TS)),
            ("plan", _n("String")),
            ("language", _n("String")),
            ("timezone", _n("String")),
            ("country", _n("String")),
            ("user_type", _n("String")),
            ("created_at", _n("String")),
            ("distinct_ids", _n("Int32")),
        ),
        "ReplacingMergeTree",
        "person_id",
        shard_by="cityHash64(person_id)",
    ),
)

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
