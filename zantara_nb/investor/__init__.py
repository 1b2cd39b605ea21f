"""Investor ROI and unit economics (METRICS.md section 9, the seed's section 11).

What lives here: the ROI model as named formulas (``model``), the cost of each analytics
stack the seed compares (``stack``), the seed's worked example checked line by line
(``seed``), the model's inputs measured from the warehouse or assumed from
``parameters/roi.yaml`` (``assumptions``, ``measure``), unit economics per paying customer
(``subscriptions``, ``unit_economics``), scenarios, sensitivity and Monte Carlo
(``scenarios``), before/after signup cohorts (``realised``), the report's charts, HTML
blocks and PDF (``charts``, ``display``, ``pdf``) and the whole report in one object
(``report``). Definitions: ``docs/investor-roi.md``.

May import: the public metric functions (``zantara_nb.mrr``, ``paid_conversion``...),
``zantara_nb.metrics.stats``, ``zantara_nb.display`` and ``zantara_nb.reporting.report``.
Its SQL is plain ``SELECT ... GROUP BY`` over ``events``.

>>> from zantara_nb import Warehouse, investor
>>> inv = investor.build_report(Warehouse(), as_of="2026-12-01")
>>> inv.roi.net_roi, inv.unit_economics.value("ltv_cac")
>>> investor.seed_check().differing()
"""

from .assumptions import Assumption, Assumptions, load_assumptions
from .measure import Input, Inputs, measure_inputs, report_month
from .model import ROIInputs, ROIResult, roi
from .realised import Realised, realised
from .report import InvestorReport, build_report
from .scenarios import MonteCarlo, ScenarioResult, Sensitivity, monte_carlo, scenarios, sensitivity
from .seed import SeedCheck, seed_check
from .stack import StackComparison, StackCost, Volumes, compare_stacks, price_option
from .unit_economics import UnitEconomics, unit_economics

__all__ = [
    "Assumption",
    "Assumptions",
    "Input",
    "Inputs",
    "InvestorReport",
    "MonteCarlo",
    "ROIInputs",
    "ROIResult",
    "Realised",
    "ScenarioResult",
    "SeedCheck",
    "Sensitivity",
    "StackComparison",
    "StackCost",
    "UnitEconomics",
    "Volumes",
    "build_report",
    "compare_stacks",
    "load_assumptions",
    "measure_inputs",
    "monte_carlo",
    "price_option",
    "realised",
    "report_month",
    "roi",
    "scenarios",
    "seed_check",
    "sensitivity",
    "unit_economics",
]
