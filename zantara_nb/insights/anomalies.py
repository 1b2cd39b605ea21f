"""Anomalies in daily series (METRICS.md section 8): same-weekday median, robust z.

>>> res = anomalies(wh, days=28)          # flagged points of the last 28 local days
>>> res.df                                # metric, dimension, value, date, observed, expected, ...
>>> res.plot()                            # the top anomaly's series with its expected band
>>> explain(wh, "p95_latency_ms", "2026-06-11")   # which models/countries moved the most

Series
------
One value per local day of ``tz`` for each series:

- **KPIs** (``dimension = "total"``), each read from the metric function that defines it
  (no metric is re-implemented here): ``active_users`` (DAU, :func:`active.dau`),
  ``messages``, ``errors`` and ``error_rate`` (:func:`health.error_rate`),
  ``p95_latency_ms`` (:func:`health.p95_latency`), ``cost_usd`` (the day's AI cost,
  :func:`health.cost_per_1k`), ``satisfaction`` (share of positive feedback,
  :func:`health.satisfaction`) and ``signups`` (``user_signed_up`` events).
- **Counts per dimension value**: ``messages`` (``message_sent``) per ``query_category``
  and per ``country``. The country is the person's latest ``country``, else the event's
  own (``country`` / ``$geoip_country_code``), so anonymous senders still have one.

Rule (METRICS.md, literally, plus a documented floor on the scale)
------------------------------------------------------------------
For a day ``d`` with value ``x`` and the values ``r1..r4`` of the same series on
``d − 7, d − 14, d − 21, d − 28``:

- ``expected = median(r1..r4)`` (the mean of the middle two of four);
- ``MAD = median(|ri − expected|)``; ``scale = max(1.4826 · MAD, floor)``;
- ``z = (x − expected) / scale``; ``change = (x − expected) / expected``;
- **flagged** when ``|z| ≥ 3.5`` and ``|change| ≥ 30%`` and the volume is at least the
  series' minimum (table below). A rise from an expected 0 counts as an infinite change
  (``change`` is then missing in the table).

**Why a floor.** Four reference values often agree by chance, so the MAD can be tiny
(or 0) while real daily counts vary more than Poisson (sessions bundle messages, a few
power users send many). With the MAD alone, a 4-point median flags dozens of clean days
per quarter. The floor is the noise the value would have anyway:

- *persons* (DAU, signups: one per person, close to Poisson):
  ``max(2·√max(E, 1), 0.05·E)``;
- *count* (messages, errors, per category/country: events clustered in sessions and
  heavy users): ``max(4·√max(E, 1), 0.05·E)``;
- *sum* (cost): ``E · max(6/√n, 0.05)``, ``n`` = the day's replies;
- *quantile* (P95): ``E · max(2/√n, 0.05)``, ``n`` = the day's replies (the relative
  standard error of a P95 of ``n`` lognormal values is ≈ 2.1·σ/√n);
- *rate* (error rate, satisfaction): ``max(2·√(p(1 − p)/n), 0.05·p)``, ``p = E`` kept in
  ``[0.5/n, 1 − 0.5/n]``, ``n`` = the denominator (binomial × 2).

``E`` is the expected value. The constants were measured on demo data without incidents
(5 seeds × 84 days): the largest ``|x − E|/√E`` of a clean day was 4.8 for DAU, 8.5 for
total messages, 11.9 for messages of one country; divided by the floor's factor every
clean day stays under 3.5 (details in docs/metrics-anomalies-alerts.md).

The volume tested against the minimum is ``max(x, E)`` for counts (a rise from almost
nothing and a fall to almost nothing both qualify) and the day's denominator otherwise.

The 0.05 relative floor keeps ``z`` finite when the reference weeks are identical;
since ``3.5 × 0.05 = 17.5% < 30%`` it never overrides the 30% rule.

Minimum volumes (per day; :data:`MIN_VOLUME`): active users 50, messages 100, errors 20,
signups 20, P95 latency 100 replies, cost 100 replies, error rate 100 messages,
satisfaction 50 feedbacks, messages per category or per country 100.

Choices METRICS.md leaves open
------------------------------
- **Not observed is not zero.** A day not over at ``as_of`` has no value; days before the
  warehouse's first event of the kinds the series read (:data:`SOURCE_EVENTS`, any
  filter) are not observed either, so a backfill of other events (billing history)
  does not turn earlier days into zeros. A point is
  evaluated only when the day and all four reference days are observed and have a value
  (a rate or P95 of a day without its denominator has none); otherwise ``expected`` and
  ``z`` are missing and it is never flagged. Count series are 0 on observed days without
  events.
- **Range.** ``days`` (default 28) local days ending at ``as_of`` (or ``start``/``end``); the
  series are read from 28 days before the range start.
- **Both directions** are flagged (``direction`` up/down).
- **Filters** apply to every series; with a **breakdown**, every series is split by it and
  evaluated per value (column ``breakdown``).
- **Explanation** (:func:`explain`) of a flagged KPI day: the same metric per value of a
  few dimensions (:data:`KPIS`, e.g. P95 latency per ``model_used``, ``country``,
  ``plan``), each value's expected value by the same-weekday median (of the reference
  days where it has a value), ``delta = observed − expected``, and the three values with
  the largest *impact* over all those dimensions: the delta beyond the value's share of
  the move for counts and sums, ``share × (delta − the dimension's weighted delta)`` for
  rates and P95 (see :func:`movers`). Count KPIs are split with the same counting query as
  the dimension series; the others by calling their metric function with ``breakdown``.
  In the function-based splits ``country`` is the person's latest country only.

SQL shape
---------
Each metric function above is one query over the events of ``[start − 28 d, end)``
grouped by local day (and breakdown). The dimension series and signups are one more
query: the scoped ``message_sent``/``user_signed_up`` events, then ``GROUP BY GROUPING
SETS`` (day, event) / (day, event, category) / (day, event, country) — one scan for every
value of every dimension. The same-weekday median and MAD are computed over the small
daily table (series × days) with numpy: shaping, not scanning.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import date, datetime, timedelta
from typing import Any

import numpy as np
import pandas as pd
from typing_extensions import Unpack

from .. import config
from ..display import charts
from ..display.formatting import fmt, fmt_change, fmt_num
from ..display.text import LABEL_LIMIT, safe_frame, safe_text
from ..metrics import active, health
from ..metrics.results import MetricResult, format_frame, header_html
from ..warehouse.scope import Scope, ScopeArgs, is_person_key, resolve
from ..warehouse.sqltrace import records_sql, sql_details_html

#: Weeks of same-weekday history behind each expected value.
REFERENCE_WEEKS = 4
LOOKBACK_DAYS = 7 * REFERENCE_WEEKS
MAD_FACTOR = 1.4826
TOTAL = "total"
ALL = "all"


@dataclass(frozen=True)
class Thresholds:
    """The flagging rule and the floors on the scale (see the module docstring)."""

    z: float = 3.5
    min_change: float = 0.30
    persons_k: float = 2.0
    count_k: float = 4.0
    sum_k: float = 6.0
    quantile_k: float = 2.0
    rate_k: float = 2.0
    rel_floor: float = 0.05


#: Minimum daily volume per series: KPI name, or ``"messages:<dimension>"``.
MIN_VOLUME: dict[str, float] = {
    "active_users": 50,
    "messages": 100,
    "errors": 20,
    "signups": 20,
    "error_rate": 100,
    "p95_latency_ms": 100,
    "cost_usd": 100,
    "satisfaction": 50,
    "messages:query_category": 100,
    "messages:country": 100,
}


@dataclass(frozen=True)
class Series:
    """One KPI: how to read it, its kind (for the floor) and how to explain it."""

    metric: str
    label: str
    unit: str
    kind: str  # persons | count | sum | quantile | rate
    group: str  # which fetch call yields it
    explain_dims: tuple[str, ...]
    event: str | None = None  # count KPIs explained by the counting query


KPIS: dict[str, Series] = {
    s.metric: s
    for s in (
        Series(
            "active_users",
            "Active users (DAU)",
            "users",
            "persons",
            "dau",
            ("country", "plan", "user_type", "language"),
        ),
        Series(
            "messages",
            "Messages sent",
            "count",
            "count",
            "errors",
            ("query_category", "country", "plan", "query_language"),
            "message_sent",
        ),
        Series(
            "errors",
            "Errors",
            "count",
            "count",
            "errors",
            ("error_type", "query_category", "country"),
            "error_occurred",
        ),
        Series(
            "error_rate",
            "Error rate",
            "rate",
            "rate",
            "errors",
            ("query_category", "country", "plan"),
        ),
        Series(
            "p95_latency_ms",
            "P95 latency",
            "ms",
            "quantile",
            "latency",
            ("model_used", "country", "plan"),
        ),
        Series("cost_usd", "AI cost", "usd", "sum", "cost", ("model_used", "country", "plan")),
        Series(
            "satisfaction",
            "Satisfaction (share positive)",
            "rate",
            "rate",
            "satisfaction",
            ("query_category", "model_used", "country"),
        ),
        Series(
            "signups",
            "Signups",
            "count",
            "persons",
            "volume",
            ("country", "utm_source", "signup_method"),
            "user_signed_up",
        ),
    )
}
#: Dimensions whose message counts are series of their own.
DIMENSIONS = ("query_category", "country")
FAMILIES = (*KPIS, *(f"messages:{d}" for d in DIMENSIONS))

COLUMNS = [
    "metric",
    "dimension",
    "value",
    "date",
    "observed",
    "expected",
    "change",
    "z",
    "direction",
    "volume",
    "unit",
    "explanation",
]


# ------------------------------------------------------------------------------------------
# Reading the daily series
# ------------------------------------------------------------------------------------------


def _kw(sc: Scope, lo: date, *, breakdown: Any = "keep") -> dict:
    """Scope keywords for a metric call over ``[lo, sc.end)`` with ``sc``'s cut-off."""
    return {
        "start": lo,
        "end": sc.end,
        "as_of": sc.as_of,
        "tz": sc.tz,
        "filters": dict(sc.filters),
        "breakdown": sc.breakdown if breakdown == "keep" else breakdown,
    }


def _long(df: pd.DataFrame, metric: str, observed: str, volume: str | None) -> pd.DataFrame:
    """A metric frame (day, [breakdown], ...) as long rows of one series."""
    out = pd.DataFrame(
        {
            "metric": metric,
            "dimension": TOTAL,
            "value": ALL,
            "breakdown": df["breakdown"].astype(str) if "breakdown" in df else ALL,
            "day": pd.to_datetime(df["day"]).astype("datetime64[ns]"),
            "observed": df[observed].astype("float64"),
            "volume": (df[volume] if volume else df[observed]).astype("float64"),
        }
    )
    return out


def _fetch_group(wh, group: str, kw: dict) -> dict[str, pd.DataFrame]:
    """Daily frames of the KPIs of one group, from the metric function that defines them."""
    if group == "dau":
        df = active.dau(wh, **kw).df
        return {"active_users": _long(df, "active_users", "dau", None)}
    if group == "errors":
        df = health.error_rate(wh, by="day", **kw).df
        return {
            "messages": _long(df, "messages", "messages", None),
            "errors": _long(df, "errors", "errors", None),
            "error_rate": _long(df, "error_rate", "error_rate", "messages"),
        }
    if group == "latency":
        df = health.p95_latency(wh, by="day", **kw).df
        return {"p95_latency_ms": _long(df, "p95_latency_ms", "latency_ms", "replies")}
    if group == "cost":
        df = health.cost_per_1k(wh, by="day", **kw).df
        return {"cost_usd": _long(df, "cost_usd", "cost_usd", "queries")}
    if group == "satisfaction":
        df = health.satisfaction(wh, by="day", **kw).df
        return {"satisfaction": _long(df, "satisfaction", "share_positive", "feedbacks")}
    raise ValueError(group)  # pragma: no cover


def _dim_exprs(sc: Scope, dims: Sequence[str]) -> tuple[list[str], list[str]]:
    """(inner columns computed on the event row, outer expressions d0..dn)."""
    inner, outer = [], []
    for i, d in enumerate(dims):
        name = d.rpartition(":")[2]
        if d == "country":
            inner.append(f"e.country AS ev_{i}")
            outer.append(f"coalesce(q.country, s.ev_{i})")
        elif is_person_key(d):
            sc.prop_sql(d)  # validates
            outer.append(f"q.{name}")
        else:
            inner.append(f"{sc.prop_sql(d, 'e', 'p')} AS ev_{i}")
            outer.append(f"s.ev_{i}")
    return inner, outer


def counts_sql(sc: Scope, lo: date, events: Sequence[str], dims: Sequence[str]) -> str:
    """SQL: events per local day, event and breakdown, in total and per value of each dim.

    One scan: ``GROUPING SETS`` (day, breakdown, event) and (day, breakdown, event, dim_i).
    Columns: ``day, breakdown, event, dimension ('total' or the dim), value, n``.
    """
    dl = sc.dialect
    inner, outer = _dim_exprs(sc, dims)
    cols = ", ".join(["e.timestamp", "e.event", "e.person_id", *inner])
    cte = sc.events_cte(list(events), columns=cols, range_start=lo)
    need_q = any(is_person_key(d) for d in dims)
    join = "LEFT JOIN persons q ON q.person_id = s.person_id" if need_q else ""
    dsel = "".join(f", {o} AS d{i}" for i, o in enumerate(outer))
    sets = ", ".join(
        ["(day, breakdown, event)"] + [f"(day, breakdown, event, d{i})" for i in range(len(dims))]
    )
    if dims:
        none = dl.str_lit("(none)")
        which = " ".join(
            f"WHEN GROUPING(d{i}) = 0 THEN {dl.str_lit(dim)}" for i, dim in enumerate(dims)
        )
        vals = " ".join(
            f"WHEN GROUPING(d{i}) = 0 THEN coalesce({dl.as_text(f'd{i}')}, {none})"
            for i in range(len(dims))
        )
        dim_col = f"CASE {which} ELSE {dl.str_lit(TOTAL)} END"
        val_col = f"CASE {vals} ELSE {dl.str_lit(ALL)} END"
    else:
        dim_col, val_col = dl.str_lit(TOTAL), dl.str_lit(ALL)
    return f"""
        WITH s AS ({cte}),
        t AS (
            SELECT {sc.bucket("day", "s.timestamp")} AS day, s.breakdown, s.event{dsel}
            FROM s {join}
        )
        SELECT day, breakdown, event, {dim_col} AS dimension, {val_col} AS value,
               count(*) AS n
        FROM t GROUP BY GROUPING SETS ({sets})
    """


def _count_frame(
    wh, sc: Scope, lo: date, events: Sequence[str], dims: Sequence[str]
) -> pd.DataFrame:
    cols = ["day", "breakdown", "event", "dimension", "value", "n"]
    if sc.end <= lo:
        return pd.DataFrame({c: [] for c in cols})
    df = wh.sql(counts_sql(sc, lo, events, dims))
    if df.empty:
        return pd.DataFrame({c: [] for c in cols})
    df["day"] = pd.to_datetime(df["day"]).astype("datetime64[ns]")
    df["breakdown"] = df["breakdown"].astype(str)
    df["n"] = df["n"].astype("float64")
    return df


def _volume_series(wh, sc: Scope, lo: date, want: set[str]) -> list[pd.DataFrame]:
    """Signups and message counts per category/country: one query."""
    events = []
    if "signups" in want:
        events.append("user_signed_up")
    dims = [d for d in DIMENSIONS if f"messages:{d}" in want]
    if dims:
        events.append("message_sent")
    if not events:
        return []
    df = _count_frame(wh, sc, lo, events, dims)
    out = []
    sig = df[(df["event"] == "user_signed_up") & (df["dimension"] == TOTAL)]
    if "signups" in want:
        out.append(_rows(sig, "signups"))
    msg = df[(df["event"] == "message_sent") & (df["dimension"] != TOTAL)]
    if len(msg):
        out.append(_rows(msg, "messages"))
    return out


def _rows(df: pd.DataFrame, metric: str) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "metric": metric,
            "dimension": df["dimension"].to_numpy(),
            "value": df["value"].astype(str).to_numpy(),
            "breakdown": df["breakdown"].astype(str).to_numpy(),
            "day": df["day"].to_numpy(),
            "observed": df["n"].to_numpy(dtype="float64"),
            "volume": df["n"].to_numpy(dtype="float64"),
        }
    )


# ------------------------------------------------------------------------------------------
# The rule
# ------------------------------------------------------------------------------------------


def _kind(metric: str, dimension: str) -> str:
    return KPIS[metric].kind if dimension == TOTAL else "count"


def _min_volume(metric: str, dimension: str, overrides: dict[str, float] | None) -> float:
    key = metric if dimension == TOTAL else f"{metric}:{dimension}"
    table = {**MIN_VOLUME, **(overrides or {})}
    return float(table.get(key, table.get(metric, 0.0)))


def floor_scale(kind: str, expected: np.ndarray, n: np.ndarray, th: Thresholds) -> np.ndarray:
    """The noise floor of the scale for a kind of series (see the module docstring)."""
    e = np.asarray(expected, dtype="float64")
    n = np.maximum(np.nan_to_num(np.asarray(n, dtype="float64"), nan=0.0), 1.0)
    rel = th.rel_floor * np.abs(e)
    if kind == "persons":
        return np.maximum(th.persons_k * np.sqrt(np.maximum(e, 1.0)), rel)
    if kind == "count":
        return np.maximum(th.count_k * np.sqrt(np.maximum(e, 1.0)), rel)
    if kind == "sum":
        return np.maximum(np.abs(e) * th.sum_k / np.sqrt(n), rel)
    if kind == "quantile":
        return np.maximum(np.abs(e) * th.quantile_k / np.sqrt(n), rel)
    if kind == "rate":
        p = np.clip(e, 0.5 / n, 1.0 - 0.5 / n)
        return np.maximum(th.rate_k * np.sqrt(p * (1.0 - p) / n), rel)
    raise ValueError(f"unknown series kind {kind!r}")


def score(
    long: pd.DataFrame,
    days: pd.DatetimeIndex,
    observed_from: pd.Timestamp,
    observed_to: pd.Timestamp,
    *,
    thresholds: Thresholds = Thresholds(),
    min_volume: dict[str, float] | None = None,
) -> pd.DataFrame:
    """Every point of every series with its expected value, scale, z and flag.

    ``long``: rows (metric, dimension, value, breakdown, day, observed, volume); ``days``:
    the full calendar of the read range (local days, first one 28 days before the
    evaluated range); days outside ``[observed_from, observed_to)`` are not observed.
    Count series are 0 on observed days without a row.
    """
    keys = ["metric", "dimension", "value", "breakdown"]
    out_cols = [
        *keys,
        "day",
        "observed",
        "volume",
        "expected",
        "mad",
        "scale",
        "z",
        "change",
        "evaluated",
        "flagged",
    ]
    if long.empty or len(days) == 0:
        return pd.DataFrame({c: [] for c in out_cols})
    series = long[keys].drop_duplicates().reset_index(drop=True)
    sid = long[keys].merge(series.reset_index(), on=keys, how="left")["index"].to_numpy()
    pos = days.get_indexer(pd.to_datetime(long["day"]))
    ok = pos >= 0
    S, T = len(series), len(days)
    obs = np.full((S, T), np.nan)
    vol = np.full((S, T), np.nan)
    obs[sid[ok], pos[ok]] = long["observed"].to_numpy(dtype="float64")[ok]
    vol[sid[ok], pos[ok]] = long["volume"].to_numpy(dtype="float64")[ok]
    kinds = np.array(
        [_kind(m, d) for m, d in zip(series["metric"], series["dimension"], strict=True)]
    )
    is_count = np.isin(kinds, ["count", "persons"])
    # counts: 0 on days without a row (the metric functions already list every day)
    obs[is_count] = np.nan_to_num(obs[is_count], nan=0.0)
    vol[is_count] = np.nan_to_num(vol[is_count], nan=0.0)
    seen = np.asarray((days >= observed_from) & (days < observed_to))
    obs[:, ~seen] = np.nan
    vol[:, ~seen] = np.nan
    # the four same-weekday reference values of every day
    ref = np.full((REFERENCE_WEEKS, S, T), np.nan)
    for k in range(1, REFERENCE_WEEKS + 1):
        ref[k - 1, :, 7 * k :] = obs[:, : T - 7 * k]
    complete = ~np.isnan(ref).any(axis=0) & ~np.isnan(obs)
    with np.errstate(invalid="ignore", divide="ignore"):
        safe = np.where(complete[None], ref, 0.0)
        expected = np.median(safe, axis=0)
        mad = np.median(np.abs(safe - expected[None]), axis=0)
        floor = np.zeros((S, T))
        for kind in np.unique(kinds):
            rows = kinds == kind
            floor[rows] = floor_scale(kind, expected[rows], vol[rows], thresholds)
        scale = np.maximum(MAD_FACTOR * mad, floor)
        z = (obs - expected) / scale
        change = np.where(expected != 0, (obs - expected) / np.abs(expected), np.nan)
        big = np.where(expected != 0, np.abs(change) >= thresholds.min_change, obs != 0)
    minv = np.array(
        [
            _min_volume(m, d, min_volume)
            for m, d in zip(series["metric"], series["dimension"], strict=True)
        ]
    )
    volume_for_rule = np.where(is_count[:, None], np.fmax(obs, expected), vol)
    enough = volume_for_rule >= minv[:, None]
    flagged = complete & (np.abs(z) >= thresholds.z) & big & enough
    for arr in (expected, mad, scale, z, change):
        arr[~complete] = np.nan
    # the volume the minimum is tested on: max(x, expected) for counts, n otherwise
    volume_for_rule = np.where(is_count[:, None], np.fmax(obs, expected), vol)
    s_idx = np.repeat(np.arange(S), T)
    d_idx = np.tile(np.arange(T), S)
    out = series.iloc[s_idx].reset_index(drop=True)
    out["day"] = days[d_idx]
    for name, arr in (
        ("observed", obs),
        ("volume", volume_for_rule),
        ("expected", expected),
        ("mad", mad),
        ("scale", scale),
        ("z", z),
        ("change", change),
    ):
        out[name] = arr.reshape(-1)
    out["evaluated"] = complete.reshape(-1)
    out["flagged"] = flagged.reshape(-1)
    return out[out_cols]


# ------------------------------------------------------------------------------------------
# Public API
# ------------------------------------------------------------------------------------------


class AnomalyResult(MetricResult):
    """Flagged points, most extreme first; ``extra['points']`` holds every evaluated point."""

    def formatted(self, max_rows: int | None = None) -> pd.DataFrame:
        df = self.df if max_rows is None else self.df.head(max_rows)
        if df.empty:
            return format_frame(df, {})
        out = df.copy()
        out["date"] = pd.to_datetime(out["date"]).dt.strftime("%Y-%m-%d")
        for col in ("observed", "expected"):
            out[col] = [fmt(v, u) for v, u in zip(df[col], df["unit"], strict=True)]
        out["change"] = [fmt_change(v) if pd.notna(v) else "new" for v in df["change"]]
        out["z"] = [fmt_num(v, 1) for v in df["z"]]
        out["volume"] = [fmt(v, "count") for v in df["volume"]]
        return safe_frame(out.drop(columns=["unit"]), EXPLANATION_LIMIT)

    def _repr_html_(self) -> str:
        if self.df.empty:
            body = "<em>No anomalies in this range.</em>"
        else:
            body = self.formatted(60).to_html(index=False, border=0, escape=True)
        return (
            header_html(self.title, self.definition, self.scope) + body + sql_details_html(self.sql)
        )

    def series(self, metric: str, dimension: str = TOTAL, value: str = ALL) -> pd.DataFrame:
        """Every point of one series (observed, expected, z, flagged)."""
        p = self.extra.get("points", pd.DataFrame())
        if p.empty:
            return p
        sel = (p["metric"] == metric) & (p["dimension"] == dimension) & (p["value"] == value)
        return p[sel].reset_index(drop=True)

    def plot(
        self,
        ax=None,
        metric: str | None = None,
        dimension: str = TOTAL,
        value: str = ALL,
        breakdown: str | None = None,
        **kw,
    ):
        """Observed vs expected of one series (default: the top anomaly), flags marked."""
        if metric is None:
            if self.df.empty:
                metric, dimension, value = "messages", TOTAL, ALL
            else:
                top = self.df.iloc[0]
                metric, dimension, value = top["metric"], top["dimension"], top["value"]
                breakdown = top.get("breakdown") if breakdown is None else breakdown
        d = self.series(metric, dimension, value)
        if not d.empty and d["breakdown"].nunique() > 1:
            d = d[d["breakdown"] == (breakdown or d["breakdown"].iloc[0])]
        unit = KPIS[metric].unit if dimension == TOTAL else "count"
        label = KPIS[metric].label if metric in KPIS else metric
        name = label if dimension == TOTAL else f"{label}, {dimension} = {value}"
        d = d.rename(columns={"day": "date"})
        ax = charts.line(
            d,
            "date",
            ["observed", "expected"],
            title=f"{name}: observed vs same-weekday median",
            ylabel=f"{label} ({unit})" if unit not in {"count", "users"} else label,
            xlabel="local day",
            unit=unit,
            ax=ax,
        )
        f = d[d["flagged"]]
        if len(f):
            ax.scatter(f["date"], f["observed"], color=charts.DOWN, zorder=3, label="anomaly")
            ax.legend(loc="upper left")
        return ax


def _calendar(first: date, end: date) -> pd.DatetimeIndex:
    if end <= first:
        return pd.DatetimeIndex([], dtype="datetime64[ns]")
    return pd.date_range(
        pd.Timestamp(first), pd.Timestamp(end) - timedelta(days=1), freq="D"
    ).astype("datetime64[ns]")


#: Events the series are built from (with the active events): the observed days begin
#: at the first of them, so a backfill of other events (billing history, say) does not
#: turn the days before the product data into zeros.
SOURCE_EVENTS = (
    "message_sent",
    "message_received",
    "$ai_generation",
    "error_occurred",
    "feedback_given",
    "user_signed_up",
)


def _observed_window(wh, sc: Scope) -> tuple[pd.Timestamp, pd.Timestamp]:
    """Local days observed: from the day of the first event the series are built from
    (:data:`SOURCE_EVENTS` and the default active event) to the last day over by as_of."""
    sources = list(dict.fromkeys((*SOURCE_EVENTS, config.DEFAULT_ACTIVE_EVENT)))
    first = wh.scalar(f"SELECT min(timestamp) FROM events WHERE {sc.d.in_list('event', sources)}")
    open_day = sc.as_of.astimezone(sc.zone).date()  # the day as_of falls in is not over
    if first is None:
        return pd.Timestamp(open_day), pd.Timestamp(open_day)
    first_day = first.astimezone(sc.zone).date()
    return pd.Timestamp(first_day), pd.Timestamp(open_day)


def _want(metrics: Sequence[str] | None) -> list[str]:
    if metrics is None:
        return list(FAMILIES)
    bad = [m for m in metrics if m not in FAMILIES]
    if bad:
        raise ValueError(f"unknown series {bad}: use {', '.join(FAMILIES)}")
    return list(metrics)


def anomaly_points(
    wh,
    sc: Scope,
    *,
    metrics: Sequence[str] | None = None,
    thresholds: Thresholds = Thresholds(),
    min_volume: dict[str, float] | None = None,
) -> pd.DataFrame:
    """Every point of every wanted series over ``sc``'s range (see :func:`score`)."""
    want = set(_want(metrics))
    lo = sc.start - timedelta(days=LOOKBACK_DAYS)
    frames: list[pd.DataFrame] = []
    if sc.days > 0:
        kw = _kw(sc, lo)
        for group in ("dau", "errors", "latency", "cost", "satisfaction"):
            names = [m for m, s in KPIS.items() if s.group == group and m in want]
            if names:
                got = _fetch_group(wh, group, kw)
                frames += [got[m] for m in names]
        frames += _volume_series(wh, sc, lo, want)
    frames = [f for f in frames if not f.empty]
    long = pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()
    first, open_day = _observed_window(wh, sc)
    pts = score(
        long,
        _calendar(lo, sc.end),
        first,
        open_day,
        thresholds=thresholds,
        min_volume=min_volume,
    )
    if not len(pts):
        return pts
    pts = pts[pts["day"] >= pd.Timestamp(sc.start)]
    # one order whatever order the engine returned the series in
    keys = [c for c in ("metric", "dimension", "value", "breakdown", "day") if c in pts]
    return pts.sort_values(keys, kind="stable").reset_index(drop=True)


@records_sql
def anomalies(
    wh,
    as_of: str | date | datetime | None = None,
    days: int = 28,
    *,
    metrics: Sequence[str] | None = None,
    thresholds: Thresholds | None = None,
    min_volume: dict[str, float] | None = None,
    explain: bool = True,
    top: int = 3,
    **scope: Unpack[ScopeArgs],
) -> AnomalyResult:
    """Days whose value departs from the same weekday of the previous 4 weeks.

    Over ``days`` local days ending at ``as_of`` (or ``start``/``end``), for every series
    (KPIs, messages per category and per country; ``metrics`` picks some of
    :data:`FAMILIES`): flagged when the robust z is at least 3.5 in size, the change at
    least 30% and the day's volume at least the series minimum. Columns: ``metric,
    dimension, value, [breakdown], date, observed, expected, change, z, direction, volume,
    unit, explanation`` (explanation: the top ``top`` movers of a flagged KPI day).
    """
    if as_of is not None:
        scope["as_of"] = as_of  # type: ignore[typeddict-item]
    sc = resolve(wh, default_window=f"{int(days)}d", **scope)
    th = thresholds or Thresholds()
    pts = anomaly_points(wh, sc, metrics=metrics, thresholds=th, min_volume=min_volume)
    flagged = pts[pts["flagged"]].copy() if len(pts) else pts.copy()
    rows = pd.DataFrame(
        {
            "metric": flagged.get("metric", pd.Series(dtype=object)),
            "dimension": flagged.get("dimension", pd.Series(dtype=object)),
            "value": flagged.get("value", pd.Series(dtype=object)),
            "breakdown": flagged.get("breakdown", pd.Series(dtype=object)),
            "date": pd.to_datetime(flagged.get("day", pd.Series(dtype="datetime64[ns]"))),
            "observed": flagged.get("observed", pd.Series(dtype=float)),
            "expected": flagged.get("expected", pd.Series(dtype=float)),
            "change": flagged.get("change", pd.Series(dtype=float)),
            "z": flagged.get("z", pd.Series(dtype=float)),
        }
    )
    rows["direction"] = np.where(rows["z"] >= 0, "up", "down") if len(rows) else []
    rows["volume"] = flagged.get("volume", pd.Series(dtype=float)).to_numpy()
    if len(rows):
        rows["unit"] = [
            KPIS[m].unit if d == TOTAL else "count"
            for m, d in zip(rows["metric"], rows["dimension"], strict=True)
        ]
    else:
        rows["unit"] = pd.Series(dtype=object)
    rows["explanation"] = None
    explanations = pd.DataFrame()
    if explain and len(rows):
        explanations = _explain_flagged(wh, sc, rows, top)
        if len(explanations):
            text = (
                explanations.groupby(["metric", "breakdown", "date"], sort=False)
                .apply(explain_text, include_groups=False)
                .rename("explanation")
                .reset_index()
            )
            rows = rows.drop(columns="explanation").merge(
                text, on=["metric", "breakdown", "date"], how="left"
            )
        kpi = rows["dimension"] == TOTAL
        rows["explanation"] = rows["explanation"].astype(object)
        rows.loc[kpi & rows["explanation"].isna(), "explanation"] = NO_MOVER
        rows.loc[~kpi, "explanation"] = None
    if len(rows):
        rows = rows.assign(_a=rows["z"].abs()).sort_values(
            ["_a", "date", "metric"], ascending=[False, True, True], kind="stable"
        )
        rows = rows.drop(columns="_a").reset_index(drop=True)
    cols = list(COLUMNS)
    if sc.breakdown:
        cols.insert(3, "breakdown")
    rows = rows.reindex(columns=cols)
    return AnomalyResult(
        name="anomalies",
        title="Anomalies",
        df=rows,
        definition=(
            f"Days where |robust z| ≥ {th.z:g} vs the median of the same weekday over the "
            f"previous {REFERENCE_WEEKS} weeks, change ≥ {th.min_change:.0%}, volume ≥ minimum"
        ),
        scope=sc,
        units={},
        kind="table",
        extra={
            "points": pts,
            "explanations": explanations,
            "thresholds": th,
            "min_volume": {**MIN_VOLUME, **(min_volume or {})},
        },
    )


# ------------------------------------------------------------------------------------------
# Explanation
# ------------------------------------------------------------------------------------------

#: A value is listed as a mover only if its push is at least this share of the move.
MIN_PUSH = 0.05
#: Characters an explanation keeps when displayed (each value in it: ``LABEL_LIMIT``).
EXPLANATION_LIMIT = 400
#: Explanation of a flagged KPI day where every value moved alike.
NO_MOVER = "moved alike across values (no single value stands out)"

EXPLAIN_COLUMNS = [
    "metric",
    "date",
    "dimension",
    "value",
    "observed",
    "expected",
    "delta",
    "volume_share",
    "impact",
    "rank",
    "unit",
]


def _split_group(wh, series: Series, dim: str, kw: dict) -> pd.DataFrame:
    """The KPI per value of ``dim`` (its metric function with ``breakdown=dim``)."""
    got = _fetch_group(wh, series.group, {**kw, "breakdown": dim})[series.metric]
    return pd.DataFrame(
        {
            "dimension": dim,
            "value": got["breakdown"].astype(str).to_numpy(),
            "day": got["day"].to_numpy(),
            "observed": got["observed"].to_numpy(),
            "volume": got["volume"].to_numpy(),
        }
    )


def _split_counts(wh, sub: Scope, lo: date, event: str, dims: Sequence[str]) -> pd.DataFrame:
    """A count KPI per value of each dim: one counting query for all of them."""
    df = _count_frame(wh, sub, lo, [event], dims)
    df = df[df["dimension"] != TOTAL]
    return pd.DataFrame(
        {
            "dimension": df["dimension"].to_numpy(),
            "value": df["value"].astype(str).to_numpy(),
            "day": df["day"].to_numpy(),
            "observed": df["n"].to_numpy(),
            "volume": df["n"].to_numpy(),
        }
    )


def movers(split: pd.DataFrame, dates: Sequence[pd.Timestamp], kind: str, top: int) -> pd.DataFrame:
    """Per date, the ``top`` dimension values that moved the KPI the most.

    ``split``: rows (dimension, value, day, observed, volume). For each value: ``expected``
    = median of its values on the 4 same weekdays before (those with a value; counts are 0
    on days without a row), ``delta = observed − expected``. Values are ranked by
    ``|impact|``:

    - counts and sums add up over a dimension's values, and the biggest value (``plan=free``)
      always has the biggest delta, so ``impact`` is the delta *beyond the value's share* of
      the dimension's move: ``delta − expected / Σ expected × Σ delta``;
    - rates and P95s do not add up, and a small group's rate moves a lot by chance, so with
      ``s`` the value's share of the day's volume and ``Δ = Σ s·delta`` the dimension's
      (volume-weighted) move: ``impact = s · (delta − Δ)``, the part of the move specific to
      this value (it is ``s(1 − s)`` times the gap between the value and the rest).

    Either way a dimension with a single value, or a move shared alike by all values, has
    no impact. Only values that pushed the KPI the way the dimension moved, by at least
    ``MIN_PUSH`` (5%) of that move, are listed, strongest first.
    """
    cols = [c for c in EXPLAIN_COLUMNS if c not in {"metric", "unit"}]
    if split.empty:
        return pd.DataFrame({c: [] for c in cols})
    split = split.copy()
    split["day"] = pd.to_datetime(split["day"]).astype("datetime64[ns]")
    idx = ["dimension", "value"]
    obs = split.pivot_table(index=idx, columns="day", values="observed", aggfunc="first")
    vol = split.pivot_table(index=idx, columns="day", values="volume", aggfunc="first")
    additive = kind in {"count", "persons", "sum"}
    out = []
    for d in dates:
        d = pd.Timestamp(d)
        refs = [d - timedelta(days=7 * k) for k in range(1, REFERENCE_WEEKS + 1)]
        cur = obs[d] if d in obs.columns else pd.Series(np.nan, index=obs.index)
        r = obs.reindex(columns=refs)
        v = vol[d] if d in vol.columns else pd.Series(np.nan, index=obs.index)
        if kind in {"count", "persons"}:
            cur, r = cur.fillna(0.0), r.fillna(0.0)
        f = pd.DataFrame({"observed": cur, "expected": r.median(axis=1, skipna=True), "v": v})
        f = f.dropna(subset=["observed", "expected"])
        f["delta"] = f["observed"] - f["expected"]
        by_dim = f.groupby(level="dimension")
        totals = by_dim["v"].transform("sum")
        f["volume_share"] = f["v"] / totals.where(totals > 0)
        if additive:
            # each value's expected share of the dimension (the observed share when
            # nothing was expected at all: then every value is new, none stands out)
            exp_total = by_dim["expected"].transform("sum")
            obs_total = by_dim["observed"].transform("sum")
            exp_share = (
                (f["expected"] / exp_total.where(exp_total > 0))
                .fillna(f["observed"] / obs_total.where(obs_total > 0))
                .fillna(0.0)
            )
            move = by_dim["delta"].transform("sum")
            f["impact"] = f["delta"] - exp_share * move
        else:
            share = f["volume_share"].fillna(0.0)
            move = (f["delta"] * share).groupby(level="dimension").transform("sum")
            f["impact"] = share * (f["delta"] - move)
        # values that pushed the KPI the way it moved (per dimension), strongest first;
        # a push under MIN_PUSH of the dimension's move is noise
        f["_push"] = f["impact"] * np.sign(move)
        f = f[(f["_push"] > 0) & (f["_push"] >= MIN_PUSH * move.abs())]
        order = f["_push"].sort_values(ascending=False, kind="stable").index
        f = f.reindex(order).head(top).reset_index()
        f["date"] = d
        f["rank"] = np.arange(1, len(f) + 1)
        out.append(f[cols])
    return pd.concat(out, ignore_index=True) if out else pd.DataFrame({c: [] for c in cols})


def _explain_one(
    wh,
    sc: Scope,
    metric: str,
    dates: Sequence[pd.Timestamp],
    breakdown_value: str | None,
    dimensions: Sequence[str] | None,
    top: int,
) -> pd.DataFrame:
    s = KPIS[metric]
    dims = list(dimensions or s.explain_dims)
    lo = min(dates).date() - timedelta(days=LOOKBACK_DAYS)
    hi = max(dates).date() + timedelta(days=1)
    filters = dict(sc.filters)
    if sc.breakdown and breakdown_value is not None:
        filters[sc.breakdown] = None if breakdown_value == "(none)" else breakdown_value
    sub = Scope(
        lo, hi, min(sc.as_of, sc.local_midnight(hi)), sc.tz, filters, None, dialect=sc.dialect
    )
    if s.event:
        split = _split_counts(wh, sub, lo, s.event, dims)
    else:
        parts = [_split_group(wh, s, d, _kw(sub, lo, breakdown=None)) for d in dims]
        split = pd.concat(parts, ignore_index=True) if parts else pd.DataFrame()
    best = movers(split, dates, s.kind, top)
    best.insert(0, "metric", metric)
    best["unit"] = s.unit
    return best[EXPLAIN_COLUMNS]


def _explain_flagged(wh, sc: Scope, rows: pd.DataFrame, top: int) -> pd.DataFrame:
    """Top movers of every flagged KPI day: one explanation per KPI (and breakdown value)."""
    kpi = rows[rows["dimension"] == TOTAL]
    parts = []
    for (metric, bval), g in kpi.groupby(["metric", "breakdown"], sort=False):
        dates = sorted(pd.to_datetime(g["date"]).unique())
        got = _explain_one(wh, sc, metric, dates, bval if sc.breakdown else None, None, top)
        if len(got):
            got.insert(1, "breakdown", bval)
            parts.append(got)
    return pd.concat(parts, ignore_index=True) if parts else pd.DataFrame()


def explain_text(g: pd.DataFrame) -> str:
    """``dim=value: observed vs expected (+delta); ...`` for the rows of one flagged day."""
    unit = g["unit"].iloc[0]
    bits = []
    for r in g.sort_values("rank").itertuples():
        sign = "+" if r.delta >= 0 else "−"
        d = fmt(abs(r.delta), "pp" if unit == "rate" else unit).lstrip("+")
        bits.append(
            f"{r.dimension}={safe_text(r.value, LABEL_LIMIT)}: {fmt(r.observed, unit)} vs "
            f"{fmt(r.expected, unit)} "
            f"({sign}{d})"
        )
    return "; ".join(bits)


@records_sql
def explain(
    wh,
    metric: str,
    day: str | date,
    *,
    dimensions: Sequence[str] | None = None,
    top: int = 3,
    **scope: Unpack[ScopeArgs],
) -> MetricResult:
    """Which dimension values moved a KPI the most on local day ``day``.

    For each value of each dimension (default: the KPI's own list in :data:`KPIS`, e.g.
    ``model_used``, ``country``, ``plan`` for P95 latency): the KPI that day, its expected
    value (same-weekday median of the previous 4 weeks), ``delta = observed − expected``;
    the ``top`` values ranked by ``|impact|`` (see :func:`movers`). Columns: ``metric,
    date, dimension, value, observed, expected, delta, volume_share, impact, rank, unit``.
    ``filters`` narrow it; a ``breakdown`` is ignored (the dimensions are the split).
    """
    if metric not in KPIS:
        raise ValueError(f"unknown KPI {metric!r}: use {', '.join(KPIS)}")
    when = pd.Timestamp(str(day)[:10])
    scope.setdefault("start", when.date())  # type: ignore[typeddict-item]
    scope.setdefault("end", when.date() + timedelta(days=1))  # type: ignore[typeddict-item]
    sc = replace(resolve(wh, **scope), breakdown=None)
    df = _explain_one(wh, sc, metric, [when], None, dimensions, top)
    unit = KPIS[metric].unit
    delta_unit = "pp" if unit == "rate" else unit
    return MetricResult(
        name="explain",
        title=f"What moved {KPIS[metric].label} on {when:%Y-%m-%d}",
        df=df.reset_index(drop=True),
        definition="observed − same-weekday median of the previous 4 weeks, per dimension value",
        scope=sc,
        units={
            "observed": unit,
            "expected": unit,
            "delta": delta_unit,
            "impact": delta_unit,
            "volume_share": "rate",
        },
        x="value",
        y="delta",
        kind="barh",
        plotter=_plot_movers,
    )


def _plot_movers(res: MetricResult, ax=None, **kw):
    d = res.df.copy()
    d["label"] = d["dimension"] + "=" + d["value"].astype(str)
    unit = res.units.get("delta")
    xlabel = "observed − expected" + ("" if unit in {None, "count", "users"} else f" ({unit})")
    return charts.barh(d, "label", "delta", title=res.title, xlabel=xlabel, unit=unit, ax=ax)


# ------------------------------------------------------------------------------------------
# Validation against the demo's planted incidents
# ------------------------------------------------------------------------------------------

#: Series a planted demo incident may move (:mod:`zantara_nb.demo`); a flag on the incident's
#: day in one of them is a true positive, any other flag a false positive.
INCIDENT_SERIES: dict[str, set[str]] = {
    "latency_regression": {"p95_latency_ms"},
    "error_burst": {"errors", "error_rate"},
    "category_spike": {"messages", "cost_usd"},  # the category, and the totals it lifts
}


def truth_check(df: pd.DataFrame, incidents: dict[str, Any]) -> dict[str, Any]:
    """Recall and precision of flagged rows ``df`` against ``truth.json`` incidents.

    An incident is found when its main series is flagged on its day: P95 latency (latency
    regression), the error count (error burst), the spiking category's message count
    (category spike). Returns ``found, planted, recall, true_positives, false_positives,
    flagged, precision`` (recall/precision None when undefined) and ``missed`` (names).
    """
    n = len(df)
    days = pd.to_datetime(df["date"]).dt.strftime("%Y-%m-%d").to_numpy() if n else np.array([])
    metric = df["metric"].to_numpy() if n else np.array([])
    dim = df["dimension"].to_numpy() if n else np.array([])
    value = df["value"].astype(str).to_numpy() if n else np.array([])
    explained = np.zeros(n, dtype=bool)
    found, planted, missed = 0, 0, []
    for key, affected in INCIDENT_SERIES.items():
        inc = incidents.get(key) or {}
        if not inc.get("planted"):
            continue
        planted += 1
        hit = (days == inc["date"]) & np.isin(metric, list(affected))
        explained |= hit
        if key == "category_spike":
            main = hit & (dim == "query_category") & (value == str(inc.get("category")))
        else:
            main = (
                hit
                & (dim == TOTAL)
                & (metric == ("p95_latency_ms" if key == "latency_regression" else "errors"))
            )
        if main.any():
            found += 1
        else:
            missed.append(key)
    tp = int(explained.sum())
    return {
        "found": found,
        "planted": planted,
        "recall": found / planted if planted else None,
        "true_positives": tp,
        "false_positives": n - tp,
        "flagged": n,
        "precision": tp / n if n else None,
        "missed": missed,
    }


__all__ = [
    "AnomalyResult",
    "DIMENSIONS",
    "FAMILIES",
    "INCIDENT_SERIES",
    "KPIS",
    "MIN_VOLUME",
    "Thresholds",
    "anomalies",
    "anomaly_points",
    "counts_sql",
    "explain",
    "explain_text",
    "floor_scale",
    "movers",
    "score",
    "truth_check",
]
