"""The report notebooks: committed clean and thin, and each runs on small demo data.

Static checks read ``notebooks/*.ipynb``; the execution test runs every notebook with
papermill against a small demo warehouse (module-scoped), with parameters the weekly
end-to-end run in ``test_runner.py`` does not use (a monthly period, a filter).
"""

from __future__ import annotations

import re
from pathlib import Path

import nbformat
import papermill as pm
import pytest

from tests.demo_cache import AS_OF, small_demo
from zantara_nb.reporting import runner
from zantara_nb.reporting.suite import load_suite

ROOT = Path(__file__).resolve().parents[2]
NOTEBOOKS = sorted((ROOT / "notebooks").glob("*.ipynb"))
REQUIRED = {"as_of", "period", "timezone", "warehouse", "filters", "thresholds"}
MAX_LINES = 15


def test_there_are_report_notebooks():
    names = [p.stem for p in NOTEBOOKS]
    assert {"01_metrics_overview", "02_funnels", "03_cohorts_retention"} <= set(names)


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_notebook_is_committed_clean_and_thin(path):
    nb = nbformat.read(path, as_version=4)
    nbformat.validate(nb)
    code = [c for c in nb.cells if c.cell_type == "code"]
    # A first code cell tagged `parameters` declaring the run's parameters.
    assert "parameters" in code[0].metadata.get("tags", [])
    assert sum("parameters" in c.metadata.get("tags", []) for c in nb.cells) == 1
    assert set(pm.inspect_notebook(str(path))) >= REQUIRED
    for c in code:
        assert c.outputs == [] and c.execution_count is None, "commit without outputs"
        assert len(c.source.splitlines()) <= MAX_LINES, c.source
    source = "\n".join(c.source for c in code)
    assert "report.title(" in source  # a title
    assert "narrative.summarize(" in source  # a summary paragraph from the numbers
    assert "report.setup(" in source


#: Notebooks of the monthly suite only (the investor report; also parameters/investor.yaml).
MONTHLY_ONLY = {"05_roi"}


def test_weekly_suite_lists_every_notebook():
    suite = load_suite(ROOT / "parameters" / "weekly.yaml")
    names = [p.stem for p in NOTEBOOKS]
    assert [nb.name for nb in suite.notebooks] == [n for n in names if n not in MONTHLY_ONLY]
    monthly = load_suite(ROOT / "parameters" / "monthly.yaml")
    assert [nb.name for nb in monthly.notebooks] == names


@pytest.fixture(scope="module")
def demo_wh(tmp_path_factory):
    return small_demo(tmp_path_factory)


CASES = {
    # notebook: parameters beyond as_of/warehouse (the weekly run covers the defaults)
    "01_metrics_overview": {"period": "week", "filters": {"country": "ID"}},
    "02_funnels": {
        "period": "month",
        "breakdowns": ["user_type"],
        "closed_windows": False,
        "funnels": [
            {
                "name": "Signup to paid",
                "steps": [
                    "user_signed_up",
                    {"event": "subscription_started", "filters": {"event:plan": {"!=": "free"}}},
                ],
                "window": "30d",
            }
        ],
    },
    "03_cohorts_retention": {"period": "month", "periods": 3},
    "04_query_patterns": {
        "period": "week",
        "min_feedbacks": 5,
        "experiment_goal": "week2_retention",
    },
}


@pytest.mark.parametrize("name", sorted(CASES))
def test_notebook_runs_on_demo_data(name, demo_wh, tmp_path):
    kernel, _ = runner.choose_kernel("zantara")
    out = tmp_path / f"{name}.ipynb"
    pm.execute_notebook(
        str(ROOT / "notebooks" / f"{name}.ipynb"),
        str(out),
        parameters={"as_of": AS_OF, "warehouse": str(demo_wh), **CASES[name]},
        kernel_name=kernel,
        progress_bar=False,
        kernel_manager_class=runner._kernel_manager_class(tmp_path),
    )
    nb = nbformat.read(out, as_version=4)
    outputs = [o for c in nb.cells if c.cell_type == "code" for o in c.outputs]
    assert not [o for o in outputs if o.output_type == "error"]
    html = "\n".join(o.get("data", {}).get("text/html", "") for o in outputs if "data" in o)
    assert html.count("data:image/png;base64,") >= 2  # charts
    assert "alt=" in html
    assert "<h1" in html  # the title
    assert "border-left:4px solid" in html  # the summary paragraph
    text = re.sub(r"data:image/png;base64,[^\"']+", "", html)
    assert re.search(r"\d\.\d{6,}", text) is None  # formatted numbers, no raw floats
    if name == "01_metrics_overview":
        assert "country = ID" in html  # the filter is shown in the title
        assert "▲" in html or "▼" in html
    if name == "02_funnels":
        assert "Signup to paid" in html and "by user_type" in html
    if name == "03_cohorts_retention":
        assert "Monthly retention" in html or "retention" in html.lower()
