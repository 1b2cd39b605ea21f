"""Privacy at the door: suppression, consent, retention horizon and PII scrub at ingest.

The loader (:mod:`.load`) runs every staged chunk through :func:`after_stage` on the
staging connection (the worker thread, overlapping the writes), and calls
:func:`finish` once per file inside the load's transaction. Per chunk, in order:

1. **consent decisions** the chunk carries (``consent_updated`` events,
   ``analytics_consent`` in properties or person properties) are added to the
   decisions known so far (:mod:`zantara_nb.gdpr.consent`);
2. rows are **dropped**, and counted, when their distinct id (or the anonymous id they
   link) is on the GDPR suppression list (``suppressed``; quarantined rows too, their
   raw text would hold the person's data), when the latest decision of the id at or
   before the event declined analytics consent (``consent_declined``: counted per UTC
   day and event in ``consent_daily``, nothing else kept), or when the event is older
   than the retention cut-off (``expired``: it would only be deleted again);
3. **personal data** in free-text property values is replaced by typed placeholders
   (:mod:`zantara_nb.warehouse.pii`: e-mails, phones, full IPs, NIK, NPWP, card numbers,
   URL credentials) and counted by kind. Values of the tracking plan's safe keys
   (:data:`~zantara_nb.warehouse.tracking_plan.SAFE_PROPS`: ids, enumerations, numbers)
   are not scanned; a cheap SQL pre-filter picks the rows that may hold anything, and
   only those are parsed in Python. Quarantined rows' raw text is scrubbed whole.

``LoadSummary`` counts the dropped rows as read (``rows_read == loaded + duplicates +
quarantined + suppressed + consent_declined + expired``). Other loaders that write rows
themselves can call :func:`zantara_nb.gdpr.suppression.filter_sql`.
"""

from __future__ import annotations

import contextlib
import json
import re
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc

from ..gdpr import consent, suppression
from ..gdpr import tables as gdpr_tables
from ..warehouse import pii
from ..warehouse import tracking_plan as tp

# A property value may hold personal data only if this RE2 pattern matches it: a
# superset of what :func:`zantara_nb.warehouse.pii.find` reports (tested on the labelled
# set), cheap enough to run over every row in SQL.
CANDIDATE = "|".join(
    [
        r"[A-Za-z0-9._%+\-]@[A-Za-z0-9\-]+\.[A-Za-z]",  # e-mail
        r"://[^/\s\"]*@",  # URL credentials
        r"(?:^|[^0-9.])(?:[0-9]{1,3}\.){3}(?:[1-9][0-9]{0,2}|0[0-9]{1,2})(?:[^0-9]|$)",  # IPv4
        # IPv6, but not the /48 the loader leaves (``2001:db8:1::``)
        r"::[0-9A-Fa-f]|(?:[0-9A-Fa-f]{1,4}:){3,}[0-9A-Fa-f]",
        r"(?:\+|(?:^|[^0-9A-Za-z])\(?0[1-9]|(?:^|[^0-9])62[ .\-]?8)[0-9 ().\-]{6,}[0-9]",  # phone
        r"(?:^|[^0-9])\(?[2-9][0-9]{2}\)?[ .\-]?[0-9]{3}[ .\-][0-9]{4}",  # NANP phone
        r"[0-9]{4}[ \-]?[0-9]{4}[ \-]?[0-9]{4}[ \-]?[0-9]",  # NIK, NPWP, card (13+ digits)
        r"[0-9]{2}\.[0-9]{3}\.[0-9]{3}\.[0-9]",  # dotted NPWP
    ]
)
#: A JSON merge patch removing the safe keys before the pre-filter looks at a row.
SAFE_PATCH = json.dumps(dict.fromkeys(sorted(tp.SAFE_PROPS)), separators=(",", ":"))

_AGGREGATE = """
    SELECT event, keys, set_keys, reason, count(*) AS n, count_if(naive) AS naive
    FROM _zg_stage GROUP BY ALL
"""


def _lit(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


@dataclass
class GateCounts:
    suppressed: int = 0
    consent_declined: int = 0
    expired: int = 0
    pii: Counter = field(default_factory=Counter)
    pii_values: int = 0
    daily: Counter = field(default_factory=Counter)  # (UTC day, event) -> events
    decisions: list[pa.Table] = field(default_factory=list)

    @property
    def dropped(self) -> int:
        return self.suppressed + self.consent_declined + self.expired


class Gate:
    """What one file load checks its rows against (read once, at the start of the load)."""

    def __init__(
        self,
        suppressed: list[str],
        decisions: pa.Table,
        cutoff: datetime | None,
        *,
        scrub: bool = True,
    ) -> None:
        self.suppressed = suppression.hash_table(suppressed) if suppressed else None
        self.decisions = decisions
        self.declining = set(
            decisions.filter(pc.invert(decisions["granted"]))["id_hash"].to_pylist()
        )
        self.cutoff = cutoff
        self.scrub = scrub
        self.prefix = suppression.salt_prefix()
        self.counts = GateCounts()

    def fresh(self) -> Gate:
        """The same checks with zero counts (a load that starts over)."""
        g = Gate.__new__(Gate)
        g.__dict__.update(self.__dict__)
        g.counts = GateCounts()
        return g

    # -- per chunk (staging connection, worker thread) -------------------------------

    def apply(self, scon, stage: pa.Table) -> tuple[pa.Table, bool]:
        """The chunk without the rows it may not keep, scrubbed; and whether it changed."""
        scon.register("_zg_stage", stage)
        try:
            self._learn(scon)
            drop = self._drop_lines(scon)
            changed = False
            if drop is not None and drop.num_rows:
                keep = pc.invert(pc.is_in(stage["_line"], value_set=drop["_line"]))
                stage = stage.filter(keep)
                changed = True
                scon.register("_zg_stage", stage)
            if self.scrub:
                stage = self._scrub(scon, stage)
            return stage, changed
        finally:
            with contextlib.suppress(Exception):
                scon.unregister("_zg_stage")
            for name in ("_zg_supp", "_zg_dec"):
                with contextlib.suppress(Exception):
                    scon.unregister(name)

    def _hash(self, col: str) -> str:
        return f"sha256({_lit(self.prefix)} || {col})"

    def _learn(self, scon) -> None:
        """Add the consent decisions this chunk carries."""
        found = scon.sql(
            f"""
            WITH d AS (
                SELECT distinct_id, anon_distinct_id, timestamp,
                       {consent.decision_sql("properties", "set_props")} AS granted
                FROM _zg_stage
                WHERE reason IS NULL
                  AND (event = {_lit(tp.CONSENT_EVENT)}
                       OR contains(properties, {_lit(tp.CONSENT_PROP)})
                       OR contains(set_props, {_lit(tp.CONSENT_PROP)}))
            )
            SELECT {self._hash("id")} AS id_hash, timestamp, granted FROM (
                SELECT distinct_id AS id, timestamp, granted FROM d
                UNION ALL
                SELECT anon_distinct_id, timestamp, granted FROM d
                WHERE anon_distinct_id IS NOT NULL
            ) WHERE granted IS NOT NULL AND id IS NOT NULL
            """
        ).to_arrow_table()
        if not found.num_rows:
            return
        found = found.cast(consent.DECISIONS_SCHEMA)
        self.declining |= set(found.filter(pc.invert(found["granted"]))["id_hash"].to_pylist())
        mask = pc.is_in(found["id_hash"], value_set=pa.array(sorted(self.declining), pa.string()))
        new = found.filter(mask)
        if new.num_rows:
            self.decisions = pa.concat_tables([self.decisions, new])
            self.counts.decisions.append(new)

    def _drop_lines(self, scon) -> pa.Table | None:
        parts = []
        need_hash = self.suppressed is not None or self.decisions.num_rows > 0
        if self.suppressed is not None:
            scon.register("_zg_supp", self.suppressed)
            parts.append(
                "SELECT _line, 'suppressed' AS why, event, timestamp FROM h "
                "WHERE h1 IN (SELECT id_hash FROM _zg_supp) OR h2 IN (SELECT id_hash FROM _zg_supp)"
            )
        if self.decisions.num_rows:
            scon.register("_zg_dec", self.decisions)
            # valid rows: the latest decision at or before the event; quarantined rows
            # (their time may be unknown): the latest decision of all
            parts.append(
                """
                SELECT h._line, 'declined' AS why, h.event, h.timestamp FROM h
                ASOF JOIN _zg_dec d ON d.id_hash = h.h1 AND h.timestamp >= d.timestamp
                WHERE h.reason IS NULL AND NOT d.granted
                UNION ALL
                SELECT h._line, 'declined', h.event, h.timestamp FROM h
                JOIN (SELECT id_hash, arg_max(granted, timestamp) AS g FROM _zg_dec GROUP BY 1) l
                  ON l.id_hash = h.h1
                WHERE h.reason IS NOT NULL AND NOT l.g
                """
            )
        if self.cutoff is not None:
            parts.append(
                "SELECT _line, 'expired' AS why, event, timestamp FROM _zg_stage "
                f"WHERE reason IS NULL AND timestamp < TIMESTAMPTZ '{self.cutoff.isoformat()}'"
            )
        if not parts:
            return None
        hashes = (
            f"WITH h AS (SELECT _line, reason, event, timestamp, {self._hash('distinct_id')} AS h1, "
            f"{self._hash('anon_distinct_id')} AS h2 FROM _zg_stage) "
            if need_hash
            else ""
        )
        union = " UNION ALL ".join(f"({p})" for p in parts)
        # one reason per row: suppressed, then declined, then expired
        rows = scon.sql(
            f"""{hashes}
            SELECT _line, min_by(why, CASE why WHEN 'suppressed' THEN 0 WHEN 'declined' THEN 1
                                           ELSE 2 END) AS why,
                   any_value(event) AS event,
                   CAST(any_value(timestamp) AT TIME ZONE 'UTC' AS DATE) AS day
            FROM ({union}) GROUP BY _line
            """
        ).to_arrow_table()
        if not rows.num_rows:
            return rows
        c = self.counts
        agg = rows.group_by(["why", "event", "day"], use_threads=False).aggregate(
            [("_line", "count")]
        )
        for why, event, day, n in zip(
            agg["why"].to_pylist(),
            agg["event"].to_pylist(),
            agg["day"].to_pylist(),
            agg["_line_count"].to_pylist(),
            strict=True,
        ):
            if why == "suppressed":
                c.suppressed += n
            elif why == "declined":
                c.consent_declined += n
                if day is not None:  # a quarantined row without a time: counted above only
                    c.daily[(day, event)] += n
            else:
                c.expired += n
        return rows.select(["_line"])

    # -- personal data in free text ----------------------------------------------------

    def _scrub(self, scon, stage: pa.Table) -> pa.Table:
        cand = _lit(CANDIDATE)
        props = scon.execute(
            f"""
            SELECT _line, properties FROM _zg_stage
            WHERE reason IS NULL AND properties IS NOT NULL
              -- CASE: the merge patch (costly) only runs on the rows the pattern let through
              AND CASE WHEN regexp_matches(properties, {cand})
                       THEN regexp_matches(
                           json_merge_patch(properties, {_lit(SAFE_PATCH)})::VARCHAR, {cand})
                       ELSE FALSE END
            """
        ).fetchall()
        fixed: dict[int, str] = {}
        for line, text in props:
            new = self._scrub_props(text)
            if new is not None:
                fixed[line] = new
        if fixed:
            stage = _replace(stage, "properties", fixed)
        bad = scon.execute(
            f"""
            SELECT _line, raw, bad_props FROM _zg_stage
            WHERE reason IS NOT NULL
              AND (regexp_matches(raw, {cand}) OR regexp_matches(bad_props, {cand}))
            """
        ).fetchall()
        raws: dict[int, str] = {}
        bads: dict[int, str] = {}
        for line, raw, bp in bad:
            for text, out in ((raw, raws), (bp, bads)):
                if text:
                    new, counts = _redact_raw(text)
                    if counts:
                        out[line] = new
                        self.counts.pii.update(counts)
                        self.counts.pii_values += 1
        if raws:
            stage = _replace(stage, "raw", raws)
        if bads:
            stage = _replace(stage, "bad_props", bads)
        return stage

    def _scrub_props(self, text: str) -> str | None:
        try:
            obj = json.loads(text)
        except ValueError:
            return None
        if not isinstance(obj, dict):
            return None
        changed = False
        for k, v in obj.items():
            if k in tp.SAFE_PROPS:
                continue
            new, hit = self._scrub_value(v)
            if hit:
                obj[k] = new
                changed = True
        if not changed:
            return None
        return json.dumps(obj, ensure_ascii=False, separators=(",", ":"))

    def _scrub_value(self, v: Any) -> tuple[Any, bool]:
        if isinstance(v, str):
            new, counts = pii.redact_counted(v)
            if counts:
                self.counts.pii.update(counts)
                self.counts.pii_values += 1
                return new, True
            return v, False
        if isinstance(v, dict):
            hit = False
            for k, x in v.items():
                new, h = self._scrub_value(x)
                if h:
                    v[k], hit = new, True
            return v, hit
        if isinstance(v, list):
            hit = False
            for i, x in enumerate(v):
                new, h = self._scrub_value(x)
                if h:
                    v[i], hit = new, True
            return v, hit
        return v, False


_IP_KEY = re.compile(r'"\$?ip"\s*:\s*"$')


def _redact_raw(text: str) -> tuple[str, dict[str, int]]:
    """A quarantined row's text with personal data replaced, except IPv4 addresses: the
    loader keeps their network part there (last octet zeroed, :func:`.normalize.scrub_raw_sql`),
    and ``ip``/``$ip`` values, which it redacts itself."""
    matches = [
        m
        for m in pii.find(text)
        if not (m.kind == "ip" and (":" not in m.text or _IP_KEY.search(text[: m.start])))
    ]
    if not matches:
        return text, {}
    out, pos, counts = [], 0, Counter()
    for m in matches:
        out += [text[pos : m.start], pii.MARKS[m.kind]]
        pos = m.end
        counts[m.kind] += 1
    out.append(text[pos:])
    return "".join(out), dict(counts)


def _replace(stage: pa.Table, column: str, values: dict[int, str]) -> pa.Table:
    """``stage`` with ``column`` replaced on the rows whose ``_line`` is in ``values``."""
    lines = stage["_line"].combine_chunks()
    mask = pc.is_in(lines, value_set=pa.array(list(values), lines.type))
    picked = pc.filter(lines, mask).to_pylist()
    col = stage[column].combine_chunks()
    repl = pa.array([values[x] for x in picked], col.type)
    new = pc.replace_with_mask(col, mask, repl)
    return stage.set_column(stage.schema.get_field_index(column), column, new)


# -- the loader's hooks ---------------------------------------------------------------


def open_gate(wh, now: datetime | None = None) -> Gate:
    """The checks of one load: suppression list, consent decisions, retention cut-off."""
    from ..warehouse.rollups import retention_state

    suppression.check_salt(wh)
    state = retention_state(wh)
    return Gate(
        suppression.hashes(wh),
        consent.decisions(wh),
        state.cutoff if state is not None else None,
    )


def after_stage(scon, staged: tuple, totals) -> tuple:
    """The loader's per-chunk hook (worker thread): ``(stage, groups)`` through the gate."""
    gate: Gate | None = getattr(totals, "gate", None)
    if gate is None:
        return staged
    stage, groups = staged
    stage, changed = gate.apply(scon, stage)
    if changed:
        scon.register("_zg_stage", stage)
        try:
            groups = scon.execute(_AGGREGATE).fetchall()
        finally:
            scon.unregister("_zg_stage")
    return stage, groups


def finish(wh, totals, summary) -> None:
    """The loader's per-file hook (inside the load's transaction): record decisions, the
    per-day consent counts and the load's privacy counts; complete the summary."""
    gate: Gate | None = getattr(totals, "gate", None)
    if gate is None:
        return
    c = gate.counts
    load_id = summary.load_id
    summary.suppressed = c.suppressed
    summary.consent_declined = c.consent_declined
    summary.expired = c.expired
    summary.pii_scrubbed = dict(c.pii.most_common())
    summary.rows_read += c.dropped
    if summary.status == "failed" and summary.message == "no rows in the file" and c.dropped:
        summary.status, summary.message = "ok", "every row was dropped at the door (see below)"
    if c.decisions:
        gdpr_tables.ensure(wh, "consent_decisions")
        table = pa.concat_tables(c.decisions).append_column(
            "load_id", pa.array([load_id] * sum(t.num_rows for t in c.decisions), pa.int32())
        )
        _insert(wh, "consent_decisions", table)
    if c.daily:
        gdpr_tables.ensure(wh, "consent_daily")
        keys = sorted(c.daily)
        _insert(
            wh,
            "consent_daily",
            pa.table(
                {
                    "day": pa.array([k[0] for k in keys], pa.date32()),
                    "event": [k[1] for k in keys],
                    "events": pa.array([c.daily[k] for k in keys], pa.int64()),
                    "load_id": pa.array([load_id] * len(keys), pa.int32()),
                }
            ),
        )
    if c.dropped or c.pii:
        gdpr_tables.ensure(wh, "load_privacy")
        wh.execute(
            "INSERT INTO load_privacy (load_id, suppressed, consent_declined, expired, "
            "pii_scrubbed, pii_json) VALUES (?, ?, ?, ?, ?, ?)",
            [
                load_id,
                c.suppressed,
                c.consent_declined,
                c.expired,
                sum(c.pii.values()),
                json.dumps(dict(c.pii.most_common())),
            ],
        )


def _insert(wh, table: str, data: pa.Table) -> None:
    con = wh.con
    name = f"_zg_ins_{table}"
    con.register(name, data)
    try:
        cols = ", ".join(data.column_names)
        wh.execute(f"INSERT INTO {table} ({cols}) SELECT {cols} FROM {name}")
    finally:
        con.unregister(name)


def load_privacy(wh):
    """Per-load privacy counts (a DataFrame; empty when nothing was ever dropped)."""
    if not gdpr_tables.exists(wh, "load_privacy"):
        import pandas as pd

        return pd.DataFrame(
            columns=["load_id", "suppressed", "consent_declined", "expired", "pii_scrubbed"]
        )
    return wh.engine.frame("SELECT * FROM load_privacy ORDER BY load_id")


__all__ = ["CANDIDATE", "Gate", "after_stage", "finish", "load_privacy", "open_gate"]
