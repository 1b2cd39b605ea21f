"""A delete cut short leaves all or nothing: a killed process (SIGKILL in the middle of
the transaction, a real subprocess) and an injected failure."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))

from gdprkit import build, table_counts  # noqa: E402

from zantara_nb.gdpr import delete_person  # noqa: E402
from zantara_nb.warehouse import Warehouse  # noqa: E402

ROOT = Path(__file__).resolve().parents[2]


def _delete_in_subprocess(w: Path, crash_at: str) -> subprocess.CompletedProcess:
    env = dict(os.environ, ZANTARA_TEST_CRASH_AT=crash_at, PYTHONPATH=str(ROOT))
    return subprocess.run(
        [sys.executable, "-m", "zantara_nb.cli", "gdpr", "delete", "u1", "-w", str(w)],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        cwd=str(ROOT),
    )


@pytest.mark.parametrize("where", ["after_events", "before_commit"])
def test_killed_delete_leaves_everything(tmp_path, where):
    w = tmp_path / "w.duckdb"
    with Warehouse(w) as wh:
        build(wh, tmp_path)
        before = table_counts(wh)
    proc = _delete_in_subprocess(w, f"gdpr:{where}")
    assert proc.returncode == -signal.SIGKILL, proc.stderr
    with Warehouse(w) as wh:
        after = table_counts(wh)
        assert {t: n for t, n in after.items() if not t.startswith("gdpr_")} == before
        assert after.get("gdpr_audit", 0) == 0 and after.get("gdpr_suppression", 0) == 0
        # and the request can simply be made again
        res = delete_person(wh, "u1", reports_dir=None)
        assert res.rows["events"] == 7
        assert wh.scalar("SELECT count(*) FROM events WHERE person_id = 'u1'") == 0


def test_completed_subprocess_delete(tmp_path):
    w = tmp_path / "w.duckdb"
    with Warehouse(w) as wh:
        build(wh, tmp_path)
    proc = _delete_in_subprocess(w, "")
    assert proc.returncode == 0, proc.stderr
    assert "deleted 15 rows" in proc.stdout
    with Warehouse(w) as wh:
        assert wh.scalar("SELECT count(*) FROM events WHERE person_id = 'u1'") == 0
        assert wh.scalar("SELECT count(*) FROM gdpr_audit") == 1


def test_injected_failure_rolls_back(tmp_path, monkeypatch):
    with Warehouse(tmp_path / "w.duckdb") as wh:
        build(wh, tmp_path)
        before = table_counts(wh)
        monkeypatch.setenv("ZANTARA_TEST_CRASH_AT", "gdpr-raise:after_events")
        with pytest.raises(RuntimeError, match="injected"):
            delete_person(wh, "u1", reports_dir=None)
        after = table_counts(wh)
        assert {t: n for t, n in after.items() if not t.startswith("gdpr_")} == before
        assert after["gdpr_audit"] == 0 and after["gdpr_suppression"] == 0
