"""The retention policy: how long each kind of data is kept (``parameters/retention.yaml``).

Seed section 5: raw events 90 days, aggregated metrics forever (they hold no person
identifier), user data on request or account deletion. Here:

- ``events_days`` (90): raw events older than this are deleted, except billing events
  and each person's *history skeleton* (see :mod:`.apply`);
- ``billing_days`` (3650): ``billing_events`` (subscription starts/cancels, failed
  payments) are financial records and follow their own age;
- ``quarantine_days`` (30): quarantined rows (and their raw text), by load time;
- ``persons_days`` (395): a person not seen for this long is deleted with every row
  left of them (skeleton, billing events, identity links, person rows);
- ``timezone``: the local days of the roll-ups (the reports' time zone).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from .. import config

DEFAULT_FILE = config.PARAMETERS_DIR / "retention.yaml"
BILLING = ("subscription_started", "subscription_cancelled", "payment_failed")


@dataclass(frozen=True)
class Policy:
    """The ages, in days, and the roll-up time zone."""

    events_days: int = 90
    quarantine_days: int = 30
    persons_days: int = 395
    billing_days: int = 3650
    billing_events: tuple[str, ...] = BILLING
    timezone: str = field(default_factory=config.default_timezone)

    def __post_init__(self) -> None:
        from ..warehouse.rollups import LOOKBACK_DAYS

        if self.events_days < LOOKBACK_DAYS + 7:
            raise config.SettingError(
                f"retention events_days={self.events_days}: at least {LOOKBACK_DAYS + 7} days "
                "(the roll-ups need the look-back of a 30-day window in raw events)"
            )
        for name in ("quarantine_days", "persons_days", "billing_days"):
            if getattr(self, name) < 1:
                raise config.SettingError(f"retention {name}: a positive number of days")
        if self.persons_days < self.events_days:
            raise config.SettingError(
                "retention persons_days must be at least events_days (a person's history "
                "skeleton outlives their raw events)"
            )


def load_policy(path: str | Path | None = None) -> Policy:
    """The policy of ``path`` (default ``parameters/retention.yaml``; the seed's when the
    file is missing)."""
    p = Path(path) if path else DEFAULT_FILE
    if not p.exists():
        if path:
            raise config.SettingError(f"{p}: no such retention policy file")
        return Policy()
    raw = config.load_parameters(p).get("retention") or {}
    kw: dict = {}
    for key in ("events_days", "quarantine_days", "persons_days", "billing_days"):
        if key in raw:
            kw[key] = int(raw[key])
    if "billing_events" in raw:
        kw["billing_events"] = tuple(str(e) for e in raw["billing_events"] or ())
    if raw.get("timezone"):
        kw["timezone"] = str(raw["timezone"])
    return Policy(**kw)
