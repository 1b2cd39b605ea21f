"""Query patterns (METRICS.md section 7): top categories, distributions, low satisfaction,
trending, sessions.

Fixtures are hand-built in Asia/Jakarta (UTC+7); expected numbers are worked out in the
comments. The last test runs on a small demo warehouse with a planted category spike.
"""

from __future__ import annotations

import math
from datetime import date, timedelta

import matplotlib
import pandas as pd
import pytest
from enginekit import built_demo, on_engine
from eventkit import add_events, ev

from zantara_nb.insights import queries as Q
from zantara_nb.metrics.stats import poisson_p, wilson

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

DAY = {"start": "2026-03-02", "end": "2026-03-03"}  # Monday 2 March 2026, local


def J(s: str) -> str:
    """A local Jakarta time."""
    return s + "+07:00"


def _row(df: pd.DataFrame, **keys) -> pd.Series:
    m = pd.Series(True, index=df.index)
    for k, v in keys.items():
        m &= df[k] == v
    assert m.sum() == 1, (keys, df)
    return df.loc[m].iloc[0]


def _sent(pid, ts, cat, mid=None, session=None, **p):
    props = {"query_category": cat, **p}
    if mid:
        props["message_id"] = mid
    if session:
        props["session_id"] = session
    return ev(pid, "message_sent", J(ts), props)


def _reply(pid, ts, mid=None, session=None, latency=None, cost=None, sources=None):
    props = {}
    for k, v in (
        ("message_id", mid),
        ("session_id", session),
        ("response_latency_ms", latency),
        ("response_cost_usd", cost),
        ("sources_count", sources),
    ):
        if v is not None:
            props[k] = v
    return ev(pid, "message_received", J(ts), props)


# ------------------------------------------------------------------------------------------
# Top categories
# ------------------------------------------------------------------------------------------


def _by_id_fixture():
    return [
        # visa m1: message_received with the same message_id
        _sent("u1", "2026-03-02T09:00:00", "visa", "m1", "s1"),
        _reply("u1", "2026-03-02T09:00:02", "m1", "s1", latency=1000, cost=0.01, sources=3),
        # visa m2: a PostHog $ai_generation whose $ai_trace_id is the message id
        # ($ai_latency 2.0 s -> 2000 ms; no sources on $ai_generation)
        _sent("u1", "2026-03-02T09:05:00", "visa", "m2", "s1"),
        ev(
            "u1",
            "$ai_generation",
            J("2026-03-02T09:05:03"),
            {"$ai_trace_id": "m2", "$ai_latency": 2.0, "$ai_total_cost_usd": 0.03},
        ),
        # tax m3: tracked twice, by message_received (500 ms) and $ai_generation (0.6 s)
        _sent("u2", "2026-03-02T10:00:00", "tax", "m3", "s2"),
        _reply("u2", "2026-03-02T10:00:01", "m3", "s2", latency=500, cost=0.02, sources=1),
        ev(
            "u2",
            "$ai_generation",
            J("2026-03-02T10:00:01"),
            {"$ai_trace_id": "m3", "$ai_latency": 0.6, "$ai_total_cost_usd": 0.04},
        ),
        # tax m4: no reply (an error)
        _sent("u2", "2026-03-02T10:10:00", "tax", "m4", "s2"),
        # general m5: sent 2 s before the local day ends, reply 1 s after (next local day,
        # but still 2026-03-02 in UTC)
        _sent("u3", "2026-03-02T23:59:58", "general", "m5", "s3"),
        _reply("u3", "2026-03-03T00:00:01", "m5", "s3", latency=700, cost=0.005, sources=0),
        # outside the range (next day), with its reply
        _sent("u1", "2026-03-03T10:00:00", "visa", "m6", "s4"),
        _reply("u1", "2026-03-03T10:00:01", "m6", "s4", latency=1, cost=1.0, sources=1),
    ]


def test_top_categories_reply_by_message_id(wh):
    add_events(wh, _by_id_fixture())
    # as_of after the range so m5's reply (1 s after the range end) is observed
    res = Q.top_categories(wh, **DAY, as_of="2026-03-04")
    df = res.df
    # 5 messages in the range: tax 2, visa 2, general 1; ties by name (tax before visa)
    assert df["category"].tolist() == ["tax", "visa", "general"]
    assert df["messages"].tolist() == [2, 2, 1]
    assert df["share"].tolist() == pytest.approx([0.4, 0.4, 0.2])
    ci = wilson(2, 5)
    assert (df["ci_low"].iloc[0], df["ci_high"].iloc[0]) == pytest.approx((ci.low, ci.high))
    visa = _row(df, category="visa")
    # replies m1 (1000 ms, $0.01, 3 sources) and m2 (2000 ms, $0.03, no sources)
    assert visa["replies"] == 2
    assert visa["latency_ms"] == pytest.approx(1500.0)
    assert visa["cost_usd"] == pytest.approx(0.02)
    assert visa["cost_per_1k"] == pytest.approx(20.0)
    assert visa["sources"] == pytest.approx(3.0)  # mean over replies that carry it
    tax = _row(df, category="tax")
    # source="both": m3's two reply events both count (as in health): 2 replies, latency
    # (500 + 600) / 2, cost (0.02 + 0.04) / 2, sources 1 (only message_received has it);
    # m4 has none
    assert (tax["replies"], tax["latency_ms"], tax["cost_usd"], tax["sources"]) == (
        2,
        550.0,
        pytest.approx(0.03),
        1.0,
    )
    general = _row(df, category="general")
    assert (general["replies"], general["latency_ms"]) == (1, 700.0)
    assert res.extra["replies_by_id"] == 5 and res.extra["replies_by_session"] == 0
    assert res.extra["session_fallback"] is False
    assert res.units["latency_ms"] == "ms" and res.units["share"] == "rate"
    assert "breakdown" not in df
    # source="message_received": m2 and m3's $ai_generation are not replies
    mr = Q.top_categories(wh, **DAY, as_of="2026-03-04", source="message_received").df
    assert _row(mr, category="visa")[["replies", "latency_ms"]].tolist() == [1, 1000.0]
    assert _row(mr, category="tax")[["replies", "latency_ms"]].tolist() == [1, 500.0]
    assert mr["messages"].sum() == 5  # messages do not depend on the reply source


def test_top_categories_reply_after_as_of_is_not_seen(wh):
    add_events(wh, _by_id_fixture())
    # default as_of = end of the range: m5's reply (after midnight) is not observed yet
    df = Q.top_categories(wh, **DAY).df
    general = _row(df, category="general")
    assert general["replies"] == 0 and math.isnan(general["latency_ms"])
    assert _row(df, category="visa")["replies"] == 2


def test_top_categories_reply_by_next_reply_in_session(wh):
    add_events(
        wh,
        [
            # session s1, no message ids: the next reply in the session
            _sent("u1", "2026-03-02T09:00:00", "visa", session="s1"),
            _reply("u1", "2026-03-02T09:00:03", session="s1", latency=800, cost=0.01),
            # visa at 09:10 gets no reply before the next message (legal, 09:12): the reply
            # at 09:12:05 is the legal message's, not the visa one's
            _sent("u1", "2026-03-02T09:10:00", "visa", session="s1"),
            _sent("u1", "2026-03-02T09:12:00", "legal", session="s1"),
            _reply("u1", "2026-03-02T09:12:05", session="s1", latency=300, cost=0.03),
            # tax in s2: the only reply is in another session -> none
            _sent("u2", "2026-03-02T10:00:00", "tax", session="s2"),
            _reply("u2", "2026-03-02T10:00:01", session="s3", latency=5, cost=5.0),
            # finance without a session nor an id: never paired
            _sent("u2", "2026-03-02T11:00:00", "finance"),
            _reply("u2", "2026-03-02T11:00:01", latency=6, cost=6.0),
            # s4 mixes: m9 has a reply by id (100 ms) and a free reply just before it
            # (999 ms) -> by id wins; m10 has an id but no reply with it -> the next free
            # reply in the session (400 ms)
            _sent("u3", "2026-03-02T12:00:00", "property", "m9", "s4"),
            _reply("u3", "2026-03-02T12:00:01", session="s4", latency=999, cost=9.0),
            _reply("u3", "2026-03-02T12:00:02", "m9", "s4", latency=100, cost=0.01),
            _sent("u3", "2026-03-02T12:05:00", "property", "m10", "s4"),
            _reply("u3", "2026-03-02T12:05:03", session="s4", latency=400, cost=0.03),
            # a reply at the same moment as its message counts (at or after)
            _sent("u4", "2026-03-02T13:00:00", "business", session="s5"),
            _reply("u4", "2026-03-02T13:00:00", session="s5", latency=50, sources=2),
        ],
    )
    res = Q.top_categories(wh, **DAY)
    df = res.df.set_index("category")
    assert df.loc["visa", "messages"] == 2 and df.loc["visa", "replies"] == 1
    assert df.loc["visa", "latency_ms"] == 800.0
    assert df.loc["legal", "replies"] == 1 and df.loc["legal", "latency_ms"] == 300.0
    assert df.loc["tax", "replies"] == 0 and math.isnan(df.loc["tax", "latency_ms"])
    assert df.loc["finance", "replies"] == 0
    # property: by id 100 ms and by session 400 ms -> mean 250 ms, cost (0.01 + 0.03) / 2
    assert df.loc["property", "replies"] == 2
    assert df.loc["property", "latency_ms"] == pytest.approx(250.0)
    assert df.loc["property", "cost_usd"] == pytest.approx(0.02)
    assert df.loc["business", "replies"] == 1 and df.loc["business", "sources"] == 2.0
    assert math.isnan(df.loc["business", "cost_usd"])  # the reply has no cost
    assert res.extra["session_fallback"] is True
    # by id: m9; by session: visa, legal, property m10, business
    assert res.extra["replies_by_id"] == 1 and res.extra["replies_by_session"] == 4
    assert df["messages"].sum() == 8


def test_top_categories_filter_breakdown_top_and_anonymous_person(wh):
    add_events(
        wh,
        [
            ev("u1", "$identify", J("2026-02-01T08:00:00"), set_props={"plan": "pro"}),
            ev("u2", "$identify", J("2026-02-01T08:00:00"), set_props={"plan": "free"}),
            # anon a1 asks before identifying as u1 (pro): its messages count for u1
            _sent("a1", "2026-03-02T08:00:00", "visa", query_language="en"),
            ev(
                "u1",
                "$identify",
                J("2026-03-02T08:30:00"),
                {"$anon_distinct_id": "a1"},
            ),
            _sent("u1", "2026-03-02T09:00:00", "tax", query_language="id"),
            _sent("u1", "2026-03-02T09:01:00", "tax", query_language="id"),
            _sent("u2", "2026-03-02T09:00:00", "visa", query_language="en"),
            _sent("u2", "2026-03-02T09:01:00", "legal", query_language="en"),
            _sent("u2", "2026-03-02T09:02:00", "legal", query_language="en"),
        ],
    )
    pro = Q.top_categories(wh, **DAY, filters={"plan": "pro"}).df
    # u1 (incl. a1's message): tax 2, visa 1
    assert dict(zip(pro["category"], pro["messages"], strict=True)) == {"tax": 2, "visa": 1}
    by = Q.top_categories(wh, **DAY, breakdown="query_language").df
    # shares within each language: en = visa 2, legal 2 (of 4); id = tax 2 (of 2)
    en = by[by["breakdown"] == "en"]
    assert en["category"].tolist() == ["legal", "visa"]
    assert en["share"].tolist() == [0.5, 0.5]
    assert _row(by, breakdown="id", category="tax")["share"] == 1.0
    top1 = Q.top_categories(wh, **DAY, breakdown="query_language", top=1).df
    assert top1[["breakdown", "category"]].values.tolist() == [["en", "legal"], ["id", "tax"]]
    ax = Q.top_categories(wh, **DAY, breakdown="query_language").plot()
    assert ax.get_title(loc="left") == "Top query categories"
    plt.close("all")


def test_top_categories_empty_ranges(wh):
    add_events(wh, _by_id_fixture())
    cols = ["category", "messages", "share", "ci_low", "ci_high", "replies"]
    for scope in (
        {"start": "2026-03-02", "end": "2026-03-02"},  # empty range
        {"start": "2026-03-02", "end": "2026-03-03", "as_of": "2026-03-01"},  # not observed
        {"start": "2026-01-05", "end": "2026-01-12"},  # no data
    ):
        res = Q.top_categories(wh, **scope)
        assert res.df.empty and set(cols) <= set(res.df.columns)
        assert "No data" in res._repr_html_()


# ------------------------------------------------------------------------------------------
# Distributions
# ------------------------------------------------------------------------------------------


def test_distributions_counts_shares_order_and_filter(wh):
    rows = []
    # 6 messages: en 4, id 2; complexity simple 3, complex 2, missing 1; intent action 4,
    # information 2
    spec = [
        ("en", "simple", "action", "visa"),
        ("en", "simple", "action", "visa"),
        ("en", "complex", "information", "tax"),
        ("en", None, "action", "tax"),
        ("id", "simple", "action", "visa"),
        ("id", "complex", "information", "visa"),
    ]
    for i, (lang, cx, intent, cat) in enumerate(spec):
        p = {"query_language": lang, "query_intent": intent}
        if cx:
            p["query_complexity"] = cx
        rows.append(_sent(f"u{i}", f"2026-03-02T09:0{i}:00", cat, **p))
    add_events(wh, rows)
    lang = Q.distribution(wh, "language", **DAY).df
    assert lang["query_language"].tolist() == ["en", "id"]
    assert lang["messages"].tolist() == [4, 2]
    assert lang["share"].tolist() == pytest.approx([4 / 6, 2 / 6])
    ci = wilson(4, 6)
    assert lang["ci_low"].iloc[0] == pytest.approx(ci.low)
    cx = Q.distribution(wh, "complexity", **DAY).df
    # fixed order simple, medium, complex, then the rest; no 'medium' row (none seen)
    assert cx["query_complexity"].tolist() == ["simple", "complex", "(none)"]
    assert cx["messages"].tolist() == [3, 2, 1]
    intent = Q.distribution(wh, "query_intent", **DAY).df
    assert intent["query_intent"].tolist() == ["information", "action"]
    assert intent["messages"].tolist() == [2, 4]
    # filter on an event property + breakdown by another
    visa = Q.distribution(
        wh, "complexity", **DAY, filters={"query_category": "visa"}, breakdown="query_language"
    ).df
    # visa: en simple 2; id simple 1, complex 1
    assert visa[["breakdown", "query_complexity", "messages"]].values.tolist() == [
        ["en", "simple", 2],
        ["id", "simple", 1],
        ["id", "complex", 1],
    ]
    assert _row(visa, breakdown="id", query_complexity="simple")["share"] == 0.5
    with pytest.raises(ValueError, match="field"):
        Q.distribution(wh, "mood", **DAY)
    empty = Q.distribution(wh, "language", start="2026-03-02", end="2026-03-02").df
    assert empty.empty and list(empty.columns) == [
        "query_language",
        "messages",
        "share",
        "ci_low",
        "ci_high",
    ]


# ------------------------------------------------------------------------------------------
# Low satisfaction
# ------------------------------------------------------------------------------------------


def _feedback_rows(groups):
    """``groups``: (category, complexity, feedbacks, positive, plan_person)."""
    rows = []
    k = 0
    for cat, cx, n, pos, person in groups:
        for i in range(n):
            k += 1
            mid = f"fm{k}"
            t = f"2026-03-02T{8 + k // 60:02d}:{k % 60:02d}:00"
            rows.append(_sent(person, t, cat, mid, query_complexity=cx))
            t2 = f"2026-03-02T{8 + k // 60:02d}:{k % 60:02d}:30"
            rows.append(
                ev(person, "feedback_given", J(t2), message_id=mid, rating=1 if i < pos else -1)
            )
    return rows


GROUPS = [
    ("visa", "simple", 10, 4, "u1"),  # 0.40, 10 feedbacks
    ("tax", "complex", 12, 3, "u1"),  # 0.25
    ("legal", "medium", 9, 0, "u1"),  # 0.00 but only 9 feedbacks: left out
    ("visa", "medium", 15, 6, "u2"),  # 0.40, 15 feedbacks: before visa/simple
    ("finance", "simple", 20, 18, "u2"),  # 0.90
]


def test_low_satisfaction_min_feedbacks_and_order(wh):
    add_events(wh, _feedback_rows(GROUPS))
    res = Q.low_satisfaction(wh, **DAY)
    df = res.df
    assert list(zip(df["query_category"], df["query_complexity"], strict=True)) == [
        ("tax", "complex"),
        ("visa", "medium"),
        ("visa", "simple"),
        ("finance", "simple"),
    ]
    assert df["feedbacks"].tolist() == [12, 15, 10, 20]
    assert df["share_positive"].tolist() == pytest.approx([0.25, 0.4, 0.4, 0.9])
    ci = wilson(3, 12)
    assert (df["ci_low"].iloc[0], df["ci_high"].iloc[0]) == pytest.approx((ci.low, ci.high))
    assert df["net_score"].iloc[0] == pytest.approx(-0.5)  # 2 * 0.25 - 1
    excluded = res.extra["excluded"]
    assert excluded[["query_category", "query_complexity", "feedbacks"]].values.tolist() == [
        ["legal", "medium", 9]
    ]
    # with min_feedbacks=9 the legal group (0%) comes first
    df9 = Q.low_satisfaction(wh, min_feedbacks=9, **DAY).df
    assert df9["query_category"].iloc[0] == "legal" and df9["share_positive"].iloc[0] == 0.0
    ax = res.plot()
    assert "satisfaction" in ax.get_title(loc="left").lower()
    plt.close("all")


def test_low_satisfaction_breakdown_and_filter(wh):
    rows = [
        ev("u1", "$identify", J("2026-02-01T08:00:00"), set_props={"plan": "pro"}),
        ev("u2", "$identify", J("2026-02-01T08:00:00"), set_props={"plan": "free"}),
    ]
    add_events(wh, rows + _feedback_rows(GROUPS))
    by = Q.low_satisfaction(wh, **DAY, breakdown="plan").df
    # pro = u1: tax/complex 0.25, visa/simple 0.40 (legal 9 left out);
    # free = u2: visa/medium 0.40, finance/simple 0.90
    got = by[["breakdown", "query_category", "query_complexity", "feedbacks"]].values.tolist()
    assert got == [
        ["pro", "tax", "complex", 12],
        ["free", "visa", "medium", 15],
        ["pro", "visa", "simple", 10],
        ["free", "finance", "simple", 20],
    ]
    free = Q.low_satisfaction(wh, **DAY, filters={"plan": "free"}).df
    assert free["query_category"].tolist() == ["visa", "finance"]
    with pytest.raises(ValueError, match="query_complexity"):
        Q.low_satisfaction(wh, **DAY, breakdown="plan", filters={"query_complexity": "simple"})


def test_low_satisfaction_empty(wh):
    add_events(wh, _feedback_rows(GROUPS))
    df = Q.low_satisfaction(wh, start="2026-03-09", end="2026-03-16").df
    assert df.empty and "share_positive" in df.columns
    df = Q.low_satisfaction(wh, start="2026-03-02", end="2026-03-02").df
    assert df.empty


# ------------------------------------------------------------------------------------------
# Trending
# ------------------------------------------------------------------------------------------

LAST_WEEK = date(2026, 3, 2)  # Monday
THIS_WEEK = date(2026, 3, 9)


def _spread(cat: str, n: int, week: date, lang: str = "en") -> list[dict]:
    """n messages of ``cat`` spread over the 7 local days of ``week`` (hourly)."""
    out = []
    for i in range(n):
        d = week + timedelta(days=i % 7)
        out.append(
            _sent(f"p{i % 5}", f"{d:%Y-%m-%d}T{8 + i // 7:02d}:00:00", cat, query_language=lang)
        )
    return out


def _trend_rows():
    rows = []
    # visa: last week 18 + 1 (Sunday 23:59:59 local) = 19; this week 38 + 1 (Monday
    # 01:00 local, which is still Sunday 2026-03-08T18:00Z in UTC) + 1 (Sunday 15 March
    # 23:59:59) = 40; Monday 16 March 00:00 local is the next week (and at as_of)
    rows += _spread("visa", 18, LAST_WEEK) + _spread("visa", 38, THIS_WEEK)
    rows.append(_sent("p1", "2026-03-08T23:59:59", "visa"))
    rows.append(ev("p1", "message_sent", "2026-03-08T18:00:00Z", query_category="visa"))
    rows.append(_sent("p1", "2026-03-15T23:59:59", "visa"))
    rows.append(_sent("p1", "2026-03-16T00:00:00", "visa"))
    rows += _spread("tax", 25, LAST_WEEK) + _spread("tax", 25, THIS_WEEK)
    rows += _spread("legal", 19, LAST_WEEK) + _spread("legal", 50, THIS_WEEK)
    rows += _spread("property", 20, LAST_WEEK) + _spread("property", 10, THIS_WEEK)
    return rows


def test_trending_week_edges_and_minimum_volume(wh):
    add_events(wh, _trend_rows())
    res = Q.trending(wh, as_of="2026-03-16")
    assert res.extra["this_start"] == THIS_WEEK and res.extra["last_start"] == LAST_WEEK
    got = {r.category: (r.this_period, r.last_period) for r in res.df.itertuples()}
    # visa (40 vs 19) and legal (50 vs 19, the largest growth) have fewer than 20 last
    # week: left out, listed in extra['excluded']
    assert got == {"tax": (25, 25), "property": (10, 20)}
    ex = res.extra["excluded"].set_index("category")
    assert ex.loc["visa", ["this_period", "last_period"]].tolist() == [40, 19]
    assert ex.loc["legal", ["this_period", "last_period"]].tolist() == [50, 19]


def test_trending_min_volume_growth_significance_order(wh):
    add_events(wh, _trend_rows() + [_sent("p2", "2026-03-04T20:00:00", "visa")])
    res = Q.trending(wh, as_of="2026-03-16")
    df = res.df
    # visa: 40 vs 20 -> +100%, Poisson (binomial 40 of 60 at 1/2) p ~ 0.013: significant
    # tax: 25 vs 25 -> 0%, p = 1; property: 10 vs 20 -> -50%, p ~ 0.099: not significant
    assert df["category"].tolist() == ["visa", "tax", "property"]  # by growth
    assert df["this_period"].tolist() == [40, 25, 10]
    assert df["last_period"].tolist() == [20, 25, 20]
    assert df["change"].tolist() == [20, 0, -10]
    assert df["growth"].tolist() == pytest.approx([1.0, 0.0, -0.5])
    assert df["p_value"].tolist() == pytest.approx(
        [poisson_p(40, 20), poisson_p(25, 25), poisson_p(10, 20)]
    )
    assert df["significant"].tolist() == [True, False, False]
    assert poisson_p(40, 20) < 0.05 < poisson_p(10, 20)
    assert res.extra["excluded"]["category"].tolist() == ["legal"]
    # as_of in the middle of the next week: same last complete week
    again = Q.trending(wh, as_of="2026-03-18T12:00:00")
    pd.testing.assert_frame_equal(again.df, df)
    # min_last_week is a parameter: 19 lets legal in (50 vs 19, +163%)
    assert Q.trending(wh, as_of="2026-03-16", min_last_week=19).df["category"].iloc[0] == "legal"
    ax = res.plot()
    assert ax.get_title(loc="left").startswith("Trending categories")
    plt.close("all")


def test_trending_breakdown_day_period_and_empty(wh):
    rows = _spread("tax", 21, LAST_WEEK, "id") + _spread("tax", 30, THIS_WEEK, "id")
    rows += _spread("tax", 5, LAST_WEEK, "en") + _spread("tax", 30, THIS_WEEK, "en")
    add_events(wh, rows)
    df = Q.trending(wh, as_of="2026-03-16", breakdown="query_language").df
    # en has only 5 last week: left out; id 30 vs 21
    assert df[["breakdown", "category", "this_period", "last_period"]].values.tolist() == [
        ["id", "tax", 30, 21]
    ]
    # daily: Sunday 15 March vs Saturday 14 March; min 1
    day = Q.trending(wh, as_of="2026-03-16", period="day", min_last_week=1)
    assert day.extra["this_start"] == date(2026, 3, 15)
    # _spread puts messages i with i % 7 == 6 on Sunday, == 5 on Saturday:
    # 30 messages -> Sunday i = 6, 13, 20, 27 (4), Saturday 5, 12, 19, 26 (4), both langs
    assert day.df[["this_period", "last_period"]].values.tolist() == [[8, 8]]
    empty = Q.trending(wh, as_of="2026-01-05").df
    assert empty.empty and "growth" in empty.columns
    assert empty["significant"].dtype == bool


# ------------------------------------------------------------------------------------------
# Sessions
# ------------------------------------------------------------------------------------------


def _session_rows():
    return [
        ev(
            "u1",
            "$identify",
            J("2026-02-01T08:00:00"),
            set_props={"plan": "pro", "user_type": "business"},
        ),
        ev(
            "u2",
            "$identify",
            J("2026-02-01T08:00:00"),
            set_props={"plan": "free", "user_type": "individual"},
        ),
        # u1, session s1: 09:00:00 .. 09:02:05 -> 2 messages, 125 s
        ev("u1", "conversation_started", J("2026-03-02T09:00:00"), session_id="s1"),
        _sent("u1", "2026-03-02T09:00:10", "visa", session="s1"),
        _reply("u1", "2026-03-02T09:00:12", session="s1"),
        _sent("u1", "2026-03-02T09:02:00", "visa", session="s1"),
        _reply("u1", "2026-03-02T09:02:05", session="s1"),
        # u1, session s2: 1 message, 30 s
        _sent("u1", "2026-03-02T14:00:00", "tax", session="s2"),
        _reply("u1", "2026-03-02T14:00:30", session="s2"),
        # anonymous a1 (identified as u1 later): session s5, 2 messages, 60 s, counts for u1
        _sent("a1", "2026-03-02T15:00:00", "visa", session="s5"),
        _sent("a1", "2026-03-02T15:01:00", "visa", session="s5"),
        ev("u1", "$identify", J("2026-03-05T08:00:00"), {"$anon_distinct_id": "a1"}),
        # u2, no session ids: split by 30 minutes of inactivity
        ev("u2", "page_viewed", J("2026-03-02T08:00:00")),  # alone: 0 messages
        _sent("u2", "2026-03-02T10:00:00", "tax"),
        _sent("u2", "2026-03-02T10:29:59", "tax"),  # gap 29:59 -> same session (1799 s)
        _sent("u2", "2026-03-02T11:00:00", "tax"),  # gap 30:01 -> new session (0 s)
        _sent("u2", "2026-03-02T11:30:00", "tax"),  # gap exactly 30:00 -> new session (0 s)
        # u3 (no person properties): session s3 crosses local midnight into the range:
        # first event 1 March 23:50 -> belongs to 1 March, lasts 20 min
        _sent("u3", "2026-03-01T23:50:00", "legal", session="s3"),
        _sent("u3", "2026-03-02T00:10:00", "legal", session="s3"),
    ]


def test_sessions_by_plan_and_user_type(wh):
    add_events(wh, _session_rows())
    res = Q.sessions(wh, **DAY)
    df = res.df
    # pro/business: s1 (2 msgs, 125 s), s2 (1, 30 s), s5 (2, 60 s) -> 3 sessions, 5 msgs,
    #   mean 5/3, median 2; duration mean 215/3, median 60
    # free/individual: [10:00, 10:29:59] (2, 1799 s), [11:00] (1, 0), [11:30] (1, 0);
    #   the page view alone has no message -> 3 sessions, 4 msgs, mean 4/3, median 1;
    #   duration mean 1799/3, median 0
    assert df[["plan", "user_type"]].values.tolist() == [
        ["pro", "business"],
        ["free", "individual"],
    ]
    pro = df.iloc[0]
    assert (pro["sessions"], pro["messages"]) == (3, 5)
    assert pro["messages_per_session"] == pytest.approx(5 / 3)
    assert pro["messages_per_session_median"] == 2
    assert pro["duration_seconds"] == pytest.approx(215 / 3)
    assert pro["duration_median_seconds"] == 60
    free = df.iloc[1]
    assert (free["sessions"], free["messages"]) == (3, 4)
    assert free["messages_per_session_median"] == 1
    assert free["duration_seconds"] == pytest.approx(1799 / 3)
    assert free["duration_median_seconds"] == 0
    # u3's session started on 1 March: not in this range
    assert df["sessions"].sum() == 6
    overall = res.extra["overall"].iloc[0]
    # all 6: messages [2, 1, 2, 2, 1, 1] -> 9, mean 1.5, median 1.5;
    # durations [125, 30, 60, 1799, 0, 0] -> mean 2014/6, median (30 + 60) / 2 = 45
    assert (overall["sessions"], overall["messages"]) == (6, 9)
    assert overall["messages_per_session_median"] == 1.5
    assert overall["duration_seconds"] == pytest.approx(2014 / 6)
    assert overall["duration_median_seconds"] == 45
    assert res.units["duration_seconds"] == "seconds"
    ax = res.plot()
    assert ax.get_xlabel().startswith("Messages per session")
    plt.close("all")


def test_sessions_edges_min_messages_by_and_filters(wh):
    add_events(wh, _session_rows())
    # 1 March: u3's session s3, 2 messages, 20 min (its second event is on 2 March)
    mar1 = Q.sessions(wh, start="2026-03-01", end="2026-03-02", as_of="2026-03-03", by=None)
    o = mar1.extra["overall"].iloc[0]
    assert (o["sessions"], o["messages"], o["duration_seconds"]) == (1, 2, 1200.0)
    # with as_of at 1 March's end the session is seen so far: one event, 0 s
    cut = Q.sessions(wh, start="2026-03-01", end="2026-03-02", by=None).extra["overall"]
    assert cut["duration_seconds"].tolist() == [0.0] and cut["messages"].tolist() == [1]
    # min_messages=0 adds u2's page-view session and nothing else (the 1 Feb $identify
    # events are out of range; u1's 5 March $identify too)
    all_s = Q.sessions(wh, **DAY, min_messages=0, by="plan").df.set_index("plan")
    assert all_s.loc["free", "sessions"] == 4 and all_s.loc["pro", "sessions"] == 3
    # an event-property filter keeps only matching events: tax messages only
    tax = Q.sessions(wh, **DAY, by="plan", filters={"query_category": "tax"}).df
    assert tax.set_index("plan")["sessions"].to_dict() == {"free": 3, "pro": 1}
    # a person filter and a breakdown
    b = Q.sessions(wh, **DAY, by="user_type", breakdown="plan", filters={"plan": ["pro", "free"]})
    assert b.df[["breakdown", "user_type", "sessions"]].values.tolist() == [
        ["free", "individual", 3],
        ["pro", "business", 3],
    ]
    assert set(b.extra["overall"]["breakdown"]) == {"free", "pro"}
    # gap is a parameter: with 31 minutes u2's 10:29:59 -> 11:00:00 (30:01) joins
    g = Q.sessions(wh, **DAY, by="plan", gap_minutes=31).df.set_index("plan")
    assert g.loc["free", "sessions"] == 1


def test_sessions_empty(wh):
    add_events(wh, _session_rows())
    for scope in (
        {"start": "2026-03-02", "end": "2026-03-02"},
        {"start": "2026-04-01", "end": "2026-04-08"},
    ):
        res = Q.sessions(wh, **scope)
        assert res.df.empty and "messages_per_session" in res.df.columns
        assert res.extra["overall"].empty
        assert "No data" in res._repr_html_()


# ------------------------------------------------------------------------------------------
# Demo data: the planted category spike
# ------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def demo(tmp_path_factory, warehouse_engine):
    from zantara_nb.demo import GroundTruth

    path, res = built_demo(
        tmp_path_factory,
        "qdemo",
        seed=11,
        start="2026-05-04",
        end="2026-08-24",
        monthly_active_users=2500,
    )
    wh = on_engine(path)
    yield wh, GroundTruth.load(res.truth_path)
    wh.close()


@pytest.mark.slow
def test_demo_category_spike_shows_in_top_categories_and_trending(demo):
    wh, truth = demo
    spike = truth.incidents["category_spike"]
    assert spike["planted"]
    day = date.fromisoformat(spike["date"])
    cat = spike["category"]
    tz = truth.timezone
    # on the spike day the category has its planted count and ~4x its usual share
    top = Q.top_categories(wh, start=day, end=day + timedelta(days=1), tz=tz).df
    row = _row(top, category=cat)
    assert row["messages"] == spike["count"]
    usual = _row(Q.top_categories(wh, start=truth.start, end=truth.end, tz=tz).df, category=cat)
    assert row["share"] > 2 * usual["share"]
    # every message of the demo has its reply by id (message_received or $ai_generation)
    assert row["replies"] > 0.9 * row["messages"]
    # the spike day against the day before: the category grows most, significantly
    daily = Q.trending(wh, as_of=day + timedelta(days=1), period="day", tz=tz).df
    assert daily["category"].iloc[0] == cat and bool(daily["significant"].iloc[0])
    # its week against the week before: the category grows most, significantly
    monday = day - timedelta(days=day.weekday())
    weekly = Q.trending(wh, as_of=monday + timedelta(days=7), tz=tz).df
    assert weekly["category"].iloc[0] == cat and bool(weekly["significant"].iloc[0])
