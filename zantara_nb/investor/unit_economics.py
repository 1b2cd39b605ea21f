"""Unit economics measured from the warehouse, as investors in AI products read them.

Per local month ``[s, e)`` (:func:`monthly_unit_economics`), from the subscription timeline
(:mod:`~zantara_nb.investor.subscriptions`) and the metric library:

- **MRR** at the end of the month, **paying customers** (MRR > 0), **ARPU** = MRR / paying.
- **MRR movements** (new, expansion, contraction, churned, reactivation):
  :func:`zantara_nb.mrr_movements`.
- **Logo churn** = customers paying at ``s`` who pay nothing at ``e`` / customers paying at
  ``s`` (Wilson interval).
- **GRR** = sum over the customers paying at ``s`` of min(MRR at e, MRR at s) / their MRR at
  s; **NRR** = their MRR at e / their MRR at s (expansion counts in NRR, not in GRR).
  Gross revenue churn = 1 - GRR; net revenue churn = 1 - NRR.
- **New paying customers**: first paid moment in the month.
- **Revenue** of the month: mean of the daily MRR (:func:`zantara_nb.mrr`), the subscription
  revenue the month earns.
- **AI inference cost**: ``response_cost_usd`` of the month's answers
  (:func:`zantara_nb.cost_per_active_user`); per active user (persons with a
  ``message_sent``) and per paying user (the paying customers' own answers / paying
  customers at the end of the month).
- **Gross margin** = (revenue - inference cost - analytics stack cost) / revenue. Other
  costs of revenue (hosting, payment fees, support) are not in the event data.

Headline (:func:`unit_economics`, the report month; churn pooled over the last
``churn_months`` months as customer-months, so yearly renewals do not swing it):

- **LTV** = ARPU x gross margin / monthly logo churn; interval from the ARPU and churn
  intervals (low ARPU with high churn, high ARPU with low churn).
- **CAC** = marketing spend of the month (a parameter) / new paying customers of the month;
  **LTV:CAC**; **CAC payback** = CAC / (ARPU x gross margin) months.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, time, timedelta

import numpy as np
import pandas as pd

from ..metrics.stats import Z95, wilson
from .assumptions import Assumptions
from .measure import (
    ReportMonth,
    event_counts,
    first_activity,
    month_starts,
    next_month,
    person_costs,
    volumes_for,
)
from .stack import price_option
from .subscriptions import Timeline, load_timeline

#: Bootstrap resamples of the GRR/NRR intervals.
BOOTSTRAP = 1000


def _usd0(v: float) -> str:
    """Whole dollars with the sign before the $: '-$5,528'."""
    return f"-${-v:,.0f}" if v < 0 else f"${v:,.0f}"


def logo_churn(start_mrr: pd.Series, end_mrr: pd.Series) -> tuple[int, int]:
    """(churned, customers): customers paying at the start (``start_mrr`` > 0) with no MRR
    at the end."""
    customers = start_mrr[start_mrr > 0]
    end = end_mrr.reindex(customers.index).fillna(0.0)
    return int((end <= 0).sum()), int(len(customers))


def revenue_retention(start_mrr: pd.Series, end_mrr: pd.Series) -> tuple[float, float, float]:
    """(starting MRR, retained MRR capped at the start, ending MRR) of the customers paying
    at the start: GRR = retained / starting, NRR = ending / starting."""
    s = start_mrr[start_mrr > 0]
    e = end_mrr.reindex(s.index).fillna(0.0)
    return float(s.sum()), float(np.minimum(s, e).sum()), float(e.sum())


def ltv(arpu: float, gross_margin: float, churn: float) -> float | None:
    """Customer lifetime value: ARPU x gross margin / monthly churn (USD); None at 0 churn."""
    return None if churn <= 0 else arpu * gross_margin / churn


def cac(spend: float, new_customers: int) -> float | None:
    """Customer acquisition cost: marketing spend / new paying customers (USD)."""
    return None if new_customers <= 0 else spend / new_customers


def cac_payback_months(cac_usd: float, arpu: float, gross_margin: float) -> float | None:
    """Months of gross profit to earn back the CAC: CAC / (ARPU x gross margin)."""
    profit = arpu * gross_margin
    return None if profit <= 0 else cac_usd / profit


def gross_margin(revenue: float, inference: float, stack: float) -> float | None:
    """(revenue - inference cost - stack cost) / revenue; None without revenue."""
    return None if revenue <= 0 else (revenue - inference - stack) / revenue


def _bootstrap(s: np.ndarray, e: np.ndarray, seed: int) -> tuple[tuple, tuple]:
    """95% percentile intervals of GRR and NRR, resampling customer-months."""
    n = len(s)
    if n < 2:
        return (None, None), (None, None)
    rng = np.random.default_rng(seed)
    idx = rng.integers(0, n, size=(BOOTSTRAP, n))
    ss, ee = s[idx], e[idx]
    base = ss.sum(axis=1)
    grr = np.minimum(ss, ee).sum(axis=1) / base
    nrr = ee.sum(axis=1) / base
    q = [2.5, 97.5]
    return tuple(np.percentile(grr, q)), tuple(np.percentile(nrr, q))


@dataclass
class UnitEconomics:
    """Unit economics of a report month.

    ``df``: the headline figures (``key, label, value, unit, ci_low, ci_high, formula,
    period, detail``); ``monthly``: one row per month; ``cohorts``: GRR/NRR by monthly
    paying cohort (``cohort, months_after, customers, start_mrr, mrr, grr, nrr``);
    ``movements``: the MRR movements result of the library.
    """

    month: ReportMonth
    df: pd.DataFrame
    monthly: pd.DataFrame
    cohorts: pd.DataFrame
    movements: object
    notes: list[str] = field(default_factory=list)

    def value(self, key: str) -> float | None:
        """A headline figure by key (None when missing)."""
        hit = self.df[self.df["key"] == key]
        if hit.empty or pd.isna(hit["value"].iloc[0]):
            return None
        return float(hit["value"].iloc[0])

    def interval(self, key: str) -> tuple[float | None, float | None]:
        hit = self.df[self.df["key"] == key].iloc[0]
        lo, hi = hit["ci_low"], hit["ci_high"]
        return (None if pd.isna(lo) else float(lo), None if pd.isna(hi) else float(hi))

    def cohort_matrix(self, kind: str = "nrr") -> pd.DataFrame:
        """Cohorts (rows, cohort month) x months after (columns): NRR or GRR."""
        if self.cohorts.empty:
            return pd.DataFrame()
        m = self.cohorts.pivot(index="cohort", columns="months_after", values=kind)
        m.index = pd.to_datetime(m.index).strftime("%Y-%m")
        return m

    def _repr_html_(self) -> str:
        from .display import unit_economics_html

        return unit_economics_html(self)


def _month_row(
    wh, tl: Timeline, m: ReportMonth, s: date, a: Assumptions
) -> tuple[dict, pd.Series, pd.Series]:
    import zantara_nb as z

    e = next_month(s)
    t0, t1 = m.midnight(s), m.midnight(e)
    start_mrr, end_mrr = tl.mrr_at(t0), tl.mrr_at(t1)
    churned, customers = logo_churn(start_mrr, end_mrr)
    base, kept, ending = revenue_retention(start_mrr, end_mrr)
    daily = z.mrr(wh, start=s, end=e, as_of=m.as_of, tz=m.tz).df
    revenue = float(daily["mrr"].mean()) if not daily.empty else 0.0
    cost = z.cost_per_active_user(wh, start=s, end=e, as_of=m.as_of, tz=m.tz).df
    inference = float(cost["cost_usd"].sum()) if not cost.empty else 0.0
    active = int(cost["active_users"].sum()) if not cost.empty else 0
    counts = event_counts(wh, t0, t1)
    vol, _ = volumes_for(a, float(active), counts)
    stack = price_option(a.stack, vol).monthly_usd
    per_person = person_costs(wh, t0, t1).set_index("person_id")["cost_usd"]
    paying_cost = float(per_person.reindex(end_mrr.index).fillna(0.0).sum())
    ci = wilson(churned, customers)
    row = {
        "month": pd.Timestamp(s),
        "customers_start": customers,
        "churned_customers": churned,
        "logo_churn": churned / customers if customers else np.nan,
        "logo_churn_low": np.nan if ci.low is None else ci.low,
        "logo_churn_high": np.nan if ci.high is None else ci.high,
        "start_mrr_of_customers": base,
        "grr": kept / base if base else np.nan,
        "nrr": ending / base if base else np.nan,
        "new_customers": tl.new_customers(t0, t1),
        "paying_end": len(end_mrr),
        "mrr_end": float(end_mrr.sum()),
        "arpu": float(end_mrr.mean()) if len(end_mrr) else np.nan,
        "revenue": revenue,
        "inference_cost": inference,
        "stack_cost": stack,
        "active_users": active,
        "events": float(sum(counts.values())),
        "cost_per_active_user": inference / active if active else np.nan,
        "cost_per_paying_user": paying_cost / len(end_mrr) if len(end_mrr) else np.nan,
        "gross_margin": np.nan,
    }
    gm = gross_margin(revenue, inference, stack)
    row["gross_margin"] = np.nan if gm is None else gm
    return row, start_mrr, end_mrr


def _cohorts(tl: Timeline, m: ReportMonth, months: list[date], k_max: int) -> pd.DataFrame:
    rows = []
    for c in months:
        t0 = m.midnight(c)
        t1 = m.midnight(next_month(c))
        members = tl.first_paid[(tl.first_paid >= pd.Timestamp(t0)) &
                                (tl.first_paid < pd.Timestamp(t1))].index  # fmt: skip
        if len(members) == 0:
            continue
        base = tl.mrr_at(t1).reindex(members).fillna(0.0)
        start = float(base.sum())
        d = next_month(c)
        for k in range(0, k_max + 1):
            end_k = m.midnight(d)
            if end_k > m.as_of:
                break
            now = tl.mrr_at(end_k).reindex(members).fillna(0.0)
            rows.append(
                {
                    "cohort": pd.Timestamp(c),
                    "months_after": k,
                    "customers": int((base > 0).sum()),
                    "start_mrr": start,
                    "mrr": float(now.sum()),
                    "grr": float(np.minimum(base, now).sum()) / start if start else np.nan,
                    "nrr": float(now.sum()) / start if start else np.nan,
                }
            )
            d = next_month(d)
    cols = ["cohort", "months_after", "customers", "start_mrr", "mrr", "grr", "nrr"]
    return pd.DataFrame(rows, columns=cols)


def _first_full_month(wh, m: ReportMonth) -> date | None:
    first = first_activity(wh)
    if first is None:
        return None
    local = first.astimezone(m.zone)
    d = local.date()
    if local.timetz().replace(tzinfo=None) == time(0) and d.day == 1:
        return d
    return next_month(d)


def monthly_unit_economics(
    wh, a: Assumptions, m: ReportMonth, months: int = 6
) -> tuple[pd.DataFrame, Timeline, dict]:
    """One row per month of the ``months`` ending with the report month (from the first
    complete month of product data). Also returns the timeline and the pooled
    start/end MRR pairs of the last ``a.churn_months`` months."""
    tl = load_timeline(wh, m.as_of)
    first = _first_full_month(wh, m)
    lo = m.start
    for _ in range(months - 1):
        lo = (lo - timedelta(days=1)).replace(day=1)
    if first is not None:
        lo = max(lo, first)
    rows, pairs = [], []
    starts = month_starts(lo, m.start) if first is not None and lo <= m.start else []
    for s in starts:
        row, sm, em = _month_row(wh, tl, m, s, a)
        rows.append(row)
        pairs.append((s, sm, em))
    df = pd.DataFrame(rows)
    pooled = pairs[-a.churn_months :] if pairs else []
    return df, tl, {"pairs": pooled, "first_month": first, "months": starts}


def unit_economics(wh, a: Assumptions, m: ReportMonth, months: int = 6) -> UnitEconomics:
    """Unit economics of report month ``m`` (see the module docstring): headline figures
    with formulas and intervals, the monthly series, and GRR/NRR by paying cohort."""
    import zantara_nb as z

    monthly, tl, extra = monthly_unit_economics(wh, a, m, months)
    notes: list[str] = []
    cur = monthly.iloc[-1] if not monthly.empty else None
    pairs = extra["pairs"]
    churned = sum(logo_churn(s, e)[0] for _, s, e in pairs)
    customers = sum(logo_churn(s, e)[1] for _, s, e in pairs)
    s_list, e_list = [], []
    for _, s, e in pairs:
        s_pos = s[s > 0]
        s_list.append(s_pos.to_numpy())
        e_list.append(e.reindex(s_pos.index).fillna(0.0).to_numpy())
    s_all = np.concatenate(s_list) if s_list else np.array([])
    e_all = np.concatenate(e_list) if e_list else np.array([])
    churn_period = (
        f"{pairs[0][0]:%Y-%m} → {pairs[-1][0]:%Y-%m} ({len(pairs)} months pooled)" if pairs else ""
    )
    if pairs and len(pairs) < a.churn_months:
        notes.append(
            f"Churn pools {len(pairs)} month(s), not {a.churn_months}: product data starts "
            f"{extra['first_month']:%Y-%m}."
        )
    churn = churned / customers if customers else None
    churn_ci = wilson(churned, customers)
    grr = float(np.minimum(s_all, e_all).sum() / s_all.sum()) if s_all.size else None
    nrr = float(e_all.sum() / s_all.sum()) if s_all.size else None
    grr_ci, nrr_ci = _bootstrap(s_all, e_all, a.mc_seed)

    mrr_end = float(cur["mrr_end"]) if cur is not None else None
    paying = int(cur["paying_end"]) if cur is not None else 0
    arpu_v = float(cur["arpu"]) if cur is not None and paying else None
    end_prices = tl.mrr_at(m.midnight(m.end))
    arpu_se = float(end_prices.std(ddof=1)) / np.sqrt(len(end_prices)) if paying > 1 else None
    gm = None if cur is None or pd.isna(cur["gross_margin"]) else float(cur["gross_margin"])
    ltv_v = ltv(arpu_v, gm, churn) if None not in (arpu_v, gm, churn) else None
    ltv_lo = ltv_hi = None
    if ltv_v is not None and arpu_se is not None and churn_ci.low is not None:
        lo_arpu, hi_arpu = max(0.0, arpu_v - Z95 * arpu_se), arpu_v + Z95 * arpu_se
        ltv_lo = ltv(lo_arpu, gm, churn_ci.high)
        ltv_hi = ltv(hi_arpu, gm, churn_ci.low) if churn_ci.low > 0 else None
    spend = a.marketing_spend.value
    new = int(cur["new_customers"]) if cur is not None else 0
    cac_v = cac(spend, new)
    ratio = ltv_v / cac_v if ltv_v is not None and cac_v else None
    ratio_lo = ltv_lo / cac_v if ltv_lo is not None and cac_v else None
    ratio_hi = ltv_hi / cac_v if ltv_hi is not None and cac_v else None
    payback = cac_payback_months(cac_v, arpu_v, gm) if None not in (cac_v, arpu_v, gm) else None
    movements = z.mrr_movements(wh, start=m.start, end=m.end, as_of=m.as_of, tz=m.tz)
    mv = movements.df.iloc[0] if not movements.df.empty else None
    label = m.label

    def g(col):
        return None if cur is None or pd.isna(cur[col]) else float(cur[col])

    rows = [
        ("mrr", "MRR (end of month)", mrr_end, "usd", None, None,
         "sum of the monthly prices of open subscriptions (yearly / 12)", label, ""),
        ("paying_customers", "Paying customers", paying, "count", None, None,
         "persons with MRR > 0 at the end of the month", label, ""),
        ("arpu", "ARPU (per paying customer, per month)", arpu_v, "usd",
         None if arpu_se is None else arpu_v - Z95 * arpu_se,
         None if arpu_se is None else arpu_v + Z95 * arpu_se,
         "MRR / paying customers", label, "interval: mean +/- 1.96 standard errors"),
        ("net_new_mrr", "Net new MRR", None if mv is None else float(mv["net_new"]), "usd",
         None, None, "new + expansion + contraction + churned + reactivation", label,
         "" if mv is None else
         ", ".join(f"{k} {_usd0(mv[k])}" for k in
                   ("new", "expansion", "contraction", "churned", "reactivation"))),
        ("new_customers", "New paying customers", new, "count", None, None,
         "persons whose first payment falls in the month", label, ""),
        ("logo_churn", "Logo churn (monthly)", churn, "rate", churn_ci.low, churn_ci.high,
         "customers at the month's start paying nothing at its end / customers at the start",
         churn_period, f"{churned:,} of {customers:,} customer-months (95% Wilson interval)"),
        ("revenue_churn", "Gross revenue churn (monthly)", None if grr is None else 1 - grr,
         "rate", None if grr_ci[1] is None else 1 - grr_ci[1],
         None if grr_ci[0] is None else 1 - grr_ci[0], "1 - GRR", churn_period,
         "interval: bootstrap over customer-months"),
        ("grr", "Gross revenue retention (GRR, monthly)", grr, "rate", grr_ci[0], grr_ci[1],
         "sum of min(MRR at end, MRR at start) / MRR at start, customers at the start",
         churn_period, "interval: bootstrap over customer-months"),
        ("nrr", "Net revenue retention (NRR, monthly)", nrr, "rate", nrr_ci[0], nrr_ci[1],
         "their MRR at the end / their MRR at the start (expansion included)", churn_period,
         "interval: bootstrap over customer-months"),
        ("revenue", "Revenue of the month", g("revenue"), "usd", None, None,
         "mean daily MRR over the month", label, ""),
        ("inference_cost", "AI inference cost of the month", g("inference_cost"), "usd", None,
         None, "sum of response_cost_usd (message_received + $ai_generation)", label, ""),
        ("cost_per_active_user", "AI cost per active user", g("cost_per_active_user"), "usd",
         None, None, "inference cost / persons with a message_sent in the month", label,
         "" if cur is None else f"{int(cur['active_users']):,} active users"),
        ("cost_per_paying_user", "AI cost per paying user", g("cost_per_paying_user"), "usd",
         None, None, "paying customers' own inference cost / paying customers", label, ""),
        ("stack_cost", "Analytics stack cost of the month", g("stack_cost"), "usd", None, None,
         f"{a.stack.label}, priced at the month's volumes", label, ""),
        ("gross_margin", "Gross margin", gm, "rate", None, None,
         "(revenue - inference cost - stack cost) / revenue", label,
         "cost of revenue here: inference and the analytics stack only; every answer and "
         "subscription counted, so no sampling interval"),
        ("ltv", "LTV (customer lifetime value)", ltv_v, "usd", ltv_lo, ltv_hi,
         "ARPU x gross margin / monthly logo churn", f"{label}; churn {churn_period}",
         "interval from the ARPU and churn intervals"),
        ("cac", "CAC (acquisition cost per paying customer)", cac_v, "usd", None, None,
         "marketing spend / new paying customers", label,
         f"spend ${spend:,.0f} a month is assumed ({a.marketing_spend.source})"),
        ("ltv_cac", "LTV:CAC", ratio, "ratio", ratio_lo, ratio_hi, "LTV / CAC", label,
         "interval from the LTV interval"),
        ("cac_payback", "CAC payback (months)", payback, "months", None, None,
         "CAC / (ARPU x gross margin)", label, ""),
    ]  # fmt: skip
    df = pd.DataFrame(
        rows,
        columns=["key", "label", "value", "unit", "ci_low", "ci_high", "formula", "period",
                 "detail"],
    )  # fmt: skip
    for c in ("value", "ci_low", "ci_high"):
        df[c] = pd.to_numeric(df[c], errors="coerce").astype("float64")
    cohorts = _cohorts(tl, m, extra["months"], a.cohort_months)
    return UnitEconomics(m, df, monthly, cohorts, movements, notes)
