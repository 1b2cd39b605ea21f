"""Each paying customer's MRR over time, for churn, retention and cohorts per customer.

:func:`zantara_nb.mrr` gives the total; unit economics also need to know *who* pays at the
start and at the end of a month. This module reads the subscription events with one plain
``SELECT`` (no engine-specific SQL) and applies the rules of
:mod:`zantara_nb.metrics.revenue` per person, so the totals are the library's
(``tests/investor`` checks that):

- events up to the cut-off, per person in time order, a cancel before a start at the same
  moment, then by uuid; a cancel at the same moment as a start of the same person is a
  plan change (the cancel is dropped);
- a start sets the person's MRR to its monthly price (``price_usd``, divided by 12 for a
  yearly billing period; missing counts as 0); a cancel sets it to 0;
- MRR at an instant counts the events strictly before it (MRR at the end of a local day is
  MRR at the next local midnight).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import numpy as np
import pandas as pd

YEARLY = ("yearly", "annual", "annually", "year")

SUBSCRIPTION_SQL = """
    SELECT person_id, event, timestamp, uuid, price_usd, billing_period
    FROM events
    WHERE event IN ('subscription_started', 'subscription_cancelled')
      AND timestamp < ?
"""


@dataclass
class Timeline:
    """Per person, the MRR after each subscription event (``steps``: person_id, timestamp
    (UTC), mrr) and the moment each person first paid (``first_paid``)."""

    steps: pd.DataFrame
    first_paid: pd.Series
    cutoff: datetime

    def mrr_at(self, instant: datetime) -> pd.Series:
        """MRR per person just before ``instant`` (persons with a positive MRR only)."""
        ts = pd.Timestamp(instant).tz_convert("UTC")
        before = self.steps[self.steps["timestamp"] < ts]
        last = before.groupby("person_id", sort=False)["mrr"].last()
        return last[last > 0]

    def new_customers(self, start: datetime, end: datetime) -> int:
        """Persons whose first paid moment is in ``[start, end)``."""
        s, e = pd.Timestamp(start).tz_convert("UTC"), pd.Timestamp(end).tz_convert("UTC")
        return int(((self.first_paid >= s) & (self.first_paid < e)).sum())


def build_timeline(events: pd.DataFrame, cutoff: datetime) -> Timeline:
    """The timeline of subscription ``events`` (columns of :data:`SUBSCRIPTION_SQL`)."""
    df = events.copy()
    if df.empty:
        empty = pd.DataFrame(
            {
                "person_id": pd.Series(dtype=object),
                "timestamp": pd.Series(dtype="datetime64[us, UTC]"),
                "mrr": pd.Series(dtype="float64"),
            }
        )
        return Timeline(empty, pd.Series(dtype="datetime64[us, UTC]"), cutoff)
    df["timestamp"] = pd.to_datetime(df["timestamp"], utc=True)
    df["is_cancel"] = (df["event"] == "subscription_cancelled").astype(int)
    df = df.sort_values(
        ["person_id", "timestamp", "is_cancel", "uuid"], ascending=[True, True, False, True]
    ).reset_index(drop=True)
    same_person = df["person_id"].shift(-1) == df["person_id"]
    change = (
        (df["is_cancel"] == 1)
        & same_person
        & (df["event"].shift(-1) == "subscription_started")
        & (df["timestamp"].shift(-1) == df["timestamp"])
    )
    df = df[~change]
    period = df["billing_period"].fillna("").astype(str).str.lower()
    monthly = df["price_usd"].astype("float64").fillna(0.0) / np.where(
        period.isin(YEARLY), 12.0, 1.0
    )
    df["mrr"] = np.where(df["is_cancel"] == 1, 0.0, monthly)
    steps = df[["person_id", "timestamp", "mrr"]].reset_index(drop=True)
    first = steps[steps["mrr"] > 0].groupby("person_id")["timestamp"].min()
    return Timeline(steps, first, cutoff)


def load_timeline(wh, cutoff: datetime) -> Timeline:
    """Read the subscription events before ``cutoff`` from the warehouse and build the
    timeline."""
    ts = pd.Timestamp(cutoff).tz_convert("UTC").to_pydatetime()
    return build_timeline(wh.sql(SUBSCRIPTION_SQL, [ts]), cutoff)
