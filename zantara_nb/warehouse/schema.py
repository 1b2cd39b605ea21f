"""DDL of the warehouse: one canonical ``events`` table and its companions.

Tables
------
``loads``               one row per ingest of one file (what, when, counts, status:
                        ``running``, ``ok``, ``partial``, ``failed``, ``interrupted``).
``events``              canonical events: uuid, event, timestamp (UTC), distinct_id,
                        person_id (after stitching), session_id, properties (JSON),
                        typed columns from the tracking plan, load_id.
``quarantine``          rows that could not be loaded, with file, line, field and reason,
                        and the raw text so nothing is lost.
``identity_links``      (distinct_id, anon_distinct_id) pairs seen in identify/alias events.
``person_distinct_ids`` distinct_id -> person_id after stitching.
``persons``             one row per person: first/last seen and latest person properties.

Every table that holds personal rows carries ``distinct_id`` (and ``person_id`` where it
is known) so one person's rows can be found and removed everywhere.
"""

from __future__ import annotations

from .tracking_plan import TYPED_COLUMNS

#: 2: ``loads.blank_lines``.
SCHEMA_VERSION = 2

_TYPED = ",\n    ".join(f"{c.name} {c.sql_type}" for c in TYPED_COLUMNS)

DDL: tuple[str, ...] = (
    "CREATE SEQUENCE IF NOT EXISTS load_id_seq START 1",
    """
    CREATE TABLE IF NOT EXISTS meta (
        key VARCHAR PRIMARY KEY,
        value VARCHAR
    )
    """,
    """
    CREATE TABLE IF NOT EXISTS loads (
        load_id INTEGER PRIMARY KEY DEFAULT nextval('load_id_seq'),
        path VARCHAR NOT NULL,
        format VARCHAR,
        file_sha256 VARCHAR,
        file_bytes BIGINT,
        started_at TIMESTAMPTZ,
        finished_at TIMESTAMPTZ,
        rows_read BIGINT,
        loaded BIGINT,
        duplicates BIGINT,
        quarantined BIGINT,
        naive_timestamps BIGINT,
        unknown_events BIGINT,
        unknown_properties BIGINT,
        redacted_properties BIGINT,
        status VARCHAR,
        message VARCHAR,
        blank_lines BIGINT
    )
    """,
    f"""
    CREATE TABLE IF NOT EXISTS events (
        uuid VARCHAR NOT NULL,
        event VARCHAR NOT NULL,
        timestamp TIMESTAMPTZ NOT NULL,
        distinct_id VARCHAR,
        person_id VARCHAR,
        session_id VARCHAR,
        properties JSON,
        set_props JSON,
        anon_distinct_id VARCHAR,
        ip VARCHAR,
    {_TYPED},
        load_id INTEGER
    )
    """,
    """
    CREATE TABLE IF NOT EXISTS quarantine (
        load_id INTEGER,
        file VARCHAR,
        line BIGINT,
        reason VARCHAR,
        field VARCHAR,
        detail VARCHAR,
        distinct_id VARCHAR,
        raw VARCHAR,
        raw_hash VARCHAR
    )
    """,
    """
    CREATE TABLE IF NOT EXISTS identity_links (
        distinct_id VARCHAR NOT NULL,
        anon_distinct_id VARCHAR NOT NULL,
        kind VARCHAR,
        timestamp TIMESTAMPTZ,
        uuid VARCHAR
    )
    """,
    """
    CREATE TABLE IF NOT EXISTS person_distinct_ids (
        distinct_id VARCHAR PRIMARY KEY,
        person_id VARCHAR NOT NULL
    )
    """,
    """
    CREATE TABLE IF NOT EXISTS persons (
        person_id VARCHAR PRIMARY KEY,
        first_seen TIMESTAMPTZ,
        last_seen TIMESTAMPTZ,
        plan VARCHAR,
        language VARCHAR,
        timezone VARCHAR,
        country VARCHAR,
        user_type VARCHAR,
        created_at VARCHAR,
        distinct_ids INTEGER
    )
    """,
)

#: Statements that bring a warehouse of an earlier schema version up to this one (run
#: after :data:`DDL`, each harmless when already applied).
MIGRATIONS: tuple[str, ...] = ("ALTER TABLE loads ADD COLUMN IF NOT EXISTS blank_lines BIGINT",)

#: Tables holding rows that belong to a person, with the column that names them.
PERSONAL_TABLES: dict[str, tuple[str, ...]] = {
    "events": ("distinct_id", "person_id"),
    "quarantine": ("distinct_id",),
    "identity_links": ("distinct_id", "anon_distinct_id"),
    "person_distinct_ids": ("distinct_id", "person_id"),
    "persons": ("person_id",),
}
