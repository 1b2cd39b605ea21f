"""The DuckDB engine: one file (or memory), nothing to start. The embedded default."""

from __future__ import annotations

import contextlib
import os
from pathlib import Path
from typing import Any

import duckdb
import pandas as pd

from .dialects.duckdb import DuckDBDialect
from .engines import Engine
from .schema import DDL, SCHEMA_VERSION


class DuckDBEngine(Engine):
    """A DuckDB connection in UTC, without progress bars, with optional memory/thread caps."""

    name = "duckdb"

    def __init__(
        self,
        path: Path | None,
        *,
        read_only: bool = False,
        memory_limit: str | None = None,
        threads: int | None = None,
    ) -> None:
        self.path = path
        self.read_only = read_only
        self.dialect = DuckDBDialect()
        self.con = duckdb.connect(str(path) if path else ":memory:", read_only=read_only)
        self.con.execute("SET TimeZone = 'UTC'")
        # no bars in logs; inside Jupyter DuckDB refuses the change without ipywidgets
        with contextlib.suppress(duckdb.Error):
            self.con.execute("SET enable_progress_bar = false")
        limit = memory_limit or os.environ.get("ZANTARA_MEMORY_LIMIT")
        if limit:
            self.con.execute(f"SET memory_limit = {self.dialect.str_lit(limit)}")
        if threads:
            self.con.execute(f"SET threads = {int(threads)}")

    def execute(self, query: str, params: list | dict | None = None) -> Any:
        return self.con.execute(query, params or [])

    def frame(self, query: str, params: list | dict | None = None) -> pd.DataFrame:
        return self.con.execute(query, params or []).df()

    def create_schema(self) -> None:
        for stmt in DDL:
            self.con.execute(stmt)
        self.con.execute(
            "INSERT OR REPLACE INTO meta VALUES ('schema_version', ?)", [str(SCHEMA_VERSION)]
        )

    def close(self) -> None:
        self.con.close()
