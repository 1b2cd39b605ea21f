"""Delivery that cannot fail silently: SMTP and Slack failures, deadlines, recipients,
the exit code, the manifest, the index pages, ``zantara-nb email`` and scheduler retries.

SMTP servers are real (aiosmtpd on localhost, or a raw socket that trickles its answer);
the runs use the tiny notebooks of ``test_runner.py``.
"""

from __future__ import annotations

import json
import socket
import threading
import time
from datetime import UTC, datetime, timedelta

import pandas as pd
import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult

from tests.reporting.test_runner import run, tiny_suite, tiny_wh  # noqa: F401  (fixture)
from zantara_nb import cli
from zantara_nb.insights.alerts import AlertResult, send_slack
from zantara_nb.reporting import runner
from zantara_nb.reporting.email import SmtpSettings, build_failure_message, send_message
from zantara_nb.reporting.manifest import RunManifest, read_manifest, write_manifest
from zantara_nb.reporting.schedule import RETRY_MINUTES, Job, Scheduler
from zantara_nb.reporting.suite import SuiteError, check_address, load_suite


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class _Handler:
    """An aiosmtpd handler: refuses ``refuse`` recipients, rejects data when ``reject``."""

    def __init__(self, refuse: set[str] = frozenset(), reject: bool = False):
        self.refuse, self.reject = set(refuse), reject
        self.received: list = []

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):  # noqa: N802
        if address in self.refuse:
            return "550 5.1.1 no such user here"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):  # noqa: N802
        if self.reject:
            return "554 5.7.1 message rejected as spam"
        self.received.append((list(envelope.rcpt_tos), envelope.content))
        return "250 OK"


@pytest.fixture
def smtp():
    """Start an SMTP server on localhost: ``smtp(refuse=..., reject=..., auth=...)``."""
    started = []

    def start(**kw):
        auth = kw.pop("auth", None)
        handler = _Handler(**kw)
        port = _free_port()
        extra = {}
        if auth is not None:
            extra = {
                "authenticator": lambda *a: AuthResult(success=auth, handled=False),
                "auth_require_tls": False,
            }
        ctl = Controller(handler, hostname="127.0.0.1", port=port, **extra)
        ctl.start()
        started.append(ctl)
        return handler, port

    yield start
    for ctl in started:
        ctl.stop()


class Trickle:
    """A TCP server that accepts, reads, and answers ``reply`` one byte every ``every`` s."""

    def __init__(self, reply: bytes, every: float = 0.3, read_first: bool = False):
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(5)
        self.port = self.sock.getsockname()[1]
        self.reply, self.every, self.read_first = reply, every, read_first
        self.stop = threading.Event()
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self):
        self.sock.settimeout(0.2)
        while not self.stop.is_set():
            try:
                conn, _ = self.sock.accept()
            except OSError:
                continue
            threading.Thread(target=self._talk, args=(conn,), daemon=True).start()

    def _talk(self, conn):
        with conn:
            try:
                if self.read_first:
                    conn.settimeout(2)
                    conn.recv(65536)
                for i in range(10_000):
                    if self.stop.is_set():
                        return
                    conn.sendall(self.reply[i % len(self.reply) : i % len(self.reply) + 1])
                    time.sleep(self.every)
            except OSError:
                return

    def close(self):
        self.stop.set()
        self.sock.close()


def _settings(port: int, **kw) -> SmtpSettings:
    return SmtpSettings(host="127.0.0.1", port=port, security="none",
                        sender="reports@zantara.example", timeout=5, **kw)  # fmt: skip


def _msg(to=("team@zantara.example",)):
    return build_failure_message(None, {"email": {"to": list(to)}}, "a test")


# ------------------------------------------------------------------------------------------
# One message: every failure is named, none passes as sent
# ------------------------------------------------------------------------------------------


def test_smtp_server_down():
    res = send_message(_msg(), _settings(_free_port()))
    assert not res.ok and res.error.startswith("connecting to the SMTP server 127.0.0.1:")
    assert "Connection" in res.error


def test_one_refused_recipient_is_a_failure(smtp):
    handler, port = smtp(refuse={"gone@zantara.example"})
    res = send_message(_msg(["team@zantara.example", "gone@zantara.example"]), _settings(port))
    assert not res.ok
    assert "recipient refused" in res.error and "gone@zantara.example (550" in res.error
    assert list(res.refused) == ["gone@zantara.example"]


def test_every_recipient_refused(smtp):
    _, port = smtp(refuse={"team@zantara.example"})
    res = send_message(_msg(), _settings(port))
    assert not res.ok and "every recipient refused" in res.error


def test_message_rejected(smtp):
    _, port = smtp(reject=True)
    res = send_message(_msg(), _settings(port))
    assert not res.ok and res.error.startswith("message rejected by the SMTP server")
    assert "554" in res.error


def test_login_refused(smtp):
    _, port = smtp(auth=False)
    res = send_message(_msg(), _settings(port, user="bot", password="wrong"))
    assert not res.ok and res.error.startswith("login refused by the SMTP server"), res.error


def test_trickling_smtp_server_is_cut_off_at_the_deadline():
    server = Trickle(b"220 slow.example ESMTP and then some more text that never ends ", 0.2)
    try:
        t0 = time.monotonic()
        res = send_message(_msg(), _settings(server.port, deadline=1.5))
        took = time.monotonic() - t0
    finally:
        server.close()
    assert not res.ok and "deadline" in res.error, res.error
    assert took < 4


def _firing_result() -> AlertResult:
    df = pd.DataFrame(
        {
            "name": ["Latency"],
            "condition": ["P95 > 3000 ms"],
            "observed": [4000.0],
            "threshold": [3000.0],
            "status": ["firing"],
            "window": ["7d"],
            "period": ["a week"],
            "detail": ["ana@example.com"],
            "unit": ["ms"],
        }  # fmt: skip
    )
    return AlertResult(name="alerts", title="Alerts", df=df)


def test_trickling_slack_webhook_is_cut_off_at_the_deadline():
    server = Trickle(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\n", 0.3, read_first=True)
    try:
        t0 = time.monotonic()
        d = send_slack(_firing_result(), f"http://127.0.0.1:{server.port}/hook", timeout=1,
                       deadline=1.5)  # fmt: skip
        took = time.monotonic() - t0
    finally:
        server.close()
    assert d.attempted and not d.ok and "deadline" in d.error, d
    assert took < 4


# ------------------------------------------------------------------------------------------
# Recipients: one valid address per entry, or the run refuses to start
# ------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "entry, why",
    [
        ("a@zantara.example\nBcc: b@evil.example", "line break"),
        ("a@zantara.example\r\nBcc: b@evil.example", "line break"),
        ("a@zantara.example, b@evil.example", "several addresses"),
        ("a@zantara.example; b@evil.example", "several addresses"),
        ("a@zantara.example b@evil.example", "several addresses"),
        ("not an address", "not a valid"),
        ("a@zantara.example junk", "not a valid"),
        ("", "not an e-mail address"),
    ],
)
def test_bad_recipient_entries_are_refused(entry, why):
    with pytest.raises(SuiteError, match=why):
        check_address(entry, "email.to[0]")


def test_good_recipient_entries():
    assert check_address(" team@zantara.example ") == "team@zantara.example"
    assert check_address("Ana <ana@zantara.example>") == "Ana <ana@zantara.example>"
    assert check_address('"Ops, on call" <ops@zantara.example>') == (
        '"Ops, on call" <ops@zantara.example>'
    )


def test_run_refuses_to_start_with_an_injected_recipient(tmp_path, tiny_wh):  # noqa: F811
    params = tiny_suite(tmp_path, email={"to": ["team@zantara.example\nBcc: spy@evil.example"]})
    with pytest.raises(SuiteError, match=r"email\.to\[0\].*line break"):
        load_suite(params)
    res = run(params, tmp_path, tiny_wh, send_email=True)
    assert res.exit_code == runner.EXIT_UNUSABLE and "email.to[0]" in res.message
    assert not (tmp_path / "reports" / "tiny").exists()
    params = tiny_suite(tmp_path, email={"to": ["ok@zantara.example"],
                                         "failure_to": "a@zantara.example, b@evil.example"})  # fmt: skip
    res = run(params, tmp_path, tiny_wh, send_email=True)
    assert res.exit_code == runner.EXIT_UNUSABLE and "several addresses" in res.message


# ------------------------------------------------------------------------------------------
# A run whose delivery fails: exit 4, manifest, index pages, then zantara-nb email
# ------------------------------------------------------------------------------------------


def _smtp_env(monkeypatch, port: int) -> None:
    monkeypatch.setenv("ZANTARA_SMTP_HOST", "127.0.0.1")
    monkeypatch.setenv("ZANTARA_SMTP_PORT", str(port))
    monkeypatch.setenv("ZANTARA_SMTP_SECURITY", "none")
    monkeypatch.setenv("ZANTARA_SMTP_FROM", "reports@zantara.example")
    monkeypatch.setenv("ZANTARA_SMTP_DEADLINE", "5")
    monkeypatch.delenv("ZANTARA_SLACK_WEBHOOK", raising=False)


def test_smtp_down_exits_4_records_it_and_email_resends(
    tmp_path,
    tiny_wh,  # noqa: F811
    monkeypatch,
    smtp,
    capsys,
):
    down = _free_port()
    _smtp_env(monkeypatch, down)
    params = tiny_suite(tmp_path, email={"to": ["team@zantara.example"]})
    res = run(params, tmp_path, tiny_wh, send_email=True)
    # the reports are there, the run says the delivery failed
    assert res.exit_code == runner.EXIT_DELIVERY, res.message
    assert "delivery failed" in res.message and "zantara-nb email" in res.message
    assert (res.run_dir / "a_ok.html").exists()
    m = read_manifest(res.run_dir)
    assert m.ok and m.delivery_failed and m.delivery_status == "failed"
    assert m.email["ok"] is False and "connecting to the SMTP server" in m.email["error"]
    assert m.delivery_errors[0].startswith("e-mail: connecting to the SMTP server")
    assert [(a["by"], a["channel"], a["ok"]) for a in m.delivery_attempts] == [
        ("run", "e-mail", False)
    ]
    index = (res.run_dir / "index.html").read_text()
    assert "Delivery failed" in index and f"zantara-nb email {res.run_dir.resolve()}" in index
    top = (tmp_path / "reports" / "index.html").read_text()
    assert "delivery failed" in top
    # the command line says so too, with the distinct exit code
    code = cli.main(["run", str(params), "--as-of", "2026-08-24", "--no-progress",
                     "--reports-dir", str(tmp_path / "reports"), "--warehouse", str(tiny_wh)])  # fmt: skip
    assert code == 4
    assert "delivery failed" in capsys.readouterr().err
    # zantara-nb email RUN sends it once the server is back, and records it
    handler, port = smtp()
    monkeypatch.setenv("ZANTARA_SMTP_PORT", str(port))
    assert cli.main(["email", str(res.run_dir)]) == 0
    assert len(handler.received) == 1 and handler.received[0][0] == ["team@zantara.example"]
    m = read_manifest(res.run_dir)
    assert m.delivery_status == "ok" and m.email["ok"] is True and not m.delivery_errors
    assert [(a["by"], a["ok"]) for a in m.delivery_attempts][-1] == ("zantara-nb email", True)
    assert "Delivery failed" not in (res.run_dir / "index.html").read_text()
    assert "delivery failed" not in (tmp_path / "reports" / "index.html").read_text()
    # a recipient on the command line is checked like the file's
    assert cli.main(["email", str(res.run_dir), "--to", "a@x.example\nBcc: b@y.example"]) == 2


def test_slack_failure_is_a_delivery_failure(tmp_path, tiny_wh, monkeypatch):  # noqa: F811
    monkeypatch.delenv("ZANTARA_SMTP_HOST", raising=False)
    server = Trickle(b"HTTP/1.1 200 OK\r\n", 0.3, read_first=True)
    monkeypatch.setenv("ZANTARA_SLACK_WEBHOOK", f"http://127.0.0.1:{server.port}/hook")
    rule = {"name": "Always", "metric": "messages", "comparison": ">=", "threshold": 0}
    params = tiny_suite(
        tmp_path, parameters={"thresholds": {"alerts": {"alerts": [rule],
                                                        "delivery": {"deadline_seconds": 1.5}}}},
    )  # fmt: skip
    try:
        t0 = time.monotonic()
        res = run(params, tmp_path, tiny_wh, send_email=True)
        took = time.monotonic() - t0
    finally:
        server.close()
    assert res.exit_code == runner.EXIT_DELIVERY, res.message
    m = read_manifest(res.run_dir)
    assert m.slack["attempted"] and not m.slack["ok"] and "deadline" in m.slack["error"]
    assert m.delivery_errors == [f"Slack: {m.slack['error']} (webhook 127.0.0.1:{server.port})"]
    assert m.email == {"kind": "run", "skipped": "no recipients"}
    assert took < 60


# ------------------------------------------------------------------------------------------
# The scheduler retries a failed delivery
# ------------------------------------------------------------------------------------------


def test_scheduler_retries_a_failed_delivery(tmp_path):
    clock = {"now": datetime(2026, 8, 24, 0, 0, tzinfo=UTC)}
    run_dir = tmp_path / "reports" / "tiny" / "2026-08-24"
    run_dir.mkdir(parents=True)

    def manifest(status: str) -> RunManifest:
        m = RunManifest(suite="tiny", status="ok", as_of="2026-08-24", delivery_status=status)
        write_manifest(run_dir, m)
        return m

    def fake_run(job, as_of):
        return runner.RunResult(runner.EXIT_DELIVERY, "delivery failed", run_dir,
                                manifest("failed"))  # fmt: skip

    tries = []

    def fake_redeliver(job, path):
        tries.append(clock["now"])
        ok = len(tries) >= 2  # the second retry goes through
        return runner.RunResult(0 if ok else runner.EXIT_DELIVERY, "x", path,
                                manifest("ok" if ok else "failed"))  # fmt: skip

    def sleep(seconds):
        clock["now"] += timedelta(seconds=seconds)

    job = Job("tiny", tmp_path / "tiny.yaml", "0 7 * * 1", "Asia/Jakarta", catch_up=False)
    logs: list[str] = []
    s = Scheduler([job], run=fake_run, redeliver=fake_redeliver, clock=lambda: clock["now"],
                  sleep=sleep, log=logs.append, max_sleep=3600)  # fmt: skip
    rec = s.run_once(job, clock["now"])
    assert not rec.ok and rec.error == "delivery failed"
    s.run_forever(until=clock["now"] + timedelta(hours=2))
    assert [(t - tries[0]).total_seconds() / 60 for t in tries] == [0, RETRY_MINUTES[1]]
    assert not s.retries and any("delivered" in line for line in logs)
    assert json.loads((run_dir / "manifest.json").read_text())["delivery_status"] == "ok"
