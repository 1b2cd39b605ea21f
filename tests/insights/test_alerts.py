"""Alert rules (METRICS.md section 8) and their Slack-compatible webhook delivery.

Fixtures are in Asia/Jakarta (UTC+7). The report window is the 7 local days
2026-03-02 .. 03-08 (``as_of`` = 2026-03-09 00:00 local) unless a test says otherwise;
expected values are worked out in the comments. Webhooks are local HTTP servers started
in the test (127.0.0.1, a free port).
"""

from __future__ import annotations

import json
import math
import socket
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pandas as pd
import pytest
from eventkit import add_events, ev

from zantara_nb import Warehouse
from zantara_nb.insights.alerts import (
    DEFAULT_RULES,
    METRICS,
    AlertRule,
    evaluate_alerts,
    load_rules,
    send_slack,
    slack_payload,
)

AS_OF = "2026-03-09"
SEED = [
    {
        "name": "High Latency Alert",
        "metric": "p95_latency_ms",
        "comparison": ">",
        "threshold": 3000,
    },
    {
        "name": "Low Satisfaction Alert",
        "metric": "mean_rating",
        "comparison": "<",
        "threshold": 0.5,
    },
    {
        "name": "High Error Rate Alert",
        "metric": "max_hourly_errors",
        "comparison": ">",
        "threshold": 100,
    },
]


@pytest.fixture(autouse=True)
def no_env_webhook(monkeypatch):
    """Tests never post to a webhook configured on the machine."""
    monkeypatch.delenv("ZANTARA_SLACK_WEBHOOK", raising=False)


def _at(day: int, hour: int, minute: int = 0, second: int = 0) -> pd.Timestamp:
    return pd.Timestamp(f"2026-03-{day:02d} {hour:02d}:{minute:02d}:{second:02d}+07:00")


def _replies(latencies, day=3, model="A"):
    t = _at(day, 9)
    return [
        ev(
            "u1",
            "message_received",
            t + pd.Timedelta(seconds=30 * i),
            response_latency_ms=v,
            model_used=model,
        )
        for i, v in enumerate(latencies)
    ]


def _ratings(pos: int, neg: int, day=4):
    t = _at(day, 10)
    vals = [1] * pos + [-1] * neg
    return [
        ev(f"u{i}", "feedback_given", t + pd.Timedelta(minutes=i), rating=v)
        for i, v in enumerate(vals)
    ]


def _errors(n: int, start: pd.Timestamp, every_s: int = 30):
    return [
        ev(
            "u1",
            "error_occurred",
            start + pd.Timedelta(seconds=every_s * i),
            error_type="llm_timeout",
        )
        for i in range(n)
    ]


def _row(res, name, breakdown=None):
    df = res.df[res.df["name"] == name]
    if breakdown is not None:
        df = df[df["breakdown"] == breakdown]
    assert len(df) == 1, res.df
    return df.iloc[0]


def _eval(wh, rules=SEED, **kw):
    kw.setdefault("as_of", AS_OF)
    return evaluate_alerts(wh, rules, notify=False, **kw)


# ------------------------------------------------------------------------------------------
# Worked expectations per rule
# ------------------------------------------------------------------------------------------


@pytest.mark.parametrize("top,status", [(3000, "ok"), (3001, "firing")])
def test_p95_rule_at_the_boundary(wh, top, status):
    # 21 replies sorted: 19 x 1000, top, 5000. P95 position (21 - 1) * 0.95 = 19 (0-based):
    # exactly the 20th value = top. 3000 > 3000 is false (ok); 3001 fires.
    add_events(wh, _replies([1000] * 19 + [top, 5000]))
    r = _row(_eval(wh), "High Latency Alert")
    assert r["observed"] == pytest.approx(top)
    assert (r["status"], r["threshold"], r["window"]) == (status, 3000, "7d")
    assert r["condition"] == "P95 latency > 3,000 ms"
    assert r["detail"] == "21 replies"
    assert r["period"] == "2026-03-02 → 2026-03-08 (Asia/Jakarta)"


@pytest.mark.parametrize(
    "pos,neg,mean,status",
    [
        (3, 1, 0.5, "ok"),  # (3 - 1) / 4 = 0.5: not below 0.5
        (5, 3, 0.25, "firing"),  # (5 - 3) / 8 = 0.25
        (7, 1, 0.75, "ok"),
    ],
)
def test_rating_rule_at_the_boundary(wh, pos, neg, mean, status):
    add_events(wh, _ratings(pos, neg))
    r = _row(_eval(wh), "Low Satisfaction Alert")
    assert r["observed"] == pytest.approx(mean)
    assert r["status"] == status
    assert r["condition"] == "Mean rating (−1 to +1) < 0.50"


@pytest.mark.parametrize("n,status", [(100, "ok"), (101, "firing")])
def test_hourly_error_rule_100_vs_101(wh, n, status):
    # n errors from 14:00:00 local, 30 s apart (the 101st at 14:50): all in the hour
    # [14:00, 15:00); one more at 15:00:00 sharp belongs to the next hour
    add_events(wh, _errors(n, _at(4, 14)) + _errors(1, _at(4, 15)))
    r = _row(_eval(wh), "High Error Rate Alert")
    assert (r["observed"], r["status"]) == (n, status)
    assert r["detail"] == "busiest hour 2026-03-04 14:00–15:00 (local)"


def test_hourly_errors_are_clock_hours_not_sliding(wh):
    # 60 at 14:30-14:59 and 60 at 15:00-15:29: 120 within 60 minutes, but 60 per clock hour
    add_events(wh, _errors(60, _at(4, 14, 30)) + _errors(60, _at(4, 15)))
    r = _row(_eval(wh), "High Error Rate Alert")
    assert (r["observed"], r["status"]) == (60, "ok")


def test_hour_cut_by_as_of_counts_as_a_lower_bound(wh):
    # 150 errors 10 s apart from 14:00 (the last at 14:24:50); as_of 14:40 cuts that hour:
    # it is not complete, but 150 so far already exceeds 100
    add_events(wh, _errors(150, _at(4, 14), every_s=10))
    r = _row(_eval(wh, as_of="2026-03-04 14:40"), "High Error Rate Alert")
    assert (r["observed"], r["status"]) == (150, "firing")
    assert "lower bound" in r["detail"]
    # with only 50 so far the partial hour is no breach yet; the complete hours have 0
    wh2 = Warehouse(":memory:")
    add_events(wh2, _errors(50, _at(4, 14), every_s=10))
    r = _row(_eval(wh2, as_of="2026-03-04 14:40"), "High Error Rate Alert")
    assert (r["observed"], r["status"]) == (50, "ok")
    wh2.close()


def test_window_is_local_days(wh):
    # 101 errors on 03-01 23:00-23:50 local (16:00 UTC): the day before the window -> not
    # counted; 101 errors on 03-02 00:00-00:50 local (= 03-01 17:00 UTC): inside the window
    add_events(wh, _errors(101, _at(1, 23)))
    r = _row(_eval(wh), "High Error Rate Alert")
    # nothing at all in the window yet: no data, not "0 errors"
    assert (math.isnan(r["observed"]), r["status"]) == (True, "no data")
    add_events(wh, [ev("a", "page_viewed", _at(8, 23, 59))])
    r = _row(_eval(wh), "High Error Rate Alert")
    assert (r["observed"], r["status"]) == (0, "ok")
    add_events(wh, _errors(101, _at(2, 0)))
    r = _row(_eval(wh), "High Error Rate Alert")
    assert (r["observed"], r["status"]) == (101, "firing")


def test_no_data_is_never_zero(wh):
    # an empty warehouse: every rule has no data (not "0 errors, ok")
    res = _eval(wh)
    assert list(res.df["status"]) == ["no data"] * 3
    assert res.df["observed"].isna().all()
    assert res.firing.empty
    # one page view in the window: errors are now observed (0 -> ok), but there is still no
    # reply (no P95) and no feedback (no rating)
    add_events(wh, [ev("a", "page_viewed", _at(3, 9))])
    res = _eval(wh)
    assert _row(res, "High Error Rate Alert")[["observed", "status"]].tolist() == [0, "ok"]
    assert _row(res, "High Latency Alert")["status"] == "no data"
    assert _row(res, "Low Satisfaction Alert")["status"] == "no data"


def test_empty_range_has_no_data(wh):
    add_events(wh, _errors(150, _at(2, 9)) + _replies([9000] * 3, day=2))
    res = evaluate_alerts(wh, SEED, start="2026-03-02", end="2026-03-02", notify=False)
    assert res.df["status"].tolist() == ["no data"] * 3
    assert res.df["observed"].isna().all()


def test_rule_window_filters_and_breakdown(wh):
    add_events(
        wh,
        _replies([1000] * 20, day=3, model="A")
        + _replies([4000] * 20, day=5, model="B")
        + _replies([9000] * 20, day=8, model="B"),
    )
    rules = [
        {**SEED[0], "name": "P95 A", "filters": {"model_used": "A"}},
        {**SEED[0], "name": "P95 B", "filters": {"model_used": "B"}},
        # the last day only: 03-08, model B at 9000 ms
        {**SEED[0], "name": "P95 last day", "window": "1d"},
    ]
    res = _eval(wh, rules)
    assert _row(res, "P95 A")[["observed", "status"]].tolist() == [1000, "ok"]
    b = _row(res, "P95 B")
    assert b[["observed", "status"]].tolist() == [pytest.approx(9000), "firing"]
    assert b["condition"] == "P95 latency > 3,000 ms where model_used=B"
    last = _row(res, "P95 last day")
    assert last[["observed", "status", "window"]].tolist() == [9000, "firing", "1d"]
    assert last["period"].startswith("2026-03-08 → 2026-03-08")
    # breakdown: one row per model
    res = _eval(wh, [SEED[0]], breakdown="model_used")
    assert res.df[["breakdown", "status"]].values.tolist() == [["A", "ok"], ["B", "firing"]]
    # a call filter applies to every rule
    res = _eval(wh, [SEED[0]], filters={"model_used": "A"})
    assert res.df["status"].tolist() == ["ok"]


def test_other_registered_metrics(wh):
    add_events(
        wh,
        [ev("u1", "message_sent", _at(3, 9, i), query_category="visa") for i in range(10)]
        + _errors(2, _at(3, 10))
        + [ev("u1", "nps_submitted", _at(3, 11), score=10)],
    )
    rules = [
        {"name": "rate", "metric": "error_rate", "comparison": ">=", "threshold": 0.2},
        {"name": "errors", "metric": "errors", "comparison": "==", "threshold": 2},
        {"name": "msgs", "metric": "messages", "comparison": "<", "threshold": 5},
        {"name": "nps", "metric": "nps", "comparison": "<", "threshold": 50},
        {"name": "cost", "metric": "cost_per_1k_usd", "comparison": ">", "threshold": 5},
    ]
    res = _eval(wh, rules)
    # 2 errors / 10 messages = 0.2 >= 0.2 fires; 2 == 2 fires; 10 < 5 is false;
    # NPS 100 (one promoter) < 50 is false; no reply -> no cost -> no data
    assert res.df[["name", "observed", "status"]].head(4).values.tolist() == [
        ["rate", 0.2, "firing"],
        ["errors", 2, "firing"],
        ["msgs", 10, "ok"],
        ["nps", 100, "ok"],
    ]
    assert res.df["name"].iloc[4] == "cost" and res.df["status"].iloc[4] == "no data"
    assert math.isnan(res.df["observed"].iloc[4])
    assert set(METRICS) >= {"p95_latency_ms", "mean_rating", "max_hourly_errors", "anomalies"}


def test_anomaly_rule_without_history_has_no_data(wh):
    add_events(wh, _errors(3, _at(4, 9)))
    res = _eval(wh, [{"name": "a", "metric": "anomalies", "comparison": ">", "threshold": 0}])
    r = res.df.iloc[0]
    assert (r["status"], r["window"]) == ("no data", "7d")
    assert "4 weeks" in r["detail"]


# ------------------------------------------------------------------------------------------
# Rules files
# ------------------------------------------------------------------------------------------


def test_default_rules_file_has_the_seed_alerts(wh):
    rules = {r.name: r for r in load_rules()}
    assert (rules["High Latency Alert"].metric, rules["High Latency Alert"].comparison) == (
        "p95_latency_ms",
        ">",
    )
    assert rules["High Latency Alert"].threshold == 3000
    assert (rules["Low Satisfaction Alert"].metric, rules["Low Satisfaction Alert"].threshold) == (
        "mean_rating",
        0.5,
    )
    assert rules["High Error Rate Alert"].metric == "max_hourly_errors"
    assert rules["High Error Rate Alert"].threshold == 100
    assert "AI cost above target" not in rules  # enabled: false
    assert DEFAULT_RULES.name == "alerts.yaml"
    # the default file evaluates end to end (no data at all here)
    res = evaluate_alerts(wh, as_of=AS_OF, notify=False)
    assert len(res.df) == len(rules)
    assert set(res.df["status"]) == {"no data"}


@pytest.mark.parametrize(
    "bad",
    [
        {"name": "x", "metric": "nope", "comparison": ">", "threshold": 1},
        {"name": "x", "metric": "errors", "comparison": "=>", "threshold": 1},
        {"name": "x", "metric": "errors", "comparison": ">", "threshold": "high"},
        {"name": "x", "metric": "errors", "comparison": ">", "threshold": 1, "window": "soon"},
        {"name": "x", "metric": "errors", "comparison": ">"},
    ],
)
def test_malformed_rules_are_refused(bad):
    with pytest.raises(ValueError):
        load_rules([bad])


def test_rules_from_a_yaml_file_and_duplicates(tmp_path):
    p = tmp_path / "a.yaml"
    p.write_text(
        "alerts:\n"
        "  - {name: one, metric: errors, comparison: '>', threshold: 5, window: 1d}\n"
        "  - {name: two, metric: errors, comparison: '>', threshold: 5, enabled: false}\n"
    )
    rules = load_rules(p)
    assert [(r.name, r.window) for r in rules] == [("one", "1d")]
    with pytest.raises(ValueError, match="duplicate"):
        load_rules([SEED[0], SEED[0]])
    with pytest.raises(FileNotFoundError):
        load_rules(tmp_path / "missing.yaml")
    assert AlertRule("n", "errors", ">", 1).condition() == "Errors > 1"


# ------------------------------------------------------------------------------------------
# Delivery
# ------------------------------------------------------------------------------------------


class _Server:
    """A webhook on 127.0.0.1:<free port> that records posted JSON and answers ``status``."""

    def __init__(self, status: int = 200, delay: float = 0.0):
        received = self.received = []

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):  # noqa: N802 (http.server API)
                n = int(self.headers.get("Content-Length", 0))
                body = self.rfile.read(n)
                received.append(
                    {"json": json.loads(body), "content_type": self.headers.get("Content-Type")}
                )
                if delay:
                    time.sleep(delay)
                try:
                    self.send_response(status)
                    self.end_headers()
                    self.wfile.write(b"ok" if status == 200 else b"error")
                except (BrokenPipeError, ConnectionResetError):
                    pass  # the client gave up (timeout test)

            def log_message(self, *a):  # quiet
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.httpd.block_on_close = False
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/services/T000/B000/secret"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    def close(self):
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def server():
    s = _Server()
    yield s
    s.close()


def _firing(wh):
    """P95 4000 ms (firing), rating 0.5 (ok), no error (ok)."""
    add_events(wh, _replies([4000] * 5) + _ratings(3, 1) + _errors(1, _at(4, 9)))


def test_firing_alerts_are_posted_as_slack_json(wh, server):
    _firing(wh)
    res = evaluate_alerts(wh, SEED, as_of=AS_OF, webhook_url=server.url)
    d = res.delivery
    assert (d.attempted, d.ok, d.status, d.sent, d.error) == (True, True, 200, 1, None)
    assert d.host == f"127.0.0.1:{server.httpd.server_address[1]}"
    assert "secret" not in str(d)  # the URL path is a secret, never shown
    assert len(server.received) == 1
    got = server.received[0]
    assert got["content_type"] == "application/json"
    payload = got["json"]
    assert set(payload) == {"text", "blocks"}
    assert payload["text"].startswith("ZANTARA: 1 alert firing: High Latency Alert")
    # only the firing alert is in the message
    assert "Low Satisfaction" not in json.dumps(payload)
    assert payload["blocks"][0] == {
        "type": "header",
        "text": {"type": "plain_text", "text": "ZANTARA: 1 alert firing"},
    }
    section = payload["blocks"][1]
    assert section["type"] == "section" and section["text"]["type"] == "mrkdwn"
    assert "*High Latency Alert*" in section["text"]["text"]
    assert "observed *4,000 ms*" in section["text"]["text"]
    assert payload["blocks"][-1]["type"] == "context"


def test_webhook_from_the_environment(wh, server, monkeypatch):
    _firing(wh)
    monkeypatch.setenv("ZANTARA_SLACK_WEBHOOK", server.url)
    res = evaluate_alerts(wh, SEED, as_of=AS_OF)
    assert res.delivery.ok and len(server.received) == 1
    # notify=False never posts
    evaluate_alerts(wh, SEED, as_of=AS_OF, notify=False)
    assert len(server.received) == 1


def test_nothing_firing_posts_nothing(wh, server):
    add_events(wh, _replies([1000] * 5))
    res = evaluate_alerts(wh, SEED, as_of=AS_OF, webhook_url=server.url)
    assert res.firing.empty
    assert (res.delivery.attempted, res.delivery.reason) == (False, "nothing firing")
    assert server.received == []


def test_no_webhook_configured(wh):
    _firing(wh)
    res = evaluate_alerts(wh, SEED, as_of=AS_OF)
    assert not res.delivery.attempted
    assert "ZANTARA_SLACK_WEBHOOK" in res.delivery.reason


def test_http_500_is_reported_not_raised(wh, caplog):
    _firing(wh)
    s = _Server(status=500)
    try:
        res = evaluate_alerts(wh, SEED, as_of=AS_OF, webhook_url=s.url)
    finally:
        s.close()
    d = res.delivery
    assert (d.attempted, d.ok, d.status, d.error, d.sent) == (True, False, 500, "HTTP 500", 0)
    assert len(s.received) == 1
    assert "HTTP 500" in caplog.text and "secret" not in caplog.text
    assert res.firing["name"].tolist() == ["High Latency Alert"]  # the table is still there


def test_closed_port_is_reported_not_raised(wh):
    _firing(wh)
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    sock.close()
    res = evaluate_alerts(wh, SEED, as_of=AS_OF, webhook_url=f"http://127.0.0.1:{port}/hook")
    d = res.delivery
    assert d.attempted and not d.ok and d.status is None
    assert "refused" in d.error.lower()


def test_timeout_is_reported_not_raised(wh):
    _firing(wh)
    s = _Server(delay=3.0)
    try:
        t0 = time.perf_counter()
        res = evaluate_alerts(wh, SEED, as_of=AS_OF, webhook_url=s.url, timeout=0.2)
        took = time.perf_counter() - t0
    finally:
        s.close()
    assert res.delivery.attempted and not res.delivery.ok
    assert "timed out" in res.delivery.error
    assert took < 2.5


def test_bad_url_is_reported_not_raised(wh):
    _firing(wh)
    res = _eval(wh)
    for url in ("file:///etc/passwd", "not a url"):
        d = send_slack(res, url)
        assert d.attempted and not d.ok and d.error


def test_payload_escapes_slack_markup(wh):
    add_events(wh, _replies([4000] * 5))
    res = _eval(wh, [{**SEED[0], "name": "P95 <b> & co"}])
    text = slack_payload(res)["blocks"][1]["text"]["text"]
    assert "*P95 &lt;b&gt; &amp; co*" in text


def test_result_renders_and_plots(wh):
    import matplotlib

    matplotlib.use("Agg")
    _firing(wh)
    res = _eval(wh)
    html = res._repr_html_()
    assert "4,000 ms" in html and "firing" in html and "Delivery" in html
    assert "High Latency Alert" in str(res)
    ax = res.plot()
    assert ax.get_xlabel() == "observed / threshold"
