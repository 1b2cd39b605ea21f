"""Analysts, the weekly run and loads at the same time, with real processes.

An analyst's open ``z.Warehouse()`` holds nothing while idle, so it never blocks a run,
a load or another analyst; reads share the file; a writer waits for readers (and
readers for a writer) up to ``$ZANTARA_LOCK_TIMEOUT``, saying who holds it, then goes
ahead or fails with one line, never a traceback. A report run holds the warehouse for
reading from start to end, so a load that starts meanwhile waits for it and the run's
numbers all come from one state of the data.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest
from ingest_fixtures import NOW, posthog, write_jsonl

from tests.reporting.test_runner import write_notebook, write_suite
from zantara_nb.warehouse import Warehouse

ROOT = Path(__file__).resolve().parents[2]

ANALYST = textwrap.dedent(
    """
    import sys, time
    import zantara_nb as z
    wh = z.Warehouse(sys.argv[1])                 # as the README says, writable
    print(wh.scalar("SELECT count(*) FROM events"), flush=True)
    for line in sys.stdin:                         # idle between "cells"
        if line.strip() == "count":
            print(wh.scalar("SELECT count(*) FROM events"), flush=True)
        elif line.strip().startswith("hold"):
            with wh.reading():
                print("holding", flush=True)
                time.sleep(float(line.split()[1]))
            print("released", flush=True)
    """
)


def _env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("ZANTARA_")}
    env.update(extra)
    return env


def _analyst(db: Path) -> subprocess.Popen:
    p = subprocess.Popen(
        [sys.executable, "-c", ANALYST, str(db)],
        cwd=ROOT,
        env=_env(),
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    p.stdout.readline()  # it has read once
    return p


def _ask(p: subprocess.Popen, line: str) -> str:
    p.stdin.write(line + "\n")
    p.stdin.flush()
    return p.stdout.readline().strip()


def _cli(*args: str, timeout_s: str = "120") -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "zantara_nb.cli", *args],
        cwd=ROOT,
        env=_env(ZANTARA_LOCK_TIMEOUT=timeout_s),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def _events_file(path: Path, prefix: str, n: int) -> Path:
    return write_jsonl(
        path,
        [
            posthog(f"{prefix}-{i}", "message_sent", f"user_{i % 13}", "2025-11-20T10:00:00Z")
            for i in range(n)
        ],
    )


@pytest.fixture
def db(tmp_path) -> Path:
    path = tmp_path / "w.duckdb"
    with Warehouse(path) as wh:
        wh.ingest(_events_file(tmp_path / "base.jsonl", "base", 40), now=NOW)
    return path


def _count(db: Path) -> int:
    with Warehouse(db, read_only=True) as wh:
        return wh.scalar("SELECT count(*) FROM events")


def _reading_suite(d: Path, out: Path, started: Path) -> Path:
    """A one-notebook suite that reads the warehouse twice, 4 s apart."""
    write_notebook(
        d / "nbs" / "reads.ipynb",
        textwrap.dedent(
            f"""
            import json, time, pathlib
            import zantara_nb as z
            wh = z.Warehouse(warehouse, read_only=True)
            first = wh.scalar("SELECT count(*) FROM events")
            pathlib.Path({str(started)!r}).write_text("reading")
            time.sleep(4)
            second = wh.scalar("SELECT count(*) FROM events")
            pathlib.Path({str(out)!r}).write_text(json.dumps([first, second]))
            """
        ),
        params="as_of = None\nwarehouse = None",
    )
    return write_suite(
        d / "reads.yaml",
        suite="reads",
        title="Reads",
        period="week",
        notebooks=["nbs/reads"],
        stale_after_hours=None,
    )


def _wait_for(path: Path, seconds: float = 90) -> None:
    t = time.monotonic()
    while not path.exists():
        assert time.monotonic() - t < seconds, f"{path} never appeared"
        time.sleep(0.05)


@pytest.mark.slow
def test_open_notebooks_never_block_the_run_or_a_load(db, tmp_path):
    """Two analysts keep ``z.Warehouse()`` open (idle) while the weekly run and a load
    start; both finish, and the analysts see the new rows at their next query."""
    a1, a2 = _analyst(db), _analyst(db)
    try:
        out, started = tmp_path / "run.json", tmp_path / "started"
        suite = _reading_suite(tmp_path, out, started)
        run = _cli("run", str(suite), "--no-email", "--as-of", "2026-08-24",
                   "--reports-dir", str(tmp_path / "reports"), "--warehouse", str(db))  # fmt: skip
        load = _cli("ingest", str(_events_file(tmp_path / "new.jsonl", "new", 30)),
                    "--warehouse", str(db))  # fmt: skip
        run_out, run_err = run.communicate(timeout=180)
        load_out, load_err = load.communicate(timeout=180)
        assert run.returncode == 0, run_err[-3000:]
        assert load.returncode == 0, load_err[-3000:]
        first, second = json.loads(out.read_text())
        assert first == second  # the run saw one state of the data, before or after the load
        assert _ask(a1, "count") == "70" and _ask(a2, "count") == "70"
    finally:
        for a in (a1, a2):
            a.kill()
            a.communicate()


@pytest.mark.slow
def test_a_load_waits_for_a_reading_run_and_says_who(db, tmp_path):
    out, started = tmp_path / "run.json", tmp_path / "started"
    suite = _reading_suite(tmp_path, out, started)
    run = _cli("run", str(suite), "--no-email", "--as-of", "2026-08-24",
               "--reports-dir", str(tmp_path / "reports"), "--warehouse", str(db))  # fmt: skip
    _wait_for(started)  # the notebook is between its two reads
    load = _cli("ingest", str(_events_file(tmp_path / "new.jsonl", "new", 30)),
                "--warehouse", str(db))  # fmt: skip
    load_out, load_err = load.communicate(timeout=180)
    run_out, run_err = run.communicate(timeout=180)
    assert run.returncode == 0, run_err[-3000:]
    assert load.returncode == 0, load_err[-3000:]
    assert json.loads(out.read_text()) == [40, 40]  # the load did not land mid-run
    assert "waiting to write warehouse" in load_err
    assert f"pid {run.pid}" in load_err and "reads report run" in load_err
    assert "free after" in load_err and "Traceback" not in load_err
    assert _count(db) == 70


@pytest.mark.slow
def test_two_loads_at_once_both_land_one_after_the_other(db, tmp_path):
    big = [_events_file(tmp_path / f"f{k}.jsonl", f"f{k}", 3000) for k in range(2)]
    loads = [_cli("ingest", str(f), "--warehouse", str(db)) for f in big]
    results = [p.communicate(timeout=180) for p in loads]
    for p, (_, e) in zip(loads, results, strict=True):
        assert p.returncode == 0, e[-3000:]
        assert "Traceback" not in e
    assert _count(db) == 40 + 6000
    with Warehouse(db, read_only=True) as wh:
        assert wh.sql("SELECT status FROM loads")["status"].tolist() == ["ok"] * 3


def test_a_writer_gives_up_after_the_timeout_with_one_line(db, tmp_path):
    a = _analyst(db)
    try:
        assert _ask(a, "hold 30") == "holding"  # an analyst in the middle of a long query
        load = _cli("ingest", str(_events_file(tmp_path / "n.jsonl", "n", 5)),
                    "--warehouse", str(db), timeout_s="1.5")  # fmt: skip
        out, err = load.communicate(timeout=60)
        assert load.returncode == 3
        assert "gave up waiting to write after 1." in err
        assert "Traceback" not in err
        lines = [ln for ln in err.splitlines() if ln.startswith("error:")]
        assert len(lines) == 1, err
        assert f"pid {a.pid}" in lines[0] and "reading since" in lines[0]
        assert "ZANTARA_LOCK_TIMEOUT" in lines[0]
    finally:
        a.kill()
        a.communicate()
    assert _count(db) == 40


def test_reads_never_block_each_other(db):
    a, b = _analyst(db), _analyst(db)
    try:
        assert _ask(a, "hold 3") == "holding"
        t = time.monotonic()
        assert _ask(b, "hold 0.1") == "holding"  # while a holds it for reading
        assert _ask(b, "count") == "released"  # (the line after "holding")
        assert _ask(b, "count") == "40"
        assert time.monotonic() - t < 2
    finally:
        for p in (a, b):
            p.kill()
            p.communicate()


def test_bad_timeout_setting_is_refused_with_one_line(db, tmp_path):
    p = _cli("status", "--warehouse", str(db), timeout_s="soon")
    out, err = p.communicate(timeout=60)
    assert p.returncode == 2
    assert err.strip() == (
        "error: ZANTARA_LOCK_TIMEOUT='soon': not a number of seconds (e.g. ZANTARA_LOCK_TIMEOUT=600)"
    )
