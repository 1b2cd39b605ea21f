"""Every test here runs on each engine (DuckDB, and chdb when installed): see enginekit."""

from enginekit import pytest_generate_tests, warehouse_engine, wh  # noqa: F401
