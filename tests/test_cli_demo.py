"""``zantara-nb demo``, ``status`` and ``ingest`` on DuckDB and chdb; the demo never
replaces data it did not load.

Each command runs as its own process, as a user would type it (chdb serves one data
directory per process).
"""

from __future__ import annotations

import importlib.util
import re
import subprocess
import sys
from pathlib import Path

import pytest

needs_chdb = pytest.mark.skipif(
    importlib.util.find_spec("chdb") is None, reason="the clickhouse extra is not installed"
)

ROOT = Path(__file__).resolve().parents[1]
DEMO = ["--mau", "200", "--start", "2026-08-01", "--end", "2026-09-01", "--seed", "3"]


def cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "zantara_nb.cli", *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )


def counts(status: str) -> tuple[int, int, int]:
    """(events, persons, loads) from ``zantara-nb status``."""
    events, persons = re.search(r"Events\s+([\d,]+)\s+\(([\d,]+) persons", status).groups()
    loads = re.search(r"Loads\s+(\d+)", status).group(1)
    return int(events.replace(",", "")), int(persons.replace(",", "")), int(loads)


@needs_chdb
def test_demo_status_and_ingest_on_chdb_match_duckdb(tmp_path):
    duck, ch = tmp_path / "w.duckdb", f"chdb:{tmp_path / 'w.chdb'}"
    out = str(tmp_path / "demo")
    for address in (str(duck), ch):
        r = cli("demo", *DEMO, "--out", out, "--warehouse", address)
        assert r.returncode == 0, r.stderr[-2000:]
    on_duck = counts(cli("status", "--warehouse", str(duck)).stdout)
    status = cli("status", "--warehouse", ch)
    assert status.returncode == 0, status.stderr[-2000:]
    assert counts(status.stdout) == on_duck and on_duck[0] > 1000

    # the demo again replaces its own warehouse: nothing doubles
    assert cli("demo", *DEMO, "--out", out, "--warehouse", ch).returncode == 0
    assert counts(cli("status", "--warehouse", ch).stdout) == on_duck

    # loading one of its files again adds nothing
    first = sorted(Path(out).glob("events_*.parquet"))[-1]
    r = cli("ingest", str(first), "--warehouse", ch)
    assert r.returncode == 0, r.stderr[-2000:]
    assert re.search(r"loaded\s+0\b", r.stdout), r.stdout
    events, persons, loads = counts(cli("status", "--warehouse", ch).stdout)
    assert (events, persons, loads) == (on_duck[0], on_duck[1], on_duck[2] + 1)


def test_demo_refuses_to_replace_data_it_did_not_load(tmp_path):
    # the same check on every engine (chdb: see the test above for its replacement)
    address = str(tmp_path / "w.duckdb")
    mine = tmp_path / "mine.jsonl"
    mine.write_text(
        '{"uuid": "0192f0e4-0000-7000-8000-000000000001", "event": "message_sent", '
        '"timestamp": "2026-08-03T10:00:00Z", "distinct_id": "u1", "properties": {}}\n'
    )
    assert cli("ingest", str(mine), "--warehouse", address).returncode == 0
    r = cli("demo", *DEMO, "--out", str(tmp_path / "demo"), "--warehouse", address)
    assert r.returncode == 2 and "refusing to replace it with demo data" in r.stderr
    assert counts(cli("status", "--warehouse", address).stdout)[0] == 1  # untouched
    r = cli("demo", *DEMO, "--out", str(tmp_path / "demo"), "--warehouse", address, "--force")
    assert r.returncode == 0, r.stderr[-2000:]
    assert counts(cli("status", "--warehouse", address).stdout)[0] > 1000
