"""The loader writing to ClickHouse (chdb): the same rows as on DuckDB, a reload adds
nothing, a failed or killed load leaves nothing, and the PostHog paths that are still
DuckDB-only say so.

(Every other loader test runs on chdb too, with the same expected numbers: see
``tests/ingest/conftest.py``.)
"""

from __future__ import annotations

import importlib.util
import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import pyarrow as pa
import pytest
from ingest_fixtures import NOW, generate_posthog_jsonl, posthog, segment, write_jsonl

from zantara_nb import Warehouse
from zantara_nb.ingest import IngestError

ENGINE_FREE = True  # opens both engines itself
pytestmark = pytest.mark.skipif(
    importlib.util.find_spec("chdb") is None, reason="the clickhouse extra is not installed"
)
ROOT = Path(__file__).resolve().parents[2]

MIXED = [
    posthog("a", "message_sent", "anon_1", query_length=1, message_id="m1"),
    posthog("b", "$identify", "user_1", **{"$anon_distinct_id": "anon_1"}),
    "{broken",
    posthog("c", "feedback_given", "user_1", rating=7),  # invalid property: quarantined
    posthog("a", "message_sent", "anon_1", query_length=1),  # same uuid: a duplicate
    "{broken",  # the same bad line: one quarantine row
    posthog("d", "message_received", "user_1", response_latency_ms=900.5, message_id="m1"),
    posthog("e", "messageSent", "user_2", queryLength=3),  # camelCase: renamed
    posthog("f", "message_sent", "user_3", timestamp="2025-11-15T07:30:00"),  # naive
    segment("g", "Signed Up", "user_4", anonymous_id="anon_4"),
    posthog("h", "user_signed_up", "user_5", email="someone@example.com"),  # redacted
]

TABLE_SQL = {
    "events": "SELECT * EXCLUDE (load_id) FROM events ORDER BY uuid",
    "quarantine": "SELECT line, reason, field, detail, distinct_id, raw, raw_hash "
    "FROM quarantine ORDER BY line",
    "identity_links": "SELECT distinct_id, anon_distinct_id, kind, timestamp, uuid "
    "FROM identity_links ORDER BY uuid",
    "person_distinct_ids": "SELECT * FROM person_distinct_ids ORDER BY distinct_id",
    "persons": "SELECT * FROM persons ORDER BY person_id",
}


def _tables(wh) -> dict[str, list[dict]]:
    out = {}
    for name, sql in TABLE_SQL.items():
        if name == "events" and wh.engine.name != "duckdb":
            cols = [c for c in wh.engine.table_columns()["events"] if c != "load_id"]
            sql = f"SELECT {', '.join(cols)} FROM events ORDER BY uuid"
        df = wh.sql(sql)
        out[name] = [
            {k: (None if v is None or v != v else str(v)) for k, v in row.items()}
            for row in df.to_dict("records")
        ]
    return out


def _summary(s) -> dict:
    return {
        k: getattr(s, k)
        for k in (
            "rows_read",
            "loaded",
            "duplicates",
            "quarantined",
            "naive_timestamps",
            "unknown_events",
            "unknown_properties",
            "naming_problems",
            "redacted_properties",
            "identity_links",
            "blank_lines",
            "status",
            "message",
        )
    }


def test_same_rows_and_summaries_as_duckdb(tmp_path):
    files = [
        write_jsonl(tmp_path / "mixed.jsonl", MIXED),
        write_jsonl(
            tmp_path / "more.jsonl",
            [posthog(f"m{i}", "message_sent", f"user_{i % 4}", query_length=i) for i in range(40)]
            + [posthog("x", "$identify", "user_9", **{"$anon_distinct_id": "user_2"})],
        ),
    ]
    got = {}
    for engine in ("duckdb", "chdb"):
        wh = Warehouse(tmp_path / "w.duckdb" if engine == "duckdb" else ":memory:", engine=engine)
        try:
            summaries = wh.ingest(files, now=NOW, chunk_rows=7)
            got[engine] = ([_summary(s) for s in summaries], _tables(wh))
        finally:
            wh.close()
    (s_duck, t_duck), (s_ch, t_ch) = got["duckdb"], got["chdb"]
    assert s_ch == s_duck
    # the mixed file: 11 lines, 5 loaded, 2 duplicates, 4 quarantined (the Segment row
    # has no distinct_id for a PostHog file), 1 naive, 1 camelCase rename, 1 link
    assert (s_duck[0]["loaded"], s_duck[0]["duplicates"]) == (5, 2)
    assert sum(s_duck[0]["quarantined"].values()) == 4 and s_duck[0]["naive_timestamps"] == 1
    for name in TABLE_SQL:
        assert t_ch[name] == t_duck[name], name
    assert len(t_duck["events"]) == 5 + 41 and len(t_duck["identity_links"]) == 2
    assert {"distinct_id": "anon_1", "person_id": "user_1"} in t_ch["person_distinct_ids"]


def test_reload_adds_nothing_and_large_batches(tmp_path, monkeypatch):
    import zantara_nb.ingest.load_clickhouse as load_ch

    monkeypatch.setattr(load_ch, "FLUSH_ROWS", 25)  # several inserts of pending events
    path = tmp_path / "big.jsonl"
    expected = generate_posthog_jsonl(path, 300, bad_every=20)
    with Warehouse(":memory:", engine="chdb") as wh:
        [s1] = wh.ingest(path, now=NOW, chunk_rows=40)
        assert s1.loaded == 300 - expected["bad"] and s1.adds_up
        before = (
            wh.scalar("SELECT count() FROM events"),
            wh.scalar("SELECT count() FROM quarantine"),
        )
        assert before[0] == s1.loaded
        [s2] = wh.ingest(path, now=NOW, chunk_rows=40)
        assert (s2.loaded, s2.duplicates, s2.quarantined) == (0, 300, {})
        assert (
            wh.scalar("SELECT count() FROM events"),
            wh.scalar("SELECT count() FROM quarantine"),
        ) == before
        loads = wh.sql("SELECT load_id, status, loaded FROM loads ORDER BY load_id")
        assert loads["load_id"].tolist() == [1, 2]
        assert loads["loaded"].tolist() == [s1.loaded, 0]


CHILD = textwrap.dedent(
    """
    import sys
    from datetime import UTC, datetime
    from zantara_nb.warehouse import Warehouse

    with Warehouse(sys.argv[1]) as wh:
        wh.ingest(sys.argv[2], now=datetime(2025, 12, 1, tzinfo=UTC), chunk_rows=500)
    """
)


@pytest.mark.parametrize("crash_at", ["chunk:3", "finish"])
def test_killed_load_is_taken_back_by_the_next_writer(tmp_path, crash_at, monkeypatch):
    import zantara_nb.ingest.load_clickhouse as load_ch

    monkeypatch.setattr(load_ch, "FLUSH_ROWS", 1)
    address = f"chdb:{tmp_path / 'w.chdb'}"
    first = write_jsonl(
        tmp_path / "first.jsonl",
        [posthog(f"first-{i}", "message_sent", f"user_{i % 7}") for i in range(25)],
    )
    with Warehouse(address) as wh:
        wh.ingest(first, now=NOW)
    path = tmp_path / "events.jsonl"
    expected = generate_posthog_jsonl(path, 3000)
    good = 3000 - expected["bad"]
    env = dict(os.environ, ZANTARA_TEST_CRASH_AT=crash_at)
    env["PYTHONPATH"] = str(ROOT)
    # the child flushes per chunk too (FLUSH_ROWS is read at each chunk: set it there)
    code = "import zantara_nb.ingest.load_clickhouse as m; m.FLUSH_ROWS = 1\n" + CHILD
    proc = subprocess.Popen(
        [sys.executable, "-c", code, address, str(path)],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    _, err = proc.communicate(timeout=300)
    assert proc.returncode == -signal.SIGKILL, err[-2000:]
    # a reader opens first: on chdb nobody else can be loading, so it takes the load back
    with Warehouse(address, read_only=True) as wh:
        last = wh.sql("SELECT status, message, loaded FROM loads ORDER BY load_id").iloc[-1]
        assert last["status"] == "interrupted"
        assert f"pid {proc.pid}" in last["message"] and "load the file again" in last["message"]
        assert wh.scalar("SELECT count() FROM events") == 25
        assert wh.scalar("SELECT count() FROM quarantine WHERE load_id = 2") == 0
        assert wh.scalar("SELECT count() FROM identity_links") == 0
    with Warehouse(address) as wh:
        [s] = wh.ingest(path, now=NOW)
        assert s.loaded == good and s.duplicates == 0
        assert wh.scalar("SELECT count(DISTINCT uuid) FROM events") == 25 + good
        assert wh.scalar("SELECT count() FROM events") == 25 + good


def test_killed_after_its_record_the_load_is_whole(tmp_path):
    """Once the ``loads`` row says done, the load is whole (persons were rebuilt first)."""
    address = f"chdb:{tmp_path / 'w.chdb'}"
    path = tmp_path / "events.jsonl"
    expected = generate_posthog_jsonl(path, 1000)
    env = dict(os.environ, ZANTARA_TEST_CRASH_AT="commit", PYTHONPATH=str(ROOT))
    proc = subprocess.run(
        [sys.executable, "-c", CHILD, address, str(path)], cwd=ROOT, env=env, capture_output=True
    )
    assert proc.returncode == -signal.SIGKILL
    with Warehouse(address) as wh:
        assert wh.scalar("SELECT status FROM loads") == "partial"
        assert wh.scalar("SELECT count() FROM events") == 1000 - expected["bad"]
        assert wh.scalar("SELECT count() FROM persons") > 0
        [s] = wh.ingest(path, now=NOW)
        assert s.loaded == 0


def test_posthog_pull_and_export_folders_refuse_clickhouse(tmp_path):
    from zantara_nb.ingest.posthog_state import writing

    with (
        Warehouse(":memory:", engine="chdb") as wh,
        pytest.raises(IngestError, match="DuckDB warehouses only"),
        writing(wh),
    ):
        pass


def test_update_is_a_mutation_on_clickhouse():
    with Warehouse(":memory:", engine="chdb") as wh:
        wh.engine.insert_arrow(
            "loads",
            pa.table({"load_id": pa.array([1, 2], pa.int32()), "status": ["running", "ok"]}),
        )
        wh.execute("UPDATE loads SET status = ?, message = ? WHERE load_id = ?", ["x", "y", 1])
        assert wh.engine.rows("SELECT load_id, status, message FROM loads ORDER BY 1") == [
            (1, "x", "y"),
            (2, "ok", None),
        ]
