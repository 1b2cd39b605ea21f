"""The ClickHouse engines: addresses, schema, DDL, status, the server engine's SQL path.

``chdb`` runs here; the ``clickhouse://`` engine is the same SQL over HTTP, checked with
a stand-in client (no server can run on this machine) that records what it is sent.
"""

from __future__ import annotations

import subprocess
import sys
from datetime import UTC, datetime

import pyarrow as pa
import pytest

from zantara_nb import Warehouse
from zantara_nb.cli import main
from zantara_nb.warehouse import clickhouse_schema
from zantara_nb.warehouse.engines import engine_names, parse_address

pytest.importorskip("chdb")


def test_addresses_name_their_engine(monkeypatch):
    monkeypatch.delenv("ZANTARA_ENGINE", raising=False)
    assert parse_address("chdb:data/zantara.chdb") == ("chdb", "data/zantara.chdb")
    assert parse_address("clickhouse://ana@db.internal:8123/zantara") == (
        "clickhouse",
        "clickhouse://ana@db.internal:8123/zantara",
    )
    assert parse_address("duckdb:x.duckdb") == ("duckdb", "x.duckdb")
    assert parse_address("data/zantara.duckdb") == ("duckdb", "data/zantara.duckdb")
    assert parse_address(":memory:", "chdb") == ("chdb", ":memory:")
    monkeypatch.setenv("ZANTARA_ENGINE", "chdb")
    assert parse_address("w.db") == ("chdb", "w.db")
    with pytest.raises(ValueError, match="a chdb address"):
        parse_address("chdb:x", "duckdb")
    assert {"duckdb", "chdb", "clickhouse"} <= set(engine_names())


def test_chdb_warehouse_schema_and_status(tmp_path):
    where = tmp_path / "w.chdb"
    with Warehouse(f"chdb:{where}") as wh:
        assert wh.engine.name == "chdb" and wh.dialect.name == "clickhouse"
        tables = set(
            wh.sql("SELECT name FROM system.tables WHERE database = currentDatabase()")["name"]
        )
        assert set(clickhouse_schema.TABLE_NAMES) <= tables
        engine = wh.scalar(
            "SELECT engine_full FROM system.tables WHERE database = currentDatabase() AND name = 'events'"
        )
        assert "ReplacingMergeTree" in engine and "toYYYYMM(timestamp)" in engine
        assert "ORDER BY (person_id, timestamp, uuid)" in engine
        ts = datetime(2026, 3, 1, 2, 30, tzinfo=UTC)
        wh.engine.insert_arrow(
            "events",
            pa.table(
                {
                    "uuid": ["a", "b"],
                    "event": ["message_sent", "message_sent"],
                    "timestamp": pa.array([ts, ts], pa.timestamp("us", tz="UTC")),
                    "distinct_id": ["u1", "u2"],
                    "person_id": ["u1", "u2"],
                }
            ),
        )
        st = wh.status()
        assert (st.events, st.persons, st.first_event) == (2, 2, ts)
        # a second identical row (same uuid) goes when parts merge
        wh.engine.insert_arrow(
            "events",
            pa.table(
                {
                    "uuid": ["a"],
                    "event": ["message_sent"],
                    "timestamp": pa.array([ts], pa.timestamp("us", tz="UTC")),
                    "distinct_id": ["u1"],
                    "person_id": ["u1"],
                }
            ),
        )
        wh.engine.optimize("events")
        assert wh.scalar("SELECT count(*) FROM events") == 2
    # reopened: the data is in the directory; `zantara-nb status` reads it
    out = subprocess.run(
        [sys.executable, "-m", "zantara_nb.cli", "status", "--warehouse", f"chdb:{where}"],
        capture_output=True,
        text=True,
    )
    assert out.returncode == 0, out.stderr
    assert "Events      2" in out.stdout


def test_memory_warehouses_coexist_and_one_path_per_process(tmp_path):
    a = Warehouse(":memory:", engine="chdb")
    b = Warehouse(":memory:", engine="chdb")
    try:
        a.execute("INSERT INTO meta VALUES ('only', 'a')")
        assert a.scalar("SELECT count(*) FROM meta WHERE key = 'only'") == 1
        assert b.scalar("SELECT count(*) FROM meta WHERE key = 'only'") == 0
        with pytest.raises(RuntimeError, match="one embedded server per process"):
            Warehouse(f"chdb:{tmp_path / 'other.chdb'}")
    finally:
        a.close()
        b.close()
    with Warehouse(f"chdb:{tmp_path / 'other.chdb'}") as c:  # free again once closed
        assert c.scalar("SELECT 1") == 1


def test_parameters_are_written_in_as_literals():
    with Warehouse(":memory:", engine="chdb") as wh:
        ts = datetime(2026, 3, 1, 2, 30, tzinfo=UTC)
        assert wh.scalar("SELECT ? = 'it''s'", ["it's"]) is True
        assert wh.scalar("SELECT ?", [ts]) == ts
        assert wh.scalar("SELECT $n + 1", {"n": 41}) == 42
        with wh.recording() as log:
            wh.sql("SELECT count(*) AS n FROM events WHERE timestamp >= ?", [ts])
        assert "toDateTime64('2026-03-01 02:30:00.000000', 6, 'UTC')" in log[0]


def test_ddl_command_single_server_runs_on_chdb(capsys):
    assert main(["warehouse", "ddl", "--engine", "clickhouse", "--database", "zddl"]) == 0
    script = capsys.readouterr().out
    with Warehouse(":memory:", engine="chdb") as wh:
        for stmt in script.split(";\n"):
            body = "\n".join(ln for ln in stmt.splitlines() if not ln.startswith("--")).strip()
            if body:
                wh.execute(body)
        assert wh.scalar("SELECT count() FROM system.tables WHERE database = 'zddl'") == len(
            clickhouse_schema.TABLES
        )
        wh.execute("DROP DATABASE zddl")


def test_ddl_command_for_a_cluster(capsys):
    assert main(["warehouse", "ddl", "--engine", "clickhouse", "--cluster", "prod"]) == 0
    script = capsys.readouterr().out
    assert "ON CLUSTER `prod`" in script
    assert "ReplicatedReplacingMergeTree('/clickhouse/tables/{shard}/zantara/events'" in script
    assert (
        "ENGINE = Distributed(`prod`, `zantara`, events_local, cityHash64(ifNull(person_id, '')))"
        in script
    )
    assert "Distributed(`prod`, `zantara`, persons_local, cityHash64(person_id))" in script
    assert main(["warehouse", "ddl", "--engine", "duckdb"]) == 0
    assert "CREATE TABLE IF NOT EXISTS events" in capsys.readouterr().out


class FakeClient:
    """Records what the server engine sends; answers SELECTs through chdb."""

    def __init__(self, chdb_wh):
        self.wh, self.sent, self.settings = chdb_wh, [], []

    def query_arrow(self, query, settings=None):
        self.sent.append(query)
        self.settings.append(settings)
        return self.wh.engine._arrow(query)

    def command(self, query, settings=None):
        self.sent.append(query)
        self.wh.engine._command(query)

    def insert_arrow(self, table, data, settings=None):
        self.sent.append(f"INSERT {table} {data.num_rows}")
        self.wh.engine.insert_arrow(table, data)

    def close(self):
        pass


def test_server_engine_sends_the_chdb_sql(monkeypatch):
    from zantara_nb.metrics import active
    from zantara_nb.warehouse.clickhouse_engine import SETTINGS, ServerEngine, parse_clickhouse_url
    from zantara_nb.warehouse.engines import register_engine

    assert parse_clickhouse_url("clickhouse://ana@db.internal:8123/zantara") == {
        "host": "db.internal",
        "port": 8123,
        "username": "ana",
        "database": "zantara",
        "secure": False,
    }
    assert parse_clickhouse_url("clickhouses://db.internal/x")["port"] == 8443
    with Warehouse(":memory:", engine="chdb") as backing:
        client = FakeClient(backing)

        def factory(path, **kw):
            return ServerEngine(path, client=client, **kw)

        register_engine("clickhouse", factory)
        try:
            server = Warehouse("clickhouse://ana@db.internal:8123/default")
            assert server.engine.name == "clickhouse" and server.path is None
            assert repr(server) == "Warehouse('clickhouse://ana@db.internal:8123/default')"
            r_server = active.dau(server, start="2026-03-01", end="2026-03-08", tz="UTC")
            r_local = active.dau(backing, start="2026-03-01", end="2026-03-08", tz="UTC")
            assert list(r_server.sql) == list(r_local.sql)
            assert r_server.df.equals(r_local.df)
            assert all(s == SETTINGS for s in client.settings)
            server.close()
        finally:
            from zantara_nb.warehouse.clickhouse_engine import ServerEngine as SE

            register_engine("clickhouse", SE)


def test_missing_extra_names_it(monkeypatch):
    import builtins

    from zantara_nb.warehouse import clickhouse_engine

    real = builtins.__import__

    def no_clickhouse(name, *a, **kw):
        if name in {"chdb", "clickhouse_connect"}:
            raise ImportError(name)
        return real(name, *a, **kw)

    monkeypatch.setattr(builtins, "__import__", no_clickhouse)
    with pytest.raises(ImportError, match=r"pip install -e '\.\[clickhouse\]'"):
        clickhouse_engine._need("chdb")
    with pytest.raises(ImportError, match="extra 'clickhouse'"):
        Warehouse("clickhouse://ana@db.internal:8123/zantara")


def test_duckdb_path_never_imports_clickhouse():
    code = (
        "import sys, zantara_nb as z\n"
        "wh = z.Warehouse(':memory:'); z.dau(wh, window='7d'); wh.close()\n"
        "print(sorted(m for m in ('chdb', 'clickhouse_connect') if m in sys.modules))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "[]"
