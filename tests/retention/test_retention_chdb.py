"""The retention policy on ClickHouse (chdb): roll-ups and lightweight deletes through the
engine primitives, and the same trends before and after.

Run in a child process: chdb's embedded server takes ~1.8 GB here, which would stay in
the pytest worker's peak memory (other tests measure that)."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

pytest.importorskip("chdb")

sys.path.insert(0, str(Path(__file__).parents[1]))

from demo_cache import small_demo  # noqa: E402

ROOT = Path(__file__).resolve().parents[2]

CHILD = textwrap.dedent(
    """
    import sys
    import pandas as pd
    import zantara_nb as z
    from zantara_nb.retention_policy.apply import apply_retention
    from zantara_nb.retention_policy.policy import Policy
    from zantara_nb.warehouse import Warehouse
    from zantara_nb.warehouse.rollups import retention_state

    AS_OF = "2026-08-24"
    TABLES = ("events", "quarantine", "identity_links", "person_distinct_ids", "persons")
    with Warehouse(sys.argv[1], engine="duckdb", read_only=True) as src:
        wh = Warehouse(":memory:", engine="chdb")
        for t in TABLES:
            data = src.con.execute(f"SELECT * FROM {t}").to_arrow_table()
            if data.num_rows:
                wh.engine.insert_arrow(t, data)

    def trends():
        return [
            z.north_star(wh, as_of=AS_OF, window="12w").df,
            z.retention(wh, period="week", periods=8, as_of=AS_OF).df,
            z.mrr(wh, start="2026-05-04", end="2026-08-24", as_of=AS_OF).df,
        ]

    before = trends()
    run = apply_retention(wh, Policy(events_days=45, persons_days=120), today="2026-08-24")
    assert run.deleted["raw events"] > 50_000, run
    assert retention_state(wh).horizon.isoformat() == "2026-08-14"
    for b, a in zip(before, trends(), strict=True):
        pd.testing.assert_frame_equal(b, a, rtol=1e-12)
    wh.engine.close()
    print("same trends on chdb")
    """
)


def test_retention_on_chdb_keeps_the_trends(tmp_path_factory):
    demo = small_demo(tmp_path_factory)
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    proc = subprocess.run(
        [sys.executable, "-c", CHILD, str(demo)],
        capture_output=True,
        text=True,
        timeout=900,
        env=env,
        cwd=str(ROOT),
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "same trends on chdb" in proc.stdout
