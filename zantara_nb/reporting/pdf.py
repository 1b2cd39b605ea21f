"""A PDF of a reader report, made with WeasyPrint (pip; it uses the system's Pango).

:func:`notebook_pdf` takes an executed notebook and prints what the reader page shows
(:func:`zantara_nb.reporting.render.reader_notebook`: the outputs and the markdown, no
code, no stderr, no SQL blocks) on A4 pages with a print stylesheet:

- tables take the text width and wrap their cells, and a row never splits across pages,
  so nothing is cut at the page edge;
- images are scaled down to the text width, never up; charts drawn at 200 dpi stay sharp;
- headings stay with what follows; the footer carries the title and "page n of m";
- the fonts are the DejaVu files that ship inside matplotlib (a pip package), so the PDF
  looks the same on a machine without system fonts.

WeasyPrint works offline (:func:`local_only` refuses every URL that is not ``data:`` or
``file:``): no browser, no network (nbconvert's ``webpdf`` needs a Chromium
download; see ``docs/investor-roi.md``).
"""

from __future__ import annotations

import html
from pathlib import Path

import nbformat

PRINT_CSS = """
@font-face { font-family: "Report Sans"; src: url("{regular}"); }
@font-face { font-family: "Report Sans"; font-weight: bold; src: url("{bold}"); }
@page {
  size: A4;
  margin: 15mm 13mm 17mm 13mm;
  @bottom-left { content: "{footer}"; font-family: "Report Sans"; font-size: 7.5pt;
                 color: #777; }
  @bottom-right { content: "page " counter(page) " of " counter(pages);
                  font-family: "Report Sans"; font-size: 7.5pt; color: #777; }
}
html { font-family: "Report Sans", sans-serif; font-size: 9.2pt; color: #222;
       line-height: 1.35; }
body { margin: 0; }
h1 { font-size: 16pt; margin: 0 0 2pt; }
h2 { font-size: 12.5pt; margin: 12pt 0 4pt; break-after: avoid; }
h3 { font-size: 10.5pt; margin: 9pt 0 3pt; break-after: avoid; }
p { margin: 3pt 0 5pt; orphans: 3; widows: 3; }
img { max-width: 100%; height: auto; display: block; margin: 4pt 0; break-inside: avoid; }
table { width: 100% !important; max-width: 100%; border-collapse: collapse; table-layout: fixed !important;
        font-size: 7.6pt !important; }
table.cards { font-size: 9pt !important; }
thead { display: table-header-group; }
tr, td, th { break-inside: avoid; }
td, th { overflow-wrap: anywhere; hyphens: manual; white-space: normal !important; }
a.anchor-link { display: none; }
a { color: #2F5D8A; text-decoration: none; }
pre { white-space: pre-wrap; overflow-wrap: anywhere; font-size: 7.5pt; }
.output { break-inside: auto; }
.output.text { break-after: avoid; }
.error { border-left: 4px solid #B8434F; background: #FBEAEA; padding: 4pt 6pt; }
"""


def _fonts() -> tuple[str, str]:
    """file:// URLs of DejaVu Sans regular and bold shipped with matplotlib."""
    import matplotlib

    ttf = Path(matplotlib.get_data_path()) / "fonts" / "ttf"
    return (ttf / "DejaVuSans.ttf").as_uri(), (ttf / "DejaVuSans-Bold.ttf").as_uri()


def _css_string(text: str) -> str:
    return text.replace("\\", "\\\\").replace('"', '\\"').replace("\n", " ")


def print_css(footer: str) -> str:
    """The print stylesheet with the footer text and the bundled fonts."""
    regular, bold = _fonts()
    return (
        PRINT_CSS.replace("{regular}", regular)
        .replace("{bold}", bold)
        .replace("{footer}", _css_string(footer))
    )


def _output_html(out: dict) -> str:
    """One notebook output as HTML, as the reader page shows it."""
    from nbconvert.filters.markdown import markdown2html

    kind = out.get("output_type")
    if kind == "error":
        return (
            f"<div class='error'><b>{html.escape(str(out.get('ename', 'Error')))}</b>: "
            f"{html.escape(str(out.get('evalue', '')))}</div>"
        )
    if kind == "stream":
        if out.get("name") == "stderr":
            return ""
        return f"<pre>{html.escape(''.join(out.get('text', '')))}</pre>"
    data = out.get("data") or {}
    if "text/html" in data:
        v = data["text/html"]
        return "".join(v) if isinstance(v, list) else str(v)
    if "text/markdown" in data:
        v = data["text/markdown"]
        return markdown2html("".join(v) if isinstance(v, list) else str(v))
    if "image/png" in data:
        v = data["image/png"]
        b64 = ("".join(v) if isinstance(v, list) else str(v)).replace("\n", "")
        return f'<img src="data:image/png;base64,{b64}" alt="chart">'
    if "text/plain" in data:
        v = data["text/plain"]
        return f"<pre>{html.escape(''.join(v) if isinstance(v, list) else str(v))}</pre>"
    return ""


def notebook_html(nb: nbformat.NotebookNode, *, title: str, footer: str | None = None) -> str:
    """The printable HTML of an executed notebook: the reader view's outputs, markdown
    rendered."""
    from .render import reader_notebook

    parts = []
    for cell in reader_notebook(nb).cells:
        for out in cell.get("outputs", []):
            h = _output_html(out)
            if h:
                # a markdown cell (a heading and its lead-in) stays with what follows
                kind = "output text" if "text/markdown" in (out.get("data") or {}) else "output"
                parts.append(f"<div class='{kind}'>{h}</div>")
    css = print_css(footer or title)
    return (
        "<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'>"
        f"<title>{html.escape(title)}</title><style>{css}</style></head>"
        f"<body>{''.join(parts)}</body></html>"
    )


#: The only URL schemes the PDF reads (inline images, the bundled fonts).
LOCAL_SCHEMES = frozenset({"data", "file"})


def local_only():
    """WeasyPrint's URL fetcher for ``data:`` and ``file:`` URLs only: making a PDF
    never reaches the network (any other URL is refused and left out)."""
    from weasyprint import URLFetcher

    return URLFetcher(allowed_protocols=LOCAL_SCHEMES)


def html_pdf(page: str, pdf_path: str | Path) -> Path:
    """Write the PDF of an HTML string (WeasyPrint, :func:`local_only` fetches)."""
    from weasyprint import HTML

    out = Path(pdf_path)
    out.parent.mkdir(parents=True, exist_ok=True)
    HTML(string=page, base_url=str(out.parent), url_fetcher=local_only()).write_pdf(str(out))
    return out


def notebook_pdf(
    nb_path: str | Path, pdf_path: str | Path, *, title: str, footer: str | None = None
) -> Path:
    """Write a PDF of the reader view of an executed notebook and return its path."""
    nb = nbformat.read(str(nb_path), as_version=4)
    return html_pdf(notebook_html(nb, title=title, footer=footer), pdf_path)
