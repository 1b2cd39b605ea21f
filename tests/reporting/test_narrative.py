"""summarize(): the paragraph's wording on hand-made KPI and alert frames."""

from __future__ import annotations

from datetime import date

import pandas as pd

from zantara_nb.metrics.kpis import KPIResult
from zantara_nb.reporting.narrative import summarize

COLS = [
    "kpi",
    "label",
    "unit",
    "current",
    "previous",
    "change",
    "change_rel",
    "p_value",
    "significant",
    "target",
    "target_direction",
    "target_met",
]


def _row(kpi, label, unit, cur, prev, p=None, target=None, tdir="higher", met=None):
    change = None if cur is None or prev is None else cur - prev
    rel = None if change is None or not prev else change / abs(prev)
    sig = p is not None and p < 0.05
    return [kpi, label, unit, cur, prev, change, rel, p, sig, target, tdir, met]


def _kpis(rows, period="week"):
    df = pd.DataFrame(rows, columns=COLS)
    return KPIResult(
        name="kpis",
        title="KPIs",
        df=df,
        extra={"period": period, "start": date(2026, 11, 16), "end": date(2026, 11, 23)},
    )


NS_UP = _row("active_users", "Weekly active users (North Star)", "users", 1200, 1000, p=0.0001)


def test_north_star_significant_rise_and_significant_moves():
    k = _kpis(
        [
            NS_UP,
            _row("wow_growth", "Active-user growth", "change", 0.2, 0.05, target=0.1, met=True),
            _row("messages", "Messages sent", "count", 5000, 6000, p=0.001),
            _row("error_rate", "Error rate (errors / messages)", "rate", 0.02, 0.01, p=0.01),
            _row("satisfaction", "Satisfaction (share positive)", "rate", 0.72, 0.71, p=0.6),
        ]
    )
    text = summarize(k)
    assert text.startswith(
        "In the week 2026-11-16 → 2026-11-22, weekly active users (the North Star) were "
        "1,200, up 20.0% from 1,000 (a significant change, p < 0.001)."
    )
    # significant moves: direction verb, relative change for counts, pp for rates
    assert (
        "Significant changes: messages sent fell 16.7% to 5,000 (from 6,000); "
        "error rate rose 1.0 pp to 2.0% (from 1.0%)." in text
    )
    # a non-significant move is not mentioned as a change
    assert "satisfaction" not in text.lower()
    assert "All 1 target with a value this period was met." in text
    assert summarize(k) == text  # deterministic


def test_not_significant_north_star_and_no_other_moves():
    k = _kpis(
        [
            _row("active_users", "Weekly active users (North Star)", "users", 1130, 1122, p=0.88),
            _row("messages", "Messages sent", "count", 5110, 5161, p=0.62),
        ]
    )
    text = summarize(k)
    assert "were 1,130, up 0.7% from 1,122 (not a significant change, p = 0.880)." in text
    assert "No other headline number changed significantly." in text
    assert "Significant changes" not in text


def test_missing_values_read_as_no_value_never_zero():
    k = _kpis(
        [
            _row("active_users", "Weekly active users (North Star)", "users", 40, None),
            _row("messages", "Messages sent", "count", None, 10, p=None),
            _row(
                "p95_latency_ms",
                "P95 response latency",
                "ms",
                None,
                2000,
                target=3000,
                tdir="lower",
            ),
        ]
    )
    text = summarize(k)
    assert "were 40; there is no previous period to compare with." in text
    assert "0%" not in text and " 0 " not in text
    assert "Targets missed" not in text  # no value is not a missed target
    k2 = _kpis([_row("active_users", "Weekly active users (North Star)", "users", None, None)])
    assert "weekly active users (the North Star) had no value." in summarize(k2)
    assert "no KPIs could be computed" in summarize(pd.DataFrame())


def test_targets_missed_with_direction_and_untested_large_moves():
    k = _kpis(
        [
            NS_UP,
            _row(
                "week2_retention",
                "Week-2 retention (signups 14 days earlier)",
                "rate",
                0.25,
                0.27,
                p=0.4,
                target=0.30,
                met=False,
            ),  # fmt: skip
            _row(
                "p95_latency_ms",
                "P95 response latency",
                "ms",
                3600,
                2400,
                target=3000,
                tdir="lower",
                met=False,
            ),  # fmt: skip
            _row("nps", "NPS", "score", 20, 45, p=0.2, target=50, met=False),
        ]
    )
    text = summarize(k)
    assert (
        "Targets missed: week-2 retention at 25.0% (target ≥ 30.0%); "
        "P95 response latency at 3,600 ms (target ≤ 3,000 ms); NPS at 20.0 (target ≥ 50.0)."
    ) in text
    # latency has no test: named as a large untested change, never "significant"
    assert (
        "Large changes without a significance test: P95 response latency rose 50.0% to "
        "3,600 ms (from 2,400 ms)." in text
    )
    assert "Significant changes" not in text


def test_alerts_firing_no_data_and_none():
    k = _kpis([NS_UP])
    alerts = pd.DataFrame(
        {
            "name": ["High latency", "Low satisfaction", "Error burst"],
            "condition": ["P95 > 3000 ms", "mean rating < 0.5", "errors/hour > 100"],
            "observed": [3412.0, 0.31, None],
            "threshold": [3000.0, 0.5, 100.0],
            "status": ["firing", "firing", "no data"],
            "window": ["last 24 h", "last 7 days", "last 24 h"],
        }
    )
    text = summarize(k, alerts)
    assert (
        "2 alerts firing: High latency (observed 3,412 against threshold 3,000, last 24 h); "
        "Low satisfaction (observed 0.31 against threshold 0.50, last 7 days)."
    ) in text
    assert "1 alert had no data to evaluate (Error burst)." in text
    ok = alerts.assign(status=["ok", "ok", "ok"])
    assert summarize(k, ok).endswith("No alerts firing.")
    assert "alert" not in summarize(k).lower()  # not evaluated: nothing said


def test_monthly_period_wording():
    k = _kpis(
        [_row("active_users", "Monthly active users", "users", 900, 1000, p=0.02)], period="month"
    )
    text = summarize(k)
    assert text.startswith("In the month 2026-11-16 → 2026-11-22, monthly active users")
    assert "down 10.0% from 1,000 (a significant change, p = 0.020)" in text
