"""Input and output rates of a signup cohort (METRICS.md sections 2 and 3).

Functions
---------
:func:`activation`          share of signups with ≥1 ``message_sent`` and ≥1
                            ``message_received`` within 24 h of signup.
:func:`activation_series`   the same per local day/week/month of signup.
:func:`week2_retention`     share of signups with an active event in
                            ``[signup + 7 d, signup + 14 d)`` (the seed's "D7 retention").
:func:`paid_conversion`     share of signups starting a paid subscription within N days.

Each returns a :class:`~zantara_nb.metrics.results.RateResult` (numerator, denominator, Wilson
interval; ``extra["pending"]`` = signups whose window is still open) or, with a
``breakdown``, a :class:`~zantara_nb.metrics.results.MetricResult` with one row per value.

Definitions and choices (also in ``docs/metrics-retention.md``):

- **Cohort.** Persons whose *first* ``user_signed_up`` over all history before
  ``as_of`` falls in ``[start, end)`` (a repeated signup event never starts a second
  cohort, and a person whose first signup is before the range is not in it). ``t0`` is
  the time of that first signup.
- **Windows are half-open**, ``[t0 + a, t0 + b)``, like the N-day windows: "within 24 h"
  is ``[t0, t0 + 24h)``, so a message at exactly ``t0 + 24h`` is *not* within 24 h; week
  2 is ``[t0 + 7·24h, t0 + 14·24h)``; paid conversion within N days is
  ``[t0, t0 + N·24h)``. Events before ``t0`` (for example anonymous messages merged into
  the person by identity stitching) never count.
- **Closed windows only.** A signup is in the denominator only when ``t0 + b <= as_of``
  (its window has closed); the others are reported as ``pending``, never counted as
  failures. A range with no closed window gives ``value`` None ("—"), not 0%.
- **Default range** (no ``start``, ``end`` or ``window``): the 28 local days ending at
  the last midnight at or before ``as_of − b``, so every signup in it is observed.
- **Filters select the cohort**: person-property filters select persons; event-property
  filters are tested on the person's first signup event (``utm_source``,
  ``signup_method``...). The outcome events of the definition are not filtered.
  **Breakdown**: a person property or a property of the first signup event.
- **Paid**: a ``subscription_started`` whose ``plan`` is not ``free`` and whose
  ``price_usd`` is not 0 (missing values count as paid); ``paid_only=False`` counts
  every ``subscription_started``.

SQL shape: one ``GROUP BY person_id`` over signups for the first signup, one hash join
of that cohort with the outcome events inside the window, one aggregate (see
:func:`zantara_nb.metrics.retention.cohort_rates_sql`).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import timedelta
from typing import Any

import pandas as pd
from typing_extensions import Unpack

from .. import config
from ..warehouse.scope import Scope, ScopeArgs, resolve
from ..warehouse.sqltrace import records_sql
from .grids import complete_grid
from .results import MetricResult, RateResult
from .retention import (
    DAY_S,
    RATE_UNITS,
    CohortRate,
    Period,
    Window,
    add_periods,
    check_unit,
    closed_default_range,
    closed_window_rate,
    cohort_rates_sql,
    empty_rates,
    event_list,
    events_label,
    has_range,
    long_rates,
    period_floor,
    period_starts,
)

SIGNUP_EVENT = "user_signed_up"

__all__ = ["activation", "activation_series", "paid_conversion", "week2_retention"]


def _activation_rate() -> CohortRate:
    day = DAY_S
    return CohortRate(
        "activation",
        (Window(("message_sent",), 0, day), Window(("message_received",), 0, day)),
        day,
    )


def _cohort_scope(wh, closed_s: int, scope: dict[str, Any]) -> Scope:
    sc = resolve(wh, **scope)
    if not has_range(scope) and scope.get("end") is None:
        sc = closed_default_range(sc, closed_s)
    return sc


def _cohort_rate(
    wh,
    rate: CohortRate,
    *,
    name: str,
    title: str,
    definition: str,
    numerator: str,
    scope: dict[str, Any],
) -> RateResult | MetricResult:
    """One cohort rate over the range: a RateResult, or a table per breakdown value."""
    sc = _cohort_scope(wh, rate.closed_s, scope)
    raw = None
    if sc.start < sc.end:
        raw = wh.sql(
            cohort_rates_sql(sc, [SIGNUP_EVENT], [rate], sc.start, sc.end, filter_mode="cohort")
        )
    if not sc.breakdown:
        k = int(raw["k_0"].sum()) if raw is not None else 0
        n = int(raw["n_0"].sum()) if raw is not None else 0
        signups = int(raw["signups"].sum()) if raw is not None else 0
        return RateResult(
            name=name,
            title=title,
            numerator=k,
            denominator=n,
            definition=definition,
            scope=sc,
            extra={"pending": signups - n, "signups": signups, numerator: k},
        )
    cols = ["breakdown", "persons", numerator, "rate", "ci_low", "ci_high", "pending"]
    if raw is None or raw.empty:
        df = empty_rates(cols)
    else:
        df = closed_window_rate(raw, numerator, n="n_0", k="k_0")
        df = df.sort_values("breakdown")[cols].reset_index(drop=True)
    return MetricResult(
        name=name,
        title=f"{title} by {sc.breakdown}",
        df=df,
        definition=definition,
        scope=sc,
        units={"persons": "users", numerator: "users", "pending": "users", **RATE_UNITS},
        x="breakdown",
        y="rate",
        kind="barh",
    )


@records_sql
def activation(wh, **scope: Unpack[ScopeArgs]) -> RateResult | MetricResult:
    """Activation rate: among persons whose first signup is in the range and whose 24 h
    window has closed by ``as_of``, the share with ≥1 ``message_sent`` and ≥1
    ``message_received`` in ``[signup, signup + 24h)``."""
    return _cohort_rate(
        wh,
        _activation_rate(),
        name="activation",
        title="Activation rate",
        definition=(
            "Signups (first user_signed_up in range, 24 h observed) with at least one "
            "message_sent and one message_received in [signup, signup + 24 h)."
        ),
        numerator="activated",
        scope=dict(scope),
    )


@records_sql
def activation_series(
    wh, *, period: Period = "week", periods: int = 8, **scope: Unpack[ScopeArgs]
) -> MetricResult:
    """Activation rate per local period of signup (whole periods overlapping the range;
    without a range the last ``periods`` periods up to ``as_of``). Signups whose 24 h
    window is still open are ``pending``; a period with none closed is NaN."""
    unit = check_unit(period)
    sc = resolve(wh, **scope)
    if not has_range(scope) and sc.end > sc.start:
        last = period_floor(sc.end - timedelta(days=1), unit)
        sc = sc.with_range(add_periods(last, unit, -(periods - 1)), sc.end)
    starts = period_starts(sc.start, sc.end, unit)
    rate = _activation_rate()
    cols = ["period", "signups", "persons", "activated", "rate", "ci_low", "ci_high", "pending"]
    if sc.breakdown:
        cols = ["breakdown"] + cols
    if starts:
        hi = add_periods(starts[-1], unit, 1)
        raw = wh.sql(
            cohort_rates_sql(
                sc, [SIGNUP_EVENT], [rate], starts[0], hi, bucket=unit, filter_mode="cohort"
            )
        )
        long = long_rates(raw, [rate], ["breakdown", "cohort"]).rename(columns={"cohort": "period"})
        long["period"] = pd.to_datetime(long["period"])
        values = sorted(long["breakdown"].unique()) if sc.breakdown else ["all"]
        df = complete_grid(
            long,
            {"breakdown": values, "period": pd.to_datetime(starts)},
            zero=dict.fromkeys(("signups", "n", "k"), int),
        )
        df = closed_window_rate(df, "activated")
        df = df.sort_values(["breakdown", "period"])[cols].reset_index(drop=True)
    else:
        df = empty_rates(cols)
    return MetricResult(
        name="activation_series",
        title=f"Activation rate by {unit} of signup",
        df=df,
        definition=(
            f"Per {unit} of first signup: share with a message_sent and a message_received "
            "within 24 h, among signups whose 24 h have passed (others pending)."
        ),
        scope=sc,
        units={
            "signups": "users",
            "persons": "users",
            "activated": "users",
            "pending": "users",
            **RATE_UNITS,
        },
        x="period",
        y="rate",
        kind="line",
        hue="breakdown" if sc.breakdown else None,
        extra={"period": unit},
    )


@records_sql
def week2_retention(
    wh, *, active_event: str | Sequence[str] | None = None, **scope: Unpack[ScopeArgs]
) -> RateResult | MetricResult:
    """Week-2 retention (the seed's "D7 retention"): among signups with 14 days observed,
    the share with an active event in ``[signup + 7 d, signup + 14 d)``."""
    active = event_list(active_event, config.DEFAULT_ACTIVE_EVENT)
    rate = CohortRate("week2", (Window(tuple(active), 7 * DAY_S, 14 * DAY_S),), 14 * DAY_S)
    return _cohort_rate(
        wh,
        rate,
        name="week2_retention",
        title="Week-2 retention",
        definition=(
            "Signups (first user_signed_up in range, 14 days observed) with at least one "
            f"{events_label(active)} in [signup + 7 d, signup + 14 d)."
        ),
        numerator="retained",
        scope=dict(scope),
    )


#: SQL on the outcome event ``r``: the subscription is a paid one.
PAID_SQL = "(coalesce(r.plan, '') <> 'free' AND coalesce(r.price_usd, 1) <> 0)"


@records_sql
def paid_conversion(
    wh, *, days: int = 30, paid_only: bool = True, **scope: Unpack[ScopeArgs]
) -> RateResult | MetricResult:
    """Paid conversion: among signups with ``days`` days observed, the share starting a
    subscription (``subscription_started``, not the free plan) in
    ``[signup, signup + days·24h)``."""
    if days <= 0:
        raise ValueError("days must be positive")
    window = Window(
        ("subscription_started",),
        0,
        days * DAY_S,
        where=PAID_SQL if paid_only else "TRUE",
        columns=("plan", "price_usd") if paid_only else (),
    )
    return _cohort_rate(
        wh,
        CohortRate("paid_conversion", (window,), days * DAY_S),
        name="paid_conversion",
        title=f"Paid conversion within {days} days",
        definition=(
            f"Signups (first user_signed_up in range, {days} days observed) that start a "
            f"{'paid ' if paid_only else ''}subscription in [signup, signup + {days} d)."
        ),
        numerator="converted",
        scope=dict(scope),
    )
