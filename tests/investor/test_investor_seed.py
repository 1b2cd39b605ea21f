"""The seed's worked example (s.11), line by line: the model fed with the seed's own inputs
reproduces every line that follows from them, and says why the others differ."""

from __future__ import annotations

import pytest

from zantara_nb.investor import seed_check
from zantara_nb.investor.seed import DIFFERS, IMPLIED, MATCHES, ROUNDED


@pytest.fixture(scope="module")
def check():
    return seed_check()


def row(check, text):
    hit = check.df[check.df["line"].str.contains(text, regex=False)]
    assert len(hit) == 1, text
    return hit.iloc[0]


@pytest.mark.parametrize(
    "text, value",
    [
        # investment: 40 h x $50 (implied) + 12 x $34
        ("Annual cost: $408", 408),
        ("Total Year 1: $2,408", 2_408),
        # 1. retention: 10% x 10,000; x 2.5%; x $29; x 12
        ("1,000 more retained users", 1_000),
        ("25 more paid users", 25),
        ("$725/month", 725),
        ("= $8,700/year", 8_700),
        # 2. conversion: +1 pp x 10,000; x $29; x 12
        ("100 more conversions", 100),
        ("$2,900/month", 2_900),
        ("= $34,800/year", 34_800),
        # 4. churn: 5% x 10,000
        ("500 users saved", 500),
        # stack: recommended $25 + $9 + $0 + $0, per user and per event
        ("Total Monthly Cost: $34/month", 34),
        ("Total Annual Cost: $408/year", 408),
        ("Cost per User", 0.0034),
        ("Cost per Event", 0.000034),
        ("Total infrastructure: $25/month", 25),
        ("Total (with $2 backups): $27/month", 27),
        ("$25 + $8 x 10 = $105/month", 105),
        ("Break-even: Month 1", 1),
    ],
)
def test_lines_that_follow_from_the_seed_inputs_are_reproduced(check, text, value):
    r = row(check, text)
    assert r["status"] == MATCHES
    assert r["model"] == pytest.approx(value) and r["seed"] == pytest.approx(value)


def test_lines_that_do_not_follow_show_both_figures_and_why(check):
    differs = set(check.differing()["line"])
    assert differs == {
        "Product analytics: 2M events x $0.00005 = $100",
        "Session replay: 10K recordings x $0.005 = $50",
        "Subtotal $150, with 20% volume discount: $120/month",
        "Total Cost: $35/month ($25 + $9 + $0)",
        "Estimated cost, 10K MAU (500K-1M events): up to $155/month",
        "PostHog cloud, 10K MAU: $930",
        "At $29/month = $14,500/year",
        "Total Expected Return: $58,000/year",
        "ROI: 2,410%",
        "(24x return)",
    }
    # the model's figures, worked by hand
    churn = row(check, "$14,500/year")
    assert churn["model"] == pytest.approx(500 * 0.025 * 29 * 12)  # 4,350
    assert "a month, not a year" in churn["why"] and "174,000" in churn["why"]
    total = row(check, "Total Expected Return")
    assert total["model"] == pytest.approx(8_700 + 34_800 + 500 + 4_350)  # 48,350
    assert "58,500" in total["why"]  # the seed's own four lines
    net = row(check, "ROI: 2,410%")
    assert net["model"] == pytest.approx((48_350 - 2_408) / 2_408)
    assert "2309%" in net["why"]  # (58,000 - 2,408) / 2,408: the seed's net ROI by METRICS
    assert "24.09" in net["why"]  # 58,000 / 2,408: its 2,410% is the multiple
    assert row(check, "(24x return)")["model"] == pytest.approx(48_350 / 2_408)
    cloud = row(check, "Subtotal $150")
    assert cloud["model"] == pytest.approx(60) and "$120" in cloud["why"]
    assert row(check, "Total Cost: $35/month")["model"] == pytest.approx(34)


def test_every_row_that_is_not_a_plain_match_says_why(check):
    for r in check.df.itertuples():
        if r.status in {DIFFERS, IMPLIED, ROUNDED}:
            assert r.why, r.line
    implied = check.df[check.df["status"] == IMPLIED]
    assert set(implied["line"]) == {"Setup cost: $2,000 (40 hours)",
                                    "10% cost reduction = $500/year saved"}  # fmt: skip
    assert check.inputs.hourly_rate_usd == 50 and check.inputs.ai_cost_usd_per_year == 5_000
    assert row(check, "$150/month (low)")["status"] == ROUNDED


def test_the_roi_on_the_seed_inputs(check):
    r = check.roi
    assert r.returns_usd == pytest.approx(48_350)
    assert r.investment_usd == pytest.approx(2_408)
    assert r.payback_month == 1
