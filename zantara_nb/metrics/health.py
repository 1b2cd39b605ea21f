"""Health metrics (METRICS.md section 4): latency, errors, cost, satisfaction, LLM usage.

Every function takes the common scope keywords (``start``, ``end``, ``as_of``, ``window``,
``tz``, ``filters``, ``breakdown``; see :mod:`zantara_nb.warehouse.scope`) and returns a
:class:`~zantara_nb.metrics.results.MetricResult` whose ``df`` has one row per time bucket (when
``by`` is a time unit) and per breakdown value.

Definitions (exact)
-------------------
- **P95 latency** (:func:`p95_latency`): ``quantile_cont(response_latency_ms, q)`` with
  linear interpolation between order statistics (type 7, numpy's default; ClickHouse
  ``quantileExactInclusive``). ``response_latency_ms`` is the typed column the loader fills
  from ``message_received.response_latency_ms`` (ms) or from ``$ai_generation.$ai_latency``
  (seconds, multiplied by 1000 at load time). Events without a latency are left out.
- **Error rate** (:func:`error_rate`): ``error_occurred`` count / ``message_sent`` count, both
  shown. The 95% Wilson interval treats it as a share (each message failed or not), which
  holds while errors ≤ messages; when a bucket has more errors than messages (errors not
  tied to a message, e.g. page errors) the value is still ``errors / messages`` but the
  interval is left empty. No messages: the rate is missing, never 0%.
- **Cost per 1K queries** (:func:`cost_per_1k`): ``1000 × sum(response_cost_usd) /
  count(message_received)``. Replies without a cost count in the denominator (the seed's
  ``sum * 1000 / count``); when no reply in a bucket has a cost the cost is missing.
- **Cost per active user** (:func:`cost_per_active_user`): the same cost sum divided by the
  persons with at least one active event (default ``message_sent``) in the bucket.
- **Satisfaction** (:func:`satisfaction`): ``feedback_given.rating`` in {+1, −1} (other values
  ignored): share positive with a Wilson interval (seed target 70%), and net score = mean
  rating = ``2 × share − 1`` in [−1, 1], whose interval is the Wilson interval mapped the same
  way (``2·low − 1``, ``2·high − 1``).
- **LLM usage by model** (:func:`llm_usage`): per ``model_used`` (typed column filled from
  ``model_used`` or ``$ai_model``): queries, input/output tokens, cost, cost per 1K, P50/P95
  latency, and error rate from ``$ai_generation.$ai_is_error`` only.
- **Errors per hour** (:func:`hourly_errors`): ``error_occurred`` count per local hour, with the
  maximum in ``extra`` (seed alert: more than 100 errors in any hour).

Choices METRICS.md leaves open
------------------------------
- **Sources of replies.** ``source="both"`` (default): every reply is either a
  ``message_received`` or a PostHog ``$ai_generation`` (METRICS.md section 4 reads latency from
  both, ``$ai_latency`` seconds converted to ms at load). ZANTARA tracks each reply with one of
  them (the demo's ``gpt-4o-mini`` replies exist only as ``$ai_generation``). An app that
  tracks *both* events for one reply would be counted twice: pass
  ``source="message_received"`` (the seed's narrow definition) or ``"$ai_generation"`` then.
- **Error rate by model.** ``error_occurred`` carries no model, so the per-model error rate
  comes from ``$ai_generation`` events only (``$ai_is_error`` missing = not an error); for
  a model seen only in ``message_received`` it is missing.
- **Satisfaction by a message property.** ``feedback_given`` carries only ``message_id`` and
  ``rating``; ``by``, ``breakdown`` or ``filters`` on ``query_category``, ``query_language``,
  ``query_complexity``, ``query_intent`` (from ``message_sent``) or ``model_used``,
  ``sources_count`` (from ``message_received``) use the feedback event's own value when it
  has one, else the value of the message with the same ``message_id`` (sent before the
  cut-off and at most 30 days before the range start, which bounds the scan; duplicates
  resolved by the smallest value).
- **Time buckets** are local days/weeks (Monday)/months/hours of ``tz``, clipped to the range.
  Every bucket of the range is listed (counts 0, values missing when there is no data). A
  bucket that ends after ``as_of`` is not fully observed: all its numbers are missing. With
  ``by=None`` the whole range is one bucket, observed up to ``as_of``.
- **Breakdown** values are those of each event (person properties: the person's latest);
  metrics mixing two events (error rate, cost per active user) split each event by its own
  value, so split by a property both events carry.
"""

from __future__ import annotations

import itertools
from datetime import datetime, timedelta
from typing import Literal

import pandas as pd
from typing_extensions import Unpack

from ..display.result_charts import plot_bars, plot_line
from ..warehouse.scope import PERSON_FILTER_KEYS, Scope, ScopeArgs, resolve
from ..warehouse.sqltrace import records_sql
from .results import MetricResult
from .stats import add_rate as add_wilson
from .targets import target_value

TIME_UNITS = ("hour", "day", "week", "month")
Source = Literal["message_received", "$ai_generation", "both"]
_SOURCES: dict[str, tuple[str, ...]] = {
    "message_received": ("message_received",),
    "$ai_generation": ("$ai_generation",),
    "both": ("message_received", "$ai_generation"),
}
#: Properties of the exchange a feedback can borrow from its message (see module docstring).
SENT_KEYS = ("query_category", "query_language", "query_complexity", "query_intent")
RECEIVED_KEYS = ("model_used", "sources_count")
#: How far before the range a feedback's message is looked up (days).
LOOKBACK_DAYS = 30


# ------------------------------------------------------------------------------------------
# Shared plumbing
# ------------------------------------------------------------------------------------------


def _sources(source: str) -> tuple[str, ...]:
    try:
        return _SOURCES[source]
    except KeyError:
        raise ValueError(
            f"source {source!r}: use 'message_received', '$ai_generation' or 'both'"
        ) from None


def _check_by(by: str | None) -> None:
    if by is not None and by not in TIME_UNITS:
        raise ValueError(f"by={by!r}: use one of {', '.join(TIME_UNITS)} or None")


def _keys_sql(scope: Scope, by: str | None, col: str = "timestamp") -> str:
    """SELECT list of the grouping keys: the time bucket (if any) and the breakdown."""
    keys = [f"{scope.bucket(by, col)} AS {by}"] if by else []
    keys.append("breakdown")
    return ", ".join(keys)


def _as_of_local(scope: Scope) -> datetime:
    return scope.as_of.astimezone(scope.zone).replace(tzinfo=None)


def _step(unit: str) -> pd.DateOffset | timedelta:
    return {
        "hour": timedelta(hours=1),
        "day": timedelta(days=1),
        "week": timedelta(days=7),
        "month": pd.DateOffset(months=1),
    }[unit]


def buckets(scope: Scope, unit: str) -> pd.DatetimeIndex:
    """Local bucket starts (naive) covering ``[start, end)``: days, Monday weeks, months, hours."""
    start = pd.Timestamp(scope.start)
    last = pd.Timestamp(scope.end) - timedelta(days=1)
    if scope.days <= 0:
        return pd.DatetimeIndex([]).as_unit("us")
    if unit == "hour":
        idx = pd.date_range(start, pd.Timestamp(scope.end), freq="h", inclusive="left")
    elif unit == "day":
        idx = pd.date_range(start, last, freq="D")
    elif unit == "week":
        idx = pd.date_range(start - timedelta(days=start.weekday()), last, freq="7D")
    else:
        idx = pd.date_range(start.replace(day=1), last, freq="MS")
    return idx.as_unit("us")


def incomplete(scope: Scope, unit: str | None, starts: pd.Series) -> pd.Series:
    """True for buckets not fully observed: their end (clipped to the range) is after as_of."""
    as_of = pd.Timestamp(_as_of_local(scope))
    range_end = pd.Timestamp(scope.end)
    if unit is None:
        return pd.Series(pd.Timestamp(scope.start) >= as_of, index=starts.index)
    ends = (pd.to_datetime(starts) + _step(unit)).clip(upper=range_end)
    return ends > as_of


def shape(
    df: pd.DataFrame,
    scope: Scope,
    by: str | None,
    *,
    counts: list[str],
    values: list[str],
    keys: list[str] | None = None,
    zero: list[str] | None = None,
) -> pd.DataFrame:
    """Put aggregated rows on the full grid of buckets x breakdown values.

    ``df`` has the time key ``by`` (if any), ``breakdown``, other ``keys`` and the
    ``counts`` (filled with 0 on grid rows without data) and ``values`` (left missing).
    ``zero`` are value columns also 0 on empty rows (sums). Buckets not fully observed
    have every number missing. The ``breakdown`` column is dropped without a breakdown.
    """
    keys = list(keys or [])
    zero = list(zero or [])
    key_cols = ([by] if by else []) + ["breakdown"] + keys
    cols = key_cols + counts + values
    if scope.days <= 0:
        return _finish(pd.DataFrame({c: [] for c in cols}), scope, counts)
    df = df.copy()
    if by:
        df[by] = pd.to_datetime(df[by]).astype("datetime64[us]")
    # The grid: every bucket x every breakdown (x other key) value seen; 'all' when none.
    if keys:
        combos = df[["breakdown", *keys]].drop_duplicates()
    elif scope.breakdown:
        combos = df[["breakdown"]].drop_duplicates()
    else:
        combos = pd.DataFrame({"breakdown": ["all"]})
    if by:
        grid = pd.DataFrame(
            [
                (b, *row)
                for b, row in itertools.product(buckets(scope, by), combos.itertuples(False))
            ],
            columns=[by, *combos.columns],
        )
        if not grid.empty:
            grid[by] = grid[by].astype("datetime64[us]")
    else:
        grid = combos.reset_index(drop=True)
    if grid.empty:
        return _finish(pd.DataFrame({c: [] for c in cols}), scope, counts)
    out = grid.merge(df, on=key_cols, how="left", indicator=True)
    empty = out["_merge"] == "left_only"
    for c in counts + zero:
        out[c] = out[c].astype("float64")
        out.loc[empty, c] = 0.0
    for c in values:
        out[c] = out[c].astype("float64")
    gone = incomplete(scope, by, out[by] if by else out["breakdown"])
    out.loc[gone, counts + values] = float("nan")
    out = out.drop(columns="_merge")[cols]
    sort = ([by] if by else []) + (["breakdown"] if scope.breakdown else []) + keys
    out = out.sort_values(sort, kind="stable").reset_index(drop=True)
    return _finish(out, scope, counts)


def _finish(out: pd.DataFrame, scope: Scope, counts: list[str]) -> pd.DataFrame:
    for c in counts:
        if c in out and not out[c].isna().any():
            out[c] = out[c].astype("int64")
    if not scope.breakdown and "breakdown" in out:
        out = out.drop(columns="breakdown")
    return out


def _ratio(num: pd.Series, den: pd.Series, scale: float = 1.0) -> pd.Series:
    """``scale * num / den``, missing where den is 0 or missing."""
    den = den.astype("float64")
    return (scale * num.astype("float64") / den.where(den > 0)).astype("float64")


def _result(
    name: str,
    title: str,
    df: pd.DataFrame,
    scope: Scope,
    definition: str,
    units: dict[str, str],
    by: str | None,
    y: str,
    extra: dict | None = None,
) -> MetricResult:
    """A time series (line) when ``by`` is a time unit, else bars per breakdown value."""
    x = by if by else ("breakdown" if scope.breakdown else None)
    return MetricResult(
        name=name,
        title=title,
        df=df,
        definition=definition,
        scope=scope,
        units=units,
        x=x,
        y=y,
        kind="line" if by else "barh",
        hue="breakdown" if (by and scope.breakdown) else None,
        extra=dict(extra or {}),
        plotter=plot_line if by else plot_bars,
    )


# ------------------------------------------------------------------------------------------
# Latency
# ------------------------------------------------------------------------------------------


@records_sql
def p95_latency(
    wh,
    *,
    by: str | None = "day",
    quantile: float = 0.95,
    source: Source = "both",
    **scope: Unpack[ScopeArgs],
) -> MetricResult:
    """P95 (or any ``quantile``) of reply latency in ms, per local ``by`` bucket.

    Linear interpolation between order statistics (DuckDB ``quantile_cont``). Columns:
    ``[by], [breakdown], replies, latency_ms``; buckets without replies have no latency.
    """
    _check_by(by)
    if not 0.0 <= quantile <= 1.0:
        raise ValueError(f"quantile {quantile} must be within [0, 1]")
    sc = resolve(wh, default_window="28d", **scope)
    sql = f"""
        WITH s AS ({
        sc.events_cte(
            _sources(source),
            columns="e.timestamp, e.response_latency_ms",
            extra_where="e.response_latency_ms IS NOT NULL",
        )
    })
        SELECT {_keys_sql(sc, by)},
               count(*) AS replies,
               {sc.d.quantile("response_latency_ms", quantile)} AS latency_ms
        FROM s GROUP BY ALL
    """
    df = shape(wh.sql(sql), sc, by, counts=["replies"], values=["latency_ms"])
    label = f"P{quantile * 100:g}"
    return _result(
        "p95_latency",
        f"{label} latency",
        df,
        sc,
        f"{label} of {' + '.join(_sources(source))} response latency (ms, linear interpolation)",
        {"replies": "count", "latency_ms": "ms"},
        by,
        "latency_ms",
        {"quantile": quantile, "source": source, "target_ms": target_value("p95_latency_ms")},
    )


# ------------------------------------------------------------------------------------------
# Errors
# ------------------------------------------------------------------------------------------


@records_sql
def error_rate(wh, *, by: str | None = None, **scope: Unpack[ScopeArgs]) -> MetricResult:
    """``error_occurred`` count / ``message_sent`` count per bucket, with a Wilson 95% CI.

    Columns: ``[by], [breakdown], errors, messages, error_rate, ci_low, ci_high``.
    """
    _check_by(by)
    sc = resolve(wh, default_window="28d", **scope)
    sql = f"""
        WITH s AS ({sc.events_cte(["error_occurred", "message_sent"], columns="e.timestamp, e.event")})
        SELECT {_keys_sql(sc, by)},
               {sc.d.count_if("event = 'error_occurred'")} AS errors,
               {sc.d.count_if("event = 'message_sent'")} AS messages
        FROM s GROUP BY ALL
    """
    df = shape(wh.sql(sql), sc, by, counts=["errors", "messages"], values=[])
    df = add_wilson(df, "errors", "messages", "error_rate")
    return _result(
        "error_rate",
        "Error rate",
        df,
        sc,
        "error_occurred / message_sent (95% Wilson CI)",
        {
            "errors": "count",
            "messages": "count",
            "error_rate": "rate",
            "ci_low": "rate",
            "ci_high": "rate",
        },
        by,
        "error_rate",
        {"target": target_value("error_rate"), "ci": ("ci_low", "ci_high")},
    )


@records_sql
def hourly_errors(wh, **scope: Unpack[ScopeArgs]) -> MetricResult:
    """``error_occurred`` count per local hour (every hour of the range listed).

    ``extra['max_errors']`` / ``extra['max_hour']``: the busiest fully observed hour (all
    breakdown values summed), for the seed alert "more than 100 errors in any hour".
    ``extra['partial_hour_errors']``: errors so far in an hour cut by ``as_of`` (a lower
    bound; the hour itself is shown missing).
    """
    sc = resolve(wh, default_window="7d", **scope)
    sql = f"""
        WITH s AS ({sc.events_cte("error_occurred", columns="e.timestamp")})
        SELECT {_keys_sql(sc, "hour")}, count(*) AS errors
        FROM s GROUP BY ALL
    """
    raw = wh.sql(sql)
    df = shape(raw, sc, "hour", counts=["errors"], values=[])
    extra: dict = {"max_errors": None, "max_hour": None, "partial_hour_errors": None}
    if not df.empty:
        total = df.groupby("hour", sort=True)["errors"].sum(min_count=1).dropna()
        if len(total):
            extra["max_errors"] = int(total.max())
            extra["max_hour"] = total.idxmax() if total.max() > 0 else None
        if not raw.empty:
            hours = pd.to_datetime(raw["hour"]).astype("datetime64[us]")
            cut = incomplete(sc, "hour", hours)
            if cut.any():
                extra["partial_hour_errors"] = int(raw.loc[cut.to_numpy(), "errors"].sum())
    extra["threshold"] = 100
    return _result(
        "hourly_errors",
        "Errors per hour",
        df,
        sc,
        "error_occurred events per local hour",
        {"errors": "count"},
        "hour",
        "errors",
        extra,
    )


# ------------------------------------------------------------------------------------------
# Cost
# ------------------------------------------------------------------------------------------


def _cost_frame(
    wh, sc: Scope, by: str | None, source: str, active_event: str | None
) -> pd.DataFrame:
    src = _sources(source)
    names = sc.d.str_list(src)
    cte = sc.events_cte(
        list(src) + ([active_event] if active_event and active_event not in src else []),
        columns="e.timestamp, e.event, e.person_id, e.response_cost_usd",
    )
    queries = sc.d.count_if(f"event IN ({names})")
    cost = f"sum(CASE WHEN event IN ({names}) THEN response_cost_usd END)"
    if active_event:
        # persons counted in two steps (group by person, then count) rather than with
        # count(DISTINCT ...): one scan, and about twice as fast on large tables
        act = sc.d.str_lit(active_event)
        sql = f"""
            WITH s AS ({cte}),
            per AS (
                SELECT {_keys_sql(sc, by)}, person_id, {queries} AS queries, {cost} AS cost_usd,
                       {sc.d.bool_or(f"event = {act}")} AS active
                FROM s GROUP BY ALL
            )
            SELECT {", ".join(([by] if by else []) + ["breakdown"])},
                   CAST(sum(queries) AS BIGINT) AS queries, sum(cost_usd) AS cost_usd,
                   {sc.d.count_if("active")} AS active_users
            FROM per GROUP BY ALL
        """
    else:
        sql = f"""
            WITH s AS ({cte})
            SELECT {_keys_sql(sc, by)}, {queries} AS queries, {cost} AS cost_usd
            FROM s GROUP BY ALL
        """
    counts = ["queries"] + (["active_users"] if active_event else [])
    return shape(wh.sql(sql), sc, by, counts=counts, values=["cost_usd"], zero=["cost_usd"])


@records_sql
def cost_per_1k(
    wh,
    *,
    by: str | None = None,
    source: Source = "both",
    **scope: Unpack[ScopeArgs],
) -> MetricResult:
    """AI cost per 1,000 queries: ``1000 × sum(response_cost_usd) / count(message_received)``.

    Columns: ``[by], [breakdown], queries, cost_usd, cost_per_1k`` (USD).
    """
    _check_by(by)
    sc = resolve(wh, default_window="28d", **scope)
    df = _cost_frame(wh, sc, by, source, None)
    df["cost_per_1k"] = _ratio(df["cost_usd"], df["queries"], 1000.0)
    return _result(
        "cost_per_1k",
        "Cost per 1K queries",
        df,
        sc,
        f"1000 × sum(response_cost_usd) / count({' + '.join(_sources(source))})",
        {"queries": "count", "cost_usd": "usd", "cost_per_1k": "usd"},
        by,
        "cost_per_1k",
        {"source": source, "target_usd": target_value("cost_per_1k_usd")},
    )


@records_sql
def cost_per_active_user(
    wh,
    *,
    by: str | None = None,
    source: Source = "both",
    active_event: str = "message_sent",
    **scope: Unpack[ScopeArgs],
) -> MetricResult:
    """AI cost divided by the persons with an active event in the bucket.

    Columns: ``[by], [breakdown], queries, active_users, cost_usd, cost_per_active_user``.
    """
    _check_by(by)
    sc = resolve(wh, default_window="28d", **scope)
    df = _cost_frame(wh, sc, by, source, active_event)
    df["cost_per_active_user"] = _ratio(df["cost_usd"], df["active_users"])
    cols = [c for c in df.columns if c not in {"cost_usd", "cost_per_active_user"}]
    df = df[[*cols, "cost_usd", "cost_per_active_user"]]
    return _result(
        "cost_per_active_user",
        "AI cost per active user",
        df,
        sc,
        f"sum(response_cost_usd) / persons with {active_event}",
        {
            "queries": "count",
            "active_users": "users",
            "cost_usd": "usd",
            "cost_per_active_user": "usd",
        },
        by,
        "cost_per_active_user",
        {"source": source, "active_event": active_event},
    )


# ------------------------------------------------------------------------------------------
# Satisfaction
# ------------------------------------------------------------------------------------------


@records_sql
def satisfaction(wh, *, by: str | None = None, **scope: Unpack[ScopeArgs]) -> MetricResult:
    """Share of positive feedback (+1 among ±1) and net score (mean rating in [−1, 1]).

    ``by`` is a time unit (``"day"``, ``"week"``...) or a property (``"query_category"``,
    ``"model_used"``, ``"plan"``...); message properties missing on the feedback come from
    the message with the same ``message_id``. Columns: ``[by], [breakdown], feedbacks,
    positive, negative, share_positive, ci_low, ci_high, net_score, net_ci_low, net_ci_high``.
    """
    sc = resolve(wh, default_window="28d", **scope)
    time_by = by if by in TIME_UNITS else None
    prop_by = by if (by and by not in TIME_UNITS) else None
    if prop_by:
        sc.prop_sql(prop_by)  # validates the name
    used = set(sc.filters) | {k for k in (sc.breakdown, prop_by) if k}
    sent = [k for k in SENT_KEYS if k in used]
    received = [k for k in RECEIVED_KEYS if k in used]
    # the message of a feedback: sent before the cut-off and at most LOOKBACK_DAYS before
    # the range (bounds the scan; feedback is given minutes after the reply)
    lookback = sc.with_range(sc.start - timedelta(days=LOOKBACK_DAYS), sc.end)
    cutoff = lookback.time_bounds_sql("e.timestamp")
    fb = (
        "SELECT e.* FROM events e WHERE e.event = 'feedback_given' AND e.rating IN (1, -1) "
        f"AND {sc.time_bounds_sql('e.timestamp')}"
    )
    if sent or received:
        aggs = [f"min(e.{k}) FILTER (WHERE e.event = 'message_sent') AS {k}" for k in sent]
        aggs += [f"min(e.{k}) FILTER (WHERE e.event = 'message_received') AS {k}" for k in received]
        repl = ", ".join(f"coalesce(fb.{k}, ex.{k}) AS {k}" for k in sent + received)
        ctes = f"""
            fb AS ({fb}),
            ex AS (
                SELECT e.message_id, {", ".join(aggs)}
                FROM events e
                WHERE e.event IN ('message_sent', 'message_received') AND {cutoff}
                  AND e.message_id IN (SELECT message_id FROM fb WHERE message_id IS NOT NULL)
                GROUP BY e.message_id
            ),
            f AS (SELECT fb.* REPLACE ({repl}) FROM fb LEFT JOIN ex ON ex.message_id = fb.message_id)
        """
    else:
        ctes = f"f AS ({fb})"
    join = (
        "LEFT JOIN persons p ON p.person_id = f.person_id"
        if sc.needs_persons() or prop_by in PERSON_FILTER_KEYS
        else ""
    )
    keys = [f"{sc.bucket(time_by, 'f.timestamp')} AS {time_by}"] if time_by else []
    keys.append(f"{sc.breakdown_sql('f', 'p')} AS breakdown")
    if prop_by:
        keys.append(
            f"coalesce({sc.d.as_text(sc.prop_sql(prop_by, 'f', 'p'))}, '(none)') AS {prop_by}"
        )
    sql = f"""
        WITH {ctes}
        SELECT {", ".join(keys)},
               count(*) AS feedbacks,
               {sc.d.count_if("f.rating = 1")} AS positive,
               {sc.d.count_if("f.rating = -1")} AS negative
        FROM f {join}
        WHERE {sc.filter_sql("f", "p")}
        GROUP BY ALL
    """
    df = shape(
        wh.sql(sql),
        sc,
        time_by,
        counts=["feedbacks", "positive", "negative"],
        values=[],
        keys=[prop_by] if prop_by else None,
    )
    df = add_wilson(df, "positive", "feedbacks", "share_positive")
    df["net_score"] = 2 * df["share_positive"] - 1
    df["net_ci_low"] = 2 * df["ci_low"] - 1
    df["net_ci_high"] = 2 * df["ci_high"] - 1
    if prop_by and not time_by and not df.empty:
        df = df.sort_values(["feedbacks", prop_by], ascending=[False, True], kind="stable")
        df = df.reset_index(drop=True)
    res = _result(
        "satisfaction",
        "Satisfaction",
        df,
        sc,
        "share of +1 among feedback_given ratings ±1; net score = mean rating",
        {
            "feedbacks": "count",
            "positive": "count",
            "negative": "count",
            "share_positive": "rate",
            "ci_low": "rate",
            "ci_high": "rate",
            "net_score": "ratio",
            "net_ci_low": "ratio",
            "net_ci_high": "ratio",
        },
        time_by,
        "share_positive",
        {
            "target_share_positive": target_value("satisfaction"),
            "alert_mean_rating_below": 0.5,
            "by": by,
            "ci": ("ci_low", "ci_high"),
        },
    )
    if prop_by:
        res.x, res.kind, res.plotter = prop_by, "barh", plot_bars
    return res


# ------------------------------------------------------------------------------------------
# LLM usage by model
# ------------------------------------------------------------------------------------------


@records_sql
def llm_usage(wh, *, source: Source = "both", **scope: Unpack[ScopeArgs]) -> MetricResult:
    """Per model: queries, tokens, cost, cost per 1K, P50/P95 latency, error rate.

    Columns: ``model, [breakdown], queries, input_tokens, output_tokens, tokens, cost_usd,
    cost_per_1k, p50_ms, p95_ms, generations, errors, error_rate, ci_low, ci_high``; most
    queries first. Error rate = ``$ai_is_error`` among ``$ai_generation`` events (missing for
    models without any).
    """
    sc = resolve(wh, default_window="28d", **scope)
    tokens = sc.d.try_cast(sc.d.json_text("e.properties", "$ai_input_tokens"), "BIGINT")
    input_tokens = f"CASE WHEN e.event = '$ai_generation' THEN {tokens} END"
    cols = (
        "e.event, e.model_used, e.response_tokens, e.response_latency_ms, e.response_cost_usd, "
        f"e.is_error, {input_tokens} AS input_tokens"
    )
    sql = f"""
        WITH s AS ({sc.events_cte(_sources(source), columns=cols)})
        SELECT coalesce(model_used, '(unknown)') AS model, breakdown,
               count(*) AS queries,
               CAST(sum(input_tokens) AS BIGINT) AS input_tokens,
               CAST(sum(response_tokens) AS BIGINT) AS output_tokens,
               sum(response_cost_usd) AS cost_usd,
               {sc.d.quantile("response_latency_ms", 0.5)} AS p50_ms,
               {sc.d.quantile("response_latency_ms", 0.95)} AS p95_ms,
               {sc.d.count_if("event = '$ai_generation'")} AS generations,
               {sc.d.count_if("event = '$ai_generation' AND coalesce(is_error, FALSE)")}
                   AS errors
        FROM s GROUP BY ALL
    """
    df = wh.sql(sql)
    cols_out = [
        "model",
        "breakdown",
        "queries",
        "input_tokens",
        "output_tokens",
        "tokens",
        "cost_usd",
        "cost_per_1k",
        "p50_ms",
        "p95_ms",
        "generations",
        "errors",
        "error_rate",
        "ci_low",
        "ci_high",
    ]
    if df.empty or sc.days <= 0:
        df = pd.DataFrame({c: [] for c in cols_out})
    else:
        for c in ("queries", "generations", "errors"):
            df[c] = df[c].astype("int64")
        for c in ("input_tokens", "output_tokens", "cost_usd", "p50_ms", "p95_ms"):
            df[c] = df[c].astype("float64")
        df["tokens"] = df["input_tokens"].fillna(0) + df["output_tokens"].fillna(0)
        df.loc[df["input_tokens"].isna() & df["output_tokens"].isna(), "tokens"] = float("nan")
        df["cost_per_1k"] = _ratio(df["cost_usd"], df["queries"], 1000.0)
        df = add_wilson(df, "errors", "generations", "error_rate")
        df = df.sort_values(["queries", "model"], ascending=[False, True], kind="stable")
        df = df.reset_index(drop=True)[cols_out]
    if not sc.breakdown:
        df = df.drop(columns="breakdown")
    return MetricResult(
        name="llm_usage",
        title="LLM usage by model",
        df=df,
        definition=f"per model over {' + '.join(_sources(source))}; error rate from $ai_generation",
        scope=sc,
        units={
            "queries": "count",
            "input_tokens": "count",
            "output_tokens": "count",
            "tokens": "count",
            "cost_usd": "usd",
            "cost_per_1k": "usd",
            "p50_ms": "ms",
            "p95_ms": "ms",
            "generations": "count",
            "errors": "count",
            "error_rate": "rate",
            "ci_low": "rate",
            "ci_high": "rate",
        },
        x="model",
        y="queries",
        kind="barh",
        extra={"source": source},
        plotter=plot_bars,
    )
