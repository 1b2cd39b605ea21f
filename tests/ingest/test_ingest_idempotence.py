"""Loading the same data twice adds nothing: events dedupe on uuid/messageId (or a row
hash), quarantine on (raw_hash, reason); repeats inside a file count as duplicates."""

from __future__ import annotations

import gzip

import pytest
from ingest_fixtures import NOW, posthog, segment, write_csv, write_jsonl, write_parquet

from zantara_nb.ingest import ingest


def counts(wh) -> tuple[int, int, int]:
    return (
        wh.scalar("SELECT count(*) FROM events"),
        wh.scalar("SELECT count(*) FROM quarantine"),
        wh.scalar("SELECT count(*) FROM identity_links"),
    )


MIXED = [
    posthog("a", "message_sent", query_length=1),
    posthog("b", "$identify", "user_1", **{"$anon_distinct_id": "anon_1"}),
    "{broken",
    posthog("c", "feedback_given", rating=7),
    posthog("a", "message_sent", query_length=1),  # same uuid again in the file
    "{broken",  # same bad line again
]


def test_reload_adds_nothing(wh, tmp_path):
    path = write_jsonl(tmp_path / "m.jsonl", MIXED)
    [s1] = ingest(wh, path, now=NOW)
    assert (s1.rows_read, s1.loaded, s1.duplicates) == (6, 2, 2)
    assert s1.quarantined == {"malformed_json": 1, "invalid_property": 1}
    before = counts(wh)
    assert before == (2, 2, 1)
    [s2] = ingest(wh, path, now=NOW)
    assert counts(wh) == before
    assert (s2.rows_read, s2.loaded, s2.duplicates, s2.quarantined) == (6, 0, 6, {})
    assert s2.adds_up and s2.identity_links == 0
    assert "duplicates" in str(s2)
    assert wh.scalar("SELECT count(*) FROM loads") == 2
    assert wh.scalar("SELECT count(DISTINCT file_sha256) FROM loads") == 1


def test_duplicates_across_chunks_and_files(wh, tmp_path):
    rows = [posthog(f"u{i}", "message_sent", query_length=i) for i in range(10)]
    rows += [posthog("u3", "message_sent", query_length=3), posthog("u9", "message_sent")]
    path = write_jsonl(tmp_path / "c.jsonl", rows)
    [s] = ingest(wh, path, now=NOW, chunk_rows=3)  # several chunks
    assert (s.loaded, s.duplicates) == (10, 2)
    # the same events in another file (gzip, other name) are duplicates too
    gz = tmp_path / "copy.jsonl.gz"
    gz.write_bytes(gzip.compress(path.read_bytes()))
    [s2] = ingest(wh, gz, now=NOW)
    assert (s2.loaded, s2.duplicates) == (0, 12)
    assert wh.scalar("SELECT count(*) FROM events") == 10


def test_segment_message_id_dedupes(wh, tmp_path):
    a = write_jsonl(
        tmp_path / "a.jsonl", [segment("m1", "message_sent"), segment("m2", "message_sent")]
    )
    b = write_jsonl(
        tmp_path / "b.jsonl",
        [
            segment("m2", "message_sent", timestamp="2025-11-15T08:00:00Z"),
            segment("m3", "message_sent"),
        ],
    )
    ingest(wh, a, now=NOW)
    [s] = ingest(wh, b, now=NOW)
    assert (s.loaded, s.duplicates) == (1, 1)
    assert sorted(r[0] for r in wh.execute("SELECT uuid FROM events").fetchall()) == [
        "m1",
        "m2",
        "m3",
    ]


def test_rows_without_ids_dedupe_on_a_row_hash(wh, tmp_path):
    header = ["event", "timestamp", "distinct_id", "rating"]
    data = [
        ["feedback_given", "2025-11-15T07:30:00Z", "u1", "1"],
        ["feedback_given", "2025-11-15T07:31:00Z", "u1", "-1"],
        ["feedback_given", "2025-11-15T07:30:00Z", "u1", "1"],  # identical row: duplicate
    ]
    path = write_csv(tmp_path / "noid.csv", header, data)
    [s1] = ingest(wh, path, now=NOW)
    assert (s1.loaded, s1.duplicates) == (2, 1)
    [s2] = ingest(wh, path, now=NOW)
    assert (s2.loaded, s2.duplicates) == (0, 3)
    # the hash is stable: the same rows in parquet hash differently (another raw form),
    # but loading that parquet twice is still idempotent
    pq = write_parquet(
        tmp_path / "noid.parquet",
        {h: [r[i] for r in data] for i, h in enumerate(header)},
    )
    [p1] = ingest(wh, pq, now=NOW)
    [p2] = ingest(wh, pq, now=NOW)
    assert p1.loaded == 2 and p2.loaded == 0 and p2.duplicates == 3
    uuids = [r[0] for r in wh.execute("SELECT uuid FROM events").fetchall()]
    assert len(set(uuids)) == len(uuids)


def test_quarantine_does_not_grow_on_reload(wh, tmp_path):
    path = write_jsonl(
        tmp_path / "q.jsonl",
        ["{", posthog("x", None), posthog("y", "message_sent", timestamp="not a time")],
    )
    ingest(wh, path, now=NOW)
    assert wh.scalar("SELECT count(*) FROM quarantine") == 3
    [s] = ingest(wh, path, now=NOW)
    assert wh.scalar("SELECT count(*) FROM quarantine") == 3
    assert s.quarantined == {} and s.duplicates == 3
    assert wh.scalar("SELECT count(DISTINCT load_id) FROM quarantine") == 1


def test_failed_load_leaves_nothing(wh, tmp_path, monkeypatch):
    rows = [posthog(f"f{i}", "message_sent") for i in range(6)]
    path = write_jsonl(tmp_path / "f.jsonl", rows)
    import zantara_nb.ingest.load as load
    import zantara_nb.ingest.load_clickhouse as load_ch

    calls = {"n": 0}
    real = load.count_chunk

    def flaky(groups, totals):
        calls["n"] += 1
        if calls["n"] == 2:
            raise RuntimeError("disk on fire")
        return real(groups, totals)

    # both engines' writers count each chunk first; ClickHouse writes every chunk at once
    monkeypatch.setattr(load, "count_chunk", flaky)
    monkeypatch.setattr(load_ch, "count_chunk", flaky)
    monkeypatch.setattr(load_ch, "FLUSH_ROWS", 1)
    with pytest.raises(RuntimeError):
        ingest(wh, path, now=NOW, chunk_rows=3)
    assert calls["n"] == 2
    assert counts(wh) == (0, 0, 0)  # the first chunk was taken back
    assert wh.scalar("SELECT status FROM loads") == "failed"
    assert "disk on fire" in wh.scalar("SELECT message FROM loads")
    monkeypatch.setattr(load, "count_chunk", real)
    monkeypatch.setattr(load_ch, "count_chunk", real)
    [s] = ingest(wh, path, now=NOW, chunk_rows=3)
    assert s.loaded == 6
