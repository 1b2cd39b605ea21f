"""zantara-nb: analytics and reports for the ZANTARA AI assistant.

>>> import zantara_nb as z
>>> wh = z.Warehouse()                       # data/zantara.duckdb or $ZANTARA_WAREHOUSE
>>> wh.status()                              # counts, range, freshness, loads, quarantine
>>> z.dau(wh, window="28d")                  # every metric: start/end or as_of+window, tz,
>>> z.funnel(wh, z.SEED_FUNNEL)              #   filters={...}, breakdown="country"
>>> z.retention(wh, period="week").heatmap()
>>> z.kpis(wh, period="week")

Modules, one concern each: ``active`` (DAU/WAU/MAU, North Star, stickiness, lifecycle,
engagement), ``inputs`` (activation, week-2 retention, paid conversion), ``retention``
(cohorts, N-day retention, churn), ``funnels``, ``revenue`` (MRR, movements, NPS),
``health`` (latency, errors, cost, satisfaction, LLM usage), ``kpis``, ``anomalies``
(``detect_anomalies``, ``explain``), ``alerts`` (``evaluate_alerts``); ``ingest``,
``identity``, ``demo`` for data. Definitions: ``docs/`` and ``shared/METRICS.md``.
"""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("zantara-nb")
except PackageNotFoundError:  # pragma: no cover - running from a source tree
    __version__ = "0.0.0"

from . import active, alerts, anomalies, classify, funnels, health, inputs, queries, revenue  # noqa: E402
from .active import (  # noqa: E402
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
from .alerts import evaluate_alerts  # noqa: E402
from .anomalies import anomalies as detect_anomalies  # noqa: E402
from .anomalies import explain  # noqa: E402
from .funnels import SEED_FUNNEL, Exclusion, FunnelSpec, Step, funnel  # noqa: E402
from .health import (  # noqa: E402
    cost_per_1k,
    cost_per_active_user,
    error_rate,
    hourly_errors,
    llm_usage,
    p95_latency,
    satisfaction,
)
from .inputs import activation, activation_series, paid_conversion, week2_retention  # noqa: E402
from .kpis import kpis  # noqa: E402  (the function; the module stays importable by path)
from .queries import distribution, low_satisfaction, sessions, top_categories, trending  # noqa: E402
from .retention import churn_rate, nday_retention, retention  # noqa: E402
from .revenue import mrr, mrr_movements, nps  # noqa: E402
from .warehouse import Warehouse  # noqa: E402

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
    "churn_rate",
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
