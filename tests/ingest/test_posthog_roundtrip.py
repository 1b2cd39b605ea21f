"""Round trip: demo events -> zantara_nb.tracking (real SDK) -> local PostHog stand-in ->
query API -> pull -> the same metrics as loading the demo files directly."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pandas as pd
import pyarrow.parquet as pq
import pytest
from posthog_standin import StandIn

import zantara_nb as z
from zantara_nb import Warehouse
from zantara_nb.demo import DemoConfig, generate
from zantara_nb.ingest import ingest
from zantara_nb.ingest.posthog_pull import PullConfig, pull
from zantara_nb.ingest.posthog_state import person_agreement
from zantara_nb.tracking import Tracker

START, END = "2026-09-01", "2026-10-06"


def _df(result) -> pd.DataFrame:
    if hasattr(result, "df"):
        return result.df
    return pd.DataFrame([{"numerator": result.numerator, "denominator": result.denominator}])


def _frames(wh) -> dict[str, pd.DataFrame]:
    rng = {"start": START, "end": END}
    return {
        "dau": _df(z.dau(wh, **rng)),
        "active_users": _df(z.active_users(wh, **rng)),
        "activation": _df(z.activation(wh, **rng)),
        "p95_latency": _df(z.p95_latency(wh, by="day", **rng)),
        "cost_per_1k": _df(z.cost_per_1k(wh, **rng)),
        "satisfaction": _df(z.satisfaction(wh, by="query_category", **rng)),
        "error_rate": _df(z.error_rate(wh, **rng)),
        "retention": _df(z.retention(wh, period="week", **rng)),
        "funnel": _df(z.funnel(wh, z.SEED_FUNNEL, **rng)),
        "persons": wh.sql(
            "SELECT plan, country, user_type, count(*) AS n FROM persons GROUP BY ALL ORDER BY ALL"
        ),
    }


@pytest.mark.slow
def test_demo_through_tracking_and_pull_gives_the_same_metrics(tmp_path, monkeypatch):
    demo = generate(
        DemoConfig(
            seed=3, start=START, end=END, monthly_active_users=120, out_dir=tmp_path / "demo"
        )
    )
    direct = Warehouse(tmp_path / "direct.duckdb")
    ingest(direct, demo.files)

    with StandIn() as ph:
        monkeypatch.setenv("POSTHOG_PERSONAL_API_KEY", ph.key)
        t = Tracker(
            "phc_demo",
            ph.url,
            consent=True,
            flush_at=200,
            flush_interval=0.05,
            register_atexit=False,
        )
        sent = 0
        for f in demo.files:
            for row in pq.read_table(f).to_pylist():
                props = json.loads(row["properties"]) if row["properties"] else {}
                if row.get("set"):
                    props["$set"] = json.loads(row["set"])
                uid = t.track(
                    row["event"],
                    row["distinct_id"],
                    props,
                    timestamp=row["timestamp"],
                    uuid=row["uuid"],
                )
                sent += uid is not None
        t.shutdown()
        assert sent == demo.events and t.counts["not_sent"] == 0
        assert len(ph.store.rows) == demo.events

        pulled = Warehouse(tmp_path / "pulled.duckdb")
        first = min(
            pq.read_table(f, columns=["timestamp"])["timestamp"][0].as_py() for f in demo.files
        )
        cfg = PullConfig(host=ph.url, project_id=ph.project_id, slice=timedelta(days=31))
        res = pull(
            pulled,
            cfg,
            since=first - timedelta(days=1),
            until=datetime(2026, 10, 8, tzinfo=UTC),
            now=datetime(2026, 10, 8, tzinfo=UTC),
        )
        assert res.loaded == demo.events and res.quarantined == 0

    a, b = _frames(direct), _frames(pulled)
    assert all(len(f) for f in a.values()), {k: len(f) for k, f in a.items()}
    for name in a:
        pd.testing.assert_frame_equal(a[name], b[name], check_exact=False, rtol=1e-12, obj=name)
    assert direct.scalar("SELECT count(*) FROM events") == pulled.scalar(
        "SELECT count(*) FROM events"
    )
    same = pulled.scalar("SELECT count(*) FROM person_distinct_ids") == direct.scalar(
        "SELECT count(*) FROM person_distinct_ids"
    )
    assert same
    # PostHog's persons (the stand-in merges on $identify like PostHog) agree with ours
    (agree,) = person_agreement(pulled)
    assert agree.distinct_ids > 100 and agree.share < 0.05
    # no raw text went out: the SDK payloads carry no e-mail of the demo's persons
    assert direct.scalar("SELECT count(*) FROM events WHERE contains(set_props::VARCHAR, '@')") > 0
    assert pulled.scalar("SELECT count(*) FROM events WHERE contains(set_props::VARCHAR, '@')") == 0
