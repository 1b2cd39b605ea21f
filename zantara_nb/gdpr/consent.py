"""Analytics consent at the door: events of persons who declined are only counted.

The tracking plan's extension (``docs/tracking-plan-extensions.md``): a person's
decision comes from a ``consent_updated`` event carrying ``analytics_consent``, from the
person property ``analytics_consent`` (``$set``, identify traits), or from that property
on any event. ``false`` (also ``"false"``, ``"denied"``, ``"declined"``, ``"no"``, ``0``)
declines; ``true`` (``"granted"``, ``"yes"``, ``1``) grants.

Rule, applied by the loader (:mod:`zantara_nb.ingest.privacy_gate`): an event is not
stored when the latest decision of its distinct id (or of the anonymous id it links)
at or before the event's time declined. Events before a decline stay (they were
collected with consent); events after a later grant are stored again. The event that
carries the decline is not stored either. What is not stored is counted per UTC day and
event name in ``consent_daily``, nothing else.

Decisions are kept as salted hashes (:func:`~.suppression.id_hash`) in
``consent_decisions``, only for ids that declined at least once (a grant alone needs no
record). A person's decisions are erased with them.
"""

from __future__ import annotations

import pyarrow as pa

from ..warehouse.tracking_plan import CONSENT_EVENT, CONSENT_PROP
from . import tables

__all__ = ["CONSENT_EVENT", "CONSENT_PROP", "decision_sql", "decisions", "declined_per_day"]

DECLINE_WORDS = ("false", "0", "no", "denied", "declined", "deny", "decline", "off", "rejected")
GRANT_WORDS = ("true", "1", "yes", "granted", "grant", "accepted", "accept", "on")

DECISIONS_SCHEMA = pa.schema(
    [("id_hash", pa.string()), ("timestamp", pa.timestamp("us", tz="UTC")), ("granted", pa.bool_())]
)


def decision_sql(props: str, set_props: str) -> str:
    """DuckDB SQL (staging): the decision a row carries, TRUE / FALSE / NULL (none)."""
    path = f"'$.\"{CONSENT_PROP}\"'"
    v = (
        f"lower(trim(coalesce(json_extract_string({props}, {path}), "
        f"json_extract_string({set_props}, {path}))))"
    )
    dec = ", ".join(f"'{w}'" for w in DECLINE_WORDS)
    grant = ", ".join(f"'{w}'" for w in GRANT_WORDS)
    return f"CASE WHEN {v} IN ({dec}) THEN FALSE WHEN {v} IN ({grant}) THEN TRUE END"


def decisions(wh) -> pa.Table:
    """Every stored decision (ids that declined at least once), as Arrow."""
    if not tables.exists(wh, "consent_decisions"):
        return DECISIONS_SCHEMA.empty_table()
    df = wh.engine.frame("SELECT id_hash, timestamp, granted FROM consent_decisions")
    if df.empty:
        return DECISIONS_SCHEMA.empty_table()
    return pa.Table.from_pandas(df, preserve_index=False).cast(DECISIONS_SCHEMA)


def declined_per_day(wh):
    """Events not stored for lack of consent, per UTC day and event (a DataFrame)."""
    if not tables.exists(wh, "consent_daily"):
        import pandas as pd

        return pd.DataFrame(columns=["day", "event", "events"])
    return wh.engine.frame(
        "SELECT day, event, sum(events) AS events FROM consent_daily GROUP BY day, event "
        "ORDER BY day, event"
    )
