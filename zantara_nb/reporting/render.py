"""Turn executed notebooks into HTML pages, and write the run and report index pages.

Each executed notebook is rendered twice with nbconvert (JupyterLab template):

- **reader** (``<name>.html``): no code, no prompts (``exclude_input``), no stderr
  streams and no SQL blocks; for readers and for the e-mail.
- **analyst** (``<name>.analyst.html``): the whole notebook with code and prompts, and
  under each result table the SQL that produced it (a collapsed block).

Pages are self-contained: nbconvert's JupyterLab template is used without the scripts it
loads from a CDN (require.js, MathJax, Mermaid, widgets; ``templates/nb_page.html.j2``),
its CSS is inlined and charts are data: URIs, so a page opened from an e-mail attachment
or offline makes no external request (:func:`external_references` finds any).

Every page gets a banner at the top (:func:`page_banner`): links back to the run index,
the other variant, and warnings (stale data, the notebook failed). The run index
(``reports/<suite>/<as_of>/index.html``) lists the notebooks with status and duration;
``reports/index.html`` lists every run. Pages are Jinja2 templates in
``zantara_nb/templates/`` with autoescape on, so parameters and data are always escaped.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from functools import lru_cache
from pathlib import Path
from typing import Any

import nbformat

from ..warehouse.sqltrace import SQL_BLOCK_CLASS
from .manifest import iter_manifests

TEMPLATES = Path(__file__).resolve().parent / "templates"
#: nbconvert's JupyterLab page without anything loaded from a network.
PAGE_TEMPLATE = "nb_page.html.j2"
READER_SUFFIX = ".html"
ANALYST_SUFFIX = ".analyst.html"
_BODY = re.compile(r"<body[^>]*>", re.IGNORECASE)
_ANSI = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")
_SQL_BLOCK = re.compile(rf"<details class='{SQL_BLOCK_CLASS}'.*?</details>", re.DOTALL)


@lru_cache(maxsize=1)
def env():
    """The Jinja2 environment of the page templates (autoescape on)."""
    import jinja2

    e = jinja2.Environment(
        loader=jinja2.FileSystemLoader(str(TEMPLATES)),
        autoescape=True,
        trim_blocks=True,
        lstrip_blocks=True,
        undefined=jinja2.ChainableUndefined,
    )
    e.filters["duration"] = fmt_seconds
    return e


def fmt_seconds(s: Any) -> str:
    """``12.3 s``, ``2 min 05 s``; ``—`` when missing."""
    if s is None:
        return "—"
    s = float(s)
    if s < 60:
        return f"{s:.1f} s"
    return f"{int(s // 60)} min {int(s % 60):02d} s"


def strip_ansi(text: str) -> str:
    """Text without terminal colour codes (tracebacks)."""
    return _ANSI.sub("", text)


# -- notebook pages ---------------------------------------------------------------------


@lru_cache(maxsize=2)
def _exporter(reader: bool):
    from nbconvert import HTMLExporter

    # nbconvert's JupyterLab template without its CDN scripts (templates/nb_page.html.j2)
    common = {
        "template_name": "lab",
        "template_file": PAGE_TEMPLATE,
        "extra_template_paths": [str(TEMPLATES)],
    }
    if reader:
        return HTMLExporter(
            **common,
            exclude_input=True,
            exclude_input_prompt=True,
            exclude_output_prompt=True,
        )
    return HTMLExporter(**common)


def reader_notebook(nb: nbformat.NotebookNode) -> nbformat.NotebookNode:
    """A copy for readers: stderr streams, SQL blocks and output-less code cells removed.

    Markdown cells become output-only cells (their text as a markdown output), so the
    page has no input areas at all.
    """
    out = nbformat.from_dict(json.loads(json.dumps(nb)))
    cells = []
    for cell in out.cells:
        if cell.cell_type == "markdown":
            md = nbformat.v4.new_code_cell("")
            md.outputs = [
                nbformat.v4.new_output("display_data", data={"text/markdown": cell.source})
            ]
            md.metadata = cell.get("metadata", {})
            cell = md
        elif cell.cell_type == "code":
            cell.outputs = [
                _without_sql(o)
                for o in cell.get("outputs", [])
                if not (o.get("output_type") == "stream" and o.get("name") == "stderr")
            ]
            if not cell.outputs:
                continue
        cells.append(cell)
    out.cells = cells
    return out


def _without_sql(output: nbformat.NotebookNode) -> nbformat.NotebookNode:
    """An output with the collapsed SQL blocks removed from its HTML (readers see no code)."""
    data = output.get("data") or {}
    page = data.get("text/html")
    if page:
        text = "".join(page) if isinstance(page, list) else page
        data["text/html"] = _SQL_BLOCK.sub("", text)
    return output


def inject_banner(page: str, banner_html: str) -> str:
    """Insert ``banner_html`` right after the ``<body>`` tag."""
    m = _BODY.search(page)
    if m is None:
        return banner_html + page
    return page[: m.end()] + "\n" + banner_html + page[m.end() :]


def page_banner(
    *,
    title: str,
    notebook: str,
    variant: str,
    other_href: str | None,
    index_href: str = "index.html",
    stale: str | None = None,
    error: Mapping[str, Any] | None = None,
) -> str:
    """The banner shown at the top of a notebook page (links, stale and failure notices)."""
    return (
        env()
        .get_template("page_banner.html.j2")
        .render(
            title=title,
            notebook=notebook,
            variant=variant,
            other_href=other_href,
            index_href=index_href,
            stale=stale,
            error=error,
        )
    )


def render_notebook(
    nb_path: str | Path,
    out_dir: str | Path,
    *,
    name: str,
    title: str,
    stale: str | None = None,
    error: Mapping[str, Any] | None = None,
) -> dict[str, str]:
    """Write ``<name>.html`` (reader) and ``<name>.analyst.html`` for an executed notebook.

    Returns ``{"reader": file name, "analyst": file name}`` (relative to ``out_dir``).
    """
    out_dir = Path(out_dir)
    nb = nbformat.read(str(nb_path), as_version=4)
    files = {"reader": f"{name}{READER_SUFFIX}", "analyst": f"{name}{ANALYST_SUFFIX}"}
    for variant, reader in (("reader", True), ("analyst", False)):
        source = reader_notebook(nb) if reader else nb
        body, _ = _exporter(reader).from_notebook_node(
            source, resources={"metadata": {"name": f"{title} · {name}"}}
        )
        other = files["analyst" if reader else "reader"]
        banner = page_banner(
            title=title,
            notebook=name,
            variant=variant,
            other_href=other,
            stale=stale,
            error=error,
        )
        (out_dir / files[variant]).write_text(inject_banner(body, banner), encoding="utf-8")
    return files


def render_error_page(
    out_dir: str | Path,
    *,
    name: str,
    title: str,
    error: Mapping[str, Any],
    stale: str | None = None,
) -> dict[str, str]:
    """Pages for a notebook that produced no output (it could not start, or vanished)."""
    out_dir = Path(out_dir)
    files = {"reader": f"{name}{READER_SUFFIX}", "analyst": f"{name}{ANALYST_SUFFIX}"}
    for variant in ("reader", "analyst"):
        banner = page_banner(
            title=title,
            notebook=name,
            variant=variant,
            other_href=None,
            stale=stale,
            error=error,
        )
        page = (
            env()
            .get_template("notebook_error.html.j2")
            .render(title=title, name=name, banner=banner, error=error, variant=variant)
        )
        (out_dir / files[variant]).write_text(page, encoding="utf-8")
    return files


# -- index pages ------------------------------------------------------------------------


def render_run_index(manifest: Mapping[str, Any], run_dir: str | Path) -> Path:
    """``index.html`` of a run: status, period, data freshness and one row per notebook."""
    path = Path(run_dir) / "index.html"
    page = (
        env().get_template("run_index.html.j2").render(m=manifest, run_dir=Path(run_dir).resolve())
    )
    path.write_text(page, encoding="utf-8")
    return path


def collect_runs(reports_dir: str | Path) -> list[dict[str, Any]]:
    """Every run under ``reports_dir`` (``<suite>/<as_of>/manifest.json``), newest first."""
    root = Path(reports_dir)
    runs = []
    for run_dir, m in iter_manifests(root):
        nbs = m.notebooks or []
        runs.append(
            {
                "suite": m.suite or run_dir.parent.name,
                "title": m.title,
                "as_of": m.as_of or run_dir.name,
                "period_label": m.period_label,
                "status": m.status,
                "stale": m.stale,
                "delivery_status": m.delivery_status,
                "delivery_errors": m.delivery_errors,
                "ok": sum(1 for n in nbs if n.get("status") == "ok"),
                "failed": sum(1 for n in nbs if n.get("status") == "failed"),
                "total": len(nbs),
                "finished_at": m.finished_at,
                "duration_s": (m.timings or {}).get("total_s"),
                "href": f"{run_dir.parent.name}/{run_dir.name}/index.html",
            }
        )
    runs.sort(key=lambda r: (str(r["as_of"]), str(r["finished_at"])), reverse=True)
    return runs


def render_reports_index(reports_dir: str | Path) -> Path:
    """``reports/index.html``: every run of every suite, newest first."""
    root = Path(reports_dir)
    runs = collect_runs(root)
    suites = sorted({r["suite"] for r in runs})
    page = env().get_template("reports_index.html.j2").render(runs=runs, suites=suites)
    path = root / "index.html"
    tmp = root / f".index.html.{id(page)}.tmp"
    tmp.write_text(page, encoding="utf-8")
    tmp.replace(path)
    return path


# -- self-contained pages ------------------------------------------------------------------

#: Attributes that make a browser (or a mail client) fetch what they name.
_FETCHING = {"src", "srcset", "poster", "background", "data", "action", "formaction",
             "manifest", "xlink:href", "ping", "lowsrc", "dynsrc", "codebase", "cite"}  # fmt: skip
_REMOTE = re.compile(r"^\s*(?:[a-z][a-z0-9+.-]*:|//)", re.IGNORECASE)
_LOCAL_SCHEMES = ("data:", "cid:", "mailto:", "javascript:", "about:", "#")
_CSS_URL = re.compile(r"url\(\s*(['\"]?)(.*?)\1\s*\)", re.IGNORECASE | re.DOTALL)
_CSS_IMPORT = re.compile(r"@import\s+(?:url\(\s*)?['\"]?([^'\"\s);]+)", re.IGNORECASE)


def _remote(url: str) -> bool:
    u = url.strip().lower()
    return bool(_REMOTE.match(u)) and not u.startswith(_LOCAL_SCHEMES) and not u.startswith("file:")


def external_references(page: str) -> list[str]:
    """Everything in an HTML page (or e-mail body) that would be fetched from elsewhere:
    ``src``/``srcset``/... of any element, ``href`` of ``<link>``, ``<base>`` and SVG
    ``<use>``/``<image>``, CSS ``url(...)`` and ``@import`` in ``<style>`` and ``style``
    attributes, and a ``<meta http-equiv=refresh>`` target. Links a reader clicks
    (``<a href>``) are not fetches. An empty list means the page is self-contained.
    """
    from html.parser import HTMLParser

    found: list[str] = []

    def css(text: str) -> None:
        for _, url in _CSS_URL.findall(text):
            if _remote(url):
                found.append(f"css url({url.strip()})")
        for url in _CSS_IMPORT.findall(text):
            if _remote(url) or not url.startswith(("data:", "#")):
                found.append(f"css @import {url}")

    class Parser(HTMLParser):
        in_style = False

        def handle_starttag(self, tag, attrs):
            for name, value in attrs:
                if value is None:
                    continue
                name = name.lower()
                if name == "style":
                    css(value)
                elif name in _FETCHING or (
                    name == "href" and tag in {"link", "base", "use", "image"}
                ):
                    urls = (
                        [u.split()[0] for u in value.split(",") if u.strip()]
                        if name == "srcset"
                        else [value]
                    )
                    found.extend(f"<{tag} {name}={u}>" for u in urls if _remote(u))
                elif tag == "meta" and name == "content" and "url=" in value.lower():
                    target = value.lower().split("url=", 1)[1]
                    if _remote(target):
                        found.append(f"<meta refresh {target}>")
            self.in_style = tag == "style"

        def handle_startendtag(self, tag, attrs):
            self.handle_starttag(tag, attrs)
            self.in_style = False

        def handle_endtag(self, tag):
            self.in_style = False

        def handle_data(self, data):
            if self.in_style:
                css(data)

    p = Parser(convert_charrefs=True)
    p.feed(page)
    p.close()
    return found


def stale_message(data: Mapping[str, Any]) -> str | None:
    """The stale-data warning text of a run's ``data`` section, or None when fresh."""
    if not data.get("stale"):
        return None
    newest = data.get("newest_event") or "none"
    hours = data.get("lag_hours")
    limit = data.get("stale_after_hours")
    lag = "" if hours is None else f", {hours:.1f} h before the report cut-off"
    return (
        f"Stale data: the newest event is {newest}{lag} (threshold {limit:g} h). "
        "Numbers near the end of the period are incomplete."
        if limit is not None
        else f"Stale data: the newest event is {newest}{lag}."
    )


def traceback_text(error: Mapping[str, Any] | None) -> str:
    """The traceback of an error entry as plain text."""
    if not error:
        return ""
    tb = error.get("traceback") or []
    if isinstance(tb, str):
        return strip_ansi(tb)
    return strip_ansi("\n".join(str(x) for x in tb))


def notebook_error(nb: nbformat.NotebookNode) -> dict[str, Any] | None:
    """The first error output of an executed notebook (ename, evalue, traceback, cell)."""
    n = 0
    for cell in nb.cells:
        if cell.cell_type != "code":
            continue
        n += 1
        for o in cell.get("outputs", []):
            if o.get("output_type") == "error":
                return {
                    "ename": o.get("ename", "Error"),
                    "evalue": error_text(o.get("evalue", ""))[:2000],
                    "traceback": [error_text(t)[:2000] for t in o.get("traceback", [])][-40:],
                    "cell": n,
                }
    return None


def error_text(text: Any) -> str:
    """An error message or traceback line as the manifest, the pages, the e-mail and the
    log show it: colour codes stripped, personal data from the data redacted, invisible
    characters shown (:func:`zantara_nb.display.text.redact_text`)."""
    from ..display.text import redact_text

    return redact_text(strip_ansi(str(text)))


__all__: Sequence[str] = [
    "collect_runs",
    "error_text",
    "external_references",
    "inject_banner",
    "notebook_error",
    "page_banner",
    "reader_notebook",
    "render_error_page",
    "render_notebook",
    "render_reports_index",
    "render_run_index",
    "stale_message",
]
