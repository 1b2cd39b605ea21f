"""E-mail a finished report run (digest + reader reports), or a failure notice.

SMTP settings come from environment variables (secrets stay out of parameter files):

==========================  =====================================================
``ZANTARA_SMTP_HOST``       SMTP server (required to send)
``ZANTARA_SMTP_PORT``       port (default 587 for starttls, 465 for ssl, 25 for none)
``ZANTARA_SMTP_USER``       login user (no login when unset)
``ZANTARA_SMTP_PASSWORD``   login password
``ZANTARA_SMTP_SECURITY``   ``starttls`` (default), ``ssl`` or ``none``
``ZANTARA_SMTP_FROM``       sender address (default: the user, else ``zantara-nb@<host>``)
``ZANTARA_SMTP_TIMEOUT``    seconds one socket operation may take (default 30)
``ZANTARA_SMTP_DEADLINE``   seconds the whole delivery may take (default 120)
``ZANTARA_SMTP_CAFILE``     extra CA bundle to trust (an internal relay's certificate)
==========================  =====================================================

Recipients and options come from the suite's parameters file::

    email:
      to: [team@example.com]
      failure_to: [ops@example.com]      # default: to
      subject: "{title} · {period} · {alerts}"   # also {suite} {start} {end} {as_of} {firing}
      base_url: null                     # e.g. https://reports.example.com/reports
      attach_reports: true
      max_attach_mb: 15

Message structure (what Gmail and Outlook display correctly)::

    multipart/mixed
    ├── multipart/related; type="multipart/alternative"
    │   ├── multipart/alternative
    │   │   ├── text/plain           (the same content as text)
    │   │   └── text/html            (table layout, CSS inlined, < 100 KB)
    │   └── image/png × 2–3          (Content-ID, referenced as cid: from the HTML)
    └── text/html attachments        (the code-free reader reports; omitted when linked)
        and application/pdf          (their PDFs, for suites with ``pdf:``)

With ``base_url`` set, the reader reports are linked as
``{base_url}/{suite}/{run folder}/{file}`` instead of attached (``base_url`` is where
the ``reports/`` folder is served). Every string that comes from data or parameters is
HTML-escaped (Jinja2 autoescape) and shown as :func:`zantara_nb.display.text.safe_text`
(personal data redacted, long values cut). Recipients are checked one by one
(:func:`zantara_nb.reporting.suite.check_address`): an entry that is not exactly one
address is refused, never dropped or split. Sending never raises: :func:`send_run_email`
and :func:`send_failure_email` return a :class:`SendResult` holding the error; a message
counts as sent only when the server accepted every recipient.

This module is ``zantara_nb.reporting.email``; it uses the standard library's ``email`` package
through absolute imports, so both import side by side.
"""

from __future__ import annotations

import contextlib
import json
import os
import smtplib
import socket
import ssl
import traceback
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.message import EmailMessage, MIMEPart
from email.utils import formatdate, getaddresses, make_msgid
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlparse

from zantara_nb import __version__
from zantara_nb.deadline import Deadline
from zantara_nb.display.formatting import fmt, fmt_num, is_missing
from zantara_nb.display.text import safe_text
from zantara_nb.reporting.digest import Digest
from zantara_nb.reporting.suite import check_recipients, check_subject

TEMPLATES = Path(__file__).resolve().parent / "templates"
MANIFEST_FILE = "manifest.json"
DEFAULT_SUBJECT = "{title} · {period} · {alerts}"
HTML_LIMIT = 100_000  # Gmail clips HTML bodies above ~102 KB
NARRATIVE_LIMIT = 2_000  # characters of the "what changed" paragraph
UP, DOWN, NEUTRAL = "#3A9E6F", "#B8434F", "#8C8C8C"
_FAILED = {"failed", "error", "errored", "timeout", "killed", "crashed"}
_OK = {"ok", "success", "succeeded", "completed", "complete", "done", "passed"}


# ------------------------------------------------------------------------------------------
# Settings and results
# ------------------------------------------------------------------------------------------


@dataclass
class SmtpSettings:
    """Where and how to send (from ``ZANTARA_SMTP_*``, see the module docstring)."""

    host: str | None
    port: int
    security: str = "starttls"
    user: str | None = None
    password: str | None = field(default=None, repr=False)
    sender: str = "zantara-nb@localhost"
    timeout: float = 30.0
    cafile: str | None = None
    deadline: float = 120.0

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> SmtpSettings:
        e = os.environ if env is None else env
        security = (e.get("ZANTARA_SMTP_SECURITY") or "starttls").strip().lower()
        if security not in {"starttls", "ssl", "none"}:
            raise ValueError(f"ZANTARA_SMTP_SECURITY={security!r}: use starttls, ssl or none")
        default_port = {"starttls": 587, "ssl": 465, "none": 25}[security]
        port_s = (e.get("ZANTARA_SMTP_PORT") or "").strip()
        try:
            port = int(port_s) if port_s else default_port
        except ValueError as exc:
            raise ValueError(f"ZANTARA_SMTP_PORT={port_s!r} is not a number") from exc
        user = e.get("ZANTARA_SMTP_USER") or None
        sender = e.get("ZANTARA_SMTP_FROM") or (
            user if user and "@" in user else f"zantara-nb@{socket.getfqdn() or 'localhost'}"
        )
        return cls(
            host=(e.get("ZANTARA_SMTP_HOST") or "").strip() or None,
            port=port,
            security=security,
            user=user,
            password=e.get("ZANTARA_SMTP_PASSWORD") or None,
            sender=sender,
            timeout=_seconds(e, "ZANTARA_SMTP_TIMEOUT", 30.0),
            cafile=e.get("ZANTARA_SMTP_CAFILE") or None,
            deadline=_seconds(e, "ZANTARA_SMTP_DEADLINE", 120.0),
        )


def _seconds(env: Mapping[str, str], name: str, default: float) -> float:
    raw = (env.get(name) or "").strip()
    if not raw:
        return default
    try:
        v = float(raw)
    except ValueError:
        v = -1.0
    if not v > 0:
        raise ValueError(f"{name}={raw!r}: a number of seconds greater than 0")
    return v


@dataclass
class SendResult:
    """What happened to one e-mail. ``ok`` False with ``error`` when it was not sent."""

    ok: bool
    kind: str  # run | failure
    recipients: list[str] = field(default_factory=list)
    subject: str = ""
    error: str | None = None
    message_id: str | None = None
    html_bytes: int = 0
    message_bytes: int = 0
    refused: dict[str, Any] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)

    def __bool__(self) -> bool:
        return self.ok

    def to_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)

    def __str__(self) -> str:
        if self.ok:
            return (
                f"{self.kind} e-mail sent to {', '.join(self.recipients)}: {self.subject!r} "
                f"({self.message_bytes:,} bytes, HTML {self.html_bytes:,} bytes)"
            )
        return f"{self.kind} e-mail not sent: {self.error}"


@dataclass
class EmailOptions:
    """The ``email:`` section of a parameters file."""

    to: list[str]
    failure_to: list[str]
    subject: str = DEFAULT_SUBJECT
    base_url: str | None = None
    attach_reports: bool = True
    max_attach_bytes: int = 15 * 1024 * 1024

    @classmethod
    def from_params(cls, params: Mapping[str, Any] | None) -> EmailOptions:
        e = dict((params or {}).get("email") or {})
        to = _addresses(e.get("to"))
        failure = _addresses(e.get("failure_to")) or list(to)
        return cls(
            to=to,
            failure_to=failure,
            # an unknown field ({title.nope}) is refused here, naming email.subject
            subject=check_subject(str(e.get("subject") or DEFAULT_SUBJECT)),
            base_url=(str(e["base_url"]).strip() or None) if e.get("base_url") else None,
            attach_reports=bool(e.get("attach_reports", True)),
            max_attach_bytes=int(float(e.get("max_attach_mb", 15)) * 1024 * 1024),
        )


def _addresses(value: Any) -> list[str]:
    """Addresses from a list (or one entry); an entry that is not exactly one valid
    address raises ``ValueError`` (:func:`zantara_nb.reporting.suite.check_recipients`)."""
    return check_recipients(value, "email address")


# ------------------------------------------------------------------------------------------
# The run folder: manifest and reports
# ------------------------------------------------------------------------------------------


def load_manifest(run_dir: str | Path | None) -> dict[str, Any]:
    """``manifest.json`` of a run folder as a dict ({} when missing or unreadable)."""
    from .manifest import read_manifest

    m = read_manifest(run_dir)
    return {} if m is None else m.to_dict()


def _pick(d: Mapping[str, Any], *keys: str) -> Any:
    for k in keys:
        v = d.get(k)
        if v not in (None, "", [], {}):
            return v
    return None


def _path_of(entry: Mapping[str, Any], kind: str) -> str | None:
    """The reader/analyst HTML path of a notebook entry, whatever the manifest's shape."""
    direct = _pick(entry, kind, f"{kind}_html", f"{kind}_path", f"{kind}_report")
    if isinstance(direct, str):
        return direct
    if isinstance(direct, Mapping):
        v = _pick(direct, "path", "html", "file")
        if isinstance(v, str):
            return v
    for holder in ("html", "outputs", "reports", "files", "paths"):
        sub = entry.get(holder)
        if isinstance(sub, Mapping):
            v = sub.get(kind) or sub.get(f"{kind}_html")
            if isinstance(v, str):
                return v
    return None


def _error_text(entry: Mapping[str, Any]) -> str:
    err = _pick(entry, "error", "error_message", "exception", "traceback")
    if isinstance(err, Mapping):
        parts = [str(err.get(k)) for k in ("ename", "type", "evalue", "message") if err.get(k)]
        return ": ".join(parts) or json.dumps(err)[:500]
    if isinstance(err, list):
        return "\n".join(str(e) for e in err)[-2000:]
    return "" if err is None else str(err)[-2000:]


def notebooks(manifest: Mapping[str, Any]) -> list[dict[str, Any]]:
    """The manifest's notebooks as dicts: name, status, failed, error, reader, analyst."""
    raw = manifest.get("notebooks") or []
    if isinstance(raw, Mapping):
        raw = [
            {"name": k, **(v if isinstance(v, Mapping) else {"status": v})} for k, v in raw.items()
        ]
    out = []
    for i, e in enumerate(raw):
        if not isinstance(e, Mapping):
            e = {"name": str(e)}
        status = str(_pick(e, "status", "state") or "unknown").lower()
        name = str(_pick(e, "name", "notebook", "title", "id") or f"notebook {i + 1}")
        out.append(
            {
                "name": Path(name).stem if name.endswith(".ipynb") else name,
                "status": status,
                "failed": status in _FAILED,
                "error": _error_text(e),
                "reader": _path_of(e, "reader"),
                "analyst": _path_of(e, "analyst"),
                "pdf": _path_of(e, "pdf"),
            }
        )
    return out


def _resolve(run_dir: Path, p: str | None) -> Path | None:
    if not p:
        return None
    path = Path(p)
    if not path.is_absolute():
        cand = run_dir / path
        if not cand.exists() and path.parts and path.parts[0] == run_dir.name:
            cand = run_dir.parent / path
        path = cand
    try:
        path.resolve().relative_to(run_dir.resolve())
    except ValueError:
        return None  # only files inside the run folder are sent
    return path if path.is_file() else None


def reader_reports(run_dir: str | Path, manifest: Mapping[str, Any] | None = None) -> list[Path]:
    """The code-free reader HTML files of the notebooks that succeeded, in manifest order.

    Without paths in the manifest: ``reader/*.html`` or ``*reader*.html`` in the folder.
    """
    run = Path(run_dir)
    nbs = notebooks(manifest if manifest is not None else load_manifest(run))
    found = [_resolve(run, nb["reader"]) for nb in nbs if not nb["failed"]]
    files = [p for p in found if p is not None]
    if files or any(nb["reader"] for nb in nbs):
        return files
    cands = sorted((run / "reader").glob("*.html")) if (run / "reader").is_dir() else []
    if not cands:
        cands = sorted(p for p in run.rglob("*reader*.html") if p.is_file())
    return cands


def pdf_reports(run_dir: str | Path, manifest: Mapping[str, Any] | None = None) -> list[Path]:
    """The PDFs of the reader reports (``pdf:`` in the parameters file) of the notebooks
    that succeeded, in manifest order."""
    run = Path(run_dir)
    nbs = notebooks(manifest if manifest is not None else load_manifest(run))
    found = [_resolve(run, nb["pdf"]) for nb in nbs if not nb["failed"]]
    return [p for p in found if p is not None]


# ------------------------------------------------------------------------------------------
# Rendering
# ------------------------------------------------------------------------------------------


def _env():
    import jinja2

    return jinja2.Environment(
        loader=jinja2.FileSystemLoader(str(TEMPLATES)),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )


def _inline(html_text: str) -> str:
    import css_inline

    inliner = css_inline.CSSInliner(keep_style_tags=False, load_remote_stylesheets=False)
    return inliner.inline(html_text)


def _one_line(s: str) -> str:
    return " ".join(str(s).split())


class _SafeDict(dict):
    def __missing__(self, key: str) -> str:
        return "{" + key + "}"


def _alerts_phrase(d: Digest) -> str:
    if not d.alerts_available:
        return "alerts not available"
    n = len(d.firing)
    if n == 0:
        return "no alerts firing"
    return f"{n} alert{'s' if n != 1 else ''} firing"


def _title(params: Mapping[str, Any], suite: str) -> str:
    """The report's title: ``title`` from the parameters, else ``ZANTARA <suite> report``."""
    t = params.get("title")
    if t:
        return _one_line(str(t))
    s = suite.strip()
    s = s[: -len("report")].strip(" -_") if s.lower().endswith("report") else s
    return _one_line(f"ZANTARA {s} report")


def _subject(template: str, fields: Mapping[str, str]) -> str:
    try:
        s = template.format_map(_SafeDict(fields))
    except (ValueError, IndexError):
        s = DEFAULT_SUBJECT.format_map(_SafeDict(fields))
    return _one_line(s)[:250]


def _alert_value(x: Any, unit: Any) -> str:
    if is_missing(x):
        return "—"
    if isinstance(unit, str) and unit:
        return fmt(x, unit)
    try:
        v = float(x)
    except (TypeError, ValueError):
        return str(x)
    return fmt(v, "count") if v == round(v) else fmt_num(v, 2)


def _card_view(c) -> dict[str, str]:
    mark = {"up": "▲", "down": "▼", "flat": "■"}.get(c.direction, "")
    neutral = c.good is None or (c.tested and not c.significant)
    colour = NEUTRAL if neutral else (UP if c.good else DOWN)
    meta = []
    if c.tested:
        meta.append("significant" if c.significant else "not significant")
    if c.target_text:
        status = {True: "✔ met", False: "✘ missed"}.get(c.target_met, "")
        meta.append(f"{c.target_text} {status}".strip())
    if c.note:
        meta.append(c.note)
    return {
        "label": c.label,
        "value_text": c.value_text,
        "change_text": c.change_text if c.direction != "unknown" else "no comparison",
        "previous_text": c.previous_text,
        "mark": mark,
        "colour": colour,
        "meta": " · ".join(meta),
    }


def _alert_views(d: Digest) -> list[dict[str, str]]:
    order = {"firing": 0, "no data": 1, "ok": 2}
    rows = sorted(d.alerts, key=lambda a: order.get(str(a.get("status", "")).lower(), 3))
    out = []
    for a in rows:
        status = str(a.get("status") or "unknown").lower()
        out.append(
            {
                "name": safe_text(a.get("name") or "—"),
                "condition": safe_text(a.get("condition") or "—"),
                "observed": _alert_value(a.get("observed"), a.get("unit")),
                "threshold": _alert_value(a.get("threshold"), a.get("unit")),
                "window": safe_text(a.get("window") or "—"),
                "detail": "" if is_missing(a.get("detail")) else safe_text(a.get("detail") or ""),
                "status": status,
                "colour": {"firing": DOWN, "ok": UP}.get(status, NEUTRAL),
            }
        )
    return out


def _as_of_text(d: Digest) -> str:
    try:
        t = datetime.fromisoformat(d.as_of)
    except ValueError:
        return f"{d.as_of} ({d.tz})"
    if t.tzinfo is not None:
        from zoneinfo import ZoneInfo

        t = t.astimezone(ZoneInfo(d.tz))
    return f"{t:%Y-%m-%d %H:%M} {d.tz}"


def _freshness(manifest: Mapping[str, Any]) -> str:
    f = manifest.get("freshness")
    if isinstance(f, str):
        return f
    if isinstance(f, Mapping):
        items = [
            f"{k.replace('_', ' ')} {v}" for k, v in f.items() if isinstance(v, str | int | float)
        ]
        return ", ".join(items[:3])
    return ""


def _link(base_url: str, run_dir: Path, file: Path) -> str:
    rel = file.resolve().relative_to(run_dir.resolve().parent.parent)
    return base_url.rstrip("/") + "/" + "/".join(quote(part) for part in rel.parts)


def _safe_base_url(url: str | None, warnings: list[str]) -> str | None:
    if not url:
        return None
    if urlparse(url).scheme not in ("http", "https"):
        warnings.append(f"email.base_url {url!r} ignored: only http(s) links are sent")
        return None
    return url


def _cid(name: str, d: Digest) -> str:
    token = "".join(ch if ch.isalnum() or ch in "-." else "-" for ch in f"{name}.{d.start}")
    return f"{token}@zantara-nb"


def _png(path: Path) -> bytes | None:
    try:
        data = path.read_bytes()
    except OSError:
        return None
    return data if data.startswith(b"\x89PNG") else None


def _part(content: Any, **kw: Any) -> MIMEPart:
    p = MIMEPart()
    p.set_content(content, **kw)
    return p


def _headers(msg: EmailMessage, subject: str, sender: str, to: Sequence[str]) -> None:
    msg["Subject"] = subject
    msg["From"] = sender
    msg["To"] = ", ".join(to)
    msg["Date"] = formatdate(localtime=False, usegmt=True)
    domain = sender.rsplit("@", 1)[-1].strip("> ") or "zantara-nb"
    msg["Message-ID"] = make_msgid("zantara-nb", domain=domain)
    msg["MIME-Version"] = "1.0"
    msg["X-Mailer"] = f"zantara-nb {__version__}"


# ------------------------------------------------------------------------------------------
# The run e-mail
# ------------------------------------------------------------------------------------------


def build_run_message(
    run_dir: str | Path,
    params: Mapping[str, Any] | None = None,
    *,
    sender: str | None = None,
    recipients: Sequence[str] | None = None,
    warnings: list[str] | None = None,
) -> EmailMessage:
    """The report e-mail of a finished run (``digest.json`` + ``manifest.json``), unsent.

    Raises ``FileNotFoundError`` without a digest; :func:`send_run_email` turns that into
    a :class:`SendResult`.
    """
    run = Path(run_dir)
    warnings = [] if warnings is None else warnings
    d = Digest.load(run)
    manifest = load_manifest(run)
    params = dict(params or manifest.get("parameters") or {})
    opts = EmailOptions.from_params(params)
    to = _addresses(list(recipients)) if recipients is not None else opts.to
    suite = str(params.get("suite") or manifest.get("suite") or d.suite)
    nbs = notebooks(manifest)
    failed = [nb["name"] for nb in nbs if nb["failed"]]

    title = _title(params, suite)
    fields = {
        "title": title,
        "suite": suite,
        "period": d.period_label,
        "start": d.start,
        "end": d.last_day,
        "as_of": d.as_of[:10],
        "alerts": _alerts_phrase(d),
        "firing": str(len(d.firing)),
    }
    subject = _subject(opts.subject, fields)
    if failed:
        subject += f" · {len(failed)} notebook{'s' if len(failed) != 1 else ''} failed"

    # charts (CID images)
    charts = []
    for ch in d.charts:
        data = _png(d.chart_path(ch))
        if data is None:
            warnings.append(f"chart {ch.file} missing or not a PNG; left out")
            continue
        charts.append({"cid": _cid(ch.name, d), "title": ch.title, "file": ch.file, "data": data})

    # reader reports: linked or attached
    base_url = _safe_base_url(opts.base_url, warnings)
    reports = reader_reports(run, manifest) + pdf_reports(run, manifest)
    links, attach, not_attached, reason = [], [], [], ""
    if base_url:
        links = [{"name": p.name, "href": _link(base_url, run, p)} for p in reports]
    elif opts.attach_reports:
        total = 0
        for p in reports:
            size = p.stat().st_size
            if total + size > opts.max_attach_bytes:
                not_attached.append(p.name)
                reason = f"over {opts.max_attach_bytes / 1024 / 1024:g} MB in total"
                continue
            total += size
            attach.append(p)
    else:
        not_attached = [p.name for p in reports]
        reason = "attachments turned off"

    cards = [_card_view(c) for c in d.cards]
    footer = f"zantara-nb {manifest.get('version') or d.version} · suite {suite} · as of {_as_of_text(d)}"
    fresh = _freshness(manifest)
    if fresh:
        footer += f" · freshness: {fresh}"
    ctx = {
        "subject": subject,
        "title": title,
        "period_label": d.period_label,
        "as_of_text": _as_of_text(d),
        "failed": failed,
        "notebooks_total": len(nbs),
        "card_rows": [cards[i : i + 3] for i in range(0, len(cards), 3)],
        "narrative": safe_text(d.narrative, NARRATIVE_LIMIT),
        "data_quality": safe_text((d.data_quality or {}).get("line") or "", 600),
        "data_quality_colour": DOWN if (d.data_quality or {}).get("warnings") else "#555555",
        "alerts_available": d.alerts_available,
        "alerts_message": d.alerts_message or "Alerts not available.",
        "alerts": _alert_views(d),
        "firing_text": _alerts_phrase(d),
        "charts": charts,
        "links": links,
        "attached": [p.name for p in attach],
        "not_attached": not_attached,
        "not_attached_reason": reason,
        "run_dir": str(run),
        "footer": footer,
    }
    html_body = _inline(_env().get_template("email_run.html").render(**ctx))
    if len(html_body.encode("utf-8")) > HTML_LIMIT:
        warnings.append(f"HTML body is {len(html_body.encode()):,} bytes (> {HTML_LIMIT:,})")
    text_body = _run_text(d, ctx, cards)

    alt = MIMEPart()
    alt.set_content(text_body, subtype="plain", charset="utf-8", cte="quoted-printable")
    alt.add_alternative(html_body, subtype="html", charset="utf-8", cte="quoted-printable")
    related = MIMEPart()
    related["Content-Type"] = 'multipart/related; type="multipart/alternative"'
    related.attach(alt)
    for ch in charts:
        related.attach(
            _part(
                ch["data"],
                maintype="image",
                subtype="png",
                cid=f"<{ch['cid']}>",
                filename=ch["file"],
                disposition="inline",
            )
        )
    msg = EmailMessage()
    _headers(msg, subject, sender or SmtpSettings.from_env().sender, to)
    msg["Content-Type"] = "multipart/mixed"
    msg.attach(related)
    for p in attach:
        pdf = p.suffix.lower() == ".pdf"
        att = _part(
            p.read_bytes(),
            maintype="application" if pdf else "text",
            subtype="pdf" if pdf else "html",
            filename=p.name,
            disposition="attachment",
        )
        if not pdf:
            att.set_param("charset", "utf-8")
        msg.attach(att)
    return msg


def _run_text(d: Digest, ctx: Mapping[str, Any], cards: list[dict[str, str]]) -> str:
    lines = [ctx["title"], f"{d.period_label} · as of {ctx['as_of_text']}", ""]
    if ctx["failed"]:
        lines += [f"FAILED notebooks (reports missing): {', '.join(ctx['failed'])}", ""]
    width = max((len(c["label"]) for c in cards), default=10)
    for c in cards:
        meta = f"  ({c['meta']})" if c["meta"] else ""
        lines.append(
            f"{c['label']:<{width}}  {c['value_text']:>10}  {c['mark']} {c['change_text']} "
            f"vs {c['previous_text']}{meta}"
        )
    lines += ["", "What changed", ctx["narrative"]]
    if ctx["data_quality"]:
        lines += ["", ctx["data_quality"]]
    lines += ["", f"Alerts: {ctx['firing_text']}"]
    if not ctx["alerts_available"]:
        lines.append(ctx["alerts_message"])
    for a in ctx["alerts"]:
        lines.append(
            f"  [{a['status'].upper()}] {a['name']}: {a['condition']} — observed {a['observed']}"
            + (f" ({a['detail']})" if a["detail"] else "")
            + f", threshold {a['threshold']}, {a['window']}"
        )
    lines += ["", "Full reports"]
    lines += [f"  {r['name']}: {r['href']}" for r in ctx["links"]]
    if ctx["attached"]:
        lines.append(f"  attached: {', '.join(ctx['attached'])}")
    if ctx["not_attached"]:
        lines.append(
            f"  not attached ({ctx['not_attached_reason']}): {', '.join(ctx['not_attached'])} "
            f"— in {ctx['run_dir']}"
        )
    if not (ctx["links"] or ctx["attached"] or ctx["not_attached"]):
        lines.append(f"  in {ctx['run_dir']}")
    if ctx["charts"]:
        lines += [
            "",
            "Charts (in the HTML version): " + "; ".join(c["title"] for c in ctx["charts"]),
        ]
    lines += ["", "--", ctx["footer"]]
    return "\n".join(lines) + "\n"


# ------------------------------------------------------------------------------------------
# The failure e-mail
# ------------------------------------------------------------------------------------------


def _error_parts(error: BaseException | str | None) -> tuple[str, str]:
    """(one line, full text) of an error."""
    if error is None:
        return "unknown error", "unknown error"
    if isinstance(error, BaseException):
        full = "".join(traceback.format_exception(type(error), error, error.__traceback__))
        short = f"{type(error).__name__}: {error}"
    else:
        full = str(error)
        short = full.strip().splitlines()[-1] if full.strip() else "unknown error"
    return _one_line(short)[:160], full[-20_000:]


def build_failure_message(
    run_dir: str | Path | None,
    params: Mapping[str, Any] | None,
    error: BaseException | str | None,
    *,
    sender: str | None = None,
    recipients: Sequence[str] | None = None,
) -> EmailMessage:
    """The failure notice: the error, the notebooks that failed, their analyst reports."""
    run = Path(run_dir) if run_dir is not None else None
    manifest = load_manifest(run)
    params = dict(params or manifest.get("parameters") or {})
    opts = EmailOptions.from_params(params)
    to = _addresses(list(recipients)) if recipients is not None else opts.failure_to
    suite = str(params.get("suite") or manifest.get("suite") or "report")
    short, full = _error_parts(error)
    nbs = notebooks(manifest)
    failed = [nb for nb in nbs if nb["failed"]]
    when = manifest.get("as_of") or (run.name if run else None) or params.get("as_of")
    title = _title(params, suite)
    subject = _one_line(
        f"{title} FAILED"
        + (f" · {when}" if when else "")
        + (f" · {len(failed)} of {len(nbs)} notebooks failed" if failed else "")
        + f" · {short}"
    )[:250]
    attach = []
    if run is not None:
        total = 0
        for nb in failed:
            p = _resolve(run, nb["analyst"])
            if p is not None and total + p.stat().st_size <= opts.max_attach_bytes:
                total += p.stat().st_size
                attach.append(p)
    footer = f"zantara-nb {__version__} · sent {datetime.now(UTC):%Y-%m-%d %H:%M} UTC"
    ctx = {
        "subject": subject,
        "title": f"{title} failed",
        "when": f"as of {when}" if when else "before the run folder was created",
        "error": full,
        "notebooks": [
            {
                "name": nb["name"],
                "status": nb["status"],
                "error": nb["error"][-600:],
                "colour": DOWN if nb["failed"] else (UP if nb["status"] in _OK else NEUTRAL),
            }
            for nb in nbs
        ],
        "run_dir": str(run) if run else "",
        "attached": [p.name for p in attach],
        "footer": footer,
    }
    html_body = _inline(_env().get_template("email_failure.html").render(**ctx))
    text = [ctx["title"], ctx["when"], "", "Error:", full, ""]
    for nb in ctx["notebooks"]:
        text.append(
            f"  {nb['name']}: {nb['status']}" + (f" — {nb['error']}" if nb["error"] else "")
        )
    if run:
        text += ["", f"Run folder: {run}"]
    text += ["", "--", footer]
    msg = EmailMessage()
    _headers(msg, subject, sender or SmtpSettings.from_env().sender, to)
    msg.set_content(
        "\n".join(text) + "\n", subtype="plain", charset="utf-8", cte="quoted-printable"
    )
    msg.add_alternative(html_body, subtype="html", charset="utf-8", cte="quoted-printable")
    if attach:
        msg.make_mixed()
        for p in attach:
            msg.add_attachment(p.read_bytes(), maintype="text", subtype="html", filename=p.name)
    return msg


# ------------------------------------------------------------------------------------------
# Sending
# ------------------------------------------------------------------------------------------


def _recipients(msg: EmailMessage) -> list[str]:
    return [a for _, a in getaddresses(msg.get_all("To", []) + msg.get_all("Cc", [])) if a]


def message_size(msg: EmailMessage) -> int:
    """Bytes of the message as sent (CRLF line ends)."""
    return len(msg.as_bytes(policy=msg.policy.clone(linesep="\r\n")))


def html_size(msg: EmailMessage) -> int:
    """Bytes of the (decoded) HTML body."""
    part = msg.get_body(preferencelist=("html",))
    if part is None:
        for p in msg.walk():
            if p.get_content_type() == "text/html" and p.get_content_disposition() != "attachment":
                part = p
                break
    return 0 if part is None else len(part.get_content().encode("utf-8"))


def send_message(
    msg: EmailMessage,
    settings: SmtpSettings | None = None,
    *,
    kind: str = "run",
) -> SendResult:
    """Send ``msg`` to its To/Cc addresses over SMTP; errors come back in the result.

    The message counts as sent only when the server accepted it for every recipient.
    Each socket operation waits at most ``timeout`` seconds and the whole exchange
    (connection, TLS, login, message) at most ``deadline`` seconds
    (:class:`zantara_nb.deadline.Deadline`): a server that trickles its answers is cut
    off. The error says which step failed: the server could not be reached, the login
    was refused, a recipient was refused, the message was rejected, or the deadline
    passed.
    """
    to = _recipients(msg)
    res = SendResult(
        ok=False,
        kind=kind,
        recipients=to,
        subject=str(msg.get("Subject", "")),
        message_id=msg.get("Message-ID"),
    )
    try:
        res.message_bytes = message_size(msg)
        res.html_bytes = html_size(msg)
    except Exception as exc:  # noqa: BLE001
        res.error = f"could not serialise the message: {exc}"
        return res
    if not to:
        res.error = "no recipients (set email.to / email.failure_to in the parameters file)"
        return res
    try:
        s = settings or SmtpSettings.from_env()
    except ValueError as exc:
        res.error = str(exc)
        return res
    if not s.host:
        res.error = "ZANTARA_SMTP_HOST is not set"
        return res
    where = f"SMTP server {s.host}:{s.port}"
    dl = Deadline(s.deadline)
    step = "connecting to"
    client: smtplib.SMTP | None = None
    try:
        ctx = ssl.create_default_context(cafile=s.cafile) if s.security != "none" else None
        if s.security == "ssl":
            client = smtplib.SMTP_SSL(timeout=dl.timeout(s.timeout), context=ctx)
        else:
            client = smtplib.SMTP(timeout=dl.timeout(s.timeout))
        # connect() below (not the constructor) so the watchdog also covers the banner;
        # TLS checks the certificate against the host smtplib otherwise sets there
        client._host = s.host
        with dl.watch(lambda: getattr(client, "sock", None)):
            client.connect(s.host, s.port)
            dl.check()
            step = "talking to"
            client.ehlo()
            if s.security == "starttls":
                client.starttls(context=ctx)
                client.ehlo()
            if s.user:
                step = "logging in to"
                client.login(s.user, s.password or "")
            step = "sending to"
            refused = client.send_message(msg, from_addr=s.sender, to_addrs=to)
            dl.check()
        res.refused = {k: list(v) if isinstance(v, tuple) else v for k, v in refused.items()}
        res.ok = not res.refused
        if res.refused:
            res.error = f"recipient refused by the {where}: {_refusals(res.refused)}"
    except smtplib.SMTPAuthenticationError as exc:
        res.error = f"login refused by the {where}: {_smtp_reply(exc)}"
    except smtplib.SMTPRecipientsRefused as exc:
        res.refused = {k: list(v) for k, v in exc.recipients.items()}
        res.error = f"every recipient refused by the {where}: {_refusals(res.refused)}"
    except smtplib.SMTPSenderRefused as exc:
        res.error = f"sender {exc.sender} refused by the {where}: {_smtp_reply(exc)}"
    except smtplib.SMTPDataError as exc:
        res.error = f"message rejected by the {where}: {_smtp_reply(exc)}"
    except Exception as exc:  # noqa: BLE001 - never raise to the runner
        if dl.expired:
            res.error = f"{where}: {dl.message()} (while {step} it)"
        else:
            res.error = f"{step} the {where} failed: {type(exc).__name__}: {exc}"
    finally:
        if client is not None and getattr(client, "sock", None) is not None:
            with contextlib.suppress(Exception), dl.watch(lambda: getattr(client, "sock", None)):
                if not dl.expired and dl.remaining() > 0:
                    client.quit()
            client.close()
    return res


def _smtp_reply(exc: smtplib.SMTPResponseException) -> str:
    text = (
        exc.smtp_error.decode("utf-8", "replace")
        if isinstance(exc.smtp_error, bytes)
        else str(exc.smtp_error)
    )
    return f"{exc.smtp_code} {_one_line(text)}"[:300]


def _refusals(refused: Mapping[str, Any]) -> str:
    parts = []
    for addr, why in refused.items():
        code, text = (list(why) + [None, None])[:2] if isinstance(why, list | tuple) else (why, "")
        text = text.decode("utf-8", "replace") if isinstance(text, bytes) else str(text or "")
        parts.append(f"{addr} ({code} {_one_line(text)})".strip())
    return "; ".join(parts)[:500]


def send_run_email(
    run_dir: str | Path,
    params: Mapping[str, Any] | None = None,
    *,
    settings: SmtpSettings | None = None,
    recipients: Sequence[str] | None = None,
) -> SendResult:
    """Build and send the report e-mail of a finished run. Never raises."""
    warnings: list[str] = []
    try:
        s = settings or SmtpSettings.from_env()
        msg = build_run_message(
            run_dir, params, sender=s.sender, recipients=recipients, warnings=warnings
        )
    except Exception as exc:  # noqa: BLE001
        return SendResult(ok=False, kind="run", error=f"{type(exc).__name__}: {exc}")
    res = send_message(msg, s, kind="run")
    res.warnings = warnings
    return res


def send_failure_email(
    run_dir: str | Path | None,
    params: Mapping[str, Any] | None,
    error: BaseException | str | None,
    *,
    settings: SmtpSettings | None = None,
    recipients: Sequence[str] | None = None,
) -> SendResult:
    """Build and send the failure notice to ``email.failure_to``. Never raises."""
    try:
        s = settings or SmtpSettings.from_env()
        msg = build_failure_message(run_dir, params, error, sender=s.sender, recipients=recipients)
    except Exception as exc:  # noqa: BLE001
        return SendResult(ok=False, kind="failure", error=f"{type(exc).__name__}: {exc}")
    return send_message(msg, s, kind="failure")


__all__ = [
    "EmailOptions",
    "SendResult",
    "SmtpSettings",
    "build_failure_message",
    "build_run_message",
    "load_manifest",
    "notebooks",
    "reader_reports",
    "send_failure_email",
    "send_message",
    "send_run_email",
]
