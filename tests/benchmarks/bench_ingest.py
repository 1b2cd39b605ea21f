"""Loader benchmark: our full ``ingest`` against DuckDB's own ``read_json`` on one file.

    python tests/benchmarks/bench_ingest.py [--events N] [--keep DIR] [--skip-file-db]

Writes a PostHog-style JSONL file (uuid, event, distinct_id, timestamp, properties with
realistic ZANTARA properties, 1% bad rows) with DuckDB COPY, then runs, each in a fresh
subprocess (so peak RSS is per run):

* ``read_json`` : ``CREATE TABLE t AS SELECT * FROM read_json(file, ignore_errors=true)``
  into a fresh in-memory database, and into a fresh database file;
* ``floor``     : the least a loader into our warehouse has to do, as a reference: the
  same reader, chunks and per-chunk commits, one parse of the envelope and one of the
  properties into the typed columns, appended to the same ``events`` table; no
  validation, quarantine, dedupe, IP truncation, identity or load record;
* ``checks``    : the loader's staging SQL (every check, the typed columns, IP truncation)
  as one parallel DuckDB statement over DuckDB's own line reader, written to a fresh
  database file: no chunks, dedupe, quarantine, identity or line numbers, so a lower
  bound for any loader that runs these checks in DuckDB;
* ``ingest``    : ``zantara_nb.ingest.ingest`` into a fresh warehouse file (validation,
  quarantine, dedupe, privacy, typed columns, identity stitching, loads record).

Prints wall and CPU seconds, rows/s, the ingest / read_json ratios and peak RSS.
Nothing is asserted. CPU seconds are printed because shared machines make wall time
noisy; the ratios are given for both.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve()
ROOT = HERE.parents[2]
sys.path.insert(0, str(ROOT / "tests"))
sys.path.insert(0, str(ROOT))


def _child(kind: str, path: str, target: str) -> None:
    """Run one measurement in this (fresh) process and print it as JSON."""
    import duckdb

    t0, c0 = time.perf_counter(), time.process_time()
    out: dict = {}
    if kind == "read_json":
        con = duckdb.connect(target)
        con.execute("SET enable_progress_bar = false")
        con.execute(f"CREATE TABLE t AS SELECT * FROM read_json('{path}', ignore_errors = true)")
        if target != ":memory:":
            con.execute("CHECKPOINT")
        out["rows"] = con.execute("SELECT count(*) FROM t").fetchall()[0][0]
        con.close()
    elif kind == "checks":
        out["rows"] = _checks(path, target)
    elif kind == "floor":
        out["rows"] = _floor(path, target)
    else:
        from datetime import UTC, datetime

        from zantara_nb.ingest import ingest
        from zantara_nb.warehouse import Warehouse

        with Warehouse(target) as wh:
            [s] = ingest(wh, path, now=datetime(2025, 12, 1, tzinfo=UTC))
            out.update(
                rows=s.rows_read,
                loaded=s.loaded,
                duplicates=s.duplicates,
                quarantined=sum(s.quarantined.values()),
                adds_up=s.adds_up,
                summary=str(s),
            )
    out["seconds"] = time.perf_counter() - t0
    out["cpu"] = time.process_time() - c0
    out["peak_rss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(json.dumps(out))


def _floor(path: str, target: str) -> int:
    """Parse, type and append only (see the module docstring); returns rows written.

    Writes like the loader does (same memory limit, whole row groups on one thread,
    a commit per chunk) so that the difference to ``ingest`` is the checks alone.
    """
    from pathlib import Path as P
    from types import SimpleNamespace

    import pyarrow as pa

    from zantara_nb.ingest.load import INGEST_MEMORY_LIMIT, _flush
    from zantara_nb.ingest.readers import CHUNK_ROWS, _jsonl_fast, _rechunk
    from zantara_nb.warehouse import Warehouse
    from zantara_nb.warehouse import tracking_plan as tp

    struct = {k: c.sql_type for c in tp.TYPED_COLUMNS for k, _ in c.sources[:1]}
    struct["session_id"] = "VARCHAR"
    typed = ", ".join(f't."{c.sources[0][0]}" AS {c.name}' for c in tp.TYPED_COLUMNS)
    sql = f"""
        SELECT x[1] AS uuid, x[2] AS event, try_cast(x[4] AS TIMESTAMPTZ) AS timestamp,
            x[3] AS distinct_id, x[3] AS person_id, t.session_id, x[5] AS properties,
            NULL::VARCHAR AS set_props, NULL::VARCHAR AS anon_distinct_id,
            NULL::VARCHAR AS ip, {typed}, 1::INTEGER AS load_id
        FROM (SELECT x, json_transform(x[5], '{json.dumps(struct)}') AS t FROM (
            SELECT json_extract_string(
                _raw, ['$.uuid', '$.event', '$.distinct_id', '$.timestamp', '$.properties']) AS x
            FROM _zn_chunk WHERE json_valid(_raw)))
        WHERE x[2] IS NOT NULL AND try_cast(x[4] AS TIMESTAMPTZ) IS NOT NULL
    """
    rows = 0
    with Warehouse(target) as wh:
        con = wh.con
        con.execute("SET preserve_insertion_order = false")
        con.execute(f"SET memory_limit = '{INGEST_MEMORY_LIMIT}'")
        threads = con.execute("SELECT current_setting('threads')").fetchall()[0][0]
        state = SimpleNamespace(threads=threads, pending=None)
        for chunk in _rechunk(_jsonl_fast(P(path), False), CHUNK_ROWS):
            con.register("_zn_chunk", chunk)
            new = con.sql(sql).to_arrow_reader(65_536).read_all()
            con.unregister("_zn_chunk")
            rows += new.num_rows
            state.pending = new if state.pending is None else pa.concat_tables([state.pending, new])
            con.execute("BEGIN TRANSACTION")
            _flush(con, state, final=False)
            con.execute("COMMIT")
        con.execute("BEGIN TRANSACTION")
        _flush(con, state, final=True)
        con.execute("COMMIT")
    return rows


def _checks(path: str, target: str) -> int:
    """The staging SQL over the whole file in one statement; returns rows staged."""
    from datetime import UTC, datetime

    import duckdb

    from zantara_nb.ingest.load import INGEST_MEMORY_LIMIT
    from zantara_nb.ingest.normalize import envelope, stage_sql

    con = duckdb.connect(target)
    con.execute("SET TimeZone = 'UTC'")
    con.execute("SET preserve_insertion_order = false")
    con.execute(f"SET memory_limit = '{INGEST_MEMORY_LIMIT}'")
    lines = (
        "(SELECT 0::BIGINT AS _line, _raw, NULL::VARCHAR AS _parse_error FROM read_csv("
        f"'{path}', columns = {{'_raw': 'VARCHAR'}}, delim = chr(30), quote = '', "
        "escape = '', header = false, auto_detect = false))"
    )
    env = envelope(path, "posthog-jsonl", "jsonl")
    sql = stage_sql(env, datetime(2025, 12, 1, tzinfo=UTC), source=lines)
    con.execute(f"CREATE TABLE staged AS {sql}")
    con.execute("CHECKPOINT")
    rows = con.execute("SELECT count(*) FROM staged").fetchall()[0][0]
    con.close()
    return rows


def _run(kind: str, path: Path, target: str) -> dict:
    proc = subprocess.run(
        [sys.executable, str(HERE), "--child", kind, str(path), target],
        capture_output=True,
        text=True,
        check=False,
        cwd=ROOT,
    )
    if proc.returncode != 0:
        raise SystemExit(f"{kind} failed:\n{proc.stderr[-4000:]}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--events", type=int, default=5_000_000)
    ap.add_argument("--keep", help="directory for the generated file and databases (kept)")
    ap.add_argument("--skip-file-db", action="store_true", help="skip read_json into a file db")
    ap.add_argument("--child", nargs=3, help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.child:
        _child(*args.child)
        return 0

    from ingest_fixtures import generate_posthog_jsonl

    work = Path(args.keep) if args.keep else Path(tempfile.mkdtemp(prefix="bench_ingest_"))
    work.mkdir(parents=True, exist_ok=True)
    path = work / f"posthog_{args.events}.jsonl"
    t = time.perf_counter()
    expected = generate_posthog_jsonl(path, args.events)
    size = path.stat().st_size
    print(
        f"generated {args.events:,} events ({size / 1e9:.2f} GB, {expected['bad']:,} bad rows) "
        f"in {time.perf_counter() - t:.1f} s -> {path}"
    )

    results = {}
    results["read_json (in-memory db)"] = _run("read_json", path, ":memory:")
    if not args.skip_file_db:
        db = work / "read_json.duckdb"
        db.unlink(missing_ok=True)
        results["read_json (fresh db file)"] = _run("read_json", path, str(db))
    for kind, name in (
        ("checks", "checks: one statement"),
        ("floor", "floor: parse, type, write"),
        ("ingest", "ingest (fresh warehouse)"),
    ):
        wh = work / f"{kind}.duckdb"
        wh.unlink(missing_ok=True)
        Path(str(wh) + ".wal").unlink(missing_ok=True)
        results[name] = _run(kind, path, str(wh))

    n = args.events
    ref_name = next(k for k in reversed(list(results)) if k.startswith("read_json"))
    ref = results[ref_name]
    print()
    print(f"ratios (x) are to {ref_name}")
    print(
        f"{'run':<30}{'wall s':>9}{'cpu s':>9}{'rows/s':>12}{'peak RSS':>11}"
        f"{'wall x':>9}{'cpu x':>8}"
    )
    for name, r in results.items():
        print(
            f"{name:<30}{r['seconds']:>9.1f}{r['cpu']:>9.1f}{n / r['seconds']:>12,.0f}"
            f"{r['peak_rss_mb'] / 1024:>8.2f} GB{r['seconds'] / ref['seconds']:>9.2f}"
            f"{r['cpu'] / ref['cpu']:>8.2f}"
        )
    ing = results["ingest (fresh warehouse)"]
    print()
    print(
        f"ingest: {ing['loaded']:,} loaded, {ing['quarantined']:,} quarantined, "
        f"{ing['duplicates']:,} duplicates (adds up: {ing['adds_up']}); "
        f"expected {n - expected['bad']:,} / {expected['bad']:,}"
    )
    print(f"targets: ratio <= 1.5, peak RSS < 3 GB (got {ing['peak_rss_mb'] / 1024:.2f} GB)")
    if not args.keep:
        for p in work.iterdir():
            p.unlink()
        os.rmdir(work)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
