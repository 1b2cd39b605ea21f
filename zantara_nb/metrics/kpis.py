"""The headline numbers of a period against the previous one and the seed's targets.

``kpis(wh, as_of=..., period="week")`` takes the last complete week (or month) before
``as_of`` and the one before it, and gives one row per KPI of the registry
(:mod:`.kpi_registry`): current, previous, absolute and relative change, a significance
flag, the target from ``parameters/targets.yaml`` and whether it is met. Every number
comes from the metric module that defines it (no SQL here); how each KPI is read, and
the choices METRICS.md leaves open, are in :mod:`.kpi_readings`.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any

import pandas as pd

from .. import config
from ..display.formatting import fmt, fmt_change, fmt_p
from ..warehouse.scope import last_complete_period, resolve
from ..warehouse.sqltrace import records_sql
from .kpi_readings import KPIContext, Reading
from .kpi_registry import DEFAULT_TARGETS, REGISTRY, Target, computed, kpi, load_targets
from .results import MetricResult, header_html
from .stats import Change

__all__ = ["DEFAULT_TARGETS", "REGISTRY", "KPIResult", "Target", "kpis", "load_targets"]


@dataclass
class _Row:
    group: str
    kpi: str
    label: str
    unit: str
    current: float | None
    previous: float | None
    p_value: float | None = None


class KPIResult(MetricResult):
    """One row per KPI; ``formatted()`` formats each row in its own unit."""

    def formatted(self, max_rows: int | None = None) -> pd.DataFrame:
        df = self.df if max_rows is None else self.df.head(max_rows)
        rows = []
        for r in df.itertuples():
            rows.append(
                {
                    "KPI": r.label,
                    "This period": fmt(r.current, r.unit),
                    "Previous": fmt(r.previous, r.unit),
                    "Change": fmt_change(r.change_rel)
                    if r.unit not in {"rate", "change"}
                    else fmt(r.change, "pp"),
                    "p": fmt_p(r.p_value),
                    "Significant": "yes" if r.significant else "",
                    "Target": "—"
                    if r.target is None or pd.isna(r.target)
                    else fmt(r.target, r.unit),
                    "Met": {True: "✔ met", False: "✘ missed"}.get(r.target_met, "—"),
                }
            )
        return pd.DataFrame(rows)

    def _repr_html_(self) -> str:
        table = self.formatted().to_html(index=False, border=0, escape=True)
        return header_html(self.title, self.definition, self.scope) + table

    def plot(self, ax=None, **kw):
        from ..display import charts

        d = self.df.dropna(subset=["change_rel"]).copy()
        return charts.barh(
            d,
            "label",
            "change_rel",
            title=self.title,
            xlabel="change vs previous period (%)",
            unit="rate",
            ax=ax,
        )

    def row(self, kpi: str) -> pd.Series:
        """The row of one KPI by key (``"activation_rate"``...)."""
        return self.df.set_index("kpi").loc[kpi]


@records_sql
def kpis(
    wh,
    as_of: str | date | None = None,
    period: str = "week",
    *,
    targets: str | Path | dict | None = None,
    tz: str | None = None,
    filters: dict[str, Any] | None = None,
) -> KPIResult:
    """Headline KPIs of the last complete ``period`` (week or month) before ``as_of``.

    ``as_of`` defaults to the end of the data. Each row: current and previous value,
    change (absolute, relative), p-value and significance, target and whether it is met.
    """
    if period not in {"week", "month"}:
        raise ValueError(f"period {period!r}: use 'week' or 'month'")
    tz = tz or config.default_timezone()
    base = resolve(wh, tz=tz, filters=filters, **({"as_of": as_of} if as_of else {}))
    start, end = last_complete_period(base.as_of, period, tz)
    prev_start, _ = last_complete_period(start, period, tz)
    prev2_start, _ = last_complete_period(prev_start, period, tz)
    kw = {"tz": tz, "filters": filters, "as_of": base.as_of}
    tgt = load_targets(targets)
    ctx = KPIContext(wh, period, start, end, prev_start, prev2_start, kw)
    rows: list[_Row] = []
    for k in computed():
        got: Reading = k.read(ctx)
        rows.append(
            _Row(
                k.group,
                k.key,
                k.label_for(period),
                k.unit,
                got.current,
                got.previous,
                got.p_value,
            )
        )

    df = _frame(rows, tgt)
    scope = resolve(wh, tz=tz, filters=filters, start=start, end=end, as_of=base.as_of)
    return KPIResult(
        name="kpis",
        title=f"KPIs, {period} of {start:%Y-%m-%d} vs previous",
        df=df,
        definition="Headline numbers of the period vs the previous one, with significance (p < 0.05) and the seed's targets",
        scope=scope,
        units={},
        kind="table",
        extra={"period": period, "start": start, "end": end, "previous_start": prev_start},
    )


def _frame(rows: list[_Row], targets: dict[str, Target]) -> pd.DataFrame:
    out = []
    for r in rows:
        ch = Change(r.current, r.previous, r.p_value)
        t = targets.get(kpi(r.kpi).target_name)
        out.append(
            {
                "group": r.group,
                "kpi": r.kpi,
                "label": r.label,
                "unit": r.unit,
                "current": r.current,
                "previous": r.previous,
                "change": ch.absolute,
                "change_rel": ch.relative,
                "direction": ch.direction,
                "p_value": r.p_value,
                "significant": ch.significant,
                "target": None if t is None else t.value,
                "target_direction": None if t is None else t.direction,
                "target_met": None if t is None else t.met(r.current),
            }
        )
    return pd.DataFrame(out)
