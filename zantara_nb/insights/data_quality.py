"""Data quality of a report period: can the numbers of this report be trusted?

>>> dq = z.data_quality(wh, start="2026-08-17", end="2026-08-24", as_of="2026-08-24")
>>> dq.line()        # one line for the e-mail
>>> dq               # the report section: one row per check, ✔ or ⚠ with the numbers

Ten checks, each with its number and a rule for when it is a warning (⚠):

============================  ===========================================================
freshness                     newest event before the cut-off, and how long before it;
                              ⚠ older than ``stale_after_hours`` (36 h), or no event
volume                        events per local day of the period against the median of
                              the same weekday in the ``weeks`` (4) weeks before; ⚠ the
                              period off by more than 30%, or one day by more than 50%
unknown events                events of the period whose name the tracking plan does not
                              know (``$pageview`` too); ⚠ more than 1% of the events
unknown properties            property values with a key the plan does not know, in the
                              loads of the period; ⚠ on more than 1% of the loaded rows
tracking-plan violations      rows quarantined as ``invalid_property`` (wrong type, value
                              outside the plan) in the loads of the period; ⚠ any
events without a person       events of the period without a person id, or with an id
                              that is never a person (``null``, ``guest``, ``0``, …);
                              ⚠ more than 5%
duplicates skipped            rows the loads of the period found already loaded; never a
                              warning (loading a file twice is safe)
quarantined rows              by reason, in the loads of the period; ⚠ more than 1% of
                              the rows read
interrupted loads             loads of the period that failed or were interrupted (their
                              rows were taken back); ⚠ any
clock-skewed events           events of the period timestamped more than 5 minutes after
                              the load that brought them started (a device clock ahead),
                              plus rows quarantined as ``future_timestamp``; ⚠ more than
                              0.5% of the events
============================  ===========================================================

**The loads of the period** are those that brought events of the period, and those that
started between the period's first day and a day after its cut-off (a load that failed
brought nothing, but it belongs to the week it was run in). Filters of the report do not
apply: data quality is about the warehouse. A check whose number cannot be computed
(no ``loads`` table on an engine) says so and is not a warning.

Every statement goes through the warehouse's dialect and is on ``.sql``.
"""

from __future__ import annotations

import html
import statistics
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

import pandas as pd
from typing_extensions import Unpack

from ..display.formatting import fmt_int, fmt_pct
from ..display.text import safe_text
from ..metrics.results import header_html
from ..warehouse import tracking_plan as tp
from ..warehouse.scope import Scope, ScopeArgs, resolve
from ..warehouse.sqltrace import Statements, records_sql, sql_details_html

#: Default thresholds of the checks (see the module docstring).
THRESHOLDS: dict[str, float] = {
    "stale_after_hours": 36.0,
    "volume_period": 0.30,
    "volume_day": 0.50,
    "unknown_events": 0.01,
    "unknown_properties": 0.01,
    "without_person": 0.05,
    "quarantined": 0.01,
    "clock_skew": 0.005,
}
#: Seconds an event may be timestamped after its load started before it counts as skewed.
SKEW_TOLERANCE_S = 300
OK, WARN = "✔", "⚠"


@dataclass
class Check:
    """One check: its number in words, and whether it is a warning."""

    key: str
    label: str
    value: str
    warn: bool = False
    note: str = ""

    @property
    def mark(self) -> str:
        return WARN if self.warn else OK


@dataclass
class DataQuality:
    """The checks of one report period (see the module docstring)."""

    scope: Scope
    checks: list[Check]
    volume: pd.DataFrame = field(repr=False)
    unknown_events: pd.DataFrame = field(repr=False)
    quarantine: pd.DataFrame = field(repr=False)
    problem_loads: pd.DataFrame = field(repr=False)
    numbers: dict[str, Any] = field(default_factory=dict)
    title: str = "Data quality"
    definition: str = (
        "Freshness, volume against the same weekday of earlier weeks, unknown events and "
        "properties, tracking-plan violations, events without a person, duplicates, "
        "quarantine, interrupted loads and clock skew, for the report period."
    )
    sql: Statements = field(default_factory=Statements, repr=False)

    @property
    def warnings(self) -> list[Check]:
        return [c for c in self.checks if c.warn]

    def check(self, key: str) -> Check:
        return next(c for c in self.checks if c.key == key)

    def line(self) -> str:
        """One line for the e-mail: the warnings, or that every check passed."""
        w = self.warnings
        if not w:
            fresh = self.check("freshness").value
            return f"Data quality: all {len(self.checks)} checks passed ({fresh})."
        items = "; ".join(f"{c.label.lower()}: {c.value}" for c in w)
        return f"Data quality: {len(w)} warning{'s' if len(w) != 1 else ''} — {items}."

    @property
    def df(self) -> pd.DataFrame:
        """The checks as a table: check, value, status, note."""
        return pd.DataFrame(
            [
                {
                    "check": c.label,
                    "value": c.value,
                    "status": "warning" if c.warn else "ok",
                    "note": c.note,
                }  # fmt: skip
                for c in self.checks
            ],
            columns=["check", "value", "status", "note"],
        )

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON: the line, the checks and the numbers (for the digest)."""
        return {
            "line": self.line(),
            "warnings": len(self.warnings),
            "checks": [
                {"key": c.key, "label": c.label, "value": c.value, "warn": c.warn, "note": c.note}
                for c in self.checks
            ],
            "numbers": {k: v for k, v in self.numbers.items() if _plain(v)},
        }

    def html(self, *, sql: bool = True, header: bool = True) -> str:
        """The report section: a one-line verdict, then one row per check (``header``:
        the title and definition first; without it just the period)."""
        w = len(self.warnings)
        verdict = (
            f"<div style='color:#3A9E6F;font-weight:bold'>{OK} All {len(self.checks)} checks "
            "passed.</div>"
            if not w
            else f"<div style='color:#B8434F;font-weight:bold'>{WARN} {w} warning"
            f"{'s' if w != 1 else ''}.</div>"
        )
        left = "text-align:left;vertical-align:top"
        rows = []
        for c in self.checks:
            colour = "#B8434F" if c.warn else "#3A9E6F"
            note = (
                f"<div style='color:#666;font-size:0.9em'>{html.escape(c.note)}</div>"
                if c.note
                else ""
            )
            rows.append(
                f"<tr><td style='color:{colour};font-weight:bold;{left}'>{c.mark}</td>"
                f"<td style='{left};white-space:nowrap'>{html.escape(c.label)}</td>"
                f"<td style='{left}'>{html.escape(c.value)}{note}</td></tr>"
            )
        table = (
            "<table class='zantara-data-quality'><thead><tr><th></th>"
            f"<th style='{left}'>Check</th><th style='{left}'>Result</th></tr></thead><tbody>"
            + "".join(rows)
            + "</tbody></table>"
        )
        top = (
            header_html(self.title, self.definition, self.scope)
            if header
            else f"<div style='color:#666;font-size:0.9em'>{html.escape(self.scope.describe())}"
            "</div>"
        )
        return top + verdict + table + (sql_details_html(self.sql) if sql else "")

    def _repr_html_(self) -> str:
        return self.html()

    def __str__(self) -> str:
        lines = [self.title, self.line()]
        lines += [f"  {c.mark} {c.label}: {c.value}" + (f" ({c.note})" if c.note else "")
                  for c in self.checks]  # fmt: skip
        return "\n".join(lines)


def _plain(v: Any) -> bool:
    return v is None or isinstance(v, bool | int | float | str)


# ------------------------------------------------------------------------------------------
# SQL
# ------------------------------------------------------------------------------------------


def _period(sc: Scope, col: str = "e.timestamp") -> str:
    return f"{sc.time_bounds_sql(col)} AND {col} < {sc.as_of_sql()}"


def _loads_of_period(sc: Scope) -> str:
    """The load ids of the period (see the module docstring), as a subquery."""
    until = sc.d.ts_lit(sc.as_of_utc + timedelta(days=1))
    return (
        f"SELECT l.load_id FROM loads l WHERE l.load_id IN "
        f"(SELECT e.load_id FROM events e WHERE {_period(sc)}) "
        f"OR (l.started_at >= {sc.d.ts_lit(sc.start_utc)} AND l.started_at < {until})"
    )


def _no_person(col: str, sc: Scope) -> str:
    return f"({col} IS NULL OR lower({col}) IN ({sc.d.str_list(sorted(tp.FORBIDDEN_IDS))}))"


def _utc(x: Any) -> pd.Timestamp | None:
    if x is None or pd.isna(x):
        return None
    t = pd.Timestamp(x)
    return t.tz_localize("UTC") if t.tzinfo is None else t.tz_convert("UTC")


def _num(x: Any) -> float:
    try:
        v = float(x)
    except (TypeError, ValueError):
        return 0.0
    return 0.0 if v != v else v


@records_sql
def data_quality(
    wh,
    *,
    weeks: int = 4,
    thresholds: dict[str, float] | None = None,
    **scope: Unpack[ScopeArgs],
) -> DataQuality:
    """The data-quality checks of a report period (see the module docstring).

    ``start``/``end``/``as_of``/``tz`` as every metric (default: the 7 days before the
    newest event); ``weeks``: how many earlier same weekdays make a day's expected
    volume; ``thresholds``: overrides of :data:`THRESHOLDS`.
    """
    th = {**THRESHOLDS, **(thresholds or {})}
    sc = resolve(wh, default_window="7d", **scope)
    d = sc.d
    n: dict[str, Any] = {}

    # -- events of the period ----------------------------------------------------------
    known = d.str_list(sorted(tp.EVENTS))
    row = wh.sql(
        f"""SELECT count(*) AS events,
                  {d.count_if(_no_person("e.person_id", sc))} AS without_person,
                  {d.count_if(f"e.event NOT IN ({known})")} AS unknown_events
           FROM events e WHERE {_period(sc)}"""
    ).iloc[0]
    n["events"], n["without_person"], n["unknown_events"] = (
        int(_num(row["events"])), int(_num(row["without_person"])), int(_num(row["unknown_events"])),
    )  # fmt: skip
    edges = wh.sql(
        f"""SELECT min(timestamp) AS first_event,
                  max(CASE WHEN timestamp < {sc.as_of_sql()} THEN timestamp END) AS newest
           FROM events"""
    ).iloc[0]
    newest, first = _utc(edges["newest"]), _utc(edges["first_event"])
    unknown = wh.sql(
        f"""SELECT e.event, count(*) AS events FROM events e
           WHERE {_period(sc)} AND e.event NOT IN ({known})
           GROUP BY e.event ORDER BY events DESC, e.event LIMIT 10"""
    )
    volume = _volume(wh, sc, weeks, first)

    # -- loads of the period -----------------------------------------------------------
    loads_ok = True
    try:
        lrow = wh.sql(
            f"""SELECT count(*) AS loads, sum(rows_read) AS rows_read, sum(loaded) AS loaded,
                      sum(duplicates) AS duplicates, sum(quarantined) AS quarantined,
                      sum(unknown_properties) AS unknown_properties
               FROM loads WHERE load_id IN ({_loads_of_period(sc)})"""
        ).iloc[0]
        quarantine = wh.sql(
            f"""SELECT reason, count(*) AS rows FROM quarantine
               WHERE load_id IN ({_loads_of_period(sc)})
               GROUP BY reason ORDER BY rows DESC, reason"""
        )
        problems = wh.sql(
            f"""SELECT load_id, path, status, started_at, message FROM loads
               WHERE load_id IN ({_loads_of_period(sc)})
                 AND status IN ('interrupted', 'failed')
               ORDER BY load_id"""
        )
        skew = wh.scalar(
            f"""SELECT count(*) FROM events e JOIN loads l ON e.load_id = l.load_id
               WHERE {_period(sc)}
                 AND e.timestamp > {d.add_seconds("l.started_at", SKEW_TOLERANCE_S)}"""
        )
        for k in (
            "loads",
            "rows_read",
            "loaded",
            "duplicates",
            "quarantined",
            "unknown_properties",
        ):
            n[k] = int(_num(lrow[k]))
        n["clock_skewed"] = int(_num(skew))
    except Exception as exc:  # noqa: BLE001 - an engine without loads/quarantine tables
        loads_ok = False
        n["loads_error"] = f"{type(exc).__name__}: {str(exc).splitlines()[0][:200]}"
        quarantine = pd.DataFrame(columns=["reason", "rows"])
        problems = pd.DataFrame(columns=["load_id", "path", "status", "started_at", "message"])
    q_by = {str(r.reason): int(r.rows) for r in quarantine.itertuples()}
    n["quarantined_by_reason"] = q_by

    checks = [
        _freshness(sc, newest, th),
        _volume_check(volume, th),
        _unknown_events_check(n, unknown, th),
        _share_check(
            "unknown_properties",
            "Unknown properties",
            n.get("unknown_properties"),
            n.get("loaded"),
            th["unknown_properties"],
            "property values with a key the plan does not know, in the period's loads",
            loads_ok,
            of="loaded rows",
        ),  # fmt: skip
        _violations_check(q_by, loads_ok),
        _share_check(
            "without_person",
            "Events without a person",
            n["without_person"],
            n["events"],
            th["without_person"],
            "no person id, or an id that is never a person (null, guest, 0, …)",
            True,
            of="events",
        ),  # fmt: skip
        _duplicates_check(n, loads_ok),
        _quarantine_check(n, q_by, th, loads_ok),
        _loads_check(problems, loads_ok),
        _skew_check(n, q_by, th, loads_ok),
    ]
    return DataQuality(
        scope=sc,
        checks=checks,
        volume=volume,
        unknown_events=unknown,
        quarantine=quarantine,
        problem_loads=problems,
        numbers=n,
    )


def _volume(wh, sc: Scope, weeks: int, first: pd.Timestamp | None) -> pd.DataFrame:
    """Events per local day of the period, and the median of the same weekday before."""
    lo = sc.start - timedelta(days=7 * weeks)
    day = sc.bucket("day", "e.timestamp")
    raw = wh.sql(
        f"""SELECT {day} AS day, count(*) AS events FROM events e
           WHERE e.timestamp >= {sc.ts_sql(lo)} AND e.timestamp < {sc.ts_sql(sc.end)}
             AND e.timestamp < {sc.as_of_sql()}
           GROUP BY 1"""
    )
    counts = {pd.Timestamp(r.day).date(): int(r.events) for r in raw.itertuples()}
    first_day = None if first is None else first.tz_convert(sc.tz).date()
    last_day = min(sc.end, sc.as_of.date())  # days before the cut-off's date are complete
    rows = []
    for i in range((sc.end - sc.start).days):
        d = sc.start + timedelta(days=i)
        if d >= last_day:
            break  # not observable yet at the cut-off
        before = [d - timedelta(days=7 * k) for k in range(1, weeks + 1)]
        seen = [counts.get(b, 0) for b in before if first_day is not None and b >= first_day]
        expected = statistics.median(seen) if len(seen) >= 2 else None
        rows.append(
            {
                "day": d,
                "weekday": f"{d:%a}",
                "events": counts.get(d, 0),
                "expected": expected,
                "weeks": len(seen),
            }  # fmt: skip
        )
    df = pd.DataFrame(rows, columns=["day", "weekday", "events", "expected", "weeks"])
    df["change"] = [
        (e / x - 1.0) if x else None for e, x in zip(df["events"], df["expected"], strict=True)
    ]
    return df


# ------------------------------------------------------------------------------------------
# Checks
# ------------------------------------------------------------------------------------------


def _freshness(sc: Scope, newest: pd.Timestamp | None, th: dict) -> Check:
    limit = th["stale_after_hours"]
    if newest is None:
        return Check("freshness", "Freshness", "no event before the cut-off", True)
    hours = (sc.as_of_utc - newest.to_pydatetime()).total_seconds() / 3600
    local = newest.tz_convert(sc.tz)
    return Check(
        "freshness",
        "Freshness",
        f"newest event {local:%Y-%m-%d %H:%M} {sc.tz}, {hours:,.1f} h before the cut-off",
        hours > limit,
        f"warning above {limit:g} h",
    )


def _signed_pct(x: float) -> str:
    return f"{100 * x:+.0f}%".replace("-", "−")


def _volume_check(v: pd.DataFrame, th: dict) -> Check:
    known = v.dropna(subset=["expected"])
    if known.empty:
        return Check("volume", "Volume", "no earlier weeks to compare with", False,
                     "needs two earlier weeks of data")  # fmt: skip
    events, expected = int(known["events"].sum()), float(known["expected"].sum())
    change = events / expected - 1.0 if expected else None
    off_days = known[[c is not None and abs(c) > th["volume_day"] for c in known["change"]]]
    text = f"{fmt_int(events)} events vs {fmt_int(expected)} expected"
    if change is not None:
        text += f" ({_signed_pct(change)})"
    warn = (change is not None and abs(change) > th["volume_period"]) or not off_days.empty
    note = "expected: the median of the same weekday in the weeks before"
    if not off_days.empty:
        days = ", ".join(
            f"{r.weekday} {r.day:%d %b} {_signed_pct(r.change)}" for r in off_days.itertuples()
        )
        text += f"; days off: {days}"
    return Check("volume", "Volume", text, bool(warn), note)


def _unknown_events_check(n: dict, unknown: pd.DataFrame, th: dict) -> Check:
    k, total = n["unknown_events"], n["events"]
    if not k:
        return Check("unknown_events", "Unknown events", "none", False)
    top = ", ".join(
        f"{safe_text(r.event, 40)} ({fmt_int(r.events)})" for r in unknown.head(3).itertuples()
    )
    share = k / total if total else 0.0
    return Check(
        "unknown_events",
        "Unknown events",
        f"{fmt_int(k)} events ({fmt_pct(share)}): {top}",
        share > th["unknown_events"],
        "event names the tracking plan does not know",
    )


def _share_check(key, label, k, total, limit, note, available, *, of: str) -> Check:
    if not available or k is None:
        return Check(key, label, "not available (no loads table)", False, note)
    share = k / total if total else 0.0
    value = "none" if not k else f"{fmt_int(k)} ({fmt_pct(share)} of the {of})"
    return Check(key, label, value, share > limit, note)


def _violations_check(q_by: dict, available: bool) -> Check:
    note = "rows quarantined for a property of the wrong type or outside the plan"
    if not available:
        return Check("plan_violations", "Tracking-plan violations", "not available", False, note)
    k = q_by.get("invalid_property", 0)
    return Check("plan_violations", "Tracking-plan violations",
                 "none" if not k else f"{fmt_int(k)} rows quarantined", k > 0, note)  # fmt: skip


def _duplicates_check(n: dict, available: bool) -> Check:
    if not available:
        return Check("duplicates", "Duplicates skipped", "not available", False)
    k = n.get("duplicates", 0)
    return Check("duplicates", "Duplicates skipped", "none" if not k else f"{fmt_int(k)} rows",
                 False, "rows already loaded, skipped (loading a file twice is safe)")  # fmt: skip


def _quarantine_check(n: dict, q_by: dict, th: dict, available: bool) -> Check:
    if not available:
        return Check("quarantine", "Quarantined rows", "not available", False)
    k = sum(q_by.values())
    if not k:
        return Check("quarantine", "Quarantined rows", "none", False)
    read = n.get("rows_read") or 0
    share = k / read if read else 0.0
    by = ", ".join(f"{r} {fmt_int(v)}" for r, v in q_by.items())
    return Check("quarantine", "Quarantined rows",
                 f"{fmt_int(k)} ({fmt_pct(share)} of the rows read): {by}",
                 share > th["quarantined"], "zantara-nb status lists them")  # fmt: skip


def _loads_check(problems: pd.DataFrame, available: bool) -> Check:
    if not available:
        return Check("interrupted_loads", "Interrupted loads", "not available", False)
    if problems.empty:
        return Check("interrupted_loads", "Interrupted loads", "none", False)
    parts = []
    for status in ("interrupted", "failed"):
        k = int((problems["status"] == status).sum())
        if k:
            parts.append(f"{k} {status}")
    names = ", ".join(safe_text(str(p).rsplit("/", 1)[-1], 40) for p in problems["path"].head(3))
    return Check("interrupted_loads", "Interrupted loads", f"{', '.join(parts)}: {names}", True,
                 "their rows were taken back; load the files again")  # fmt: skip


def _skew_check(n: dict, q_by: dict, th: dict, available: bool) -> Check:
    note = (
        f"timestamped more than {SKEW_TOLERANCE_S // 60} minutes after their load started, "
        "or quarantined as future"
    )
    if not available:
        return Check("clock_skew", "Clock-skewed events", "not available", False, note)
    k, future = n.get("clock_skewed", 0), q_by.get("future_timestamp", 0)
    if not k and not future:
        return Check("clock_skew", "Clock-skewed events", "none", False, note)
    share = k / n["events"] if n["events"] else 0.0
    value = f"{fmt_int(k)} ({fmt_pct(share)} of the events)"
    if future:
        value += f", {fmt_int(future)} quarantined as future"
    return Check("clock_skew", "Clock-skewed events", value, share > th["clock_skew"], note)


__all__ = ["THRESHOLDS", "Check", "DataQuality", "data_quality"]
