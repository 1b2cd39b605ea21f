"""Scope resolution: ranges, timezones, as_of, filters (METRICS.md section 0)."""

from __future__ import annotations

from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from eventkit import add_events, ev

from zantara_nb import Warehouse
from zantara_nb.warehouse.scope import last_complete_period, parse_window, resolve


@pytest.fixture
def wh():
    w = Warehouse(":memory:")
    add_events(
        w,
        [
            # 16:30 UTC = 23:30 in Jakarta (same day); 17:30 UTC = 00:30 next local day
            ev("a", "message_sent", "2026-03-02T16:30:00Z", query_category="visa"),
            ev("b", "message_sent", "2026-03-02T17:30:00Z", query_category="tax"),
            ev("b", "$identify", "2026-03-01T00:00:00Z", set_props={"country": "ID"}),
        ],
    )
    yield w
    w.close()


def days(wh, s):
    q = f"SELECT distinct_id, {s.bucket('day')} AS d FROM ({s.events_cte('message_sent')}) ORDER BY 1"
    return dict(wh.con.execute(q).fetchall())


def test_local_day_buckets_follow_the_report_timezone(wh):
    s = resolve(wh, start="2026-03-01", end="2026-03-05")
    assert days(wh, s) == {"a": date(2026, 3, 2), "b": date(2026, 3, 3)}
    utc = resolve(wh, start="2026-03-01", end="2026-03-05", tz="UTC")
    assert days(wh, utc) == {"a": date(2026, 3, 2), "b": date(2026, 3, 2)}


def test_range_is_end_exclusive_in_local_time(wh):
    s = resolve(wh, start="2026-03-01", end="2026-03-03")  # local days 1 and 2 only
    assert set(days(wh, s)) == {"a"}
    assert s.start_utc == datetime(2026, 2, 28, 17, tzinfo=ZoneInfo("UTC"))


def test_as_of_cuts_observation(wh):
    s = resolve(wh, start="2026-03-01", end="2026-03-05", as_of="2026-03-03T00:00:00+07:00")
    assert set(days(wh, s)) == {"a"}


def test_default_range_ends_with_the_data(wh):
    s = resolve(wh, window="7d")
    assert s.end == date(2026, 3, 4) and s.start == date(2026, 2, 25)
    assert s.as_of_utc > datetime(2026, 3, 2, 17, 30, tzinfo=ZoneInfo("UTC"))


def test_filters_and_breakdown(wh):
    s = resolve(wh, start="2026-03-01", end="2026-03-05", filters={"country": "ID"})
    assert set(days(wh, s)) == {"b"}
    s = resolve(wh, start="2026-03-01", end="2026-03-05", filters={"query_category": ["visa"]})
    assert set(days(wh, s)) == {"a"}
    s = resolve(wh, start="2026-03-01", end="2026-03-05", breakdown="country")
    rows = wh.con.execute(
        f"SELECT distinct_id, breakdown FROM ({s.events_cte('message_sent')})"
    ).fetchall()
    assert dict(rows) == {"a": "(none)", "b": "ID"}


def test_bad_arguments_are_rejected(wh):
    with pytest.raises(TypeError, match="unknown argument"):
        resolve(wh, strat="2026-03-01")
    with pytest.raises(ValueError, match="after end"):
        resolve(wh, start="2026-03-05", end="2026-03-01")
    with pytest.raises(ValueError, match="not a property"):
        resolve(wh, filters={"x; DROP TABLE events": 1}).filter_sql()


def test_previous_period_and_windows(wh):
    s = resolve(wh, start="2026-03-09", end="2026-03-16")
    p = s.previous()
    assert (p.start, p.end) == (date(2026, 3, 2), date(2026, 3, 9))
    assert parse_window("4w") == timedelta(days=28) and parse_window(3) == timedelta(days=3)
    with pytest.raises(ValueError):
        parse_window("soon")


@pytest.mark.parametrize(
    "as_of,period,expected",
    [
        ("2026-11-24", "week", (date(2026, 11, 16), date(2026, 11, 23))),  # Tuesday
        ("2026-11-23", "week", (date(2026, 11, 16), date(2026, 11, 23))),  # Monday 00:00
        ("2026-11-23T07:00:00", "week", (date(2026, 11, 16), date(2026, 11, 23))),
        ("2026-11-24", "month", (date(2026, 10, 1), date(2026, 11, 1))),
        ("2026-03-01", "month", (date(2026, 2, 1), date(2026, 3, 1))),
        ("2026-11-24", "day", (date(2026, 11, 23), date(2026, 11, 24))),
    ],
)
def test_last_complete_period(as_of, period, expected):
    assert last_complete_period(as_of, period, "Asia/Jakarta") == expected


def test_event_and_person_prefixes_choose_where_a_key_is_read(wh):
    add_events(
        wh,
        [
            ev("c", "$identify", "2026-03-01T00:00:00Z", set_props={"plan": "free"}),
            ev("c", "subscription_started", "2026-03-02T05:00:00Z", plan="pro", price_usd=29.0),
        ],
    )
    s = resolve(wh, start="2026-03-01", end="2026-03-05", breakdown="event:plan")
    rows = wh.con.execute(
        f"SELECT breakdown FROM ({s.events_cte('subscription_started')})"
    ).fetchall()
    assert rows == [("pro",)]
    s = resolve(wh, start="2026-03-01", end="2026-03-05", breakdown="plan")
    rows = wh.con.execute(
        f"SELECT breakdown FROM ({s.events_cte('subscription_started')})"
    ).fetchall()
    assert rows == [("free",)]  # the person's latest plan property
    with pytest.raises(ValueError, match="not a person property"):
        resolve(wh, filters={"person:query_category": "visa"}).filter_sql()
