"""Streaming: a 1M-row JSON lines file and a large JSON array load in a subprocess with
bounded peak RSS.

Run with ``-s`` to see the measured figures. The 5M-row benchmark is
``python tests/benchmarks/bench_ingest.py``.
"""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from ingest_fixtures import generate_posthog_jsonl

ROWS = 1_000_000
#: two chunks are in memory at once (one written, the next staged ahead): ~1.35 GB measured
RSS_LIMIT_MB = 2000

CHILD = textwrap.dedent(
    """
    import json, resource, sys, time
    from datetime import UTC, datetime
    from zantara_nb.ingest import ingest
    from zantara_nb.warehouse import Warehouse

    def peak_rss_mb():
        # this process's own high-water mark: ru_maxrss carries the parent's across
        # exec, so a pytest worker that grew before would be counted
        try:
            with open("/proc/self/status") as fh:
                for line in fh:
                    if line.startswith("VmHWM:"):
                        return int(line.split()[1]) / 1024
        except OSError:
            pass
        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024

    path, db = sys.argv[1], sys.argv[2]
    t = time.perf_counter()
    with Warehouse(db) as wh:
        [s] = ingest(wh, path, now=datetime(2025, 12, 1, tzinfo=UTC))
        events = wh.scalar("SELECT count(*) FROM events")
        quarantine = wh.scalar("SELECT count(*) FROM quarantine")
    print(json.dumps({
        "seconds": time.perf_counter() - t,
        "peak_rss_mb": peak_rss_mb(),
        "rows_read": s.rows_read, "loaded": s.loaded, "duplicates": s.duplicates,
        "quarantined": s.quarantined, "events": events, "quarantine": quarantine,
    }))
    """
)


def _load_in_child(path: Path, db: Path) -> dict:
    root = Path(__file__).resolve().parents[2]
    out = subprocess.run(
        [sys.executable, "-c", CHILD, str(path), str(db)],
        capture_output=True,
        text=True,
        timeout=300,
        cwd=root,
        check=False,
    )
    assert out.returncode == 0, out.stderr[-3000:]
    return json.loads(out.stdout.strip().splitlines()[-1])


@pytest.mark.slow
def test_one_million_rows_bounded_memory(tmp_path):
    path = tmp_path / "big.jsonl"
    expected = generate_posthog_jsonl(path, ROWS)
    r = _load_in_child(path, tmp_path / "w.duckdb")
    print(
        f"\n1M-row JSONL ({path.stat().st_size / 1e6:.0f} MB): {r['seconds']:.1f} s, "
        f"{ROWS / r['seconds']:,.0f} rows/s, peak RSS {r['peak_rss_mb']:.0f} MB"
    )
    assert r["rows_read"] == ROWS
    assert r["loaded"] == r["events"] == ROWS - expected["bad"]
    assert sum(r["quarantined"].values()) == r["quarantine"] == expected["bad"]
    assert r["duplicates"] == 0
    assert r["peak_rss_mb"] < RSS_LIMIT_MB, f"peak RSS {r['peak_rss_mb']:.0f} MB"


ARRAY_ROWS = 600_000
ARRAY_RSS_LIMIT_MB = 1200


@pytest.mark.slow
def test_large_json_array_streams(tmp_path):
    """A JSON array file is streamed element by element, not read whole: a 230 MB array
    loads with peak RSS about that of a JSON lines file (reading it whole into one JSON
    document, as the loader once did, ran out of memory under the 1 GB ingest limit)."""
    lines = tmp_path / "rows.jsonl"
    generate_posthog_jsonl(lines, ARRAY_ROWS)
    path = tmp_path / "big.json"
    good = 0
    with open(lines, encoding="utf-8") as src, open(path, "w", encoding="utf-8") as out:
        out.write("[\n")
        for line in src:
            try:
                json.loads(line)
            except ValueError:
                continue  # the generator's truncated rows would break the whole array
            out.write((",\n" if good else "") + line.rstrip("\n"))
            good += 1
        out.write("\n]\n")
    lines.unlink()
    size_mb = path.stat().st_size / 1e6
    r = _load_in_child(path, tmp_path / "w.duckdb")
    print(
        f"\n{good:,}-element JSON array ({size_mb:.0f} MB): {r['seconds']:.1f} s, "
        f"peak RSS {r['peak_rss_mb']:.0f} MB"
    )
    assert r["rows_read"] == good
    assert r["events"] + r["quarantine"] == good
    assert r["peak_rss_mb"] < ARRAY_RSS_LIMIT_MB, f"peak RSS {r['peak_rss_mb']:.0f} MB"
