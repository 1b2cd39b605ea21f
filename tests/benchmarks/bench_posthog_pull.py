"""PostHog pull benchmark: N events pulled from the local stand-in vs the same events
loaded from a file, in the same run.

    python tests/benchmarks/bench_posthog_pull.py [--events 1000000] [--page-size 50000]

Generates N PostHog-style events (the loader benchmark's generator, bad rows dropped:
PostHog never serves them), writes them as a PostHog JSONL export, and serves the same
events from the stand-in of the query API (``tests/posthog_standin.py``) in this process,
each row's JSON encoded once before timing (a real PostHog does that work on its own
machines). Then, each in a fresh subprocess and a fresh warehouse file:

* ``file``: ``zantara_nb.ingest.ingest`` of the JSONL export;
* ``pull``: ``zantara_nb.ingest.posthog_pull.pull`` of the same events over HTTP, pages
  of ``--page-size`` rows, one time slice (so the pages are full).

Prints wall and CPU seconds, events/s, the pull/file ratio (target: <= 1.5) and the
pull's own split (waiting for the server, decoding, loading). Nothing is asserted.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve()
ROOT = HERE.parents[2]
sys.path.insert(0, str(ROOT / "tests"))
sys.path.insert(0, str(ROOT))


def _child(kind: str, src: str, db: str, extra: str) -> None:
    from datetime import UTC, datetime, timedelta

    from zantara_nb import Warehouse

    t0, c0 = time.perf_counter(), time.process_time()
    with Warehouse(db) as wh:
        if kind == "file":
            from zantara_nb.ingest import ingest

            (s,) = ingest(wh, [src], format="posthog-jsonl")
            out = {
                "loaded": s.loaded,
                "duplicates": s.duplicates,
                "quarantined": s.quarantined_total,
            }
        else:
            from zantara_nb.ingest.posthog_pull import PullConfig, pull

            cfg_d = json.loads(extra)
            cfg = PullConfig(
                host=src,
                project_id=cfg_d["project_id"],
                page_size=cfg_d["page_size"],
                commit_rows=cfg_d["commit_rows"],
                slice=timedelta(days=400),
            )
            r = pull(
                wh,
                cfg,
                since="2025-05-01",
                until="2026-01-01",
                now=datetime(2026, 1, 2, tzinfo=UTC),
                progress=False,
            )
            out = {
                "loaded": r.loaded,
                "duplicates": r.duplicates,
                "quarantined": r.quarantined,
                "pages": r.pages,
                "loads": r.loads,
                "requests": r.requests,
                "http": r.http_seconds,
                "decode": r.decode_seconds,
                "load": r.load_seconds,
            }
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    out["seconds"] = time.perf_counter() - t0
    out["cpu"] = time.process_time() - c0 + children.ru_utime + children.ru_stime
    out["peak_rss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(json.dumps(out))


def _run(kind: str, src: str, db: Path, extra: str = "{}", env: dict | None = None) -> dict:
    db.unlink(missing_ok=True)
    Path(str(db) + ".wal").unlink(missing_ok=True)
    proc = subprocess.run(
        [sys.executable, str(HERE), "--child", kind, src, str(db), extra],
        capture_output=True,
        text=True,
        check=False,
        cwd=ROOT,
        env=env,
    )
    if proc.returncode != 0:
        raise SystemExit(f"{kind} failed:\n{proc.stderr[-4000:]}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def _events(work: Path, n: int):
    """The generator's file, bad rows dropped: (clean JSONL path, store rows)."""
    import duckdb
    from ingest_fixtures import generate_posthog_jsonl

    raw = work / "raw.jsonl"
    generate_posthog_jsonl(raw, n)
    clean = work / f"posthog_{n}.jsonl"
    con = duckdb.connect()
    con.execute("SET TimeZone = 'UTC'")
    con.execute(
        f"""
        CREATE TABLE ev AS
        SELECT json_extract_string(j, '$.uuid') AS uuid, json_extract_string(j, '$.event') AS event,
               json_extract_string(j, '$.distinct_id') AS distinct_id,
               TRY_CAST(json_extract_string(j, '$.timestamp') AS TIMESTAMPTZ) AS ts,
               json_extract(j, '$.properties')::VARCHAR AS properties
        FROM read_json_objects('{raw}', format = 'newline_delimited', ignore_errors = true) t(j)
        WHERE json_valid(j) AND json_type(j) = 'OBJECT'
        """
    )
    con.execute(
        """DELETE FROM ev WHERE uuid IS NULL OR event IS NULL OR distinct_id IS NULL OR ts IS NULL
           OR ts > TIMESTAMPTZ '2026-01-01' OR properties IS NULL OR NOT starts_with(properties, '{')"""
    )
    con.execute(
        f"""COPY (SELECT uuid, event, distinct_id,
                         strftime(ts, '%Y-%m-%dT%H:%M:%S.%f') || '+00:00' AS timestamp,
                         properties::JSON AS properties FROM ev)
            TO '{clean}' (FORMAT JSON)"""
    )
    rows = con.execute(
        "SELECT epoch_us(ts), uuid, event, distinct_id, properties FROM ev"
    ).fetchall()
    raw.unlink()
    return clean, rows


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--events", type=int, default=1_000_000)
    ap.add_argument("--page-size", type=int, default=50_000)
    ap.add_argument("--commit-rows", type=int, default=1_000_000, help="rows per load")
    ap.add_argument("--child", nargs=4, help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.child:
        _child(*args.child)
        return 0

    from posthog_standin import StandIn

    work = Path(tempfile.mkdtemp(prefix="bench_posthog_"))
    t = time.perf_counter()
    clean, rows = _events(work, args.events)
    n = len(rows)
    print(
        f"generated {n:,} events ({clean.stat().st_size / 1e9:.2f} GB JSONL) "
        f"in {time.perf_counter() - t:.1f} s"
    )
    with StandIn() as ph:
        t = time.perf_counter()
        ph.store.extend_sorted(rows)
        del rows
        ph.store.warm()
        print(f"stand-in ready in {time.perf_counter() - t:.1f} s ({ph.url})")
        env = dict(os.environ, POSTHOG_PERSONAL_API_KEY=ph.key)
        results = {
            "file (JSONL export)": _run("file", str(clean), work / "file.duckdb"),
            "pull (query API)": _run(
                "pull",
                ph.url,
                work / "pull.duckdb",
                json.dumps(
                    {
                        "project_id": ph.project_id,
                        "page_size": args.page_size,
                        "commit_rows": args.commit_rows,
                    }
                ),
                env,
            ),
        }
    ref = results["file (JSONL export)"]
    print()
    print(
        f"{'run':<22}{'wall s':>9}{'cpu s':>9}{'events/s':>12}{'peak RSS':>11}{'wall x':>9}{'cpu x':>8}"
    )
    for name, r in results.items():
        print(
            f"{name:<22}{r['seconds']:>9.1f}{r['cpu']:>9.1f}{n / r['seconds']:>12,.0f}"
            f"{r['peak_rss_mb'] / 1024:>8.2f} GB{r['seconds'] / ref['seconds']:>9.2f}"
            f"{r['cpu'] / ref['cpu']:>8.2f}"
        )
    p = results["pull (query API)"]
    print()
    print(
        f"pull: {p['pages']} pages of {args.page_size:,}, {p['requests']} requests, "
        f"{p['loads']} loads; waiting for the server {p['http']:.1f} s, decoding "
        f"{p['decode']:.1f} s, loading {p['load']:.1f} s"
    )
    print(f"loaded: file {ref['loaded']:,}, pull {p['loaded']:,} (of {n:,})")
    print(
        f"target: pull within 1.5x of the file load (wall x = {p['seconds'] / ref['seconds']:.2f})"
    )
    shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
