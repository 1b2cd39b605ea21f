"""The full weekly suite on data full of hostile values: pages, notebooks, e-mail, Slack.

The small demo warehouse is copied and every property that reaches a page is given
hostile values: markup, ``$...$`` pairs (matplotlib math text), right-to-left overrides
and zero-width characters, a 200 KB string, e-mail addresses, phone numbers and full IPv4
and IPv6 addresses (query categories, model, country, user type, device type, feature
flag variants, event names). The weekly suite (notebooks 01-04) runs on it with e-mail
(a real SMTP server on localhost) and Slack (a local webhook) configured. Every artefact
is then checked: every notebook ran; no markup from the data is live; no personal data
is shown anywhere (pages, executed notebooks, manifest, digest, e-mail, Slack, the run's
log); long values are cut with "…"; invisible formatting characters are gone; nothing
is fetched from elsewhere; the e-mail stays under Gmail's clipping size.
"""

from __future__ import annotations

import json
import re
import shutil
import socket
import subprocess
import sys
import threading
from email import policy
from email.parser import BytesParser
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import nbformat
import pytest
import yaml
from aiosmtpd.controller import Controller

from tests.demo_cache import AS_OF, small_demo
from zantara_nb import Warehouse
from zantara_nb.reporting import runner
from zantara_nb.reporting.render import external_references

ROOT = Path(__file__).resolve().parents[2]
BIG = "Z" * 200_000
PERSONAL = [
    "ana.leak@example.com",
    "+62 812-3456-7890",
    "0812 9876 5432",
    "203.0.113.77",
    "2001:db8::8a2e:370:7334",
]
HOSTILE = [
    "<script>alert('x')</script>",
    "<img src=x onerror=alert(1)>",
    r"$\boom$",
    "plan $5 and $10",
    "\u202egnp.exe",
    "vi\u200bsa\u200d",
    BIG,
    f"mail {PERSONAL[0]}",
    f"call {PERSONAL[1]}",
    f"wa {PERSONAL[2]}",
    f"from {PERSONAL[3]}",
    f"host {PERSONAL[4]}",
]
#: What no artefact may contain (raw markup, personal data, a run of the long value).
FORBIDDEN = [
    "<script>alert",
    "<img src=x",
    "\u202e",
    "\u200b",
    "Z" * 5000,
    *PERSONAL,
    "812-3456-7890",
    "8a2e:370:7334",
]


def _sql_list(values: list[str]) -> str:
    return "[" + ", ".join("'" + v.replace("'", "''") + "'" for v in values) + "]"


def _poison(path: Path) -> None:
    """Hostile values in every property that reaches a page (a copy of the demo).

    The 200 KB value goes to a few hundred rows only, in a child process, so the test
    worker's memory does not grow.
    """
    short = [h for h in HOSTILE if h is not BIG]
    vals = _sql_list(short)
    k = len(short)
    with Warehouse(path) as wh:
        con = wh.con
        pick = f"{vals}[1 + (abs(hash(uuid)) % {2 * k})::INTEGER]"  # half the rows
        for col in ("query_category", "model_used"):
            con.execute(
                f"UPDATE events SET {col} = coalesce({pick}, {col}) WHERE {col} IS NOT NULL"
            )
        con.execute(
            "UPDATE events SET query_category = ? WHERE query_category IS NOT NULL "
            "AND abs(hash(uuid || 'big')) % 300 = 0",
            [BIG],
        )
        con.execute(
            f"""UPDATE events SET properties = json_merge_patch(properties,
                   json_object('$device_type', {pick}, 'query_category', query_category,
                               'model_used', model_used))::VARCHAR
                WHERE properties IS NOT NULL AND {pick} IS NOT NULL"""
        )
        con.execute(
            f"""UPDATE events SET properties = json_merge_patch(properties,
                   json_object('$feature_flag_response', {pick}))::VARCHAR
                WHERE event = '$feature_flag_called' AND {pick} IS NOT NULL"""
        )
        person = f"{vals}[1 + (abs(hash(person_id)) % {2 * k})::INTEGER]"
        for col in ("country", "user_type"):
            con.execute(f"UPDATE persons SET {col} = coalesce({person}, {col})")
        con.execute("UPDATE persons SET country = ? WHERE abs(hash(person_id)) % 500 = 0", [BIG])
        # a spike of messages on one day, in two hostile categories: an anomaly whose
        # "moved most" explanation names them
        for i, (cat, most) in enumerate(((f"mail {PERSONAL[0]}", 100_000), (BIG, 300))):
            con.execute(
                f"""INSERT INTO events SELECT e.* REPLACE (e.uuid || '-spike{i}' AS uuid,
                           ?::VARCHAR AS query_category)
                    FROM events e WHERE e.event = 'message_sent'
                     AND e.timestamp >= TIMESTAMPTZ '2026-08-18 17:00:00+00'
                     AND e.timestamp < TIMESTAMPTZ '2026-08-19 17:00:00+00'
                    LIMIT {most}""",
                [cat],
            )
        # hostile event names in the report week (unknown events of the data-quality check)
        for i, name in enumerate(HOSTILE):
            con.execute(
                "INSERT INTO events (uuid, event, timestamp, distinct_id, person_id, properties) "
                f"VALUES ('hostile-{i}', ?, TIMESTAMPTZ '2026-08-20 03:00:00+00', 'h{i}', 'h{i}', "
                "'{}')",
                [name],
            )


class _Webhook:
    """A Slack webhook on localhost that keeps what it receives."""

    def __init__(self):
        received = self.received = []

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):  # noqa: N802
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                received.append(body.decode("utf-8"))
                self.send_response(200)
                self.end_headers()
                self.wfile.write(b"ok")

            def log_message(self, *a):
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/hook"
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def close(self):
        self.httpd.shutdown()
        self.httpd.server_close()


class _Sink:
    def __init__(self):
        self.received = []

    async def handle_DATA(self, server, session, envelope):  # noqa: N802
        self.received.append(envelope.content)
        return "250 OK"


@pytest.fixture(scope="module")
def hostile(tmp_path_factory):
    d = tmp_path_factory.mktemp("hostile")
    wh_path = d / "w.duckdb"
    shutil.copy(small_demo(tmp_path_factory), wh_path)
    child = "import sys; from pathlib import Path; from tests.reporting.test_hostile import _poison; _poison(Path(sys.argv[1]))"
    done = subprocess.run([sys.executable, "-c", child, str(wh_path)], cwd=ROOT,
                          capture_output=True, text=True, timeout=600, check=False)  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]
    weekly = yaml.safe_load((ROOT / "parameters" / "weekly.yaml").read_text())
    rule = {"name": f"<b>Boom</b> $x$ {PERSONAL[0]} \u202eevil", "metric": "messages",
            "comparison": ">=", "threshold": 0}  # fmt: skip
    rules = d / "alerts.yaml"  # a file: the analyst pages show the path, not the rules
    rules.write_text(yaml.safe_dump({"alerts": [rule]}, allow_unicode=True))
    weekly.update(
        notebooks_dir=str(ROOT / "notebooks"),
        email={"to": ["team@zantara.example"], "failure_to": ["ops@zantara.example"]},
        parameters={
            "filters": {},
            "thresholds": {"alerts": str(rules)},
            "targets": str(ROOT / "parameters" / "targets.yaml"),
        },  # fmt: skip
    )
    weekly.pop("schedule", None)
    params = d / "weekly.yaml"
    params.write_text(yaml.safe_dump(weekly, sort_keys=False, allow_unicode=True))

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    sink = _Sink()
    ctl = Controller(sink, hostname="127.0.0.1", port=port)
    ctl.start()
    hook = _Webhook()
    log: list[str] = []
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("ZANTARA_SMTP_HOST", "127.0.0.1")
        mp.setenv("ZANTARA_SMTP_PORT", str(port))
        mp.setenv("ZANTARA_SMTP_SECURITY", "none")
        mp.setenv("ZANTARA_SMTP_FROM", "reports@zantara.example")
        mp.setenv("ZANTARA_SLACK_WEBHOOK", hook.url)
        mp.setattr(runner, "_Printer", lambda quiet: log.append)
        try:
            res = runner.run_suite(params, as_of=AS_OF, reports_dir=d / "reports",
                                   warehouse=wh_path, progress=False)  # fmt: skip
        finally:
            ctl.stop()
            hook.close()
    return {"res": res, "run": d / "reports" / "weekly" / AS_OF, "reports": d / "reports",
            "mail": sink.received, "slack": hook.received, "log": log}  # fmt: skip


def _clean(text: str) -> str:
    """Text without embedded images (base64 can hold any short run of characters)."""
    return re.sub(r"data:image/[a-z]+;base64,[A-Za-z0-9+/=\s]+", "", text)


MARKUP = ("<script>alert", "<img src=x")


def _assert_safe(name: str, text: str, *, markup: bool = True) -> None:
    """No personal data, no long run, no invisible character; no live markup from the
    data unless ``markup=False`` (plain text, where markup is just characters)."""
    text = _clean(text)
    for bad in FORBIDDEN:
        if markup or bad not in MARKUP:
            assert bad not in text, f"{name}: {bad[:40]!r} is shown"


def test_every_notebook_runs_on_hostile_data(hostile):
    res = hostile["res"]
    errors = {e["name"]: e.get("error") for e in res.manifest.notebooks if e["status"] != "ok"}
    assert not errors, errors
    assert res.exit_code == runner.EXIT_OK, res.message
    assert res.manifest.delivery_status == "ok", res.manifest.delivery_errors


def test_pages_notebooks_and_records_show_nothing_hostile(hostile):
    run = hostile["run"]
    pages = sorted(run.glob("*.html"))
    assert len(pages) == 9  # 4 notebooks x 2 variants + the run index
    seen = ""
    for page in pages:
        text = page.read_text(encoding="utf-8")
        _assert_safe(page.name, text)
        assert external_references(text) == [], page.name
        assert len(text.encode()) < 3_000_000, f"{page.name}: {len(text.encode()):,} bytes"
        seen += text
    # the values are there, made safe: escaped, redacted, cut with a mark
    assert "&lt;script&gt;alert(" in seen
    assert "[email]" in seen and "[phone]" in seen and "[ip]" in seen
    assert "ZZZZ…" in seen
    assert "\ufffdgnp.exe" in seen and "vi\ufffdsa" in seen  # invisible characters shown
    assert "moved" in seen or "query_category=mail [email]" in seen
    assert r"$\boom$" in seen or r"\$\boom\$" not in seen
    for nb_file in sorted(run.glob("*.ipynb")):
        nb = nbformat.read(nb_file, as_version=4)
        for cell in nb.cells:
            for out in cell.get("outputs", []):
                data = out.get("data") or {}
                for mime, value in data.items():
                    text = "".join(value) if isinstance(value, list) else str(value)
                    _assert_safe(f"{nb_file.name} {mime}", text, markup=mime == "text/html")
                for key in ("text", "evalue", "traceback"):
                    if key in out:
                        _assert_safe(f"{nb_file.name} {key}", json.dumps(out[key]), markup=False)
    for record in ("manifest.json", "digest.json"):
        _assert_safe(record, (run / record).read_text(encoding="utf-8"), markup=False)
    _assert_safe("reports/index.html", (hostile["reports"] / "index.html").read_text())
    _assert_safe("the run's log", "\n".join(hostile["log"]), markup=False)


def test_email_and_slack_show_nothing_hostile(hostile):
    assert len(hostile["mail"]) == 1
    raw = hostile["mail"][0]
    msg = BytesParser(policy=policy.default).parsebytes(raw)
    html = msg.get_body(preferencelist=("html",)).get_content()
    text = msg.get_body(preferencelist=("plain",)).get_content()
    assert len(html.encode()) < 100_000, f"HTML body {len(html.encode()):,} bytes"
    assert len(raw) < 15_000_000
    _assert_safe("e-mail HTML", html)
    _assert_safe("e-mail text", text, markup=False)
    _assert_safe("subject", msg["subject"], markup=False)
    assert external_references(html) == []
    assert "Data quality:" in text
    for att in msg.iter_attachments():
        body = att.get_content()
        if isinstance(body, str):
            _assert_safe(att.get_filename(), body)
            assert external_references(body) == [], att.get_filename()
    assert hostile["slack"], "the firing rule was posted"
    for body in hostile["slack"]:
        payload = json.loads(body)
        flat = json.dumps(payload, ensure_ascii=False)
        _assert_safe("Slack", flat)
        assert "<b>" not in flat and "&lt;b&gt;Boom" in flat
