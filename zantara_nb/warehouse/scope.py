"""What a metric call looks at: a date range in a timezone, filters and a breakdown.

Every metric takes the same keyword arguments (:class:`ScopeArgs`) and turns them into a
:class:`Scope` with :func:`resolve`. The scope then writes the SQL shared by all metrics:
the UTC bounds of the range, the local-time bucket expressions, and the filtered
``scoped_events`` CTE. Conventions (METRICS.md section 0):

- Timestamps are stored in UTC; every day/week/month bucket is taken in ``tz``
  (default ``Asia/Jakarta``); weeks start on Monday.
- A range is ``[start, end)`` in local days, end-exclusive.
- ``as_of`` is the observation cut-off: events at or after it are ignored, and values
  whose observation window reaches past it are missing, never 0. It defaults to the
  end of ``end``'s day, or to just after the newest event when no range is given.
- ``window`` (with ``as_of``) gives the range ``[as_of_day - window, as_of_day)`` where
  ``as_of_day`` is the first local midnight at or after ``as_of``.

Filters are ``{key: value}`` (equality), ``{key: [v1, v2]}`` (any of) or
``{key: ("!=", v)}`` / ``(">=", v)`` etc. Keys that are person properties (``plan``,
``country``, ``user_type``, ``language``, ``timezone``) filter on the person's latest
value; any other key filters on the event (a typed column or a JSON property).
Prefix a key with ``event:`` or ``person:`` to choose explicitly (``event:plan`` is the
plan on the event itself, e.g. on ``subscription_started``). Breakdowns follow the same
rules.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from typing import Any, TypedDict
from zoneinfo import ZoneInfo

from .. import config
from . import tracking_plan
from .dialects import Dialect, DuckDBDialect
from .tracking_plan import TYPED_COLUMNS

PERSON_FILTER_KEYS = ("plan", "country", "user_type", "language", "timezone")
EVENT_COLUMNS = {c.name for c in TYPED_COLUMNS} | {"event", "session_id", "distinct_id"}
#: Filter operators: ``{"plan": ("!=", "free")}``, ``{"query_length": (">=", 100)}``.
OPERATORS = ("=", "==", "!=", "<>", ">", ">=", "<", "<=", "in", "not in")
_OPS = set(OPERATORS)
_IDENT = re.compile(r"^[A-Za-z_$][A-Za-z0-9_$]*$")
#: The dialect of a scope built without a warehouse (tests, helpers): the default engine's.
DEFAULT_DIALECT: Dialect = DuckDBDialect()

DateLike = str | date | datetime


class ScopeArgs(TypedDict, total=False):
    """Keyword arguments every metric accepts (all optional)."""

    start: DateLike
    """First local day of the range (inclusive)."""
    end: DateLike
    """Local day after the last one (exclusive)."""
    as_of: DateLike
    """Observation cut-off; default: end of range, else the newest event."""
    window: str | int | timedelta
    """Length of the range ending at ``as_of``: ``"28d"``, ``"4w"``, ``"6m"``, days, timedelta."""
    tz: str
    """Report timezone (IANA name); default ``$ZANTARA_TIMEZONE`` or ``Asia/Jakarta``."""
    filters: dict[str, Any]
    """Event or person property filters (see module docstring)."""
    breakdown: str | None
    """A person or event property to split results by."""


@dataclass(frozen=True)
class Scope:
    """A resolved date range, timezone, cut-off, filters and breakdown."""

    start: date
    end: date
    as_of: datetime  # tz-aware, in tz
    tz: str
    filters: dict[str, Any] = field(default_factory=dict)
    breakdown: str | None = None
    #: The SQL primitives of the warehouse's engine (every SQL below is written with them).
    dialect: Dialect = field(default=DEFAULT_DIALECT, compare=False, repr=False)

    @property
    def d(self) -> Dialect:
        """Short name of :attr:`dialect` for SQL-building code."""
        return self.dialect

    # -- time ---------------------------------------------------------------------------

    @property
    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.tz)

    def local_midnight(self, d: date) -> datetime:
        """The tz-aware local midnight that starts day ``d``."""
        return datetime.combine(d, time(0), tzinfo=self.zone)

    @property
    def start_utc(self) -> datetime:
        return self.local_midnight(self.start).astimezone(ZoneInfo("UTC"))

    @property
    def end_utc(self) -> datetime:
        return self.local_midnight(self.end).astimezone(ZoneInfo("UTC"))

    @property
    def as_of_utc(self) -> datetime:
        return self.as_of.astimezone(ZoneInfo("UTC"))

    @property
    def days(self) -> int:
        return (self.end - self.start).days

    def with_range(self, start: date, end: date) -> Scope:
        """The same scope over another range (``as_of`` kept)."""
        return dataclasses.replace(self, start=start, end=end)

    def shifted(self, days: int) -> Scope:
        """The same-length range ``days`` earlier (as_of moves with it, capped at the old one)."""
        d = timedelta(days=days)
        return dataclasses.replace(
            self,
            start=self.start - d,
            end=self.end - d,
            as_of=min(self.as_of, self.local_midnight(self.end - d)),
        )

    def previous(self) -> Scope:
        """The period of the same length just before this one."""
        return self.shifted(self.days)

    def describe(self) -> str:
        """Human label: ``2026-11-16 → 2026-11-22 (Asia/Jakarta)`` (end shown inclusive)."""
        last = self.end - timedelta(days=1)
        f = ", ".join(f"{k}={v}" for k, v in self.filters.items())
        extra = f"; {f}" if f else ""
        by = f"; by {self.breakdown}" if self.breakdown else ""
        return f"{self.start:%Y-%m-%d} → {last:%Y-%m-%d} ({self.tz}{extra}{by})"

    # -- SQL ----------------------------------------------------------------------------

    def local_ts(self, col: str = "timestamp") -> str:
        """SQL: the local wall-clock TIMESTAMP of a UTC instant column."""
        return self.dialect.local_ts(col, self.tz)

    def bucket(self, unit: str, col: str = "timestamp") -> str:
        """SQL: the local ``day``/``week`` (Monday)/``month`` bucket of a column, as DATE."""
        return self.dialect.bucket(unit, col, self.tz)

    def time_bounds_sql(self, col: str = "timestamp", *, start: bool = True) -> str:
        """SQL predicate keeping ``col`` inside the range and before ``as_of``."""
        end = min(self.end_utc, self.as_of_utc)
        parts = [f"{col} < {self.dialect.ts_lit(end)}"]
        if start:
            parts.insert(0, f"{col} >= {self.dialect.ts_lit(self.start_utc)}")
        return " AND ".join(parts)

    def as_of_sql(self) -> str:
        """SQL literal of the cut-off instant."""
        return self.dialect.ts_lit(self.as_of_utc)

    def ts_sql(self, d: date | datetime) -> str:
        """SQL literal of a local day start (or an aware datetime) as an instant."""
        moment = self.local_midnight(d) if not isinstance(d, datetime) else d
        return self.dialect.ts_lit(moment)

    def date_sql(self, d: date) -> str:
        """SQL literal of a local day (DATE)."""
        return self.dialect.date_lit(d)

    def needs_persons(self) -> bool:
        keys = list(self.filters) + ([self.breakdown] if self.breakdown else [])
        return any(is_person_key(k) for k in keys)

    def prop_sql(self, key: str, alias: str = "e", person_alias: str = "p") -> str:
        """SQL for property ``key``: a person column, an event column, or a JSON property."""
        where, _, name = key.rpartition(":")
        if where not in {"", "event", "person"} or not _IDENT.match(name):
            raise ValueError(f"not a property name: {key!r}")
        key = name
        if where == "person" and key not in PERSON_FILTER_KEYS:
            raise ValueError(f"{key!r} is not a person property ({', '.join(PERSON_FILTER_KEYS)})")
        if key in PERSON_FILTER_KEYS and where != "event":
            return f"{person_alias}.{key}"
        if key in EVENT_COLUMNS:
            return f"{alias}.{key}"
        return self.dialect.json_text(f"{alias}.properties", key)

    def filter_sql(self, alias: str = "e", person_alias: str = "p") -> str:
        """SQL predicate for the filters ('TRUE' when there are none)."""
        preds = []
        for key, spec in self.filters.items():
            col = self.prop_sql(key, alias, person_alias)
            preds.append(predicate_sql(col, spec, self.dialect))
        return " AND ".join(preds) if preds else "TRUE"

    def breakdown_sql(self, alias: str = "e", person_alias: str = "p") -> str:
        """SQL for the breakdown value (``'all'`` when there is no breakdown)."""
        if not self.breakdown:
            return "'all'"
        value = self.dialect.as_text(self.prop_sql(self.breakdown, alias, person_alias))
        return f"coalesce({value}, '(none)')"

    def events_cte(
        self,
        events: list[str] | tuple[str, ...] | str | None,
        *,
        columns: str = "e.*",
        start: bool = True,
        extra_where: str = "TRUE",
        range_start: date | None = None,
    ) -> str:
        """SQL (no ``WITH``) selecting scoped events: in range, before as_of, filtered.

        Adds ``person_id``, the ``breakdown`` value and ``lts`` (local timestamp).
        ``start=False`` keeps all history before the range end (for "first ever" logic);
        ``range_start`` overrides the range start (e.g. to look back before it).
        """
        if isinstance(events, str):
            events = [events]
        where = [extra_where]
        if events:
            where.append(self.dialect.in_list("e.event", list(events)))
        scope = self if range_start is None else self.with_range(range_start, self.end)
        where.append(scope.time_bounds_sql("e.timestamp", start=start))
        where.append(self.filter_sql("e", "p"))
        join = "LEFT JOIN persons p ON p.person_id = e.person_id" if self.needs_persons() else ""
        return (
            f"SELECT {columns}, {self.breakdown_sql('e', 'p')} AS breakdown, "
            f"{self.local_ts('e.timestamp')} AS lts "
            f"FROM events e {join} WHERE {' AND '.join(where)}"
        )


#: The events that make a person "active": one name, several, ``"*"`` for any, None for
#: the default (``message_sent``, METRICS.md section 1).
ActiveEvent = str | Sequence[str] | None


def active_events(active_event: ActiveEvent) -> list[str] | None:
    """The active events as a list (None means any event, from ``"*"``)."""
    if active_event is None:
        return [config.DEFAULT_ACTIVE_EVENT]
    if isinstance(active_event, str):
        return None if active_event == "*" else [active_event]
    out = [str(e) for e in active_event]
    if not out:
        raise ValueError("active_event: give at least one event (or '*' for any event)")
    return out


def sql_list(values: Sequence[Any], dialect: Dialect = DEFAULT_DIALECT) -> str:
    """Comma-separated quoted SQL string literals: ``'a', 'b'`` (``Dialect.str_list``)."""
    return dialect.str_list(values)


def event_in_sql(
    events: list[str] | None, col: str = "event", dialect: Dialect = DEFAULT_DIALECT
) -> str:
    """SQL predicate ``col IN (...)``, or ``TRUE`` when ``events`` is None (any event)."""
    return dialect.in_list(col, events)


def is_person_key(key: str) -> bool:
    """True when a filter/breakdown key reads the persons table (``plan``, ``person:plan``)."""
    return key.startswith("person:") or (key in PERSON_FILTER_KEYS)


class UnknownNameWarning(UserWarning):
    """A name the warehouse has never seen: an event, a property, a time zone.

    The call still returns its (empty) result; the message names the closest names
    that exist (an analyst's typo, e.g. ``contry`` for ``country``).
    """


def filter_spec(key: str, spec: Any) -> Any:
    """One filter's spec in its canonical form: a value, a list, or ``(op, value)``.

    A one-key mapping ``{op: value}`` (how a YAML parameters file writes a tuple) becomes
    ``(op, value)``. An operator that is not one of :data:`OPERATORS` raises
    ``ValueError`` naming the filter: it would otherwise compare with the text of the
    tuple and match nothing.
    """
    if isinstance(spec, dict):
        if len(spec) != 1:
            raise ValueError(
                f"filter {key!r}: {spec!r}: give one operator and its value, e.g. {{'>=': 7}}"
            )
        ((op, value),) = spec.items()
        spec = (op, value)
    if isinstance(spec, tuple):
        if len(spec) != 2 or str(spec[0]).lower() not in _OPS:
            op = spec[0] if spec else None
            raise ValueError(
                f"filter {key!r}: unknown operator {op!r} in {spec!r} (use one of "
                f"{', '.join(OPERATORS)}; a list for any of several values)"
            )
        op, value = str(spec[0]).lower(), spec[1]
        if op in {"in", "not in"} and not isinstance(value, list | tuple | set | frozenset):
            raise ValueError(f"filter {key!r}: {op!r} needs a list of values, got {value!r}")
        return (op, tuple(value) if op in {"in", "not in"} else value)
    return spec


def check_filters(filters: Any) -> None:
    """Refuse filters that cannot work (see :func:`filter_spec`), naming the culprit."""
    if filters is None:
        return
    if not isinstance(filters, dict):
        raise ValueError(f"filters: {filters!r}: use a mapping of property -> value")
    for key, spec in filters.items():
        where, _, name = str(key).rpartition(":")
        if where not in {"", "event", "person"} or not _IDENT.match(name):
            raise ValueError(f"filter {key!r}: not a property name")
        filter_spec(str(key), spec)


def predicate_sql(col: str, spec: Any, dialect: Dialect = DEFAULT_DIALECT) -> str:
    """SQL predicate for one filter ``spec`` (value, list, ``(op, value)`` or ``{op: value}``)
    on ``col``; an unknown operator raises ``ValueError``."""
    d = dialect
    text = d.as_text(col)
    spec = filter_spec(col, spec)
    if isinstance(spec, list | set | frozenset):
        return f"{text} IN ({d.str_list(spec)})"
    if isinstance(spec, tuple):
        op, v = spec
        if op in {"in", "not in"}:
            return f"{text} {op.upper()} ({d.str_list(v)})"
        op = {"==": "=", "<>": "!="}.get(op, op)
        if isinstance(v, int | float) and not isinstance(v, bool):
            return f"{d.try_cast(col, 'DOUBLE')} {op} {d.quote(v)}"
        return f"{text} {op} {d.str_lit(str(v))}"
    if spec is None:
        return f"{col} IS NULL"
    return f"{text} = {d.str_lit(str(spec).lower() if isinstance(spec, bool) else str(spec))}"


# ------------------------------------------------------------------------------------------
# Resolution of the keyword arguments
# ------------------------------------------------------------------------------------------

_WINDOW = re.compile(r"^\s*(\d+)\s*([dwmy]?)\s*$", re.I)


def parse_window(window: str | int | timedelta) -> timedelta:
    """``"28d"``, ``"4w"``, ``"6m"`` (30-day months), ``"1y"``, an int of days, a timedelta."""
    if isinstance(window, timedelta):
        return window
    if isinstance(window, int):
        return timedelta(days=window)
    m = _WINDOW.match(str(window))
    if not m:
        raise ValueError(f"window {window!r}: use e.g. '28d', '4w', '6m' or a number of days")
    n, unit = int(m.group(1)), (m.group(2) or "d").lower()
    return timedelta(days=n * {"d": 1, "w": 7, "m": 30, "y": 365}[unit])


def _to_date(x: DateLike, zone: ZoneInfo) -> date:
    if isinstance(x, datetime):
        return (x.astimezone(zone) if x.tzinfo else x).date()
    if isinstance(x, date):
        return x
    return date.fromisoformat(str(x)[:10]) if len(str(x)) <= 10 else _to_dt(x, zone).date()


def _to_dt(x: DateLike, zone: ZoneInfo) -> datetime:
    """A tz-aware moment: dates are local midnights, naive datetimes are local times."""
    if isinstance(x, datetime):
        return x.astimezone(zone) if x.tzinfo else x.replace(tzinfo=zone)
    if isinstance(x, date):
        return datetime.combine(x, time(0), tzinfo=zone)
    s = str(x).strip().replace("Z", "+00:00")
    if len(s) <= 10:
        return datetime.combine(date.fromisoformat(s), time(0), tzinfo=zone)
    return _to_dt(datetime.fromisoformat(s), zone)


def _ceil_day(moment: datetime) -> date:
    d = moment.date()
    return d if moment.time() == time(0) else d + timedelta(days=1)


def data_end(wh) -> datetime | None:
    """Just after the newest event (UTC), or None for an empty warehouse."""
    last = wh.scalar("SELECT max(timestamp) FROM events")
    return None if last is None else last + timedelta(microseconds=1)


# ------------------------------------------------------------------------------------------
# Names the warehouse has never seen (analysts' typos)
# ------------------------------------------------------------------------------------------


class _Vocabulary:
    """The event names and property keys one warehouse has shown, kept on the warehouse
    object. A name found once stays known; a name not found is looked up again only
    after the data changed (new events or loads)."""

    def __init__(self) -> None:
        self.version: tuple | None = None
        self.events: set[str] = set()
        self.props: set[str] = set()
        self.absent_props: dict[str, tuple] = {}


def _vocabulary(wh) -> _Vocabulary | None:
    if wh is None or not hasattr(wh, "engine"):
        return None
    v = getattr(wh, "_zn_vocabulary", None)
    if v is None:
        v = _Vocabulary()
        try:
            wh._zn_vocabulary = v
        except AttributeError:
            return None
    return v


def _rows(wh, sql: str) -> list[tuple]:
    # through the engine: these lookups are not part of any result's SQL
    return wh.engine.rows(sql)


def _data_version(wh) -> tuple:
    return tuple(
        _rows(wh, "SELECT (SELECT count(*) FROM events), (SELECT max(load_id) FROM loads)")[0]
    )


def _warn(message: str) -> None:
    """Warn at the caller's line outside this package (the analyst's cell)."""
    import sys
    import warnings

    frame = sys._getframe(1)
    package = __name__.split(".")[0] + "."
    while frame is not None and frame.f_globals.get("__name__", "").startswith(package):
        frame = frame.f_back
    if frame is None:
        warnings.warn(message, UnknownNameWarning, stacklevel=3)
        return
    warnings.warn_explicit(
        message,
        UnknownNameWarning,
        frame.f_code.co_filename,
        frame.f_lineno,
        module=frame.f_globals.get("__name__", "__main__"),
        registry=frame.f_globals.setdefault("__warningregistry__", {}),
    )


def check_events(wh, names, what: str = "event") -> list[str]:
    """Warn (:class:`UnknownNameWarning`) for each of ``names`` that no event in the
    warehouse has, naming the closest names that exist; returns those names."""
    v = _vocabulary(wh)
    names = [str(n) for n in names if n is not None]
    if v is None or not names:
        return []
    missing = [n for n in names if n not in v.events]
    if missing:
        version = _data_version(wh)
        if version != v.version:
            v.events = {r[0] for r in _rows(wh, "SELECT DISTINCT event FROM events")}
            v.version = version
        missing = [n for n in names if n not in v.events]
    for n in dict.fromkeys(missing):
        if n in tracking_plan.EVENTS:
            hint = " (a tracking-plan event, none loaded yet)"
        else:
            hint = config.did_you_mean(n, v.events | set(tracking_plan.EVENTS))
        _warn(
            f"{what} {n!r}: the warehouse has no event of that name{hint}; "
            "its part of the result is empty"
        )
    return missing


def check_properties(
    wh, keys, dialect: Dialect | None = None, *, breakdown: str | None = None
) -> list[str]:
    """Warn for each filter/breakdown key that no event carries (a JSON property never
    seen, not a column or a person property), naming the closest keys; returns them."""
    v = _vocabulary(wh)
    if v is None:
        return []
    d = dialect or getattr(wh, "dialect", DEFAULT_DIALECT)
    out = []
    for key in dict.fromkeys(str(k) for k in keys if k):
        where, _, name = key.rpartition(":")
        if (
            where == "person"
            or name in EVENT_COLUMNS
            or (where != "event" and name in PERSON_FILTER_KEYS)
        ):
            continue
        if name in v.props:
            continue
        version = v.absent_props.get(name)
        current = _data_version(wh)
        if version is None or version != current:
            found = _rows(
                wh,
                f"SELECT 1 FROM events WHERE {d.json_text('properties', name)} IS NOT NULL LIMIT 1",
            )
            if found:
                v.props.add(name)
                continue
            v.absent_props[name] = current
        candidates = set(v.props) | EVENT_COLUMNS | set(PERSON_FILTER_KEYS) | _plan_properties()
        candidates.discard(name)
        effect = "every row is under '(none)'" if key == breakdown else "the result is empty"
        _warn(
            f"property {key!r}: no event in the warehouse carries it"
            f"{config.did_you_mean(name, candidates)}; {effect}"
        )
        out.append(key)
    return out


def _plan_properties() -> set[str]:
    names = set(tracking_plan.COMMON_PROPS)
    for spec in tracking_plan.EVENTS.values():
        names |= set(spec.props)
    return names


def resolve(wh, *, default_window: str | int | timedelta = "28d", **kw: Any) -> Scope:
    """Turn the :class:`ScopeArgs` keywords into a :class:`Scope`.

    Unknown keywords raise ``TypeError`` so typos do not pass silently; a filter with
    an unknown operator raises ``ValueError``. Names the warehouse has never seen (a
    filter or breakdown on a property no event carries, an unknown time zone) warn with
    :class:`UnknownNameWarning`, naming the closest names; the result is then empty.
    """
    unknown = set(kw) - set(ScopeArgs.__annotations__)
    if unknown:
        raise TypeError(f"unknown argument(s): {', '.join(sorted(unknown))}")
    check_filters(kw.get("filters"))
    tz = kw.get("tz") or config.default_timezone()
    if not config.is_time_zone(tz):
        _warn(
            f"time zone {tz!r} is unknown{config.did_you_mean(str(tz), config.time_zones())}; "
            "the result is empty (use an IANA name such as Asia/Jakarta)"
        )
        return _empty_scope(wh, kw)
    keys = list(kw.get("filters") or {}) + ([kw["breakdown"]] if kw.get("breakdown") else [])
    if keys:
        check_properties(wh, keys, breakdown=kw.get("breakdown"))
    zone = ZoneInfo(tz)
    start, end, as_of = kw.get("start"), kw.get("end"), kw.get("as_of")
    as_of_dt = _to_dt(as_of, zone) if as_of is not None else None
    if end is not None:
        end_d = _to_date(end, zone)
    elif as_of_dt is not None:
        end_d = _ceil_day(as_of_dt)
    else:
        newest = data_end(wh)
        end_d = _ceil_day(newest.astimezone(zone)) if newest else date.today()
    if as_of_dt is None:
        as_of_dt = datetime.combine(end_d, time(0), tzinfo=zone)
        newest = data_end(wh) if end is None else None
        if newest is not None and newest.astimezone(zone) < as_of_dt:
            as_of_dt = newest.astimezone(zone)
    if start is not None:
        start_d = _to_date(start, zone)
    else:
        span = parse_window(kw.get("window") or default_window)
        start_d = end_d - timedelta(days=max(1, span.days))
    # An empty range is allowed (it gives empty results), a reversed one is not.
    if start_d > end_d:
        raise ValueError(f"start {start_d} is after end {end_d}")
    return Scope(
        start=start_d,
        end=end_d,
        as_of=as_of_dt,
        tz=tz,
        filters=dict(kw.get("filters") or {}),
        breakdown=kw.get("breakdown"),
        dialect=getattr(wh, "dialect", DEFAULT_DIALECT),
    )


def _empty_scope(wh, kw: dict[str, Any]) -> Scope:
    """An empty range in UTC (for a call whose time zone does not exist)."""
    day = date.today()
    for k in ("end", "as_of", "start"):
        if kw.get(k) is not None:
            day = _to_date(kw[k], ZoneInfo("UTC"))
            break
    return Scope(
        start=day,
        end=day,
        as_of=datetime.combine(day, time(0), tzinfo=ZoneInfo("UTC")),
        tz="UTC",
        filters=dict(kw.get("filters") or {}),
        breakdown=kw.get("breakdown"),
        dialect=getattr(wh, "dialect", DEFAULT_DIALECT),
    )


def last_complete_period(as_of: DateLike, period: str, tz: str | None = None) -> tuple[date, date]:
    """The last complete ``day``/``week``/``month`` ending at or before ``as_of`` (local).

    Returns ``(start, end)`` with ``end`` exclusive. Weeks are Monday–Sunday.
    """
    zone = ZoneInfo(tz or config.default_timezone())
    moment = _to_dt(as_of, zone)
    day = moment.date()  # the first day NOT complete unless as_of is exactly midnight
    if period == "day":
        return day - timedelta(days=1), day
    if period == "week":
        end = day - timedelta(days=day.weekday())
        return end - timedelta(days=7), end
    if period == "month":
        end = day.replace(day=1)
        start = (end - timedelta(days=1)).replace(day=1)
        return start, end
    raise ValueError(f"unknown period {period!r} (day, week, month)")
