"""Capture every metric's output on a demo warehouse, and compare two captures.

A refactor must change no number. Run this before (``capture``), change the code, run it
again, then ``compare``: every DataFrame, count, rate and value must be identical.

    python tests/tools/metric_snapshot.py capture --warehouse W.duckdb --out before.pkl
    python tests/tools/metric_snapshot.py capture --warehouse W.duckdb --out after.pkl
    python tests/tools/metric_snapshot.py compare before.pkl after.pkl

``--demo`` builds the small demo warehouse of the report tests (seed 11, 2,500 MAU,
May–August 2026) at ``--warehouse`` when it is missing. Run by hand, not by pytest.
"""

from __future__ import annotations

import argparse
import dataclasses
import pickle
import sys
import traceback
from pathlib import Path

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

import zantara_nb as z  # noqa: E402

AS_OF = "2026-08-24"
RANGE = {"start": "2026-06-01", "end": "2026-08-17", "as_of": AS_OF}
SKIP_FIELDS = {
    "plotter",
    "scope",
    "sql",
    "definition",
    "_table",
    "wh",
    "spec",
    "persons_sql",
    "_persons",
}
#: Parallel float sums differ in the last bits from run to run: compare to 1e-9.
RTOL = 1e-9


def mod(name: str):
    """An insight module, before or after the move into ``zantara_nb.insights``."""
    import importlib

    try:
        return importlib.import_module(f"zantara_nb.insights.{name}")
    except ImportError:
        return importlib.import_module(f"zantara_nb.{name}")


def calls():
    """(label, thunk) for every public metric over a spread of options."""
    f = z.FunnelSpec
    seed = z.SEED_FUNNEL
    ex = [z.Exclusion("subscription_cancelled", between=(1, 2))]
    out = []
    for kw in (RANGE, {**RANGE, "breakdown": "country"}, {**RANGE, "filters": {"plan": "pro"}}):
        tag = ",".join(k for k in kw if k not in RANGE) or "plain"
        out += [
            (f"active_users[{tag}]", lambda kw=kw: z.active_users(**{"wh": W, **kw})),
            (f"dau[{tag}]", lambda kw=kw: z.dau(W, **kw)),
            (f"wau[{tag}]", lambda kw=kw: z.wau(W, **kw)),
            (f"mau[{tag}]", lambda kw=kw: z.mau(W, **kw)),
            (f"stickiness[{tag}]", lambda kw=kw: z.stickiness(W, **kw)),
            (f"stickiness_distribution[{tag}]", lambda kw=kw: z.stickiness_distribution(W, **kw)),
            (f"growth_rate[{tag}]", lambda kw=kw: z.growth_rate(W, **kw)),
            (f"north_star[{tag}]", lambda kw=kw: z.north_star(W, **kw)),
            (f"engagement[{tag}]", lambda kw=kw: z.engagement(W, **kw)),
            (f"lifecycle-week[{tag}]", lambda kw=kw: z.lifecycle(W, **kw)),
            (f"lifecycle-month[{tag}]", lambda kw=kw: z.lifecycle(W, period="month", **kw)),
            (f"activation[{tag}]", lambda kw=kw: z.activation(W, **kw)),
            (f"activation_series[{tag}]", lambda kw=kw: z.activation_series(W, **kw)),
            (f"week2_retention[{tag}]", lambda kw=kw: z.week2_retention(W, **kw)),
            (f"paid_conversion[{tag}]", lambda kw=kw: z.paid_conversion(W, **kw)),
            (f"retention-week[{tag}]", lambda kw=kw: z.retention(W, **kw)),
            (
                f"retention-day-rolling[{tag}]",
                lambda kw=kw: z.retention(W, period="day", periods=10, mode="rolling", **kw),
            ),
            (
                f"retention-month-recurring[{tag}]",
                lambda kw=kw: z.retention(
                    W,
                    period="month",
                    periods=3,
                    cohort_type="recurring",
                    return_event="message_sent",
                    **kw,
                ),
            ),
            (f"retention-onorafter[{tag}]", lambda kw=kw: z.retention(W, on_or_after=True, **kw)),
            (f"nday_retention[{tag}]", lambda kw=kw: z.nday_retention(W, **kw)),
            (f"churn_rate[{tag}]", lambda kw=kw: z.churn_rate(W, **kw)),
            (f"funnel-seed[{tag}]", lambda kw=kw: z.funnel(W, seed, **kw)),
            (f"funnel-strict[{tag}]", lambda kw=kw: z.funnel(W, seed, order="strict", **kw)),
            (f"funnel-any[{tag}]", lambda kw=kw: z.funnel(W, seed, order="any", **kw)),
            (
                f"funnel-excl[{tag}]",
                lambda kw=kw: z.funnel(
                    W,
                    ["user_signed_up", "message_sent", "subscription_started"],
                    exclusions=ex,
                    window="30d",
                    **kw,
                ),
            ),
            (f"funnel-mature[{tag}]", lambda kw=kw: z.funnel(W, seed, mature_only=True, **kw)),
            (f"mrr[{tag}]", lambda kw=kw: z.mrr(W, **kw)),
            (f"mrr_movements[{tag}]", lambda kw=kw: z.mrr_movements(W, **kw)),
            (f"nps[{tag}]", lambda kw=kw: z.nps(W, **kw)),
            (f"p95_latency[{tag}]", lambda kw=kw: z.p95_latency(W, **kw)),
            (f"p95_latency-week[{tag}]", lambda kw=kw: z.p95_latency(W, by="week", **kw)),
            (f"error_rate[{tag}]", lambda kw=kw: z.error_rate(W, **kw)),
            (f"hourly_errors[{tag}]", lambda kw=kw: z.hourly_errors(W, **kw)),
            (f"cost_per_1k[{tag}]", lambda kw=kw: z.cost_per_1k(W, **kw)),
            (f"cost_per_active_user[{tag}]", lambda kw=kw: z.cost_per_active_user(W, **kw)),
            (f"satisfaction[{tag}]", lambda kw=kw: z.satisfaction(W, by="query_category", **kw)),
            (f"satisfaction-day[{tag}]", lambda kw=kw: z.satisfaction(W, **kw)),
            (f"llm_usage[{tag}]", lambda kw=kw: z.llm_usage(W, **kw)),
            (f"top_categories[{tag}]", lambda kw=kw: z.top_categories(W, **kw)),
            (f"distribution-intent[{tag}]", lambda kw=kw: z.distribution(W, "intent", **kw)),
            (f"low_satisfaction[{tag}]", lambda kw=kw: z.low_satisfaction(W, **kw)),
            (
                f"trending[{tag}]",
                lambda kw=kw: z.trending(
                    W, **{k: v for k, v in kw.items() if k not in ("start", "end")}
                ),
            ),
            (f"sessions[{tag}]", lambda kw=kw: z.sessions(W, **kw)),
            (f"churn_score[{tag}]", lambda kw=kw: mod("churn").rule_score(W, **kw)),
            (f"segments[{tag}]", lambda kw=kw: mod("segments").segments(W, **kw)),
            (f"experiments[{tag}]", lambda kw=kw: mod("experiments").experiments(W, **kw)),
        ]
    out += [
        ("kpis-week", lambda: z.kpis(W, as_of=AS_OF, period="week")),
        ("kpis-month", lambda: z.kpis(W, as_of=AS_OF, period="month")),
        ("funnel-window", lambda: z.funnel(W, f(steps=list(seed.steps), window="3d"), **RANGE)),
        ("anomalies", lambda: z.detect_anomalies(W, as_of=AS_OF, days=60)),
        ("explain", lambda: z.explain(W, "error_rate", "2026-07-15")),
        ("alerts", lambda: z.evaluate_alerts(W, as_of=AS_OF, notify=False)),
        ("churn_model", lambda: mod("churn").churn_model(W, as_of=AS_OF)),
        (
            "segment_members",
            lambda: mod("segments").segment_members(
                W, "power_users", week="2026-08-10", as_of=AS_OF
            ),
        ),
    ]
    for flag in experiment_flags():
        out.append(
            (
                f"experiment-{flag}",
                lambda flag=flag: mod("experiments").experiment(W, flag, **RANGE),
            )
        )
    return out


def experiment_flags() -> list[str]:
    try:
        df = mod("experiments").experiments(W, **RANGE).df
    except Exception:
        return []
    col = "flag" if "flag" in df.columns else df.columns[0]
    return sorted(set(df[col]))[:3]


def normalize(obj, depth: int = 0):
    """A plain, comparable form of a result: frames, numbers, dicts, lists."""
    if depth > 6:
        return repr(type(obj))
    if isinstance(obj, pd.DataFrame):
        return obj.reset_index(drop=True)
    if isinstance(obj, pd.Series):
        return obj.reset_index(drop=True)
    if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        out = {"__type__": type(obj).__name__}
        for f in dataclasses.fields(obj):
            if f.name in SKIP_FIELDS:
                continue
            out[f.name] = normalize(getattr(obj, f.name), depth + 1)
        for prop in ("value", "interval", "steps"):
            if prop not in out and hasattr(type(obj), prop):
                try:
                    out[prop] = normalize(getattr(obj, prop), depth + 1)
                except Exception as exc:  # a property may need data the result lacks
                    out[prop] = f"error: {exc}"
        return out
    if isinstance(obj, dict):
        return {str(k): normalize(v, depth + 1) for k, v in obj.items() if k not in SKIP_FIELDS}
    if isinstance(obj, list | tuple):
        return [normalize(v, depth + 1) for v in obj]
    if isinstance(obj, np.generic):
        return obj.item()
    if isinstance(obj, str | int | float | bool) or obj is None:
        return obj
    if hasattr(obj, "isoformat"):
        return obj.isoformat()
    return repr(type(obj).__name__)


def capture(args) -> None:
    global W
    path = Path(args.warehouse)
    if not path.exists():
        if not args.demo:
            sys.exit(f"{path}: missing (pass --demo to build the small demo warehouse)")
        from zantara_nb.demo import DemoConfig, load_demo

        with z.Warehouse(path) as wh:
            load_demo(
                wh,
                DemoConfig(
                    seed=11,
                    start="2026-05-04",
                    end="2026-08-24",
                    monthly_active_users=2500,
                    out_dir=path.parent / "demo",
                ),
            )
    W = z.Warehouse(path, read_only=True)
    snap: dict[str, object] = {}
    for label, thunk in calls():
        try:
            snap[label] = normalize(thunk())
        except Exception as exc:
            snap[label] = f"raised {type(exc).__name__}: {exc}"
            if args.verbose:
                traceback.print_exc()
        print(f"  {label}", flush=True)
    Path(args.out).write_bytes(pickle.dumps(snap))
    errors = sum(isinstance(v, str) and v.startswith("raised") for v in snap.values())
    print(f"{len(snap)} outputs -> {args.out} ({errors} raised)")


def diff(a, b, where: str, out: list[str]) -> None:
    if isinstance(a, pd.DataFrame) and isinstance(b, pd.DataFrame):
        if where.endswith((".points", ".explanations")):  # anomalies: compared in one order
            keys = [c for c in a.columns if not pd.api.types.is_float_dtype(a[c])]
            a = a.sort_values(keys, kind="stable").reset_index(drop=True)
            b = b.sort_values(keys, kind="stable").reset_index(drop=True)
        try:
            pd.testing.assert_frame_equal(a, b, check_exact=False, rtol=RTOL, atol=1e-12)
        except AssertionError as exc:
            out.append(f"{where}: {str(exc).splitlines()[0:3]}")
        return
    if isinstance(a, pd.Series) and isinstance(b, pd.Series):
        try:
            pd.testing.assert_series_equal(a, b, check_exact=False, rtol=RTOL, atol=1e-12)
        except AssertionError as exc:
            out.append(f"{where}: {str(exc).splitlines()[0:3]}")
        return
    if isinstance(a, dict) and isinstance(b, dict):
        for k in sorted(set(a) | set(b)):
            if k not in a or k not in b:
                out.append(f"{where}.{k}: only in {'after' if k not in a else 'before'}")
            else:
                diff(a[k], b[k], f"{where}.{k}", out)
        return
    if isinstance(a, list) and isinstance(b, list) and len(a) == len(b):
        for i, (x, y) in enumerate(zip(a, b, strict=True)):
            diff(x, y, f"{where}[{i}]", out)
        return
    same = a == b or (
        isinstance(a, float)
        and isinstance(b, float)
        and (np.isnan(a) and np.isnan(b) or abs(a - b) <= RTOL * max(abs(a), abs(b)))
    )
    if not same:
        out.append(f"{where}: {a!r} != {b!r}")


def compare(args) -> None:
    a = pickle.loads(Path(args.before).read_bytes())
    b = pickle.loads(Path(args.after).read_bytes())
    problems: list[str] = []
    diff(a, b, "", problems)
    for p in problems:
        print(p)
    frames = sum(1 for _ in _frames(a))
    print(f"{len(a)} outputs, {frames} frames compared: {len(problems)} differences")
    sys.exit(1 if problems else 0)


def _frames(obj):
    if isinstance(obj, pd.DataFrame):
        yield obj
    elif isinstance(obj, dict):
        for v in obj.values():
            yield from _frames(v)
    elif isinstance(obj, list):
        for v in obj:
            yield from _frames(v)


W = None


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = ap.add_subparsers(dest="cmd", required=True)
    c = sub.add_parser("capture")
    c.add_argument("--warehouse", required=True)
    c.add_argument("--out", required=True)
    c.add_argument("--demo", action="store_true")
    c.add_argument("-v", "--verbose", action="store_true")
    k = sub.add_parser("compare")
    k.add_argument("before")
    k.add_argument("after")
    args = ap.parse_args()
    capture(args) if args.cmd == "capture" else compare(args)


if __name__ == "__main__":
    main()
