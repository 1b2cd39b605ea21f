"""Output metrics (METRICS.md section 3): MRR, MRR movements, NPS.

All fixtures are in Asia/Jakarta (UTC+7) unless a test says otherwise. Expected numbers
are worked out by hand in the comments.
"""

from __future__ import annotations

import math
from datetime import date

import pandas as pd
import pytest
from eventkit import add_events, ev

from zantara_nb.metrics.revenue import MOVEMENTS, mrr, mrr_movements, nps, nps_interval

S, C = "subscription_started", "subscription_cancelled"
RANGE = {"start": "2026-01-01", "end": "2026-03-01"}


def _subs():
    return [
        # alice: pro 30/month since before the range; upgrade to enterprise 100 on Jan 10
        # (expansion +70); downgrade to pro 30 on Feb 5 (contraction -70).
        ev("alice", S, "2025-12-15T03:00:00Z", plan="pro", price_usd=30, billing_period="monthly"),
        ev("alice", S, "2026-01-10T03:00:00Z", plan="enterprise", price_usd=100),
        ev("alice", S, "2026-02-05T03:00:00Z", plan="pro", price_usd=30, billing_period="monthly"),
        # bob: enterprise YEARLY 1200 -> 100/month, Jan 20 (new +100); cancelled at
        # 2026-02-02T17:00Z = Feb 3 00:00 Jakarta exactly (churn -100 on Feb 3 local).
        ev(
            "bob",
            S,
            "2026-01-20T03:00:00Z",
            plan="enterprise",
            price_usd=1200,
            billing_period="yearly",
        ),
        ev("bob", C, "2026-02-02T17:00:00Z", plan="enterprise"),
        # carol: paid and churned before the range; comes back Feb 10 on pro yearly 240
        # -> 20/month (reactivation +20).
        ev("carol", S, "2025-11-01T03:00:00Z", plan="pro", price_usd=30, billing_period="monthly"),
        ev("carol", C, "2025-12-20T03:00:00Z", plan="pro"),
        ev("carol", S, "2026-02-10T03:00:00Z", plan="pro", price_usd=240, billing_period="yearly"),
        # dan: free plan (0) Jan 5 is no MRR; pro 30 at 2026-01-25T20:00Z = Jan 26 03:00
        # Jakarta (Jan 25 in UTC): first-ever paid -> new +30.
        ev("dan", S, "2026-01-05T03:00:00Z", plan="free", price_usd=0, billing_period="monthly"),
        ev("dan", S, "2026-01-25T20:00:00Z", plan="pro", price_usd=30, billing_period="monthly"),
        # person properties for breakdown / filter
        ev("alice", "$identify", "2025-12-01T00:00:00Z", set_props={"country": "ID"}),
        ev("bob", "$identify", "2025-12-01T00:00:00Z", set_props={"country": "AU"}),
        ev("carol", "$identify", "2025-12-01T00:00:00Z", set_props={"country": "ID"}),
        ev("dan", "$identify", "2025-12-01T00:00:00Z", set_props={"country": "AU"}),
    ]


def _by_day(res, col="mrr"):
    return {d.date().isoformat(): v for d, v in zip(res.df["day"], res.df[col], strict=True)}


# ------------------------------------------------------------------------------------------
# MRR
# ------------------------------------------------------------------------------------------


def test_mrr_series_yearly_cancel_upgrade_downgrade_and_history_before_range(wh):
    add_events(wh, _subs())
    res = mrr(wh, **RANGE)
    m = _by_day(res)
    assert len(res.df) == 59  # Jan 1 .. Feb 28
    # Jan 1: alice's pro started in December counts (history before the range): 30.
    assert m["2026-01-01"] == 30
    assert m["2026-01-09"] == 30
    assert m["2026-01-10"] == 100  # alice upgraded to 100
    assert m["2026-01-20"] == 200  # + bob's yearly 1200 / 12 = 100
    assert m["2026-01-25"] == 200  # dan's pro is Jan 26 in Jakarta
    assert m["2026-01-26"] == 230  # + dan 30
    assert m["2026-02-02"] == 230  # bob still active at the end of Feb 2 (cancel at 00:00 Feb 3)
    assert m["2026-02-03"] == 130  # bob cancelled
    assert m["2026-02-05"] == 60  # alice back to 30
    assert m["2026-02-10"] == 80  # carol 240 / 12 = 20
    assert m["2026-02-28"] == 80
    p = _by_day(res, "paying")
    # paying subscriptions: alice; +bob; dan's free plan is not paying until Jan 26
    assert (p["2026-01-01"], p["2026-01-20"], p["2026-01-26"], p["2026-02-03"]) == (1, 2, 3, 2)
    assert p["2026-02-10"] == 3
    assert res.extra["mrr_as_of"] == 80
    assert res.units["mrr"] == "usd"


def test_mrr_day_boundary_utc_vs_jakarta(wh):
    add_events(wh, _subs())
    m = _by_day(mrr(wh, tz="UTC", **RANGE))
    # In UTC dan's pro (2026-01-25T20:00Z) is on Jan 25 and bob's cancel on Feb 2.
    assert m["2026-01-25"] == 230
    assert m["2026-02-02"] == 130
    m = _by_day(mrr(wh, **RANGE))
    assert m["2026-01-25"] == 200 and m["2026-02-02"] == 230


def test_mrr_breakdown_and_filter(wh):
    add_events(wh, _subs())
    res = mrr(wh, breakdown="country", **RANGE)
    d = res.df.set_index(["day", "breakdown"])["mrr"]
    # ID: alice (+carol from Feb 10); AU: bob + dan
    assert d[(pd.Timestamp("2026-01-26"), "ID")] == 100
    assert d[(pd.Timestamp("2026-01-26"), "AU")] == 130
    assert d[(pd.Timestamp("2026-02-28"), "ID")] == 50  # alice 30 + carol 20
    assert d[(pd.Timestamp("2026-02-28"), "AU")] == 30  # dan
    assert res.hue == "breakdown"
    m = _by_day(mrr(wh, filters={"country": "AU"}, **RANGE))
    assert m["2026-01-01"] == 0 and m["2026-01-26"] == 130 and m["2026-02-03"] == 30
    # event-property filter on the start event; the cancel follows its subscription
    m = _by_day(mrr(wh, filters={"billing_period": "yearly"}, **RANGE))
    assert m["2026-01-20"] == 100 and m["2026-02-03"] == 0 and m["2026-02-10"] == 20


def test_mrr_not_yet_observed_day_is_missing_and_empty_range(wh):
    add_events(wh, _subs())
    res = mrr(wh, start="2026-02-01", end="2026-02-06", as_of="2026-02-05T12:00:00+07:00")
    m = _by_day(res)
    # Feb 5 ends after as_of: missing, not 0 and not 130; Feb 4 is complete.
    assert m["2026-02-04"] == 130
    assert math.isnan(m["2026-02-05"])
    # the cut-off itself: alice's downgrade happened at 10:00 Jakarta, before 12:00 -> 60
    assert res.extra["mrr_as_of"] == 60
    empty = mrr(wh, start="2026-01-10", end="2026-01-10")
    assert empty.empty and list(empty.df.columns) == ["day", "mrr", "paying"]


def test_no_subscriptions_is_zero_mrr_not_an_error(wh):
    add_events(wh, [ev("x", "message_sent", "2026-01-03T03:00:00Z")])
    res = mrr(wh, start="2026-01-01", end="2026-01-04")
    assert res.df["mrr"].tolist() == [0, 0, 0]


# ------------------------------------------------------------------------------------------
# Movements
# ------------------------------------------------------------------------------------------


def test_mrr_movements_by_month(wh):
    add_events(wh, _subs())
    res = mrr_movements(wh, **RANGE)
    df = res.df.set_index("month")
    jan, feb = df.loc[pd.Timestamp("2026-01-01")], df.loc[pd.Timestamp("2026-02-01")]
    # Jan: starting 30 (alice); expansion +70 (alice), new +100 (bob), new +30 (dan; his
    # free plan before is not "paid"), net +200, ending 230.
    assert jan["starting_mrr"] == 30
    assert (jan["new"], jan["expansion"], jan["contraction"]) == (130, 70, 0)
    assert (jan["churned"], jan["reactivation"], jan["net_new"]) == (0, 0, 200)
    assert jan["ending_mrr"] == 230
    # Feb: churned -100 (bob), contraction -70 (alice), reactivation +20 (carol paid
    # before the range and churned in December): net -150, ending 80.
    assert feb["starting_mrr"] == 230
    assert (feb["new"], feb["expansion"], feb["contraction"]) == (0, 0, -70)
    assert (feb["churned"], feb["reactivation"], feb["net_new"]) == (-100, 20, -150)
    assert feb["ending_mrr"] == 80
    assert df["complete"].all()
    assert res.units["churned"] == "usd"


def test_movements_identity_and_agreement_with_mrr(wh):
    add_events(wh, _subs())
    mv = mrr_movements(wh, **RANGE).df
    # ending = starting + net, and net = sum of the five movements, in every period
    assert (mv["ending_mrr"] - mv["starting_mrr"] - mv["net_new"]).abs().max() < 1e-9
    assert (mv[list(MOVEMENTS)].sum(axis=1) - mv["net_new"]).abs().max() < 1e-9
    # each month starts where the previous one ended
    assert mv["starting_mrr"].iloc[1] == mv["ending_mrr"].iloc[0]
    # and the ending equals MRR(d) on the month's last day
    m = _by_day(mrr(wh, **RANGE))
    assert mv["ending_mrr"].tolist() == [m["2026-01-31"], m["2026-02-28"]]
    # by week as well, also per breakdown segment
    wk = mrr_movements(wh, period="week", breakdown="country", **RANGE).df
    assert (wk["ending_mrr"] - wk["starting_mrr"] - wk["net_new"]).abs().max() < 1e-9
    last = wk[wk["week"] == wk["week"].max()].set_index("breakdown")["ending_mrr"]
    assert last.to_dict() == {"AU": 30, "ID": 50}


def test_movements_day_boundary_utc_vs_jakarta(wh):
    add_events(
        wh,
        [
            # 2026-01-31T20:00Z is Feb 1 03:00 in Jakarta, Jan 31 in UTC
            ev("u", S, "2026-01-31T20:00:00Z", price_usd=50, billing_period="monthly"),
        ],
    )
    jkt = mrr_movements(wh, **RANGE).df.set_index("month")["new"]
    utc = mrr_movements(wh, tz="UTC", **RANGE).df.set_index("month")["new"]
    assert jkt.tolist() == [0, 50] and utc.tolist() == [50, 0]


def test_plan_change_ties_start_and_cancel_in_same_month(wh):
    add_events(
        wh,
        [
            # eve: pro 30, then a plan change sent as cancel + start at the same moment:
            # treated as expansion +70, not churn -30 + reactivation +100.
            ev("eve", S, "2026-01-05T03:00:00Z", price_usd=30, billing_period="monthly"),
            ev("eve", C, "2026-01-15T03:00:00Z"),
            ev("eve", S, "2026-01-15T03:00:00Z", price_usd=100, billing_period="monthly"),
            # fay: starts and cancels in January: new +20 and churned -20.
            ev("fay", S, "2026-01-07T03:00:00Z", price_usd=20, billing_period="monthly"),
            ev("fay", C, "2026-01-09T03:00:00Z"),
            # a stray cancel with nothing open is ignored
            ev("gus", C, "2026-01-09T03:00:00Z"),
        ],
    )
    jan = mrr_movements(wh, start="2026-01-01", end="2026-02-01").df.iloc[0]
    assert (jan["new"], jan["expansion"], jan["churned"], jan["reactivation"]) == (50, 70, -20, 0)
    assert jan["ending_mrr"] == 100


def test_movement_between_segments_keeps_identity(wh):
    # hal moves from monthly 40 to yearly 600 (50/month) on Jan 10: in the billing_period
    # breakdown that is contraction -40 in "monthly" and expansion +50 in "yearly".
    add_events(
        wh,
        [
            ev("hal", S, "2025-12-01T03:00:00Z", price_usd=40, billing_period="monthly"),
            ev("hal", S, "2026-01-10T03:00:00Z", price_usd=600, billing_period="yearly"),
        ],
    )
    df = mrr_movements(wh, breakdown="billing_period", start="2026-01-01", end="2026-02-01").df
    d = df.set_index("breakdown")
    assert d.loc["monthly", "contraction"] == -40 and d.loc["monthly", "ending_mrr"] == 0
    assert d.loc["yearly", "expansion"] == 50 and d.loc["yearly", "ending_mrr"] == 50
    assert d["churned"].sum() == 0 and d["new"].sum() == 0


def test_movements_incomplete_period_and_default_range(wh):
    add_events(wh, _subs())
    res = mrr_movements(wh, start="2026-01-01", end="2026-03-01", as_of="2026-02-04T00:00:00+07:00")
    df = res.df
    # February is observed up to Feb 4 00:00: bob's churn (Feb 3) is in, alice's (Feb 5) not.
    assert df["complete"].tolist() == [True, False]
    assert df["churned"].iloc[1] == -100 and df["contraction"].iloc[1] == 0
    assert df["ending_mrr"].iloc[1] == 130
    # Without a start, the range starts on the first of a month (default 6 months back).
    dflt = mrr_movements(wh, end="2026-03-01")
    assert dflt.scope.start == date(2025, 9, 1)
    assert dflt.df["month"].iloc[0] == pd.Timestamp("2025-09-01")
    empty = mrr_movements(wh, start="2026-01-01", end="2026-01-01")
    assert empty.empty and "net_new" in empty.df.columns


# ------------------------------------------------------------------------------------------
# NPS
# ------------------------------------------------------------------------------------------


def _nps_events():
    N = "nps_submitted"
    return [
        # p1 answers 3 then 10: the latest answer (10) counts -> promoter
        ev("p1", N, "2026-01-05T03:00:00Z", score=3),
        ev("p1", N, "2026-01-20T03:00:00Z", score=10),
        ev("p2", N, "2026-01-06T03:00:00Z", score=9),  # promoter
        ev("p3", N, "2026-01-07T03:00:00Z", score=7),  # passive
        ev("p4", N, "2026-01-08T03:00:00Z", score=8),  # passive
        # an anonymous answer 10, then the person identifies and answers 0: one person,
        # latest answer 0 -> detractor
        ev("anon-5", N, "2026-01-09T03:00:00Z", score=10),
        ev("u5", "$identify", "2026-01-10T03:00:00Z", {"$anon_distinct_id": "anon-5"}),
        ev("u5", N, "2026-01-11T03:00:00Z", score=0),
        # outside the range (December) is ignored; a score out of 0-10 is ignored
        ev("p6", N, "2025-12-20T03:00:00Z", score=0),
        ev("p7", N, "2026-01-12T03:00:00Z", score=11),
        ev("p1", "$identify", "2025-12-01T00:00:00Z", set_props={"country": "ID"}),
        ev("p2", "$identify", "2025-12-01T00:00:00Z", set_props={"country": "ID"}),
        ev("p3", "$identify", "2025-12-01T00:00:00Z", set_props={"country": "AU"}),
    ]


def test_nps_latest_answer_per_person_and_interval(wh):
    add_events(wh, _nps_events())
    res = nps(wh, start="2026-01-01", end="2026-02-01")
    row = res.df.iloc[0]
    # P = 2 (p1, p2), passives = 2 (p3, p4), D = 1 (u5): NPS = 100 * (2 - 1) / 5 = 20
    assert (row["respondents"], row["promoters"], row["passives"], row["detractors"]) == (
        5,
        2,
        2,
        1,
    )
    assert row["nps"] == pytest.approx(20.0)
    assert row["pct_promoters"] == pytest.approx(0.4)
    # adjusted Wald: n' = 8, p' = 2.75/8 = 0.34375, d' = 1.75/8 = 0.21875, c = 0.125,
    # se = sqrt((0.5625 - 0.015625) / 8) = 0.261456, 1.96 se = 0.512448
    # -> [-38.74, 63.74]
    assert row["ci_low"] == pytest.approx(-38.745, abs=0.01)
    assert row["ci_high"] == pytest.approx(63.745, abs=0.01)
    assert res.extra["value"] == pytest.approx(20.0) and res.extra["respondents"] == 5


def test_nps_interval_edges():
    assert nps_interval(0, 0, 0) == (None, None)
    lo, hi = nps_interval(10, 0, 10)  # all promoters: not collapsed to a point
    assert hi == 100 and lo < 100
    # n' = 13, p' = 10.75/13, d' = 0.75/13: c = 0.76923, se = sqrt((0.88462 - 0.59172)/13)
    # = 0.15010 -> low = 100 * (0.76923 - 0.29420) = 47.50
    assert lo == pytest.approx(47.50, abs=0.02)


def test_nps_breakdown_filter_by_week_and_empty(wh):
    add_events(wh, _nps_events())
    rng = {"start": "2026-01-01", "end": "2026-02-01"}
    d = nps(wh, breakdown="country", **rng).df.set_index("breakdown")
    # ID: p1 (P), p2 (P) -> 100; AU: p3 (passive) -> 0; (none): p4 passive, u5 detractor
    assert d.loc["ID", "nps"] == 100 and d.loc["AU", "nps"] == 0
    assert d.loc["(none)", "nps"] == pytest.approx(-50)
    f = nps(wh, filters={"country": "ID"}, **rng).df
    assert f["respondents"].tolist() == [2] and f["nps"].tolist() == [100]
    # by week: the week of Jan 5 has p1's 3 (his latest that week) -> p1 counts as a
    # detractor there; the week of Jan 19 has only his 10.
    w = nps(wh, by="week", **rng).df.set_index("week")
    assert w.loc[pd.Timestamp("2026-01-05"), "detractors"] == 2  # p1 (3), u5 (0)
    assert w.loc[pd.Timestamp("2026-01-19"), "nps"] == 100
    e = nps(wh, start="2026-03-01", end="2026-03-08")
    assert e.empty and "nps" in e.df.columns
