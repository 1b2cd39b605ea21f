"""Wilson intervals and period-over-period tests against known values."""

from __future__ import annotations

import pytest

from zantara_nb.metrics.stats import Change, poisson_p, two_proportion_p, wilson


def test_wilson_known_values():
    # 8 of 10: Wilson 95% = [0.4902, 0.9433] (standard tables)
    ci = wilson(8, 10)
    assert ci.low == pytest.approx(0.4902, abs=1e-4) and ci.high == pytest.approx(0.9433, abs=1e-4)
    assert wilson(0, 10).low == 0.0 and wilson(10, 10).high == 1.0
    assert wilson(0, 0).low is None


def test_two_proportion_and_poisson():
    # 50/100 vs 50/100: no difference
    assert two_proportion_p(50, 100, 50, 100) == pytest.approx(1.0)
    # 60/100 vs 40/100: z = 2.828 -> p = 0.00468
    assert two_proportion_p(60, 100, 40, 100) == pytest.approx(0.00468, abs=1e-4)
    assert two_proportion_p(1, 0, 1, 1) is None
    assert poisson_p(100, 100) == pytest.approx(1.0)
    assert poisson_p(130, 80) < 0.01
    assert poisson_p(0, 0) is None


def test_change():
    c = Change(110, 100, p_value=0.01)
    assert c.absolute == 10 and c.relative == pytest.approx(0.1) and c.significant
    assert c.direction == "up"
    assert Change(5, 0).relative is None and Change(None, 3).direction == "flat"
