"""The ROI formulas (zantara_nb.investor.model) against hand-worked numbers."""

from __future__ import annotations

import numpy as np
import pytest

from zantara_nb.investor import model as m
from zantara_nb.investor.model import ROIInputs, roi


def inputs(**kw) -> ROIInputs:
    base = dict(
        mau=10_000,
        paid_conversion=0.025,
        arpu_usd=29.0,
        ai_cost_usd_per_year=5_000.0,
        retention_uplift=0.10,
        conversion_uplift_pp=0.01,
        ai_cost_reduction=0.10,
        churn_reduction=0.05,
        setup_hours=40,
        hourly_rate_usd=50,
        stack_usd_per_month=34,
        ramp_months=0,
    )
    base.update(kw)
    return ROIInputs(**base)


def test_each_return_line_by_hand():
    # 10,000 x 10% = 1,000 kept; x 2.5% = 25 paying; x $29 = $725/month; x 12 = $8,700
    assert m.retention_return(10_000, 0.10, 0.025, 29) == pytest.approx(8_700)
    # 10,000 x 1 pp = 100 more paying; x $29 x 12 = $34,800
    assert m.conversion_return(10_000, 0.01, 29) == pytest.approx(34_800)
    # $5,000 a year x 10% = $500
    assert m.ai_cost_return(5_000, 0.10) == pytest.approx(500)
    # 10,000 x 5% = 500 saved; x 2.5% = 12.5 paying; x $29 x 12 = $4,350
    assert m.churn_return(10_000, 0.05, 0.025, 29) == pytest.approx(4_350)
    # the lines scale with their inputs
    assert m.retention_return(20_000, 0.10, 0.025, 29) == pytest.approx(17_400)
    assert m.conversion_return(10_000, 0.02, 58) == pytest.approx(139_200)


def test_investment_net_roi_multiple_by_hand():
    # 40 h x $50 = $2,000; 12 x $34 = $408
    assert m.investment(40, 50, 34) == pytest.approx(2_408)
    # (48,350 - 2,408) / 2,408 = 45,942 / 2,408
    assert m.net_roi(48_350, 2_408) == pytest.approx(45_942 / 2_408)
    assert m.net_roi(48_350, 2_408) == pytest.approx(19.0789, abs=1e-4)
    assert m.return_multiple(48_350, 2_408) == pytest.approx(20.0789, abs=1e-4)
    assert m.net_roi(2_408, 2_408) == 0
    assert m.net_roi(100, 0) is None and m.return_multiple(100, 0) is None


def test_roi_of_the_seed_inputs():
    r = roi(inputs())
    lines = r.lines.set_index("line")["year1_usd"]
    assert lines.to_dict() == pytest.approx(
        {"retention": 8_700, "conversion": 34_800, "ai_cost": 500, "churn": 4_350}
    )
    assert r.returns_usd == pytest.approx(48_350)
    assert r.investment_usd == pytest.approx(2_408)
    assert r.setup_usd == pytest.approx(2_000) and r.stack_year_usd == pytest.approx(408)
    assert r.net_roi == pytest.approx(45_942 / 2_408)
    assert r.multiple == pytest.approx(48_350 / 2_408)
    # month 1: 48,350 / 12 = 4,029.17 in, 2,000 + 34 out -> +1,995.17 >= 0
    assert r.payback_month == 1
    assert r.cash["cumulative"].iloc[0] == pytest.approx(48_350 / 12 - 2_034)
    assert len(r.cash) == 12
    summary = r.summary().set_index("figure")["value"]
    assert summary["Net ROI"] == pytest.approx(r.net_roi)


def test_ramp_and_payback_by_hand():
    # run rate $12,000 a year = $1,000 a month; setup 10 h x $100 = $1,000; stack $100
    x = inputs(mau=1.0, paid_conversion=0, arpu_usd=1_000.0, conversion_uplift_pp=1.0,
               retention_uplift=0, churn_reduction=0, ai_cost_reduction=0,
               setup_hours=10, hourly_rate_usd=100, stack_usd_per_month=100)  # fmt: skip
    assert sum(m.run_rates(x).values()) == pytest.approx(12_000)
    # no ramp: month 1 1,000 - 1,100 = -100; month 2 +900 -> 800: payback in month 2
    assert m.payback_month(x) == 2
    assert m.cash_curve(x)["cumulative"].iloc[:2].tolist() == pytest.approx([-100, 800])
    # ramp 4 months: 250 - 1,100 = -850; 500 - 100 -> -450; 750 - 100 -> +200: month 3
    x4 = x.replace(ramp_months=4)
    assert m.cash_curve(x4)["cumulative"].iloc[:3].tolist() == pytest.approx([-850, -450, 200])
    assert m.payback_month(x4) == 3
    # year 1 earns (1/4 + 2/4 + 3/4 + 9 x 1) / 12 of the run rate = 10,500
    assert roi(x4).returns_usd == pytest.approx(10_500)
    assert m.ramp_factor(1, 3) == pytest.approx(1 / 3) and m.ramp_factor(3, 3) == 1
    assert m.ramp_factor(1, 0) == 1
    # never paid back: costs above returns
    assert m.payback_month(x.replace(arpu_usd=1.0)) is None
    # a payback after month 12 is still found (returns go on at the run rate)
    slow = x.replace(setup_hours=300)  # 30,000 of setup against 900 a month net
    assert m.payback_month(slow) == 34  # 1,000 x 34 - 30,000 - 100 x 34 = 600 >= 0


def test_vectorised_cash_matches_the_table():
    x = inputs(ramp_months=2.5)
    run = sum(m.run_rates(x).values())
    cum = m.cumulative_net(run, x.setup_hours * x.hourly_rate_usd, x.stack_usd_per_month,
                           x.ramp_months, 12)[0]  # fmt: skip
    assert cum == pytest.approx(m.cash_curve(x)["cumulative"].to_numpy())
    first = m.first_payback(np.array([[-1.0, -0.5, 0.0, 2.0], [-1.0, -1.0, -1.0, -1.0]]))
    assert first[0] == 3 and np.isnan(first[1])
