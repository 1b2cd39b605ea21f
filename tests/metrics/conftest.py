"""Every test here runs on each engine (DuckDB, and chdb when installed): see enginekit."""

from enginekit import (  # noqa: F401
    pytest_collection_modifyitems,
    pytest_generate_tests,
    warehouse_engine,
    wh,
)
