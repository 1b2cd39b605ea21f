"""Complete grids: one row for every combination of breakdown value and period.

A SQL result has no row for a (breakdown, period) cell without events; a metric table
shows that cell with a count of 0 (or missing, for values that are not counts).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import pandas as pd


def complete_grid(
    df: pd.DataFrame,
    axes: Mapping[str, Iterable[Any]],
    *,
    on: Sequence[str] | None = None,
    zero: Mapping[str, str | type] | None = None,
) -> pd.DataFrame:
    """``df`` left-merged onto every combination of the ``axes`` values.

    The grid has one column per axis (named by its key) and one row per combination,
    in cross-product order (the first axis varies slowest). ``df`` is merged on ``on``
    (default: all axes), so the rows keep the grid's order, a combination with no row
    in ``df`` has missing values, and ``df``'s other columns follow the axes. Each
    column of ``zero`` then has its missing values set to 0 and is cast to the given
    dtype (``{"persons": float}``); every other column keeps its missing values.

    The merge keys take the grid's dtypes first: an empty ``df`` (whose key columns
    have no type to speak of) merges like any other, and dates come out in the grid's
    resolution whatever resolution the SQL result had.

    >>> raw = pd.DataFrame({"breakdown": ["a"], "period": [2], "n": [5]})
    >>> complete_grid(raw, {"breakdown": ["a", "b"], "period": [1, 2]}, zero={"n": int})
      breakdown  period  n
    0         a       1  0
    1         a       2  5
    2         b       1  0
    3         b       2  0
    """
    grid = pd.MultiIndex.from_product(list(axes.values()), names=list(axes)).to_frame(index=False)
    keys = list(axes if on is None else on)
    cast = {
        k: grid[k].dtype
        for k in keys
        if df[k].dtype != grid[k].dtype
        and (df.empty or (_is_datetime(df[k]) and _is_datetime(grid[k])))
    }
    out = grid.merge(df.astype(cast) if cast else df, on=keys, how="left")
    for col, dtype in (zero or {}).items():
        out[col] = out[col].fillna(0).astype(dtype)
    return out


def _is_datetime(col: pd.Series) -> bool:
    return pd.api.types.is_datetime64_any_dtype(col.dtype)
