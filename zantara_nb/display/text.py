"""User-controlled text as it may be displayed: one function for every page, e-mail and chart.

A value that comes from event data (a category, a plan name, a breakdown value, an
anomaly's "moved most" value) or from a parameters file can hold anything. Before it is
shown, :func:`safe_text`:

1. **redacts personal data**: e-mail addresses, phone numbers and full IP addresses
   become ``[email]``, ``[phone]``, ``[ip]`` (the patterns of
   :mod:`zantara_nb.warehouse.pii`, shared with the loader);
2. **shows invisible formatting characters**: right-to-left and left-to-right
   overrides, embeddings and isolates (which reorder the text around them) and
   zero-width spaces and joiners become ``�`` (:data:`INVISIBLE_MARK`), so they neither
   reorder the page nor make two different values look the same ("vi\u200bsa" is
   ``vi�sa``, not ``visa``); other control characters become a space;
3. **shortens long values** to ``limit`` characters, ending with ``…`` so a reader sees
   that it was cut (:data:`LIMIT` in tables and e-mails, :data:`LABEL_LIMIT` in charts),
   and any run of more than :data:`WORD_LIMIT` characters without a space the same way,
   so a value can always wrap and never widens a table or an e-mail past the screen.

HTML escaping is separate (Jinja2 autoescape, ``html.escape``): this is about what the
text says, not how it is embedded. :func:`chart_text` also escapes ``$``, so matplotlib
shows ``$...$`` literally instead of parsing it as math.

May import: ``zantara_nb.warehouse.pii`` (standard library only) and pandas.
"""

from __future__ import annotations

import re
from typing import Any

import pandas as pd

from ..warehouse import pii

#: Characters a displayed value keeps at most (tables, e-mail, Slack).
LIMIT = 120
#: Characters a run without a space keeps at most (then "…").
WORD_LIMIT = 40
#: Characters a chart label (tick, legend entry) keeps at most.
LABEL_LIMIT = 40
#: Appended to a shortened value.
ELLIPSIS = "…"
#: What a bidirectional control or zero-width character is shown as.
INVISIBLE_MARK = "\ufffd"
#: Bidirectional controls and zero-width characters, shown as INVISIBLE_MARK.
INVISIBLE = re.compile("[\u061c\u180e\u200b-\u200f\u202a-\u202e\u2060-\u2064\u2066-\u2069\ufeff]")
_CONTROL = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]")
_DOLLAR = re.compile(r"(?<!\\)\$")
_LONG_WORD = re.compile(rf"\S{{{WORD_LIMIT + 1},}}")
#: How far past the limit a value is scanned for personal data before it is cut (longer
#: than any e-mail address, so one that starts before the cut is always found whole).
_SCAN_SLACK = 700


def shorten(text: str, limit: int | None = LIMIT) -> str:
    """``text`` cut to ``limit`` characters, ending with ``…`` when it was longer."""
    if limit is None or len(text) <= limit:
        return text
    return text[: max(limit - 1, 0)].rstrip() + ELLIPSIS


def safe_text(value: Any, limit: int | None = LIMIT) -> str:
    """``value`` as text fit to display: personal data redacted, invisible formatting
    characters shown as ``�``, control characters as spaces, at most ``limit`` characters."""
    s = "" if value is None else str(value)
    if limit is not None and len(s) > limit + _SCAN_SLACK:
        s = s[: limit + _SCAN_SLACK]
    s = INVISIBLE.sub(INVISIBLE_MARK, s)
    s = _CONTROL.sub(" ", s)
    s = pii.redact(s)
    s = _LONG_WORD.sub(lambda m: m.group(0)[: WORD_LIMIT - 1] + ELLIPSIS, s)
    return shorten(s, limit)


def redact_text(value: Any) -> str:
    """Longer text (an error message, a traceback line) with personal data redacted and
    invisible formatting characters shown as ``�``, nothing cut."""
    s = "" if value is None else str(value)
    return pii.redact(INVISIBLE.sub(INVISIBLE_MARK, s))


def escape_dollars(text: str) -> str:
    """``$`` escaped for matplotlib (``\\$``), so no pair of them is parsed as math text."""
    return _DOLLAR.sub(r"\\$", text)


def chart_text(value: Any, limit: int | None = LABEL_LIMIT) -> str:
    """A user-controlled string for a chart title, tick label or legend entry:
    :func:`safe_text`, then ``$`` escaped."""
    return escape_dollars(safe_text(value, limit))


def safe_frame(df, limit: int | None = LIMIT):
    """A copy of a display DataFrame with :func:`safe_text` applied to every string cell
    (numbers and missing values untouched)."""
    out = df.copy()
    for col in out.columns:
        if out[col].dtype == object or str(out[col].dtype) in {"string", "str"}:
            values = [safe_text(v, limit) if isinstance(v, str) else v for v in out[col]]
            out[col] = pd.Series(values, index=out.index, dtype=out[col].dtype)
    out.columns = [safe_text(c, limit) if isinstance(c, str) else c for c in out.columns]
    return out


__all__ = [
    "ELLIPSIS",
    "LABEL_LIMIT",
    "INVISIBLE_MARK",
    "LIMIT",
    "WORD_LIMIT",
    "chart_text",
    "escape_dollars",
    "redact_text",
    "safe_frame",
    "safe_text",
    "shorten",
]
