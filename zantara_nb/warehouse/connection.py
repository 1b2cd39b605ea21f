"""The DuckDB warehouse: one file, one connection object, schema created on open.

>>> from zantara_nb import Warehouse
>>> wh = Warehouse()              # data/zantara.duckdb or $ZANTARA_WAREHOUSE
>>> wh.sql("SELECT count(*) AS n FROM events")
"""

from __future__ import annotations

import contextlib
import os
from pathlib import Path
from typing import Any

import duckdb
import pandas as pd

from .. import config
from .schema import DDL, SCHEMA_VERSION


class Warehouse:
    """A connection to the zantara-nb DuckDB warehouse.

    ``path`` may be a file path, ``":memory:"`` (tests), or None for the configured
    default. Timestamps are stored and returned in UTC; every metric converts to the
    report timezone itself.
    """

    def __init__(
        self,
        path: str | os.PathLike | None = None,
        *,
        read_only: bool = False,
        memory_limit: str | None = None,
        threads: int | None = None,
    ) -> None:
        if str(path) == ":memory:":
            self.path: Path | None = None
            target = ":memory:"
        else:
            self.path = config.warehouse_path(path)
            if not read_only:
                self.path.parent.mkdir(parents=True, exist_ok=True)
            elif not self.path.exists():
                raise FileNotFoundError(
                    f"{self.path}: no warehouse here (run `zantara-nb demo` or `zantara-nb ingest`)"
                )
            target = str(self.path)
        self.read_only = read_only
        self.con = duckdb.connect(target, read_only=read_only)
        self.con.execute("SET TimeZone = 'UTC'")
        # no bars in logs; inside Jupyter DuckDB refuses the change without ipywidgets
        with contextlib.suppress(duckdb.Error):
            self.con.execute("SET enable_progress_bar = false")
        if memory_limit or os.environ.get("ZANTARA_MEMORY_LIMIT"):
            self.con.execute(
                f"SET memory_limit = '{memory_limit or os.environ['ZANTARA_MEMORY_LIMIT']}'"
            )
        if threads:
            self.con.execute(f"SET threads = {int(threads)}")
        if not read_only:
            self._create_schema()

    # -- plumbing ---------------------------------------------------------------------

    def _create_schema(self) -> None:
        for stmt in DDL:
            self.con.execute(stmt)
        self.con.execute(
            "INSERT OR REPLACE INTO meta VALUES ('schema_version', ?)", [str(SCHEMA_VERSION)]
        )

    def sql(self, query: str, params: list | dict | None = None) -> pd.DataFrame:
        """Run a query and return a DataFrame (timestamps in UTC)."""
        return self.con.execute(query, params or []).df()

    def execute(self, query: str, params: list | dict | None = None) -> duckdb.DuckDBPyConnection:
        """Run a statement and return the DuckDB cursor.

        DuckDB 2 refuses new work on a connection while a result is unfinished: fetch
        everything (``fetchall()``), not just ``fetchone()``.
        """
        return self.con.execute(query, params or [])

    def scalar(self, query: str, params: list | dict | None = None) -> Any:
        """First column of the first row, or None."""
        rows = self.con.execute(query, params or []).fetchall()
        return rows[0][0] if rows else None

    def close(self) -> None:
        self.con.close()

    def __enter__(self) -> Warehouse:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        where = self.path or ":memory:"
        return f"Warehouse({str(where)!r})"

    # -- conveniences -----------------------------------------------------------------

    def ingest(self, paths, **kwargs):
        """Load files into the warehouse; see :func:`zantara_nb.ingest.ingest`."""
        from ..ingest import ingest

        return ingest(self, paths, **kwargs)

    def status(self):
        """Row counts, date range, freshness, loads and quarantine; see :mod:`status`."""
        from .status import warehouse_status

        return warehouse_status(self)

    def stitch(self):
        """Recompute person ids from identify/alias links; see :mod:`identity`."""
        from .identity import stitch

        return stitch(self)
