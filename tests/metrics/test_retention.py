"""Retention tables, N-day retention and churn (METRICS.md sections 2 and 6).

Calendar used below (Asia/Jakarta, UTC+7, weeks start on Monday):
W0 = Mon 2026-03-02 .. Sun 03-08, W1 = 03-09 .. 03-15, W2 = 03-16 .. 03-22,
W3 = 03-23 .. 03-29, W4 = 03-30 .. 04-05.
"""

from __future__ import annotations

import math

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import pandas as pd  # noqa: E402
import pytest  # noqa: E402
from eventkit import add_events, ev  # noqa: E402

from zantara_nb.metrics.retention import (  # noqa: E402
    add_periods,
    churn_rate,
    nday_retention,
    period_starts,
    retention,
)

TZ = "Asia/Jakarta"
NAN = float("nan")


def J(s: str) -> str:
    """A Jakarta wall-clock time."""
    return s + "+07:00"


def cells(res, col="rate", breakdown=None):
    """{(cohort 'YYYY-MM-DD', k): value} from the tidy df."""
    df = res.df if breakdown is None else res.df[res.df["breakdown"] == breakdown]
    return {
        (c.strftime("%Y-%m-%d"), int(k)): v
        for c, k, v in zip(df["cohort"], df["period"], df[col], strict=True)
    }


def same(a, b):
    if isinstance(a, float) and math.isnan(a):
        return isinstance(b, float) and math.isnan(b)
    return a == pytest.approx(b)


def assert_cells(got: dict, want: dict):
    for key, v in want.items():
        assert same(got[key], v), f"{key}: got {got[key]}, want {v}"


# ------------------------------------------------------------------------------------------
# The main fixture: three weekly cohorts
# ------------------------------------------------------------------------------------------

SIGNUPS = {
    # person: (signup time, signup_method)
    "a": (J("2026-03-02T10:00:00"), "google"),  # W0
    "b": (J("2026-03-08T23:00:00"), "email"),  # W0, Sunday late
    "c": (J("2026-03-04T10:00:00"), "google"),  # W0
    "d": (J("2026-03-10T10:00:00"), "email"),  # W1
    "e": (J("2026-03-11T10:00:00"), "google"),  # W1
    "f": (J("2026-03-16T10:00:00"), "google"),  # W2
}
MESSAGES = {
    "a": [J("2026-03-10T09:00:00"), J("2026-03-17T09:00:00")],  # W1, W2
    "b": [J("2026-03-09T00:30:00")],  # W1 by calendar, but only 1.5 h after signup
    "c": [J("2026-03-04T11:00:00"), J("2026-03-25T10:00:00")],  # W0 (k=0), W3 = t0 + 21 d exactly
    "d": [J("2026-03-16T10:00:00")],  # W2 by calendar, t0 + 6 d (rolling k = 0)
    "e": [J("2026-03-25T10:00:00")],  # W3, t0 + 14 d
    "f": [J("2026-03-24T10:00:00")],  # W3, t0 + 8 d
}
AS_OF = J("2026-03-30T00:00:00")  # Monday: W3 has just ended
RANGE = {"start": "2026-03-02", "end": "2026-03-23", "as_of": AS_OF, "tz": TZ}


@pytest.fixture
def cohorts(wh):
    rows = []
    for p, (t, method) in SIGNUPS.items():
        rows.append(ev(p, "user_signed_up", t, signup_method=method))
        for m in MESSAGES[p]:
            rows.append(ev(p, "message_sent", m, query_category="visa"))
    add_events(wh, rows)
    return wh


def test_calendar_weekly_table_observation_and_matrix(cohorts):
    r = retention(cohorts, periods=3, **RANGE)
    # Cohort sizes: W0 {a, b, c} = 3, W1 {d, e} = 2, W2 {f} = 1.
    # Calendar k = week(message) - week(signup):
    #   W0: k1 {a (03-10), b (03-09)} = 2; k2 {a (03-17)} = 1; k3 {c (03-25)} = 1
    #       (c's message on 03-04 is in its own week, k = 0: not a return)
    #   W1: k1 {d (03-16)} = 1; k2 {e (03-25)} = 1; k3 ends 04-06 > as_of -> missing
    #   W2: k1 {f (03-24)} = 1; k2, k3 end after as_of -> missing
    assert_cells(
        cells(r, "retained"),
        {
            ("2026-03-02", 0): 3,
            ("2026-03-02", 1): 2,
            ("2026-03-02", 2): 1,
            ("2026-03-02", 3): 1,
            ("2026-03-09", 0): 2,
            ("2026-03-09", 1): 1,
            ("2026-03-09", 2): 1,
            ("2026-03-09", 3): NAN,
            ("2026-03-16", 0): 1,
            ("2026-03-16", 1): 1,
            ("2026-03-16", 2): NAN,
            ("2026-03-16", 3): NAN,
        },
    )
    assert list(r.df.columns) == [
        "cohort",
        "cohort_size",
        "period",
        "retained",
        "rate",
        "ci_low",
        "ci_high",
        "observed",
    ]
    m = r.matrix()
    assert m.shape == (3, 4)
    assert m.loc[pd.Timestamp("2026-03-02")].tolist() == pytest.approx([1, 2 / 3, 1 / 3, 1 / 3])
    assert math.isnan(m.loc[pd.Timestamp("2026-03-09"), 3])
    assert r.sizes().tolist() == [3, 2, 1]
    # not observed is missing, never 0
    assert r.df.loc[~r.df["observed"], "rate"].isna().all()
    row = r.df[(r.df["cohort"] == "2026-03-02") & (r.df["period"] == 1)].iloc[0]
    assert row["ci_low"] < 2 / 3 < row["ci_high"]


def test_weighted_average_uses_only_observed_cohorts(cohorts):
    avg = retention(cohorts, periods=3, **RANGE).average().df.set_index("period")
    # k1: (2 + 1 + 1) / (3 + 2 + 1) = 4/6   (unweighted mean would be 0.722)
    # k2: (1 + 1) / (3 + 2) = 2/5           (W2 not observed for k2; unweighted 0.4167)
    # k3: 1 / 3                             (only W0 observed)
    assert avg.loc[1, "rate"] == pytest.approx(4 / 6)
    assert avg.loc[2, "rate"] == pytest.approx(2 / 5)
    assert avg.loc[3, "rate"] == pytest.approx(1 / 3)
    assert avg["cohorts"].tolist() == [3, 3, 2, 1]
    assert avg.loc[2, "cohort_size"] == 5 and avg.loc[2, "retained"] == 2
    assert avg.loc[0, "rate"] == 1.0
    assert avg.loc[2, "ci_low"] < 0.4 < avg.loc[2, "ci_high"]


def test_rolling_mode_gives_other_k_than_calendar(cohorts):
    r = retention(cohorts, periods=3, mode="rolling", **RANGE)
    # Rolling weekly windows [t0 + 7k d, t0 + 7(k+1) d):
    #   a: 03-10 09:00 = t0 + 7d23h -> k1; 03-17 09:00 -> k2
    #   b: 03-09 00:30 = t0 + 1.5 h -> k0 (calendar said k1)
    #   c: 03-25 10:00 = t0 + 21 d exactly -> k3 (window start is inclusive)
    #   d: 03-16 10:00 = t0 + 6 d -> k0 (calendar said k1)
    #   e: 03-25 10:00 = t0 + 14 d -> k2;  f: 03-24 10:00 = t0 + 8 d -> k1
    # Observation per cohort (every member's window closed by as_of 03-30 00:00):
    #   W0 latest t0 = b 03-08 23:00: k2 window ends 03-29 23:00 ok, k3 ends 04-05 -> missing
    #   W1 latest t0 = e 03-11 10:00: k1 ends 03-25 10:00 ok, k2 ends 04-01 -> missing
    #   W2 latest t0 = f 03-16 10:00: k0 ends 03-23 ok, k1 ends 03-30 10:00 -> missing
    assert_cells(
        cells(r, "retained"),
        {
            ("2026-03-02", 1): 1,  # a only (calendar: 2)
            ("2026-03-02", 2): 1,
            ("2026-03-02", 3): NAN,
            ("2026-03-09", 1): 0,  # d's return fell in k0 (calendar: 1)
            ("2026-03-09", 2): NAN,
            ("2026-03-16", 0): 1,
            ("2026-03-16", 1): NAN,
        },
    )


def test_on_or_after(cohorts):
    r = retention(cohorts, periods=3, on_or_after=True, **RANGE)
    # returned in k or any later week:
    #   W0: a (k1, k2), b (k1), c (k3) -> k1 = 3, k2 = {a, c} = 2, k3 = {c} = 1
    #   W1: d (k1), e (k2) -> k1 = 2, k2 = 1, k3 missing
    #   W2: f (k1) -> k1 = 1
    assert_cells(
        cells(r, "retained"),
        {
            ("2026-03-02", 1): 3,
            ("2026-03-02", 2): 2,
            ("2026-03-02", 3): 1,
            ("2026-03-09", 1): 2,
            ("2026-03-09", 2): 1,
            ("2026-03-09", 3): NAN,
            ("2026-03-16", 1): 1,
            ("2026-03-16", 2): NAN,
        },
    )
    # "on" for comparison: W0 k1 = 2
    assert cells(retention(cohorts, periods=3, **RANGE), "retained")[("2026-03-02", 1)] == 2


def test_cohort_not_yet_observed_and_excluded_from_average(cohorts):
    # as_of in the middle of W1: W0's k1 (W1) is not over; W1's own week is not over.
    r = retention(
        cohorts,
        periods=2,
        start="2026-03-02",
        end="2026-03-16",
        as_of=J("2026-03-12T00:00:00"),
        tz=TZ,
    )
    got = cells(r, "rate")
    assert got[("2026-03-02", 0)] == 1.0
    assert math.isnan(got[("2026-03-02", 1)])
    assert math.isnan(got[("2026-03-09", 0)])  # the cohort week itself is not over
    # members who signed up before as_of are counted, later ones (e on 03-11 is in) are not
    assert cells(r, "cohort_size")[("2026-03-09", 0)] == 2
    avg = r.average().df.set_index("period")
    assert avg.loc[0, "cohorts"] == 1 and avg.loc[0, "cohort_size"] == 3
    assert avg.loc[1, "cohorts"] == 0 and math.isnan(avg.loc[1, "rate"])


def test_breakdown_by_start_event_property(cohorts):
    # Issue 11 (as PostHog, whose retention groups events by person and value): by an
    # event property a return counts only when the return event carries the cohort's
    # value. signup_method is on the signups only, so no message matches and every cell
    # after period 0 is 0. (Before issue 11 any return counted: W0 google {a, c} k1 1/2,
    # W0 email {b} k1 1/1, google's average k1 2 of 4.) Cohort sizes do not change.
    r = retention(cohorts, periods=3, breakdown="signup_method", **RANGE)
    assert r.df.columns[0] == "breakdown"
    assert cells(r, "rate", "google")[("2026-03-02", 1)] == 0.0
    assert cells(r, "rate", "email")[("2026-03-02", 1)] == 0.0
    assert cells(r, "cohort_size", "google")[("2026-03-02", 0)] == 2  # a, c
    assert cells(r, "cohort_size", "google")[("2026-03-09", 0)] == 1  # e
    m = r.matrix()
    assert m.index.names == ["breakdown", "cohort"]
    avg = r.average().df
    g = avg[(avg["breakdown"] == "google") & (avg["period"] == 1)].iloc[0]
    # google k1: W0 {a, c} 0 + W1 {e} 0 + W2 {f} 0 = 0 of 4
    assert g["rate"] == 0.0 and g["cohort_size"] == 4


def test_event_filter_applies_to_start_and_return_events(wh):
    # PostHog: global property filters apply to the start and the return events.
    add_events(
        wh,
        [
            ev("v", "message_sent", J("2026-03-03T10:00:00"), query_category="visa"),
            ev("v", "message_sent", J("2026-03-10T10:00:00"), query_category="tax"),
            ev("w", "message_sent", J("2026-03-02T09:00:00"), query_category="tax"),
            ev("w", "message_sent", J("2026-03-04T10:00:00"), query_category="visa"),
            ev("w", "message_sent", J("2026-03-11T10:00:00"), query_category="visa"),
        ],
    )
    kw = dict(start="2026-03-02", end="2026-03-09", as_of=J("2026-03-23T00:00:00"), tz=TZ)
    r = retention(
        wh, start_event="message_sent", periods=1, filters={"query_category": "visa"}, **kw
    )
    # cohort W0 = first *visa* message: v (03-03), w (03-04); visa return in W1: w only
    assert cells(r, "retained")[("2026-03-02", 1)] == 1
    assert cells(r, "cohort_size")[("2026-03-02", 0)] == 2
    unfiltered = retention(wh, start_event="message_sent", periods=1, **kw)
    assert cells(unfiltered, "retained")[("2026-03-02", 1)] == 2


def test_person_property_filter(wh):
    add_events(
        wh,
        [
            ev("p1", "user_signed_up", J("2026-03-02T10:00:00"), set_props={"country": "ID"}),
            ev("p1", "message_sent", J("2026-03-09T10:00:00")),
            ev("p2", "user_signed_up", J("2026-03-02T11:00:00"), set_props={"country": "AU"}),
            ev("p3", "user_signed_up", J("2026-03-03T11:00:00"), set_props={"country": "ID"}),
        ],
    )
    kw = dict(start="2026-03-02", end="2026-03-09", as_of=J("2026-03-23T00:00:00"), tz=TZ)
    r = retention(wh, periods=1, filters={"country": "ID"}, **kw)
    assert cells(r, "cohort_size")[("2026-03-02", 0)] == 2  # p1, p3
    assert cells(r, "rate")[("2026-03-02", 1)] == pytest.approx(0.5)
    by = retention(wh, periods=1, breakdown="country", **kw)
    assert cells(by, "cohort_size", "AU")[("2026-03-02", 0)] == 1
    assert cells(by, "rate", "ID")[("2026-03-02", 1)] == pytest.approx(0.5)


# ------------------------------------------------------------------------------------------
# Edge cases
# ------------------------------------------------------------------------------------------


def test_first_signup_counts_across_all_history(wh):
    add_events(
        wh,
        [
            # p signed up before the range; a repeated signup in W0 does not make a cohort
            ev("p", "user_signed_up", J("2026-02-20T10:00:00")),
            ev("p", "user_signed_up", J("2026-03-03T10:00:00")),
            ev("p", "message_sent", J("2026-03-10T10:00:00")),
            # q signs up three times: counted once, in W0
            ev("q", "user_signed_up", J("2026-03-03T10:00:00")),
            ev("q", "user_signed_up", J("2026-03-04T10:00:00")),
            ev("q", "user_signed_up", J("2026-03-10T10:00:00")),
        ],
    )
    kw = dict(start="2026-03-02", end="2026-03-16", as_of=J("2026-03-30T00:00:00"), tz=TZ)
    r = retention(wh, periods=1, **kw)
    sizes = cells(r, "cohort_size")
    assert sizes[("2026-03-02", 0)] == 1  # q only
    assert sizes[("2026-03-09", 0)] == 0  # q's third signup is not a new cohort
    assert math.isnan(cells(r, "rate")[("2026-03-09", 0)])  # empty cohort: no made-up 0%
    # recurring: a person joins the cohort of every week with a start event
    rec = retention(wh, periods=1, cohort_type="recurring", **kw)
    rs = cells(rec, "cohort_size")
    assert rs[("2026-03-02", 0)] == 2  # p (03-03), q
    assert rs[("2026-03-09", 0)] == 1  # q (03-10)
    assert cells(rec, "retained")[("2026-03-02", 1)] == 1  # p's message on 03-10


def test_recurring_cohorts(wh):
    rows = []
    for t in ("2026-03-03", "2026-03-10", "2026-03-24"):  # u1: W0, W1, W3
        rows.append(ev("u1", "message_sent", J(t + "T10:00:00")))
    for t in ("2026-03-11", "2026-03-18"):  # u2: W1, W2
        rows.append(ev("u2", "message_sent", J(t + "T10:00:00")))
    add_events(wh, rows)
    kw = dict(start="2026-03-02", end="2026-03-23", as_of=J("2026-04-06T00:00:00"), tz=TZ)
    rec = retention(wh, start_event="message_sent", periods=2, cohort_type="recurring", **kw)
    # W0 {u1}: k1 (W1) u1 -> 1/1, k2 (W2) -> 0
    # W1 {u1, u2}: k1 (W2) u2 -> 1/2, k2 (W3) u1 -> 1/2
    # W2 {u2}: k1 (W3) -> 0, k2 (W4) -> 0
    assert_cells(
        cells(rec, "rate"),
        {
            ("2026-03-02", 1): 1.0,
            ("2026-03-02", 2): 0.0,
            ("2026-03-09", 1): 0.5,
            ("2026-03-09", 2): 0.5,
            ("2026-03-16", 1): 0.0,
            ("2026-03-16", 2): 0.0,
        },
    )
    first = retention(wh, start_event="message_sent", periods=2, **kw)
    # first-time: W0 {u1}, W1 {u2} (k1 = W2: yes), W2 empty
    assert cells(first, "cohort_size")[("2026-03-09", 0)] == 1
    assert cells(first, "rate")[("2026-03-09", 1)] == 1.0
    assert cells(first, "cohort_size")[("2026-03-16", 0)] == 0


def test_anonymous_then_identified(wh):
    add_events(
        wh,
        [
            # anonymous messages: one the week before signup, one in the signup week
            ev("anon-9", "message_sent", J("2026-02-27T10:00:00")),
            ev("anon-9", "message_sent", J("2026-03-03T09:00:00")),
            ev("u9", "user_signed_up", J("2026-03-03T10:00:00")),
            ev("u9", "$identify", J("2026-03-03T10:00:00"), {"$anon_distinct_id": "anon-9"}),
            # the same device keeps its anonymous id; the merge makes this a return of u9
            ev("anon-9", "message_sent", J("2026-03-17T10:00:00")),
        ],
    )
    r = retention(
        wh, periods=2, start="2026-03-02", end="2026-03-09", as_of=J("2026-03-30T00:00:00"), tz=TZ
    )
    # k1 (W1): nothing (the anonymous message of 02-27 is before signup, k = -1)
    # k2 (W2): the stitched message of 03-17
    assert_cells(cells(r, "retained"), {("2026-03-02", 1): 0, ("2026-03-02", 2): 1})
    # rolling: nothing before t0 counts either (02-27 and 03-03 09:00 are before signup)
    roll = retention(
        wh,
        periods=2,
        mode="rolling",
        start="2026-03-02",
        end="2026-03-09",
        as_of=J("2026-03-30T00:00:00"),
        tz=TZ,
    )
    assert_cells(cells(roll, "retained"), {("2026-03-02", 1): 0, ("2026-03-02", 2): 1})


def test_day_boundary_utc_vs_jakarta_moves_the_cohort(wh):
    # Sunday 2026-03-01 18:00 UTC is Monday 2026-03-02 01:00 in Jakarta.
    add_events(
        wh,
        [
            ev("z", "user_signed_up", "2026-03-01T18:00:00Z"),
            ev("z", "message_sent", "2026-03-09T18:30:00Z"),  # Tue 03-10 01:30 WIB
        ],
    )
    kw = dict(start="2026-02-23", end="2026-03-09", as_of="2026-03-30T00:00:00Z", periods=1)
    jkt = cells(retention(wh, tz=TZ, **kw), "cohort_size")
    utc = cells(retention(wh, tz="UTC", **kw), "cohort_size")
    assert (jkt[("2026-02-23", 0)], jkt[("2026-03-02", 0)]) == (0, 1)
    assert (utc[("2026-02-23", 0)], utc[("2026-03-02", 0)]) == (1, 0)
    # calendar k: Jakarta W(03-02) -> W(03-09) is k1; UTC W(02-23) -> W(03-09) is k2
    assert cells(retention(wh, tz=TZ, **kw), "retained")[("2026-03-02", 1)] == 1
    assert cells(retention(wh, tz="UTC", **kw), "retained")[("2026-02-23", 1)] == 0
    # a return at Sunday 18:30 UTC is the next (Monday) week in Jakarta
    add_events(
        wh,
        [
            ev("y", "user_signed_up", J("2026-03-04T10:00:00")),
            ev("y", "message_sent", "2026-03-08T18:30:00Z"),  # Mon 03-09 01:30 WIB
        ],
    )
    assert cells(retention(wh, tz=TZ, **kw), "retained")[("2026-03-02", 1)] == 2  # z and y
    assert cells(retention(wh, tz="UTC", **kw), "retained")[("2026-03-02", 1)] == 0
    # daily cohorts: z is in 03-02 (Jakarta) vs 03-01 (UTC)
    d = retention(
        wh,
        period="day",
        periods=0,
        start="2026-03-01",
        end="2026-03-03",
        as_of="2026-03-30T00:00:00Z",
        tz=TZ,
    )
    assert cells(d, "cohort_size") == {("2026-03-01", 0): 0, ("2026-03-02", 0): 1}


def test_monthly_across_year_end(wh):
    add_events(
        wh,
        [
            ev("m", "user_signed_up", J("2025-12-15T10:00:00")),
            ev("m", "message_sent", J("2026-01-02T10:00:00")),  # k1
            ev("m", "message_sent", J("2026-03-31T23:00:00")),  # k3
        ],
    )
    r = retention(
        wh,
        period="month",
        periods=4,
        start="2025-12-01",
        end="2026-01-01",
        as_of=J("2026-04-15T00:00:00"),
        tz=TZ,
    )
    assert_cells(
        cells(r, "retained"),
        {
            ("2025-12-01", 0): 1,
            ("2025-12-01", 1): 1,
            ("2025-12-01", 2): 0,
            ("2025-12-01", 3): 1,
            ("2025-12-01", 4): NAN,  # April is not over
        },
    )


def test_empty_range_and_no_data(wh):
    r = retention(wh, start="2026-03-02", end="2026-03-02", as_of="2026-03-10", tz=TZ)
    assert r.empty and "rate" in r.df.columns and "observed" in r.df.columns
    assert r.matrix().empty and r.average().df.empty
    assert "No cohorts" in r._repr_html_()
    # a range without any signup: cohorts listed with size 0, rates missing
    r2 = retention(wh, periods=1, start="2026-03-02", end="2026-03-09", as_of="2026-03-30", tz=TZ)
    assert r2.df["cohort_size"].tolist() == [0, 0] and r2.df["rate"].isna().all()
    n = nday_retention(wh, start="2026-03-02", end="2026-03-02", as_of="2026-03-10", tz=TZ)
    assert n.empty and list(n.df.columns)[:2] == ["day", "persons"]
    c = churn_rate(wh, start="2026-03-02", end="2026-03-02", as_of="2026-03-10", tz=TZ)
    assert c.empty and "rate" in c.df.columns


def test_default_range_is_periods_plus_one_cohorts(cohorts):
    r = retention(cohorts, periods=2, as_of=AS_OF, tz=TZ)
    # last moment before as_of is in W3 -> cohorts W1, W2, W3
    assert sorted({c.strftime("%Y-%m-%d") for c in r.df["cohort"]}) == [
        "2026-03-09",
        "2026-03-16",
        "2026-03-23",
    ]


def test_period_helpers():
    from datetime import date

    assert add_periods(date(2025, 12, 1), "month", 1) == date(2026, 1, 1)
    assert add_periods(date(2026, 1, 1), "month", -1) == date(2025, 12, 1)
    assert period_starts(date(2026, 3, 4), date(2026, 3, 10), "week") == [
        date(2026, 3, 2),
        date(2026, 3, 9),
    ]
    assert period_starts(date(2026, 3, 4), date(2026, 3, 4), "week") == []


def test_rendering_and_charts(cohorts):
    r = retention(cohorts, periods=3, breakdown="signup_method", **RANGE)
    html = r._repr_html_()
    assert "weighted average" in html and "—" in html
    for ax in (r.plot(), r.plot(cohorts=True), r.heatmap(), r.average().plot()):
        assert ax.get_title(loc="left")
    plain = retention(cohorts, periods=3, **RANGE)
    assert plain.plot().get_ylabel() == "Retained (%)"
    assert plain.heatmap().get_xlabel().startswith("Weeks")
    nd = nday_retention(cohorts, **RANGE)
    assert nd.plot().get_title(loc="left")
    assert churn_rate(cohorts, **RANGE).plot().get_title(loc="left")
    plt.close("all")


# ------------------------------------------------------------------------------------------
# N-day retention
# ------------------------------------------------------------------------------------------


@pytest.fixture
def nday(wh):
    add_events(
        wh,
        [
            ev("n1", "user_signed_up", J("2026-03-02T10:00:00"), signup_method="google"),
            ev("n1", "message_sent", J("2026-03-03T10:00:00")),  # t0 + 24h exactly: D1
            ev("n1", "message_sent", J("2026-03-09T09:59:00")),  # t0 + 6d23h59m: D6, not D7
            ev("n1", "message_sent", J("2026-03-16T10:00:00")),  # t0 + 14 d exactly: D14
            ev("n2", "user_signed_up", J("2026-03-02T12:00:00"), signup_method="email"),
            ev("n2", "message_sent", J("2026-03-03T11:59:00")),  # t0 + 23h59m: D0
            ev("n2", "message_sent", J("2026-03-10T11:59:59")),  # t0 + 8 d - 1 s: D7
            ev("n3", "user_signed_up", J("2026-03-20T10:00:00"), signup_method="google"),
            ev("n3", "message_sent", J("2026-03-21T10:30:00")),  # D1
        ],
    )
    return wh


NDAY = {"start": "2026-03-02", "end": "2026-03-23", "as_of": J("2026-03-28T00:00:00"), "tz": TZ}


def test_nday_retention_windows_and_pending(nday):
    r = nday_retention(nday, **NDAY)
    df = r.df.set_index("day")
    # D1: all windows [t0+1d, t0+2d) closed by 03-28 -> persons 3; n1 (03-03 10:00), n3 -> 2/3
    assert (df.loc[1, "persons"], df.loc[1, "retained"]) == (3, 2)
    # D7: n3's window ends 03-28 10:00 > as_of -> pending; n2 only -> 1/2
    assert (df.loc[7, "persons"], df.loc[7, "retained"], df.loc[7, "pending"]) == (2, 1, 1)
    # D14: n1 at t0 + 14 d exactly -> 1/2
    assert (df.loc[14, "persons"], df.loc[14, "retained"]) == (2, 1)
    # D30: nobody observed for 31 days -> missing, not 0
    assert df.loc[30, "persons"] == 0 and math.isnan(df.loc[30, "rate"])
    assert df.loc[30, "pending"] == 3
    assert df.loc[1, "rate"] == pytest.approx(2 / 3)
    assert df.loc[1, "ci_low"] < 2 / 3 < df.loc[1, "ci_high"]


def test_nday_retention_breakdown_and_filter(nday):
    # By an event property a return must carry the cohort's value (issue 11, as
    # retention()): the messages carry no signup_method, so google's D1 is 0 of 2 (it
    # was 2 of 2 when any return counted); email 0 of 1 either way.
    r = nday_retention(nday, days=(1,), breakdown="signup_method", **NDAY)
    by = r.df.set_index("breakdown")
    assert (by.loc["google", "persons"], by.loc["google", "retained"]) == (2, 0)
    assert (by.loc["email", "persons"], by.loc["email", "retained"]) == (1, 0)
    # an event filter applies to start and return events: signup_method is only on signups,
    # so no message passes and nobody returns (PostHog's global filters)
    f = nday_retention(nday, days=(1,), filters={"signup_method": "google"}, **NDAY).df
    assert (f.loc[0, "persons"], f.loc[0, "retained"]) == (2, 0)


def test_nday_default_range_is_complete(nday):
    # no range: the 28 days ending max(days) + 1 days before as_of -> every D1 observed
    r = nday_retention(nday, days=(1,), as_of=J("2026-03-23T00:00:00"), tz=TZ)
    assert r.scope.end.isoformat() == "2026-03-21" and r.scope.start.isoformat() == "2026-02-21"
    assert r.df.loc[0, "persons"] == 3 and r.df.loc[0, "pending"] == 0


# ------------------------------------------------------------------------------------------
# Churn
# ------------------------------------------------------------------------------------------


def test_churn_rate(wh):
    weeks = {
        "A": ["03-03", "03-10", "03-17"],
        "B": ["03-03"],
        "C": ["03-10", "03-24"],
        "D": ["03-03", "03-17"],
    }
    rows = [ev(p, "message_sent", J(f"2026-{d}T10:00:00")) for p, ds in weeks.items() for d in ds]
    rows.append(ev("B", "page_viewed", J("2026-03-10T10:00:00")))  # not an active event
    add_events(wh, rows)
    r = churn_rate(wh, start="2026-03-09", end="2026-03-30", as_of=J("2026-03-27T00:00:00"), tz=TZ)
    df = r.df.set_index(r.df["period"].dt.strftime("%Y-%m-%d"))
    # W1: previous W0 {A, B, D}; active in W1: A -> churned {B, D} = 2/3
    assert (df.loc["2026-03-09", "previous_active"], df.loc["2026-03-09", "churned"]) == (3, 2)
    assert df.loc["2026-03-09", "rate"] == pytest.approx(2 / 3)
    # W2: previous W1 {A, C}; C not active in W2 -> 1/2
    assert df.loc["2026-03-16", "rate"] == pytest.approx(0.5)
    # W3 is not over at as_of -> missing (C's 03-24 message would not rescue anyone anyway)
    assert df.loc["2026-03-23", "previous_active"] == 2
    assert math.isnan(df.loc["2026-03-23", "rate"]) and not df.loc["2026-03-23", "observed"]


def test_churn_rate_breakdown(wh):
    add_events(
        wh,
        [
            ev("x", "message_sent", J("2026-03-03T10:00:00"), set_props={"plan": "pro"}),
            ev("x", "message_sent", J("2026-03-10T10:00:00")),
            ev("y", "message_sent", J("2026-03-03T10:00:00"), set_props={"plan": "free"}),
        ],
    )
    r = churn_rate(
        wh,
        start="2026-03-09",
        end="2026-03-16",
        as_of=J("2026-03-20T00:00:00"),
        tz=TZ,
        breakdown="plan",
    )
    by = r.df.set_index("breakdown")
    assert by.loc["pro", "rate"] == 0.0 and by.loc["free", "rate"] == 1.0


def test_churn_rate_breakdown_with_nobody_active(wh):
    # the range is before every event: an empty result, one zero row per week
    add_events(wh, [ev("x", "message_sent", J("2026-03-03T10:00:00"), set_props={"plan": "pro"})])
    r = churn_rate(
        wh,
        start="2026-01-05",
        end="2026-01-12",
        as_of=J("2026-03-20T00:00:00"),
        tz=TZ,
        breakdown="plan",
    )
    assert r.df["previous_active"].sum() == 0 and r.df["rate"].isna().all()
