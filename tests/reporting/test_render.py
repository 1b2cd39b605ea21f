"""HTML rendering of executed notebooks and the index pages (no kernels: hand-made outputs)."""

from __future__ import annotations

import base64
import json
import re

import nbformat
import pytest

from zantara_nb.reporting import render

PNG = base64.b64encode(
    bytes.fromhex(
        "89504e470d0a1a0a0000000d4948445200000001000000010806000000"
        "1f15c4890000000d49444154789c6360000002000154a24f5d0000000049454e44ae426082"
    )
).decode()


def _executed(error: bool = False) -> nbformat.NotebookNode:
    nb = nbformat.v4.new_notebook()
    params = nbformat.v4.new_code_cell("as_of = None", execution_count=1)
    params.metadata["tags"] = ["parameters"]
    chart = nbformat.v4.new_code_cell("report.chart(x)  # SECRET_CODE_MARKER", execution_count=2)
    chart.outputs = [
        nbformat.v4.new_output("display_data", data={"image/png": PNG, "text/plain": "<Image>"}),
        nbformat.v4.new_output(
            "execute_result",
            data={"text/html": "<table><tr><td>4,403</td></tr></table>"},
            execution_count=2,
        ),
        nbformat.v4.new_output("stream", name="stderr", text="FutureWarning: noisy\n"),
    ]
    cells = [nbformat.v4.new_markdown_cell("## Headline numbers"), params, chart]
    if error:
        bad = nbformat.v4.new_code_cell("1 / 0", execution_count=3)
        bad.outputs = [
            nbformat.v4.new_output(
                "error",
                ename="ZeroDivisionError",
                evalue="division by zero",
                traceback=["\x1b[31mTraceback (most recent call last)\x1b[0m", "ZeroDivisionError"],
            )
        ]
        cells.append(bad)
    nb.cells = cells
    return nb


def _body(page: str) -> str:
    """The page after <body> (the inline CSS mentions every class name)."""
    return page[re.search(r"<body[^>]*>", page).end() :]


@pytest.fixture()
def rendered(tmp_path):
    path = tmp_path / "01_x.ipynb"
    nbformat.write(_executed(), path)
    files = render.render_notebook(
        path, tmp_path, name="01_x", title="Weekly <b>report</b>", stale=None, error=None
    )
    return tmp_path, files


def test_reader_page_has_no_code_prompts_or_stderr(rendered):
    d, files = rendered
    assert files == {"reader": "01_x.html", "analyst": "01_x.analyst.html"}
    body = _body((d / files["reader"]).read_text())
    assert "jp-InputArea" not in body
    assert "jp-InputPrompt" not in body and "jp-OutputPrompt" not in body
    assert "SECRET_CODE_MARKER" not in body
    assert "FutureWarning" not in body  # stderr is for analysts
    assert "data:image/png;base64," in body  # charts are inline
    assert "4,403" in body and "Headline numbers" in body
    assert "Traceback" not in body


def test_analyst_page_has_code_and_links_back(rendered):
    d, files = rendered
    body = _body((d / files["analyst"]).read_text())
    assert "jp-InputArea" in body and "SECRET_CODE_MARKER" in body
    assert 'href="01_x.html"' in body  # the reader version
    assert 'href="index.html"' in body  # the run index
    reader = _body((d / files["reader"]).read_text())
    assert 'href="01_x.analyst.html"' in reader


def test_banner_escapes_the_title(rendered):
    d, files = rendered
    page = (d / files["reader"]).read_text()
    assert "Weekly &lt;b&gt;report&lt;/b&gt;" in page
    assert "Weekly <b>report</b>" not in page


def test_stale_and_error_banners_at_the_top(tmp_path):
    path = tmp_path / "02_y.ipynb"
    nb = _executed(error=True)
    nbformat.write(nb, path)
    err = render.notebook_error(nb)
    assert err["ename"] == "ZeroDivisionError" and err["cell"] == 3
    assert "\x1b" not in "".join(err["traceback"])  # colour codes stripped
    stale = render.stale_message(
        {
            "stale": True,
            "newest_event": "2026-08-20 16:59 UTC",
            "lag_hours": 80.0,
            "stale_after_hours": 36,
        }  # fmt: skip
    )
    files = render.render_notebook(path, tmp_path, name="02_y", title="T", stale=stale, error=err)
    for variant in files.values():
        body = _body((tmp_path / variant).read_text())
        stale_at = body.index("zantara-stale")
        assert stale_at < body.index("jp-Notebook-cell") or "jp-Cell" not in body[:stale_at]
        assert "Stale data" in body and "80.0 h" in body
        assert "This notebook failed in code cell 3" in body
        assert "ZeroDivisionError" in body


def test_error_page_when_there_is_no_output(tmp_path):
    err = {"ename": "NoSuchKernel", "evalue": "No such kernel <zz>", "traceback": ["line 1"]}
    files = render.render_error_page(tmp_path, name="03_z", title="T", error=err, stale=None)
    page = (tmp_path / files["reader"]).read_text()
    assert "NoSuchKernel" in page and "No such kernel &lt;zz&gt;" in page
    assert "<zz>" not in page


def _manifest(suite="weekly", as_of="2026-08-24", status="ok", title="Weekly"):
    return {
        "suite": suite,
        "title": title,
        "status": status,
        "failed": [] if status == "ok" else ["02_y"],
        "as_of": as_of,
        "period_label": "week 2026-08-17 → 2026-08-23",
        "timezone": "Asia/Jakarta",
        "started_at": "2026-08-24T00:00:00+00:00",
        "finished_at": f"{as_of}T00:01:00+00:00",
        "version": "0.1.0",
        "kernel": {"name": "python3", "requested": "zantara", "fallback": True},
        "parameters_file": "parameters/weekly.yaml",
        "data": {
            "warehouse": "w.duckdb",
            "stale": False,
            "newest_event": "x",
            "lag_hours": 1.0,
            "row_counts": {
                "events": 1234567,
                "events_in_period": 1000,
                "persons": 10,
                "quarantine": 0,
            },  # fmt: skip
        },
        "stale_message": None,
        "notebooks": [
            {
                "name": "01_x",
                "status": "ok",
                "duration_s": 3.2,
                "outputs": {"reader": "01_x.html", "analyst": "01_x.analyst.html"},
            },  # fmt: skip
            {
                "name": "02_y",
                "status": "ok" if status == "ok" else "failed",
                "duration_s": 61.0,
                "error": None if status == "ok" else {"ename": "ValueError", "evalue": "<bad>"},
                "outputs": {"reader": "02_y.html", "analyst": "02_y.analyst.html"},
            },
        ],
        "digest": {"status": "ok"},
        "timings": {"total_s": 70.0, "kernel_start_s": 3.0, "execute_s": 60.0, "render_s": 2.0},
    }


def test_run_index_lists_notebooks_with_status_and_escapes(tmp_path):
    m = _manifest(status="failed", title="<script>alert(1)</script>")
    path = render.render_run_index(m, tmp_path)
    page = path.read_text()
    assert "<script>alert(1)</script>" not in page
    assert "&lt;script&gt;" in page
    assert 'href="01_x.html"' in page and 'href="02_y.analyst.html"' in page
    assert "failed" in page and "ValueError: &lt;bad&gt;" in page
    assert "1 min 01 s" in page  # duration of 02_y
    assert "1,234,567" in page


def test_reports_index_lists_every_run_newest_first(tmp_path):
    for suite, as_of, status in [
        ("weekly", "2026-08-17", "ok"),
        ("weekly", "2026-08-24", "failed"),
        ("monthly", "2026-08-01", "ok"),
    ]:
        d = tmp_path / suite / as_of
        d.mkdir(parents=True)
        (d / "manifest.json").write_text(json.dumps(_manifest(suite, as_of, status)))
    (tmp_path / "weekly" / ".tmp-2026-08-31-1").mkdir()  # a run in progress: not listed
    page = render.render_reports_index(tmp_path).read_text()
    hrefs = re.findall(r'href="([^"]+/index.html)"', page)
    assert hrefs == [
        "weekly/2026-08-24/index.html",
        "weekly/2026-08-17/index.html",
        "monthly/2026-08-01/index.html",
    ]
    assert "1 failed" in page


def test_reports_index_without_runs(tmp_path):
    page = render.render_reports_index(tmp_path).read_text()
    assert "No runs yet" in page


def test_sql_blocks_on_the_analyst_page_only(tmp_path):
    """A result's SQL (a collapsed block under its table) is for analysts: readers see none."""
    from zantara_nb.warehouse.sqltrace import sql_details_html

    nb = _executed()
    block = sql_details_html(["SELECT count(*) FROM events WHERE event = 'x<y'"])
    nb.cells[-1].outputs[1]["data"]["text/html"] = "<table><tr><td>4,403</td></tr></table>" + block
    path = tmp_path / "01_x.ipynb"
    nbformat.write(nb, path)
    files = render.render_notebook(path, tmp_path, name="01_x", title="W", stale=None, error=None)
    reader = _body((tmp_path / files["reader"]).read_text())
    analyst = _body((tmp_path / files["analyst"]).read_text())
    assert "4,403" in reader and "4,403" in analyst
    assert "SELECT count(*)" not in reader and "zantara-sql" not in reader
    assert "zantara-sql" in analyst
    assert "SELECT count(*) FROM events WHERE event =" in analyst
    assert "x&lt;y" in analyst and "x<y" not in analyst  # escaped, never markup


def test_pages_make_no_external_request(rendered, tmp_path):
    d, files = rendered
    for f in files.values():
        page = (d / f).read_text()
        assert render.external_references(page) == [], f
        assert "<script src" not in page  # no require.js, MathJax, Mermaid from a CDN
    render.render_run_index(_manifest(status="failed"), tmp_path)
    render.render_reports_index(tmp_path)
    for page in (tmp_path / "index.html",):
        assert render.external_references(page.read_text()) == []


def test_external_references_finds_every_kind_of_fetch():
    page = (
        '<html><head><script src="https://cdn.example/require.js"></script>'
        '<link rel=stylesheet href="//fonts.example/x.css"><style>@import url("https://a/b.css");'
        " body{background:url(http://x/y.png)} .ok{background:url(data:image/png;base64,AA)}"
        "</style></head><body><img srcset='a.png 1x, https://x/b.png 2x'>"
        '<a href="https://reports.example/">a link is not a fetch</a>'
        "<div style=\"background-image:url('https://t/p.gif')\"></div><img src='cid:abc'>"
        "<meta http-equiv=refresh content='0;url=https://x'></body></html>"
    )
    found = render.external_references(page)
    assert found == [
        "<script src=https://cdn.example/require.js>",
        "<link href=//fonts.example/x.css>",
        "css url(https://a/b.css)",
        "css url(http://x/y.png)",
        "css @import https://a/b.css",
        "<img srcset=https://x/b.png>",
        "css url(https://t/p.gif)",
        "<meta refresh https://x>",
    ]


def test_pdf_fetches_nothing_from_a_network():
    from zantara_nb.reporting.pdf import local_only

    fetcher = local_only()
    for url in ("https://cdn.example/font.woff", "http://x.example/a.png", "ftp://x/y"):
        with pytest.raises(ValueError, match="disallowed protocol"):
            fetcher.fetch(url)
    assert fetcher.fetch("data:text/plain;base64,aGk=") is not None


def test_error_text_redacts_personal_data_from_the_data():
    nb = _executed(error=True)
    bad = nb.cells[-1].outputs[0]
    bad["evalue"] = "no category 'ana@example.com' from 203.0.113.9 \u202e"
    bad["traceback"] = ["\x1b[31mKeyError\x1b[0m: 'ana@example.com'"]
    err = render.notebook_error(nb)
    assert err["evalue"] == "no category '[email]' from [ip] \ufffd"
    assert err["traceback"] == ["KeyError: '[email]'"]
