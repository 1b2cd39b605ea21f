"""Loaders: Segment and PostHog exports, plain Parquet/CSV, into the canonical warehouse.

>>> from zantara_nb import Warehouse
>>> from zantara_nb.ingest import ingest
>>> for summary in ingest(Warehouse(), ["exports/events.jsonl.gz"]):
...     print(summary)

Formats (detected from extension and content, or named): ``segment`` (JSON lines,
a JSON array or a ``{"batch": [...]}`` document), ``posthog-jsonl``, ``posthog-csv``,
``posthog-parquet`` (batch export), and plain ``parquet``/``csv`` with a column
mapping. Any text format may be gzip-compressed. See :mod:`.load` for the pipeline.
"""

from .detect import FORMATS, detect, sniff
from .load import ingest
from .readers import CHUNK_ROWS
from .summary import REASONS, IngestError, LoadSummary

__all__ = [
    "CHUNK_ROWS",
    "FORMATS",
    "REASONS",
    "IngestError",
    "LoadSummary",
    "detect",
    "ingest",
    "sniff",
]
