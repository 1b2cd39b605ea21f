"""A report suite: the parameters file that names its notebooks, parameters and recipients.

``parameters/weekly.yaml`` (and ``monthly.yaml``) describe one suite each::

    suite: weekly                  # folder under reports/
    title: ZANTARA weekly report
    period: week                   # week | month: the report covers the last complete one
    timezone: Asia/Jakarta
    kernel_name: zantara           # Jupyter kernel; falls back to this interpreter's python3
    concurrency: 2                 # notebooks executed at once
    stale_after_hours: 36          # newest event older than this at as_of -> warning banner
    notebooks:                     # one line per notebook: a name in notebooks/ or a path
      - 01_metrics_overview
      - 02_funnels
    parameters:                    # given to every notebook (if its parameters cell has them)
      filters: {}
      thresholds: {}
    notebook_parameters:           # extra parameters per notebook
      02_funnels: {funnels: [...]}
    email: {to: [...], failure_to: [...]}
    schedule: {cron: "0 7 * * 1", timezone: Asia/Jakarta}

Recipients (``email.to``, ``email.failure_to``) are checked when the file is read: each
entry must be exactly one valid address (``team@zantara.id`` or ``Ana <ana@zantara.id>``),
without line breaks or control characters and never several addresses in one entry
(``"a@x, b@y"``, ``"a@x\nBcc: b@y"``); otherwise the run refuses to start
(:func:`check_address`).

``as_of`` (a local date) is the observation cut-off; the report covers the last complete
period before it. By default it is the end of the last complete period before now (a
weekly run on Monday 07:00 reports the week that ended at midnight); ``zantara-nb run
--as-of`` or an ``as_of:`` key override it. Notebook names are looked up in
``notebooks_dir`` (default ``../notebooks`` next to the file); notebook paths are relative
to the file's folder. ``warehouse:`` and ``reports_dir:`` (defaults: ``$ZANTARA_WAREHOUSE``
or ``data/zantara.duckdb``, and ``reports``) are relative to the current directory.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import date, datetime
from email.headerregistry import Address
from email.utils import getaddresses
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from .. import config
from ..warehouse.scope import last_complete_period

DEFAULT_KERNEL = "zantara"
#: Parameters every notebook of a suite receives from the runner.
RUN_PARAMETERS = ("as_of", "period", "timezone", "warehouse")
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")


class SuiteError(ValueError):
    """The parameters file is not a valid suite."""


@dataclass(frozen=True)
class NotebookSpec:
    """One notebook of a suite: its name (output file stem), source path and parameters."""

    name: str
    path: Path
    parameters: dict[str, Any] = field(default_factory=dict)


@dataclass
class Suite:
    """A parsed parameters file (see the module docstring)."""

    name: str
    title: str
    period: str
    timezone: str
    notebooks: list[NotebookSpec]
    path: Path | None = None
    parameters: dict[str, Any] = field(default_factory=dict)
    kernel_name: str = DEFAULT_KERNEL
    concurrency: int = 2
    cell_timeout_seconds: int = 600
    stale_after_hours: float | None = 36.0
    warehouse: str | None = None
    reports_dir: str | None = None
    as_of: str | None = None
    email: dict[str, Any] = field(default_factory=dict)
    schedule: dict[str, Any] = field(default_factory=dict)
    raw: dict[str, Any] = field(default_factory=dict)

    def notebook(self, name: str) -> NotebookSpec:
        for nb in self.notebooks:
            if nb.name == name or nb.path.stem == name:
                return nb
        known = ", ".join(nb.name for nb in self.notebooks)
        raise SuiteError(f"no notebook {name!r} in suite {self.name!r} (it has: {known})")

    def default_as_of(self, now: datetime | None = None) -> date:
        """The end (exclusive) of the last complete period before ``now``."""
        now = now or datetime.now(ZoneInfo(self.timezone))
        return last_complete_period(now, self.period, self.timezone)[1]

    def parameters_for(self, nb: NotebookSpec, *, as_of: date, warehouse: str) -> dict[str, Any]:
        """Everything a notebook of this suite may receive (the runner keeps those it declares)."""
        return {
            **self.parameters,
            **nb.parameters,
            "as_of": as_of.isoformat(),
            "period": self.period,
            "timezone": self.timezone,
            "warehouse": warehouse,
        }

    @property
    def email_to(self) -> list[str]:
        return _as_list(self.email.get("to"))

    @property
    def email_failure_to(self) -> list[str]:
        return _as_list(self.email.get("failure_to")) or self.email_to


def _as_list(x: Any) -> list[str]:
    if not x:
        return []
    return [str(v) for v in ([x] if isinstance(x, str) else x)]


_LOCAL = re.compile(r"^[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+(\.[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+)*$")
_LABEL = r"[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?"
_DOMAIN = re.compile(rf"^(?=.{{1,253}}$){_LABEL}(?:\.{_LABEL})*$")


def check_address(entry: Any, where: str = "address") -> str:
    """One recipient entry checked: exactly one valid address, returned normalised.

    Raises :class:`SuiteError` naming ``where`` for a line break or control character,
    several addresses in one entry, or an address that is not ``local@domain``.
    """
    if not isinstance(entry, str) or not entry.strip():
        raise SuiteError(f"{where} {entry!r}: not an e-mail address")
    if any(ord(c) < 32 or ord(c) == 127 for c in entry):
        raise SuiteError(
            f"{where} {entry!r}: contains a line break or control character "
            "(one address per entry, no header lines)"
        )
    parsed = getaddresses([entry.strip()])
    if len(parsed) != 1:
        raise SuiteError(f"{where} {entry!r}: several addresses in one entry (give one per entry)")
    name, addr = parsed[0]
    local, _, domain = addr.rpartition("@")
    if addr.count("@") != 1 or not _LOCAL.match(local) or not _DOMAIN.match(domain):
        raise SuiteError(f"{where} {entry!r}: not a valid e-mail address (local@domain)")
    bare = "<" not in entry and ">" not in entry
    if (bare and entry.strip() != addr) or (not bare and not entry.strip().endswith(f"<{addr}>")):
        raise SuiteError(f"{where} {entry!r}: not a valid e-mail address (Name <local@domain>)")
    try:
        return str(Address(display_name=name, addr_spec=addr)) if name else addr
    except (ValueError, IndexError) as exc:
        raise SuiteError(f"{where} {entry!r}: not a valid e-mail address ({exc})") from None


def check_recipients(value: Any, where: str) -> list[str]:
    """A recipient list (a list of entries, or one entry) checked with :func:`check_address`."""
    if value is None or value == "" or value == []:
        return []
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, list | tuple):
        raise SuiteError(f"{where}: a list of addresses, one per entry")
    return [check_address(v, f"{where}[{i}]") for i, v in enumerate(value)]


def parse_as_of(value: str | date | datetime) -> date:
    """A run's ``as_of`` as a date (``YYYY-MM-DD``)."""
    if isinstance(value, datetime):
        return value.date()
    if isinstance(value, date):
        return value
    try:
        return date.fromisoformat(str(value).strip())
    except ValueError as exc:
        raise SuiteError(f"as_of {value!r}: use a date, YYYY-MM-DD") from exc


def _notebook_path(entry: str, base: Path, nb_dir: Path) -> Path:
    p = Path(entry)
    if p.suffix == ".ipynb" or "/" in entry:
        p = p if p.is_absolute() else base / p
        return p if p.suffix == ".ipynb" else p.with_suffix(".ipynb")
    return nb_dir / f"{entry}.ipynb"


def _default_notebooks_dir(base: Path) -> Path:
    for cand in (base.parent / "notebooks", base / "notebooks"):
        if cand.is_dir():
            return cand
    return config.NOTEBOOKS_DIR


def _resolve_files(params: dict[str, Any], base: Path) -> dict[str, Any]:
    """``targets: targets.yaml`` (a file path) made absolute, relative to the file's folder."""
    out = dict(params)
    t = out.get("targets")
    if isinstance(t, str) and t and not Path(t).is_absolute():
        out["targets"] = str(base / t)
    return out


#: The fields an e-mail subject template may use (``email.subject``).
SUBJECT_FIELDS = ("title", "suite", "period", "start", "end", "as_of", "alerts", "firing")


def check_subject(template: str, setting: str = "email.subject") -> str:
    """``template`` if it only uses :data:`SUBJECT_FIELDS` (plain, no ``.attr``/``[i]``),
    else a :class:`~zantara_nb.config.SettingError` naming the setting and the field."""
    import string

    fields = ", ".join("{" + f + "}" for f in SUBJECT_FIELDS)
    try:
        parsed = list(string.Formatter().parse(str(template)))
    except ValueError as exc:
        raise config.SettingError(f"{setting} {template!r}: {exc} (fields: {fields})") from None
    for _, name, spec, _conv in parsed:
        if name is None:
            continue
        if name not in SUBJECT_FIELDS:
            raise config.SettingError(
                f"{setting} {template!r}: unknown field {{{name}}}"
                f"{config.did_you_mean(name, SUBJECT_FIELDS)} (fields: {fields})"
            )
        try:
            format("x", spec or "")
        except ValueError as exc:
            raise config.SettingError(f"{setting} {template!r}: {{{name}:{spec}}}: {exc}") from None
    return str(template)


def _check_parameters(path: Path, where: str, values: dict[str, Any]) -> None:
    """Refuse, before anything runs, settings the notebooks would trip over later: a
    ``targets`` file that is not there, a filter with an unknown operator."""
    from ..warehouse.scope import check_filters

    t = values.get("targets")
    if isinstance(t, str) and t and not Path(t).is_file():
        raise SuiteError(f"{path}: {where}: targets: {t}: no such file")
    try:
        check_filters(values.get("filters"))
    except ValueError as exc:
        raise SuiteError(f"{path}: {where}: {exc}") from None


def load_suite(path: str | Path) -> Suite:
    """Read and check a parameters file; notebook paths are resolved and must exist."""
    path = Path(path)
    if not path.exists():
        raise SuiteError(f"{path}: no such parameters file")
    try:
        raw = config.load_parameters(path)
    except ValueError as exc:
        raise SuiteError(str(exc)) from exc
    base = path.resolve().parent
    name = str(raw.get("suite") or path.stem)
    if not _NAME.match(name):
        raise SuiteError(f"{path}: suite name {name!r}: use letters, digits, '_', '-', '.'")
    period = str(raw.get("period", "week"))
    if period not in {"week", "month"}:
        raise SuiteError(f"{path}: period {period!r}: use week or month")
    tz = str(raw.get("timezone") or config.default_timezone())
    try:
        config.check_time_zone(tz, f"{path}: timezone")
    except config.SettingError as exc:
        raise SuiteError(str(exc)) from None
    nb_dir = raw.get("notebooks_dir")
    nb_dir = (base / nb_dir) if nb_dir else _default_notebooks_dir(base)
    per_nb = raw.get("notebook_parameters") or {}
    if not isinstance(per_nb, dict):
        raise SuiteError(f"{path}: notebook_parameters must be a mapping of notebook -> parameters")
    notebooks: list[NotebookSpec] = []
    entries = raw.get("notebooks") or []
    if not isinstance(entries, list) or not entries:
        raise SuiteError(f"{path}: 'notebooks' must list at least one notebook")
    for entry in entries:
        params: dict[str, Any] = {}
        if isinstance(entry, dict):
            if "name" not in entry and "path" not in entry:
                raise SuiteError(f"{path}: notebook entry {entry!r} needs a name or a path")
            params = dict(entry.get("parameters") or {})
            entry = str(entry.get("path") or entry["name"])
        entry = str(entry)
        nb_path = _notebook_path(entry, base, nb_dir)
        if not nb_path.exists():
            raise SuiteError(f"{path}: notebook {entry!r} not found ({nb_path})")
        stem = nb_path.stem
        if any(nb.name == stem for nb in notebooks):
            raise SuiteError(f"{path}: notebook {stem!r} listed twice")
        params = {**dict(per_nb.get(stem) or per_nb.get(entry) or {}), **params}
        notebooks.append(NotebookSpec(stem, nb_path, params))
    common = raw.get("parameters") or {}
    if not isinstance(common, dict):
        raise SuiteError(f"{path}: 'parameters' must be a mapping")
    common = _resolve_files(common, base)
    notebooks = [
        NotebookSpec(nb.name, nb.path, _resolve_files(nb.parameters, base)) for nb in notebooks
    ]
    for where, values in [("parameters", common)] + [
        (f"notebook {nb.name}", nb.parameters) for nb in notebooks
    ]:
        _check_parameters(path, where, values)
    stale = raw.get("stale_after_hours", 36)
    email = raw.get("email") or {}
    schedule = raw.get("schedule") or {}
    if not isinstance(email, dict) or not isinstance(schedule, dict):
        raise SuiteError(f"{path}: 'email' and 'schedule' must be mappings")
    if email.get("subject"):
        try:
            check_subject(email["subject"])
        except config.SettingError as exc:
            raise SuiteError(f"{path}: {exc}") from None
    for key in ("to", "failure_to"):
        check_recipients(email.get(key), f"{path}: email.{key}")
    try:
        concurrency = max(1, int(raw.get("concurrency", 2)))
        timeout = int(raw.get("cell_timeout_seconds", 600))
        stale = None if stale is None else float(stale)
    except (TypeError, ValueError) as exc:
        raise SuiteError(f"{path}: {exc}") from exc
    wh = raw.get("warehouse")
    reports = raw.get("reports_dir")
    return Suite(
        name=name,
        title=str(raw.get("title") or f"ZANTARA {name} report"),
        period=period,
        timezone=tz,
        notebooks=notebooks,
        path=path.resolve(),
        parameters=dict(common),
        kernel_name=str(raw.get("kernel_name") or DEFAULT_KERNEL),
        concurrency=concurrency,
        cell_timeout_seconds=timeout,
        stale_after_hours=stale,
        warehouse=str(wh) if wh else None,
        reports_dir=str(reports) if reports else None,
        as_of=str(raw["as_of"]) if raw.get("as_of") else None,
        email=dict(email),
        schedule=dict(schedule),
        raw=raw,
    )
