"""Inputs of the ROI model measured from the warehouse, else assumed from the parameters.

Every input is an :class:`Input`: its value, whether it was ``measured`` or ``assumed``,
the period it was measured over, its 95% interval (measured) or stated range (assumed)
and a line saying what it rests on. :func:`measure_inputs` builds all of them for a
report month; :meth:`Inputs.table` is the one table of assumptions the report shows.

Measured (when the warehouse has the data; otherwise the ``baselines`` of ``roi.yaml``):

- **MAU**: persons with a ``message_sent`` in the 30 days ending with the report month's
  last day (:func:`zantara_nb.mau`).
- **Paid conversion**: signups of the 90 days whose 30-day window closed by the cut-off,
  share starting a paid subscription within 30 days (:func:`zantara_nb.paid_conversion`,
  Wilson interval).
- **ARPU**: MRR at the end of the report month / paying customers (:func:`zantara_nb.mrr`);
  interval: mean +/- 1.96 standard errors over the customers' monthly prices.
- **AI inference cost per year**: 12 x the report month's ``response_cost_usd`` over
  ``message_received`` and ``$ai_generation`` (:func:`zantara_nb.cost_per_1k`).
- **Volumes** for the stack price: events a month (every tracked event of the report
  month), pageviews (``page_viewed``); recordings and flag requests are not events, so
  they are assumed per MAU.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pandas as pd

from .. import config
from ..metrics.stats import Z95
from .assumptions import LABELS, Assumption, Assumptions
from .stack import StackCost, Volumes, price_option

MEASURED, ASSUMED, NO_DATA = "measured", "assumed", "assumed (no data)"
#: Signup days whose 30-day paid-conversion window is measured.
CONVERSION_SIGNUP_DAYS = 90
CONVERSION_DAYS = 30

EVENT_COUNTS_SQL = """
    SELECT event, count(*) AS n
    FROM events
    WHERE timestamp >= ? AND timestamp < ?
    GROUP BY event
"""

PERSON_COST_SQL = """
    SELECT person_id, sum(response_cost_usd) AS cost_usd, count(*) AS queries
    FROM events
    WHERE event IN ('message_received', '$ai_generation')
      AND timestamp >= ? AND timestamp < ?
    GROUP BY person_id
"""

FIRST_ACTIVITY_SQL = "SELECT min(timestamp) AS t FROM events WHERE event = 'message_sent'"


@dataclass(frozen=True)
class Input:
    """One model input with its provenance.

    ``source`` is ``measured``, ``assumed`` or ``assumed (no data)``; ``low``/``high`` are
    the 95% interval of a measured value or the stated range of an assumed one.
    """

    key: str
    value: float
    source: str
    period: str = ""
    low: float | None = None
    high: float | None = None
    detail: str = ""

    @property
    def label(self) -> str:
        return LABELS.get(self.key, (self.key.replace("_", " "), "number"))[0]

    @property
    def unit(self) -> str:
        return LABELS.get(self.key, ("", "number"))[1]

    @property
    def measured(self) -> bool:
        return self.source == MEASURED


def assumed(a: Assumption, *, no_data: bool = False) -> Input:
    """An assumption of ``roi.yaml`` as a model input."""
    return Input(
        key=a.key,
        value=a.value,
        source=NO_DATA if no_data else ASSUMED,
        low=a.low,
        high=a.high,
        detail=a.source,
    )


@dataclass(frozen=True)
class ReportMonth:
    """The report month ``[start, end)`` (local dates) and the cut-off ``as_of``."""

    start: date
    end: date
    as_of: datetime
    tz: str

    @property
    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.tz)

    def midnight(self, d: date) -> datetime:
        """Local midnight starting day ``d``."""
        return datetime.combine(d, time(0), tzinfo=self.zone)

    @property
    def label(self) -> str:
        return f"{self.start:%Y-%m-%d} → {self.end - timedelta(days=1):%Y-%m-%d}"


def report_month(as_of: str | date | datetime | None, tz: str | None = None) -> ReportMonth:
    """The last complete local month before ``as_of`` (default: before now)."""
    from ..warehouse.scope import last_complete_period

    tz = tz or config.default_timezone()
    zone = ZoneInfo(tz)
    if as_of is None:
        cut = datetime.now(zone)
    elif isinstance(as_of, datetime):
        cut = as_of.astimezone(zone)
    else:
        d = as_of if isinstance(as_of, date) else date.fromisoformat(str(as_of))
        cut = datetime.combine(d, time(0), tzinfo=zone)
    start, end = last_complete_period(cut, "month", tz)
    return ReportMonth(start, end, cut, tz)


def month_starts(first: date, last: date) -> list[date]:
    """First days of the months from ``first``'s month to ``last``'s month (inclusive)."""
    out, d = [], first.replace(day=1)
    while d <= last:
        out.append(d)
        d = (d + timedelta(days=32)).replace(day=1)
    return out


def next_month(d: date) -> date:
    return (d.replace(day=1) + timedelta(days=32)).replace(day=1)


# -- small warehouse reads (plain SQL over events) ----------------------------------------


def _utc(moment: datetime) -> datetime:
    return pd.Timestamp(moment).tz_convert("UTC").to_pydatetime()


def event_counts(wh, start: datetime, end: datetime) -> dict[str, int]:
    """Events per event name in ``[start, end)``."""
    df = wh.sql(EVENT_COUNTS_SQL, [_utc(start), _utc(end)])
    return {str(e): int(n) for e, n in zip(df["event"], df["n"], strict=True)}


def person_costs(wh, start: datetime, end: datetime) -> pd.DataFrame:
    """Inference cost and queries per person in ``[start, end)`` (person_id, cost_usd,
    queries)."""
    df = wh.sql(PERSON_COST_SQL, [_utc(start), _utc(end)])
    df["cost_usd"] = df["cost_usd"].astype("float64").fillna(0.0)
    return df


def first_activity(wh) -> datetime | None:
    """The first ``message_sent`` in the warehouse (UTC): where product data begins."""
    t = wh.scalar(FIRST_ACTIVITY_SQL)
    return None if t is None else pd.Timestamp(t).tz_convert("UTC").to_pydatetime()


# -- the inputs ---------------------------------------------------------------------------


@dataclass
class Inputs:
    """Every input of the ROI model for one report month (see the module docstring).

    ``baselines``: MAU, paid conversion, ARPU, AI cost per year (measured or assumed);
    ``volumes``: what the stack is priced from; ``stack``: the chosen stack's monthly cost
    at those volumes; ``assumptions``: the parsed ``roi.yaml``.
    """

    month: ReportMonth
    baselines: dict[str, Input]
    volume_inputs: dict[str, Input]
    volumes: Volumes
    stack: StackCost
    assumptions: Assumptions
    arpu_se: float | None = None
    conversion_counts: tuple[int, int] | None = None
    notes: list[str] = field(default_factory=list)

    def all_inputs(self) -> list[Input]:
        """Baselines, volumes, then the assumptions of the model (hourly rate, setup hours,
        stack cost, uplifts, marketing spend)."""
        a = self.assumptions
        stack = Input(
            "stack_usd_per_month",
            self.stack.monthly_usd,
            ASSUMED,
            self.month.label,
            self.stack.monthly_low if self.stack.monthly_low != self.stack.monthly_high else None,
            self.stack.monthly_high if self.stack.monthly_low != self.stack.monthly_high else None,
            f"{self.stack.label}, priced at the measured volumes: "
            + ", ".join(f"{k} ${v:,.2f}" for k, v in self.stack.components)
            + (f" ({'; '.join(self.stack.notes)})" if self.stack.notes else "")
            + f". {a.stack.source}",
        )
        rest = [assumed(a.hourly_rate), assumed(a.stack.setup_hours), stack]
        rest += [assumed(u) for u in a.uplifts.values()]
        rest += [assumed(a.marketing_spend)]
        return [*self.baselines.values(), *self.volume_inputs.values(), *rest]

    def table(self) -> pd.DataFrame:
        """Every input in one table: label, value, unit, source, period, low, high, detail."""
        return pd.DataFrame(
            [
                {
                    "key": i.key,
                    "label": i.label,
                    "value": i.value,
                    "unit": i.unit,
                    "source": i.source,
                    "period": i.period,
                    "low": i.low,
                    "high": i.high,
                    "detail": i.detail,
                }
                for i in self.all_inputs()
            ]
        )

    def value(self, key: str) -> float:
        for i in self.all_inputs():
            if i.key == key:
                return i.value
        raise KeyError(key)

    def _repr_html_(self) -> str:
        from .display import inputs_table_html

        return inputs_table_html(self)


def _mau(wh, m: ReportMonth, a: Assumptions) -> Input:
    import zantara_nb as z

    last = m.end - timedelta(days=1)
    df = z.mau(wh, start=last, end=m.end, as_of=m.as_of, tz=m.tz).df
    v = None if df.empty else df["mau"].iloc[-1]
    if v is None or pd.isna(v) or v <= 0:
        return assumed(a.baselines["mau"], no_data=True)
    return Input(
        "mau",
        float(v),
        MEASURED,
        f"30 days ending {last:%Y-%m-%d}",
        detail="persons with at least one message_sent (a count, no sampling interval)",
    )


def _conversion(wh, m: ReportMonth, a: Assumptions) -> tuple[Input, tuple[int, int] | None]:
    import zantara_nb as z

    cut_day = m.as_of.date()
    end = cut_day - timedelta(days=CONVERSION_DAYS)
    start = end - timedelta(days=CONVERSION_SIGNUP_DAYS)
    r = z.paid_conversion(wh, days=CONVERSION_DAYS, start=start, end=end, as_of=m.as_of, tz=m.tz)
    if not r.denominator:
        return assumed(a.baselines["paid_conversion"], no_data=True), None
    ci = r.interval
    return (
        Input(
            "paid_conversion",
            float(r.value),
            MEASURED,
            f"signups {start:%Y-%m-%d} → {end - timedelta(days=1):%Y-%m-%d}",
            ci.low,
            ci.high,
            f"{r.numerator:,} of {r.denominator:,} signups paid within {CONVERSION_DAYS} days "
            "(95% Wilson interval)",
        ),
        (int(r.numerator), int(r.denominator)),
    )


def arpu_from_prices(prices: pd.Series) -> tuple[float, float | None]:
    """ARPU (mean monthly price of the paying customers) and its standard error."""
    n = len(prices)
    mean = float(prices.mean())
    se = float(prices.std(ddof=1)) / math.sqrt(n) if n > 1 else None
    return mean, se


def _arpu(m: ReportMonth, a: Assumptions, paying: pd.Series) -> tuple[Input, float | None]:
    if paying.empty:
        return assumed(a.baselines["arpu_usd"], no_data=True), None
    mean, se = arpu_from_prices(paying)
    lo = None if se is None else max(0.0, mean - Z95 * se)
    hi = None if se is None else mean + Z95 * se
    return (
        Input(
            "arpu_usd",
            mean,
            MEASURED,
            f"end of {m.start:%B %Y}",
            lo,
            hi,
            f"MRR ${paying.sum():,.0f} / {len(paying):,} paying customers "
            "(interval: mean +/- 1.96 standard errors of their monthly prices)",
        ),
        se,
    )


def _ai_cost(wh, m: ReportMonth, a: Assumptions) -> Input:
    import zantara_nb as z

    df = z.cost_per_1k(wh, start=m.start, end=m.end, as_of=m.as_of, tz=m.tz).df
    queries = int(df["queries"].sum()) if not df.empty else 0
    cost = float(df["cost_usd"].sum()) if not df.empty else 0.0
    if queries == 0:
        return assumed(a.baselines["ai_cost_usd_per_year"], no_data=True)
    return Input(
        "ai_cost_usd_per_year",
        12 * cost,
        MEASURED,
        m.label,
        detail=f"12 x ${cost:,.2f} inference cost of {queries:,} answers in {m.start:%B %Y}",
    )


def volumes_for(
    a: Assumptions, mau: float, counts: dict[str, int] | None
) -> tuple[Volumes, dict[str, Input]]:
    """The stack's volumes: events and pageviews from ``counts`` (the month's events by
    name) when there are any, else per-MAU assumptions; recordings and flag requests are
    always per-MAU assumptions."""
    v = a.volumes
    inputs: dict[str, Input] = {}
    total = sum((counts or {}).values())
    if total:
        events = float(total)
        inputs["events_per_user"] = Input(
            "events_per_user",
            events / mau if mau else 0.0,
            MEASURED,
            "",
            detail=f"{total:,} tracked events in the month / MAU",
        )
    else:
        events = mau * v["events_per_user"].value
        inputs["events_per_user"] = assumed(v["events_per_user"], no_data=True)
    pv = (counts or {}).get("page_viewed", 0)
    if pv:
        pageviews = float(pv)
        inputs["pageviews_per_user"] = Input(
            "pageviews_per_user",
            pageviews / mau if mau else 0.0,
            MEASURED,
            "",
            detail=f"{pv:,} page_viewed events in the month / MAU",
        )
    else:
        pageviews = mau * v["pageviews_per_user"].value
        inputs["pageviews_per_user"] = assumed(v["pageviews_per_user"], no_data=True)
    inputs["recordings_per_user"] = assumed(v["recordings_per_user"])
    inputs["flag_requests_per_user"] = assumed(v["flag_requests_per_user"])
    vol = Volumes(
        mau=mau,
        events=events,
        pageviews=pageviews,
        recordings=mau * v["recordings_per_user"].value,
        flag_requests=mau * v["flag_requests_per_user"].value,
    )
    return vol, inputs


def measure_inputs(
    wh,
    a: Assumptions,
    *,
    as_of: str | date | datetime | None = None,
    tz: str | None = None,
    paying: pd.Series | None = None,
) -> Inputs:
    """Every ROI input for the report month before ``as_of``: measured where the warehouse
    has the data, else the assumption of ``roi.yaml`` (marked ``assumed (no data)``).

    ``paying``: monthly price per paying customer at the end of the month (computed from
    the subscription timeline when not given).
    """
    from .subscriptions import load_timeline

    m = report_month(as_of, tz)
    if paying is None:
        paying = load_timeline(wh, m.as_of).mrr_at(m.midnight(m.end))
    mau = _mau(wh, m, a)
    conv, counts = _conversion(wh, m, a)
    arpu, se = _arpu(m, a, paying)
    cost = _ai_cost(wh, m, a)
    ev = event_counts(wh, m.midnight(m.start), m.midnight(m.end))
    vol, vol_inputs = volumes_for(a, mau.value, ev)
    for k, i in vol_inputs.items():
        if i.measured:
            vol_inputs[k] = Input(i.key, i.value, i.source, m.label, i.low, i.high, i.detail)
    stack = price_option(a.stack, vol)
    return Inputs(
        month=m,
        baselines={
            "mau": mau,
            "paid_conversion": conv,
            "arpu_usd": arpu,
            "ai_cost_usd_per_year": cost,
        },  # fmt: skip
        volume_inputs=vol_inputs,
        volumes=vol,
        stack=stack,
        assumptions=a,
        arpu_se=se,
        conversion_counts=counts,
    )
