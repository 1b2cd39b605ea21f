"""Health metrics (METRICS.md section 4): latency, errors, cost, satisfaction, LLM usage.

Fixtures are in Asia/Jakarta (UTC+7) unless a test says otherwise; expected numbers are
worked out by hand in the comments.
"""

from __future__ import annotations

import math

import pandas as pd
import pytest
from eventkit import add_events, ev

from zantara_nb.metrics.health import (
    cost_per_1k,
    cost_per_active_user,
    error_rate,
    hourly_errors,
    llm_usage,
    p95_latency,
    satisfaction,
)
from zantara_nb.metrics.stats import wilson

DAY = {"start": "2026-03-02", "end": "2026-03-03"}


def _ts(hour: int, minute: int = 0, day: int = 2) -> str:
    """A local Jakarta time on 2026-03-<day>."""
    return f"2026-03-{day:02d}T{hour:02d}:{minute:02d}:00+07:00"


# ------------------------------------------------------------------------------------------
# P95 latency
# ------------------------------------------------------------------------------------------

LATENCIES = [100 * i for i in range(1, 20)] + [5000]  # 100, 200, ..., 1900, 5000 (20 values)


def _replies(day: int = 2, person: str = "u1", **props):
    return [
        ev(person, "message_received", _ts(8, i, day), response_latency_ms=v, **props)
        for i, v in enumerate(LATENCIES)
    ]


def test_p95_linear_interpolation_by_hand(wh):
    add_events(wh, _replies())
    res = p95_latency(wh, by=None, **DAY)
    # 20 sorted values, position (n - 1) * 0.95 = 18.05 (0-based): between x[18] = 1900
    # and x[19] = 5000 -> 1900 + 0.05 * 3100 = 2055 (nearest rank would say 1900 or 5000).
    assert res.df["latency_ms"].tolist() == [pytest.approx(2055.0)]
    assert res.df["replies"].tolist() == [20]
    # median: position 9.5 -> (1000 + 1100) / 2 = 1050
    assert p95_latency(wh, by=None, quantile=0.5, **DAY).df["latency_ms"].iloc[0] == 1050
    assert res.units["latency_ms"] == "ms"


def test_ai_generation_latency_seconds_become_ms_and_sources(wh):
    add_events(
        wh,
        [
            ev("u1", "message_received", _ts(9), response_latency_ms=800),
            ev("u1", "$ai_generation", _ts(9), {"$ai_latency": 1.5, "$ai_model": "m"}),
            ev("u1", "$ai_generation", _ts(10), {"$ai_latency": 2.5, "$ai_model": "m"}),
        ],
    )
    # $ai_latency 1.5 s and 2.5 s -> 1500 and 2500 ms; median 2000 ms
    gen = p95_latency(wh, by=None, quantile=0.5, source="$ai_generation", **DAY).df
    assert gen["latency_ms"].iloc[0] == 2000 and gen["replies"].iloc[0] == 2
    # default source is both (each reply tracked by one of the two events)
    assert p95_latency(wh, by=None, **DAY).df["replies"].tolist() == [3]
    narrow = p95_latency(wh, by=None, source="message_received", **DAY).df
    assert narrow["replies"].tolist() == [1]
    # both: [800, 1500, 2500], position 2 * 0.95 = 1.9 -> 1500 + 0.9 * 1000 = 2400
    both = p95_latency(wh, by=None, source="both", **DAY).df
    assert both["latency_ms"].iloc[0] == pytest.approx(2400.0) and both["replies"].iloc[0] == 3
    with pytest.raises(ValueError):
        p95_latency(wh, source="nope", **DAY)


def test_p95_by_day_boundary_utc_vs_jakarta(wh):
    add_events(
        wh,
        [
            # 2026-03-02T18:30Z is 01:30 on Mar 3 in Jakarta
            ev("u1", "message_received", "2026-03-02T18:30:00Z", response_latency_ms=4000),
            ev("u1", "message_received", "2026-03-02T10:00:00Z", response_latency_ms=1000),
        ],
    )
    rng = {"start": "2026-03-02", "end": "2026-03-04"}
    jkt = p95_latency(wh, **rng).df
    assert jkt["day"].tolist() == [pd.Timestamp("2026-03-02"), pd.Timestamp("2026-03-03")]
    assert jkt["latency_ms"].tolist() == [1000, 4000]
    utc = p95_latency(wh, tz="UTC", **rng).df
    # both on Mar 2 in UTC: [1000, 4000] -> 1000 + 0.95 * 3000 = 3850; Mar 3 has none
    assert utc["latency_ms"].iloc[0] == pytest.approx(3850.0)
    assert utc["replies"].tolist() == [2, 0] and math.isnan(utc["latency_ms"].iloc[1])


def test_p95_breakdown_filter_week_not_observed_and_empty(wh):
    add_events(
        wh,
        _replies(person="a")
        + [ev("b", "message_received", _ts(9), response_latency_ms=300)]
        + [
            ev("a", "$identify", _ts(1), set_props={"country": "ID"}),
            ev("b", "$identify", _ts(1), set_props={"country": "AU"}),
        ],
    )
    d = p95_latency(wh, by=None, breakdown="country", **DAY).df.set_index("breakdown")
    assert d.loc["ID", "latency_ms"] == pytest.approx(2055.0) and d.loc["AU", "latency_ms"] == 300
    f = p95_latency(wh, by=None, filters={"country": "AU"}, **DAY).df
    assert f["replies"].tolist() == [1]
    w = p95_latency(wh, by="week", start="2026-03-02", end="2026-03-09").df
    assert w["week"].tolist() == [pd.Timestamp("2026-03-02")] and w["replies"].iloc[0] == 21
    # as_of in the middle of Mar 3: Mar 2 complete, Mar 3 not yet observed -> missing
    cut = p95_latency(wh, start="2026-03-02", end="2026-03-04", as_of=_ts(12, day=3)).df
    assert cut["replies"].iloc[0] == 21 and math.isnan(cut["replies"].iloc[1])
    e = p95_latency(wh, start="2026-03-02", end="2026-03-02")
    assert e.empty and list(e.df.columns) == ["day", "replies", "latency_ms"]


# ------------------------------------------------------------------------------------------
# Error rate and errors per hour
# ------------------------------------------------------------------------------------------


def test_error_rate_with_wilson_and_breakdown(wh):
    rows = [ev("u1", "message_sent", _ts(9, i), query_category="visa") for i in range(6)]
    rows += [ev("u2", "message_sent", _ts(10, i), query_category="tax") for i in range(2)]
    rows += [
        ev("u1", "error_occurred", _ts(9, 30), query_category="visa", error_type="timeout"),
        ev("u2", "error_occurred", _ts(10, 30), query_category="tax", error_type="llm"),
    ]
    add_events(wh, rows)
    res = error_rate(wh, **DAY)
    row = res.df.iloc[0]
    # 2 errors / 8 messages = 25%. Wilson: p = .25, z^2 = 3.8415, d = 1 + z^2/8 = 1.48018,
    # centre = (.25 + z^2/16) / d = .33110, half = 1.96 sqrt(.0234375 + .0150060) / d = .25963
    # -> [.0715, .5907]
    assert (row["errors"], row["messages"], row["error_rate"]) == (2, 8, 0.25)
    assert row["ci_low"] == pytest.approx(0.0715, abs=1e-3)
    assert row["ci_high"] == pytest.approx(0.5907, abs=1e-3)
    b = error_rate(wh, breakdown="query_category", **DAY).df.set_index("breakdown")
    assert b.loc["visa", "error_rate"] == pytest.approx(1 / 6) and b.loc["tax", "error_rate"] == 0.5
    f = error_rate(wh, filters={"query_category": "tax"}, by="day", **DAY).df
    assert (f["errors"].iloc[0], f["messages"].iloc[0]) == (1, 2)


def test_error_rate_more_errors_than_messages_and_no_messages(wh):
    add_events(
        wh,
        [
            ev("u1", "message_sent", _ts(9)),
            ev("u1", "error_occurred", _ts(9, 1)),
            ev("u1", "error_occurred", _ts(9, 2)),
            ev("u1", "error_occurred", _ts(9, 1, day=3)),  # Mar 3: errors but no messages
        ],
    )
    df = error_rate(wh, by="day", start="2026-03-02", end="2026-03-05").df
    # Mar 2: 2 / 1 = 2.0 (a ratio, not a share: no Wilson interval)
    assert df["error_rate"].iloc[0] == 2.0 and math.isnan(df["ci_low"].iloc[0])
    # Mar 3: no messages -> rate missing, not 0% (and not infinite); Mar 4: nothing at all
    assert df["errors"].tolist() == [2, 1, 0] and df["messages"].tolist() == [1, 0, 0]
    assert math.isnan(df["error_rate"].iloc[1]) and math.isnan(df["error_rate"].iloc[2])
    assert error_rate(wh, start="2026-03-02", end="2026-03-02").empty


def test_hourly_errors_max_and_partial_hour(wh):
    rows = [ev("u1", "error_occurred", _ts(10, m)) for m in (0, 15, 59)]  # 3 at 10:xx
    rows += [ev("u1", "error_occurred", _ts(11, 5))]  # 1 at 11:xx
    # 2026-03-02T17:30Z is 00:30 on Mar 3 in Jakarta: outside a Mar 2 range
    rows += [ev("u1", "error_occurred", "2026-03-02T17:30:00Z")]
    add_events(wh, rows)
    res = hourly_errors(wh, **DAY)
    assert len(res.df) == 24 and res.df["errors"].sum() == 4
    assert res.extra["max_errors"] == 3
    assert res.extra["max_hour"] == pd.Timestamp("2026-03-02 10:00")
    # in UTC, 10:xx Jakarta is 03:xx, and the 17:30Z error is on Mar 2
    utc = hourly_errors(wh, tz="UTC", **DAY)
    assert utc.extra["max_hour"] == pd.Timestamp("2026-03-02 03:00")
    assert utc.df["errors"].sum() == 5
    # as_of 11:30: hour 11 is not complete -> missing; its 1 error is a partial count
    cut = hourly_errors(wh, as_of=_ts(11, 30), **DAY)
    h = cut.df.set_index("hour")["errors"]
    assert h[pd.Timestamp("2026-03-02 10:00")] == 3 and math.isnan(
        h[pd.Timestamp("2026-03-02 11:00")]
    )
    assert cut.extra["partial_hour_errors"] == 1


# ------------------------------------------------------------------------------------------
# Cost
# ------------------------------------------------------------------------------------------


def test_cost_per_1k_and_per_active_user(wh):
    add_events(
        wh,
        [
            # anon-1 sends a message, then identifies as u1: one person
            ev("anon-1", "message_sent", _ts(8)),
            ev("u1", "$identify", _ts(8, 5), {"$anon_distinct_id": "anon-1"}),
            ev("u1", "message_sent", _ts(8, 6)),
            ev("u2", "message_sent", _ts(9)),
            ev("u1", "message_received", _ts(8, 1), response_cost_usd=0.002),
            ev("u1", "message_received", _ts(8, 7), response_cost_usd=0.004),
            ev("u2", "message_received", _ts(9, 1), response_cost_usd=0.006),
            ev("u2", "message_received", _ts(9, 2)),  # no cost: counts as a query
        ],
    )
    c = cost_per_1k(wh, **DAY).df.iloc[0]
    # 1000 * (0.002 + 0.004 + 0.006) / 4 replies = 3.00 USD per 1K
    assert c["queries"] == 4 and c["cost_usd"] == pytest.approx(0.012)
    assert c["cost_per_1k"] == pytest.approx(3.0)
    u = cost_per_active_user(wh, **DAY).df.iloc[0]
    # 2 active persons (anon-1 merged into u1, u2): 0.012 / 2 = 0.006
    assert u["active_users"] == 2 and u["cost_per_active_user"] == pytest.approx(0.006)
    # by day over two days: Mar 3 has no replies -> cost 0, cost per 1K missing
    d = cost_per_1k(wh, by="day", start="2026-03-02", end="2026-03-04").df
    assert d["queries"].tolist() == [4, 0] and math.isnan(d["cost_per_1k"].iloc[1])
    assert d["cost_usd"].iloc[1] == 0
    assert cost_per_1k(wh, start="2026-03-02", end="2026-03-02").empty


def test_cost_breakdown_and_filter(wh):
    add_events(
        wh,
        [
            ev("u1", "message_received", _ts(8), response_cost_usd=0.01, model_used="a"),
            ev("u1", "message_received", _ts(9), response_cost_usd=0.03, model_used="b"),
            ev("u1", "message_received", _ts(10), response_cost_usd=0.05, model_used="b"),
        ],
    )
    b = cost_per_1k(wh, breakdown="model_used", **DAY).df.set_index("breakdown")
    # a: 1000 * 0.01 / 1 = 10; b: 1000 * 0.08 / 2 = 40
    assert b.loc["a", "cost_per_1k"] == pytest.approx(10) and b.loc[
        "b", "cost_per_1k"
    ] == pytest.approx(40)
    f = cost_per_1k(wh, filters={"model_used": "b"}, **DAY).df
    assert f["queries"].tolist() == [2]


# ------------------------------------------------------------------------------------------
# Satisfaction
# ------------------------------------------------------------------------------------------


def _feedback_rows():
    rows = []
    # 10 messages: m0-m5 visa, m6-m9 tax; ratings +1 on m0-m6 (7), -1 on m7-m9 (3)
    for i in range(10):
        cat = "visa" if i < 6 else "tax"
        rows.append(ev("u1", "message_sent", _ts(8, i), message_id=f"m{i}", query_category=cat))
        rows.append(
            ev(
                "u1",
                "message_received",
                _ts(8, i),
                message_id=f"m{i}",
                model_used="gpt" if i % 2 else "claude",
            )
        )
        rows.append(
            ev("u1", "feedback_given", _ts(9, i), message_id=f"m{i}", rating=1 if i < 7 else -1)
        )
    rows.append(ev("u1", "feedback_given", _ts(9, 30), message_id="m0", rating=0))  # ignored
    return rows


def test_satisfaction_share_and_net_score(wh):
    add_events(wh, _feedback_rows())
    row = satisfaction(wh, **DAY).df.iloc[0]
    # 7 positive, 3 negative: share 70% (seed target); net = (7 - 3) / 10 = 0.4 = 2 * 0.7 - 1
    assert (row["feedbacks"], row["positive"], row["negative"]) == (10, 7, 3)
    assert row["share_positive"] == pytest.approx(0.7) and row["net_score"] == pytest.approx(0.4)
    ci = wilson(7, 10)  # [0.3968, 0.8922]
    assert row["ci_low"] == pytest.approx(0.3968, abs=1e-3)
    assert row["net_ci_low"] == pytest.approx(2 * ci.low - 1)
    assert row["net_ci_high"] == pytest.approx(2 * ci.high - 1)


def test_satisfaction_by_category_from_the_message_and_filter(wh):
    add_events(wh, _feedback_rows())
    d = satisfaction(wh, by="query_category", **DAY).df.set_index("query_category")
    # visa: m0-m5 all +1 -> 100%; tax: m6 +1, m7-m9 -1 -> 25%, net -0.5
    assert d.loc["visa", "share_positive"] == 1.0 and d.loc["visa", "feedbacks"] == 6
    assert d.loc["tax", "share_positive"] == 0.25 and d.loc["tax", "net_score"] == -0.5
    f = satisfaction(wh, filters={"query_category": "tax"}, **DAY).df
    assert f["feedbacks"].tolist() == [4]
    # by model (from message_received): claude = even ids m0 m2 m4 m6 m8 -> 4 of 5 positive
    m = satisfaction(wh, breakdown="model_used", **DAY).df.set_index("breakdown")
    assert m.loc["claude", "share_positive"] == pytest.approx(0.8)
    w = satisfaction(wh, by="week", start="2026-03-02", end="2026-03-16").df
    assert w["feedbacks"].tolist() == [10, 0] and math.isnan(w["share_positive"].iloc[1])
    assert satisfaction(wh, start="2026-03-02", end="2026-03-02").empty


# ------------------------------------------------------------------------------------------
# LLM usage
# ------------------------------------------------------------------------------------------


def test_llm_usage_by_model(wh):
    gen = "$ai_generation"
    add_events(
        wh,
        [
            # gpt via message_received: latencies 1000, 3000 ms; cost .01 + .03
            ev(
                "u1",
                "message_received",
                _ts(8),
                model_used="gpt",
                response_latency_ms=1000,
                response_cost_usd=0.01,
                response_tokens=100,
            ),
            ev(
                "u1",
                "message_received",
                _ts(9),
                model_used="gpt",
                response_latency_ms=3000,
                response_cost_usd=0.03,
                response_tokens=300,
            ),
            # claude via $ai_generation: 1 s, 2 s, 4 s; one error
            ev(
                "u1",
                gen,
                _ts(8),
                {
                    "$ai_model": "claude",
                    "$ai_latency": 1.0,
                    "$ai_input_tokens": 10,
                    "$ai_output_tokens": 5,
                    "$ai_total_cost_usd": 0.002,
                },
            ),
            ev(
                "u1",
                gen,
                _ts(9),
                {
                    "$ai_model": "claude",
                    "$ai_latency": 2.0,
                    "$ai_input_tokens": 20,
                    "$ai_output_tokens": 5,
                    "$ai_total_cost_usd": 0.002,
                },
            ),
            ev(
                "u1",
                gen,
                _ts(10),
                {
                    "$ai_model": "claude",
                    "$ai_latency": 4.0,
                    "$ai_input_tokens": 30,
                    "$ai_output_tokens": 5,
                    "$ai_total_cost_usd": 0.002,
                    "$ai_is_error": True,
                },
            ),
        ],
    )
    df = llm_usage(wh, **DAY).df.set_index("model")
    assert df.index.tolist() == ["claude", "gpt"]  # most queries first
    g, c = df.loc["gpt"], df.loc["claude"]
    # gpt: p50 = 2000, p95 = 1000 + 0.95 * 2000 = 2900; cost per 1K = 1000 * 0.04 / 2 = 20
    assert (g["queries"], g["output_tokens"], g["p50_ms"], g["p95_ms"]) == (2, 400, 2000, 2900)
    assert g["cost_per_1k"] == pytest.approx(20)
    assert g["generations"] == 0 and math.isnan(g["error_rate"])  # no $ai_generation: unknown
    # claude: [1000, 2000, 4000] -> p50 2000; p95 at 1.9 -> 2000 + 0.9 * 2000 = 3800
    assert (c["queries"], c["p50_ms"], c["p95_ms"]) == (3, 2000, pytest.approx(3800))
    assert (c["input_tokens"], c["output_tokens"], c["tokens"]) == (60, 15, 75)
    assert c["cost_per_1k"] == pytest.approx(2.0)  # 1000 * 0.006 / 3
    assert c["error_rate"] == pytest.approx(1 / 3) and c["ci_low"] == pytest.approx(
        wilson(1, 3).low
    )
    only = llm_usage(wh, source="message_received", **DAY).df
    assert only["model"].tolist() == ["gpt"]
    flt = llm_usage(wh, filters={"model_used": "claude"}, **DAY).df
    assert flt["queries"].tolist() == [3]
    e = llm_usage(wh, start="2026-03-02", end="2026-03-02")
    assert e.empty and "p95_ms" in e.df.columns
