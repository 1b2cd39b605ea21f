"""The seed's targets, read from ``parameters/targets.yaml`` (the only place they live)."""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

from .. import config

DEFAULT_TARGETS = config.PARAMETERS_DIR / "targets.yaml"


@dataclass(frozen=True)
class Target:
    """A seed target: ``direction`` higher means at least ``value``, lower means at most."""

    value: float | None
    direction: str = "higher"
    note: str = ""

    def met(self, x: float | None) -> bool | None:
        """Whether ``x`` meets the target (None without a target or a value)."""
        if self.value is None or x is None or (isinstance(x, float) and math.isnan(x)):
            return None
        return x >= self.value if self.direction == "higher" else x <= self.value


def load_targets(source: str | Path | dict | None = None) -> dict[str, Target]:
    """Targets from a parameters file (``targets:`` mapping), a dict, or the default file."""
    if isinstance(source, dict):
        raw = source.get("targets", source)
    else:
        path = Path(source) if source else DEFAULT_TARGETS
        if source and not path.is_file():
            # a named file that is not there: refused, not read as "no targets"
            raise config.SettingError(f"targets: {path}: no such file")
        raw = config.load_parameters(path).get("targets", {}) if path.exists() else {}
        if not isinstance(raw, dict):
            raise config.SettingError(f"targets: {path}: 'targets' must be a mapping")
    out = {}
    for key, spec in raw.items():
        if isinstance(spec, dict):
            out[key] = Target(
                spec.get("target"), spec.get("direction", "higher"), spec.get("note", "")
            )
        else:
            out[key] = Target(spec)
    return out


def target_value(name: str, source: str | Path | dict | None = None) -> float | None:
    """The target named ``name`` in the targets file (a KPI key), or None."""
    t = load_targets(source).get(name)
    return None if t is None else t.value
