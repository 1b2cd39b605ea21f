"""Property test: random small warehouses give the same funnels and retention on every engine.

Each seed builds a warehouse of a few persons with random events (shared event names,
anonymous ids identified later, a property set on some events, times at random seconds
over three weeks) on DuckDB and on chdb, and compares every funnel option (order,
exclusions and their rule, breakdown and its attribution, maturity) and every retention
mode (calendar and rolling, first-time and recurring, on-or-after, N-day) frame by frame.

Step-1 events of one person never share a microsecond here: the engines identify events
differently (DuckDB's row id, ClickHouse's hash of the uuid), so a tie between two
attempts that start at the same instant may pick the other attempt's breakdown value.
"""

from __future__ import annotations

import random
from datetime import datetime, timedelta

import pandas as pd
import pytest
from enginekit import ENGINES
from eventkit import add_events, ev

from zantara_nb import Warehouse
from zantara_nb.metrics import retention as R
from zantara_nb.metrics.funnels import Exclusion, Step, funnel

#: runs once (it compares the engines itself)
ENGINE_FREE = True

pytestmark = pytest.mark.skipif("chdb" not in ENGINES, reason="needs the clickhouse extra (chdb)")

NAMES = ["page_viewed", "user_signed_up", "message_sent", "error_occurred", "feature_used"]
T0 = datetime.fromisoformat("2026-03-02T00:00:00+07:00")


def _rows(seed: int) -> list[dict]:
    rnd = random.Random(seed)
    rows, used = [], set()
    for p in range(rnd.randint(6, 12)):
        user, anon = f"u{seed}_{p}", f"a{seed}_{p}"
        identified = rnd.random() < 0.5
        for _ in range(rnd.randint(2, 14)):
            sec = rnd.randint(0, 21 * 86400)
            while (p, sec) in used:  # one event per person per second (see docstring)
                sec += 1
            used.add((p, sec))
            who = anon if identified and rnd.random() < 0.3 else user
            props = {}
            if rnd.random() < 0.6:
                props["utm_source"] = rnd.choice(["ads", "seo", ""])
            if rnd.random() < 0.5:
                props["query_category"] = rnd.choice(["visa", "tax"])
            rows.append(
                ev(
                    who,
                    rnd.choice(NAMES),
                    T0 + timedelta(seconds=sec),
                    props,
                    set_props={"country": rnd.choice(["ID", "SG"])} if rnd.random() < 0.2 else None,
                )
            )
        if identified:
            rows.append(
                ev(
                    user,
                    "$identify",
                    T0 + timedelta(seconds=rnd.randint(0, 21 * 86400)),
                    {"$anon_distinct_id": anon},
                )
            )
    return rows


STEPS = [
    "page_viewed",
    Step(["user_signed_up", ("feature_used", {"utm_source": "ads"})], name="signup or ads"),
    "message_sent",
    Step("message_sent", filters={"query_category": "tax"}, name="tax"),
]
SCOPE = {"start": "2026-03-02", "end": "2026-03-16", "as_of": "2026-03-20", "tz": "Asia/Jakarta"}

FUNNELS = [
    {},
    {"order": "strict"},
    {"order": "any"},
    {"window": "2d"},
    {"exclusions": [Exclusion("error_occurred", between=(2, 3))]},
    {"exclusions": [Exclusion("error_occurred")], "exclusion_mode": "attempt"},
    {"exclusions": [Exclusion("error_occurred", between=(1, 3))], "order": "strict"},
    {"exclusions": [Exclusion("error_occurred")], "order": "any"},
    {"breakdown": "utm_source"},
    {"breakdown": "utm_source", "breakdown_attribution": "step1"},
    {"breakdown": "country"},
    {"mature_only": True, "window": "7d"},
]

RETENTIONS = [
    {"period": "week", "periods": 2},
    {"period": "day", "periods": 6, "mode": "rolling"},
    {"period": "week", "periods": 2, "cohort_type": "recurring", "start_event": "message_sent"},
    {"period": "week", "periods": 2, "on_or_after": True, "breakdown": "utm_source"},
]


def _same(a: pd.DataFrame, b: pd.DataFrame, what: str) -> None:
    a = a.reset_index(drop=True)
    b = b.reset_index(drop=True)
    assert list(a.columns) == list(b.columns), what
    for c in a.columns:
        x, y = a[c], b[c]
        if pd.api.types.is_numeric_dtype(x) and pd.api.types.is_numeric_dtype(y):
            pd.testing.assert_series_equal(
                x.astype("float64"),
                y.astype("float64"),
                check_names=False,
                rtol=1e-9,
                obj=f"{what} {c}",
            )
        else:
            assert [str(v) for v in x] == [str(v) for v in y], f"{what} {c}"


@pytest.mark.parametrize("seed", range(6))
def test_funnels_and_retention_agree_between_engines(seed):
    rows = _rows(seed)
    whs = {}
    try:
        for engine in ("duckdb", "chdb"):
            whs[engine] = Warehouse(":memory:", engine=engine)
            add_events(whs[engine], [dict(r, properties=dict(r["properties"])) for r in rows])
        for kw in FUNNELS:
            out = {e: funnel(w, STEPS, **SCOPE, **kw) for e, w in whs.items()}
            _same(out["duckdb"].df, out["chdb"].df, f"funnel {kw}")
            _same(out["duckdb"].persons(), out["chdb"].persons(), f"funnel persons {kw}")
        for kw in RETENTIONS:
            out = {e: R.retention(w, **SCOPE, **kw) for e, w in whs.items()}
            _same(out["duckdb"].df, out["chdb"].df, f"retention {kw}")
        out = {
            e: R.nday_retention(w, days=(1, 3, 7), start_event="page_viewed", **SCOPE)
            for e, w in whs.items()
        }
        _same(out["duckdb"].df, out["chdb"].df, "nday_retention")
    finally:
        for w in whs.values():
            w.close()
