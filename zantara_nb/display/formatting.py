"""Readable numbers for tables and reports: one formatter per kind of value.

Missing values (None/NaN) are shown as an em dash, never as 0.
"""

from __future__ import annotations

import math
from typing import Any

import pandas as pd

MISSING = "—"


def is_missing(x: Any) -> bool:
    """True for None, NaN and pandas NA."""
    if x is None or x is pd.NA or x is pd.NaT:
        return True
    try:
        return bool(x != x) or (isinstance(x, float) and math.isnan(x))
    except (TypeError, ValueError):
        return False


def fmt_int(x: Any) -> str:
    """1234567 -> '1,234,567'."""
    return MISSING if is_missing(x) else f"{round(float(x)):,}"


def fmt_num(x: Any, digits: int = 1) -> str:
    """A plain number with thousands separators and ``digits`` decimals."""
    return MISSING if is_missing(x) else f"{float(x):,.{digits}f}"


def fmt_pct(x: Any, digits: int = 1) -> str:
    """0.1234 -> '12.3%'."""
    return MISSING if is_missing(x) else f"{100 * float(x):.{digits}f}%"


def _signed(v: float, digits: int, suffix: str) -> str:
    """``v`` with a sign; a small non-zero ``v`` gets up to two more decimals, so that a
    change shown next to an up/down arrow never reads '+0.0'."""
    d = digits
    while v and round(abs(v), d) == 0 and d < digits + 2:
        d += 1
    return f"{v:+.{d}f}{suffix}"


def fmt_pp(x: Any, digits: int = 1) -> str:
    """A difference of two rates in percentage points: 0.012 -> '+1.2 pp',
    0.0004 -> '+0.04 pp'."""
    return MISSING if is_missing(x) else _signed(100 * float(x), digits, " pp")


def fmt_change(x: Any, digits: int = 1) -> str:
    """A relative change: 0.05 -> '+5.0%', 0.0003 -> '+0.03%'."""
    return MISSING if is_missing(x) else _signed(100 * float(x), digits, "%")


def fmt_usd(x: Any, digits: int = 2) -> str:
    """Money: 1234.5 -> '$1,234.50'."""
    if is_missing(x):
        return MISSING
    v = float(x)
    if v and abs(v) < 0.1 and digits == 2:
        digits = 4  # mean cost per reply: "$0.0072", not "$0.01"
    return f"-${-v:,.{digits}f}" if v < 0 else f"${v:,.{digits}f}"


def fmt_ms(x: Any) -> str:
    """Milliseconds: 1834.2 -> '1,834 ms'."""
    return MISSING if is_missing(x) else f"{float(x):,.0f} ms"


def fmt_p(x: Any) -> str:
    """A p-value: '<0.001', '0.034'."""
    if is_missing(x):
        return MISSING
    return "<0.001" if float(x) < 0.001 else f"{float(x):.3f}"


def fmt_duration(seconds: Any) -> str:
    """Seconds as a short duration: '45 s', '12.5 min', '3.2 h', '6.1 d'."""
    if is_missing(seconds):
        return MISSING
    s = float(seconds)
    if abs(s) < 60:
        return f"{s:.0f} s"
    if abs(s) < 3600:
        return f"{s / 60:.1f} min"
    if abs(s) < 86400:
        return f"{s / 3600:.1f} h"
    return f"{s / 86400:.1f} d"


#: Formatter by unit name, used by results and reports.
BY_UNIT = {
    "count": fmt_int,
    "users": fmt_int,
    "rate": fmt_pct,
    "pct": fmt_pct,
    "usd": fmt_usd,
    "ms": fmt_ms,
    "number": fmt_num,
    "ratio": lambda x: fmt_num(x, 2),
    "score": lambda x: fmt_num(x, 1),
    "change": fmt_change,
    "pp": fmt_pp,
    "p": fmt_p,
    "seconds": fmt_duration,
}


def fmt(x: Any, unit: str = "number") -> str:
    """Format ``x`` for its unit (see :data:`BY_UNIT`)."""
    return BY_UNIT.get(unit, fmt_num)(x)
