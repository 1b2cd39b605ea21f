"""Analysts' typos: a name the warehouse has never seen warns (UnknownNameWarning) with
the closest names that exist, and the call still returns its (empty) result."""

from __future__ import annotations

import warnings

import pytest

import zantara_nb as z
from tests.eventkit import add_events, ev
from zantara_nb.warehouse.scope import UnknownNameWarning

RANGE = {"start": "2026-03-02", "end": "2026-03-09", "tz": "Asia/Jakarta"}


@pytest.fixture
def wh(tmp_path):
    w = z.Warehouse(tmp_path / "w.duckdb")
    rows = []
    for i in range(6):
        u = f"u{i}"
        rows += [
            ev(u, "user_signed_up", f"2026-03-0{2 + i % 3} 09:00+07:00", {"country": "ID"}),
            ev(
                u,
                "message_sent",
                f"2026-03-0{2 + i % 3} 09:05+07:00",
                {"query_category": "visa", "country": "ID"},
            ),  # fmt: skip
        ]
    add_events(w, rows)
    yield w
    w.close()


def test_funnel_step_never_seen(wh):
    with pytest.warns(UnknownNameWarning) as rec:
        res = z.funnel(wh, ["user_signedup", "message_sent"], **RANGE)
    [w] = rec.list
    text = str(w.message)
    assert "funnel step 'user_signedup'" in text and "did you mean: user_signed_up" in text
    assert w.filename == __file__  # points at the analyst's line, not the package
    assert res.df.empty or int(res.df["persons"].iloc[0]) == 0


def test_filter_on_a_property_no_event_carries(wh):
    with pytest.warns(UnknownNameWarning, match=r"property 'contry'.*did you mean: country"):
        res = z.dau(wh, filters={"contry": "ID"}, **RANGE)
    assert res.df["dau"].fillna(0).sum() == 0
    with pytest.warns(UnknownNameWarning, match=r"property 'event:query_categry'.*query_category"):
        z.dau(wh, filters={"event:query_categry": "visa"}, **RANGE)


def test_breakdown_on_a_property_no_event_carries(wh):
    with pytest.warns(UnknownNameWarning, match=r"'query_categry'.*did you mean: query_category"):
        res = z.dau(wh, breakdown="query_categry", **RANGE)
    assert set(res.df["breakdown"].dropna()) <= {"(none)"}


def test_unknown_time_zone(wh):
    with pytest.warns(UnknownNameWarning, match=r"time zone 'Asia/Jakata'.*Asia/Jakarta"):
        res = z.dau(wh, start="2026-03-02", end="2026-03-09", tz="Asia/Jakata")
    assert res.df.empty


def test_known_names_do_not_warn(wh):
    with warnings.catch_warnings():
        warnings.simplefilter("error", UnknownNameWarning)
        z.funnel(wh, ["user_signed_up", "message_sent"], **RANGE)
        z.dau(wh, filters={"country": "ID", "query_category": "visa"}, **RANGE)
        z.dau(wh, breakdown="event:country", **RANGE)
        z.dau(wh, filters={"plan": "pro"}, **RANGE)  # a person property: always known


def test_a_name_that_appears_later_stops_warning(wh):
    with pytest.warns(UnknownNameWarning):
        z.funnel(wh, ["user_signed_up", "payment_failed"], **RANGE)
    add_events(wh, [ev("u1", "payment_failed", "2026-03-03 10:00+07:00", {"brand": "x"})])
    with warnings.catch_warnings():
        warnings.simplefilter("error", UnknownNameWarning)
        z.funnel(wh, ["user_signed_up", "payment_failed"], **RANGE)
        z.dau(wh, filters={"brand": "x"}, **RANGE)


def test_the_lookups_are_not_part_of_the_result_sql(wh):
    with pytest.warns(UnknownNameWarning):
        res = z.dau(wh, filters={"contry": "ID"}, **RANGE)
    assert not any("SELECT DISTINCT event" in s or "LIMIT 1" in s for s in res.sql)
