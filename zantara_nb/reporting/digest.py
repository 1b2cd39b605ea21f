"""The digest of a report run: headline cards, alerts, narrative and a few small charts.

``build_digest(wh, as_of=..., period="week", tz=..., out_dir=run_dir, params=params)``
computes everything the e-mail needs and writes it to ``out_dir``:

- ``digest.json``: the period, six headline cards (active users, messages, cost per
  query, satisfaction, P95 latency, error rate) with previous value, change, direction,
  whether the change is good, significance and target; the full KPI table; the alerts;
  the narrative paragraph (:func:`zantara_nb.reporting.narrative.summarize`); the chart files.
- ``digest-*.png``: three small charts (640 px wide, palette PNG, typically 15–30 KB):
  the North Star weekly WAU trend, DAU by day, P95 latency by day against its target.

Every number comes from the metric library (:func:`zantara_nb.metrics.kpis.kpis`,
:func:`zantara_nb.metrics.active.north_star`, :func:`zantara_nb.metrics.active.dau`,
:func:`zantara_nb.metrics.health.p95_latency`); nothing is recomputed here.

Choices:

- **Cost per query** = the KPI "AI cost per 1K queries" / 1000 (same definition: cost
  sum over all replies / replies), shown with 4 decimals; the card's note gives the
  per-1K value that the seed's target ($5 per 1K) is about.
- **Good or bad**: a change is good when it goes the desired way (more users,
  messages, satisfaction; less latency, errors, cost). The e-mail colours it green/red
  when the change is significant or the KPI has no test (latency, cost), grey when a
  test exists and says "not significant".
- **Alerts** come from ``zantara_nb.insights.alerts.evaluate_alerts(wh, rules=params["alerts"],
  as_of=...)`` when that module exists (imported lazily); otherwise the digest records
  "alerts not available". An alert evaluation that raises is recorded, not raised. The
  firing alerts go to the Slack webhook then (when ``$ZANTARA_SLACK_WEBHOOK`` is set);
  what happened to that post is ``alerts_delivery``, which the runner copies into the
  manifest.
- **Data quality**: one line for the e-mail and the checks
  (:func:`zantara_nb.insights.data_quality.data_quality`; thresholds from
  ``thresholds.data_quality`` of the parameters, the stale limit from
  ``stale_after_hours``).
- **Chart windows** end at the report period's end: 12 weeks of North Star (26 for a
  monthly report), 28 days of DAU and P95 latency (91 for monthly); the report period
  is shaded. A chart whose data is empty is skipped and noted.
"""

from __future__ import annotations

import io
import json
import math
from dataclasses import asdict, dataclass, field
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any

import pandas as pd

from .. import __version__, config
from ..display.formatting import fmt, fmt_change, fmt_p, fmt_pp, fmt_usd, is_missing
from ..display.text import safe_frame, safe_text
from ..metrics.kpi_registry import kpi as kpi_entry
from ..metrics.kpi_registry import shown_in

DIGEST_FILE = "digest.json"
CHART_WIDTH_PX = 640
CHART_HEIGHT_PX = 270
CHART_DPI = 100

#: Headline cards: (card key, KPI key, label, desired direction).


@dataclass
class Card:
    """One headline number with its comparison, ready to render."""

    key: str
    label: str
    unit: str
    value: float | None
    previous: float | None
    change: float | None
    change_rel: float | None
    direction: str  # up | down | flat | unknown
    good: bool | None  # the change goes the desired way (None: flat or unknown)
    significant: bool
    p_value: float | None
    tested: bool
    target: float | None
    target_direction: str | None
    target_met: bool | None
    value_text: str
    previous_text: str
    change_text: str
    target_text: str
    note: str = ""


@dataclass
class ChartRef:
    name: str
    title: str
    file: str  # relative to the digest folder
    width: int
    height: int
    bytes: int


@dataclass
class Digest:
    """What a report run says in short; written to and read from ``digest.json``."""

    suite: str
    period: str
    start: str  # first day of the report period (local)
    end: str  # day after the last (exclusive)
    as_of: str
    tz: str
    cards: list[Card]
    kpis: list[dict[str, Any]]
    alerts: list[dict[str, Any]]
    alerts_status: str  # ok | not available | error
    alerts_message: str
    narrative: str
    charts: list[ChartRef]
    notes: list[str] = field(default_factory=list)
    #: What happened to the Slack post of the firing alerts (``alerts.Delivery``).
    alerts_delivery: dict[str, Any] = field(default_factory=dict)
    #: The period's data-quality checks (``insights.data_quality``): line, checks, numbers.
    data_quality: dict[str, Any] = field(default_factory=dict)
    version: str = __version__
    path: Path | None = field(default=None, repr=False, compare=False)

    # -- derived ---------------------------------------------------------------------------
    @property
    def last_day(self) -> str:
        return (date.fromisoformat(self.end) - timedelta(days=1)).isoformat()

    @property
    def period_label(self) -> str:
        """``2026-11-16 → 2026-11-22`` (both days included)."""
        return f"{self.start} → {self.last_day}"

    @property
    def firing(self) -> list[dict[str, Any]]:
        return [a for a in self.alerts if str(a.get("status", "")).lower() == "firing"]

    @property
    def alerts_available(self) -> bool:
        return self.alerts_status == "ok"

    @property
    def folder(self) -> Path | None:
        return None if self.path is None else self.path.parent

    def chart_path(self, chart: ChartRef) -> Path:
        base = self.folder or Path(".")
        return base / chart.file

    # -- files -----------------------------------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d.pop("path", None)
        return _jsonable(d)

    def save(self, out_dir: str | Path) -> Path:
        out = Path(out_dir)
        out.mkdir(parents=True, exist_ok=True)
        path = out / DIGEST_FILE
        tmp = path.with_suffix(".json.tmp")
        tmp.write_text(json.dumps(self.to_dict(), indent=2, ensure_ascii=False), encoding="utf-8")
        tmp.replace(path)
        self.path = path
        return path

    @classmethod
    def from_dict(cls, d: dict[str, Any], path: Path | None = None) -> Digest:
        d = dict(d)
        d["cards"] = [Card(**c) for c in d.get("cards", [])]
        d["charts"] = [ChartRef(**c) for c in d.get("charts", [])]
        known = set(cls.__dataclass_fields__) - {"path"}
        return cls(**{k: v for k, v in d.items() if k in known}, path=path)

    @classmethod
    def load(cls, run_dir: str | Path) -> Digest:
        """Read ``digest.json`` from a run folder (or its ``digest/`` subfolder, or a path)."""
        p = Path(run_dir)
        candidates = [p] if p.suffix == ".json" else [p / DIGEST_FILE, p / "digest" / DIGEST_FILE]
        for c in candidates:
            if c.is_file():
                return cls.from_dict(json.loads(c.read_text(encoding="utf-8")), path=c)
        raise FileNotFoundError(f"no {DIGEST_FILE} in {p}")


# ------------------------------------------------------------------------------------------
# Building
# ------------------------------------------------------------------------------------------


def build_digest(
    wh,
    *,
    as_of: str | date | datetime | None = None,
    period: str = "week",
    tz: str | None = None,
    out_dir: str | Path,
    params: dict[str, Any] | None = None,
) -> Digest:
    """Compute the digest of the last complete ``period`` before ``as_of`` into ``out_dir``.

    ``params`` is the suite's parameters mapping: ``suite`` (name), ``targets`` (mapping or
    file, default ``parameters/targets.yaml``), ``filters``, ``alerts`` (rules passed to
    ``evaluate_alerts``). Writes ``digest.json`` and the chart PNGs; returns the digest.
    """
    from ..metrics.kpis import kpis as compute_kpis
    from . import narrative

    params = dict(params or {})
    tz = tz or params.get("timezone") or config.default_timezone()
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    filters = params.get("filters") or None
    targets = params.get("targets")
    if isinstance(targets, dict) and "targets" not in targets:
        targets = {"targets": targets}

    k = compute_kpis(wh, as_of=as_of, period=period, targets=targets, tz=tz, filters=filters)
    start, end = k.extra["start"], k.extra["end"]
    as_of_dt = k.scope.as_of if k.scope is not None else None

    notes: list[str] = []
    alerts_res, status, message = _evaluate_alerts(wh, params, as_of_dt or as_of, tz)
    if status != "ok":
        notes.append(message)
    text = narrative.summarize(k, alerts_res if status == "ok" else None)

    charts = _charts(wh, out, period=period, start=start, end=end, as_of=as_of_dt, tz=tz,
                     filters=filters, k=k, notes=notes)  # fmt: skip
    quality = _data_quality(wh, start, end, as_of_dt or as_of, tz, params, notes)

    digest = Digest(
        suite=str(params.get("suite") or params.get("name") or _suite_from_period(period)),
        period=period,
        start=start.isoformat(),
        end=end.isoformat(),
        as_of=as_of_dt.isoformat() if as_of_dt is not None else str(as_of),
        tz=tz,
        cards=_cards(k.df, period),
        kpis=_kpi_rows(k.df),
        alerts=_alert_rows(alerts_res) if status == "ok" else [],
        alerts_status=status,
        alerts_message=safe_text(message, 500),
        narrative=safe_text(text, 2000),
        charts=charts,
        notes=[safe_text(n, 500) for n in notes],
        alerts_delivery=_delivery(alerts_res),
        data_quality=quality,
    )
    digest.save(out)
    return digest


def _suite_from_period(period: str) -> str:
    return {"week": "weekly", "month": "monthly", "day": "daily"}.get(period, period)


# -- alerts -----------------------------------------------------------------------------------


def _evaluate_alerts(wh, params: dict, as_of, tz: str) -> tuple[Any, str, str]:
    """(result, status, message): status ok | not available | error."""
    import importlib
    import inspect

    try:
        mod = importlib.import_module("zantara_nb.insights.alerts")
    except ModuleNotFoundError as exc:
        if exc.name in ("zantara_nb.insights.alerts", "zantara_nb"):
            return (
                None,
                "not available",
                "alerts not available (zantara_nb.insights.alerts is missing)",
            )
        return None, "error", f"alerts failed to import: {exc}"
    fn = getattr(mod, "evaluate_alerts", None)
    if fn is None:
        return None, "not available", "alerts not available (no evaluate_alerts)"
    kw: dict[str, Any] = {"rules": params.get("alerts"), "as_of": as_of}
    try:
        accepted = inspect.signature(fn).parameters.values()
    except (TypeError, ValueError):
        accepted = []
    if any(p.name == "tz" or p.kind is p.VAR_KEYWORD for p in accepted):
        kw["tz"] = tz
    try:
        res = fn(wh, **kw)
    except Exception as exc:  # noqa: BLE001 - a broken alert must not stop the digest
        return None, "error", f"alerts failed: {type(exc).__name__}: {exc}"
    return res, "ok", ""


def _data_quality(wh, start, end, as_of, tz: str, params: dict, notes: list[str]) -> dict:
    """The period's data-quality checks as a dict ({} and a note when they fail)."""
    from ..insights.data_quality import data_quality

    th = (
        (params.get("thresholds") or {}).get("data_quality")
        if isinstance(params.get("thresholds"), dict)
        else None
    )
    if th is None and params.get("stale_after_hours") is not None:
        th = {"stale_after_hours": float(params["stale_after_hours"])}
    try:
        dq = data_quality(wh, start=start, end=end, as_of=as_of, tz=tz, thresholds=th)
    except Exception as exc:  # noqa: BLE001 - a check that breaks must not stop the digest
        notes.append(f"data quality skipped: {type(exc).__name__}: {exc}")
        return {}
    return _jsonable(dq.to_dict())


def _delivery(res: Any) -> dict[str, Any]:
    """The Slack delivery of an alert result as a dict ({} when there is none)."""
    d = getattr(res, "delivery", None)
    if d is None or not hasattr(d, "__dataclass_fields__"):
        return {}
    return _jsonable(asdict(d))


def _alert_rows(res: Any) -> list[dict[str, Any]]:
    df = res if isinstance(res, pd.DataFrame) else getattr(res, "df", None)
    if not isinstance(df, pd.DataFrame) or df.empty:
        return []
    return [_jsonable(r) for r in safe_frame(df).to_dict(orient="records")]


# -- cards ------------------------------------------------------------------------------------


def _num(x: Any) -> float | None:
    if is_missing(x):
        return None
    try:
        v = float(x)
    except (TypeError, ValueError):
        return None
    return v if math.isfinite(v) else None


def _bool(x: Any) -> bool | None:
    return None if is_missing(x) else bool(x)


def _cards(df: pd.DataFrame, period: str) -> list[Card]:
    rows = df.set_index("kpi") if "kpi" in df else pd.DataFrame()
    cards = []
    for entry in shown_in("email"):
        key, kpi, want = entry.key, entry.derived_from or entry.key, entry.good
        label = entry.card_label or entry.label
        r = rows.loc[kpi] if kpi in rows.index else pd.Series(dtype=object)
        unit = str(r.get("unit", "number")) if len(r) else "number"
        value, prev = _num(r.get("current")), _num(r.get("previous"))
        change, rel = _num(r.get("change")), _num(r.get("change_rel"))
        p = _num(r.get("p_value"))
        target = _num(r.get("target"))
        tdir = (
            r.get("target_direction")
            if len(r) and not is_missing(r.get("target_direction"))
            else None
        )
        met = _bool(r.get("target_met")) if len(r) else None
        if key == "active_users":
            label = "Weekly active users" if period == "week" else "Monthly active users"
        note = ""
        scale = entry.scale
        if entry.derived_from == "cost_per_1k_usd":
            note = f"{fmt_usd(value)} per 1K queries" if value is not None else ""
        v, pv, ch = (None if x is None else x * scale for x in (value, prev, change))
        tg = None if target is None else target * scale
        direction = _direction(ch)
        good = None if direction in ("flat", "unknown") else direction == want
        text = _fmt_card(v, unit, key)
        ch_text = fmt_pp(ch) if unit in ("rate", "pct") else fmt_change(rel)
        sign = "≥" if (tdir or "higher") == "higher" else "≤"
        t_text = "" if tg is None else f"target {sign} {_fmt_card(tg, unit, key)}"
        cards.append(
            Card(
                key=key,
                label=label,
                unit=unit,
                value=v,
                previous=pv,
                change=ch,
                change_rel=rel,
                direction=direction,
                good=good,
                significant=bool(p is not None and p < 0.05),
                p_value=p,
                tested=p is not None,
                target=tg,
                target_direction=tdir,
                target_met=met,
                value_text=text,
                previous_text=_fmt_card(pv, unit, key),
                change_text=ch_text,
                target_text=t_text,
                note=note,
            )
        )
    return cards


def _direction(change: float | None) -> str:
    if change is None:
        return "unknown"
    if change == 0:
        return "flat"
    return "up" if change > 0 else "down"


def _fmt_card(x: float | None, unit: str, key: str) -> str:
    decimals = kpi_entry(key).money_decimals
    if decimals is not None:
        return fmt_usd(x, decimals)
    return fmt(x, unit)


def _kpi_rows(df: pd.DataFrame) -> list[dict[str, Any]]:
    out = []
    for r in df.to_dict(orient="records"):
        unit = r.get("unit") or "number"
        row = _jsonable(r)
        row["current_text"] = fmt(r.get("current"), unit)
        row["previous_text"] = fmt(r.get("previous"), unit)
        row["p_text"] = fmt_p(r.get("p_value"))
        out.append(row)
    return out


# -- charts -----------------------------------------------------------------------------------


def _charts(
    wh,
    out: Path,
    *,
    period: str,
    start: date,
    end: date,
    as_of,
    tz: str,
    filters,
    k,
    notes: list[str],
) -> list[ChartRef]:
    from ..metrics import active, health

    weekly = period == "week"
    days = 28 if weekly else 91
    weeks = 12 if weekly else 26
    scope = {"as_of": as_of, "tz": tz, "filters": filters}
    refs: list[ChartRef] = []

    def attempt(name: str, draw) -> None:
        try:
            ref = draw()
        except Exception as exc:  # noqa: BLE001 - a chart must not stop the digest
            notes.append(f"chart {name} skipped: {type(exc).__name__}: {exc}")
            return
        if ref is None:
            notes.append(f"chart {name} skipped: no data")
        else:
            refs.append(ref)

    def north_star() -> ChartRef | None:
        res = active.north_star(wh, start=end - timedelta(weeks=weeks), end=end, **scope)
        df = res.df
        if "complete" in df:
            df = df[df["complete"].astype(bool)]
        df = df.dropna(subset=["wau"])
        if df.empty:
            return None
        title = f"North Star: weekly active users, last {weeks} weeks"
        return _line_png(
            out / "digest-north-star.png",
            df,
            "week",
            "wau",
            title=title,
            ylabel="Persons",
            xlabel="Week (Monday)",
            unit="users",
            marker=True,
            highlight=(start, end) if weekly else None,
            name="north_star",
        )

    def dau() -> ChartRef | None:
        df = active.dau(wh, start=end - timedelta(days=days), end=end, **scope).df
        df = df.dropna(subset=["dau"])
        if df.empty:
            return None
        return _line_png(
            out / "digest-dau.png",
            df,
            "day",
            "dau",
            title=f"Daily active users, last {days} days",
            ylabel="Persons",
            xlabel=f"Day ({tz})",
            unit="users",
            highlight=(start, end),
            name="dau",
        )

    def latency() -> ChartRef | None:
        df = health.p95_latency(wh, by="day", start=end - timedelta(days=days), end=end, **scope).df
        if df["latency_ms"].notna().sum() == 0:
            return None
        target = None
        if "kpi" in k.df:
            t = k.df.set_index("kpi")["target"].get("p95_latency_ms")
            target = _num(t)
        return _line_png(
            out / "digest-p95-latency.png",
            df,
            "day",
            "latency_ms",
            title=f"P95 response latency by day, last {days} days",
            ylabel="Milliseconds",
            xlabel=f"Day ({tz})",
            unit="ms",
            highlight=(start, end),
            target=target,
            name="p95_latency",
        )

    attempt("north_star", north_star)
    attempt("dau", dau)
    attempt("p95_latency", latency)
    return refs


def _line_png(
    path: Path,
    df: pd.DataFrame,
    x: str,
    y: str,
    *,
    title: str,
    ylabel: str,
    xlabel: str,
    unit: str,
    name: str,
    marker: bool = False,
    highlight: tuple[date, date] | None = None,
    target: float | None = None,
) -> ChartRef:
    import matplotlib.pyplot as plt

    from ..display import charts

    fig, ax = plt.subplots(figsize=(CHART_WIDTH_PX / CHART_DPI, CHART_HEIGHT_PX / CHART_DPI))
    d = df.copy()
    d[x] = pd.to_datetime(d[x])
    charts.line(d, x, y, title=title, ylabel=ylabel, xlabel=xlabel, unit=unit, ax=ax)
    if marker:
        ax.plot(d[x], d[y], "o", color=charts.PALETTE[0], ms=3)
    if highlight is not None:
        lo = pd.Timestamp(highlight[0]) - (pd.Timedelta(days=3) if marker else pd.Timedelta(0))
        hi = pd.Timestamp(highlight[1]) - pd.Timedelta(days=4 if marker else 1)
        ax.axvspan(lo, hi, color=charts.PALETTE[1], alpha=0.12, lw=0)
    if target is not None:
        ax.axhline(target, color=charts.DOWN, lw=1, ls="--")
        ax.annotate(
            f"target {fmt(target, unit)}",
            (0.995, target),
            xycoords=("axes fraction", "data"),
            ha="right",
            va="bottom",
            fontsize=8,
            color=charts.DOWN,
        )
        ax.set_ylim(top=max(ax.get_ylim()[1], target * 1.1))
    ax.title.set_fontsize(11)
    ax.tick_params(axis="x", rotation=0)
    fig.autofmt_xdate(rotation=0, ha="center")
    import matplotlib.dates as mdates

    ax.xaxis.set_major_formatter(mdates.DateFormatter("%d %b"))
    fig.tight_layout(pad=0.6)
    size = save_small_png(fig, path)
    w, h = _png_size(path)
    return ChartRef(name=name, title=title, file=path.name, width=w, height=h, bytes=size)


def save_small_png(fig, path: str | Path, colors: int = 64) -> int:
    """Save ``fig`` at 100 dpi as an optimised palette PNG (small for e-mail); close it.

    Returns the file size in bytes.
    """
    import matplotlib.pyplot as plt
    from PIL import Image

    from ..display.charts import literal_text

    literal_text(fig)
    buf = io.BytesIO()
    with plt.rc_context({"savefig.bbox": "standard"}):
        fig.savefig(buf, format="png", dpi=CHART_DPI)
    plt.close(fig)
    buf.seek(0)
    img = Image.open(buf).convert("RGB").quantize(colors=colors)
    img.save(path, format="PNG", optimize=True)
    return Path(path).stat().st_size


def _png_size(path: Path) -> tuple[int, int]:
    from PIL import Image

    with Image.open(path) as img:
        return img.size


# -- JSON -------------------------------------------------------------------------------------


def _jsonable(x: Any) -> Any:
    """Plain JSON types: NaN/NA -> None, numpy scalars -> Python, dates -> ISO strings."""
    if isinstance(x, dict):
        return {str(k): _jsonable(v) for k, v in x.items()}
    if isinstance(x, list | tuple):
        return [_jsonable(v) for v in x]
    if isinstance(x, Path):
        return str(x)
    if isinstance(x, str | bool) or x is None:
        return x
    if is_missing(x):
        return None
    if isinstance(x, datetime | date | pd.Timestamp):
        return x.isoformat()
    if isinstance(x, timedelta | pd.Timedelta):
        return str(x)
    if hasattr(x, "item"):  # numpy scalar
        return _jsonable(x.item())
    if isinstance(x, float):
        return x if math.isfinite(x) else None
    if isinstance(x, int):
        return x
    return str(x)
