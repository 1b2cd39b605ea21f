"""Monthly cost of each analytics stack the seed compares, priced from the volumes.

Three pricing kinds (``pricing:`` of an option in ``parameters/roi.yaml``):

- ``metered`` (PostHog Cloud): per meter (events, recordings, flag requests)
  ``max(0, quantity - free allowance) x unit price``, summed, then ``x (1 - discount)``.
- ``per_mtu`` (Mixpanel, Amplitude): ``base + price per 1,000 MTU x ceil(MTU / 1,000)``,
  and 0 while within the free tier (MTU and events both under it). MTU = MAU.
- ``fixed`` (self-hosted PostHog, Plausible, custom, the recommended stack): the sum of
  the components.

An option that states the volume it is priced for (``priced_up_to``) gets a note when the
volume is above it: the seed gives no price there, so the figure understates the cost.
Cost per user = monthly cost / MAU; cost per event = monthly cost / events a month;
year-1 investment = setup hours x hourly rate + 12 x monthly cost (METRICS.md s.9).
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass, field

import pandas as pd

from .assumptions import Assumptions, StackOption

METERS = ("events", "recordings", "flag_requests")


@dataclass(frozen=True)
class Volumes:
    """Monthly volumes a stack is priced from."""

    mau: float
    events: float
    pageviews: float
    recordings: float
    flag_requests: float

    def get(self, name: str) -> float:
        return float(getattr(self, name))


@dataclass(frozen=True)
class StackCost:
    """The monthly cost of one option at given volumes, with its parts and caveats.

    ``monthly_low``/``monthly_high`` span the option's price range when a price point is
    a range (Amplitude's per-MTU price); otherwise they equal ``monthly_usd``.
    """

    key: str
    label: str
    monthly_usd: float
    monthly_low: float
    monthly_high: float
    setup_hours: float
    components: list[tuple[str, float]] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    mau: float = 0.0
    events: float = 0.0

    @property
    def cost_per_user(self) -> float | None:
        """Monthly cost per monthly active user (USD)."""
        return self.monthly_usd / self.mau if self.mau else None

    @property
    def cost_per_event(self) -> float | None:
        """Monthly cost per tracked event (USD)."""
        return self.monthly_usd / self.events if self.events else None

    def year1_usd(self, hourly_rate: float) -> float:
        """Year-1 investment: setup hours x hourly rate + 12 x monthly cost."""
        return self.setup_hours * hourly_rate + 12 * self.monthly_usd


def _price(x, level: str) -> float:
    """A price point: a number, or ``{value, low, high}`` read at ``level``."""
    if isinstance(x, dict):
        return float(x.get(level, x["value"]) if level != "value" else x["value"])
    return float(x)


def _limits_notes(opt: StackOption, vol: Volumes) -> list[str]:
    notes = []
    for meter, limit in (opt.spec.get("priced_up_to") or {}).items():
        q = vol.get(meter)
        if q > float(limit):
            notes.append(
                f"{meter.replace('_', ' ')} {q:,.0f} a month is above the {float(limit):,.0f} "
                "the seed prices this for: the cost is understated"
            )
    return notes


def _metered(
    opt: StackOption, vol: Volumes, free_meters: Iterable[str] | None
) -> tuple[float, list[tuple[str, float]], list[str]]:
    free = opt.spec.get("free") or {}
    unit = opt.spec.get("unit_usd") or {}
    deduct = set(METERS if free_meters is None else free_meters)
    parts: list[tuple[str, float]] = []
    for meter in METERS:
        if meter not in unit:
            continue
        q = vol.get(meter)
        allowance = float(free.get(meter, 0)) if meter in deduct else 0.0
        billable = max(0.0, q - allowance)
        parts.append(
            (f"{meter.replace('_', ' ')}: {billable:,.0f} x ${float(unit[meter]):g}",
             billable * float(unit[meter]))
        )  # fmt: skip
    subtotal = sum(v for _, v in parts)
    discount = float(opt.spec.get("discount", 0.0))
    if subtotal > 0 and discount:
        parts.append((f"volume discount {discount:.0%}", -subtotal * discount))
    return subtotal * (1 - discount), parts, []


def _per_mtu(opt: StackOption, vol: Volumes, level: str) -> tuple[float, list, list[str]]:
    free = opt.spec.get("free") or {}
    mtu = vol.mau
    if free and mtu <= float(free.get("mtu", 0)) and vol.events <= float(free.get("events", 0)):
        return 0.0, [("free tier", 0.0)], []
    base = float(opt.spec.get("base_usd", 0.0))
    per_k = _price(opt.spec.get("usd_per_1000_mtu", 0.0), level)
    blocks = math.ceil(mtu / 1000.0)
    parts = [("base", base), (f"{blocks} x 1,000 MTU x ${per_k:g}", blocks * per_k)]
    return base + blocks * per_k, parts, []


def _fixed(opt: StackOption) -> tuple[float, list, list[str]]:
    parts = [(str(c["label"]), float(c["usd"])) for c in opt.spec.get("components") or []]
    return sum(v for _, v in parts), parts, []


def price_option(
    opt: StackOption,
    vol: Volumes,
    *,
    free_meters: Iterable[str] | None = None,
    level: str = "value",
) -> StackCost:
    """Monthly cost of ``opt`` at volumes ``vol`` (USD), with components and notes.

    ``free_meters`` (metered pricing only): the meters whose free allowance is deducted
    (None: all of them, as billed). ``level``: read ranged price points at their
    ``value``, ``low`` or ``high``.
    """
    if opt.pricing == "metered":
        total, parts, notes = _metered(opt, vol, free_meters)
    elif opt.pricing == "per_mtu":
        total, parts, notes = _per_mtu(opt, vol, level)
    else:
        total, parts, notes = _fixed(opt)
    lo = hi = total
    if level == "value" and opt.pricing == "per_mtu":
        lo = _per_mtu(opt, vol, "low")[0]
        hi = _per_mtu(opt, vol, "high")[0]
    notes = notes + _limits_notes(opt, vol)
    return StackCost(
        key=opt.key,
        label=opt.label,
        monthly_usd=total,
        monthly_low=min(lo, hi),
        monthly_high=max(lo, hi),
        setup_hours=opt.setup_hours.value,
        components=parts,
        notes=notes,
        mau=vol.mau,
        events=vol.events,
    )


@dataclass
class StackComparison:
    """Every stack option priced at the same volumes; ``df`` has one row per option."""

    df: pd.DataFrame
    costs: dict[str, StackCost]
    volumes: Volumes
    hourly_rate: float
    chosen: str

    def _repr_html_(self) -> str:
        from .display import stack_table_html

        return stack_table_html(self)


def compare_stacks(a: Assumptions, vol: Volumes) -> StackComparison:
    """Price every option of ``a`` at ``vol``: monthly cost (and range), cost per user and
    per event, setup hours, year-1 investment (setup x rate + 12 x monthly), notes."""
    costs = {k: price_option(opt, vol) for k, opt in a.stack_options.items()}
    rate = a.hourly_rate.value
    rows = []
    for k, c in costs.items():
        rows.append(
            {
                "option": k,
                "label": c.label,
                "monthly_usd": c.monthly_usd,
                "monthly_low": c.monthly_low,
                "monthly_high": c.monthly_high,
                "cost_per_user": c.cost_per_user,
                "cost_per_event": c.cost_per_event,
                "setup_hours": c.setup_hours,
                "year1_usd": c.year1_usd(rate),
                "chosen": k == a.chosen_stack,
                "notes": "; ".join(c.notes),
            }
        )
    return StackComparison(pd.DataFrame(rows), costs, vol, rate, a.chosen_stack)
