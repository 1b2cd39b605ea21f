"""One visual style for every chart, and the few chart kinds reports use.

Every chart has a title, labelled axes and units. Use :func:`line`, :func:`bar`,
:func:`barh` and :func:`heatmap` (all return the matplotlib ``Axes``), or
``result.plot()`` on any metric result.

Text in a chart is shown literally: titles, axis labels, category ticks and legend
entries pass through :func:`zantara_nb.display.text.chart_text` (personal data redacted,
long values cut with ``…``, ``$`` escaped so ``$...$`` is never parsed as math), and
:func:`literal_text` does the same to every text of a finished figure, whichever code
drew it, before it is saved (:func:`save_png`, ``report.chart``, the digest).
"""

from __future__ import annotations

from collections.abc import Sequence

import matplotlib
import matplotlib.pyplot as plt  # noqa: E402
import matplotlib.ticker as mticker  # noqa: E402
import pandas as pd  # noqa: E402
from matplotlib.category import StrCategoryFormatter  # noqa: E402

from .text import LABEL_LIMIT, chart_text, escape_dollars, safe_text

PALETTE = ["#2F5D8A", "#E07B39", "#3A9E6F", "#B8434F", "#7A5BA6", "#8C8C8C", "#C9A227", "#3BA3B8"]
UP, DOWN, NEUTRAL = "#3A9E6F", "#B8434F", "#8C8C8C"
FIGSIZE = (8.0, 3.6)
#: Characters a chart title or axis label keeps at most (data values: ``LABEL_LIMIT``).
TITLE_LIMIT = 120

STYLE = {
    "figure.figsize": FIGSIZE,
    "figure.dpi": 100,
    "savefig.dpi": 110,
    "savefig.bbox": "tight",
    "axes.prop_cycle": matplotlib.cycler(color=PALETTE),
    "axes.spines.top": False,
    "axes.spines.right": False,
    "axes.grid": True,
    "axes.grid.axis": "y",
    "grid.color": "#E5E5E5",
    "grid.linewidth": 0.8,
    "axes.titlesize": 12,
    "axes.titleweight": "bold",
    "axes.titlelocation": "left",
    "axes.labelsize": 10,
    "axes.labelcolor": "#333333",
    "xtick.labelsize": 9,
    "ytick.labelsize": 9,
    "legend.fontsize": 9,
    "legend.frameon": False,
    "font.family": "DejaVu Sans",
}


def apply_style() -> None:
    """Apply the zantara-nb style to matplotlib (and seaborn's defaults)."""
    plt.rcParams.update(STYLE)


apply_style()


def axis_formatter(unit: str | None) -> mticker.Formatter | None:
    """Tick formatter for a unit: rates as %, money as $, counts with separators."""
    if unit in {"rate", "pct"}:
        # decimals=None: as many as the range needs, so narrow ranges do not repeat "1% 1%"
        return mticker.PercentFormatter(xmax=1.0, decimals=None)
    if unit == "usd":
        return mticker.StrMethodFormatter("${x:,.2f}")
    if unit in {"count", "users"}:
        return mticker.StrMethodFormatter("{x:,.0f}")
    if unit == "ms":
        return mticker.StrMethodFormatter("{x:,.0f}")
    return None


def _ax(ax, title: str, xlabel: str, ylabel: str, unit: str | None):
    if ax is None:
        _, ax = plt.subplots(figsize=FIGSIZE)
    ax.set_title(chart_text(title, TITLE_LIMIT))
    ax.set_xlabel(chart_text(xlabel, TITLE_LIMIT))
    ax.set_ylabel(chart_text(ylabel, TITLE_LIMIT))
    f = axis_formatter(unit)
    if f is not None:
        ax.yaxis.set_major_formatter(f)
    if unit in {"count", "users"}:
        ax.yaxis.set_major_locator(mticker.MaxNLocator(integer=True))  # no "0 0 1 1" ticks
    return ax


def line(
    df: pd.DataFrame,
    x: str,
    y: str | Sequence[str],
    *,
    title: str,
    ylabel: str,
    xlabel: str = "",
    unit: str | None = None,
    hue: str | None = None,
    ax=None,
    band: tuple[str, str] | None = None,
):
    """Line chart of ``y`` over ``x`` (one line per ``hue`` value or per y column)."""
    ax = _ax(ax, title, xlabel, ylabel, unit)
    ys = [y] if isinstance(y, str) else list(y)
    if hue:
        for i, (key, g) in enumerate(df.groupby(hue, sort=True)):
            ax.plot(g[x], g[ys[0]], label=chart_text(key), color=PALETTE[i % len(PALETTE)], lw=1.8)
    else:
        for i, col in enumerate(ys):
            ax.plot(df[x], df[col], label=chart_text(col), color=PALETTE[i % len(PALETTE)], lw=1.8)
            if band and i == 0:
                ax.fill_between(df[x], df[band[0]], df[band[1]], alpha=0.15, color=PALETTE[0])
    if hue or len(ys) > 1:
        ax.legend(loc="upper left")
    if len(df) and pd.api.types.is_datetime64_any_dtype(pd.to_datetime(df[x], errors="coerce")):
        ax.figure.autofmt_xdate()
    ax.set_ylim(bottom=0) if unit in {"count", "users", "rate", "pct", "usd", "ms"} else None
    return ax


def bar(
    df: pd.DataFrame,
    x: str,
    y: str,
    *,
    title: str,
    ylabel: str,
    xlabel: str = "",
    unit: str | None = None,
    color: str | Sequence[str] | None = None,
    ax=None,
):
    """Vertical bars of ``y`` per ``x``."""
    ax = _ax(ax, title, xlabel, ylabel, unit)
    ax.bar(labels(df[x]), df[y], color=color or PALETTE[0])
    ax.tick_params(axis="x", rotation=30 if len(df) > 6 else 0)
    return ax


def barh(
    df: pd.DataFrame,
    y: str,
    x: str,
    *,
    title: str,
    xlabel: str,
    unit: str | None = None,
    err: tuple[str, str] | None = None,
    ax=None,
):
    """Horizontal bars (largest on top), optionally with interval whiskers."""
    if ax is None:
        _, ax = plt.subplots(figsize=(FIGSIZE[0], max(2.0, 0.35 * len(df) + 1)))
    names = labels(df[y])[::-1]  # named top to bottom: a repeated name gets " (2)" below
    d = df.iloc[::-1]
    xerr = None
    if err:
        xerr = [(d[x] - d[err[0]]).clip(lower=0), (d[err[1]] - d[x]).clip(lower=0)]
    ax.barh(names, d[x], xerr=xerr, color=PALETTE[0], ecolor="#555555", capsize=2)
    ax.set_title(chart_text(title, TITLE_LIMIT))
    ax.set_xlabel(chart_text(xlabel, TITLE_LIMIT))
    ax.set_ylabel("")
    ax.grid(axis="x", color="#E5E5E5")
    ax.grid(axis="y", visible=False)
    f = axis_formatter(unit)
    if f is not None:
        ax.xaxis.set_major_formatter(f)
    return ax


def heatmap(
    matrix: pd.DataFrame,
    *,
    title: str,
    xlabel: str,
    ylabel: str,
    unit: str = "rate",
    ax=None,
):
    """A cohort-style heat map; missing cells stay blank (not observed is not zero)."""
    import seaborn as sns

    if ax is None:
        h = max(2.5, 0.32 * len(matrix) + 1.2)
        _, ax = plt.subplots(figsize=(FIGSIZE[0] + 1, h))
    fmt = ".0%" if unit in {"rate", "pct"} else ",.0f"
    shown = matrix.astype(float)
    if shown.index.dtype == object:
        shown.index = labels(shown.index)
    if shown.columns.dtype == object:
        shown.columns = labels(shown.columns)
    sns.heatmap(
        shown,
        ax=ax,
        annot=matrix.shape[1] <= 16 and len(matrix) <= 30,
        fmt=fmt,
        cmap="Blues",
        cbar=False,
        linewidths=0.5,
        linecolor="white",
        annot_kws={"fontsize": 7},
    )
    ax.set_title(chart_text(title, TITLE_LIMIT))
    ax.set_xlabel(chart_text(xlabel, TITLE_LIMIT))
    ax.set_ylabel(chart_text(ylabel, TITLE_LIMIT))
    ax.grid(False)
    return ax


def labels(values) -> list[str]:
    """Category labels for an axis: each value as :func:`chart_text` (missing as "—").
    Distinct values that become the same label once shortened keep apart (`` (2)``);
    equal values stay one category."""
    names: dict[str, str] = {}
    used: dict[str, int] = {}
    out: list[str] = []
    for v in values:
        key = "—" if v is None or (isinstance(v, float) and v != v) else str(v)
        if key not in names:
            text = chart_text(key)
            n = used.get(text, 0)
            used[text] = n + 1
            names[key] = text if n == 0 else f"{text} ({n + 1})"
        out.append(names[key])
    return out


def _literal(text: str, limit: int) -> str:
    return escape_dollars(safe_text(text, limit))


#: Formatters whose labels may be data (categories, set_ticklabels, functions).
_DATA_FORMATTERS = (StrCategoryFormatter, mticker.FixedFormatter, mticker.FuncFormatter)


class _LiteralFormatter(mticker.Formatter):
    """Wraps a formatter whose labels are data (categories, fixed labels): each label
    is shown literally (see :func:`literal_text`)."""

    def __init__(self, inner: mticker.Formatter) -> None:
        self.inner = inner

    def __call__(self, x, pos=None):
        return _literal(str(self.inner(x, pos)), LABEL_LIMIT)

    def set_axis(self, axis):
        super().set_axis(axis)
        self.inner.set_axis(axis)

    def set_locs(self, locs):
        self.inner.set_locs(locs)
        self.locs = locs

    def format_ticks(self, values):
        return [_literal(str(t), LABEL_LIMIT) for t in self.inner.format_ticks(values)]


def literal_text(fig) -> None:
    """Make every text of ``fig`` literal and short, whichever code drew it.

    Titles, labels, legend entries and annotations get personal data redacted, long
    values cut with ``…`` and ``$`` escaped; axes whose tick labels may be data
    (category axes, labels set with ``set_ticklabels`` or by a function) get a formatter
    that does the same at draw time (a number it formats, ``$1,234``, reads the same);
    math-text formatters (log axes) are left alone. Idempotent: ``\\$`` stays one.
    """
    from matplotlib.text import Text

    for t in fig.findobj(Text):
        s = t.get_text()
        if s:
            t.set_text(_literal(s, TITLE_LIMIT))
    for ax in fig.axes:
        for axis in (ax.xaxis, ax.yaxis):
            for which in ("major", "minor"):
                f = axis.get_major_formatter() if which == "major" else axis.get_minor_formatter()
                if isinstance(f, _DATA_FORMATTERS):
                    wrapped = _LiteralFormatter(f)
                    if which == "major":
                        axis.set_major_formatter(wrapped)
                    else:
                        axis.set_minor_formatter(wrapped)


def save_png(ax_or_fig, path) -> None:
    """Save a chart as PNG in the house style and close it."""
    fig = getattr(ax_or_fig, "figure", ax_or_fig)
    literal_text(fig)
    fig.savefig(path, format="png")
    plt.close(fig)
