"""The GDPR delete on ClickHouse (chdb, in-process): no multi-statement transactions, so
the suppression and a 'started' audit row come first, then one lightweight DELETE per
table, then 'done'; the same result as on DuckDB."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

pytest.importorskip("chdb")

sys.path.insert(0, str(Path(__file__).parent))
sys.path.insert(0, str(Path(__file__).parents[1]))

from gdprkit import build  # noqa: E402

from zantara_nb.gdpr import delete_person, export_person, resolve, suppression  # noqa: E402
from zantara_nb.warehouse import Warehouse  # noqa: E402

TABLES = ("events", "quarantine", "identity_links", "person_distinct_ids", "persons")


def copy_warehouse(src: Warehouse, dst: Warehouse) -> Warehouse:
    """The warehouse tables of ``src`` (DuckDB, built by the real loader) into ``dst``."""
    for table in TABLES:
        data = src.con.execute(f"SELECT * FROM {table}").to_arrow_table()
        if data.num_rows:
            dst.engine.insert_arrow(table, data)
    return dst


def test_delete_round_trip_on_chdb(tmp_path):
    with Warehouse(tmp_path / "w.duckdb") as src:
        build(src, tmp_path)
        expected = delete_person(src, "a1", dry_run=True, reports_dir=None).rows
        copy = copy_warehouse(src, Warehouse(":memory:", engine="chdb"))
    wh = copy
    try:
        assert not wh.engine.transactional
        g = resolve(wh, "ana@example.co.id")
        assert g.person_ids == ["u1"] and g.distinct_ids == ["a1", "a1b", "u1"]
        path, counts = export_person(wh, "u1", tmp_path / "x.json")
        assert json.loads(path.read_text())["counts"]["events"] == 6
        res = delete_person(wh, "a1", reports_dir=None)
        assert res.rows == expected
        assert wh.scalar("SELECT count() FROM events WHERE person_id = 'u1'") == 0
        assert wh.scalar("SELECT count() FROM quarantine WHERE distinct_id = 'u1'") == 0
        assert wh.scalar("SELECT count() FROM events") == 13 - 7
        statuses = [
            r[0]
            for r in wh.engine.rows(
                "SELECT status FROM gdpr_audit WHERE action = 'delete' ORDER BY finished_at"
            )
        ]
        assert statuses == ["started", "done"]
        assert suppression.is_suppressed(wh, "a1b")
    finally:
        wh.engine.close()
