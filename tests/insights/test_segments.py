"""Growth segments per local week (METRICS.md section 8, seed section 7).

Times are Asia/Jakarta (UTC+7) unless written with Z. 2026-03-02 is a Monday; the report
is as of 2026-03-09 00:00 local, so the last complete week is 03-02..03-08 and the one
before 02-23..03-01.
"""

from __future__ import annotations

import math
import re

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import pandas as pd  # noqa: E402
import pytest  # noqa: E402
from eventkit import add_events, ev  # noqa: E402

from zantara_nb import Warehouse, wau  # noqa: E402
from zantara_nb.insights.segments import SEGMENTS, segment_members, segments  # noqa: E402
from zantara_nb.warehouse.privacy import hash_id  # noqa: E402

TZ = "Asia/Jakarta"
KW = {"as_of": "2026-03-09", "tz": TZ}
W1, W2 = pd.Timestamp("2026-02-23"), pd.Timestamp("2026-03-02")


def J(s: str) -> str:
    return s + "+07:00"


def n_messages(person: str, n: int, day: str):
    return [ev(person, "message_sent", J(f"{day}T10:{k:02d}:00")) for k in range(n)]


@pytest.fixture
def seg_wh(wh):
    rows = [
        # power users: more than 20 messages in the week
        *n_messages("p21", 21, "2026-03-03"),  # 21 > 20 -> power user
        *n_messages("p20", 20, "2026-03-03"),  # 20 is not > 20
        # anonymous messages merged by identify: 11 + 10 = 21 -> power user "upow"
        *n_messages("anon-pow", 11, "2026-03-04"),
        ev(
            "upow",
            "$identify",
            J("2026-03-04T12:00:00"),
            {"$anon_distinct_id": "anon-pow"},
            set_props={"country": "AU"},
        ),
        *n_messages("upow", 10, "2026-03-05"),
        ev("p21", "$identify", J("2026-01-01T00:00:00"), set_props={"country": "ID"}),
        # at risk = last active day 7..14 days before Sunday 03-08
        *n_messages("r7", 1, "2026-03-01"),  # Sunday before: 7 -> at risk
        *n_messages("r14", 1, "2026-02-22"),  # 14 -> at risk
        *n_messages("r15", 1, "2026-02-21"),  # 15 -> not
        ev("r6", "message_sent", J("2026-03-02T00:00:00")),  # active Monday (6): not at risk
        # 2026-03-01T17:30Z is Monday 03-02 00:30 in Jakarta (active in the week) but
        # Sunday 03-01 in UTC (then inactive 7 days -> at risk)
        ev("tzp", "message_sent", "2026-03-01T17:30:00Z"),
        # high intent
        *n_messages("hi_page", 1, "2026-02-25"),  # a user (also at risk: 11 days)
        ev("hi_page", "page_viewed", J("2026-03-04T09:00:00"), path="/pricing"),
        *n_messages("hi_feat", 1, "2026-03-03"),
        ev("hi_feat", "feature_used", J("2026-03-03T11:00:00"), feature="pricing_page"),
        ev("hi_cat", "message_sent", J("2026-03-04T10:00:00"), query_category="pricing"),
        ev("visitor", "page_viewed", J("2026-03-04T09:00:00"), path="/pricing"),  # not a user
        ev("hi_late", "page_viewed", J("2026-03-03T09:00:00"), path="/pricing/pro"),
        *n_messages("hi_late", 1, "2026-03-08"),  # first message by Sunday: a user
        ev("hi_after", "page_viewed", J("2026-03-03T09:00:00"), path="/pricing"),
        *n_messages("hi_after", 1, "2026-03-10"),  # first message after the week: not
        # feature enthusiasts
        *n_messages("voice", 1, "2026-03-03"),
        ev("voice", "voice_used", J("2026-03-03T11:00:00")),
        *n_messages("export", 1, "2026-02-20"),  # 16 days inactive: not at risk
        ev("export", "export_clicked", J("2026-03-04T11:00:00")),
        *n_messages("share", 1, "2026-03-03"),
        ev("share", "share_clicked", J("2026-03-03T11:00:00")),  # sharing is not voice/export
    ]
    add_events(wh, rows)
    return wh


def table(res, week):
    d = res.df[res.df["week"] == week]
    return d.set_index("segment")


def test_segment_sizes_and_boundaries(seg_wh):
    r = segments(seg_wh, weeks=2, **KW)
    assert list(r.df["week"].unique()) == [W1, W2]
    assert list(r.df["segment"][:4]) == list(SEGMENTS)
    w2 = table(r, W2)
    # WAU of 03-02..03-08: p21 p20 upow r6 tzp hi_feat hi_cat hi_late voice share = 10
    assert (w2["wau"] == 10).all()
    assert w2.loc["power_users", "persons"] == 2  # p21, upow (not p20)
    assert w2.loc["at_risk", "persons"] == 3  # r7, r14, hi_page (not r15, r6, export)
    assert w2.loc["high_intent", "persons"] == 4  # hi_page, hi_feat, hi_cat, hi_late
    assert w2.loc["feature_enthusiasts", "persons"] == 2  # voice, export
    assert w2.loc["power_users", "share_of_wau"] == pytest.approx(0.2)
    assert 0 < w2.loc["power_users", "ci_low"] < 0.2 < w2.loc["power_users", "ci_high"]
    # at risk persons are not in WAU: a ratio, no interval
    assert w2.loc["at_risk", "share_of_wau"] == pytest.approx(0.3)
    assert math.isnan(w2.loc["at_risk", "ci_low"])
    # week 02-23..03-01: WAU r7 (03-01), hi_page (02-25); at risk vs Sunday 03-01:
    # r14 (7 d), r15 (8 d), export (9 d)
    w1 = table(r, W1)
    assert (w1["wau"] == 2).all()
    assert w1.loc["at_risk", "persons"] == 3 and w1.loc["power_users", "persons"] == 0
    # week-over-week change
    assert w2.loc["power_users", "change"] == 2 and math.isnan(w2.loc["power_users", "change_pct"])
    assert w2.loc["at_risk", "change"] == 0 and w2.loc["at_risk", "change_pct"] == 0
    assert r.plot() is not None
    plt.close("all")


def test_wau_matches_active_module(seg_wh):
    r = segments(seg_wh, weeks=2, **KW)
    w = wau(seg_wh, start="2026-03-01", end="2026-03-09", tz=TZ).df
    w["day"] = pd.to_datetime(w["day"])
    for week, sunday in ((W1, "2026-03-01"), (W2, "2026-03-08")):
        expected = w.loc[w["day"] == pd.Timestamp(sunday), "wau"].iloc[0]
        assert table(r, week)["wau"].iloc[0] == expected


def test_members_hashed_with_signals(seg_wh):
    m = segment_members(seg_wh, "power users", **KW)
    assert set(m.df["person"]) == {hash_id("p21"), hash_id("upow")}
    assert list(m.df["messages"]) == [21, 21]
    assert all(re.fullmatch(r"[0-9a-f]{12}", p) for p in m.df["person"])
    risk = segment_members(seg_wh, "at_risk", **KW).df.set_index("person")
    assert risk["days_inactive"].to_dict() == {
        hash_id("r7"): 7,
        hash_id("hi_page"): 11,
        hash_id("r14"): 14,
    }
    hi = segment_members(seg_wh, "high-intent", **KW).df
    assert hash_id("visitor") not in set(hi["person"]) and hash_id("hi_after") not in set(
        hi["person"]
    )
    prev = segment_members(seg_wh, "at_risk", week="2026-02-25", **KW).df
    assert set(prev["person"]) == {hash_id("r14"), hash_id("r15"), hash_id("export")}
    with pytest.raises(ValueError, match="unknown segment"):
        segment_members(seg_wh, "whales", **KW)


def test_day_boundary_in_report_timezone(seg_wh):
    jkt = set(segment_members(seg_wh, "at_risk", **KW).df["person"])
    utc = set(segment_members(seg_wh, "at_risk", as_of="2026-03-09", tz="UTC").df["person"])
    assert hash_id("tzp") not in jkt and hash_id("tzp") in utc


def test_filter_and_breakdown(seg_wh):
    f = segments(seg_wh, weeks=1, filters={"country": "ID"}, **KW)
    assert table(f, W2).loc["power_users", "persons"] == 1
    b = segments(seg_wh, weeks=1, breakdown="country", **KW).df
    p = b[b["segment"] == "power_users"].set_index("breakdown")["persons"]
    assert p.to_dict() == {"(none)": 0, "AU": 1, "ID": 1}


def test_incomplete_week_is_missing_and_empty_warehouse(seg_wh, wh):
    r = segments(seg_wh, start="2026-03-02", end="2026-03-16", as_of="2026-03-12", tz=TZ)
    w3 = table(r, pd.Timestamp("2026-03-09"))
    assert w3["persons"].isna().all() and w3["share_of_wau"].isna().all()
    assert table(r, W2).loc["power_users", "persons"] == 2
    assert segment_members(seg_wh, "power", week="2026-03-09", as_of="2026-03-12", tz=TZ).df.empty


def test_empty_warehouse():
    w = Warehouse(":memory:")
    r = segments(w, weeks=2, **KW)
    assert len(r.df) == 8 and (r.df["persons"] == 0).all() and r.df["share_of_wau"].isna().all()
    assert segment_members(w, "at_risk", **KW).df.empty
    w.close()
