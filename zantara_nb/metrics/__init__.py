"""The metric library: one function per number METRICS.md defines.

What lives here: active users and the North Star (``active``), the input metrics
(``inputs``: activation, week-2 retention, paid conversion), cohorts and churn
(``retention``), funnels (``funnels``), MRR and NPS (``revenue``), health (``health``:
latency, errors, cost, satisfaction, LLM usage), the headline KPIs and their registry
(``kpis``), and what every metric returns (``results``), its statistics (``stats``)
and its breakdown-by-period grids (``grids``).

May import: ``zantara_nb.warehouse`` (scope, dialect, privacy), ``zantara_nb.display``
(formatting and charts of results) and ``zantara_nb.config``. SQL is built from the
warehouse dialect's primitives and portable SQL only (a test checks it).
"""
