"""DuckDB's spelling of the dialect primitives (the embedded default engine)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, datetime
from typing import ClassVar

from .base import Dialect


class DuckDBDialect(Dialect):
    """DuckDB SQL: ``timezone()``, ``epoch_us()``, ``arg_min()``, ``range()`` calendars, ..."""

    name: ClassVar[str] = "duckdb"
    ENGINE_FUNCTIONS: ClassVar[frozenset[str]] = frozenset(
        {
            "timezone",
            "date_trunc",
            "date_diff",
            "datediff",
            "date_add",
            "year",
            "month",
            "strftime",
            "strptime",
            "epoch",
            "epoch_us",
            "epoch_ms",
            "make_timestamp",
            "make_timestamptz",
            "to_timestamp",
            "range",
            "generate_series",
            "json_extract_string",
            "json_extract",
            "json_value",
            "arg_min",
            "arg_max",
            "min_by",
            "max_by",
            "any_value",
            "count_if",
            "bool_or",
            "bool_and",
            "quantile_cont",
            "median",
            "quantile_disc",
            "list",
            "array_agg",
            "string_agg",
            "unnest",
            "hash",
            "sha256",
            "md5",
            "try_cast",
        }
    )
    ENGINE_SYNTAX: ClassVar[tuple[str, ...]] = (
        r"\bTIMESTAMPTZ\s*'",
        r"\bINTERVAL\b",
        r"::\s*[A-Za-z]",
        r"\bASOF\b",
        r"\*\s*EXCLUDE\b",
        r"\bQUALIFY\b",
    )
    TYPES: ClassVar[dict[str, str]] = {
        **Dialect.TYPES,
        "HUGEINT": "HUGEINT",
        "TIMESTAMPTZ": "TIMESTAMPTZ",
        "TIMESTAMP": "TIMESTAMP",
    }

    def ts_lit(self, moment: datetime) -> str:
        return f"TIMESTAMPTZ '{self.utc(moment).isoformat()}'"

    def try_cast(self, expr: str, type_name: str) -> str:
        return f"TRY_CAST({expr} AS {self.type(type_name)})"

    # -- time ---------------------------------------------------------------------------

    def local_ts(self, col: str, tz: str) -> str:
        return f"timezone({self.str_lit(tz)}, {col})"

    def trunc(self, unit: str, expr: str) -> str:
        return f"date_trunc('{unit}', {expr})"

    def epoch_us(self, col: str) -> str:
        return f"epoch_us({col})"

    def epoch_ms(self, col: str) -> str:
        return f"epoch_ms({col})"

    def from_epoch_us(self, expr: str) -> str:
        return f"make_timestamptz({expr})"

    def utc_from_epoch_us(self, expr: str) -> str:
        return f"timezone('UTC', make_timestamp({expr}))"

    def add_days(self, date_expr: str, days: str | int) -> str:
        return f"({date_expr} + {days})"

    def add_months(self, date_expr: str, months: int) -> str:
        return f"CAST({date_expr} + INTERVAL {int(months)} MONTH AS DATE)"

    def add_seconds(self, col: str, seconds: int) -> str:
        return f"({col} + INTERVAL '{int(seconds)} seconds')"

    def add_microseconds(self, col: str, us: int) -> str:
        return f"({col} + INTERVAL '{int(us)} microseconds')"

    def interval_minutes(self, minutes: float) -> str:
        return f"INTERVAL '{minutes} minutes'"

    def days_between(self, earlier: str, later: str) -> str:
        return f"date_diff('day', {earlier}, {later})"

    def months_between(self, earlier: str, later: str) -> str:
        return f"((year({later}) - year({earlier})) * 12 + month({later}) - month({earlier}))"

    def int_div(self, a: str, b: str | int) -> str:
        return f"({a} // {b})"

    def calendar(self, first: date, end: date, col: str = "day", step_days: int = 1) -> str:
        return (
            f"SELECT CAST(range AS DATE) AS {self.ident(col)} "
            f"FROM range({self.date_lit(first)}, {self.date_lit(end)}, "
            f"INTERVAL {int(step_days)} DAY)"
        )

    def int_series(self, lo: int | str, hi: int | str, col: str = "i", alias: str = "t") -> str:
        return f"range({lo}, {hi}) {self.ident(alias)}({self.ident(col)})"

    # -- JSON ---------------------------------------------------------------------------

    def json_text(self, col: str, key: str) -> str:
        path = '$."' + key.replace('"', '\\"') + '"'
        return f"json_extract_string({col}, {self.str_lit(path)})"

    # -- aggregates ---------------------------------------------------------------------

    def count_if(self, cond: str) -> str:
        return f"CAST(count_if({cond}) AS BIGINT)"

    def bool_or(self, cond: str) -> str:
        return f"bool_or({cond})"

    def arg_min(self, value: str, key: str) -> str:
        return f"arg_min({value}, {key})"

    def arg_max(self, value: str, key: str) -> str:
        return f"arg_max({value}, {key})"

    def row_key(self, *exprs: str) -> str:
        return f"({', '.join(exprs)})"

    def any_value(self, expr: str) -> str:
        return f"any_value({expr})"

    def quantile(self, expr: str, q: float) -> str:
        return f"quantile_cont({expr}, {float(q)!r})"

    def median(self, expr: str) -> str:
        return f"median({expr})"

    def list_agg(self, expr: str, order_by: str) -> str:
        return f"list({expr} ORDER BY {order_by})"

    # -- hashing ------------------------------------------------------------------------

    def person_hash(self, col: str) -> str:
        return f"hash({col})"

    def salted_hash(self, col: str, salt: str, chars: int) -> str:
        return f"left(sha256({self.str_lit(salt)} || {col}), {int(chars)})"

    # -- columns and joins --------------------------------------------------------------

    def star_except(self, columns: Sequence[str], qualifier: str = "") -> str:
        q = f"{qualifier}." if qualifier else ""
        return f"{q}* EXCLUDE ({', '.join(self.ident(c) for c in columns)})"

    def asof_left_join(self) -> str:
        return "ASOF LEFT JOIN"

    def asof_join(self) -> str:
        return "ASOF JOIN"

    # -- added for insights --

    def cte_hint(self, materialized: bool) -> str:
        return "MATERIALIZED " if materialized else "NOT MATERIALIZED "
