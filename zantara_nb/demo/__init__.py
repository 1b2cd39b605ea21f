"""Demo data with planted truth: realistic ZANTARA events and the numbers they hide.

What lives here: the event generator (``generate``: :func:`generate`, :func:`load_demo`)
and the planted parameters and realised counts it writes to ``truth.json``
(``truth``: :class:`GroundTruth`), which the tests recover with the metric library.

May import: ``zantara_nb.warehouse`` and ``zantara_nb.ingest`` (to load what it writes).
"""

from .generate import DemoConfig, DemoResult, generate, load_demo
from .truth import GroundTruth, Planted

__all__ = ["DemoConfig", "DemoResult", "GroundTruth", "Planted", "generate", "load_demo"]
