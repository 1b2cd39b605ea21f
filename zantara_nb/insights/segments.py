"""Product-led-growth segments (METRICS.md section 8; seed section 7, "Automated Segmentation").

Functions
---------
:func:`segments`          per complete local week (Monday–Sunday) and segment: persons,
                          the week's WAU, share of WAU (Wilson interval) and the change on
                          the previous week.
:func:`segment_members`   the members of one segment in one week (hashed ids) with the
                          signals that put them there.

Segments of week W (local days ``[Mon, next Mon)`` in ``tz``)
--------------------------------------------------------------
- **power_users** (seed: ">20 messages/week → referral program"): more than
  ``power_threshold`` (20) ``message_sent`` events in W. 20 is not enough, 21 is.
- **at_risk** (seed: "no activity 7–14 days → re-engagement email"): the person's last
  active day (local day of the last active event, default ``message_sent``) is 7 to 14
  days, both included, before W's last day (Sunday). 7 means the whole week was silent
  after activity on the previous Sunday; 14 means two silent weeks; a person active on
  any day of W (≤ 6) or silent for 15+ days is not at risk. These persons are *not* in
  W's WAU, so their ``share_of_wau`` is a ratio to WAU, not a share of it (no interval).
- **high_intent** (seed: "asked pricing questions → sales outreach"): in W, a pricing or
  plan signal. The tracking plan has no "pricing" query category or intent (categories are
  visa, business, tax, property, legal, finance, work_permit, general; intents are
  information/action/comparison/troubleshooting), so the rule is any of:
  a ``page_viewed`` / ``$pageview`` whose ``path`` (or ``$pathname``) starts with
  ``/pricing`` (or whose ``$current_url`` contains ``/pricing``); a ``feature_used`` with
  ``feature`` in :data:`PRICING_FEATURES` (the demo's ``pricing_page``); a
  ``message_sent`` whose ``query_category`` or ``query_intent`` is in
  :data:`PRICING_CATEGORIES` (for an app whose classifier has such a class). Starting a
  subscription or a failed payment is not "intent" (the person already acted).
- **feature_enthusiasts** (seed: "used voice/export → upsell to Pro"): in W, a
  ``voice_used`` or ``export_clicked`` event (or ``feature_used`` with ``feature`` in
  ``voice``/``export``).

Only *users* are segmented: persons with at least one active event at or before W's last
day (all history). Anonymous visitors who looked at the pricing page but never chatted
are not high-intent users (they cannot be contacted); for the other three segments the
condition holds by construction (power users are active; at-risk persons were active; voice
and export happen in chat sessions).

- **WAU** is persons with an active event in W: equal to :func:`zantara_nb.metrics.active.wau` on
  W's Sunday (tested), computed in the same scan.
- **Weeks**: without a range, the ``weeks`` complete weeks ending at or before ``as_of``;
  with ``start``/``end``, every week whose Monday is in the range. A week not complete at
  ``as_of`` is listed with missing values (never 0).
- **Breakdown**: person properties give one value per person; an event property splits
  a person by the value on each event (PostHog breakdown semantics), so a person can be in
  a segment for several values. Filters restrict the events read.

SQL shape: one aggregate of active events over all history (first active day per
person), one scan of the weeks plus the 14 days before them aggregated per person and
local day, each day-row fanned out to the 3 weeks it matters for (its own and the two
after, for the 7–14 day look-back), one aggregate per (person, week), one per week.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, timedelta

import pandas as pd
from typing_extensions import Unpack

from ..metrics.grids import complete_grid
from ..metrics.results import MetricResult
from ..metrics.stats import wilson
from ..warehouse.dialects import Dialect
from ..warehouse.privacy import hash_id_sql
from ..warehouse.scope import ActiveEvent, Scope, ScopeArgs, last_complete_period, resolve
from ..warehouse.scope import active_events as _active
from ..warehouse.sqltrace import records_sql

__all__ = ["SEGMENTS", "PRICING_CATEGORIES", "PRICING_FEATURES", "segment_members", "segments"]

SEGMENTS: tuple[str, ...] = ("power_users", "at_risk", "high_intent", "feature_enthusiasts")
SEGMENT_LABELS = {
    "power_users": "Power users (>20 messages/week)",
    "at_risk": "At risk (inactive 7–14 days)",
    "high_intent": "High intent (pricing or plans)",
    "feature_enthusiasts": "Feature enthusiasts (voice or export)",
}
POWER_THRESHOLD = 20
AT_RISK_DAYS = (7, 14)
#: ``query_category`` / ``query_intent`` values that mean "asked about pricing or plans"
PRICING_CATEGORIES: tuple[str, ...] = ("pricing", "plans", "billing", "subscription")
#: ``feature_used.feature`` values that mean "looked at pricing"
PRICING_FEATURES: tuple[str, ...] = ("pricing_page", "pricing", "plans", "upgrade")
ENTHUSIAST_EVENTS: tuple[str, ...] = ("voice_used", "export_clicked")
ENTHUSIAST_FEATURES: tuple[str, ...] = ("voice", "export")
_ALIASES = {
    "power": "power_users",
    "power_user": "power_users",
    "risk": "at_risk",
    "at_risk_users": "at_risk",
    "intent": "high_intent",
    "high_intent_users": "high_intent",
    "enthusiasts": "feature_enthusiasts",
    "feature_enthusiast": "feature_enthusiasts",
}


def _intent_sql(d: Dialect, cats: Sequence[str], features: Sequence[str]) -> str:
    path = "coalesce(x.path, x.pathname, '')"
    return (
        f"((x.event IN ('page_viewed', '$pageview') AND ({path} LIKE '/pricing%' "
        "OR coalesce(x.url, '') LIKE '%/pricing%')) "
        f"OR (x.event = 'feature_used' AND x.feature IN ({d.str_list(features)})) "
        f"OR (x.event = 'message_sent' AND (x.query_category IN ({d.str_list(cats)}) "
        f"OR x.query_intent IN ({d.str_list(cats)}))))"
    )


def _enthusiast_sql(d: Dialect) -> str:
    return (
        f"(x.event IN ({d.str_list(ENTHUSIAST_EVENTS)}) "
        f"OR (x.event = 'feature_used' AND x.feature IN ({d.str_list(ENTHUSIAST_FEATURES)})))"
    )


def person_weeks_sql(
    sc: Scope,
    weeks: Sequence[date],
    *,
    active: list[str] | None,
    power_threshold: int = POWER_THRESHOLD,
    pricing_categories: Sequence[str] = PRICING_CATEGORIES,
    pricing_features: Sequence[str] = PRICING_FEATURES,
) -> str:
    """SQL: one row per (week, breakdown, person) with the week's signals and segment flags.

    Columns: ``week`` (Monday, DATE), ``breakdown``, ``person_id``, ``messages``,
    ``active_week``, ``last_active_day``, ``days_inactive``, ``intent``, ``enthusiast``,
    ``is_user``, and the four segment flags (named as :data:`SEGMENTS`).
    """
    dl = sc.dialect
    first, last = min(weeks), max(weeks)
    lookback = first - timedelta(days=AT_RISK_DAYS[1])
    hi = last + timedelta(days=7)
    wide = sc.with_range(lookback, hi)
    names = None
    if active is not None:
        names = sorted(
            {
                *active,
                "message_sent",
                "page_viewed",
                "$pageview",
                "feature_used",
                *ENTHUSIAST_EVENTS,
            }
        )
    pv = "e.event IN ('page_viewed', '$pageview')"
    cols = (
        "e.person_id, e.event, e.timestamp, e.query_category, e.query_intent, "
        f"CASE WHEN {pv} THEN {dl.json_text('e.properties', 'path')} END AS path, "
        f"CASE WHEN {pv} THEN {dl.json_text('e.properties', '$pathname')} END AS pathname, "
        f"CASE WHEN {pv} THEN {dl.json_text('e.properties', '$current_url')} END AS url, "
        "CASE WHEN e.event = 'feature_used' "
        f"THEN {dl.json_text('e.properties', 'feature')} END AS feature"
    )
    ev = wide.events_cte(names, columns=cols)
    firsts = sc.with_range(lookback, hi).events_cte(
        active, columns="e.person_id, e.timestamp", start=False
    )
    act = dl.in_list("x.event", active)
    week_list = ", ".join(dl.date_lit(w) for w in weeks)
    sunday = dl.add_days("pw.week", 6)
    lo_days, hi_days = AT_RISK_DAYS
    days_inactive = dl.days_between("pw.last_active_day", sunday)
    week_of_day = dl.date_bucket("week", "d.day")
    fan_weeks = dl.values_table([(0,), (1,), (2,)], ["k"], "ks")
    return f"""
        WITH firsts AS (
            SELECT person_id, CAST(min(lts) AS DATE) AS first_active_day
            FROM ({firsts}) GROUP BY person_id
        ),
        days AS (
            SELECT x.person_id, x.breakdown, CAST(x.lts AS DATE) AS day,
                   count(*) FILTER (WHERE x.event = 'message_sent') AS messages,
                   {dl.bool_or(act)} AS active,
                   {dl.bool_or(_intent_sql(dl, pricing_categories, pricing_features))} AS intent,
                   {dl.bool_or(_enthusiast_sql(dl))} AS enthusiast
            FROM ({ev}) x
            GROUP BY x.person_id, x.breakdown, CAST(x.lts AS DATE)
        ),
        fan AS (
            SELECT d.*, k, {dl.add_days(week_of_day, "7 * k")} AS week
            FROM days d, {fan_weeks}
        ),
        pw AS (
            SELECT week, breakdown, person_id,
                   coalesce(sum(messages) FILTER (WHERE k = 0), 0) AS messages,
                   coalesce({dl.bool_or("k = 0 AND active")}, FALSE) AS active_week,
                   max(day) FILTER (WHERE active) AS last_active_day,
                   coalesce({dl.bool_or("k = 0 AND intent")}, FALSE) AS intent,
                   coalesce({dl.bool_or("k = 0 AND enthusiast")}, FALSE) AS enthusiast
            FROM fan
            WHERE week IN ({week_list})
            GROUP BY week, breakdown, person_id
        )
        SELECT pw.*, {days_inactive} AS days_inactive,
               coalesce(f.first_active_day <= {sunday}, FALSE) AS is_user,
               pw.messages > {int(power_threshold)} AS power_users,
               coalesce({days_inactive} BETWEEN {lo_days} AND {hi_days}, FALSE) AS at_risk,
               pw.intent AND coalesce(f.first_active_day <= {sunday}, FALSE) AS high_intent,
               pw.enthusiast AND coalesce(f.first_active_day <= {sunday}, FALSE)
                   AS feature_enthusiasts
        FROM pw LEFT JOIN firsts f ON f.person_id = pw.person_id"""


def _weeks(sc: Scope, scope: dict, weeks: int) -> list[date]:
    if any(scope.get(k) is not None for k in ("start", "end", "window")):
        first = sc.start - timedelta(days=sc.start.weekday())
        out, w = [], first
        while w < sc.end:
            out.append(w)
            w += timedelta(days=7)
        return out
    start, _ = last_complete_period(sc.as_of, "week", sc.tz)
    return [start - timedelta(days=7 * k) for k in range(max(1, weeks) - 1, -1, -1)]


def _observed(sc: Scope, week: date) -> bool:
    return sc.local_midnight(week + timedelta(days=7)) <= sc.as_of


_COLS = [
    "week",
    "segment",
    "persons",
    "wau",
    "share_of_wau",
    "ci_low",
    "ci_high",
    "change",
    "change_pct",
]


@records_sql
def segments(
    wh,
    *,
    weeks: int = 8,
    active_event: ActiveEvent = None,
    power_threshold: int = POWER_THRESHOLD,
    pricing_categories: Sequence[str] = PRICING_CATEGORIES,
    pricing_features: Sequence[str] = PRICING_FEATURES,
    **scope: Unpack[ScopeArgs],
) -> MetricResult:
    """Segment sizes per complete local week: power users, at risk, high intent, feature
    enthusiasts; persons, WAU, share of WAU (Wilson 95% CI) and week-over-week change.

    Without a range: the last ``weeks`` complete weeks before ``as_of``.
    """
    sc = resolve(wh, **scope)
    active = _active(active_event)
    wk = _weeks(sc, dict(scope), weeks)
    bd = ["breakdown"] if sc.breakdown else []
    cols = ["week", *bd, *_COLS[1:]]
    raw = pd.DataFrame()
    if wk:
        sql = person_weeks_sql(
            sc,
            wk,
            active=active,
            power_threshold=power_threshold,
            pricing_categories=pricing_categories,
            pricing_features=pricing_features,
        )
        counts = ", ".join(f"count(*) FILTER (WHERE {s}) AS {s}" for s in SEGMENTS)
        raw = wh.sql(
            f"SELECT week, breakdown, count(*) FILTER (WHERE active_week) AS wau, {counts} "
            f"FROM ({sql}) GROUP BY week, breakdown"
        )
    values = sorted(raw["breakdown"].unique()) if (sc.breakdown and len(raw)) else ["all"]
    weeks = pd.to_datetime(wk)
    if len(raw):
        raw["week"] = pd.to_datetime(raw["week"])
        long = raw.melt(
            id_vars=["week", "breakdown", "wau"],
            value_vars=list(SEGMENTS),
            var_name="segment",
            value_name="persons",
        )
    else:  # no rows: every cell 0 (keys typed like the grid's, which may be empty too)
        long = pd.DataFrame(columns=["week", "breakdown", "segment", "wau", "persons"]).astype(
            {"week": weeks.dtype, "breakdown": str, "segment": str}
        )
    df = complete_grid(
        long,
        {"week": weeks, "breakdown": values, "segment": list(SEGMENTS)},
        zero={"persons": float, "wau": float},
    )
    observed = df["week"].map(lambda w: _observed(sc, w.date()))
    df.loc[~observed, ["persons", "wau"]] = float("nan")
    df["share_of_wau"] = df["persons"] / df["wau"].where(df["wau"] > 0)
    lows, highs = [], []
    for seg, k, n in zip(df["segment"], df["persons"], df["wau"], strict=True):
        if seg == "at_risk" or pd.isna(n) or not n or k > n:
            lows.append(float("nan"))
            highs.append(float("nan"))
        else:
            ci = wilson(k, n)
            lows.append(ci.low)
            highs.append(ci.high)
    df["ci_low"], df["ci_high"] = lows, highs
    df = df.sort_values(["breakdown", "segment", "week"]).reset_index(drop=True)
    prev = df.groupby(["breakdown", "segment"])["persons"].shift(1)
    df["change"] = df["persons"] - prev
    df["change_pct"] = df["change"] / prev.where(prev > 0)
    order = {s: i for i, s in enumerate(SEGMENTS)}
    df["_o"] = df["segment"].map(order)
    df = df.sort_values(["week", "breakdown", "_o"]).reset_index(drop=True)
    if not sc.breakdown:
        df = df.drop(columns=["breakdown"])
    df = df[cols]
    res_scope = sc.with_range(wk[0], wk[-1] + timedelta(days=7)) if wk else sc
    return MetricResult(
        name="segments",
        title="Growth segments per week",
        df=df,
        definition=(
            f"Per local week: power users (>{power_threshold} message_sent), at risk (last "
            "active 7–14 days before the week's Sunday), high intent (pricing page/feature or "
            "pricing question), feature enthusiasts (voice or export); users only. Share of "
            "WAU = persons / persons active in the week."
        ),
        scope=res_scope,
        units={
            "persons": "users",
            "wau": "users",
            "share_of_wau": "rate",
            "ci_low": "rate",
            "ci_high": "rate",
            "change": "count",
            "change_pct": "change",
        },
        x="week",
        y="persons",
        kind="line",
        hue="segment",
        extra={"weeks": wk, "power_threshold": power_threshold},
    )


def _segment_name(name: str) -> str:
    key = str(name).strip().lower().replace("-", "_").replace(" ", "_")
    key = _ALIASES.get(key, key)
    if key not in SEGMENTS:
        raise ValueError(f"unknown segment {name!r}; use one of {', '.join(SEGMENTS)}")
    return key


@records_sql
def segment_members(
    wh,
    name: str,
    *,
    week: str | date | None = None,
    active_event: ActiveEvent = None,
    power_threshold: int = POWER_THRESHOLD,
    pricing_categories: Sequence[str] = PRICING_CATEGORIES,
    pricing_features: Sequence[str] = PRICING_FEATURES,
    **scope: Unpack[ScopeArgs],
) -> MetricResult:
    """Members of segment ``name`` in one local week (default: the last complete week
    before ``as_of``), as hashed person ids with their signals (messages in the week,
    last active day, days inactive, pricing and voice/export flags)."""
    seg = _segment_name(name)
    sc = resolve(wh, **scope)
    active = _active(active_event)
    if week is None:
        w, _ = last_complete_period(sc.as_of, "week", sc.tz)
    else:
        d = date.fromisoformat(str(week)[:10])
        w = d - timedelta(days=d.weekday())
    bd = ["breakdown"] if sc.breakdown else []
    cols = [
        "person",
        *bd,
        "messages",
        "last_active_day",
        "days_inactive",
        "intent",
        "enthusiast",
    ]
    if _observed(sc, w):
        sql = person_weeks_sql(
            sc,
            [w],
            active=active,
            power_threshold=power_threshold,
            pricing_categories=pricing_categories,
            pricing_features=pricing_features,
        )
        df = wh.sql(
            f"SELECT {hash_id_sql('person_id', sc.d)} AS person, {sc.d.star_except(['person_id'])} "
            f"FROM ({sql}) WHERE {seg} ORDER BY messages DESC, days_inactive, person"
        )
        df = df[cols]
    else:
        df = pd.DataFrame(columns=cols)
    if "last_active_day" in df and len(df):
        df["last_active_day"] = pd.to_datetime(df["last_active_day"])
    return MetricResult(
        name="segment_members",
        title=f"{SEGMENT_LABELS[seg]}: week of {w:%Y-%m-%d}",
        df=df.reset_index(drop=True),
        definition=f"Members of {seg} in the local week starting {w:%Y-%m-%d}; hashed ids.",
        scope=sc.with_range(w, w + timedelta(days=7)),
        units={"messages": "count", "days_inactive": "count"},
        kind="table",
        extra={"segment": seg, "week": w, "observed": _observed(sc, w)},
    )
