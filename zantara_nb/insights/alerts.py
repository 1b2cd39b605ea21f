"""Alert rules (METRICS.md section 8): threshold checks over a window, Slack delivery.

>>> res = evaluate_alerts(wh)                 # rules from parameters/alerts.yaml, last 7 days
>>> res.df                                    # name, condition, observed, threshold, status, window
>>> res.firing                                # the rows whose status is "firing"
>>> res.delivery                              # what happened to the Slack post (never raises)

Rules
-----
A rule (:class:`AlertRule`, one entry of ``alerts:`` in ``parameters/alerts.yaml``) has a
``name``, a ``metric`` (a key of :data:`METRICS`), a ``comparison`` (``>``, ``>=``, ``<``,
``<=``, ``==``, ``!=``), a ``threshold``, an optional ``window`` in whole local days
(``"1d"``, ``"7d"``) and optional ``filters`` (same keys as every metric's ``filters``). The seed's rules (analytics-research-report.md section 6):

- *High Latency Alert*: ``p95_latency_ms > 3000``;
- *Low Satisfaction Alert*: ``mean_rating < 0.5`` (mean of ``feedback_given.rating`` ±1);
- *High Error Rate Alert*: ``max_hourly_errors > 100`` (more than 100 ``error_occurred`` in
  any hour).

Every metric is read from the function that defines it (:mod:`zantara_nb.metrics.health`,
:mod:`zantara_nb.metrics.revenue`, :mod:`zantara_nb.insights.anomalies`), over the rule's window: the
``window`` local days ending at the local midnight at or after ``as_of`` (as every metric's
``as_of`` + ``window``), observed up to ``as_of``.

Status
------
``firing`` when ``observed <comparison> threshold`` holds, ``ok`` when it does not, and
``no data`` when the metric has no value in the window: no replies (P95), no feedback
(rating), no respondents (NPS), no evaluable day (anomalies), and for counts (errors per
hour, errors, messages, anomalies) a window without any event at all — a warehouse that
has not been loaded is not a quiet one. Missing is never treated as 0.

Choices METRICS.md leaves open
------------------------------
- **"Any hour"** is a local clock hour ``[h:00, h+1:00)`` (:func:`health.hourly_errors`),
  not a sliding 60 minutes: 60 errors at 14:30–14:59 and 60 at 15:00–15:29 do not fire a
  ``> 100`` rule. An hour cut by ``as_of`` is not complete, but its count so far is a lower
  bound: it is used when it is larger than every complete hour (it can only confirm a
  ``>``/``>=`` breach, never clear one). With a breakdown the partial hour is left out.
- **Boundaries** follow the comparison literally: P95 exactly 3000 ms is ok for ``> 3000``,
  mean rating exactly 0.5 is ok for ``< 0.5``, exactly 100 errors in an hour is ok.
- **Breakdown**: every rule is evaluated per value of the breakdown (one row each).
- **Filters**: the call's filters and the rule's own are combined (the rule wins on a key).

Delivery
--------
When a webhook URL is configured (``webhook_url=`` or ``$ZANTARA_SLACK_WEBHOOK``; it is a
secret, so never in a parameters file) and at least one alert fires, one JSON POST
``{"text": ..., "blocks": [...]}`` (Slack incoming-webhook format) lists the firing alerts.
Each socket operation has a timeout (default 5 s, ``delivery.timeout_seconds`` in the
rules file) and the whole post a deadline (default 15 s, ``delivery.deadline_seconds``):
a server that accepts the connection and trickles its answer is cut off then. Any
failure (HTTP error, timeout, deadline, refused connection, bad URL) is logged and
reported in ``result.delivery``; it never raises. Only the host of the URL is ever
logged. Every value in the message (rule names, breakdown values, details) is shown as
:func:`zantara_nb.display.text.safe_text`: personal data redacted, long values cut.
"""

from __future__ import annotations

import http.client
import json
import logging
import math
import operator
import os
import socket
import ssl
import urllib.parse
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any

import pandas as pd
from typing_extensions import Unpack

from .. import config
from ..deadline import Deadline
from ..display import charts
from ..display.formatting import fmt, fmt_int, is_missing
from ..display.text import LABEL_LIMIT, safe_frame, safe_text, shorten
from ..metrics import health, revenue
from ..metrics.results import MetricResult, header_html
from ..warehouse.scope import Scope, ScopeArgs, parse_window, resolve
from ..warehouse.sqltrace import records_sql, sql_details_html

log = logging.getLogger(__name__)

DEFAULT_RULES = config.PARAMETERS_DIR / "alerts.yaml"
WEBHOOK_ENV = "ZANTARA_SLACK_WEBHOOK"
DEFAULT_TIMEOUT = 5.0
#: Seconds the whole webhook post may take (``delivery.deadline_seconds``).
DEFAULT_DEADLINE = 15.0
STATUSES = ("firing", "ok", "no data")

OPS: dict[str, Callable[[float, float], bool]] = {
    ">": operator.gt,
    ">=": operator.ge,
    "<": operator.lt,
    "<=": operator.le,
    "==": operator.eq,
    "!=": operator.ne,
}

COLUMNS = [
    "name",
    "metric",
    "condition",
    "observed",
    "threshold",
    "status",
    "window",
    "period",
    "detail",
    "unit",
]


# ------------------------------------------------------------------------------------------
# Metrics an alert can watch
# ------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class AlertMetric:
    """A number an alert can compare: where it comes from and how to show it."""

    name: str
    label: str
    unit: str
    group: str  # one metric call per group, window and filters
    column: str
    counts: bool = False  # a count: "no data" when the window has no events at all
    description: str = ""


METRICS: dict[str, AlertMetric] = {
    m.name: m
    for m in (
        AlertMetric(
            "p95_latency_ms",
            "P95 latency",
            "ms",
            "latency",
            "latency_ms",
            description="health.p95_latency: P95 of reply latency (ms)",
        ),
        AlertMetric(
            "mean_rating",
            "Mean rating (−1 to +1)",
            "ratio",
            "satisfaction",
            "net_score",
            description="health.satisfaction: mean of feedback_given.rating (±1), in [−1, 1]",
        ),
        AlertMetric(
            "satisfaction_share",
            "Satisfaction (share positive)",
            "rate",
            "satisfaction",
            "share_positive",
            description="health.satisfaction: share of +1 ratings",
        ),
        AlertMetric(
            "max_hourly_errors",
            "Errors in any hour",
            "count",
            "hourly",
            "errors",
            counts=True,
            description="health.hourly_errors: error_occurred in the busiest local hour",
        ),
        AlertMetric(
            "error_rate",
            "Error rate",
            "rate",
            "errors",
            "error_rate",
            description="health.error_rate: error_occurred / message_sent",
        ),
        AlertMetric(
            "errors",
            "Errors",
            "count",
            "errors",
            "errors",
            counts=True,
            description="health.error_rate: error_occurred count",
        ),
        AlertMetric(
            "messages",
            "Messages sent",
            "count",
            "errors",
            "messages",
            counts=True,
            description="health.error_rate: message_sent count",
        ),
        AlertMetric(
            "cost_per_1k_usd",
            "AI cost per 1K queries",
            "usd",
            "cost",
            "cost_per_1k",
            description="health.cost_per_1k",
        ),
        AlertMetric(
            "cost_per_active_user_usd",
            "AI cost per active user",
            "usd",
            "cost_user",
            "cost_per_active_user",
            description="health.cost_per_active_user",
        ),
        AlertMetric("nps", "NPS", "score", "nps", "nps", description="revenue.nps (points)"),
        AlertMetric(
            "anomalies",
            "Anomalies",
            "count",
            "anomalies",
            "anomalies",
            counts=True,
            description="anomalies.anomalies: flagged points in the window",
        ),
    )
}


def _read_group(wh, group: str, kw: dict) -> pd.DataFrame:
    """The metric call of a group over one window: rows (breakdown, <columns>, detail...)."""
    if group == "latency":
        df = health.p95_latency(wh, by=None, **kw).df
        return _framed(df, detail=[f"{fmt_int(n)} replies" for n in df.get("replies", [])])
    if group == "satisfaction":
        df = health.satisfaction(wh, by=None, **kw).df
        return _framed(
            df,
            detail=[
                f"{fmt_int(n)} feedbacks, {fmt(s, 'rate')} positive"
                for n, s in zip(df.get("feedbacks", []), df.get("share_positive", []), strict=True)
            ],
        )
    if group == "errors":
        df = health.error_rate(wh, by=None, **kw).df
        return _framed(
            df,
            detail=[
                f"{fmt_int(e)} errors / {fmt_int(m)} messages"
                for e, m in zip(df.get("errors", []), df.get("messages", []), strict=True)
            ],
        )
    if group == "cost":
        df = health.cost_per_1k(wh, by=None, **kw).df
        return _framed(df, detail=[f"{fmt_int(n)} queries" for n in df.get("queries", [])])
    if group == "cost_user":
        df = health.cost_per_active_user(wh, by=None, **kw).df
        return _framed(
            df, detail=[f"{fmt_int(n)} active users" for n in df.get("active_users", [])]
        )
    if group == "nps":
        df = revenue.nps(wh, by=None, **kw).df
        return _framed(df, detail=[f"{fmt_int(n)} respondents" for n in df.get("respondents", [])])
    if group == "hourly":
        return _hourly(wh, kw)
    if group == "anomalies":
        return _anomaly_count(wh, kw)
    raise ValueError(group)  # pragma: no cover


def _framed(df: pd.DataFrame, detail: Sequence[str]) -> pd.DataFrame:
    out = df.copy()
    if "breakdown" not in out:
        out["breakdown"] = "all"
    out["detail"] = list(detail)
    return out


def _hourly(wh, kw: dict) -> pd.DataFrame:
    res = health.hourly_errors(wh, **kw)
    df = res.df
    if df.empty:
        return pd.DataFrame({"breakdown": [], "errors": [], "detail": []})
    if "breakdown" in df:
        rows = []
        for value, g in df.groupby("breakdown", sort=True):
            done = g.dropna(subset=["errors"])
            if done.empty:
                rows.append((value, float("nan"), "no complete hour"))
                continue
            top = done.loc[done["errors"].idxmax()]
            rows.append((value, float(top["errors"]), f"busiest hour {_hour(top['hour'])}"))
        return pd.DataFrame(rows, columns=["breakdown", "errors", "detail"])
    x = res.extra
    best, hour = x.get("max_errors"), x.get("max_hour")
    partial = x.get("partial_hour_errors")
    detail = f"busiest hour {_hour(hour)}" if hour is not None else "no error in a complete hour"
    if partial is not None and (best is None or partial > best):
        cut = df[df["errors"].isna()]["hour"]
        best = partial
        when = _hour(cut.iloc[0]) if len(cut) else "the current hour"
        detail = f"{fmt_int(partial)} so far in the hour cut by as_of, {when} (a lower bound)"
    value = float("nan") if best is None else float(best)
    return pd.DataFrame({"breakdown": ["all"], "errors": [value], "detail": [detail]})


def _hour(h: Any) -> str:
    t = pd.Timestamp(h)
    return f"{t:%Y-%m-%d %H:00}–{(t + timedelta(hours=1)):%H:00} (local)"


def _anomaly_count(wh, kw: dict) -> pd.DataFrame:
    from .anomalies import anomalies  # lazy: anomalies imports the metric modules too

    res = anomalies(wh, explain=False, **kw)
    pts = res.extra.get("points", pd.DataFrame())
    key = "breakdown"
    values = sorted(pts[key].unique()) if len(pts) and kw.get("breakdown") else ["all"]
    rows = []
    for v in values:
        p = pts[pts[key] == v] if len(pts) and kw.get("breakdown") else pts
        flagged = res.df[res.df["breakdown"] == v] if kw.get("breakdown") else res.df
        if p.empty or not p["evaluated"].any():
            rows.append((v, float("nan"), "no day could be evaluated (4 weeks of history needed)"))
            continue
        top = [
            f"{r.metric}{'' if r.dimension == 'total' else f' [{r.dimension}={r.value}]'} "
            f"{pd.Timestamp(r.date):%Y-%m-%d}"
            for r in flagged.head(3).itertuples()
        ]
        rows.append((v, float(len(flagged)), "; ".join(top) if top else "none flagged"))
    return pd.DataFrame(rows, columns=["breakdown", "anomalies", "detail"])


# ------------------------------------------------------------------------------------------
# Rules
# ------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class AlertRule:
    """One alert: ``metric comparison threshold`` over ``window`` (with optional filters)."""

    name: str
    metric: str
    comparison: str
    threshold: float
    window: str | None = None
    filters: dict[str, Any] = field(default_factory=dict)
    description: str = ""
    enabled: bool = True
    extra: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if not self.name:
            raise ValueError("alert rule without a name")
        if self.metric not in METRICS:
            raise ValueError(
                f"alert {self.name!r}: unknown metric {self.metric!r} (use {', '.join(METRICS)})"
            )
        if self.comparison not in OPS:
            raise ValueError(
                f"alert {self.name!r}: comparison {self.comparison!r} (use {', '.join(OPS)})"
            )
        if isinstance(self.threshold, bool) or not isinstance(self.threshold, int | float):
            raise ValueError(f"alert {self.name!r}: threshold must be a number")
        if self.window is not None:
            parse_window(self.window)
        if not isinstance(self.filters, dict):
            raise ValueError(f"alert {self.name!r}: filters must be a mapping")

    @property
    def spec(self) -> AlertMetric:
        return METRICS[self.metric]

    def condition(self) -> str:
        """Human text: ``P95 latency > 3,000 ms`` (with filters when there are any)."""
        m = self.spec
        text = f"{m.label} {self.comparison} {fmt(self.threshold, m.unit)}"
        if self.filters:
            text += " where " + ", ".join(f"{k}={v}" for k, v in self.filters.items())
        return text

    def breached(self, observed: float) -> bool:
        return bool(OPS[self.comparison](observed, float(self.threshold)))


_RULE_KEYS = {"name", "metric", "comparison", "threshold", "window", "filters", "description"}


def _rule(d: dict[str, Any]) -> AlertRule:
    if not isinstance(d, dict):
        raise ValueError(f"alert rule must be a mapping, got {type(d).__name__}")
    missing = [k for k in ("name", "metric", "comparison", "threshold") if k not in d]
    if missing:
        raise ValueError(f"alert rule {d.get('name', '?')!r}: missing {', '.join(missing)}")
    return AlertRule(
        name=str(d["name"]),
        metric=str(d["metric"]),
        comparison=str(d["comparison"]).strip(),
        threshold=d["threshold"],
        window=None if d.get("window") is None else str(d["window"]),
        filters=dict(d.get("filters") or {}),
        description=str(d.get("description") or ""),
        enabled=bool(d.get("enabled", True)),
        extra={k: v for k, v in d.items() if k not in _RULE_KEYS | {"enabled"}},
    )


def _read_file(path: str | Path) -> dict[str, Any]:
    p = Path(path)
    if not p.exists():
        raise FileNotFoundError(f"alert rules file not found: {p}")
    return config.load_parameters(p)


def load_rules(
    source: str | Path | dict | Sequence[AlertRule | dict] | None = None,
) -> list[AlertRule]:
    """Rules from a YAML file (``alerts:`` list), a dict, a list, or the default file.

    Disabled rules (``enabled: false``) are dropped. Raises ``ValueError`` on a malformed
    rule (unknown metric, bad comparison, non-numeric threshold, bad window).
    """
    if source is None or isinstance(source, str | Path):
        raw = _read_file(source or DEFAULT_RULES).get("alerts") or []
    elif isinstance(source, dict):
        raw = source.get("alerts") or []
    else:
        raw = list(source)
    rules = [r if isinstance(r, AlertRule) else _rule(r) for r in raw]
    names = [r.name for r in rules]
    dup = sorted({n for n in names if names.count(n) > 1})
    if dup:
        raise ValueError(f"duplicate alert names: {', '.join(dup)}")
    return [r for r in rules if r.enabled]


def _settings(source: Any) -> dict[str, Any]:
    """The ``delivery:`` settings of a rules file or dict (timeout_seconds...)."""
    if source is None or isinstance(source, str | Path):
        try:
            return dict(_read_file(source or DEFAULT_RULES).get("delivery") or {})
        except FileNotFoundError:
            return {}
    if isinstance(source, dict):
        return dict(source.get("delivery") or {})
    return {}


# ------------------------------------------------------------------------------------------
# Evaluation
# ------------------------------------------------------------------------------------------


@dataclass
class Delivery:
    """What happened to the webhook post (``attempted`` False: nothing was sent)."""

    attempted: bool = False
    ok: bool = False
    status: int | None = None
    error: str | None = None
    sent: int = 0
    reason: str = ""
    host: str | None = None

    def __str__(self) -> str:
        if not self.attempted:
            return f"not sent: {self.reason}"
        if self.ok:
            return f"sent {self.sent} alert(s) to {self.host} (HTTP {self.status})"
        return f"delivery to {self.host} failed: {self.error}"


class AlertResult(MetricResult):
    """One row per rule (and breakdown value); ``firing`` and ``delivery`` for convenience."""

    @property
    def firing(self) -> pd.DataFrame:
        return self.df[self.df["status"] == "firing"].reset_index(drop=True)

    @property
    def delivery(self) -> Delivery:
        return self.extra.get("delivery") or Delivery(reason="not evaluated")

    def formatted(self, max_rows: int | None = None) -> pd.DataFrame:
        df = self.df if max_rows is None else self.df.head(max_rows)
        out = df.copy()
        for col in ("observed", "threshold"):
            out[col] = [fmt(v, u) for v, u in zip(df[col], df["unit"], strict=True)]
        return safe_frame(out.drop(columns=["unit", "metric"]))

    def _repr_html_(self) -> str:
        body = (
            "<em>No alert rules.</em>"
            if self.df.empty
            else self.formatted().to_html(index=False, border=0, escape=True)
        )
        foot = f"<div style='color:#666'>Delivery: {self.delivery}</div>"
        return (
            header_html(self.title, self.definition, self.scope)
            + body
            + foot
            + sql_details_html(self.sql)
        )

    def __str__(self) -> str:
        return f"{self.title}\n{self.formatted().to_string(index=False)}\nDelivery: {self.delivery}"

    def plot(self, ax=None, **kw):
        """Observed / threshold per rule (1 = at the threshold); no-data rules left empty."""
        d = self.df.copy()
        label = d["name"] + (" · " + d["breakdown"].astype(str) if "breakdown" in d else "")
        d["label"] = label
        d["ratio"] = [
            o / t if pd.notna(o) and t else float("nan")
            for o, t in zip(d["observed"], d["threshold"], strict=True)
        ]
        d["ratio"] = d["ratio"].fillna(0.0)
        ax = charts.barh(
            d, "label", "ratio", title=self.title, xlabel="observed / threshold", ax=ax
        )
        ax.axvline(1.0, color=charts.DOWN, lw=1.2, ls="--")
        return ax


def _window_scope(base: Scope, rule: AlertRule) -> Scope:
    """The rule's own window ending where the call's range ends (else the call's range)."""
    if rule.window is None:
        return base
    days = max(1, parse_window(rule.window).days)
    return base.with_range(base.end - timedelta(days=days), base.end)


def _any_events(wh, sc: Scope, cache: dict) -> bool:
    key = ("any", sc.start, sc.end, sc.as_of)
    if key not in cache:
        n = wh.scalar(f"SELECT count(*) FROM events WHERE {sc.time_bounds_sql('timestamp')}")
        cache[key] = bool(n)
    return cache[key]


def _num(x: Any) -> float | None:
    try:
        v = float(x)
    except (TypeError, ValueError):
        return None
    return None if math.isnan(v) else v


@records_sql
def evaluate_alerts(
    wh,
    rules: str | Path | dict | Sequence[AlertRule | dict] | None = None,
    as_of: str | date | datetime | None = None,
    window: str | int | timedelta = "7d",
    *,
    webhook_url: str | None = None,
    notify: bool = True,
    timeout: float | None = None,
    **scope: Unpack[ScopeArgs],
) -> AlertResult:
    """Evaluate every alert rule over its window ending at ``as_of``.

    ``rules``: a YAML path, a dict with ``alerts:``, a list of rules, or None for
    ``parameters/alerts.yaml``. Each rule's ``window`` (else ``window``) is the number of
    local days ending at ``as_of`` (or at ``end``). Columns: ``name, metric, condition,
    observed, threshold, status (firing/ok/no data), window, period, detail, unit``
    (+ ``breakdown``). Firing alerts are posted to the Slack webhook when one is
    configured and ``notify`` is true; see :class:`Delivery`.
    """
    if as_of is not None:
        scope["as_of"] = as_of  # type: ignore[typeddict-item]
    base = resolve(wh, default_window=window, **scope)
    rule_list = load_rules(rules)
    default_window = f"{base.days}d"
    cache: dict = {}
    rows: list[dict[str, Any]] = []
    for rule in rule_list:
        sc = _window_scope(base, rule)
        filters = {**base.filters, **rule.filters}
        kw = {
            "start": sc.start,
            "end": sc.end,
            "as_of": sc.as_of,
            "tz": sc.tz,
            "filters": filters,
            "breakdown": sc.breakdown,
        }
        m = rule.spec
        key = (
            m.group,
            sc.start,
            sc.end,
            sc.as_of,
            json.dumps(filters, sort_keys=True, default=str),
        )
        if key not in cache:
            cache[key] = _read_group(wh, m.group, kw)
        data = cache[key]
        has_events = _any_events(wh, sc, cache) if m.counts else True
        values = list(data["breakdown"]) if len(data) else ["all"]
        for i, value in enumerate(values):
            observed = _num(data[m.column].iloc[i]) if len(data) else None
            detail = str(data["detail"].iloc[i]) if len(data) else ""
            if not has_events:
                observed, detail = None, "no events in the window"
            if sc.days <= 0:
                observed, detail = None, "empty window"
            if observed is None:
                status = "no data"
                detail = detail or "no data in the window"
            else:
                status = "firing" if rule.breached(observed) else "ok"
            rows.append(
                {
                    "name": rule.name,
                    "metric": rule.metric,
                    "breakdown": value,
                    "condition": rule.condition(),
                    "observed": observed,
                    "threshold": float(rule.threshold),
                    "status": status,
                    "window": rule.window or default_window,
                    "period": sc.describe(),
                    "detail": detail,
                    "unit": m.unit,
                }
            )
    cols = list(COLUMNS)
    if base.breakdown:
        cols.insert(1, "breakdown")
    df = pd.DataFrame(rows).reindex(columns=cols) if rows else pd.DataFrame(columns=cols)
    df["observed"] = df["observed"].astype("float64")
    df["threshold"] = df["threshold"].astype("float64")
    res = AlertResult(
        name="alerts",
        title="Alerts",
        df=df,
        definition="Each rule: observed value over its window vs the threshold (firing / ok / no data)",
        scope=base,
        units={},
        kind="table",
        extra={"rules": rule_list},
    )
    settings = _settings(rules)
    t = timeout if timeout is not None else float(settings.get("timeout_seconds", DEFAULT_TIMEOUT))
    total = float(settings.get("deadline_seconds", max(DEFAULT_DEADLINE, t)))
    if notify:
        res.extra["delivery"] = send_slack(res, webhook_url, timeout=t, deadline=total)
    else:
        res.extra["delivery"] = Delivery(reason="notify=False")
    return res


# ------------------------------------------------------------------------------------------
# Slack delivery
# ------------------------------------------------------------------------------------------


def _esc(text: str) -> str:
    """Escape Slack mrkdwn control characters."""
    return str(text).replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def slack_payload(result: AlertResult) -> dict[str, Any]:
    """The Slack incoming-webhook JSON for the firing alerts of ``result``."""
    firing = result.firing
    n = len(firing)
    period = result.scope.describe() if result.scope is not None else ""
    head = f"ZANTARA: {n} alert{'s' if n != 1 else ''} firing"
    lines = []
    blocks: list[dict[str, Any]] = [
        {"type": "header", "text": {"type": "plain_text", "text": head[:150]}}
    ]
    for r in firing.itertuples():
        where = f" [{safe_text(r.breakdown, LABEL_LIMIT)}]" if "breakdown" in firing.columns else ""
        name, cond = safe_text(r.name), safe_text(r.condition)
        obs, thr = fmt(r.observed, r.unit), fmt(r.threshold, r.unit)
        lines.append(f"{name}{where}: {cond} (observed {obs}, window {r.window})")
        text = (
            f"*{_esc(name)}{_esc(where)}*\n{_esc(cond)}\n"
            f"observed *{_esc(obs)}* · threshold {_esc(thr)} · window {_esc(r.window)} "
            f"({_esc(safe_text(r.period))})"
        )
        if r.detail and not is_missing(r.detail):
            text += f"\n_{_esc(safe_text(r.detail))}_"
        blocks.append({"type": "section", "text": {"type": "mrkdwn", "text": text[:3000]}})
    if result.scope is not None:
        as_of = result.scope.as_of.strftime("%Y-%m-%d %H:%M %Z")
        blocks.append(
            {
                "type": "context",
                "elements": [{"type": "mrkdwn", "text": _esc(f"as of {as_of} · {period}")}],
            }
        )
    text = head + (": " + "; ".join(lines) if lines else "")
    return {"text": _esc(shorten(text, 3000)), "blocks": blocks[:50]}


def webhook_url_from_env() -> str | None:
    """``$ZANTARA_SLACK_WEBHOOK`` (empty counts as not set)."""
    return os.environ.get(WEBHOOK_ENV) or None


def send_slack(
    result: AlertResult,
    webhook_url: str | None = None,
    *,
    timeout: float = DEFAULT_TIMEOUT,
    deadline: float = DEFAULT_DEADLINE,
) -> Delivery:
    """POST the firing alerts of ``result`` to a Slack-compatible incoming webhook.

    Nothing is sent without a URL (argument, else ``$ZANTARA_SLACK_WEBHOOK``) or without a
    firing alert. ``timeout`` bounds each socket operation, ``deadline`` the whole post
    (connection, request and the complete answer): a server that trickles its answer is
    cut off when the deadline passes (:class:`zantara_nb.deadline.Deadline`). Never
    raises: failures are logged and returned in the :class:`Delivery`.
    """
    url = webhook_url or webhook_url_from_env()
    if not url:
        return Delivery(reason=f"no webhook configured (set {WEBHOOK_ENV})")
    n = len(result.firing)
    if n == 0:
        return Delivery(reason="nothing firing")
    try:
        parsed = urllib.parse.urlsplit(url)
        port = parsed.port
    except ValueError:
        return Delivery(attempted=True, error="unsupported webhook URL", host="?")
    host = parsed.hostname or "?"
    if port:
        host = f"{host}:{port}"
    if parsed.scheme not in {"http", "https"} or not parsed.hostname:
        log.warning("alert webhook: unsupported URL (scheme %r)", parsed.scheme)
        return Delivery(attempted=True, error="unsupported webhook URL", host=host)
    body = json.dumps(slack_payload(result)).encode("utf-8")
    path = urllib.parse.urlunsplit(("", "", parsed.path or "/", parsed.query, ""))
    dl = Deadline(deadline)
    conn: http.client.HTTPConnection | None = None
    try:
        if parsed.scheme == "https":
            conn = http.client.HTTPSConnection(
                parsed.hostname, port, timeout=dl.timeout(timeout),
                context=ssl.create_default_context(),
            )  # fmt: skip
        else:
            conn = http.client.HTTPConnection(parsed.hostname, port, timeout=dl.timeout(timeout))
        with dl.watch(lambda: getattr(conn, "sock", None)):
            conn.request("POST", path, body, {"Content-Type": "application/json"})
            resp = conn.getresponse()
            status = int(resp.status)
            resp.read(65536)
        dl.check()
    except (OSError, http.client.HTTPException, ValueError) as exc:
        if dl.expired:
            error = f"timed out: {dl.message()}"
        elif isinstance(exc, TimeoutError | socket.timeout):
            error = "timed out"
        else:
            error = str(getattr(exc, "reason", None) or exc) or type(exc).__name__
        log.warning("alert webhook %s failed: %s", host, error)
        return Delivery(attempted=True, error=error, host=host)
    finally:
        if conn is not None:
            conn.close()
    ok = 200 <= status < 300
    if not ok:
        log.warning("alert webhook %s answered HTTP %s", host, status)
    return Delivery(
        attempted=True,
        ok=ok,
        status=status,
        error=None if ok else f"HTTP {status}",
        sent=n if ok else 0,
        host=host,
    )


__all__ = [
    "METRICS",
    "AlertMetric",
    "AlertResult",
    "AlertRule",
    "Delivery",
    "evaluate_alerts",
    "load_rules",
    "send_slack",
    "slack_payload",
]
