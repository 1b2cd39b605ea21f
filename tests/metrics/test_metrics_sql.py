"""Every metric result carries the SQL that produced it, runnable on its engine."""

from __future__ import annotations

import pytest
from demo_cache import AS_OF, small_demo
from enginekit import fresh_on_engine, on_engine

import zantara_nb as z
from zantara_nb.warehouse.sqltrace import Statements, format_statement

RANGE = {"start": "2026-07-01", "end": "2026-08-17", "as_of": AS_OF}

CALLS = {
    "active_users": lambda wh: z.active_users(wh, **RANGE),
    "dau": lambda wh: z.dau(wh, **RANGE, breakdown="country"),
    "stickiness": lambda wh: z.stickiness(wh, **RANGE),
    "stickiness_distribution": lambda wh: z.stickiness_distribution(wh, **RANGE),
    "growth_rate": lambda wh: z.growth_rate(wh, **RANGE),
    "north_star": lambda wh: z.north_star(wh, as_of=AS_OF),
    "engagement": lambda wh: z.engagement(wh, **RANGE),
    "lifecycle": lambda wh: z.lifecycle(wh, **RANGE),
    "activation": lambda wh: z.activation(wh, **RANGE),
    "activation_series": lambda wh: z.activation_series(wh, **RANGE),
    "week2_retention": lambda wh: z.week2_retention(wh, **RANGE),
    "paid_conversion": lambda wh: z.paid_conversion(wh, **RANGE),
    "retention": lambda wh: z.retention(wh, **RANGE),
    "nday_retention": lambda wh: z.nday_retention(wh, **RANGE),
    "churn_rate": lambda wh: z.churn_rate(wh, **RANGE),
    "funnel": lambda wh: z.funnel(wh, z.SEED_FUNNEL, **RANGE),
    "mrr": lambda wh: z.mrr(wh, **RANGE),
    "mrr_movements": lambda wh: z.mrr_movements(wh, **RANGE),
    "nps": lambda wh: z.nps(wh, **RANGE),
    "p95_latency": lambda wh: z.p95_latency(wh, **RANGE),
    "error_rate": lambda wh: z.error_rate(wh, **RANGE),
    "hourly_errors": lambda wh: z.hourly_errors(wh, **RANGE),
    "cost_per_1k": lambda wh: z.cost_per_1k(wh, **RANGE),
    "cost_per_active_user": lambda wh: z.cost_per_active_user(wh, **RANGE),
    "satisfaction": lambda wh: z.satisfaction(wh, by="query_category", **RANGE),
    "llm_usage": lambda wh: z.llm_usage(wh, **RANGE),
    "kpis": lambda wh: z.kpis(wh, as_of=AS_OF),
}


@pytest.fixture(scope="module")
def path(tmp_path_factory):
    return small_demo(tmp_path_factory)


@pytest.fixture(scope="module")
def wh(path, warehouse_engine):
    w = on_engine(path)
    yield w
    w.close()


@pytest.mark.parametrize("name", sorted(CALLS))
def test_result_carries_runnable_sql(wh, path, name):
    res = CALLS[name](wh)
    assert isinstance(res.sql, Statements) and len(res.sql) >= 1, name
    assert res.definition, f"{name}: no definition in words"
    with fresh_on_engine(path) as fresh:  # as an analyst would paste them
        for stmt in res.sql:  # each statement runs as written, in order
            fresh.execute(stmt).fetchall()
    assert str(res.sql).count(";") >= len(res.sql)


def test_sql_reproduces_the_numbers(wh):
    """The last statement of mrr() is the query whose rows are the result."""
    res = z.mrr(wh, **RANGE)
    again = wh.sql(res.sql[-1])
    assert list(again["mrr"].round(6)) == list(res.df["mrr"].round(6))


def test_outer_results_hold_the_sql_of_the_metrics_they_read(wh):
    k = z.kpis(wh, as_of=AS_OF)
    w = z.wau(wh, as_of=AS_OF, window="7d")
    assert len(k.sql) > len(w.sql)
    assert any("message_sent" in s for s in k.sql)


def test_analyst_view_shows_the_sql_collapsed(wh):
    page = z.error_rate(wh, **RANGE)._repr_html_()
    assert "<details class='zantara-sql'>" in page
    assert "FROM events" in page


def test_parameters_are_written_in_as_literals():
    from zantara_nb.warehouse.dialects import DuckDBDialect

    q = DuckDBDialect().quote
    text = format_statement("\n    SELECT ? AS a, '?' AS b, $x AS c\n", ["it's"], q)
    assert text == "SELECT 'it''s' AS a, '?' AS b, $x AS c"
    assert format_statement("SELECT $x", {"x": 3}, q) == "SELECT 3"
