"""Before/after go-live cohorts: difference, Newcombe interval, z-test."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest

import zantara_nb as z
from tests.demo_cache import AS_OF, small_demo
from tests.eventkit import add_events, ev
from zantara_nb.investor import load_assumptions, realised, report_month
from zantara_nb.investor.realised import newcombe_interval


def test_newcombe_interval_published_example():
    # Newcombe (1998), Statistics in Medicine 17:873, table II: 56/70 vs 48/80,
    # difference 0.2 with the hybrid score interval 0.0524 to 0.3339
    lo, hi = newcombe_interval(48, 80, 56, 70)
    assert lo == pytest.approx(0.0524, abs=5e-5) and hi == pytest.approx(0.3339, abs=5e-5)
    assert newcombe_interval(0, 0, 1, 2) == (None, None)


def _signups(before: int, after: int, live: datetime, act_before: int, act_after: int) -> list:
    rows = []
    for i in range(before + after):
        pre = i < before
        t0 = live - timedelta(days=20 - (i % 10)) if pre else live + timedelta(days=5 + i % 10)
        uid = f"u{i}"
        rows.append(ev(uid, "user_signed_up", t0))
        if i % (before if pre else after) < (act_before if pre else act_after):
            rows.append(ev(uid, "message_sent", t0 + timedelta(hours=1), message_id=f"m{i}"))
            rows.append(ev(uid, "message_received", t0 + timedelta(hours=1, seconds=5),
                           message_id=f"m{i}", response_cost_usd=0.001))  # fmt: skip
    return rows


def test_a_planted_change_in_activation_is_found(wh):
    live = datetime.fromisoformat("2026-03-01T00:00:00+07:00")
    add_events(wh, _signups(200, 200, live, act_before=80, act_after=140))  # 40% -> 70%
    raw = dict(load_assumptions().raw)
    raw["realised"] = {"analytics_live_date": "2026-03-01", "window_days": {"value": 30}}
    r = realised(wh, load_assumptions(raw), report_month("2026-05-01"))
    assert not r.illustrative and r.live_date.isoformat() == "2026-03-01"
    act = r.df.set_index("metric").loc["activation"]
    assert (act["before_k"], act["before_n"], act["after_k"], act["after_n"]) == (80, 200, 140, 200)
    assert act["difference"] == pytest.approx(0.30)
    assert act["ci_low"] > 0 and act["significant"] and act["p_value"] < 0.001
    assert act["relative"] == pytest.approx(0.75)  # 70% / 40% - 1
    lo, hi = newcombe_interval(80, 200, 140, 200)
    assert (act["ci_low"], act["ci_high"]) == pytest.approx((lo, hi))


def test_demo_has_no_planted_change_and_says_the_split_is_illustrative(tmp_path_factory):
    wh = z.Warehouse(small_demo(tmp_path_factory), read_only=True)
    try:
        r = realised(wh, load_assumptions(), report_month(AS_OF))
    finally:
        wh.close()
    assert r.illustrative  # no go-live date in roi.yaml: the midpoint, said as such
    for row in r.df.itertuples():  # the demo plants constant rates: no real change
        assert row.ci_low <= 0 <= row.ci_high or not row.significant, row.metric
        assert row.before_n > 0 and row.after_n > 0
    assert "1 percentage point" in r.df.set_index("metric").loc["paid_conversion", "seed_assumes"]
