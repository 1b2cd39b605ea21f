"""Conversion funnels (METRICS.md section 5), computed in DuckDB SQL.

>>> from zantara_nb.metrics.funnels import SEED_FUNNEL, Step, funnel
>>> f = funnel(wh, SEED_FUNNEL, start="2026-05-01", end="2026-06-01", as_of="2026-07-20")
>>> f.steps            # one row per step: persons, conversion (Wilson CI), drop-off, times
>>> f.dropped(3)       # hashed ids of persons who reached step 2 but not step 3
>>> f.time_to_convert().plot()
>>> funnel(wh, ["user_signed_up", Step("message_sent", name="First query")], window="1d")

Definitions
-----------
- **Step**: an event with optional property filters (``Step("message_sent",
  filters={"days_since_signup": (">=", 7)})``), or a set of alternative events, each
  alternative with its own filters (``Step(["voice_used", ("feature_used", {"feature":
  "export"})])``). Filter keys and values follow the scope filters
  (:mod:`zantara_nb.warehouse.scope`); the prefixes ``event:`` / ``person:`` force an event
  property or the person's latest property (``event:plan`` is the ``plan`` on the event).
- **Ordered** (default; PostHog "sequential"): every step-1 event of a person whose time
  is in the range starts an attempt (the range limits step 1 only; later steps may fall
  after the range end, never at or after ``as_of``). The attempt reaches step k+1 with the
  earliest event of step k+1 at or after the event used for step k and no later than
  step-1 time + window (inclusive). One event fills at most one step of an attempt.
  A person counts once, at the furthest step any attempt reached; on a tie the earliest
  attempt (step-1 time, then load order) wins and gives the times and the breakdown.
- **Strict**: as ordered, and no other event of the person (any event in the events
  table within the scope filters) strictly between the times of two consecutive steps.
- **Any order** (PostHog "unordered"): every event of any step in the range starts an
  attempt covering ``[t, t + window]``; the attempt has completed as many steps as can be
  matched to distinct events in that interval (an exact maximum matching). Row k of the
  result is "persons who completed at least k of the steps, in any order", as PostHog.
- **Exclusion**: ``Exclusion(event, between=(i, j))`` (steps numbered from 1) covers the
  gaps s = i..j-1 (gap s: steps s -> s+1); PostHog's rules (``funnel-udf``), exactly in
  docs/metrics-funnels.md. An attempt *meets* it at gap s when the first covering
  exclusion event strictly after its step-s event comes strictly before its step-(s+1)
  event, or, never having reached s+1, at or before its window end (strict: only when
  that event is the person's next one). ``exclusion_mode="furthest"`` (ordered and
  strict default): an attempt that met one counts as reaching at most one step past it;
  of the attempts reaching the furthest such step at one instant the latest-started
  speaks for them; the person is kept when one of those paths is clean (and, strict, no
  other path's later exclusion falls in its window), else dropped from every step, step
  1 included; the earliest clean attempt at that step counts. ``"attempt"`` (any-order
  default, and the rule before issue 11): excluded attempts are dropped, the others
  count. Any-order funnels take exclusions over the whole funnel only: an attempt from t
  is dropped when the first exclusion event after t comes within its window before the
  events from t complete the funnel.
- **Window**: default 14 days; ``"45d"``, ``"2w"``, ``"12h"``, ``"30min"``, ``"90s"``,
  ``"1mo"`` (month = 31 days, as PostHog), an int of days, a ``timedelta`` or
  ``(n, unit)``. A bare ``"m"`` is refused (minute or month?).
- **Output per step**: persons, conversion from step 1 (``conversion``, ``ci_low``,
  ``ci_high``) and from the previous step (``step_conversion``, ``step_ci_low``,
  ``step_ci_high``), both with 95% Wilson intervals; ``dropoff`` = persons at the
  previous step who did not reach this one, ``dropoff_rate`` = dropoff / previous;
  ``median_time_s`` / ``mean_time_s`` from the previous step (seconds, persons at this
  step, the counting attempt's times); ``immature`` = persons at this step whose
  counting attempt's window is still open at ``as_of``.
- **Breakdown** by a property. ``breakdown_attribution="first_touch"`` (PostHog's
  default): the value on the person's earliest event in ``[start, min(end, as_of))``
  matching a step or an exclusion (strict: any event) that has it set (not missing, not
  empty). ``"step1"``: the value on the counting attempt's step-1 event. Person
  properties are the person's latest value.
- **Maturity**: an attempt is mature when its window has ended before ``as_of``
  (``t1 + window < as_of``); ``mature_only=True`` drops immature attempts before a
  person's furthest step is chosen and before the exclusion rule runs.

Choices METRICS.md leaves open (documented in docs/metrics-funnels.md too)
--------------------------------------------------------------------------
- Same-timestamp events: an event of step k+1 at exactly the time of the step-k event
  counts as after it (it must be another event). When several events with one timestamp
  could fill a step, the walk prefers the one matching fewer of the following steps
  (those matching step k+1 last, then k+2...); events equal in time and in the steps
  they match are interchangeable (which one is used changes no result, so the walk takes
  any of them). This reaches the furthest step whenever each event's matching steps are
  contiguous (true for the seed funnel: a ``message_sent`` at day 7+ matches steps 3
  and 4). PostHog also takes same-timestamp events of different steps in step order.
- An exclusion event at exactly the time of a step event of the attempt does not
  exclude ("strictly between"; PostHog skips an exclusion event sharing its timestamp
  with an event of another step). What the suite does differently from PostHog on
  purpose: docs/posthog-differences.md.
- Strict mode: an event with the same timestamp as a step event is not "between".
- Any order: median/mean times are not defined (NaN); the conversion window starts at
  the attempt's first event, which need not be used by the matching.
- ``filters`` apply to every event of the funnel (PostHog's global filters); put
  conditions for one step on the step.
- Default range: the 30 days before ``as_of`` (the seed dashboard's "Conversion funnel
  (30 days)"); ``range_window="90d"`` changes its length (``window`` is the conversion
  window here). ``as_of`` defaults to the end of the range, like every metric: pass a
  later ``as_of`` to see conversions after the range end.

SQL shape
---------
``cand``: the scoped events of the funnel's event names in ``[start, min(as_of, end +
window))`` with one boolean mask column per step and per exclusion (inlined, so each
step reads only its own events through the scan's filter pushdown). Times are epoch
microseconds, persons ``hash(person_id)``, events their row id. Step-1 rows in range are
the attempts (``a1``). Each next step k is one pass over that step's candidates: for
persons whose live attempts all wait at one time and have used the same events there
(the usual case once attempts converge, e.g. after the signup), a hash join to those
persons and a BIGINT ``min``/``arg_min`` per person of ``time, tie preference`` give
the pick of all their attempts; other persons' candidates are kept per timestamp (the
best by packed key ``time << 64 | tie preference << 48 | row id``) and searched with a
window (first later time) and an equi-join (same time). Greedy earliest is optimal for
reaching the furthest step. Exclusions are one ``ASOF JOIN`` per covered gap (furthest
rule; then a few per-person aggregates decide who is kept) or per exclusion (attempt
rule). ``arg_max`` per person picks the counting attempt (its id; the row, the person id
and the breakdown are joined back) and one ``GROUP BY`` gives every step's counts,
medians and means. First touch by an event property is one more ``arg_min`` per person
over the funnel's events. The search is in :mod:`zantara_nb.metrics.funnels_duckdb`.
Strict mode adds a window pass over all the person's events (the next event time);
any-order mode is one window pass (``RANGE`` frame of the conversion window) with
``count(*) FILTER`` per step set. No self-joins over days, no correlated subqueries.
The per-person rows are kept in a temporary table (dropped after the result is garbage
collected, at the next call) so drill-downs read exactly the persons that were counted.
Cost on 50M synthetic events (2 cores): about 1.4x a DAU series over the whole data
(CPU time 1.3x; 2.1-2.4x before the fast path), 2.2x over a 30-day range (was 2.6-2.9x;
the funnel also reads the 45 days after the range).
"""

from __future__ import annotations

import contextlib
import html
import itertools
import os
import re
import weakref
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any, TypedDict

import numpy as np
import pandas as pd
from typing_extensions import Unpack

from ..display import charts
from ..display.formatting import MISSING, fmt_duration, fmt_int, fmt_pct, is_missing
from ..warehouse import privacy
from ..warehouse.scope import (
    DateLike,
    Scope,
    check_events,
    is_person_key,
    predicate_sql,
    resolve,
)
from ..warehouse.sqltrace import records_sql
from .results import MetricResult, format_frame, header_html
from .stats import wilson

Filters = Mapping[str, Any]

ORDERS = ("ordered", "strict", "any")
_ORDER_ALIASES = {
    "ordered": "ordered",
    "sequential": "ordered",
    "strict": "strict",
    "any": "any",
    "unordered": "any",
    "any_order": "any",
}
DEFAULT_WINDOW = "14d"
#: How exclusions drop persons: the furthest path decides, or each attempt on its own.
EXCLUSION_MODES = ("furthest", "attempt")
#: Where a breakdown value comes from: the earliest funnel event with the property set,
#: or the counting attempt's step-1 event.
ATTRIBUTIONS = ("first_touch", "step1")
#: The breakdown label of persons without a value (as :meth:`Scope.breakdown_sql`).
NONE_LABEL = "(none)"
DEFAULT_RANGE = "30d"
#: Most steps in a funnel (the tie preference takes 16 bits of the packed key).
MAX_STEPS = 16
#: Largest group of steps that can share events in an any-order funnel (2^n aggregates).
MAX_ANY_GROUP = 8

_UNIT_SECONDS = {
    "second": 1,
    "minute": 60,
    "hour": 3600,
    "day": 86400,
    "week": 7 * 86400,
    "month": 31 * 86400,
}
_UNIT_ALIASES = {
    **{a: "second" for a in ("s", "sec", "secs", "second", "seconds")},
    **{a: "minute" for a in ("min", "mins", "minute", "minutes")},
    **{a: "hour" for a in ("h", "hr", "hrs", "hour", "hours")},
    **{a: "day" for a in ("d", "day", "days")},
    **{a: "week" for a in ("w", "wk", "wks", "week", "weeks")},
    **{a: "month" for a in ("mo", "mon", "month", "months")},
}
_TABLES = itertools.count(1)
_WIN = re.compile(r"^\s*(\d+)\s*([A-Za-z]*)\s*$")
_IDENT = re.compile(r"^[A-Za-z_$][A-Za-z0-9_$]*$")


def parse_funnel_window(window: str | int | timedelta | tuple[int, str]) -> timedelta:
    """A conversion window: ``"14d"``, ``"45 days"``, ``"2w"``, ``"12h"``, ``"30min"``,
    ``"90s"``, ``"1mo"`` (31 days), ``(7, "day")``, an int of days or a ``timedelta``."""
    if isinstance(window, timedelta):
        td = window
    elif isinstance(window, bool):
        raise ValueError(f"window {window!r}: not a duration")
    elif isinstance(window, int):
        td = timedelta(days=window)
    elif isinstance(window, tuple) and len(window) == 2:
        td = parse_funnel_window(f"{int(window[0])}{window[1]}")
    else:
        m = _WIN.match(str(window))
        unit = _UNIT_ALIASES.get((m.group(2) or "d").lower()) if m else None
        if m is None or unit is None:
            raise ValueError(
                f"window {window!r}: use e.g. '14d', '2w', '12h', '30min', '90s', '1mo' "
                "(units second, minute, hour, day, week, month = 31 days)"
            )
        td = timedelta(seconds=int(m.group(1)) * _UNIT_SECONDS[unit])
    if td <= timedelta(0):
        raise ValueError(f"window {window!r}: must be positive")
    return td


# ------------------------------------------------------------------------------------------
# Specification
# ------------------------------------------------------------------------------------------


def _describe_filters(filters: Filters) -> str:
    parts = []
    for k, v in filters.items():
        if isinstance(v, tuple) and len(v) == 2:
            parts.append(f"{k} {v[0]} {v[1]}")
        elif isinstance(v, list | set | frozenset):
            parts.append(f"{k} in {sorted(map(str, v))}")
        else:
            parts.append(f"{k} = {v}")
    return ", ".join(parts)


@dataclass(frozen=True)
class Step:
    """One funnel step: an event with property filters, or alternative events.

    ``event`` is an event name, or a list of alternatives: names, ``(name, filters)``
    pairs or :class:`Step` objects (each with its own filters). ``filters`` apply to
    every alternative. ``name`` labels the step in results.
    """

    event: str | Sequence[str | tuple[str, Filters] | Step]
    filters: Filters = field(default_factory=dict)
    name: str | None = None

    def alternatives(self) -> list[tuple[str, dict[str, Any]]]:
        """The (event name, filters) pairs this step accepts (step filters not included)."""
        items = [self.event] if isinstance(self.event, str | Step) else list(self.event)
        out: list[tuple[str, dict[str, Any]]] = []
        for a in items:
            if isinstance(a, str):
                out.append((a, {}))
            elif isinstance(a, Step):
                out.extend((n, {**f, **a.filters}) for n, f in a.alternatives())
            elif isinstance(a, tuple) and len(a) == 2 and isinstance(a[0], str):
                out.append((a[0], dict(a[1] or {})))
            else:
                raise TypeError(f"step alternative {a!r}: use a name, (name, filters) or Step")
        if not out:
            raise ValueError("a step needs at least one event")
        return out

    @property
    def events(self) -> list[str]:
        """Event names this step can match."""
        return list(dict.fromkeys(n for n, _ in self.alternatives()))

    @property
    def label(self) -> str:
        if self.name:
            return self.name
        alts = []
        for n, f in self.alternatives():
            alts.append(f"{n} ({_describe_filters(f)})" if f else n)
        s = " or ".join(alts)
        return f"{s} [{_describe_filters(self.filters)}]" if self.filters else s


def _as_step(s: Step | str | Sequence) -> Step:
    if isinstance(s, Step):
        return s
    if isinstance(s, str):
        return Step(s)
    return Step(list(s))


@dataclass(frozen=True)
class Exclusion:
    """Drop attempts with ``event`` (optionally filtered) between steps ``between=(i, j)``.

    Steps are numbered from 1; ``between=None`` means the whole funnel (1, last step).
    """

    event: str | Sequence[str | tuple[str, Filters] | Step] | Step
    between: tuple[int, int] | None = None
    filters: Filters = field(default_factory=dict)

    @property
    def step(self) -> Step:
        return Step(self.event, self.filters)


@dataclass(frozen=True)
class FunnelSpec:
    """A funnel: steps, conversion window, order mode, exclusions, breakdown.

    ``exclusion_mode``: ``"furthest"`` (the furthest path decides: a person whose
    furthest path met an exclusion is dropped, step 1 included; PostHog's ordered and
    strict funnels), ``"attempt"`` (an exclusion drops only the attempt that met it;
    PostHog's any-order funnels), or None (the default): ``"furthest"`` for ordered
    and strict funnels, ``"attempt"`` for any-order ones, as PostHog.
    ``breakdown_attribution``: ``"first_touch"`` (the value on the person's earliest
    funnel event that has the property set, PostHog's default) or ``"step1"`` (the value
    on the counting attempt's step-1 event).
    """

    steps: Sequence[Step | str]
    window: str | int | timedelta | tuple[int, str] = DEFAULT_WINDOW
    order: str = "ordered"
    exclusions: Sequence[Exclusion] = ()
    breakdown: str | None = None
    name: str = "Funnel"
    exclusion_mode: str | None = None
    breakdown_attribution: str = "first_touch"

    def __post_init__(self) -> None:
        steps = tuple(_as_step(s) for s in self.steps)
        if not 1 <= len(steps) <= MAX_STEPS:
            raise ValueError(f"a funnel has 1 to {MAX_STEPS} steps")
        object.__setattr__(self, "steps", steps)
        object.__setattr__(self, "order", _norm_order(self.order))
        object.__setattr__(self, "exclusions", tuple(self.exclusions or ()))
        parse_funnel_window(self.window)
        for ex in self.exclusions:
            i, j = exclusion_bounds(ex, len(steps))
            if self.order == "any" and (i, j) != (1, len(steps)):
                raise ValueError(
                    f"exclusion between {ex.between}: an any-order funnel takes exclusions over "
                    f"the whole funnel only (between=None or (1, {len(steps)})): its steps have "
                    "no order, so 'between steps i and j' means nothing there (PostHog refuses "
                    "partial exclusions in unordered funnels too)"
                )
        if self.exclusion_mode not in (None, *EXCLUSION_MODES):
            raise ValueError(
                f"exclusion_mode {self.exclusion_mode!r}: use 'furthest', 'attempt' or None"
            )
        if self.order == "any" and self.exclusion_mode == "furthest":
            raise ValueError(
                "exclusion_mode='furthest' is defined for ordered and strict funnels; an "
                "any-order funnel drops each excluded attempt on its own ('attempt'), as PostHog"
            )
        if self.breakdown_attribution not in ATTRIBUTIONS:
            raise ValueError(
                f"breakdown_attribution {self.breakdown_attribution!r}: use 'first_touch' or 'step1'"
            )

    @property
    def exclusion_rule(self) -> str:
        """The exclusion rule in force: ``exclusion_mode``, or PostHog's for the order."""
        if self.exclusion_mode is not None:
            return self.exclusion_mode
        return "attempt" if self.order == "any" else "furthest"


def _norm_order(order: str) -> str:
    o = _ORDER_ALIASES.get(str(order).lower())
    if o is None:
        raise ValueError(f"order {order!r}: use 'ordered', 'strict' or 'any'")
    return o


def exclusion_bounds(ex: Exclusion, n_steps: int) -> tuple[int, int]:
    i, j = ex.between if ex.between is not None else (1, n_steps)
    if not (1 <= i < j <= n_steps):
        raise ValueError(f"exclusion between {ex.between}: need 1 <= i < j <= {n_steps}")
    return int(i), int(j)


#: The seed's conversion funnel (report section 6): landing page -> signup -> first
#: query -> return visit at day 7+ -> paid. 45-day window: a week for the return visit
#: plus the 30-day paid-conversion horizon and some days from landing page to signup.
#: The landing page view is usually anonymous; identity stitching merges it into the
#: person who signs up.
SEED_FUNNEL = FunnelSpec(
    steps=(
        Step("page_viewed", name="Landing page"),
        Step("user_signed_up", name="Signup"),
        Step("message_sent", name="First query"),
        Step("message_sent", filters={"days_since_signup": (">=", 7)}, name="Return visit (D7)"),
        Step("subscription_started", name="Paid subscription"),
    ),
    window="45d",
    name="Conversion funnel",
)


# ------------------------------------------------------------------------------------------
# SQL
# ------------------------------------------------------------------------------------------


def _prop_col(scope: Scope, key: str) -> tuple[str, bool]:
    """SQL column for a step-filter key and whether it needs the persons table."""
    return scope.prop_sql(key, "e", "p"), is_person_key(key)


def _filters_sql(scope: Scope, filters: Filters) -> tuple[str, bool]:
    preds, person = [], False
    for key, spec in filters.items():
        col, uses_p = _prop_col(scope, key)
        person |= uses_p
        preds.append(predicate_sql(col, spec, scope.dialect))
    return (" AND ".join(preds) if preds else "TRUE"), person


def step_sql(scope: Scope, step: Step) -> tuple[str, bool]:
    """SQL predicate matching one step (over ``e`` and ``p``) and whether it needs persons."""
    alts, person = [], False
    for name, f in step.alternatives():
        fs, uses_p = _filters_sql(scope, f)
        person |= uses_p
        alts.append(f"(e.event = {scope.dialect.str_lit(name)} AND {fs})")
    common, uses_p = _filters_sql(scope, step.filters)
    return f"(({' OR '.join(alts)}) AND {common})", person | uses_p


def person_level_sql(scope: Scope, spec: FunnelSpec, win: timedelta, *, mature_only: bool) -> str:
    """The WITH clause ending in ``pp`` (one row per person), by the engine's step search.

    ``pp`` columns: ``pid``, ``bd`` (breakdown), ``reached`` (furthest step, 1-based),
    ``mature``, ``t1`` .. ``tK`` (times of the counting attempt's steps, epoch
    microseconds). The search is engine-specific (:data:`STEP_SEARCH`); its rules are not.
    """
    name = scope.dialect.name
    if name not in STEP_SEARCH:
        from . import funnels_clickhouse, funnels_duckdb

        STEP_SEARCH.setdefault("duckdb", funnels_duckdb.person_level_sql)
        STEP_SEARCH.setdefault("clickhouse", funnels_clickhouse.person_level_sql)
    try:
        search = STEP_SEARCH[name]
    except KeyError:
        raise NotImplementedError(f"no funnel step search for the {name} engine") from None
    return search(scope, spec, win, mature_only=mature_only)


#: The funnel step search of each engine, by dialect name (filled on first use).
STEP_SEARCH: dict[str, Any] = {}


STEP_COLUMNS = [
    "step",
    "name",
    "persons",
    "conversion",
    "ci_low",
    "ci_high",
    "step_conversion",
    "step_ci_low",
    "step_ci_high",
    "dropoff",
    "dropoff_rate",
    "median_time_s",
    "mean_time_s",
    "immature",
]
STEP_UNITS = {
    "persons": "users",
    "conversion": "rate",
    "ci_low": "rate",
    "ci_high": "rate",
    "step_conversion": "rate",
    "step_ci_low": "rate",
    "step_ci_high": "rate",
    "dropoff": "users",
    "dropoff_rate": "rate",
    "median_time_s": "seconds",
    "mean_time_s": "seconds",
    "immature": "users",
}


@dataclass
class FunnelResult(MetricResult):
    """A funnel: ``steps`` (one row per step, or per breakdown value and step) and drill-down.

    ``dropped(step)`` and ``persons()`` give hashed person ids; ``time_to_convert()``
    the distribution of conversion times between two steps.
    """

    spec: FunnelSpec | None = None
    conversion_window: timedelta = timedelta(days=14)
    mature_only: bool = False
    wh: Any = field(default=None, repr=False)
    persons_sql: str = field(default="", repr=False)
    _persons: pd.DataFrame | None = field(default=None, repr=False)

    @property
    def steps(self) -> pd.DataFrame:
        """The per-step table (same as ``df``)."""
        return self.df

    @property
    def order(self) -> str:
        return self.spec.order if self.spec else "ordered"

    @property
    def n_steps(self) -> int:
        return len(self.spec.steps) if self.spec else 0

    def step_names(self) -> list[str]:
        return _step_names(self.spec) if self.spec else []

    # -- drill-down -----------------------------------------------------------------------

    def persons(self) -> pd.DataFrame:
        """One row per person in the funnel: hashed id, breakdown, furthest step, maturity,
        and the time of each step of the counting attempt (UTC)."""
        if self._persons is None:
            cols = ["person", "breakdown", "reached", "mature"] + [
                f"t{k}" for k in range(1, self.n_steps + 1)
            ]
            if self.wh is None or not self.persons_sql:
                self._persons = pd.DataFrame(columns=cols)
            else:
                self._persons = self.wh.sql(self.persons_sql)
        return self._persons.copy()

    def dropped(self, step: int) -> pd.DataFrame:
        """Persons who reached step ``step - 1`` but not ``step`` (hashed ids), for drill-down."""
        if not 2 <= step <= self.n_steps:
            raise ValueError(f"step {step}: drop-off is defined for steps 2..{self.n_steps}")
        p = self.persons()
        d = p[p["reached"] == step - 1]
        out = pd.DataFrame(
            {
                "person": d["person"],
                "breakdown": d["breakdown"],
                "last_step": d["reached"].astype(int),
                "last_step_name": [self.step_names()[step - 2]] * len(d),
                "started_at": d["t1"],
                "last_step_at": d[f"t{step - 1}"] if self.order != "any" else d["t1"],
                "mature": d["mature"].astype(bool),
            }
        )
        return out.sort_values(["started_at", "person"]).reset_index(drop=True)

    def time_to_convert(
        self,
        from_step: int = 1,
        to_step: int | None = None,
        bins: int | Sequence[float] | str | None = None,
    ) -> MetricResult:
        """Histogram of the time from ``from_step`` to ``to_step`` (default: first to last)
        over persons who reached ``to_step``. ``bins``: a count, edges in seconds, or a
        numpy rule (default ``"sturges"``)."""
        to_step = to_step or self.n_steps
        if not 1 <= from_step < to_step <= self.n_steps:
            raise ValueError(f"need 1 <= from_step < to_step <= {self.n_steps}")
        cols = ["bucket", "bin_start_s", "bin_end_s", "persons", "share"]
        title = f"{self.title}: time from step {from_step} to step {to_step}"
        definition = (
            f"Persons who reached step {to_step}, by time between their step {from_step} "
            f"and step {to_step} events (counting attempt)."
        )
        values = np.array([], dtype=float)
        if self.order != "any":
            p = self.persons()
            p = p[p["reached"] >= to_step]
            if len(p):
                values = (
                    (pd.to_datetime(p[f"t{to_step}"]) - pd.to_datetime(p[f"t{from_step}"]))
                    .dt.total_seconds()
                    .to_numpy(dtype=float)
                )
        else:
            definition += " Not defined for any-order funnels."
        if len(values) == 0:
            df = pd.DataFrame(columns=cols)
        else:
            counts, edges = np.histogram(values, bins=bins if bins is not None else "sturges")
            df = pd.DataFrame(
                {
                    "bucket": [
                        f"{fmt_duration(a)} – {fmt_duration(b)}"
                        for a, b in zip(edges[:-1], edges[1:], strict=True)
                    ],
                    "bin_start_s": edges[:-1],
                    "bin_end_s": edges[1:],
                    "persons": counts.astype(int),
                    "share": counts / counts.sum(),
                }
            )
        return MetricResult(
            plotter=_plot_time_to_convert,
            name="funnel_time_to_convert",
            title=title,
            df=df,
            definition=definition,
            scope=self.scope,
            units={
                "persons": "users",
                "share": "rate",
                "bin_start_s": "number",
                "bin_end_s": "number",
            },
            x="bucket",
            y="persons",
            kind="bar",
            extra={
                "median_s": float(np.median(values)) if len(values) else None,
                "mean_s": float(values.mean()) if len(values) else None,
            },
        )

    # -- display --------------------------------------------------------------------------

    def formatted(self, max_rows: int | None = None) -> pd.DataFrame:
        df = self.df if max_rows is None else self.df.head(max_rows)
        out = format_frame(df, {k: v for k, v in self.units.items() if v != "seconds"})
        for col, unit in self.units.items():
            if unit == "seconds" and col in df.columns:
                out[col] = [fmt_duration(v) for v in df[col]]
        return out

    def _repr_html_(self) -> str:
        if self.df.empty:
            body = "<em>No data in this range.</em>"
        else:
            show = [
                c
                for c in [
                    "breakdown",
                    "step",
                    "name",
                    "persons",
                    "conversion",
                    "ci_low",
                    "ci_high",
                    "step_conversion",
                    "dropoff",
                    "dropoff_rate",
                    "median_time_s",
                    "mean_time_s",
                    "immature",
                ]
                if c in self.df.columns
            ]
            body = self.formatted(200)[show].to_html(index=False, border=0, escape=True)
        notes = []
        imm = int(self.df["immature"].fillna(0).max()) if not self.df.empty else 0
        if imm and not self.mature_only:
            notes.append(
                f"{fmt_int(imm)} persons' windows are still open at as_of "
                "(use mature_only=True to leave them out)."
            )
        if self.mature_only:
            notes.append("Mature entries only (windows closed before as_of).")
        note = "".join(f"<div style='color:#666'>{html.escape(n)}</div>" for n in notes)
        return header_html(self.title, self.definition, self.scope) + body + note

    def plot(self, ax=None, **kw):
        """Horizontal funnel bars (conversion from step 1, % labels); grouped by breakdown."""
        import matplotlib.pyplot as plt

        df = self.df
        names = self.step_names()
        groups = list(dict.fromkeys(df["breakdown"])) if "breakdown" in df.columns else [None]
        n_g = max(1, len(groups))
        if ax is None:
            height = max(2.2, 0.45 * len(names) * (1 + 0.35 * (n_g - 1)) + 1)
            _, ax = plt.subplots(figsize=(charts.FIGSIZE[0], height))
        bar_h = 0.8 / n_g
        for gi, g in enumerate(groups):
            d = df if g is None else df[df["breakdown"] == g]
            d = d.set_index("step").reindex(range(1, len(names) + 1))
            ys = np.arange(len(names)) + (gi - (n_g - 1) / 2) * bar_h
            vals = d["conversion"].fillna(0.0).to_numpy()
            ax.barh(
                ys,
                vals,
                height=bar_h * 0.92,
                color=charts.PALETTE[gi % len(charts.PALETTE)],
                label=None if g is None else str(g),
            )
            for y, v, n in zip(ys, d["conversion"], d["persons"], strict=True):
                label = f"{fmt_pct(v)} ({fmt_int(n)})" if not is_missing(v) else MISSING
                ax.text((0 if is_missing(v) else v) + 0.01, y, label, va="center", fontsize=8)
        ax.set_yticks(np.arange(len(names)))
        ax.set_yticklabels([f"{i}. {n}" for i, n in enumerate(names, 1)])
        ax.invert_yaxis()
        ax.set_xlim(0, 1.15)
        ax.xaxis.set_major_formatter(charts.axis_formatter("rate"))
        ax.set_xlabel("Conversion from step 1 (% of persons)")
        ax.set_ylabel("")
        ax.set_title(kw.pop("title", self.title))
        ax.grid(axis="x", color="#E5E5E5")
        ax.grid(axis="y", visible=False)
        if n_g > 1:
            ax.legend(title=self.scope.breakdown if self.scope else None, loc="lower right")
        return ax


def _plot_time_to_convert(res: MetricResult, ax=None, **kw):
    return charts.bar(
        res.df,
        "bucket",
        "persons",
        title=kw.pop("title", res.title),
        ylabel="Persons",
        xlabel="Time between the two steps",
        unit="count",
        ax=ax,
    )


def _step_names(spec: FunnelSpec) -> list[str]:
    if spec.order == "any":
        n = len(spec.steps)
        return [f"{k} of {n} step{'s' if n > 1 else ''} (any order)" for k in range(1, n + 1)]
    return [s.label for s in spec.steps]


def _steps_frame(agg: pd.DataFrame, spec: FunnelSpec, breakdown: bool) -> pd.DataFrame:
    """Per-step rows from the one-row-per-breakdown aggregate."""
    k_n = len(spec.steps)
    names = _step_names(spec)
    rows = []
    for _, r in agg.iterrows():
        first = int(r["n1"])
        prev = None
        for k in range(1, k_n + 1):
            n = int(r[f"n{k}"])
            conv, ci = (None, wilson(n, first)) if not first else (n / first, wilson(n, first))
            if k == 1:
                step_conv, sci, drop, drop_rate = (
                    (1.0 if n else None),
                    wilson(n, n),
                    0,
                    (0.0 if n else None),
                )
            else:
                step_conv = n / prev if prev else None
                sci = wilson(n, prev)
                drop = prev - n
                drop_rate = drop / prev if prev else None
            row = {
                "step": k,
                "name": names[k - 1],
                "persons": n,
                "conversion": conv,
                "ci_low": ci.low,
                "ci_high": ci.high,
                "step_conversion": step_conv,
                "step_ci_low": sci.low,
                "step_ci_high": sci.high,
                "dropoff": drop,
                "dropoff_rate": drop_rate,
                "median_time_s": r.get(f"med{k}") if k > 1 else None,
                "mean_time_s": r.get(f"avg{k}") if k > 1 else None,
                "immature": int(r[f"i{k}"]),
            }
            if breakdown:
                row = {"breakdown": r["breakdown"], **row}
            rows.append(row)
            prev = n
    cols = (["breakdown"] if breakdown else []) + STEP_COLUMNS
    df = pd.DataFrame(rows, columns=cols)
    for c in [
        "conversion",
        "ci_low",
        "ci_high",
        "step_conversion",
        "step_ci_low",
        "step_ci_high",
        "dropoff_rate",
        "median_time_s",
        "mean_time_s",
    ]:
        df[c] = pd.to_numeric(df[c], errors="coerce").astype(float)
    for c in ["step", "persons", "dropoff", "immature"]:
        df[c] = df[c].astype("int64")
    return df


class FunnelScopeArgs(TypedDict, total=False):
    """The scope keywords a funnel takes (``window`` is the conversion window here)."""

    start: DateLike
    end: DateLike
    as_of: DateLike
    tz: str
    filters: dict[str, Any]
    breakdown: str | None


@records_sql
def funnel(
    wh,
    spec_or_steps: FunnelSpec | Sequence[Step | str],
    *,
    window: str | int | timedelta | tuple[int, str] | None = None,
    order: str | None = None,
    exclusions: Sequence[Exclusion] | None = None,
    exclusion_mode: str | None = None,
    breakdown_attribution: str | None = None,
    mature_only: bool = False,
    range_window: str | int | timedelta | None = None,
    **scope: Unpack[FunnelScopeArgs],
) -> FunnelResult:
    """Conversion funnel over the steps of ``spec_or_steps`` (METRICS.md section 5).

    Step 1 events in the range ``[start, end)`` start attempts; each person counts once
    at the furthest step reached (see the module docstring for the exact rules).
    ``window``, ``order``, ``exclusions``, ``exclusion_mode`` (``"furthest"`` or
    ``"attempt"``) and ``breakdown_attribution`` (``"first_touch"`` or ``"step1"``)
    override the spec's; ``range_window`` gives the range length when ``start`` is not
    given (default 30 days).
    """
    spec = (
        spec_or_steps
        if isinstance(spec_or_steps, FunnelSpec)
        else FunnelSpec(steps=list(spec_or_steps))
    )
    # a step naming an event the warehouse has never seen warns (UnknownNameWarning)
    check_events(wh, [n for st in spec.steps for n, _ in st.alternatives()], "funnel step")
    new_order = spec.order if order is None else _norm_order(order)
    mode = spec.exclusion_mode if exclusion_mode is None else exclusion_mode
    spec = FunnelSpec(
        steps=spec.steps,
        window=spec.window if window is None else window,
        order=new_order,
        exclusions=spec.exclusions if exclusions is None else exclusions,
        breakdown=scope.get("breakdown", spec.breakdown),
        name=spec.name,
        exclusion_mode=mode,
        breakdown_attribution=(
            spec.breakdown_attribution if breakdown_attribution is None else breakdown_attribution
        ),
    )
    win = parse_funnel_window(spec.window)
    kw: dict[str, Any] = {k: v for k, v in scope.items() if v is not None}
    kw["breakdown"] = spec.breakdown
    if range_window is not None:
        kw["window"] = range_window
    sc = resolve(wh, default_window=DEFAULT_RANGE, **kw)

    k_n = len(spec.steps)
    base = person_level_sql(sc, spec, win, mature_only=mature_only)
    d = sc.dialect
    aggs = []
    for k in range(1, k_n + 1):
        aggs.append(f"{d.count_if(f'reached >= {k}')} AS n{k}")
        aggs.append(f"{d.count_if(f'reached >= {k} AND NOT mature')} AS i{k}")
        if k > 1:
            secs = f"(t{k} - t{k - 1}) / 1e6"
            aggs.append(f"{d.median(secs)} AS med{k}")
            aggs.append(f"avg({secs}) AS avg{k}")
    # The per-person table is kept (a temporary table, dropped with the result) so the
    # drill-downs read the same persons the counts were made of, without a re-run.
    _drop_pending(wh)
    table = f"_funnel_persons_{os.getpid()}_{next(_TABLES)}"
    wh.execute(f"CREATE TEMP TABLE {table} AS {base}\nSELECT * FROM pp").fetchall()
    agg = wh.sql(f"SELECT bd AS breakdown, {', '.join(aggs)} FROM {table} GROUP BY bd ORDER BY bd")
    has_bd = bool(sc.breakdown)
    df = _steps_frame(agg, spec, has_bd)
    if has_bd and not df.empty:
        # Largest breakdown values first (by persons at step 1).
        size = df[df["step"] == 1].set_index("breakdown")["persons"]
        df["_n"] = df["breakdown"].map(size)
        df = (
            df.sort_values(["_n", "breakdown", "step"], ascending=[False, True, True])
            .drop(columns="_n")
            .reset_index(drop=True)
        )
    times = ", ".join(f"{d.utc_from_epoch_us(f't{k}')} AS t{k}" for k in range(1, k_n + 1))
    persons_sql = (
        f"SELECT {privacy.hash_id_sql('pid', d)} AS person, bd AS breakdown, reached, "
        f"mature, {times} FROM {table} ORDER BY t1, person"
    )
    how = {
        "ordered": "in order",
        "strict": "in order with no other event in between",
        "any": "in any order",
    }[spec.order]
    excl = ""
    if spec.exclusions:
        rule = (
            "a person whose furthest path met one is left out"
            if spec.exclusion_rule == "furthest"
            else "attempts that met one are left out"
        )
        excl = f"; {len(spec.exclusions)} exclusion(s): {rule}"
    attribution = ""
    if sc.breakdown:
        attribution = (
            f"; breakdown: {sc.breakdown} on the person's earliest funnel event that has it"
            if spec.breakdown_attribution == "first_touch"
            else f"; breakdown: {sc.breakdown} on the counting attempt's step-1 event"
        )
    definition = (
        f"Persons with a step-1 event in the range, counted at the furthest step reached "
        f"{how} within {_fmt_window(win)} of step 1"
        + excl
        + attribution
        + ("; mature entries only" if mature_only else "")
        + "."
    )
    result = FunnelResult(
        name="funnel",
        title=spec.name,
        df=df,
        definition=definition,
        scope=sc,
        units=dict(STEP_UNITS),
        x="name",
        y="conversion",
        kind="barh",
        hue="breakdown" if has_bd else None,
        extra={"as_of": sc.as_of, "window": win, "order": spec.order},
        spec=spec,
        conversion_window=win,
        mature_only=mature_only,
        wh=wh,
        persons_sql=persons_sql,
    )
    weakref.finalize(result, _PENDING_DROPS.append, (weakref.ref(wh), table))
    return result


#: Per-person tables of results that were garbage collected. They are dropped at the next
#: ``funnel()`` call on the same warehouse, not from the finalizer: a finalizer can run in
#: the middle of another query on the connection, and DuckDB refuses new statements while
#: a result is being fetched.
_PENDING_DROPS: list[tuple[weakref.ref, str]] = []


def _drop_pending(wh) -> None:
    keep = []
    while _PENDING_DROPS:
        ref, table = _PENDING_DROPS.pop()
        owner = ref()
        if owner is wh:
            with contextlib.suppress(Exception):  # the connection may be closed already
                wh.con.execute(f"DROP TABLE IF EXISTS {table}")
        elif owner is not None:
            keep.append((ref, table))
    _PENDING_DROPS.extend(keep)


def _fmt_window(td: timedelta) -> str:
    s = int(td.total_seconds())
    for unit in ("day", "hour", "minute"):
        n = _UNIT_SECONDS[unit]
        if s % n == 0 and s >= n:
            return f"{s // n} {unit}{'s' if s // n > 1 else ''}"
    return f"{s} seconds"


__all__ = [
    "SEED_FUNNEL",
    "Exclusion",
    "FunnelResult",
    "FunnelSpec",
    "Step",
    "fmt_duration",
    "funnel",
    "parse_funnel_window",
]
