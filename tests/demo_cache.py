"""One small demo warehouse shared by the report tests (built once per test session).

The notebook and runner tests only read it (read-only connections, which DuckDB allows
from several processes at once), so it is built once under a file lock in the session's
temporary root and reused by every module and every xdist worker.
"""

from __future__ import annotations

import fcntl
import os
from pathlib import Path

from zantara_nb import Warehouse
from zantara_nb.demo import DemoConfig, load_demo

#: The report week of the small demo: 2026-08-17 → 2026-08-23 (cut-off Monday 2026-08-24).
AS_OF = "2026-08-24"


def small_demo(tmp_path_factory) -> Path:
    """Path of the small demo warehouse (2,500 monthly active users, May–August 2026)."""
    root = tmp_path_factory.getbasetemp()
    if os.environ.get("PYTEST_XDIST_WORKER"):
        root = root.parent  # shared by the workers of this session
    d = root / "small-demo-11"
    with open(root / "small-demo-11.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not (d / "done").exists():
            d.mkdir(exist_ok=True)
            with Warehouse(d / "w.duckdb", engine="duckdb") as wh:
                load_demo(
                    wh,
                    DemoConfig(
                        seed=11,
                        start="2026-05-04",
                        end="2026-08-24",
                        monthly_active_users=2500,
                        out_dir=d / "demo",
                    ),
                )
            (d / "done").write_text("ok")
    return d / "w.duckdb"
