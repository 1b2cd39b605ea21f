"""Fixtures shared by the test modules (a module may still define its own ``wh``, e.g. one
that comes with events)."""

from __future__ import annotations

import pytest

from zantara_nb.warehouse import Warehouse


@pytest.fixture
def wh(tmp_path):
    """A fresh warehouse file in the test's temporary folder."""
    w = Warehouse(tmp_path / "w.duckdb")
    yield w
    w.close()
