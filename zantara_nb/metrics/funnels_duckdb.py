"""The funnel's step search in DuckDB SQL: one engine's implementation of one technique.

:func:`zantara_nb.metrics.funnels.funnel` defines what a funnel counts (its module
docstring and ``docs/metrics-funnels.md``); this module finds, for every person, the
counting attempt and the times of its steps, the way DuckDB does it fastest (the SQL
shape is described in the funnels module docstring: packed BIGINT/HUGEINT keys,
``arg_min``/``arg_max`` picks, ASOF joins for exclusions, window frames with
``EXCLUDE GROUP``). Another engine registers its own search with the same signature in
:data:`zantara_nb.metrics.funnels.STEP_SEARCH`; the rules it must follow are the same.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from ..warehouse.scope import Scope, is_person_key
from .funnels import MAX_ANY_GROUP, NONE_LABEL, FunnelSpec, Step, exclusion_bounds, step_sql


def _conflict_groups(steps: Sequence[Step]) -> list[list[int]]:
    """Steps (0-based) that can share an event name, as connected groups."""
    parent = list(range(len(steps)))

    def find(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    for i in range(len(steps)):
        for j in range(i + 1, len(steps)):
            if set(steps[i].events) & set(steps[j].events):
                parent[find(j)] = find(i)
    groups: dict[int, list[int]] = {}
    for i in range(len(steps)):
        groups.setdefault(find(i), []).append(i)
    return list(groups.values())


def _us(td: timedelta) -> int:
    return (td.days * 86400 + td.seconds) * 1_000_000 + td.microseconds


def _epoch_us(moment: datetime) -> int:
    return _us(moment - _EPOCH)


_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
#: Events are identified by their row id; packed keys keep 48 bits of it and 16 of the
#: tie preference: ``key = time_us << 64 | preference << 48 | row_id``.
_EID_BITS = 48
_EID_MASK = (1 << _EID_BITS) - 1


def person_level_sql(scope: Scope, spec: FunnelSpec, win: timedelta, *, mature_only: bool) -> str:
    """The WITH clause (no trailing SELECT) ending in ``pp``: one row per person.

    ``pp`` columns: ``pid``, ``bd`` (breakdown, first touch), ``reached`` (furthest step,
    1-based), ``mature``, ``t1`` .. ``tK`` (times of the counting attempt's steps, epoch
    microseconds). Inside, persons are keyed by ``pk = hash(person_id)`` (fixed-width
    keys join and sort faster than strings; a 64-bit collision among a few million
    persons has a probability below 1e-6), events by ``eid`` (the row id) and times are
    epoch microseconds.
    """
    steps = list(spec.steps)
    k_n = len(steps)
    order = spec.order
    strict = order == "strict"
    w_us = _us(win)
    start = scope.ts_sql(scope.start_utc)
    upper = scope.ts_sql(min(scope.as_of_utc, scope.end_utc + win))
    entry_end = _epoch_us(min(scope.end_utc, scope.as_of_utc))
    as_of = _epoch_us(scope.as_of_utc)

    needs_p = scope.needs_persons()
    masks = []
    for i, st in enumerate(steps, 1):
        sql, uses_p = step_sql(scope, st)
        needs_p |= uses_p
        masks.append((f"m{i}", sql))
    excl = []
    for x, ex in enumerate(spec.exclusions, 1):
        sql, uses_p = step_sql(scope, ex.step)
        needs_p |= uses_p
        excl.append((f"x{x}", sql, exclusion_bounds(ex, k_n)))
    events = sorted(
        {n for st in steps for n in st.events}
        | {n for ex in spec.exclusions for n in ex.step.events}
    )

    # Breakdown and the person id string: only needed on events that can start an attempt
    # (read once at the end for the counting attempts, not carried through the walk).
    entry = masks[0][1] if order != "any" else " OR ".join(m for _, m in masks)
    entry_masks = "m1" if order != "any" else " OR ".join(n for n, _ in masks)
    first_touch = bool(scope.breakdown) and spec.breakdown_attribution == "first_touch"
    bd = scope.breakdown_sql("e", "p") if scope.breakdown else "'all'"
    touch = ""
    if first_touch:
        raw = scope.dialect.as_text(scope.prop_sql(scope.breakdown, "e", "p"))
        none = scope.dialect.str_lit(NONE_LABEL)
        if is_person_key(scope.breakdown):
            # the person's value is on every event: its first touch is that value when
            # set (not empty), read on the attempt's step-1 event like step-1 attribution
            bd = f"CASE WHEN {raw} <> '' THEN {raw} ELSE {none} END"
            first_touch = False
        else:
            # the raw value where it is set (not NULL, not empty), on every event read
            bd = "'all'"
            touch = f", CASE WHEN {raw} <> '' THEN {raw} END AS bv"
    join = "LEFT JOIN persons p ON p.person_id = e.person_id" if needs_p else ""
    where = [
        f"e.timestamp >= {start}",
        f"e.timestamp < {upper}",
        "e.person_id IS NOT NULL",
        scope.filter_sql("e", "p"),
    ]
    if not strict:
        # Every reader of ``cand`` also filters on its own mask (a step, an exclusion).
        where.append(scope.dialect.in_list("e.event", events))
    cols = ", ".join(
        [f"{sql} AS {n}" for n, sql in masks] + [f"{sql} AS {n}" for n, sql, _ in excl]
    )
    # Not materialised: each step reads only its own events (the scan's filter pushdown
    # makes that cheaper than storing every candidate once).
    ctes = [
        f"cand AS NOT MATERIALIZED (SELECT hash(e.person_id) AS pk, e.rowid & {_EID_MASK} AS eid, "
        f"epoch_us(e.timestamp) AS ts, CASE WHEN {entry} THEN e.person_id END AS pid, "
        f"CASE WHEN {entry} THEN {bd} END AS bd{touch}, {cols} "
        f"FROM events e {join} WHERE {' AND '.join(where)})"
    ]
    if first_touch:
        # First touch (PostHog's argMinIf over the person's funnel events): the value on
        # the earliest event in the range (before as_of) matching a step or an exclusion
        # (strict funnels: any event of the person, as PostHog reads them all there).
        funnel_event = (
            ""
            if strict
            else " AND (" + " OR ".join([n for n, _ in masks] + [n for n, _, _ in excl]) + ")"
        )
        ctes.append(
            f"ft AS (SELECT pk, arg_min(bv, (ts::HUGEINT << {_EID_BITS}) + eid) AS v FROM cand "
            f"WHERE bv IS NOT NULL AND ts < {entry_end}{funnel_event} GROUP BY pk)"
        )

    src = "cand"
    if order == "any":
        ctes += _any_order_ctes(steps, w_us, entry_end, [n for n, _, _ in excl])
    else:
        if strict:
            # nt: the next (strictly later) time of any event of the person.
            ctes.append(
                "candn AS MATERIALIZED (SELECT *, min(ts) OVER (PARTITION BY pk ORDER BY ts "
                "RANGE BETWEEN CURRENT ROW AND UNBOUNDED FOLLOWING EXCLUDE GROUP) AS nt FROM cand)"
            )
            src = "candn"
        base = _epoch_us(scope.start_utc)
        span = max(0, _epoch_us(min(scope.as_of_utc, scope.end_utc + win)) - base)
        ctes += _ordered_ctes(
            steps, src, w_us, entry_end, strict, base=base, span_bits=span.bit_length()
        )
        times = ", ".join(f"t{k}" for k in range(1, k_n + 1))
        reached = " + ".join(["1"] + [f"(t{k} IS NOT NULL)::INTEGER" for k in range(2, k_n + 1)])
        if excl and spec.exclusion_rule == "furthest":
            ctes += _furthest_ctes(excl, k_n, strict, times, reached)
        else:
            last = f"a{k_n}"
            for name, _, (i, j) in excl:
                ctes.append(f"{name} AS (SELECT pk, ts FROM cand WHERE {name})")
                ctes.append(
                    f"z{name} AS (SELECT a.*, coalesce(x.ts IS NOT NULL AND CASE WHEN a.t{j} IS NOT NULL "
                    f"THEN x.ts < a.t{j} ELSE x.ts <= a.dl END, FALSE) AS ex_{name} "
                    f"FROM {last} a ASOF LEFT JOIN {name} x ON a.pk = x.pk AND a.t{i} < x.ts)"
                )
                last = f"z{name}"
            excluded = " OR ".join(f"ex_{n}" for n, _, _ in excl) or "FALSE"
            ctes.append(
                f"att AS MATERIALIZED (SELECT pk, e1, dl, {times}, {reached} AS reached "
                f"FROM {last} WHERE NOT ({excluded}))"
            )

    keep = f"WHERE dl < {as_of}" if mature_only else ""
    # The counting attempt: furthest step, then earliest step 1, then row id. Only its id is
    # aggregated (a struct of the whole row makes arg_max several times slower); its row is
    # joined back (``e1`` identifies an attempt).
    key = (
        f"(reached::HUGEINT << 112) + (({1 << 62} - t1)::HUGEINT << {_EID_BITS}) "
        f"+ ({_EID_MASK} - (e1 & {_EID_MASK}))"
    )
    if excl and order != "any" and spec.exclusion_rule == "furthest":
        # ``att`` holds every attempt with its exclusion verdict: apply the furthest-path
        # rule over the kept (mature) attempts, then count the earliest clean attempt.
        ctes += _furthest_person_ctes(keep, key)
    else:
        ctes.append(f"best AS (SELECT arg_max(e1, {key}) AS e1 FROM att {keep} GROUP BY pk)")
    times = ", ".join(f"a.t{k}" for k in range(1, k_n + 1))
    if first_touch:
        who = (
            f"SELECT w.pid, coalesce(ft.v, {scope.dialect.str_lit(NONE_LABEL)}) AS bd, "
            f"a.dl < {as_of} AS mature, a.reached, {times} "
        )
        touch_join = " LEFT JOIN ft ON ft.pk = a.pk"
    else:
        who = f"SELECT w.pid, w.bd, a.dl < {as_of} AS mature, a.reached, {times} "
        touch_join = ""
    ctes.append(
        f"pp AS ({who}"
        f"FROM att a JOIN best b ON a.e1 = b.e1 "
        f"JOIN (SELECT eid, pid, bd FROM {src} WHERE {entry_masks}) w ON w.eid = a.e1{touch_join})"
    )
    return "WITH " + ",\n".join(ctes)


def _furthest_ctes(
    excl: Sequence[tuple[str, str, tuple[int, int]]],
    k_n: int,
    strict: bool,
    times: str,
    reached: str,
) -> list[str]:
    """``att`` with every attempt and its exclusion verdict (the furthest-path rule).

    Gap s (steps s -> s+1) is covered by the exclusions with ``i <= s < j``. An attempt
    *meets* an exclusion at gap s when the first covering exclusion event strictly after
    its step-s event comes strictly before its step-(s+1) event, or, when it never reached
    step s+1, at or before its window end; in strict funnels that event must also be the
    person's next event after the step-s event (``n{s}``; any other event ends a strict
    attempt first). One ``ASOF JOIN`` per covered gap. ``g``: the first gap met;
    ``eff`` = min(reached, g + 1) (PostHog records an excluded path one step past the
    exclusion); ``te``: the time of the attempt's step ``eff``.
    """
    ctes = []
    last = f"a{k_n}"
    gaps = []
    for s in range(1, k_n):
        names = [n for n, _, (i, j) in excl if i <= s < j]
        if not names:
            continue
        gaps.append(s)
        ctes.append(f"xg{s} AS (SELECT pk, ts FROM cand WHERE {' OR '.join(names)})")
        met = f"CASE WHEN a.t{s + 1} IS NOT NULL THEN x.ts < a.t{s + 1} ELSE x.ts <= a.dl END" + (
            f" AND x.ts = a.n{s}" if strict else ""
        )
        ctes.append(
            f"zg{s} AS (SELECT a.*, coalesce(a.t{s} IS NOT NULL AND x.ts IS NOT NULL AND "
            f"{met}, FALSE) AS met{s}, x.ts AS xt{s} "
            f"FROM {last} a ASOF LEFT JOIN xg{s} x ON a.pk = x.pk AND a.t{s} < x.ts)"
        )
        last = f"zg{s}"
    first_gap = "CASE " + " ".join(f"WHEN met{s} THEN {s}" for s in gaps) + " END"
    x_time = "CASE " + " ".join(f"WHEN met{s} THEN xt{s}" for s in gaps) + " END"
    eff = "CASE WHEN g IS NOT NULL AND g + 1 < reached THEN g + 1 ELSE reached END"
    at = "CASE eff " + " ".join(f"WHEN {k} THEN t{k}" for k in range(1, k_n + 1)) + " END"
    ctes.append(
        f"att AS MATERIALIZED (SELECT *, {at} AS te FROM (SELECT *, {eff} AS eff FROM ("
        f"SELECT pk, e1, dl, {times}, {reached} AS reached, {first_gap} AS g, {x_time} AS xg "
        f"FROM {last})))"
    )
    return ctes


def _furthest_person_ctes(keep: str, key: str) -> list[str]:
    """``best``: the counting attempt of each person the furthest-path rule keeps.

    ``rs`` = the furthest effective step R* of the person's attempts. Attempts reaching
    R* at the same instant ``te`` are one path in PostHog's walk, carried by the
    latest-started of them (it holds the latest window): ``trk``, one row per path, with
    ``fx`` = the time of the exclusion it met after reaching R* (if it did). The person
    is kept when a path met no exclusion and no path's ``fx`` falls after its step-R*
    time and within its window (PostHog marks its furthest path excluded then too; in an
    ordered funnel such an ``fx`` would have excluded that path itself, so this only
    matters in strict funnels, where the exclusion event must follow the other path's
    step directly). The counting attempt is then the earliest attempt that met no
    exclusion and reached R*.
    """
    latest = f"(a.t1::HUGEINT << {_EID_BITS}) + (a.e1 & {_EID_MASK})"
    return [
        f"atk AS (SELECT *, g IS NOT NULL AS ex FROM att {keep})",
        "rs AS (SELECT pk, max(eff) AS rs FROM atk GROUP BY pk)",
        f"trk AS (SELECT a.pk, a.te, arg_max(a.ex, {latest}) AS ex, arg_max(a.dl, {latest}) AS dl, "
        f"arg_max(CASE WHEN a.g = a.eff THEN a.xg END, {latest}) AS fx "
        "FROM atk a JOIN rs ON rs.pk = a.pk AND a.eff = rs.rs GROUP BY a.pk, a.te)",
        "kept AS (SELECT DISTINCT c.pk FROM trk c LEFT JOIN trk f ON f.pk = c.pk "
        "AND f.fx > c.te AND f.fx <= c.dl WHERE NOT c.ex AND f.pk IS NULL)",
        f"best AS (SELECT arg_max(e1, {key}) AS e1 FROM atk "
        "WHERE NOT ex AND pk IN (SELECT pk FROM kept) GROUP BY pk)",
    ]


def _shares_events(a: Step, b: Step) -> bool:
    """Whether one event can match both steps (only then can they compete for it)."""
    return bool(set(a.events) & set(b.events))


def _pref_sql(steps: Sequence[Step], k: int) -> tuple[str, int]:
    """Tie preference of a step-k candidate and its width in bits.

    A bit per later step that shares an event name with step k (other later steps never
    match a step-k event), step k+1 the most significant: among candidates at one time the
    walk takes the one matching fewer of the next steps, those matching step k+1 last.
    """
    later = [j for j in range(k + 1, len(steps) + 1) if _shares_events(steps[k - 1], steps[j - 1])]
    terms = [
        f"(CASE WHEN c.m{j} THEN {1 << (len(later) - 1 - b)} ELSE 0 END)"
        for b, j in enumerate(later)
    ]
    return (f"({' + '.join(terms)})::BIGINT" if terms else ""), len(later)


#: Widest BIGINT rank (time since the range start, then the tie preference); beyond it
#: (ranges of thousands of years, or many steps sharing events) the rank is a HUGEINT.
_RANK_BITS = 62


@dataclass(frozen=True)
class _Rank:
    """A candidate's rank for the fast path: (time, tie preference) packed in one number.

    ``sql`` is over the candidate ``c``; ``time(r)`` decodes the time from a rank. BIGINT
    (cheaper to aggregate) when the time relative to ``base`` and the preference fit in
    ``_RANK_BITS``, else HUGEINT.
    """

    sql: str
    bits: int
    base: int
    wide: bool

    def time(self, r: str) -> str:
        if not self.bits:
            return r
        if self.wide:
            return f"({r} >> {self.bits})::BIGINT"
        return f"(({r} >> {self.bits}) + {self.base})"


def _rank(steps: Sequence[Step], k: int, base: int, span_bits: int) -> _Rank:
    """The rank of step-k candidates; ``span_bits``: width of the times since ``base``."""
    pref, bits = _pref_sql(steps, k)
    if not bits:
        return _Rank("c.ts", 0, base, False)
    if span_bits + bits <= _RANK_BITS:
        return _Rank(f"(((c.ts - {base}) << {bits}) + {pref})", bits, base, False)
    return _Rank(f"((c.ts::HUGEINT << {bits}) + {pref})", bits, base, True)


def _ordered_ctes(
    steps: Sequence[Step],
    src: str,
    w_us: int,
    entry_end: int,
    strict: bool,
    *,
    base: int,
    span_bits: int,
) -> list[str]:
    """Attempts (``a1``) and the greedy walk: ``a2`` .. ``aK`` add ``t{k}``, ``e{k}``.

    For step k an attempt waiting at time ``tp`` (its step k-1 event) takes the best
    candidate at or after ``tp`` that it has not used yet; "best" orders by time, then
    the tie preference (candidates matching fewer of the next steps first). Candidates
    equal in both are interchangeable for the rest of the walk (same later steps, same
    time), so which one is taken (any in ``f{k}``, the lowest row id in ``g{k}``) changes
    no result.

    ``p{k}``: per person, the live attempts' waiting times and deadline. A person is
    *fast* when all live attempts wait at one time ``lo`` and have used the same events at
    ``lo`` (among steps sharing an event name with step k; the usual case once attempts
    converge, e.g. after the signup): then all of them take the same candidate, found by
    one hash join + aggregate over the step's candidates (``f{k}``, BIGINT min/arg_min,
    the used events left out in the join). Other persons' candidates are kept per time
    (``g{k}``, the k best by packed key ``time << 64 | preference << 48 | row id``) and
    searched with a window (``m{k}``, first later time) and an equi-join (same time).
    """
    k_n = len(steps)
    n1 = ", nt AS n1" if strict else ""
    ctes = [
        f"a1 AS (SELECT pk, ts + {w_us} AS dl, eid AS e1, ts AS t1{n1} "
        f"FROM {src} WHERE m1 AND ts < {entry_end})"
    ]
    for k in range(2, k_n + 1):
        ctes += _step_ctes(steps, k, src, _rank(steps, k, base, span_bits))
        ctes += _take_ctes(k, src, strict)
    return ctes


def _step_ctes(steps: Sequence[Step], k: int, src: str, rank: _Rank) -> list[str]:
    """``p{k}`` (live attempts per person), ``f{k}`` (fast persons' pick), ``g{k}`` and
    ``m{k}`` (other persons' candidates per time, first later time) and ``b{k}`` (each
    attempt with its pick: fast ``r``/``fe``, else packed ``sv``)."""
    prev, tp = f"a{k - 1}", f"t{k - 1}"
    # Earlier steps whose used events can be step-k candidates.
    rivals = [i for i in range(1, k) if _shares_events(steps[i - 1], steps[k - 1])]
    used_at = [f"CASE WHEN t{i} = {tp} THEN e{i} ELSE -1 END" for i in rivals]
    same_used = "".join(f" AND min({u}) = max({u})" for u in used_at)
    used_cols = "".join(f", max({u}) AS u{i}" for i, u in zip(rivals, used_at, strict=True))
    not_used = "".join(f" AND c.eid <> p.u{i}" for i in rivals)
    pref, _ = _pref_sql(steps, k)
    key = "(c.ts::HUGEINT << 64) + c.eid" + (f" + ({pref} << {_EID_BITS})::HUGEINT" if pref else "")
    used = ", ".join(f"a.e{i}" for i in range(1, k))
    first_unused = " ".join(
        f"WHEN (z.same[{i}] & {_EID_MASK})::BIGINT NOT IN ({used}) THEN z.same[{i}]"
        for i in range(1, k + 1)
    )
    join = f"FROM {src} c JOIN p{k} p ON c.pk = p.pk WHERE c.m{k} AND c.ts >= p.lo AND c.ts <= p.hi"
    return [
        f"p{k} AS MATERIALIZED (SELECT pk, min({tp}) AS lo, max(dl) AS hi, "
        f"min({tp}) = max({tp}){same_used} AS fast{used_cols} "
        f"FROM {prev} WHERE {tp} IS NOT NULL GROUP BY pk)",
        f"f{k} AS (SELECT c.pk, min({rank.sql}) AS r, arg_min(c.eid, {rank.sql}) AS fe "
        f"{join} AND p.fast{not_used} GROUP BY c.pk)",
        f"g{k} AS MATERIALIZED (SELECT c.pk, c.ts AS gts, min({key}, {k}) AS same "
        f"{join} AND NOT p.fast GROUP BY ALL)",
        # first later time: the best candidate after the waiting time, over the attempts
        # and the candidate times of the person in time order (a window, not an ASOF join:
        # DuckDB plans those as nested loops when it underestimates the attempts)
        f"m{k} AS (SELECT aid, v FROM (SELECT aid, min(v) OVER (PARTITION BY pk ORDER BY t "
        "RANGE BETWEEN CURRENT ROW AND UNBOUNDED FOLLOWING EXCLUDE GROUP) AS v FROM ("
        f"SELECT pk, e1 AS aid, {tp} AS t, NULL::HUGEINT AS v FROM {prev} "
        f"WHERE {tp} IS NOT NULL AND pk IN (SELECT pk FROM p{k} WHERE NOT fast) "
        f"UNION ALL SELECT pk, NULL, gts, same[1] FROM g{k})) WHERE aid IS NOT NULL)",
        f"b{k} AS (SELECT a.*, CASE WHEN a.{tp} IS NOT NULL THEN {rank.time('f.r')} END AS ft, "
        f"f.fe, CASE {first_unused} ELSE m.v END AS sv FROM {prev} a "
        f"LEFT JOIN f{k} f ON f.pk = a.pk "
        f"LEFT JOIN g{k} z ON z.pk = a.pk AND z.gts = a.{tp} "
        f"LEFT JOIN m{k} m ON m.aid = a.e1)",
    ]


def _take_ctes(k: int, src: str, strict: bool) -> list[str]:
    """``a{k}``: the attempts with ``t{k}``, ``e{k}`` (and ``n{k}`` in strict mode) when the
    pick is inside the window (and, strict, before the person's next event)."""
    ctes = [
        f"q{k} AS (SELECT * EXCLUDE (ft, fe, sv), "
        f"CASE WHEN ft IS NOT NULL THEN ft ELSE (sv >> 64)::BIGINT END AS vt, "
        f"CASE WHEN ft IS NOT NULL THEN fe ELSE (sv & {_EID_MASK})::BIGINT END AS ve FROM b{k})"
    ]
    if strict:
        ok = f"vt <= dl AND vt <= coalesce(n{k - 1}, vt)"
        # the chosen candidate's next-event time: look it up by row id
        ctes.append(
            f"a{k} AS (SELECT q.* EXCLUDE (vt, ve), CASE WHEN {ok} THEN vt END AS t{k}, "
            f"CASE WHEN {ok} THEN ve END AS e{k}, CASE WHEN {ok} THEN x.nt END AS n{k} "
            f"FROM q{k} q LEFT JOIN (SELECT eid, nt FROM {src} WHERE m{k}) x ON x.eid = q.ve)"
        )
    else:
        ctes.append(
            f"a{k} AS (SELECT * EXCLUDE (vt, ve), CASE WHEN vt <= dl THEN vt END AS t{k}, "
            f"CASE WHEN vt <= dl THEN ve END AS e{k} FROM q{k})"
        )
    return ctes


def _any_order_ctes(
    steps: Sequence[Step], w_us: int, entry_end: int, xs: Sequence[str] = ()
) -> list[str]:
    """Any order: per attempt start, the maximum matching of steps to distinct events.

    By Hall's theorem the matching misses ``max over step sets T of |T| - n(T)`` steps,
    where ``n(T)`` counts events in the window matching some step of T. Only steps that
    can share an event interact, so T ranges over the subsets of each conflict group.

    Exclusions (``xs``, mask names; they cover the whole funnel): an attempt starting at
    t is dropped when the first exclusion event strictly after t comes at or before its
    window end while the events in ``[t, x]`` do not yet complete the funnel (PostHog's
    unordered walk clears its window at an exclusion unless the window already completed).
    ``n(T)`` over ``[t, x]`` is a difference of running counts: at x (``u``, ts <= x) and
    before t (``b``, ts < t); x's counts come with it through one ``ASOF JOIN``.
    """
    k_n = len(steps)
    counts, deficits, runs, x_deficits = [], [], [], []
    for g in _conflict_groups(steps):
        if len(g) > MAX_ANY_GROUP:
            raise ValueError(f"any-order funnel: more than {MAX_ANY_GROUP} steps share events")
        terms, x_terms = [], []
        for bits in range(1, 1 << len(g)):
            members = [g[i] for i in range(len(g)) if bits >> i & 1]
            name = "n_" + "_".join(str(m + 1) for m in members)
            cond = " OR ".join(f"m{m + 1}" for m in members)
            counts.append(f"count(*) FILTER (WHERE {cond}) OVER w AS {name}")
            terms.append(f"{len(members)} - a.{name}")
            if xs:
                runs.append(f"count(*) FILTER (WHERE {cond}) OVER wb AS b{name}")
                runs.append(f"count(*) FILTER (WHERE {cond}) OVER wu AS u{name}")
                x_terms.append(f"{len(members)} - (x.u{name} - a.b{name})")
        deficits.append(f"greatest(0, {', '.join(terms)})")
        x_deficits.append(f"greatest(0, {', '.join(x_terms)})")
    any_step = " OR ".join(f"m{i}" for i in range(1, k_n + 1))
    nulls = "".join(f", NULL::BIGINT AS t{k}" for k in range(2, k_n + 1))
    window = f"w AS (PARTITION BY pk ORDER BY ts RANGE BETWEEN CURRENT ROW AND {w_us} FOLLOWING)"
    reached = f"{k_n} - ({' + '.join(deficits)}) AS reached"
    head = f"SELECT a.pk, a.eid AS e1, a.ts + {w_us} AS dl, a.ts AS t1{nulls}, {reached}"
    if not xs:
        return [
            f"aw AS (SELECT pk, eid, ts, {', '.join(counts)} FROM cand WHERE {any_step} "
            f"WINDOW {window})",
            f"att AS MATERIALIZED ({head} FROM aw a WHERE a.ts < {entry_end})",
        ]
    any_x = " OR ".join(xs)
    u_cols = ", ".join(c.split(" AS ")[1] for c in runs if " AS u" in c)
    return [
        f"aw AS (SELECT pk, eid, ts, ({any_step}) AS st, ({any_x}) AS xe, "
        f"{', '.join(counts + runs)} FROM cand WHERE {any_step} OR {any_x} "
        f"WINDOW {window}, "
        "wb AS (PARTITION BY pk ORDER BY ts RANGE BETWEEN UNBOUNDED PRECEDING AND 1 PRECEDING), "
        "wu AS (PARTITION BY pk ORDER BY ts RANGE BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW))",
        f"xr AS (SELECT pk, ts, {u_cols} FROM aw WHERE xe)",
        f"att AS MATERIALIZED ({head} FROM aw a ASOF LEFT JOIN xr x ON a.pk = x.pk AND a.ts < x.ts "
        f"WHERE a.st AND a.ts < {entry_end} AND NOT coalesce(x.ts <= a.ts + {w_us} "
        f"AND ({' + '.join(x_deficits)}) > 0, FALSE))",
    ]


# ------------------------------------------------------------------------------------------
# Result
# ------------------------------------------------------------------------------------------
