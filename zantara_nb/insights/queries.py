"""Query patterns (METRICS.md section 7, seed section 4): what people ask and how it goes.

Category, intent, complexity and language are ``message_sent`` properties set by the app
with :mod:`zantara_nb.insights.classify`; the warehouse holds no query text and nothing here
outputs any. Every function takes the scope keywords (``start``, ``end``, ``as_of``,
``window``, ``tz``, ``filters``, ``breakdown``; see :mod:`zantara_nb.warehouse.scope`) and returns a
:class:`~zantara_nb.metrics.results.MetricResult`.

Definitions (exact)
-------------------
- **Top categories** (:func:`top_categories`): per ``query_category`` of ``message_sent``
  in the range: ``messages``, ``share`` of all messages (per breakdown value) with a 95%
  Wilson interval, and over the replies of those messages: ``replies`` (reply events
  paired), mean ``latency_ms``, mean ``cost_usd``, mean ``sources`` (each mean over the
  paired replies that carry the value). A message's reply is a ``message_received`` or
  ``$ai_generation`` (``source``) of the same exchange: every reply with the message's id
  (``message_id``; ``$ai_generation`` carries it as ``$ai_trace_id``, which the loader
  does not map, so it is read from the properties); a message with no reply by id takes
  the next reply in the same ``session_id`` (at or after the message, before the
  session's next ``message_sent``) among replies that carry no id (a reply with an id
  belongs to that id's message).
- **Distribution** (:func:`distribution`): ``message_sent`` per value of ``language``,
  ``intent``, ``complexity`` (or ``category``): count and share with Wilson CI.
- **Low satisfaction** (:func:`low_satisfaction`): :func:`zantara_nb.metrics.health.satisfaction` by
  ``query_category`` × ``query_complexity`` (a feedback takes them from the message with
  its ``message_id``), groups with at least ``min_feedbacks`` (10) feedbacks, lowest share
  positive first (ties: more feedbacks first, then names).
- **Trending** (:func:`trending`): ``message_sent`` per category in the last complete
  calendar week before ``as_of`` (Monday–Sunday, local) against the week before; growth
  ``(this − last) / last``; only categories with at least ``min_last_week`` (20) messages
  last week; significance by the Poisson test on the two counts
  (:func:`zantara_nb.metrics.stats.poisson_p`, p < 0.05). ``period="day"`` compares the last
  complete day with the day before instead.
- **Sessions** (:func:`sessions`): a session is all events with one ``session_id``; events
  without one are split per person by 30 minutes of inactivity (a gap of 30 minutes or
  more starts a new session, as PostHog). Per session: ``message_sent`` count and
  duration = last event − first event (seconds; 0 for one event). Sessions with at
  least ``min_messages`` (1) messages whose first event is in the range are reported by
  ``by`` (default plan and user type, the persons' latest values): sessions, messages,
  mean and median messages per session, mean and median duration.

Choices METRICS.md leaves open
------------------------------
- **Filters and breakdown** apply to ``message_sent`` (event or person properties) in top
  categories, distribution and trending; to every event of a session in :func:`sessions`
  (an event-property filter keeps only the matching events; a session takes the
  breakdown value of its first event); and to the feedback (its own value, else its
  message's) in :func:`low_satisfaction`. Replies are never filtered.
- **Several replies to one message** (an app tracking both ``message_received`` and
  ``$ai_generation``): each counts in ``replies`` and the means, as every reply event
  counts in :mod:`zantara_nb.metrics.health` (``source="both"``); pass
  ``source="message_received"`` to count one. ``messages`` never depends on replies.
- **Reply look-ahead**: replies are read up to 24 h after the range end (never at or
  after ``as_of``), so a message sent just before the end still finds its reply.
- **Cost**: one scan and one hash join (replies -> counted messages by id). The session
  fallback needs a second, heavier query (anti-join + ASOF joins); it runs only when
  the range holds replies without an id in a session (``extra['session_fallback']``).
- **Sessions over the range edges**: events from 24 h before the start to 24 h after
  the end (before ``as_of``) are read so a session crossing an edge keeps its true
  first/last event; a session counts in the range of its first event. A session still
  open at ``as_of`` is measured so far (PostHog does the same).
- **Missing, not zero**: a range that starts at or after ``as_of`` gives an empty result;
  a range cut by ``as_of`` gives the numbers so far with ``extra['complete'] = False``
  (as :mod:`zantara_nb.metrics.health`). Means over no replies are missing. Messages without a
  category are ``(none)``.
- **Low satisfaction with a breakdown**: ``health.satisfaction`` takes two dimensions
  (``by`` and ``breakdown``); with a user breakdown it is called once per complexity
  level (simple, medium, complex, none) with a complexity filter, so the breakdown then
  cannot be combined with a ``query_complexity`` filter (ValueError).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from datetime import timedelta
from typing import Any, Literal

import pandas as pd
from typing_extensions import Unpack

from ..display import charts
from ..display.result_charts import plot_bars
from ..metrics.health import add_wilson, satisfaction
from ..metrics.results import MetricResult
from ..metrics.stats import ALPHA, poisson_p
from ..warehouse.dialects import Dialect
from ..warehouse.scope import (
    Scope,
    ScopeArgs,
    is_person_key,
    last_complete_period,
    resolve,
)
from ..warehouse.sqltrace import records_sql

FIELDS = {
    "category": "query_category",
    "language": "query_language",
    "intent": "query_intent",
    "complexity": "query_complexity",
}
#: Display order of known values (others follow by count).
ORDER = {
    "query_complexity": ("simple", "medium", "complex"),
    "query_intent": ("information", "action", "comparison", "troubleshooting"),
    "query_language": ("en", "id"),
}
Source = Literal["message_received", "$ai_generation", "both"]
_SOURCES = {
    "message_received": ("message_received",),
    "$ai_generation": ("$ai_generation",),
    "both": ("message_received", "$ai_generation"),
}
REPLY_LOOKAHEAD = timedelta(days=1)
SESSION_MARGIN = timedelta(days=1)
SESSION_GAP_MINUTES = 30
NONE = "(none)"


# ------------------------------------------------------------------------------------------
# Plumbing
# ------------------------------------------------------------------------------------------


def _empty(cols: Sequence[str], text: Sequence[str] = ()) -> pd.DataFrame:
    return pd.DataFrame({c: pd.Series(dtype="object" if c in text else "float64") for c in cols})


def _unobserved(sc: Scope) -> bool:
    """Nothing of the range can be seen: empty range or it starts at/after as_of."""
    return sc.days <= 0 or sc.start_utc >= sc.as_of_utc


def _person_join(sc: Scope, extra_keys: Sequence[str] = ()) -> str:
    need = sc.needs_persons() or any(is_person_key(k) for k in extra_keys)
    return "LEFT JOIN persons p ON p.person_id = e.person_id" if need else ""


def _shares(df: pd.DataFrame, count: str, by_breakdown: bool) -> pd.DataFrame:
    """Share of ``count`` within each breakdown value, with its Wilson interval."""
    if by_breakdown:
        df["_total"] = df.groupby("breakdown")[count].transform("sum")
    else:
        df["_total"] = df[count].sum()
    df = add_wilson(df, count, "_total", "share")
    return df.drop(columns="_total")


def _result(
    name: str,
    title: str,
    df: pd.DataFrame,
    sc: Scope,
    definition: str,
    units: dict[str, str],
    x: str | None,
    y: str,
    extra: dict[str, Any] | None = None,
    ci: bool = True,
) -> MetricResult:
    extra = dict(extra or {})
    if ci:
        extra["ci"] = ("ci_low", "ci_high")
    return MetricResult(
        name=name,
        title=title,
        df=df,
        definition=definition,
        scope=sc,
        units=units,
        x=x,
        y=y,
        kind="barh",
        extra=extra,
        plotter=_plot_bars,
    )


def _labels(df: pd.DataFrame, keys: Sequence[str]) -> pd.Series:
    """Bar labels: the key values joined by " / ", after ``breakdown · `` if there is one."""
    if df.empty:
        return pd.Series([], dtype="object", index=df.index)
    out = df[list(keys)].astype(str).agg(" / ".join, axis=1)
    if "breakdown" in df:
        out = df["breakdown"].astype(str) + " · " + out
    return out


def _plot_bars(res: MetricResult, ax=None, **kw):
    """Bars per row (health's house bars with CI whiskers), labelled by
    ``extra['label_keys']`` (default ``x``) and the breakdown value."""
    keys = res.extra.get("label_keys") or [res.x]
    df = res.df.copy()
    df["_label"] = _labels(df, keys)
    return plot_bars(replace(res, df=df, x="_label", plotter=None), ax=ax, **kw)


def _complete(sc: Scope) -> bool:
    return sc.end_utc <= sc.as_of_utc


# ------------------------------------------------------------------------------------------
# Top categories
# ------------------------------------------------------------------------------------------


def _exchange_cte(sc: Scope, source: str) -> str:
    """``x``: messages and replies in the range (plus the reply look-ahead), one scan.

    ``rmid`` is a reply's message id (NULL for messages and for replies without one);
    ``mid`` and ``rmid`` are the dialect's compact id keys (only compared, never shown)."""
    d = sc.dialect
    end = d.ts_lit(min(sc.end_utc, sc.as_of_utc))
    look = sc.with_range(sc.start, sc.end + REPLY_LOOKAHEAD)  # capped at as_of
    trace = d.json_text("e.properties", "$ai_trace_id")
    return f"""x AS {d.cte_hint(False)}(
            SELECT e.uuid, e.timestamp, e.session_id,
                   e.event = 'message_sent' AS is_msg,
                   CASE WHEN e.event = 'message_sent' THEN {d.id_key("e.message_id")} END AS mid,
                   CASE WHEN e.event = 'message_received' THEN {d.id_key("e.message_id")}
                        WHEN e.event = '$ai_generation'
                        THEN {d.id_key(f"coalesce(e.message_id, {trace})")}
                   END AS rmid,
                   e.event = 'message_sent' AND e.timestamp < {end}
                       AND {sc.filter_sql("e", "p")} AS counted,
                   e.query_category, e.response_latency_ms AS latency,
                   e.response_cost_usd AS cost, e.sources_count AS sources,
                   {sc.breakdown_sql("e", "p")} AS breakdown
            FROM events e {_person_join(sc)}
            WHERE {d.in_list("e.event", ("message_sent", *_SOURCES[source]))}
              AND {look.time_bounds_sql("e.timestamp")}
        )"""


def _row_stats(d: Dialect) -> str:
    """Final aggregation over ``rows``: one row per counted message (``msg`` = 1) and one
    per paired reply (``rep`` = 'id' or 'session', with its values)."""
    return f"""
        SELECT breakdown, coalesce(query_category, {d.str_lit(NONE)}) AS category,
               CAST(sum(msg) AS BIGINT) AS messages,
               CAST(count(rep) AS BIGINT) AS replies,
               {d.count_if("rep = 'id'")} AS replies_by_id,
               {d.count_if("rep = 'session'")} AS replies_by_session,
               avg(latency) FILTER (WHERE rep IS NOT NULL) AS latency_ms,
               avg(cost) FILTER (WHERE rep IS NOT NULL) AS cost_usd,
               avg(sources) FILTER (WHERE rep IS NOT NULL) AS sources"""


def _top_categories_sql(sc: Scope, source: str) -> str:
    """Fast path: one scan and one hash join (replies -> their counted message by id).

    Also counts ``free`` replies (no message id, in a session): when there are any, the
    session fallback may pair some and :func:`_top_categories_fallback_sql` gives the
    full answer instead."""
    return f"""
        WITH {_exchange_cte(sc, source)},
        m AS (SELECT mid, query_category, breakdown FROM x WHERE counted AND mid IS NOT NULL),
        rows AS (
            SELECT coalesce(m.breakdown, x.breakdown) AS breakdown,
                   CASE WHEN x.counted THEN x.query_category ELSE m.query_category
                   END AS query_category,
                   CASE WHEN x.counted THEN 1 ELSE 0 END AS msg,
                   CASE WHEN m.mid IS NOT NULL THEN 'id' END AS rep,
                   x.latency, x.cost, x.sources,
                   CASE WHEN x.rmid IS NULL AND NOT x.is_msg AND x.session_id IS NOT NULL
                        THEN 1 ELSE 0 END AS free
            FROM x LEFT JOIN m ON m.mid = x.rmid
        )
        {_row_stats(sc.d)},
               CAST(sum(free) AS BIGINT) AS free
        FROM rows GROUP BY ALL
    """


def _top_categories_fallback_sql(sc: Scope, source: str) -> str:
    """Full pairing: by message id, else the next reply without an id in the session
    (ASOF join), before the session's next message."""
    d = sc.dialect
    null = d.null("DOUBLE")
    return f"""
        WITH {_exchange_cte(sc, source)},
        m AS (
            SELECT uuid, timestamp, session_id, mid, query_category, breakdown
            FROM x WHERE counted
        ),
        idr AS (SELECT rmid, latency, cost, sources FROM x WHERE rmid IS NOT NULL),
        u AS {d.cte_hint(True)}(
            -- counted messages in a session without a reply by id
            SELECT timestamp AS ts, session_id, query_category, breakdown FROM m
            WHERE session_id IS NOT NULL
              AND (mid IS NULL OR mid NOT IN (SELECT rmid FROM idr))
        ),
        nxt AS (
            SELECT session_id, timestamp AS nts FROM x
            WHERE is_msg AND session_id IN (SELECT session_id FROM u)
        ),
        free AS (
            SELECT session_id, timestamp AS rts, latency, cost, sources FROM x
            WHERE NOT is_msg AND rmid IS NULL AND session_id IN (SELECT session_id FROM u)
        ),
        u2 AS (
            SELECT u.*, nx.nts FROM u
            {d.asof_left_join()} nxt nx ON u.session_id = nx.session_id AND nx.nts > u.ts
        ),
        fb AS (
            SELECT u2.query_category, u2.breakdown, f.latency, f.cost, f.sources
            FROM u2 {d.asof_join()} free f ON u2.session_id = f.session_id AND f.rts >= u2.ts
            WHERE u2.nts IS NULL OR f.rts < u2.nts
        ),
        rows AS (
            SELECT breakdown, query_category, 1 AS msg, NULL AS rep,
                   {null} AS latency, {null} AS cost, {null} AS sources
            FROM m
            UNION ALL
            SELECT m.breakdown, m.query_category, 0, 'id', r.latency, r.cost, r.sources
            FROM idr r JOIN m ON m.mid = r.rmid
            UNION ALL
            SELECT breakdown, query_category, 0, 'session', latency, cost, sources FROM fb
        )
        {_row_stats(d)}
        FROM rows GROUP BY ALL
    """


@records_sql
def top_categories(
    wh,
    *,
    top: int | None = None,
    source: Source = "both",
    **scope: Unpack[ScopeArgs],
) -> MetricResult:
    """Query categories by volume, with their replies' mean latency, cost and sources.

    Columns: ``[breakdown], category, messages, share, ci_low, ci_high, replies,
    latency_ms, cost_usd, cost_per_1k, sources`` (``cost_per_1k`` = 1000 × ``cost_usd``,
    the cost of 1,000 such replies, readable where a mean cost is a fraction of a cent) —
    most messages first (per breakdown value); ``top``
    keeps the first n rows of each. ``extra['replies_by_id']`` / ``['replies_by_session']``
    say how the replies were found.
    """
    if source not in _SOURCES:
        raise ValueError(f"source {source!r}: use one of {', '.join(_SOURCES)}")
    sc = resolve(wh, default_window="7d", **scope)
    cols = [
        "breakdown",
        "category",
        "messages",
        "share",
        "ci_low",
        "ci_high",
        "replies",
        "latency_ms",
        "cost_usd",
        "cost_per_1k",
        "sources",
    ]
    extra: dict[str, Any] = {"source": source, "complete": _complete(sc)}
    raw = pd.DataFrame()
    if not _unobserved(sc):
        raw = wh.sql(_top_categories_sql(sc, source))
        fallback = bool(len(raw) and raw["free"].sum() > 0)
        extra["session_fallback"] = fallback
        if fallback:
            raw = wh.sql(_top_categories_fallback_sql(sc, source))
        raw = raw.loc[raw["messages"] > 0].drop(columns=["free"], errors="ignore")
    if raw.empty:
        df = _empty(cols, text=("breakdown", "category"))
        extra.update(replies_by_id=0, replies_by_session=0)
    else:
        extra["replies_by_id"] = int(raw["replies_by_id"].sum())
        extra["replies_by_session"] = int(raw["replies_by_session"].sum())
        for c in ("messages", "replies"):
            raw[c] = raw[c].astype("int64")
        for c in ("latency_ms", "cost_usd", "sources"):
            raw[c] = raw[c].astype("float64")
        raw["cost_per_1k"] = 1000.0 * raw["cost_usd"]
        df = _shares(raw, "messages", bool(sc.breakdown))
        df = df.sort_values(
            ["breakdown", "messages", "category"], ascending=[True, False, True], kind="stable"
        )
        if top is not None:
            df = df.groupby("breakdown", sort=False).head(top)
        df = df[cols].reset_index(drop=True)
    if not sc.breakdown:
        df = df.drop(columns="breakdown")
    return _result(
        "top_categories",
        "Top query categories",
        df,
        sc,
        "message_sent per query_category (share with 95% Wilson CI); latency, cost and "
        "sources: mean over each message's reply (same message id, else next reply in "
        "the session)",
        {
            "messages": "count",
            "share": "rate",
            "ci_low": "rate",
            "ci_high": "rate",
            "replies": "count",
            "latency_ms": "ms",
            "cost_usd": "usd",
            "cost_per_1k": "usd",
            "sources": "number",
        },
        "category",
        "share",
        extra,
    )


# ------------------------------------------------------------------------------------------
# Distribution of language / intent / complexity
# ------------------------------------------------------------------------------------------


def _field(field: str) -> str:
    col = FIELDS.get(field, field)
    if col not in FIELDS.values():
        raise ValueError(f"field {field!r}: use one of {', '.join(FIELDS)}")
    return col


def _order_values(df: pd.DataFrame, col: str, by_breakdown: bool) -> pd.DataFrame:
    known = ORDER.get(col, ())
    rank = {v: i for i, v in enumerate(known)}
    df["_known"] = [rank.get(v, len(known)) for v in df[col]]
    keys = (["breakdown"] if by_breakdown else []) + ["_known", "messages", col]
    asc = ([True] if by_breakdown else []) + [True, False, True]
    return df.sort_values(keys, ascending=asc, kind="stable").drop(columns="_known")


@records_sql
def distribution(wh, field: str, **scope: Unpack[ScopeArgs]) -> MetricResult:
    """``message_sent`` per value of ``field`` (``language``, ``intent``, ``complexity`` or
    ``category``): count and share (95% Wilson CI). Missing values are ``(none)``.

    Columns: ``[breakdown], <query_field>, messages, share, ci_low, ci_high``.
    """
    col = _field(field)
    sc = resolve(wh, default_window="28d", **scope)
    cols = ["breakdown", col, "messages", "share", "ci_low", "ci_high"]
    sql = f"""
        WITH s AS ({sc.events_cte("message_sent", columns=f"e.{col}")})
        SELECT breakdown, coalesce({sc.d.as_text(col)}, {sc.d.str_lit(NONE)}) AS {col},
               count(*) AS messages
        FROM s GROUP BY ALL
    """
    raw = pd.DataFrame() if _unobserved(sc) else wh.sql(sql)
    if raw.empty:
        df = _empty(cols, text=("breakdown", col))
    else:
        raw["messages"] = raw["messages"].astype("int64")
        df = _shares(raw, "messages", bool(sc.breakdown))
        df = _order_values(df, col, bool(sc.breakdown))[cols].reset_index(drop=True)
    if not sc.breakdown:
        df = df.drop(columns="breakdown")
    name = col.removeprefix("query_")
    return _result(
        f"{name}_distribution",
        f"Queries by {name}",
        df,
        sc,
        f"message_sent per {col} (share with 95% Wilson CI)",
        {"messages": "count", "share": "rate", "ci_low": "rate", "ci_high": "rate"},
        col,
        "share",
        {"field": col, "complete": _complete(sc)},
    )


# ------------------------------------------------------------------------------------------
# Low satisfaction: category x complexity
# ------------------------------------------------------------------------------------------

_LEVELS: tuple[str | None, ...] = ("simple", "medium", "complex", None)


@records_sql
def low_satisfaction(wh, *, min_feedbacks: int = 10, **scope: Unpack[ScopeArgs]) -> MetricResult:
    """Satisfaction per query category × complexity, lowest share positive first.

    Only groups with at least ``min_feedbacks`` feedbacks (seed: 10). Columns:
    ``[breakdown], query_category, query_complexity, feedbacks, positive, negative,
    share_positive, ci_low, ci_high, net_score``. ``extra['excluded']``: groups left out.
    """
    scope = dict(scope)
    user_by = scope.pop("breakdown", None)
    filters = dict(scope.pop("filters", None) or {})
    cols = [
        "breakdown",
        "query_category",
        "query_complexity",
        "feedbacks",
        "positive",
        "negative",
        "share_positive",
        "ci_low",
        "ci_high",
        "net_score",
    ]
    if not user_by:
        res = satisfaction(
            wh, by="query_category", breakdown="query_complexity", filters=filters, **scope
        )
        df = res.df.rename(columns={"breakdown": "query_complexity"})
        df.insert(0, "breakdown", "all")
    else:
        if "query_complexity" in filters:
            raise ValueError(
                "low_satisfaction: a query_complexity filter cannot be combined with a "
                "breakdown (the complexity levels are read one at a time)"
            )
        parts = []
        for level in _LEVELS:
            res = satisfaction(
                wh,
                by="query_category",
                breakdown=user_by,
                filters={**filters, "query_complexity": level},
                **scope,
            )
            d = res.df.copy()
            d["query_complexity"] = level if level is not None else NONE
            parts.append(d)
        df = pd.concat(parts, ignore_index=True) if parts else res.df
    sc = res.scope
    if user_by:
        sc = replace(sc, breakdown=user_by)
    if df.empty or "feedbacks" not in df:
        df = _empty(cols, text=("breakdown", "query_category", "query_complexity"))
        excluded = df
    else:
        df = df.dropna(subset=["feedbacks"])
        keep = df["feedbacks"] >= min_feedbacks
        excluded = df.loc[~keep & (df["feedbacks"] > 0), cols].reset_index(drop=True)
        df = df.loc[keep]
        df = df.sort_values(
            ["share_positive", "feedbacks", "breakdown", "query_category", "query_complexity"],
            ascending=[True, False, True, True, True],
            kind="stable",
        )[cols].reset_index(drop=True)
        for c in ("feedbacks", "positive", "negative"):
            df[c] = df[c].astype("int64")
    if not user_by:
        df = df.drop(columns="breakdown")
        excluded = excluded.drop(columns="breakdown")
    return _result(
        "low_satisfaction",
        "Lowest satisfaction by category and complexity",
        df,
        sc,
        f"share of +1 among feedback ratings ±1 per query_category × query_complexity "
        f"(groups with ≥ {min_feedbacks} feedbacks), lowest first",
        {
            "feedbacks": "count",
            "positive": "count",
            "negative": "count",
            "share_positive": "rate",
            "ci_low": "rate",
            "ci_high": "rate",
            "net_score": "ratio",
        },
        "query_category",
        "share_positive",
        {
            "min_feedbacks": min_feedbacks,
            "excluded": excluded,
            "target_share_positive": 0.7,
            "label_keys": ["query_category", "query_complexity"],
        },
    )


# ------------------------------------------------------------------------------------------
# Trending categories
# ------------------------------------------------------------------------------------------


@records_sql
def trending(
    wh,
    *,
    min_last_week: int = 20,
    period: Literal["week", "day"] = "week",
    **scope: Unpack[ScopeArgs],
) -> MetricResult:
    """Categories this period vs the one before (default: last complete week vs the week
    before), growth and a Poisson significance test; fastest growing first.

    Only categories with at least ``min_last_week`` messages in the previous period.
    ``as_of`` (default: just after the newest event) picks the last complete period;
    ``start``/``end``/``window`` are not used. Columns: ``[breakdown], category,
    this_period, last_period, change, growth, p_value, significant``.
    ``extra['excluded']`` lists categories below the minimum.
    """
    if period not in ("week", "day"):
        raise ValueError("period must be 'week' or 'day'")
    base = resolve(wh, **scope)
    this_start, this_end = last_complete_period(base.as_of, period, base.tz)
    step = timedelta(days=7 if period == "week" else 1)
    prev_start = this_start - step
    sc = base.with_range(prev_start, this_end)
    cols = [
        "breakdown",
        "category",
        "this_period",
        "last_period",
        "change",
        "growth",
        "p_value",
        "significant",
    ]
    d = sc.dialect
    this = sc.ts_sql(this_start)
    sql = f"""
        WITH s AS ({sc.events_cte("message_sent", columns="e.query_category, e.timestamp")})
        SELECT breakdown, coalesce(query_category, {d.str_lit(NONE)}) AS category,
               {d.count_if(f"timestamp >= {this}")} AS this_period,
               {d.count_if(f"timestamp < {this}")} AS last_period
        FROM s GROUP BY ALL
    """
    raw = wh.sql(sql)
    extra: dict[str, Any] = {
        "period": period,
        "this_start": this_start,
        "this_end": this_end,
        "last_start": prev_start,
        "min_last_week": min_last_week,
    }
    if raw.empty:
        df = _empty(cols, text=("breakdown", "category"))
        df["significant"] = df["significant"].astype("bool")
        excluded = df[["breakdown", "category", "this_period", "last_period"]]
    else:
        keep = raw["last_period"] >= min_last_week
        excluded = raw.loc[~keep].sort_values(["breakdown", "category"]).reset_index(drop=True)
        df = raw.loc[keep].copy()
        df["change"] = (df["this_period"] - df["last_period"]).astype("int64")
        df["growth"] = df["change"] / df["last_period"]
        df["p_value"] = [
            poisson_p(a, b) for a, b in zip(df["this_period"], df["last_period"], strict=True)
        ]
        df["p_value"] = df["p_value"].astype("float64")
        df["significant"] = (df["p_value"] < ALPHA).fillna(False).astype(bool)
        df = df.sort_values(
            ["breakdown", "growth", "this_period", "category"],
            ascending=[True, False, False, True],
            kind="stable",
        )[cols].reset_index(drop=True)
    if not sc.breakdown:
        df = df.drop(columns="breakdown")
        excluded = excluded.drop(columns="breakdown")
    extra["excluded"] = excluded
    label = "week" if period == "week" else "day"
    res = _result(
        "trending",
        f"Trending categories ({this_start:%Y-%m-%d} vs previous {label})",
        df,
        sc,
        f"message_sent per query_category, last complete {label} vs the {label} before; "
        f"growth = (this − last) / last; categories with ≥ {min_last_week} last {label}; "
        "significant: Poisson test p < 0.05",
        {
            "this_period": "count",
            "last_period": "count",
            "change": "count",
            "growth": "change",
            "p_value": "p",
        },
        "category",
        "growth",
        extra,
        ci=False,
    )
    res.plotter = _plot_growth
    return res


def _plot_growth(res: MetricResult, ax=None, **kw):
    """Growth per category (percent axis), significant ones marked ``*``."""
    d = res.df.copy()
    d["_label"] = _labels(d, ["category"]) + [" *" if s else "" for s in d["significant"]]
    d["growth"] = d["growth"].fillna(0.0)
    label = "week" if res.extra.get("period") == "week" else "day"
    return charts.barh(
        d,
        "_label",
        "growth",
        title=res.title,
        xlabel=kw.pop("xlabel", f"Growth vs previous {label} (%; * p < 0.05)"),
        unit="rate",
        ax=ax,
    )


# ------------------------------------------------------------------------------------------
# Sessions
# ------------------------------------------------------------------------------------------


def _sessions_sql(sc: Scope, by: Sequence[str], gap_minutes: float, min_messages: int) -> str:
    """One scan (24 h margins); inactivity split by ``lag`` + running sum on events without
    a session id; GROUP BY session; person properties joined per session afterwards."""
    dl = sc.dialect
    wide = sc.with_range(sc.start - SESSION_MARGIN, sc.end + SESSION_MARGIN)  # capped at as_of
    end = min(sc.end_utc, sc.as_of_utc)
    dims = [(f"by_{i}", k) for i, k in enumerate(by)]
    if sc.breakdown:
        dims.append(("breakdown", sc.breakdown))
    # event properties: the value on the session's first event; person properties: the
    # person's latest value, joined once per session
    ev_dims = [(n, k) for n, k in dims if not is_person_key(k)]
    p_dims = [(n, k) for n, k in dims if is_person_key(k)]
    ev_cols = "".join(f", {sc.prop_sql(k, 'e', 'p')} AS {n}" for n, k in ev_dims)
    ev_names = "".join(f", {n}" for n, _ in ev_dims)
    ev_firsts = "".join(f", {dl.arg_min(n, 'timestamp')} AS {n}" for n, _ in ev_dims)
    none = dl.str_lit(NONE)
    out = {n: f"coalesce({dl.as_text(f'd.{n}')}, {none})" for n, _ in ev_dims}
    out.update({n: f"coalesce({dl.as_text(sc.prop_sql(k, 'd', 'p'))}, {none})" for n, k in p_dims})
    if not sc.breakdown:
        out["breakdown"] = "'all'"
    keys = [f"by_{i}" for i in range(len(by))]
    scan_join = (
        "LEFT JOIN persons p ON p.person_id = e.person_id"
        if any(is_person_key(k) for k in sc.filters)
        else ""
    )
    sess_join = "LEFT JOIN persons p ON p.person_id = d.person_id" if p_dims else ""
    sets = f"GROUPING SETS ((breakdown, {', '.join(keys)}), (breakdown))" if by else "breakdown"
    grouped = f"grouping({', '.join(keys)})" if by else "0"
    return f"""
        WITH e AS {dl.cte_hint(False)}(
            SELECT e.person_id, e.session_id, e.timestamp, e.uuid,
                   e.event = 'message_sent' AS is_msg{ev_cols}
            FROM events e {scan_join}
            WHERE {wide.time_bounds_sql("e.timestamp")} AND {sc.filter_sql("e", "p")}
        ),
        ns AS (
            SELECT *,
                   CAST(sum(CASE WHEN prev IS NULL
                                 OR timestamp - prev >= {dl.interval_minutes(gap_minutes)}
                            THEN 1 ELSE 0 END)
                       OVER (PARTITION BY person_id ORDER BY timestamp, uuid
                             ROWS UNBOUNDED PRECEDING) AS BIGINT) AS k
            FROM (
                SELECT *, lag(timestamp) OVER (PARTITION BY person_id ORDER BY timestamp, uuid)
                           AS prev
                FROM e WHERE session_id IS NULL
            )
        ),
        s AS (
            SELECT session_id, {dl.null("BIGINT")} AS k, person_id, timestamp, is_msg{ev_names}
            FROM e WHERE session_id IS NOT NULL
            UNION ALL
            SELECT NULL, k, person_id, timestamp, is_msg{ev_names} FROM ns
        ),
        sess AS (
            SELECT {dl.any_value("person_id")} AS person_id, min(timestamp) AS first_ts,
                   max(timestamp) AS last_ts, {dl.count_if("is_msg")} AS messages{ev_firsts}
            FROM s
            GROUP BY session_id, CASE WHEN session_id IS NULL THEN person_id END, k
        ),
        d AS (
            SELECT *, ({dl.epoch_ms("last_ts")} - {dl.epoch_ms("first_ts")}) / 1000.0 AS duration
            FROM sess
            WHERE first_ts >= {sc.ts_sql(sc.start)} AND first_ts < {dl.ts_lit(end)}
              AND messages >= {int(min_messages)}
        ),
        g AS (
            SELECT {", ".join(f"{expr} AS {n}" for n, expr in out.items())},
                   messages, duration
            FROM d {sess_join}
        )
        SELECT {", ".join(["breakdown", *keys])}, {grouped} AS is_total,
               count(*) AS sessions, CAST(sum(messages) AS BIGINT) AS messages,
               avg(messages) AS messages_per_session,
               {dl.median("messages")} AS messages_per_session_median,
               avg(duration) AS duration_seconds,
               {dl.median("duration")} AS duration_median_seconds
        FROM g GROUP BY {sets}
    """


@records_sql
def sessions(
    wh,
    *,
    by: Sequence[str] | str | None = ("plan", "user_type"),
    min_messages: int = 1,
    gap_minutes: float = SESSION_GAP_MINUTES,
    **scope: Unpack[ScopeArgs],
) -> MetricResult:
    """Messages per session and session duration by ``by`` (person or event properties).

    Columns: ``[breakdown], <by...>, sessions, messages, messages_per_session,
    messages_per_session_median, duration_seconds, duration_median_seconds``; most
    messages per session first. ``extra['overall']``: the same numbers for all sessions
    (per breakdown value).
    """
    by = [by] if isinstance(by, str) else list(by or [])
    names = [k.rpartition(":")[2] for k in by]
    if len(set(names)) != len(names):
        raise ValueError(f"by names a property twice: {by}")
    sc = resolve(wh, default_window="28d", **scope)
    for k in by:
        sc.prop_sql(k)  # validates the name
    stats = [
        "sessions",
        "messages",
        "messages_per_session",
        "messages_per_session_median",
        "duration_seconds",
        "duration_median_seconds",
    ]
    cols = ["breakdown", *names, *stats]
    raw = (
        pd.DataFrame()
        if _unobserved(sc)
        else wh.sql(_sessions_sql(sc, by, gap_minutes, min_messages))
    )
    if raw.empty:
        df = _empty(cols, text=("breakdown", *names))
        overall = _empty(["breakdown", *stats], text=("breakdown",))
    else:
        raw = raw.rename(columns={f"by_{i}": n for i, n in enumerate(names)})
        for c in ("sessions", "messages"):
            raw[c] = raw[c].astype("int64")
        for c in stats[2:]:
            raw[c] = raw[c].astype("float64")
        total = raw["is_total"].astype(int) > 0 if by else pd.Series(True, index=raw.index)
        overall = raw.loc[total, ["breakdown", *stats]].sort_values("breakdown")
        overall = overall.reset_index(drop=True)
        df = raw.loc[~total] if by else raw
        df = df.sort_values(
            ["breakdown", "messages_per_session", "sessions", *names],
            ascending=[True, False, False, *([True] * len(names))],
            kind="stable",
        )[cols].reset_index(drop=True)
    if not sc.breakdown:
        df = df.drop(columns="breakdown")
        overall = overall.drop(columns="breakdown")
    units = {
        "sessions": "count",
        "messages": "count",
        "messages_per_session": "number",
        "messages_per_session_median": "number",
        "duration_seconds": "seconds",
        "duration_median_seconds": "seconds",
    }
    return MetricResult(
        name="sessions",
        title="Messages per session" + (f" by {', '.join(names)}" if names else ""),
        df=df,
        definition=(
            "sessions = events with one session_id (else per person, split by "
            f"{gap_minutes:g} min of inactivity) with ≥ {min_messages} message_sent; "
            "duration = last − first event"
        ),
        scope=sc,
        units=units,
        x=names[0] if names else None,
        y="messages_per_session",
        kind="barh",
        extra={
            "overall": overall,
            "by": names,
            "gap_minutes": gap_minutes,
            "min_messages": min_messages,
            "complete": _complete(sc),
        },
        plotter=_plot_sessions,
    )


def _plot_sessions(res: MetricResult, ax=None, **kw):
    """Bars of mean messages per session per group (one bar overall without ``by``)."""
    names = res.extra.get("by") or []
    if not names:
        d = res.extra["overall"].copy()
        label = d["breakdown"].astype(str) if "breakdown" in d else ["all sessions"] * len(d)
        d.insert(0, "_label", label)
    else:
        d = res.df.copy()
        d["_label"] = _labels(d, names)
    d = d.assign(messages_per_session=d["messages_per_session"].fillna(0.0))
    return charts.barh(
        d,
        "_label",
        "messages_per_session",
        title=res.title,
        xlabel=kw.pop("xlabel", "Messages per session (mean)"),
        unit="number",
        ax=ax,
    )
