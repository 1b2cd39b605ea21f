"""Inputs measured from the warehouse when the data has them, else assumed (and said)."""

from __future__ import annotations

import pytest

import zantara_nb as z
from tests.demo_cache import AS_OF, small_demo
from zantara_nb.investor import load_assumptions, measure_inputs
from zantara_nb.investor.measure import MEASURED, NO_DATA


@pytest.fixture(scope="module")
def demo_wh(tmp_path_factory):
    wh = z.Warehouse(small_demo(tmp_path_factory), read_only=True)
    yield wh
    wh.close()


def test_demo_inputs_are_measured_with_period_and_interval(demo_wh):
    inp = measure_inputs(demo_wh, load_assumptions(), as_of=AS_OF)
    b = inp.baselines
    assert all(i.source == MEASURED for i in b.values())
    mau = z.mau(demo_wh, start="2026-07-31", end="2026-08-01", as_of=inp.month.as_of)
    assert b["mau"].value == mau.df["mau"].iloc[-1]
    conv = z.paid_conversion(demo_wh, start="2026-04-26", end="2026-07-25", as_of=inp.month.as_of)
    assert b["paid_conversion"].value == pytest.approx(conv.value)
    assert inp.conversion_counts == (conv.numerator, conv.denominator)
    assert b["paid_conversion"].low < b["paid_conversion"].value < b["paid_conversion"].high
    cost = z.cost_per_1k(demo_wh, start="2026-07-01", end="2026-08-01", as_of=inp.month.as_of)
    assert b["ai_cost_usd_per_year"].value == pytest.approx(12 * cost.df["cost_usd"].iloc[0])
    assert b["arpu_usd"].low < b["arpu_usd"].value < b["arpu_usd"].high
    assert all(i.period for i in b.values())
    table = inp.table()
    assert set(table["source"]) <= {"measured", "assumed"}
    assert table["detail"].str.len().gt(0).all()  # every input says what it rests on
    assert {"retention_uplift", "hourly_rate_usd", "marketing_spend_usd_per_month",
            "stack_usd_per_month"} <= set(table["key"])  # fmt: skip
    assert inp.volumes.events > 0 and inp.volume_inputs["events_per_user"].source == MEASURED


def test_empty_warehouse_falls_back_to_the_parameters(wh):
    a = load_assumptions()
    inp = measure_inputs(wh, a, as_of="2026-12-01")
    for key, i in inp.baselines.items():
        assert i.source == NO_DATA
        assert i.value == a.baselines[key].value and i.detail == a.baselines[key].source
    assert inp.volume_inputs["events_per_user"].source == NO_DATA
    assert inp.volumes.events == a.baselines["mau"].value * a.volumes["events_per_user"].value


def test_the_assumptions_file_is_checked(tmp_path):
    from zantara_nb.investor.assumptions import AssumptionsError

    a = load_assumptions()
    bad = dict(a.raw)
    bad["uplifts"] = {**bad["uplifts"], "retention_uplift": {"value": 0.5, "low": 0.6,
                                                             "high": 0.9}}  # fmt: skip
    with pytest.raises(AssumptionsError, match="low <= value <= high"):
        load_assumptions(bad)
    with pytest.raises(AssumptionsError, match="no such"):
        load_assumptions(tmp_path / "missing.yaml")
    for entry in a.table().itertuples():
        assert entry.source, entry.key  # every assumption names its source
