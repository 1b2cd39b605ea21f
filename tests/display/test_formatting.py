"""Formatters: one per kind of value; missing is a dash, never 0."""

from __future__ import annotations

import math

import pandas as pd
import pytest

from zantara_nb.display.formatting import (
    MISSING,
    fmt,
    fmt_change,
    fmt_duration,
    fmt_int,
    fmt_ms,
    fmt_num,
    fmt_p,
    fmt_pct,
    fmt_pp,
    fmt_usd,
)


@pytest.mark.parametrize("missing", [None, math.nan, pd.NA, pd.NaT, float("nan")])
def test_missing_is_a_dash_for_every_formatter(missing):
    for f in (fmt_int, fmt_num, fmt_pct, fmt_pp, fmt_change, fmt_usd, fmt_ms, fmt_p, fmt_duration):
        assert f(missing) == MISSING


def test_plain_values():
    assert fmt_int(1234567.4) == "1,234,567"
    assert fmt_num(1234.56) == "1,234.6"
    assert fmt_pct(0.1234) == "12.3%"
    assert fmt_ms(1834.2) == "1,834 ms"
    assert fmt_p(0.0004) == "<0.001" and fmt_p(0.0342) == "0.034"


def test_money_keeps_cents_and_small_costs():
    assert fmt_usd(1234.5) == "$1,234.50"
    assert fmt_usd(-3.5) == "-$3.50"
    assert fmt_usd(0.00723) == "$0.0072"  # a cost per reply, not "$0.01"
    assert fmt_usd(0) == "$0.00"


def test_changes_are_signed():
    assert fmt_pp(0.012) == "+1.2 pp" and fmt_pp(-0.012) == "-1.2 pp"
    assert fmt_change(0.05) == "+5.0%" and fmt_change(-0.25) == "-25.0%"
    assert fmt_pp(0) == "+0.0 pp" and fmt_change(0.0) == "+0.0%"


def test_small_changes_never_read_zero():
    # 1.66% vs 1.62% error rate: +0.04 pp, not "+0.0 pp" beside a red arrow
    assert fmt_pp(0.0166 - 0.0162) == "+0.04 pp"
    assert fmt_pp(-0.00004) == "-0.004 pp"
    assert fmt_change(0.0003) == "+0.03%"
    assert fmt_pp(1e-9) == "+0.000 pp"  # at most two more decimals


def test_durations():
    assert [fmt_duration(s) for s in (45, 750, 11_520, 527_040)] == [
        "45 s",
        "12.5 min",
        "3.2 h",
        "6.1 d",
    ]


def test_fmt_by_unit():
    assert fmt(0.25, "rate") == "25.0%" and fmt(3, "users") == "3"
    assert fmt(0.01, "pp") == "+1.0 pp" and fmt(2.5, "unknown unit") == "2.5"
