"""Pages of the PostHog pull as Arrow tables, and the DuckDB-specific work on them.

A query answer is checked and turned into an Arrow table with the columns of a PostHog
export (``uuid, event, timestamp, distinct_id, person_id, properties``, all text,
``properties`` the JSON object as text). A private in-memory DuckDB connection maps
PostHog's own names onto the tracking plan's (:data:`EVENT_MAP`) for pages and for
batch-export files alike, and finds PostHog's person of each distinct id.
"""

from __future__ import annotations

import contextlib
import json
from dataclasses import dataclass
from datetime import UTC, datetime

import duckdb
import pyarrow as pa
import pyarrow.compute as pc

from .posthog_api import PostHogQueryError, PostHogResponseError

#: The columns the pull selects, in order.
COLUMNS = ("uuid", "event", "timestamp", "distinct_id", "person_id", "properties")

#: PostHog's event names that the tracking plan spells differently.
EVENT_MAP = {"$pageview": "page_viewed"}

_EVENT_SQL = (
    "CASE "
    + " ".join(f"WHEN event = '{k}' THEN '{v}'" for k, v in EVENT_MAP.items())
    + " ELSE event END"
)
#: ``$pageview`` keeps its properties and gains the plan's ``path`` and ``referrer``.
_PROPS_SQL = """CASE WHEN event = '$pageview' AND json_valid(properties)
        AND starts_with(ltrim(properties), '{')
    THEN json_merge_patch(properties, json_object(
        'path', coalesce(properties->>'$.path', properties->>'$."$pathname"',
                    properties->>'$."$current_url"'),
        'referrer', coalesce(properties->>'$.referrer', properties->>'$."$referrer"')))::VARCHAR
    ELSE properties END"""

PAGE_SCHEMA = pa.schema([(c, pa.string()) for c in COLUMNS])


@dataclass
class Page:
    """One decoded answer."""

    table: pa.Table  # COLUMNS, text, in the server's order
    has_more: bool | None
    rows: int


def connection() -> duckdb.DuckDBPyConnection:
    con = duckdb.connect()
    con.execute("SET TimeZone = 'UTC'")
    with contextlib.suppress(duckdb.Error):
        con.execute("SET enable_progress_bar = false")
    con.execute("SET threads = 2")
    return con


def _column(values: tuple, name: str, url: str) -> pa.Array:
    try:
        return pa.array(values, pa.string())
    except (pa.ArrowTypeError, pa.ArrowInvalid):
        pass
    out = []
    for v in values:  # numbers, or properties given as an object: their JSON text
        if v is None or isinstance(v, str):
            out.append(v)
        else:
            out.append(json.dumps(v, separators=(",", ":")))
    return pa.array(out, pa.string())


def decode(con, body: bytes, url: str) -> Page:
    """Check and decode one ``HogQLQueryResponse``; raises on anything not documented.

    One ``json.loads`` (faster on one large document than DuckDB's single-threaded
    transform of it), then one Arrow column per selected column. A body that is not
    JSON, not an object, lacks ``results``/``columns``, or has rows of the wrong width is
    refused whole: nothing of the page is loaded. ``con`` is unused (kept for symmetry).
    """
    try:
        doc = json.loads(body)
    except ValueError as exc:
        raise PostHogResponseError(
            f"{url}: the answer is not valid JSON ({len(body):,} bytes: {exc}); "
            "nothing of this page was loaded"
        ) from None
    if not isinstance(doc, dict):
        raise PostHogResponseError(f"{url}: the answer is JSON but not an object")
    if doc.get("error"):
        raise PostHogQueryError(f"PostHog reported a query error: {doc['error']}")
    results, columns = doc.get("results"), doc.get("columns")
    if not isinstance(results, list) or not isinstance(columns, list):
        extra = f" ({doc['detail']})" if doc.get("detail") else ""
        raise PostHogResponseError(
            f"{url}: the answer has no results/columns arrays{extra}; nothing of this page "
            "was loaded"
        )
    missing = [c for c in COLUMNS if c not in columns]
    if missing:
        raise PostHogResponseError(f"{url}: the answer lacks columns {missing} (got {columns})")
    n = len(columns)
    bad = sum(1 for r in results if not isinstance(r, list) or len(r) != n)
    if bad:
        raise PostHogResponseError(
            f"{url}: {bad:,} result rows do not have the {n} columns announced; "
            "nothing of this page was loaded"
        )
    has_more = doc.get("hasMore")
    try:  # all text (the usual case): Arrow splits the rows itself
        rows = pa.array(results, pa.list_(pa.string()))
        arrays = [pc.list_element(rows, columns.index(c)) for c in COLUMNS]
    except (pa.ArrowTypeError, pa.ArrowInvalid):
        cols = list(zip(*results, strict=True)) if results else [()] * n
        arrays = [_column(cols[columns.index(c)], c, url) for c in COLUMNS]
    del doc, results
    table = pa.Table.from_arrays(arrays, schema=PAGE_SCHEMA)
    return Page(table, None if has_more is None else bool(has_more), table.num_rows)


def map_names(con: duckdb.DuckDBPyConnection, table: pa.Table, *, check: bool = False) -> pa.Table:
    """PostHog's names onto the plan's (:data:`EVENT_MAP`); other columns unchanged.
    ``check``: return ``table`` itself when no row needs it (no copy)."""
    if "event" not in table.column_names or "properties" not in table.column_names:
        return table
    if check and not pc.any(pc.is_in(table["event"], value_set=pa.array(list(EVENT_MAP)))).as_py():
        return table
    con.register("_ph_map", table)
    try:
        out = con.sql(
            f"SELECT * REPLACE ({_EVENT_SQL} AS event, {_PROPS_SQL} AS properties) FROM _ph_map"
        ).to_arrow_table()
    finally:
        con.unregister("_ph_map")
    return out


def latest_person(
    con: duckdb.DuckDBPyConnection, table: pa.Table, *, ordered: bool = False
) -> list[tuple]:
    """``(distinct_id, person_id, last_seen)`` per distinct id: the person of its latest
    event (``last_seen`` a datetime). ``ordered``: the rows are in time order (a page),
    so the last row of each distinct id is its latest; ``last_seen`` is then the text as
    PostHog sent it (see :func:`utc_texts`)."""
    if "person_id" not in table.column_names:
        return []
    if ordered:
        t = table.select(["distinct_id", "person_id", "timestamp"]).filter(
            pc.and_(pc.is_valid(table["distinct_id"]), pc.is_valid(table["person_id"]))
        )
        g = pa.TableGroupBy(t, "distinct_id", use_threads=False).aggregate(
            [("person_id", "last"), ("timestamp", "last")]
        )
        return list(
            zip(
                g["distinct_id"].to_pylist(),
                g["person_id_last"].to_pylist(),
                g["timestamp_last"].to_pylist(),
                strict=True,
            )
        )
    con.register("_ph_pp", table.select(["distinct_id", "person_id", "timestamp"]))
    try:
        rows = con.execute(
            """
            SELECT distinct_id, arg_max(person_id, ts), max(ts)
            FROM (SELECT distinct_id, person_id::VARCHAR AS person_id,
                         TRY_CAST(timestamp AS TIMESTAMPTZ) AS ts FROM _ph_pp)
            WHERE distinct_id IS NOT NULL AND person_id IS NOT NULL AND ts IS NOT NULL
            GROUP BY distinct_id
            """
        ).fetchall()
    finally:
        con.unregister("_ph_pp")
    return rows


def utc_texts(values: list[str]) -> list[str | None]:
    """ISO instants (any offset) as ``YYYY-MM-DD hh:mm:ss.ffffff`` UTC, vectorised."""
    arr = pa.array(values, pa.string())
    try:
        ts = pc.cast(arr, pa.timestamp("us", "UTC"))
        return pc.strftime(ts, format="%Y-%m-%d %H:%M:%S").to_pylist()
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
        out: list[str | None] = []
        for v in values:
            try:
                t = datetime.fromisoformat(str(v).replace("Z", "+00:00"))
            except ValueError:
                out.append(None)
                continue
            t = t.replace(tzinfo=UTC) if t.tzinfo is None else t.astimezone(UTC)
            out.append(t.strftime("%Y-%m-%d %H:%M:%S.%f"))
        return out


def insert_arrow(wh, table_name: str, table: pa.Table, columns: list[str]) -> None:
    """``INSERT INTO table_name (columns) SELECT * FROM table`` on the warehouse."""
    con = wh.con
    con.register("_ph_ins", table)
    try:
        con.execute(
            f"INSERT INTO {wh.dialect.ident(table_name)} ({', '.join(columns)}) "
            "SELECT * FROM _ph_ins"
        )
    finally:
        con.unregister("_ph_ins")
