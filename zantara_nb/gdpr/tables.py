"""The GDPR and consent tables, and how one person's rows are found in any table.

Tables (created on first use through the engine, :meth:`Engine.create_table`):

``gdpr_suppression``  ``id_hash`` (salted SHA-256 of an erased distinct id, person id or
                      e-mail), ``kind``, ``request_id``, ``suppressed_at``,
                      ``salt_check`` (which salt hashed it). Never the id itself.
``gdpr_audit``        one row per request step: ``request_id``, ``action`` (export,
                      delete, posthog_delete), ``status``, ``id_hash`` of the id asked
                      for, ``person_hashes``, when, ``dry_run``, ``rows_json`` (rows per
                      table), ``runs_json`` (report runs that included the person),
                      ``posthog`` (what PostHog answered). Never the data.
``consent_decisions`` analytics-consent decisions seen at ingest: ``id_hash`` of the
                      distinct id, ``timestamp``, ``granted`` (only for ids that ever
                      declined).
``consent_daily``     events not stored for lack of consent: ``day`` (UTC), ``event``,
                      ``events``, ``load_id``.
``load_privacy``      per load: rows suppressed, not stored for lack of consent, older
                      than the retention horizon, and personal data scrubbed by kind.

Where a person's rows are: any table with a column in :data:`PERSON_COLUMNS` (the
schema's :data:`~zantara_nb.warehouse.schema.PERSONAL_TABLES` and whatever another module
adds later, found from the engine's catalogue), plus tables keyed by ``id_hash``
(consent decisions) and the quarantine's raw text (:func:`person_predicates`).
"""

from __future__ import annotations

import contextlib
from collections.abc import Sequence

from ..warehouse.schema import PERSONAL_TABLES

#: Columns that name a person or one of their ids, in any table.
PERSON_COLUMNS = ("distinct_id", "person_id", "anon_distinct_id")
#: Columns holding a hashed id (consent decisions): matched against the group's hashes.
HASH_COLUMNS = ("id_hash",)
#: Tables that record the erasure itself: never erased from.
RECORD_TABLES = frozenset({"gdpr_suppression", "gdpr_audit"})

TABLES: dict[str, tuple[list[tuple[str, str]], list[str]]] = {
    "gdpr_suppression": (
        [
            ("id_hash", "VARCHAR"),
            ("kind", "VARCHAR"),
            ("request_id", "VARCHAR"),
            ("suppressed_at", "TIMESTAMPTZ"),
            ("salt_check", "VARCHAR"),
        ],
        ["id_hash"],
    ),
    "gdpr_audit": (
        [
            ("request_id", "VARCHAR"),
            ("action", "VARCHAR"),
            ("status", "VARCHAR"),
            ("id_hash", "VARCHAR"),
            ("person_hashes", "VARCHAR"),
            ("requested_at", "TIMESTAMPTZ"),
            ("finished_at", "TIMESTAMPTZ"),
            ("dry_run", "BOOLEAN"),
            ("rows_json", "VARCHAR"),
            ("runs_json", "VARCHAR"),
            ("posthog", "VARCHAR"),
            ("message", "VARCHAR"),
        ],
        ["request_id"],
    ),
    "consent_decisions": (
        [
            ("id_hash", "VARCHAR"),
            ("timestamp", "TIMESTAMPTZ"),
            ("granted", "BOOLEAN"),
            ("load_id", "INTEGER"),
        ],
        ["id_hash"],
    ),
    "consent_daily": (
        [("day", "DATE"), ("event", "VARCHAR"), ("events", "BIGINT"), ("load_id", "INTEGER")],
        ["day"],
    ),
    "load_privacy": (
        [
            ("load_id", "INTEGER"),
            ("suppressed", "BIGINT"),
            ("consent_declined", "BIGINT"),
            ("expired", "BIGINT"),
            ("pii_scrubbed", "BIGINT"),
            ("pii_json", "VARCHAR"),
        ],
        ["load_id"],
    ),
}


def ensure(wh, *names: str) -> None:
    """Create the named tables (all of :data:`TABLES` by default) when missing."""
    for name in names or tuple(TABLES):
        columns, order = TABLES[name]
        wh.engine.create_table(name, columns, order)


def exists(wh, name: str) -> bool:
    """Whether table ``name`` is in the warehouse."""
    return name in wh.engine.table_columns()


def personal_tables(wh) -> dict[str, tuple[str, ...]]:
    """Every table holding rows that name a person: table -> its person/hash columns.

    The schema's :data:`PERSONAL_TABLES` first, then every other table with such a
    column (a module's own tables, added later), minus the erasure records.
    """
    catalogue = wh.engine.table_columns()
    out: dict[str, tuple[str, ...]] = {}
    for table, cols in PERSONAL_TABLES.items():
        if table in catalogue:
            # declared columns, plus any other person column the table has (an event
            # linking an erased anonymous id names the erased person too)
            extra = [c for c in catalogue[table] if c in PERSON_COLUMNS and c not in cols]
            out[table] = tuple(c for c in [*cols, *extra] if c in catalogue[table])
    for table, cols in sorted(catalogue.items()):
        if table in out or table in RECORD_TABLES or table.startswith("_"):
            continue
        mine = tuple(c for c in cols if c in PERSON_COLUMNS + HASH_COLUMNS)
        if mine:
            out[table] = mine
    return out


#: Up to this many ids are written into the SQL as a list (the engine filters the column
#: with it while scanning); more go into a temporary table read by a semi-join.
LIST_LIMIT = 50


class IdSets:
    """The ids of a request as SQL: ``ids.where(col, kind)`` is ``col IN (...)`` with a
    literal list for a few ids, or ``col IN (SELECT id FROM _gdpr_<kind>)`` over a
    registered table for many (``with IdSets(wh, person=..., distinct=...) as ids:``).

    One column per predicate on purpose: a filter on one column is applied while
    scanning (DuckDB: ~0.15 s on 50M events), an ``OR`` across columns is evaluated row
    by row (~3 s), so callers run one predicate per column (:func:`person_predicates`).
    """

    def __init__(self, wh, **kinds) -> None:
        self.wh = wh
        self.values = {k: sorted({str(v) for v in vs}) for k, vs in kinds.items()}
        self.registered: list[str] = []
        self.tag = f"{id(self) % 100_000_000:x}"

    def __enter__(self) -> IdSets:
        import pyarrow as pa

        for kind, values in self.values.items():
            if len(values) > LIST_LIMIT:
                name = f"_gdpr_{kind}_{self.tag}"
                self.wh.con.register(name, pa.table({"id": pa.array(values, pa.string())}))
                self.registered.append(name)
        return self

    def __exit__(self, *exc) -> None:
        for name in self.registered:
            with contextlib.suppress(Exception):
                self.wh.con.unregister(name)

    def has(self, kind: str) -> bool:
        return bool(self.values.get(kind))

    def where(self, column: str, kind: str) -> str:
        d = self.wh.dialect
        values = self.values.get(kind) or []
        if not values:
            return "FALSE"
        if len(values) > LIST_LIMIT:
            return f"{d.ident(column)} IN (SELECT id FROM _gdpr_{kind}_{self.tag})"
        return d.in_list(d.ident(column), values)


def person_predicates(
    wh,
    table: str,
    columns: Sequence[str],
    ids: IdSets,
    texts: Sequence[str] = (),
    *,
    owner_only: bool = False,
) -> list[str]:
    """SQL predicates selecting the group's rows of ``table`` (by its ``columns``), one
    per column (their union is the group's rows; see :class:`IdSets` for why).

    ``person_id`` matches the person and distinct ids (``ids`` kind ``any``);
    ``distinct_id``/``anon_distinct_id`` the same; ``id_hash`` the hashes (kind
    ``hash``). For ``quarantine`` also rows whose raw text holds one of ``texts`` as a
    JSON string (``"id"``): rows that failed to load before their distinct id was read.

    ``owner_only`` (export): only the person's own rows, never another person's row that
    merely names them (an identify by someone else linking their anonymous id, a
    quarantined row of someone else mentioning them): those are erased, not exported.
    """
    d = wh.dialect
    preds: list[str] = []
    for c in columns:
        if owner_only and c == "anon_distinct_id":
            continue
        if c in PERSON_COLUMNS and ids.has("any"):
            preds.append(ids.where(c, "any"))
        elif c in HASH_COLUMNS and ids.has("hash"):
            preds.append(ids.where(c, "hash"))
    if table == "quarantine" and texts:
        found = " OR ".join(d.contains("raw", d.str_lit('"' + t + '"')) for t in sorted(set(texts)))
        preds.append(f"distinct_id IS NULL AND ({found})" if owner_only else f"({found})")
    return preds


def count_union(wh, table: str, preds: Sequence[str]) -> int:
    """Rows of ``table`` matching any of ``preds``: each predicate counted without the
    rows of the ones before it (its own column filtered first, the rest on few rows)."""
    t = wh.dialect.ident(table)
    n = 0
    for i, p in enumerate(preds):
        before = " OR ".join(f"({q})" for q in preds[:i])
        extra = f" AND NOT coalesce({before}, FALSE)" if before else ""
        n += int(wh.engine.rows(f"SELECT count(*) FROM {t} WHERE ({p}){extra}")[0][0])
    return n
