"""Stored report runs whose data included a person, and how to regenerate them.

A run (``reports/<suite>/<as_of>/manifest.json``) read every event before its cut-off
(``as_of_moment``): cohorts and "first ever" rules look at all history, so a run
included a person when the person's first event is before the run's cut-off. Such runs
still show numbers that counted the person after an erasure; ``zantara-nb run
<parameters file> --as-of <date>`` regenerates one from the warehouse as it is now.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path


@dataclass(frozen=True)
class RunRef:
    """One stored run: its folder, suite, cut-off and the command that re-runs it."""

    folder: str
    suite: str
    as_of: str
    parameters_file: str

    @property
    def key(self) -> str:
        return f"{self.suite}/{self.as_of}"

    @property
    def command(self) -> str:
        params = self.parameters_file or f"parameters/{self.suite}.yaml"
        return f"zantara-nb run {params} --as-of {self.as_of}"


def _cutoff(m) -> datetime | None:
    text = m.as_of_moment or m.as_of
    if not text:
        return None
    try:
        t = datetime.fromisoformat(str(text).replace("Z", "+00:00"))
    except ValueError:
        return None
    return t if t.tzinfo else t.replace(tzinfo=UTC)


def runs_including(reports_dir: str | Path, first_seen: datetime) -> list[RunRef]:
    """Runs under ``reports_dir`` whose cut-off is after ``first_seen`` (oldest first)."""
    from ..reporting.manifest import iter_manifests

    root = Path(reports_dir)
    if not root.is_dir():
        return []
    if first_seen.tzinfo is None:
        first_seen = first_seen.replace(tzinfo=UTC)
    out = []
    for folder, m in iter_manifests(root):
        cut = _cutoff(m)
        if cut is not None and cut > first_seen:
            out.append(RunRef(str(folder), m.suite, m.as_of, m.parameters_file))
    return sorted(out, key=lambda r: (r.as_of, r.suite))
