"""The metric library recovers the ground truth planted in demo data.

The demo generator plants activation, week-2 retention, paid conversion and satisfaction
per category as probabilities and records the realised counts. Loaded through the real
loader and measured with the library's own functions, the numbers must (1) equal the
realised counts exactly (same definitions) and (2) sit within sampling error (4 standard
errors) of the planted probabilities.
"""

from __future__ import annotations

import math

import pytest
from enginekit import built_demo, on_engine

from zantara_nb.demo import GroundTruth
from zantara_nb.metrics import health, inputs


@pytest.fixture(scope="module")
def demo(tmp_path_factory, warehouse_engine):
    path, res = built_demo(
        tmp_path_factory,
        "truth",
        seed=11,
        start="2026-05-04",
        end="2026-08-24",
        monthly_active_users=2500,
    )
    wh = on_engine(path)
    truth = GroundTruth.load(res.truth_path)
    scope = {"start": truth.start, "end": truth.end, "as_of": truth.as_of, "tz": truth.timezone}
    yield wh, truth, scope
    wh.close()


def _within(rate: float, p: float, n: int, k: float = 4.0) -> bool:
    return abs(rate - p) <= k * math.sqrt(p * (1 - p) / n)


@pytest.mark.parametrize(
    "metric,section,key",
    [
        (inputs.activation, "activation", "successes"),
        (inputs.week2_retention, "week2_retention", "successes"),
        (inputs.paid_conversion, "paid_conversion", "successes"),
    ],
)
def test_cohort_rates_recover_planted_truth(demo, metric, section, key):
    wh, truth, scope = demo
    planted = getattr(truth, section)
    r = metric(wh, **scope)
    assert (r.numerator, r.denominator) == (planted[key], planted["eligible"])
    assert _within(r.value, planted["p"], r.denominator), (r.value, planted["p"])


def test_satisfaction_by_category_recovers_planted_truth(demo):
    wh, truth, scope = demo
    df = health.satisfaction(wh, by="query_category", **scope).df.set_index("query_category")
    for cat, spec in truth.satisfaction["by_category"].items():
        row = df.loc[cat]
        assert (row["positive"], row["feedbacks"]) == (spec["positive"], spec["feedbacks"]), cat
        assert _within(row["share_positive"], spec["p_positive"], int(row["feedbacks"])), cat


def test_mrr_recovers_planted_truth(demo):
    """MRR opens at the subscriptions carried over from before the range (their
    ``subscription_started`` is the demo's billing history) and ends at those open at
    ``as_of``; movements add up from one to the other."""
    from zantara_nb.metrics import revenue

    wh, truth, scope = demo
    planted = truth.mrr
    assert planted["open_at_start"] > 0
    moves = revenue.mrr_movements(wh, **scope).df
    assert moves["starting_mrr"].iloc[0] == pytest.approx(planted["at_start"], abs=0.01)
    r = revenue.mrr(wh, **scope)
    assert r.extra["mrr_as_of"] == pytest.approx(planted["at_end"], abs=0.01)
    assert moves["ending_mrr"].iloc[-1] == pytest.approx(planted["at_end"], abs=0.01)
