"""Bad rows: every reason lands in quarantine with file, line, field and raw text;
timestamps become UTC; every row read is loaded, a duplicate or quarantined."""

from __future__ import annotations

import json

import pytest
from enginekit import current_engine
from ingest_fixtures import NOW, posthog, segment, write_csv, write_jsonl, write_lines

from zantara_nb.ingest import REASONS, ingest


def rows(wh, sql: str, params=None) -> list[list]:
    return [list(r) for r in wh.execute(sql, params).fetchall()]


def assert_consistent(wh, s) -> None:
    """The summary adds up and matches what the tables hold for this load."""
    assert s.adds_up, s
    assert s.rows_read == s.loaded + s.duplicates + sum(s.quarantined.values())
    assert wh.scalar("SELECT count(*) FROM events WHERE load_id = ?", [s.load_id]) == s.loaded
    q = dict(
        rows(
            wh, "SELECT reason, count(*) FROM quarantine WHERE load_id = ? GROUP BY 1", [s.load_id]
        )
    )
    assert q == s.quarantined
    load = wh.sql("SELECT * FROM loads WHERE load_id = ?", [s.load_id]).iloc[0]
    assert (load["rows_read"], load["loaded"], load["duplicates"], load["quarantined"]) == (
        s.rows_read,
        s.loaded,
        s.duplicates,
        sum(s.quarantined.values()),
    )


BAD_JSONL = [
    posthog("ok1", "message_sent", query_length=3),  # 1
    '{"uuid": "x", "event": "message_sent"',  # 2 malformed
    "",  # 3 blank: skipped, not a row
    json.dumps({"uuid": "ne", "distinct_id": "u", "timestamp": "2025-11-15T07:30:00Z"}),  # 4
    posthog("nt", "message_sent", timestamp=None),  # 5 missing timestamp
    posthog("bt", "message_sent", timestamp="yesterday at noon"),  # 6 unparseable
    posthog("nd", "message_sent", distinct_id=None),  # 7 missing distinct id
    posthog("ft", "message_sent", timestamp="2025-12-03T00:00:00Z"),  # 8 > now + 1 day
    posthog("w1", "message_received", response_latency_ms="fast"),  # 9 wrong type
    posthog("w2", "feedback_given", rating=5),  # 10 not an allowed value
    posthog("w3", "nps_submitted", score=11),  # 11 above max
    posthog("w4", "conversation_started", previous_sessions=-1),  # 12 below min
    posthog("w5", "conversation_started", is_new_user="yes"),  # 13 bool
    posthog("w6", "voice_used", duration_seconds="long"),  # 14 float
    posthog("w7", "message_sent", query_complexity="hard"),  # 15 allowed str values
    posthog("w8", "message_sent", query_category=5),  # 16 str expected
    posthog("w9", "message_received", response_tokens=1.5),  # 17 int expected, got float
    "[1, 2, 3]",  # 18 valid JSON, not an object
    posthog("ok2", "message_sent", timestamp="2025-12-01T20:00:00Z"),  # 19 < now + 1 day: ok
    json.dumps(
        {
            "uuid": "pe",
            "event": "x",
            "distinct_id": "u",
            "timestamp": "2025-11-15T07:30:00Z",
            "properties": "not json",
        }
    ),  # 20
]

EXPECTED = {
    2: ("malformed_json", None, "not valid JSON"),
    4: ("missing_event", "event", "no event name"),
    5: ("missing_timestamp", "timestamp", "no timestamp"),
    6: ("unparseable_timestamp", "timestamp", "cannot parse timestamp yesterday at noon"),
    7: ("missing_distinct_id", "distinct_id", "no distinct_id"),
    8: (
        "future_timestamp",
        "timestamp",
        "timestamp 2025-12-03T00:00:00Z is more than a day after the load time 2025-12-01T00:00:00Z",
    ),
    9: ("invalid_property", "response_latency_ms", 'expected int, got "fast"'),
    10: ("invalid_property", "rating", "value 5 is not one of: 1, -1"),
    11: ("invalid_property", "score", "value 11 is above the maximum 10"),
    12: ("invalid_property", "previous_sessions", "value -1 is below the minimum 0"),
    13: ("invalid_property", "is_new_user", 'expected bool, got "yes"'),
    14: ("invalid_property", "duration_seconds", 'expected float, got "long"'),
    15: (
        "invalid_property",
        "query_complexity",
        'value "hard" is not one of: simple, medium, complex',
    ),
    16: ("invalid_property", "query_category", "expected str, got 5"),
    17: ("invalid_property", "response_tokens", "expected int, got 1.5"),
    18: ("malformed_json", None, "not a JSON object"),
    20: ("malformed_json", "properties", "properties is not a JSON object"),
}


def test_every_bad_row_reason_with_file_line_field(wh, tmp_path):
    path = write_jsonl(tmp_path / "bad.jsonl", BAD_JSONL)
    [s] = ingest(wh, path, now=NOW)
    assert s.rows_read == len(BAD_JSONL) - 1  # the blank line is not a row
    assert s.loaded == 2 and s.duplicates == 0
    assert_consistent(wh, s)
    assert s.status == "partial"
    got = {
        line: (reason, field, detail)
        for line, reason, field, detail in rows(
            wh, "SELECT line, reason, field, detail FROM quarantine ORDER BY line"
        )
    }
    assert got == EXPECTED
    assert set(r for r, _, _ in EXPECTED.values()) <= set(REASONS)
    lines = (tmp_path / "bad.jsonl").read_text().split("\n")
    for line, file, raw in rows(wh, "SELECT line, file, raw FROM quarantine"):
        assert file == str(path)
        assert raw == lines[line - 1]  # the raw text of that very line
    assert set(rows(wh, "SELECT uuid FROM events ORDER BY uuid")[0]) == {"ok1"}


def test_segment_missing_ids_and_detail(wh, tmp_path):
    path = write_jsonl(
        tmp_path / "seg.jsonl",
        [
            segment("a", "message_sent", user_id=None, anonymous_id=None),
            segment("b", None),
            segment("c", "message_sent", user_id=None, anonymous_id="anon_1"),
        ],
    )
    [s] = ingest(wh, path, now=NOW)
    assert s.loaded == 1 and s.quarantined == {"missing_distinct_id": 1, "missing_event": 1}
    assert rows(wh, "SELECT line, reason, field, detail FROM quarantine ORDER BY line") == [
        [1, "missing_distinct_id", "distinct_id", "no userId or anonymousId"],
        [2, "missing_event", "event", "no event name"],
    ]
    assert_consistent(wh, s)


def test_csv_bad_rows_and_line_numbers(wh, tmp_path):
    path = tmp_path / "bad.csv"
    path.write_text(
        "event,timestamp,distinct_id,rating\n"
        "feedback_given,2025-11-15T07:30:00Z,u1,1\n"
        "feedback_given,2025-11-15T07:30:00Z,u1\n"  # 3: a field short
        '"feedback_given","2025-11-15T07:31:00Z","u1","-1"\n'
        "\n"  # 5: blank line, skipped
        'feedback_given,2025-11-15T07:32:00Z,"u\n2",1\n'  # 6-7: a quoted newline
        "feedback_given,,u3,1\n"  # 8: no timestamp
        ",2025-11-15T07:33:00Z,u3,1\n"  # 9: no event
        "feedback_given,2025-11-15T07:34:00Z,,1\n"  # 10: no distinct id
        "feedback_given,2025-11-15T07:35:00Z,u4,7\n"  # 11: rating not allowed
    )
    [s] = ingest(wh, path, now=NOW)
    assert s.format == "csv"
    assert s.rows_read == 8 and s.loaded == 3
    assert_consistent(wh, s)
    assert rows(wh, "SELECT line, reason, field FROM quarantine ORDER BY line") == [
        [3, "malformed_row", None],
        [8, "missing_timestamp", "timestamp"],
        [9, "missing_event", "event"],
        [10, "missing_distinct_id", "distinct_id"],
        [11, "invalid_property", "rating"],
    ]
    assert wh.scalar("SELECT detail FROM quarantine WHERE line = 3") == "expected 4 fields, got 3"
    assert wh.scalar("SELECT count(*) FROM events WHERE distinct_id = 'u\n2'") == 1


def test_slow_path_lines_with_control_characters_and_bad_utf8(wh, tmp_path):
    path = tmp_path / "odd.jsonl"
    good = json.dumps(posthog("g1", "message_sent")).encode()
    good2 = json.dumps(posthog("g2", "message_sent")).encode()
    path.write_bytes(
        good + b"\n" + b'{"uuid":"x\x1e"}\n' + b'{"uuid":"\xff\xfe"}\n' + b"\r\n" + good2 + b"\r\n"
    )
    [s] = ingest(wh, path, now=NOW)
    assert s.loaded == 2 and s.rows_read == 4
    assert rows(wh, "SELECT line, reason, detail FROM quarantine ORDER BY line") == [
        [2, "malformed_json", "not valid JSON"],
        [3, "malformed_json", "not valid UTF-8"],
    ]
    assert_consistent(wh, s)


@pytest.mark.parametrize(
    "stamp,utc,naive",
    [
        ("2025-11-15T14:30:00+07:00", "2025-11-15 07:30:00+00:00", False),
        ("2025-11-15T07:30:00Z", "2025-11-15 07:30:00+00:00", False),
        ("2025-11-15T02:30:00-05:00", "2025-11-15 07:30:00+00:00", False),
        ("2025-11-15T07:30:00.250+00:00", "2025-11-15 07:30:00.250000+00:00", False),
        ("2025-11-15T07:30:00", "2025-11-15 07:30:00+00:00", True),
        ("2025-11-15 07:30:00", "2025-11-15 07:30:00+00:00", True),
        ("2025-11-15", "2025-11-15 00:00:00+00:00", True),
    ],
)
def test_timestamps_become_utc(wh, tmp_path, stamp, utc, naive):
    [s] = ingest(
        wh,
        write_jsonl(tmp_path / "t.jsonl", [posthog("t", "message_sent", timestamp=stamp)]),
        now=NOW,
    )
    assert s.loaded == 1
    assert str(wh.sql("SELECT timestamp FROM events").iloc[0, 0]) == utc
    assert s.naive_timestamps == int(naive)


def test_mixed_offsets_in_one_file(wh, tmp_path):
    stamps = [
        "2025-11-15T14:30:00+07:00",
        "2025-11-15T07:30:00Z",
        "2025-11-15T02:30:00-05:00",
        "2025-11-15T07:30:00",
    ]
    path = write_jsonl(
        tmp_path / "tz.jsonl",
        [posthog(f"t{i}", "message_sent", timestamp=t) for i, t in enumerate(stamps)],
    )
    [s] = ingest(wh, path, now=NOW)
    assert s.naive_timestamps == 1
    assert wh.scalar("SELECT count(DISTINCT timestamp) FROM events") == 1
    if current_engine() == "duckdb":  # the loader leaves the session's zone as it was
        assert wh.scalar("SELECT current_setting('TimeZone')") == "UTC"
    assert "naive timestamps" in str(s)


def test_future_rule_uses_now(wh, tmp_path):
    path = write_jsonl(
        tmp_path / "f.jsonl", [posthog("f1", "message_sent", timestamp="2030-01-01T00:00:00Z")]
    )
    [s] = ingest(wh, path, now=NOW)
    assert s.quarantined == {"future_timestamp": 1}
    from datetime import UTC, datetime

    [s2] = ingest(wh, path, now=datetime(2029, 12, 31, 12, tzinfo=UTC))
    assert s2.loaded == 1  # within a day of that clock


def test_everything_quarantined_is_failed_but_read(wh, tmp_path):
    [s] = ingest(
        wh,
        write_lines(tmp_path / "junk.jsonl", ["{", "}", "{nope"]),
        format="posthog-jsonl",
        now=NOW,
    )
    assert s.rows_read == 3 and s.loaded == 0 and s.status == "failed"
    assert not s.nothing_read
    assert_consistent(wh, s)


def test_summary_text_and_html(wh, tmp_path):
    [s] = ingest(wh, write_jsonl(tmp_path / "bad.jsonl", BAD_JSONL), now=NOW)
    text = str(s)
    assert str(tmp_path / "bad.jsonl") in text and "quarantined" in text
    assert "invalid_property (9)" in text
    html = s._repr_html_()
    assert html.startswith("<table>") and "rows read" in html
    big = write_csv(
        tmp_path / "many.csv",
        ["event", "timestamp", "distinct_id"],
        [[f"evt_{i}_happened", "2025-11-15T07:30:00Z", "u"] for i in range(12)],
    )
    [s2] = ingest(wh, big, now=NOW)
    assert "more" in str(s2)  # long lists are cut


def test_naive_is_utc_whatever_the_session_zone(wh, tmp_path):
    if current_engine() != "duckdb":
        pytest.skip("a DuckDB session setting (ClickHouse sessions run in UTC)")
    wh.execute("SET TimeZone = 'Asia/Jakarta'")
    path = write_jsonl(
        tmp_path / "n.jsonl", [posthog("n", "message_sent", timestamp="2025-11-15T07:30:00")]
    )
    [s] = ingest(wh, path, now=NOW)
    assert s.naive_timestamps == 1
    assert wh.scalar("SELECT current_setting('TimeZone')") == "Asia/Jakarta"  # restored
    wh.execute("SET TimeZone = 'UTC'")
    assert str(wh.sql("SELECT timestamp FROM events").iloc[0, 0]) == "2025-11-15 07:30:00+00:00"
