"""The warehouse: where events live and how SQL reaches an engine.

What lives here: :class:`Warehouse` (one object per open warehouse), the engine
registry and the per-engine SQL dialects (``engines``, ``dialects/``), the schema, the
identity stitching, the metric scope (a range in a time zone, filters, breakdown) and
the tracking plan the data follows, plus the privacy hashing of person ids.

May import: ``zantara_nb.config`` and the standard/third-party libraries only. Everything
else in the package builds on this folder; nothing here imports metrics, insights or
reporting.
"""

from .connection import Warehouse

__all__ = ["Warehouse"]
