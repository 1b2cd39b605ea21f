"""The run manifest: what one report run was, written and read only here.

Every run folder (``reports/<suite>/<as_of>/``) holds ``manifest.json``: the suite and
its period, the parameters, the data freshness, each notebook's status and outputs, the
digest, the delivery (the e-mail, the Slack post, their overall status and errors, and
every attempt, re-sends included) and the timings. :class:`RunManifest` is that record; the runner
writes it with :func:`write_manifest` (atomically: a crash leaves the old file or the
new one, never half of one), and the index pages, the e-mail and the scheduler read it
with :func:`read_manifest` / :func:`iter_manifests`. Keys a newer version wrote and this
one does not know are kept in ``extra`` and written back unchanged.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path
from typing import Any

MANIFEST_FILE = "manifest.json"
#: Statuses of a run that produced its reports.
SUCCESS = frozenset({"ok", "success", "succeeded"})


@dataclass
class RunManifest:
    """One report run: what ran, over which period and data, how it went, how long it took."""

    suite: str
    status: str = "unknown"  # ok | failed
    title: str = ""
    failed: list[str] = field(default_factory=list)
    as_of: str = ""  # local date of the cut-off (the run folder's name)
    as_of_moment: str = ""  # the cut-off instant, ISO
    period: str = ""
    period_start: str = ""
    period_end: str = ""
    period_label: str = ""
    timezone: str = ""
    started_at: str = ""
    finished_at: str = ""
    version: str = ""
    python: str = ""
    kernel: dict[str, Any] = field(default_factory=dict)
    parameters_file: str = ""
    parameters: dict[str, Any] = field(default_factory=dict)
    only: list[str] | None = None
    data: dict[str, Any] = field(default_factory=dict)
    freshness: str = ""
    stale_message: str | None = None
    notebooks: list[dict[str, Any]] = field(default_factory=list)
    digest: dict[str, Any] = field(default_factory=dict)
    email: dict[str, Any] | None = None
    #: The Slack post of the firing alerts (``insights.alerts.Delivery`` as a dict).
    slack: dict[str, Any] | None = None
    #: ``ok`` | ``failed`` | ``skipped`` (nothing to deliver, or not configured) |
    #: ``""`` (not attempted yet): the e-mail and the Slack post together.
    delivery_status: str = ""
    #: One line per delivery that failed, e.g. ``e-mail: login refused by …``.
    delivery_errors: list[str] = field(default_factory=list)
    #: Every attempt, oldest first: ``{at, by, channel, kind, ok, error}`` (``by``: run,
    #: ``zantara-nb email``, schedule retry).
    delivery_attempts: list[dict[str, Any]] = field(default_factory=list)
    timings: dict[str, Any] = field(default_factory=dict)
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        """True when the run produced its reports."""
        return self.status.lower() in SUCCESS

    @property
    def delivery_failed(self) -> bool:
        """True when the e-mail or the Slack post of this run did not go out."""
        return self.delivery_status == "failed"

    def record_delivery(
        self, *, by: str, at: str, channels: tuple[str, ...] = ("e-mail", "Slack")
    ) -> None:
        """Set :attr:`delivery_status` and :attr:`delivery_errors` from :attr:`email` and
        :attr:`slack`, and append the attempts just made on ``channels`` to
        :attr:`delivery_attempts`."""
        status, errors = delivery_outcome(self.email, self.slack)
        self.delivery_status, self.delivery_errors = status, errors
        for channel, result in (("e-mail", self.email), ("Slack", self.slack)):
            if channel not in channels:
                continue
            state = delivery_state(channel, result)
            if state in ("ok", "failed"):
                self.delivery_attempts.append(
                    {
                        "at": at,
                        "by": by,
                        "channel": channel,
                        "kind": (result or {}).get("kind"),
                        "ok": state == "ok",
                        "error": None if state == "ok" else (result or {}).get("error"),
                    }
                )

    @property
    def stale(self) -> bool:
        """True when the data was older than the suite allows at the cut-off."""
        return bool(self.data.get("stale"))

    def __getitem__(self, key: str) -> Any:
        """A field by its JSON name (``m["timings"]``), extra keys included."""
        if key in self.extra:
            return self.extra[key]
        if key in _FIELDS:
            return getattr(self, key)
        raise KeyError(key)

    def get(self, key: str, default: Any = None) -> Any:
        """A field by its JSON name, or ``default``."""
        try:
            return self[key]
        except KeyError:
            return default

    def to_dict(self) -> dict[str, Any]:
        """The JSON form (the ``extra`` keys at the top level, as they were read)."""
        out = {f.name: getattr(self, f.name) for f in dataclasses.fields(self) if f.name != "extra"}
        return {**out, **self.extra}

    @classmethod
    def from_dict(cls, raw: dict[str, Any]) -> RunManifest:
        """A manifest from its JSON form; unknown keys go to ``extra``."""
        names = {f.name for f in dataclasses.fields(cls)} - {"extra"}
        known = {k: v for k, v in raw.items() if k in names}
        extra = {k: v for k, v in raw.items() if k not in names}
        known.setdefault("suite", "")
        return cls(**known, extra=extra)


_FIELDS = frozenset(f.name for f in dataclasses.fields(RunManifest)) - {"extra"}


def delivery_state(channel: str, result: dict[str, Any] | None) -> str:
    """``ok``, ``failed`` or ``skipped`` for one channel's recorded result."""
    if not result:
        return "skipped"
    if channel == "Slack":
        if not result.get("attempted"):
            return "skipped"
        return "ok" if result.get("ok") else "failed"
    if result.get("skipped"):
        return "skipped"
    return "ok" if result.get("ok", result.get("sent")) else "failed"


def _error(channel: str, result: dict[str, Any] | None) -> str:
    r = result or {}
    if channel == "Slack":
        return f"Slack: {r.get('error') or 'not delivered'} (webhook {r.get('host') or '?'})"
    what = "failure e-mail" if r.get("kind") == "failure" else "e-mail"
    return f"{what}: {r.get('error') or 'not sent'}"


def delivery_outcome(
    email: dict[str, Any] | None, slack: dict[str, Any] | None
) -> tuple[str, list[str]]:
    """(``ok`` | ``failed`` | ``skipped``, error lines) of a run's e-mail and Slack post."""
    states = {ch: delivery_state(ch, r) for ch, r in (("e-mail", email), ("Slack", slack))}
    errors = [_error(ch, r) for ch, r in (("e-mail", email), ("Slack", slack))
              if states[ch] == "failed"]  # fmt: skip
    if errors:
        return "failed", errors
    return ("ok" if "ok" in states.values() else "skipped"), []


def write_manifest(run_dir: str | Path, manifest: RunManifest) -> Path:
    """Write ``manifest.json`` atomically (a temporary file renamed over the old one)."""
    path = Path(run_dir) / MANIFEST_FILE
    tmp = path.with_name(f".{MANIFEST_FILE}.tmp")
    tmp.write_text(
        json.dumps(_jsonable(manifest.to_dict()), indent=2, ensure_ascii=False), encoding="utf-8"
    )
    tmp.replace(path)
    return path


def read_manifest(run_dir: str | Path | None) -> RunManifest | None:
    """The manifest of a run folder, or None when it is missing or unreadable."""
    if run_dir is None:
        return None
    try:
        raw = json.loads((Path(run_dir) / MANIFEST_FILE).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return RunManifest.from_dict(raw) if isinstance(raw, dict) else None


def iter_manifests(reports_dir: str | Path, suite: str = "*") -> Iterator[tuple[Path, RunManifest]]:
    """(run folder, manifest) of every readable run under ``reports_dir`` (hidden ones skipped)."""
    for mf in sorted(Path(reports_dir).glob(f"{suite}/*/{MANIFEST_FILE}")):
        if mf.parent.name.startswith("."):
            continue
        m = read_manifest(mf.parent)
        if m is not None:
            yield mf.parent, m


def _jsonable(x: Any) -> Any:
    if isinstance(x, dict):
        return {str(k): _jsonable(v) for k, v in x.items()}
    if isinstance(x, list | tuple):
        return [_jsonable(v) for v in x]
    if isinstance(x, datetime | date):
        return x.isoformat()
    if isinstance(x, Path):
        return str(x)
    if dataclasses.is_dataclass(x) and not isinstance(x, type):
        return _jsonable(dataclasses.asdict(x))
    if hasattr(x, "item"):  # numpy scalars
        return x.item()
    return x
