"""Data quality of a report period: each check on hand-made events and loads.

Report week Mon 2026-03-09 .. Sun 2026-03-15 (cut-off Mon 2026-03-16 00:00 Jakarta); four
weeks before it have ten messages a day, the report week too except Wednesday (two).
"""

from __future__ import annotations

from datetime import date, timedelta

import pytest
from eventkit import add_events, ev

from zantara_nb.insights.data_quality import data_quality

WEEK = {"start": "2026-03-09", "end": "2026-03-16", "as_of": "2026-03-16", "tz": "Asia/Jakarta"}


def _rows() -> list[dict]:
    rows = []
    day = date(2026, 2, 9)
    while day < date(2026, 3, 16):
        n = 2 if day == date(2026, 3, 11) else 10
        for i in range(n):
            rows.append(ev(f"u{i}", "message_sent", f"{day}T10:{i:02d}:00+07:00"))
        day += timedelta(days=1)
    for i in range(3):  # a typo'd event name in the report week
        rows.append(ev(f"u{i}", "user_signedup", f"2026-03-12T09:0{i}:00+07:00"))
    for i in range(2):  # an id that is never a person
        rows.append(ev("guest", "message_sent", f"2026-03-13T09:0{i}:00+07:00"))
    return rows


@pytest.fixture
def filled(wh):
    add_events(wh, _rows())
    return wh


def test_event_checks(filled):
    dq = data_quality(filled, **WEEK)
    n = dq.numbers
    assert n["events"] == 62 + 3 + 2 and n["unknown_events"] == 3 and n["without_person"] == 2
    fresh = dq.check("freshness")
    assert (
        not fresh.warn
        and "2026-03-15 10:09 Asia/Jakarta" in fresh.value
        and "13.8 h" in fresh.value
    )
    vol = dq.check("volume")
    assert vol.warn and "days off: Wed 11 Mar −80%" in vol.value
    wed = dq.volume.set_index("weekday").loc["Wed"]
    assert (wed["events"], wed["expected"], wed["weeks"]) == (2, 10, 4)
    unknown = dq.check("unknown_events")
    assert unknown.warn and "user_signedup (3)" in unknown.value
    assert dq.unknown_events.to_dict("records") == [{"event": "user_signedup", "events": 3}]
    person = dq.check("without_person")
    assert not person.warn and person.value.startswith("2 (3.0% of the events)")
    assert dq.line().startswith("Data quality: 2 warnings — volume: ")
    assert len(dq.sql) >= 5 and all("events" in s or "loads" in s for s in dq.sql)
    html = dq.html()
    assert "⚠ 2 warnings." in html and "zantara-data-quality" in html
    # a later cut-off: the data is stale; thresholds can be changed
    later = data_quality(filled, **{**WEEK, "as_of": "2026-03-18", "end": "2026-03-18"},
                         thresholds={"stale_after_hours": 100})  # fmt: skip
    assert not later.check("freshness").warn
    stale = data_quality(filled, **{**WEEK, "as_of": "2026-03-18", "end": "2026-03-18"})
    assert stale.check("freshness").warn and "61.9 h" in stale.check("freshness").value


def test_an_empty_warehouse_is_not_fresh(wh):
    dq = data_quality(wh, **WEEK)
    assert dq.check("freshness").warn and dq.check("freshness").value == (
        "no event before the cut-off"
    )
    assert dq.check("volume").value == "no earlier weeks to compare with"


def test_load_checks(filled, warehouse_engine):
    if warehouse_engine != "duckdb":
        pytest.skip("the loads are written with DuckDB's UPDATE here")
    wh = filled
    d = wh.dialect
    loads = [
        # id, path, status, started (UTC), rows_read, loaded, duplicates, quarantined, unknown
        (1, "/in/week.jsonl", "ok", "2026-03-15 18:00", 100, 90, 7, 3, 4),
        (2, "/in/cut.jsonl", "interrupted", "2026-03-12 00:00", None, None, None, None, None),
        (3, "/in/bad.jsonl", "failed", "2026-03-13 00:00", None, None, None, None, None),
        (4, "/in/old.jsonl", "ok", "2026-01-01 00:00", 10, 5, 0, 5, 0),
        (5, "/in/early.jsonl", "ok", "2026-03-12 00:00", 1, 1, 0, 0, 0),
    ]
    for lid, path, status, started, *counts in loads:
        vals = ", ".join("NULL" if c is None else str(c) for c in counts)
        wh.execute(
            "INSERT INTO loads (load_id, path, status, started_at, rows_read, loaded, "
            f"duplicates, quarantined, unknown_properties, message) VALUES ({lid}, "
            f"{d.str_lit(path)}, {d.str_lit(status)}, {d.ts_lit(_utc(started))}, {vals}, "
            f"{d.str_lit('killed' if status != 'ok' else '')})"
        )
    for lid, reason, k in ((1, "invalid_property", 2), (1, "future_timestamp", 1),
                           (4, "malformed_json", 5)):  # fmt: skip
        for _ in range(k):
            wh.execute(f"INSERT INTO quarantine (load_id, reason) VALUES ({lid}, '{reason}')")
    start = d.ts_lit(_utc("2026-03-09 00:00") - timedelta(hours=7))
    wh.execute(f"UPDATE events SET load_id = 1 WHERE timestamp >= {start}")
    # one event timestamped two days after the load that brought it started
    wh.execute(
        "UPDATE events SET load_id = 5 WHERE event = 'message_sent' AND distinct_id = 'u0' "
        f"AND timestamp = {d.ts_lit(_utc('2026-03-14 03:00'))}"
    )
    dq = data_quality(wh, **WEEK)
    n = dq.numbers
    assert (n["loads"], n["duplicates"], n["rows_read"]) == (4, 7, 101)
    assert n["quarantined_by_reason"] == {"invalid_property": 2, "future_timestamp": 1}
    assert dq.check("duplicates").value == "7 rows" and not dq.check("duplicates").warn
    assert dq.check("plan_violations").warn and dq.check("plan_violations").value == (
        "2 rows quarantined"
    )
    q = dq.check("quarantine")
    assert q.warn and q.value == "3 (3.0% of the rows read): invalid_property 2, future_timestamp 1"
    il = dq.check("interrupted_loads")
    assert il.warn and il.value == "1 interrupted, 1 failed: cut.jsonl, bad.jsonl"
    assert dq.problem_loads["load_id"].tolist() == [2, 3]
    skew = dq.check("clock_skew")
    assert skew.warn and skew.value.startswith("1 (1.5% of the events), 1 quarantined as future")
    up = dq.check("unknown_properties")
    assert up.warn and up.value == "4 (4.4% of the loaded rows)"
    assert "interrupted loads: 1 interrupted" in dq.line()


def _utc(text: str):
    from datetime import UTC, datetime

    return datetime.fromisoformat(text).replace(tzinfo=UTC)
