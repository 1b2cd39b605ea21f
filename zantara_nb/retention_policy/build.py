"""Computing the roll-ups of local days ``[start, end)`` from raw events.

Active users and MRR come from the metric functions themselves (``active_users``,
``mrr``), and cohort cells from ``retention``: a rolled-up number is exactly the number
the report showed while the raw events were there. The rest are plain aggregates per
local day. Everything returned is counts, sums or percentiles: no person identifier.

Each builder returns a DataFrame with the columns of its table
(:data:`zantara_nb.warehouse.rollups.TABLES`).
"""

from __future__ import annotations

from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pandas as pd

from ..warehouse.rollups import TABLES


def _midnight(d: date, tz: str) -> datetime:
    return datetime.combine(d, time(0), tzinfo=ZoneInfo(tz))


def _columns(name: str) -> list[str]:
    return [c for c, _ in TABLES[name][0]]


def active_daily(wh, tz: str, start: date, end: date) -> pd.DataFrame:
    """DAU, WAU (7 days), MAU (30 days) of the default active event, per local day."""
    from ..metrics.active import active_users

    if start >= end:
        return pd.DataFrame(columns=_columns("rollup_active_daily"))
    res = active_users(wh, start=start, end=end, tz=tz, as_of=_midnight(end, tz))
    df = res.df[["day", "dau", "wau", "mau"]].copy()
    df["day"] = pd.to_datetime(df["day"]).dt.date
    df.insert(1, "tz", tz)
    for c in ("dau", "wau", "mau"):
        df[c] = df[c].astype("int64")
    return df[_columns("rollup_active_daily")]


def event_counts(wh, tz: str, start: date, end: date) -> pd.DataFrame:
    """Events per local day, event, query category and country."""
    d = wh.dialect
    day = d.bucket("day", "timestamp", tz)
    df = wh.sql(
        f"""
        SELECT {day} AS day, event, query_category, country, count(*) AS events
        FROM events
        WHERE timestamp >= {d.ts_lit(_midnight(start, tz))}
          AND timestamp < {d.ts_lit(_midnight(end, tz))}
        GROUP BY {day}, event, query_category, country
        """
    )
    df["day"] = pd.to_datetime(df["day"]).dt.date
    df.insert(1, "tz", tz)
    return df[_columns("rollup_event_counts")]


def daily(wh, tz: str, start: date, end: date) -> pd.DataFrame:
    """Per local day: messages, replies and their latency p50/p95/p99 (``p95_latency``:
    ``message_received`` and ``$ai_generation``), AI cost, ratings, errors, MRR (``mrr``)."""
    from ..metrics.health import p95_latency
    from ..metrics.revenue import mrr

    cols = _columns("rollup_daily")
    if start >= end:
        return pd.DataFrame(columns=cols)
    d = wh.dialect
    day = d.bucket("day", "timestamp", tz)
    kw = {"start": start, "end": end, "tz": tz, "as_of": _midnight(end, tz)}
    counts = wh.sql(
        f"""
        SELECT {day} AS day,
               {d.count_if("event = 'message_sent'")} AS messages,
               sum(response_cost_usd) AS cost_usd,
               {d.count_if("event = 'feedback_given' AND rating = 1")} AS ratings_up,
               {d.count_if("event = 'feedback_given' AND rating = -1")} AS ratings_down,
               {d.count_if("event = 'error_occurred'")} AS errors
        FROM events
        WHERE timestamp >= {d.ts_lit(_midnight(start, tz))}
          AND timestamp < {d.ts_lit(_midnight(end, tz))}
        GROUP BY {day}
        """
    )
    counts["day"] = pd.to_datetime(counts["day"]).dt.date
    df = pd.DataFrame({"day": [start + timedelta(days=i) for i in range((end - start).days)]})
    df = df.merge(counts, on="day", how="left")
    for q, name in ((0.5, "latency_p50_ms"), (0.95, "latency_p95_ms"), (0.99, "latency_p99_ms")):
        lat = p95_latency(wh, by="day", quantile=q, **kw).df
        lat = lat.assign(day=pd.to_datetime(lat["day"]).dt.date)
        if "replies" not in df.columns:
            df = df.merge(lat[["day", "replies"]], on="day", how="left")
        df = df.merge(
            lat[["day", "latency_ms"]].rename(columns={"latency_ms": name}), on="day", how="left"
        )
    for c in ("messages", "replies", "ratings_up", "ratings_down", "errors"):
        df[c] = df[c].fillna(0).astype("int64")
    m = mrr(wh, **kw).df[["day", "mrr"]]
    m = m.assign(day=pd.to_datetime(m["day"]).dt.date).rename(columns={"mrr": "mrr_usd"})
    df = df.merge(m, on="day", how="left")
    df.insert(1, "tz", tz)
    return df[cols]


def cohorts(
    wh, tz: str, unit: str, first: date, freeze_from: date | None, freeze_until: date, as_of: date
) -> pd.DataFrame:
    """Retention cells (the reports' default: ``user_signed_up`` cohorts, ``message_sent``
    returns, calendar periods) whose return period starts in ``[freeze_from,
    freeze_until)``: the cells that lose raw events in this run. Cohort sizes (k = 0) of
    cohorts starting before ``freeze_until`` too."""
    from ..metrics.retention import add_periods, period_floor, retention

    lo = period_floor(first, unit)
    hi = period_floor(freeze_until, unit)
    if freeze_until > hi:
        hi = add_periods(hi, unit, 1)
    n = 0
    p = lo
    while p < hi:
        p = add_periods(p, unit, 1)
        n += 1
    if n == 0:
        return pd.DataFrame(columns=_columns("rollup_cohorts"))
    res = retention(wh, period=unit, periods=n, start=lo, end=hi, tz=tz, as_of=_midnight(as_of, tz))
    df = res.df
    df = df[df["observed"]].copy()
    df["cohort"] = pd.to_datetime(df["cohort"]).dt.date
    df["k"] = df["period"].astype(int)
    starts = [add_periods(c, unit, k) for c, k in zip(df["cohort"], df["k"], strict=True)]
    df["p_start"] = starts
    keep = df["p_start"] < freeze_until
    if freeze_from is not None:
        keep &= df["p_start"] >= freeze_from
    keep |= (df["k"] == 0) & (df["cohort"] < freeze_until)
    df = df[keep]
    out = pd.DataFrame(
        {
            "unit": unit,
            "tz": tz,
            "cohort": df["cohort"],
            "k": df["k"].astype("int32"),
            "cohort_size": df["cohort_size"].astype("int64"),
            "retained": df["retained"].astype("int64"),
        }
    )
    return out.reset_index(drop=True)


def funnels(
    wh, tz: str, first: date, freeze_from: date | None, freeze_until: date, as_of: date
) -> pd.DataFrame:
    """The seed funnel (landing → signup → first query → D7 → paid) per weekly cohort of
    its entries, for the weeks that start before ``freeze_until`` (and at or after
    ``freeze_from``): persons at each step, as ``funnel()`` counts them."""
    from ..metrics.funnels import SEED_FUNNEL, funnel
    from ..metrics.retention import add_periods, period_floor

    cols = _columns("rollup_funnels")
    week = period_floor(first, "week")
    out = []
    while week < freeze_until:
        if freeze_from is None or week >= freeze_from:
            end = add_periods(week, "week", 1)
            steps = funnel(
                wh, SEED_FUNNEL, start=week, end=end, tz=tz, as_of=_midnight(as_of, tz)
            ).steps
            for i, (name, n) in enumerate(zip(steps["name"], steps["persons"], strict=True)):
                out.append(("week", tz, week, i + 1, str(name), int(0 if pd.isna(n) else n)))
        week = add_periods(week, "week", 1)
    return pd.DataFrame(out, columns=cols)
