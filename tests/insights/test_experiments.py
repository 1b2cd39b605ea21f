"""A/B tests over feature flags: exposure, goals after exposure, intervals, tests, SRM.

Times are Asia/Jakarta (UTC+7) unless written with Z; 2026-03-02 is a Monday.
"""

from __future__ import annotations

import math

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import pytest  # noqa: E402
from enginekit import built_demo, on_engine  # noqa: E402
from eventkit import add_events, ev  # noqa: E402

from zantara_nb import Warehouse  # noqa: E402
from zantara_nb.demo import GroundTruth  # noqa: E402
from zantara_nb.insights.experiments import (  # noqa: E402
    MeanGoal,
    experiment,
    experiments,
    newcombe_interval,
    srm_test,
)
from zantara_nb.metrics.funnels import Step  # noqa: E402

TZ = "Asia/Jakarta"


def J(s: str) -> str:
    return s + "+07:00"


def expose(person: str, t: str, variant: str, flag: str = "f", **kw):
    return ev(
        person,
        "$feature_flag_called",
        J(t),
        {"$feature_flag": flag, "$feature_flag_response": variant},
        **kw,
    )


def rows_of(res):
    return res.df.set_index("variant")


# ------------------------------------------------------------------------------------------
# Statistics
# ------------------------------------------------------------------------------------------


def test_newcombe_interval_matches_the_paper():
    # Newcombe (1998), Stat Med 17:873, example (56/70 vs 48/80), method 10: 0.0524 to 0.3339
    lo, hi = newcombe_interval(56, 70, 48, 80)
    assert (round(lo, 4), round(hi, 4)) == (0.0524, 0.3339)
    assert newcombe_interval(1, 0, 1, 2) == (None, None)


def test_srm_chi_square():
    # 30 vs 70 against 50/50: chi2 = 2 * 20^2 / 50 = 16, p = 6.3e-5 < 0.001 -> mismatch
    s = srm_test({"control": 30, "test": 70})
    assert s["chi2"] == pytest.approx(16.0) and s["p"] == pytest.approx(6.334e-5, rel=1e-3)
    assert s["mismatch"]
    # the same counts against a configured 30/70 split: no mismatch
    assert srm_test({"control": 30, "test": 70}, {"control": 0.3, "test": 0.7})["p"] == 1.0
    # a configured variant nobody got is part of the test
    assert srm_test({"control": 50}, {"control": 1, "test": 1})["mismatch"]
    assert srm_test({"control": 5})["p"] is None


# ------------------------------------------------------------------------------------------
# Exposure
# ------------------------------------------------------------------------------------------


def test_first_exposure_wins(wh):
    add_events(
        wh,
        [
            # a: control first, later test -> control, counted as multi-variant
            expose("a", "2026-03-02T10:00:00", "control"),
            expose("a", "2026-03-03T10:00:00", "test"),
            # b: two exposures at the same instant -> tie broken by uuid ("b1" < "b2")
            expose("b", "2026-03-02T10:00:00", "test", uuid="b2"),
            expose("b", "2026-03-02T10:00:00", "control", uuid="b1"),
            # c: test only; an exposure to another flag is another experiment
            expose("c", "2026-03-02T11:00:00", "test"),
            expose("c", "2026-03-02T11:00:00", "on", flag="other"),
            # anonymous exposure, then identified: one person, first (anonymous) exposure
            expose("anon-d", "2026-03-02T08:00:00", "test"),
            ev("d", "$identify", J("2026-03-02T09:00:00"), {"$anon_distinct_id": "anon-d"}),
            expose("d", "2026-03-02T10:00:00", "test"),
        ],
    )
    ex = experiments(wh, as_of="2026-03-10", tz=TZ).df
    f = ex[ex["flag"] == "f"].set_index("variant")
    assert f["persons"].to_dict() == {"control": 2, "test": 2}
    assert f["multi_variant"].to_dict() == {"control": 2, "test": 0}
    assert f["share"].to_dict() == {"control": 0.5, "test": 0.5}
    assert set(ex["flag"]) == {"f", "other"}
    r = experiment(wh, "f", goal="message_sent", as_of="2026-03-30", tz=TZ)
    assert rows_of(r)["exposed"].to_dict() == {"control": 2, "test": 2}
    # excluding multi-variant persons instead (PostHog's other option)
    r2 = experiment(wh, "f", goal="message_sent", as_of="2026-03-30", tz=TZ, exclude_multi=True)
    assert rows_of(r2)["exposed"].to_dict() == {"test": 2}


# ------------------------------------------------------------------------------------------
# Goals measured after exposure
# ------------------------------------------------------------------------------------------


def test_event_goal_window_after_exposure(wh):
    add_events(
        wh,
        [
            # e1: goal exactly at exposure + 14 d -> converted (window inclusive)
            expose("e1", "2026-03-02T10:00:00", "control"),
            ev("e1", "source_clicked", J("2026-03-16T10:00:00"), source_position=2),
            # e2: one second later -> not
            expose("e2", "2026-03-02T10:00:00", "control"),
            ev("e2", "source_clicked", J("2026-03-16T10:00:01"), source_position=1),
            # e3: goal before the exposure -> not
            expose("e3", "2026-03-02T10:00:00", "test"),
            ev("e3", "source_clicked", J("2026-03-02T09:59:00"), source_position=1),
            # e4: goal at the exposure instant -> converted
            expose("e4", "2026-03-02T10:00:00", "test"),
            ev("e4", "source_clicked", J("2026-03-02T10:00:00"), source_position=1),
            # e5: window (to 03-24) still open at as_of 03-20 -> pending, not a failure
            expose("e5", "2026-03-10T10:00:00", "test"),
        ],
    )
    r = experiment(wh, "f", goal="source_clicked", as_of="2026-03-20", tz=TZ)
    t = rows_of(r)
    assert t.loc["control", ["exposed", "n", "k", "pending"]].tolist() == [2, 2, 1, 0]
    assert t.loc["test", ["exposed", "n", "k", "pending"]].tolist() == [3, 2, 1, 1]
    assert t.loc["test", "rate"] == 0.5 and t.loc["test", "diff"] == 0.0
    assert r.control == "control" and not r.significant
    # a funnel step with a property filter: e1's click is at position 2 -> not counted
    s = experiment(
        wh,
        "f",
        goal=Step("source_clicked", filters={"source_position": 1}),
        as_of="2026-03-20",
        tz=TZ,
    )
    assert rows_of(s).loc["control", "k"] == 0
    # a shorter window: 1 day -> only e4
    d = experiment(
        wh, "f", goal="source_clicked", conversion_window="1d", as_of="2026-03-20", tz=TZ
    )
    assert rows_of(d)["k"].to_dict() == {"control": 0, "test": 1}


def test_activation_goal_counts_only_after_exposure(wh):
    def exchange(p, t):
        return [ev(p, "message_sent", J(t)), ev(p, "message_received", J(t))]

    add_events(
        wh,
        [
            # s1: signup, exposure, exchange -> activated
            ev("s1", "user_signed_up", J("2026-03-02T10:00:00")),
            expose("s1", "2026-03-02T10:01:00", "control"),
            *exchange("s1", "2026-03-02T10:02:00"),
            # s2: exchange before the exposure only -> eligible, not activated
            ev("s2", "user_signed_up", J("2026-03-02T10:00:00")),
            *exchange("s2", "2026-03-02T10:02:00"),
            expose("s2", "2026-03-02T10:05:00", "control"),
            # s3: exposed at exactly signup + 24 h -> too late to change activation
            ev("s3", "user_signed_up", J("2026-03-02T10:00:00")),
            expose("s3", "2026-03-03T10:00:00", "test"),
            *exchange("s3", "2026-03-03T10:01:00"),
            # s4: exposed before signup (anonymous visitor flag) -> window from signup
            expose("s4", "2026-03-02T09:00:00", "test"),
            ev("s4", "user_signed_up", J("2026-03-02T10:00:00")),
            *exchange("s4", "2026-03-02T10:30:00"),
            # s5: no signup in the data -> ineligible
            expose("s5", "2026-03-02T09:00:00", "test"),
            *exchange("s5", "2026-03-02T10:30:00"),
        ],
    )
    r = experiment(wh, "f", goal="activation", as_of="2026-03-20", tz=TZ)
    t = rows_of(r)
    assert t.loc["control", ["exposed", "eligible", "n", "k"]].tolist() == [2, 2, 2, 1]
    assert t.loc["test", ["exposed", "eligible", "n", "k"]].tolist() == [3, 1, 1, 1]
    # SRM counts every exposed person (2 vs 3)
    assert r.srm["counts"] == {"control": 2, "test": 3} and not r.srm["mismatch"]
    # not observed yet: as_of before s1's 24 h closed -> pending
    early = rows_of(experiment(wh, "f", goal="activation", as_of="2026-03-02T12:00:00", tz=TZ))
    assert early.loc["control", "n"] == 0 and early.loc["control", "pending"] == 2
    assert math.isnan(early.loc["control", "rate"])


# ------------------------------------------------------------------------------------------
# Significance and SRM on fixtures
# ------------------------------------------------------------------------------------------


def population(flag: str, counts: dict[str, tuple[int, int]]):
    """``counts[variant] = (persons, converters)``: exposures 03-02, goal 03-03."""
    rows = []
    for variant, (n, k) in counts.items():
        for i in range(n):
            p = f"{flag}-{variant}-{i}"
            rows.append(expose(p, "2026-03-02T10:00:00", variant, flag=flag))
            if i < k:
                rows.append(ev(p, "subscription_started", J("2026-03-03T10:00:00"), plan="pro"))
    return rows


def test_significance_and_srm(wh):
    add_events(
        wh,
        population("clear", {"control": (40, 4), "test": (40, 24)})
        + population("equal", {"control": (40, 10), "test": (40, 10)})
        + population("skew", {"control": (30, 3), "test": (70, 7)}),
    )
    kw = {"goal": "subscription_started", "as_of": "2026-03-30", "tz": TZ}
    clear = experiment(wh, "clear", **kw)
    t = rows_of(clear).loc["test"]
    # 10% vs 60%: pooled p = 28/80 = 0.35, se = sqrt(.35 * .65 * 2/40) = 0.10665,
    # z = 0.5 / 0.10665 = 4.69, two-sided p = 2.8e-6
    assert t["diff"] == pytest.approx(0.5) and t["lift"] == pytest.approx(5.0)
    assert t["p_value"] == pytest.approx(2.76e-6, rel=0.02) and t["significant"]
    # Newcombe: Wilson 24/40 = (0.4458, 0.7360), 4/40 = (0.0396, 0.2305);
    # 0.5 -/+ sqrt((0.6 - 0.4458)^2 + (0.2305 - 0.1)^2), sqrt((0.7360 - 0.6)^2 + (0.1 - 0.0396)^2)
    assert t["diff_low"] == pytest.approx(0.2981, abs=1e-3)
    assert t["diff_high"] == pytest.approx(0.6488, abs=1e-3)
    assert clear.significant and not clear.srm["mismatch"]
    assert "significant" in clear.headline()
    equal = rows_of(experiment(wh, "equal", **kw)).loc["test"]
    assert equal["diff"] == 0 and equal["p_value"] == pytest.approx(1.0)
    assert not equal["significant"] and equal["diff_low"] < 0 < equal["diff_high"]
    skew = experiment(wh, "skew", **kw)
    assert skew.srm["mismatch"] and skew.srm["p"] < 0.001
    assert "MISMATCH" in skew.headline()
    assert not experiment(wh, "skew", weights={"control": 3, "test": 7}, **kw).srm["mismatch"]
    listed = experiments(wh, as_of="2026-03-30", tz=TZ).df.drop_duplicates("flag")
    assert listed.set_index("flag")["srm_mismatch"].to_dict() == {
        "clear": False,
        "equal": False,
        "skew": True,
    }
    assert clear.plot() is not None and "Newcombe" in clear._repr_html_()
    plt.close("all")


def test_filter_breakdown_and_empty(wh):
    rows = population("f", {"control": (4, 1), "test": (4, 3)})
    for i in range(2):
        rows.append(
            ev(f"f-control-{i}", "$identify", J("2026-01-01T00:00:00"), set_props={"country": "ID"})
        )
        rows.append(
            ev(f"f-test-{i}", "$identify", J("2026-01-01T00:00:00"), set_props={"country": "ID"})
        )
    add_events(wh, rows)
    kw = {"goal": "subscription_started", "as_of": "2026-03-30", "tz": TZ}
    f = rows_of(experiment(wh, "f", filters={"country": "ID"}, **kw))
    assert f["exposed"].to_dict() == {"control": 2, "test": 2}
    assert f["k"].to_dict() == {"control": 1, "test": 2}
    b = experiment(wh, "f", breakdown="country", **kw).df
    assert set(zip(b["breakdown"], b["variant"], b["k"], strict=True)) == {
        ("(none)", "control", 0),
        ("(none)", "test", 1),
        ("ID", "control", 1),
        ("ID", "test", 2),
    }
    none = experiment(wh, "missing-flag", **kw)
    assert none.df.empty and "rate" in none.df.columns and not none.significant
    empty = experiment(wh, "f", start="2026-04-01", end="2026-04-08", **kw)
    assert empty.df.empty
    assert experiments(Warehouse(":memory:")).df.empty


# ------------------------------------------------------------------------------------------
# Demo data: the planted flag effect (test: +0.7 sources per reply, latency x1.08)
# ------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def demo(tmp_path_factory, warehouse_engine):
    path, res = built_demo(
        tmp_path_factory,
        "exp",
        seed=11,
        start="2026-05-04",
        end="2026-08-24",
        monthly_active_users=2500,
    )
    w = on_engine(path)
    yield w, GroundTruth.load(res.truth_path)
    w.close()


def test_demo_flag_effect_is_recovered(demo):
    wh, truth = demo
    flag = truth.feature_flag["key"]
    listed = experiments(wh).df
    assert set(listed["variant"]) == set(truth.feature_flag["variants"])
    assert not listed["srm_mismatch"].any() and listed["multi_variant"].sum() == 0
    src = experiment(wh, flag, goal=MeanGoal("sources_count"))
    print(src.headline())  # noqa: T201
    t = rows_of(src).loc["test"]
    assert t["significant"] and t["diff_low"] < 0.69 < t["diff_high"]  # planted +0.7
    lat = experiment(
        wh,
        flag,
        goal=MeanGoal("response_latency_ms", event=Step(["message_received", "$ai_generation"])),
    )
    print(lat.headline())  # noqa: T201
    c, t = rows_of(lat).loc["control"], rows_of(lat).loc["test"]
    assert t["diff_low"] / c["mean"] < 0.08 < t["diff_high"] / c["mean"]  # planted x1.08
    # no planted effect on the seed's rates: shown, not asserted significant or not
    for goal in ("activation", "week2_retention", "paid_conversion"):
        r = experiment(wh, flag, goal=goal)
        print(r.headline())  # noqa: T201
        assert not r.srm["mismatch"] and (rows_of(r)["n"] > 100).all()
