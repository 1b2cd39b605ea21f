"""The funnel's step search in ClickHouse SQL: per-person sorted event arrays and an array walk.

:func:`zantara_nb.metrics.funnels.funnel` defines what a funnel counts (its module
docstring and ``docs/metrics-funnels.md``); this module finds, for every person, the
counting attempt and the times of its steps the way ClickHouse (and PostHog on it) does
best: one ``GROUP BY`` person gathers the person's funnel events into arrays sorted by
time (``T`` times, ``E`` event ids, ``S`` step bitmasks, ``X`` exclusion bitmasks), and
the walk runs over those arrays with ClickHouse's higher-order functions. PostHog feeds
the same per-person arrays to its funnel UDF (a Rust program); here the walk is plain
SQL, so it runs on chdb and on any ClickHouse server without installing anything.

- **Attempts** are array indices (``ARRAY JOIN`` of the step-1 events in range, any
  order: of every step event). For step k an attempt takes the first index of
  ``ORD_k`` (the person's events ordered by time, then the tie preference of step k,
  then event id) that matches step k, is at or after its step-(k-1) event, within the
  window, and not already used by the attempt (``arrayFirst``). Strict funnels also
  need the pick at or before the person's next event after step k-1.
- **Exclusions**: the first exclusion event after a step is ``arrayFirst(x -> x > t,
  XT)`` over the exclusion times; the attempt rule and the furthest-path rule are then
  the same per-attempt and per-person SQL as the DuckDB search (``atk``, ``rs``,
  ``trk``, ``kept``, ``best``).
- **Any order**: per attempt the counts of events in ``[t, t + window]`` matching each
  set of steps that can share an event (``arrayCount``), Hall's theorem giving the
  maximum matching, as in the DuckDB search.

Events are identified by ``cityHash64(uuid)`` (ClickHouse has no row id): where the rules
break a tie "by row id" (two step-1 events of one person at the same microsecond), this
engine may pick the other one; counts and times are the same, only a step-1 breakdown
value could differ.

ClickHouse's own ``windowFunnel`` is not used: it counts the longest chain of a person
in any window, one event may fill several steps, and it has no exclusions, first touch or
counting attempt; ``bench_metrics.py`` prints it as a reference row only.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime, timedelta

from ..warehouse.scope import Scope, is_person_key
from .funnels import MAX_ANY_GROUP, NONE_LABEL, FunnelSpec, Step, exclusion_bounds, step_sql

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
#: "no time" inside the walk (after every real time)
_NEVER = (1 << 62) - 1


def _us(td: timedelta) -> int:
    return (td.days * 86400 + td.seconds) * 1_000_000 + td.microseconds


def _epoch_us(moment: datetime) -> int:
    return _us(moment - _EPOCH)


def _shares(a: Step, b: Step) -> bool:
    return bool(set(a.events) & set(b.events))


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
            if _shares(steps[i], steps[j]):
                parent[find(j)] = find(i)
    groups: dict[int, list[int]] = {}
    for i in range(len(steps)):
        groups.setdefault(find(i), []).append(i)
    return list(groups.values())


def _pref(steps: Sequence[Step], k: int, s: str) -> str | None:
    """Tie preference of a step-k candidate with step mask ``s`` (smaller is taken first):
    a bit per later step sharing an event name with step k, step k+1 the most significant."""
    later = [j for j in range(k + 1, len(steps) + 1) if _shares(steps[k - 1], steps[j - 1])]
    if not later:
        return None
    terms = [
        f"bitShiftLeft(toUInt64(bitTest({s}, {j - 1})), {len(later) - 1 - b})"
        for b, j in enumerate(later)
    ]
    return " + ".join(terms)


def _mask(names: Sequence[str]) -> str:
    """A UInt64 bitmask of boolean columns (bit i for ``names[i]``)."""
    if not names:
        return "toUInt64(0)"
    return " + ".join(f"bitShiftLeft(toUInt64(ifNull({n}, 0)), {i})" for i, n in enumerate(names))


def person_level_sql(scope: Scope, spec: FunnelSpec, win: timedelta, *, mature_only: bool) -> str:
    """The WITH clause (no trailing SELECT) ending in ``pp``: one row per person.

    ``pp`` columns: ``pid``, ``bd`` (breakdown), ``reached`` (furthest step, 1-based),
    ``mature``, ``t1`` .. ``tK`` (times of the counting attempt's steps, epoch
    microseconds): the same as every engine's search.
    """
    d = scope.dialect
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

    entry = masks[0][1] if order != "any" else " OR ".join(f"({m})" for _, m in masks)
    first_touch = bool(scope.breakdown) and spec.breakdown_attribution == "first_touch"
    bd = scope.breakdown_sql("e", "p") if scope.breakdown else "'all'"
    touch = ""
    none = d.str_lit(NONE_LABEL)
    if first_touch:
        raw = d.as_text(scope.prop_sql(scope.breakdown, "e", "p"))
        if is_person_key(scope.breakdown):
            bd = f"CASE WHEN {raw} <> '' THEN {raw} ELSE {none} END"
            first_touch = False
        else:
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
        where.append(d.in_list("e.event", events))
    cols = ", ".join(
        [f"({sql}) AS {n}" for n, sql in masks] + [f"({sql}) AS {n}" for n, sql, _ in excl]
    )
    # the breakdown value of each entry event, carried in the arrays (none: 'all')
    per_entry_bd = bd != "'all'"
    bd_col = ", bd" if per_entry_bd else ""
    ctes = [
        f"cand AS (SELECT cityHash64(e.person_id) AS pk, cityHash64(e.uuid) AS eid, "
        f"toInt64(toUnixTimestamp64Micro(e.timestamp)) AS ts, "
        f"CASE WHEN {entry} THEN e.person_id END AS pid, "
        f"CASE WHEN {entry} THEN {bd} END AS bd{touch}, {cols} "
        f"FROM events e {join} WHERE {' AND '.join(where)})",
        # the person's events as arrays in time order (then event id): the walk's input;
        # tuples sort by their first elements, so no sort key is built. The person id
        # (of an entry event) and each entry's breakdown value ride along, so the result
        # needs no second pass over the events.
        f"ev AS (SELECT pk, any(pid) AS pid, arraySort(groupArray(tuple(ts, eid, sm, xm{bd_col}))) AS a "
        f"FROM (SELECT pk, pid, ts, eid, {_mask([n for n, _ in masks])} AS sm, "
        f"{_mask([n for n, _, _ in excl])} AS xm{bd_col} FROM cand"
        + ("" if strict else " WHERE sm <> 0 OR xm <> 0")
        + ") GROUP BY pk)",
    ]
    if first_touch:
        funnel_event = (
            ""
            if strict
            else " AND (" + " OR ".join([n for n, _ in masks] + [n for n, _, _ in excl]) + ")"
        )
        ctes.append(
            f"ft AS (SELECT pk, argMin(bv, tuple(ts, eid)) AS v FROM cand "
            f"WHERE bv IS NOT NULL AND ts < {entry_end}{funnel_event} GROUP BY pk)"
        )
    arrays = ["pid", "a.1 AS T", "a.2 AS E", "a.3 AS S", "a.4 AS X"]
    if per_entry_bd:
        arrays.append("a.5 AS B")
    b1 = "B[i1]" if per_entry_bd else "'all'"  # the breakdown value of the attempt's entry
    if order == "any":
        ctes += _any_order_ctes(steps, w_us, entry_end, excl, arrays, b1)
    else:
        for k in range(2, k_n + 1):
            pref = _pref(steps, k, "S[j]")
            if pref:
                arrays.append(f"arraySort(j -> tuple(T[j], {pref}, j), arrayEnumerate(T)) AS O{k}")
        ctes.append(f"per AS (SELECT pk, {', '.join(arrays)} FROM ev)")
        ctes += _walk_ctes(steps, w_us, entry_end, strict, excl, b1)
        times = ", ".join(f"t{k}" for k in range(1, k_n + 1))
        reached = " + ".join(["1"] + [f"toInt64(t{k} IS NOT NULL)" for k in range(2, k_n + 1)])
        if excl and spec.exclusion_rule == "furthest":
            ctes += _furthest_ctes(excl, k_n, strict, times, reached)
        else:
            drops = []
            for name, _, (i, j) in excl:
                bit = int(name[1:]) - 1
                xt = f"arrayFirst(v -> v > t{i}, arrayFilter((v, m) -> bitTest(m, {bit}), T, X))"
                drops.append(
                    f"(t{i} IS NOT NULL AND {xt} > 0 AND if(t{j} IS NOT NULL, "
                    f"{xt} < t{j}, {xt} <= dl))"
                )
            excluded = " OR ".join(drops) or "0"
            ctes.append(
                f"att AS (SELECT pk, pid, b1, e1, dl, {times}, {reached} AS reached FROM w{k_n} "
                f"WHERE NOT ({excluded}))"
            )

    keep = f"WHERE dl < {as_of}" if mature_only else ""
    key = "tuple(-reached, t1, e1)"
    # the counting attempt of each person, whole, in one pass (a CTE is inlined where it
    # is named: joining the attempts back would run the walk twice)
    chosen = "tuple(pid, b1, dl, reached, " + ", ".join(f"t{k}" for k in range(1, k_n + 1)) + ")"
    if excl and order != "any" and spec.exclusion_rule == "furthest":
        ctes += _furthest_person_ctes(keep, key, chosen)
    else:
        ctes.append(
            f"best AS (SELECT pk, argMin({chosen}, {key}) AS c FROM att {keep} GROUP BY pk)"
        )
    times = ", ".join(f"tupleElement(b.c, {k + 4}) AS t{k}" for k in range(1, k_n + 1))
    if first_touch:
        bd_out = f"coalesce(ft.v, {none})"
        touch_join = " LEFT JOIN ft ON ft.pk = b.pk"
    else:
        bd_out = "tupleElement(b.c, 2)"
        touch_join = ""
    ctes.append(
        f"pp AS (SELECT tupleElement(b.c, 1) AS pid, {bd_out} AS bd, "
        f"CAST(tupleElement(b.c, 3) < {as_of} AS Bool) AS mature, "
        f"tupleElement(b.c, 4) AS reached, {times} FROM best b{touch_join})"
    )
    return "WITH " + ",\n".join(ctes)


def _next_after(t: str) -> str:
    """The person's next event time strictly after ``t`` (``_NEVER`` when none)."""
    return f"if(arrayFirst(v -> v > {t}, T) = 0, {_NEVER}, arrayFirst(v -> v > {t}, T))"


def _walk_ctes(
    steps: Sequence[Step],
    w_us: int,
    entry_end: int,
    strict: bool,
    excl: Sequence[tuple[str, str, tuple[int, int]]],
    b1: str,
) -> list[str]:
    """``w1`` .. ``wK``: one row per attempt (an index ``i1`` into the person's arrays)
    with the index ``i{k}`` (0: not reached) and time ``t{k}`` of each step, the person
    id and ``b1``, the breakdown value of its entry event."""
    k_n = len(steps)
    n1 = f", {_next_after('T[i1]')} AS n1" if strict else ""
    ctes = [
        f"w1 AS (SELECT pk, T, E, S, X{''.join(f', O{k}' for k in range(2, k_n + 1) if _pref(steps, k, 'S[j]'))}, "
        f"pid, i1, {b1} AS b1, T[i1] AS t1, E[i1] AS e1, T[i1] + {w_us} AS dl{n1} FROM per "
        f"ARRAY JOIN arrayFilter(j -> bitTest(S[j], 0) AND T[j] < {entry_end}, "
        "arrayEnumerate(T)) AS i1)"
    ]
    for k in range(2, k_n + 1):
        prev = f"i{k - 1}"
        used = "[" + ", ".join(f"i{i}" for i in range(1, k)) + "]"
        ordk = f"O{k}" if _pref(steps, k, "S[j]") else "arrayEnumerate(T)"
        cand = (
            f"if({prev} = 0, 0, arrayFirst(j -> bitTest(S[j], {k - 1}) AND T[j] >= T[{prev}] "
            f"AND T[j] <= dl AND NOT has({used}, j), {ordk}))"
        )
        ok = f"c{k} <> 0" + (f" AND T[c{k}] <= n{k - 1}" if strict else "")
        nk = f", if(i{k} = 0, NULL, {_next_after(f'T[i{k}]')}) AS n{k}" if strict else ""
        ctes.append(
            f"w{k} AS (SELECT *, if(i{k} = 0, NULL, T[i{k}]) AS t{k}{nk} FROM "
            f"(SELECT *, if({ok}, c{k}, 0) AS i{k} FROM (SELECT *, {cand} AS c{k} FROM w{k - 1})))"
        )
    return ctes


def _furthest_ctes(
    excl: Sequence[tuple[str, str, tuple[int, int]]],
    k_n: int,
    strict: bool,
    times: str,
    reached: str,
) -> list[str]:
    """``att`` with every attempt and its exclusion verdict (the furthest-path rule; the
    same columns as the DuckDB search: ``g`` first gap met, ``xg`` its exclusion time,
    ``eff`` effective step, ``te`` its time)."""
    gaps, met_cols = [], []
    for s in range(1, k_n):
        bits = [int(n[1:]) - 1 for n, _, (i, j) in excl if i <= s < j]
        if not bits:
            continue
        gaps.append(s)
        mask = sum(1 << b for b in bits)
        xt = f"arrayFirst(v -> v > t{s}, arrayFilter((v, m) -> bitAnd(m, {mask}) <> 0, T, X))"
        cond = f"if(t{s + 1} IS NOT NULL, x{s} < t{s + 1}, x{s} <= dl)" + (
            f" AND x{s} = n{s}" if strict else ""
        )
        met_cols.append(f"{xt} AS x{s}")
        met_cols.append(f"(t{s} IS NOT NULL AND x{s} > 0 AND {cond}) AS met{s}")
    first_gap = "multiIf(" + ", ".join(f"met{s}, {s}" for s in gaps) + ", NULL)"
    x_time = "multiIf(" + ", ".join(f"met{s}, x{s}" for s in gaps) + ", NULL)"
    eff = "if(g IS NOT NULL AND g + 1 < reached, g + 1, reached)"
    at = "multiIf(" + ", ".join(f"eff = {k}, t{k}" for k in range(1, k_n + 1)) + ", NULL)"
    return [
        f"wx AS (SELECT *, {', '.join(met_cols)} FROM w{k_n})",
        f"att AS (SELECT *, {at} AS te FROM (SELECT *, {eff} AS eff FROM ("
        f"SELECT pk, pid, b1, e1, dl, {times}, {reached} AS reached, {first_gap} AS g, "
        f"{x_time} AS xg "
        "FROM wx)))",
    ]


def _furthest_person_ctes(keep: str, key: str, chosen: str) -> list[str]:
    """``best`` by the furthest-path rule (see the DuckDB search: the same steps)."""
    latest = "tuple(a.t1, a.e1)"
    return [
        f"atk AS (SELECT *, g IS NOT NULL AS ex FROM att {keep})",
        "rs AS (SELECT pk, max(eff) AS rs FROM atk GROUP BY pk)",
        f"trk AS (SELECT a.pk AS pk, a.te AS te, argMax(a.ex, {latest}) AS ex, "
        f"argMax(a.dl, {latest}) AS dl, argMax(if(a.g = a.eff, a.xg, NULL), {latest}) AS fx "
        "FROM atk a JOIN rs ON rs.pk = a.pk AND a.eff = rs.rs GROUP BY a.pk, a.te)",
        "kept AS (SELECT DISTINCT c.pk AS pk FROM trk c LEFT JOIN trk f ON f.pk = c.pk "
        "AND f.fx > c.te AND f.fx <= c.dl WHERE NOT c.ex AND f.pk IS NULL)",
        f"best AS (SELECT pk, argMin({chosen}, {key}) AS c FROM atk "
        "WHERE NOT ex AND pk IN (SELECT pk FROM kept) GROUP BY pk)",
    ]


def _any_order_ctes(
    steps: Sequence[Step],
    w_us: int,
    entry_end: int,
    excl: Sequence[tuple[str, str, tuple[int, int]]],
    arrays: list[str],
    b1: str,
) -> list[str]:
    """Any order: per attempt start t (every step event in range), the maximum matching of
    steps to distinct events in ``[t, t + window]`` (Hall's theorem over the subsets of each
    group of steps that can share an event); with exclusions the attempt is dropped when
    the first exclusion event x after t comes within the window while ``[t, x]`` does not
    yet complete the funnel."""
    k_n = len(steps)
    deficits, x_deficits = [], []
    for g in _conflict_groups(steps):
        if len(g) > MAX_ANY_GROUP:
            raise ValueError(f"any-order funnel: more than {MAX_ANY_GROUP} steps share events")
        terms, x_terms = [], []
        for bits in range(1, 1 << len(g)):
            members = [g[i] for i in range(len(g)) if bits >> i & 1]
            mask = sum(1 << m for m in members)
            n = f"arrayCount((v, m) -> v >= t1 AND v <= dl AND bitAnd(m, {mask}) <> 0, T, S)"
            terms.append(f"{len(members)} - {n}")
            if excl:
                nx = f"arrayCount((v, m) -> v >= t1 AND v <= xf AND bitAnd(m, {mask}) <> 0, T, S)"
                x_terms.append(f"{len(members)} - {nx}")
        deficits.append(f"greatest(0, {', '.join(terms)})")
        if excl:
            x_deficits.append(f"greatest(0, {', '.join(x_terms)})")
    nulls = "".join(f", CAST(NULL AS Nullable(Int64)) AS t{k}" for k in range(2, k_n + 1))
    reached = f"toInt64({k_n} - ({' + '.join(deficits)}))"
    ctes = [
        f"per AS (SELECT pk, {', '.join(arrays)} FROM ev)",
        f"aw AS (SELECT pk, pid, T, S, X, i1, {b1} AS b1, T[i1] AS t1, E[i1] AS e1, "
        f"T[i1] + {w_us} AS dl FROM per "
        f"ARRAY JOIN arrayFilter(j -> S[j] <> 0 AND T[j] < {entry_end}, arrayEnumerate(T)) AS i1)",
    ]
    if not excl:
        ctes.append(f"att AS (SELECT pk, pid, b1, e1, dl, t1{nulls}, {reached} AS reached FROM aw)")
        return ctes
    xmask = sum(1 << (int(n[1:]) - 1) for n, _, _ in excl)
    xf = f"arrayFirst(v -> v > t1, arrayFilter((v, m) -> bitAnd(m, {xmask}) <> 0, T, X))"
    ctes.append(f"awx AS (SELECT *, {xf} AS xf FROM aw)")
    ctes.append(
        f"att AS (SELECT pk, pid, b1, e1, dl, t1{nulls}, {reached} AS reached FROM awx "
        f"WHERE NOT (xf > 0 AND xf <= dl AND ({' + '.join(x_deficits)}) > 0))"
    )
    return ctes
