"""The suppression list: erased ids stay erased when their data comes back.

An erased person's distinct ids, person ids and e-mail addresses are kept only as salted
SHA-256 hashes (:func:`id_hash`, salt ``$ZANTARA_HASH_SALT`` + ``:gdpr:``) in
``gdpr_suppression``. The loader (:mod:`zantara_nb.ingest.privacy_gate`, used by every
file load and by the PostHog pull, which loads through the same path) drops every row
whose distinct id, or the anonymous id it links, hashes to one of them, and counts
those rows as ``suppressed`` in the load summary. Quarantined rows of those ids are
dropped too (their raw text would hold the person's data).

The hash depends on the salt: a warehouse whose suppression list was written with another
salt refuses to load (:func:`check_salt`), because the list would silently stop working.

Two ways in for other loaders (the PostHog work): :func:`filter_sql` (a predicate over
a distinct-id column, for SQL that reads into the warehouse) and :func:`is_suppressed`.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from datetime import UTC, datetime

import pyarrow as pa

from ..warehouse.privacy import hash_salt
from . import tables

#: What separates the suppression hashes from the report hashes of the same salt.
DOMAIN = ":gdpr:"


def salt_prefix() -> str:
    """The text hashed in front of every id (``salt + ':gdpr:'``)."""
    return hash_salt() + DOMAIN


def id_hash(value: str) -> str:
    """Full salted SHA-256 (hex) of an id; :func:`hash_sql` is the same in SQL."""
    return hashlib.sha256((salt_prefix() + str(value)).encode("utf-8")).hexdigest()


def hash_sql(dialect, column: str) -> str:
    """SQL: :func:`id_hash` of a column, on the warehouse's engine."""
    return dialect.salted_hash(column, salt_prefix(), 64)


def salt_check() -> str:
    """A short fingerprint of the salt in use (stored beside each hash)."""
    return hashlib.sha256(("zantara-nb salt check" + hash_salt()).encode()).hexdigest()[:16]


class SaltMismatch(RuntimeError):
    """The suppression list was hashed with another ``$ZANTARA_HASH_SALT``."""


def check_salt(wh) -> None:
    """Raise :class:`SaltMismatch` when stored hashes used another salt than now."""
    if not tables.exists(wh, "gdpr_suppression"):
        return
    rows = wh.engine.rows("SELECT DISTINCT salt_check FROM gdpr_suppression")
    other = {r[0] for r in rows} - {salt_check()}
    if other:
        raise SaltMismatch(
            "the GDPR suppression list was written with another $ZANTARA_HASH_SALT: "
            "set the salt it was written with, or erased persons would load again"
        )


def hashes(wh) -> list[str]:
    """Every suppressed hash (empty when nothing was ever erased)."""
    if not tables.exists(wh, "gdpr_suppression"):
        return []
    return [r[0] for r in wh.engine.rows("SELECT DISTINCT id_hash FROM gdpr_suppression")]


def hash_table(values: Iterable[str]) -> pa.Table:
    """An Arrow table with one column ``id_hash`` (for a join on the staging connection)."""
    return pa.table({"id_hash": pa.array(sorted(set(values)), pa.string())})


def filter_sql(wh, column: str = "distinct_id") -> str:
    """SQL predicate that is TRUE for rows whose ``column`` is *not* suppressed.

    For SQL that reads rows into the warehouse from elsewhere: ``WHERE {filter_sql(wh)}``.
    """
    if not tables.exists(wh, "gdpr_suppression"):
        return "TRUE"
    h = hash_sql(wh.dialect, column)
    return f"({column} IS NULL OR {h} NOT IN (SELECT id_hash FROM gdpr_suppression))"


def is_suppressed(wh, value: str) -> bool:
    """Whether one id is on the suppression list."""
    if not tables.exists(wh, "gdpr_suppression"):
        return False
    return bool(
        wh.engine.rows("SELECT count(*) FROM gdpr_suppression WHERE id_hash = ?", [id_hash(value)])[
            0
        ][0]
    )


def record(wh, request_id: str, ids: dict[str, Iterable[str]], when: datetime | None = None) -> int:
    """Add ids to the list (``{kind: ids}``, kinds ``distinct_id``, ``person_id``,
    ``email``); ids already there are skipped. Returns how many hashes were added."""
    tables.ensure(wh, "gdpr_suppression")
    when = when or datetime.now(UTC)
    have = set(hashes(wh))
    rows: dict[str, str] = {}
    for kind, values in ids.items():
        for v in values:
            h = id_hash(v)
            if h not in have and h not in rows:
                rows[h] = kind
    if not rows:
        return 0
    table = pa.table(
        {
            "id_hash": list(rows),
            "kind": list(rows.values()),
            "request_id": [request_id] * len(rows),
            "suppressed_at": pa.array([when] * len(rows), pa.timestamp("us", tz="UTC")),
            "salt_check": [salt_check()] * len(rows),
        }
    )
    con = wh.con
    con.register("_gdpr_new_hashes", table)
    try:
        wh.execute(
            "INSERT INTO gdpr_suppression (id_hash, kind, request_id, suppressed_at, salt_check) "
            "SELECT id_hash, kind, request_id, suppressed_at, salt_check FROM _gdpr_new_hashes"
        )
    finally:
        con.unregister("_gdpr_new_hashes")
    return len(rows)
