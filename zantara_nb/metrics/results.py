"""Typed metric results that read well in JupyterLab.

Each metric returns a :class:`MetricResult` (a tidy DataFrame plus what it means: a
title, a one-line definition, the scope, the unit of each column and a default chart)
or a :class:`RateResult` / :class:`ValueResult` for a single number. All render as HTML
in a notebook (``_repr_html_``, numbers formatted, missing shown as "—") and have
``.plot()``. Every result carries ``.definition`` (in words) and ``.sql`` (the
statements that produced it, runnable on its engine; shown collapsed under the table on
analyst pages and removed from reader pages).
"""

from __future__ import annotations

import html
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import pandas as pd

from ..display import charts
from ..display.formatting import MISSING, fmt, fmt_int, fmt_pct, is_missing
from ..display.text import safe_frame, safe_text
from ..warehouse.scope import Scope
from ..warehouse.sqltrace import Statements, sql_details_html
from .stats import Interval, wilson


def header_html(title: str, definition: str, scope: Scope | None) -> str:
    """The HTML heading every result shows: title, definition, scope (all escaped)."""
    s = f"<div style='font-weight:bold;font-size:1.05em'>{html.escape(safe_text(title))}</div>"
    meta = html.escape(definition)
    if scope is not None:
        meta += f"<br><span style='color:#666'>{html.escape(scope.describe())}</span>"
    return s + f"<div style='color:#444;font-size:0.9em;margin-bottom:4px'>{meta}</div>"


def format_frame(df: pd.DataFrame, units: dict[str, str]) -> pd.DataFrame:
    """A copy of ``df`` with each column formatted for its unit (dates as YYYY-MM-DD,
    flags as yes/no); text (category names, breakdown values) as
    :func:`~zantara_nb.display.text.safe_text`: personal data redacted, long values cut."""
    out = df.copy()
    for col in out.columns:
        unit = units.get(col)
        if unit:
            out[col] = [fmt(v, unit) for v in out[col]]
        elif pd.api.types.is_bool_dtype(out[col]):
            out[col] = [MISSING if is_missing(v) else "yes" if v else "no" for v in out[col]]
        elif pd.api.types.is_datetime64_any_dtype(out[col]):
            out[col] = out[col].dt.strftime("%Y-%m-%d")
        elif pd.api.types.is_float_dtype(out[col]):
            out[col] = [fmt(v, "number") for v in out[col]]
    return safe_frame(out)


#: Characters of a result's plain-text view (IPython's ``text/plain``).
PLAIN_LIMIT = 20_000


def more_rows(n: int) -> str:
    """'1 more row', '1,234 more rows': the note under a cut table."""
    return f"{n:,} more row{'' if n == 1 else 's'}"


@dataclass
class MetricResult:
    """A tidy DataFrame with its meaning. ``df`` is the data; everything else describes it."""

    name: str
    title: str
    df: pd.DataFrame
    definition: str = ""
    scope: Scope | None = None
    units: dict[str, str] = field(default_factory=dict)
    x: str | None = None
    y: str | list[str] | None = None
    kind: str = "line"  # line | bar | barh | heatmap | table
    hue: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)
    plotter: Callable[..., Any] | None = field(default=None, repr=False)
    #: The statements that produced this result, in order (set by ``records_sql``).
    sql: Statements = field(default_factory=Statements, repr=False)

    def __len__(self) -> int:
        return len(self.df)

    @property
    def empty(self) -> bool:
        return self.df.empty

    def to_frame(self) -> pd.DataFrame:
        """A copy of the data."""
        return self.df.copy()

    def formatted(self, max_rows: int | None = None) -> pd.DataFrame:
        """The data as display strings (percentages, money, thousands separators)."""
        df = self.df if max_rows is None else self.df.head(max_rows)
        return format_frame(df, self.units)

    def _repr_html_(self) -> str:
        body = (
            "<em>No data in this range.</em>"
            if self.df.empty
            else self.formatted(60).to_html(index=False, border=0, escape=True)
        )
        more = (
            f"<div style='color:#666'>… {more_rows(len(self.df) - 60)}</div>"
            if len(self.df) > 60
            else ""
        )
        return (
            header_html(self.title, self.definition, self.scope)
            + body
            + more
            + sql_details_html(self.sql)
        )

    def __str__(self) -> str:
        return f"{self.title}\n{self.formatted(60).to_string(index=False)}"

    def _repr_pretty_(self, p, cycle) -> None:
        """The plain-text view IPython shows and stores beside the HTML (an executed
        notebook's ``text/plain``): the printed table, made safe like every displayed
        value (personal data redacted, long values cut), never the raw data."""
        try:
            text = str(self)
        except Exception:  # noqa: BLE001 - a display must not raise
            text = f"<{type(self).__name__}: {self.title}>"
        p.text(safe_text(text, PLAIN_LIMIT))

    def __init_subclass__(cls, **kw: Any) -> None:
        # IPython prefers a class's own __repr__ (a dataclass subclass generates one,
        # with the raw DataFrame) to an inherited _repr_pretty_: give each its own.
        super().__init_subclass__(**kw)
        cls._repr_pretty_ = MetricResult._repr_pretty_

    def plot(self, ax=None, **kw):
        """Draw the default chart for this result (title, labelled axes, units)."""
        if self.plotter is not None:
            return self.plotter(self, ax=ax, **kw)
        if self.kind == "table" or self.x is None or self.y is None:
            raise TypeError(f"{self.name}: this result has no chart; show it as a table")
        y0 = self.y if isinstance(self.y, str) else self.y[0]
        unit = self.units.get(y0)
        ylabel = kw.pop("ylabel", _label(y0, unit))
        if self.kind == "bar":
            return charts.bar(
                self.df, self.x, y0, title=self.title, ylabel=ylabel, unit=unit, ax=ax
            )
        if self.kind == "barh":
            return charts.barh(
                self.df, self.x, y0, title=self.title, xlabel=ylabel, unit=unit, ax=ax
            )
        return charts.line(
            self.df,
            self.x,
            self.y,
            title=self.title,
            ylabel=ylabel,
            unit=unit,
            hue=self.hue,
            ax=ax,
            **kw,
        )


_ACRONYMS = {
    "mrr": "MRR",
    "dau": "DAU",
    "wau": "WAU",
    "mau": "MAU",
    "nps": "NPS",
    "p95": "P95",
    "p50": "P50",
    "llm": "LLM",
    "ci": "CI",
    "1k": "1K",
    "wow": "WoW",
}
_UNIT_SUFFIX = {"rate": "(%)", "pct": "(%)", "usd": "(USD)", "ms": "(ms)", "users": "(persons)"}


def axis_label(col: str, unit: str | None = None) -> str:
    """A readable axis label for a column: ``latency_ms`` -> ``Latency (ms)``, ``mrr`` -> ``MRR (USD)``."""
    words = col.split("_")
    if words and words[-1] in {"ms", "usd", "pct"} and len(words) > 1:
        words = words[:-1]
    words = [_ACRONYMS.get(w.lower(), w) for w in words]
    text = " ".join(words)
    text = text[:1].upper() + text[1:]
    suffix = _UNIT_SUFFIX.get(unit or "")
    if suffix and suffix.strip("()").lower() == text.lower():
        suffix = None  # "persons (persons)"
    return f"{text} {suffix}" if suffix else text


_label = axis_label


@dataclass
class RateResult:
    """A share ``numerator / denominator`` with its 95% Wilson interval.

    ``value`` is None (shown "—") when the denominator is 0: no made-up 0%.
    """

    name: str
    title: str
    numerator: int
    denominator: int
    definition: str = ""
    scope: Scope | None = None
    extra: dict[str, Any] = field(default_factory=dict)
    sql: Statements = field(default_factory=Statements, repr=False)

    @property
    def value(self) -> float | None:
        return None if not self.denominator else self.numerator / self.denominator

    @property
    def interval(self) -> Interval:
        return wilson(self.numerator, self.denominator)

    def __float__(self) -> float:
        return float("nan") if self.value is None else float(self.value)

    def __str__(self) -> str:
        ci = self.interval
        ci_s = "" if ci.low is None else f" (95% CI {fmt_pct(ci.low)}–{fmt_pct(ci.high)})"
        return (
            f"{self.title}: {fmt_pct(self.value)}{ci_s} — "
            f"{fmt_int(self.numerator)} of {fmt_int(self.denominator)}"
        )

    def _repr_html_(self) -> str:
        return (
            header_html(self.title, self.definition, self.scope)
            + f"<div>{html.escape(str(self))}</div>"
            + sql_details_html(self.sql)
        )

    def plot(self, ax=None):
        """One bar with its interval."""
        df = pd.DataFrame(
            {
                "metric": [self.title],
                "value": [self.value or 0.0],
                "low": [self.interval.low or 0.0],
                "high": [self.interval.high or 0.0],
            }
        )
        return charts.barh(
            df,
            "metric",
            "value",
            title=self.title,
            xlabel="share (%)",
            unit="rate",
            err=("low", "high"),
            ax=ax,
        )


@dataclass
class ValueResult:
    """A single number (a count, a mean, a score) with its unit."""

    name: str
    title: str
    value: float | None
    unit: str = "number"
    definition: str = ""
    scope: Scope | None = None
    extra: dict[str, Any] = field(default_factory=dict)
    sql: Statements = field(default_factory=Statements, repr=False)

    def __float__(self) -> float:
        return float("nan") if self.value is None else float(self.value)

    def __str__(self) -> str:
        return f"{self.title}: {fmt(self.value, self.unit)}"

    def _repr_html_(self) -> str:
        return (
            header_html(self.title, self.definition, self.scope)
            + f"<div>{html.escape(str(self))}</div>"
            + sql_details_html(self.sql)
        )

    def plot(self, ax=None):
        df = pd.DataFrame({"metric": [self.title], "value": [self.value or 0.0]})
        return charts.barh(
            df, "metric", "value", title=self.title, xlabel=self.unit, unit=self.unit, ax=ax
        )
