"""The one list of headline numbers: what each KPI is, how it reads and where it shows.

Each :class:`KPI` names the metric that defines it, its unit, which direction is good,
its target key in ``parameters/targets.yaml`` (targets live only there) and where it is
shown (``"headline"``: the overview's cards, ``"health"``: the health cards,
``"email"``: the e-mail's cards). :func:`zantara_nb.kpis` computes a row for every KPI
with a reader; the report cards, the e-mail cards and the targets table all read this
list. Adding a KPI is one entry (and its reader in :mod:`.kpi_readings`).

A *view* (``derived_from``) shows another KPI's row in another scale, e.g. the AI cost
per query is the cost per 1,000 queries divided by 1,000: it has no row of its own.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

from . import kpi_readings as r
from .targets import DEFAULT_TARGETS, Target, load_targets, target_value

__all__ = [
    "CARD_ORDER",
    "DEFAULT_TARGETS",
    "KPI",
    "REGISTRY",
    "Target",
    "computed",
    "kpi",
    "load_targets",
    "shown_in",
    "target_value",
]
Place = Literal["headline", "health", "email"]


@dataclass(frozen=True)
class KPI:
    """One headline number: its meaning, its reader, its target key and where it shows."""

    key: str
    label: str
    group: str  # north_star | input | output | health
    unit: str  # users, count, rate, change, ratio, usd, ms, score
    good: Literal["up", "down"]
    metric: str  # the function that defines it
    read: Callable[[r.KPIContext], r.Reading] | None = None
    label_month: str | None = None
    target_key: str | None = None  # default: the key
    show: frozenset[str] = frozenset()
    card_label: str | None = None
    derived_from: str | None = None
    scale: float = 1.0
    money_decimals: int | None = None

    @property
    def higher_is_better(self) -> bool:
        return self.good == "up"

    @property
    def target_name(self) -> str:
        """The key of this KPI's target in ``parameters/targets.yaml``."""
        return self.target_key or self.derived_from or self.key

    def label_for(self, period: str) -> str:
        """The row label for a weekly or monthly table."""
        return self.label_month if period == "month" and self.label_month else self.label


def _kpi(*args, show: tuple[str, ...] = (), **kw) -> KPI:
    return KPI(*args, show=frozenset(show), **kw)


#: Every KPI, in the order of the KPI table.
REGISTRY: tuple[KPI, ...] = (
    _kpi(
        "active_users",
        "Weekly active users (North Star)",
        "north_star",
        "users",
        "up",
        "metrics.active.lifecycle",
        r.active_users,
        label_month="Monthly active users",
        show=("headline", "email"),
        card_label="Active users",
    ),
    _kpi(
        "wow_growth",
        "Active-user growth",
        "north_star",
        "change",
        "up",
        "metrics.active.lifecycle",
        r.growth,
    ),
    _kpi(
        "new_users",
        "New active users",
        "north_star",
        "users",
        "up",
        "metrics.active.lifecycle",
        r.new_users,
    ),
    _kpi(
        "messages",
        "Messages sent",
        "input",
        "count",
        "up",
        "metrics.health.error_rate",
        r.messages,
        show=("headline", "email"),
    ),
    _kpi(
        "dau_mau",
        "DAU/MAU (stickiness)",
        "north_star",
        "rate",
        "up",
        "metrics.active.stickiness",
        r.dau_mau,
    ),
    _kpi(
        "activation_rate",
        "Activation rate (signups this period)",
        "input",
        "rate",
        "up",
        "metrics.inputs.activation",
        r.activation_rate,
    ),
    _kpi(
        "week2_retention",
        "Week-2 retention (signups 14 days earlier)",
        "input",
        "rate",
        "up",
        "metrics.inputs.week2_retention",
        r.week2_retention,
    ),
    _kpi(
        "engagement",
        "Messages per active user per week",
        "input",
        "ratio",
        "up",
        "metrics.active.engagement",
        r.engagement,
    ),
    _kpi("mrr_usd", "MRR (end of period)", "output", "usd", "up", "metrics.revenue.mrr", r.mrr),
    _kpi(
        "paid_conversion",
        "Paid conversion in 30 days (signups 30 days earlier)",
        "output",
        "rate",
        "up",
        "metrics.inputs.paid_conversion",
        r.paid_conversion,
    ),
    _kpi("nps", "NPS", "output", "score", "up", "metrics.revenue.nps", r.nps),
    _kpi(
        "p95_latency_ms",
        "P95 response latency",
        "health",
        "ms",
        "down",
        "metrics.health.p95_latency",
        r.p95_latency,
        show=("health", "email"),
        card_label="P95 latency",
    ),
    _kpi(
        "error_rate",
        "Error rate (errors / messages)",
        "health",
        "rate",
        "down",
        "metrics.health.error_rate",
        r.error_rate,
        show=("health", "email"),
        card_label="Error rate",
    ),
    _kpi(
        "cost_per_1k_usd",
        "AI cost per 1K queries",
        "health",
        "usd",
        "down",
        "metrics.health.cost_per_1k",
        r.cost_per_1k,
        show=("health",),
    ),
    _kpi(
        "cost_per_active_user_usd",
        "AI cost per active user",
        "health",
        "usd",
        "down",
        "metrics.health.cost_per_active_user",
        r.cost_per_active_user,
    ),
    _kpi(
        "satisfaction",
        "Satisfaction (share positive)",
        "health",
        "rate",
        "up",
        "metrics.health.satisfaction",
        r.satisfaction,
        show=("headline", "email"),
        card_label="Satisfaction",
    ),
    # views of another KPI's row
    _kpi(
        "cost_per_query",
        "AI cost per query",
        "health",
        "usd",
        "down",
        "metrics.health.cost_per_1k",
        derived_from="cost_per_1k_usd",
        scale=1 / 1000,
        money_decimals=4,
        show=("headline", "email"),
    ),
)

_BY_KEY = {k.key: k for k in REGISTRY}
#: The order the cards appear in, per place (a view sits where its place lists it).
CARD_ORDER: dict[str, tuple[str, ...]] = {
    "headline": ("active_users", "messages", "cost_per_query", "satisfaction"),
    "health": ("p95_latency_ms", "error_rate", "cost_per_1k_usd"),
    "email": (
        "active_users",
        "messages",
        "cost_per_query",
        "satisfaction",
        "p95_latency_ms",
        "error_rate",
    ),
}


def kpi(key: str) -> KPI:
    """The registry entry of a KPI by key."""
    try:
        return _BY_KEY[key]
    except KeyError:
        raise KeyError(f"unknown KPI {key!r} (known: {', '.join(_BY_KEY)})") from None


def computed() -> tuple[KPI, ...]:
    """The KPIs that have a row in the KPI table, in order."""
    return tuple(k for k in REGISTRY if k.read is not None)


def shown_in(place: Place) -> tuple[KPI, ...]:
    """The KPIs shown as cards in ``place``, in their order there."""
    out = tuple(kpi(k) for k in CARD_ORDER[place])
    assert all(place in k.show for k in out), place
    return out
