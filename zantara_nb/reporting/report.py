"""Helpers the report notebooks call, so each notebook cell stays a few lines.

A notebook starts with :func:`setup` (parameters in, a :class:`Report` out: the warehouse,
the report period and the scope keywords every metric call shares), then shows results
with :func:`show` (a formatted table), :func:`chart` (a PNG in the house style of
:mod:`zantara_nb.display.charts`) and the composite blocks of the overview: :func:`headline_cards`,
:func:`health_cards`, :func:`targets_table`, :func:`alerts_table`. All text that comes
from data or parameters is HTML-escaped.

Charts are displayed as PNG images (not through the matplotlib backend), so they appear
in executed notebooks and in the rendered HTML whatever ``MPLBACKEND`` is.
"""

from __future__ import annotations

import base64
import html
import io
import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pandas as pd

from .. import config
from ..display import charts
from ..display.formatting import MISSING, fmt, fmt_change, fmt_pp, fmt_usd, is_missing
from ..display.text import safe_text
from ..metrics.kpi_registry import REGISTRY, shown_in
from ..metrics.kpi_registry import kpi as kpi_entry
from ..metrics.results import header_html, more_rows
from ..warehouse.scope import last_complete_period
from ..warehouse.sqltrace import sql_details_html

# -- the report context ----------------------------------------------------------------


@dataclass
class Report:
    """What every cell of a report notebook shares.

    ``as_of`` is the observation cut-off (local midnight of the ``as_of`` date); the report
    period is the last complete ``period`` before it, ``[start, end)``.
    """

    wh: Any
    as_of: datetime
    period: str
    tz: str
    start: date
    end: date
    previous_start: date
    filters: dict[str, Any] = field(default_factory=dict)
    thresholds: dict[str, Any] = field(default_factory=dict)
    targets: Any = None

    @property
    def as_of_date(self) -> date:
        return self.as_of.date()

    @property
    def label(self) -> str:
        """``week 2026-11-16 → 2026-11-22`` (end shown inclusive)."""
        return f"{self.period} {self.start:%Y-%m-%d} → {self.end - timedelta(days=1):%Y-%m-%d}"

    @property
    def trend_days(self) -> int:
        """Length of daily trend charts: 28 days for a weekly report, 91 for a monthly one."""
        return 28 if self.period == "week" else 91

    @property
    def trend_window(self) -> str:
        """Length of weekly trend charts: 12 weeks (weekly report) or 26 (monthly)."""
        return "12w" if self.period == "week" else "26w"

    def kw(self, **extra: Any) -> dict[str, Any]:
        """Scope keywords for a metric call: ``as_of``, ``tz``, ``filters`` (+ ``extra``)."""
        out: dict[str, Any] = {"as_of": self.as_of, "tz": self.tz}
        if self.filters:
            out["filters"] = self.filters
        out.update(extra)
        return out

    def trailing(self, days: int, **extra: Any) -> dict[str, Any]:
        """Scope keywords for the ``days`` local days ending with the report period."""
        return self.kw(start=self.end - timedelta(days=days), end=self.end, **extra)

    def period_kw(self, **extra: Any) -> dict[str, Any]:
        """Scope keywords for the report period itself."""
        return self.kw(start=self.start, end=self.end, **extra)

    def funnel_kw(self, spec, days: int = 30, *, closed: bool = True, **extra: Any) -> dict:
        """Scope keywords for a funnel's entries (step-1 events) over ``days`` local days.

        ``closed=True``: the latest ``days`` days whose conversion window has closed by the
        cut-off (the range ends ``ceil(window)`` days before ``as_of``), so every entry had
        its full window and no number is still growing. ``closed=False``: the ``days``
        days ending with the report period, counted as they stand at the cut-off.
        """
        from ..metrics.funnels import parse_funnel_window

        if not closed:
            return self.trailing(days, **extra)
        lag = math.ceil(parse_funnel_window(spec.window).total_seconds() / 86400)
        end = min(self.end, self.as_of_date - timedelta(days=lag))
        return self.kw(start=end - timedelta(days=days), end=end, **extra)


def normalize_filters(filters: dict[str, Any] | None) -> dict[str, Any]:
    """Filters from a parameters file: ``{key: {">=": 7}}`` becomes ``{key: (">=", 7)}``.

    YAML has no tuples; a one-key mapping ``{op: value}`` stands for the ``(op, value)``
    form of :mod:`zantara_nb.warehouse.scope`. Values and lists pass through.
    """
    out: dict[str, Any] = {}
    for key, spec in (filters or {}).items():
        if isinstance(spec, dict) and len(spec) == 1:
            ((op, value),) = spec.items()
            spec = (str(op), tuple(value) if op in {"in", "not in"} else value)
        out[str(key)] = spec
    return out


def setup(
    as_of: str | date | None = None,
    period: str = "week",
    timezone: str | None = None,
    warehouse: str | None = None,
    filters: dict[str, Any] | None = None,
    thresholds: dict[str, Any] | None = None,
    targets: Any = None,
) -> Report:
    """Open the warehouse (read-only) and fix the report period from the parameters.

    ``as_of`` (``YYYY-MM-DD``, a local date) defaults to the end of the last complete
    ``period`` before now, as a scheduled run would use.
    """
    from ..warehouse.connection import Warehouse

    charts.apply_style()
    tz = timezone or config.default_timezone()
    zone = ZoneInfo(tz)
    if as_of is None:
        day = last_complete_period(datetime.now(zone), period, tz)[1]
    elif isinstance(as_of, datetime):
        day = as_of.astimezone(zone).date()
    elif isinstance(as_of, date):
        day = as_of
    else:
        day = date.fromisoformat(str(as_of))
    cut = datetime.combine(day, time(0), tzinfo=zone)
    start, end = last_complete_period(cut, period, tz)
    prev_start, _ = last_complete_period(start, period, tz)
    wh = Warehouse(warehouse, read_only=True)
    return Report(
        wh=wh,
        as_of=cut,
        period=period,
        tz=tz,
        start=start,
        end=end,
        previous_start=prev_start,
        filters=normalize_filters(filters),
        thresholds=dict(thresholds or {}),
        targets=targets,
    )


# -- small HTML pieces -----------------------------------------------------------------


def _html(s: str):
    from IPython.display import HTML

    return HTML(s)


def _e(x: Any) -> str:
    return html.escape(str(x))


def title(rep: Report, name: str, subtitle: str = ""):
    """The page title: report name, period, cut-off, timezone and filters."""
    f = ", ".join(f"{k} = {v}" for k, v in rep.filters.items())
    meta = f"{rep.label.capitalize()} ({rep.tz}) · data up to {rep.as_of:%Y-%m-%d %H:%M}" + (
        f" · filters: {f}" if f else ""
    )
    sub = f"<div style='color:#444;margin-top:2px'>{_e(subtitle)}</div>" if subtitle else ""
    sub += history_note(rep)  # added for gdpr: where days before the retention horizon come from
    return _html(
        f"<h1 style='margin-bottom:0'>{_e(name)}</h1>"
        f"<div style='color:#666;font-size:0.95em'>{_e(meta)}</div>{sub}"
    )


def history_note(rep: Report) -> str:
    """After the retention policy deleted raw events: one line saying which days come
    from roll-ups and which metrics cannot go back that far (HTML; '' otherwise)."""
    try:
        from ..warehouse.rollups import retention_state

        state = retention_state(rep.wh)
    except Exception:  # noqa: BLE001 - a note never breaks a page
        return ""
    if state is None:
        return ""
    text = (
        state.note() + " Active users, the North Star, the retention heat map and MRR read "
        "them; funnels, health, stickiness, lifecycle and churn before "
        f"{state.cutoff_day:%Y-%m-%d} count only what is left and are marked on their tables."
    )
    return f"<div style='color:#666;font-size:0.9em;margin-top:2px'>{_e(text)}</div>"


def paragraph(text: str):
    """A summary paragraph (escaped; personal data redacted)."""
    return _html(
        "<p style='font-size:1.05em;line-height:1.5;max-width:60em;"
        f"border-left:4px solid {charts.PALETTE[0]};padding-left:10px'>{_e(safe_text(text, 2000))}</p>"
    )


def banner(text: str, kind: str = "info"):
    """A coloured notice: ``info``, ``warning`` or ``error``."""
    colors = {
        "info": ("#EAF1F8", charts.PALETTE[0]),
        "warning": ("#FFF4E0", "#C9A227"),
        "error": ("#FBEAEA", charts.DOWN),
    }
    bg, border = colors.get(kind, colors["info"])
    return _html(
        f"<div style='background:{bg};border-left:5px solid {border};padding:8px 12px;"
        f"margin:6px 0'>{_e(text)}</div>"
    )


def table_html(df: pd.DataFrame, cell_style=None) -> str:
    """An escaped HTML table of display strings; ``cell_style(col, value) -> css`` optional.

    Every cell is shown as :func:`~zantara_nb.display.text.safe_text` (personal data
    redacted, long values cut with ``…``).
    """
    head = "".join(f"<th style='text-align:left'>{_e(safe_text(c))}</th>" for c in df.columns)
    rows = []
    for rec in df.itertuples(index=False):
        cells = []
        for col, v in zip(df.columns, rec, strict=True):
            css = cell_style(col, v) if cell_style else ""
            cells.append(f"<td style='{css}'>{_e(MISSING if is_missing(v) else safe_text(v))}</td>")
        rows.append("<tr>" + "".join(cells) + "</tr>")
    return f"<table><thead><tr>{head}</tr></thead><tbody>{''.join(rows)}</tbody></table>"


# -- results and charts ----------------------------------------------------------------


def show(
    result,
    *,
    max_rows: int | None = 20,
    columns: Sequence[str] | None = None,
    title: str | None = None,
):
    """A result as a readable table: title, definition, scope and formatted numbers.

    ``columns`` picks display columns; ``max_rows`` cuts long tables (None: the result's
    own HTML view, e.g. the retention matrix or the KPI table).
    """
    if max_rows is None and columns is None and title is None:
        return _html(result._repr_html_())
    df = result.df
    head = header_html(
        title or result.title, getattr(result, "definition", ""), getattr(result, "scope", None)
    )
    sql = sql_details_html(getattr(result, "sql", ()))
    if df.empty:
        return _html(head + "<em>No data in this range.</em>" + sql)
    shown = result.formatted(max_rows)
    if columns is not None:
        shown = shown[[c for c in columns if c in shown.columns]]
    more = ""
    if max_rows is not None and len(df) > max_rows:
        more = f"<div style='color:#666'>… {more_rows(len(df) - max_rows)}</div>"
    return _html(head + table_html(shown) + more + sql)


class Chart:
    """A rendered chart: PNG bytes shown as an ``<img>`` with the chart title as alt text."""

    def __init__(self, png: bytes, title: str = "") -> None:
        self.png = png
        self.title = title

    def _repr_html_(self) -> str:
        data = base64.b64encode(self.png).decode("ascii")
        alt = _e(self.title or "chart")
        return f'<img src="data:image/png;base64,{data}" alt="{alt}" style="max-width:100%">'

    def __repr__(self) -> str:
        return f"<chart: {self.title}>"


def chart(obj, **plot_kw) -> Chart:
    """A chart as a PNG image: a result (drawn with its ``.plot()``), an Axes or a Figure."""
    import matplotlib.pyplot as plt
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

    charts.apply_style()
    if isinstance(obj, Figure):
        fig = obj
    elif isinstance(obj, Axes):
        fig = obj.figure
    else:
        ax = obj.plot(**plot_kw)
        fig = ax.figure if hasattr(ax, "figure") else plt.gcf()
    titles = [ax.get_title() or ax.get_title("left") for ax in fig.axes]
    charts.literal_text(fig)  # data in titles, ticks and legends shown literally
    buf = io.BytesIO()
    fig.savefig(buf, format="png")
    plt.close(fig)
    return Chart(buf.getvalue(), safe_text(next((t for t in titles if t), "")).replace("\\$", "$"))


def bar_chart(df: pd.DataFrame, x: str, y: str, *, title: str, ylabel: str, unit: str):
    """A bar chart in the house style, as a PNG."""
    return chart(charts.bar(df, x, y, title=title, ylabel=ylabel, unit=unit))


# -- the overview's blocks --------------------------------------------------------------

#: Desired direction of each KPI (True: higher is better).
#: Which way is good, per KPI key (from the KPI registry).
HIGHER_IS_BETTER = {k.key: k.higher_is_better for k in REGISTRY}


def _num(x: Any) -> float | None:
    if x is None or is_missing(x):
        return None
    try:
        v = float(x)
    except (TypeError, ValueError):
        return None
    return None if math.isnan(v) else v


def _change_html(kpi: str, row: pd.Series) -> str:
    cur, prev = _num(row.get("current")), _num(row.get("previous"))
    if cur is None or prev is None:
        return "<span style='color:#888'>no comparison</span>"
    unit = row.get("unit")
    diff = cur - prev
    text = fmt_pp(diff) if unit == "rate" else fmt_change(_num(row.get("change_rel")))
    if diff == 0:
        mark, color = "■", charts.NEUTRAL
    else:
        up = diff > 0
        good = up == HIGHER_IS_BETTER.get(kpi, True)
        mark = "▲" if up else "▼"
        color = charts.UP if good else charts.DOWN
    sig = row.get("significant")
    p = _num(row.get("p_value"))
    note = "" if p is None else (" · significant" if sig else " · not significant")
    return (
        f"<span style='color:{color};font-weight:bold'>{mark} {_e(text)}</span>"
        f"<span style='color:#777'> vs {_e(_fmt_value(kpi, prev, unit))}{note}</span>"
    )


def _fmt_value(kpi: str, v: float | None, unit: str) -> str:
    decimals = kpi_entry(kpi).money_decimals if kpi in HIGHER_IS_BETTER else None
    if decimals is not None:
        return fmt_usd(v, decimals)
    return fmt(v, unit)


def _kpi_row(k, key: str) -> pd.Series | None:
    df = k.df
    hit = df[df["kpi"] == key]
    return None if hit.empty else hit.iloc[0]


def _view(row: pd.Series, view) -> pd.Series:
    """Another KPI's row in the scale of a registry view (cost per 1K -> per query)."""
    r = row.copy()
    for col in ("current", "previous", "change", "target"):
        v = _num(r.get(col))
        r[col] = None if v is None else v * view.scale
    r["kpi"], r["label"] = view.key, view.label
    return r


def _card_rows(k, place: str) -> list[tuple[str, str, pd.Series | None]]:
    """(key, label, row) of the registry's cards for ``place`` from a KPI result."""
    out = []
    for entry in shown_in(place):
        row = _kpi_row(k, entry.derived_from or entry.key)
        if row is not None and entry.derived_from:
            row = _view(row, entry)
        out.append((entry.key, entry.card_label or entry.label, row))
    return out


def _card(label: str, value: str, change: str, foot: str = "") -> str:
    foot_html = f"<div style='color:#666;font-size:0.8em;margin-top:2px'>{foot}</div>"
    return (
        "<div style='flex:1 1 170px;border:1px solid #DDD;border-radius:8px;"
        "padding:10px 14px;background:#FAFAFA'>"
        f"<div style='color:#555;font-size:0.85em'>{_e(label)}</div>"
        f"<div style='font-size:1.7em;font-weight:bold;margin:2px 0'>{_e(value)}</div>"
        f"<div style='font-size:0.85em'>{change}</div>{foot_html if foot else ''}</div>"
    )


def _cards(rows: Iterable[tuple[str, str, pd.Series | None]], with_target: bool) -> str:
    out = []
    for key, label, row in rows:
        if row is None:
            out.append(_card(label, MISSING, "<span style='color:#888'>not available</span>"))
            continue
        unit = str(row.get("unit"))
        value = _fmt_value(key, _num(row.get("current")), unit)
        foot = ""
        if with_target:
            foot = _target_note(key, row)
        out.append(_card(label, value, _change_html(key, row), foot))
    return (
        "<div style='display:flex;gap:12px;flex-wrap:wrap;margin:8px 0'>" + "".join(out) + "</div>"
    )


def _target_note(key: str, row: pd.Series) -> str:
    target = _num(row.get("target"))
    if target is None:
        return "no target"
    met = row.get("target_met")
    word = "at most" if row.get("target_direction") == "lower" else "at least"
    t = _e(_fmt_value(key, target, str(row.get("unit"))))
    if met is True:
        return f"<span style='color:{charts.UP}'>✔ target met</span> ({word} {t})"
    if met is False:
        return f"<span style='color:{charts.DOWN}'>✘ target missed</span> ({word} {t})"
    return f"target {word} {t}"


def headline_cards(k):
    """The overview's four cards: active users, messages, cost per query, satisfaction.

    Each shows this period's value, the change against the previous period with an
    up/down mark (green when the move is good, red when bad) and whether the change is
    significant.
    """
    return _html(_cards(_card_rows(k, "headline"), with_target=False))


def health_cards(k):
    """System health: P95 latency, error rate and cost per 1K queries against targets."""
    return _html(_cards(_card_rows(k, "health"), with_target=True))


def targets_table(k):
    """Every KPI of the period with its target and whether it was met (✔ / ✘)."""
    df = k.formatted()[["KPI", "This period", "Previous", "Change", "Target", "Met"]]
    met = sum(1 for v in k.df["target_met"] if v is True)
    missed = sum(1 for v in k.df["target_met"] if v is False)

    def style(col: str, v: Any) -> str:
        if col != "Met":
            return ""
        if str(v).startswith("✔"):
            return f"color:{charts.UP};font-weight:bold"
        if str(v).startswith("✘"):
            return f"color:{charts.DOWN};font-weight:bold"
        return "color:#888"

    head = (
        f"<div style='font-weight:bold;font-size:1.05em'>Targets: {met} met, {missed} missed</div>"
        "<div style='color:#444;font-size:0.9em;margin-bottom:4px'>Seed targets from "
        "parameters/targets.yaml; KPIs without a target show —.</div>"
    )
    return _html(head + table_html(df, style))


_ALERT_COLS = ["name", "condition", "observed", "threshold", "status", "window", "detail"]


def alerts_table(alerts):
    """Alert rules and their state (firing rules first); a notice when none fire."""
    if alerts is None:
        return banner("Alerts are not available in this installation.", "info")
    df = getattr(alerts, "df", None)
    if df is None or df.empty:
        return banner("No alert rules evaluated for this period.", "info")
    formatted = alerts.formatted() if hasattr(alerts, "formatted") else df.copy()
    shown = formatted[[c for c in _ALERT_COLS if c in formatted.columns]]
    status = df["status"].astype(str).str.lower() if "status" in df.columns else None
    firing = 0 if status is None else int(status.isin(["firing", "alert", "triggered"]).sum())

    def style(col: str, v: Any) -> str:
        if col != "status":
            return ""
        s = str(v).lower()
        if s in {"firing", "alert", "triggered"}:
            return f"color:{charts.DOWN};font-weight:bold"
        if s in {"ok", "resolved"}:
            return f"color:{charts.UP}"
        return "color:#888"

    if firing:
        note = banner(f"{firing} alert{'' if firing == 1 else 's'} firing.", "warning").data
    else:
        note = banner("No alert is firing.", "info").data
    return _html(note + table_html(shown, style))


# -- metrics the overview composes ------------------------------------------------------


def evaluate_alerts(rep: Report):
    """The alert rules over the 7 days before the cut-off (None if alerts are not installed).

    Rules: ``thresholds["alerts"]`` of the parameters, else ``parameters/alerts.yaml``.
    Notebooks never post to Slack (``notify=False``): the run's digest does that once.
    """
    try:
        from ..insights import alerts
    except ImportError:
        return None
    rules = rep.thresholds.get("alerts") if rep.thresholds else None
    kw: dict[str, Any] = {"rules": rules, "as_of": rep.as_of, "window": "7d", "tz": rep.tz}
    if rep.filters:
        kw["filters"] = rep.filters
    return alerts.evaluate_alerts(rep.wh, notify=False, **kw)


def data_quality(rep: Report):
    """The data-quality section of a report: freshness, volume against earlier weeks,
    unknown events and properties, plan violations, events without a person, duplicates,
    quarantine, interrupted loads, clock skew (:mod:`zantara_nb.insights.data_quality`).

    Thresholds: ``thresholds["data_quality"]`` of the parameters (e.g.
    ``{stale_after_hours: 48}``) over the defaults.
    """
    from ..insights.data_quality import data_quality as compute

    th = (rep.thresholds or {}).get("data_quality") or None
    # the warehouse as a whole: the report's filters do not apply
    dq = compute(rep.wh, thresholds=th, start=rep.start, end=rep.end, as_of=rep.as_of, tz=rep.tz)
    return _html(dq.html(header=False))  # the notebook's heading says what it is


def top_categories(rep: Report, limit: int = 10):
    """Top query categories of the report period (:func:`zantara_nb.insights.queries.top_categories`)."""
    from ..insights import queries

    return queries.top_categories(rep.wh, top=limit, **rep.period_kw())


# -- funnels ----------------------------------------------------------------------------


def funnel_specs(funnels: Sequence[dict] | None = None, *, seed: bool = True) -> list:
    """The seed funnel (unless ``seed=False``) and the funnels defined in parameters.

    Each definition: ``{name, steps: [event | {event, filters, name}], window, order,
    exclusions: [{event, between: [i, j]}], exclusion_mode, breakdown_attribution}``
    (filters as in :func:`normalize_filters`; the last two as :class:`FunnelSpec`).
    """
    from ..metrics.funnels import SEED_FUNNEL, Exclusion, FunnelSpec, Step

    out = [SEED_FUNNEL] if seed else []
    for i, d in enumerate(funnels or [], 1):
        if not isinstance(d, dict) or not d.get("steps"):
            raise ValueError(f"funnel #{i}: needs 'steps' (got {d!r})")
        steps = []
        for s in d["steps"]:
            if isinstance(s, str):
                steps.append(Step(s))
            else:
                steps.append(
                    Step(s["event"], normalize_filters(s.get("filters")), name=s.get("name"))
                )
        excl = [
            Exclusion(
                x["event"],
                tuple(x["between"]) if x.get("between") else None,
                normalize_filters(x.get("filters")),
            )
            for x in d.get("exclusions") or []
        ]
        out.append(
            FunnelSpec(
                steps=steps,
                window=d.get("window", "14d"),
                order=d.get("order", "ordered"),
                exclusions=excl,
                name=str(d.get("name") or f"Funnel {i}"),
                exclusion_mode=d.get("exclusion_mode"),
                breakdown_attribution=d.get("breakdown_attribution", "first_touch"),
            )
        )
    return out


def _dropoff_chart(f):
    d = f.df[f.df["step"] > 1].copy()
    if d.empty:
        return None
    d["label"] = [f"{s}. {n}"[:28] for s, n in zip(d["step"], d["name"], strict=True)]
    return bar_chart(
        d,
        "label",
        "dropoff_rate",
        title=f"{f.title}: drop-off from the previous step",
        ylabel="Dropped at this step (%)",
        unit="rate",
    )


def _top_breakdown(f, top: int) -> None:
    df = f.df
    first = df[df["step"] == 1].sort_values("persons", ascending=False)
    keep = list(first["breakdown"].head(top))
    f.df = df[df["breakdown"].isin(keep)].reset_index(drop=True)


def show_funnel(
    rep: Report,
    spec,
    *,
    breakdowns: Sequence[str] = (),
    days: int = 30,
    closed: bool = True,
    top: int = 6,
) -> None:
    """One funnel: steps table and chart, drop-off, time to convert, then each breakdown
    (the ``top`` values by entries). Entries: see :meth:`Report.funnel_kw`."""
    from IPython.display import display

    from ..metrics.funnels import funnel

    kw = rep.funnel_kw(spec, days, closed=closed)
    when = (
        "entries whose conversion window closed by the cut-off"
        if closed
        else "latest entries, counted as they stand at the cut-off"
    )
    display(
        _html(
            f"<h2>{_e(spec.name)}</h2><div style='color:#555'>{_e(when.capitalize())}: "
            f"{kw['start']:%Y-%m-%d} → {kw['end'] - timedelta(days=1):%Y-%m-%d}.</div>"
        )
    )
    f = funnel(rep.wh, spec, **kw)
    display(show(f, max_rows=None))
    if f.df.empty or not f.df["persons"].iloc[0]:
        return
    display(chart(f))
    drop = _dropoff_chart(f)
    if drop is not None:
        display(drop)
    if f.order != "any" and f.n_steps > 1:
        last = int(f.df[f.df["persons"] > 0]["step"].max())
        if last > 1:
            ttc = f.time_to_convert(1, last)
            display(chart(ttc))
    for b in breakdowns:
        fb = funnel(rep.wh, spec, **{**kw, "breakdown": b})
        if fb.df.empty:
            continue
        _top_breakdown(fb, top)
        fb.title = f"{spec.name} by {b}"
        display(chart(fb))
        display(
            show(
                fb,
                columns=[
                    "breakdown",
                    "step",
                    "name",
                    "persons",
                    "conversion",
                    "step_conversion",
                    "median_time_s",
                ],
                max_rows=60,
            )
        )
