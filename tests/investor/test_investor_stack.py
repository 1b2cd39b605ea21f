"""Stack prices (zantara_nb.investor.stack) from the seed's price points, by hand."""

from __future__ import annotations

import pytest

from zantara_nb.investor import compare_stacks, load_assumptions, price_option
from zantara_nb.investor.stack import Volumes


@pytest.fixture(scope="module")
def a():
    return load_assumptions()


def vol(mau=10_000, events=1_000_000, pageviews=10_000, recordings=10_000, flags=1_000_000):
    return Volumes(mau, events, pageviews, recordings, flags)


def test_posthog_cloud_bills_above_the_free_allowances(a):
    opt = a.stack_options["posthog_cloud"]
    # 2M events: 1M billable x $0.00005 = $50; 10K recordings: 5K x $0.005 = $25; flags free
    c = price_option(opt, vol(events=2_000_000))
    assert c.monthly_usd == pytest.approx((50 + 25) * 0.8)
    # the seed's arithmetic (free allowance on flags only): (100 + 50) x 0.8 = 120
    seed = price_option(opt, vol(events=2_000_000), free_meters={"flag_requests"})
    assert seed.monthly_usd == pytest.approx(120)
    # inside every free tier: nothing to pay
    assert price_option(opt, vol(events=800_000, recordings=4_000, flags=500_000)).monthly_usd == 0
    # above the seed's price band the cost is flagged as understated
    assert any("understated" in n for n in price_option(opt, vol(events=3_000_000)).notes)


def test_per_mtu_prices(a):
    mix, amp = a.stack_options["mixpanel"], a.stack_options["amplitude"]
    assert price_option(mix, vol()).monthly_usd == pytest.approx(25 + 8 * 10)
    # 1,001 MTU: two blocks of 1,000
    assert price_option(mix, vol(mau=1_001, events=200_000)).monthly_usd == pytest.approx(41)
    # the free tier: at most 1,000 MTU and 100K events
    assert price_option(mix, vol(mau=900, events=90_000)).monthly_usd == 0
    assert price_option(mix, vol(mau=900, events=150_000)).monthly_usd == pytest.approx(33)
    c = price_option(amp, vol())
    assert (c.monthly_low, c.monthly_usd, c.monthly_high) == pytest.approx((149, 199, 249))


def test_fixed_prices_and_per_unit_costs(a):
    sh = price_option(a.stack_options["posthog_self_hosted"], vol())
    assert sh.monthly_usd == pytest.approx(15 + 5 + 2 + 3 + 0 + 2 + 0)
    rec = price_option(a.stack_options["recommended"], vol())
    assert rec.monthly_usd == pytest.approx(34)
    assert rec.cost_per_user == pytest.approx(0.0034)
    assert rec.cost_per_event == pytest.approx(0.000034)
    assert rec.year1_usd(50) == pytest.approx(40 * 50 + 12 * 34)
    assert not rec.notes
    # 25K pageviews is above Plausible's $9 tier: said, not hidden
    busy = price_option(a.stack_options["plausible"], vol(pageviews=25_000))
    assert busy.monthly_usd == 9 and "understated" in busy.notes[0]


def test_compare_stacks_prices_every_option(a):
    c = compare_stacks(a, vol())
    assert set(c.df["option"]) == {
        "posthog_cloud", "posthog_self_hosted", "mixpanel", "amplitude", "plausible", "custom",
        "recommended",
    }  # fmt: skip
    row = c.df.set_index("option").loc["custom"]
    assert row["year1_usd"] == pytest.approx(80 * 50 + 12 * 10)
    assert c.df["chosen"].sum() == 1 and c.df.set_index("option").loc["recommended", "chosen"]
    assert "<table" in c._repr_html_()
