"""The run and failure e-mails, sent to a real SMTP server on localhost (aiosmtpd)."""

from __future__ import annotations

import re
import shutil
import socket
import subprocess
import sys
import types
from email import policy
from email.parser import BytesParser

import pandas as pd
import pytest
from digestkit import AS_OF, fixture_warehouse, make_run_dir

from zantara_nb.reporting.digest import build_digest
from zantara_nb.reporting.email import (
    SmtpSettings,
    build_failure_message,
    build_run_message,
    send_failure_email,
    send_run_email,
)

aiosmtpd_controller = pytest.importorskip("aiosmtpd.controller")
from aiosmtpd.smtp import AuthResult  # noqa: E402

SENDER = "reports@zantara.example"
PARAMS = {
    "suite": "weekly",
    "email": {
        "to": ["team@zantara.example", "Ana <ana@zantara.example>"],
        "failure_to": ["ops@zantara.example"],
    },
}
EVIL = "<script>alert('x')</script>"


def _alerts(wh, rules=None, as_of=None):
    return pd.DataFrame(
        {
            "name": [f"High latency {EVIL}", "Error burst", "Low satisfaction"],
            "condition": ["P95 latency > 3000 ms", "errors per hour > 100", "mean rating < 0.5"],
            "observed": [3800.0, 140.0, 0.5],
            "threshold": [3000.0, 100.0, 0.5],
            "status": ["firing", "firing", "ok"],
            "window": ["last 7 days", "last 24 h", "last 7 days"],
            "detail": [f"812 replies {EVIL}", None, "1,234 feedbacks, 75.0% positive"],
        }
    )


@pytest.fixture(scope="module")
def digest_dir(tmp_path_factory):
    out = tmp_path_factory.mktemp("digest")
    mod = types.ModuleType("zantara_nb.insights.alerts")
    mod.evaluate_alerts = _alerts
    with pytest.MonkeyPatch.context() as mp:
        mp.setitem(sys.modules, "zantara_nb.insights.alerts", mod)
        wh = fixture_warehouse()
        try:
            build_digest(
                wh, as_of=AS_OF, period="week", tz="Asia/Jakarta", out_dir=out, params=PARAMS
            )
        finally:
            wh.close()
    return out


@pytest.fixture
def run_dir(tmp_path, digest_dir):
    return make_run_dir(tmp_path / "reports", digest_dir)


class Sink:
    """An SMTP handler keeping every message it receives."""

    def __init__(self):
        self.received = []

    async def handle_DATA(self, server, session, envelope):
        self.received.append(
            {
                "from": envelope.mail_from,
                "to": list(envelope.rcpt_tos),
                "data": envelope.original_content or envelope.content,
                "auth": session.authenticated,
                "tls": session.ssl is not None,
            }
        )
        return "250 OK"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def smtp():
    sink = Sink()
    port = _free_port()
    ctl = aiosmtpd_controller.Controller(sink, hostname="127.0.0.1", port=port)
    ctl.start()
    try:
        yield sink, SmtpSettings(host="127.0.0.1", port=port, security="none", sender=SENDER)
    finally:
        ctl.stop()


def _parse(data: bytes):
    return BytesParser(policy=policy.default).parsebytes(data)


def _html(msg) -> str:
    return msg.get_body(preferencelist=("html",)).get_content()


def test_run_email_structure_over_smtp(smtp, run_dir):
    sink, settings = smtp
    res = send_run_email(run_dir, PARAMS, settings=settings)
    assert res.ok, res.error
    assert len(sink.received) == 1
    got = sink.received[0]
    assert got["from"] == SENDER
    assert got["to"] == ["team@zantara.example", "ana@zantara.example"]
    msg = _parse(got["data"])

    # subject: suite, period (both days included), alert count
    assert msg["Subject"] == "ZANTARA weekly report · 2026-03-09 → 2026-03-15 · 2 alerts firing"
    assert res.subject == msg["Subject"]

    # multipart/mixed > multipart/related > multipart/alternative (plain + html) + PNGs
    assert msg.get_content_type() == "multipart/mixed"
    top = list(msg.iter_parts())
    related = top[0]
    assert related.get_content_type() == "multipart/related"
    assert related.get_param("type") == "multipart/alternative"
    rel_parts = list(related.iter_parts())
    alt = rel_parts[0]
    assert alt.get_content_type() == "multipart/alternative"
    assert [p.get_content_type() for p in alt.iter_parts()] == ["text/plain", "text/html"]
    images = rel_parts[1:]
    assert len(images) == 3 and all(p.get_content_type() == "image/png" for p in images)
    image_cids = {p["Content-ID"].strip("<>") for p in images}
    assert all(p.get_content().startswith(b"\x89PNG") for p in images)

    # every cid: in the HTML has its image and every image is used
    html = _html(msg)
    referenced = set(re.findall(r'src="cid:([^"]+)"', html))
    assert referenced == image_cids
    assert not re.search(r"""(src|href|url)\s*[=(]\s*["']?\s*data:""", html, re.I)
    assert len(html.encode()) < 100_000
    assert res.html_bytes == len(html.replace("\r\n", "\n").encode())  # CRLF on the wire

    # HTML: cards, narrative, alerts table, CSS inlined into style attributes
    assert "<style" not in html and 'style="' in html
    assert "Weekly active users" in html and "3.8 s" not in html
    assert "▲" in html and "#B8434F" in html  # latency up: a red up mark
    assert "In the week 2026-03-09 → 2026-03-15" in html
    assert "firing" in html and "3,800" in html
    # user-controlled strings escaped
    assert EVIL not in html and "&lt;script&gt;" in html
    text = msg.get_body(preferencelist=("plain",)).get_content()
    assert "Weekly active users" in text and "[FIRING] High latency" in text
    # an alert's detail (what the observed value rests on) beside the value
    assert "observed 0.50 (1,234 feedbacks, 75.0% positive), threshold" in text
    assert "observed 140, threshold" in text  # no detail: nothing added
    assert "1,234 feedbacks, 75.0% positive" in html
    assert "What changed" in text

    # the reader reports attached (HTML), nothing else
    attached = [p for p in top[1:] if p.get_content_disposition() == "attachment"]
    assert [p.get_filename() for p in attached] == [
        "01_kpis.html",
        "02_health.html",
        "03_funnels.html",
    ]
    assert all(p.get_content_type() == "text/html" for p in attached)
    assert "report text" in attached[0].get_content()
    assert abs(res.message_bytes - len(got["data"])) <= 2, (res.message_bytes, len(got["data"]))
    print(f"\nrun e-mail: HTML {res.html_bytes:,} bytes, message {res.message_bytes:,} bytes")


def test_reports_linked_when_base_url_is_set(run_dir):
    params = {**PARAMS, "email": {**PARAMS["email"], "base_url": "https://r.example/reports/"}}
    msg = build_run_message(run_dir, params, sender=SENDER)
    parsed = _parse(msg.as_bytes())
    assert not [p for p in parsed.iter_attachments()]
    html = _html(parsed)
    assert 'href="https://r.example/reports/weekly/2026-03-16/01_kpis.html"' in html
    text = parsed.get_body(preferencelist=("plain",)).get_content()
    assert "https://r.example/reports/weekly/2026-03-16/02_health.html" in text

    warnings: list[str] = []
    bad = {**PARAMS, "email": {**PARAMS["email"], "base_url": "javascript:alert(1)"}}
    msg = build_run_message(run_dir, bad, sender=SENDER, warnings=warnings)
    assert "javascript:" not in _html(msg) and "ignored" in warnings[0]
    assert len(list(msg.iter_attachments())) == 3  # falls back to attaching


def test_partial_run_says_which_notebooks_failed(tmp_path, digest_dir):
    run = make_run_dir(tmp_path / "reports", digest_dir, failed=True)
    msg = _parse(build_run_message(run, PARAMS, sender=SENDER).as_bytes())
    assert msg["Subject"].endswith("· 2 alerts firing · 1 notebook failed")
    html = _html(msg)
    assert "1 of 3 notebooks failed: 03_funnels" in html
    # the failed notebook's error page is not sent as a report
    assert [p.get_filename() for p in msg.iter_attachments()] == ["01_kpis.html", "02_health.html"]


def test_failure_email_to_failure_recipients(smtp, tmp_path, digest_dir):
    sink, settings = smtp
    run = make_run_dir(tmp_path / "reports", digest_dir, failed=True)
    try:
        raise RuntimeError("papermill: kernel died <oops>")
    except RuntimeError as exc:
        error = exc
    res = send_failure_email(run, PARAMS, error, settings=settings)
    assert res.ok, res.error
    got = sink.received[-1]
    assert got["to"] == ["ops@zantara.example"]
    msg = _parse(got["data"])
    assert msg["Subject"] == (
        "ZANTARA weekly report FAILED · 2026-03-16 · 1 of 3 notebooks failed · "
        "RuntimeError: papermill: kernel died <oops>"
    )
    html = _html(msg)
    assert "kernel died &lt;oops&gt;" in html and "<oops>" not in html
    assert "Traceback" in html and "03_funnels" in html
    assert "funnel &lt;steps&gt; missing" in html
    assert [p.get_filename() for p in msg.iter_attachments()] == ["03_funnels.analyst.html"]
    text = msg.get_body(preferencelist=("plain",)).get_content()
    assert "03_funnels: failed — ValueError: funnel <steps> missing" in text

    # before any run folder exists, and without failure_to: goes to `to`
    res = send_failure_email(
        None, {"email": {"to": "x@zantara.example"}}, "no warehouse", settings=settings
    )
    assert res.ok and sink.received[-1]["to"] == ["x@zantara.example"]
    m = _parse(sink.received[-1]["data"])
    assert m["Subject"] == "ZANTARA report FAILED · no warehouse"


def test_send_problems_come_back_as_results(run_dir, tmp_path):
    no_host = SmtpSettings(host=None, port=25, security="none", sender=SENDER)
    res = send_run_email(run_dir, PARAMS, settings=no_host)
    assert not res.ok and res.error == "ZANTARA_SMTP_HOST is not set"
    closed = SmtpSettings(
        host="127.0.0.1", port=_free_port(), security="none", sender=SENDER, timeout=3
    )
    res = send_run_email(run_dir, PARAMS, settings=closed)
    assert not res.ok and "Connection" in res.error
    res = send_run_email(run_dir, {"email": {}}, settings=closed)
    assert not res.ok and res.error.startswith("no recipients")
    res = send_run_email(tmp_path / "empty", PARAMS, settings=closed)
    assert not res.ok and "FileNotFoundError" in res.error
    res = send_failure_email(tmp_path / "nothing", PARAMS, None, settings=no_host)
    assert not res.ok and res.kind == "failure"


def test_settings_from_environment():
    s = SmtpSettings.from_env(
        {"ZANTARA_SMTP_HOST": "smtp.example.com", "ZANTARA_SMTP_USER": "bot@example.com"}
    )
    assert (s.host, s.port, s.security, s.sender) == (
        "smtp.example.com",
        587,
        "starttls",
        "bot@example.com",
    )
    s = SmtpSettings.from_env({"ZANTARA_SMTP_SECURITY": "ssl", "ZANTARA_SMTP_FROM": "a@b.c"})
    assert (s.host, s.port, s.sender) == (None, 465, "a@b.c")
    assert (
        SmtpSettings.from_env({"ZANTARA_SMTP_SECURITY": "NONE", "ZANTARA_SMTP_PORT": "2525"}).port
        == 2525
    )
    with pytest.raises(ValueError):
        SmtpSettings.from_env({"ZANTARA_SMTP_SECURITY": "tls13"})
    assert "secret" not in repr(SmtpSettings.from_env({"ZANTARA_SMTP_PASSWORD": "secret"}))


def _self_signed(tmp_path):
    if shutil.which("openssl") is None:
        pytest.skip("openssl not available")
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", str(key),
         "-out", str(cert), "-days", "1", "-subj", "/CN=localhost",
         "-addext", "subjectAltName=IP:127.0.0.1,DNS:localhost"],
        check=True,
        capture_output=True,
    )  # fmt: skip
    return cert, key


def test_starttls_with_login(tmp_path, run_dir):
    import ssl

    cert, key = _self_signed(tmp_path)
    ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ctx.load_cert_chain(cert, key)
    logins = []

    def authenticator(server, session, envelope, mechanism, auth_data):
        logins.append((auth_data.login, auth_data.password))
        return AuthResult(success=auth_data.password == b"s3cret")

    sink = Sink()
    port = _free_port()
    ctl = aiosmtpd_controller.Controller(
        sink,
        hostname="127.0.0.1",
        port=port,
        tls_context=ctx,
        require_starttls=True,
        authenticator=authenticator,
        auth_require_tls=True,
    )
    ctl.start()
    try:
        good = SmtpSettings(
            host="127.0.0.1",
            port=port,
            security="starttls",
            user="bot",
            password="s3cret",
            sender=SENDER,
            cafile=str(cert),
            timeout=5,
        )
        res = send_run_email(run_dir, PARAMS, settings=good)
        assert res.ok, res.error
        assert sink.received[-1]["tls"] and sink.received[-1]["auth"]
        assert logins[-1] == (b"bot", b"s3cret")
        plain = SmtpSettings(**{**good.__dict__, "security": "none", "user": None})
        res = send_run_email(run_dir, PARAMS, settings=plain)
        assert not res.ok  # the server requires STARTTLS
    finally:
        ctl.stop()
    assert len(sink.received) == 1


def test_both_email_modules_import():
    import email as stdlib_email
    import email.message

    import zantara_nb.reporting.email as ours

    assert stdlib_email.__file__ != ours.__file__
    assert email.message.EmailMessage is ours.EmailMessage
    assert hasattr(ours, "send_run_email")


def test_cli_email_saves_a_message(run_dir, tmp_path, capsys):
    from zantara_nb.cli import main

    out = tmp_path / "m.eml"
    assert main(["email", str(run_dir), "--save", str(out), "--to", "x@zantara.example"]) == 0
    msg = _parse(out.read_bytes())
    assert msg["To"] == "x@zantara.example" and "2 alerts firing" in msg["Subject"]
    assert main(["email", str(tmp_path / "missing")]) == 2
    failed = build_failure_message(run_dir, PARAMS, "boom", sender=SENDER)
    assert failed["To"] == "ops@zantara.example"


def test_reader_reports_without_paths_in_the_manifest(tmp_path, digest_dir):
    # an older or hand-made run folder: no manifest, pages under reader/
    run = tmp_path / "weekly" / AS_OF
    (run / "reader").mkdir(parents=True)
    for f in digest_dir.iterdir():
        shutil.copy(f, run / f.name)
    (run / "reader" / "kpis.html").write_text("<html>k</html>")
    (run / "kpis.analyst.html").write_text("<html>code</html>")
    msg = build_run_message(run, PARAMS, sender=SENDER)
    assert [p.get_filename() for p in msg.iter_attachments()] == ["kpis.html"]
    assert "zantara-nb" in _html(msg)  # footer without a manifest


def test_subject_template_and_header_injection(run_dir):
    email_cfg = {**PARAMS["email"], "subject": "{suite}: {firing} firing ({start} to {end})"}
    msg = build_run_message(run_dir, {**PARAMS, "email": email_cfg}, sender=SENDER)
    assert msg["Subject"] == "weekly: 2 firing (2026-03-09 to 2026-03-15)"
    for bad in ("{suite} {nope}", "{title.nope}"):  # refused, naming the setting
        bad_cfg = {**PARAMS["email"], "subject": bad}
        with pytest.raises(ValueError, match=r"email\.subject .*unknown field"):
            build_run_message(run_dir, {**PARAMS, "email": bad_cfg}, sender=SENDER)
    evil = {**PARAMS, "title": "Report\r\nBcc: victim@example.com", "email": PARAMS["email"]}
    raw = build_run_message(run_dir, evil, sender=SENDER).as_bytes()
    parsed = _parse(raw)
    assert parsed["Bcc"] is None and parsed["Subject"].startswith("Report Bcc: victim")


def _with_images_inline(msg) -> str:
    """The HTML body with its cid: images as data: URIs (for a browser outside a mail app)."""
    import base64

    html = _html(msg)
    for part in msg.walk():
        cid = part.get("Content-ID")
        if cid and part.get_content_type() == "image/png":
            data = base64.b64encode(part.get_content()).decode()
            html = html.replace(f"cid:{cid.strip('<>')}", f"data:image/png;base64,{data}")
    return html


def test_layout_is_fluid_with_a_fixed_width_for_outlook(run_dir):
    msg = _parse(build_run_message(run_dir, PARAMS, sender=SENDER).as_bytes())
    html = _html(msg)
    # the sheet: 100% wide up to 640 px; Outlook (Word) ignores max-width, so a
    # conditional 640 px table holds it there
    sheet = re.search(r'<table class="sheet"[^>]*>', html)[0]
    assert 'width="100%"' in sheet and re.search(r"max-width: ?640px", sheet)
    assert '<!--[if mso]><table role="presentation" width="640"' in html
    assert "<![endif]-->" in html
    # charts scale down, and keep a width attribute for Outlook
    imgs = re.findall(r"<img [^>]*>", html)
    assert imgs and all('width="600"' in i and "width: 100%" in i for i in imgs)


def _chromium() -> str | None:
    return shutil.which("chromium") or shutil.which("chromium-browser") or shutil.which("chrome")


@pytest.mark.skipif(_chromium() is None, reason="no Chromium here (apt install chromium)")
@pytest.mark.parametrize("width", [360, 1000])
def test_email_fits_a_phone_and_a_desktop_in_chromium(run_dir, tmp_path, width):
    """Laid out by a real browser engine in a frame ``width`` px wide (headless Chromium's
    window is at least 500 px), the e-mail does not scroll sideways and every image loads."""
    import html as html_lib

    msg = _parse(build_run_message(run_dir, PARAMS, sender=SENDER).as_bytes())
    page = tmp_path / "frame.html"
    page.write_text(
        f'<iframe id="m" width="{width}" height="900" style="border: 0" '
        f'srcdoc="{html_lib.escape(_with_images_inline(msg))}"></iframe>'
        "<script>window.onload = () => { const d = document.getElementById('m')"
        ".contentDocument; document.title = 'W' + d.documentElement.scrollWidth + 'x' + "
        "[...d.images].filter(i => !i.complete || !i.naturalWidth).length; };</script>"
    )
    out = subprocess.run(
        [
            _chromium(),
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            f"--user-data-dir={tmp_path / 'profile'}",
            "--window-size=1200,1000",
            "--dump-dom",
            page.as_uri(),
        ],
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    ).stdout
    m = re.search(r"<title>W(\d+)x(\d+)</title>", out)
    assert m, out[-500:]
    scroll, broken = int(m.group(1)), int(m.group(2))
    assert scroll <= width, f"{scroll} px wide in a {width} px frame: scrolls sideways"
    assert broken == 0


def test_data_quality_line_in_both_bodies(run_dir):
    msg = build_run_message(run_dir, PARAMS, sender=SENDER)
    html, text = _html(msg), msg.get_body(preferencelist=("plain",)).get_content()
    line = next(s for s in text.splitlines() if s.startswith("Data quality:"))
    assert "checks passed" in line or "warning" in line
    assert line.replace("—", "&mdash;")[:40] in html or line[:40] in html
