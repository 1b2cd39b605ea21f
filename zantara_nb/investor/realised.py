"""Realised, not only assumed: signup cohorts before and after analytics went live.

Given the go-live date ``L`` (``realised.analytics_live_date`` of ``roi.yaml``) and a window
``W`` days, the signups of ``[L - W, L)`` ("before") and ``[L, L + W)`` ("after", cut at the
report's cut-off) are compared on three rates of the metric library, each over the signups
whose window has closed (the others are pending, never failures):

- activation (:func:`zantara_nb.activation`), week-2 retention
  (:func:`zantara_nb.week2_retention`), paid conversion within 30 days
  (:func:`zantara_nb.paid_conversion`).

For each: the two rates with their Wilson intervals, the difference after - before in
percentage points with Newcombe's hybrid score interval (method 10 of Newcombe 1998,
built from the two Wilson intervals), the relative change, and the two-sided p-value of
the pooled two-proportion z-test (significant when p < 0.05). Beside them, the uplift the
seed assumes. A before/after comparison is not an experiment: growth, seasonality and
product changes move these rates too, so a difference is evidence, not proof.

Without a go-live date the comparison splits the signups at the middle of the data and
says so (an illustration of the method, not a measurement of analytics' effect).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import date, timedelta

import pandas as pd

from ..metrics.stats import two_proportion_p, wilson
from .assumptions import Assumptions
from .measure import ReportMonth

#: The seed's assumed uplift per rate (s.11): shown beside the realised difference.
SEED_UPLIFT = {
    "activation": ("none stated", None, None),
    "week2_retention": ("+10% retained users (relative)", "relative", 0.10),
    "paid_conversion": ("+1 percentage point (2.5% to 3.5%)", "pp", 0.01),
}

FIRST_SIGNUP_SQL = "SELECT min(timestamp) AS t FROM events WHERE event = 'user_signed_up'"


def newcombe_interval(k1: int, n1: int, k2: int, n2: int) -> tuple[float | None, float | None]:
    """95% interval of p2 - p1 (Newcombe's hybrid score method, from Wilson intervals)."""
    if not n1 or not n2:
        return None, None
    p1, p2 = k1 / n1, k2 / n2
    w1, w2 = wilson(k1, n1), wilson(k2, n2)
    d = p2 - p1
    lo = d - math.sqrt((p2 - w2.low) ** 2 + (w1.high - p1) ** 2)
    hi = d + math.sqrt((w2.high - p2) ** 2 + (p1 - w1.low) ** 2)
    return lo, hi


@dataclass
class Realised:
    """Before/after comparison; ``df``: ``metric, label, before_rate, before_k, before_n,
    after_rate, after_k, after_n, difference, ci_low, ci_high, relative, p_value,
    significant, seed_assumes``."""

    df: pd.DataFrame
    live_date: date
    before: tuple[date, date]
    after: tuple[date, date]
    illustrative: bool

    def _repr_html_(self) -> str:
        from .display import realised_html

        return realised_html(self)


def _live_date(wh, a: Assumptions, m: ReportMonth) -> tuple[date | None, bool]:
    if a.live_date is not None:
        return a.live_date, False
    import pandas as pd

    t = wh.scalar(FIRST_SIGNUP_SQL)
    if t is None:
        return None, True
    first = pd.Timestamp(t).tz_convert(m.tz).date()
    last = m.as_of.date()
    if last <= first:
        return None, True
    return first + (last - first) / 2, True


def realised(wh, a: Assumptions, m: ReportMonth) -> Realised | None:
    """Activation, week-2 retention and paid conversion of signups before vs after the
    go-live date (None when the warehouse has no signups)."""
    import zantara_nb as z

    live, illustrative = _live_date(wh, a, m)
    if live is None:
        return None
    w = timedelta(days=a.window_days)
    cut = m.as_of.date()
    before = (live - w, live)
    after = (live, min(live + w, cut))
    funcs = {
        "activation": z.activation,
        "week2_retention": z.week2_retention,
        "paid_conversion": z.paid_conversion,
    }
    rows = []
    for key, fn in funcs.items():
        kw = {"as_of": m.as_of, "tz": m.tz}
        rb = fn(wh, start=before[0], end=before[1], **kw)
        ra = fn(wh, start=after[0], end=after[1], **kw)
        k1, n1, k2, n2 = rb.numerator, rb.denominator, ra.numerator, ra.denominator
        lo, hi = newcombe_interval(k1, n1, k2, n2)
        p = two_proportion_p(k1, n1, k2, n2)
        p1 = k1 / n1 if n1 else None
        p2 = k2 / n2 if n2 else None
        text, _, _ = SEED_UPLIFT[key]
        rows.append(
            {
                "metric": key,
                "label": rb.title,
                "before_rate": p1,
                "before_k": k1,
                "before_n": n1,
                "after_rate": p2,
                "after_k": k2,
                "after_n": n2,
                "difference": None if p1 is None or p2 is None else p2 - p1,
                "ci_low": lo,
                "ci_high": hi,
                "relative": None if not p1 or p2 is None else (p2 - p1) / p1,
                "p_value": p,
                "significant": p is not None and p < 0.05,
                "seed_assumes": text,
            }
        )
    df = pd.DataFrame(rows)
    for c in ("before_rate", "after_rate", "difference", "ci_low", "ci_high", "relative",
              "p_value"):  # fmt: skip
        df[c] = pd.to_numeric(df[c], errors="coerce").astype("float64")
    return Realised(df, live, before, after, illustrative)
