"""The weekly report on a chdb warehouse gives the same digest and pages as on DuckDB.

The small demo (loaded on DuckDB by the real loader) is copied table by table into a chdb
data directory, and the same suite of the real notebooks runs on both: ``digest.json``
must agree number for number (floats to 1e-9: the engines sum in different orders) and
the reader pages must say the same words. The chdb run happens in a child process, as a
scheduler would start it: chdb keeps one embedded server per process, and the pytest
worker may hold another.
"""

from __future__ import annotations

import html
import importlib.util
import json
import math
import re
import subprocess
import sys
from datetime import datetime
from pathlib import Path

import pytest
import yaml

from tests.demo_cache import AS_OF, small_demo
from zantara_nb import cli
from zantara_nb.reporting import runner
from zantara_nb.warehouse.engines import absolute_address, one_process_at_a_time

ROOT = Path(__file__).resolve().parents[2]
NOTEBOOKS = ["01_metrics_overview", "02_funnels", "03_cohorts_retention", "04_query_patterns"]

needs_chdb = pytest.mark.skipif(
    importlib.util.find_spec("chdb") is None, reason="the clickhouse extra is not installed"
)

CHILD = """
import sys
from zantara_nb import Warehouse, cli
from tests.enginekit import copy_warehouse

src, dst, params, reports = sys.argv[1:5]
with Warehouse(src, engine="duckdb", read_only=True) as a, Warehouse("chdb:" + dst) as b:
    copy_warehouse(a, b)
sys.exit(cli.main(["run", params, "--as-of", sys.argv[5], "--no-email", "--no-progress",
                   "--reports-dir", reports, "--warehouse", "chdb:" + dst]))
"""


def differences(a, b, path="$"):
    """Where two JSON documents differ (floats compared to a relative 1e-9)."""
    if isinstance(a, dict) and isinstance(b, dict):
        for k in sorted(set(a) | set(b)):
            if k not in a or k not in b:
                yield f"{path}.{k}: only on one side"
            else:
                yield from differences(a[k], b[k], f"{path}.{k}")
    elif isinstance(a, list) and isinstance(b, list):
        if len(a) != len(b):
            yield f"{path}: {len(a)} vs {len(b)} items"
        for i, (x, y) in enumerate(zip(a, b, strict=False)):
            yield from differences(x, y, f"{path}[{i}]")
    elif isinstance(a, float) or isinstance(b, float):
        numbers = all(isinstance(v, int | float) for v in (a, b))
        if not (numbers and math.isclose(a, b, rel_tol=1e-9, abs_tol=1e-12)):
            yield f"{path}: {a!r} vs {b!r}"
    elif a != b:
        yield f"{path}: {a!r} vs {b!r}"


def words(page: Path) -> list[str]:
    """The visible words of a page (no styles, scripts, images or tags)."""
    s = page.read_text()
    s = re.sub(r"<(script|style)[^>]*>.*?</\1>", " ", s, flags=re.S)
    s = re.sub(r"<[^>]+>", " ", s)
    return html.unescape(s).split()


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    """The same weekly suite run on the small demo, on DuckDB and on a chdb copy."""
    d = tmp_path_factory.mktemp("chdb-run")
    wh = small_demo(tmp_path_factory)
    params = d / "weekly.yaml"
    params.write_text(
        yaml.safe_dump(
            {
                "suite": "weekly",
                "title": "Engines weekly",
                "period": "week",
                "timezone": "Asia/Jakarta",
                "notebooks_dir": str(ROOT / "notebooks"),
                "notebooks": NOTEBOOKS,
                "parameters": {"filters": {}, "thresholds": {}},
                "email": {"to": [], "failure_to": []},
            },
            sort_keys=False,
        )
    )
    common = ["run", str(params), "--as-of", AS_OF, "--no-email", "--no-progress"]
    duck = cli.main([*common, "--reports-dir", str(d / "duckdb"), "--warehouse", str(wh)])
    child = subprocess.run(
        [
            sys.executable,
            "-c",
            CHILD,
            str(wh),
            str(d / "w.chdb"),
            str(params),
            str(d / "chdb"),
            AS_OF,
        ],  # fmt: skip
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=600,
    )
    return {
        "duckdb": (duck, d / "duckdb" / "weekly" / AS_OF),
        "chdb": (child.returncode, d / "chdb" / "weekly" / AS_OF),
        "child": child,
        "chdb_dir": d / "w.chdb",
    }


@needs_chdb
def test_both_runs_succeed(runs):
    child = runs["child"]
    assert runs["duckdb"][0] == runner.EXIT_OK
    assert runs["chdb"][0] == runner.EXIT_OK, child.stdout[-3000:] + child.stderr[-3000:]
    m = json.loads((runs["chdb"][1] / "manifest.json").read_text())
    assert [nb["status"] for nb in m["notebooks"]] == ["ok"] * len(NOTEBOOKS)
    assert m["digest"]["status"] == "ok"
    # the kernels were handed the chdb address, not a mangled path
    address = f"chdb:{runs['chdb_dir'].resolve()}"
    assert {nb["parameters"]["warehouse"] for nb in m["notebooks"]} == {address}
    assert m["data"]["warehouse"] == address
    # one process at a time: each notebook started after the one before it had ended
    # (start times are to the second)
    spans = sorted(
        (datetime.fromisoformat(nb["started_at"]).timestamp(), nb["duration_s"])
        for nb in m["notebooks"]
    )
    for (t0, took), (t1, _) in zip(spans, spans[1:], strict=False):
        assert t1 >= t0 + took - 1.0


@needs_chdb
def test_digest_is_the_same_on_both_engines(runs):
    duck = json.loads((runs["duckdb"][1] / "digest.json").read_text())
    ch = json.loads((runs["chdb"][1] / "digest.json").read_text())
    assert duck["kpis"], "the digest has numbers to compare"
    assert list(differences(duck, ch)) == []
    a = json.loads((runs["duckdb"][1] / "manifest.json").read_text())["data"]["row_counts"]
    b = json.loads((runs["chdb"][1] / "manifest.json").read_text())["data"]["row_counts"]
    assert a == b


@needs_chdb
@pytest.mark.parametrize("name", NOTEBOOKS)
def test_reader_pages_say_the_same(runs, name):
    duck = words(runs["duckdb"][1] / f"{name}.html")
    ch = words(runs["chdb"][1] / f"{name}.html")
    assert len(duck) > 200
    assert ch == duck


def test_addresses_handed_to_other_processes(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("ZANTARA_ENGINE", raising=False)
    assert absolute_address("w.duckdb") == str(tmp_path / "w.duckdb")
    assert absolute_address("duckdb:w.duckdb") == str(tmp_path / "w.duckdb")
    assert absolute_address("chdb:data/w.chdb") == f"chdb:{tmp_path / 'data' / 'w.chdb'}"
    url = "clickhouse://analyst@ch.example:8123/zantara"
    assert absolute_address(url) == url
    monkeypatch.setenv("ZANTARA_WAREHOUSE", "chdb:x")
    assert absolute_address(None) == f"chdb:{tmp_path / 'x'}"
    monkeypatch.setenv("ZANTARA_ENGINE", "chdb")
    assert absolute_address("plain") == f"chdb:{tmp_path / 'plain'}"
    assert one_process_at_a_time("plain") and one_process_at_a_time("chdb:x")
    assert not one_process_at_a_time("duckdb:x") and not one_process_at_a_time(url)


def test_demo_never_removes_a_directory_that_is_not_a_chdb_warehouse(tmp_path, capsys):
    keep = tmp_path / "mine"
    keep.mkdir()
    (keep / "notes.txt").write_text("precious")
    code = cli.main(["demo", "--warehouse", f"chdb:{keep}", "--force", "--out", str(tmp_path)])
    assert code == 2
    assert "not a chdb warehouse" in capsys.readouterr().err
    assert (keep / "notes.txt").read_text() == "precious"
