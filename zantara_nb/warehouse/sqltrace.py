"""The SQL behind every result: statements recorded as they run, shown in order.

A metric function decorated with :func:`records_sql` gets ``.sql`` on its result: a
:class:`Statements` with every statement the warehouse ran for it, parameters written in
as literals of the engine's dialect, so each one can be pasted into that engine and run.
Nested metric calls record into every open recording, so an outer result (``kpis``)
holds the SQL of the metrics it read.

>>> r = z.dau(wh, window="7d")
>>> print(r.sql)          # the statements, separated by blank lines, each ending in ';'
"""

from __future__ import annotations

import functools
import html
import re
import textwrap
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager, suppress
from typing import Any, TypeVar

F = TypeVar("F", bound=Callable[..., Any])
_PARAM = re.compile(r"\?|\$(\w+)")
_STRING = re.compile(r"'(?:[^']|'')*'")


class Statements(tuple):
    """The SQL statements behind a result, in the order they ran."""

    def __str__(self) -> str:
        return "\n\n".join(s.rstrip().rstrip(";") + ";" for s in self)

    @property
    def text(self) -> str:
        """All statements as one runnable script."""
        return str(self)

    def _repr_html_(self) -> str:
        return sql_details_html(self, open_=True)

    def __repr__(self) -> str:
        return f"Statements({len(self)} statement{'' if len(self) == 1 else 's'})"


#: The class the analyst page shows and the reader page removes (reporting.render).
SQL_BLOCK_CLASS = "zantara-sql"


#: Characters of a string literal shown in a page's SQL (data values can be long).
SHOWN_LITERAL_LIMIT = 200
_INVISIBLE = re.compile("[\u061c\u180e\u200b-\u200f\u202a-\u202e\u2060-\u2064\u2066-\u2069\ufeff]")


def shown_sql(statements: Sequence[str]) -> str:
    """The statements as a page shows them: in each string literal (a data value written
    into the SQL) personal data redacted (:mod:`.pii`) and more than
    :data:`SHOWN_LITERAL_LIMIT` characters cut with ``…``; invisible formatting
    characters (right-to-left overrides, zero-width) shown as ``�`` everywhere, so the
    code reads as it runs. ``.sql`` itself keeps the statements exactly as they ran."""
    from . import pii

    def literal(m: re.Match) -> str:
        inner = pii.redact(m.group(0)[1:-1])
        if len(inner) > SHOWN_LITERAL_LIMIT:
            inner = inner[: SHOWN_LITERAL_LIMIT - 1].rstrip("'") + "…"
        return f"'{inner}'"

    return _INVISIBLE.sub("\ufffd", _STRING.sub(literal, str(Statements(statements))))


def sql_details_html(statements: Sequence[str], *, open_: bool = False) -> str:
    """A collapsed ``<details>`` block with the statements (:func:`shown_sql`, escaped),
    or '' when none."""
    if not statements:
        return ""
    n = len(statements)
    label = f"SQL ({n} statement{'' if n == 1 else 's'})"
    body = html.escape(shown_sql(statements))
    return (
        f"<details class='{SQL_BLOCK_CLASS}'{' open' if open_ else ''}>"
        f"<summary style='cursor:pointer;color:#555'>{label}</summary>"
        f"<pre style='white-space:pre-wrap;font-size:0.85em;background:#f6f8fa;"
        f"padding:6px'>{body}</pre></details>"
    )


def format_statement(query: str, params: Sequence[Any] | Mapping[str, Any] | None, quote) -> str:
    """A statement ready to paste: parameters written in as literals, indentation tidied."""
    text = _inline(query, params, quote) if params else query
    text = textwrap.dedent(text.strip("\n"))
    lines = [ln.rstrip() for ln in text.splitlines()]
    return "\n".join(ln for ln in lines if ln.strip()).strip()


def inline_params(query: str, params, quote) -> str:
    """``query`` with its ``?`` / ``$name`` parameters written in as literals (``quote``),
    for engines that take no bound parameters (ClickHouse)."""
    return _inline(query, params, quote)


def _inline(query: str, params, quote) -> str:
    """Replace ``?`` / ``$name`` outside string literals by quoted values."""
    it = iter(params) if not isinstance(params, Mapping) else None
    out, pos = [], 0
    for m in _STRING.finditer(query):
        out.append(_sub_params(query[pos : m.start()], params, it, quote))
        out.append(m.group(0))
        pos = m.end()
    out.append(_sub_params(query[pos:], params, it, quote))
    return "".join(out)


def _sub_params(chunk: str, params, it, quote) -> str:
    def one(m: re.Match) -> str:
        if m.group(0) == "?" and it is not None:
            return quote(next(it))
        if m.group(1) and isinstance(params, Mapping) and m.group(1) in params:
            return quote(params[m.group(1)])
        return m.group(0)

    return _PARAM.sub(one, chunk)


class SqlRecorder:
    """The stack of open recordings of one warehouse."""

    def __init__(self) -> None:
        self._open: list[list[str]] = []

    @contextmanager
    def recording(self) -> Iterator[list[str]]:
        """Collect the statements run inside the ``with`` block (nested blocks too)."""
        log: list[str] = []
        self._open.append(log)
        try:
            yield log
        finally:
            # by identity: two open logs can hold equal statements
            self._open[:] = [x for x in self._open if x is not log]

    def record(self, query: str, params, quote) -> None:
        if self._open:
            text = format_statement(query, params, quote)
            for log in self._open:
                log.append(text)


def records_sql(fn: F) -> F:
    """Give the result of a metric function ``.sql``: every statement it ran, in order."""

    @functools.wraps(fn)
    def wrapper(wh, *args: Any, **kwargs: Any):
        recording = getattr(wh, "recording", None)
        if recording is None:
            return fn(wh, *args, **kwargs)
        with recording() as log:
            result = fn(wh, *args, **kwargs)
            note_history(wh, result)  # added for gdpr: say where history comes from
        attach_sql(result, log)
        return result

    return wrapper  # type: ignore[return-value]


def attach_sql(result: Any, statements: Sequence[str]) -> None:
    """Set ``result.sql`` (objects that refuse attributes are left as they are)."""
    with suppress(AttributeError, TypeError):
        result.sql = Statements(statements)


# -- added for gdpr --


def note_history(wh, result: Any) -> None:
    """After the retention policy deleted raw events: a result whose range reaches back
    before the cut-off says where those days come from (:func:`.rollups.note_result`)."""
    from .rollups import note_result

    with suppress(Exception):  # a note must never break a metric
        note_result(wh, result)
