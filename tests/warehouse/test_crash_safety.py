"""A load is all or nothing per file, even when its process is killed at any instant.

Real loads run in child processes and are killed with SIGKILL: at chosen points (after
a chunk is committed, after the load is recorded as done but before its last commit)
and at random moments. After each kill the next process to open the warehouse (a
reader as well as a writer) finds no row of the unfinished load, the load marked
``interrupted`` with the reason, and loading the file again loads every row exactly
once. ``zantara-nb status`` shows failed and interrupted loads with their messages.
"""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest
from ingest_fixtures import NOW, generate_posthog_jsonl, posthog, write_jsonl

from zantara_nb import cli
from zantara_nb.warehouse import Warehouse

ROOT = Path(__file__).resolve().parents[2]
ROWS = 6_000
CHUNK = 1_000  # rows per chunk in the child: six chunks, six commits before the last

CHILD = textwrap.dedent(
    """
    import json, sys
    from datetime import UTC, datetime
    from zantara_nb.ingest import ingest
    from zantara_nb.warehouse import Warehouse

    db, path, chunk = sys.argv[1], sys.argv[2], int(sys.argv[3])
    with Warehouse(db) as wh:
        print("started", flush=True)
        [s] = ingest(wh, path, now=datetime(2025, 12, 1, tzinfo=UTC), chunk_rows=chunk)
    print(json.dumps({"loaded": s.loaded, "status": s.status}), flush=True)
    """
)


def _load(db: Path, path: Path, crash_at: str | None = None, **popen) -> subprocess.Popen:
    env = dict(os.environ)
    env.pop("ZANTARA_TEST_CRASH_AT", None)
    if crash_at:
        env["ZANTARA_TEST_CRASH_AT"] = crash_at
    return subprocess.Popen(
        [sys.executable, "-c", CHILD, str(db), str(path), str(CHUNK)],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        **popen,
    )


@pytest.fixture(scope="module")
def big_file(tmp_path_factory) -> tuple[Path, int]:
    path = tmp_path_factory.mktemp("crash") / "events.jsonl"
    expected = generate_posthog_jsonl(path, ROWS)
    return path, ROWS - expected["bad"]


@pytest.fixture
def first_load(tmp_path) -> tuple[Path, int]:
    """A warehouse with one good file loaded before the load that will be killed."""
    db = tmp_path / "w.duckdb"
    f = write_jsonl(
        tmp_path / "first.jsonl",
        [posthog(f"first-{i}", "message_sent", f"user_{i % 7}") for i in range(25)],
    )
    with Warehouse(db) as wh:
        wh.ingest(f, now=NOW)
    return db, 25


def _state(db: Path, read_only: bool = False) -> dict:
    with Warehouse(db, read_only=read_only) as wh:
        loads = wh.sql("SELECT load_id, path, status, message FROM loads ORDER BY load_id")
        return {
            "events": wh.scalar("SELECT count(*) FROM events"),
            "killed_events": wh.scalar(
                "SELECT count(*) FROM events WHERE load_id = (SELECT max(load_id) FROM loads)"
            ),
            "killed_quarantine": wh.scalar(
                "SELECT count(*) FROM quarantine WHERE load_id = (SELECT max(load_id) FROM loads)"
            ),
            "links": wh.scalar("SELECT count(*) FROM identity_links"),
            "loads": loads,
        }


def _reingest_exactly_once(db: Path, path: Path, before: int, good: int) -> None:
    with Warehouse(db) as wh:
        [s] = wh.ingest(path, now=NOW)
        assert s.loaded == good and s.duplicates == 0, str(s)
        assert wh.scalar("SELECT count(*) FROM events") == before + good
        assert wh.scalar("SELECT count(DISTINCT uuid) FROM events") == before + good
        dupes = wh.scalar(
            "SELECT count(*) FROM (SELECT raw_hash, reason FROM quarantine "
            "GROUP BY ALL HAVING count(*) > 1)"
        )
        assert dupes == 0


@pytest.mark.slow
@pytest.mark.parametrize(
    "crash_at",
    ["chunk:1", "chunk:4", "finish", "commit"],
    ids=["after-first-chunk", "after-fourth-chunk", "recorded-not-committed", "before-commit"],
)
@pytest.mark.parametrize("reader_first", [False, True], ids=["writer-opens", "reader-opens"])
def test_killed_load_leaves_nothing_and_reloads_exactly_once(
    big_file, first_load, crash_at, reader_first
):
    path, good = big_file
    db, before = first_load
    proc = _load(db, path, crash_at)
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == -signal.SIGKILL, err[-2000:]

    # the next open recovers: a report's read-only open just as well as a writable one
    st = _state(db, read_only=reader_first)
    assert st["events"] == before
    assert st["killed_events"] == 0 and st["killed_quarantine"] == 0
    last = st["loads"].iloc[-1]
    assert last["status"] == "interrupted"
    assert "stopped before the end" in last["message"]
    assert f"pid {proc.pid}" in last["message"]
    assert st["loads"]["status"].tolist()[:-1] == ["ok"]
    _reingest_exactly_once(db, path, before, good)


@pytest.mark.slow
def test_killed_at_random_moments(big_file, tmp_path):
    """SIGKILL at random instants of five loads in a row: every state seen is whole."""
    path, good = big_file
    db = tmp_path / "w.duckdb"
    Warehouse(db).close()
    rng = random.Random(12)
    done = 0
    for _ in range(5):
        proc = _load(db, path)
        assert proc.stdout.readline().strip() == "started"
        time.sleep(rng.uniform(0.0, 2.5))
        proc.send_signal(signal.SIGKILL)
        proc.communicate(timeout=60)
        st = _state(db)
        statuses = st["loads"]["status"].tolist()
        assert "running" not in statuses
        if statuses[-1] in ("ok", "partial"):  # it finished before the kill
            done += 1
            assert st["events"] == good
            break
        assert statuses[-1] == "interrupted"
        assert st["events"] == 0 and st["links"] == 0
    if not done:
        _reingest_exactly_once(db, path, 0, good)


def test_status_shows_failed_and_interrupted_loads(tmp_path, capsys):
    """``zantara-nb status`` used to crash on the NULL counts of such loads."""
    db = tmp_path / "w.duckdb"
    good = write_jsonl(tmp_path / "good.jsonl", [posthog("a1", "message_sent")])
    empty = tmp_path / "empty.jsonl"
    empty.write_text("")
    with Warehouse(db) as wh:
        wh.ingest(good, now=NOW)
        wh.ingest(empty, now=NOW)
        wh.execute(
            "INSERT INTO loads (path, format, status, message) VALUES "
            "('/data/x.jsonl', 'posthog-jsonl', 'running', 'pid 99999999 on nowhere: test')"
        )
    rc = cli.main(["status", "--warehouse", str(db)])
    out = capsys.readouterr().out
    assert rc == 0
    assert "3 loads" not in out and "Loads       3 (1 ok, 1 failed, 1 interrupted)" in out
    assert "Failed and interrupted loads" in out
    assert "the file is empty" in out
    assert "/data/x.jsonl" in out and "stopped before the end" in out
    assert "pid 99999999 on nowhere" in out
