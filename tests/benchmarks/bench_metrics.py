"""Metric-library speed on a large warehouse, as ratios to a DAU series of the same run.

    python tests/benchmarks/bench_metrics.py [--events 50000000] [--warehouse data/bench50m.duckdb]
        [--repeat 2] [--only funnel,retention] [--no-pandas]

Generates the warehouse with ``bulkgen.py`` when it is missing, then times, over the
whole data range: the DAU series (the baseline: one GROUP BY local day with
COUNT(DISTINCT person)), rolling WAU and MAU series, the seed funnel, the weekly
retention table, P95 latency by day and ``kpis`` — each the best of ``--repeat`` runs —
and prints each time (and the process CPU time of that run, both threads) with its ratio
to the DAU time; ``--only`` keeps the metrics whose name contains one of the given words
(the DAU baseline always runs). Then straightforward pandas
versions of the funnel and of weekly retention (reading the events included) for
comparison, and the peak memory of the library part and of the whole run.
Targets (issue 3): WAU, MAU <= 2x; funnel <= 2x; retention <= 3x; P95 <= 1x; kpis <= 5x;
at least 5x faster than pandas; peak memory under 4 GB.
"""

from __future__ import annotations

import argparse
import resource
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(Path(__file__).resolve().parent))

import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

from zantara_nb import Warehouse  # noqa: E402
from zantara_nb.insights import queries  # noqa: E402
from zantara_nb.metrics import active, funnels, health  # noqa: E402
from zantara_nb.metrics.kpis import kpis  # noqa: E402
from zantara_nb.metrics.retention import retention  # noqa: E402

BASELINE = "DAU (raw SQL)"
TARGETS = {
    "wau": 2,
    "mau": 2,
    "seed funnel": 2,
    "weekly retention": 3,
    "p95 latency by day": 1,
    "kpis": 5,
}


def peak_rss_gb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024 / 1024


def cpu_seconds() -> float:
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


def best_of(fn, repeat: int) -> tuple[float, float]:
    """The fastest of ``repeat`` runs: (wall seconds, process CPU seconds of that run)."""
    runs = []
    for _ in range(repeat):
        c0, t0 = cpu_seconds(), time.perf_counter()
        fn()
        runs.append((time.perf_counter() - t0, cpu_seconds() - c0))
    return min(runs)


def selected(name: str, only: list[str] | None) -> bool:
    """Whether ``--only`` keeps this metric (the DAU baseline is always kept)."""
    return only is None or name == BASELINE or any(w.lower() in name.lower() for w in only)


def pandas_funnel(wh, start, end, window_days: float) -> pd.Series:
    """Seed funnel in plain pandas: ordered, greedy earliest next step per attempt."""
    df = wh.sql(
        """SELECT person_id, event, timestamp, days_since_signup FROM events
           WHERE event IN ('page_viewed', 'user_signed_up', 'message_sent', 'subscription_started')"""
    )
    df["ts"] = df["timestamp"].dt.tz_convert("Asia/Jakarta").dt.tz_localize(None)
    steps = [
        df[df.event == "page_viewed"],
        df[df.event == "user_signed_up"],
        df[df.event == "message_sent"],
        df[(df.event == "message_sent") & (df.days_since_signup >= 7)],
        df[df.event == "subscription_started"],
    ]
    first = steps[0][(steps[0].ts >= pd.Timestamp(start)) & (steps[0].ts < pd.Timestamp(end))]
    att = first[["person_id", "ts"]].rename(columns={"ts": "t0"}).sort_values("t0")
    att["t"] = att["t0"]
    reached = [att.person_id.nunique()]
    win = pd.Timedelta(days=window_days)
    for s in steps[1:]:
        s = s[["person_id", "ts"]].sort_values("ts")
        att = att.sort_values("t")
        m = pd.merge_asof(
            att,
            s.rename(columns={"ts": "tn"}),
            left_on="t",
            right_on="tn",
            by="person_id",
            direction="forward",
            allow_exact_matches=True,
        )
        m = m[m.tn.notna() & (m.tn <= m.t0 + win)]
        att = m[["person_id", "t0"]].assign(t=m.tn)
        reached.append(att.person_id.nunique())
    return pd.Series(reached)


def pandas_retention(wh, weeks: int = 8) -> pd.DataFrame:
    """Weekly first-time retention in plain pandas (calendar weeks, 'on' mode)."""
    df = wh.sql(
        "SELECT person_id, event, timestamp FROM events WHERE event IN ('user_signed_up', 'message_sent')"
    )
    df["week"] = (
        df["timestamp"]
        .dt.tz_convert("Asia/Jakarta")
        .dt.tz_localize(None)
        .dt.to_period("W-SUN")
        .dt.start_time
    )
    first = df[df.event == "user_signed_up"].groupby("person_id")["week"].min().rename("cohort")
    act = (
        df[df.event == "message_sent"][["person_id", "week"]]
        .drop_duplicates()
        .join(first, on="person_id", how="inner")
    )
    act["k"] = ((act["week"] - act["cohort"]).dt.days // 7).astype(int)
    act = act[(act.k > 0) & (act.k <= weeks)]
    ret = act.groupby(["cohort", "k"]).person_id.nunique().unstack(fill_value=0)
    sizes = first.value_counts().sort_index()
    return ret.div(sizes, axis=0)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--events", type=int, default=50_000_000)
    ap.add_argument("--warehouse", type=Path, default=ROOT / "data" / "bench50m.duckdb")
    ap.add_argument("--repeat", type=int, default=2)
    ap.add_argument("--no-pandas", action="store_true")
    ap.add_argument(
        "--only",
        type=lambda v: [w.strip() for w in v.split(",") if w.strip()],
        help="comma-separated words: run only the metrics whose name contains one "
        "(e.g. 'funnel' or 'funnel,retention'); the DAU baseline always runs",
    )
    a = ap.parse_args()
    if not a.warehouse.exists():
        import bulkgen

        a.warehouse.parent.mkdir(parents=True, exist_ok=True)
        r = bulkgen.generate(a.warehouse, a.events)
        print(f"generated {r['events']:,} events in {r['seconds']:.0f} s")
    wh = Warehouse(a.warehouse, read_only=True)
    n = wh.scalar("SELECT count(*) FROM events")
    first, last = wh.con.execute("SELECT min(timestamp), max(timestamp) FROM events").fetchall()[0]
    start = (first + pd.Timedelta(hours=7)).date()
    end = (last + pd.Timedelta(hours=7)).date() + pd.Timedelta(days=1)
    end = end.date() if hasattr(end, "date") else end
    rng = {"start": start, "end": end}
    print(
        f"{n:,} events, {start} -> {end}, threads={wh.scalar('SELECT current_setting(' + repr('threads') + ')')}"
    )

    from zantara_nb.warehouse.scope import resolve

    sc = resolve(wh, **rng)
    raw_dau = (
        f"SELECT {sc.bucket('day')} AS day, count(DISTINCT person_id) FROM events "
        f"WHERE event = 'message_sent' AND {sc.time_bounds_sql()} GROUP BY 1"
    )
    runs = {
        BASELINE: lambda: wh.con.execute(raw_dau).fetchall(),
        "dau": lambda: active.dau(wh, **rng),
        "wau": lambda: active.wau(wh, **rng),
        "mau": lambda: active.mau(wh, **rng),
        "seed funnel": lambda: funnels.funnel(wh, funnels.SEED_FUNNEL, **rng),
        "weekly retention": lambda: retention(wh, period="week", periods=8, **rng),
        "p95 latency by day": lambda: health.p95_latency(wh, by="day", **rng),
        "kpis": lambda: kpis(wh, as_of=end),
        "top categories": lambda: queries.top_categories(wh, **rng),
        "sessions": lambda: queries.sessions(wh, **rng),
    }
    runs = {k: fn for k, fn in runs.items() if selected(k, a.only)}
    measured = {k: best_of(fn, a.repeat) for k, fn in runs.items()}
    times = {k: t for k, (t, _) in measured.items()}
    base, base_cpu = measured[BASELINE]
    print("\nratios are to the raw DAU series: one GROUP BY local day, COUNT(DISTINCT person)")
    print(f"\n{'metric':<22}{'seconds':>9}{'x DAU':>8}{'target':>8}{'cpu s':>9}{'cpu x DAU':>11}")
    for k, (t, cpu) in measured.items():
        tgt = TARGETS.get(k)
        mark = "" if tgt is None else ("  ok" if t / base <= tgt else "  OVER")
        print(
            f"{k:<22}{t:>9.2f}{t / base:>8.2f}{(str(tgt) + 'x') if tgt else '':>8}"
            f"{cpu:>9.2f}{cpu / base_cpu:>11.2f}{mark}"
        )
    lib_peak = peak_rss_gb()
    print(f"\npeak RSS, library part: {lib_peak:.2f} GB (target < 4 GB)")
    if a.no_pandas or not ({"seed funnel", "weekly retention"} & set(times)):
        return
    print(f"\n{'pandas version':<22}{'seconds':>9}{'x ours':>8}")
    if "seed funnel" in times:
        t0 = time.perf_counter()
        pf = pandas_funnel(wh, start, end, 45)
        tp_f = time.perf_counter() - t0
        print(f"{'seed funnel':<22}{tp_f:>9.2f}{tp_f / times['seed funnel']:>8.1f}")
    if "weekly retention" in times:
        t0 = time.perf_counter()
        pandas_retention(wh)
        tp_r = time.perf_counter() - t0
        print(f"{'weekly retention':<22}{tp_r:>9.2f}{tp_r / times['weekly retention']:>8.1f}")
    if "seed funnel" in times:
        ours = funnels.funnel(wh, funnels.SEED_FUNNEL, **rng).steps["persons"].tolist()
        print(f"funnel persons per step: ours {ours}, pandas {np.asarray(pf).tolist()}")
    print(f"peak RSS, whole run: {peak_rss_gb():.2f} GB")


if __name__ == "__main__":
    main()
