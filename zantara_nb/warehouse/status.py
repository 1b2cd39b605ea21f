"""`zantara-nb status`: what is in the warehouse and how fresh it is."""

from __future__ import annotations

import html
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

import pandas as pd


@dataclass
class WarehouseStatus:
    """Row counts, date range, freshness, recent loads and quarantine counts."""

    path: str
    events: int
    persons: int
    distinct_ids: int
    first_event: datetime | None
    last_event: datetime | None
    checked_at: datetime
    quarantined: int
    loads: pd.DataFrame = field(repr=False)
    quarantine_by_reason: pd.DataFrame = field(repr=False)
    events_by_name: pd.DataFrame = field(repr=False)

    @property
    def freshness(self) -> timedelta | None:
        """Age of the newest event at ``checked_at`` (None when the warehouse is empty)."""
        return None if self.last_event is None else self.checked_at - self.last_event

    def is_stale(self, max_age: timedelta) -> bool:
        """True when the newest event is older than ``max_age`` (or there is none)."""
        return self.freshness is None or self.freshness > max_age

    def _lines(self) -> list[str]:
        def ts(x: datetime | None) -> str:
            return "—" if x is None else x.strftime("%Y-%m-%d %H:%M UTC")

        age = self.freshness
        age_s = "—" if age is None else _human(age)
        lines = [
            f"Warehouse   {self.path}",
            f"Events      {self.events:,}  ({self.persons:,} persons, {self.distinct_ids:,} distinct ids)",
            f"Range       {ts(self.first_event)} → {ts(self.last_event)}",
            f"Freshness   newest event is {age_s} old",
            f"Loads       {len(self.loads):,}{_by_status(self.loads)}",
            f"Quarantine  {self.quarantined:,} rows",
        ]
        for r in self.quarantine_by_reason.itertuples():
            lines.append(f"            {r.rows:>10,}  {r.reason}")
        if len(self.events_by_name):
            lines.append("Top events")
            for r in self.events_by_name.head(12).itertuples():
                lines.append(f"            {r.rows:>10,}  {r.event}")
        if len(self.loads):
            lines.append("Last loads")
            for r in self.loads.head(5).to_dict("records"):
                lines.append(
                    f"  #{_int(r.get('load_id')):<4} {_text(r.get('status')) or '?':11} "
                    f"{_int(r.get('loaded')):>10,} loaded {_int(r.get('duplicates')):>9,} dup "
                    f"{_int(r.get('quarantined')):>7,} quar  {_text(r.get('path'))}"
                )
        problems = self.problem_loads
        if len(problems):
            lines.append("Failed and interrupted loads")
            for r in problems.head(10).to_dict("records"):
                when = r.get("finished_at")
                when = when if _present(when) else r.get("started_at")
                at = f" at {when:%Y-%m-%d %H:%M} UTC" if _present(when) else ""
                lines.append(
                    f"  #{_int(r.get('load_id')):<4} {_text(r.get('status'))}{at}: "
                    f"{_text(r.get('path'))}"
                )
                msg = _text(r.get("message"))
                if msg:
                    lines.append(f"        {msg}")
        return lines

    @property
    def problem_loads(self) -> pd.DataFrame:
        """Loads that failed or were interrupted (a process killed half way), newest first."""
        if not len(self.loads) or "status" not in self.loads:
            return self.loads.iloc[0:0]
        return self.loads[self.loads["status"].isin(["failed", "interrupted"])]

    def __str__(self) -> str:
        return "\n".join(self._lines())

    def _repr_html_(self) -> str:
        return "<pre>" + html.escape(str(self)) + "</pre>"


def _present(x) -> bool:
    """False for None, NaN, NaT and pandas' NA (whose truth value raises)."""
    return x is not None and not (pd.api.types.is_scalar(x) and pd.isna(x))


def _int(x) -> int:
    return int(x) if _present(x) else 0


def _text(x) -> str:
    return str(x) if _present(x) else ""


def _by_status(loads: pd.DataFrame) -> str:
    if not len(loads) or "status" not in loads:
        return ""
    counts = loads["status"].fillna("?").value_counts()
    order = ["ok", "partial", "failed", "interrupted", "running"]
    keys = [k for k in order if k in counts] + sorted(k for k in counts.index if k not in order)
    return " (" + ", ".join(f"{int(counts[k]):,} {k}" for k in keys) + ")"


def _human(td: timedelta) -> str:
    s = int(td.total_seconds())
    if s < 0:
        return "in the future by " + _human(-td)
    if s < 3600:
        return f"{s // 60} min"
    if s < 86400 * 2:
        return f"{s / 3600:.1f} h"
    return f"{s / 86400:.1f} days"


def warehouse_status(wh, now: datetime | None = None) -> WarehouseStatus:
    """Summarise the warehouse ``wh`` (one pass over events for counts and range)."""
    with wh.reading():  # one state of the data for every number below
        n, persons, dids, first, last = wh.execute(
            """SELECT count(*), count(DISTINCT person_id), count(DISTINCT distinct_id),
                      min(timestamp), max(timestamp) FROM events"""
        ).fetchall()[0]
        # every column: a warehouse of an older schema lacks the newer ones
        loads = wh.sql("SELECT * FROM loads ORDER BY load_id DESC")
        q = wh.sql(
            "SELECT reason, count(*) AS rows FROM quarantine GROUP BY reason ORDER BY rows DESC"
        )
        by_name = wh.sql(
            "SELECT event, count(*) AS rows FROM events GROUP BY event ORDER BY rows DESC"
        )
    return WarehouseStatus(
        path=str(wh.path or ":memory:"),
        events=int(n),
        persons=int(persons),
        distinct_ids=int(dids),
        first_event=first,
        last_event=last,
        checked_at=now or datetime.now(UTC),
        quarantined=int(q["rows"].sum()) if len(q) else 0,
        loads=loads,
        quarantine_by_reason=q,
        events_by_name=by_name,
    )
