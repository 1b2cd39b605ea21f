"""The seed's worked example (analytics-research-report.md s.11, and the stack costs it
repeats in s.2, s.9 and the executive summary), checked line by line.

:func:`seed_check` feeds the model the seed's own inputs (``seed_example`` and the price
points of ``parameters/roi.yaml``) and sets every figure the seed states beside the one
the model computes. A line *matches* when the two agree (to the seed's rounding); where
they differ, ``why`` says what the seed did. The seed's figures below are quotations of
the document; every model figure is computed.
"""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd

from .assumptions import Assumptions, load_assumptions
from .model import ROIInputs, ROIResult, payback_month, roi
from .stack import Volumes, price_option

MATCHES, ROUNDED, IMPLIED, DIFFERS = "matches", "matches (rounded)", "implied", "differs"


@dataclass
class SeedCheck:
    """The seed's figures against the model's. ``df``: ``section, line, seed, model, unit,
    status, why`` (one row per stated figure); ``roi``: the model run on the seed's inputs."""

    df: pd.DataFrame
    roi: ROIResult
    inputs: ROIInputs

    def differing(self) -> pd.DataFrame:
        """The rows where the seed's figure does not follow from its inputs."""
        return self.df[self.df["status"] == DIFFERS].reset_index(drop=True)

    def _repr_html_(self) -> str:
        from .display import seed_table_html

        return seed_table_html(self)


def _status(seed: float, model: float, tol: float = 1e-6, rounded: float | None = None) -> str:
    if abs(seed - model) <= tol * max(1.0, abs(seed)):
        return MATCHES
    if rounded is not None and abs(seed - model) <= rounded:
        return ROUNDED
    return DIFFERS


def seed_inputs(a: Assumptions) -> ROIInputs:
    """The ROI inputs the seed's worked example uses (the hourly rate and the AI cost are
    implied by its figures: $2,000 for 40 hours; $500 saved by a 10% reduction)."""
    s = a.seed_example
    stack = price_option(a.stack_options["recommended"], seed_volumes(a)).monthly_usd
    return ROIInputs(
        mau=float(s["mau"]),
        paid_conversion=float(s["paid_conversion"]),
        arpu_usd=float(s["arpu_usd"]),
        ai_cost_usd_per_year=float(s["ai_cost_saving_usd_per_year"])
        / float(s["ai_cost_reduction"]),
        retention_uplift=float(s["retention_uplift"]),
        conversion_uplift_pp=float(s["conversion_uplift_pp"]),
        ai_cost_reduction=float(s["ai_cost_reduction"]),
        churn_reduction=float(s["churn_reduction"]),
        setup_hours=float(s["setup_hours"]),
        hourly_rate_usd=float(s["setup_cost_usd"]) / float(s["setup_hours"]),
        stack_usd_per_month=stack,
        ramp_months=0.0,
    )


def seed_volumes(a: Assumptions, events: float | None = None) -> Volumes:
    """The seed's scenario: 10,000 MAU, 1M events, one replay and 100 flag requests per
    MAU, one pageview per MAU (its s.11 assumptions)."""
    s = a.seed_example
    mau = float(s["mau"])
    return Volumes(
        mau=mau,
        events=float(events if events is not None else s["events_per_month"]),
        pageviews=mau * a.volumes["pageviews_per_user"].value,
        recordings=mau * a.volumes["recordings_per_user"].value,
        flag_requests=mau * a.volumes["flag_requests_per_user"].value,
    )


def _stack_rows(a: Assumptions) -> list[dict]:
    s = a.seed_example
    opts = a.stack_options
    vol = seed_volumes(a)
    rows: list[dict] = []

    def row(section, line, seed, model, unit, why="", status=None, rounded=None):
        rows.append(
            {
                "section": section,
                "line": line,
                "seed": seed,
                "model": model,
                "unit": unit,
                "status": status or _status(seed, model, rounded=rounded),
                "why": why,
            }
        )

    # PostHog Cloud, the seed's paid example (2M events, 10K recordings, 1M flag requests)
    ex = s["posthog_paid_example"]
    pv = Volumes(vol.mau, float(ex["events"]), vol.pageviews, float(ex["recordings"]),
                 float(ex["flag_requests"]))  # fmt: skip
    billed = price_option(opts["posthog_cloud"], pv)
    as_seed = price_option(opts["posthog_cloud"], pv, free_meters={"flag_requests"})
    parts = dict(billed.components)
    seed_parts = dict(as_seed.components)

    def part(d: dict, prefix: str) -> float:
        return next(v for k, v in d.items() if k.startswith(prefix))

    free = opts["posthog_cloud"].spec["free"]
    sec = "s.11 PostHog Cloud (2M events)"
    row(sec, "Product analytics: 2M events x $0.00005 = $100", 100, part(parts, "events"), "usd",
        f"The seed's own free tier covers the first {free['events']:,} events ('$0.00005/event "
        f"(1-2M)'); charged in full as the seed does: ${part(seed_parts, 'events'):,.0f}.")  # fmt: skip
    row(sec, "Session replay: 10K recordings x $0.005 = $50", 50, part(parts, "recordings"), "usd",
        f"The first {free['recordings']:,} recordings are free (the seed's free tier); charged "
        f"in full as the seed does: ${part(seed_parts, 'recordings'):,.0f}.")  # fmt: skip
    row(sec, "Feature flags: 1M requests x $0.0001 = $0 (free tier)", 0,
        part(parts, "flag requests"), "usd")  # fmt: skip
    row(sec, "Subtotal $150, with 20% volume discount: $120/month", 120, billed.monthly_usd, "usd",
        "The seed deducts the free allowance for flag requests only. Charging events and "
        f"recordings in full, as it does, reproduces its figure: ${as_seed.monthly_usd:,.0f}.")  # fmt: skip

    sh = price_option(opts["posthog_self_hosted"], vol)
    infra = sum(v for k, v in sh.components if not k.startswith(("Backups", "Bandwidth")))
    sec = "s.11 PostHog self-hosted"
    row(sec, "Total infrastructure: $25/month", 25, infra, "usd")
    row(sec, "Total (with $2 backups): $27/month", 27, sh.monthly_usd, "usd")
    row("s.11 Mixpanel", "Paid tier, 10K MTU: $25 + $8 x 10 = $105/month", 105,
        price_option(opts["mixpanel"], vol).monthly_usd, "usd")  # fmt: skip
    amp = price_option(opts["amplitude"], vol)
    why = "The seed rounds $49 + $100 and $49 + $200 to $150 and $250."
    row("s.11 Amplitude", "Plus tier, 10K MTU: $150/month (low)", 150, amp.monthly_low, "usd",
        why, rounded=1)  # fmt: skip
    row("s.11 Amplitude", "Plus tier, 10K MTU: $250/month (high)", 250, amp.monthly_high, "usd",
        why, rounded=1)  # fmt: skip

    # Cost comparison table: Total Year 1 = 12 x monthly (no setup time)
    rate = float(s["setup_cost_usd"]) / float(s["setup_hours"])
    table = [
        ("PostHog Cloud", 120, 1440, "posthog_cloud"),
        ("PostHog self-hosted", 30, 360, "posthog_self_hosted"),
        ("Mixpanel", 105, 1260, "mixpanel"),
        ("Amplitude", 250, 3000, "amplitude"),
        ("Plausible", 9, 108, "plausible"),
        ("Custom (PG + Metabase)", 10, 120, "custom"),
    ]
    for label, monthly, year1, key in table:
        hours = opts[key].setup_hours.value
        row("s.11 Cost Comparison Table",
            f"{label}: Total Year 1 ${year1:,} (12 x ${monthly}/month)", year1, 12 * monthly,
            "usd",
            f"Year 1 here leaves out setup; METRICS s.9 investment adds {hours:g} h x "
            f"${rate:g} = ${hours * rate:,.0f}.")  # fmt: skip

    rec = price_option(opts["recommended"], vol)
    sec = "s.11 Recommended Stack Cost"
    row(sec, "Total Monthly Cost: $34/month", 34, rec.monthly_usd, "usd")
    row(sec, "Total Annual Cost: $408/year", 408, 12 * rec.monthly_usd, "usd")
    row(sec, "Cost per User: $0.0034/user/month (10K users)", 0.0034, rec.cost_per_user, "usd")
    row(sec, "Cost per Event: $0.000034/event (1M events)", 0.000034, rec.cost_per_event, "usd")

    # the same stack as other sections of the seed state it
    parts_sum = sum(v for k, v in rec.components if not k.startswith("Metabase"))
    row("s.9 Deployment Architecture", "Total Cost: $35/month ($25 + $9 + $0)", 35, parts_sum,
        "usd", f"Its own parts add up to ${parts_sum:,.0f}.")  # fmt: skip
    plaus = price_option(opts["plausible"], vol).monthly_usd
    row("Executive Summary", "Total: ~$10/month (PostHog self-hosted $0 + Plausible $9)", 10,
        plaus, "usd",
        f"Follows only with self-hosting at $0 ('infrastructure already on Fly.io'); s.11 prices "
        f"that infrastructure at $25, for ${rec.monthly_usd:,.0f} in all.",
        rounded=1)  # fmt: skip
    low_vol = seed_volumes(a, events=500_000)
    cloud_low = price_option(opts["posthog_cloud"], low_vol).monthly_usd
    cloud_high = price_option(opts["posthog_cloud"], vol).monthly_usd
    row("s.2 PostHog Deep Dive", "Estimated cost, 10K MAU (500K-1M events): up to $155/month",
        155, cloud_high, "usd",
        f"500K-1M events are inside the 1M free tier; with 10K replays the model gives "
        f"${cloud_low:,.0f}-{cloud_high:,.0f}. No input the seed states gives $155.")  # fmt: skip
    row(
        "s.2 Detailed Tool Analysis",
        "PostHog cloud, 10K MAU: $930",
        930,
        cloud_high,
        "usd",
        "No input the seed states gives $930 (s.11 says $0-120 for the same 10K MAU).",
    )
    return rows


def _roi_rows(a: Assumptions, x: ROIInputs, r: ROIResult) -> list[dict]:
    rows: list[dict] = []

    def row(section, line, seed, model, unit, why="", status=None, rounded=None):
        rows.append(
            {
                "section": section,
                "line": line,
                "seed": seed,
                "model": model,
                "unit": unit,
                "status": status or _status(seed, model, rounded=rounded),
                "why": why,
            }
        )

    sec = "s.11 ROI: investment"
    row(sec, "Setup cost: $2,000 (40 hours)", 2000, r.setup_usd, "usd",
        f"The seed states no hourly rate; $2,000 for 40 h implies ${x.hourly_rate_usd:g}/h.",
        status=IMPLIED)  # fmt: skip
    row(sec, "Annual cost: $408 (infrastructure)", 408, r.stack_year_usd, "usd")
    row(sec, "Total Year 1: $2,408", 2408, r.investment_usd, "usd")

    kept = x.mau * x.retention_uplift
    paid = kept * x.paid_conversion
    sec = "s.11 ROI: 1. retention"
    row(sec, "10% increase = 1,000 more retained users", 1000, kept, "users")
    row(sec, "At 2.5% conversion = 25 more paid users", 25, paid, "users")
    row(sec, "At $29/month = $725/month", 725, paid * x.arpu_usd, "usd")
    row(sec, "= $8,700/year", 8700, float(r.lines.set_index("line").at["retention", "year1_usd"]),
        "usd")  # fmt: skip

    conv = x.mau * x.conversion_uplift_pp
    sec = "s.11 ROI: 2. conversion"
    row(sec, "From 2.5% to 3.5% = 100 more conversions", 100, conv, "users",
        "'1% improvement' is one percentage point (2.5% to 3.5%, +40% relative).")  # fmt: skip
    row(sec, "At $29/month = $2,900/month", 2900, conv * x.arpu_usd, "usd")
    row(sec, "= $34,800/year", 34800,
        float(r.lines.set_index("line").at["conversion", "year1_usd"]), "usd")  # fmt: skip

    row("s.11 ROI: 3. AI cost", "10% cost reduction = $500/year saved", 500,
        float(r.lines.set_index("line").at["ai_cost", "year1_usd"]), "usd",
        f"The seed never states the AI cost; $500 at 10% implies "
        f"${x.ai_cost_usd_per_year:,.0f} a year, which the model then uses.",
        status=IMPLIED)  # fmt: skip

    saved = x.mau * x.churn_reduction
    churn_model = float(r.lines.set_index("line").at["churn", "year1_usd"])
    sec = "s.11 ROI: 4. churn"
    row(sec, "5% churn reduction = 500 users saved", 500, saved, "users")
    row(sec, "At $29/month = $14,500/year", 14500, churn_model, "usd",
        f"500 x $29 = ${saved * x.arpu_usd:,.0f} is a month, not a year (x 12 = "
        f"${saved * x.arpu_usd * 12:,.0f}), and it bills every saved user. As in line 1, only "
        f"the {x.paid_conversion:.1%} who convert pay: {saved:,.0f} x {x.paid_conversion:.1%} x "
        f"${x.arpu_usd:g} x 12 = ${churn_model:,.0f}.")  # fmt: skip

    seed_lines = 8700 + 34800 + 500 + 14500
    sec = "s.11 ROI: totals"
    row(sec, "Total Expected Return: $58,000/year", 58000, r.returns_usd,
        "usd",
        f"The seed's own four lines add up to ${seed_lines:,}, not $58,000; with the churn line "
        f"computed as above the total is ${r.returns_usd:,.0f}.")  # fmt: skip
    seed_net = (58000 - 2408) / 2408
    row(sec, "ROI: 2,410%", 24.10, r.net_roi, "rate",
        f"Net ROI = (returns - investment) / investment: on the seed's own total "
        f"(58,000 - 2,408) / 2,408 = {seed_net:.0%}. Its 2,410% is 58,000 / 2,408 = "
        f"{58000 / 2408:.2f}, the return multiple written as a percentage.")  # fmt: skip
    row(sec, "(24x return)", 24.0, r.multiple, "ratio",
        f"Follows from the seed's $58,000 total ({58000 / 2408:.1f}x); the model's total gives "
        f"{r.multiple:.1f}x.")  # fmt: skip
    ramped = payback_month(x.replace(ramp_months=3.0))
    row(sec, "Break-even: Month 1", 1, r.payback_month, "month",
        f"Assumes the full effect from month 1. With the seed's own Expected Impact timing "
        f"(gains by month 3) break-even is month {ramped}.")  # fmt: skip
    return rows


def seed_check(a: Assumptions | None = None) -> SeedCheck:
    """Every figure of the seed's stack costs and ROI example next to the model's, fed with
    the seed's inputs; ``status`` is matches / matches (rounded) / implied / differs."""
    a = a or load_assumptions()
    x = seed_inputs(a)
    r = roi(x)
    df = pd.DataFrame(_stack_rows(a) + _roi_rows(a, x, r))
    return SeedCheck(df, r, x)
