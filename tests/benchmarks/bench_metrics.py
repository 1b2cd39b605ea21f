"""Metric-library speed on a large warehouse, per engine, as ratios to that engine's raw DAU.

    python tests/benchmarks/bench_metrics.py [--engine duckdb|chdb|both] [--events 50000000]
        [--warehouse data/bench50m.duckdb] [--repeat 2] [--only funnel,retention] [--no-pandas]

Generates the DuckDB warehouse with ``bulkgen.py`` when it is missing; for ``chdb`` it is
copied, table by table in Arrow batches, into the chdb data directory beside it
(``<name>.chdb``, made again when the DuckDB file changes). Each engine then runs in a
process of its own (its peak memory is its own; chdb serves one directory per process)
and times, over the whole data range, each the best of ``--repeat`` runs: the raw DAU
series (the baseline: one GROUP BY local day with an exact distinct count of persons, in
that engine's SQL), DAU, WAU and MAU series, the seed funnel, the weekly retention table,
P95 latency by day, ``kpis``, top categories and sessions; on chdb also ClickHouse's own
``windowFunnel`` over the seed funnel's steps (a reference row: it does not follow our
rules, see docs/scale.md). ``--only`` keeps the metrics whose name contains one of the
given words (the baseline always runs). The table shows each engine's seconds side by
side, each with its ratio to its own raw DAU, then the peak memory of each engine's
process. With DuckDB, straightforward pandas versions of the funnel and of weekly
retention (reading the events included) follow for comparison.

Targets: on DuckDB (issue 3) WAU, MAU <= 2x; funnel <= 2x; retention <= 3x; P95 <= 1x;
kpis <= 5x; at least 5x faster than pandas. On chdb (issue 16) every metric <= 3x its raw
DAU and the seed funnel no slower than ``windowFunnel``. Peak memory under 4 GB each.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import subprocess
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
REFERENCE = "windowFunnel (ref)"
TARGETS = {
    "duckdb": {
        "wau": 2,
        "mau": 2,
        "seed funnel": 2,
        "weekly retention": 3,
        "p95 latency by day": 1,
        "kpis": 5,
    },
    "chdb": {
        k: 3
        for k in (
            "dau",
            "wau",
            "mau",
            "seed funnel",
            "weekly retention",
            "p95 latency by day",
            "kpis",
            "top categories",
            "sessions",
        )
    },
}


def peak_rss_gb() -> float:
    """This process's own peak resident memory (VmHWM; ru_maxrss as a fallback)."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024 / 1024
    except OSError:
        pass
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


# -- the chdb copy ---------------------------------------------------------------------------


def chdb_copy(duck: Path) -> Path:
    """The chdb data directory holding the tables of ``duck`` (copied when out of date)."""
    target = duck.with_suffix(".chdb")
    stamp = target / "zantara-bench-source"
    source = f"{duck.resolve()} {duck.stat().st_size} {duck.stat().st_mtime_ns}"
    if stamp.exists() and stamp.read_text() == source:
        return target
    shutil.rmtree(target, ignore_errors=True)
    code = subprocess.run(
        [sys.executable, __file__, "--copy-to-chdb", str(duck), str(target)], check=False
    ).returncode
    if code:
        sys.exit(f"copying {duck} to chdb failed (exit {code})")
    stamp.write_text(source)
    return target


def copy_tables(duck: Path, target: Path) -> None:
    """Every warehouse table of ``duck`` into a new chdb warehouse at ``target``."""
    from tests.enginekit import copy_warehouse

    t0 = time.perf_counter()
    with (
        Warehouse(duck, engine="duckdb", read_only=True) as src,
        Warehouse(f"chdb:{target}") as dst,
    ):
        copy_warehouse(src, dst)
        dst.execute("OPTIMIZE TABLE events FINAL")  # one part per partition, as after merges
        n = dst.scalar("SELECT count() FROM events")
    print(f"copied {n:,} events to {target} in {time.perf_counter() - t0:.0f} s", flush=True)


# -- one engine (a child process) -----------------------------------------------------------


def window_funnel_sql(wh: Warehouse, sc, window_days: int) -> str:
    """ClickHouse's own windowFunnel over the seed funnel's steps (reference only)."""
    conds = ", ".join(
        (
            "event = 'page_viewed'",
            "event = 'user_signed_up'",
            "event = 'message_sent'",
            "event = 'message_sent' AND days_since_signup >= 7",
            "event = 'subscription_started'",
        )
    )
    return (
        f"SELECT level, count() FROM (SELECT person_id, "
        f"windowFunnel({window_days * 86400 * 10**6})(toUInt64(toUnixTimestamp64Micro(timestamp)), "
        f"{conds}) AS level FROM events "
        f"WHERE {sc.time_bounds_sql()} GROUP BY person_id) GROUP BY level ORDER BY level"
    )


def measure(engine: str, address: str, repeat: int, only: list[str] | None, pandas_too: bool):
    """Time every metric on one engine; return the figures as a dict (printed as JSON)."""
    wh = Warehouse(address, read_only=True)
    n = wh.scalar("SELECT count(*) FROM events")
    first, last = wh.sql("SELECT min(timestamp) AS a, max(timestamp) AS b FROM events").iloc[0]
    start = (pd.Timestamp(first) + pd.Timedelta(hours=7)).date()
    end = ((pd.Timestamp(last) + pd.Timedelta(hours=7)).normalize() + pd.Timedelta(days=1)).date()
    rng = {"start": start, "end": end}

    from zantara_nb.warehouse.scope import resolve

    sc = resolve(wh, **rng)
    raw_dau = (
        f"SELECT {sc.bucket('day')} AS day, count(DISTINCT person_id) FROM events "
        f"WHERE event = 'message_sent' AND {sc.time_bounds_sql()} GROUP BY 1"
    )
    runs = {
        BASELINE: lambda: wh.engine.rows(raw_dau),
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
    if engine != "duckdb":
        runs[REFERENCE] = lambda: wh.engine.rows(window_funnel_sql(wh, sc, 45))
    runs = {k: fn for k, fn in runs.items() if selected(k, only) or k == REFERENCE}
    if REFERENCE in runs and not selected("seed funnel", only):
        del runs[REFERENCE]
    out: dict = {"engine": engine, "events": int(n), "start": str(start), "end": str(end)}
    out["times"] = {k: best_of(fn, repeat) for k, fn in runs.items()}
    if "seed funnel" in runs:
        out["funnel_persons"] = (
            funnels.funnel(wh, funnels.SEED_FUNNEL, **rng).steps["persons"].tolist()
        )
    if REFERENCE in runs:
        out["window_funnel_levels"] = [[int(a), int(b)] for a, b in runs[REFERENCE]()]
    out["peak_gb"] = peak_rss_gb()
    if pandas_too and engine == "duckdb":
        out["pandas"] = {}
        if "seed funnel" in runs:
            t0 = time.perf_counter()
            pf = pandas_funnel(wh, start, end, 45)
            out["pandas"]["seed funnel"] = time.perf_counter() - t0
            out["pandas_funnel_persons"] = np.asarray(pf).tolist()
        if "weekly retention" in runs:
            t0 = time.perf_counter()
            pandas_retention(wh)
            out["pandas"]["weekly retention"] = time.perf_counter() - t0
        out["peak_gb_with_pandas"] = peak_rss_gb()
    wh.close()
    return out


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


# -- the side-by-side table ------------------------------------------------------------------


def report(results: list[dict]) -> None:
    """Print each engine's seconds and ratio to its own raw DAU, side by side."""
    names = [r["engine"] for r in results]
    print(f"\n{results[0]['events']:,} events, {results[0]['start']} -> {results[0]['end']}, "
          f"{os.cpu_count()} cores, load average {os.getloadavg()[0]:.2f}")  # fmt: skip
    print("ratios are to the engine's own raw DAU series: one GROUP BY local day, exact distinct")
    head = f"\n{'metric':<22}"
    for e in names:
        head += f"{e + ' s':>11}{'x DAU':>8}{'cpu s':>8}{'target':>8}"
    print(head)
    metrics = list(dict.fromkeys(k for r in results for k in r["times"]))
    for k in metrics:
        line = f"{k:<22}"
        for r in results:
            if k not in r["times"]:
                line += " " * 35
                continue
            t, cpu = r["times"][k]
            base = r["times"][BASELINE][0]
            tgt = TARGETS.get(r["engine"], {}).get(k)
            mark = "" if tgt is None else ("ok" if t / base <= tgt else "OVER")
            line += f"{t:>11.2f}{t / base:>8.2f}{cpu:>8.2f}{(f'{tgt}x ' + mark) if tgt else '':>8}"
        print(line)
    for r in results:
        if REFERENCE in r["times"] and "seed funnel" in r["times"]:
            ours, ref = r["times"]["seed funnel"][0], r["times"][REFERENCE][0]
            verdict = "ok" if ours <= ref else "OVER"
            print(f"\n{r['engine']}: seed funnel {ours:.2f} s vs windowFunnel {ref:.2f} s "
                  f"({ours / ref:.2f}x; target <= 1x: {verdict})")  # fmt: skip
            levels = dict(r.get("window_funnel_levels", []))
            reached = [sum(v for lv, v in levels.items() if lv >= i) for i in range(1, 6)]
            print(f"  persons per step: ours {r.get('funnel_persons')}, windowFunnel {reached}"
                  " (windowFunnel: one chain per person, earliest start only; not our rules)")  # fmt: skip
    print()
    for r in results:
        print(f"peak RSS, {r['engine']} process: {r['peak_gb']:.2f} GB (target < 4 GB)")
    duck = next((r for r in results if r.get("pandas")), None)
    if duck:
        print(f"\n{'pandas version':<22}{'seconds':>9}{'x duckdb':>10}")
        for k, t in duck["pandas"].items():
            print(f"{k:<22}{t:>9.2f}{t / duck['times'][k][0]:>10.1f}")
        if "pandas_funnel_persons" in duck:
            print(f"funnel persons per step: ours {duck['funnel_persons']}, "
                  f"pandas {duck['pandas_funnel_persons']}")  # fmt: skip
        print(f"peak RSS, duckdb process with pandas: {duck['peak_gb_with_pandas']:.2f} GB")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--engine", choices=("duckdb", "chdb", "both"), default="duckdb")
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
    ap.add_argument("--child", nargs=2, metavar=("ENGINE", "ADDRESS"), help=argparse.SUPPRESS)
    ap.add_argument("--copy-to-chdb", nargs=2, type=Path, help=argparse.SUPPRESS)
    a = ap.parse_args()
    if a.copy_to_chdb:
        copy_tables(*a.copy_to_chdb)
        return
    if a.child:
        engine, address = a.child
        out = measure(engine, address, a.repeat, a.only, not a.no_pandas)
        print("RESULT " + json.dumps(out), flush=True)
        return
    if not a.warehouse.exists():
        import bulkgen

        a.warehouse.parent.mkdir(parents=True, exist_ok=True)
        r = bulkgen.generate(a.warehouse, a.events)
        print(f"generated {r['events']:,} events in {r['seconds']:.0f} s")
    engines = ["duckdb", "chdb"] if a.engine == "both" else [a.engine]
    results = []
    for engine in engines:
        address = str(a.warehouse) if engine == "duckdb" else f"chdb:{chdb_copy(a.warehouse)}"
        cmd = [sys.executable, __file__, "--child", engine, address, "--repeat", str(a.repeat)]
        cmd += ["--only", ",".join(a.only)] if a.only else []
        cmd += ["--no-pandas"] if a.no_pandas else []
        print(f"running {engine} ...", flush=True)
        proc = subprocess.run(cmd, capture_output=True, text=True, check=False)
        line = next((x for x in proc.stdout.splitlines() if x.startswith("RESULT ")), None)
        if proc.returncode or line is None:
            sys.exit(f"{engine} failed (exit {proc.returncode}):\n{proc.stderr[-4000:]}")
        results.append(json.loads(line[len("RESULT ") :]))
    report(results)


if __name__ == "__main__":
    main()
