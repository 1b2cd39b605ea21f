"""SQL that turns one chunk of any format into canonical staging rows.

Two layers, both plain DuckDB SQL over the registered chunk ``_zn_chunk``:

1. an *envelope* per format (:func:`envelope`) maps the source shape onto the same
   columns: ``_line, perr, perr_field, uuid0, event, distinct_id, ts_text, ts_native,
   ts_native_naive, props0, set0, anon0, kind0`` (``props0`` is the properties
   object as JSON text; Segment's context is flattened into it);
2. the *stage* (:func:`stage_sql`) is common to all formats: it parses each
   properties object a few times at most (``json_keys``; one ``json_transform`` of
   the keys the typed columns need; one ``json_extract`` of an event's other checked
   properties), anonymizes IPs, parses timestamps, applies the tracking-plan checks
   and computes the quarantine reason and field of each row (the detail of an
   ``invalid_property`` row is worked out when it is quarantined, for few rows).

**Long values.** A property whose text value is longer than :data:`VALUE_LIMIT`
(4,096 characters) is cut to that length, ending with ``…``, before anything reads it;
the row's ``keys`` carry a ``$long:<key>`` marker for each, which the load summary
counts (``long values``, per event and key). Only rows whose properties are longer than
the limit in total are looked at.

Renaming camelCase aliases and dropping never-store keys happens only for the key
combinations that need it: the loader computes a patch per combination in Python
(:func:`.validate.patch_spec`) and the stage joins it (``patched=True``).

The JSON text is parsed by DuckDB (yyjson); no row ever becomes a Python object.
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

import pyarrow as pa

from ..warehouse import tracking_plan as tp
from .detect import csv_base_name
from .summary import IngestError
from .validate import (
    LONG_MARK,
    NEVER_KEYS,
    checked_props,
    json_path,
    prop_bad_sql,
    prop_detail_sql,
    sql_str,
)

#: Canonical names a column mapping may use for plain Parquet/CSV.
MAPPABLE = (
    "uuid",
    "event",
    "timestamp",
    "distinct_id",
    "person_id",
    "session_id",
    "anon_distinct_id",
    "properties",
    "set_props",
    "ip",
)
REQUIRED = ("event", "timestamp", "distinct_id")


@dataclass
class Envelope:
    """Format-specific SQL: CTEs ending in ``env``, plus how to rebuild a row's raw text."""

    ctes: list[tuple[str, str]]
    raw_sql: str
    malformed_reason: str
    missing_id_detail: str


def ident(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


# --------------------------------------------------------------------------------------
# Envelopes
# --------------------------------------------------------------------------------------

_JSON_PRE = """
    SELECT _line, _raw,
        coalesce(_parse_error,
                 CASE WHEN NOT json_valid(_raw) THEN 'not valid JSON'
                      WHEN NOT (starts_with(_raw, '{') OR starts_with(ltrim(_raw), '{'))
                      THEN 'not a JSON object' END) AS perr
    FROM _zn_chunk
    WHERE _raw <> '' AND NOT (length(_raw) < 16 AND trim(_raw) = '')
"""

_NULL_COLS = (
    "NULL::TIMESTAMPTZ AS ts_native, NULL::BOOLEAN AS ts_native_naive, NULL::VARCHAR AS perr_field"
)


def _posthog_json() -> Envelope:
    paths = ["$.uuid", "$.id", "$.event", "$.distinct_id", "$.timestamp", "$.properties"]
    x = f"CASE WHEN perr IS NULL THEN json_extract_string(_raw, {paths!r}) END"
    return Envelope(
        ctes=[
            ("pre", _JSON_PRE),
            ("ext", f"SELECT _line, _raw, perr, {x} AS x FROM pre"),
            (
                "env",
                f"""
                SELECT _line, _raw, perr, {_NULL_COLS},
                    coalesce(x[1], x[2]) AS uuid0, x[3] AS event, x[4] AS distinct_id,
                    x[5] AS ts_text, x[6] AS props0,
                    NULL::VARCHAR AS set0, NULL::VARCHAR AS anon0, NULL::VARCHAR AS kind0
                FROM ext
                """,
            ),
        ],
        raw_sql="_raw",
        malformed_reason="malformed_json",
        missing_id_detail="no distinct_id",
    )


#: Segment context fields flattened into properties (key -> JSON paths tried in order).
SEGMENT_CONTEXT = {
    "$ip": ["$.ip"],
    "locale": ["$.locale"],
    "timezone": ["$.timezone"],
    "utm_source": ["$.utm.source", "$.campaign.source"],
    "utm_medium": ["$.utm.medium", "$.campaign.medium"],
    "utm_campaign": ["$.utm.campaign", "$.campaign.name"],
    "user_agent": ["$.userAgent"],
    "device": ["$.device"],
    "os": ["$.os"],
    "browser": ["$.browser"],
    "screen": ["$.screen"],
    "referrer": ["$.referrer"],
    "country": ["$.location.country"],
}


def _segment() -> Envelope:
    paths = [
        "$.type",
        "$.event",
        "$.userId",
        "$.anonymousId",
        "$.messageId",
        "$.timestamp",
        "$.originalTimestamp",
        "$.properties",
        "$.traits",
        "$.previousId",
        "$.context",
    ]
    x = f"CASE WHEN perr IS NULL THEN json_extract_string(_raw, {paths!r}) END"
    ctx_paths: list[str] = []
    for ps in SEGMENT_CONTEXT.values():
        ctx_paths += ps
    pos = 1
    ctx_items = []
    for key, ps in SEGMENT_CONTEXT.items():
        vals = [f"c[{pos + i}]" for i in range(len(ps))]
        pos += len(ps)
        v = vals[0] if len(vals) == 1 else f"coalesce({', '.join(vals)})"
        ctx_items.append(f"{sql_str(key)}, {v}")
    ctx_obj = f"json_merge_patch('{{}}', json_object({', '.join(ctx_items)}))"
    return Envelope(
        ctes=[
            ("pre", _JSON_PRE),
            ("ext", f"SELECT _line, _raw, perr, {x} AS x FROM pre"),
            (
                "seg",
                f"""
                SELECT _line, _raw, perr, lower(x[1]) AS typ, x[2] AS ev,
                    nullif(trim(x[3]), '') AS uid, nullif(trim(x[4]), '') AS aid,
                    x[5] AS mid, coalesce(x[6], x[7]) AS ts, x[8] AS props, x[9] AS traits,
                    x[10] AS prev,
                    CASE WHEN x[11] IS NOT NULL AND starts_with(x[11], '{{')
                         THEN json_extract(x[11], {ctx_paths!r}) END AS c
                FROM ext
                """,
            ),
            (
                "env",
                f"""
                SELECT _line, _raw, perr, {_NULL_COLS},
                    mid AS uuid0,
                    CASE typ WHEN 'identify' THEN '$identify' WHEN 'alias' THEN '$create_alias'
                             WHEN 'page' THEN 'page_viewed' WHEN 'screen' THEN 'screen_viewed'
                             WHEN 'group' THEN '$groupidentify' ELSE ev END AS event,
                    coalesce(uid, aid) AS distinct_id,
                    ts AS ts_text,
                    CASE WHEN c IS NULL THEN props
                         WHEN props IS NULL THEN {ctx_obj}
                         WHEN json_valid(props) AND starts_with(props, '{{')
                         THEN json_merge_patch({ctx_obj}, props)
                         ELSE props END AS props0,
                    CASE WHEN typ = 'identify' THEN traits END AS set0,
                    CASE WHEN typ = 'alias' THEN prev WHEN uid IS NOT NULL THEN aid END AS anon0,
                    CASE WHEN typ = 'alias' THEN 'alias' WHEN typ = 'identify' THEN 'identify'
                         ELSE 'segment_both' END AS kind0
                FROM seg
                """,
            ),
        ],
        raw_sql="_raw",
        malformed_reason="malformed_json",
        missing_id_detail="no userId or anonymousId",
    )


_PROP_TYPES: dict[str, str] = {}
for _spec in tp.EVENTS.values():
    for _k, _p in _spec.props.items():
        _PROP_TYPES.setdefault(_k, _p.type)

_NUMBER_RE = "-?(0|[1-9][0-9]*)(\\.[0-9]+)?([eE][-+]?[0-9]+)?"


def text_value_json(x: str, key: str) -> str:
    """JSON for a text cell ``x`` holding property ``key`` (CSV): typed as the plan says."""
    t = _PROP_TYPES.get(key)
    v = f"nullif({x}, '')"
    if t in ("int", "float"):
        return (
            f"CASE WHEN regexp_full_match({v}, '{_NUMBER_RE}') THEN {v}::JSON ELSE to_json({v}) END"
        )
    if t == "bool":
        return (
            f"CASE lower({v}) WHEN 'true' THEN 'true'::JSON WHEN 'false' THEN 'false'::JSON "
            f"ELSE to_json({v}) END"
        )
    if t == "str":
        return f"to_json({v})"
    return (
        f"CASE WHEN (starts_with({v}, '{{') OR starts_with({v}, '[')) AND json_valid({v}) "
        f"THEN {v}::JSON ELSE to_json({v}) END"
    )


def _value_json(col: str, typ: pa.DataType, key: str) -> str:
    if pa.types.is_string(typ) or pa.types.is_large_string(typ):
        return text_value_json(col, key)
    return f"to_json({col})"


def _props_from_columns(items: Sequence[tuple[str, str]], base: str | None) -> str:
    """A properties object from (key, JSON expr) pairs merged over ``base`` (JSON text)."""
    if not items:
        return base or "'{}'"
    obj = "json_object(" + ", ".join(f"{sql_str(k)}, {e}" for k, e in items) + ")"
    cols = f"json_merge_patch('{{}}', {obj})"
    if base is None:
        return f"{cols}::VARCHAR"
    return (
        f"CASE WHEN {base} IS NULL THEN {cols} "
        f"WHEN json_valid({base}) AND starts_with(ltrim({base}), '{{') "
        f"THEN json_merge_patch({base}, {cols}) ELSE {base} END::VARCHAR"
    )


def _ts_columns(col: str | None, typ: pa.DataType | None) -> str:
    if col is None:
        return "NULL::VARCHAR AS ts_text, NULL::TIMESTAMPTZ AS ts_native, NULL::BOOLEAN AS ts_native_naive"
    if typ is not None and pa.types.is_timestamp(typ):
        naive = "false" if typ.tz else "true"
        return (
            f"NULL::VARCHAR AS ts_text, {col}::TIMESTAMPTZ AS ts_native, "
            f"CASE WHEN {col} IS NOT NULL THEN {naive} END AS ts_native_naive"
        )
    if typ is not None and pa.types.is_date(typ):
        return (
            f"NULL::VARCHAR AS ts_text, {col}::TIMESTAMPTZ AS ts_native, "
            f"CASE WHEN {col} IS NOT NULL THEN true END AS ts_native_naive"
        )
    if typ is not None and not (pa.types.is_string(typ) or pa.types.is_large_string(typ)):
        return (
            f"{col}::VARCHAR AS ts_text, NULL::TIMESTAMPTZ AS ts_native, "
            "NULL::BOOLEAN AS ts_native_naive"
        )
    return (
        f"nullif(trim({col}), '') AS ts_text, NULL::TIMESTAMPTZ AS ts_native, "
        "NULL::BOOLEAN AS ts_native_naive"
    )


def _text(col: str | None, typ: pa.DataType | None = None) -> str:
    if col is None:
        return "NULL::VARCHAR"
    if typ is None or pa.types.is_string(typ) or pa.types.is_large_string(typ):
        return f"nullif(trim({col}), '')"
    return f"{col}::VARCHAR"


def _json_text(col: str | None, typ: pa.DataType | None) -> str:
    """A column holding a JSON object (as a string, or as a struct/map)."""
    if col is None:
        return "NULL::VARCHAR"
    if typ is None or pa.types.is_string(typ) or pa.types.is_large_string(typ):
        return f"nullif(trim({col}), '')"
    return f"to_json({col})::VARCHAR"


def _raw_row_sql(names: Sequence[str], layout: str, delimiter: str) -> str:
    if layout == "csv":
        d = sql_str(delimiter)
        parts = [
            f"CASE WHEN contains(src_{i}, '\"') OR contains(src_{i}, {d}) "
            f"OR contains(src_{i}, chr(10)) OR contains(src_{i}, chr(13)) "
            f"THEN '\"' || replace(src_{i}, '\"', '\"\"') || '\"' ELSE src_{i} END"
            for i in range(len(names))
        ]
        return f"coalesce(_raw, concat_ws({d}, {', '.join(parts)}))"
    fields = ", ".join(f"{ident(n)} := src_{i}" for i, n in enumerate(names))
    return f"coalesce(_raw, to_json(struct_pack({fields}))::VARCHAR)"


def _tabular(
    path: str,
    fmt: str,
    layout: str,
    names: Sequence[str],
    types: Sequence[pa.DataType],
    mapping: dict[str, str] | None,
    delimiter: str,
) -> Envelope:
    """PostHog CSV/Parquet exports and plain CSV/Parquet with a column mapping."""
    col_of: dict[str, int] = {}
    props_items: list[tuple[str, str]] = []
    used: set[int] = set()
    if fmt in ("posthog-csv", "posthog-parquet"):
        if mapping:
            raise IngestError(f"{path}: a column mapping is only for plain parquet/csv, not {fmt}")
        # prefer "*.event" over a plain "event" column (PostHog puts both in CSV exports)
        for i, n in sorted(enumerate(names), key=lambda t: not t[1].startswith("*.")):
            base = csv_base_name(n)
            if base.startswith("properties.") and len(base) > len("properties."):
                key = base[len("properties.") :]
                props_items.append((key, _value_json(f"src_{i}", types[i], key)))
            elif base not in col_of:
                col_of[base] = i
        if "uuid" not in col_of and "id" in col_of:
            col_of["uuid"] = col_of["id"]
        missing = [c for c in REQUIRED if c not in col_of]
        if missing:
            raise IngestError(
                f"{path}: not a PostHog events export: no {', '.join(missing)} column "
                f"(columns: {', '.join(names[:20])})"
            )
        if "set" in col_of and "set_props" not in col_of:
            col_of["set_props"] = col_of["set"]
        if "ip" in col_of:
            i = col_of.pop("ip")
            props_items.append(("$ip", f"to_json({_text(f'src_{i}', types[i])})"))
            used.add(i)
    else:
        mapping = dict(mapping or {})
        bad = [k for k in mapping if k not in MAPPABLE]
        if bad:
            raise IngestError(
                f"{path}: unknown canonical name(s) in mapping: {', '.join(bad)} "
                f"(allowed: {', '.join(MAPPABLE)})"
            )
        for canon, src in mapping.items():
            if src not in names:
                raise IngestError(
                    f"{path}: mapping {canon}={src}: no column {src!r} "
                    f"(columns: {', '.join(names[:20])})"
                )
            col_of[canon] = names.index(src)
        taken = set(col_of.values())
        for canon in MAPPABLE:
            if canon not in col_of and canon in names and names.index(canon) not in taken:
                col_of[canon] = names.index(canon)
        missing = [c for c in REQUIRED if c not in col_of]
        if missing:
            hint = ", ".join(f"{c}=<column>" for c in missing)
            raise IngestError(
                f"{path}: no column for {', '.join(missing)} and no mapping for it "
                f"(columns: {', '.join(names[:20])}); pass a mapping, e.g. {hint}"
            )
        if "session_id" in col_of:
            i = col_of.pop("session_id")
            props_items.append(("session_id", _value_json(f"src_{i}", types[i], "session_id")))
            used.add(i)
        if "ip" in col_of:
            i = col_of.pop("ip")
            props_items.append(("$ip", f"to_json({_text(f'src_{i}', types[i])})"))
            used.add(i)
    used |= set(col_of.values())
    if fmt in ("parquet", "csv"):
        for i, n in enumerate(names):
            if i not in used:
                props_items.append((n, _value_json(f"src_{i}", types[i], n)))

    def c(name: str) -> str | None:
        return f"src_{col_of[name]}" if name in col_of else None

    def t(name: str) -> pa.DataType | None:
        return types[col_of[name]] if name in col_of else None

    base_props = _json_text(c("properties"), t("properties")) if "properties" in col_of else None
    props = _props_from_columns(props_items, base_props)
    anon = _text(c("anon_distinct_id"), t("anon_distinct_id"))
    env = f"""
        SELECT _line, _raw, _parse_error AS perr, NULL::VARCHAR AS perr_field,
            {_text(c("uuid"), t("uuid"))} AS uuid0,
            {_text(c("event"), t("event"))} AS event,
            {_text(c("distinct_id"), t("distinct_id"))} AS distinct_id,
            {_ts_columns(c("timestamp"), t("timestamp"))},
            CASE WHEN _parse_error IS NULL THEN {props} END AS props0,
            {_json_text(c("set_props"), t("set_props"))} AS set0,
            {anon} AS anon0,
            CASE WHEN {anon} IS NOT NULL THEN 'identify' END AS kind0,
            {", ".join(f"src_{i}" for i in range(len(names))) or "NULL AS _no_columns"}
        FROM _zn_chunk
    """
    return Envelope(
        ctes=[("env", env)],
        raw_sql=_raw_row_sql(names, layout, delimiter),
        malformed_reason="malformed_row" if layout == "csv" else "malformed_json",
        missing_id_detail="no distinct_id",
    )


def envelope(
    path: str,
    fmt: str,
    layout: str,
    names: Sequence[str] = (),
    types: Sequence[pa.DataType] = (),
    mapping: dict[str, str] | None = None,
    delimiter: str = ",",
) -> Envelope:
    """The envelope SQL for ``fmt`` read as ``layout``."""
    if mapping and fmt not in ("parquet", "csv"):
        raise IngestError(f"{path}: a column mapping is only for plain parquet/csv, not {fmt}")
    if fmt == "segment":
        return _segment()
    if fmt == "posthog-jsonl":
        return _posthog_json()
    return _tabular(path, fmt, layout, names, types, mapping, delimiter)


# --------------------------------------------------------------------------------------
# The stage: common to every format
# --------------------------------------------------------------------------------------


def _common_keys() -> list[str]:
    keys: list[str] = []
    for col in tp.TYPED_COLUMNS:
        for s, _ in col.sources:
            if s not in keys:
                keys.append(s)
    for k in (
        "session_id",
        "$session_id",
        "$ip",
        "$set",
        "$set_once",
        "$anon_distinct_id",
        "alias",
    ):
        if k not in keys:
            keys.append(k)
    return keys


COMMON_KEYS = _common_keys()
_CNAME = {k: f"p{i + 1}" for i, k in enumerate(COMMON_KEYS)}
#: json_transform structure pulling every common key as JSON text (one parse per row).
_COMMON_STRUCT = json.dumps({k: "JSON" for k in COMMON_KEYS}, separators=(",", ":"))


def _per_event() -> tuple[str, str, str, int]:
    """SQL for extra paths per event, the checks, and the details; max extra count."""
    ext_cases, bad_cases, detail_cases = [], [], []
    max_extra = 0
    for name in tp.EVENTS:
        items = checked_props(name)
        if not items:
            continue
        extra = [k for k, _ in items if k not in _CNAME]
        max_extra = max(max_extra, len(extra))
        col = {k: _CNAME.get(k) or f"x{extra.index(k) + 1}" for k, _ in items}
        if extra:
            paths = ", ".join(json_path(k) for k in extra)
            ext_cases.append(
                f"WHEN {sql_str(name)} THEN json_extract(props1, [{paths}])::VARCHAR[]"
            )
        checks = [f"CASE WHEN {prop_bad_sql(col[k], p)} THEN {sql_str(k)} END" for k, p in items]
        bad_cases.append(
            f"WHEN {sql_str(name)} THEN "
            + (checks[0] if len(checks) == 1 else f"coalesce({', '.join(checks)})")
        )
        for k, p in items:
            detail_cases.append(
                f"WHEN event = {sql_str(name)} AND field = {sql_str(k)} "
                f"THEN {prop_detail_sql('bad_value', p)}"
            )
    ext = "CASE event " + " ".join(ext_cases) + " END" if ext_cases else "NULL::VARCHAR[]"
    bad = "CASE event " + " ".join(bad_cases) + " END" if bad_cases else "NULL::VARCHAR"
    detail = "CASE " + " ".join(detail_cases) + " END" if detail_cases else "NULL::VARCHAR"
    return ext, bad, detail, max_extra


_EXT_SQL, _BAD_SQL, _DETAIL_SQL, _MAX_EXTRA = _per_event()

_OCTET = "(25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])"
_V4 = f"({_OCTET}\\.){{3}}{_OCTET}"
_H = "[0-9a-f]{1,4}"
_V6_FULL = (
    "(CASE WHEN contains(v6, '::') "
    "THEN v6h || list_transform(range(8 - v6n), lambda z: '0') || v6t ELSE v6h END)"
)
#: A syntactically valid IPv6 text (lower case, zone stripped), checked cheaply: only
#: hex groups and colons (an IPv4 tail allowed), no group over 4 digits, no ':::'.
_V6_OK = (
    f"regexp_full_match(v6, '[0-9a-f:]+(:{_V4})?') "
    "AND NOT regexp_matches(v6, '[0-9a-f]{5}|:::|^:[^:]|[^:]:$') "
    "AND NOT list_contains(v6h || v6t, '')"
)
#: IPv6 /48 printed as Python's ipaddress prints it, from the first three groups ``g``.
_V6_SQL = (
    "CASE WHEN g[1] = 0 AND g[2] = 0 AND g[3] = 0 THEN '::' "
    "WHEN g[2] = 0 AND g[3] = 0 THEN printf('%x::', g[1]) "
    "WHEN g[3] = 0 THEN printf('%x:%x::', g[1], g[2]) "
    "ELSE printf('%x:%x:%x::', g[1], g[2], g[3]) END"
)


def _typed_columns() -> list[tuple[str, str]]:
    out = []
    for col in tp.TYPED_COLUMNS:
        srcs = []
        for key, scale in col.sources:
            x = _CNAME[key]
            if col.sql_type == "VARCHAR":
                srcs.append(f"{x}->>'$'")
            elif scale != 1.0:
                srcs.append(f"TRY_CAST({x} AS DOUBLE) * {scale!r}")
            else:
                srcs.append(f"TRY_CAST({x} AS {col.sql_type})")
        expr = srcs[0] if len(srcs) == 1 else f"coalesce({', '.join(srcs)})"
        if col.sql_type != "VARCHAR" and len(srcs) > 1:
            expr = f"TRY_CAST({expr} AS {col.sql_type})"
        out.append((col.name, expr))
    return out


TYPED_SQL = _typed_columns()


#: Arrow schema of the per-keyset patch table ``_zn_patch`` (see :func:`patch_table`).
PATCH_SCHEMA = pa.schema(
    [
        ("keys", pa.list_(pa.string())),
        ("set_keys", pa.list_(pa.string())),
        ("renames", pa.list_(pa.struct([("f", pa.string()), ("t", pa.string())]))),
        ("drop_patch", pa.string()),
        ("set_drop", pa.string()),
    ]
)


def patch_table(specs: list[tuple[list | None, list | None, dict]]) -> pa.Table:
    """The ``_zn_patch`` table: for each (keys, set_keys) combination that needs it,
    the key renames (as text replacements on minified JSON) and the merge patches that
    drop never-store keys (see :func:`.validate.patch_spec`)."""
    cols: dict[str, list] = {name: [] for name in PATCH_SCHEMA.names}
    for keys, set_keys, spec in specs:
        cols["keys"].append(keys)
        cols["set_keys"].append(set_keys)
        cols["renames"].append([{"f": f, "t": t} for f, t in spec["renames"]])
        cols["drop_patch"].append(spec["drop"])
        cols["set_drop"].append(spec["set_drop"])
    return pa.table(cols, schema=PATCH_SCHEMA)


def _ts_literal(now: datetime) -> str:
    return f"TIMESTAMPTZ '{now.isoformat()}'"


#: An IPv6 text (lower case, zone stripped) split at its '::'.
_V6_PARTS = "string_split(v6, '::')"


def _s1k_sql(set_keys_sql: str) -> str:
    """s1 plus ``set_keys_raw``: the person-property keys before any redaction."""
    raw_set = f"json_extract(props, {json_path('$set')})::VARCHAR"
    raw_once = f"json_extract(props, {json_path('$set_once')})::VARCHAR"
    return f"SELECT *, {set_keys_sql.format(s=raw_set, o=raw_once)} AS set_keys_raw FROM s1"


#: Characters a property's text value keeps at load (longer values are cut to this many,
#: ending with "…"; counted per event and key in the load summary).
VALUE_LIMIT = 4096
_POINTER = "'/' || replace(replace(k, '~', '~0'), '/', '~1')"  # JSON pointer to key k
# keys whose text value is longer than VALUE_LIMIT (only rows longer than that in total
# are looked at, so ordinary rows pay one length())
_LONG_KEYS_SQL = f"""CASE WHEN props_err IS NULL AND perr IS NULL AND length(props0) > {VALUE_LIMIT}
    THEN list_filter(json_keys(props0), lambda k: json_type(props0, {_POINTER}) = 'VARCHAR'
                     AND length(json_extract_string(props0, {_POINTER})) > {VALUE_LIMIT}) END"""
_SHORTENED_SQL = f"""CASE WHEN len(long_keys) > 0 THEN json_merge_patch(props0, to_json(
        map_from_entries(list_transform(long_keys, lambda k: {{'k': k,
            'v': left(json_extract_string(props0, {_POINTER}), {VALUE_LIMIT - 1}) || '…'}}))))::VARCHAR
    ELSE coalesce(props0, '{{}}') END"""
_KEYS_SQL = f"""CASE WHEN len(long_keys) > 0
    THEN list_concat(json_keys(props0), list_transform(long_keys, lambda k: '{LONG_MARK}' || k))
    ELSE json_keys(props0) END"""


def stage_sql(
    env: Envelope, now: datetime, *, patched: bool = False, source: str = "_zn_chunk"
) -> str:
    """The SELECT producing staging rows for one chunk (see the module docstring).

    With ``patched`` (the second pass over the few rows whose keys need it) camelCase
    aliases are renamed and never-store keys dropped before anything is extracted;
    ``source`` then restricts the chunk to those rows.
    """
    ctes = [(n, q.replace("FROM _zn_chunk", f"FROM {source}")) for n, q in env.ctes]
    unpack = ", ".join(
        f"struct_extract(cv, {sql_str(k)})::VARCHAR AS {_CNAME[k]}" for k in COMMON_KEYS
    )
    if _MAX_EXTRA:
        unpack += ", " + ", ".join(f"ev[{j + 1}] AS x{j + 1}" for j in range(_MAX_EXTRA))
    has_offset = (
        "ends_with(ts_text, 'Z') OR ends_with(ts_text, '+00:00') OR regexp_matches(ts_text, "
        "'[0-9]:[0-9][0-9](:[0-9][0-9](\\.[0-9]+)?)?\\s*([zZ]|[+-][0-9][0-9](:?[0-9][0-9])?|\\s*UTC|\\s*GMT)$')"
    )
    epoch = "regexp_full_match(ts_text, '[0-9]{9,17}(\\.[0-9]+)?')"
    epoch_ts = (
        "to_timestamp(CASE WHEN ts_text::DOUBLE < 1e11 THEN ts_text::DOUBLE "
        "WHEN ts_text::DOUBLE < 1e14 THEN ts_text::DOUBLE / 1e3 ELSE ts_text::DOUBLE / 1e6 END)"
    )
    now_sql = _ts_literal(now)
    ipc, pset, ponce = _CNAME["$ip"], _CNAME["$set"], _CNAME["$set_once"]
    set_ok = "set0 IS NOT NULL AND json_valid(set0) AND starts_with(ltrim(set0), '{')"
    # person-property keys (identify traits, $set, $set_once), before any redaction
    set_keys_sql = (
        "nullif(list_concat("
        "CASE WHEN set1 IS NOT NULL THEN json_keys(set0) END, "
        "CASE WHEN starts_with({s}, '{{') THEN json_keys({s}) END, "
        "CASE WHEN starts_with({o}, '{{') THEN json_keys({o}) END), [])"
    )
    if patched:
        s1b = """
            SELECT s1k.* EXCLUDE (props, set1),
                CASE WHEN zp.keys IS NULL AND zp.set_keys IS NULL THEN props
                     ELSE json_merge_patch(
                        list_reduce(zp.renames, lambda acc, r: replace(acc, r.f, r.t), json(props)::VARCHAR),
                        coalesce(zp.drop_patch, '{}'))::VARCHAR END AS props1,
                CASE WHEN zp.set_drop IS NOT NULL AND set1 IS NOT NULL
                     THEN json_merge_patch(set1, zp.set_drop)::VARCHAR ELSE set1 END AS set1
            FROM s1k
            LEFT JOIN _zn_patch zp
              ON hash(zp.keys, zp.set_keys) = hash(s1k.keys, s1k.set_keys_raw)
             AND zp.keys IS NOT DISTINCT FROM s1k.keys
             AND zp.set_keys IS NOT DISTINCT FROM s1k.set_keys_raw
        """
        set_keys = "set_keys_raw"
    else:
        s1b = "SELECT * EXCLUDE (props), props AS props1 FROM s1"
        set_keys = set_keys_sql.format(s=pset, o=ponce)
    ctes += [
        (
            "s1",
            f"""
            SELECT *,
                CASE WHEN perr IS NULL AND props0 IS NOT NULL
                          AND NOT (json_valid(props0) AND starts_with(ltrim(props0), '{{'))
                     THEN 'properties is not a JSON object' END AS props_err,
                {_LONG_KEYS_SQL} AS long_keys,
                CASE WHEN props_err IS NULL AND perr IS NULL THEN {_SHORTENED_SQL} END AS props,
                CASE WHEN props_err IS NULL AND perr IS NULL AND props0 IS NOT NULL
                     THEN {_KEYS_SQL} END AS keys,
                coalesce(ts_native,
                         try_cast(ts_text AS TIMESTAMPTZ),
                         CASE WHEN {epoch} THEN {epoch_ts} END) AS ts,
                CASE WHEN {set_ok} THEN set0 END AS set1
            FROM env
            """,
        ),
        *([("s1k", _s1k_sql(set_keys_sql))] if patched else []),
        ("s1b", s1b),
        (
            "s2",
            f"""
            SELECT *,
                json_transform(props1, {sql_str(_COMMON_STRUCT)}) AS cv,
                {_EXT_SQL} AS ev
            FROM s1b
            """,
        ),
        ("s3", f"SELECT * EXCLUDE (cv, ev), {unpack} FROM s2"),
        (
            "s4",
            f"""
            SELECT *,
                CASE
                    WHEN perr IS NOT NULL THEN {sql_str(env.malformed_reason)}
                    WHEN props_err IS NOT NULL THEN 'malformed_json'
                    WHEN event IS NULL OR trim(event) = '' THEN 'missing_event'
                    WHEN ts_text IS NULL AND ts_native IS NULL THEN 'missing_timestamp'
                    WHEN ts IS NULL THEN 'unparseable_timestamp'
                    WHEN distinct_id IS NULL OR trim(distinct_id) = '' THEN 'missing_distinct_id'
                    WHEN ts > {now_sql} + INTERVAL 1 DAY THEN 'future_timestamp'
                END AS reason0,
                {_BAD_SQL} AS bad_prop,
                trim({ipc}->>'$') AS ip_p,
                CASE WHEN contains({ipc}, ':') THEN lower(split_part(trim({ipc}->>'$'), '%', 1)) END AS v6,
                coalesce(set1, CASE WHEN starts_with({pset}, '{{') THEN {pset} END) AS set_props,
                {set_keys} AS set_keys
            FROM s3
            """,
        ),
        (
            "s5",
            f"""
            SELECT *,
                CASE WHEN v6 IS NULL THEN NULL
                     WHEN len({_V6_PARTS}) = 1 THEN string_split(v6, ':')
                     WHEN len({_V6_PARTS}) = 2 THEN
                         CASE WHEN {_V6_PARTS}[1] = '' THEN []::VARCHAR[]
                              ELSE string_split({_V6_PARTS}[1], ':') END END AS v6h,
                CASE WHEN v6 IS NULL THEN NULL
                     WHEN len({_V6_PARTS}) = 1 THEN []::VARCHAR[]
                     WHEN len({_V6_PARTS}) = 2 THEN
                         CASE WHEN {_V6_PARTS}[2] = '' THEN []::VARCHAR[]
                              ELSE string_split({_V6_PARTS}[2], ':') END END AS v6t
            FROM s4
            """,
        ),
        (
            "s6",
            f"""
            SELECT *,
                CASE WHEN v6h IS NOT NULL AND {_V6_OK}
                     THEN len(v6h) + len(v6t) + CASE WHEN contains(v6, '.') THEN 1 ELSE 0 END
                END AS v6n
            FROM s5
            """,
        ),
        (
            "s6b",
            f"""
            SELECT *,
                CASE WHEN CASE WHEN contains(v6, '::') THEN v6n <= 7 ELSE v6n = 8 END
                     THEN list_transform({_V6_FULL}[1:3], lambda h: ('0x' || h)::INTEGER) END AS g
            FROM s6
            """,
        ),
        (
            "s7",
            f"""
            SELECT * EXCLUDE (v6, v6h, v6t, v6n, g),
                CASE
                    WHEN ip_p IS NULL THEN NULL
                    WHEN regexp_full_match(ip_p, '{_V4}')
                    THEN left(ip_p, length(ip_p) - strpos(reverse(ip_p), '.')) || '.0'
                    WHEN g IS NULL THEN NULL
                    ELSE {_V6_SQL}
                END AS ip_anon
            FROM s6b
            """,
        ),
    ]
    typed = ",\n".join(f"{e} AS {n}" for n, e in TYPED_SQL)
    reason = "coalesce(reason0, CASE WHEN bad_prop IS NOT NULL THEN 'invalid_property' END)"
    detail = f"""CASE
        WHEN reason0 IS NULL THEN NULL  -- invalid_property: see property_detail_sql()
        WHEN reason0 IN ({sql_str(env.malformed_reason)}, 'malformed_json') THEN coalesce(perr, props_err)
        WHEN reason0 = 'missing_event' THEN 'no event name'
        WHEN reason0 = 'missing_timestamp' THEN 'no timestamp'
        WHEN reason0 = 'unparseable_timestamp' THEN 'cannot parse timestamp ' || coalesce(ts_text, '')
        WHEN reason0 = 'missing_distinct_id' THEN {sql_str(env.missing_id_detail)}
        WHEN reason0 = 'future_timestamp' THEN 'timestamp ' || strftime(ts, '%Y-%m-%dT%H:%M:%SZ')
            || ' is more than a day after the load time ' || strftime({now_sql}, '%Y-%m-%dT%H:%M:%SZ')
    END"""
    field = """CASE
        WHEN reason0 IS NULL THEN bad_prop
        WHEN reason0 = 'malformed_json' THEN CASE WHEN props_err IS NOT NULL THEN 'properties' END
        WHEN reason0 IN ('missing_timestamp', 'unparseable_timestamp', 'future_timestamp')
        THEN 'timestamp'
        WHEN reason0 = 'missing_event' THEN 'event'
        WHEN reason0 = 'missing_distinct_id' THEN 'distinct_id'
    END"""
    # $ip: replace the value in place when the text has it verbatim (always so for JSON we
    # serialized ourselves), else patch the object; an IP that cannot be parsed is dropped.
    ip_replace = (
        f"CASE WHEN {ipc} IS NULL THEN props1 "
        f"WHEN ip_anon IS NOT NULL AND {ipc} = '\"' || ip_anon || '\"' THEN props1 "
        f"WHEN ip_anon IS NOT NULL AND contains(props1, '\"$ip\":' || {ipc}) "
        f"THEN replace(props1, '\"$ip\":' || {ipc}, '\"$ip\":\"' || ip_anon || '\"') "
        f"ELSE json_merge_patch(props1, json_object('$ip', ip_anon))::VARCHAR END"
    )
    anon = (
        "coalesce(anon0, CASE event WHEN '$identify' THEN "
        f"{_CNAME['$anon_distinct_id']}->>'$' WHEN '$create_alias' THEN {_CNAME['alias']}->>'$' END)"
    )
    kind = "coalesce(kind0, CASE event WHEN '$create_alias' THEN 'alias' ELSE 'identify' END)"
    final = f"""
        SELECT _line, reason,
            CASE WHEN reason IS NOT NULL THEN {field} END AS field,
            CASE WHEN reason IS NOT NULL THEN {detail} END AS detail,
            CASE WHEN reason IS NOT NULL OR uuid0 IS NULL THEN {env.raw_sql} END AS raw,
            CASE WHEN reason = 'invalid_property' THEN props1 END AS bad_props,
            coalesce(uuid0, md5({env.raw_sql})::UUID::VARCHAR) AS uuid,
            event, ts AS timestamp, distinct_id,
            coalesce({_CNAME["session_id"]}, {_CNAME["$session_id"]})->>'$' AS session_id,
            CASE WHEN reason IS NULL THEN {ip_replace} END AS properties,
            set_props,
            {anon} AS anon_distinct_id,
            {kind} AS link_kind,
            ip_anon AS ip,
            {typed},
            keys, set_keys,
            coalesce(ts_native_naive, NOT ({has_offset}) AND NOT {epoch}) AS naive
        FROM (SELECT *, {reason} AS reason FROM s7)
    """
    with_sql = ",\n".join(f"{name} AS ({sql})" for name, sql in ctes)
    return f"WITH {with_sql}\n{final}"


_NEVER_RX = "|".join(re.escape(k) for k in sorted(NEVER_KEYS, key=len, reverse=True))


def scrub_raw_sql(raw: str) -> str:
    """SQL scrubbing a quarantined row's raw text before it is stored.

    The raw text is kept so nothing is lost, but not the things that must never be
    stored: string values of never-store keys become ``"[redacted]"``, IPv4 addresses
    anywhere lose their last octet, and IPv6 values of ``ip``/``$ip`` keys are cut to
    ``[redacted]``. Works on malformed text too (it is plain text substitution).
    """
    never = (
        f'regexp_replace({raw}, \'"({_NEVER_RX})"(\\s*:\\s*)"(?:[^"\\\\]|\\\\.)*"\', '
        "'\"\\1\"\\2\"[redacted]\"', 'g')"
    )
    v4 = f"regexp_replace({never}, '\\b([0-9]{{1,3}}\\.[0-9]{{1,3}}\\.[0-9]{{1,3}})\\.[0-9]{{1,3}}\\b', '\\1.0', 'g')"
    return (
        f'regexp_replace({v4}, \'"(\\$?ip)"(\\s*:\\s*)"[0-9A-Fa-f]*:[0-9A-Fa-f:.%a-zA-Z]*"\', '
        "'\"\\1\"\\2\"[redacted]\"', 'g')"
    )


def property_detail_sql() -> str:
    """SQL (over a quarantined stage row: event, field, bad_props) explaining why a
    tracked property broke the plan; only evaluated for ``invalid_property`` rows."""
    value = "json_extract(bad_props, '$.\"' || replace(field, '\"', '\\\"') || '\"')::VARCHAR"
    return f"(SELECT {_DETAIL_SQL} FROM (SELECT {value} AS bad_value))"
