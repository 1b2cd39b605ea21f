"""Charts of the investor report, in the house style, with plain titles.

Each function returns a :class:`zantara_nb.reporting.report.Chart` (a PNG shown as an
``<img>``). The PNGs are drawn at :data:`DPI` so they stay sharp when the reader page is
printed to PDF at the full text width.
"""

from __future__ import annotations

import base64
import html
import io

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

from ..display import charts
from ..reporting.report import Chart
from .model import ROIResult
from .scenarios import MonteCarlo, ScenarioResult, Sensitivity
from .stack import StackComparison
from .unit_economics import UnitEconomics

#: Resolution of every chart (a 8-inch chart is 1,600 px wide).
DPI = 200


class HiResChart(Chart):
    """A chart PNG drawn at :data:`DPI`, shown at its size at 100 dpi (``width`` in CSS
    pixels, never wider than the page), so it is sharp on screens and in print."""

    def __init__(self, png: bytes, title: str = "", width_px: int | None = None) -> None:
        super().__init__(png, title)
        self.width_px = width_px

    def _repr_html_(self) -> str:
        data = base64.b64encode(self.png).decode("ascii")
        alt = html.escape(self.title or "chart")
        width = f"width:{self.width_px}px;" if self.width_px else ""
        return f'<img src="data:image/png;base64,{data}" alt="{alt}" style="{width}max-width:100%">'


def _png(fig, title: str) -> HiResChart:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=DPI, bbox_inches="tight")
    plt.close(fig)
    png = buf.getvalue()
    width = int.from_bytes(png[16:20], "big")  # the PNG header's width
    return HiResChart(png, title, round(width * 100 / DPI))


def _usd_axis(ax, axis: str = "y") -> None:
    fmt = plt.FuncFormatter(lambda v, _: f"-${-v:,.0f}" if v < 0 else f"${v:,.0f}")
    (ax.yaxis if axis == "y" else ax.xaxis).set_major_formatter(fmt)


def _pct_axis(ax, axis: str = "y") -> None:
    fmt = plt.FuncFormatter(lambda v, _: f"{100 * v:,.0f}%")
    (ax.yaxis if axis == "y" else ax.xaxis).set_major_formatter(fmt)


def cash_curve_chart(r: ROIResult) -> Chart:
    """Monthly net cash (bars) and cumulative net (line) over the first 12 months."""
    charts.apply_style()
    fig, ax = plt.subplots(figsize=(8.0, 3.4))
    c = r.cash
    colours = [charts.UP if v >= 0 else charts.DOWN for v in c["net"]]
    ax.bar(c["month"], c["net"], color=colours, alpha=0.55, label="net cash in the month")
    ax.plot(c["month"], c["cumulative"], color=charts.PALETTE[0], lw=2.2, marker="o", ms=4,
            label="cumulative net cash")  # fmt: skip
    ax.axhline(0, color="#333333", lw=0.8)
    if r.payback_month is not None and r.payback_month <= 12:
        ax.axvline(r.payback_month, color=charts.NEUTRAL, ls="--", lw=1)
        mid = float(max(c["cumulative"].max(), c["net"].max(), 0)) / 2
        ax.annotate(f"pays back in month {r.payback_month}", (r.payback_month, mid),
                    xytext=(6, 0), textcoords="offset points", fontsize=9, color="#333333")  # fmt: skip
    ax.set_xticks(range(1, 13))
    ax.set_xlabel("month after go-live")
    ax.set_ylabel("USD")
    _usd_axis(ax)
    ax.set_title("Cash from the analytics investment, first 12 months (base case)")
    ax.legend(loc="upper left")
    return _png(fig, "Cash from the analytics investment, first 12 months")


def returns_chart(r: ROIResult) -> Chart:
    """Year-1 return of each line beside the year-1 investment."""
    charts.apply_style()
    d = r.lines[["label", "year1_usd"]].copy()
    d = pd.concat(
        [d, pd.DataFrame({"label": ["Investment (year 1)"], "year1_usd": [r.investment_usd]})]
    )
    fig, ax = plt.subplots(figsize=(8.0, 2.8))
    colours = [charts.PALETTE[0]] * (len(d) - 1) + [charts.PALETTE[1]]
    ax.barh(d["label"][::-1], d["year1_usd"][::-1], color=colours[::-1])
    for y, v in enumerate(d["year1_usd"][::-1]):
        ax.annotate(f"${v:,.0f}", (v, y), xytext=(4, -3), textcoords="offset points", fontsize=8)
    ax.set_xlabel("USD, first 12 months")
    _usd_axis(ax, "x")
    ax.grid(axis="x", color="#E5E5E5")
    ax.grid(axis="y", visible=False)
    ax.set_title("Where the return comes from, against what it costs (base case)")
    return _png(fig, "Where the return comes from")


def scenarios_chart(s: ScenarioResult) -> Chart:
    """Net ROI of the three scenarios."""
    charts.apply_style()
    d = s.df
    fig, ax = plt.subplots(figsize=(8.0, 2.6))
    colours = [charts.PALETTE[1], charts.PALETTE[0], charts.UP]
    ax.barh(d["scenario"][::-1], d["net_roi"][::-1], color=colours[::-1])
    for y, v in enumerate(d["net_roi"][::-1]):
        ax.annotate(f"{100 * v:,.0f}%", (v, y), xytext=(4, -3), textcoords="offset points",
                    fontsize=9)  # fmt: skip
    _pct_axis(ax, "x")
    ax.set_xlabel("net ROI, year 1")
    ax.grid(axis="x", color="#E5E5E5")
    ax.grid(axis="y", visible=False)
    ax.set_title("Net ROI in the three scenarios")
    return _png(fig, "Net ROI in the three scenarios")


def tornado_chart(s: Sensitivity) -> Chart:
    """Net ROI when each input is halved or raised by half (largest swing on top)."""
    charts.apply_style()
    d = s.df.iloc[::-1]
    base = s.base_roi or 0.0
    fig, ax = plt.subplots(figsize=(8.0, 0.36 * len(d) + 1.3))
    y = np.arange(len(d))
    ax.barh(y, d["roi_low"] - base, left=base, color=charts.PALETTE[1], label="input at 50%")
    ax.barh(y, d["roi_high"] - base, left=base, color=charts.PALETTE[0], label="input at 150%")
    ax.axvline(base, color="#333333", lw=1)
    ax.set_yticks(y)
    ax.set_yticklabels(d["label"], fontsize=8)
    _pct_axis(ax, "x")
    ax.set_xlabel(f"net ROI, year 1 (base case {100 * base:,.0f}%)")
    ax.grid(axis="x", color="#E5E5E5")
    ax.grid(axis="y", visible=False)
    ax.legend(loc="lower right", fontsize=8)
    ax.set_title("What moves the net ROI most: each input halved or raised by half")
    return _png(fig, "What moves the net ROI most")


def monte_carlo_chart(mc: MonteCarlo) -> Chart:
    """Histogram of net ROI over the simulated draws, with P10/P50/P90 and the base case."""
    charts.apply_style()
    fig, ax = plt.subplots(figsize=(8.0, 3.0))
    v = mc.net_roi[np.isfinite(mc.net_roi)]
    ax.hist(v, bins=60, color=charts.PALETTE[0], alpha=0.75)
    for q, ls, dy in ((10, ":", -12), (50, "-", -24), (90, ":", -12)):
        p = mc.percentile("net_roi", q)
        if p is not None:
            ax.axvline(p, color="#333333", ls=ls, lw=1)
            ax.annotate(f"P{q} {100 * p:,.0f}%", (p, ax.get_ylim()[1]), xytext=(3, dy),
                        textcoords="offset points", fontsize=8,
                        bbox={"boxstyle": "round,pad=0.15", "fc": "white", "ec": "none"})  # fmt: skip
    if mc.base_roi is not None:
        ax.axvline(mc.base_roi, color=charts.PALETTE[1], lw=1.5, label="base case")
        ax.legend(loc="center right", fontsize=8)
    _pct_axis(ax, "x")
    ax.set_xlabel("net ROI, year 1")
    ax.set_ylabel("simulations")
    ax.set_title(f"Net ROI across {mc.draws:,} simulated combinations of the uncertain inputs")
    return _png(fig, "Net ROI across simulated combinations")


def stack_chart(c: StackComparison) -> Chart:
    """Monthly cost of each stack option at the measured volumes."""
    charts.apply_style()
    d = c.df.iloc[::-1]
    fig, ax = plt.subplots(figsize=(8.0, 0.4 * len(d) + 1.2))
    colours = [charts.PALETTE[1] if ch else charts.PALETTE[0] for ch in d["chosen"]]
    err = [(d["monthly_usd"] - d["monthly_low"]).clip(lower=0),
           (d["monthly_high"] - d["monthly_usd"]).clip(lower=0)]  # fmt: skip
    ax.barh(d["label"], d["monthly_usd"], xerr=err, color=colours, ecolor="#555555", capsize=2)
    for y, (v, hi) in enumerate(zip(d["monthly_usd"], d["monthly_high"], strict=True)):
        ax.annotate(
            f"${v:,.0f}", (max(v, hi), y), xytext=(5, -3), textcoords="offset points", fontsize=8
        )
    _usd_axis(ax, "x")
    ax.set_xlabel("USD a month at this month's volumes (orange: the stack in the ROI)")
    ax.grid(axis="x", color="#E5E5E5")
    ax.grid(axis="y", visible=False)
    ax.set_title("Monthly cost of each analytics stack the seed compares")
    return _png(fig, "Monthly cost of each analytics stack")


def mrr_chart(ue: UnitEconomics) -> Chart:
    """MRR at the end of each month and the paying customers."""
    charts.apply_style()
    d = ue.monthly
    fig, ax = plt.subplots(figsize=(8.0, 3.0))
    labels = pd.to_datetime(d["month"]).dt.strftime("%b %Y")
    ax.bar(labels, d["mrr_end"], color=charts.PALETTE[0])
    for x, (v, n) in enumerate(zip(d["mrr_end"], d["paying_end"], strict=True)):
        ax.annotate(f"${v:,.0f}\n{n:,} paying", (x, v), xytext=(0, 3), textcoords="offset points",
                    ha="center", fontsize=8)  # fmt: skip
    _usd_axis(ax)
    ax.set_ylim(0, float(d["mrr_end"].max()) * 1.25 if len(d) else 1)
    ax.set_ylabel("MRR (USD)")
    ax.set_title("Monthly recurring revenue at the end of each month")
    return _png(fig, "Monthly recurring revenue")


def churn_chart(ue: UnitEconomics) -> Chart:
    """Monthly logo churn with its 95% interval, and gross revenue churn."""
    charts.apply_style()
    d = ue.monthly
    fig, ax = plt.subplots(figsize=(8.0, 3.0))
    x = pd.to_datetime(d["month"]).dt.strftime("%b %Y")
    ax.errorbar(x, d["logo_churn"],
                yerr=[d["logo_churn"] - d["logo_churn_low"], d["logo_churn_high"] - d["logo_churn"]],
                color=charts.PALETTE[0], marker="o", capsize=3, label="customers lost (logo churn)")  # fmt: skip
    ax.plot(x, 1 - d["grr"], color=charts.PALETTE[1], marker="s", label="revenue lost (1 - GRR)")
    _pct_axis(ax)
    ax.set_ylim(bottom=0)
    ax.set_ylabel("share of the month's starting customers")
    ax.legend(loc="lower left", fontsize=8)
    ax.set_title("Share of paying customers and revenue lost each month")
    return _png(fig, "Share of paying customers and revenue lost each month")


def cohort_chart(ue: UnitEconomics, kind: str = "nrr") -> Chart | None:
    """Revenue retention of each monthly cohort of new paying customers (heat map)."""
    m = ue.cohort_matrix(kind)
    if m.empty:
        return None
    charts.apply_style()
    ax = charts.heatmap(
        m,
        title="Revenue kept from each month's new paying customers (net revenue retention)",
        xlabel="months after the first month",
        ylabel="first paid in",
    )
    return _png(ax.figure, "Revenue kept from each month's new paying customers")
