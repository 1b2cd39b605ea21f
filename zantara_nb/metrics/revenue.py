"""Output metrics (METRICS.md section 3): MRR, MRR movements and NPS.

(Paid conversion lives in :mod:`zantara_nb.metrics.inputs`.)

Definitions (exact)
-------------------
- **Monthly price** of a ``subscription_started`` event: ``price_usd``, divided by 12 when
  ``billing_period`` is ``yearly`` (also ``annual``/``annually``/``year``); a missing price
  counts as 0 (a free plan is a subscription worth 0 MRR).
- **Subscriptions** (one per person at a time, the tracking plan's model: ``plan`` is a
  person property). Each person's ``subscription_started`` / ``subscription_cancelled``
  events are read in time order over all history up to the cut-off (``min(end, as_of)``).
  A start opens a subscription; a start while one is open *replaces* it (a plan change:
  expansion or contraction); a cancel ends the open subscription (its ``plan`` property is
  not used for pairing); a cancel with nothing open is ignored. A cancel and a start of
  the same person at the same moment are a plan change (the cancel is dropped, the start
  replaces the subscription); other ties are ordered cancel first, then by uuid.
- **MRR(d)** (:func:`mrr`): sum of the monthly prices of subscriptions active at the end of
  local day d, i.e. started on or before d and not cancelled on or before d. Built as
  +price / −price steps at the subscription ends and a running sum over the days (history
  before the range is folded into the first day). A day that ends after ``as_of`` is not
  observed: its MRR is missing (``extra['mrr_as_of']`` has the MRR at the cut-off
  ``min(end, as_of)`` itself).
- **Movements** (:func:`mrr_movements`), event-based: every subscription event changes a
  person's MRR from ``before`` to ``after``; the change is
  *new* (before 0, after > 0, the person never paid before), *reactivation* (before 0,
  after > 0, paid before: churned or downgraded to free earlier), *expansion* (both > 0,
  after > before), *contraction* (both > 0, after < before), *churned* (before > 0,
  after 0: a cancel or a switch to a free plan; negative). ``net_new = new + expansion +
  contraction + churned + reactivation`` and ``ending_mrr = starting_mrr + net_new``
  exactly (``starting_mrr`` is MRR(d) of the day before the period). A start and a cancel
  in the same month show as new and churned. Periods (``month`` by default, or ``week``,
  ``day``) are clipped to the range; a period that ends after ``as_of`` shows the
  movements so far with ``complete`` False and ``ending_mrr`` at ``as_of``; a period that
  starts after ``as_of`` is missing.
- **NPS** (:func:`nps`): among ``nps_submitted`` events in the range (``score`` 0–10), the
  latest answer per person (per ``by`` bucket if given; ties by uuid) counts:
  ``NPS = 100 × (promoters − detractors) / respondents`` with promoters 9–10, passives
  7–8, detractors 0–6. The 95% interval is the *adjusted Wald* interval for a difference of
  two multinomial shares (Rocks 2016): ``n' = n + 3``, ``p' = (P + 0.75) / n'``,
  ``d' = (D + 0.75) / n'``, ``c = p' − d'``, ``se = sqrt((p' + d' − c²) / n')``, CI
  ``100 × (c ± 1.96·se)`` clipped to [−100, 100]. Unlike the plain Wald interval it does
  not collapse to a point when every answer is a promoter. Buckets of ``by`` that end
  after ``as_of`` are missing.

Segments (filters and breakdown)
--------------------------------
Person properties (``plan``, ``country``...) split and filter by the person's latest value.
Event properties apply to the ``subscription_started`` event: a subscription belongs to
the segment of the start that opened it, and its cancel follows it (cancels do not carry
``billing_period`` etc.). When a plan change moves a person between segments, MRR leaves
the old segment and enters the new one; that is labelled expansion/contraction in those
segments (churned only when the person's total MRR drops to 0, new/reactivation only when
it rises from 0), so the movement identity holds in every segment. ``plan`` in filters or
breakdown is the person's *current* plan (a scope rule); the subscription's own plan is
not reachable through the scope.
"""

from __future__ import annotations

import math
from datetime import timedelta

import pandas as pd
from typing_extensions import Unpack

from ..display.result_charts import plot_bars, plot_line
from ..warehouse.scope import Scope, ScopeArgs, resolve
from ..warehouse.sqltrace import records_sql
from .health import incomplete
from .results import MetricResult
from .stats import Z95
from .targets import target_value

_YEARLY = "('yearly', 'annual', 'annually', 'year')"
MOVEMENTS = ("new", "expansion", "contraction", "churned", "reactivation")


# ------------------------------------------------------------------------------------------
# Subscription movements: one SQL definition shared by mrr() and mrr_movements()
# ------------------------------------------------------------------------------------------


def _moves_sql(sc: Scope) -> str:
    """CTEs (no WITH) ending in ``moves``: one row per (subscription event, segment).

    Columns of ``moves``: person_id, timestamp, day (local), seg (breakdown value),
    seg_before / seg_after (the person's MRR in this segment before / after the event),
    n_before / n_after (paying subscriptions in the segment), delta, and the five movement
    amounts (NULL when not that kind).
    """
    join = "LEFT JOIN persons p ON p.person_id = e.person_id" if sc.needs_persons() else ""
    is_start = "e.event = 'subscription_started'"
    price = (
        f"CASE WHEN {is_start} THEN coalesce(e.price_usd, 0) / "
        f"CASE WHEN lower(coalesce(e.billing_period, '')) IN {_YEARLY} THEN 12.0 ELSE 1.0 END "
        "ELSE 0.0 END"
    )
    order = (
        "PARTITION BY person_id ORDER BY timestamp, "
        "CASE WHEN event = 'subscription_cancelled' THEN 0 ELSE 1 END, uuid"
    )
    return f"""
    raw AS (
        SELECT e.person_id, e.event, e.timestamp, e.uuid,
               {price} AS after_price,
               ({is_start}) AND ({sc.filter_sql("e", "p")}) AS after_in,
               CASE WHEN {is_start} THEN {sc.breakdown_sql("e", "p")} END AS after_seg,
               {sc.bucket("day", "e.timestamp")} AS day
        FROM events e {join}
        WHERE e.event IN ('subscription_started', 'subscription_cancelled')
          AND {sc.time_bounds_sql("e.timestamp", start=False)}
    ),
    sub AS (
        -- a cancel at the same moment as a start of the same person is a plan change:
        -- drop the cancel, the start replaces the subscription
        SELECT * FROM (
            SELECT *,
                   coalesce(event = 'subscription_cancelled'
                            AND lead(event) OVER ({order}) = 'subscription_started'
                            AND lead(timestamp) OVER ({order}) = timestamp, FALSE) AS is_change
            FROM raw
        ) r WHERE NOT is_change
    ),
    seq AS (
        SELECT *,
               coalesce(lag(after_price) OVER ({order}), 0.0) AS before_price,
               coalesce(lag(after_in) OVER ({order}), FALSE) AS before_in,
               lag(after_seg) OVER ({order}) AS before_seg,
               coalesce(max(CASE WHEN after_price > 0 THEN 1 ELSE 0 END) OVER (
                   {order} ROWS BETWEEN UNBOUNDED PRECEDING AND 1 PRECEDING), 0) = 1
                   AS paid_before
        FROM sub
    ),
    seg_rows AS (
        -- the segment of the subscription open before the event
        SELECT person_id, timestamp, day, before_seg AS seg,
               before_price AS seg_before,
               CASE WHEN after_in AND after_seg IS NOT DISTINCT FROM before_seg
                    THEN after_price ELSE 0.0 END AS seg_after,
               before_price AS tot_before, after_price AS tot_after, paid_before
        FROM seq WHERE before_in
        UNION ALL
        -- the segment of the subscription the event opens, when it is another one
        SELECT person_id, timestamp, day, after_seg AS seg,
               0.0 AS seg_before, after_price AS seg_after,
               before_price AS tot_before, after_price AS tot_after, paid_before
        FROM seq
        WHERE after_in AND NOT (before_in AND after_seg IS NOT DISTINCT FROM before_seg)
    ),
    moves AS (
        SELECT person_id, timestamp, day, seg, seg_before, seg_after,
               CASE WHEN seg_before > 0 THEN 1 ELSE 0 END AS n_before,
               CASE WHEN seg_after > 0 THEN 1 ELSE 0 END AS n_after,
               seg_after - seg_before AS delta,
               CASE WHEN seg_before = 0 AND seg_after > 0 AND tot_before = 0
                         AND NOT paid_before THEN seg_after END AS new,
               CASE WHEN seg_before = 0 AND seg_after > 0 AND tot_before = 0
                         AND paid_before THEN seg_after END AS reactivation,
               CASE WHEN seg_after > seg_before AND NOT (seg_before = 0 AND tot_before = 0)
                    THEN seg_after - seg_before END AS expansion,
               CASE WHEN seg_after < seg_before AND tot_after > 0
                    THEN seg_after - seg_before END AS contraction,
               CASE WHEN seg_after < seg_before AND tot_after = 0
                    THEN seg_after - seg_before END AS churned
        FROM seg_rows
    )"""


def _segments_sql(sc: Scope) -> str:
    """Segments shown: 'all' without a breakdown, else every value seen in ``moves``."""
    if sc.breakdown:
        return "segs AS (SELECT DISTINCT seg FROM moves)"
    return "segs AS (SELECT 'all' AS seg)"


def _as_of_local_date(sc: Scope):
    return sc.as_of.astimezone(sc.zone).date()


# ------------------------------------------------------------------------------------------
# MRR
# ------------------------------------------------------------------------------------------


@records_sql
def mrr(wh, **scope: Unpack[ScopeArgs]) -> MetricResult:
    """Monthly recurring revenue at the end of each local day of the range (USD).

    Columns: ``day, [breakdown], mrr, paying`` (paying = subscriptions with a price > 0,
    one per person). Yearly plans count price / 12. Days not fully observed are missing.
    """
    sc = resolve(wh, default_window="90d", **scope)
    cols = ["day", "breakdown", "mrr", "paying"]
    units = {"mrr": "usd", "paying": "users"}
    if sc.days <= 0:
        df = pd.DataFrame({c: [] for c in cols})
        return _mrr_result(df, sc, units, None)
    sql = f"""
        WITH {_moves_sql(sc)},
        {_segments_sql(sc)},
        daily AS (
            SELECT greatest(day, {sc.date_sql(sc.start)}) AS day, seg,
                   sum(delta) AS d_mrr, sum(n_after - n_before) AS d_n
            FROM moves GROUP BY ALL
        ),
        days AS ({sc.d.calendar(sc.start, sc.end)})
        SELECT d.day, s.seg AS breakdown,
               sum(coalesce(x.d_mrr, 0)) OVER w AS mrr,
               CAST(sum(coalesce(x.d_n, 0)) OVER w AS BIGINT) AS paying
        FROM days d CROSS JOIN segs s
        LEFT JOIN daily x ON x.day = d.day AND x.seg IS NOT DISTINCT FROM s.seg
        WINDOW w AS (PARTITION BY s.seg ORDER BY d.day
                     ROWS BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW)
        ORDER BY breakdown, d.day
    """
    df = wh.sql(sql)
    df["day"] = pd.to_datetime(df["day"]).astype("datetime64[us]")
    df["mrr"] = df["mrr"].astype("float64").round(10)
    df["paying"] = df["paying"].astype("float64")
    if sc.breakdown and not df.empty:
        # leave out segments that never had MRR in the range (e.g. long churned)
        keep = df.groupby("breakdown")["mrr"].transform(lambda s: (s.abs() > 1e-9).any())
        df = df[keep]
    # MRR at the cut-off min(end, as_of): every event before it is folded into the last day.
    last = df[df["day"] == df["day"].max()]["mrr"] if not df.empty else pd.Series([0.0])
    at_cutoff = round(float(last.sum()), 10)
    unobserved = df["day"].dt.date >= _as_of_local_date(sc)
    df.loc[unobserved, ["mrr", "paying"]] = float("nan")
    if not df["paying"].isna().any():
        df["paying"] = df["paying"].astype("int64")
    df = df.sort_values(["day", "breakdown"], kind="stable").reset_index(drop=True)
    return _mrr_result(df[cols], sc, units, at_cutoff)


def _mrr_result(df: pd.DataFrame, sc: Scope, units: dict, at_as_of) -> MetricResult:
    if not sc.breakdown:
        df = df.drop(columns="breakdown")
    return MetricResult(
        name="mrr",
        title="MRR",
        df=df.reset_index(drop=True),
        definition="sum of monthly prices of subscriptions active at the end of each day "
        "(yearly / 12)",
        scope=sc,
        units=units,
        x="day",
        y="mrr",
        kind="line",
        hue="breakdown" if sc.breakdown else None,
        extra={"mrr_as_of": at_as_of, "target_usd": target_value("mrr_usd"), "ylabel": "MRR (USD)"},
        plotter=plot_line,
    )


@records_sql
def mrr_movements(wh, *, period: str = "month", **scope: Unpack[ScopeArgs]) -> MetricResult:
    """MRR movements per ``period`` (month, week or day) of the range.

    Columns: ``<period>, [breakdown], period_start, period_end, complete, starting_mrr,
    new, expansion, contraction, churned, reactivation, net_new, ending_mrr`` (USD;
    contraction and churned are negative). ``ending_mrr = starting_mrr + net_new``.
    Without an explicit ``start`` the range starts on the first day of a period.
    """
    if period not in {"month", "week", "day"}:
        raise ValueError(f"period {period!r}: use 'month', 'week' or 'day'")
    sc = resolve(wh, default_window="6m", **scope)
    if "start" not in scope and sc.days > 0:
        first = sc.start.replace(day=1) if period == "month" else sc.start
        if period == "week":
            first = sc.start - timedelta(days=sc.start.weekday())
        sc = sc.with_range(first, sc.end)
    cols = [
        period,
        "breakdown",
        "period_start",
        "period_end",
        "complete",
        "starting_mrr",
        *MOVEMENTS,
        "net_new",
        "ending_mrr",
    ]
    units = {c: "usd" for c in ["starting_mrr", *MOVEMENTS, "net_new", "ending_mrr"]}
    if sc.days <= 0:
        return _movements_result(pd.DataFrame({c: [] for c in cols}), sc, period, units)
    start_lit = sc.date_sql(sc.start)
    sums = ",\n".join(f"coalesce(sum({m}), 0) AS {m}" for m in MOVEMENTS)
    sql = f"""
        WITH {_moves_sql(sc)},
        {_segments_sql(sc)},
        init AS (SELECT seg, sum(delta) AS mrr0 FROM moves WHERE day < {start_lit} GROUP BY seg),
        per AS (
            SELECT {sc.bucket(period, "timestamp")} AS p, seg, {sums}, sum(delta) AS net_new
            FROM moves WHERE day >= {start_lit} GROUP BY ALL
        ),
        periods AS (
            SELECT DISTINCT {sc.d.date_bucket(period, "c.day")} AS p
            FROM ({sc.d.calendar(sc.start, sc.end)}) c
        )
        SELECT t.p AS {period}, s.seg AS breakdown,
               coalesce(i.mrr0, 0) + coalesce(sum(coalesce(x.net_new, 0)) OVER (
                   PARTITION BY s.seg ORDER BY t.p
                   ROWS BETWEEN UNBOUNDED PRECEDING AND 1 PRECEDING), 0) AS starting_mrr,
               {", ".join(f"coalesce(x.{m}, 0) AS {m}" for m in MOVEMENTS)},
               coalesce(x.net_new, 0) AS net_new
        FROM periods t CROSS JOIN segs s
        LEFT JOIN per x ON x.p = t.p AND x.seg IS NOT DISTINCT FROM s.seg
        LEFT JOIN init i ON i.seg IS NOT DISTINCT FROM s.seg
        ORDER BY breakdown, t.p
    """
    df = wh.sql(sql)
    money = ["starting_mrr", *MOVEMENTS, "net_new"]
    for c in money:
        df[c] = df[c].astype("float64").round(10)
    df["ending_mrr"] = (df["starting_mrr"] + df["net_new"]).round(10)
    p = pd.to_datetime(df[period]).astype("datetime64[us]")
    df[period] = p
    step = (
        pd.DateOffset(months=1)
        if period == "month"
        else pd.Timedelta(days=7 if period == "week" else 1)
    )
    df["period_start"] = p.clip(lower=pd.Timestamp(sc.start)).dt.date
    df["period_end"] = (p + step).clip(upper=pd.Timestamp(sc.end)).dt.date
    as_of_local = pd.Timestamp(sc.as_of.astimezone(sc.zone).replace(tzinfo=None))
    df["complete"] = pd.to_datetime(df["period_end"]) <= as_of_local
    unobserved = pd.to_datetime(df["period_start"]) >= as_of_local
    df.loc[unobserved, [*money, "ending_mrr"]] = float("nan")
    if sc.breakdown and not df.empty:
        active = (df[[*money, "ending_mrr"]].abs() > 1e-9).any(axis=1)
        keep = active.groupby(df["breakdown"]).transform("any")
        df = df[keep]
    df = df.sort_values([period, "breakdown"], kind="stable").reset_index(drop=True)
    return _movements_result(df[cols], sc, period, units)


def _movements_result(df: pd.DataFrame, sc: Scope, period: str, units: dict) -> MetricResult:
    if not sc.breakdown:
        df = df.drop(columns="breakdown")
    return MetricResult(
        name="mrr_movements",
        title=f"MRR movements by {period}",
        df=df.reset_index(drop=True),
        definition="new, expansion, contraction, churned, reactivation; "
        "ending = starting + net new",
        scope=sc,
        units=units,
        x=period,
        y=list(MOVEMENTS),
        kind="bar",
        hue=None,
        extra={"period": period},
        plotter=_plot_movements,
    )


def _plot_movements(res: MetricResult, ax=None, **kw):
    """Stacked bars: positive movements up, contraction and churn down (house colours)."""
    import matplotlib.pyplot as plt

    from ..display import charts

    df = res.df
    period = res.extra["period"]
    if "breakdown" in df:
        df = df.groupby(period, as_index=False)[list(MOVEMENTS)].sum(min_count=1)
    if ax is None:
        _, ax = plt.subplots(figsize=charts.FIGSIZE)
    labels = pd.to_datetime(df[period]).dt.strftime("%Y-%m" if period == "month" else "%m-%d")
    colours = {
        "new": charts.PALETTE[0],
        "expansion": charts.UP,
        "reactivation": charts.PALETTE[4],
        "contraction": charts.PALETTE[1],
        "churned": charts.DOWN,
    }
    up = pd.Series(0.0, index=df.index)
    down = pd.Series(0.0, index=df.index)
    for m in MOVEMENTS:
        v = df[m].fillna(0.0)
        base = up if m in {"new", "expansion", "reactivation"} else down
        ax.bar(labels, v, bottom=base, label=m, color=colours[m])
        if m in {"new", "expansion", "reactivation"}:
            up = up + v
        else:
            down = down + v
    ax.axhline(0, color="#333333", lw=0.8)
    ax.set_title(res.title)
    ax.set_xlabel(period)
    ax.set_ylabel("MRR change (USD)")
    f = charts.axis_formatter("usd")
    if f is not None:
        ax.yaxis.set_major_formatter(f)
    ax.legend(loc="upper left", bbox_to_anchor=(1.0, 1.0))
    return ax


# ------------------------------------------------------------------------------------------
# NPS
# ------------------------------------------------------------------------------------------


def nps_interval(promoters: int, detractors: int, n: int) -> tuple[float | None, float | None]:
    """Adjusted-Wald 95% interval of NPS (points, −100..100); (None, None) when n = 0."""
    if n <= 0:
        return None, None
    n2 = n + 3.0
    p = (promoters + 0.75) / n2
    d = (detractors + 0.75) / n2
    centre = p - d
    se = math.sqrt(max(p + d - centre * centre, 0.0) / n2)
    lo = max(-1.0, centre - Z95 * se)
    hi = min(1.0, centre + Z95 * se)
    return 100 * lo, 100 * hi


@records_sql
def nps(wh, *, by: str | None = None, **scope: Unpack[ScopeArgs]) -> MetricResult:
    """Net Promoter Score: % promoters (9–10) − % detractors (0–6), latest answer per person.

    Columns: ``[by], [breakdown], respondents, promoters, passives, detractors,
    pct_promoters, pct_passives, pct_detractors, nps, ci_low, ci_high`` (NPS in points,
    −100..100). ``by`` (``week``, ``month``...) takes the latest answer per person per
    bucket. One row per group; an empty range gives an empty table.
    """
    if by is not None and by not in {"day", "week", "month"}:
        raise ValueError(f"by={by!r}: use 'day', 'week', 'month' or None")
    sc = resolve(wh, default_window="90d", **scope)
    bucket = f"{sc.bucket(by, 'timestamp')} AS {by}, " if by else ""
    latest = sc.d.row_key("timestamp", "uuid")
    sql = f"""
        WITH s AS ({
        sc.events_cte(
            "nps_submitted",
            columns="e.person_id, e.timestamp, e.uuid, e.score",
            extra_where="e.score BETWEEN 0 AND 10",
        )
    }),
        latest AS (
            SELECT {bucket}person_id,
                   {sc.d.arg_max("score", latest)} AS score,
                   {sc.d.arg_max("breakdown", latest)} AS breakdown
            FROM s GROUP BY ALL
        )
        SELECT {by + ", " if by else ""}breakdown,
               count(*) AS respondents,
               {sc.d.count_if("score >= 9")} AS promoters,
               {sc.d.count_if("score BETWEEN 7 AND 8")} AS passives,
               {sc.d.count_if("score <= 6")} AS detractors
        FROM latest GROUP BY ALL
        ORDER BY ALL
    """
    df = wh.sql(sql) if sc.days > 0 else pd.DataFrame()
    counts = ["respondents", "promoters", "passives", "detractors"]
    cols = ([by] if by else []) + ["breakdown", *counts]
    if df.empty:
        df = pd.DataFrame({c: [] for c in cols})
    for c in counts:
        df[c] = df[c].astype("int64")
    if by:
        df[by] = pd.to_datetime(df[by]).astype("datetime64[us]")
    n = df["respondents"].astype("float64")
    df["pct_promoters"] = df["promoters"] / n
    df["pct_passives"] = df["passives"] / n
    df["pct_detractors"] = df["detractors"] / n
    df["nps"] = 100 * (df["pct_promoters"] - df["pct_detractors"])
    ci = [
        nps_interval(int(p), int(d), int(k))
        for p, d, k in zip(df["promoters"], df["detractors"], df["respondents"], strict=True)
    ]
    df["ci_low"] = [c[0] for c in ci]
    df["ci_high"] = [c[1] for c in ci]
    for c in ("pct_promoters", "pct_passives", "pct_detractors", "nps", "ci_low", "ci_high"):
        df[c] = df[c].astype("float64")
    if by:
        unobserved = incomplete(sc, by, df[by])
        df.loc[unobserved, df.columns[df.columns.get_loc("breakdown") + 1 :]] = float("nan")
    if not sc.breakdown:
        df = df.drop(columns="breakdown")
    extra: dict = {"target": target_value("nps"), "ci": ("ci_low", "ci_high")}
    if len(df) == 1:
        row = df.iloc[0]
        extra.update(
            value=None if pd.isna(row["nps"]) else float(row["nps"]),
            respondents=int(row["respondents"]) if not pd.isna(row["respondents"]) else None,
        )
    return MetricResult(
        name="nps",
        title="NPS",
        df=df.reset_index(drop=True),
        definition="% promoters (9–10) − % detractors (0–6), latest answer per person; "
        "95% adjusted-Wald CI",
        scope=sc,
        units={
            "respondents": "users",
            "promoters": "users",
            "passives": "users",
            "detractors": "users",
            "pct_promoters": "rate",
            "pct_passives": "rate",
            "pct_detractors": "rate",
            "nps": "score",
            "ci_low": "score",
            "ci_high": "score",
        },
        x=by if by else ("breakdown" if sc.breakdown else None),
        y="nps",
        kind="line" if by else "barh",
        hue="breakdown" if (by and sc.breakdown) else None,
        extra=extra,
        plotter=plot_line if by else plot_bars,
    )
