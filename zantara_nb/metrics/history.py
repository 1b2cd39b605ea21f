"""Metric history past the retention cut-off: cells the roll-ups answer, and the rest.

After ``zantara-nb retention apply`` the raw events before the cut-off are gone, except
each person's history skeleton (first event of each kind, latest event, person-property
updates) and billing events. What still works from raw events, and what this module
adds (the daily and weekly active users are overlaid in the warehouse layer,
:func:`zantara_nb.warehouse.rollups.overlay_active` / ``overlay_weekly``):

- **Cohort sizes** (who signed up when) come from the skeleton, unchanged.
- **Retention cells** whose return period starts before the cut-off day lost their
  return events: :func:`retention_from_rollups` puts back the frozen cells of the
  reports' retention (``user_signed_up`` → ``message_sent``, first time, calendar
  periods, no filter or breakdown); other settings show those cells as not observed
  (NaN), never as a made-up number.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from .. import config
from ..warehouse import rollups
from .stats import add_rate

#: The retention the roll-ups keep (the reports' heat map).
DEFAULT_START = ["user_signed_up"]


def retention_from_rollups(
    wh,
    sc,
    df: pd.DataFrame,
    *,
    unit: str,
    start_events: Sequence[str],
    return_events: Sequence[str],
    cohort_type: str,
    mode: str,
    on_or_after: bool,
) -> pd.DataFrame:
    """``df`` (the retention grid) with the cells whose return period starts before the
    retention cut-off read from the roll-ups (see the module docstring)."""
    frozen, state = rollups.frozen_cohorts(wh, sc, unit)
    if state is None or df.empty:
        return df
    from .retention import add_periods

    cutoff = pd.Timestamp(state.cutoff_day)
    starts = pd.to_datetime(
        [
            add_periods(c.date(), unit, int(k))
            for c, k in zip(pd.to_datetime(df["cohort"]), df["period"], strict=True)
        ]
    )
    old = pd.Series(starts < cutoff, index=df.index) & (df["period"] > 0)
    if not old.any():
        return df
    df = df.copy()
    default = (
        list(start_events) == DEFAULT_START
        and list(return_events) == [config.DEFAULT_ACTIVE_EVENT]
        and cohort_type == "first_time"
        and mode == "calendar"
        and not on_or_after
        and not sc.filters
        and not sc.breakdown
    )
    key = list(zip(pd.to_datetime(df["cohort"]), df["period"].astype(int), strict=True))
    got = {}
    if default and frozen is not None and len(frozen):
        got = {
            (pd.Timestamp(c), int(k)): float(r)
            for c, k, r in zip(frozen["cohort"], frozen["k"], frozen["retained"], strict=True)
        }
    values = pd.Series([got.get(x, np.nan) for x in key], index=df.index)
    use = old & df["observed"] & values.notna()
    lost = old & ~use
    df.loc[use, "retained"] = values[use]
    df.loc[lost, "retained"] = np.nan
    df.loc[lost, "observed"] = False
    return add_rate(df, "retained", "cohort_size")
