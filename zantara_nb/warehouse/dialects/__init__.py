"""SQL dialects: every engine-specific SQL primitive the metrics use, one module per engine.

Metric modules build SQL from a :class:`~.base.Dialect` (``scope.dialect`` or
``wh.dialect``) and plain portable SQL only; ``tests/warehouse/test_dialect_usage.py``
fails when a metric module names one of :data:`~.base.Dialect.ENGINE_FUNCTIONS` itself.
The base class holds the portable forms; an engine's dialect overrides only what
differs (the way MetricFlow's per-engine renderers do).
"""

from .base import Dialect
from .clickhouse import ClickHouseDialect
from .duckdb import DuckDBDialect

__all__ = ["ClickHouseDialect", "Dialect", "DuckDBDialect"]
