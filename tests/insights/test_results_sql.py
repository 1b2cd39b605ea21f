"""Insight results carry their SQL (``.sql``): every statement, in order, runnable as shown.

A small warehouse with a few weeks of chat, replies (by message id and by session only),
feedback, errors, pricing views, voice use, signups, subscriptions and one feature flag;
each insight is run on it, then each statement of its ``.sql`` is run again, in order, on
a fresh read-only connection to the same file.
"""

from __future__ import annotations

from datetime import date, timedelta

import pytest
from enginekit import fresh_on_engine, on_engine
from eventkit import add_events, ev

from zantara_nb import Warehouse
from zantara_nb.insights import alerts, anomalies, churn, experiments, queries, segments
from zantara_nb.warehouse.sqltrace import SQL_BLOCK_CLASS, Statements

TZ = "Asia/Jakarta"
AS_OF = "2026-03-30"
KW = {"as_of": AS_OF, "tz": TZ}
FIRST = date(2026, 2, 2)  # a Monday; eight weeks of events up to 03-29


def J(day: date, hour: int, minute: int = 0) -> str:
    return f"{day.isoformat()}T{hour:02d}:{minute:02d}:00+07:00"


def _rows() -> list[dict]:
    cats = ("visa", "tax", "business", "pricing")
    rows = []
    for p in range(6):
        person = f"u{p}"
        plan = "pro" if p % 2 else "free"
        rows.append(ev(person, "user_signed_up", J(FIRST, 8), set_props={"plan": plan}))
        rows.append(
            ev(
                person,
                "$feature_flag_called",
                J(FIRST, 8, 30),
                {"$feature_flag": "f", "$feature_flag_response": "test" if p % 2 else "control"},
            )
        )
        for k in range(0, 56 - 7 * (p // 2), 2):  # u4, u5 stop two weeks early
            day = FIRST + timedelta(days=k)
            session = f"s{p}-{k}"
            for m in range(1 + (k + p) % 3):
                mid = f"m{p}-{k}-{m}"
                cat = cats[(p + k + m) % len(cats)]
                rows.append(
                    ev(
                        person,
                        "message_sent",
                        J(day, 9 + m),
                        message_id=mid,
                        session_id=session,
                        query_category=cat,
                        query_intent="information",
                        query_complexity="simple",
                        query_language="en",
                    )
                )
                reply = {"response_latency_ms": 900 + 10 * m, "sources_count": m}
                if m % 2 == 0:
                    reply["message_id"] = mid  # else: paired by session
                rows.append(
                    ev(person, "message_received", J(day, 9 + m, 1), session_id=session, **reply)
                )
            if k % 6 == 0:
                rows.append(ev(person, "feedback_given", J(day, 12), rating=1 if p % 3 else -1))
            if k % 10 == 0:
                rows.append(ev(person, "error_occurred", J(day, 13)))
                rows.append(ev(person, "page_viewed", J(day, 14), path="/pricing"))
                rows.append(ev(person, "voice_used", J(day, 15)))
        if p % 2:
            rows.append(
                ev(person, "subscription_started", J(FIRST + timedelta(days=3), 10), plan="pro")
            )
    rows.append(ev("late", "message_sent", J(date(2026, 3, 29), 23, 30), query_category="visa"))
    return rows


@pytest.fixture(scope="module")
def path(tmp_path_factory):
    p = tmp_path_factory.mktemp("sql") / "w.duckdb"
    with Warehouse(p, engine="duckdb") as wh:
        add_events(wh, _rows())
    return p


@pytest.fixture(scope="module")
def wh(path, warehouse_engine):
    w = on_engine(path)
    yield w
    w.close()


CALLS = {
    "top_categories": lambda wh: queries.top_categories(wh, window="28d", **KW),
    "top_categories-breakdown": lambda wh: queries.top_categories(
        wh, window="28d", breakdown="plan", **KW
    ),
    "distribution": lambda wh: queries.distribution(wh, "category", window="28d", **KW),
    "low_satisfaction": lambda wh: queries.low_satisfaction(wh, min_feedbacks=1, **KW),
    "trending": lambda wh: queries.trending(wh, min_last_week=1, **KW),
    "sessions": lambda wh: queries.sessions(wh, window="28d", **KW),
    "sessions-breakdown": lambda wh: queries.sessions(
        wh, by=["user_type"], breakdown="query_category", window="28d", **KW
    ),
    "segments": lambda wh: segments.segments(wh, weeks=4, **KW),
    "segment_members": lambda wh: segments.segment_members(wh, "at_risk", **KW),
    "rule_score": lambda wh: churn.rule_score(wh, **KW),
    "at_risk": lambda wh: churn.at_risk(wh, **KW),
    "churn_model": lambda wh: churn.churn_model(wh, train_refs=1, feature_days=14, **KW),
    "experiments": lambda wh: experiments.experiments(wh, **KW),
    "experiment": lambda wh: experiments.experiment(wh, "f", goal="message_sent", **KW),
    "experiment-activation": lambda wh: experiments.experiment(wh, "f", **KW),
    "experiment-mean": lambda wh: experiments.experiment(
        wh, "f", goal=experiments.MeanGoal("sources_count"), **KW
    ),
    "anomalies": lambda wh: anomalies.anomalies(wh, days=14, **KW),
    "explain": lambda wh: anomalies.explain(wh, "p95_latency_ms", "2026-03-23", tz=TZ),
    "evaluate_alerts": lambda wh: alerts.evaluate_alerts(wh, notify=False, **KW),
}


@pytest.mark.parametrize("name", list(CALLS))
def test_result_carries_runnable_sql(name, wh, path):
    res = CALLS[name](wh)
    sql = res.sql
    assert isinstance(sql, Statements)
    assert len(sql) > 0
    assert all(s.strip() for s in sql)
    assert str(sql).count(";") >= len(sql)
    with fresh_on_engine(path) as fresh:
        for statement in sql:
            fresh.execute(statement).fetchall()


@pytest.mark.parametrize("name", ["top_categories", "sessions", "segments", "rule_score"])
def test_the_last_statement_gives_the_rows_shown(name, wh, path):
    """The statements are the query itself: running the last one again gives the same
    number of rows the result was built from (no hidden step between)."""
    res = CALLS[name](wh)
    with fresh_on_engine(path) as fresh:
        again = fresh.sql(res.sql[-1])
    assert len(again) >= 1
    if name == "rule_score":
        assert len(again) == len(res.df)
        assert sorted(again["person"]) == sorted(res.df["person"])


@pytest.mark.parametrize(
    "name", ["churn_model", "experiment", "anomalies", "evaluate_alerts", "segments"]
)
def test_html_shows_the_sql_collapsed(name, wh):
    """Insight results with their own HTML show the SQL block too (the analyst page keeps
    it, the reader page removes it by its class)."""
    res = CALLS[name](wh)
    page = res._repr_html_()
    assert f"<details class='{SQL_BLOCK_CLASS}'>" in page
    assert f"SQL ({len(res.sql)} statement" in page
