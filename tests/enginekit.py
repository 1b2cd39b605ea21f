"""Run the behaviour tests on every engine with the same expected numbers.

The conftests of ``tests/metrics``, ``tests/insights`` and ``tests/demo`` import the hook
and fixtures below: every test there runs once per engine in :data:`ENGINES`
(``duckdb``, and ``chdb`` when the ``clickhouse`` extra is installed), with the engine
as the default of every ``Warehouse(...)`` the test opens (``$ZANTARA_ENGINE``). A
module whose tests never open a warehouse sets ``ENGINE_FREE = True`` and runs once.

``ZANTARA_TEST_ENGINES=duckdb`` (comma-separated names) narrows the run.

Warehouses built by the real loader on DuckDB (the demo warehouses) are copied table by
table into a chdb warehouse with :func:`on_engine` (Arrow in, Arrow out), once per
process.
"""

from __future__ import annotations

import importlib.util
import os
from pathlib import Path

import pytest

from zantara_nb import Warehouse


def _engines() -> list[str]:
    wanted = os.environ.get("ZANTARA_TEST_ENGINES")
    if wanted:
        return [e.strip() for e in wanted.split(",") if e.strip()]
    out = ["duckdb"]
    if importlib.util.find_spec("chdb") is not None:
        out.append("chdb")
    return out


ENGINES = _engines()
TABLES = (
    "meta",
    "loads",
    "events",
    "quarantine",
    "identity_links",
    "person_distinct_ids",
    "persons",
)


#: Modules that never open a warehouse (pure Python): run once.
ENGINE_FREE_MODULES = {"test_classify", "test_grids", "test_results", "test_stats", "test_demo"}


def _engine_free(module) -> bool:
    name = module.__name__.rpartition(".")[2]
    return (
        getattr(module, "ENGINE_FREE", False)
        or name in ENGINE_FREE_MODULES
        or name in DUCKDB_ONLY_MODULES
    )


#: Modules that run on DuckDB only.
DUCKDB_ONLY_MODULES: set[str] = set()
#: Tests that read DuckDB's own catalog: DuckDB only.
DUCKDB_CATALOG_TESTS = ("test_per_person_table_is_dropped_with_the_result",)


def pytest_collection_modifyitems(config, items):
    skip = pytest.mark.skip(reason="reads DuckDB's catalog (duckdb_tables())")
    for item in items:
        if "[chdb" in item.nodeid and item.name.startswith(DUCKDB_CATALOG_TESTS):
            item.add_marker(skip)


def pytest_generate_tests(metafunc):
    if "warehouse_engine" in metafunc.fixturenames:
        engines = ["duckdb"] if _engine_free(metafunc.module) else ENGINES
        metafunc.parametrize("warehouse_engine", engines, indirect=True, scope="module")


@pytest.fixture(scope="module", autouse=True)
def warehouse_engine(request):
    """The engine every ``Warehouse(...)`` of the module's tests opens by default."""
    name = getattr(request, "param", "duckdb")
    old = os.environ.get("ZANTARA_ENGINE")
    os.environ["ZANTARA_ENGINE"] = name
    yield name
    release_copies()  # one module's chdb copies at a time: the worker's memory stays small
    if old is None:
        os.environ.pop("ZANTARA_ENGINE", None)
    else:
        os.environ["ZANTARA_ENGINE"] = old


@pytest.fixture
def wh(tmp_path, warehouse_engine):
    """A fresh warehouse on the module's engine (chdb: a throw-away database)."""
    w = Warehouse(tmp_path / "w.duckdb" if warehouse_engine == "duckdb" else ":memory:")
    yield w
    w.close()


def current_engine() -> str:
    return os.environ.get("ZANTARA_ENGINE") or "duckdb"


def copy_warehouse(src: Warehouse, dst: Warehouse, batch_rows: int = 1_000_000) -> Warehouse:
    """Copy every warehouse table of ``src`` (DuckDB) into ``dst`` (an empty warehouse),
    in Arrow batches of ``batch_rows`` (a table is never whole in memory)."""
    import pyarrow as pa

    dst.execute("DELETE FROM meta WHERE key = 'schema_version'")
    with src.reading():  # a live cursor: the batches stream
        for table in TABLES:
            for batch in src.con.sql(f"SELECT * FROM {table}").to_arrow_reader(batch_rows):
                if batch.num_rows:
                    dst.engine.insert_arrow(table, pa.Table.from_batches([batch]))
    return dst


_COPIES: dict[tuple[str, str], Warehouse] = {}


def on_engine(duckdb_path: str | os.PathLike, engine: str | None = None) -> Warehouse:
    """A warehouse with the data of the DuckDB file at ``duckdb_path`` on ``engine``
    (default: the module's). DuckDB: the file itself, read-only. Other engines: a copy,
    made once per process and shared (tests only read it; do not close it)."""
    engine = engine or current_engine()
    path = Path(duckdb_path)
    if engine == "duckdb":
        return Warehouse(path, engine="duckdb", read_only=True)
    key = (str(path.resolve()), engine)
    if key not in _COPIES:
        with Warehouse(path, engine="duckdb", read_only=True) as src:
            copy = copy_warehouse(src, Warehouse(":memory:", engine=engine))
        copy.close = lambda: None  # shared by the modules of this process: never closed
        _COPIES[key] = copy
    return _COPIES[key]


def release_copies() -> None:
    """Close the shared chdb copies of this process (chdb serves one data directory per
    process: a test that opens a chdb warehouse at a path needs the memory server gone).
    They are made again when a module asks for them."""
    for copy in _COPIES.values():
        Warehouse.close(copy)
    _COPIES.clear()


def fresh_on_engine(duckdb_path: str | os.PathLike) -> Warehouse:
    """A new connection (DuckDB: read-only on the file; chdb: a new copy) to close after use."""
    if current_engine() == "duckdb":
        return Warehouse(duckdb_path, engine="duckdb", read_only=True)
    from zantara_nb.warehouse.clickhouse_engine import ChdbEngine
    from zantara_nb.warehouse.engines import register_engine

    shared = on_engine(duckdb_path)
    name = f"chdb-{shared.engine.database}"
    register_engine(
        name, lambda path, **kw: ChdbEngine(None, database=shared.engine.database, **kw)
    )
    return Warehouse(":memory:", engine=name, read_only=True)


_DEMOS: dict[str, tuple[Path, object]] = {}


def built_demo(tmp_path_factory, name: str, **cfg):
    """(path, load result) of a demo warehouse loaded on DuckDB by the real loader, built
    once per process whatever the number of engines the module runs on."""
    if name not in _DEMOS:
        from zantara_nb.demo import DemoConfig, load_demo

        d = tmp_path_factory.mktemp(name)
        with Warehouse(d / "w.duckdb", engine="duckdb") as w:
            res = load_demo(w, DemoConfig(out_dir=d / "demo", **cfg))
        _DEMOS[name] = (d / "w.duckdb", res)
    return _DEMOS[name]
