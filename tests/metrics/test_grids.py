"""complete_grid: every breakdown x period cell, SQL rows merged on, counts filled with 0."""

from __future__ import annotations

import doctest
from datetime import date

import numpy as np
import pandas as pd

from zantara_nb.metrics import grids
from zantara_nb.metrics.grids import complete_grid


def test_cross_product_order_zero_fill_and_missing_values():
    raw = pd.DataFrame(
        {
            "period": [date(2026, 3, 9), date(2026, 3, 2), date(2026, 3, 2)],
            "breakdown": ["ID", "AU", "XX"],  # XX: not in the grid, dropped
            "n": [5, 2, 9],
            "rate": [0.5, 0.25, 1.0],
        }
    )
    out = complete_grid(
        raw,
        {"breakdown": ["AU", "ID"], "period": [date(2026, 3, 2), date(2026, 3, 9)]},
        zero={"n": int},
    )
    assert list(out.columns) == ["breakdown", "period", "n", "rate"]
    assert isinstance(out.index, pd.RangeIndex)
    assert list(out["breakdown"]) == ["AU", "AU", "ID", "ID"]  # first axis slowest
    assert list(out["period"]) == [date(2026, 3, 2), date(2026, 3, 9)] * 2
    assert out["n"].tolist() == [2, 0, 0, 5] and out["n"].dtype == np.int64
    # columns not in ``zero`` keep their missing values
    assert out["rate"].iloc[[0, 3]].tolist() == [0.25, 0.5]
    assert out["rate"].iloc[[1, 2]].isna().all()


def test_merge_on_some_axes_repeats_the_row():
    sizes = pd.DataFrame({"cohort": pd.to_datetime(["2026-03-02"]), "size": [7]})
    out = complete_grid(
        sizes,
        {"cohort": pd.to_datetime(["2026-03-02", "2026-03-09"]), "period": range(3)},
        on=["cohort"],
        zero={"size": "float64"},
    )
    assert list(out.columns) == ["cohort", "period", "size"]
    assert out["period"].tolist() == [0, 1, 2, 0, 1, 2]
    assert out["size"].tolist() == [7.0] * 3 + [0.0] * 3 and out["size"].dtype == np.float64


def test_empty_axis_gives_no_rows():
    raw = pd.DataFrame({"breakdown": ["all"], "day": [1], "n": [3]})
    out = complete_grid(raw, {"breakdown": ["all"], "day": range(1, 1)}, zero={"n": float})
    assert out.empty and list(out.columns) == ["breakdown", "day", "n"]


def test_docstring_example():
    assert doctest.testmod(grids).failed == 0


def test_dates_take_the_grid_resolution_whatever_the_sql_gave():
    weeks = pd.to_datetime([date(2026, 3, 2), date(2026, 3, 9)])
    for unit in ("s", "us", "ns"):
        raw = pd.DataFrame({"period": weeks.as_unit(unit)[1:], "n": [4]})
        out = complete_grid(raw, {"period": weeks}, zero={"n": int})
        assert out["period"].dtype == weeks.dtype, unit
        assert out["n"].tolist() == [0, 4]


def test_empty_result_merges_whatever_its_key_types():
    # an empty SQL result: its key columns come back untyped (object or float64)
    empty = pd.DataFrame({"breakdown": pd.Series([], dtype=float), "period": [], "n": []})
    out = complete_grid(empty, {"breakdown": ["a"], "period": [date(2026, 3, 2)]}, zero={"n": int})
    assert out.to_dict("records") == [{"breakdown": "a", "period": date(2026, 3, 2), "n": 0}]
