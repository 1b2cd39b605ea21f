"""Helpers for the loader tests: small handwritten files, and a fast big-file generator.

Kept out of ``conftest.py`` (shared) on purpose; import what you need:
``from ingest_fixtures import write_jsonl, posthog, segment, NOW``.
"""

from __future__ import annotations

import csv
import gzip
import io
import json
from datetime import UTC, datetime
from pathlib import Path

#: The clock every test passes as ``now`` (future-timestamp rule).
NOW = datetime(2025, 12, 1, tzinfo=UTC)


def _open_text(path: Path, gz: bool):
    return (
        gzip.open(path, "wt", encoding="utf-8", newline="")
        if gz
        else open(path, "w", encoding="utf-8", newline="")
    )


def write_lines(path: Path, lines: list[str], gz: bool = False) -> Path:
    """Write raw lines (no JSON encoding), one per line."""
    with _open_text(path, gz) as f:
        for line in lines:
            f.write(line + "\n")
    return path


def write_jsonl(path: Path, rows: list, gz: bool = False) -> Path:
    """Rows are dicts (JSON-encoded) or strings (written as they are: bad lines)."""
    return write_lines(
        path, [r if isinstance(r, str) else json.dumps(r, separators=(",", ":")) for r in rows], gz
    )


def write_json_array(path: Path, rows: list, gz: bool = False, wrap: str | None = None) -> Path:
    """A JSON array (pretty-printed), or ``{wrap: [...]}`` (Segment's ``batch``)."""
    doc = {wrap: rows} if wrap else rows
    with _open_text(path, gz) as f:
        f.write(json.dumps(doc, indent=2))
    return path


def write_csv(path: Path, header: list[str], rows: list[list], gz: bool = False) -> Path:
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(header)
    for r in rows:
        w.writerow(["" if v is None else v for v in r])
    with _open_text(path, gz) as f:
        f.write(buf.getvalue())
    return path


def write_parquet(path: Path, columns: dict[str, list], schema=None) -> Path:
    import pyarrow as pa
    import pyarrow.parquet as pq

    table = pa.table(columns, schema=schema)
    pq.write_table(table, path)
    return path


def posthog(
    uuid: str | None,
    event: str | None,
    distinct_id: str | None = "user_1",
    timestamp: str | None = "2025-11-15T14:30:00Z",
    **properties,
) -> dict:
    """A PostHog export row (``properties`` as an object); None leaves a field out."""
    row = {"uuid": uuid, "event": event, "distinct_id": distinct_id, "timestamp": timestamp}
    row = {k: v for k, v in row.items() if v is not None}
    row["properties"] = properties
    return row


def segment(
    message_id: str | None,
    event: str | None = None,
    user_id: str | None = "user_1",
    anonymous_id: str | None = None,
    timestamp: str | None = "2025-11-15T14:30:00Z",
    type: str = "track",
    properties: dict | None = None,
    context: dict | None = None,
    **extra,
) -> dict:
    """A Segment message; None leaves a field out."""
    row = {
        "type": type,
        "event": event,
        "userId": user_id,
        "anonymousId": anonymous_id,
        "timestamp": timestamp,
        "messageId": message_id,
        "properties": properties,
        "context": context,
        **extra,
    }
    return {k: v for k, v in row.items() if v is not None}


# --------------------------------------------------------------------------------------
# Big generated files (DuckDB COPY: millions of rows in seconds)
# --------------------------------------------------------------------------------------

#: Share of generated lines that are bad, by kind (quarantined on load).
BAD_KINDS = (
    "truncated",
    "no_event",
    "bad_timestamp",
    "no_distinct_id",
    "future",
    "wrong_type",
)


def generate_posthog_jsonl(path: str | Path, n: int, bad_every: int = 100, con=None) -> dict:
    """Write ``n`` PostHog-style JSONL events with realistic ZANTARA properties.

    One line in ``bad_every`` is bad (cycling through :data:`BAD_KINDS`); the uuids are
    deterministic (md5 of the row number), timestamps spread over June-November 2025.
    Returns the expected counts: ``{"rows", "bad", "bad_by_kind"}``.
    """
    import duckdb

    con = con or duckdb.connect()
    con.execute("SET TimeZone = 'UTC'")
    con.execute("SET enable_progress_bar = false")
    events = [
        ("message_sent", 30),
        ("message_received", 30),
        ("$ai_generation", 10),
        ("conversation_started", 8),
        ("page_viewed", 8),
        ("feedback_given", 5),
        ("source_clicked", 4),
        ("user_logged_in", 3),
        ("$identify", 1),
        ("subscription_started", 1),
    ]
    wheel = [name for name, w in events for _ in range(w)]
    wheel_sql = "[" + ", ".join(f"'{e}'" for e in wheel) + "]"
    kinds = len(BAD_KINDS)
    sql = f"""
    COPY (
      WITH base AS (
        SELECT i,
          {wheel_sql}[1 + (hash(i) % {len(wheel)})::INTEGER] AS ev,
          'user_' || (hash(i * 7) % 50000)::VARCHAR AS did,
          TIMESTAMPTZ '2025-06-01 00:00:00+00'
            + to_seconds((hash(i * 13) % (180 * 86400))::BIGINT) AS ts
        FROM range({int(n)}) t(i)
      ), rows AS (
        SELECT i, json_object(
          'uuid', md5(i::VARCHAR)::UUID::VARCHAR,
          'event', ev,
          'distinct_id', did,
          'timestamp', strftime(ts, '%Y-%m-%dT%H:%M:%S.%g') || '+00:00',
          'properties', CASE ev
            WHEN 'message_sent' THEN json_object(
              'session_id', 's' || (i // 20)::VARCHAR, 'message_id', 'm' || i::VARCHAR,
              'query_length', (hash(i) % 400)::INTEGER,
              'query_category', ['visa', 'tax', 'company', 'property'][1 + (i % 4)::INTEGER],
              'query_language', ['en', 'id'][1 + (i % 2)::INTEGER],
              'query_complexity', ['simple', 'medium', 'complex'][1 + (i % 3)::INTEGER],
              'query_intent', 'information', 'conversation_turn', (i % 10)::INTEGER,
              'query_hash', md5(i::VARCHAR), '$ip', '203.0.113.' || (i % 250)::VARCHAR,
              '$browser', 'Chrome', '$os', 'Mac OS X', '$current_url', 'https://zantara.example/chat',
              '$lib', 'web')
            WHEN 'message_received' THEN json_object(
              'session_id', 's' || (i // 20)::VARCHAR, 'message_id', 'm' || (i - 1)::VARCHAR,
              'response_tokens', (hash(i) % 900)::INTEGER,
              'response_latency_ms', (hash(i * 3) % 9000)::INTEGER,
              'response_cost_usd', (hash(i) % 1000) / 100000.0, 'model_used', 'claude-3-5-sonnet',
              'sources_count', (i % 4)::INTEGER, 'sources_shown', true,
              '$ip', '2001:db8:' || (i % 99)::VARCHAR || '::' || (i % 7)::VARCHAR, '$lib', 'web')
            WHEN '$ai_generation' THEN json_object(
              '$ai_model', 'claude-3-5-sonnet', '$ai_provider', 'anthropic',
              '$ai_input_tokens', (hash(i) % 2000)::INTEGER, '$ai_output_tokens', (hash(i) % 900)::INTEGER,
              '$ai_latency', (hash(i) % 9000) / 1000.0, '$ai_total_cost_usd', 0.002,
              '$ai_is_error', false, '$ai_trace_id', 't' || i::VARCHAR)
            WHEN 'conversation_started' THEN json_object(
              'session_id', 's' || (i // 20)::VARCHAR, 'is_new_user', i % 5 = 0,
              'previous_sessions', (i % 30)::INTEGER, '$ip', '198.51.100.' || (i % 250)::VARCHAR)
            WHEN 'page_viewed' THEN json_object(
              'path', '/chat', 'referrer', 'https://google.com', 'utm_source', 'google',
              '$ip', '198.51.100.23', '$current_url', 'https://zantara.example/')
            WHEN 'feedback_given' THEN json_object(
              'session_id', 's' || (i // 20)::VARCHAR, 'message_id', 'm' || i::VARCHAR,
              'rating', [1, -1][1 + (i % 2)::INTEGER], 'has_text', false)
            WHEN 'source_clicked' THEN json_object(
              'message_id', 'm' || i::VARCHAR, 'document_id', 'doc_' || (i % 300)::VARCHAR,
              'source_position', (i % 3)::INTEGER + 1, 'document_title', 'B211A Visa Requirements')
            WHEN 'user_logged_in' THEN json_object(
              'login_method', 'email', 'session_id', 's' || (i // 20)::VARCHAR)
            WHEN '$identify' THEN json_object(
              '$anon_distinct_id', 'anon_' || (hash(i * 7) % 50000)::VARCHAR,
              '$set', json_object('plan', 'pro', 'language', 'en', 'country', 'ID'))
            ELSE json_object(
              'plan', 'pro', 'price_usd', 29, 'billing_period', 'monthly',
              'payment_method', 'stripe', 'days_since_signup', (i % 90)::INTEGER)
          END
        )::VARCHAR AS line FROM base
      )
      SELECT CASE WHEN i % {int(bad_every)} = {int(bad_every) - 1} THEN
        CASE (i // {int(bad_every)}) % {kinds}
          WHEN 0 THEN left(line, 40)
          WHEN 1 THEN replace(line, '"event":', '"evnt":')
          WHEN 2 THEN replace(line, '"timestamp":"', '"timestamp":"not a time ')
          WHEN 3 THEN replace(line, '"distinct_id":', '"user":')
          WHEN 4 THEN regexp_replace(line, '"timestamp":"[^"]*"', '"timestamp":"2099-01-01T00:00:00Z"')
          ELSE replace(regexp_replace(line, '"event":"[^"]*"', '"event":"nps_submitted"'),
                       '"properties":{{', '"properties":{{"score":"ten",')
        END ELSE line END AS line
      FROM rows
    ) TO '{Path(path)}' (FORMAT csv, HEADER false, QUOTE '', ESCAPE '', DELIM '\x1e')
    """
    con.execute(sql)
    bad = n // bad_every
    by_kind = {k: 0 for k in BAD_KINDS}
    for j in range(bad):
        by_kind[BAD_KINDS[j % kinds]] += 1
    return {"rows": n, "bad": bad, "bad_by_kind": by_kind}
