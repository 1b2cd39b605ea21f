"""Anomalies (METRICS.md section 8): same-weekday median, robust z with a floor, flags.

The rule is checked by hand on :func:`score` (exact arithmetic in the comments), then on
hand-built events (eventkit) in Asia/Jakarta (UTC+7): the target day is Monday
2026-03-30 and its reference days are the Mondays 03-02, 03-09, 03-16 and 03-23. Last, on
demo data: every planted incident is found and nothing else is flagged.
"""

from __future__ import annotations

import math
from datetime import date, timedelta

import numpy as np
import pandas as pd
import pytest
from enginekit import built_demo, on_engine
from eventkit import add_events, ev

from zantara_nb.insights.anomalies import (
    COLUMNS,
    NO_MOVER,
    Thresholds,
    anomalies,
    explain,
    floor_scale,
    movers,
    score,
    truth_check,
)

D = pd.Timestamp("2026-03-30")  # a Monday
REFS = [D - pd.Timedelta(days=7 * k) for k in (4, 3, 2, 1)]  # 03-02, 03-09, 03-16, 03-23


# ------------------------------------------------------------------------------------------
# The rule, by hand
# ------------------------------------------------------------------------------------------


def _series(metric, refs, x, *, dimension="total", value="all", volume=None, fill=None):
    """Long rows of one series over 03-02..03-30: the 4 references, the target day ``x``,
    other days ``fill`` (None: no row). ``volume``: the denominator on every day."""
    days = pd.date_range(D - pd.Timedelta(days=28), D, freq="D")
    vals = {d: fill for d in days}
    vals.update(dict(zip(REFS, refs, strict=True)))
    vals[D] = x
    rows = [
        {
            "metric": metric,
            "dimension": dimension,
            "value": value,
            "breakdown": "all",
            "day": d,
            "observed": v,
            "volume": v if volume is None else volume,
        }
        for d, v in vals.items()
        if v is not None
    ]
    return pd.DataFrame(rows), days


def _point(long, days, observed_from=None, **kw):
    pts = score(
        long,
        pd.DatetimeIndex(days),
        observed_from if observed_from is not None else days[0],
        D + pd.Timedelta(days=1),
        **kw,
    )
    return pts[pts["day"] == D].iloc[0]


def test_expected_mad_floor_z_by_hand():
    # refs 100, 110, 120, 130: expected = (110 + 120) / 2 = 115;
    # |r - 115| = 15, 5, 5, 15 -> MAD = 10 -> 1.4826 * 10 = 14.826;
    # event-count floor 4 * sqrt(115) = 42.895 (> 14.826 and > 0.05 * 115 = 5.75)
    long, days = _series("messages", [100, 110, 120, 130], 200)
    p = _point(long, days)
    assert p["expected"] == 115
    assert p["mad"] == 10
    assert p["scale"] == pytest.approx(4 * math.sqrt(115))
    # x = 200: z = 85 / 42.895 = 1.98 -> not flagged although the change is +73.9%
    assert p["z"] == pytest.approx(85 / (4 * math.sqrt(115)))
    assert p["change"] == pytest.approx(85 / 115)
    assert p["evaluated"] and not p["flagged"]
    # x = 300: z = 185 / 42.895 = 4.313, change +160.9%, volume 300 >= 100 -> flagged
    long, days = _series("messages", [100, 110, 120, 130], 300)
    p = _point(long, days)
    assert p["z"] == pytest.approx(4.3129, abs=1e-4)
    assert p["flagged"]


def test_the_mad_wins_over_the_floor_when_the_references_disagree():
    # active users (persons, floor 2 * sqrt(E)): refs 100, 100, 200, 200 -> expected 150,
    # MAD 50 -> 74.13 > floor 2 * sqrt(150) = 24.49; x = 420: z = 270 / 74.13 = 3.642
    long, days = _series("active_users", [100, 100, 200, 200], 420)
    p = _point(long, days)
    assert p["scale"] == pytest.approx(1.4826 * 50)
    assert p["z"] == pytest.approx(270 / (1.4826 * 50))
    assert p["flagged"]


@pytest.mark.parametrize(
    "x,flagged",
    [
        (170, True),  # z = 70 / 20 = 3.5 exactly: |z| >= 3.5 flags
        (169, False),  # z = 3.45
    ],
)
def test_z_boundary(x, flagged):
    # persons: refs all 100 -> MAD 0, floor 2 * sqrt(100) = 20 (> 0.05 * 100 = 5)
    long, days = _series("active_users", [100] * 4, x)
    p = _point(long, days)
    assert p["scale"] == 20
    assert bool(p["flagged"]) == flagged


@pytest.mark.parametrize("x,flagged", [(1300, True), (1299, False), (700, True), (701, False)])
def test_change_boundary_both_directions(x, flagged):
    # refs 1000: scale = max(2 * sqrt(1000), 50) = 63.25; |z| >= 4.7 for all four x,
    # so only the 30% rule decides: 1300 (+30.0%) and 700 (−30.0%) flag, 1299 / 701 do not
    long, days = _series("active_users", [1000] * 4, x)
    p = _point(long, days)
    assert abs(p["z"]) >= 4.7
    assert bool(p["flagged"]) == flagged
    if x == 700:
        assert p["z"] < 0 and p["change"] == pytest.approx(-0.3)


@pytest.mark.parametrize("x,flagged", [(95, False), (100, True)])
def test_minimum_volume_of_a_category_count(x, flagged):
    # refs 20: floor 4 * sqrt(20) = 17.89; x = 95: z = 4.19, change +375%, but the volume
    # max(95, 20) < 100; x = 100: z = 4.47 and volume 100 -> flagged (minimum inclusive)
    long, days = _series("messages", [20] * 4, x, dimension="query_category", value="tax")
    p = _point(long, days)
    assert p["z"] > 3.5
    assert bool(p["flagged"]) == flagged


def test_rise_from_zero_counts_as_an_infinite_change():
    # refs 0 (no rows: a count is 0 on observed days): floor 4 * sqrt(max(0, 1)) = 4;
    # x = 180: z = 45, change undefined (shown missing) but infinite -> flagged
    long, days = _series("messages", [None] * 4, 180, dimension="query_category", value="tax")
    p = _point(long, days)
    assert p["expected"] == 0 and p["z"] == 45
    assert math.isnan(p["change"])
    assert p["flagged"]


def test_rate_and_quantile_floors():
    # error rate: refs 1% of n = 1000 messages; floor 2 * sqrt(0.01 * 0.99 / 1000) = 0.006293;
    # x = 5%: z = 0.04 / 0.006293 = 6.36
    long, days = _series("error_rate", [0.01] * 4, 0.05, volume=1000)
    p = _point(long, days)
    assert p["scale"] == pytest.approx(2 * math.sqrt(0.01 * 0.99 / 1000))
    assert p["z"] == pytest.approx(0.04 / (2 * math.sqrt(0.0099 / 1000)))
    assert p["flagged"]
    # P95: refs 2000 ms of n = 400 replies: floor 2000 * 2 / sqrt(400) = 200;
    # x = 2700: z = 3.5, change +35% -> flagged at the boundary
    long, days = _series("p95_latency_ms", [2000] * 4, 2700, volume=400)
    p = _point(long, days)
    assert p["scale"] == 200 and p["z"] == pytest.approx(3.5)
    assert p["flagged"]
    # ...but with only 99 replies the minimum volume (100) is not reached
    long, days = _series("p95_latency_ms", [2000] * 4, 9000, volume=99)
    assert not _point(long, days)["flagged"]


def test_floor_scale_kinds():
    th = Thresholds()
    e = np.array([100.0])
    n = np.array([400.0])
    assert floor_scale("count", e, n, th)[0] == 40  # 4 * sqrt(100)
    assert floor_scale("persons", e, n, th)[0] == 20  # 2 * sqrt(100)
    assert floor_scale("sum", e, n, th)[0] == 30  # 100 * 6 / 20
    assert floor_scale("quantile", e, n, th)[0] == 10  # 100 * 2 / 20
    with pytest.raises(ValueError):
        floor_scale("nope", e, n, th)


def test_a_missing_reference_day_means_not_evaluated():
    # data begin on 03-09: the 03-02 reference is not observed (not 0) -> no expected value
    long, days = _series("messages", [100, 110, 120, 130], 1000)
    p = _point(long, days, observed_from=pd.Timestamp("2026-03-09"))
    assert not p["evaluated"] and not p["flagged"]
    assert math.isnan(p["expected"]) and math.isnan(p["z"])
    # a rate whose reference day has no denominator (NaN) is not evaluated either
    long, days = _series("error_rate", [0.01, None, 0.01, 0.01], 0.5, volume=1000)
    p = _point(long, days)
    assert not p["evaluated"]


def test_movers_rank_by_push_beyond_share():
    # counts per category: visa 100 -> 120 (+20, its share of the +200 total move is 100%
    # of expected, so it pushed 20 - 200 = -180: it did not grow with the total);
    # tax 0 -> 180 (+180 beyond a share of 0): the only mover
    split = pd.DataFrame(
        [
            {"dimension": "query_category", "value": v, "day": d, "observed": n, "volume": n}
            for d in REFS
            for v, n in (("visa", 100),)
        ]
        + [
            {
                "dimension": "query_category",
                "value": "visa",
                "day": D,
                "observed": 120,
                "volume": 120,
            },
            {
                "dimension": "query_category",
                "value": "tax",
                "day": D,
                "observed": 180,
                "volume": 180,
            },
        ]
    )
    m = movers(split, [D], "count", 3)
    assert list(m["value"]) == ["tax"]
    assert m.iloc[0][["observed", "expected", "delta", "impact"]].tolist() == [180, 0, 180, 180]


# ------------------------------------------------------------------------------------------
# On events
# ------------------------------------------------------------------------------------------


def _msgs(day: pd.Timestamp, n: int, category: str, *, hour: int = 12, who: str = "p"):
    """``n`` message_sent on local ``day`` from ``hour``:00 (+7), 10 s apart, 10 persons."""
    start = pd.Timestamp(f"{day:%Y-%m-%d} {hour:02d}:00:00+07:00")
    return [
        ev(
            f"{who}{i % 10}",
            "message_sent",
            start + pd.Timedelta(seconds=10 * i),
            query_category=category,
            set_props={"country": "ID", "plan": "free"},
        )
        for i in range(n)
    ]


def _fixture(wh, refs=(100, 110, 120, 130), ref_days=REFS):
    rows = []
    for d, n in zip(ref_days, refs, strict=True):
        rows += _msgs(d, n, "visa")
    # target Monday: visa 120 + tax 180 = 300, all between 00:30 and 01:20 local, i.e.
    # 17:30-18:20 UTC on Sunday 03-29: bucketing in UTC would put them on the wrong day
    rows += _msgs(D, 120, "visa", hour=0, who="q")
    start = pd.Timestamp("2026-03-30 00:30:00+07:00")
    rows += [
        ev(
            f"t{i % 10}",
            "message_sent",
            start + pd.Timedelta(seconds=10 * i),
            query_category="tax",
            set_props={"country": "AU", "plan": "free"},
        )
        for i in range(180)
    ]
    add_events(wh, rows)


AS_OF = "2026-03-31"  # the end of Monday 03-30: the day is over
ONE_DAY = {"start": "2026-03-30", "end": "2026-03-31", "as_of": AS_OF}


def test_messages_spike_on_a_local_day(wh):
    _fixture(wh)
    res = anomalies(wh, **ONE_DAY)
    df = res.df
    assert list(df.columns) == COLUMNS
    got = {(r.metric, r.dimension, r.value): r.z for r in df.itertuples()}
    # total 300 vs 115 (z 4.31); tax 180 vs 0 and country AU 180 vs 0 (z = 180 / 4 = 45,
    # the most extreme, listed first); country ID 120 vs 115 is not flagged
    assert got == {
        ("messages", "query_category", "tax"): 45,
        ("messages", "country", "AU"): 45,
        ("messages", "total", "all"): pytest.approx(4.3129, abs=1e-4),
    }
    assert list(df["z"]) == sorted(df["z"], reverse=True)
    total = df[df["dimension"] == "total"].iloc[0]
    assert total["date"] == D
    assert (total["observed"], total["expected"]) == (300, 115)
    assert total["z"] == pytest.approx(4.3129, abs=1e-4)
    assert total["change"] == pytest.approx(185 / 115)
    assert total["direction"] == "up" and total["unit"] == "count"
    # why: tax and AU rose from 0 to 180 (beyond a share of 0); visa and ID (120 vs 115)
    # did not grow with the total; plan 'free' is everybody's (a single value: no impact)
    assert total["explanation"] == (
        "country=AU: 180 vs 0 (+180); query_category=tax: 180 vs 0 (+180)"
    )
    ex = res.extra["explanations"]
    assert list(ex["value"]) == ["AU", "tax"]
    assert ex["rank"].tolist() == [1, 2]
    # not flagged on the Sunday before (UTC bucketing would have put the 300 there)
    pts = res.extra["points"]
    assert set(pts["day"]) == {D}


def test_day_not_over_at_as_of_is_not_flagged(wh):
    _fixture(wh)
    # without a range or as_of the cut-off is just after the newest event (01:20 local on
    # 03-30): the last day, 03-30, has begun but is not over
    res = anomalies(wh, days=1)
    assert (res.scope.start, res.scope.end) == (date(2026, 3, 30), date(2026, 3, 31))
    assert res.df.empty
    assert not res.extra["points"]["evaluated"].any()
    res = anomalies(wh, **{**ONE_DAY, "as_of": "2026-03-30 23:59"})
    assert res.df.empty


def test_history_shorter_than_four_weeks_is_not_evaluated(wh):
    # data begin on 03-16: the 03-02 and 03-09 references are before the first event, so
    # they are not observed (not zeros) and the spike day has no expected value
    _fixture(wh, refs=(120, 130), ref_days=REFS[2:])
    res = anomalies(wh, **ONE_DAY)
    assert res.df.empty
    p = res.extra["points"]
    assert not p["evaluated"].any() and p["expected"].isna().all()


def test_a_backfill_of_other_events_does_not_make_earlier_days_zeros(wh):
    # billing history loaded with the product data: a subscription started months
    # before the first message; the days between are still not observed
    _fixture(wh, refs=(120, 130), ref_days=REFS[2:])
    add_events(wh, [ev("old", "subscription_started", pd.Timestamp("2025-10-01 10:00+07:00"))])
    res = anomalies(wh, **ONE_DAY)
    assert res.df.empty
    assert not res.extra["points"]["evaluated"].any()


def test_default_window_is_28_days_ending_at_as_of(wh):
    _fixture(wh)
    res = anomalies(wh, as_of=AS_OF)
    assert (res.scope.start, res.scope.end) == (date(2026, 3, 3), date(2026, 3, 31))
    # the earlier days have fewer than 4 weeks of history: only 03-30 is evaluated
    pts = res.extra["points"]
    assert set(pts.loc[pts["evaluated"], "day"]) == {D}
    assert len(res.df) == 3
    assert len(anomalies(wh, as_of=AS_OF, days=7).extra["points"]["day"].unique()) == 7


def test_filters_apply_to_every_series(wh):
    _fixture(wh)
    # visa only: 120 vs 115 -> nothing
    assert anomalies(wh, filters={"query_category": "visa"}, **ONE_DAY).df.empty
    # person filter (country from $set): the visa senders only, again nothing
    assert anomalies(wh, filters={"country": "ID"}, **ONE_DAY).df.empty
    # tax only: total 180 vs 0
    res = anomalies(wh, filters={"query_category": "tax"}, metrics=["messages"], **ONE_DAY)
    assert res.df[["metric", "observed", "expected"]].values.tolist() == [["messages", 180, 0]]


def test_breakdown_splits_every_series(wh):
    _fixture(wh)
    res = anomalies(wh, breakdown="query_category", metrics=["messages"], **ONE_DAY)
    df = res.df
    assert "breakdown" in df.columns
    assert df[["breakdown", "observed", "expected"]].values.tolist() == [["tax", 180, 0]]
    # explained within the breakdown value (a filter on it): a single category, country
    # (AU) and plan (free) -> nothing stands out
    assert df["explanation"].iloc[0] == NO_MOVER


def test_anonymous_messages_count_for_the_identified_persons_country(wh):
    # an anonymous device sends 150 messages on 03-30, then is identified as a person whose
    # country is AU: after stitching its messages are the person's, so they count for AU
    # (not for '(none)'); the 4 reference Mondays have 100 AU messages each
    rows = []
    for d in REFS:
        t = pd.Timestamp(f"{d:%Y-%m-%d} 10:00:00+07:00")
        rows += [
            ev(
                "u-au",
                "message_sent",
                t + pd.Timedelta(seconds=10 * i),
                set_props={"country": "AU"},
            )
            for i in range(100)
        ]
    t = pd.Timestamp("2026-03-30 10:00:00+07:00")
    rows += [ev("anon-9", "message_sent", t + pd.Timedelta(seconds=10 * i)) for i in range(150)]
    rows.append(
        ev(
            "u-au",
            "$identify",
            t + pd.Timedelta(hours=2),
            {"$anon_distinct_id": "anon-9"},
            set_props={"country": "AU"},
        )
    )
    add_events(wh, rows)
    res = anomalies(wh, metrics=["messages:country"], **ONE_DAY)
    pts = res.extra["points"]
    assert pts[["value", "observed", "expected"]].values.tolist() == [["AU", 150, 100]]
    # 150 vs 100: +50%, but z = 50 / (4 * sqrt(100)) = 1.25 -> not flagged
    assert pts["z"].iloc[0] == 1.25 and res.df.empty


def test_metrics_subset_and_unknown_name(wh):
    _fixture(wh)
    res = anomalies(wh, metrics=["messages:query_category"], **ONE_DAY)
    assert list(res.df["dimension"]) == ["query_category"]
    with pytest.raises(ValueError):
        anomalies(wh, metrics=["nope"], **ONE_DAY)


def test_empty_range_and_empty_warehouse(wh):
    res = anomalies(wh, start="2026-03-30", end="2026-03-31", as_of=AS_OF)
    assert res.df.empty and list(res.df.columns) == COLUMNS
    _fixture(wh)
    res = anomalies(wh, start="2026-03-30", end="2026-03-30", as_of=AS_OF)
    assert res.df.empty and list(res.df.columns) == COLUMNS
    assert "No anomalies" in res._repr_html_()


def test_result_renders_and_plots(wh):
    import matplotlib

    matplotlib.use("Agg")
    _fixture(wh)
    res = anomalies(wh, **ONE_DAY)
    html = res._repr_html_()
    assert "+160.9%" in html and "new" in html  # the tax change is undefined ("new")
    ax = res.plot(metric="messages", dimension="query_category", value="tax")
    assert ax.get_title(loc="left").startswith("Messages sent, query_category = tax")
    assert res.plot().get_title(loc="left").startswith("Messages sent")
    assert ax.get_ylabel()


def _latency_fixture(wh):
    rows = []
    for d in [*REFS, D]:
        base = pd.Timestamp(f"{d:%Y-%m-%d} 09:00:00+07:00")
        for i in range(100):
            model = "A" if i % 2 else "B"
            ms = 5000 if (d == D and model == "B") else 1000
            rows.append(
                ev(
                    f"u{i % 5}",
                    "message_received",
                    base + pd.Timedelta(seconds=20 * i),
                    response_latency_ms=ms,
                    model_used=model,
                )
            )
    add_events(wh, rows)


def test_p95_spike_and_its_explanation(wh):
    _latency_fixture(wh)
    res = anomalies(wh, metrics=["p95_latency_ms"], **ONE_DAY)
    # refs: 100 replies at 1000 ms -> P95 1000; target: 50 at 1000 + 50 at 5000 -> P95 5000;
    # floor 1000 * 2 / sqrt(100) = 200 -> z = 4000 / 200 = 20
    r = res.df.iloc[0]
    assert (r["metric"], r["observed"], r["expected"], r["z"]) == ("p95_latency_ms", 5000, 1000, 20)
    assert r["volume"] == 100 and r["unit"] == "ms"
    # model B: 5000 vs 1000 (+4000), share 0.5, dimension move 0.5 * 4000 = 2000,
    # impact 0.5 * (4000 - 2000) = 1000; A moved less than the dimension (not listed);
    # country and plan have a single value '(none)' (no impact)
    assert r["explanation"] == "model_used=B: 5,000 ms vs 1,000 ms (+4,000 ms)"
    e = explain(wh, "p95_latency_ms", "2026-03-30", as_of=AS_OF)
    assert e.df[["dimension", "value", "delta", "impact"]].values.tolist() == [
        ["model_used", "B", 4000.0, 1000.0]
    ]
    assert e.plot().get_title(loc="left").startswith("What moved P95 latency")
    with pytest.raises(ValueError):
        explain(wh, "nope", "2026-03-30")


# ------------------------------------------------------------------------------------------
# Demo data: the planted incidents are found, nothing else
# ------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def demos(tmp_path_factory, warehouse_engine):
    from zantara_nb.demo import GroundTruth

    out = {}
    for incidents in (True, False):
        path, res = built_demo(
            tmp_path_factory,
            f"anom{int(incidents)}",
            seed=11,
            start="2026-05-04",
            end="2026-08-24",
            monthly_active_users=2500,
            incidents=incidents,
        )
        out[incidents] = (on_engine(path), GroundTruth.load(res.truth_path))
    yield out
    for w, _ in out.values():
        w.close()


def _whole_range(wh, truth, **kw):
    start = date.fromisoformat(truth.start) + timedelta(days=28)
    return anomalies(wh, start=start, end=truth.end, as_of=truth.as_of, tz=truth.timezone, **kw)


def test_demo_incidents_are_all_found_and_nothing_else(demos):
    wh, truth = demos[True]
    res = _whole_range(wh, truth)
    check = truth_check(res.df, truth.incidents)
    assert (check["found"], check["planted"], check["missed"]) == (3, 3, []), res.df
    assert check["false_positives"] == 0 and check["precision"] == 1.0, res.df
    # the error burst is explained by its error type
    burst = truth.incidents["error_burst"]["date"]
    errs = res.df[(res.df["metric"] == "errors") & (res.df["date"] == pd.Timestamp(burst))]
    assert errs["explanation"].iloc[0].startswith("error_type=upstream_unavailable")


def test_demo_without_incidents_flags_nothing(demos):
    wh, truth = demos[False]
    res = _whole_range(wh, truth, explain=False)
    assert res.df.empty, res.df
    check = truth_check(res.df, truth.incidents)
    assert (check["planted"], check["flagged"], check["precision"]) == (0, 0, None)
    assert res.extra["points"]["evaluated"].sum() > 500  # it did look
