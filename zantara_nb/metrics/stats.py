"""Statistics shared by all metrics: Wilson intervals and period-over-period tests.

METRICS.md section 0: every rate carries a 95% Wilson interval; every KPI compared
with the previous period carries absolute and relative change and a significance flag
(two-proportion z-test for rates, Poisson test for counts, Welch-style normal test
for means; p < 0.05).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import pandas as pd
from scipy import stats as _st

Z95 = 1.959963984540054
ALPHA = 0.05


@dataclass(frozen=True)
class Interval:
    """A 95% confidence interval."""

    low: float | None
    high: float | None


def wilson(k: float, n: float, z: float = Z95) -> Interval:
    """Wilson score interval for ``k`` successes out of ``n`` (None bounds when n = 0)."""
    if not n:
        return Interval(None, None)
    p = k / n
    denom = 1 + z * z / n
    centre = (p + z * z / (2 * n)) / denom
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / denom
    low = 0.0 if k <= 0 else max(0.0, centre - half)
    high = 1.0 if k >= n else min(1.0, centre + half)
    return Interval(low, high)


def rate(k: float, n: float) -> float | None:
    """k / n, or None when n = 0 (an empty denominator is missing, not 0%)."""
    return None if not n else k / n


def two_proportion_p(k1: float, n1: float, k2: float, n2: float) -> float | None:
    """Two-sided p-value of the pooled two-proportion z-test (None if undefined)."""
    if not n1 or not n2:
        return None
    p = (k1 + k2) / (n1 + n2)
    se = math.sqrt(p * (1 - p) * (1 / n1 + 1 / n2))
    if se == 0:
        return None if k1 / n1 == k2 / n2 else 0.0
    z = (k1 / n1 - k2 / n2) / se
    return float(2 * _st.norm.sf(abs(z)))


def poisson_p(c1: float, c2: float) -> float | None:
    """Two-sided p-value that two counts over equal exposure share one Poisson rate.

    Conditional binomial test: given c1 + c2, c1 ~ Binomial(c1 + c2, 1/2).
    """
    n = int(round(c1 + c2))
    if n == 0:
        return None
    return float(_st.binomtest(int(round(c1)), n, 0.5).pvalue)


def mean_diff_p(m1: float, s1: float, n1: int, m2: float, s2: float, n2: int) -> float | None:
    """Two-sided p-value of a normal (Welch) test for a difference of two means."""
    if n1 < 2 or n2 < 2:
        return None
    se = math.sqrt(s1 * s1 / n1 + s2 * s2 / n2)
    if se == 0:
        return None if m1 == m2 else 0.0
    return float(2 * _st.norm.sf(abs((m1 - m2) / se)))


@dataclass(frozen=True)
class Change:
    """A value against the previous period's."""

    current: float | None
    previous: float | None
    p_value: float | None = None

    @property
    def absolute(self) -> float | None:
        if self.current is None or self.previous is None:
            return None
        return self.current - self.previous

    @property
    def relative(self) -> float | None:
        if self.absolute is None or not self.previous:
            return None
        return self.absolute / abs(self.previous)

    @property
    def significant(self) -> bool:
        return self.p_value is not None and self.p_value < ALPHA

    @property
    def direction(self) -> str:
        """``up``, ``down`` or ``flat`` (``flat`` also when unknown)."""
        a = self.absolute
        if a is None or a == 0:
            return "flat"
        return "up" if a > 0 else "down"


def add_rate(
    df: pd.DataFrame,
    k: str,
    n: str,
    rate: str = "rate",
    *,
    lo: str = "ci_low",
    hi: str = "ci_high",
) -> pd.DataFrame:
    """A copy of ``df`` with ``rate = k / n`` and its 95% Wilson interval.

    The rate is missing when ``n`` is 0 or missing (never a made-up 0%); the interval
    is only defined for a share (k <= n), otherwise it is missing too.
    """
    df = df.copy()
    rates, lows, highs = [], [], []
    for kv, nv in zip(df[k].tolist(), df[n].tolist(), strict=True):
        if pd.isna(kv) or pd.isna(nv) or nv <= 0:
            rates.append(float("nan"))
            lows.append(float("nan"))
            highs.append(float("nan"))
            continue
        rates.append(float(kv) / float(nv))
        ci = wilson(float(kv), float(nv)) if kv <= nv else Interval(None, None)
        lows.append(float("nan") if ci.low is None else ci.low)
        highs.append(float("nan") if ci.high is None else ci.high)
    df[rate] = rates
    df[lo] = lows
    df[hi] = highs
    return df
