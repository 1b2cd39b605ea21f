"""Write the report notebooks of ``notebooks/`` (no outputs, no execution counts).

    .venv/bin/python notebooks/make_notebooks.py

The notebooks are thin: every cell is a few lines calling ``zantara_nb`` (logic lives in
the package, notebook helpers in ``zantara_nb.reporting.report``). Each has a cell tagged
``parameters`` (papermill injects the run's values after it), a title, a summary
paragraph from ``zantara_nb.reporting.narrative``, tables and charts. Edit here and re-run, or edit
a notebook in JupyterLab and clear its outputs before committing. A new notebook (e.g.
``04_query_patterns.ipynb``) is one more file here plus one line under ``notebooks:`` in
``parameters/weekly.yaml``.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import nbformat

HERE = Path(__file__).resolve().parent

COMMON_PARAMETERS = """\
# Parameters: papermill injects the run's values in a cell after this one.
as_of = None  # local date YYYY-MM-DD; the report covers the last complete period before it
period = "week"  # week | month
timezone = "Asia/Jakarta"
warehouse = None  # DuckDB file; None: $ZANTARA_WAREHOUSE or data/zantara.duckdb
filters = {}  # e.g. {"country": "ID"}, {"plan": ["pro", "business"]}
thresholds = {}  # e.g. {"alerts": [...]}: alert rules for the alerts panel
targets = None  # targets file; None: parameters/targets.yaml"""

SETUP = """\
import zantara_nb as z
from zantara_nb.reporting import narrative, report

rep = report.setup(as_of, period, timezone, warehouse, filters, thresholds, targets)
report.title(rep, {title!r}, {subtitle!r})"""

KPIS = """\
k = z.kpis(rep.wh, as_of=rep.as_of, period=rep.period, targets=rep.targets, tz=rep.tz,
           filters=rep.filters or None)
{alerts}report.paragraph(narrative.summarize(k{alerts_arg}))"""


def data_quality() -> list:
    """The data-quality section every report ends with."""
    return [
        md(
            "## Data quality\nCan these numbers be trusted: freshness, volume against the "
            "same weekday of earlier weeks, unknown events and properties, tracking-plan "
            "violations, events without a person, duplicates, quarantine, interrupted loads "
            "and clock skew."
        ),
        code("report.data_quality(rep)"),
    ]


def md(text: str) -> nbformat.NotebookNode:
    return nbformat.v4.new_markdown_cell(text)


def code(text: str, tags: list[str] | None = None) -> nbformat.NotebookNode:
    cell = nbformat.v4.new_code_cell(text)
    if tags:
        cell.metadata["tags"] = tags
    return cell


def header(title: str, subtitle: str, extra_params: str = "", alerts: bool = False) -> list:
    params = COMMON_PARAMETERS + (("\n" + extra_params) if extra_params else "")
    return [
        code(params, ["parameters"]),
        code(SETUP.format(title=title, subtitle=subtitle)),
        code(
            KPIS.format(
                alerts="alerts = report.evaluate_alerts(rep)\n" if alerts else "",
                alerts_arg=", alerts" if alerts else "",
            )
        ),
    ]


def overview() -> list:
    return [
        *header(
            "ZANTARA metrics overview",
            "Headline numbers, usage trends, retention, the funnel, system health, alerts "
            "and targets.",
            alerts=True,
        ),
        md(
            "## Headline numbers\nThis period against the previous one (▲ up, ▼ down; "
            "green is a good move, red a bad one)."
        ),
        code("report.headline_cards(k)"),
        md("## North Star: weekly active users"),
        code(
            "ns = z.north_star(rep.wh, **rep.kw(window=rep.trend_window))\n"
            "display(report.banner(ns.headline()), report.chart(ns))"
        ),
        md("## Daily active users"),
        code("report.chart(z.dau(rep.wh, **rep.trailing(rep.trend_days)))"),
        md("## Top query categories"),
        code("cats = report.top_categories(rep)\ndisplay(report.chart(cats), report.show(cats))"),
        md("## Retention of new users: D1, D7, D14, D30"),
        code(
            "nday = z.nday_retention(rep.wh, **rep.kw())\n"
            "display(report.show(nday, columns=['day', 'persons', 'retained', 'rate', "
            "'ci_low', 'ci_high', 'pending']),\n        report.chart(nday))"
        ),
        md(
            "## Conversion funnel\nEntries (landing page views) over 30 days whose 45-day "
            "conversion window has closed by the cut-off."
        ),
        code(
            "f = z.funnel(rep.wh, z.SEED_FUNNEL, **rep.funnel_kw(z.SEED_FUNNEL, 30))\n"
            "display(report.show(f, max_rows=None), report.chart(f))"
        ),
        md("## System health"),
        code(
            "display(report.health_cards(k),\n"
            "        report.chart(z.p95_latency(rep.wh, **rep.trailing(rep.trend_days))),\n"
            "        report.chart(z.error_rate(rep.wh, by='day', **rep.trailing(rep.trend_days))))"
        ),
        md("## Alerts"),
        code("report.alerts_table(alerts)"),
        md("## Targets"),
        code("report.targets_table(k)"),
        *data_quality(),
    ]


def funnels() -> list:
    extra = (
        "funnels = []  # more funnels: [{name, steps: [event | {event, filters, name}], window}]\n"
        'breakdowns = ["user_type", "$device_type"]  # properties to split each funnel by\n'
        "funnel_days = 30  # entries (step-1 events) over N days\n"
        "closed_windows = True  # True: entries whose window closed; False: latest entries"
    )
    return [
        *header(
            "ZANTARA funnels",
            "The seed conversion funnel and the funnels of this report's parameters, with "
            "drop-off, time to convert and breakdowns.",
            extra,
        ),
        md(
            "Each person counts once, at the furthest step reached within the funnel's "
            "conversion window. By default the entries are the latest days whose whole "
            "window has closed by the cut-off, so no number is still growing."
        ),
        code(
            "for spec in report.funnel_specs(funnels):\n"
            "    report.show_funnel(rep, spec, breakdowns=breakdowns, days=funnel_days,\n"
            "                       closed=closed_windows)"
        ),
        *data_quality(),
    ]


def cohorts() -> list:
    extra = "periods = 8  # cohort periods shown in the heat map and churn chart"
    return [
        *header(
            "ZANTARA cohorts and retention",
            "Signup cohorts, retention curves, lifecycle, stickiness and churn.",
            extra,
        ),
        md(
            "## Cohort retention\nPersons by period of signup; share active (message sent) "
            "in each later period. Blank cells are not fully observed yet."
        ),
        code(
            "ret = z.retention(rep.wh, period=rep.period, periods=periods, **rep.kw())\n"
            "display(report.chart(ret.heatmap()), report.show(ret, max_rows=None))"
        ),
        md("## Retention curves"),
        code("display(report.chart(ret), report.chart(ret, cohorts=True))"),
        md(
            "## Lifecycle\nNew, returning and resurrecting users per period; dormant users "
            "(active the period before, not this one) below zero."
        ),
        code(
            "life = z.lifecycle(rep.wh, period=rep.period, **rep.kw(window=rep.trend_window))\n"
            "display(report.chart(life), report.show(life, columns=['period', 'new', "
            "'returning',\n        'resurrecting', 'dormant', 'active', 'quick_ratio']))"
        ),
        md("## Stickiness"),
        code(
            "stick = z.stickiness(rep.wh, **rep.trailing(rep.trend_days))\n"
            "dist = z.stickiness_distribution(rep.wh, **rep.period_kw())\n"
            "display(report.chart(stick), report.chart(dist))"
        ),
        md("## Churn"),
        code(
            "churn = z.churn_rate(rep.wh, period=rep.period, periods=periods, **rep.kw())\n"
            "display(report.chart(churn), report.show(churn))"
        ),
        *data_quality(),
    ]


def query_patterns() -> list:
    extra = (
        "min_feedbacks = 10  # low-satisfaction groups need at least this many feedbacks\n"
        "min_last_week = 20  # trending: categories with at least this many messages last week\n"
        'experiment_goal = "activation"  # activation | week2_retention | paid_conversion | event'
    )
    return [
        *header(
            "ZANTARA query patterns",
            "What people ask (categories, languages, intents, complexity), where answers "
            "disappoint, what is trending, sessions, anomalies, churn risk and experiments.",
            extra,
        ),
        md(
            "## Top query categories\nMessages of the report period by category, with the "
            "mean latency, cost and sources of their replies."
        ),
        code(
            "from zantara_nb.insights import churn, experiments, queries, segments\n\n"
            "cats = queries.top_categories(rep.wh, **rep.period_kw())\n"
            "display(report.chart(cats), report.show(cats))"
        ),
        md("## Languages, intents and complexity"),
        code(
            'for field in ["query_language", "query_intent", "query_complexity"]:\n'
            "    dist = queries.distribution(rep.wh, field, **rep.period_kw())\n"
            "    display(report.show(dist))"
        ),
        md(
            "## Low satisfaction\nShare of positive feedback by category and complexity over "
            "the last 28 days, lowest first; groups with fewer feedbacks are left out."
        ),
        code(
            "low = queries.low_satisfaction(rep.wh, min_feedbacks=min_feedbacks, "
            "**rep.trailing(28))\n"
            "display(report.chart(low), report.show(low))"
        ),
        md("## Trending categories\nThis week against last week; significant moves marked."),
        code(
            "trend = queries.trending(rep.wh, min_last_week=min_last_week, **rep.kw())\n"
            "display(report.show(trend))"
        ),
        md("## Sessions\nMessages per session and session length by plan and user type."),
        code("sess = queries.sessions(rep.wh, **rep.period_kw())\ndisplay(report.show(sess))"),
        md(
            "## Anomalies\nDays in the last four weeks that differ from the same weekday of "
            "the four weeks before, with the dimension values that moved the most."
        ),
        code("anom = z.detect_anomalies(rep.wh, **rep.kw())\ndisplay(report.show(anom))"),
        md("## Segments and churn risk"),
        code(
            "seg = segments.segments(rep.wh, **rep.kw())\n"
            "model = churn.churn_model(rep.wh, **rep.kw())\n"
            "display(report.chart(seg), report.show(seg), model)"
        ),
        md("## Experiments\nFeature flags seen this period: persons per variant and the goal."),
        code(
            "flags = experiments.experiments(rep.wh, **rep.trailing(28))\n"
            "display(report.show(flags))\n"
            'for flag in sorted(set(flags.df["flag"])) if not flags.empty else []:\n'
            "    display(experiments.experiment(rep.wh, flag, goal=experiment_goal, "
            "**rep.trailing(28)))"
        ),
        *data_quality(),
    ]


ROI_PARAMETERS = """\
# Parameters: papermill injects the run's values in a cell after this one.
as_of = None  # local date YYYY-MM-DD; the report covers the last complete month before it
period = "month"  # the investor report is monthly
timezone = "Asia/Jakarta"
warehouse = None  # DuckDB file; None: $ZANTARA_WAREHOUSE or data/zantara.duckdb
filters = {}  # the suite's common parameters; investor figures always cover every user
thresholds = {}
targets = None  # targets file for the month's KPI paragraph; None: parameters/targets.yaml
assumptions = None  # price points and assumptions; None: parameters/roi.yaml"""


def roi() -> list:
    """05_roi: the investor report (zantara_nb.investor; numbers in docs/investor-roi.md)."""
    return [
        code(ROI_PARAMETERS, ["parameters"]),
        code(
            "import zantara_nb as z\n"
            "from zantara_nb import investor\n"
            "from zantara_nb.reporting import narrative, report\n\n"
            'rep = report.setup(as_of, "month", timezone, warehouse, targets=targets)\n'
            "inv = investor.build_report(rep.wh, as_of=rep.as_of, tz=rep.tz, "
            "assumptions=assumptions)\n"
            "report.title(\n"
            "    rep,\n"
            '    "ZANTARA for investors: return on analytics and unit economics",\n'
            '    "What the analytics stack costs and returns, and what one paying customer is '
            'worth.",\n'
            ")"
        ),
        md("## The answer in four numbers"),
        code("inv.headline()"),
        md(
            "## How the return on analytics is made\n"
            "The investment is the setup time plus a year of the analytics stack. Each return "
            "is a formula over this month's measured numbers and the seed's assumed uplifts; "
            "the table shows the formula and the values that went in."
        ),
        code("display(inv.roi_section(), inv.cash_chart(), inv.returns_chart())"),
        md(
            "## Unit economics: what a paying customer is worth\n"
            "Measured from the event data for the month, each figure with its formula and, for "
            "rates, its 95% interval."
        ),
        code(
            "display(inv.unit_economics_section(), inv.mrr_chart(), inv.churn_chart())\n"
            "display(inv.monthly_section(), inv.cohorts_section(), inv.cohort_chart())"
        ),
        md(
            "## Every input and assumption\n"
            "Measured when the data has it (with the period and interval), otherwise assumed "
            "from `parameters/roi.yaml`, with the source of each."
        ),
        code("inv.inputs_section()"),
        md(
            "## Three scenarios\n"
            "The same measured business, with cautious, expected and hopeful uplifts."
        ),
        code("display(inv.scenarios_section(), inv.scenarios_chart())"),
        md("## What moves the result most"),
        code("display(inv.tornado_chart(), inv.sensitivity_section())"),
        md(
            "## How sure: a simulated range\n"
            "Every uncertain input drawn from its interval or stated range, many times over."
        ),
        code("display(inv.monte_carlo_chart(), inv.monte_carlo_section())"),
        md("## Realised so far: signups before and after analytics"),
        code("inv.realised_section()"),
        md("## The product this month"),
        code(
            "k = z.kpis(rep.wh, as_of=rep.as_of, period=rep.period, targets=rep.targets, "
            "tz=rep.tz)\n"
            "report.paragraph(narrative.summarize(k))"
        ),
        md("## What the analytics stack costs, option by option"),
        code("display(inv.stacks_section(), inv.stack_chart())"),
        md("## The seed's worked example, checked"),
        code("inv.seed_section()"),
    ]


NOTEBOOKS = {
    "01_metrics_overview": overview,
    "02_funnels": funnels,
    "03_cohorts_retention": cohorts,
    "04_query_patterns": query_patterns,
    "05_roi": roi,
}


def build(name: str) -> nbformat.NotebookNode:
    nb = nbformat.v4.new_notebook()
    nb.cells = NOTEBOOKS[name]()
    nb.metadata["kernelspec"] = {
        "name": "zantara",
        "display_name": "Python (zantara-nb)",
        "language": "python",
    }
    nb.metadata["language_info"] = {"name": "python"}
    for i, cell in enumerate(nb.cells):
        cell["id"] = f"{name[:2]}-{i:02d}"
    return nb


def main() -> None:
    paths = []
    for name in NOTEBOOKS:
        path = HERE / f"{name}.ipynb"
        nbformat.write(build(name), path)
        paths.append(str(path))
        print(f"wrote {path}")
    # The cells follow the project's code style (`ruff format --check .` covers notebooks).
    subprocess.run([sys.executable, "-m", "ruff", "format", "-q", *paths], check=False)


if __name__ == "__main__":
    main()
