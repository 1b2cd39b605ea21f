"""Insights built on the metrics: what users ask, who may churn, what moved and why.

What lives here: the query classifier (``classify``) and query analytics (``queries``),
churn risk (``churn``), the seed's segments (``segments``), A/B tests over feature
flags (``experiments``), anomaly detection with explanations (``anomalies``) and alert
rules with their Slack delivery (``alerts``), and the data-quality checks of a report
period (``data_quality``).

May import: ``zantara_nb.metrics``, ``zantara_nb.warehouse``, ``zantara_nb.display`` and
``zantara_nb.config``; never ``zantara_nb.reporting``.
"""
