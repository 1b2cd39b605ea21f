"""Bad settings get one clear line naming the setting, exit code 2, never a traceback or
a silent wrong answer: a time-zone typo under ``schedule:``, an e-mail subject with an
unknown field, a filter with an unknown operator, a ``targets:`` file that does not
exist, ``ZANTARA_MEMORY_LIMIT=lots``."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from tests.reporting.test_email import PARAMS, digest_dir, run_dir  # noqa: F401 - fixtures
from tests.reporting.test_runner import tiny_suite, tiny_wh  # noqa: F401 - fixture
from zantara_nb import Warehouse, cli
from zantara_nb.config import SettingError
from zantara_nb.metrics.targets import load_targets
from zantara_nb.reporting.suite import SuiteError, load_suite

ROOT = Path(__file__).resolve().parents[2]


def _one_error_line(err: str) -> str:
    assert "Traceback" not in err, err
    lines = [ln for ln in err.strip().splitlines() if ln.strip()]
    assert len(lines) == 1, err
    assert lines[0].startswith("error: ")
    return lines[0]


def _with(path: Path, **changes) -> Path:
    spec = yaml.safe_load(path.read_text())
    for k, v in changes.items():
        if isinstance(v, dict) and isinstance(spec.get(k), dict):
            spec[k] = {**spec[k], **v}
        else:
            spec[k] = v
    path.write_text(yaml.safe_dump(spec, sort_keys=False))
    return path


def test_schedule_time_zone_typo(tmp_path, capsys):
    params = _with(tiny_suite(tmp_path), schedule={"cron": "0 7 * * 1", "timezone": "Asia/Jakata"})
    assert cli.main(["schedule", str(params), "--list"]) == 2
    line = _one_error_line(capsys.readouterr().err)
    assert "schedule.timezone" in line and "'Asia/Jakata'" in line
    assert "did you mean: Asia/Jakarta" in line


def test_suite_time_zone_typo(tmp_path, tiny_wh, capsys):  # noqa: F811
    params = _with(tiny_suite(tmp_path), timezone="Asia/Jakata")
    code = cli.main(["run", str(params), "--no-email", "--reports-dir", str(tmp_path / "r"),
                     "--warehouse", str(tiny_wh)])  # fmt: skip
    assert code == 2
    err = capsys.readouterr().err
    assert "Traceback" not in err
    assert "timezone: unknown time zone 'Asia/Jakata' (did you mean: Asia/Jakarta" in err


def test_subject_with_an_unknown_field_is_refused(tmp_path, run_dir, capsys):  # noqa: F811
    params = tmp_path / "p.yaml"
    params.write_text(
        yaml.safe_dump({**PARAMS, "email": {**PARAMS["email"], "subject": "{title.nope}"}})
    )
    code = cli.main(
        ["email", str(run_dir), "--params", str(params), "--save", str(tmp_path / "m.eml")]
    )
    assert code == 2
    line = _one_error_line(capsys.readouterr().err)
    assert "email.subject" in line and "unknown field {title.nope}" in line
    assert "{title}" in line  # the fields it may use
    assert not (tmp_path / "m.eml").exists()


def test_run_refuses_a_bad_subject_up_front(tmp_path, tiny_wh, capsys):  # noqa: F811
    params = _with(tiny_suite(tmp_path), email={"to": ["a@example.com"], "subject": "{titel}"})
    with pytest.raises(SuiteError, match=r"email.subject '\{titel\}': unknown field"):
        load_suite(params)
    code = cli.main(["run", str(params), "--no-email", "--reports-dir", str(tmp_path / "r"),
                     "--warehouse", str(tiny_wh)])  # fmt: skip
    assert code == 2
    assert not (tmp_path / "r" / "tiny").exists() or not any((tmp_path / "r" / "tiny").iterdir())


@pytest.mark.parametrize(
    "filters",
    [{"country": {"~": "ID"}}, {"country": {"like": "I%"}}, {"plan": {"in": "pro"}}],
    ids=["symbol", "word", "in-without-list"],
)
def test_filter_with_an_unknown_operator_is_refused(tmp_path, tiny_wh, filters, capsys):  # noqa: F811
    params = _with(tiny_suite(tmp_path), parameters={"filters": filters})
    code = cli.main(["run", str(params), "--no-email", "--reports-dir", str(tmp_path / "r"),
                     "--warehouse", str(tiny_wh)])  # fmt: skip
    assert code == 2
    err = capsys.readouterr().err
    assert "Traceback" not in err
    key = next(iter(filters))
    assert f"parameters: filter '{key}'" in err


def test_filter_with_an_unknown_operator_raises_in_a_metric(tmp_path):
    import zantara_nb as z

    with Warehouse(tmp_path / "w.duckdb") as wh:
        with pytest.raises(ValueError, match=r"filter 'country': unknown operator '~'"):
            z.dau(wh, start="2026-01-01", end="2026-01-08", filters={"country": ("~", "ID")})
        # the YAML spelling of a tuple works in metrics too
        df = z.dau(wh, start="2026-01-01", end="2026-01-08", filters={"country": {"!=": "ID"}}).df
        assert len(df) == 7


def test_targets_file_that_does_not_exist(tmp_path, tiny_wh, capsys):  # noqa: F811
    params = _with(tiny_suite(tmp_path), parameters={"targets": "no-such-targets.yaml"})
    code = cli.main(["run", str(params), "--no-email", "--reports-dir", str(tmp_path / "r"),
                     "--warehouse", str(tiny_wh)])  # fmt: skip
    assert code == 2
    err = capsys.readouterr().err
    assert "targets: " in err and "no-such-targets.yaml: no such file" in err
    with pytest.raises(SettingError, match="targets: .*nope.yaml: no such file"):
        load_targets(tmp_path / "nope.yaml")
    assert load_targets(None) is not None  # the default file still optional


@pytest.mark.parametrize("command", [["status"], ["ingest", "x.jsonl"]])
def test_memory_limit_lots(tiny_wh, command):  # noqa: F811
    env = {k: v for k, v in __import__("os").environ.items() if not k.startswith("ZANTARA_")}
    env["ZANTARA_MEMORY_LIMIT"] = "lots"
    p = subprocess.run(
        [sys.executable, "-m", "zantara_nb.cli", *command, "--warehouse", str(tiny_wh)],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert p.returncode == 2
    line = _one_error_line(p.stderr)
    assert line.startswith("error: ZANTARA_MEMORY_LIMIT='lots': not a memory size")


def test_memory_limit_lots_in_a_run(tmp_path, tiny_wh, monkeypatch, capsys):  # noqa: F811
    monkeypatch.setenv("ZANTARA_MEMORY_LIMIT", "lots")
    code = cli.main(["run", str(tiny_suite(tmp_path)), "--no-email", "--reports-dir",
                     str(tmp_path / "r"), "--warehouse", str(tiny_wh)])  # fmt: skip
    assert code == 2
    err = capsys.readouterr().err
    assert "Traceback" not in err and "ZANTARA_MEMORY_LIMIT='lots'" in err
