"""The loader tests run on each engine (DuckDB, and chdb when installed): see enginekit.
Modules about DuckDB's own reader and memory run once (``ENGINE_FREE``/DuckDB only)."""

from enginekit import (  # noqa: F401
    DUCKDB_ONLY_MODULES,
    pytest_collection_modifyitems,
    pytest_generate_tests,
    warehouse_engine,
    wh,
)

#: DuckDB's reader and buffer pool (memory), and the PostHog pull and export folders
#: (their cursors and persons are DuckDB SQL; on ClickHouse they refuse, tested below).
DUCKDB_ONLY_MODULES.update(
    {"test_ingest_memory", "test_posthog_pull", "test_posthog_roundtrip", "test_posthog_exports"}
)
