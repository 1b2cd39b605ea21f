"""Unit economics on demo data against the planted truth, and each formula by hand."""

from __future__ import annotations

import importlib
import math

import pandas as pd
import pytest

import zantara_nb as z
from tests.demo_cache import AS_OF, small_demo
from tests.eventkit import add_events, ev
from zantara_nb.demo import GroundTruth
from zantara_nb.investor import load_assumptions, report_month, unit_economics
from zantara_nb.investor.subscriptions import load_timeline

ue_mod = importlib.import_module("zantara_nb.investor.unit_economics")  # the function shadows it


@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    path = small_demo(tmp_path_factory)
    truth = GroundTruth.load(path.parent / "demo" / "truth.json")
    wh = z.Warehouse(path, read_only=True)
    yield wh, truth
    wh.close()


@pytest.fixture(scope="module")
def ue(demo):
    wh, _ = demo
    return unit_economics(wh, load_assumptions(), report_month(AS_OF))


def test_formulas_by_hand():
    assert ue_mod.ltv(50, 0.8, 0.05) == pytest.approx(800)  # 50 x 0.8 / 0.05
    assert ue_mod.ltv(50, 0.8, 0) is None
    assert ue_mod.cac(5_000, 100) == pytest.approx(50)
    assert ue_mod.cac(5_000, 0) is None
    assert ue_mod.cac_payback_months(50, 50, 0.8) == pytest.approx(1.25)  # 50 / (50 x 0.8)
    assert ue_mod.gross_margin(1_000, 100, 50) == pytest.approx(0.85)
    assert ue_mod.gross_margin(0, 100, 50) is None
    start = pd.Series({"a": 10.0, "b": 20.0, "c": 30.0})
    end = pd.Series({"a": 10.0, "c": 45.0, "d": 5.0})  # b cancelled, c expanded, d new
    assert ue_mod.logo_churn(start, end) == (1, 3)
    base, kept, ending = ue_mod.revenue_retention(start, end)
    assert (base, kept, ending) == (60, 40, 55)  # GRR 40/60, NRR 55/60: d is not counted


def test_timeline_follows_the_revenue_rules(wh):
    add_events(
        wh,
        [
            ev("u1", "subscription_started", "2026-03-01 10:00+00:00", plan="pro",
               price_usd=29.0, billing_period="monthly"),
            # a plan change: a cancel and a start at the same moment is not a churn
            ev("u1", "subscription_cancelled", "2026-03-10 10:00+00:00", plan="pro"),
            ev("u1", "subscription_started", "2026-03-10 10:00+00:00", plan="enterprise",
               price_usd=1990.0, billing_period="yearly"),
            ev("u2", "subscription_started", "2026-03-02 10:00+00:00", plan="pro",
               price_usd=29.0, billing_period="monthly"),
            ev("u2", "subscription_cancelled", "2026-03-20 10:00+00:00", plan="pro"),
            ev("u3", "subscription_cancelled", "2026-03-05 10:00+00:00", plan="pro"),  # ignored
        ],
    )  # fmt: skip
    from datetime import datetime
    from zoneinfo import ZoneInfo

    tl = load_timeline(wh, datetime(2026, 4, 1, tzinfo=ZoneInfo("UTC")))
    mid = tl.mrr_at(datetime(2026, 3, 5, tzinfo=ZoneInfo("UTC")))
    assert sorted(mid.round(6).tolist()) == [29.0, 29.0]
    end = tl.mrr_at(datetime(2026, 4, 1, tzinfo=ZoneInfo("UTC")))
    assert end.round(6).tolist() == [pytest.approx(1990 / 12)]  # u1 only, yearly / 12
    assert tl.new_customers(datetime(2026, 3, 1, tzinfo=ZoneInfo("UTC")),
                            datetime(2026, 4, 1, tzinfo=ZoneInfo("UTC"))) == 2  # fmt: skip
    # the library's MRR agrees
    lib = z.mrr(wh, start="2026-03-31", end="2026-04-01", as_of="2026-04-02", tz="UTC")
    assert lib.df["mrr"].iloc[-1] == pytest.approx(end.sum())


def test_timeline_mrr_is_the_planted_mrr(demo):
    wh, truth = demo
    m = report_month(AS_OF)
    tl = load_timeline(wh, m.as_of)
    start = tl.mrr_at(m.midnight(pd.Timestamp(truth.start).date()))
    assert start.sum() == pytest.approx(truth.mrr["at_start"])
    assert len(start) == truth.mrr["open_at_start"]
    end = tl.mrr_at(m.midnight(pd.Timestamp(truth.end).date()))
    assert end.sum() == pytest.approx(truth.mrr["at_end"])
    assert len(end) == truth.mrr["open_at_end"]


def test_monthly_figures_are_the_planted_counts(demo, ue):
    _, truth = demo
    planted = {m["month"]: m for m in truth.unit_economics["months"]}
    got = ue.monthly.assign(key=ue.monthly["month"].dt.strftime("%Y-%m")).set_index("key")
    assert list(got.index) == list(planted)  # every complete month of the range, no other
    for key, t in planted.items():
        g = got.loc[key]
        assert g["customers_start"] == t["customers_start"]
        assert g["churned_customers"] == t["churned"]
        assert g["new_customers"] == t["new_customers"]
        assert g["paying_end"] == t["paying_end"]
        assert g["mrr_end"] == pytest.approx(t["mrr_end"])
        assert g["start_mrr_of_customers"] == pytest.approx(t["mrr_start_of_customers"])
        assert g["grr"] == pytest.approx(t["mrr_end_of_customers"] / t["mrr_start_of_customers"])
        assert g["inference_cost"] == pytest.approx(t["inference_cost_usd"], rel=1e-9)
        assert g["arpu"] == pytest.approx(t["mrr_end"] / t["paying_end"])
        assert g["logo_churn"] == pytest.approx(t["churned"] / t["customers_start"])


def test_headline_of_the_report_month(demo, ue):
    _, truth = demo
    months = truth.unit_economics["months"]
    july = months[-1]
    assert july["month"] == "2026-07"
    assert ue.value("mrr") == pytest.approx(july["mrr_end"])
    assert ue.value("paying_customers") == july["paying_end"]
    assert ue.value("arpu") == pytest.approx(july["mrr_end"] / july["paying_end"])
    assert ue.value("new_customers") == july["new_customers"]
    # churn pools the months there are (two here, and a note says so)
    k = sum(m["churned"] for m in months)
    n = sum(m["customers_start"] for m in months)
    assert ue.value("logo_churn") == pytest.approx(k / n)
    lo, hi = ue.interval("logo_churn")
    assert lo < k / n < hi
    assert any("pools 2 month" in note for note in ue.notes)
    gm = ue.value("gross_margin")
    rev, inf, stack = (ue.value(x) for x in ("revenue", "inference_cost", "stack_cost"))
    assert gm == pytest.approx((rev - inf - stack) / rev)
    assert ue.value("ltv") == pytest.approx(ue.value("arpu") * gm / (k / n))
    assert ue.value("cac") == pytest.approx(5_000 / july["new_customers"])
    assert ue.value("ltv_cac") == pytest.approx(ue.value("ltv") / ue.value("cac"))
    assert ue.value("cac_payback") == pytest.approx(ue.value("cac") / (ue.value("arpu") * gm))
    ltv_lo, ltv_hi = ue.interval("ltv")
    assert ltv_lo < ue.value("ltv") < ltv_hi
    # revenue of the month: mean daily MRR of the library
    daily = z.mrr(demo[0], start="2026-07-01", end="2026-08-01", as_of=AS_OF).df["mrr"]
    assert rev == pytest.approx(daily.mean())
    # AI cost per active user: the library's
    cpu = z.cost_per_active_user(demo[0], start="2026-07-01", end="2026-08-01", as_of=AS_OF)
    assert ue.value("cost_per_active_user") == pytest.approx(
        cpu.df["cost_usd"].iloc[0] / cpu.df["active_users"].iloc[0]
    )


def test_monthly_plan_churn_matches_the_planted_renewal_odds(demo):
    """Monthly plans end at a renewal (every 30 days) with the planted probability, so a
    calendar month of L days loses about p x L / 30 of them."""
    _, truth = demo
    months = truth.unit_economics["months"]
    p = truth.unit_economics["planted"]["cancel_per_renewal"]["monthly"]
    days = truth.unit_economics["planted"]["renewal_days"]["monthly"]
    k = sum(m["monthly_plan_churned"] for m in months)
    n = sum(m["monthly_plan_customers_start"] for m in months)
    lengths = [pd.Period(m["month"]).days_in_month for m in months]
    expected = p * (sum(lengths) / len(lengths)) / days
    se = math.sqrt(expected * (1 - expected) / n)
    assert abs(k / n - expected) < 3.5 * se


def test_cohorts_follow_their_first_paying_month(ue):
    c = ue.cohorts
    assert set(c["months_after"]) >= {0, 1}
    first = c[c["months_after"] == 0]
    assert (first["nrr"] == 1).all() and (first["grr"] == 1).all()
    assert (c["grr"] <= c["nrr"] + 1e-12).all() and (c["grr"] <= 1 + 1e-12).all()
    m = ue.cohort_matrix("nrr")
    assert list(m.index) == sorted(m.index)


def test_empty_warehouse_gives_missing_not_zero(wh):
    ue = unit_economics(wh, load_assumptions(), report_month("2026-12-01"))
    assert ue.monthly.empty and ue.value("ltv") is None and ue.value("logo_churn") is None
