"""zantara-nb: analytics and reports for the ZANTARA AI assistant.

>>> import zantara_nb as z
>>> wh = z.Warehouse()          # the DuckDB warehouse (data/zantara.duckdb by default)
>>> wh.status()
"""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("zantara-nb")
except PackageNotFoundError:  # pragma: no cover - running from a source tree
    __version__ = "0.0.0"

from .warehouse import Warehouse  # noqa: E402

__all__ = ["Warehouse", "__version__"]
