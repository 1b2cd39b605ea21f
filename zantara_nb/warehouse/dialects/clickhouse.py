"""ClickHouse's spelling of the dialect primitives (the ``clickhouse`` and ``chdb`` engines).

Only what differs from the portable forms of :mod:`.base` is overridden. Conventions:

- Instants are ``DateTime64(6, 'UTC')``. A *local* wall-clock time (:meth:`local_ts`) is a
  ``DateTime64(6, 'Etc/GMT')`` holding the local clock reading as if it were UTC:
  ``Etc/GMT`` has offset 0 like UTC, so day/week/month of it are the local ones, and the
  engine hands such columns back as naive timestamps (DuckDB's ``TIMESTAMP``) while UTC
  columns come back as instants (DuckDB's ``TIMESTAMPTZ``).
- Buckets of an instant use ClickHouse's own time-zone-aware functions
  (``toDate(t, tz)``, ``toMonday(t, tz)``, ``toStartOfMonth(t, tz)``): no local
  timestamp is built for them.
- The connection runs with ``join_use_nulls = 1``, ``aggregate_functions_null_for_empty
  = 1`` and ``cast_keep_nullable = 1`` (see the engine), so outer joins, empty
  aggregates and casts of NULL behave as in standard SQL.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from datetime import date, datetime
from typing import ClassVar

from .base import _UNITS, Dialect

#: The zone that marks a local wall-clock time (offset 0, a different name than UTC).
LOCAL_MARK = "Etc/GMT"


_UPDATE = re.compile(r"^\s*UPDATE\s+([A-Za-z_][\w.]*)\s+SET\s", re.IGNORECASE)
_TEMP = re.compile(r"^\s*CREATE\s+TEMP\s+TABLE\b", re.I)
_OFFSET_FN = re.compile(r"(?<![\w.])(lag|lead)\s*\(", re.I)
_QUOTED = re.compile(r"'(?:[^'\\]|\\.|'')*'")


def _nullable_offsets(query: str) -> str:
    """``lag(x, ...)``/``lead(x, ...)`` -> ``lag(toNullable(x), ...)``: ClickHouse gives the
    type's default (0, 1970-01-01) past the partition's edge where SQL gives NULL; with a
    Nullable argument its default is NULL too."""
    if not _OFFSET_FN.search(query):
        return query
    spans = [m.span() for m in _QUOTED.finditer(query)]

    def quoted(i: int) -> bool:
        return any(a <= i < b for a, b in spans)

    out, pos = [], 0
    for m in _OFFSET_FN.finditer(query):
        if quoted(m.start()) or m.start() < pos:
            continue
        start = m.end()
        depth, i = 0, start
        while i < len(query):
            c = query[i]
            if c == "'" and not quoted(i - 1):
                j = next((b for a, b in spans if a == i), i + 1)
                i = j
                continue
            if c == "(":
                depth += 1
            elif c == ")":
                if depth == 0:
                    break
                depth -= 1
            elif c == "," and depth == 0:
                break
            i += 1
        arg = query[start:i]
        out.append(query[pos:start])
        out.append(f"toNullable({arg.strip()})")
        pos = i
    out.append(query[pos:])
    return "".join(out)


class ClickHouseDialect(Dialect):
    """ClickHouse SQL: ``toTimeZone``, ``toMonday``, ``argMin``, ``quantileExactInclusive``, ..."""

    name: ClassVar[str] = "clickhouse"
    ENGINE_FUNCTIONS: ClassVar[frozenset[str]] = frozenset(
        {
            "toTimeZone",
            "toDate",
            "toDate32",
            "toDateTime",
            "toDateTime64",
            "toMonday",
            "toStartOfWeek",
            "toStartOfMonth",
            "toStartOfHour",
            "toStartOfDay",
            "toStartOfInterval",
            "toYear",
            "toMonth",
            "toUnixTimestamp",
            "toUnixTimestamp64Micro",
            "toUnixTimestamp64Milli",
            "fromUnixTimestamp64Micro",
            "fromUnixTimestamp64Milli",
            "timeZoneOffset",
            "addDays",
            "addMonths",
            "addSeconds",
            "addMicroseconds",
            "dateDiff",
            "intDiv",
            "numbers",
            "JSONExtractString",
            "JSONExtractRaw",
            "JSONExtract",
            "JSONType",
            "JSONHas",
            "argMin",
            "argMax",
            "countIf",
            "sumIf",
            "uniqExact",
            "uniq",
            "quantileExactInclusive",
            "quantileExact",
            "quantile",
            "groupArray",
            "arraySort",
            "arrayMap",
            "arrayJoin",
            "cityHash64",
            "sipHash64",
            "SHA256",
            "accurateCastOrNull",
            "toInt64",
            "toFloat64",
            "toString",
            "toNullable",
            "windowFunnel",
        }
    )
    ENGINE_SYNTAX: ClassVar[tuple[str, ...]] = (
        r"\bSETTINGS\b",
        r"\bFINAL\b",
        r"\*\s*EXCEPT\b",
        r"\bArray\(",
        r"\bNullable\(",
        r"\bDateTime64\(",
    )
    TYPES: ClassVar[dict[str, str]] = {
        "BIGINT": "Int64",
        "DOUBLE": "Float64",
        "VARCHAR": "String",
        "BOOLEAN": "Bool",
        "DATE": "Date",
        "INTEGER": "Int32",
        "HUGEINT": "Int128",
        "TIMESTAMPTZ": "DateTime64(6, 'UTC')",
        "TIMESTAMP": f"DateTime64(6, '{LOCAL_MARK}')",
    }

    # -- literals and types -------------------------------------------------------------

    def prepare(self, query: str) -> str:
        # CREATE TEMP TABLE (DuckDB, PostgreSQL) is spelled TEMPORARY here (a session table)
        query = _TEMP.sub("CREATE TEMPORARY TABLE", query)
        # UPDATE t SET ... WHERE ...: a mutation here (synchronous: mutations_sync = 2)
        query = _UPDATE.sub(r"ALTER TABLE \1 UPDATE ", query, count=1)
        return _nullable_offsets(query)

    def str_lit(self, text: str) -> str:
        # ClickHouse reads backslash escapes inside string literals: double them
        return "'" + text.replace("\\", "\\\\").replace("'", "''") + "'"

    def ts_lit(self, moment: datetime) -> str:
        text = self.utc(moment).strftime("%Y-%m-%d %H:%M:%S.%f")
        return f"toDateTime64('{text}', 6, 'UTC')"

    def date_lit(self, d: date) -> str:
        return f"toDate('{d.isoformat()}')"

    def cast(self, expr: str, type_name: str) -> str:
        return f"CAST({expr} AS {self.type(type_name)})"

    def try_cast(self, expr: str, type_name: str) -> str:
        return f"accurateCastOrNull({expr}, {self.str_lit(self.type(type_name))})"

    def null(self, type_name: str) -> str:
        return f"CAST(NULL AS Nullable({self.type(type_name)}))"

    def as_text(self, expr: str) -> str:
        return f"toString({expr})"

    # -- time ---------------------------------------------------------------------------

    def local_ts(self, col: str, tz: str) -> str:
        t = f"toDateTime64({col}, 6, 'UTC')"
        return (
            f"fromUnixTimestamp64Micro(toUnixTimestamp64Micro({t}) + "
            f"toInt64(timeZoneOffset(toTimeZone({t}, {self.str_lit(tz)}))) * 1000000, "
            f"'{LOCAL_MARK}')"
        )

    def trunc(self, unit: str, expr: str) -> str:
        if unit == "day":
            return f"toStartOfDay({expr})"
        if unit == "week":
            return f"toMonday({expr})"
        if unit == "month":
            return f"toStartOfMonth({expr})"
        if unit == "hour":
            return f"toDateTime64(toStartOfHour({expr}), 6, '{LOCAL_MARK}')"
        raise ValueError(f"unknown unit {unit!r}")

    def bucket(self, unit: str, col: str, tz: str) -> str:
        if unit not in _UNITS:
            raise ValueError(f"unknown bucket unit {unit!r} ({', '.join(_UNITS)})")
        z = self.str_lit(tz)
        if unit == "day":
            return f"toDate({col}, {z})"
        if unit == "week":
            return f"toMonday({col}, {z})"
        if unit == "month":
            return f"toStartOfMonth({col}, {z})"
        return self.trunc("hour", self.local_ts(col, tz))

    def date_bucket(self, unit: str, expr: str) -> str:
        if unit == "day":
            return expr
        return self.trunc(unit, expr)

    def epoch_us(self, col: str) -> str:
        return f"toUnixTimestamp64Micro(toDateTime64({col}, 6, 'UTC'))"

    def epoch_ms(self, col: str) -> str:
        return f"intDiv(toUnixTimestamp64Micro(toDateTime64({col}, 6, 'UTC')), 1000)"

    def from_epoch_us(self, expr: str) -> str:
        return f"fromUnixTimestamp64Micro(toInt64({expr}), 'UTC')"

    def utc_from_epoch_us(self, expr: str) -> str:
        return self.from_epoch_us(expr)

    def add_days(self, date_expr: str, days: str | int) -> str:
        return f"addDays({date_expr}, {days})"

    def add_months(self, date_expr: str, months: int) -> str:
        return f"toDate(addMonths({date_expr}, {int(months)}))"

    def add_seconds(self, col: str, seconds: int) -> str:
        return f"addSeconds({col}, {int(seconds)})"

    def add_microseconds(self, col: str, us: int) -> str:
        return f"addMicroseconds({col}, {int(us)})"

    def interval_minutes(self, minutes: float) -> str:
        # a difference of two DateTime64 values is a number of seconds
        return repr(float(minutes) * 60.0)

    def days_between(self, earlier: str, later: str) -> str:
        return f"dateDiff('day', {earlier}, {later})"

    def months_between(self, earlier: str, later: str) -> str:
        return (
            f"((toInt64(toYear({later})) - toInt64(toYear({earlier}))) * 12 "
            f"+ toInt64(toMonth({later})) - toInt64(toMonth({earlier})))"
        )

    def int_div(self, a: str, b: str | int) -> str:
        return f"intDiv({a}, {b})"

    def calendar(self, first: date, end: date, col: str = "day", step_days: int = 1) -> str:
        step = int(step_days)
        n = max(0, -(-(end - first).days // step))
        return (
            f"SELECT addDays({self.date_lit(first)}, toInt64(number) * {step}) AS {self.ident(col)} "
            f"FROM numbers({n})"
        )

    def int_series(self, lo: int | str, hi: int | str, col: str = "i", alias: str = "t") -> str:
        return (
            f"(SELECT toInt64(number) + toInt64({lo}) AS {self.ident(col)} "
            f"FROM numbers(toUInt64(greatest(toInt64({hi}) - toInt64({lo}), 0)))) "
            f"AS {self.ident(alias)}"
        )

    # -- JSON ---------------------------------------------------------------------------

    def json_text(self, col: str, key: str) -> str:
        # strings unquoted, numbers and booleans as written, null and absent keys NULL
        return f"JSONExtract({col}, {self.str_lit(key)}, 'Nullable(String)')"

    # -- aggregates ---------------------------------------------------------------------

    def id_key(self, expr: str) -> str:
        # 16 bytes instead of the text in ClickHouse's join tables (a 36-character id
        # and its string overhead): top categories on 50M events 4.6 -> 3.7 GB; a
        # collision needs about 2**64 distinct ids
        return f"sipHash128({expr})"

    def count_if(self, cond: str) -> str:
        return f"toInt64(countIf({cond}))"

    def bool_or(self, cond: str) -> str:
        return f"CAST(max(CASE WHEN {cond} THEN 1 ELSE 0 END) AS Nullable(Bool))"

    def arg_min(self, value: str, key: str) -> str:
        return f"argMin({value}, {key})"

    def arg_max(self, value: str, key: str) -> str:
        return f"argMax({value}, {key})"

    def row_key(self, *exprs: str) -> str:
        return f"tuple({', '.join(exprs)})"

    def any_value(self, expr: str) -> str:
        return f"any({expr})"

    def quantile(self, expr: str, q: float) -> str:
        return f"quantileExactInclusive({float(q)!r})({expr})"

    def list_agg(self, expr: str, order_by: str) -> str:
        return (
            f"arrayMap(x -> x.2, arraySort(x -> x.1, groupArray(tuple(tuple({order_by}), {expr}))))"
        )

    # -- hashing ------------------------------------------------------------------------

    def person_hash(self, col: str) -> str:
        return f"cityHash64({col})"

    def salted_hash(self, col: str, salt: str, chars: int) -> str:
        return (
            f"substring(lower(hex(SHA256(concat({self.str_lit(salt)}, {col})))), 1, {int(chars)})"
        )

    # -- columns and joins --------------------------------------------------------------

    def star_except(self, columns: Sequence[str], qualifier: str = "") -> str:
        q = f"{qualifier}." if qualifier else ""
        return f"{q}* EXCEPT ({', '.join(self.ident(c) for c in columns)})"

    def asof_left_join(self) -> str:
        return "ASOF LEFT JOIN"

    def asof_join(self) -> str:
        return "ASOF JOIN"

    # -- added for gdpr --

    def contains(self, haystack: str, needle: str) -> str:
        return f"position({haystack}, {needle}) > 0"
