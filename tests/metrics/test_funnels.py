"""Funnels (METRICS.md section 5): hand-built fixtures with the expected numbers worked out.

Unless a test says otherwise: report timezone UTC, range 2026-03-01 .. 2026-03-08
(end exclusive), as_of 2026-04-30, so every window is closed.
"""

from __future__ import annotations

import itertools
import random
from datetime import UTC, datetime, timedelta

import matplotlib
import pandas as pd
import pytest
from eventkit import add_events, ev

import zantara_nb.metrics.funnels_duckdb as funnels_module
from zantara_nb import Warehouse
from zantara_nb.metrics.funnels import (
    SEED_FUNNEL,
    STEP_COLUMNS,
    Exclusion,
    FunnelSpec,
    Step,
    funnel,
    parse_funnel_window,
)
from zantara_nb.metrics.stats import wilson
from zantara_nb.warehouse.privacy import hash_id

matplotlib.use("Agg")

RANGE = {"start": "2026-03-01", "end": "2026-03-08", "as_of": "2026-04-30", "tz": "UTC"}


def run(wh, steps, **kw):
    args = {**RANGE, **kw}
    return funnel(wh, steps, **args)


def counts(f) -> list[int]:
    return f.steps["persons"].tolist()


def by_person(f) -> dict[str, pd.Series]:
    return {r["person"]: r for _, r in f.persons().iterrows()}


def ts(s: str) -> pd.Timestamp:
    return pd.Timestamp(s)


# ------------------------------------------------------------------------------------------
# Window
# ------------------------------------------------------------------------------------------


def test_window_end_is_inclusive_and_one_second_later_misses(wh):
    add_events(
        wh,
        [
            ev("a", "user_signed_up", "2026-03-02T10:00:00Z"),
            ev("a", "message_sent", "2026-03-02T11:00:00Z"),  # exactly t1 + 1 h: converts
            ev("b", "user_signed_up", "2026-03-02T10:00:00Z"),
            ev("b", "message_sent", "2026-03-02T11:00:01Z"),  # one second too late
        ],
    )
    f = run(wh, ["user_signed_up", "message_sent"], window="1h")
    assert counts(f) == [2, 1]
    s2 = f.steps.iloc[1]
    ci = wilson(1, 2)
    assert s2["conversion"] == 0.5 and s2["step_conversion"] == 0.5
    assert s2["ci_low"] == pytest.approx(ci.low) and s2["ci_high"] == pytest.approx(ci.high)
    assert s2["dropoff"] == 1 and s2["dropoff_rate"] == 0.5
    assert s2["median_time_s"] == 3600 and s2["mean_time_s"] == 3600
    # the same window in other units
    for w in ["60min", "3600s", (1, "hour"), timedelta(hours=1)]:
        assert counts(run(wh, ["user_signed_up", "message_sent"], window=w)) == [2, 1]
    # one second more and b converts too
    assert counts(run(wh, ["user_signed_up", "message_sent"], window="3601s")) == [2, 2]


def test_window_units():
    assert parse_funnel_window("14d") == timedelta(days=14)
    assert parse_funnel_window("2w") == timedelta(days=14)
    assert parse_funnel_window("1mo") == timedelta(days=31)  # month = 31 days, as PostHog
    assert parse_funnel_window("45 days") == timedelta(days=45)
    assert parse_funnel_window(3) == timedelta(days=3)
    with pytest.raises(ValueError):
        parse_funnel_window("1m")  # minute or month? refused
    with pytest.raises(ValueError):
        parse_funnel_window("0d")
    assert FunnelSpec(["a"]).window == "14d"  # METRICS.md default


# ------------------------------------------------------------------------------------------
# Attempts, ties, one event per step
# ------------------------------------------------------------------------------------------


def test_repeated_step1_only_later_attempt_converts_and_earliest_attempt_wins_ties(wh):
    add_events(
        wh,
        [
            # a: the 08:00 attempt expires at 09:00; the 10:00 attempt converts after 30 min
            ev("a", "page_viewed", "2026-03-02T08:00:00Z"),
            ev("a", "page_viewed", "2026-03-02T10:00:00Z"),
            ev("a", "message_sent", "2026-03-02T10:30:00Z"),
            # b: both attempts convert; the earliest (08:00) gives the time: 50 min
            ev("b", "page_viewed", "2026-03-02T08:00:00Z"),
            ev("b", "page_viewed", "2026-03-02T08:20:00Z"),
            ev("b", "message_sent", "2026-03-02T08:50:00Z"),
        ],
    )
    f = run(wh, ["page_viewed", "message_sent"], window="1h")
    assert counts(f) == [2, 2]  # each person once
    p = by_person(f)
    assert p[hash_id("a")]["t1"] == ts("2026-03-02T10:00:00Z")
    assert p[hash_id("b")]["t1"] == ts("2026-03-02T08:00:00Z")
    # times 1800 s and 3000 s
    assert f.steps.iloc[1]["median_time_s"] == 2400
    assert f.steps.iloc[1]["mean_time_s"] == 2400


def test_same_timestamp_events_are_taken_in_step_order(wh):
    add_events(
        wh,
        [
            # p: all three steps at one instant -> step 3, times 0
            ev("p", "page_viewed", "2026-03-02T10:00:00Z"),
            ev("p", "user_signed_up", "2026-03-02T10:00:00Z"),
            ev("p", "message_sent", "2026-03-02T10:00:00Z"),
            # q: signup loaded before the page view, same instant -> still step 2
            ev("q", "user_signed_up", "2026-03-02T10:00:00Z"),
            ev("q", "page_viewed", "2026-03-02T10:00:00Z"),
            # r: signup one second before the page view -> step 1 only
            ev("r", "user_signed_up", "2026-03-02T09:59:59Z"),
            ev("r", "page_viewed", "2026-03-02T10:00:00Z"),
        ],
    )
    f = run(wh, ["page_viewed", "user_signed_up", "message_sent"], window="1d")
    assert counts(f) == [3, 2, 1]
    assert f.steps.iloc[1]["median_time_s"] == 0 and f.steps.iloc[2]["median_time_s"] == 0


def test_one_event_fills_at_most_one_step(wh):
    add_events(
        wh,
        [
            ev("a", "message_sent", "2026-03-02T10:00:00Z"),  # one message: step 1 only
            ev("b", "message_sent", "2026-03-02T10:00:00Z"),
            ev("b", "message_sent", "2026-03-02T10:01:00Z"),  # second occurrence: step 2
            ev("c", "message_sent", "2026-03-02T10:00:00Z"),
            ev("c", "message_sent", "2026-03-02T10:00:00Z"),  # two at one instant: step 2
        ],
    )
    f = run(wh, ["message_sent", "message_sent"], window="1d")
    assert counts(f) == [3, 2]
    assert sorted(f.persons()["t2"].dropna() - f.persons()["t1"][f.persons()["reached"] == 2]) == [
        pd.Timedelta(0),
        pd.Timedelta(minutes=1),
    ]


def test_same_instant_candidates_prefer_the_one_matching_fewer_next_steps(wh):
    # Steps: signup -> message -> message at day 7+. At 11:00 two messages share the
    # instant; the day-8 one (loaded first) matches steps 2 and 3, the day-0 one only
    # step 2. Step 2 takes the day-0 one, so the day-8 one is left for step 3: 3 steps.
    add_events(
        wh,
        [
            ev("a", "user_signed_up", "2026-03-02T10:00:00Z"),
            ev("a", "message_sent", "2026-03-02T11:00:00Z", days_since_signup=8),
            ev("a", "message_sent", "2026-03-02T11:00:00Z", days_since_signup=0),
            # b: a single day-8 message cannot be both the first query and the return
            ev("b", "user_signed_up", "2026-03-02T10:00:00Z"),
            ev("b", "message_sent", "2026-03-02T11:00:00Z", days_since_signup=8),
        ],
    )
    steps = [
        "user_signed_up",
        "message_sent",
        Step("message_sent", filters={"days_since_signup": (">=", 7)}),
    ]
    f = run(wh, steps, window="1d")
    assert counts(f) == [2, 2, 1]
    assert by_person(f)[hash_id("a")]["reached"] == 3


SEED4 = [
    "page_viewed",
    "user_signed_up",
    "message_sent",
    Step("message_sent", filters={"days_since_signup": (">=", 7)}),
]


def _walk_paths_events() -> list[dict]:
    """Persons for both ways a step is searched: attempts waiting together (one pick for
    all) and attempts waiting at different times (searched per candidate time)."""
    return [
        # a: two attempts converge at the 10:00 signup, then share every pick -> step 4
        ev("a", "page_viewed", "2026-03-02T08:00:00Z"),
        ev("a", "page_viewed", "2026-03-02T09:00:00Z"),
        ev("a", "user_signed_up", "2026-03-02T10:00:00Z"),
        ev("a", "message_sent", "2026-03-02T10:30:00Z", days_since_signup=0),
        ev("a", "message_sent", "2026-03-02T11:00:00Z", days_since_signup=8),
        # b: attempts wait at 08:30 and 09:30 for the first query; both take the only
        # message (10:00, day 8), which then cannot also be the return visit -> step 3
        ev("b", "page_viewed", "2026-03-02T08:00:00Z"),
        ev("b", "user_signed_up", "2026-03-02T08:30:00Z"),
        ev("b", "page_viewed", "2026-03-02T09:00:00Z"),
        ev("b", "user_signed_up", "2026-03-02T09:30:00Z"),
        ev("b", "message_sent", "2026-03-02T10:00:00Z", days_since_signup=8),
        # c: two day-8 messages at one instant fill steps 3 and 4 -> step 4, no wait
        ev("c", "page_viewed", "2026-03-02T08:00:00Z"),
        ev("c", "user_signed_up", "2026-03-02T09:00:00Z"),
        ev("c", "message_sent", "2026-03-02T10:00:00Z", days_since_signup=8),
        ev("c", "message_sent", "2026-03-02T10:00:00Z", days_since_signup=8),
    ]


def test_attempts_waiting_together_or_apart_take_the_earliest_unused_event(wh):
    add_events(wh, _walk_paths_events())
    f = run(wh, SEED4, window="1d")
    assert counts(f) == [3, 3, 3, 2]
    p = by_person(f)
    times = {
        "a": ["08:00", "10:00", "10:30", "11:00"],
        "b": ["08:00", "08:30", "10:00", None],  # earliest of two step-3 attempts
        "c": ["08:00", "09:00", "10:00", "10:00"],
    }
    for person, want in times.items():
        row = p[hash_id(person)]
        assert row["reached"] == sum(t is not None for t in want), person
        for k, t in enumerate(want, 1):
            got = row[f"t{k}"]
            assert pd.isna(got) if t is None else got == ts(f"2026-03-02T{t}:00Z"), (person, k)


def test_rank_falls_back_to_hugeint_when_times_do_not_fit_bigint(wh, monkeypatch):
    """Candidates are ranked by (time, tie preference) in a BIGINT when it fits; a
    HUGEINT otherwise (forced here): same persons, same times."""
    add_events(wh, _walk_paths_events())
    want = run(wh, SEED4, window="1d").persons()
    steps = FunnelSpec(SEED4).steps
    assert not funnels_module._rank(steps, 3, 0, span_bits=40).wide
    assert funnels_module._rank(steps, 3, 0, span_bits=62).wide
    assert funnels_module._rank(steps, 4, 0, span_bits=62).bits == 0  # no later rival
    monkeypatch.setattr(funnels_module, "_RANK_BITS", 0)
    pd.testing.assert_frame_equal(run(wh, SEED4, window="1d").persons(), want)
    events = _random_events(7)
    w = _random_warehouse(events)
    window = timedelta(hours=20)
    start, end = datetime(2026, 3, 1, tzinfo=UTC), datetime(2026, 3, 3, tzinfo=UTC)
    f = funnel(w, _REF_STEPS, window=window, start="2026-03-01", end="2026-03-03", tz="UTC")
    ref = _reference(events, "ordered", window, start, end, end)
    got = by_person(f)
    for person, (reach, _, times, _) in ref.items():
        row = got[hash_id(person)]
        assert row["reached"] == reach, person
        assert tuple(row[f"t{k}"] for k in range(2, reach + 1)) == tuple(map(pd.Timestamp, times))
    w.close()


# ------------------------------------------------------------------------------------------
# Exclusions, strict, any order
# ------------------------------------------------------------------------------------------


@pytest.fixture
def excl_wh(wh):
    add_events(
        wh,
        [
            # p: X between step 1 (08:00) and step 2 (11:00) kills the first attempt; the
            # 10:00 attempt is clean and counts (step 3)
            ev("p", "page_viewed", "2026-03-02T08:00:00Z"),
            ev("p", "error_occurred", "2026-03-02T09:00:00Z"),
            ev("p", "page_viewed", "2026-03-02T10:00:00Z"),
            ev("p", "user_signed_up", "2026-03-02T11:00:00Z"),
            ev("p", "message_sent", "2026-03-02T12:00:00Z"),
            # q: X after step 2: not between 1 and 2 (but between 2 and 3)
            ev("q", "page_viewed", "2026-03-02T08:00:00Z"),
            ev("q", "user_signed_up", "2026-03-02T09:00:00Z"),
            ev("q", "error_occurred", "2026-03-02T09:30:00Z"),
            ev("q", "message_sent", "2026-03-02T10:00:00Z"),
            # r: X in the window, step 2 never reached: excluded by (1, 2)
            ev("r", "page_viewed", "2026-03-02T08:00:00Z"),
            ev("r", "error_occurred", "2026-03-02T09:00:00Z"),
            # s: X at the very instant of step 1: not strictly after it
            ev("s", "page_viewed", "2026-03-02T08:00:00Z"),
            ev("s", "error_occurred", "2026-03-02T08:00:00Z"),
            ev("s", "user_signed_up", "2026-03-02T09:00:00Z"),
        ],
    )
    return wh


STEPS3 = ["page_viewed", "user_signed_up", "message_sent"]


def test_exclusion_drops_one_attempt_not_another(excl_wh):
    # p's second attempt is clean and reaches as far as the first: p counts under both
    # exclusion rules (the furthest path, the default, and each attempt on its own);
    # tests/metrics/test_posthog_parity.py has the persons where the rules differ.
    wh = excl_wh
    assert counts(run(wh, STEPS3, window="1d")) == [4, 3, 2]  # p3 q3 r1 s2
    f = run(wh, STEPS3, window="1d", exclusions=[Exclusion("error_occurred", between=(1, 2))])
    assert counts(f) == [3, 3, 2]  # p3 (second attempt) q3 s2; r out
    old = run(
        wh,
        STEPS3,
        window="1d",
        exclusions=[Exclusion("error_occurred", between=(1, 2))],
        exclusion_mode="attempt",
    )
    assert counts(old) == [3, 3, 2]
    p = by_person(f)
    assert hash_id("r") not in p
    assert p[hash_id("p")]["t1"] == ts("2026-03-02T10:00:00Z")
    assert f.steps.iloc[1]["median_time_s"] == 3600  # p 1 h, q 1 h, s 1 h
    # between steps 2 and 3: q (X at 09:30 between 09:00 and 10:00) is out
    f23 = run(wh, STEPS3, window="1d", exclusions=[Exclusion("error_occurred", between=(2, 3))])
    assert counts(f23) == [3, 2, 1]  # p3 r1 s2
    # default between = whole funnel (1, 3): p's first attempt, q and r are out
    fall = run(wh, STEPS3, window="1d", exclusions=[Exclusion("error_occurred")])
    assert counts(fall) == [2, 2, 1]  # p3 s2


def test_exclusion_spec_is_validated():
    with pytest.raises(ValueError):
        FunnelSpec(STEPS3, exclusions=[Exclusion("error_occurred", between=(2, 2))])
    with pytest.raises(ValueError):
        FunnelSpec(STEPS3, exclusions=[Exclusion("error_occurred", between=(1, 4))])


def test_strict_order_broken_by_an_event_in_between(wh):
    add_events(
        wh,
        [
            # p: feature_used between the steps: strict stops at step 1
            ev("p", "page_viewed", "2026-03-02T08:00:00Z"),
            ev("p", "feature_used", "2026-03-02T08:30:00Z"),
            ev("p", "user_signed_up", "2026-03-02T09:00:00Z"),
            # q: the other event comes after step 2
            ev("q", "page_viewed", "2026-03-02T08:00:00Z"),
            ev("q", "user_signed_up", "2026-03-02T09:00:00Z"),
            ev("q", "feature_used", "2026-03-02T09:30:00Z"),
            # r: the first attempt is broken, the second (10:00) is clean
            ev("r", "page_viewed", "2026-03-02T08:00:00Z"),
            ev("r", "feature_used", "2026-03-02T08:30:00Z"),
            ev("r", "page_viewed", "2026-03-02T10:00:00Z"),
            ev("r", "user_signed_up", "2026-03-02T10:05:00Z"),
            # s: the other event shares the instant of step 2: not "between"
            ev("s", "page_viewed", "2026-03-02T08:00:00Z"),
            ev("s", "feature_used", "2026-03-02T09:00:00Z"),
            ev("s", "user_signed_up", "2026-03-02T09:00:00Z"),
        ],
    )
    steps = ["page_viewed", "user_signed_up"]
    assert counts(run(wh, steps, window="1d")) == [4, 4]
    f = run(wh, steps, window="1d", order="strict")
    assert counts(f) == [4, 3]
    p = by_person(f)
    assert p[hash_id("p")]["reached"] == 1
    assert p[hash_id("r")]["t1"] == ts("2026-03-02T10:00:00Z")
    # the scope filters decide what "another event" is: without feature_used events
    # (filter on event name) nothing breaks the sequence
    f2 = run(wh, steps, window="1d", order="strict", filters={"event": ("!=", "feature_used")})
    assert counts(f2) == [4, 4]


def test_any_order(wh):
    add_events(
        wh,
        [
            ev("p", "message_sent", "2026-03-02T08:00:00Z"),  # reverse order: 3 steps
            ev("p", "user_signed_up", "2026-03-02T08:10:00Z"),
            ev("p", "page_viewed", "2026-03-02T08:20:00Z"),
            ev("q", "user_signed_up", "2026-03-02T08:00:00Z"),  # 90 min apart: 1 step
            ev("q", "page_viewed", "2026-03-02T09:30:00Z"),
            ev("r", "page_viewed", "2026-03-02T08:00:00Z"),  # last one exactly at +1 h
            ev("r", "user_signed_up", "2026-03-02T08:30:00Z"),
            ev("r", "message_sent", "2026-03-02T09:00:00Z"),
            ev("s", "page_viewed", "2026-03-02T08:00:00Z"),  # third one a second late
            ev("s", "user_signed_up", "2026-03-02T08:00:00Z"),
            ev("s", "message_sent", "2026-03-02T09:00:01Z"),
        ],
    )
    f = run(wh, STEPS3, window="1h", order="any")
    assert counts(f) == [4, 3, 2]  # reached: p3 q1 r3 s2 -> at least 1, 2, 3 steps
    assert f.steps["name"].tolist()[1] == "2 of 3 steps (any order)"
    assert f.steps["median_time_s"].isna().all()  # not defined for any order
    assert counts(run(wh, STEPS3, window="1h")) == [4, 2, 1]  # ordered: p1 q1 r3 s2
    # exclusions: over the whole funnel only (issue 11; was refused altogether before).
    # No error_occurred here, so the counts stay; a partial range is refused.
    ex = run(wh, STEPS3, window="1h", order="any", exclusions=[Exclusion("error_occurred")])
    assert counts(ex) == [4, 3, 2]
    with pytest.raises(ValueError, match="whole funnel"):
        run(wh, STEPS3, order="any", exclusions=[Exclusion("error_occurred", between=(1, 2))])


def test_any_order_needs_distinct_events_for_steps_sharing_an_event(wh):
    add_events(
        wh,
        [
            ev("a", "message_sent", "2026-03-02T08:00:00Z", days_since_signup=8),
            ev("b", "message_sent", "2026-03-02T08:00:00Z", days_since_signup=8),
            ev("b", "message_sent", "2026-03-02T08:30:00Z", days_since_signup=0),
        ],
    )
    steps = [Step("message_sent", filters={"days_since_signup": (">=", 7)}), "message_sent"]
    # a's single message could fill either step but not both; b has one of each
    assert counts(run(wh, steps, window="1h", order="any")) == [2, 1]


# ------------------------------------------------------------------------------------------
# Steps: alternatives and filters; scope filters
# ------------------------------------------------------------------------------------------


def test_alternative_events_and_step_filters(wh):
    add_events(
        wh,
        [
            ev("a", "user_signed_up", "2026-03-02T08:00:00Z"),
            ev("a", "voice_used", "2026-03-02T08:10:00Z"),
            ev("a", "message_sent", "2026-03-02T08:20:00Z", query_category="visa"),
            ev("b", "user_signed_up", "2026-03-02T08:00:00Z"),
            ev("b", "feature_used", "2026-03-02T08:10:00Z", feature="export"),
            ev("b", "message_sent", "2026-03-02T08:20:00Z", query_category="tax"),
            ev("c", "user_signed_up", "2026-03-02T08:00:00Z"),
            ev("c", "feature_used", "2026-03-02T08:10:00Z", feature="voice"),  # not export
            ev("c", "message_sent", "2026-03-02T08:20:00Z", query_category="visa"),
            ev("d", "user_signed_up", "2026-03-02T08:00:00Z"),
            ev("d", "feature_used", "2026-03-02T08:10:00Z", feature="export"),
            ev("d", "message_sent", "2026-03-02T08:20:00Z", query_category="visa"),
        ],
    )
    power = Step(["voice_used", ("feature_used", {"feature": "export"})], name="Power feature")
    visa = Step("message_sent", filters={"query_category": "visa"})
    f = run(wh, ["user_signed_up", power, visa], window="1d")
    assert counts(f) == [4, 3, 2]  # a3 b2 c1 d3
    assert f.steps["name"].tolist() == [
        "user_signed_up",
        "Power feature",
        "message_sent [query_category = visa]",
    ]
    # a list of alternatives sharing the step's filter
    either = Step(["message_sent", "voice_used"], filters={"query_category": ("in", ["visa"])})
    assert counts(run(wh, ["user_signed_up", either], window="1d")) == [4, 3]  # a c d


def test_event_and_person_property_prefixes_and_scope_filters(wh):
    add_events(
        wh,
        [
            ev(
                "a",
                "$identify",
                "2026-02-01T00:00:00Z",
                set_props={"plan": "free", "country": "ID"},
            ),
            ev("a", "user_signed_up", "2026-03-02T08:00:00Z"),
            ev("a", "subscription_started", "2026-03-03T08:00:00Z", plan="pro", price_usd=29),
            ev(
                "b",
                "$identify",
                "2026-02-01T00:00:00Z",
                set_props={"plan": "free", "country": "AU"},
            ),
            ev("b", "user_signed_up", "2026-03-02T08:00:00Z"),
            ev("b", "subscription_started", "2026-03-03T08:00:00Z", plan="enterprise"),
        ],
    )
    pro = Step("subscription_started", filters={"event:plan": "pro"})
    assert counts(run(wh, ["user_signed_up", pro], window="7d")) == [2, 1]
    free_person = Step("subscription_started", filters={"person:plan": "free"})
    assert counts(run(wh, ["user_signed_up", free_person], window="7d")) == [2, 2]
    # a scope filter on a person property keeps only Indonesian persons
    f = run(wh, ["user_signed_up", "subscription_started"], window="7d", filters={"country": "ID"})
    assert counts(f) == [1, 1] and set(f.persons()["person"]) == {hash_id("a")}
    with pytest.raises(ValueError):
        run(wh, ["user_signed_up", Step("x", filters={"person:nope": 1})])


# ------------------------------------------------------------------------------------------
# Time zones, identity stitching, the seed funnel
# ------------------------------------------------------------------------------------------


def test_jakarta_day_boundary_decides_whether_step1_is_in_range(wh):
    add_events(
        wh,
        [
            # 2026-03-01 17:30 UTC = 2026-03-02 00:30 in Jakarta
            ev("a", "user_signed_up", "2026-03-01T17:30:00Z"),
            ev("a", "message_sent", "2026-03-01T17:40:00Z"),
            # 2026-03-02 17:30 UTC = 2026-03-03 00:30 in Jakarta
            ev("b", "user_signed_up", "2026-03-02T17:30:00Z"),
            ev("b", "message_sent", "2026-03-02T17:40:00Z"),
        ],
    )
    steps = ["user_signed_up", "message_sent"]
    day = {"start": "2026-03-02", "end": "2026-03-03", "as_of": "2026-04-30"}
    jkt = funnel(wh, steps, tz="Asia/Jakarta", **day)
    utc = funnel(wh, steps, tz="UTC", **day)
    assert set(jkt.persons()["person"]) == {hash_id("a")}
    assert set(utc.persons()["person"]) == {hash_id("b")}
    assert counts(jkt) == counts(utc) == [1, 1]


def test_seed_funnel_with_anonymous_then_identified_persons(wh):
    add_events(
        wh,
        [
            # u1: anonymous landing page, identified at signup, all five steps
            ev("anon-1", "page_viewed", "2026-03-02T08:00:00Z"),
            ev("u1", "$identify", "2026-03-02T08:05:00Z", {"$anon_distinct_id": "anon-1"}),
            ev("u1", "user_signed_up", "2026-03-02T08:05:00Z"),
            ev("u1", "message_sent", "2026-03-02T08:10:00Z", days_since_signup=0),
            ev("u1", "message_sent", "2026-03-10T09:00:00Z", days_since_signup=8),
            ev("u1", "subscription_started", "2026-03-12T09:00:00Z", plan="pro"),
            # anon-2 never identifies: step 1 only
            ev("anon-2", "page_viewed", "2026-03-02T09:00:00Z"),
            # u3: first query on day 0 only
            ev("anon-3", "page_viewed", "2026-03-03T08:00:00Z"),
            ev("u3", "$identify", "2026-03-03T08:01:00Z", {"$anon_distinct_id": "anon-3"}),
            ev("u3", "user_signed_up", "2026-03-03T08:01:00Z"),
            ev("u3", "message_sent", "2026-03-03T08:02:00Z", days_since_signup=0),
            # u4: a single message, on day 8: the first query, but not also the return
            ev("anon-4", "page_viewed", "2026-03-03T08:00:00Z"),
            ev("u4", "$identify", "2026-03-03T08:01:00Z", {"$anon_distinct_id": "anon-4"}),
            ev("u4", "user_signed_up", "2026-03-03T08:01:00Z"),
            ev("u4", "message_sent", "2026-03-11T08:02:00Z", days_since_signup=8),
            # u5: signed up without a landing page view: not in the funnel
            ev("u5", "user_signed_up", "2026-03-03T08:00:00Z"),
            ev("u5", "message_sent", "2026-03-03T08:01:00Z", days_since_signup=0),
        ],
    )
    f = run(wh, SEED_FUNNEL)
    assert SEED_FUNNEL.window == "45d"
    assert counts(f) == [4, 3, 3, 1, 1]
    assert f.steps["name"].tolist() == [
        "Landing page",
        "Signup",
        "First query",
        "Return visit (D7)",
        "Paid subscription",
    ]
    p = by_person(f)
    assert set(p) == {hash_id("u1"), hash_id("anon-2"), hash_id("u3"), hash_id("u4")}
    u1 = p[hash_id("u1")]
    assert u1["reached"] == 5 and u1["t1"] == ts("2026-03-02T08:00:00Z")  # the anonymous view
    assert f.steps.iloc[1]["median_time_s"] == 60  # u1 5 min, u3 1 min, u4 1 min
    assert f.steps.iloc[4]["conversion"] == 0.25


# ------------------------------------------------------------------------------------------
# Breakdown, maturity, empty range, drill-down
# ------------------------------------------------------------------------------------------


def test_breakdown_first_touch(wh):
    add_events(
        wh,
        [
            # a: both attempts convert; the earliest event with a value (google) gives it
            ev("a", "page_viewed", "2026-03-02T08:00:00Z", utm_source="google"),
            ev("a", "page_viewed", "2026-03-02T09:00:00Z", utm_source="facebook"),
            ev("a", "user_signed_up", "2026-03-02T10:00:00Z"),
            # b: only the later attempt (twitter) reaches step 2, but the person's first
            # touch is the 08:00 page view (facebook), as PostHog
            ev("b", "page_viewed", "2026-03-02T08:00:00Z", utm_source="facebook"),
            ev("b", "page_viewed", "2026-03-02T12:00:00Z", utm_source="twitter"),
            ev("b", "user_signed_up", "2026-03-02T12:30:00Z"),
            # c: no utm_source
            ev("c", "page_viewed", "2026-03-02T08:00:00Z"),
        ],
    )
    f = run(wh, ["page_viewed", "user_signed_up"], window="3h", breakdown="utm_source")
    got = {b: g["persons"].tolist() for b, g in f.steps.groupby("breakdown", sort=False)}
    # issue 11: b moved from "twitter" (its counting attempt's step 1) to "facebook"
    assert got == {"(none)": [1, 0], "google": [1, 1], "facebook": [1, 1]}
    # the step-1 attribution of the counting attempt stays available
    s1 = run(
        wh,
        ["page_viewed", "user_signed_up"],
        window="3h",
        breakdown="utm_source",
        breakdown_attribution="step1",
    )
    got1 = {b: g["persons"].tolist() for b, g in s1.steps.groupby("breakdown", sort=False)}
    assert got1 == {"(none)": [1, 0], "google": [1, 1], "twitter": [1, 1]}
    assert list(f.steps.columns) == ["breakdown", *STEP_COLUMNS]
    assert f.steps[f.steps["breakdown"] == "(none)"]["conversion"].tolist() == [1.0, 0.0]
    ax = f.plot()
    assert ax.get_title(loc="left") == "Funnel" and ax.get_legend() is not None
    import matplotlib.pyplot as plt

    plt.close("all")


def test_maturity_flag_and_mature_only(wh):
    add_events(
        wh,
        [
            ev("a", "page_viewed", "2026-03-01T00:00:00Z"),  # window ends 03-08: mature
            ev("a", "user_signed_up", "2026-03-02T00:00:00Z"),
            ev("b", "page_viewed", "2026-03-05T00:00:00Z"),  # ends 03-12: open
            ev("c", "page_viewed", "2026-03-02T00:00:00Z"),  # ends 03-09: mature
            ev("d", "page_viewed", "2026-03-03T00:00:00Z"),  # ends exactly at as_of: open
            # f: the mature attempt does not convert, the open one does (03-09)
            ev("f", "page_viewed", "2026-03-01T12:00:00Z"),
            ev("f", "page_viewed", "2026-03-06T00:00:00Z"),
            ev("f", "user_signed_up", "2026-03-09T00:00:00Z"),
            # g: converts after as_of: not seen
            ev("g", "page_viewed", "2026-03-02T00:00:00Z"),
            ev("g", "user_signed_up", "2026-03-11T00:00:00Z"),
        ],
    )
    steps = ["page_viewed", "user_signed_up"]
    kw = {"window": "7d", "as_of": "2026-03-10T00:00:00Z"}
    f = run(wh, steps, **kw)
    assert counts(f) == [6, 2]  # a, f convert
    assert f.steps["immature"].tolist() == [3, 1]  # b, d, f; f
    p = by_person(f)
    assert not p[hash_id("f")]["mature"] and p[hash_id("a")]["mature"]
    assert "still open" in f._repr_html_()
    m = run(wh, steps, mature_only=True, **kw)
    assert counts(m) == [4, 1]  # a (2), c, f (first attempt), g
    assert m.steps["immature"].tolist() == [0, 0]
    assert by_person(m)[hash_id("f")]["reached"] == 1


def test_empty_range_gives_empty_result(wh):
    add_events(
        wh,
        [
            ev("a", "user_signed_up", "2026-03-02T08:00:00Z"),
            ev("a", "message_sent", "2026-03-02T08:10:00Z"),
        ],
    )
    steps = ["user_signed_up", "message_sent"]
    for kw in [
        {"start": "2026-03-02", "end": "2026-03-02"},  # empty range
        {"start": "2025-01-01", "end": "2025-02-01"},  # no events
    ]:
        f = funnel(wh, steps, tz="UTC", as_of="2026-04-30", **kw)
        assert f.steps.empty and list(f.steps.columns) == STEP_COLUMNS
        assert f.persons().empty and f.dropped(2).empty
        assert f.time_to_convert().df.empty
        assert "No data" in f._repr_html_()
    e = Warehouse(":memory:")
    assert funnel(e, SEED_FUNNEL).steps.empty  # an empty warehouse
    e.close()


def test_dropped_persons_are_hashed(wh):
    add_events(
        wh,
        [
            ev("alice", "user_signed_up", "2026-03-02T08:00:00Z"),
            ev("alice", "message_sent", "2026-03-02T08:01:00Z"),
            ev("bob", "user_signed_up", "2026-03-02T09:00:00Z"),
            ev("carol", "user_signed_up", "2026-03-02T07:00:00Z"),
        ],
    )
    f = run(wh, ["user_signed_up", "message_sent"], window="1d")
    d = f.dropped(2)
    assert d["person"].tolist() == [hash_id("carol"), hash_id("bob")]  # by step-1 time
    assert d["last_step"].tolist() == [1, 1]
    assert d["last_step_name"].tolist() == ["user_signed_up"] * 2
    text = d.to_string() + f.persons().to_string() + f._repr_html_()
    assert not any(name in text for name in ("alice", "bob", "carol"))
    with pytest.raises(ValueError):
        f.dropped(1)


def test_time_to_convert_histogram(wh):
    rows = []
    for i, secs in enumerate([60, 120, 3600]):
        rows += [
            ev(f"p{i}", "user_signed_up", "2026-03-02T08:00:00Z"),
            ev(
                f"p{i}",
                "message_sent",
                datetime(2026, 3, 2, 8, tzinfo=UTC) + timedelta(seconds=secs),
            ),
        ]
    add_events(wh, rows)
    f = run(wh, ["user_signed_up", "message_sent"], window="1d")
    h = f.time_to_convert(bins=[0, 100, 1000, 10000])
    assert h.df["persons"].tolist() == [1, 1, 1]
    assert h.df["share"].sum() == pytest.approx(1.0)
    assert h.extra["median_s"] == 120
    assert h.df["bucket"].iloc[0] == "0 s – 1.7 min"
    import matplotlib.pyplot as plt

    h.plot()
    f.plot()
    plt.close("all")
    assert "Funnel" in f._repr_html_()


# ------------------------------------------------------------------------------------------
# Cross-check against a direct implementation of the METRICS.md rules
# ------------------------------------------------------------------------------------------

_KINDS = ["page_viewed", "message_sent", "message_sent7", "feature_used", "source_clicked"]
_WEIGHTS = [4, 5, 4, 3, 2]
_REF_STEPS = [
    Step("page_viewed"),
    Step("message_sent"),
    Step("message_sent", filters={"days_since_signup": (">=", 7)}),
    Step("feature_used"),
]
#: The exclusion event of the random tests (no step matches it; it also breaks strict runs).
_X = "source_clicked"


def _matches(step: int, e: dict) -> bool:
    """Step 1..4 of _REF_STEPS, in Python."""
    if step == 1:
        return e["event"] == "page_viewed"
    if step == 2:
        return e["event"] == "message_sent"
    if step == 3:
        return e["event"] == "message_sent" and e["d"] >= 7
    return e["event"] == "feature_used"


def _random_events(seed: int, persons: int = 40) -> list[dict]:
    rnd = random.Random(seed)
    t0 = datetime(2026, 3, 1, tzinfo=UTC)
    out = []
    for p in range(persons):
        for _ in range(rnd.randint(3, 16)):
            kind = rnd.choices(_KINDS, _WEIGHTS)[0]
            # a 30-minute grid over 2.5 days: plenty of same-instant ties
            t = t0 + timedelta(minutes=30 * rnd.randrange(0, 120))
            out.append(
                {
                    "person": f"p{p}",
                    "event": "message_sent" if kind == "message_sent7" else kind,
                    "ts": t,
                    "d": 8 if kind == "message_sent7" else 0,
                }
            )
    rnd.shuffle(out)  # load order (row id) is random too
    for i, e in enumerate(out):
        e["idx"] = i
        e["src"] = rnd.choice([None, None, "", "a", "b"])  # the breakdown property
    return out


def _random_warehouse(events: list[dict]) -> Warehouse:
    """An in-memory warehouse holding :func:`_random_events` (the caller closes it)."""
    w = Warehouse(":memory:")
    rows = []
    for e in events:
        props = {"days_since_signup": e["d"]} if e["event"] == "message_sent" else {}
        if e.get("src") is not None:
            props["utm_source"] = e["src"]
        rows.append(ev(e["person"], e["event"], e["ts"], props))
    add_events(w, rows)
    return w


def _reference(
    events, order, window, start, end, as_of, k_n=4, exclusions=(), mode=None
) -> dict[str, tuple]:
    """Per person: (reached, t1, times, breakdown) by the literal rules of
    docs/metrics-funnels.md, chains by exhaustive search. ``exclusions``: ``(i, j)``
    ranges of ``_X``; ``mode``: the exclusion rule (None: furthest, any order attempt)."""
    mode = mode or ("attempt" if order == "any" else "furthest")
    out = {}
    for person in sorted({e["person"] for e in events}):
        evs = [e for e in events if e["person"] == person and start <= e["ts"] < as_of]
        xs = sorted(e["ts"] for e in evs if e["event"] == _X)
        atts = []
        for a in sorted(evs, key=lambda e: (e["ts"], e["idx"])):
            if not start <= a["ts"] < end:
                continue
            if order == "any":
                if not any(_matches(k, a) for k in range(1, k_n + 1)):
                    continue
                inside = [e for e in evs if a["ts"] <= e["ts"] <= a["ts"] + window]
                reach, times, ex = _max_matching(inside, k_n), (), False
                if exclusions:
                    x = next((t for t in xs if t > a["ts"]), None)
                    if x is not None and x <= a["ts"] + window:
                        upto = [e for e in evs if a["ts"] <= e["ts"] <= x]
                        ex = _max_matching(upto, k_n) < k_n
                atts.append({"a": a, "reach": reach, "times": times, "ex": ex})
                continue
            if not _matches(1, a):
                continue
            reach, times = _best_chain(evs, a, order == "strict", window, k_n)
            att = {"a": a, "reach": reach, "times": times}
            att.update(
                _exclusion_verdict(evs, xs, a, reach, times, order, window, exclusions, mode)
            )
            atts.append(att)
        if mode == "furthest" and exclusions:
            best = _furthest_rule(atts)
        else:
            keep = [t for t in atts if not t["ex"]]
            best = min(keep, key=lambda t: (-t["reach"], t["a"]["ts"], t["a"]["idx"]), default=None)
        if best is not None:
            funnel_events = [
                e
                for e in evs
                if e["ts"] < end
                and (
                    order == "strict"
                    or (exclusions and e["event"] == _X)
                    or any(_matches(k, e) for k in range(1, k_n + 1))
                )
            ]
            touch = min(
                (e for e in funnel_events if e["src"]),
                key=lambda e: (e["ts"], e["idx"]),
                default=None,
            )
            bd = touch["src"] if touch else "(none)"
            out[person] = (best["reach"], best["a"]["ts"], best["times"], bd)
    return out


def _exclusion_verdict(evs, xs, a, reach, times, order, window, exclusions, mode) -> dict:
    """``ex`` (the attempt met an exclusion), and for the furthest rule ``g`` (first gap
    met), ``eff`` (min(reach, g + 1)), ``te`` (time of step eff), ``fx`` (the exclusion
    time when met after the last step reached)."""
    t = [a["ts"], *times]  # t[k - 1] = time of step k
    dl = a["ts"] + window
    if mode == "attempt":
        ex = False
        for i, j in exclusions:
            if reach < i:
                continue
            x = next((u for u in xs if u > t[i - 1]), None)
            if x is not None and (x < t[j - 1] if reach >= j else x <= dl):
                ex = True
        return {"ex": ex}
    g = fx = None
    for s in range(1, reach + 1):
        if not any(i <= s < j for i, j in exclusions):
            continue
        x = next((u for u in xs if u > t[s - 1]), None)
        if x is None or not (x < t[s] if s < reach else x <= dl):
            continue
        if order == "strict" and x != min(e["ts"] for e in evs if e["ts"] > t[s - 1]):
            continue  # strict: only the next event of the person
        g, fx = s, x
        break
    eff = min(reach, g + 1) if g else reach
    return {
        "ex": g is not None,
        "eff": eff,
        "te": t[eff - 1],
        "dl": dl,
        "fx": fx if g == eff else None,
    }


def _furthest_rule(atts) -> dict | None:
    """The furthest-path rule: R* = furthest effective step; attempts reaching R* at one
    instant are one path, carried by the latest-started; kept when a path met no exclusion
    and no path's exclusion (after its step R*) falls in its window after its step R*; then
    the earliest clean attempt at R* counts."""
    if not atts:
        return None
    top = max(t["eff"] for t in atts)
    paths = {}
    for t in sorted(atts, key=lambda t: (t["a"]["ts"], t["a"]["idx"])):
        if t["eff"] == top:
            paths[t["te"]] = t  # the latest-started wins
    kept = any(
        not p["ex"]
        and not any(f["fx"] is not None and p["te"] < f["fx"] <= p["dl"] for f in paths.values())
        for p in paths.values()
    )
    if not kept:
        return None
    clean = [t for t in atts if not t["ex"] and t["reach"] == top]
    return min(clean, key=lambda t: (t["a"]["ts"], t["a"]["idx"]))


def _neg(t: datetime) -> float:
    return -t.timestamp()


def _best_chain(evs, first, strict, window, k_n):
    """Max steps reachable from ``first``; among those chains the earliest times."""
    deadline = first["ts"] + window

    def between_ok(t0, t1):
        return not any(t0 < e["ts"] < t1 for e in evs)

    def go(k, prev, used):
        best = (k - 1, ())
        if k > k_n:
            return best
        for e in evs:
            if (
                _matches(k, e)
                and e["idx"] not in used
                and prev["ts"] <= e["ts"] <= deadline
                and (not strict or between_ok(prev["ts"], e["ts"]))
            ):
                r, t = go(k + 1, e, used | {e["idx"]})
                cand = (r, (e["ts"],) + t)
                if cand[0] > best[0] or (cand[0] == best[0] and cand[1] < best[1]):
                    best = cand
        return best

    return go(2, first, {first["idx"]})


def _max_matching(inside, k_n):
    best = 0
    idxs = list(range(len(inside)))
    for r in range(min(k_n, len(inside)), 0, -1):
        for steps in itertools.combinations(range(1, k_n + 1), r):
            for pick in itertools.permutations(idxs, r):
                if all(_matches(s, inside[i]) for s, i in zip(steps, pick, strict=True)):
                    return r
    return best


_EXCL_CASES = {
    "none": ((), None),
    "1-4": (((1, 4),), None),
    "2-3+3-4": (((2, 3), (3, 4)), None),
    "1-2/attempt": (((1, 2),), "attempt"),
    "2-4/attempt": (((2, 4),), "attempt"),
}


#: (order, exclusion case): any order takes whole-funnel exclusions only, one attempt at a time.
_REF_CASES = [
    *((o, c) for o in ("ordered", "strict") for c in _EXCL_CASES),
    ("any", "none"),
    ("any", "1-4"),
]


@pytest.mark.parametrize(("order", "case"), _REF_CASES)
@pytest.mark.parametrize("seed", [1, 2, 3])
def test_matches_reference_implementation_on_random_events(order, seed, case):
    """The funnel against a direct implementation of the rules (exhaustive chains, the
    exclusion rules, first-touch breakdown) on random persons with many same-instant
    ties; tests/metrics/test_posthog_parity.py compares with PostHog's walk itself."""
    exclusions, mode = _EXCL_CASES[case]
    events = _random_events(seed)
    w = _random_warehouse(events)
    window = timedelta(hours=20)
    start, end = datetime(2026, 3, 1, tzinfo=UTC), datetime(2026, 3, 3, tzinfo=UTC)
    as_of = datetime(2026, 3, 3, 18, tzinfo=UTC)  # some windows still open
    f = funnel(
        w,
        _REF_STEPS,
        window=window,
        order=order,
        exclusions=[Exclusion(_X, between=b) for b in exclusions],
        exclusion_mode=mode,
        breakdown="utm_source",
        start="2026-03-01",
        end="2026-03-03",
        as_of=as_of,
        tz="UTC",
    )
    ref = _reference(events, order, window, start, end, as_of, exclusions=exclusions, mode=mode)
    got = by_person(f)
    assert set(got) == {hash_id(p) for p in ref}
    for person, (reach, t1, times, bd) in ref.items():
        row = got[hash_id(person)]
        assert row["reached"] == reach, person
        assert row["t1"] == pd.Timestamp(t1), person
        assert row["breakdown"] == bd, person
        if order != "any":
            mine = tuple(row[f"t{k}"] for k in range(2, reach + 1))
            assert mine == tuple(pd.Timestamp(t) for t in times), person
    # step counts follow from the per-person table
    expect = [sum(1 for r in ref.values() if r[0] >= k) for k in range(1, 5)]
    assert f.steps.groupby("step")["persons"].sum().tolist() == expect
    w.close()


def test_per_person_table_is_dropped_with_the_result(wh):
    import gc

    add_events(wh, [ev("a", "user_signed_up", "2026-03-02T08:00:00Z")])
    temp = "SELECT count(*) FROM duckdb_tables() WHERE table_name LIKE '_funnel_persons_%'"
    f = run(wh, ["user_signed_up", "message_sent"])
    assert wh.scalar(temp) == 1 and len(f.persons()) == 1
    del f
    gc.collect()
    g = run(wh, ["user_signed_up", "message_sent"])  # drops the old one, keeps its own
    assert wh.scalar(temp) == 1 and len(g.persons()) == 1
