"""GDPR and retention benchmark on the 50M-event warehouse, each beside a plain scan.

    python tests/benchmarks/bench_gdpr.py [--src /work/bench/bench50m.duckdb]
        [--db /work/bench/gdpr50m.duckdb] [--fresh] [--skip-retention]

The source warehouse is never modified: it is copied to ``--db`` first (``--fresh``
copies it again). Then, in one process, each operation is timed right after a *plain
scan* of the events table (``sum(length(person_id)) + sum(length(distinct_id))``: the
two id columns read once, what any per-person operation must at least do; an equality
filter would be answered from the row groups' min/max and is no reference):

* export of the heaviest person (most events) to a JSON file;
* delete of one typical person, and of the heaviest one (target: under 5 s);
* delete of 1,000 random persons in one call;
* the retention policy: a first run that catches up (rolls up every day before the
  horizon and deletes the raw events past 90 days, informative), then one daily run
  the day after (roll-up of a day plus deletion past the horizon).

Prints seconds, the plain scan beside it and the ratio, with the machine load
(``uptime``) before and after. Nothing is asserted.
"""

from __future__ import annotations

import argparse
import os
import random
import shutil
import subprocess
import sys
import tempfile
import time
from datetime import timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))


def uptime() -> str:
    try:
        return subprocess.run(["uptime"], capture_output=True, text=True).stdout.strip()
    except OSError:
        return f"load average {os.getloadavg()}"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--src", default="/work/bench/bench50m.duckdb")
    ap.add_argument("--db", default="/work/bench/gdpr50m.duckdb")
    ap.add_argument("--fresh", action="store_true", help="copy the source again")
    ap.add_argument("--skip-retention", action="store_true")
    ap.add_argument("--seed", type=int, default=15)
    args = ap.parse_args(argv)

    from zantara_nb.gdpr import delete_person, export_person
    from zantara_nb.gdpr.erase import delete_persons
    from zantara_nb.retention_policy.apply import apply_retention
    from zantara_nb.retention_policy.policy import Policy
    from zantara_nb.warehouse import Warehouse

    src, db = Path(args.src), Path(args.db)
    if src.resolve() == db.resolve():
        raise SystemExit("--db must not be the source warehouse")
    if args.fresh or not db.exists():
        t = time.perf_counter()
        for suffix in ("", ".wal"):
            Path(str(db) + suffix).unlink(missing_ok=True)
        shutil.copyfile(src, db)
        print(f"copied {src} -> {db} in {time.perf_counter() - t:.1f} s")
    print("before:", uptime())
    rows: list[tuple[str, float, float, str]] = []
    wh = Warehouse(db)

    def scan() -> float:
        t = time.perf_counter()
        wh.scalar("SELECT sum(length(person_id)) + sum(length(distinct_id)) FROM events")
        return time.perf_counter() - t

    def timed(name: str, fn, note=lambda r: ""):
        s = scan()
        t = time.perf_counter()
        r = fn()
        sec = time.perf_counter() - t
        rows.append((name, sec, s, note(r)))
        print(f"{name}: {sec:.2f} s (plain scan {s:.2f} s) {note(r)}", flush=True)
        return r

    n_events = wh.scalar("SELECT count(*) FROM events")
    print(f"{n_events:,} events, {wh.scalar('SELECT count(*) FROM persons'):,} persons")
    heavy, heavy_n = wh.engine.rows(
        "SELECT person_id, count(*) AS n FROM events GROUP BY 1 ORDER BY 2 DESC LIMIT 1"
    )[0]
    rng = random.Random(args.seed)
    persons = [
        r[0]
        for r in wh.engine.rows(
            f"SELECT person_id FROM persons WHERE person_id <> '{heavy}' ORDER BY hash(person_id) LIMIT 20000"
        )
    ]
    typical, batch = persons[0], rng.sample(persons[1:], 1000)

    out = Path(tempfile.mkdtemp(prefix="bench_gdpr_")) / "export.json"
    timed(
        f"export heaviest person ({heavy_n:,} events)",
        lambda: export_person(wh, heavy, out),
        lambda r: f"{r[1].get('events', 0):,} events, {out.stat().st_size / 1e6:.1f} MB",
    )
    timed(
        "delete one typical person",
        lambda: delete_person(wh, typical, reports_dir=None),
        lambda r: f"{r.total:,} rows",
    )
    timed(
        f"delete the heaviest person ({heavy_n:,} events)",
        lambda: delete_person(wh, heavy, reports_dir=None),
        lambda r: f"{r.total:,} rows",
    )
    timed(
        "delete 1,000 persons in one call",
        lambda: delete_persons(wh, batch, reports_dir=None),
        lambda r: f"{r.total:,} rows, {sum(g.found for g in r.groups):,} found",
    )
    if not args.skip_retention:
        last = wh.scalar("SELECT max(timestamp) FROM events")
        today = (last + timedelta(days=2)).date()
        policy = Policy()
        timed(
            f"retention: first run, catching up ({today})",
            lambda: apply_retention(wh, policy, today=today),
            lambda r: (
                f"rolled {(r.rolled_days[1] - r.rolled_days[0]).days if r.rolled_days else 0} days, "
                f"deleted {r.deleted['raw events']:,} raw events, kept "
                f"{r.kept.get('history skeleton events', 0):,} skeleton"
            ),
        )
        timed(
            f"retention: daily run ({today + timedelta(days=1)})",
            lambda: apply_retention(wh, policy, today=today + timedelta(days=1)),
            lambda r: (
                f"rolled {(r.rolled_days[1] - r.rolled_days[0]).days if r.rolled_days else 0} day(s), "
                f"deleted {r.deleted['raw events']:,} raw events"
            ),
        )
    wh.close()
    print()
    print(f"{'operation':<52}{'seconds':>9}{'scan s':>9}{'x scan':>8}  detail")
    for name, sec, s, note in rows:
        print(f"{name:<52}{sec:>9.2f}{s:>9.2f}{sec / s:>8.1f}  {note}")
    print("after:", uptime())
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
