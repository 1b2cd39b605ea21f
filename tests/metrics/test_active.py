"""Active users, North Star, stickiness, lifecycle, engagement (METRICS.md 1-3).

Calendar used below (2026): Mon 2026-02-09, 02-16, 02-23, 03-02, 03-09, 03-16 are
Mondays; February has 28 days. Asia/Jakarta is UTC+7 all year (no DST), so local
23:30 is 16:30 UTC the same day and local 00:30 is 17:30 UTC the day before.
"""

from __future__ import annotations

import math
import random
from datetime import date, datetime, timedelta

import matplotlib
import pandas as pd
import pytest
from eventkit import add_events, ev

from zantara_nb.metrics import active as A
from zantara_nb.metrics.stats import poisson_p

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402


def J(s: str) -> str:
    """A Jakarta wall-clock time."""
    return s + "+07:00"


def msg(who: str, when: str, **kw) -> dict:
    return ev(who, "message_sent", J(when), **kw)


def series(res, col: str, by: str | None = None) -> dict:
    """{day or week: value} (or {(breakdown, day): value})."""
    df = res.df
    x = res.x
    keys = [d.date() if hasattr(d, "date") else d for d in df[x]]
    if by:
        keys = list(zip(df["breakdown"], keys, strict=True))
    vals = [None if (isinstance(v, float) and math.isnan(v)) else v for v in df[col]]
    return dict(zip(keys, vals, strict=True))


D = date.fromisoformat


# ------------------------------------------------------------------------------------------
# DAU / WAU / MAU
# ------------------------------------------------------------------------------------------


def test_local_day_boundary_jakarta_vs_utc(wh):
    add_events(
        wh,
        [
            ev("late", "message_sent", "2026-03-02T16:30:00Z"),  # 23:30 Mar 2 in Jakarta
            ev("early", "message_sent", "2026-03-02T17:30:00Z"),  # 00:30 Mar 3 in Jakarta
        ],
    )
    r = A.dau(wh, start="2026-03-01", end="2026-03-05")
    assert list(r.df.columns) == ["day", "dau"]
    # Jakarta: Mar 1: nobody; Mar 2: late; Mar 3: early; Mar 4: nobody (observed -> 0)
    assert series(r, "dau") == {
        D("2026-03-01"): 0,
        D("2026-03-02"): 1,
        D("2026-03-03"): 1,
        D("2026-03-04"): 0,
    }
    # In UTC both events fall on Mar 2.
    u = A.dau(wh, start="2026-03-01", end="2026-03-05", tz="UTC")
    assert series(u, "dau") == {
        D("2026-03-01"): 0,
        D("2026-03-02"): 2,
        D("2026-03-03"): 0,
        D("2026-03-04"): 0,
    }


def test_wau_mau_window_boundaries_and_repeated_events(wh):
    # One person, three messages on local Mar 2 (one at 00:10, one at 23:50).
    add_events(
        wh,
        [
            msg("p", "2026-03-02T00:10:00"),
            msg("p", "2026-03-02T12:00:00"),
            msg("p", "2026-03-02T23:50:00"),
        ],
    )
    r = A.active_users(wh, start="2026-03-01", end="2026-04-03")
    assert list(r.df.columns) == ["day", "dau", "wau", "mau"]
    dau, wau, mau = series(r, "dau"), series(r, "wau"), series(r, "mau")
    assert dau[D("2026-03-02")] == 1  # three events, one person-day
    assert sum(dau.values()) == 1
    # WAU(d) counts p for d = Mar 2 .. Mar 8 (the 7 days ending d include Mar 2), not Mar 9.
    assert wau[D("2026-03-01")] == 0
    assert all(wau[D("2026-03-02") + timedelta(days=i)] == 1 for i in range(7))
    assert wau[D("2026-03-09")] == 0
    # MAU(d): Mar 2 .. Mar 31 (30 days), not Apr 1.
    assert all(mau[D("2026-03-02") + timedelta(days=i)] == 1 for i in range(30))
    assert mau[D("2026-03-31")] == 1 and mau[D("2026-04-01")] == 0
    # The single-window functions agree with the combined query.
    assert series(A.wau(wh, start="2026-03-01", end="2026-04-03"), "wau") == wau
    assert series(A.mau(wh, start="2026-03-01", end="2026-04-03"), "mau") == mau


def test_lookback_reads_events_before_the_range(wh):
    add_events(wh, [msg("p", "2026-02-25T10:00:00")])
    r = A.active_users(wh, start="2026-03-01", end="2026-03-05")
    # WAU(Mar 3) covers Feb 25 .. Mar 3 -> 1; WAU(Mar 4) covers Feb 26 .. Mar 4 -> 0.
    assert series(r, "wau") == {
        D("2026-03-01"): 1,
        D("2026-03-02"): 1,
        D("2026-03-03"): 1,
        D("2026-03-04"): 0,
    }
    assert set(series(r, "mau").values()) == {1}
    assert set(series(r, "dau").values()) == {0}


def test_anonymous_then_identified_counts_once(wh):
    add_events(
        wh,
        [
            msg("anon-7", "2026-03-02T09:00:00"),  # anonymous message on Mar 2
            ev("u7", "$identify", J("2026-03-03T09:00:00"), {"$anon_distinct_id": "anon-7"}),
            msg("u7", "2026-03-03T09:01:00"),
        ],
    )
    r = A.active_users(wh, start="2026-03-02", end="2026-03-05")
    assert series(r, "dau") == {D("2026-03-02"): 1, D("2026-03-03"): 1, D("2026-03-04"): 0}
    assert series(r, "wau") == {D("2026-03-02"): 1, D("2026-03-03"): 1, D("2026-03-04"): 1}
    assert series(r, "mau")[D("2026-03-04")] == 1  # one person, not two


def test_as_of_mid_range_gives_nan_not_zero(wh):
    add_events(
        wh,
        [
            msg("a", "2026-03-02T10:00:00"),
            msg("b", "2026-03-04T10:00:00"),  # before as_of, but Mar 4 is not over at as_of
            msg("c", "2026-03-04T13:00:00"),  # after as_of: ignored
        ],
    )
    r = A.active_users(wh, start="2026-03-01", end="2026-03-07", as_of=J("2026-03-04T12:00:00"))
    dau, wau = series(r, "dau"), series(r, "wau")
    assert dau == {
        D("2026-03-01"): 0,
        D("2026-03-02"): 1,
        D("2026-03-03"): 0,
        D("2026-03-04"): None,  # the day as_of falls in is not a complete day
        D("2026-03-05"): None,
        D("2026-03-06"): None,
    }
    assert wau[D("2026-03-03")] == 1 and wau[D("2026-03-06")] is None
    # as_of at Mar 5 midnight: the whole of Mar 4 is observed, b and c both count -> 2
    r2 = A.dau(wh, start="2026-03-01", end="2026-03-07", as_of="2026-03-05")
    assert series(r2, "dau")[D("2026-03-04")] == 2
    assert series(r2, "dau")[D("2026-03-05")] is None


def test_active_event_list_and_any(wh):
    add_events(
        wh,
        [
            msg("a", "2026-03-02T10:00:00"),
            ev("b", "voice_used", J("2026-03-02T11:00:00")),
            ev("c", "page_viewed", J("2026-03-02T12:00:00")),
        ],
    )
    kw = {"start": "2026-03-02", "end": "2026-03-03"}
    assert series(A.dau(wh, **kw), "dau") == {D("2026-03-02"): 1}
    both = A.dau(wh, active_event=["message_sent", "voice_used"], **kw)
    assert series(both, "dau") == {D("2026-03-02"): 2}
    assert series(A.dau(wh, active_event="*", **kw), "dau") == {D("2026-03-02"): 3}


def _countries(wh):
    add_events(
        wh,
        [
            ev("u1", "$identify", J("2026-03-01T08:00:00"), set_props={"country": "ID"}),
            ev("u2", "$identify", J("2026-03-01T08:00:00"), set_props={"country": "ID"}),
            ev("u3", "$identify", J("2026-03-01T08:00:00"), set_props={"country": "AU"}),
            msg("u1", "2026-03-02T10:00:00", query_category="visa"),
            msg("u2", "2026-03-03T10:00:00", query_category="tax"),
            msg("u3", "2026-03-02T10:00:00", query_category="visa"),
            msg("u3", "2026-03-10T10:00:00", query_category="visa"),
        ],
    )


def test_filter_and_breakdown_on_person_property(wh):
    _countries(wh)
    kw = {"start": "2026-03-02", "end": "2026-03-05"}
    f = A.active_users(wh, filters={"country": "ID"}, **kw)
    # ID persons: u1 (Mar 2), u2 (Mar 3) -> DAU 1, 1, 0; WAU 1, 2, 2
    assert series(f, "dau") == {D("2026-03-02"): 1, D("2026-03-03"): 1, D("2026-03-04"): 0}
    assert series(f, "wau") == {D("2026-03-02"): 1, D("2026-03-03"): 2, D("2026-03-04"): 2}
    b = A.active_users(wh, breakdown="country", **kw)
    assert list(b.df.columns) == ["day", "breakdown", "dau", "wau", "mau"]
    assert set(b.df["breakdown"]) == {"ID", "AU"}
    wau_b = series(b, "wau", by="breakdown")
    assert wau_b[("ID", D("2026-03-03"))] == 2 and wau_b[("AU", D("2026-03-03"))] == 1
    assert series(b, "dau", by="breakdown")[("AU", D("2026-03-04"))] == 0
    # Event-property breakdown: a person counts in each value they were active with.
    c = A.dau(wh, breakdown="query_category", **kw)
    assert series(c, "dau", by="breakdown") == {
        ("tax", D("2026-03-02")): 0,
        ("tax", D("2026-03-03")): 1,
        ("tax", D("2026-03-04")): 0,
        ("visa", D("2026-03-02")): 2,
        ("visa", D("2026-03-03")): 0,
        ("visa", D("2026-03-04")): 0,
    }


def test_empty_range_and_empty_warehouse(wh):
    for f in (A.dau, A.wau, A.mau, A.active_users, A.stickiness):
        r = f(wh, start="2026-03-02", end="2026-03-02")
        assert r.df.empty and "day" in r.df.columns
    assert list(A.active_users(wh, start="2026-03-02", end="2026-03-02").df.columns) == [
        "day",
        "dau",
        "wau",
        "mau",
    ]
    # An empty warehouse over a past range: every day observed, nobody active -> 0.
    r = A.active_users(wh, start="2026-03-02", end="2026-03-04")
    assert r.df[["dau", "wau", "mau"]].to_numpy().tolist() == [[0, 0, 0], [0, 0, 0]]
    s = A.stickiness(wh, start="2026-03-02", end="2026-03-04")
    assert s.df["stickiness"].isna().all()  # 0 / 0 is missing, not 0%
    for f in (A.growth_rate, A.engagement, A.lifecycle, A.stickiness_distribution):
        r = f(wh, start="2026-03-02", end="2026-03-02")
        assert r.df.empty
    ns = A.north_star(wh, start="2026-03-02", end="2026-03-02")
    assert ns.df.empty and ns.wau == 0 and ns.previous == 0 and ns.growth is None
    # A breakdown with no values at all: empty, with the breakdown column.
    for f in (A.dau, A.stickiness, A.stickiness_distribution, A.growth_rate, A.engagement):
        r = f(wh, start="2026-03-02", end="2026-03-16", breakdown="country")
        assert r.df.empty and "breakdown" in r.df.columns
    r = A.lifecycle(wh, start="2026-03-02", end="2026-03-16", breakdown="country")
    assert r.df.empty
    ns = A.north_star(wh, start="2026-03-02", end="2026-03-16", breakdown="country")
    assert ns.df.empty and ns.summary.empty and ns.wau == 0


# ------------------------------------------------------------------------------------------
# Cross-check with a naive pandas computation (the naive version lives only here)
# ------------------------------------------------------------------------------------------


def _naive_active(events: pd.DataFrame, days: list[date], n: int) -> dict:
    """For each day d: distinct persons with a local day in [d - n + 1, d]."""
    out = {}
    for d in days:
        lo = d - timedelta(days=n - 1)
        sel = events[(events["day"] >= lo) & (events["day"] <= d)]
        out[d] = sel["person"].nunique()
    return out


def test_interval_method_matches_naive_computation(wh):
    rng = random.Random(20260302)
    rows, naive = [], []
    base = datetime(2026, 1, 1)  # UTC
    countries = {}
    for i in range(50):
        person = f"u{i}"
        countries[person] = rng.choice(["ID", "AU", "US"])
        rows.append(
            ev(
                person,
                "$identify",
                "2025-12-31T00:00:00Z",
                set_props={"country": countries[person]},
            )
        )
        for _ in range(rng.randint(1, 25)):
            t = base + timedelta(minutes=rng.randrange(0, 100 * 24 * 60))
            rows.append(ev(person, "message_sent", t.isoformat() + "Z"))
            local = pd.Timestamp(t, tz="UTC").tz_convert("Asia/Jakarta")
            naive.append({"person": person, "day": local.date(), "country": countries[person]})
    add_events(wh, rows)
    events = pd.DataFrame(naive)
    start, end = date(2026, 2, 10), date(2026, 3, 25)
    days = [start + timedelta(days=i) for i in range((end - start).days)]
    r = A.active_users(wh, start=start, end=end)
    for col, n in (("dau", 1), ("wau", 7), ("mau", 30)):
        assert series(r, col) == _naive_active(events, days, n), col
    b = A.active_users(wh, start=start, end=end, breakdown="country")
    for country, g in events.groupby("country"):
        for col, n in (("wau", 7), ("mau", 30)):
            expected = {(country, d): v for d, v in _naive_active(g, days, n).items()}
            got = {k: v for k, v in series(b, col, by="breakdown").items() if k[0] == country}
            assert got == expected, (country, col)
    # Stickiness: sum of naive DAU over the 30 days ending d / (30 * MAU(d))
    s = A.stickiness(wh, start=start, end=end)
    all_days = [start - timedelta(days=29) + timedelta(days=i) for i in range(29 + len(days))]
    dau = _naive_active(events, all_days, 1)
    mau = _naive_active(events, days, 30)
    for d, v in series(s, "stickiness").items():
        want = sum(dau[d - timedelta(days=i)] for i in range(30)) / 30 / mau[d]
        assert v == pytest.approx(want)
    # Stickiness distribution: persons by number of distinct active days in the range
    in_range = events[(events["day"] >= start) & (events["day"] < end)]
    k = in_range.groupby("person")["day"].nunique().value_counts()
    dist = A.stickiness_distribution(wh, start=start, end=end).df
    assert dict(zip(dist["days_active"], dist["persons"], strict=True)) == {
        j: float(k.get(j, 0)) for j in range(1, len(days) + 1)
    }


# ------------------------------------------------------------------------------------------
# Stickiness
# ------------------------------------------------------------------------------------------


def test_stickiness_ratio_by_hand(wh):
    add_events(
        wh,
        [
            msg("p1", "2026-03-02T09:00:00"),  # first day of the 30 ending Mar 31
            msg("p1", "2026-03-10T09:00:00"),
            msg("p1", "2026-03-10T19:00:00"),  # same day again: counts once
            msg("p1", "2026-03-31T23:30:00"),
            msg("p2", "2026-03-20T09:00:00"),
            msg("p3", "2026-03-01T09:00:00"),  # one day before the window: out
        ],
    )
    r = A.stickiness(wh, start="2026-03-31", end="2026-04-01")
    row = r.df.iloc[0]
    # Mar 2 .. Mar 31: DAU sums to 3 (p1) + 1 (p2) = 4; mean 4/30; MAU = 2 -> 4/60
    assert row["mau"] == 2 and row["mean_dau"] == pytest.approx(4 / 30)
    assert row["stickiness"] == pytest.approx(4 / 60)
    assert row["ci_low"] < row["stickiness"] < row["ci_high"]
    # A day with nobody active in its 30 days: missing, not 0%
    later = A.stickiness(wh, start="2026-05-15", end="2026-05-16")
    assert math.isnan(later.df["stickiness"].iloc[0]) and later.df["mau"].iloc[0] == 0
    # event-column filter: p2 alone is active 1 of 30 days -> (1/30) / 1
    f = A.stickiness(wh, start="2026-03-31", end="2026-04-01", filters={"distinct_id": "p2"})
    assert f.df["stickiness"].iloc[0] == pytest.approx((1 / 30) / 1)


def test_stickiness_distribution(wh):
    add_events(
        wh,
        [
            msg("p1", "2026-03-08T10:00:00"),
            *[msg("p2", f"2026-03-0{d}T10:00:00") for d in (2, 3, 6)],
            msg("p2", "2026-03-03T22:00:00"),  # second event on Mar 3: still 3 days
            *[msg("p3", f"2026-03-0{d}T10:00:00") for d in (4, 7, 8)],
            *[msg("p4", f"2026-03-0{d}T10:00:00") for d in range(2, 9)],
        ],
    )
    r = A.stickiness_distribution(wh, start="2026-03-02", end="2026-03-09")
    df = r.df
    assert list(df.columns) == ["days_active", "persons", "share", "ci_low", "ci_high", "complete"]
    # p1: 1 day; p2: 3; p3: 3; p4: 7
    assert df["persons"].tolist() == [1, 0, 2, 0, 0, 0, 1]
    assert df["share"].tolist() == pytest.approx([0.25, 0, 0.5, 0, 0, 0, 0.25])
    assert df["complete"].all()
    # as_of Mar 5 12:00: days begun Mar 2..5 (4). p4 has 4 days so far (Mar 5 10:00 is
    # before as_of), p2 2 (Mar 2, 3), p3 1 (Mar 4), p1 none yet; k = 5..7 not observable.
    part = A.stickiness_distribution(
        wh, start="2026-03-02", end="2026-03-09", as_of=J("2026-03-05T12:00:00")
    ).df
    assert part["persons"].tolist()[:4] == [1, 1, 0, 1]
    assert part["persons"].iloc[4:].isna().all()
    assert not part["complete"].any()


def test_stickiness_distribution_breakdown(wh):
    _countries(wh)
    r = A.stickiness_distribution(wh, start="2026-03-02", end="2026-03-12", breakdown="country")
    got = {(b, k): v for b, k, v in r.df[["breakdown", "days_active", "persons"]].to_numpy()}
    assert got[("ID", 1)] == 2 and got[("AU", 2)] == 1 and got[("AU", 1)] == 0


# ------------------------------------------------------------------------------------------
# North Star, growth, engagement
# ------------------------------------------------------------------------------------------


def test_north_star_week_and_growth(wh):
    add_events(
        wh,
        [
            # previous week Feb 23 - Mar 1: a, b
            msg("a", "2026-02-23T00:10:00"),
            msg("b", "2026-03-01T23:59:00"),
            # report week Mar 2 - Mar 8: a, c, d (d at Sunday 23:30 local = 16:30 UTC)
            msg("a", "2026-03-02T09:00:00"),
            msg("a", "2026-03-04T09:00:00"),
            msg("c", "2026-03-05T09:00:00"),
            ev("d", "message_sent", "2026-03-08T16:30:00Z"),
            # Monday Mar 9 00:30 local (= Mar 8 17:30 UTC): next week, not the report week
            ev("e", "message_sent", "2026-03-08T17:30:00Z"),
        ],
    )
    ns = A.north_star(wh, as_of=J("2026-03-11T10:00:00"))
    assert ns.week_start == D("2026-03-02") and ns.week_end == D("2026-03-09")
    assert ns.wau == 3 and ns.previous == 2
    assert ns.growth == pytest.approx(0.5)
    assert ns.p_value == pytest.approx(poisson_p(3, 2)) and not ns.significant
    weekly = series(ns, "wau")
    assert weekly[D("2026-02-23")] == 2 and weekly[D("2026-03-02")] == 3
    assert weekly[D("2026-03-09")] is None  # the current week is not complete
    cur = ns.df[ns.df["week"] == pd.Timestamp("2026-03-09")].iloc[0]
    assert not cur["complete"] and math.isnan(cur["growth"])
    assert "North Star" in str(ns) and "+50.0%" in ns.headline()
    assert "<div" in ns._repr_html_()
    # as_of exactly Monday midnight: the week that just ended is the report week
    ns2 = A.north_star(wh, as_of="2026-03-09")
    assert ns2.week_start == D("2026-03-02") and ns2.wau == 3


def test_north_star_significant_growth_and_breakdown(wh):
    rows = []
    for i in range(10):  # previous week: 10 persons in ID
        rows.append(ev(f"x{i}", "$identify", J("2026-02-20T08:00:00"), set_props={"country": "ID"}))
        rows.append(msg(f"x{i}", "2026-02-24T10:00:00"))
    for i in range(30):  # report week: 30 persons, 20 ID + 10 AU
        c = "ID" if i < 20 else "AU"
        rows.append(ev(f"y{i}", "$identify", J("2026-02-20T08:00:00"), set_props={"country": c}))
        rows.append(msg(f"y{i}", "2026-03-03T10:00:00"))
    add_events(wh, rows)
    ns = A.north_star(wh, as_of="2026-03-10", breakdown="country")
    assert ns.wau == 30 and ns.previous == 10 and ns.growth == pytest.approx(2.0)
    assert ns.significant  # binomial(30 of 40, 1/2): p ~ 0.002
    summ = ns.summary.set_index("breakdown")
    assert summ.loc["ID", "wau"] == 20 and summ.loc["ID", "wau_prev"] == 10
    assert summ.loc["ID", "growth"] == pytest.approx(1.0)
    assert summ.loc["AU", "wau"] == 10 and summ.loc["AU", "wau_prev"] == 0
    assert math.isnan(summ.loc["AU", "growth"])  # from 0: no relative growth
    f = A.north_star(wh, as_of="2026-03-10", filters={"country": "AU"})
    assert f.wau == 10 and f.previous == 0 and f.growth is None


def test_growth_rate_series(wh):
    add_events(
        wh,
        [
            msg("a", "2026-02-17T10:00:00"),  # week Feb 16: 1
            msg("a", "2026-02-24T10:00:00"),  # week Feb 23: 2
            msg("b", "2026-02-25T10:00:00"),
            msg("b", "2026-03-04T10:00:00"),  # week Mar 2: 1
        ],
    )
    r = A.growth_rate(wh, start="2026-02-23", end="2026-03-16", as_of=J("2026-03-12T00:00:00"))
    g = series(r, "growth")
    assert list(g) == [D("2026-02-23"), D("2026-03-02"), D("2026-03-09")]
    assert g[D("2026-02-23")] == pytest.approx(1.0)  # (2 - 1) / 1, prev week read before start
    assert g[D("2026-03-02")] == pytest.approx(-0.5)
    assert g[D("2026-03-09")] is None  # incomplete week
    assert series(r, "complete") == {
        D("2026-02-23"): True,
        D("2026-03-02"): True,
        D("2026-03-09"): False,
    }


def test_engagement(wh):
    add_events(
        wh,
        [
            *[msg("a", f"2026-03-0{d}T10:00:00") for d in (2, 3, 3)],  # 3 messages
            msg("b", "2026-03-08T23:30:00"),  # Sunday night local: same week
            ev("c", "page_viewed", J("2026-03-04T10:00:00")),
            msg("a", "2026-03-09T00:30:00"),  # next week (Monday local)
        ],
    )
    r = A.engagement(wh, start="2026-03-02", end="2026-03-16", as_of=J("2026-03-12T00:00:00"))
    df = r.df
    assert list(df.columns) == ["week", "engagement", "messages", "wau", "complete"]
    first = df.iloc[0]
    assert (first["messages"], first["wau"], first["engagement"]) == (4, 2, 2.0)
    assert not df.iloc[1]["complete"] and math.isnan(df.iloc[1]["messages"])
    wide = A.engagement(
        wh, start="2026-03-02", end="2026-03-09", active_event=["message_sent", "page_viewed"]
    ).df.iloc[0]
    assert wide["wau"] == 3 and wide["engagement"] == pytest.approx(4 / 3)
    # an observed week with nobody active: messages 0, WAU 0, engagement missing
    quiet = A.engagement(wh, start="2026-03-16", end="2026-03-23").df.iloc[0]
    assert quiet["messages"] == 0 and quiet["wau"] == 0 and math.isnan(quiet["engagement"])
    # filter on an event property: visa messages only
    add_events(wh, [msg("d", "2026-03-05T10:00:00", query_category="visa")])
    v = A.engagement(wh, start="2026-03-02", end="2026-03-09", filters={"query_category": "visa"})
    assert (v.df.iloc[0]["messages"], v.df.iloc[0]["wau"]) == (1, 1)


# ------------------------------------------------------------------------------------------
# Lifecycle
# ------------------------------------------------------------------------------------------


def _lifecycle_fixture(wh):
    add_events(
        wh,
        [
            # back: W Feb 16, gap in W Feb 23, back in W Mar 2 -> resurrecting
            msg("back", "2026-02-17T10:00:00"),
            msg("back", "2026-03-04T10:00:00"),
            # old: first active W Feb 9 (3 weeks before Mar 2), back Mar 5 -> not new
            msg("old", "2026-02-10T10:00:00"),
            msg("old", "2026-03-05T10:00:00"),
            # fresh: first ever in W Mar 2 (Monday 00:30 local = Sunday UTC), again W Mar 9
            ev("fresh", "message_sent", "2026-03-01T17:30:00Z"),
            msg("fresh", "2026-03-10T10:00:00"),
            # leaver: W Feb 23 (new), W Mar 2 (returning), then gone (dormant W Mar 9)
            msg("leaver", "2026-02-24T10:00:00"),
            msg("leaver", "2026-03-03T10:00:00"),
        ],
    )


def test_lifecycle_by_hand(wh):
    _lifecycle_fixture(wh)
    r = A.lifecycle(wh, start="2026-02-23", end="2026-03-16")
    df = r.df
    assert list(df.columns) == [
        "period",
        "new",
        "returning",
        "resurrecting",
        "dormant",
        "active",
        "quick_ratio",
        "complete",
    ]
    got = df.set_index(df["period"].dt.date)[["new", "returning", "resurrecting", "dormant"]]
    # W Feb 23: new leaver; back went dormant (active Feb 16, not Feb 23)
    assert got.loc[D("2026-02-23")].tolist() == [1, 0, 0, -1]
    # W Mar 2: new fresh; returning leaver; resurrecting back and old
    assert got.loc[D("2026-03-02")].tolist() == [1, 1, 2, 0]
    # W Mar 9: returning fresh; dormant leaver, back, old
    assert got.loc[D("2026-03-09")].tolist() == [0, 1, 0, -3]
    assert df["active"].tolist() == [1, 4, 1]
    # quick ratio (new + resurrecting) / dormant: 1/1; nobody dormant -> missing; 0/3
    qr = df["quick_ratio"].tolist()
    assert qr[0] == 1.0 and math.isnan(qr[1]) and qr[2] == 0.0
    # Partial last week: flagged and missing
    p = A.lifecycle(wh, start="2026-02-23", end="2026-03-16", as_of=J("2026-03-12T00:00:00")).df
    assert p["complete"].tolist() == [True, True, False]
    assert p.iloc[2][["new", "returning", "resurrecting", "dormant"]].isna().all()


def test_lifecycle_month_and_breakdown(wh):
    _lifecycle_fixture(wh)
    m = A.lifecycle(wh, period="month", start="2026-02-01", end="2026-04-01").df
    # Feb: back, old, leaver new; Mar: fresh new, back/old/leaver returning; no dormant
    assert m[["new", "returning", "resurrecting", "dormant"]].to_numpy().tolist() == [
        [3, 0, 0, 0],
        [1, 3, 0, 0],
    ]
    add_events(
        wh,
        [
            ev(p, "$identify", J("2026-01-01T00:00:00"), set_props={"country": c})
            for p, c in (("back", "ID"), ("old", "ID"), ("fresh", "AU"), ("leaver", "AU"))
        ],
    )
    b = A.lifecycle(wh, start="2026-03-02", end="2026-03-09", breakdown="country").df
    rows = b.set_index("breakdown")[["new", "returning", "resurrecting", "dormant"]]
    assert rows.loc["ID"].tolist() == [0, 0, 2, 0]
    assert rows.loc["AU"].tolist() == [1, 1, 0, 0]


def test_lifecycle_daily_day_boundary(wh):
    add_events(
        wh,
        [
            ev("p", "message_sent", "2026-03-02T16:30:00Z"),  # Mar 2 23:30 local
            ev("p", "message_sent", "2026-03-02T17:30:00Z"),  # Mar 3 00:30 local
        ],
    )
    d = A.lifecycle(wh, period="day", start="2026-03-02", end="2026-03-05").df
    assert d[["new", "returning", "resurrecting", "dormant"]].to_numpy().tolist() == [
        [1, 0, 0, 0],
        [0, 1, 0, 0],
        [0, 0, 0, -1],
    ]


# ------------------------------------------------------------------------------------------
# Every metric: filter == breakdown slice, charts draw
# ------------------------------------------------------------------------------------------

METRICS = {
    "dau": (A.dau, "day"),
    "wau": (A.wau, "day"),
    "mau": (A.mau, "day"),
    "active_users": (A.active_users, "day"),
    "stickiness": (A.stickiness, "day"),
    "stickiness_distribution": (A.stickiness_distribution, "days_active"),
    "growth_rate": (A.growth_rate, "week"),
    "north_star": (A.north_star, "week"),
    "engagement": (A.engagement, "week"),
    "lifecycle": (A.lifecycle, "period"),
}


@pytest.mark.parametrize("name", list(METRICS))
def test_filter_equals_breakdown_slice_and_plots(wh, name):
    _countries(wh)
    _lifecycle_fixture(wh)
    f, key = METRICS[name]
    kw = {"start": "2026-02-16", "end": "2026-03-16"}
    by = f(wh, breakdown="country", **kw)
    only = f(wh, filters={"country": "ID"}, **kw)
    sl = by.df[by.df["breakdown"] == "ID"].drop(columns="breakdown").reset_index(drop=True)
    pd.testing.assert_frame_equal(sl, only.df.reset_index(drop=True), check_dtype=False)
    assert len(only.df) and only.df.select_dtypes("number").fillna(0).abs().to_numpy().sum() > 0
    for res in (by, only):
        ax = res.plot()
        assert ax.get_title(loc="left")
        plt.close("all")


def test_unknown_scope_argument_raises(wh):
    with pytest.raises(TypeError):
        A.dau(wh, strat="2026-03-01")
    with pytest.raises(ValueError):
        A.lifecycle(wh, period="quarter")
