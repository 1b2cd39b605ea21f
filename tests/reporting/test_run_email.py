"""End to end: a run's e-mail is received by a real SMTP server (aiosmtpd on localhost).

The run, the digest and the e-mail are separate steps (execute, render, mail); here all
three run for real: ``run_suite`` executes two small notebooks with papermill, builds the
digest from the warehouse, and sends through SMTP to a server started by the test.
"""

from __future__ import annotations

import socket
from email import policy
from email.parser import BytesParser

import pytest
from aiosmtpd.controller import Controller

from tests.reporting.test_runner import run, tiny_suite, tiny_wh  # noqa: F401  (fixture)
from zantara_nb.reporting import runner


class _Sink:
    def __init__(self) -> None:
        self.received: list = []

    async def handle_DATA(self, server, session, envelope):  # noqa: N802 (aiosmtpd API)
        msg = BytesParser(policy=policy.default).parsebytes(envelope.content)
        self.received.append((envelope.rcpt_tos, msg, len(envelope.content)))
        return "250 OK"


@pytest.fixture
def smtp_server(monkeypatch):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    sink = _Sink()
    ctl = Controller(sink, hostname="127.0.0.1", port=port)
    ctl.start()
    monkeypatch.setenv("ZANTARA_SMTP_HOST", "127.0.0.1")
    monkeypatch.setenv("ZANTARA_SMTP_PORT", str(port))
    monkeypatch.setenv("ZANTARA_SMTP_SECURITY", "none")
    monkeypatch.setenv("ZANTARA_SMTP_FROM", "reports@zantara.example")
    monkeypatch.delenv("ZANTARA_SLACK_WEBHOOK", raising=False)
    yield sink
    ctl.stop()


def test_successful_run_emails_the_team(tmp_path, tiny_wh, smtp_server):  # noqa: F811
    params = tiny_suite(tmp_path, email={"to": ["team@zantara.example"]})
    res = run(params, tmp_path, tiny_wh, send_email=True)
    assert res.exit_code == runner.EXIT_OK, res.message
    assert len(smtp_server.received) == 1
    rcpts, msg, size = smtp_server.received[0]
    assert rcpts == ["team@zantara.example"]
    subject = msg["subject"]
    assert "2026-08-17 → 2026-08-23" in subject and "alert" in subject
    html = msg.get_body(preferencelist=("html",)).get_content()
    assert msg.get_body(preferencelist=("plain",)) is not None
    cids = {p["Content-ID"].strip("<>") for p in msg.walk() if p.get_content_type() == "image/png"}
    assert cids and all(f"cid:{c}" in html for c in cids)
    assert "data:image" not in html and len(html.encode()) < 100_000
    attached = [p.get_filename() for p in msg.iter_attachments() if p.get_filename()]
    assert any(name.endswith(".html") for name in attached)
    assert res.manifest["email"]["ok"] is True


def test_failed_run_emails_the_failure_recipients(tmp_path, tiny_wh, smtp_server):  # noqa: F811
    params = tiny_suite(
        tmp_path,
        fail=True,
        email={"to": ["team@zantara.example"], "failure_to": ["oncall@zantara.example"]},
    )
    res = run(params, tmp_path, tiny_wh, send_email=True)
    assert res.exit_code == runner.EXIT_FAILED
    assert len(smtp_server.received) == 1
    rcpts, msg, _ = smtp_server.received[0]
    assert rcpts == ["oncall@zantara.example"]
    text = msg.get_body(preferencelist=("plain", "html")).get_content()
    assert "b_fails" in text and "ZeroDivisionError" in text
