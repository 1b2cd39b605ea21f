"""One readable paragraph of what changed this period, written from the numbers.

``summarize(kpis_result, alerts_result=None)`` turns the KPI table of
:func:`zantara_nb.metrics.kpis.kpis` (and optionally the alerts of
``zantara_nb.insights.alerts.evaluate_alerts``) into a short paragraph for the e-mail digest and
the report's first page. It is deterministic (same numbers, same words) and says only
what the numbers support:

- **North Star first**: active users of the period with the change vs the previous
  period; the word "significant" is used only when the KPI's test says so (p < 0.05),
  and "not significant" is said when a test exists and does not.
- **Significant changes** of the other KPIs (table order, at most ``max_items``).
- **Large changes without a test** (P95 latency, cost, engagement, MRR carry no
  significance test in :mod:`zantara_nb.metrics.kpis`): listed when the relative change is at
  least 20%, and named as untested, never as significant.
- **Targets missed** (``target_met`` is False); a KPI without a value is never called
  missed (its ``target_met`` is missing).
- **Alerts firing** with observed value, threshold and window; alerts without data are
  counted separately.

Missing values read as "no value" (never 0). Numbers use :mod:`zantara_nb.display.formatting`.
"""

from __future__ import annotations

import math
import re
from datetime import date, timedelta
from typing import Any

import pandas as pd

from ..display.formatting import fmt, fmt_change, fmt_num, fmt_p, fmt_pp, is_missing

#: Relative change from which a KPI without a significance test is mentioned.
UNTESTED_NOTABLE = 0.20
#: KPIs that restate the North Star (growth) and are not listed again as moves.
_NORTH_STAR_KEYS = ("active_users",)
_DERIVED = ("wow_growth",)


def _frame(obj: Any) -> pd.DataFrame:
    if obj is None:
        return pd.DataFrame()
    if isinstance(obj, pd.DataFrame):
        return obj
    df = getattr(obj, "df", None)
    return df if isinstance(df, pd.DataFrame) else pd.DataFrame()


def _val(row: pd.Series | dict, key: str) -> Any:
    v = row.get(key) if hasattr(row, "get") else None
    return None if is_missing(v) else v


def _flag(row, key: str) -> bool | None:
    """True/False for a boolean cell, None when missing."""
    v = _val(row, key)
    if v is None:
        return None
    return bool(v)


def _name(label: str, *, keep_parenthesis: bool = False) -> str:
    """'Activation rate (signups this period)' -> 'activation rate' (acronyms kept)."""
    s = str(label).strip()
    if not keep_parenthesis:
        s = re.sub(r"\s*\([^)]*\)\s*$", "", s)
    if len(s) > 1 and s[0].isupper() and s[1].islower():
        s = s[0].lower() + s[1:]
    return s


def _sentence(s: str) -> str:
    s = s.strip()
    return s[:1].upper() + s[1:] if s else s


def _absolute_unit(unit: str) -> bool:
    """Units whose change reads better as a difference than as a percentage."""
    return unit in {"rate", "pct", "change", "score", "pp"}


def _diff(change: float, unit: str) -> str:
    """An absolute change without sign (the verb carries it)."""
    if unit in {"rate", "pct", "change", "pp"}:
        return fmt_pp(abs(change)).lstrip("+")
    if unit == "score":
        n = abs(change)
        return f"{fmt_num(n)} point" + ("" if n == 1 else "s")
    return fmt(abs(change), unit)


def _move(row) -> str | None:
    """'messages sent fell 9.9% to 5,110 (from 5,161)', or None without both values."""
    unit = str(_val(row, "unit") or "number")
    cur, prev = _val(row, "current"), _val(row, "previous")
    if cur is None or prev is None:
        return None
    change = _val(row, "change")
    change = float(cur) - float(prev) if change is None else float(change)
    name = _name(_val(row, "label") or _val(row, "kpi") or "a KPI")
    if change == 0:
        return f"{name} was unchanged at {fmt(cur, unit)}"
    verb = "rose" if change > 0 else "fell"
    rel = _val(row, "change_rel")
    if _absolute_unit(unit) or rel is None:
        by = _diff(change, unit)
    else:
        by = fmt_change(abs(float(rel))).lstrip("+")
    return f"{name} {verb} {by} to {fmt(cur, unit)} (from {fmt(prev, unit)})"


def _period_phrase(result: Any, df: pd.DataFrame) -> str:
    extra = getattr(result, "extra", None) or {}
    start, end = extra.get("start"), extra.get("end")
    period = extra.get("period") or "period"
    if isinstance(start, date) and isinstance(end, date):
        last = end - timedelta(days=1)
        return f"In the {period} {start:%Y-%m-%d} → {last:%Y-%m-%d}"
    return f"This {period}" if period != "period" else "This period"


def _north_star(df: pd.DataFrame, opening: str) -> str:
    rows = df[df["kpi"].isin(_NORTH_STAR_KEYS)] if "kpi" in df else df.iloc[0:0]
    if rows.empty:
        return f"{opening}, the North Star (active users) was not computed."
    row = rows.iloc[0]
    name = _name(_val(row, "label") or "active users")
    cur, prev = _val(row, "current"), _val(row, "previous")
    subject = f"{name} (the North Star)"
    if cur is None:
        return f"{opening}, {subject} had no value."
    unit = str(_val(row, "unit") or "users")
    if prev is None:
        return (
            f"{opening}, {subject} were {fmt(cur, unit)}; there is no previous period to "
            "compare with."
        )
    p = _val(row, "p_value")
    sig = _flag(row, "significant")
    if sig is None and p is not None:
        sig = float(p) < 0.05
    if float(cur) == float(prev):
        text = f"{opening}, {subject} were unchanged at {fmt(cur, unit)}"
    else:
        rel = _val(row, "change_rel")
        verb = "up" if float(cur) > float(prev) else "down"
        by = "" if rel is None else f" {fmt_change(abs(float(rel))).lstrip('+')}"
        text = f"{opening}, {subject} were {fmt(cur, unit)}, {verb}{by} from {fmt(prev, unit)}"
    if p is not None:
        kind = "a significant change" if sig else "not a significant change"
        text += f" ({kind}, {_p_text(p)})"
    return text + "."


def _p_text(p: Any) -> str:
    s = fmt_p(p)
    return f"p < {s[1:]}" if s.startswith("<") else f"p = {s}"


def _listing(items: list[str], max_items: int) -> str:
    shown = items[:max_items]
    rest = len(items) - len(shown)
    text = "; ".join(shown)
    if rest:
        text += f"; and {rest} more"
    return text


def _target_text(row) -> str:
    unit = str(_val(row, "unit") or "number")
    target = _val(row, "target")
    direction = _val(row, "target_direction") or "higher"
    sign = "≥" if direction == "higher" else "≤"
    return f"{_name(_val(row, 'label') or _val(row, 'kpi'))} at {fmt(_val(row, 'current'), unit)} (target {sign} {fmt(target, unit)})"


def _alert_number(x: Any, unit: str | None) -> str:
    if is_missing(x):
        return "no value"
    if unit:
        return fmt(x, unit)
    try:
        v = float(x)
    except (TypeError, ValueError):
        return str(x)
    if math.isfinite(v) and v == round(v):
        return fmt(v, "count")
    return fmt_num(v, 2)


def _alerts(alerts: Any, max_items: int) -> str:
    df = _frame(alerts)
    if alerts is None:
        return ""
    if df.empty or "status" not in df:
        return "No alerts are configured."
    status = df["status"].astype(str).str.lower()
    firing = df[status == "firing"]
    no_data = df[status == "no data"]
    parts = []
    if len(firing):
        items = []
        for _, r in firing.iterrows():
            unit = _val(r, "unit")
            name = str(_val(r, "name") or "unnamed alert")
            detail = (
                f"observed {_alert_number(_val(r, 'observed'), unit)} against threshold "
                f"{_alert_number(_val(r, 'threshold'), unit)}"
            )
            window = _val(r, "window")
            if window is not None:
                detail += f", {window}"
            items.append(f"{name} ({detail})")
        n = len(firing)
        parts.append(f"{n} alert{'s' if n != 1 else ''} firing: {_listing(items, max_items)}.")
    else:
        parts.append("No alerts firing.")
    if len(no_data):
        names = ", ".join(str(_val(r, "name") or "unnamed") for _, r in no_data.iterrows())
        n = len(no_data)
        parts.append(f"{n} alert{'s' if n != 1 else ''} had no data to evaluate ({names}).")
    return " ".join(parts)


def summarize(kpis_result: Any, alerts_result: Any = None, *, max_items: int = 4) -> str:
    """One paragraph of what changed this period (see the module docstring for the rules).

    ``kpis_result`` is a :class:`~zantara_nb.metrics.kpis.KPIResult` (or its DataFrame);
    ``alerts_result`` the result of ``evaluate_alerts`` (or its DataFrame), or None when
    alerts were not evaluated (then nothing is said about them).
    """
    df = _frame(kpis_result)
    opening = _period_phrase(kpis_result, df)
    if df.empty or "kpi" not in df:
        text = f"{opening}, no KPIs could be computed."
        tail = _alerts(alerts_result, max_items)
        return f"{text} {tail}".strip()

    sentences = [_north_star(df, opening)]
    others = df[~df["kpi"].isin(_NORTH_STAR_KEYS + _DERIVED)]

    tested = [r for _, r in others.iterrows() if _val(r, "p_value") is not None]
    significant = [r for r in tested if _flag(r, "significant")]
    moves = [m for m in (_move(r) for r in significant) if m]
    if moves:
        sentences.append(f"Significant changes: {_listing(moves, max_items)}.")
    elif tested:
        sentences.append("No other headline number changed significantly.")

    untested = []
    for _, r in others.iterrows():
        rel = _val(r, "change_rel")
        if _val(r, "p_value") is None and rel is not None and abs(float(rel)) >= UNTESTED_NOTABLE:
            m = _move(r)
            if m:
                untested.append(m)
    if untested:
        sentences.append(
            "Large changes without a significance test: " + _listing(untested, max_items) + "."
        )

    if "target_met" in df:
        met = df["target_met"].map(lambda v: None if is_missing(v) else bool(v))
        missed = [r for (_, r), m in zip(df.iterrows(), met, strict=True) if m is False]
        n_met = int((met == True).sum())  # noqa: E712 - object column of True/False/None
        if missed:
            items = [_target_text(r) for r in missed]
            sentences.append(f"Targets missed: {_listing(items, max_items)}.")
        elif n_met:
            sentences.append(
                f"All {n_met} target{'s' if n_met != 1 else ''} with a value this period "
                f"{'were' if n_met != 1 else 'was'} met."
            )

    tail = _alerts(alerts_result, max_items)
    if tail:
        sentences.append(tail)
    return " ".join(_sentence(s) for s in sentences)
