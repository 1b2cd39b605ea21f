"""Configuration in one place: defaults, environment variables and parameter files.

Environment variables (secrets and machine-specific paths only):

- ``ZANTARA_WAREHOUSE``: path of the DuckDB warehouse file (default ``data/zantara.duckdb``).
- ``ZANTARA_TIMEZONE``: default report timezone (default ``Asia/Jakarta``).
- SMTP and PostHog settings are read by the modules that use them.

Everything else (report windows, targets, thresholds, recipients) lives in the YAML
files under ``parameters/``.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import yaml

DEFAULT_WAREHOUSE = Path("data") / "zantara.duckdb"
#: The project checkout (``notebooks/``, ``parameters/`` beside the package).
PROJECT_ROOT = Path(__file__).resolve().parents[1]
#: The parameters folder: report suites, targets, alert rules, assumptions.
PARAMETERS_DIR = PROJECT_ROOT / "parameters"
#: The parameterised notebooks.
NOTEBOOKS_DIR = PROJECT_ROOT / "notebooks"
DEFAULT_TIMEZONE = "Asia/Jakarta"
#: Events counted as "active" unless a report says otherwise (METRICS.md section 1).
DEFAULT_ACTIVE_EVENT = "message_sent"


class SettingError(ValueError):
    """A setting (parameters file entry or environment variable) that cannot be used.

    The message names the setting and says what would be accepted; the command line
    prints it as one line and exits with code 2.
    """


def closest(name: str, candidates, n: int = 3) -> list[str]:
    """The names among ``candidates`` closest to ``name`` (difflib, case-insensitive)."""
    import difflib

    by_lower: dict[str, str] = {}
    for c in candidates:
        by_lower.setdefault(str(c).lower(), str(c))
    hits = difflib.get_close_matches(str(name).lower(), list(by_lower), n=n, cutoff=0.6)
    return [by_lower[h] for h in hits]


def did_you_mean(name: str, candidates, n: int = 3) -> str:
    """``" (did you mean: a, b?)"`` for the closest candidates, or ``""``."""
    hits = closest(name, candidates, n)
    return f" (did you mean: {', '.join(hits)}?)" if hits else ""


_ZONES: set[str] | None = None


def time_zones() -> set[str]:
    """The IANA time zone names this machine knows."""
    global _ZONES
    if _ZONES is None:
        import zoneinfo

        _ZONES = set(zoneinfo.available_timezones())
    return _ZONES


def is_time_zone(name: object) -> bool:
    """True when ``name`` is a time zone :class:`zoneinfo.ZoneInfo` can load."""
    import zoneinfo

    if not isinstance(name, str) or not name.strip():
        return False
    try:
        zoneinfo.ZoneInfo(name)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError, OSError):
        return False
    return True


def check_time_zone(name: object, setting: str) -> str:
    """``name`` if it is a time zone, else a :class:`SettingError` naming ``setting`` and
    the closest known zones."""
    if is_time_zone(name):
        return str(name)
    return _bad_zone(name, setting)


def _bad_zone(name: object, setting: str):
    hint = did_you_mean(str(name), time_zones())
    raise SettingError(
        f"{setting}: unknown time zone {name!r}{hint}; use an IANA name such as Asia/Jakarta"
    )


def warehouse_path(explicit: str | os.PathLike | None = None) -> Path:
    """The warehouse file: an explicit path, else ``$ZANTARA_WAREHOUSE``, else the default."""
    if explicit:
        return Path(explicit)
    env = os.environ.get("ZANTARA_WAREHOUSE")
    return Path(env) if env else DEFAULT_WAREHOUSE


def default_timezone() -> str:
    """The report timezone used when a call does not name one."""
    return os.environ.get("ZANTARA_TIMEZONE") or DEFAULT_TIMEZONE


def load_parameters(path: str | os.PathLike) -> dict[str, Any]:
    """Read a YAML parameters file into a dict (empty file gives an empty dict)."""
    p = Path(path)
    try:
        data = yaml.safe_load(p.read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        raise ValueError(f"{p}: not valid YAML: {exc}") from exc
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ValueError(f"{p}: expected a mapping at the top level, got {type(data).__name__}")
    return data
