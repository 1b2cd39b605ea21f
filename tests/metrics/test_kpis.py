"""kpis(): headline numbers for a week vs the previous week, with targets."""

from __future__ import annotations

import pytest
from eventkit import add_events, ev

from zantara_nb import Warehouse
from zantara_nb.metrics.kpis import kpis, load_targets

# Report week: Mon 2026-03-09 .. Sun 2026-03-15 (as_of Mon 2026-03-16 00:00 Jakarta).
# Previous week: 2026-03-02 .. 2026-03-08.


def _day(d: int, hour: int = 10) -> str:
    return f"2026-03-{d:02d}T{hour:02d}:00:00+07:00"


@pytest.fixture
def wh():
    w = Warehouse(":memory:")
    rows = [
        # a: signs up in the previous week, active both weeks, activated
        ev("a", "user_signed_up", _day(2, 9)),
        ev("a", "message_sent", _day(2), message_id="a1"),
        ev(
            "a",
            "message_received",
            _day(2, 11),
            message_id="a1",
            response_latency_ms=1000,
            response_cost_usd=0.004,
        ),
        ev("a", "message_sent", _day(10), message_id="a2"),
        ev(
            "a",
            "message_received",
            _day(10, 11),
            message_id="a2",
            response_latency_ms=2000,
            response_cost_usd=0.006,
        ),
        ev("a", "feedback_given", _day(10, 12), message_id="a2", rating=1),
        # b: active previous week only (dormant now)
        ev("b", "message_sent", _day(3), message_id="b1"),
        ev(
            "b",
            "message_received",
            _day(3, 11),
            message_id="b1",
            response_latency_ms=3000,
            response_cost_usd=0.002,
        ),
        ev("b", "feedback_given", _day(3, 12), message_id="b1", rating=-1),
        # c, d: sign up in the report week; c activates (message + reply within 24 h), d does not
        ev("c", "user_signed_up", _day(11, 9)),
        ev("c", "message_sent", _day(11), message_id="c1"),
        ev("c", "message_sent", _day(11, 12), message_id="c2"),
        ev(
            "c",
            "message_received",
            _day(11, 13),
            message_id="c1",
            response_latency_ms=4000,
            response_cost_usd=0.008,
        ),
        ev("c", "error_occurred", _day(11, 12), error_type="timeout"),
        ev("d", "user_signed_up", _day(12, 9)),
    ]
    add_events(w, rows)
    yield w
    w.close()


def test_weekly_kpis_against_hand_computed_values(wh):
    k = kpis(
        wh,
        as_of="2026-03-16",
        targets={"activation_rate": 0.6, "p95_latency_ms": {"target": 3000, "direction": "lower"}},
    )
    assert (k.extra["start"].isoformat(), k.extra["end"].isoformat()) == (
        "2026-03-09",
        "2026-03-16",
    )
    r = k.df.set_index("kpi")
    # active users: report week {a, c} = 2; previous week {a, b} = 2
    assert r.loc["active_users", "current"] == 2 and r.loc["active_users", "previous"] == 2
    assert r.loc["active_users", "change"] == 0
    # messages: report week a2, c1, c2 = 3; previous a1, b1 = 2
    assert r.loc["messages", "current"] == 3 and r.loc["messages", "previous"] == 2
    # activation: report-week signups c, d -> 1 of 2; previous week: a -> 1 of 1
    assert r.loc["activation_rate", "current"] == pytest.approx(0.5)
    assert r.loc["activation_rate", "previous"] == pytest.approx(1.0)
    assert not bool(r.loc["activation_rate", "target_met"])  # 50% < 60%
    # P95 of report week's replies [2000, 4000]: 2000 + 0.95 * 2000 = 3900 ms -> misses "lower" 3000
    assert r.loc["p95_latency_ms", "current"] == pytest.approx(3900)
    assert r.loc["p95_latency_ms", "target_met"] is False or not bool(
        r.loc["p95_latency_ms", "target_met"]
    )
    # error rate: 1 error / 3 messages this week, 0 / 2 last week
    assert r.loc["error_rate", "current"] == pytest.approx(1 / 3)
    # satisfaction: this week 1 of 1 positive, previous 0 of 1
    assert r.loc["satisfaction", "current"] == 1.0 and r.loc["satisfaction", "previous"] == 0.0
    # cost per 1K this week: 1000 * (0.006 + 0.008) / 2 replies = 7.0 USD
    assert r.loc["cost_per_1k_usd", "current"] == pytest.approx(7.0)
    # engagement: 3 messages / 2 weekly actives
    assert r.loc["engagement", "current"] == pytest.approx(1.5)
    # targets not given are absent
    assert r.loc["nps", "target"] is None or r["target"].isna().loc["nps"]
    assert "Activation" in k._repr_html_()


def test_kpis_on_an_empty_warehouse_are_missing_not_zero():
    with Warehouse(":memory:") as w:
        k = kpis(w, as_of="2026-03-16")
        r = k.df.set_index("kpi")
        for key in ["activation_rate", "p95_latency_ms", "satisfaction", "nps", "cost_per_1k_usd"]:
            v = r.loc[key, "current"]
            assert v is None or v != v, key
        assert k.formatted()["This period"].str.contains("—").any()


def test_default_targets_file_has_the_seed_targets():
    t = load_targets()
    assert t["activation_rate"].value == 0.60 and t["p95_latency_ms"].direction == "lower"
    assert t["p95_latency_ms"].met(2500) is True and t["satisfaction"].met(0.5) is False
