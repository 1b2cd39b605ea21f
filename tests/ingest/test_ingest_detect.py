"""Format detection (extension + content) and the clear IngestError cases."""

from __future__ import annotations

import gzip
import json

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

from zantara_nb.ingest import FORMATS, IngestError, detect, ingest
from zantara_nb.warehouse import Warehouse


def _ph_parquet(path):
    return write_parquet(
        path,
        {
            "uuid": ["p1"],
            "event": ["message_sent"],
            "distinct_id": ["u"],
            "properties": ["{}"],
            "timestamp": pa.array([1763191800_000000], pa.timestamp("us", tz="UTC")),
        },
    )


@pytest.mark.parametrize(
    "name,maker,expected",
    [
        ("a.jsonl", lambda p: write_jsonl(p, [segment("m", "x_happened")]), "segment"),
        ("a.json", lambda p: write_jsonl(p, [segment("m", "x_happened")]), "segment"),
        ("a.json", lambda p: write_json_array(p, [segment("m", "x_happened")]), "segment"),
        (
            "a.json",
            lambda p: write_json_array(p, [segment("m", "x_happened")], wrap="batch"),
            "segment",
        ),
        ("a.ndjson", lambda p: write_jsonl(p, [posthog("u", "x_happened")]), "posthog-jsonl"),
        ("a.txt", lambda p: write_jsonl(p, [posthog("u", "x_happened")]), "posthog-jsonl"),
        (
            "a.jsonl.gz",
            lambda p: write_jsonl(p, [posthog("u", "x_happened")], gz=True),
            "posthog-jsonl",
        ),
        (
            "export",
            lambda p: write_csv(
                p, ["*.uuid", "*.event", "*.distinct_id", "*.timestamp"], [["u", "e", "d", "t"]]
            ),
            "posthog-csv",
        ),
        (
            "a.csv",
            lambda p: write_csv(p, ["event", "timestamp", "distinct_id"], [["e", "t", "d"]]),
            "csv",
        ),
        ("a.csv.gz", lambda p: write_csv(p, ["action", "ts"], [["e", "t"]], gz=True), "csv"),
        ("a.parquet", _ph_parquet, "posthog-parquet"),
        ("data.bin", _ph_parquet, "posthog-parquet"),
        ("p.parquet", lambda p: write_parquet(p, {"action": ["x"], "ts": ["t"]}), "parquet"),
    ],
)
def test_detection(tmp_path, name, maker, expected):
    path = maker(tmp_path / name)
    fmt, _ = detect(path)
    assert fmt == expected
    assert fmt in FORMATS


def test_first_line_broken_is_still_json_lines(wh, tmp_path):
    path = write_jsonl(tmp_path / "b.jsonl", ["{oops", posthog("ok", "message_sent")])
    [s] = ingest(wh, path, now=NOW)
    assert s.format == "posthog-jsonl" and s.loaded == 1
    assert wh.scalar("SELECT line FROM quarantine") == 1


def _error(wh, path, **kw) -> str:
    with pytest.raises(IngestError) as info:
        ingest(wh, path, now=NOW, **kw)
    msg = str(info.value)
    assert msg.startswith(str(path)), msg
    return msg


def test_format_parquet_on_a_text_file(wh, tmp_path):
    path = write_jsonl(tmp_path / "ev.jsonl", [posthog("u", "message_sent")])
    msg = _error(wh, path, format="posthog-parquet")
    assert "not Parquet" in msg and "JSON" in msg


def test_gz_that_is_not_gzip(wh, tmp_path):
    path = tmp_path / "ev.jsonl.gz"
    path.write_text('{"uuid": "x"}\n')
    assert "not gzip" in _error(wh, path)


def test_truncated_gzip(wh, tmp_path):
    path = tmp_path / "cut.jsonl.gz"
    data = gzip.compress(
        b'{"uuid":"x","event":"e","distinct_id":"d","timestamp":"2025-11-15T00:00:00Z"}\n' * 5000
    )
    path.write_bytes(data[: len(data) // 2])
    msg = _error(wh, path)
    assert "cannot read" in msg or "gzip" in msg.lower()


def test_csv_without_needed_columns(wh, tmp_path):
    path = write_csv(tmp_path / "x.csv", ["action", "ts", "user"], [["e", "2025-11-15", "u"]])
    msg = _error(wh, path)
    assert "no column for event, timestamp, distinct_id" in msg and "mapping" in msg
    msg = _error(wh, path, mapping={"event": "action", "timestamp": "when"})
    assert "no column 'when'" in msg
    msg = _error(wh, path, mapping={"evnt": "action"})
    assert "unknown canonical name" in msg


def test_posthog_csv_missing_columns(wh, tmp_path):
    path = write_csv(tmp_path / "x.csv", ["*.uuid", "*.event"], [["u", "e"]])
    msg = _error(wh, path)
    assert "not a PostHog events export" in msg and "distinct_id" in msg


def test_mapping_on_a_json_format(wh, tmp_path):
    path = write_jsonl(tmp_path / "x.jsonl", [posthog("u", "message_sent")])
    assert "mapping is only for plain" in _error(wh, path, mapping={"event": "x"})


def test_missing_file_directory_and_unknown_format(wh, tmp_path):
    assert "no such file" in _error(wh, tmp_path / "nope.jsonl")
    assert "is a directory" in _error(wh, tmp_path)
    path = write_jsonl(tmp_path / "x.jsonl", [posthog("u", "message_sent")])
    assert "unknown format" in _error(wh, path, format="avro")


def test_extension_contradicts_content(wh, tmp_path):
    text = tmp_path / "fake.parquet"
    text.write_text("a,b\n1,2\n")
    assert "named .parquet but is not Parquet" in _error(wh, text)
    pq = _ph_parquet(tmp_path / "real.csv")
    assert "is a Parquet file" in _error(wh, pq)
    js = write_jsonl(tmp_path / "j.csv", [posthog("u", "message_sent")])
    assert "holds JSON" in _error(wh, js)


def test_corrupt_parquet_and_json(wh, tmp_path):
    bad = tmp_path / "bad.parquet"
    bad.write_bytes(b"PAR1" + b"\x00garbage" * 10)
    assert "not a readable Parquet file" in _error(wh, bad)
    doc = tmp_path / "bad.json"
    doc.write_text('[{"userId": "x"}, {"event": ]')
    assert "not valid JSON" in _error(wh, doc)


def test_json_array_broken_after_many_elements_loads_nothing(wh, tmp_path):
    """An array is streamed in batches, so it can break after some batches were loaded:
    the load is all or nothing, with one error naming the file."""
    good = ",".join(json.dumps(posthog(f"e{i}", "message_sent")) for i in range(120_000))
    doc = tmp_path / "late.json"
    doc.write_text(f'[{good}, {{"event": ]')
    with pytest.raises(IngestError) as err:
        ingest(wh, doc, now=NOW, chunk_rows=50_000)  # two chunks load before the break
    msg = str(err.value)
    assert msg.startswith(str(doc)) and "not valid JSON" in msg
    assert wh.scalar("SELECT count(*) FROM events") == 0
    assert wh.scalar("SELECT status FROM loads") == "failed"


def test_unknown_json_shape(wh, tmp_path):
    path = write_jsonl(tmp_path / "x.jsonl", [{"name": "x", "when": "now"}])
    msg = _error(wh, path)
    assert "Segment or a PostHog" in msg and "format=" in msg
    # naming the format loads it (and quarantines what it cannot use)
    [s] = ingest(wh, path, format="posthog-jsonl", now=NOW)
    assert s.quarantined == {"missing_event": 1}


def test_empty_file_reads_nothing(wh, tmp_path):
    path = tmp_path / "empty.jsonl"
    path.write_text("\n\n")
    [s] = ingest(wh, path, now=NOW)
    assert s.nothing_read and s.rows_read == 0 and s.status == "failed"
    assert wh.scalar("SELECT status FROM loads") == "failed"
    lines_only = write_jsonl(tmp_path / "blank.jsonl", ["", "  "])
    [s2] = ingest(wh, lines_only, format="posthog-jsonl", now=NOW)
    assert s2.nothing_read


def test_failed_load_is_recorded(wh, tmp_path):
    path = write_csv(tmp_path / "x.csv", ["action"], [["e"]])
    _error(wh, path)
    row = wh.sql("SELECT status, message FROM loads").iloc[0]
    assert row["status"] == "failed" and "no column" in row["message"]


def test_read_only_warehouse(tmp_path):
    Warehouse(tmp_path / "w.duckdb").close()
    with Warehouse(tmp_path / "w.duckdb", read_only=True) as ro, pytest.raises(IngestError):
        ingest(ro, tmp_path / "x.jsonl")


def test_several_paths_and_warehouse_method(wh, tmp_path):
    a = write_jsonl(tmp_path / "a.jsonl", [posthog("a", "message_sent")])
    b = write_jsonl(tmp_path / "b.jsonl", [posthog("b", "message_sent")])
    out = wh.ingest([a, str(b)], now=NOW)
    assert [s.loaded for s in out] == [1, 1]
    assert [s.load_id for s in out] == [1, 2]
