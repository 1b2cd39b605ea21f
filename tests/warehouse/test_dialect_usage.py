"""Metric SQL is built from the dialect's primitives: no engine function named inline.

Every SQL string in the metric and insight modules (and the scope) is scanned for the
function names and syntax each registered dialect declares as its own
(``Dialect.ENGINE_FUNCTIONS`` / ``ENGINE_SYNTAX``). Docstrings and comments are prose and
are not scanned. A module named ``<metric>_<engine>.py`` is one engine's implementation
of a genuinely engine-specific technique (the funnel's step search) and is exempt, as
are the dialect modules themselves.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

from zantara_nb.warehouse.dialects import Dialect, DuckDBDialect
from zantara_nb.warehouse.dialects.clickhouse import ClickHouseDialect

PKG = Path(__file__).resolve().parents[2] / "zantara_nb"
DIALECTS: list[type[Dialect]] = [DuckDBDialect, ClickHouseDialect]
ENGINES = {d.name for d in DIALECTS}
SCANNED = [
    *sorted((PKG / "metrics").glob("*.py")),
    *sorted((PKG / "insights").glob("*.py")),
    PKG / "warehouse" / "scope.py",
    PKG / "warehouse" / "privacy.py",
    PKG / "warehouse" / "identity.py",
]


def _patterns() -> list[tuple[str, re.Pattern]]:
    out = []
    for d in DIALECTS:
        for fn in sorted(d.ENGINE_FUNCTIONS):
            out.append((f"{d.name}: {fn}()", re.compile(rf"(?<![\w.]){re.escape(fn)}\s*\(", re.I)))
        for syn in d.ENGINE_SYNTAX:
            out.append((f"{d.name}: {syn}", re.compile(syn)))  # SQL keywords: upper case
    return out


def _docstring_ids(tree: ast.AST) -> set[int]:
    ids = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Module | ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef):
            body = node.body
            if body and isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant):
                ids.add(id(body[0].value))
        # attribute docstrings (#: comments are not nodes; a bare string after an assignment is)
        for field in ("body", "orelse"):
            stmts = getattr(node, field, None)
            if not isinstance(stmts, list):
                continue
            for a, b in zip(stmts, stmts[1:], strict=False):
                if (
                    isinstance(a, ast.Assign | ast.AnnAssign)
                    and isinstance(b, ast.Expr)
                    and isinstance(b.value, ast.Constant)
                    and isinstance(b.value.value, str)
                ):
                    ids.add(id(b.value))
    return ids


def sql_strings(path: Path) -> list[tuple[int, str]]:
    """(line, text) of every string literal that is not a docstring (f-string parts joined)."""
    tree = ast.parse(path.read_text(), str(path))
    skip = _docstring_ids(tree)
    out = []
    for node in ast.walk(tree):
        if isinstance(node, ast.JoinedStr):
            parts = [v.value if isinstance(v, ast.Constant) else "{}" for v in node.values]
            out.append((node.lineno, "".join(str(p) for p in parts)))
            for v in node.values:
                skip.add(id(v))
    for node in ast.walk(tree):
        if isinstance(node, ast.Constant) and isinstance(node.value, str) and id(node) not in skip:
            out.append((node.lineno, node.value))
    return out


def exempt(path: Path) -> bool:
    return any(path.stem.endswith(f"_{e}") for e in ENGINES)


@pytest.mark.parametrize("path", [p for p in SCANNED if not exempt(p)], ids=lambda p: p.name)
def test_no_engine_function_inline(path):
    found = []
    pats = _patterns()
    for line, text in sql_strings(path):
        for label, pat in pats:
            if pat.search(text):
                found.append(f"{path.relative_to(PKG)}:{line}: {label} in {text.strip()[:80]!r}")
    assert not found, "use the dialect (scope.dialect / wh.dialect) instead:\n" + "\n".join(found)


def test_the_scanner_sees_sql_in_f_strings(tmp_path):
    """The check can fail: a module with an inline engine function is caught."""
    bad = tmp_path / "bad.py"
    bad.write_text(
        '"""Docstring naming arg_min( is prose."""\n'
        "def f(col, tz):\n"
        '    """quantile_cont( in a docstring is fine."""\n'
        "    return f\"SELECT timezone('{tz}', {col}) FROM events\"\n"
    )
    texts = [t for _, t in sql_strings(bad)]
    hits = [label for label, pat in _patterns() for t in texts if pat.search(t)]
    assert hits == ["duckdb: timezone()"]
