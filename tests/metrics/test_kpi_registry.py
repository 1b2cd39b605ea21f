"""The KPI registry: one list feeds kpis(), the report cards, the e-mail cards and targets."""

from __future__ import annotations

import dataclasses

import pytest
import yaml
from demo_cache import AS_OF, small_demo
from enginekit import on_engine

import zantara_nb as z
from zantara_nb import config
from zantara_nb.metrics import kpi_readings, kpi_registry
from zantara_nb.metrics.kpi_registry import REGISTRY, computed, kpi, shown_in
from zantara_nb.metrics.targets import target_value
from zantara_nb.reporting import digest, report


@pytest.fixture(scope="module")
def wh(tmp_path_factory, warehouse_engine):
    w = on_engine(small_demo(tmp_path_factory))
    yield w
    w.close()


def test_every_computed_kpi_has_a_row_in_order(wh):
    k = z.kpis(wh, as_of=AS_OF)
    assert list(k.df["kpi"]) == [e.key for e in computed()]
    for e in computed():
        assert e.metric.startswith("metrics."), e.key
        assert e.good in ("up", "down")


def test_targets_come_only_from_the_parameters_file():
    raw = yaml.safe_load((config.PARAMETERS_DIR / "targets.yaml").read_text())["targets"]
    assert target_value("p95_latency_ms") == raw["p95_latency_ms"]["target"]
    assert target_value("error_rate") == raw["error_rate"]["target"]
    assert target_value("not_a_kpi") is None


def test_result_extras_read_the_targets_file(wh):
    raw = yaml.safe_load((config.PARAMETERS_DIR / "targets.yaml").read_text())["targets"]
    lat = z.p95_latency(wh, as_of=AS_OF, window="7d")
    assert lat.extra["target_ms"] == raw["p95_latency_ms"]["target"]
    assert z.nps(wh, as_of=AS_OF).extra["target"] == raw["nps"]["target"]


def test_cards_follow_the_registry_places():
    for place in ("headline", "health", "email"):
        entries = shown_in(place)
        assert entries and all(place in e.show for e in entries)
    view = kpi("cost_per_query")
    assert view.derived_from == "cost_per_1k_usd" and view.read is None


def test_adding_a_kpi_is_one_entry(wh, monkeypatch):
    """A new registry entry gets a row in kpis(), its target, and a card where it shows."""

    def replies(c: kpi_readings.KPIContext) -> kpi_readings.Reading:
        df = z.p95_latency(c.wh, by=c.period, **c.both).df
        return kpi_readings.Reading(*c.pair(df, c.period, "replies"))

    extra = kpi_registry.KPI(
        "replies",
        "Replies",
        "health",
        "count",
        "up",
        "metrics.health.p95_latency",
        replies,
        show=frozenset({"email"}),
    )
    monkeypatch.setattr(kpi_registry, "REGISTRY", (*REGISTRY, extra))
    monkeypatch.setattr(kpi_registry, "_BY_KEY", {e.key: e for e in (*REGISTRY, extra)})
    monkeypatch.setitem(
        kpi_registry.CARD_ORDER, "email", (*kpi_registry.CARD_ORDER["email"], "replies")
    )
    k = z.kpis(wh, as_of=AS_OF, targets={"targets": {"replies": {"target": 1}}})
    row = k.row("replies")
    assert row["current"] > 0 and row["target"] == 1 and bool(row["target_met"])
    cards = digest._cards(k.df, "week")
    assert cards[-1].key == "replies" and cards[-1].value == row["current"]


def test_report_cards_and_email_cards_agree(wh):
    k = z.kpis(wh, as_of=AS_OF)
    cards = {c.key: c for c in digest._cards(k.df, "week")}
    page = report.headline_cards(k).data
    for e in shown_in("headline"):
        assert cards[e.key].value_text in page, e.key


def test_registry_entries_are_frozen():
    with pytest.raises(dataclasses.FrozenInstanceError):
        REGISTRY[0].key = "x"  # type: ignore[misc]
