"""Precision and recall of the anomaly detector on demo data, over several seeds.

    python tests/benchmarks/bench_anomalies.py [--seeds 1 2 3 4 5] [--mau 2500]
        [--start 2026-05-04] [--end 2026-08-24] [--keep DIR]

For each seed, two demo data sets are generated and loaded (``zantara_nb.demo``): one
with the planted incidents (a latency regression day, an error-burst hour, a category
spike day) and one without (``incidents=False``). ``anomalies()`` then runs over every
day that has 4 weeks of history (range start + 28 days to the end). Scoring
(:func:`zantara_nb.insights.anomalies.truth_check`):

- an incident is *found* when its main series is flagged on its day (P95 latency; the
  error count; the spiking category's message count) -> recall = found / planted;
- a flag is a *true positive* when it is on an incident's day in a series the incident
  moves (``INCIDENT_SERIES``: e.g. total messages and cost also rise on a category-spike
  day); every other flag, and every flag on a data set without incidents, is a *false
  positive* -> precision = true positives / flags.

Prints one line per data set, then the totals and the time per ``anomalies()`` call.
Target: recall 1.0 and no false positive.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from datetime import date, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from zantara_nb import Warehouse  # noqa: E402
from zantara_nb.demo import DemoConfig, GroundTruth, load_demo  # noqa: E402
from zantara_nb.insights.anomalies import anomalies, truth_check  # noqa: E402


def _pct(x: float | None) -> str:
    return "—" if x is None else f"{100 * x:.1f}%"


def run_one(seed: int, incidents: bool, args, work: Path) -> dict:
    d = work / f"seed{seed}_{'inc' if incidents else 'clean'}"
    d.mkdir(parents=True, exist_ok=True)
    wh = Warehouse(d / "w.duckdb")
    try:
        t0 = time.perf_counter()
        res = load_demo(
            wh,
            DemoConfig(
                seed=seed,
                start=args.start,
                end=args.end,
                monthly_active_users=args.mau,
                incidents=incidents,
                out_dir=d / "demo",
            ),
        )
        load_s = time.perf_counter() - t0
        truth = GroundTruth.load(res.truth_path)
        start = date.fromisoformat(truth.start) + timedelta(days=28)
        t0 = time.perf_counter()
        out = anomalies(wh, start=start, end=truth.end, as_of=truth.as_of, tz=truth.timezone)
        run_s = time.perf_counter() - t0
        check = truth_check(out.df, truth.incidents)
        evaluated = int(out.extra["points"]["evaluated"].sum())
    finally:
        wh.close()
    fps = out.df.iloc[0:0]
    if check["false_positives"]:
        tp_days = {
            (v["date"])
            for v in truth.incidents.values()
            if isinstance(v, dict) and v.get("planted")
        }
        fps = out.df[~out.df["date"].dt.strftime("%Y-%m-%d").isin(tp_days)]
    return {
        "seed": seed,
        "incidents": incidents,
        "events": res.events,
        "evaluated": evaluated,
        "load_s": load_s,
        "run_s": run_s,
        "fps": fps,
        **check,
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--seeds", type=int, nargs="+", default=[1, 2, 3, 4, 5])
    ap.add_argument("--mau", type=int, default=2500, help="monthly active users of each demo")
    ap.add_argument("--start", default="2026-05-04")
    ap.add_argument("--end", default="2026-08-24")
    ap.add_argument("--keep", help="keep the generated data sets in this directory")
    args = ap.parse_args()
    tmp = None
    if args.keep:
        work = Path(args.keep)
    else:
        tmp = tempfile.TemporaryDirectory(prefix="bench_anomalies_")
        work = Path(tmp.name)
    rows = []
    print(
        f"{'seed':>4} {'incidents':>9} {'events':>9} {'points':>7} {'flags':>5} {'TP':>3} "
        f"{'FP':>3} {'found':>7} {'precision':>9} {'recall':>7} {'load s':>7} {'run s':>6}"
    )
    for seed in args.seeds:
        for incidents in (True, False):
            r = run_one(seed, incidents, args, work)
            rows.append(r)
            print(
                f"{seed:>4} {'yes' if incidents else 'no':>9} {r['events']:>9,} "
                f"{r['evaluated']:>7,} {r['flagged']:>5} {r['true_positives']:>3} "
                f"{r['false_positives']:>3} {r['found']:>3}/{r['planted']:<3} "
                f"{_pct(r['precision']):>9} {_pct(r['recall']):>7} {r['load_s']:>7.1f} "
                f"{r['run_s']:>6.2f}"
            )
            if r["missed"]:
                print(f"       missed: {', '.join(r['missed'])}")
            for f in r["fps"].itertuples():
                print(
                    f"       false positive: {f.metric} [{f.dimension}={f.value}] "
                    f"{f.date:%Y-%m-%d} observed {f.observed:.4g} expected {f.expected:.4g} "
                    f"z {f.z:.1f}"
                )
    flags = sum(r["flagged"] for r in rows)
    tp = sum(r["true_positives"] for r in rows)
    found = sum(r["found"] for r in rows)
    planted = sum(r["planted"] for r in rows)
    clean_fp = sum(r["false_positives"] for r in rows if not r["incidents"])
    points = sum(r["evaluated"] for r in rows)
    print()
    print(f"data sets: {len(rows)} ({len(args.seeds)} seeds x with/without incidents)")
    print(f"points evaluated: {points:,}")
    print(f"recall:    {found}/{planted} = {_pct(found / planted if planted else None)}")
    print(f"precision: {tp}/{flags} = {_pct(tp / flags if flags else None)}")
    print(f"false positives: {flags - tp} (on data sets without incidents: {clean_fp})")
    print(f"mean anomalies() time: {sum(r['run_s'] for r in rows) / len(rows):.2f} s")
    if tmp is not None:
        tmp.cleanup()


if __name__ == "__main__":
    main()
