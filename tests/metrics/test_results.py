"""Result objects: numbers formatted for their unit, for tables and reports."""

from __future__ import annotations

import math

import pandas as pd

from zantara_nb.metrics.results import MetricResult, format_frame


def test_format_frame_by_unit_dates_floats_and_flags():
    df = pd.DataFrame(
        {
            "period": pd.to_datetime(["2026-03-02", "2026-03-09"]),
            "persons": [1234, 5],
            "rate": [0.25, math.nan],
            "ratio": [1.234, 2.0],
            "significant": [True, False],
            "observed": pd.array([True, None], dtype="boolean"),
            "label": ["a", "b"],
        }
    )
    out = format_frame(df, {"persons": "users", "rate": "rate"})
    assert out.to_dict("records") == [
        {
            "period": "2026-03-02",
            "persons": "1,234",
            "rate": "25.0%",
            "ratio": "1.2",
            "significant": "yes",
            "observed": "yes",
            "label": "a",
        },
        {
            "period": "2026-03-09",
            "persons": "5",
            "rate": "—",
            "ratio": "2.0",
            "significant": "no",
            "observed": "—",
            "label": "b",
        },
    ]
    assert df["significant"].dtype == bool  # the data itself is left alone


def test_metric_result_html_escapes_and_cuts_long_tables():
    df = pd.DataFrame({"category": ["<script>x</script>"] * 61, "messages": range(61)})
    r = MetricResult("t", "Top", df, units={"messages": "count"})
    html = r._repr_html_()
    assert "<script>x" not in html and "&lt;script&gt;" in html
    assert "… 1 more row<" in html
    assert str(r).startswith("Top\n")
