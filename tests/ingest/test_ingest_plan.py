"""Tracking-plan warnings: unknown events/properties are kept and counted, naming
problems counted, camelCase aliases read into the typed columns; identity links."""

from __future__ import annotations

import json

from ingest_fixtures import NOW, posthog, segment, write_jsonl

from zantara_nb.ingest import ingest


def test_unknown_events_and_properties_are_kept_and_counted(wh, tmp_path):
    path = write_jsonl(
        tmp_path / "u.jsonl",
        [
            posthog("1", "message_sent", query_length=3, mood="happy", **{"$browser": "Chrome"}),
            posthog("2", "message_sent", query_length=4, mood="sad"),
            posthog("3", "sendMessage", text_len=3),
            posthog("4", "signup"),
            posthog("5", "$pageview", **{"$current_url": "https://x"}),
            posthog("6", "message_sent", **{"Query-Category": "visa", "queryCategory": "tax"}),
        ],
    )
    [s] = ingest(wh, path, now=NOW)
    assert s.loaded == 6 and s.quarantined == {}
    assert s.unknown_events == {"sendMessage": 1, "signup": 1, "$pageview": 1}
    assert s.unknown_properties == {
        "message_sent.mood": 2,
        "sendMessage.text_len": 1,
        "message_sent.Query-Category": 1,
    }
    assert s.naming_problems["event sendMessage: event name is not snake_case"] == 1
    assert s.naming_problems["event signup: event name is not object_action"] == 1
    assert s.naming_problems["property message_sent.Query-Category: not snake_case"] == 1
    assert (
        s.naming_problems["property message_sent.queryCategory: camelCase, read as query_category"]
        == 1
    )
    assert wh.scalar("SELECT count(*) FROM events WHERE event = 'sendMessage'") == 1
    assert (
        json.loads(wh.scalar("SELECT properties FROM events WHERE uuid = '1'"))["mood"] == "happy"
    )
    assert wh.scalar("SELECT query_category FROM events WHERE uuid = '6'") == "tax"
    load = wh.sql("SELECT unknown_events, unknown_properties FROM loads").iloc[0]
    assert (load["unknown_events"], load["unknown_properties"]) == (3, 4)
    text = str(s)
    assert "unknown events" in text and "unknown properties" in text and "naming" in text


def test_camel_case_aliases_fill_typed_columns_and_are_checked(wh, tmp_path):
    path = write_jsonl(
        tmp_path / "c.jsonl",
        [
            posthog(
                "1", "message_received", responseLatencyMs=900, modelUsed="claude", SourcesCount=2
            ),
            posthog("2", "message_received", responseLatencyMs="slow"),
            posthog("3", "message_received", response_latency_ms=5, responseLatencyMs=7),
        ],
    )
    [s] = ingest(wh, path, now=NOW)
    assert s.loaded == 2
    assert s.quarantined == {"invalid_property": 1}
    assert wh.scalar("SELECT field FROM quarantine") == "response_latency_ms"
    row = wh.execute(
        "SELECT response_latency_ms, model_used, sources_count, properties FROM events WHERE uuid = '1'"
    ).fetchall()[0]
    assert row[:3] == (900, "claude", 2)
    assert json.loads(row[3]) == {
        "response_latency_ms": 900,
        "model_used": "claude",
        "sources_count": 2,
    }
    # both spellings: the snake_case one wins, the camelCase one is kept as unknown
    row3 = json.loads(wh.scalar("SELECT properties FROM events WHERE uuid = '3'"))
    assert row3 == {"response_latency_ms": 5, "responseLatencyMs": 7}
    assert s.unknown_properties == {"message_received.responseLatencyMs": 1}


def test_identity_links_and_person_ids(wh, tmp_path):
    first = write_jsonl(
        tmp_path / "1.jsonl",
        [
            posthog("a1", "page_viewed", "anon_1", "2025-11-15T07:00:00Z", path="/"),
            posthog("a2", "message_sent", "anon_1", "2025-11-15T07:01:00Z", query_length=1),
            posthog(
                "i1",
                "$identify",
                "user_1",
                "2025-11-15T07:02:00Z",
                **{"$anon_distinct_id": "anon_1"},
            ),
            posthog("x1", "$create_alias", "user_1", "2025-11-15T07:03:00Z", alias="old_id"),
            posthog(
                "n1",
                "$identify",
                "user_2",
                "2025-11-15T07:04:00Z",
                **{"$anon_distinct_id": "user_2"},
            ),
        ],
    )
    [s] = ingest(wh, first, now=NOW)
    assert s.identity_links == 2  # identify with itself is not a link
    links = wh.execute(
        "SELECT distinct_id, anon_distinct_id, kind, uuid FROM identity_links ORDER BY uuid"
    ).fetchall()
    assert links == [("user_1", "anon_1", "identify", "i1"), ("user_1", "old_id", "alias", "x1")]
    persons = dict(wh.execute("SELECT uuid, person_id FROM events").fetchall())
    assert persons["a1"] == persons["a2"] == persons["i1"] == "user_1"
    # a later file: events of a known anonymous id get the person at insert time
    later = write_jsonl(
        tmp_path / "2.jsonl", [posthog("a3", "message_sent", "anon_1", "2025-11-16T07:00:00Z")]
    )
    [s2] = ingest(wh, later, now=NOW)
    assert s2.identity_links == 0
    assert wh.scalar("SELECT person_id FROM events WHERE uuid = 'a3'") == "user_1"


def test_segment_anonymous_and_user_ids(wh, tmp_path):
    path = write_jsonl(
        tmp_path / "s.jsonl",
        [
            segment(
                "s1",
                "page_viewed",
                user_id=None,
                anonymous_id="anon_9",
                timestamp="2025-11-15T07:00:00Z",
            ),
            segment(
                "s2",
                "user_signed_up",
                user_id="user_9",
                anonymous_id="anon_9",
                timestamp="2025-11-15T07:05:00Z",
                properties={"signup_method": "email"},
            ),
        ],
    )
    [s] = ingest(wh, path, now=NOW)
    assert s.identity_links == 1
    assert wh.execute("SELECT kind FROM identity_links").fetchall() == [("segment_both",)]
    assert dict(wh.execute("SELECT uuid, person_id FROM events").fetchall()) == {
        "s1": "user_9",
        "s2": "user_9",
    }


def test_aliases_and_redaction_across_chunks(wh, tmp_path):
    """Patches are per key combination: new combinations in later chunks are handled."""
    rows = [posthog(f"a{i}", "message_sent", queryLength=i, sessionId="s") for i in range(5)]
    rows += [posthog("b1", "message_sent", query_length=1)]
    rows += [posthog("c1", "message_sent", queryCategory="tax", query_text="secret")]
    rows += [posthog(f"d{i}", "message_sent", query_length=i) for i in range(3)]
    rows += [
        posthog(
            "e1", "$identify", **{"$set": {"plan": "pro", "tax_id": "1"}, "$anon_distinct_id": "z"}
        )
    ]
    [s] = ingest(wh, write_jsonl(tmp_path / "c.jsonl", rows), now=NOW, chunk_rows=2)
    assert s.loaded == len(rows) and s.redacted_properties == 2
    got = dict(wh.execute("SELECT uuid, properties FROM events").fetchall())
    assert json.loads(got["a3"]) == {"query_length": 3, "session_id": "s"}
    assert json.loads(got["c1"]) == {"query_category": "tax"}
    assert json.loads(got["e1"])["$set"] == {"plan": "pro"}
    assert wh.scalar("SELECT count(*) FROM events WHERE query_length IS NOT NULL") == 9
    assert wh.scalar("SELECT count(*) FROM events WHERE session_id = 's'") == 5
