"""Checks derived from the tracking plan: SQL for the row checks, Python for the counts.

Row checks run in DuckDB (one pass, no per-row Python): a tracked property of the
wrong JSON type, outside its allowed values or its min/max quarantines the row
(``invalid_property``, field = the property). Everything else the plan says is a
warning, counted per load from ``(event, property keys)`` aggregates in Python:
unknown events, unknown properties, naming problems, camelCase aliases, redactions,
values cut to the size limit.
"""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import dataclass, field

from ..warehouse import tracking_plan as tp
from ..warehouse.dialects import DuckDBDialect

_DIALECT = DuckDBDialect()


def sql_str(value: str) -> str:
    """A SQL string literal (the dialect's quoting; the loader writes DuckDB SQL)."""
    return _DIALECT.str_lit(value)


def json_path(key: str) -> str:
    """A DuckDB JSON path literal for a top-level key (keys may contain ``$``)."""
    return sql_str('$."' + key.replace("\\", "\\\\").replace('"', '\\"') + '"')


def _camel_variants(name: str) -> set[str]:
    prefix = "$" if name.startswith("$") else ""
    parts = name.lstrip("$").split("_")
    if len(parts) < 2:
        return set()
    camel = parts[0] + "".join(p[:1].upper() + p[1:] for p in parts[1:])
    pascal = camel[:1].upper() + camel[1:]
    return {prefix + camel, prefix + pascal} - {name}


def _all_known() -> frozenset[str]:
    names = set(tp.COMMON_PROPS)
    for spec in tp.EVENTS.values():
        names |= set(spec.props)
    for col in tp.TYPED_COLUMNS:
        names |= {s for s, _ in col.sources}
    return frozenset(names)


#: Every property name the plan knows, for any event.
ALL_KNOWN: frozenset[str] = _all_known()
#: camelCase/PascalCase spelling -> planned snake_case name (``queryCategory``).
ALIASES: dict[str, str] = {
    variant: name
    for name in sorted(ALL_KNOWN - tp.NEVER_STORE)
    for variant in sorted(_camel_variants(name))
    if tp.camel_to_snake(variant) == name
}
#: Never-store keys and their camelCase spellings (``queryText`` is redacted too).
NEVER_KEYS: frozenset[str] = frozenset(
    tp.NEVER_STORE | {v for k in tp.NEVER_STORE for v in _camel_variants(k)}
)


def is_never_store(key: str) -> bool:
    """Never-store keys (and their camelCase spellings) are dropped at load."""
    return key in NEVER_KEYS


def patch_spec(keys: list[str] | None, set_keys: list[str] | None) -> dict | None:
    """What to do to rows with these property keys (and person-property keys), or None.

    ``renames``: (from, to) text replacements turning a camelCase alias key into its
    planned snake_case name (only when that name is not there already); ``drop``: a
    JSON merge patch removing never-store keys (also inside ``$set``/``$set_once``);
    ``set_drop``: the same for identify traits.
    """
    keys = list(keys or ())
    set_keys = list(set_keys or ())
    present = set(keys)
    renames: list[tuple[str, str]] = []
    taken: set[str] = set()
    drop: dict = {}
    for k in keys:
        if k in NEVER_KEYS:
            drop[k] = None
            continue
        target = ALIASES.get(k)
        if target and target not in present and target not in taken:
            taken.add(target)
            renames.append((json.dumps(k) + ":", json.dumps(target) + ":"))
    nested = {k: None for k in set_keys if k in NEVER_KEYS}
    if nested:
        for container in ("$set", "$set_once"):
            if container in present:
                drop[container] = nested
    if not renames and not drop and not nested:
        return None
    return {
        "renames": renames,
        "drop": json.dumps(drop) if drop else None,
        "set_drop": json.dumps(nested) if nested else None,
    }


# --------------------------------------------------------------------------------------
# SQL: type and value checks for tracked properties
# --------------------------------------------------------------------------------------

_NUM_TEST = "TRY_CAST({x} AS DOUBLE) IS NULL OR starts_with({x}, '\"')"


def _type_bad(x: str, p: tp.Prop) -> str | None:
    """SQL true when JSON text ``x`` (not null, not ``null``) has the wrong type for ``p``."""
    if p.type == "str":
        return f"NOT starts_with({x}, '\"')"
    if p.type == "int":
        return f"TRY_CAST({x} AS BIGINT) IS NULL OR contains({x}, '.')"
    if p.type == "float":
        return _NUM_TEST.format(x=x)
    if p.type == "bool":
        return f"{x} NOT IN ('true', 'false')"
    return None


def _value_bad(x: str, p: tp.Prop) -> list[tuple[str, str]]:
    """(SQL condition, detail SQL) pairs for allowed values and min/max (type already ok)."""
    out = []
    if p.allowed is not None:
        if p.type == "str":
            lits = ", ".join(sql_str(json.dumps(a)) for a in p.allowed)
            cond = f"{x} NOT IN ({lits})"
        else:
            cond = (
                f"TRY_CAST({x} AS DOUBLE) NOT IN ({', '.join(repr(float(a)) for a in p.allowed)})"
            )
        allowed = ", ".join(str(a) for a in p.allowed)
        out.append((cond, f"'value ' || {x} || ' is not one of: {allowed}'"))
    if p.minimum is not None:
        below = (
            f"starts_with({x}, '-')"
            if p.minimum == 0
            else f"TRY_CAST({x} AS DOUBLE) < {float(p.minimum)!r}"
        )
        out.append((below, f"'value ' || {x} || ' is below the minimum {p.minimum:g}'"))
    if p.maximum is not None:
        out.append(
            (
                f"TRY_CAST({x} AS DOUBLE) > {float(p.maximum)!r}",
                f"'value ' || {x} || ' is above the maximum {p.maximum:g}'",
            )
        )
    return out


def prop_bad_sql(x: str, p: tp.Prop) -> str | None:
    """SQL true when the property's JSON text ``x`` breaks the plan (missing/null is fine)."""
    conds = []
    t = _type_bad(x, p)
    if t:
        conds.append(t)
    conds += [c for c, _ in _value_bad(x, p)]
    if not conds:
        return None
    return f"({x} <> 'null' AND (({') OR ('.join(conds)})))"


def prop_detail_sql(x: str, p: tp.Prop) -> str:
    """SQL text explaining why ``x`` breaks the plan (only evaluated for bad rows)."""
    t = _type_bad(x, p)
    whens = []
    if t:
        whens.append(f"WHEN {t} THEN 'expected {p.type}, got ' || {x}")
    whens += [f"WHEN {c} THEN {d}" for c, d in _value_bad(x, p)]
    return "CASE " + " ".join(whens) + " END"


def checked_props(event: str) -> list[tuple[str, tp.Prop]]:
    """Properties of ``event`` that carry a check (every typed one; ``json`` is free)."""
    spec = tp.EVENTS.get(event)
    if spec is None:
        return []
    return [(k, p) for k, p in spec.props.items() if _type_bad("x", p) or _value_bad("x", p)]


# --------------------------------------------------------------------------------------
# Python: counts from (event, keys) aggregates
# --------------------------------------------------------------------------------------


#: Marker the stage adds to a row's keys for each property whose value it cut
#: (``$long:<key>``; see :data:`.normalize.VALUE_LIMIT`).
LONG_MARK = "$long:"


@dataclass
class PlanCounts:
    unknown_events: Counter = field(default_factory=Counter)
    unknown_properties: Counter = field(default_factory=Counter)
    naming_problems: Counter = field(default_factory=Counter)
    redacted: int = 0
    #: ``event.key`` -> rows whose value of that property was cut to the size limit.
    long_values: Counter = field(default_factory=Counter)

    def add(self, event: str, keys: list[str] | None, set_keys: list[str] | None, n: int) -> None:
        """Count ``n`` rows of ``event`` whose properties had ``keys`` (before renaming).

        ``set_keys`` are the person-property keys (identify traits, ``$set``): only
        never-store keys among them are counted (as redacted).
        """
        self.redacted += n * sum(1 for k in set_keys or () if k in NEVER_KEYS)
        if event not in tp.EVENTS:
            self.unknown_events[event] += n
        problem = tp.event_name_problem(event)
        if problem:
            self.naming_problems[f"event {event}: {problem}"] += n
        if not keys:
            return
        if any(k.startswith(LONG_MARK) for k in keys):
            for k in keys:
                if k.startswith(LONG_MARK):
                    self.long_values[f"{event}.{k[len(LONG_MARK) :]}"] += n
            keys = [k for k in keys if not k.startswith(LONG_MARK)]
        known = tp.known_properties(event)
        present = set(keys)
        for key in keys:
            if is_never_store(key):
                self.redacted += n
                continue
            name = key
            if not key.startswith("$") and not tp.is_snake_case(key):
                target = ALIASES.get(key)
                if target and target not in present:
                    name = target
                    self.naming_problems[
                        f"property {event}.{key}: camelCase, read as {target}"
                    ] += n
                else:
                    self.naming_problems[f"property {event}.{key}: not snake_case"] += n
            if name not in known:
                self.unknown_properties[f"{event}.{name}"] += n
