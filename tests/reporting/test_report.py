"""Notebook helpers (zantara_nb.reporting.report): cards, filters, funnel ranges, charts."""

from __future__ import annotations

import re
from datetime import date, datetime, time
from types import SimpleNamespace
from zoneinfo import ZoneInfo

import matplotlib.pyplot as plt
import pandas as pd
import pytest

from zantara_nb.metrics.funnels import SEED_FUNNEL, FunnelSpec
from zantara_nb.reporting import report


def _kpis(**rows):
    """A KPIResult-like object with the columns the cards read."""
    base = {
        "active_users": ("users", 4403.0, 4229.0, 0.06, False),
        "messages": ("count", 20528.0, 19626.0, 0.0001, True),
        "cost_per_1k_usd": ("usd", 6.0, 6.8, None, False),
        "satisfaction": ("rate", 0.70, 0.72, 0.3, False),
        "p95_latency_ms": ("ms", 3100.0, 2300.0, None, False),
        "error_rate": ("rate", 0.012, 0.016, 0.04, True),
    }
    base.update(rows)
    recs = []
    for kpi, (unit, cur, prev, p, sig) in base.items():
        target = {"p95_latency_ms": 3000.0, "error_rate": 0.01, "cost_per_1k_usd": 5.0}.get(kpi)
        recs.append(
            {
                "kpi": kpi,
                "label": kpi,
                "unit": unit,
                "current": cur,
                "previous": prev,
                "change": None if cur is None else cur - prev,
                "change_rel": None if cur is None else (cur - prev) / prev,
                "p_value": p,
                "significant": sig,
                "target": target,
                "target_direction": "lower" if target else None,
                "target_met": None if target is None or cur is None else cur <= target,
            }
        )
    return SimpleNamespace(df=pd.DataFrame(recs))


def _cards(html: str) -> list[str]:
    return re.findall(r"<div style='flex:1 1 170px.*?</div></div>", html, flags=re.S)


def test_headline_cards_mark_direction_and_whether_it_is_good():
    html = report.headline_cards(_kpis()).data
    cards = _cards(html)
    assert len(cards) == 4
    users, messages, cost, satisfaction = cards
    assert "4,403" in users and "▲ +4.1%" in users and "not significant" in users
    assert "#3A9E6F" in users  # up is good for users: green
    assert "· significant" in messages
    # Cost per query = cost per 1K / 1000, down 11.8%: good, so green.
    assert "$0.0060" in cost and "▼ -11.8%" in cost and "#3A9E6F" in cost
    # Satisfaction is a rate: the change is in percentage points, down is bad (red).
    assert "70.0%" in satisfaction and "▼ -2.0 pp" in satisfaction and "#B8434F" in satisfaction


def test_health_cards_show_targets():
    html = report.health_cards(_kpis()).data
    latency, errors, cost = _cards(html)
    assert "✘ target missed" in latency and "at most 3,000 ms" in latency
    assert "▲" in latency and "#B8434F" in latency  # latency up: bad
    assert "✘ target missed" in errors and "▼ -0.4 pp" in errors and "#3A9E6F" in errors
    assert "✘ target missed" in cost


def test_cards_escape_and_handle_missing_values():
    k = _kpis(messages=("count", None, 10.0, None, False))
    html = report.headline_cards(k).data
    assert "no comparison" in html and "—" in html


def test_normalize_filters_turns_yaml_mappings_into_operators():
    assert report.normalize_filters(
        {"country": "ID", "plan": ["pro", "business"], "days_since_signup": {">=": 7}}
    ) == {"country": "ID", "plan": ["pro", "business"], "days_since_signup": (">=", 7)}
    assert report.normalize_filters(None) == {}


def _rep(as_of=date(2026, 8, 24)):
    tz = "Asia/Jakarta"
    return report.Report(
        wh=None,
        as_of=datetime.combine(as_of, time(0), tzinfo=ZoneInfo(tz)),
        period="week",
        tz=tz,
        start=date(2026, 8, 17),
        end=date(2026, 8, 24),
        previous_start=date(2026, 8, 10),
    )


def test_funnel_entries_default_to_closed_windows():
    rep = _rep()
    kw = rep.funnel_kw(SEED_FUNNEL, 30)  # 45-day window
    assert (kw["start"], kw["end"]) == (date(2026, 6, 10), date(2026, 7, 10))
    hourly = FunnelSpec(steps=["a", "b"], window="1h")
    kw = rep.funnel_kw(hourly, 7)  # an hour rounds up to a day
    assert (kw["start"], kw["end"]) == (date(2026, 8, 16), date(2026, 8, 23))
    kw = rep.funnel_kw(SEED_FUNNEL, 30, closed=False)
    assert (kw["start"], kw["end"]) == (date(2026, 7, 25), date(2026, 8, 24))
    assert kw["as_of"] == rep.as_of and kw["tz"] == "Asia/Jakarta"


def test_funnel_specs_from_parameters():
    specs = report.funnel_specs(
        [
            {
                "name": "Paid",
                "steps": [
                    "user_signed_up",
                    {
                        "event": "subscription_started",
                        "filters": {"event:plan": {"!=": "free"}},
                        "name": "Paid plan",
                    },  # fmt: skip
                ],
                "window": "30d",
            }
        ]
    )
    assert specs[0] is SEED_FUNNEL
    paid = specs[1]
    assert paid.name == "Paid" and paid.steps[1].filters == {"event:plan": ("!=", "free")}
    assert paid.steps[1].label == "Paid plan"
    with pytest.raises(ValueError, match="needs 'steps'"):
        report.funnel_specs([{"name": "x"}])


def test_chart_is_an_img_with_alt_text_and_no_repeated_ticks():
    before = plt.get_fignums()  # figures other tests of this worker left open
    fig, ax = plt.subplots()
    ax.plot([0, 1, 2], [0.011, 0.014, 0.017])
    ax.set_title("Error <rate>")
    from zantara_nb.display.charts import axis_formatter

    ax.yaxis.set_major_formatter(axis_formatter("rate"))  # whole percents: 1% 1% 2% ...
    c = report.chart(ax)
    html = c._repr_html_()
    assert html.startswith('<img src="data:image/png;base64,')
    assert 'alt="Error &lt;rate&gt;"' in html
    labels = [ax.yaxis.get_major_formatter()(v, i) for i, v in enumerate(ax.get_yticks())]
    assert len(set(labels)) == len(labels), labels
    assert plt.get_fignums() == before  # the figure was closed


def test_alerts_table_counts_firing_rules_and_shows_what_they_rest_on():
    df = pd.DataFrame(
        {
            "name": ["Low satisfaction <b>", "High latency"],
            "condition": ["Mean rating (−1 to +1) < 0.50", "P95 latency > 3,000 ms"],
            "observed": [0.45, 2326.0],
            "threshold": [0.5, 3000.0],
            "status": ["firing", "ok"],
            "window": ["7d", "7d"],
            "detail": ["1,234 feedbacks, 72.3% positive", "5,264 replies"],
        }
    )
    html = report.alerts_table(SimpleNamespace(df=df)).data
    assert "1 alert firing." in html and "alert(s)" not in html
    assert "1,234 feedbacks, 72.3% positive" in html
    assert "Low satisfaction &lt;b&gt;" in html  # escaped
    two = report.alerts_table(SimpleNamespace(df=df.assign(status="firing"))).data
    assert "2 alerts firing." in two


def test_funnel_specs_pass_the_parity_options_through():
    specs = report.funnel_specs(
        [
            {
                "steps": ["a", "b"],
                "exclusions": [{"event": "x", "between": [1, 2]}],
                "exclusion_mode": "attempt",
                "breakdown_attribution": "step1",
            }
        ],
        seed=False,
    )
    assert specs[0].exclusion_mode == "attempt"
    assert specs[0].breakdown_attribution == "step1"
    default = report.funnel_specs([{"steps": ["a", "b"]}], seed=False)[0]
    assert default.exclusion_mode is None and default.breakdown_attribution == "first_touch"
