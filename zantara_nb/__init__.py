"""zantara-nb: analytics and reports for the ZANTARA AI assistant.

>>> import zantara_nb as z
>>> wh = z.Warehouse()                       # data/zantara.duckdb or $ZANTARA_WAREHOUSE
>>> wh.status()                              # counts, range, freshness, loads, quarantine
>>> z.dau(wh, window="28d")                  # every metric: start/end or as_of+window, tz,
>>> z.funnel(wh, z.SEED_FUNNEL)              #   filters={...}, breakdown="country"
>>> z.retention(wh, period="week").heatmap()
>>> z.kpis(wh, period="week")
>>> print(z.dau(wh).sql)                     # every result carries the SQL it ran

How the code is organised (each folder's docstring says what it may import):

- ``warehouse/``: the :class:`Warehouse`, its engines and SQL dialects, schema,
  identity stitching, the metric scope and the tracking plan.
- ``ingest/``: loaders from files into the warehouse (validation, quarantine, dedupe).
- ``metrics/``: one function per METRICS.md number (active, inputs, retention, funnels,
  revenue, health, kpis) and the typed results they return.
- ``insights/``: query patterns, churn, segments, experiments, anomalies, alerts.
- ``reporting/``: suites, notebook runs, rendering, digest, e-mail, schedule.
- ``display/``: formatting and charts; ``demo/``: demo data with planted truth.

Definitions: ``docs/`` and ``shared/METRICS.md``.
"""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("zantara-nb")
except PackageNotFoundError:  # pragma: no cover - running from a source tree
    __version__ = "0.0.0"

from .insights import alerts, anomalies, churn, classify, experiments, queries, segments  # noqa: E402
from .insights.alerts import evaluate_alerts  # noqa: E402
from .insights.anomalies import anomalies as detect_anomalies  # noqa: E402
from .insights.anomalies import explain  # noqa: E402
from .insights.data_quality import data_quality  # noqa: E402
from .insights.queries import distribution, low_satisfaction, sessions, top_categories, trending  # noqa: E402
from .metrics import active, funnels, health, inputs, revenue  # noqa: E402
from .metrics.active import (  # noqa: E402
    active_users,
    dau,
    engagement,
    growth_rate,
    lifecycle,
    mau,
    north_star,
    stickiness,
    stickiness_distribution,
    wau,
)
from .metrics.funnels import SEED_FUNNEL, Exclusion, FunnelSpec, Step, funnel  # noqa: E402
from .metrics.health import (  # noqa: E402
    cost_per_1k,
    cost_per_active_user,
    error_rate,
    hourly_errors,
    llm_usage,
    p95_latency,
    satisfaction,
)
from .metrics.inputs import activation, activation_series, paid_conversion, week2_retention  # noqa: E402
from .metrics.kpis import kpis  # noqa: E402  (the function; the module stays importable by path)
from .metrics.retention import churn_rate, nday_retention, retention  # noqa: E402
from .metrics.revenue import mrr, mrr_movements, nps  # noqa: E402
from .warehouse import Warehouse  # noqa: E402

#: Module names from before the code moved into subpackages (``zantara_nb.report`` is now
#: ``zantara_nb.reporting.report``), resolved on first use so old notebooks keep working.
_MOVED = {
    "narrative": "reporting.narrative",
    "report": "reporting.report",
    "digest": "reporting.digest",
    "charts": "display.charts",
    "formatting": "display.formatting",
    "results": "metrics.results",
    "stats": "metrics.stats",
    "scope": "warehouse.scope",
    "identity": "warehouse.identity",
    "privacy": "warehouse.privacy",
    "tracking_plan": "warehouse.tracking_plan",
}


def __getattr__(name: str):
    if name in _MOVED:
        import importlib

        return importlib.import_module(f"{__name__}.{_MOVED[name]}")
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = [
    "SEED_FUNNEL",
    "Exclusion",
    "FunnelSpec",
    "Step",
    "Warehouse",
    "__version__",
    "activation",
    "activation_series",
    "active",
    "active_users",
    "alerts",
    "anomalies",
    "detect_anomalies",
    "evaluate_alerts",
    "explain",
    "churn",
    "churn_rate",
    "experiments",
    "segments",
    "classify",
    "distribution",
    "low_satisfaction",
    "queries",
    "sessions",
    "top_categories",
    "trending",
    "cost_per_1k",
    "cost_per_active_user",
    "dau",
    "data_quality",
    "engagement",
    "error_rate",
    "funnel",
    "funnels",
    "growth_rate",
    "health",
    "hourly_errors",
    "inputs",
    "kpis",
    "lifecycle",
    "llm_usage",
    "mau",
    "mrr",
    "mrr_movements",
    "nday_retention",
    "north_star",
    "nps",
    "p95_latency",
    "paid_conversion",
    "retention",
    "revenue",
    "satisfaction",
    "stickiness",
    "stickiness_distribution",
    "wau",
    "week2_retention",
]
