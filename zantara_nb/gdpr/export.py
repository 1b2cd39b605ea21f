"""Export everything the warehouse holds about one person, as one JSON file.

``zantara-nb gdpr export ID [--out FILE]``. The file (schema ``zantara-nb/gdpr-export/1``,
documented in ``docs/gdpr.md``) is plain JSON, readable without this tool::

    {
      "schema": "zantara-nb/gdpr-export/1",
      "generated_at": "2026-12-04T18:00:00+00:00",
      "request": "ana@example.co.id",
      "identity": {"person_ids": [...], "distinct_ids": [...], "emails": [...]},
      "person_properties": {"email": ..., "plan": ..., ...},   # latest value of each
      "counts": {"events": 412, "quarantine": 1, ...},
      "tables": {
        "persons": [{...}], "person_distinct_ids": [...], "identity_links": [...],
        "events": [{"uuid": ..., "event": ..., "timestamp": "...Z", "properties": {...}, ...}],
        "quarantine": [{"file": ..., "line": ..., "reason": ..., "raw": "..."}],
        "<any other table with the person's rows>": [...]
      }
    }

Timestamps are ISO 8601 in UTC; ``properties`` and ``set_props`` are JSON objects, not
text. Events are in time order. Every table found by :func:`.tables.personal_tables` is
exported, so a table another module adds later is included without a change here.
"""

from __future__ import annotations

import json
import math
import time
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

from .. import __version__
from . import suppression, tables
from .erase import DeleteResult, _audit
from .resolve import IdentityGroup, resolve

SCHEMA = "zantara-nb/gdpr-export/1"
#: Columns holding JSON text, exported as JSON values.
JSON_COLUMNS = {"properties", "set_props"}
_ORDER = {"events": "timestamp, uuid", "quarantine": "load_id, line", "identity_links": "timestamp"}


def _value(col: str, v: Any) -> Any:
    if v is None:
        return None
    if isinstance(v, float) and math.isnan(v):
        return None
    if hasattr(v, "isoformat"):
        if isinstance(v, datetime) and v.tzinfo is None:
            v = v.replace(tzinfo=UTC)
        try:
            return v.isoformat()
        except ValueError:  # NaT
            return None
    if hasattr(v, "item"):
        return v.item()
    if col in JSON_COLUMNS and isinstance(v, str):
        try:
            return json.loads(v)
        except ValueError:
            return v
    return v


def _rows(wh, table: str, preds: list[str]) -> list[dict]:
    """The rows matching any predicate (one query per predicate; each row once), in the
    table's order."""
    order = _ORDER.get(table)
    out: list[dict] = []
    seen: set[str] = set()
    for pred in preds:
        cur = wh.engine.execute(f"SELECT * FROM {wh.dialect.ident(table)} WHERE {pred}")
        names = [c[0] for c in cur.description]
        for row in cur.fetchall():
            key = repr(row)
            if key in seen:
                continue
            seen.add(key)
            out.append({n: _value(n, v) for n, v in zip(names, row, strict=True)})
    if order:
        keys = [k.strip() for k in order.split(",")]
        out.sort(key=lambda r: tuple((r.get(k) is None, r.get(k) or 0) for k in keys))
    return out


def _latest_properties(events: list[dict]) -> dict:
    """The latest value of each person property (``set_props``), as the persons table
    keeps it, e-mail and name included (they are the person's own data)."""
    out: dict = {}
    for e in events:  # in time order: later values win
        sp = e.get("set_props")
        if isinstance(sp, dict):
            out.update({k: v for k, v in sp.items() if v is not None})
    return out


def export_person(
    wh, ident: str, out: str | Path | None = None, *, group: IdentityGroup | None = None
) -> tuple[Path, dict]:
    """Write the person's export to ``out`` (default ``gdpr-export-<hash>.json``);
    returns the path and the counts per table. An audit row records the export."""
    t0 = time.perf_counter()
    with wh.reading():
        group = group or resolve(wh, ident)
        pids, dids = group.person_ids, group.distinct_ids
        hashes = [suppression.id_hash(v) for v in [*pids, *dids, *group.emails]]
        texts = sorted(set(pids) | set(dids) | set(group.emails))
        data: dict[str, list[dict]] = {}
        if group.found:
            with tables.IdSets(wh, any=[*pids, *dids], hash=hashes) as ids:
                for table, cols in tables.personal_tables(wh).items():
                    preds = tables.person_predicates(wh, table, cols, ids, texts, owner_only=True)
                    if preds:
                        data[table] = _rows(wh, table, preds)
    doc = {
        "schema": SCHEMA,
        "generated_at": datetime.now(UTC).isoformat(),
        "generator": f"zantara-nb {__version__}",
        "request": ident,
        "identity": {
            "person_ids": pids,
            "distinct_ids": dids,
            "emails": group.emails,
            "found": group.found,
        },
        "person_properties": _latest_properties(data.get("events", [])),
        "counts": {t: len(rows) for t, rows in data.items()},
        "tables": data,
    }
    path = Path(out or f"gdpr-export-{suppression.id_hash(ident)[:12]}.json")
    tmp = path.with_name(path.name + ".part")
    with tmp.open("w", encoding="utf-8") as f:
        json.dump(doc, f, ensure_ascii=False, indent=1, default=_default)
    tmp.replace(path)
    if not getattr(wh, "read_only", False):
        with wh.writing():
            res = DeleteResult(
                request_id=f"export-{suppression.id_hash(ident)[:8]}-{int(t0)}", groups=[group]
            )
            res.rows = dict(doc["counts"])
            _audit(wh, res, "export", "done", ident)
    return path, dict(doc["counts"])


def _default(x: Any) -> Any:
    if isinstance(x, datetime | date):
        return x.isoformat()
    return str(x)
