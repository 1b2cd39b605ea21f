"""Every input format loads into the same canonical events (and gzip of each text one)."""

from __future__ import annotations

import gzip
import json
import shutil

import pyarrow as pa
import pytest
from ingest_fixtures import (
    NOW,
    posthog,
    segment,
    write_csv,
    write_json_array,
    write_jsonl,
    write_parquet,
)

from zantara_nb.ingest import ingest
from zantara_nb.warehouse import Warehouse


def events(wh, where: str = "true"):
    return wh.sql(f"SELECT * FROM events WHERE {where} ORDER BY timestamp, uuid")


def rows(wh, sql: str, params=None) -> list[list]:
    return [list(r) for r in wh.execute(sql, params).fetchall()]


def one(wh, uuid: str) -> dict:
    df = wh.sql("SELECT * FROM events WHERE uuid = ?", [uuid])
    assert len(df) == 1, f"{uuid}: {len(df)} rows"
    return df.iloc[0].to_dict()


# --------------------------------------------------------------------------------------
# PostHog JSON lines
# --------------------------------------------------------------------------------------


def test_posthog_jsonl_canonical_columns(wh, tmp_path):
    path = write_jsonl(
        tmp_path / "ph.jsonl",
        [
            posthog(
                "e1",
                "message_sent",
                "user_1",
                "2025-11-15T14:30:00+07:00",
                session_id="s1",
                message_id="m1",
                query_length=42,
                query_category="visa",
                query_language="en",
                query_complexity="medium",
                query_intent="information",
                conversation_turn=3,
                days_since_signup=12,
            ),
            posthog(
                "e2",
                "$ai_generation",
                "user_1",
                "2025-11-15T07:31:00Z",
                **{
                    "$ai_model": "claude-3-5-sonnet",
                    "$ai_latency": 1.25,
                    "$ai_output_tokens": 320,
                    "$ai_total_cost_usd": 0.0032,
                    "$ai_is_error": False,
                    "$session_id": "s1",
                },
            ),
            posthog(
                "e3",
                "message_received",
                "user_1",
                "2025-11-15T07:32:00Z",
                session_id="s1",
                message_id="m1",
                response_tokens=320,
                response_latency_ms=1850,
                response_cost_usd=0.0032,
                model_used="claude-3-5-sonnet",
                sources_count=3,
                sources_shown=True,
            ),
            posthog(
                "e4",
                "$feature_flag_called",
                "user_1",
                "2025-11-15T07:33:00Z",
                **{"$feature_flag": "voice", "$feature_flag_response": True},
            ),
        ],
    )
    [s] = ingest(wh, path, now=NOW)
    assert (s.format, s.rows_read, s.loaded, s.duplicates, s.quarantined) == (
        "posthog-jsonl",
        4,
        4,
        0,
        {},
    )
    assert s.adds_up and s.status == "ok" and not s.nothing_read
    e1 = one(wh, "e1")
    assert str(e1["timestamp"]) == "2025-11-15 07:30:00+00:00"
    assert e1["event"] == "message_sent" and e1["distinct_id"] == "user_1"
    assert e1["person_id"] == "user_1" and e1["session_id"] == "s1"
    assert e1["message_id"] == "m1" and e1["query_length"] == 42
    assert e1["query_category"] == "visa" and e1["query_intent"] == "information"
    assert e1["conversation_turn"] == 3 and e1["days_since_signup"] == 12
    assert e1["load_id"] == s.load_id
    assert json.loads(e1["properties"])["query_complexity"] == "medium"
    e2 = one(wh, "e2")
    assert e2["response_latency_ms"] == pytest.approx(1250.0)  # $ai_latency seconds -> ms
    assert e2["response_tokens"] == 320 and e2["model_used"] == "claude-3-5-sonnet"
    assert e2["response_cost_usd"] == pytest.approx(0.0032) and e2["is_error"] is False
    assert e2["session_id"] == "s1"  # from $session_id
    e3 = one(wh, "e3")
    assert e3["response_latency_ms"] == 1850 and e3["sources_count"] == 3
    e4 = one(wh, "e4")
    assert e4["feature_flag"] == "voice" and e4["feature_flag_response"] == "true"
    loads = wh.sql("SELECT * FROM loads")
    assert len(loads) == 1
    row = loads.iloc[0]
    assert row["status"] == "ok" and row["rows_read"] == 4 and row["loaded"] == 4
    assert row["format"] == "posthog-jsonl" and len(row["file_sha256"]) == 64
    assert row["file_bytes"] == path.stat().st_size


def test_posthog_properties_as_json_string(wh, tmp_path):
    row = {
        "uuid": "s1",
        "event": "message_sent",
        "distinct_id": "u",
        "timestamp": "2025-11-15T07:30:00Z",
        "properties": json.dumps({"query_length": 7, "$ip": "203.0.113.9"}),
    }
    [s] = ingest(wh, write_jsonl(tmp_path / "ph.jsonl", [row]), now=NOW)
    assert s.loaded == 1
    e = one(wh, "s1")
    assert e["query_length"] == 7 and json.loads(e["properties"])["$ip"] == "203.0.113.0"


# --------------------------------------------------------------------------------------
# Segment
# --------------------------------------------------------------------------------------

SEGMENT_ROWS = [
    segment(
        "m1",
        "message_sent",
        user_id="user_1",
        anonymous_id="anon_1",
        timestamp="2025-11-15T14:30:00.000Z",
        properties={"session_id": "s1", "query_length": 42, "query_category": "visa"},
        context={
            "device": "mobile",
            "os": "iOS 17.2",
            "browser": "Safari 17.0",
            "screen": "375x812",
            "timezone": "Asia/Jakarta",
            "locale": "id-ID",
            "ip": "203.0.113.42",
            "userAgent": "Mozilla/5.0",
            "referrer": "https://google.com/search?q=bali+visa",
            "utm": {"source": "google", "medium": "organic", "campaign": None},
        },
    ),
    segment(
        "m2",
        type="identify",
        user_id="user_1",
        anonymous_id="anon_1",
        timestamp="2025-11-15T14:29:00Z",
        traits={"plan": "pro", "email": "a@b.c", "country": "ID"},
    ),
    segment(
        "m3", type="alias", user_id="user_1", timestamp="2025-11-15T14:31:00Z", previousId="anon_0"
    ),
    segment(
        "m4",
        type="page",
        user_id=None,
        anonymous_id="anon_0",
        timestamp="2025-11-15T14:00:00Z",
        properties={"path": "/chat", "referrer": "https://google.com"},
    ),
]


def _check_segment(wh, s, element_lines: bool = False):
    assert (s.format, s.rows_read, s.loaded, s.quarantined) == ("segment", 4, 4, {})
    m1 = one(wh, "m1")
    assert m1["distinct_id"] == "user_1" and m1["anon_distinct_id"] == "anon_1"
    assert m1["ip"] == "203.0.113.0" and m1["utm_source"] == "google"
    props = json.loads(m1["properties"])
    assert props["$ip"] == "203.0.113.0"
    assert props["locale"] == "id-ID" and props["timezone"] == "Asia/Jakarta"
    assert props["utm_source"] == "google" and props["utm_medium"] == "organic"
    assert "utm_campaign" not in props  # null in the context
    assert props["user_agent"] == "Mozilla/5.0" and props["device"] == "mobile"
    assert props["query_length"] == 42 and m1["query_length"] == 42
    m2 = one(wh, "m2")
    assert m2["event"] == "$identify" and json.loads(m2["set_props"])["plan"] == "pro"
    m3 = one(wh, "m3")
    assert m3["event"] == "$create_alias" and m3["anon_distinct_id"] == "anon_0"
    m4 = one(wh, "m4")
    assert m4["event"] == "page_viewed" and m4["distinct_id"] == "anon_0"
    links = rows(
        wh, "SELECT distinct_id, anon_distinct_id, kind, uuid FROM identity_links ORDER BY uuid"
    )
    assert links == [
        ["user_1", "anon_1", "segment_both", "m1"],
        ["user_1", "anon_1", "identify", "m2"],
        ["user_1", "anon_0", "alias", "m3"],
    ]
    # stitching ran: the anonymous page view now belongs to the user
    assert one(wh, "m4")["person_id"] == "user_1"
    assert s.identity_links == 3


def test_segment_jsonl(wh, tmp_path):
    [s] = ingest(wh, write_jsonl(tmp_path / "seg.jsonl", SEGMENT_ROWS), now=NOW)
    _check_segment(wh, s)


def test_segment_json_array(wh, tmp_path):
    data = [
        *SEGMENT_ROWS[:2],
        "not an object",
        *SEGMENT_ROWS[2:],
        segment("m9", "message_sent", None),
    ]
    [s] = ingest(wh, write_json_array(tmp_path / "seg.json", data), now=NOW)
    assert s.rows_read == 6 and s.loaded == 4
    assert s.quarantined == {"malformed_json": 1, "missing_distinct_id": 1}
    q = rows(wh, "SELECT line, reason, field FROM quarantine ORDER BY line")
    # element numbers (1-based) stand in for line numbers
    assert q == [[3, "malformed_json", None], [6, "missing_distinct_id", "distinct_id"]]


def test_segment_batch_document(wh, tmp_path):
    path = write_json_array(tmp_path / "batch.json", SEGMENT_ROWS, wrap="batch")
    [s] = ingest(wh, path, now=NOW)
    _check_segment(wh, s)


def test_segment_type_defaults_to_track_and_seed_example(wh, tmp_path):
    seed = {  # the seed report's own example (section 3), camelCase properties included
        "event": "message_sent",
        "userId": "user_123abc",
        "anonymousId": "anon_xyz789",
        "timestamp": "2025-11-15T14:30:00.000Z",
        "properties": {
            "sessionId": "session_abc123",
            "queryLength": 42,
            "queryCategory": "visa",
            "queryLanguage": "en",
            "conversationTurn": 3,
            "queryHash": "sha256_hash_of_query",
        },
        "context": {"ip": "203.0.113.42", "locale": "id-ID", "utm": {"source": "google"}},
    }
    [s] = ingest(wh, write_jsonl(tmp_path / "seed.jsonl", [seed]), format="segment", now=NOW)
    assert s.loaded == 1
    e = events(wh).iloc[0]
    # no messageId: the uuid is a hash of the line
    assert len(e["uuid"]) == 36
    assert e["session_id"] == "session_abc123" and e["query_category"] == "visa"
    assert e["query_length"] == 42 and e["conversation_turn"] == 3
    props = json.loads(e["properties"])
    assert props["query_hash"] == "sha256_hash_of_query" and "queryHash" not in props
    assert sum(1 for k in s.naming_problems if "camelCase" in k) == 6


# --------------------------------------------------------------------------------------
# PostHog CSV and Parquet
# --------------------------------------------------------------------------------------


def test_posthog_csv_flattened_columns(wh, tmp_path):
    header = [
        "event",
        "*.uuid",
        "*.event",
        "*.properties.query_length",
        "*.properties.query_category",
        "*.properties.sources_shown",
        "*.properties.$ip",
        "*.timestamp",
        "*.team_id",
        "*.distinct_id",
        "*.elements_chain",
        "*.created_at",
    ]
    rows = [
        [
            "message_sent",
            "c1",
            "message_sent",
            "42",
            "visa",
            "",
            "203.0.113.9",
            "2025-11-15T14:30:00+07:00",
            "1",
            "user_1",
            "",
            "2025-11-15T07:30:01Z",
        ],
        [
            "message_received",
            "c2",
            "message_received",
            "",
            "",
            "true",
            "",
            "2025-11-15T07:31:00Z",
            "1",
            "user_1",
            "",
            "2025-11-15T07:31:01Z",
        ],
        [
            "message_sent",
            "c3",
            "message_sent",
            "many",
            "tax",
            "",
            "",
            "2025-11-15T07:32:00Z",
            "1",
            "user_1",
            "",
            "",
        ],
    ]
    [s] = ingest(wh, write_csv(tmp_path / "export.csv", header, rows), now=NOW)
    assert (s.format, s.rows_read, s.loaded) == ("posthog-csv", 3, 2)
    assert s.quarantined == {"invalid_property": 1}
    c1 = one(wh, "c1")
    assert c1["query_length"] == 42 and c1["query_category"] == "visa"
    assert str(c1["timestamp"]) == "2025-11-15 07:30:00+00:00"
    assert json.loads(c1["properties"]) == {
        "query_length": 42,
        "query_category": "visa",
        "$ip": "203.0.113.0",
    }
    assert json.loads(one(wh, "c2")["properties"]) == {"sources_shown": True}
    q = wh.sql("SELECT line, reason, field, detail, raw FROM quarantine").iloc[0]
    assert (q["line"], q["field"]) == (4, "query_length")
    assert q["detail"] == 'expected int, got "many"'
    assert q["raw"].startswith("message_sent,c3,message_sent,many,tax")


def test_posthog_csv_properties_json_column(wh, tmp_path):
    header = ["uuid", "event", "distinct_id", "timestamp", "properties", "person_id"]
    rows = [
        [
            "p1",
            "message_received",
            "u1",
            "2025-11-15T07:30:00Z",
            json.dumps({"response_latency_ms": 1200, "model_used": "claude"}),
            "x",
        ],
        [
            "p2",
            "message_received",
            "u1",
            "2025-11-15T07:31:00Z",
            json.dumps({"response_latency_ms": "fast"}),
            "x",
        ],
    ]
    [s] = ingest(wh, write_csv(tmp_path / "hogql.csv", header, rows), now=NOW)
    assert s.format == "posthog-csv" and s.loaded == 1
    assert s.quarantined == {"invalid_property": 1}
    assert one(wh, "p1")["response_latency_ms"] == 1200
    assert one(wh, "p1")["person_id"] == "u1"  # recomputed, not the export's person_id


def _posthog_parquet(path):
    ts = pa.array(
        [1763191800_000000, 1763191860_000000, 1763191920_000000], pa.timestamp("us", tz="UTC")
    )
    return write_parquet(
        path,
        {
            "uuid": ["q1", "q2", "q3"],
            "event": ["message_sent", "nps_submitted", "$identify"],
            "distinct_id": ["user_1", "user_1", "user_1"],
            "person_id": ["p", "p", "p"],
            "properties": [
                json.dumps({"query_length": 5, "$ip": "203.0.113.77", "session_id": "s9"}),
                json.dumps({"score": 11}),
                json.dumps({"$anon_distinct_id": "anon_9", "$set": {"plan": "pro"}}),
            ],
            "person_properties": ["{}", "{}", "{}"],
            "elements_chain": ["", "", ""],
            "timestamp": ts,
            "created_at": ts,
            "_inserted_at": ts,
        },
    )


def test_posthog_parquet_batch_export(wh, tmp_path):
    [s] = ingest(wh, _posthog_parquet(tmp_path / "export.parquet"), now=NOW)
    assert (s.format, s.rows_read, s.loaded) == ("posthog-parquet", 3, 2)
    assert s.naive_timestamps == 0
    q1 = one(wh, "q1")
    assert str(q1["timestamp"]) == "2025-11-15 07:30:00+00:00"
    assert q1["query_length"] == 5 and q1["session_id"] == "s9" and q1["ip"] == "203.0.113.0"
    q3 = one(wh, "q3")
    assert json.loads(q3["set_props"]) == {"plan": "pro"} and q3["anon_distinct_id"] == "anon_9"
    q = wh.sql("SELECT line, reason, field, detail, raw FROM quarantine").iloc[0]
    assert (q["line"], q["reason"], q["field"]) == (2, "invalid_property", "score")
    assert q["detail"] == "value 11 is above the maximum 10"
    assert json.loads(q["raw"])["uuid"] == "q2"


# --------------------------------------------------------------------------------------
# Plain Parquet / CSV with a mapping
# --------------------------------------------------------------------------------------

MAPPING = {"event": "action", "timestamp": "ts", "distinct_id": "user"}


def test_plain_parquet_with_mapping(wh, tmp_path):
    path = write_parquet(
        tmp_path / "plain.parquet",
        {
            "action": ["message_sent", "feedback_given", "feedback_given"],
            "ts": pa.array([1763191800_000000] * 3, pa.timestamp("us")),
            "user": ["u1", "u1", "u2"],
            "rating": [None, 1, 5],
            "query_length": [10, None, None],
            "sessionId": ["s1", "s1", "s2"],
        },
    )
    [s] = ingest(wh, path, mapping=MAPPING, now=NOW)
    assert (s.format, s.rows_read, s.loaded) == ("parquet", 3, 2)
    assert s.naive_timestamps == 2  # a TIMESTAMP column without a zone is taken as UTC
    df = events(wh)
    assert set(df["event"]) == {"message_sent", "feedback_given"}
    ms = df[df["event"] == "message_sent"].iloc[0]
    assert json.loads(ms["properties"]) == {"query_length": 10, "session_id": "s1"}
    assert ms["query_length"] == 10 and ms["session_id"] == "s1"
    assert len(ms["uuid"]) == 36  # no id column: hash of the row
    q = rows(wh, "SELECT line, reason, field FROM quarantine")
    assert q == [[3, "invalid_property", "rating"]]


def test_plain_csv_with_mapping_and_canonical_names(wh, tmp_path):
    path = write_csv(
        tmp_path / "plain.csv",
        ["action", "ts", "user", "rating", "has_text", "note"],
        [
            ["feedback_given", "2025-11-15T10:00:00Z", "u1", "1", "false", "hello"],
            ["feedback_given", "2025-11-15T10:00:00", "u1", "-1", "true", ""],
        ],
    )
    [s] = ingest(wh, path, mapping=MAPPING, now=NOW)
    assert (s.format, s.loaded, s.naive_timestamps) == ("csv", 2, 1)
    props = [json.loads(p) for p in events(wh)["properties"]]
    assert {"rating": 1, "has_text": False, "note": "hello"} in props
    assert {"rating": -1, "has_text": True} in props
    assert s.unknown_properties == {"feedback_given.note": 1}
    # canonical column names need no mapping
    path2 = write_csv(
        tmp_path / "canon.csv",
        ["event", "timestamp", "distinct_id", "uuid", "plan"],
        [["subscription_started", "2025-11-15T10:00:00Z", "u9", "id-1", "pro"]],
    )
    [s2] = ingest(wh, path2, now=NOW)
    assert s2.format == "csv" and s2.loaded == 1 and one(wh, "id-1")["plan"] == "pro"


# --------------------------------------------------------------------------------------
# gzip
# --------------------------------------------------------------------------------------


def _gzip(path):
    gz = path.with_name(path.name + ".gz")
    with open(path, "rb") as src, gzip.open(gz, "wb") as dst:
        shutil.copyfileobj(src, dst)
    return gz


@pytest.mark.parametrize(
    "name,maker,fmt",
    [
        ("seg.jsonl", lambda p: write_jsonl(p, SEGMENT_ROWS), "segment"),
        ("seg.json", lambda p: write_json_array(p, SEGMENT_ROWS), "segment"),
        (
            "ph.jsonl",
            lambda p: write_jsonl(p, [posthog("g1", "message_sent", query_length=1), "{bad"]),
            "posthog-jsonl",
        ),
        (
            "ph.csv",
            lambda p: write_csv(
                p,
                ["*.uuid", "*.event", "*.distinct_id", "*.timestamp", "*.properties.query_length"],
                [["g1", "message_sent", "u", "2025-11-15T07:30:00Z", "1"]],
            ),
            "posthog-csv",
        ),
        (
            "plain.csv",
            lambda p: write_csv(
                p,
                ["event", "timestamp", "distinct_id", "rating"],
                [["feedback_given", "2025-11-15T07:30:00Z", "u", "1"]],
            ),
            "csv",
        ),
    ],
)
def test_gzip_loads_like_plain(tmp_path, name, maker, fmt):
    plain = maker(tmp_path / name)
    gz = _gzip(plain)
    counts = []
    for i, p in enumerate((plain, gz)):
        with Warehouse(tmp_path / f"w{i}.duckdb") as w:
            [s] = ingest(w, p, now=NOW)
            assert s.format == fmt
            counts.append(
                (
                    s.rows_read,
                    s.loaded,
                    s.quarantined,
                    rows(w, "SELECT uuid, event, properties FROM events ORDER BY uuid"),
                    rows(w, "SELECT line, reason FROM quarantine ORDER BY line"),
                )
            )
            assert w.scalar("SELECT file_bytes FROM loads") == p.stat().st_size
    assert counts[0] == counts[1]
