"""The retention policy on ClickHouse (chdb): roll-ups and lightweight deletes through the
engine primitives, and the same trends before and after."""

from __future__ import annotations

import sys
from pathlib import Path

import pandas as pd
import pytest

pytest.importorskip("chdb")

sys.path.insert(0, str(Path(__file__).parents[1]))

from demo_cache import AS_OF, small_demo  # noqa: E402

import zantara_nb as z  # noqa: E402
from zantara_nb.retention_policy.apply import apply_retention  # noqa: E402
from zantara_nb.retention_policy.policy import Policy  # noqa: E402
from zantara_nb.warehouse import Warehouse  # noqa: E402
from zantara_nb.warehouse.rollups import retention_state  # noqa: E402

TABLES = ("events", "quarantine", "identity_links", "person_distinct_ids", "persons")


def test_retention_on_chdb_keeps_the_trends(tmp_path_factory):
    with Warehouse(small_demo(tmp_path_factory), engine="duckdb", read_only=True) as src:
        wh = Warehouse(":memory:", engine="chdb")
        for t in TABLES:
            data = src.con.execute(f"SELECT * FROM {t}").to_arrow_table()
            if data.num_rows:
                wh.engine.insert_arrow(t, data)
    try:

        def trends():
            return [
                z.north_star(wh, as_of=AS_OF, window="12w").df,
                z.retention(wh, period="week", periods=8, as_of=AS_OF).df,
                z.mrr(wh, start="2026-05-04", end="2026-08-24", as_of=AS_OF).df,
            ]

        before = trends()
        run = apply_retention(wh, Policy(events_days=45, persons_days=120), today="2026-08-24")
        assert run.deleted["raw events"] > 50_000
        assert retention_state(wh).horizon.isoformat() == "2026-08-14"
        for b, a in zip(before, trends(), strict=True):
            pd.testing.assert_frame_equal(b, a, rtol=1e-12)
    finally:
        wh.engine.close()
