"""A small warehouse with a few persons for the GDPR tests, loaded by the real loader.

Persons:

- ``u1``: anonymous ``a1`` identified as ``u1`` (e-mail ``ana@example.co.id``), a second
  device ``a1b`` aliased to ``u1``, messages, one quarantined row (bad timestamp);
- ``u2``: another person who tried to claim ``a1`` too (a refused identify link);
  events of their own, and a referral naming ``u1``;
- ``guest``: a forbidden id, never merged, with events;
- ``u3``: a plain user.
"""

from __future__ import annotations

import json
from pathlib import Path

from ingest_fixtures import NOW, posthog, write_jsonl

from zantara_nb.ingest import ingest

__all__ = ["NOW", "build", "rows_of_file", "table_counts", "texts"]


def _rows() -> list:
    rows = [
        posthog("e1", "page_viewed", "a1", "2025-11-10T08:00:00Z", path="/"),
        posthog(
            "e2",
            "$identify",
            "u1",
            "2025-11-10T08:01:00Z",
            **{"$anon_distinct_id": "a1", "$set": {"email": "Ana@Example.co.id", "plan": "pro"}},
        ),
        posthog("e3", "message_sent", "u1", "2025-11-10T08:02:00Z", query_length=10),
        posthog("e4", "message_sent", "u1", "2025-11-11T08:02:00Z", query_length=12),
        posthog("e5", "$create_alias", "u1", "2025-11-11T09:00:00Z", alias="a1b"),
        posthog("e6", "message_sent", "a1b", "2025-11-12T09:00:00Z", query_length=3),
        # u2 claims a1 later: refused (a1 already joined u1)
        posthog("e7", "$identify", "u2", "2025-11-12T10:00:00Z", **{"$anon_distinct_id": "a1"}),
        posthog("e8", "message_sent", "u2", "2025-11-12T10:01:00Z", query_length=5),
        posthog(
            "e9",
            "referral_completed",
            "u2",
            "2025-11-12T10:02:00Z",
            referrer_user_id="u2",
            referred_user_id="u3",
        ),
        posthog("e10", "message_sent", "guest", "2025-11-12T11:00:00Z", query_length=1),
        posthog("e11", "page_viewed", "guest", "2025-11-12T11:01:00Z", path="/pricing"),
        posthog("e12", "message_sent", "u3", "2025-11-13T11:00:00Z", query_length=7),
        posthog(
            "e13",
            "error_occurred",
            "u3",
            "2025-11-13T11:05:00Z",
            error_type="timeout",
            error_message="user ana@example.co.id got 504 from 203.0.113.77",
        ),
        # quarantined: unparseable timestamp; the raw text names u1
        '{"uuid":"q1","event":"message_sent","distinct_id":"u1","timestamp":"nope",'
        '"properties":{"query_length":4}}',
    ]
    return rows


def build(wh, tmp_path: Path) -> Path:
    """Load the events into ``wh``; returns the file (to load it again later)."""
    path = write_jsonl(tmp_path / "gdpr-events.jsonl", _rows())
    ingest(wh, path, format="posthog-jsonl", now=NOW)
    return path


def rows_of_file() -> int:
    return len(_rows())


def table_counts(wh) -> dict[str, int]:
    out = {}
    for t in wh.engine.table_columns():
        out[t] = int(wh.scalar(f"SELECT count(*) FROM {t}"))
    return out


def texts(wh, exclude: tuple[str, ...] = ()) -> str:
    """Every value of every table, as one string (to look for ids in)."""
    parts = []
    for t in wh.engine.table_columns():
        if t in exclude:
            continue
        for row in wh.engine.rows(f"SELECT * FROM {t}"):
            parts.append(json.dumps([str(v) for v in row]))
    return "\n".join(parts)
