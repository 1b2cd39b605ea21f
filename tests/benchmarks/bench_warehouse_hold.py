"""What holding the warehouse per statement / per metric costs (see README, "Warehouse").

    python tests/benchmarks/bench_warehouse_hold.py [--warehouse data/zantara.duckdb] [-n 200]

A file warehouse is attached only while it is held: outside a ``with wh.reading():``
block each statement holds it for itself (locks, ATTACH, the statement, DETACH), and a
metric holds it once for all its statements. Prints milliseconds per call for:

* ``duckdb``      a plain DuckDB connection kept open (what the warehouse did before);
* ``held``        ``wh.scalar`` inside one ``with wh.reading():`` block (no per-call hold);
* ``per call``    ``wh.scalar`` on its own (one hold per statement);

for a trivial statement and a typical scan, then a metric (``z.dau``) called on its own
against the same metric inside an outer hold. The differences are the cost of a hold.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))


def _ms(fn, n: int) -> float:
    fn()  # warm up
    times = []
    for _ in range(n):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return statistics.median(times) * 1000


def main(argv: list[str] | None = None) -> int:
    import duckdb

    import zantara_nb as z

    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--warehouse", default="data/zantara.duckdb")
    ap.add_argument("-n", type=int, default=200, help="calls per measurement")
    a = ap.parse_args(argv)
    path = Path(a.warehouse)
    size = path.stat().st_size / 1e6
    queries = {
        "SELECT 1": "SELECT 1",
        "count distinct persons of a week": (
            "SELECT count(DISTINCT person_id) FROM events WHERE event = 'message_sent' "
            "AND timestamp >= (SELECT max(timestamp) FROM events) - INTERVAL 7 DAY"
        ),
    }
    raw = duckdb.connect(str(path), read_only=True)
    raw.execute("SET TimeZone = 'UTC'")
    wh = z.Warehouse(path, read_only=True)
    events = wh.scalar("SELECT count(*) FROM events")
    print(f"warehouse {path} ({size:.0f} MB, {events:,} events), median of {a.n} calls\n")
    print(f"{'statement':36} {'duckdb':>9} {'held':>9} {'per call':>9} {'hold cost':>10}")
    for label, q in queries.items():
        base = _ms(lambda q=q: raw.execute(q).fetchall(), a.n)
        with wh.reading():
            held = _ms(lambda q=q: wh.scalar(q), a.n)
        per = _ms(lambda q=q: wh.scalar(q), a.n)
        print(f"{label:36} {base:8.2f}  {held:8.2f}  {per:8.2f}  {per - held:+9.2f} ms")
    raw.close()

    m = max(5, a.n // 10)
    alone = _ms(lambda: z.dau(wh, window="28d"), m)
    with wh.reading():
        inside = _ms(lambda: z.dau(wh, window="28d"), m)
    print(
        f"\n{'z.dau(wh, window=28d)':36} {'':9} {inside:8.2f}  {alone:8.2f}  {alone - inside:+9.2f} ms"
    )
    wh.close()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
