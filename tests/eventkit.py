"""Hand-built event fixtures for tests: a few persons, a few events each.

>>> wh = Warehouse(":memory:")
>>> add_events(wh, [
...     ev("anon1", "page_viewed", "2026-01-05 09:00+07:00"),
...     ev("u1", "$identify", "2026-01-05 09:05+07:00", {"$anon_distinct_id": "anon1"}),
...     ev("u1", "message_sent", "2026-01-05 09:06+07:00", query_category="visa"),
... ])

Typed columns are filled from properties exactly as the loader does (first source
present wins, scale applied), identity links are recorded for ``$identify`` /
``$create_alias`` events, and ``stitch`` runs at the end, so metrics see the same shape
of data as after a real load.
"""

from __future__ import annotations

import json
import uuid as uuidlib
from datetime import datetime
from typing import Any

import pandas as pd

from zantara_nb.warehouse.identity import stitch
from zantara_nb.warehouse.tracking_plan import TYPED_COLUMNS


def ev(
    distinct_id: str,
    event: str,
    timestamp: str | datetime,
    props: dict[str, Any] | None = None,
    *,
    uuid: str | None = None,
    set_props: dict[str, Any] | None = None,
    **kw: Any,
) -> dict[str, Any]:
    """One event row: properties from ``props`` and keyword arguments together."""
    p = dict(props or {})
    p.update(kw)
    return {
        "uuid": uuid,
        "event": event,
        "timestamp": timestamp,
        "distinct_id": distinct_id,
        "properties": p,
        "set_props": set_props,
    }


def add_events(wh, rows: list[dict[str, Any]], *, run_stitch: bool = True) -> None:
    """Insert ``rows`` (from :func:`ev`) into ``wh.events`` and re-stitch identities."""
    records = []
    links = []
    for r in rows:
        p = r["properties"]
        ts = pd.Timestamp(r["timestamp"])
        if ts.tzinfo is None:
            ts = ts.tz_localize("UTC")
        ts = ts.tz_convert("UTC")
        uid = r["uuid"] or str(uuidlib.uuid4())
        anon = None
        if r["event"] == "$identify":
            anon = p.get("$anon_distinct_id")
            kind = "identify"
        elif r["event"] == "$create_alias":
            anon = p.get("alias")
            kind = "alias"
        if anon is not None and anon != r["distinct_id"]:
            links.append(
                {
                    "distinct_id": r["distinct_id"],
                    "anon_distinct_id": anon,
                    "kind": kind,
                    "timestamp": ts,
                    "uuid": uid,
                }
            )
        rec = {
            "uuid": uid,
            "event": r["event"],
            "timestamp": ts,
            "distinct_id": r["distinct_id"],
            "person_id": r["distinct_id"],
            "session_id": p.get("session_id", p.get("$session_id")),
            "properties": json.dumps(p),
            "set_props": json.dumps(r["set_props"] or p.get("$set"))
            if (r["set_props"] or p.get("$set"))
            else None,
            "anon_distinct_id": anon,
        }
        for col in TYPED_COLUMNS:
            val = None
            for key, scale in col.sources:
                if p.get(key) is not None:
                    val = p[key]
                    if scale != 1.0:
                        val = val * scale
                    break
            if val is not None and col.sql_type == "VARCHAR" and not isinstance(val, str):
                val = json.dumps(val) if not isinstance(val, bool) else str(val).lower()
            rec[col.name] = val
        records.append(rec)
    if records:
        df = pd.DataFrame.from_records(records)
        cols = ", ".join(df.columns)
        wh.con.register("_fixture_events", df)
        wh.con.execute(f"INSERT INTO events ({cols}) SELECT {cols} FROM _fixture_events")
        wh.con.unregister("_fixture_events")
    if links:
        ldf = pd.DataFrame.from_records(links)
        wh.con.register("_fixture_links", ldf)
        wh.con.execute(
            "INSERT INTO identity_links SELECT distinct_id, anon_distinct_id, kind, timestamp, uuid "
            "FROM _fixture_links"
        )
        wh.con.unregister("_fixture_links")
    if run_stitch:
        stitch(wh)
