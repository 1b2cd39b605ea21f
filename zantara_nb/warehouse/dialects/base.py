"""The dialect interface: every SQL primitive whose spelling depends on the engine.

A metric writes ``d.local_ts("e.timestamp", tz)`` or ``d.arg_min("breakdown",
"timestamp")`` instead of an engine's function, and plain portable SQL (SELECT, JOIN,
GROUP BY, CASE, CAST, coalesce, window functions) for everything else. This class holds
the portable forms where there is one; an engine's dialect (``duckdb.py``, later
``clickhouse.py``) overrides only what differs and raises for nothing it lacks.

Conventions shared by every engine:

- Stored timestamps are UTC instants (``TIMESTAMPTZ`` in DuckDB).
- ``local_ts`` gives the local wall-clock time of an instant in an IANA zone; buckets
  (day, week starting Monday, month, hour) are taken on it and returned as DATE (hour:
  a local timestamp).
- Literals are written by :meth:`Dialect.quote` only: strings have quotes doubled,
  None is NULL, dates and instants become typed literals.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Sequence
from datetime import UTC, date, datetime
from typing import Any, ClassVar

_IDENT = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_UNITS = ("day", "week", "month", "hour")


class Dialect:
    """Portable SQL plus the hooks an engine fills in.

    ``ENGINE_FUNCTIONS`` names the engine functions this dialect writes for the metrics;
    a metric module that names one of them itself fails ``test_dialect_usage``.
    ``ENGINE_SYNTAX`` holds the engine-only syntax (regular expressions) checked the
    same way.
    """

    name: ClassVar[str] = "portable"
    ENGINE_FUNCTIONS: ClassVar[frozenset[str]] = frozenset()
    ENGINE_SYNTAX: ClassVar[tuple[str, ...]] = ()

    # -- literals -----------------------------------------------------------------------

    def quote(self, value: Any) -> str:
        """The SQL literal of a Python value (the one quoting function of the package).

        Strings get their quotes doubled; None is NULL; booleans TRUE/FALSE; finite
        numbers their repr (NaN and infinities are refused); a ``date`` is a DATE
        literal, an aware ``datetime`` an instant literal (naive ones are refused).
        """
        if value is None:
            return "NULL"
        if isinstance(value, bool):
            return "TRUE" if value else "FALSE"
        if isinstance(value, int):
            return repr(value)
        if isinstance(value, float):
            if not math.isfinite(value):
                raise ValueError(f"not a finite number: {value!r}")
            return repr(value)
        if isinstance(value, datetime):
            return self.ts_lit(value)
        if isinstance(value, date):
            return self.date_lit(value)
        return self.str_lit(str(value))

    def str_lit(self, text: str) -> str:
        """A string literal: ``'it''s'``."""
        return "'" + text.replace("'", "''") + "'"

    def str_list(self, values: Iterable[Any]) -> str:
        """Comma-separated string literals: ``'a', 'b'`` (values are taken as text)."""
        return ", ".join(self.str_lit(str(v)) for v in values)

    def in_list(self, col: str, values: Sequence[Any] | None) -> str:
        """``col IN ('a', 'b')``; TRUE when ``values`` is None (anything)."""
        return "TRUE" if values is None else f"{col} IN ({self.str_list(values)})"

    def ident(self, name: str) -> str:
        """A column or table name, checked (names are never user text)."""
        if not _IDENT.match(name):
            raise ValueError(f"not an SQL identifier: {name!r}")
        return name

    def date_lit(self, d: date) -> str:
        """A DATE literal."""
        return f"DATE '{d.isoformat()}'"

    def ts_lit(self, moment: datetime) -> str:
        """An instant literal (UTC) of an aware datetime."""
        raise NotImplementedError(self._missing("ts_lit"))

    # -- types --------------------------------------------------------------------------

    #: Portable type names the metrics use, mapped to the engine's spelling.
    TYPES: ClassVar[dict[str, str]] = {
        "BIGINT": "BIGINT",
        "DOUBLE": "DOUBLE",
        "VARCHAR": "VARCHAR",
        "BOOLEAN": "BOOLEAN",
        "DATE": "DATE",
        "INTEGER": "INTEGER",
    }

    def type(self, name: str) -> str:
        """The engine's spelling of a portable type name (BIGINT, DOUBLE, VARCHAR, ...)."""
        try:
            return self.TYPES[name.upper()]
        except KeyError:
            raise ValueError(f"type {name!r}: one of {', '.join(self.TYPES)}") from None

    def cast(self, expr: str, type_name: str) -> str:
        """``CAST(expr AS type)``."""
        return f"CAST({expr} AS {self.type(type_name)})"

    def try_cast(self, expr: str, type_name: str) -> str:
        """A cast that gives NULL instead of failing."""
        raise NotImplementedError(self._missing("try_cast"))

    def null(self, type_name: str) -> str:
        """A typed NULL."""
        return f"CAST(NULL AS {self.type(type_name)})"

    def as_text(self, expr: str) -> str:
        """The value as text (for comparing with string literals)."""
        return self.cast(expr, "VARCHAR")

    # -- time ---------------------------------------------------------------------------

    def local_ts(self, col: str, tz: str) -> str:
        """The local wall-clock timestamp (no zone) of a UTC instant in zone ``tz``."""
        raise NotImplementedError(self._missing("local_ts"))

    def trunc(self, unit: str, expr: str) -> str:
        """A timestamp or date truncated to ``unit`` (day, week starting Monday, month, hour)."""
        raise NotImplementedError(self._missing("trunc"))

    def bucket(self, unit: str, col: str, tz: str) -> str:
        """The local ``day``/``week``/``month`` (DATE) or ``hour`` (local timestamp) of an instant."""
        if unit not in _UNITS:
            raise ValueError(f"unknown bucket unit {unit!r} ({', '.join(_UNITS)})")
        local = self.local_ts(col, tz)
        if unit == "day":
            return self.cast(local, "DATE")
        if unit == "hour":
            return self.trunc("hour", local)
        return self.cast(self.trunc(unit, local), "DATE")

    def date_bucket(self, unit: str, expr: str) -> str:
        """The ``week``/``month`` start (DATE) of a DATE expression."""
        if unit == "day":
            return expr
        return self.cast(self.trunc(unit, expr), "DATE")

    def epoch_us(self, col: str) -> str:
        """Microseconds since 1970-01-01 UTC of an instant (BIGINT)."""
        raise NotImplementedError(self._missing("epoch_us"))

    def epoch_ms(self, col: str) -> str:
        """Milliseconds since 1970-01-01 UTC of an instant (BIGINT)."""
        raise NotImplementedError(self._missing("epoch_ms"))

    def from_epoch_us(self, expr: str) -> str:
        """The instant ``expr`` microseconds after 1970-01-01 UTC."""
        raise NotImplementedError(self._missing("from_epoch_us"))

    def utc_from_epoch_us(self, expr: str) -> str:
        """The instant ``expr`` microseconds after the epoch, built from its UTC wall-clock time.

        Equal to :meth:`from_epoch_us`; the funnel's drill-down rows are written with it.
        """
        raise NotImplementedError(self._missing("utc_from_epoch_us"))

    def add_days(self, date_expr: str, days: str | int) -> str:
        """A DATE moved by ``days`` days (an integer or an SQL integer expression)."""
        raise NotImplementedError(self._missing("add_days"))

    def add_months(self, date_expr: str, months: int) -> str:
        """A DATE moved by ``months`` calendar months (as DATE)."""
        raise NotImplementedError(self._missing("add_months"))

    def add_seconds(self, col: str, seconds: int) -> str:
        """An instant plus a whole number of seconds."""
        raise NotImplementedError(self._missing("add_seconds"))

    def add_microseconds(self, col: str, us: int) -> str:
        """An instant plus a whole number of microseconds."""
        raise NotImplementedError(self._missing("add_microseconds"))

    def interval_minutes(self, minutes: float) -> str:
        """A duration of ``minutes`` minutes, to compare with a difference of instants."""
        raise NotImplementedError(self._missing("interval_minutes"))

    def days_between(self, earlier: str, later: str) -> str:
        """Whole calendar days from DATE ``earlier`` to DATE ``later`` (can be negative)."""
        raise NotImplementedError(self._missing("days_between"))

    def months_between(self, earlier: str, later: str) -> str:
        """Whole calendar months from month-start DATE ``earlier`` to ``later``."""
        raise NotImplementedError(self._missing("months_between"))

    def int_div(self, a: str, b: str | int) -> str:
        """Integer division rounding toward minus infinity for the non-negative values used."""
        raise NotImplementedError(self._missing("int_div"))

    def calendar(self, first: date, end: date, col: str = "day", step_days: int = 1) -> str:
        """A query with one DATE row ``col`` per ``step_days`` days in ``[first, end)``."""
        raise NotImplementedError(self._missing("calendar"))

    def int_series(self, lo: int | str, hi: int | str, col: str = "i", alias: str = "t") -> str:
        """A FROM item with one integer column ``col``: lo, lo+1, ..., hi - 1."""
        raise NotImplementedError(self._missing("int_series"))

    def values_table(self, rows: Sequence[Sequence[Any]], cols: Sequence[str], alias: str) -> str:
        """A FROM item of literal rows, e.g. ``(VALUES (0), (7)) AS w(k)``."""
        body = ", ".join("(" + ", ".join(self.quote(v) for v in r) + ")" for r in rows)
        return f"(VALUES {body}) AS {alias}({', '.join(self.ident(c) for c in cols)})"

    # -- JSON properties ----------------------------------------------------------------

    def json_text(self, col: str, key: str) -> str:
        """The text of top-level JSON property ``key`` of column ``col`` (NULL if absent)."""
        raise NotImplementedError(self._missing("json_text"))

    def id_key(self, expr: str) -> str:
        """A stand-in for a text id, equal exactly when the ids are equal (NULL stays
        NULL), for joins and ``IN`` over millions of ids. Portable: the text itself."""
        return expr

    # -- aggregates ---------------------------------------------------------------------

    def count_if(self, cond: str) -> str:
        """Number of rows where ``cond`` is true (BIGINT)."""
        return f"CAST(sum(CASE WHEN {cond} THEN 1 ELSE 0 END) AS BIGINT)"

    def bool_or(self, cond: str) -> str:
        """True when ``cond`` holds on at least one row (NULL over no rows)."""
        return f"(max(CASE WHEN {cond} THEN 1 ELSE 0 END) = 1)"

    def arg_min(self, value: str, key: str) -> str:
        """``value`` on the row with the smallest ``key``."""
        raise NotImplementedError(self._missing("arg_min"))

    def arg_max(self, value: str, key: str) -> str:
        """``value`` on the row with the largest ``key``."""
        raise NotImplementedError(self._missing("arg_max"))

    def row_key(self, *exprs: str) -> str:
        """A composite ordering key (compared field by field) for arg_min/arg_max."""
        raise NotImplementedError(self._missing("row_key"))

    def any_value(self, expr: str) -> str:
        """Any one value of the group (for columns constant within it)."""
        raise NotImplementedError(self._missing("any_value"))

    def quantile(self, expr: str, q: float) -> str:
        """The exact ``q`` quantile, linear interpolation between order statistics."""
        raise NotImplementedError(self._missing("quantile"))

    def median(self, expr: str) -> str:
        """The exact median (interpolated)."""
        return self.quantile(expr, 0.5)

    def list_agg(self, expr: str, order_by: str) -> str:
        """The group's values as an ordered list."""
        raise NotImplementedError(self._missing("list_agg"))

    # -- hashing ------------------------------------------------------------------------

    def person_hash(self, col: str) -> str:
        """A 64-bit integer hash of a person id (a join and grouping key, not shown)."""
        raise NotImplementedError(self._missing("person_hash"))

    def salted_hash(self, col: str, salt: str, chars: int) -> str:
        """The first ``chars`` hex digits of SHA-256(salt || col): the ids reports show."""
        raise NotImplementedError(self._missing("salted_hash"))

    # -- columns ------------------------------------------------------------------------

    def star_except(self, columns: Sequence[str], qualifier: str = "") -> str:
        """``*`` without some columns."""
        raise NotImplementedError(self._missing("star_except"))

    # -- joins --------------------------------------------------------------------------

    def asof_left_join(self) -> str:
        """The keyword of a left as-of join (nearest match on the last ON condition)."""
        raise NotImplementedError(self._missing("asof_left_join"))

    def asof_join(self) -> str:
        """The keyword of an inner as-of join."""
        raise NotImplementedError(self._missing("asof_join"))

    # -- helpers ------------------------------------------------------------------------

    def prepare(self, query: str) -> str:
        """The statement as the engine runs it (and as results record it): portable SQL
        whose meaning the engine's own functions change is rewritten here; as is elsewhere."""
        return query

    def _missing(self, what: str) -> str:
        return f"the {self.name} dialect has no {what}()"

    @staticmethod
    def utc(moment: datetime) -> datetime:
        """An aware datetime in UTC (naive ones are refused: their zone is unknown)."""
        if moment.tzinfo is None:
            raise ValueError(f"naive datetime {moment!r}: give a time zone")
        return moment.astimezone(UTC)

    # -- added for insights --

    def cte_hint(self, materialized: bool) -> str:
        """Written between ``name AS`` and a CTE's body: compute it once (True) or inline it
        into each use (False). A hint only: '' where the engine has none (it then decides)."""
        return ""

    # -- added for gdpr --

    def contains(self, haystack: str, needle: str) -> str:
        """SQL: true when text ``haystack`` holds text ``needle`` (two SQL expressions)."""
        return f"strpos({haystack}, {needle}) > 0"
