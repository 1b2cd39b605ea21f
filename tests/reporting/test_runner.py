"""``zantara-nb run``: suites, the lock, stale data, failure isolation, atomic replacement.

One end-to-end run of the real notebooks on small demo data (plus a notebook that fails)
is shared by the assertions of :func:`test_weekly_run_end_to_end`; the other run tests
use tiny notebooks that do not import the package, so their kernels start quickly.
"""

from __future__ import annotations

import fcntl
import json
import os
import re
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import nbformat
import pytest
import yaml

from tests.demo_cache import AS_OF, small_demo
from tests.eventkit import add_events, ev
from zantara_nb import Warehouse, cli
from zantara_nb.reporting import runner
from zantara_nb.reporting.suite import SuiteError, load_suite

ROOT = Path(__file__).resolve().parents[2]


def write_notebook(path: Path, *sources: str, params: str = "as_of = None") -> Path:
    """A notebook with a ``parameters`` cell and the given code cells (no outputs)."""
    nb = nbformat.v4.new_notebook()
    p = nbformat.v4.new_code_cell(params)
    p.metadata["tags"] = ["parameters"]
    nb.cells = [p, *(nbformat.v4.new_code_cell(s) for s in sources)]
    nb.metadata["kernelspec"] = {
        "name": "python3",
        "display_name": "Python 3",
        "language": "python",
    }
    path.parent.mkdir(parents=True, exist_ok=True)
    nbformat.write(nb, path)
    return path


def write_suite(path: Path, **spec) -> Path:
    path.write_text(yaml.safe_dump(spec, sort_keys=False))
    return path


def body(page: str) -> str:
    """A page after ``<body>`` (the inline CSS names every class)."""
    return page[re.search(r"<body[^>]*>", page).end() :]


# ------------------------------------------------------------------------------------------
# End to end on demo data
# ------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def weekly(tmp_path_factory):
    """Run a weekly suite of the real notebooks + a failing one on small demo data."""
    d = tmp_path_factory.mktemp("weekly")
    wh_path = small_demo(tmp_path_factory)
    write_notebook(
        d / "nbs" / "99_fails.ipynb",
        "from IPython.display import HTML\nHTML('<p>BEFORE_THE_ERROR</p>')",
        "raise ValueError('planted failure <x>')",
        "print('NEVER_REACHED')",
    )
    params = write_suite(
        d / "weekly.yaml",
        suite="weekly",
        title="Test weekly report",
        period="week",
        timezone="Asia/Jakarta",
        notebooks_dir=str(ROOT / "notebooks"),
        notebooks=["01_metrics_overview", "02_funnels", "03_cohorts_retention", "nbs/99_fails"],
        parameters={"filters": {}, "thresholds": {}},
        notebook_parameters={
            "02_funnels": {
                "breakdowns": ["user_type"],
                "funnels": [
                    {
                        "name": "Signup to answer",
                        "steps": ["user_signed_up", "message_received"],
                        "window": "1d",
                    },  # fmt: skip
                ],
            }
        },
        stale_after_hours=36,
        email={"to": [], "failure_to": []},
    )
    reports = d / "reports"
    code = cli.main(
        [
            "run",
            str(params),
            "--as-of",
            AS_OF,
            "--no-email",
            "--no-progress",
            "--reports-dir",
            str(reports),
            "--warehouse",
            str(wh_path),
        ]  # fmt: skip
    )
    return {"code": code, "reports": reports, "run": reports / "weekly" / AS_OF,
            "params": params, "wh": wh_path}  # fmt: skip


def test_weekly_run_end_to_end(weekly):
    run = weekly["run"]
    # The failing notebook makes the run exit non-zero ...
    assert weekly["code"] == runner.EXIT_FAILED
    m = json.loads((run / "manifest.json").read_text())
    status = {nb["name"]: nb["status"] for nb in m["notebooks"]}
    # ... but does not stop the others.
    assert status == {
        "01_metrics_overview": "ok",
        "02_funnels": "ok",
        "03_cohorts_retention": "ok",
        "99_fails": "failed",
    }
    assert m["status"] == "failed" and m["failed"] == ["99_fails"]

    # Manifest: parameters, data freshness, row counts, version, timings.
    assert m["as_of"] == AS_OF and m["period_label"] == "week 2026-08-17 → 2026-08-23"
    assert m["parameters"]["suite"] == "weekly" and m["parameters"]["filters"] == {}
    assert m["data"]["row_counts"]["events"] > 10_000
    assert 0 < m["data"]["row_counts"]["events_in_period"] < m["data"]["row_counts"]["events"]
    assert m["data"]["stale"] is False and m["data"]["lag_hours"] < 36
    assert m["version"] and m["kernel"]["name"]
    for nb in m["notebooks"]:
        assert nb["duration_s"] > 0 and nb["render_s"] > 0
        assert nb["kernel_start_s"] is not None and 0 < nb["kernel_start_s"] < nb["duration_s"]
    ok_nb = next(nb for nb in m["notebooks"] if nb["name"] == "01_metrics_overview")
    assert ok_nb["parameters"]["as_of"] == AS_OF
    assert ok_nb["parameters"]["warehouse"] == str(weekly["wh"].resolve())
    t = m["timings"]
    assert t["total_s"] >= t["notebooks_wall_s"] > 0 and t["kernel_start_s"] > 0
    assert m["digest"]["status"] in {"ok", "failed"}
    assert m["email"] == {"kind": "failure", "skipped": "--no-email"}

    # Both HTML variants of every notebook, and the executed notebook.
    for nb in m["notebooks"]:
        out = nb["outputs"]
        for key in ("reader", "analyst", "notebook"):
            assert (run / out[key]).is_file(), (nb["name"], key)

    # Reader pages: no code, no prompts; tracebacks only where a notebook failed.
    for nb in m["notebooks"]:
        reader = body((run / nb["outputs"]["reader"]).read_text())
        assert "jp-InputArea" not in reader and "jp-InputPrompt" not in reader
        assert "In&nbsp;[" not in reader and "report.setup(" not in reader
        if nb["status"] == "ok":
            assert "Traceback" not in reader and "application/vnd.jupyter.stderr" not in reader
            assert "This notebook failed" not in reader
            assert "data:image/png;base64," in reader  # charts are in the page
            assert "Stale data" not in reader
    overview = body((run / "01_metrics_overview.html").read_text())
    for heading in ("Headline numbers", "North Star", "Daily active users", "Top query",
                    "D1, D7, D14, D30", "Conversion funnel", "System health", "Alerts",
                    "Targets"):  # fmt: skip
        assert heading in overview, heading
    assert "▲" in overview or "▼" in overview
    assert re.search(r"\d\.\d{6,}", re.sub(r"data:image/png;base64,[^\"]+", "", overview)) is None

    # The failed notebook's page shows the error and what ran before it.
    failed = body((run / "99_fails.html").read_text())
    assert "This notebook failed in code cell" in failed
    assert "ValueError" in failed and "planted failure &lt;x&gt;" in failed
    assert "BEFORE_THE_ERROR" in failed and "NEVER_REACHED" not in failed
    analyst = body((run / "99_fails.analyst.html").read_text())
    assert "jp-InputArea" in analyst and "NEVER_REACHED" in analyst  # the code is shown

    # Run index: status and duration per notebook, links to both variants.
    index = (run / "index.html").read_text()
    for nb in m["notebooks"]:
        assert f'href="{nb["outputs"]["reader"]}"' in index
        assert f'href="{nb["outputs"]["analyst"]}"' in index
    assert "1 of 4 notebook(s) failed: 99_fails" in index
    # reports/index.html lists the run.
    top = (weekly["reports"] / "index.html").read_text()
    assert f'href="weekly/{AS_OF}/index.html"' in top and "Test weekly report" in top
    # Nothing left behind but the run, the lock and the index.
    assert sorted(p.name for p in (weekly["reports"] / "weekly").iterdir()) == [".lock", AS_OF]


# ------------------------------------------------------------------------------------------
# Tiny suites (kernels without the package: fast)
# ------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def tiny_wh(tmp_path_factory):
    """A file warehouse with a few events; the newest on 2026-08-23 (Jakarta)."""
    path = tmp_path_factory.mktemp("tiny") / "w.duckdb"
    with Warehouse(path) as wh:
        add_events(
            wh,
            [
                ev("u1", "user_signed_up", "2026-08-10 09:00+07:00"),
                ev("u1", "message_sent", "2026-08-10 09:01+07:00", query_category="visa"),
                ev("u1", "message_received", "2026-08-10 09:01:05+07:00"),
                ev("u2", "message_sent", "2026-08-23 21:00+07:00", query_category="tax"),
            ],
        )
    return path


def tiny_suite(d: Path, *, fail: bool = False, **extra) -> Path:
    write_notebook(
        d / "nbs" / "a_ok.ipynb", "import os\nprint('hello from', as_of, 'in', os.getcwd())"
    )
    names = ["nbs/a_ok"]
    if fail:
        write_notebook(d / "nbs" / "b_fails.ipynb", "1 / 0")
        names.append("nbs/b_fails")
    else:
        write_notebook(d / "nbs" / "b_ok.ipynb", "print('B', as_of)")
        names.append("nbs/b_ok")
    spec = {"suite": "tiny", "title": "Tiny", "period": "week", "notebooks": names,
            "stale_after_hours": 36, **extra}  # fmt: skip
    return write_suite(d / "tiny.yaml", **spec)


def run(params, tmp_path, wh, **kw):
    kw.setdefault("as_of", AS_OF)
    kw.setdefault("send_email", False)
    return runner.run_suite(
        params, reports_dir=tmp_path / "reports", warehouse=wh, progress=False, quiet=True, **kw
    )


def test_stale_data_puts_a_warning_on_every_page(tmp_path, tiny_wh):
    params = tiny_suite(tmp_path)
    # Newest event 2026-08-23 21:00 Jakarta; a cut-off a week later is 8 days stale.
    res = run(params, tmp_path, tiny_wh, as_of="2026-08-31")
    assert res.exit_code == runner.EXIT_OK, res.message
    data = res.manifest["data"]
    assert data["stale"] is True and data["lag_hours"] == pytest.approx(171.0)
    pages = [p for p in res.run_dir.glob("*.html")]
    assert len(pages) == 5  # 2 notebooks x 2 variants + index
    for page in pages:
        text = page.read_text()
        assert "Stale data" in text and "171.0 h" in text, page.name
        if page.name != "index.html":  # the warning comes before the notebook's content
            assert body(text).index("Stale data") < body(text).index("jp-Cell")
    top = (tmp_path / "reports" / "index.html").read_text()
    assert "stale data" in top
    # The same data with the usual cut-off is fresh.
    res = run(params, tmp_path, tiny_wh, as_of="2026-08-24")
    assert res.manifest["data"]["stale"] is False
    assert "Stale data" not in (res.run_dir / "a_ok.html").read_text()


def test_second_run_while_locked_exits_with_a_clear_message(tmp_path, tiny_wh, capsys):
    params = tiny_suite(tmp_path)
    lock = tmp_path / "reports" / "tiny" / ".lock"
    lock.parent.mkdir(parents=True)
    with open(lock, "w") as fh:
        fh.write("pid 4242, started 2026-08-24T00:00:00+00:00")
        fh.flush()
        fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
        res = run(params, tmp_path, tiny_wh)
        assert res.exit_code == runner.EXIT_LOCKED
        assert "another run of suite 'tiny' is in progress" in res.message
        assert "pid 4242" in res.message
        code = cli.main(["run", str(params), "--no-email", "--reports-dir",
                         str(tmp_path / "reports"), "--warehouse", str(tiny_wh)])  # fmt: skip
        assert code == runner.EXIT_LOCKED
        assert "another run of suite 'tiny' is in progress" in capsys.readouterr().err
    assert not (tmp_path / "reports" / "tiny" / AS_OF).exists()  # nothing was written


def test_rerun_replaces_the_output_and_only_keeps_the_others(tmp_path, tiny_wh):
    params = tiny_suite(tmp_path)
    first = run(params, tmp_path, tiny_wh)
    assert first.ok, first.message
    stamp = (first.run_dir / "b_ok.html").stat().st_mtime_ns
    marker = first.run_dir / "left-by-first-run.txt"
    marker.write_text("x")
    # The kernel ran in the run's temporary folder (files it writes land in the report).
    out = nbformat.read(first.run_dir / "a_ok.ipynb", as_version=4)
    assert f"in {tmp_path / 'reports' / 'tiny' / '.tmp-'}" in out.cells[-1].outputs[0]["text"]
    assert Path.cwd().exists()  # the test process's directory was not changed
    again = run(params, tmp_path, tiny_wh, only=["a_ok"])
    assert again.ok and again.run_dir == first.run_dir
    assert not marker.exists()  # the folder was replaced as a whole
    entries = {e["name"]: e for e in again.manifest["notebooks"]}
    assert entries["a_ok"].get("carried_over") is None and entries["a_ok"]["status"] == "ok"
    assert entries["b_ok"]["carried_over"] is True
    assert (again.run_dir / "b_ok.html").stat().st_mtime_ns == stamp  # copied, not re-run
    assert again.manifest["only"] == ["a_ok"]
    leftovers = [p.name for p in (tmp_path / "reports" / "tiny").iterdir()]
    assert sorted(leftovers) == [".lock", AS_OF]


def test_interrupted_run_keeps_the_previous_output(tmp_path, tiny_wh, monkeypatch):
    params = tiny_suite(tmp_path)
    first = run(params, tmp_path, tiny_wh)
    before = (first.run_dir / "manifest.json").read_text()

    def boom(*a, **k):
        raise KeyboardInterrupt

    monkeypatch.setattr(runner.render, "render_run_index", boom)
    with pytest.raises(KeyboardInterrupt):
        run(params, tmp_path, tiny_wh)
    assert (first.run_dir / "manifest.json").read_text() == before
    assert sorted(p.name for p in (tmp_path / "reports" / "tiny").iterdir()) == [".lock", AS_OF]


def test_failure_sends_the_failure_email_when_configured(tmp_path, tiny_wh, monkeypatch):
    from zantara_nb.reporting import email

    calls = []
    monkeypatch.setenv("ZANTARA_SMTP_HOST", "smtp.invalid")
    sent = email.SendResult(ok=True, kind="failure")
    monkeypatch.setattr(email, "send_failure_email", lambda *a, **k: calls.append(a) or sent)
    monkeypatch.setattr(email, "send_run_email", lambda *a, **k: pytest.fail("not a success"))
    params = tiny_suite(tmp_path, fail=True, email={"to": ["team@example.com"]})
    res = run(params, tmp_path, tiny_wh, send_email=True)
    assert res.exit_code == runner.EXIT_FAILED and res.message == "failed: b_fails", [
        e.get("error") for e in res.manifest["notebooks"]
    ]
    assert len(calls) == 1
    run_dir, hparams, error = calls[0]
    assert run_dir == res.run_dir and hparams["suite"] == "tiny" and "b_fails" in error
    assert res.manifest["email"]["kind"] == "failure"
    saved = json.loads((res.run_dir / "manifest.json").read_text())
    assert saved["email"]["kind"] == "failure"
    page = body((res.run_dir / "b_fails.html").read_text())
    assert "ZeroDivisionError" in page
    assert "Traceback" not in body((res.run_dir / "a_ok.html").read_text())


def test_missing_warehouse_is_a_clear_error(tmp_path):
    params = tiny_suite(tmp_path)
    res = run(params, tmp_path, tmp_path / "nope.duckdb")
    assert res.exit_code == runner.EXIT_UNUSABLE and "nope.duckdb" in res.message


# ------------------------------------------------------------------------------------------
# Suites and helpers (no kernels)
# ------------------------------------------------------------------------------------------


def test_weekly_and_monthly_parameters_files_are_valid():
    for name, period in (("weekly", "week"), ("monthly", "month")):
        s = load_suite(ROOT / "parameters" / f"{name}.yaml")
        assert s.name == name and s.period == period and s.timezone == "Asia/Jakarta"
        assert [nb.name for nb in s.notebooks][:3] == [
            "01_metrics_overview",
            "02_funnels",
            "03_cohorts_retention",
        ]
        assert s.schedule["cron"] and "to" in s.email and "failure_to" in s.email
        assert Path(s.parameters["targets"]).is_file()


def test_default_as_of_is_the_end_of_the_last_complete_period(tmp_path):
    params = tiny_suite(tmp_path)
    s = load_suite(params)
    tz = ZoneInfo("Asia/Jakarta")
    # Tuesday 2026-08-25 10:00 Jakarta -> the week ended Monday 2026-08-24 00:00.
    assert s.default_as_of(datetime(2026, 8, 25, 10, tzinfo=tz)).isoformat() == "2026-08-24"
    # Monday 2026-08-24 00:30 Jakarta (Sunday in UTC) -> the same week.
    utc = datetime(2026, 8, 23, 17, 30, tzinfo=ZoneInfo("UTC"))
    assert s.default_as_of(utc.astimezone(tz)).isoformat() == "2026-08-24"
    s.period = "month"
    assert s.default_as_of(datetime(2026, 8, 25, tzinfo=tz)).isoformat() == "2026-08-01"


@pytest.mark.parametrize(
    "spec,message",
    [
        ({"notebooks": []}, "at least one notebook"),
        ({"notebooks": ["nope"]}, "not found"),
        ({"notebooks": ["nbs/a_ok", "nbs/a_ok"]}, "listed twice"),
        ({"notebooks": ["nbs/a_ok"], "period": "day"}, "use week or month"),
        ({"notebooks": ["nbs/a_ok"], "timezone": "Mars/Olympus"}, "unknown time ?zone"),
        ({"notebooks": ["nbs/a_ok"], "suite": "../x"}, "suite name"),
    ],
)
def test_bad_parameters_files_are_refused(tmp_path, spec, message):
    write_notebook(tmp_path / "nbs" / "a_ok.ipynb", "1")
    params = write_suite(tmp_path / "p.yaml", **spec)
    with pytest.raises(SuiteError, match=message):
        load_suite(params)
    res = runner.run_suite(params, reports_dir=tmp_path / "r", quiet=True)
    assert res.exit_code == runner.EXIT_UNUSABLE


def test_only_names_must_exist(tmp_path, tiny_wh):
    params = tiny_suite(tmp_path)
    res = run(params, tmp_path, tiny_wh, only=["zz"])
    assert res.exit_code == runner.EXIT_UNUSABLE and "no notebook 'zz'" in res.message


def test_kernel_falls_back_to_this_interpreter():
    name, fallback = runner.choose_kernel("no-such-kernel-zz")
    assert (name, fallback) == ("python3", True)


def test_replace_dir_swaps_atomically(tmp_path):
    final, tmp = tmp_path / "2026-08-24", tmp_path / ".tmp-x"
    tmp.mkdir()
    (tmp / "new.txt").write_text("new")
    runner.replace_dir(tmp, final)
    assert (final / "new.txt").exists() and not tmp.exists()
    tmp.mkdir()
    (tmp / "newer.txt").write_text("newer")
    runner.replace_dir(tmp, final)
    assert sorted(os.listdir(final)) == ["newer.txt"] and not tmp.exists()


def test_helper_params_lift_notebook_parameters(tmp_path):
    params = tiny_suite(
        tmp_path,
        parameters={"filters": {"country": "ID"}, "thresholds": {"alerts": [{"name": "x"}]}},
        email={"to": ["a@example.com"]},
    )
    hp = runner.helper_params(load_suite(params))
    assert hp["suite"] == "tiny" and hp["filters"] == {"country": "ID"}
    assert hp["alerts"] == [{"name": "x"}] and hp["email"]["to"] == ["a@example.com"]
    assert hp["period"] == "week" and hp["timezone"]


def test_kernel_shutdown_sends_no_interrupt(tmp_path):
    """jupyter_client interrupts a kernel before asking it to shut down; a kernel inside
    a message handler then logs "KeyboardInterrupt caught in kernel" on the run's console.
    Our manager shuts down with the request alone; interrupting still works otherwise."""
    import asyncio
    import signal

    name, _ = runner.choose_kernel("python3")
    km = runner._kernel_manager_class(tmp_path)(kernel_name=name)
    signals: list[int] = []

    async def scenario() -> None:
        await km.start_kernel()
        send = km.provisioner.send_signal

        async def spy(signum: int) -> None:
            signals.append(signum)
            await send(signum)

        km.provisioner.send_signal = spy
        await km.interrupt_kernel()  # an interrupt asked for is still sent
        assert signals == [signal.SIGINT]
        await km.shutdown_kernel()
        assert not await km.is_alive()

    asyncio.run(scenario())
    assert signals == [signal.SIGINT]  # none from the shutdown
