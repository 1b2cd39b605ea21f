"""The investor suite end to end on demo data: notebook, reader page, PDF, e-mail.

Also: the report object on demo data and on an empty warehouse, the investor module's
SQL (plain, no engine functions), privacy of every output, and the suite files.
"""

from __future__ import annotations

import re
import time
from pathlib import Path

import nbformat
import pypdf
import pytest

import zantara_nb as z
from tests.demo_cache import AS_OF, small_demo
from tests.reporting.test_run_email import smtp_server  # noqa: F401  (fixture)
from tests.warehouse.test_dialect_usage import _patterns, sql_strings
from zantara_nb.investor import build_report
from zantara_nb.reporting import runner
from zantara_nb.reporting.suite import load_suite

ROOT = Path(__file__).resolve().parents[2]
EMAIL = re.compile(r"[\w.+-]+@[\w-]+\.[\w.-]+")
IPV4 = re.compile(r"\b\d{1,3}\.\d{1,3}\.\d{1,3}\.(?!0\b)\d{1,3}\b")


@pytest.fixture(scope="module")
def demo_path(tmp_path_factory):
    return small_demo(tmp_path_factory)


def test_report_object_on_demo_data(demo_path):
    with z.Warehouse(demo_path, read_only=True) as wh:
        inv = build_report(wh, as_of=AS_OF)
    assert inv.month.start.isoformat() == "2026-07-01"
    assert inv.roi.net_roi is not None and inv.roi.payback_month is not None
    assert inv.unit_economics.value("ltv_cac") is not None
    text = inv.summary_text()
    assert f"{100 * inv.roi.net_roi:,.0f}%" in text
    html = inv.headline()._repr_html_()
    assert "Net ROI" in html and "LTV:CAC" in html and "Gross margin" in html
    for block in (inv.roi_section(), inv.inputs_section(), inv.seed_section(),
                  inv.unit_economics_section(), inv.realised_section()):  # fmt: skip
        assert "<table" in block._repr_html_()


def test_report_on_an_empty_warehouse_uses_the_assumptions(wh):
    inv = build_report(wh, as_of="2026-12-01")
    assert all(i.source == "assumed (no data)" for i in inv.inputs.baselines.values())
    assert inv.realised is None and inv.unit_economics.value("ltv") is None
    assert "—" in inv.headline()._repr_html_()  # missing, not a made-up 0
    assert inv.roi.net_roi > 0  # the seed's baselines still give the model its inputs


def test_investor_sql_is_plain():
    """The module's few statements use no engine function (the dialect test's scanner, on
    the strings that are SQL: the module's other strings are prose for readers)."""
    pats = _patterns()
    found, statements = [], 0
    for path in sorted((ROOT / "zantara_nb" / "investor").glob("*.py")):
        for line, text in sql_strings(path):
            if not re.search(r"\bSELECT\b", text):
                continue
            statements += 1
            for label, pat in pats:
                if pat.search(text):
                    found.append(f"{path.name}:{line}: {label}")
    assert statements >= 5 and not found


def test_suite_files():
    inv = load_suite(ROOT / "parameters" / "investor.yaml")
    assert [nb.name for nb in inv.notebooks] == ["05_roi"]
    assert inv.period == "month" and inv.schedule.get("cron")
    assert runner.pdf_wanted(inv, "05_roi")
    monthly = load_suite(ROOT / "parameters" / "monthly.yaml")
    assert "05_roi" in [nb.name for nb in monthly.notebooks]
    assert not runner.pdf_wanted(monthly, "05_roi")
    nb = nbformat.read(ROOT / "notebooks" / "05_roi.ipynb", as_version=4)
    code = "\n".join(c.source for c in nb.cells if c.cell_type == "code")
    assert "investor.build_report(" in code and "assumptions = None" in code


def test_investor_suite_end_to_end(tmp_path, demo_path, smtp_server):  # noqa: F811
    params = (ROOT / "parameters" / "investor.yaml").read_text()
    params = params.replace("to: []                      # the investors'",
                            "to: [investors@zantara.example]  # the investors'")  # fmt: skip
    suite_file = tmp_path / "parameters" / "investor.yaml"
    suite_file.parent.mkdir()
    suite_file.write_text(params)
    for name in ("roi.yaml", "targets.yaml"):
        (suite_file.parent / name).write_text((ROOT / "parameters" / name).read_text())
    assert load_suite(suite_file).notebooks[0].path == ROOT / "notebooks" / "05_roi.ipynb"
    t0 = time.monotonic()
    res = runner.run_suite(
        suite_file,
        as_of=AS_OF,
        warehouse=demo_path,
        reports_dir=tmp_path / "reports",
        send_email=True,
        quiet=True,
    )
    seconds = time.monotonic() - t0
    assert res.exit_code == runner.EXIT_OK, res.message
    assert seconds < 30, f"investor suite took {seconds:.1f} s"
    run_dir = res.run_dir
    entry = res.manifest["notebooks"][0]
    assert entry["outputs"]["pdf"] == "05_roi.pdf" and entry["pdf_s"] > 0
    pdf_path = run_dir / "05_roi.pdf"

    # the PDF opens, has pages, and says what the reader page says
    reader = pypdf.PdfReader(str(pdf_path))
    assert 5 <= len(reader.pages) <= 20
    text = "\n".join(p.extract_text() for p in reader.pages)
    for heading in ("The answer in four numbers", "How the return on analytics is made",
                    "Unit economics", "Every input and assumption", "Three scenarios",
                    "What moves the result most", "How sure", "Realised so far",
                    "The seed's worked example, checked"):  # fmt: skip
        assert heading in text, heading
    with z.Warehouse(demo_path, read_only=True) as wh:
        inv = build_report(wh, as_of=AS_OF)
    assert f"{100 * inv.roi.net_roi:,.0f}%" in text  # the headline number
    assert "page 1 of" in text
    assert "import zantara_nb" not in text and "SELECT" not in text  # no code
    # every image is a chart at full resolution (not downscaled in the file)
    widths = [img.image.width for p in reader.pages for img in p.images]
    assert widths and min(widths) >= 1200
    # A4 pages
    box = reader.pages[0].mediabox
    assert float(box.width) == pytest.approx(595.3, abs=1) and float(box.height) == pytest.approx(
        841.9, abs=1
    )

    # the e-mail to the investors carries the reader page and its PDF
    assert len(smtp_server.received) == 1
    rcpts, msg, _ = smtp_server.received[0]
    assert rcpts == ["investors@zantara.example"]
    parts = {p.get_filename(): p.get_content_type() for p in msg.iter_attachments()
             if p.get_filename()}  # fmt: skip
    assert parts.get("05_roi.pdf") == "application/pdf"
    assert parts.get("05_roi.html") == "text/html"
    pdf_part = next(p for p in msg.iter_attachments() if p.get_filename() == "05_roi.pdf")
    assert pdf_part.get_content() == pdf_path.read_bytes()
    # self-contained: the pages, the attached page and the e-mail fetch nothing remote
    from zantara_nb.reporting.render import external_references

    html_parts = [p.get_content() for p in msg.walk() if p.get_content_type() == "text/html"]
    pages = [(run_dir / f).read_text() for f in ("05_roi.html", "05_roi.analyst.html")]
    for blob in html_parts + pages:
        assert external_references(blob) == []

    # privacy: no e-mail address, full IP or raw query text in any output
    page = (run_dir / "05_roi.html").read_text()
    nb = nbformat.read(run_dir / "05_roi.ipynb", as_version=4)
    outputs = "\n".join(str(o) for c in nb.cells if c.cell_type == "code" for o in c.outputs)
    for blob in (text, page, outputs):
        clean = re.sub(r"data:image/png;base64,[A-Za-z0-9+/=]+", "", blob)
        assert not EMAIL.findall(clean)
        assert not IPV4.findall(clean)
        assert "example.invalid" not in clean  # the demo's e-mail domain
    assert "query_text" not in outputs
