"""Churn risk (METRICS.md section 8): the seed's rule score and a trained model beside it.

Functions
---------
:func:`rule_score`     the seed's churn risk score 0–100 per person, exactly its SQL
                       (seed section 7, "Predictive Churn Analysis"), with its inputs and a
                       risk band.
:func:`churn_model`    churned = no active event in the 14 days after a reference date;
                       features from the 28 days before; trained on earlier reference
                       dates, evaluated on a later one; accuracy, precision, recall and ROC
                       AUC of the model *and* of the rule score on the same test set.
:func:`at_risk`        persons (hashed ids) ranked by churn probability and/or rule score.

The rule score, branch by branch
--------------------------------
The seed computes, per user over all their events, ``last_seen``, ``recent_messages``
(events in the last 7 days), ``avg_satisfaction`` and ``error_count``, then::

    CASE
      WHEN days_since_last > 30 THEN 100   -- gone for a month
      WHEN days_since_last > 14 THEN 80    -- gone for two weeks
      WHEN days_since_last > 7  THEN 60    -- gone for a week (seed signal "no activity 7+ days")
      WHEN recent_messages < 2  THEN 50    -- barely used in the last 7 days
      WHEN avg_satisfaction < 0.5 THEN 70  -- unhappy with the answers
      WHEN error_count > 3 THEN 65         -- hit errors
      ELSE 20                              -- engaged
    END

The **first matching branch wins**, so the order is part of the definition:

- The three recency branches are nested thresholds; tested in the opposite order
  (``> 7`` first) everyone inactive for more than a week would get 60, never 80 or 100.
- Recency outranks everything: a person inactive for 8 days with bad ratings gets 60,
  not 70.
- ``recent_messages < 2`` (50) is tested *before* satisfaction (70) and errors (65):
  a person with at most one message this week scores 50 even when unhappy or hitting
  errors, i.e. the score is not monotone in the number of signals (a low-activity
  unhappy user ranks below an active unhappy one). We keep this exactly: it is the
  seed's definition, and it is why the score is shown with its ``branch``.
- ``avg_satisfaction`` is NULL for a person who never rated: ``NULL < 0.5`` is not true in
  SQL, so the branch is skipped (not treated as unhappy), as in the seed.

Mapping the seed's columns onto the tracking plan (choices, also in
``docs/metrics-churn-segments-experiments.md``):

- **Who is scored**: the seed keeps ``user_id IS NOT NULL``; here, persons (after
  identity stitching) with at least one *active event* (default ``message_sent``) before
  ``as_of``: anonymous visitors who never chatted are not users. With an explicit range
  (``start``/``end``/``window``) only persons with an active event in the range are
  scored (their inputs still use all history before ``as_of``).
- ``NOW()`` is ``as_of`` (default: just after the newest event); every event at or after
  it is ignored.
- ``last_seen``: the time of the person's last **active event** (not of any event: page
  views, server-side ``payment_failed`` or an automatic ``subscription_cancelled`` would
  otherwise count as activity). ``days_since_last = (as_of − last_seen) / 86400 s``,
  fractional, as ``EXTRACT(EPOCH ...) / 86400``: exactly 7 days is *not* ``> 7``.
- ``recent_messages``: active events in ``[as_of − 7 days, as_of)``, "7 days" being 7
  calendar days of the report timezone (Postgres ``INTERVAL '7 days'``). The seed's
  ``COUNT(*)`` counts every event; here only active events, as the column's name says
  (every chat turn would otherwise emit 3–5 events and the branch could never fire).
- ``avg_satisfaction``: the seed averages a ``satisfaction_score`` property that its own
  tracking never sends; its dashboard's "Satisfaction Score" is ``avg(feedback_given.rating)``
  and its alert is ``avg(rating) < 0.5``, so this is the mean ``rating`` of the person's
  ``feedback_given`` events (all history, in [−1, 1]).
- ``error_count``: the person's ``error_occurred`` events over all history, as the seed.
- **Band**: the seed acts on ``churn_risk > 70`` (discount offer), so ``high`` = score > 70
  (80, 100: inactive over 14 days), ``medium`` = 50–70, ``low`` = 20. As a classifier
  ("will churn"), the rule predicts churn for ``high``.

The model
---------
- **Reference date** r: a local midnight. Population: persons with ≥1 active event in
  ``[r − 28 d, r)``. Label: *churned* = no active event in ``[r, r + 14 d)``.
- **Split in time**: the test reference date is ``reference_date`` (default: the last
  local midnight with ``r + 14 d <= as_of``); training uses ``train_refs`` earlier dates
  (default 3), ``14 d``, ``21 d``, ``28 d`` before it, so every training label is known at
  the test date (no leakage). A person can appear at several training dates.
- **Features** (window ``[r − 28 d, r)`` unless said): messages, messages and active
  events in the last 7 days, active days, sessions (distinct ``session_id`` of active
  events per local day, summed: a session crossing midnight counts twice), days since
  last active event, share of the window's active events in its last 7 days, errors and
  errors per message, feedback count and share positive, mean reply latency
  (``message_received`` or ``$ai_generation``), voice and export uses, other features used,
  pricing views, ``payment_failed`` count, subscribed at r and plan (last
  ``subscription_started`` / ``subscription_cancelled`` before r, all history), tenure
  (days since the person's first event), the number of categories asked about and the
  share of messages in each of the 8 most asked categories, and the rule score's
  all-history inputs (mean rating, errors).
- **SQL** (:func:`features_sql`): one scan of the needed events (all history for errors,
  feedback and subscriptions; the windows for the rest), aggregated per person, local day
  and session, then per person and day; the day rows joined with the few reference days
  and aggregated per (reference day, person). The rule score of each row is the seed CASE
  over the same signals (equal to :func:`rule_score` as of that midnight; tested).
- **Training rows**: at most ``max_train_rows`` (200,000; a fixed-seed random sample
  beyond), which keeps a 50M-event warehouse fast without changing the estimates much.
- **Model**: ``logistic`` (default; counts ``log1p``-transformed, median imputation with
  missing indicators, standard scaling, ``LogisticRegression``) or ``gbm``
  (``HistGradientBoostingClassifier``, missing values native). Fixed ``random_state``.
  Top features: standardised coefficients (logistic) or permutation importance on the
  test set (gbm, ROC AUC, 3 repeats).
- **Evaluation** on the test date: accuracy, precision, recall (churn is the positive
  class, model threshold 0.5), ROC AUC; the same for the rule score (churn predicted when
  score > 70; its AUC ranks persons by score, ties averaged) and for the majority-class
  baseline. The seed's target is accuracy above 70% (``target_met``).

Breakdown: a person property only (``country``, ``plan``...): churn is per person, an
event property would split one person's history. Event filters restrict the events read.
"""

from __future__ import annotations

import html
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from typing import Any, Literal

import numpy as np
import pandas as pd
from typing_extensions import Unpack

from ..display import charts
from ..display.text import safe_frame
from ..metrics.results import MetricResult, header_html
from ..warehouse.dialects import Dialect
from ..warehouse.privacy import hash_id_sql
from ..warehouse.scope import (
    DEFAULT_DIALECT,
    ActiveEvent,
    Scope,
    ScopeArgs,
    is_person_key,
    resolve,
)
from ..warehouse.scope import active_events as _active
from ..warehouse.sqltrace import records_sql, sql_details_html

__all__ = [
    "RULE_BRANCHES",
    "ChurnModelResult",
    "at_risk",
    "churn_model",
    "rule_case_sql",
    "rule_score",
]


#: The seed's CASE, in order: (branch name, condition on the signals, score).
RULE_BRANCHES: tuple[tuple[str, str, int], ...] = (
    ("inactive_30d", "days_since_last > 30", 100),
    ("inactive_14d", "days_since_last > 14", 80),
    ("inactive_7d", "days_since_last > 7", 60),
    ("few_recent_messages", "recent_messages < 2", 50),
    ("low_satisfaction", "avg_satisfaction < 0.5", 70),
    ("errors", "error_count > 3", 65),
)
RULE_ELSE: tuple[str, int] = ("engaged", 20)
#: the seed acts on ``churn_risk > 70``: the rule's "will churn" threshold
HIGH_RISK_ABOVE = 70
FEATURE_DAYS = 28
HORIZON_DAYS = 14
RECENT_DAYS = 7
TARGET_ACCURACY = 0.70
RANDOM_STATE = 0
TOP_CATEGORIES = 8
_HISTORY_EVENTS = (
    "error_occurred",
    "feedback_given",
    "subscription_started",
    "subscription_cancelled",
)
_FEATURE_EVENTS = (
    "message_sent",
    "message_received",
    "$ai_generation",
    "voice_used",
    "export_clicked",
    "feature_used",
    "page_viewed",
    "payment_failed",
)
_US_PER_DAY = 86_400_000_000


# ------------------------------------------------------------------------------------------
# SQL
# ------------------------------------------------------------------------------------------


def rule_case_sql(
    days: str = "days_since_last",
    recent: str = "recent_messages",
    satisfaction: str = "avg_satisfaction",
    errors: str = "error_count",
    *,
    what: Literal["score", "branch"] = "score",
    dialect: Dialect = DEFAULT_DIALECT,
) -> str:
    """The seed's CASE (first matching branch wins) over the given signal columns."""
    cols = {
        "days_since_last": days,
        "recent_messages": recent,
        "avg_satisfaction": satisfaction,
        "error_count": errors,
    }
    parts = []
    for name, cond, score in RULE_BRANCHES:
        col, op, value = cond.split(" ")
        out = str(score) if what == "score" else dialect.str_lit(name)
        parts.append(f"WHEN {cols[col]} {op} {value} THEN {out}")
    other = str(RULE_ELSE[1]) if what == "score" else dialect.str_lit(RULE_ELSE[0])
    return "CASE " + " ".join(parts) + f" ELSE {other} END"


def band_of(score: float) -> str:
    """Risk band of a rule score: ``high`` (> 70), ``medium`` (50–70), ``low`` (< 50)."""
    if score > HIGH_RISK_ABOVE:
        return "high"
    return "medium" if score >= 50 else "low"


def _band_sql(col: str = "score") -> str:
    return f"CASE WHEN {col} > {HIGH_RISK_ABOVE} THEN 'high' WHEN {col} >= 50 THEN 'medium' ELSE 'low' END"


def _days_between(d: Dialect, later: str, earlier: str) -> str:
    """SQL: fractional days from ``earlier`` to ``later`` (EXTRACT(EPOCH ...) / 86400)."""
    return f"(({d.epoch_us(later)} - {d.epoch_us(earlier)}) / {_US_PER_DAY}.0)"


def _check_breakdown(sc: Scope) -> None:
    if sc.breakdown and not is_person_key(sc.breakdown):
        raise ValueError(
            f"breakdown {sc.breakdown!r}: churn is per person, break down by a person "
            "property (plan, country, user_type, language, timezone)"
        )


def _wide(sc: Scope) -> Scope:
    """The scope with its range end pushed past ``as_of``: reads every event before it."""
    return sc.with_range(sc.start, max(sc.end, sc.as_of.date() + timedelta(days=2)))


def rule_signals_sql(
    sc: Scope,
    *,
    active: list[str] | None,
    range_start: date | None = None,
) -> str:
    """SQL: one row per person with the seed's signals as of ``sc.as_of`` (all history
    before it), the score, its branch and band. Population: persons with an active event
    before ``as_of`` (and, with ``range_start``, one in ``[range_start, end)``). Person ids
    leave the query only hashed (column ``person``).

    One scan of the active, ``error_occurred`` and ``feedback_given`` events, one GROUP BY
    person.
    """
    names = None if active is None else sorted({*active, "error_occurred", "feedback_given"})
    src = _wide(sc).events_cte(
        names, columns="e.person_id, e.event, e.timestamp, e.rating", start=False
    )
    d = sc.dialect
    as_of = sc.as_of_sql()
    lo7 = sc.ts_sql(_norm(sc, sc.as_of.astimezone(sc.zone) - timedelta(days=RECENT_DAYS)))
    act = d.in_list("x.event", active)
    having = f"count(*) FILTER (WHERE {act}) > 0"
    if range_start is not None:
        lo, hi = sc.ts_sql(range_start), sc.ts_sql(sc.end)
        having = f"count(*) FILTER (WHERE {act} AND x.timestamp >= {lo} AND x.timestamp < {hi}) > 0"
    return f"""
        WITH s AS (
            SELECT x.person_id, {d.any_value("x.breakdown")} AS breakdown,
                   max(x.timestamp) FILTER (WHERE {act}) AS last_seen,
                   count(*) FILTER (WHERE {act} AND x.timestamp >= {lo7}) AS recent_messages,
                   avg(x.rating) FILTER (WHERE x.event = 'feedback_given') AS avg_satisfaction,
                   count(*) FILTER (WHERE x.event = 'error_occurred') AS error_count
            FROM ({src}) x
            GROUP BY x.person_id
            HAVING {having}
        ),
        sig AS (
            SELECT {hash_id_sql("person_id", d)} AS person, breakdown, last_seen,
                   {_days_between(d, as_of, "last_seen")} AS days_since_last,
                   recent_messages, avg_satisfaction, error_count
            FROM s
        )
        SELECT sig.*, {rule_case_sql()} AS score,
               {rule_case_sql(what="branch", dialect=d)} AS branch,
               {_band_sql(rule_case_sql())} AS band
        FROM sig"""


def features_sql(
    sc: Scope,
    ref_days: Sequence[date],
    *,
    active: list[str] | None,
    categories: Sequence[str] = (),
    feature_days: int = FEATURE_DAYS,
    horizon_days: int = HORIZON_DAYS,
) -> str:
    """SQL: one row per (reference day, person) for persons with an active event in the
    ``feature_days`` local days before the reference day's midnight ``r``: the model
    features of ``[r − feature_days, r)``, the rule-score signals as of ``r`` (all history)
    with the score, and the label ``churned`` (no active event in
    ``[r, r + horizon_days)``).

    Shape: one scan of the events needed (all history for errors, feedback and
    subscriptions, the windows for the rest), aggregated per person and local day; the
    day rows joined with the few reference days; one GROUP BY (reference, person).
    Reference moments are local midnights, so every window is a range of local days.
    """
    dl = sc.dialect
    days = sorted(ref_days)
    lo = days[0] - timedelta(days=feature_days)
    hi = days[-1] + timedelta(days=horizon_days)
    scope = _wide(sc)
    names = None if active is None else sorted({*active, *_HISTORY_EVENTS, *_FEATURE_EVENTS})
    src = scope.events_cte(
        names,
        columns=(
            "e.person_id, e.event, e.timestamp, e.session_id, e.rating, e.response_latency_ms, "
            "e.query_category, e.plan, "
            "CASE WHEN e.event = 'page_viewed' "
            f"THEN {dl.json_text('e.properties', 'path')} END AS path, "
            "CASE WHEN e.event = 'feature_used' "
            f"THEN {dl.json_text('e.properties', 'feature')} END AS feature"
        ),
        start=False,
        extra_where=(
            f"({dl.in_list('e.event', _HISTORY_EVENTS)} OR e.timestamp >= {sc.ts_sql(lo)}) "
            f"AND e.timestamp < {sc.ts_sql(hi)}"
        ),
    )
    act = dl.in_list("x.event", active)
    sub = "x.event IN ('subscription_started', 'subscription_cancelled')"
    reply = "x.event IN ('message_received', '$ai_generation')"
    voice = "(x.event = 'voice_used' OR x.feature = 'voice')"
    export = "(x.event = 'export_clicked' OR x.feature = 'export')"
    pricing = (
        "((x.event = 'page_viewed' AND x.path LIKE '/pricing%') OR x.feature = 'pricing_page')"
    )
    cat_day = "".join(
        f", count(*) FILTER (WHERE x.event = 'message_sent' AND x.query_category = "
        f"{dl.str_lit(c)}) AS cat_{i}"
        for i, c in enumerate(categories)
    )
    refs = " UNION ALL ".join(
        f"SELECT {dl.date_lit(r)} AS ref_day, {sc.ts_sql(_midnight(sc, r))} AS ref" for r in days
    )
    in_win = f"d.day >= {dl.add_days('r.ref_day', -int(feature_days))} AND d.day < r.ref_day"
    before = "d.day < r.ref_day"
    recent = f"d.day >= {dl.add_days('r.ref_day', -RECENT_DAYS)} AND d.day < r.ref_day"
    future = f"d.day >= r.ref_day AND d.day < {dl.add_days('r.ref_day', int(horizon_days))}"
    win_sums = [
        ("messages", "messages"),
        ("active_events", "active_events"),
        ("sessions", "sessions"),
        ("errors", "errors"),
        ("feedbacks", "feedbacks"),
        ("positive", "positive"),
        ("voice", "voice"),
        ("export", "export"),
        ("features_used", "features_used"),
        ("pricing_views", "pricing_views"),
        ("payment_failed", "payment_failed"),
        ("latency_sum", "latency_sum"),
        ("latency_n", "latency_n"),
    ] + [(f"cat_{i}", f"cat_{i}") for i in range(len(categories))]
    aggs = ",\n                   ".join(
        f"coalesce(sum(d.{c}) FILTER (WHERE {in_win}), 0) AS {alias}" for c, alias in win_sums
    )
    summed = [
        "active_events",
        "messages",
        "errors",
        "feedbacks",
        "positive",
        "rating_sum",
        "rating_n",
        "latency_sum",
        "latency_n",
        "voice",
        "export",
        "features_used",
        "pricing_views",
        "payment_failed",
    ] + [f"cat_{i}" for i in range(len(categories))]
    day_sums = ", ".join(f"sum({c}) AS {c}" for c in summed)
    days_since = _days_between(dl, "s.ref", "s.last_seen")
    cat_cols = "".join(f", s.cat_{i}" for i in range(len(categories)))
    return f"""
        WITH refs AS ({refs}),
        sd AS (
            SELECT x.person_id, CAST(x.lts AS DATE) AS day, x.session_id,
                   {dl.any_value("x.breakdown")} AS breakdown,
                   count(*) FILTER (WHERE {act}) AS active_events,
                   max(x.timestamp) FILTER (WHERE {act}) AS last_active,
                   count(*) FILTER (WHERE x.event = 'message_sent') AS messages,
                   count(*) FILTER (WHERE x.event = 'error_occurred') AS errors,
                   count(*) FILTER (WHERE x.event = 'feedback_given') AS feedbacks,
                   count(*) FILTER (WHERE x.event = 'feedback_given' AND x.rating = 1)
                       AS positive,
                   sum(x.rating) FILTER (WHERE x.event = 'feedback_given') AS rating_sum,
                   count(x.rating) FILTER (WHERE x.event = 'feedback_given') AS rating_n,
                   sum(x.response_latency_ms) FILTER (WHERE {reply}) AS latency_sum,
                   count(x.response_latency_ms) FILTER (WHERE {reply}) AS latency_n,
                   count(*) FILTER (WHERE {voice}) AS voice,
                   count(*) FILTER (WHERE {export}) AS export,
                   count(*) FILTER (WHERE x.event = 'feature_used') AS features_used,
                   count(*) FILTER (WHERE {pricing}) AS pricing_views,
                   count(*) FILTER (WHERE x.event = 'payment_failed') AS payment_failed,
                   max(x.timestamp) FILTER (WHERE {sub}) AS sub_ts,
                   {dl.arg_max("x.event", "x.timestamp")} FILTER (WHERE {sub}) AS sub_event,
                   {dl.arg_max("x.plan", "x.timestamp")} FILTER (WHERE {sub}) AS sub_plan{cat_day}
            FROM ({src}) x
            GROUP BY x.person_id, CAST(x.lts AS DATE), x.session_id
        ),
        d AS (
            SELECT person_id, day, {dl.any_value("breakdown")} AS breakdown,
                   max(last_active) AS last_active,
                   count(*) FILTER (WHERE session_id IS NOT NULL AND active_events > 0)
                       AS sessions,
                   {day_sums},
                   max(sub_ts) AS sub_ts,
                   {dl.arg_max("sub_event", "sub_ts")} AS sub_event,
                   {dl.arg_max("sub_plan", "sub_ts")} AS sub_plan
            FROM sd
            GROUP BY person_id, day
        ),
        s AS (
            SELECT r.ref, r.ref_day, d.person_id, {dl.any_value("d.breakdown")} AS breakdown,
                   max(d.last_active) FILTER (WHERE {before}) AS last_seen,
                   coalesce(sum(d.active_events) FILTER (WHERE {recent}), 0) AS recent_messages,
                   sum(d.rating_sum) FILTER (WHERE {before})
                       / nullif(sum(d.rating_n) FILTER (WHERE {before}), 0) AS avg_satisfaction,
                   coalesce(sum(d.errors) FILTER (WHERE {before}), 0) AS error_count,
                   count(*) FILTER (WHERE {in_win} AND d.active_events > 0) AS active_days,
                   coalesce(sum(d.messages) FILTER (WHERE {recent}), 0) AS messages_7d,
                   {dl.arg_max("d.sub_event", "d.sub_ts")}
                       FILTER (WHERE {before} AND d.sub_ts IS NOT NULL) AS last_sub_event,
                   {dl.arg_max("d.sub_plan", "d.sub_ts")}
                       FILTER (WHERE {before} AND d.sub_ts IS NOT NULL) AS last_sub_plan,
                   coalesce(sum(d.active_events) FILTER (WHERE {future}), 0) AS future_active,
                   {aggs}
            FROM d JOIN refs r
              ON d.day < {dl.add_days("r.ref_day", int(horizon_days))}
             AND (d.day >= {dl.add_days("r.ref_day", -int(feature_days))} OR d.errors > 0
                  OR d.feedbacks > 0 OR d.sub_ts IS NOT NULL)
            GROUP BY r.ref, r.ref_day, d.person_id
            HAVING count(*) FILTER (WHERE {in_win} AND d.active_events > 0) > 0
        ),
        sig AS (
            SELECT s.ref, s.ref_day, {hash_id_sql("s.person_id", dl)} AS person, s.breakdown,
                   s.last_seen, {days_since} AS days_since_last, s.recent_messages,
                   s.avg_satisfaction, s.error_count,
                   s.messages, s.messages_7d, s.active_events, s.active_days, s.sessions,
                   s.errors, s.feedbacks,
                   s.positive / nullif(s.feedbacks, 0) AS share_positive,
                   s.latency_sum / nullif(s.latency_n, 0) AS latency_ms,
                   s.voice, s.export, s.features_used, s.pricing_views, s.payment_failed,
                   coalesce(s.last_sub_event = 'subscription_started', FALSE) AS subscribed,
                   CASE WHEN s.last_sub_event = 'subscription_started'
                        THEN coalesce(s.last_sub_plan, 'paid') ELSE 'free' END AS sub_plan,
                   {_days_between(dl, "s.ref", "p.first_seen")} AS tenure_days,
                   CAST(s.future_active = 0 AS INTEGER) AS churned{cat_cols}
            FROM s LEFT JOIN persons p ON p.person_id = s.person_id
        )
        SELECT sig.*, {rule_case_sql()} AS score,
               {rule_case_sql(what="branch", dialect=dl)} AS branch,
               {_band_sql(rule_case_sql())} AS band
        FROM sig"""


def _midnight(sc: Scope, d: date) -> datetime:
    return datetime.combine(d, time(0), tzinfo=sc.zone)


def _norm(sc: Scope, x: datetime) -> datetime:
    """Wall-clock arithmetic result re-attached to its zone (handles DST shifts)."""
    return datetime.combine(x.date(), x.time(), tzinfo=sc.zone)


# ------------------------------------------------------------------------------------------
# Rule score
# ------------------------------------------------------------------------------------------

_RULE_UNITS = {
    "days_since_last": "number",
    "recent_messages": "count",
    "avg_satisfaction": "ratio",
    "error_count": "count",
    "score": "count",
}
_RULE_COLS = [
    "person",
    "last_seen",
    "days_since_last",
    "recent_messages",
    "avg_satisfaction",
    "error_count",
    "score",
    "branch",
    "band",
]


def _has_range(scope: dict[str, Any]) -> bool:
    return any(scope.get(k) is not None for k in ("start", "window"))


def _plot_rule(res: MetricResult, ax=None, **kw):
    counts = res.extra.get("by_branch")
    if counts is None or counts.empty:
        counts = pd.DataFrame({"branch": [], "persons": []})
    labels = [f"{b} ({s})" for b, s in zip(counts["branch"], counts["score"], strict=False)]
    d = pd.DataFrame({"branch": labels, "persons": counts["persons"]})
    return charts.barh(
        d, "branch", "persons", title=res.title, xlabel="persons", unit="users", ax=ax
    )


@records_sql
def rule_score(wh, *, active_event: ActiveEvent = None, **scope: Unpack[ScopeArgs]) -> MetricResult:
    """The seed's churn risk score (0–100) per person as of ``as_of``, with its inputs,
    the CASE branch that gave it and a risk band (high > 70 ≥ medium ≥ 50 > low).

    Persons are hashed ids; highest risk first. See the module docstring for each branch.
    """
    sc = resolve(wh, default_window="3650d", **scope)
    _check_breakdown(sc)
    active = _active(active_event)
    range_start = sc.start if _has_range(scope) else None
    sql = rule_signals_sql(sc, active=active, range_start=range_start)
    cols = (["breakdown"] if sc.breakdown else []) + _RULE_COLS
    df = wh.sql(f"SELECT * FROM ({sql}) ORDER BY score DESC, days_since_last DESC, person")
    df = df.reindex(columns=cols)
    by_branch = _branch_counts(df)
    return MetricResult(
        name="rule_score",
        title="Churn risk score (seed rule)",
        df=df.reset_index(drop=True),
        definition=(
            "Seed CASE, first match wins: inactive >30 d → 100, >14 d → 80, >7 d → 60; "
            "<2 active events in 7 d → 50; mean rating <0.5 → 70; >3 errors → 65; else 20. "
            f"Persons with an active event ({_describe(active)}) before as_of."
        ),
        scope=sc,
        units=_RULE_UNITS,
        kind="barh",
        extra={
            "by_branch": by_branch,
            "high_risk": int((df["score"] > HIGH_RISK_ABOVE).sum()) if len(df) else 0,
            "threshold": HIGH_RISK_ABOVE,
        },
        plotter=_plot_rule,
    )


def _describe(active: list[str] | None) -> str:
    return "any event" if active is None else " or ".join(active)


def _branch_counts(df: pd.DataFrame) -> pd.DataFrame:
    order = [*RULE_BRANCHES, (RULE_ELSE[0], "otherwise", RULE_ELSE[1])]
    counts = df["branch"].value_counts() if len(df) else pd.Series(dtype=int)
    return pd.DataFrame(
        {
            "branch": [b[0] for b in order],
            "condition": [b[1] for b in order],
            "score": [b[2] for b in order],
            "persons": [int(counts.get(b[0], 0)) for b in order],
        }
    )


# ------------------------------------------------------------------------------------------
# Model
# ------------------------------------------------------------------------------------------

_COUNT_FEATURES = [
    "messages",
    "messages_7d",
    "active_events",
    "recent_messages",
    "active_days",
    "sessions",
    "errors",
    "feedbacks",
    "voice",
    "export",
    "features_used",
    "pricing_views",
    "payment_failed",
    "error_count",
]
_NUM_FEATURES = [
    "days_since_last",
    "recent_share",
    "errors_per_message",
    "share_positive",
    "avg_satisfaction",
    "latency_ms",
    "tenure_days",
]
_PLANS = ("pro", "enterprise")


def _design(df: pd.DataFrame, categories: Sequence[str]) -> pd.DataFrame:
    """The feature matrix from the SQL rows (vectorised column arithmetic only)."""
    X = pd.DataFrame(index=df.index)
    for c in _COUNT_FEATURES:
        X[c] = np.log1p(df[c].astype(float))
    act = df["active_events"].astype(float)
    msgs = df["messages"].astype(float)
    X["days_since_last"] = df["days_since_last"].astype(float)
    X["recent_share"] = df["recent_messages"].astype(float) / act.where(act > 0)
    X["errors_per_message"] = df["errors"].astype(float) / msgs.where(msgs > 0)
    X["share_positive"] = df["share_positive"].astype(float)
    X["avg_satisfaction"] = df["avg_satisfaction"].astype(float)
    X["latency_ms"] = df["latency_ms"].astype(float)
    X["tenure_days"] = df["tenure_days"].astype(float)
    X["subscribed"] = df["subscribed"].astype(float)
    for p in _PLANS:
        X[f"plan_{p}"] = (df["sub_plan"] == p).astype(float)
    cats = df[[f"cat_{i}" for i in range(len(categories))]].astype(float)
    X["categories"] = (cats > 0).sum(axis=1) + ((msgs - cats.sum(axis=1)) > 0)
    for i, c in enumerate(categories):
        X[f"share_{c}"] = cats[f"cat_{i}"] / msgs.where(msgs > 0)
    return X


def _one_thread():
    """Models here are small: OpenMP thread start-up costs more than it saves (a 6k-row
    boosting fit takes 0.3 s on one thread and several seconds on two busy cores)."""
    from threadpoolctl import threadpool_limits

    return threadpool_limits(limits=1)


def _pipeline(kind: str):
    from sklearn.ensemble import HistGradientBoostingClassifier
    from sklearn.impute import SimpleImputer
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    if kind == "logistic":
        return make_pipeline(
            SimpleImputer(strategy="median", add_indicator=True, keep_empty_features=True),
            StandardScaler(),
            LogisticRegression(max_iter=2000, C=1.0, random_state=RANDOM_STATE),
        )
    if kind == "gbm":
        return HistGradientBoostingClassifier(
            max_iter=200, learning_rate=0.05, max_leaf_nodes=15, random_state=RANDOM_STATE
        )
    raise ValueError(f"model {kind!r}: use 'logistic' or 'gbm'")


def _scores(y: np.ndarray, pred: np.ndarray, rank: np.ndarray | None) -> dict[str, float]:
    from sklearn.metrics import accuracy_score, precision_score, recall_score, roc_auc_score

    n = len(y)
    out: dict[str, float] = {
        "n": float(n),
        "churned": float(np.sum(y)),
        "predicted_churn": float(np.sum(pred)),
        "accuracy": np.nan,
        "precision": np.nan,
        "recall": np.nan,
        "roc_auc": np.nan,
    }
    if n == 0:
        return out
    out["accuracy"] = float(accuracy_score(y, pred))
    out["precision"] = (
        float(precision_score(y, pred, zero_division=np.nan)) if pred.sum() else np.nan
    )
    out["recall"] = float(recall_score(y, pred)) if y.sum() else np.nan
    if rank is not None and 0 < y.sum() < n:
        out["roc_auc"] = float(roc_auc_score(y, rank))
    return out


@dataclass
class ChurnModelResult(MetricResult):
    """A trained churn model and its evaluation on a later reference date.

    ``df``: one row per method (``model``, ``rule score``, ``majority baseline``) with
    accuracy, precision, recall, ROC AUC on the test set. ``features``: top features.
    ``test``: the test rows (hashed person, label, probability, rule score).
    """

    features: pd.DataFrame = field(default_factory=pd.DataFrame)
    test: pd.DataFrame = field(default_factory=pd.DataFrame)
    pipeline: Any = field(default=None, repr=False)
    model_kind: str = "logistic"
    feature_names: list[str] = field(default_factory=list)
    categories: list[str] = field(default_factory=list)
    train_dates: list[date] = field(default_factory=list)
    test_date: date | None = None
    active: list[str] | None = None
    target_accuracy: float = TARGET_ACCURACY

    @property
    def accuracy(self) -> float | None:
        v = self._metric("model", "accuracy")
        return None if v is None or np.isnan(v) else v

    @property
    def target_met(self) -> bool | None:
        """Seed target: accuracy above 70% (None when the model could not be evaluated)."""
        a = self.accuracy
        return None if a is None else bool(a > self.target_accuracy)

    def _metric(self, method: str, col: str) -> float | None:
        row = self.df[self.df["method"] == method]
        return None if row.empty else float(row[col].iloc[0])

    def headline(self) -> str:
        a = self.accuracy
        if a is None:
            return f"Churn model: not evaluated ({self.extra.get('note', 'no data')})"
        auc = self._metric("model", "roc_auc")
        rule_auc = self._metric("rule score", "roc_auc")
        verdict = "met" if self.target_met else "missed"
        return (
            f"Churn model ({self.model_kind}) on {self.test_date}: accuracy {a:.1%} "
            f"(target > {self.target_accuracy:.0%}: {verdict}), ROC AUC {auc:.3f} "
            f"vs rule score {rule_auc:.3f}"
        )

    def __str__(self) -> str:
        top = (
            safe_frame(self.features.head(10)).to_string(index=False) if len(self.features) else ""
        )
        return f"{self.headline()}\n{self.formatted().to_string(index=False)}\n{top}"

    def _repr_html_(self) -> str:
        body = self.formatted().to_html(index=False, border=0)
        feats = (
            safe_frame(self.features.head(10)).to_html(
                index=False, border=0, float_format="{:.3f}".format
            )
            if len(self.features)
            else ""
        )
        return (
            header_html(self.title, self.definition, self.scope)
            + f"<div><b>{html.escape(self.headline())}</b></div>"
            + body
            + "<div style='margin-top:6px'>Top features</div>"
            + feats
            + sql_details_html(self.sql)
        )

    def predict(self, X: pd.DataFrame) -> np.ndarray:
        """Churn probabilities for a design matrix built like the training one."""
        with _one_thread():
            return self.pipeline.predict_proba(X[self.feature_names])[:, 1]


def _plot_model(res: MetricResult, ax=None, **kw):
    import matplotlib.pyplot as plt

    metrics = ["accuracy", "precision", "recall", "roc_auc"]
    d = res.df.set_index("method")
    if ax is None:
        _, ax = plt.subplots(figsize=charts.FIGSIZE)
    width = 0.8 / max(1, len(d))
    xs = np.arange(len(metrics))
    for i, (method, row) in enumerate(d.iterrows()):
        vals = [row[m] if pd.notna(row[m]) else 0.0 for m in metrics]
        ax.bar(xs + i * width, vals, width, label=method, color=charts.PALETTE[i % 8])
    ax.axhline(TARGET_ACCURACY, color=charts.NEUTRAL, lw=1, ls="--")
    ax.set_xticks(xs + width * (len(d) - 1) / 2, ["Accuracy", "Precision", "Recall", "ROC AUC"])
    ax.set_title(res.title)
    ax.set_xlabel("")
    ax.set_ylabel("Score (%)")
    ax.set_ylim(0, 1)
    ax.yaxis.set_major_formatter(charts.axis_formatter("rate"))
    ax.legend(loc="lower right")
    return ax


def _top_categories(
    wh, sc: Scope, lo: datetime, hi: datetime, n: int = TOP_CATEGORIES
) -> list[str]:
    wide = sc.with_range(sc.start, max(sc.end, sc.as_of.date() + timedelta(days=2)))
    src = wide.events_cte(
        ["message_sent"],
        columns="e.query_category",
        start=False,
        extra_where=f"e.timestamp >= {sc.ts_sql(lo)} AND e.timestamp < {sc.ts_sql(hi)} "
        "AND e.query_category IS NOT NULL",
    )
    rows = wh.sql(
        f"SELECT query_category, count(*) AS n FROM ({src}) GROUP BY 1 ORDER BY n DESC, 1 LIMIT {n}"
    )
    return [str(c) for c in rows["query_category"]]


def _ceil_day(sc: Scope) -> date:
    """The local day whose midnight is the first at or after ``as_of``."""
    a = sc.as_of.astimezone(sc.zone)
    return a.date() if a.time() == time(0) else a.date() + timedelta(days=1)


def _default_test_date(sc: Scope, horizon_days: int) -> date:
    """The last local day r with r + horizon (local days) <= as_of."""
    a = sc.as_of.astimezone(sc.zone)
    last = a.date()
    while _midnight(sc, last + timedelta(days=horizon_days)) > a:
        last -= timedelta(days=1)
    return last


@records_sql
def churn_model(
    wh,
    *,
    reference_date: str | date | None = None,
    train_refs: int = 3,
    step_days: int = 7,
    feature_days: int = FEATURE_DAYS,
    horizon_days: int = HORIZON_DAYS,
    model: Literal["logistic", "gbm"] = "logistic",
    max_train_rows: int | None = 200_000,
    active_event: ActiveEvent = None,
    **scope: Unpack[ScopeArgs],
) -> ChurnModelResult:
    """Train a churn classifier on earlier reference dates and evaluate it, beside the
    seed's rule score, on a later one (``reference_date``; default the last date whose
    14 days are observed by ``as_of``). Churned = no active event in ``[r, r + 14 d)``;
    features from ``[r − 28 d, r)``. Deterministic (fixed ``random_state``)."""
    sc = resolve(wh, **scope)
    _check_breakdown(sc)
    active = _active(active_event)
    test_d = (
        _default_test_date(sc, horizon_days)
        if reference_date is None
        else date.fromisoformat(str(reference_date)[:10])
    )
    if _midnight(sc, test_d + timedelta(days=horizon_days)) > sc.as_of:
        raise ValueError(
            f"reference_date {test_d}: its {horizon_days} days are not observed by as_of "
            f"{sc.as_of:%Y-%m-%d %H:%M}; use {_default_test_date(sc, horizon_days)} or earlier"
        )
    train_ds = [
        test_d - timedelta(days=horizon_days + k * step_days) for k in range(max(1, train_refs))
    ]
    ref_days = sorted([*train_ds, test_d])
    cats = _top_categories(
        wh,
        sc,
        _midnight(sc, ref_days[0] - timedelta(days=feature_days)),
        _midnight(sc, ref_days[-1]),
    )
    sql = features_sql(
        sc,
        ref_days,
        active=active,
        categories=cats,
        feature_days=feature_days,
        horizon_days=horizon_days,
    )
    rows = wh.sql(f"SELECT * FROM ({sql}) ORDER BY ref_day, person")
    rows["ref_date"] = pd.to_datetime(rows["ref_day"]).dt.date
    X = _design(rows, cats)
    names = list(X.columns)
    y = rows["churned"].astype(int).to_numpy()
    is_test = (rows["ref_date"] == test_d).to_numpy()
    Xtr, ytr, Xte, yte = X[~is_test], y[~is_test], X[is_test], y[is_test]
    train_rows = len(ytr)
    if max_train_rows and len(ytr) > max_train_rows:
        keep = np.sort(
            np.random.default_rng(RANDOM_STATE).choice(len(ytr), max_train_rows, replace=False)
        )
        Xtr, ytr = Xtr.iloc[keep], ytr[keep]
    rule_te = rows.loc[is_test, "score"].astype(float).to_numpy()
    pipe, note = None, None
    proba = np.full(len(yte), np.nan)
    if len(ytr) < 10 or len(np.unique(ytr)) < 2:
        note = f"not enough training rows ({len(ytr)}) or only one class"
    elif len(yte) == 0:
        note = "no persons at the test reference date"
    else:
        pipe = _pipeline(model)
        with _one_thread():
            pipe.fit(Xtr, ytr)
            proba = pipe.predict_proba(Xte)[:, 1]
    evals = []
    if pipe is not None:
        evals.append({"method": "model", **_scores(yte, (proba >= 0.5).astype(int), proba)})
    else:
        evals.append({"method": "model", **_scores(np.array([]), np.array([]), None)})
    evals.append(
        {
            "method": "rule score",
            **_scores(yte, (rule_te > HIGH_RISK_ABOVE).astype(int), rule_te if len(yte) else None),
        }
    )
    majority = int(ytr.mean() >= 0.5) if len(ytr) else 0
    evals.append({"method": "majority baseline", **_scores(yte, np.full(len(yte), majority), None)})
    ev_df = pd.DataFrame(evals)
    ev_df["churn_rate"] = ev_df["churned"] / ev_df["n"].where(ev_df["n"] > 0)
    feats = pd.DataFrame(columns=["feature", "importance", "direction"])
    if pipe is not None:
        with _one_thread():
            feats = _importance(pipe, model, names, Xte, yte)
    test = pd.DataFrame(
        {
            "person": rows.loc[is_test, "person"].to_numpy(),
            "churned": yte,
            "probability": proba,
            "score": rule_te,
            "branch": rows.loc[is_test, "branch"].to_numpy(),
        }
    )
    if sc.breakdown:
        test["breakdown"] = rows.loc[is_test, "breakdown"].to_numpy()
    res = ChurnModelResult(
        name="churn_model",
        title="Churn model vs rule score",
        df=ev_df[
            [
                "method",
                "n",
                "churned",
                "churn_rate",
                "predicted_churn",
                "accuracy",
                "precision",
                "recall",
                "roc_auc",
            ]
        ],
        definition=(
            f"Churned = no {_describe(active)} in the {horizon_days} days after the reference "
            f"date; features from the {feature_days} days before. Trained on "
            f"{', '.join(str(d) for d in sorted(train_ds))}; tested on {test_d}. "
            f"Rule predicts churn when score > {HIGH_RISK_ABOVE}."
        ),
        scope=sc,
        units={
            "n": "users",
            "churned": "users",
            "predicted_churn": "users",
            "churn_rate": "rate",
            "accuracy": "rate",
            "precision": "rate",
            "recall": "rate",
            "roc_auc": "ratio",
        },
        kind="bar",
        extra={
            "train_rows": int(train_rows),
            "train_rows_used": int(len(ytr)),
            "test_rows": int(len(yte)),
            "train_churn_rate": float(ytr.mean()) if len(ytr) else None,
            "note": note,
            "feature_days": feature_days,
            "horizon_days": horizon_days,
        },
        plotter=_plot_model,
        features=feats,
        test=test,
        pipeline=pipe,
        model_kind=model,
        feature_names=names,
        categories=cats,
        train_dates=sorted(train_ds),
        test_date=test_d,
        active=active,
    )
    if sc.breakdown and pipe is not None:
        res.extra["by_breakdown"] = _by_breakdown(test)
    return res


def _by_breakdown(test: pd.DataFrame) -> pd.DataFrame:
    out = []
    for value, g in test.groupby("breakdown", sort=True):
        y = g["churned"].to_numpy()
        p = g["probability"].to_numpy()
        out.append({"breakdown": value, **_scores(y, (p >= 0.5).astype(int), p)})
    return pd.DataFrame(out)


def _permutation_auc(pipe, X: pd.DataFrame, y: np.ndarray, repeats: int = 3) -> np.ndarray:
    """Mean drop of test ROC AUC when one feature's column is shuffled (permutation
    importance, as ``sklearn.inspection.permutation_importance`` with ``scoring="roc_auc"``),
    all shuffled copies scored in one ``predict_proba`` call (much faster for boosting)."""
    from sklearn.metrics import roc_auc_score

    rng = np.random.default_rng(RANDOM_STATE)
    base = roc_auc_score(y, pipe.predict_proba(X)[:, 1])
    arr = X.to_numpy(dtype=float)
    n, k = arr.shape
    blocks = []
    for j in range(k):
        for _ in range(repeats):
            b = arr.copy()
            b[:, j] = b[rng.permutation(n), j]
            blocks.append(b)
    p = pipe.predict_proba(pd.DataFrame(np.vstack(blocks), columns=X.columns))[:, 1]
    drops = np.array([base - roc_auc_score(y, p[i * n : (i + 1) * n]) for i in range(k * repeats)])
    return drops.reshape(k, repeats).mean(axis=1)


def _importance(pipe, kind: str, names: list[str], Xte: pd.DataFrame, yte) -> pd.DataFrame:
    if kind == "logistic":
        imputer = pipe.steps[0][1]
        lr = pipe.steps[-1][1]
        out_names = list(imputer.get_feature_names_out(names))
        coef = lr.coef_[0]
        df = pd.DataFrame({"feature": out_names, "importance": np.abs(coef), "coefficient": coef})
    else:
        if len(np.unique(yte)) < 2:
            return pd.DataFrame(columns=["feature", "importance", "direction"])
        df = pd.DataFrame({"feature": names, "importance": _permutation_auc(pipe, Xte, yte)})
        df["coefficient"] = np.nan
    df["direction"] = np.where(
        df["coefficient"].isna(), "", np.where(df["coefficient"] > 0, "more churn", "less churn")
    )
    return df.sort_values(["importance", "feature"], ascending=[False, True]).reset_index(drop=True)


# ------------------------------------------------------------------------------------------
# Persons at risk
# ------------------------------------------------------------------------------------------


@records_sql
def at_risk(
    wh,
    *,
    model: ChurnModelResult | None = None,
    min_score: int = HIGH_RISK_ABOVE + 1,
    min_probability: float | None = None,
    limit: int | None = 100,
    active_event: ActiveEvent = None,
    **scope: Unpack[ScopeArgs],
) -> MetricResult:
    """Persons at risk of churning as of ``as_of`` (hashed ids only), highest risk first.

    Without ``model``: persons whose rule score is at least ``min_score`` (default 71,
    i.e. the seed's ``> 70``). With a fitted ``model``: the reference moment is the first
    local midnight at or after ``as_of`` (so the day of ``as_of`` counts, observed up to
    ``as_of``, and the features are built exactly as in training); persons active in the
    ``feature_days`` days before it, with the model's churn probability, kept when the
    probability is at least ``min_probability`` (default 0.5) or the rule score (as of
    that midnight) at least ``min_score``.
    """
    sc = resolve(wh, default_window="3650d", **scope)
    _check_breakdown(sc)
    if model is None:
        res = rule_score(wh, active_event=active_event, **scope)
        df = res.df[res.df["score"] >= min_score]
        if limit is not None:
            df = df.head(limit)
        return MetricResult(
            name="at_risk",
            title="Persons at risk of churning (rule score)",
            df=df.reset_index(drop=True),
            definition=f"Seed rule score ≥ {min_score}; hashed person ids.",
            scope=res.scope,
            units=_RULE_UNITS,
            kind="table",
        )
    active = model.active
    p_min = 0.5 if min_probability is None else min_probability
    fd = int(model.extra.get("feature_days", FEATURE_DAYS))
    ref_day = _ceil_day(sc)
    sql = features_sql(
        sc, [ref_day], active=active, categories=model.categories, feature_days=fd, horizon_days=0
    )
    rows = wh.sql(f"SELECT * FROM ({sql}) ORDER BY person")
    cols = (["breakdown"] if sc.breakdown else []) + [
        "person",
        "probability",
        "score",
        "band",
        "branch",
        "days_since_last",
        "messages",
        "active_days",
    ]
    if rows.empty:
        df = pd.DataFrame(columns=cols)
    else:
        X = _design(rows, model.categories)
        rows["probability"] = model.predict(X)
        keep = (rows["probability"] >= p_min) | (rows["score"] >= min_score)
        df = rows.loc[keep].sort_values(
            ["probability", "score", "person"], ascending=[False, False, True]
        )[cols]
        if limit is not None:
            df = df.head(limit)
    return MetricResult(
        name="at_risk",
        title="Persons at risk of churning (model and rule score)",
        df=df.reset_index(drop=True),
        definition=(
            f"Persons active in the {fd} days before as_of with churn probability ≥ {p_min:.0%} "
            f"(model trained up to {model.test_date}) or rule score ≥ {min_score}; hashed ids."
        ),
        scope=sc,
        units={**_RULE_UNITS, "probability": "rate", "messages": "count", "active_days": "count"},
        kind="table",
    )
