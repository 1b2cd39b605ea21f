"""Each dialect primitive, run on its engine, against hand-worked values.

The same expectations hold for every engine: a new engine's dialect is added to
``ENGINES`` and must pass unchanged.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta, timezone

import pytest

from zantara_nb import Warehouse
from zantara_nb.warehouse.dialects import Dialect, DuckDBDialect
from zantara_nb.warehouse.engines import Engine, engine_names, get_engine, register_engine

ENGINES = ["duckdb", "chdb"]


@pytest.fixture(params=ENGINES)
def wh(request, tmp_path):
    w = Warehouse(tmp_path / "w.duckdb", engine=request.param)
    yield w
    w.close()


def one(wh, expr: str):
    return wh.scalar(f"SELECT {expr}")


def test_quote_is_the_one_literal_function(wh):
    d = wh.dialect
    assert one(wh, d.quote("it's")) == "it's"
    assert one(wh, d.quote(None)) is None
    assert one(wh, d.quote(True)) is True
    assert one(wh, d.quote(3)) == 3 and one(wh, d.quote(2.5)) == 2.5
    assert one(wh, d.quote(date(2026, 3, 1))) == date(2026, 3, 1)
    moment = datetime(2026, 3, 1, 9, 30, tzinfo=timezone(timedelta(hours=7)))
    assert one(wh, d.quote(moment)) == datetime(2026, 3, 1, 2, 30, tzinfo=UTC)
    with pytest.raises(ValueError):
        d.quote(float("nan"))
    with pytest.raises(ValueError):
        d.ts_lit(datetime(2026, 3, 1))  # naive: zone unknown
    assert one(wh, f"'x' IN ({d.str_list(['a', 'x', 'its'])})") is True


def test_local_time_and_buckets(wh):
    d = wh.dialect
    # 2026-03-01 (a Sunday) 20:30 UTC is Monday 2026-03-02 03:30 in Jakarta (UTC+7)
    t = d.ts_lit(datetime(2026, 3, 1, 20, 30, tzinfo=UTC))
    assert one(wh, d.local_ts(t, "Asia/Jakarta")) == datetime(2026, 3, 2, 3, 30)
    assert one(wh, d.bucket("day", t, "Asia/Jakarta")) == date(2026, 3, 2)
    assert one(wh, d.bucket("week", t, "Asia/Jakarta")) == date(2026, 3, 2)  # Monday
    assert one(wh, d.bucket("week", t, "UTC")) == date(2026, 2, 23)
    assert one(wh, d.bucket("month", t, "Asia/Jakarta")) == date(2026, 3, 1)
    assert one(wh, d.bucket("hour", t, "Asia/Jakarta")) == datetime(2026, 3, 2, 3)
    with pytest.raises(ValueError):
        d.bucket("fortnight", t, "UTC")


def test_date_arithmetic(wh):
    d = wh.dialect
    jan31 = d.date_lit(date(2026, 1, 31))
    assert one(wh, d.add_days(jan31, 1)) == date(2026, 2, 1)
    assert one(wh, d.add_months(jan31, 1)) == date(2026, 2, 28)  # end of the shorter month
    assert one(wh, d.days_between(jan31, d.date_lit(date(2026, 3, 2)))) == 30
    assert (
        one(wh, d.months_between(d.date_lit(date(2025, 11, 1)), d.date_lit(date(2026, 2, 1)))) == 3
    )
    t = d.ts_lit(datetime(2026, 3, 1, tzinfo=UTC))
    assert one(wh, d.add_seconds(t, 90)) == datetime(2026, 3, 1, 0, 1, 30, tzinfo=UTC)
    assert one(wh, d.add_microseconds(t, 5)) == datetime(2026, 3, 1, 0, 0, 0, 5, tzinfo=UTC)
    assert one(wh, d.epoch_us(t)) == 1772323200 * 1_000_000
    assert one(wh, d.epoch_ms(t)) == 1772323200 * 1_000
    assert one(wh, d.from_epoch_us("1772323200000000")) == datetime(2026, 3, 1, tzinfo=UTC)
    assert one(wh, d.utc_from_epoch_us("1772323200000000")) == datetime(2026, 3, 1, tzinfo=UTC)
    assert one(wh, d.int_div("17", 5)) == 3


def test_calendar_series_and_values(wh):
    d = wh.dialect
    days = wh.sql(d.calendar(date(2026, 2, 27), date(2026, 3, 2)))["day"]
    assert [x.date() for x in days] == [date(2026, 2, 27), date(2026, 2, 28), date(2026, 3, 1)]
    assert wh.sql(f"SELECT i FROM {d.int_series(3, 6)}")["i"].tolist() == [3, 4, 5]
    rows = wh.sql(f"SELECT k FROM {d.values_table([(0,), (7,)], ['k'], 'w')} ORDER BY k")
    assert rows["k"].tolist() == [0, 7]


def test_aggregates(wh):
    d = wh.dialect
    wh.execute("CREATE TABLE t (g INTEGER, v DOUBLE, ts INTEGER, u VARCHAR)")
    wh.execute(
        "INSERT INTO t VALUES (1, 1, 3, 'a'), (1, 2, 1, 'b'), (1, 10, 2, 'c'), (1, 4, 1, 'a')"
    )
    row = wh.sql(
        f"SELECT {d.count_if('v > 1.5')} AS n, {d.bool_or('v > 5')} AS any5, "
        f"{d.arg_min('v', 'ts')} AS first_v, {d.arg_max('v', d.row_key('ts', 'u'))} AS last_v, "
        f"{d.quantile('v', 0.5)} AS med, {d.median('v')} AS med2, {d.quantile('v', 0.95)} AS p95 "
        "FROM t"
    ).iloc[0]
    assert row["n"] == 3 and bool(row["any5"]) is True
    assert row["first_v"] in (2.0, 4.0)  # ts 1 twice: either row
    assert row["last_v"] == 1.0  # ts 3
    assert row["med"] == 3.0 and row["med2"] == 3.0  # (2 + 4) / 2
    assert row["p95"] == pytest.approx(4 + 0.85 * 6)  # linear between the order statistics
    assert one(wh, f"{d.any_value('g')} FROM t") == 1
    assert list(one(wh, f"{d.list_agg('u', 'ts, u')} FROM t")) == [
        "a",
        "b",
        "c",
        "a",
    ]  # (1,a) (1,b) (2,c) (3,a)


def test_json_text_and_hashes(wh):
    d = wh.dialect
    doc = d.quote('{"a": "x", "$ai_latency": 1.5, "we\\"ird": "y", "n": null}')
    assert one(wh, d.json_text(doc, "a")) == "x"
    assert one(wh, d.json_text(doc, "$ai_latency")) == "1.5"
    assert one(wh, d.json_text(doc, "missing")) is None
    assert one(wh, d.json_text(doc, "n")) is None
    assert one(wh, d.try_cast(d.quote("12x"), "BIGINT")) is None
    assert one(wh, d.cast(d.quote("12"), "BIGINT")) == 12
    assert one(wh, d.null("DOUBLE")) is None
    h = one(wh, d.person_hash(d.quote("p1")))
    assert isinstance(h, int) and h == one(wh, d.person_hash(d.quote("p1")))
    from zantara_nb.warehouse.privacy import HASH_CHARS, hash_id, hash_salt

    assert one(wh, d.salted_hash(d.quote("p1"), hash_salt(), HASH_CHARS)) == hash_id("p1")


def test_id_key_is_equal_exactly_when_the_ids_are(wh):
    d = wh.dialect
    a, b = (
        d.quote("0192f0e4-0000-7000-8000-000000000001"),
        d.quote("0192f0e4-0000-7000-8000-000000000002"),
    )
    assert one(wh, f"{d.id_key(a)} = {d.id_key(a)}") in (True, 1)
    assert one(wh, f"{d.id_key(a)} = {d.id_key(b)}") in (False, 0)
    assert one(wh, f"{d.id_key(d.null('VARCHAR'))} IS NULL") in (True, 1)


def test_engine_registry():
    assert "duckdb" in engine_names()
    with pytest.raises(ValueError, match="unknown warehouse engine 'nope'.*duckdb"):
        get_engine("nope")

    class Memo(Engine):
        """A stand-in engine that only records what it is asked."""

        name = "memo"

        def __init__(self, path, **kw):
            self.dialect, self.path, self.asked = Dialect(), path, []

        def execute(self, query, params=None):
            self.asked.append(query)

        def frame(self, query, params=None):
            raise NotImplementedError

        def create_schema(self):
            self.asked.append("schema")

        def close(self):
            pass

    register_engine("memo", Memo)
    w = Warehouse(":memory:", engine="memo")
    assert w.engine.asked == ["schema"] and w.dialect.name == "portable"
    with pytest.raises(NotImplementedError, match="portable dialect has no local_ts"):
        w.dialect.local_ts("x", "UTC")


def test_portable_forms_run_on_duckdb(wh):
    """The base class's portable SQL is valid SQL (checked on DuckDB)."""
    base = Dialect()
    wh.execute("CREATE TABLE p (v INTEGER)")
    wh.execute("INSERT INTO p VALUES (1), (5), (7)")
    assert one(wh, f"{base.count_if('v > 2')} FROM p") == 2
    assert one(wh, f"{base.bool_or('v > 6')} FROM p") is True
    assert one(wh, f"{base.bool_or('v > 9')} FROM p") is False
    assert isinstance(DuckDBDialect(), Dialect)
