"""Scenarios ordered, sensitivity signs, Monte Carlo median near the base case (seeded)."""

from __future__ import annotations

import numpy as np
import pytest

from zantara_nb.investor import load_assumptions, monte_carlo, scenarios, sensitivity
from zantara_nb.investor.measure import ASSUMED, MEASURED, Input, Inputs, report_month
from zantara_nb.investor.model import ROIInputs, roi
from zantara_nb.investor.scenarios import base_inputs, split_triangular
from zantara_nb.investor.stack import Volumes, price_option


@pytest.fixture(scope="module")
def a():
    return load_assumptions()


def fake_inputs(a, *, conversion=(450, 10_000), arpu=46.9, arpu_se=1.3, mau=9_800.0,
                ai=6_700.0) -> Inputs:  # fmt: skip
    """Inputs as measured on a month of data (hand-set numbers, no warehouse)."""
    k, n = conversion
    vol = Volumes(mau, 280_000, 30_000, mau, 100 * mau)
    return Inputs(
        month=report_month("2026-12-01"),
        baselines={
            "mau": Input("mau", mau, MEASURED),
            "paid_conversion": Input("paid_conversion", k / n, MEASURED),
            "arpu_usd": Input("arpu_usd", arpu, MEASURED),
            "ai_cost_usd_per_year": Input("ai_cost_usd_per_year", ai, MEASURED),
        },
        volume_inputs={},
        volumes=vol,
        stack=price_option(a.stack, vol),
        assumptions=a,
        arpu_se=arpu_se,
        conversion_counts=(k, n),
    )


def test_base_inputs_take_measured_baselines_and_assumptions(a):
    x = base_inputs(fake_inputs(a))
    assert x.mau == 9_800 and x.paid_conversion == pytest.approx(0.045)
    assert x.retention_uplift == a.uplifts["retention_uplift"].value
    assert x.setup_hours == a.stack.setup_hours.value and x.stack_usd_per_month == 34


@pytest.mark.parametrize("conv", [0.005, 0.025, 0.045, 0.2])
@pytest.mark.parametrize("mau", [500.0, 10_000.0, 250_000.0])
def test_scenarios_are_ordered(a, conv, mau):
    base = base_inputs(fake_inputs(a, conversion=(int(conv * 10_000), 10_000), mau=mau))
    df = scenarios(base, a).df.set_index("scenario")
    c, b, o = (df.loc[s] for s in ("conservative", "base", "optimistic"))
    assert c["net_roi"] <= b["net_roi"] <= o["net_roi"]
    assert c["returns_usd"] <= b["returns_usd"] <= o["returns_usd"]
    assert c["investment_usd"] >= b["investment_usd"] >= o["investment_usd"]
    pay = [p if p == p and p is not None else 10**9 for p in (c["payback_month"],
           b["payback_month"], o["payback_month"])]  # fmt: skip
    assert pay[0] >= pay[1] >= pay[2]
    assert b["net_roi"] == pytest.approx(roi(base).net_roi)


def test_sensitivity_signs_and_order(a):
    base = base_inputs(fake_inputs(a))
    s = sensitivity(base).df.set_index("input")
    up = ["mau", "paid_conversion", "arpu_usd", "ai_cost_usd_per_year", "retention_uplift",
          "conversion_uplift_pp", "ai_cost_reduction", "churn_reduction"]  # fmt: skip
    down = ["setup_hours", "hourly_rate_usd", "stack_usd_per_month", "ramp_months"]
    for k in up:  # more of it: a higher net ROI
        assert s.loc[k, "effect_high"] > 0 > s.loc[k, "effect_low"], k
    for k in down:  # more of it: a lower net ROI
        assert s.loc[k, "effect_high"] < 0 < s.loc[k, "effect_low"], k
    swings = sensitivity(base).df["swing"].to_numpy()
    assert (np.diff(swings) <= 1e-12).all()  # sorted, largest first
    # each end is the model run with that one input moved
    assert s.loc["mau", "roi_high"] == pytest.approx(roi(base.replace(mau=base.mau * 1.5)).net_roi)
    assert s.loc["mau", "low_value"] == pytest.approx(base.mau * 0.5)


def test_split_triangular_keeps_the_value_as_median():
    rng = np.random.default_rng(1)
    v = split_triangular(rng, 0.05, 0.10, 0.20, 200_000)
    assert v.min() >= 0.05 and v.max() <= 0.20
    assert np.median(v) == pytest.approx(0.10, abs=0.001)
    assert (v < 0.10).mean() == pytest.approx(0.5, abs=0.005)


def test_monte_carlo_is_seeded_and_reproducible(a):
    inp = fake_inputs(a)
    base = base_inputs(inp)
    m1, m2 = monte_carlo(inp, base, draws=2_000), monte_carlo(inp, base, draws=2_000)
    assert np.array_equal(m1.net_roi, m2.net_roi) and m1.seed == a.mc_seed
    other = monte_carlo(inp, base, draws=2_000, seed=a.mc_seed + 1)
    assert not np.array_equal(m1.net_roi, other.net_roi)
    assert set(m1.distributions["input"]) >= {"paid_conversion", "arpu_usd", "retention_uplift"}


def test_monte_carlo_median_near_the_base_case(a):
    inp = fake_inputs(a)
    base = base_inputs(inp)
    mc = monte_carlo(inp, base)
    p10, p50, p90 = (mc.percentile("net_roi", q) for q in (10, 50, 90))
    assert p10 < mc.base_roi < p90
    # the ranges are lopsided (5%-10%-20%...): the median still stays near the base case
    assert abs(p50 - mc.base_roi) <= 0.1 * abs(mc.base_roi)
    assert abs(p50 - mc.base_roi) <= 0.1 * (p90 - p10)
    assert mc.percentile("payback_month", 50) == mc.base_payback


def test_monte_carlo_with_symmetric_ranges_centres_on_the_base_case(a):
    raw = dict(a.raw)
    raw["uplifts"] = {
        k: {**v, "low": v["value"] * 0.8, "high": v["value"] * 1.2} if v["value"] else v
        for k, v in raw["uplifts"].items()
    }
    rec = dict(raw["stack"]["options"]["recommended"])
    rec["setup_hours"] = {"value": 40, "low": 32, "high": 48}
    raw["stack"] = {**raw["stack"], "options": {**raw["stack"]["options"], "recommended": rec}}
    sym = load_assumptions(raw)
    inp = fake_inputs(sym, conversion=(45_000, 1_000_000), arpu_se=0.01)
    mc = monte_carlo(inp, base_inputs(inp))
    assert mc.percentile("net_roi", 50) == pytest.approx(mc.base_roi, rel=0.02)


def test_monte_carlo_without_uncertainty_is_the_base_case(a):
    raw = dict(a.raw)
    raw["uplifts"] = {k: {"value": v["value"], "source": "x"} for k, v in raw["uplifts"].items()}
    rec = dict(raw["stack"]["options"]["recommended"])
    rec["setup_hours"] = {"value": 40, "source": "x"}
    raw["stack"] = {**raw["stack"], "options": {**raw["stack"]["options"], "recommended": rec}}
    fixed = load_assumptions(raw)
    inp = fake_inputs(fixed)
    inp.baselines = {k: Input(k, v.value, ASSUMED) for k, v in inp.baselines.items()}
    mc = monte_carlo(inp, base_inputs(inp), draws=500)
    assert mc.distributions.empty
    for q in (10, 50, 90):
        assert mc.percentile("net_roi", q) == pytest.approx(mc.base_roi)


def test_roi_inputs_replace_is_a_copy():
    x = ROIInputs(1, 0.1, 10, 100, 0.1, 0.01, 0.1, 0.05, 10, 50, 30, 0)
    y = x.replace(mau=2)
    assert x.mau == 1 and y.mau == 2
