"""The DuckDB-specific half of the PostHog pull: decoding answers, moving Arrow tables.

A query answer is parsed once by DuckDB (yyjson) on a private in-memory connection into
an Arrow table with the columns of a PostHog export (``uuid, event, timestamp,
distinct_id, person_id, properties``, all text, ``properties`` the JSON object as text).
No row becomes a Python object. The same connection maps PostHog's own names onto the
tracking plan's (:data:`EVENT_MAP`) for pages and for batch-export files alike.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass

import duckdb
import pyarrow as pa

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


def decode(con: duckdb.DuckDBPyConnection, body: bytes, url: str) -> Page:
    """Check and decode one ``HogQLQueryResponse``; raises on anything not documented."""
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise PostHogResponseError(f"{url}: the answer is not UTF-8 ({exc})") from None
    try:
        con.execute("CREATE OR REPLACE TEMP TABLE _ph_page AS SELECT ?::JSON AS j", [text])
    except duckdb.Error as exc:
        msg = str(exc).splitlines()[0][:200]
        raise PostHogResponseError(
            f"{url}: the answer is not valid JSON ({len(body):,} bytes: {msg}); "
            "nothing of this page was loaded"
        ) from None
    del text
    head = con.execute(
        """
        SELECT json_type(j), json_type(j, '$.results'), json_type(j, '$.columns'),
               j->'$.columns', j->>'$.hasMore', j->>'$.error', j->>'$.detail'
        FROM _ph_page
        """
    ).fetchall()[0]
    kind, rtype, ctype, cols_json, has_more, error, detail = head
    if kind != "OBJECT":
        raise PostHogResponseError(f"{url}: the answer is JSON but not an object ({kind})")
    if error:
        raise PostHogQueryError(f"PostHog reported a query error: {error}")
    if rtype != "ARRAY" or ctype != "ARRAY":
        extra = f" ({detail})" if detail else ""
        raise PostHogResponseError(
            f"{url}: the answer has no results/columns arrays{extra}; nothing of this page "
            "was loaded"
        )
    import json

    columns = json.loads(cols_json)
    missing = [c for c in COLUMNS if c not in columns]
    if missing:
        raise PostHogResponseError(f"{url}: the answer lacks columns {missing} (got {columns})")
    pos = {c: columns.index(c) + 1 for c in COLUMNS}
    n = len(columns)
    bad = con.execute(
        """
        SELECT count(*) FILTER (WHERE json_type(r) <> 'ARRAY' OR json_array_length(r) <> ?)
        FROM (SELECT unnest(json_extract(j, '$.results[*]')) AS r FROM _ph_page)
        """,
        [n],
    ).fetchall()[0][0]
    if bad:
        raise PostHogResponseError(
            f"{url}: {bad:,} result rows do not have the {n} columns announced; "
            "nothing of this page was loaded"
        )
    picks = ", ".join(f"r[{pos[c]}] AS {c}" for c in COLUMNS)
    table = con.sql(
        f"""
        SELECT {picks}
        FROM (SELECT unnest(json_transform(j->'$.results', '[["VARCHAR"]]')) AS r FROM _ph_page)
        """
    ).to_arrow_table()
    con.execute("DROP TABLE _ph_page")
    more = None if has_more is None else has_more == "true"
    return Page(table.cast(PAGE_SCHEMA), more, table.num_rows)


def map_names(con: duckdb.DuckDBPyConnection, table: pa.Table) -> pa.Table:
    """PostHog's names onto the plan's (:data:`EVENT_MAP`); other columns unchanged."""
    if "event" not in table.column_names or "properties" not in table.column_names:
        return table
    con.register("_ph_map", table)
    try:
        out = con.sql(
            f"SELECT * REPLACE ({_EVENT_SQL} AS event, {_PROPS_SQL} AS properties) FROM _ph_map"
        ).to_arrow_table()
    finally:
        con.unregister("_ph_map")
    return out


def latest_person(con: duckdb.DuckDBPyConnection, table: pa.Table) -> list[tuple]:
    """``(distinct_id, person_id, last_seen)`` per distinct id: the person of its latest event."""
    if "person_id" not in table.column_names:
        return []
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
