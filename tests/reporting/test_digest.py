"""build_digest(): headline cards, alerts, narrative and charts on a hand-made warehouse."""

from __future__ import annotations

import json
import sys
import types

import pandas as pd
import pytest
from digestkit import AS_OF, EXPECTED, fixture_warehouse
from PIL import Image

from zantara_nb import Warehouse
from zantara_nb.reporting.digest import Digest, build_digest


@pytest.fixture(scope="module")
def wh():
    w = fixture_warehouse()
    yield w
    w.close()


@pytest.fixture
def no_alerts(monkeypatch):
    # as if zantara_nb.insights.alerts did not exist (None in sys.modules makes the import fail)
    monkeypatch.setitem(sys.modules, "zantara_nb.insights.alerts", None)


def _fake_alerts(monkeypatch, fn):
    mod = types.ModuleType("zantara_nb.insights.alerts")
    mod.evaluate_alerts = fn
    monkeypatch.setitem(sys.modules, "zantara_nb.insights.alerts", mod)


def test_cards_match_hand_computed_values(wh, tmp_path, no_alerts):
    d = build_digest(wh, as_of=AS_OF, period="week", tz="Asia/Jakarta", out_dir=tmp_path, params={})
    assert (d.start, d.end, d.period_label) == (
        "2026-03-09",
        "2026-03-16",
        "2026-03-09 → 2026-03-15",
    )
    cards = {c.key: c for c in d.cards}
    assert list(cards) == [
        "active_users",
        "messages",
        "cost_per_query",
        "satisfaction",
        "p95_latency_ms",
        "error_rate",
    ]
    for key, (cur, prev) in EXPECTED.items():
        assert cards[key].value == pytest.approx(cur), key
        assert cards[key].previous == pytest.approx(prev), key
    au = cards["active_users"]
    assert (au.direction, au.good, au.value_text, au.change_text) == ("up", True, "3", "+50.0%")
    assert au.tested and not au.significant  # Poisson 3 vs 2
    lat = cards["p95_latency_ms"]
    assert (lat.direction, lat.good, lat.tested) == ("up", False, False)  # higher latency is bad
    assert lat.target == 3000 and lat.target_met is False and lat.target_text == "target ≤ 3,000 ms"
    err = cards["error_rate"]
    assert (err.direction, err.good, err.change_text) == ("up", False, "+25.0 pp")
    cost = cards["cost_per_query"]
    assert cost.value_text == "$0.0050" and cost.note == "$5.00 per 1K queries"
    assert cost.target == pytest.approx(0.005) and cost.target_met is True  # 5.0 <= 5.0
    # alerts module absent -> recorded, not raised
    assert d.alerts_status == "not available" and not d.alerts_available
    assert d.alerts == [] and "alerts not available" in d.notes[0]
    assert d.narrative.startswith("In the week 2026-03-09 → 2026-03-15, weekly active users")


def test_charts_are_small_pngs_and_digest_round_trips(wh, tmp_path, no_alerts):
    d = build_digest(wh, as_of=AS_OF, period="week", tz="Asia/Jakarta", out_dir=tmp_path, params={})
    assert [c.name for c in d.charts] == ["north_star", "dau", "p95_latency"]
    for c in d.charts:
        p = tmp_path / c.file
        assert p.is_file() and p.stat().st_size == c.bytes
        assert c.bytes < 40_000, (c.file, c.bytes)
        with Image.open(p) as img:
            assert img.format == "PNG" and img.size == (640, 270) == (c.width, c.height)
    raw = json.loads((tmp_path / "digest.json").read_text())
    assert raw["cards"][0]["key"] == "active_users" and raw["alerts_status"] == "not available"
    again = Digest.load(tmp_path)
    assert again.to_dict() == d.to_dict()
    assert again.chart_path(again.charts[0]) == tmp_path / "digest-north-star.png"
    with pytest.raises(FileNotFoundError):
        Digest.load(tmp_path / "nowhere")


def test_alerts_are_evaluated_with_the_parameters_rules(wh, tmp_path, monkeypatch):
    seen = {}

    def evaluate_alerts(wh_, rules=None, as_of=None):
        seen.update(rules=rules, as_of=as_of)
        return pd.DataFrame(
            {
                "name": ["High latency", "Low satisfaction"],
                "condition": ["P95 latency > 3000 ms", "mean rating < 0.5"],
                "observed": [3800.0, 1.0],
                "threshold": [3000.0, 0.5],
                "status": ["firing", "ok"],
                "window": ["last 7 days", "last 7 days"],
            }
        )

    _fake_alerts(monkeypatch, evaluate_alerts)
    rules = [{"name": "High latency", "metric": "p95_latency_ms", "op": ">", "threshold": 3000}]
    d = build_digest(
        wh,
        as_of=AS_OF,
        period="week",
        tz="Asia/Jakarta",
        out_dir=tmp_path,
        params={"suite": "weekly", "alerts": rules},
    )
    assert seen["rules"] == rules
    assert pd.Timestamp(seen["as_of"]) == pd.Timestamp("2026-03-16T00:00:00+07:00")
    assert d.alerts_status == "ok" and len(d.alerts) == 2 and len(d.firing) == 1
    assert d.alerts[0]["observed"] == 3800.0 and isinstance(d.alerts[0]["observed"], float)
    assert "1 alert firing: High latency (observed 3,800 against threshold 3,000, last 7 days)" in (
        d.narrative
    )
    assert d.suite == "weekly"


def test_a_broken_alert_module_does_not_stop_the_digest(wh, tmp_path, monkeypatch):
    def evaluate_alerts(wh_, rules=None, as_of=None):
        raise RuntimeError("rule syntax")

    _fake_alerts(monkeypatch, evaluate_alerts)
    d = build_digest(wh, as_of=AS_OF, period="week", tz="Asia/Jakarta", out_dir=tmp_path, params={})
    assert d.alerts_status == "error" and "RuntimeError: rule syntax" in d.alerts_message
    assert (tmp_path / "digest.json").is_file()


def test_empty_warehouse_gives_missing_values_not_zero(tmp_path, no_alerts):
    with Warehouse(":memory:") as w:
        d = build_digest(w, as_of=AS_OF, period="week", tz="Asia/Jakarta", out_dir=tmp_path)
    cards = {c.key: c for c in d.cards}
    for key in ("satisfaction", "p95_latency_ms", "error_rate", "cost_per_query"):
        assert cards[key].value is None and cards[key].value_text == "—", key
        assert cards[key].direction == "unknown" and cards[key].good is None
    assert d.charts == [] or all(c.name in ("north_star", "dau") for c in d.charts)
    assert any("p95_latency skipped" in n for n in d.notes)
    Digest.load(tmp_path)  # still written and readable
