"""Activation, week-2 retention and paid conversion (METRICS.md sections 2 and 3).

All windows are half-open, [t0 + a, t0 + b). Times are Asia/Jakarta (UTC+7) unless
written with Z; 2026-03-02 is a Monday.
"""

from __future__ import annotations

import math

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import pytest  # noqa: E402
from eventkit import add_events, ev

from zantara_nb.metrics.inputs import (
    activation,
    activation_series,
    paid_conversion,
    week2_retention,
)
from zantara_nb.metrics.results import MetricResult, RateResult

TZ = "Asia/Jakarta"


def J(s: str) -> str:
    return s + "+07:00"


def exchange(person: str, t: str, reply: str | None = None):
    """A message_sent at t and its message_received at ``reply`` (default: same time)."""
    return [ev(person, "message_sent", t), ev(person, "message_received", reply or t)]


# ------------------------------------------------------------------------------------------
# Activation
# ------------------------------------------------------------------------------------------


@pytest.fixture
def act(wh):
    rows = [
        # s1: message and reply 5 minutes after signup -> activated
        ev("s1", "user_signed_up", J("2026-03-02T10:00:00"), signup_method="google"),
        *exchange("s1", J("2026-03-02T10:05:00"), J("2026-03-02T10:06:00")),
        # s2: reply at exactly t0 + 24h -> outside [t0, t0 + 24h) -> not activated
        ev("s2", "user_signed_up", J("2026-03-02T11:00:00"), signup_method="email"),
        *exchange("s2", J("2026-03-02T12:00:00"), J("2026-03-03T11:00:00")),
        # s3: both at t0 + 24h - 1 s -> activated
        ev("s3", "user_signed_up", J("2026-03-03T09:00:00"), signup_method="google"),
        *exchange("s3", J("2026-03-04T08:59:59")),
        # u4: anonymous exchange before signup, nothing after -> not activated
        *exchange("anon-4", J("2026-03-03T08:00:00"), J("2026-03-03T08:00:05")),
        ev("u4", "user_signed_up", J("2026-03-03T10:00:00"), signup_method="email"),
        ev("u4", "$identify", J("2026-03-03T10:00:00"), {"$anon_distinct_id": "anon-4"}),
        # u5: identified at signup; the device keeps its anonymous id afterwards -> activated
        ev("u5", "user_signed_up", J("2026-03-03T10:00:00"), signup_method="google"),
        ev("u5", "$identify", J("2026-03-03T10:00:00"), {"$anon_distinct_id": "anon-5"}),
        *exchange("anon-5", J("2026-03-03T10:30:00"), J("2026-03-03T10:31:00")),
        # s6: first signup before the range; the repeat inside it does not count
        ev("s6", "user_signed_up", J("2026-02-25T10:00:00"), signup_method="google"),
        ev("s6", "user_signed_up", J("2026-03-04T10:00:00"), signup_method="google"),
        *exchange("s6", J("2026-03-04T10:10:00")),
        # s7: repeated signup in range; 24 h counts from the first one -> not activated
        ev("s7", "user_signed_up", J("2026-03-04T10:00:00"), signup_method="email"),
        ev("s7", "user_signed_up", J("2026-03-05T10:00:00"), signup_method="email"),
        *exchange("s7", J("2026-03-05T10:30:00")),
        # s8: signed up 16 h before as_of: window still open -> pending, not in denominator
        ev("s8", "user_signed_up", J("2026-03-08T20:00:00"), signup_method="google"),
        *exchange("s8", J("2026-03-08T20:10:00")),
    ]
    add_events(wh, rows)
    return wh


ACT = {"start": "2026-03-02", "end": "2026-03-09", "as_of": J("2026-03-09T12:00:00"), "tz": TZ}


def test_activation(act):
    r = activation(act, **ACT)
    assert isinstance(r, RateResult)
    # cohort: s1, s2, s3, u4, u5, s7, s8 (s6's first signup is before the range) = 7
    # s8 pending -> denominator 6; activated s1, s3, u5 -> 3/6
    assert (r.numerator, r.denominator) == (3, 6)
    assert r.value == pytest.approx(0.5)
    assert r.extra["pending"] == 1 and r.extra["signups"] == 7
    assert r.interval.low < 0.5 < r.interval.high
    # once s8's 24 h have passed, s8 counts (and is activated)
    later = activation(act, **{**ACT, "as_of": J("2026-03-10T00:00:00")})
    assert (later.numerator, later.denominator) == (4, 7)


def test_activation_needs_both_sent_and_received(wh):
    add_events(
        wh,
        [
            ev("a", "user_signed_up", J("2026-03-02T10:00:00")),
            ev("a", "message_sent", J("2026-03-02T10:01:00")),  # no reply
            ev("b", "user_signed_up", J("2026-03-02T10:00:00")),
            ev("b", "message_received", J("2026-03-02T10:01:00")),  # reply only
        ],
    )
    r = activation(wh, **ACT)
    assert (r.numerator, r.denominator) == (0, 2)


def test_activation_breakdown_and_filters(act):
    r = activation(act, breakdown="signup_method", **ACT)
    assert isinstance(r, MetricResult)
    by = r.df.set_index("breakdown")
    # google: s1 (yes), s3 (yes), u5 (yes), s8 (pending) -> 3/3
    # email:  s2 (no), u4 (no), s7 (no) -> 0/3
    assert (by.loc["google", "persons"], by.loc["google", "activated"]) == (3, 3)
    assert (by.loc["google", "pending"]) == 1
    assert (by.loc["email", "persons"], by.loc["email", "activated"]) == (3, 0)
    assert by.loc["email", "rate"] == 0.0 and by.loc["email", "ci_high"] > 0
    assert list(r.df.columns) == [
        "breakdown",
        "persons",
        "activated",
        "rate",
        "ci_low",
        "ci_high",
        "pending",
    ]
    # an event filter selects the cohort by its first signup; messages are not filtered
    g = activation(act, filters={"signup_method": "google"}, **ACT)
    assert (g.numerator, g.denominator) == (3, 3)
    # s7's first signup is "email": a filter on a later signup's value does not pick it
    e = activation(act, filters={"signup_method": ["email"]}, **ACT)
    assert (e.numerator, e.denominator) == (0, 3)
    assert r.plot().get_title(loc="left")
    plt.close("all")


def test_activation_person_filter(wh):
    add_events(
        wh,
        [
            ev("p", "user_signed_up", J("2026-03-02T10:00:00"), set_props={"country": "ID"}),
            *exchange("p", J("2026-03-02T10:01:00")),
            ev("q", "user_signed_up", J("2026-03-02T10:00:00"), set_props={"country": "AU"}),
        ],
    )
    r = activation(wh, filters={"country": "ID"}, **ACT)
    assert (r.numerator, r.denominator) == (1, 1)
    assert activation(wh, filters={"country": "AU"}, **ACT).value == 0.0


def test_activation_series_tz_and_pending(wh):
    add_events(
        wh,
        [
            # Sunday 03-01 18:00 UTC = Monday 03-02 01:00 Jakarta
            ev("z", "user_signed_up", "2026-03-01T18:00:00Z"),
            *exchange("z", "2026-03-01T18:30:00Z"),
            ev("y", "user_signed_up", J("2026-03-04T10:00:00")),
            # late signup in W1, window open at as_of
            ev("x", "user_signed_up", J("2026-03-10T10:00:00")),
        ],
    )
    kw = {"start": "2026-02-23", "end": "2026-03-16", "as_of": J("2026-03-11T00:00:00")}
    s = activation_series(wh, tz=TZ, **kw).df
    s.index = s["period"].dt.strftime("%Y-%m-%d")
    # Jakarta: W(02-23) empty -> NaN; W(03-02) {z yes, y no} -> 1/2; W(03-09) {x pending} -> NaN
    assert s.loc["2026-02-23", "signups"] == 0 and math.isnan(s.loc["2026-02-23", "rate"])
    assert s.loc["2026-03-02", "rate"] == pytest.approx(0.5)
    assert (s.loc["2026-03-09", "pending"], s.loc["2026-03-09", "persons"]) == (1, 0)
    assert math.isnan(s.loc["2026-03-09", "rate"])
    u = activation_series(wh, tz="UTC", **kw).df
    u.index = u["period"].dt.strftime("%Y-%m-%d")
    # UTC: z signed up on Sunday 03-01 -> week of 02-23
    assert u.loc["2026-02-23", "rate"] == 1.0 and u.loc["2026-03-02", "rate"] == 0.0
    by = activation_series(wh, tz=TZ, breakdown="country", **kw).df
    assert set(by["breakdown"]) == {"(none)"}


def test_activation_empty_range(act):
    r = activation(act, start="2026-03-02", end="2026-03-02", as_of="2026-03-10", tz=TZ)
    assert r.value is None and r.denominator == 0 and "—" in str(r)
    b = activation(
        act,
        start="2026-03-02",
        end="2026-03-02",
        as_of="2026-03-10",
        tz=TZ,
        breakdown="signup_method",
    )
    assert b.empty and "rate" in b.df.columns
    s = activation_series(act, start="2026-03-02", end="2026-03-02", as_of="2026-03-10", tz=TZ)
    assert s.empty and "rate" in s.df.columns


def test_activation_default_range_has_closed_windows(act):
    r = activation(act, as_of=J("2026-03-10T06:00:00"), tz=TZ)
    # as_of - 24h = 03-09 06:00 -> range [02-09, 03-09): every window in it has closed
    assert (r.scope.start.isoformat(), r.scope.end.isoformat()) == ("2026-02-09", "2026-03-09")
    # now s6 (first signup 02-25) is in the cohort too: 8 signups, none pending;
    # activated s1, s3, u5, s8 (s6's messages came a week after its first signup)
    assert r.extra["pending"] == 0 and (r.numerator, r.denominator) == (4, 8)


# ------------------------------------------------------------------------------------------
# Week-2 retention
# ------------------------------------------------------------------------------------------


def test_week2_retention_window_boundaries(wh):
    add_events(
        wh,
        [
            # w1: message at exactly t0 + 7 d (inclusive start) -> retained
            ev("w1", "user_signed_up", J("2026-03-02T10:00:00"), utm_source="ads"),
            ev("w1", "message_sent", J("2026-03-09T10:00:00")),
            # w2: t0 + 7 d - 1 min and exactly t0 + 14 d (exclusive end) -> not retained
            ev("w2", "user_signed_up", J("2026-03-02T11:00:00")),
            ev("w2", "message_sent", J("2026-03-09T10:59:00")),
            ev("w2", "message_sent", J("2026-03-16T11:00:00")),
            # w3: t0 + 13d23h59m -> retained
            ev("w3", "user_signed_up", J("2026-03-03T10:00:00")),
            ev("w3", "message_sent", J("2026-03-16T09:59:00")),
            # w4: 14 days not observed by as_of -> pending even though it returned
            ev("w4", "user_signed_up", J("2026-03-10T10:00:00")),
            ev("w4", "message_sent", J("2026-03-18T10:00:00")),
        ],
    )
    kw = {"start": "2026-03-02", "end": "2026-03-16", "as_of": J("2026-03-20T00:00:00"), "tz": TZ}
    r = week2_retention(wh, **kw)
    assert (r.numerator, r.denominator, r.extra["pending"]) == (2, 3, 1)
    assert r.value == pytest.approx(2 / 3)
    # another active event
    assert week2_retention(wh, active_event="page_viewed", **kw).numerator == 0
    # breakdown by a signup event property: w1 "ads", others none
    by = week2_retention(wh, breakdown="utm_source", **kw).df.set_index("breakdown")
    assert (by.loc["ads", "persons"], by.loc["ads", "retained"]) == (1, 1)
    assert (
        by.loc["(none)", "persons"],
        by.loc["(none)", "retained"],
        by.loc["(none)", "pending"],
    ) == (2, 1, 1)
    empty = week2_retention(wh, start="2026-03-02", end="2026-03-02", as_of="2026-03-20", tz=TZ)
    assert empty.value is None


# ------------------------------------------------------------------------------------------
# Paid conversion
# ------------------------------------------------------------------------------------------


def test_paid_conversion(wh):
    add_events(
        wh,
        [
            ev("p1", "user_signed_up", J("2026-03-02T10:00:00"), signup_method="google"),
            ev("p1", "subscription_started", J("2026-03-20T10:00:00"), plan="pro", price_usd=29.0),
            # exactly t0 + 30 d -> outside [t0, t0 + 30 d)
            ev("p2", "user_signed_up", J("2026-03-02T10:00:00"), signup_method="email"),
            ev("p2", "subscription_started", J("2026-04-01T10:00:00"), plan="pro", price_usd=29.0),
            # a free-plan subscription is not a paid conversion
            ev("p3", "user_signed_up", J("2026-03-03T10:00:00"), signup_method="google"),
            ev("p3", "subscription_started", J("2026-03-05T10:00:00"), plan="free", price_usd=0.0),
            # 30 days not observed -> pending
            ev("p4", "user_signed_up", J("2026-03-20T10:00:00"), signup_method="google"),
            ev("p4", "subscription_started", J("2026-03-21T10:00:00"), plan="pro", price_usd=29.0),
        ],
    )
    kw = {"start": "2026-03-02", "end": "2026-03-23", "as_of": J("2026-04-10T00:00:00"), "tz": TZ}
    r = paid_conversion(wh, **kw)
    assert (r.numerator, r.denominator, r.extra["pending"]) == (1, 3, 1)
    assert paid_conversion(wh, paid_only=False, **kw).numerator == 2  # p1 and p3
    # 7 days: every window closed (p4's ends 03-27); p4 converted on day 1, p3 is free
    w7 = paid_conversion(wh, days=7, **kw)
    assert (w7.numerator, w7.denominator) == (1, 4)
    by = paid_conversion(wh, breakdown="signup_method", **kw).df.set_index("breakdown")
    assert (by.loc["google", "persons"], by.loc["google", "converted"]) == (2, 1)
    assert (by.loc["email", "persons"], by.loc["email", "converted"]) == (1, 0)
    f = paid_conversion(wh, filters={"signup_method": "email"}, **kw)
    assert (f.numerator, f.denominator) == (0, 1)
    with pytest.raises(ValueError):
        paid_conversion(wh, days=0, **kw)
