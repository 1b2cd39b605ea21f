"""The tracking plan, checked in Python before an event leaves the app.

The same plan the loader enforces (:mod:`zantara_nb.warehouse.tracking_plan`): the event
must be in it, each of its properties must have the plan's type and, where the plan
says so, one of its values or within its range. Properties the plan does not know are
reported too (a typo like ``queryLength`` is one). PostHog's own ``$`` properties that
the SDK adds itself never reach this check.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from ..warehouse import tracking_plan as tp


@dataclass(frozen=True)
class Violation:
    """One breach of the plan: ``kind`` is unknown_event, unknown_property or invalid_property."""

    kind: str
    event: str
    prop: str | None = None
    detail: str = ""

    def __str__(self) -> str:
        where = f"{self.event}.{self.prop}" if self.prop else self.event
        return f"{self.kind}: {where}" + (f" ({self.detail})" if self.detail else "")


def _type_ok(value: Any, typ: str) -> bool:
    if typ == "json":
        return True
    if typ == "bool":
        return isinstance(value, bool)
    if typ == "int":
        return isinstance(value, int) and not isinstance(value, bool)
    if typ == "float":
        return (
            isinstance(value, (int, float))
            and not isinstance(value, bool)
            and math.isfinite(float(value))
        )
    if typ == "str":
        return isinstance(value, str)
    return False


def check_property(event: str, key: str, value: Any) -> Violation | None:
    spec = tp.EVENTS.get(event)
    prop = spec.props.get(key) if spec else None
    if prop is None:
        return None
    if value is None:
        return None  # an absent value is allowed (the plan has no required properties)
    if not _type_ok(value, prop.type):
        return Violation(
            "invalid_property", event, key, f"expected {prop.type}, got {type(value).__name__}"
        )
    if prop.allowed is not None and value not in prop.allowed:
        return Violation("invalid_property", event, key, f"{value!r} not in {list(prop.allowed)}")
    if prop.minimum is not None and value < prop.minimum:
        return Violation("invalid_property", event, key, f"{value!r} < {prop.minimum}")
    if prop.maximum is not None and value > prop.maximum:
        return Violation("invalid_property", event, key, f"{value!r} > {prop.maximum}")
    return None


def check_event(event: str, properties: dict[str, Any]) -> list[Violation]:
    """Every breach of the plan by ``event`` with ``properties`` (empty when it follows it)."""
    if event not in tp.EVENTS:
        return [Violation("unknown_event", event, detail="not in the tracking plan")]
    out: list[Violation] = []
    known = tp.known_properties(event)
    for key, value in properties.items():
        if key not in known:
            out.append(Violation("unknown_property", event, key, "not in the tracking plan"))
            continue
        v = check_property(event, key, value)
        if v is not None:
            out.append(v)
    return out
