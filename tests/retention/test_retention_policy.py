"""The retention policy on the small demo warehouse: the trends look the same before and
after a run (and after the daily runs that follow), raw events past the age are gone
except the history skeleton and billing, roll-ups hold no person identifier, dry runs
change nothing, and every page and result says where its history comes from."""

from __future__ import annotations

import shutil
import sys
from datetime import date
from pathlib import Path

import pandas as pd
import pytest

sys.path.insert(0, str(Path(__file__).parents[1]))

from demo_cache import AS_OF, small_demo  # noqa: E402

import zantara_nb as z  # noqa: E402
from zantara_nb.cli import main as cli_main  # noqa: E402
from zantara_nb.retention_policy.apply import apply_retention  # noqa: E402
from zantara_nb.retention_policy.policy import Policy  # noqa: E402
from zantara_nb.warehouse import Warehouse  # noqa: E402
from zantara_nb.warehouse.rollups import TABLES, retention_state  # noqa: E402

TODAY = date(2026, 8, 24)
#: A short age so that the 12-week trend and the heat map cross the horizon.
POLICY = Policy(events_days=45, quarantine_days=30, persons_days=120)


def trends(wh) -> dict[str, pd.DataFrame]:
    """What the reports show over the longest history: the 12-week North Star trend,
    the weekly and monthly retention heat maps, MRR and its movements, daily actives."""
    ns = z.north_star(wh, as_of=AS_OF, window="12w")
    return {
        "north_star": ns.df,
        "north_star_headline": pd.DataFrame([{"wau": ns.wau, "previous": ns.previous}]),
        "growth": z.growth_rate(wh, as_of=AS_OF, window="12w").df,
        "engagement": z.engagement(wh, as_of=AS_OF, window="12w").df,
        "heatmap_week": z.retention(wh, period="week", periods=8, as_of=AS_OF).df,
        "heatmap_week_long": z.retention(
            wh, period="week", periods=12, start="2026-05-04", as_of=AS_OF
        ).df,
        "heatmap_month": z.retention(wh, period="month", periods=3, as_of=AS_OF).df,
        "mrr": z.mrr(wh, start="2026-05-04", end="2026-08-24", as_of=AS_OF).df,
        "mrr_movements": z.mrr_movements(wh, start="2026-05-01", end="2026-08-24").df,
        "actives": z.active_users(wh, start="2026-05-04", end="2026-08-24", as_of=AS_OF).df,
    }


def same(a: dict, b: dict) -> None:
    for k in a:
        pd.testing.assert_frame_equal(
            a[k].reset_index(drop=True), b[k].reset_index(drop=True), rtol=1e-12, obj=k
        )


@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    return small_demo(tmp_path_factory)


@pytest.fixture
def copy(demo, tmp_path):
    path = tmp_path / "w.duckdb"
    shutil.copy(demo, path)
    return path


def test_trends_look_the_same_before_and_after_retention(copy):
    with Warehouse(copy) as wh:
        before = trends(wh)
        first_seen = wh.sql("SELECT person_id, first_seen FROM persons ORDER BY 1")
        run = apply_retention(wh, POLICY, today=TODAY)
        assert run.deleted["raw events"] > 50_000
        state = retention_state(wh)
        assert state.cutoff_day == date(2026, 7, 10) and state.horizon == date(2026, 8, 14)
        # the 12-week trend and the heat maps reach back before the horizon
        assert before["north_star"]["week"].min() < pd.Timestamp(state.cutoff_day)
        after = trends(wh)
        same(before, after)
        # the history skeleton keeps every person's first events: first seen unchanged
        pd.testing.assert_frame_equal(
            first_seen, wh.sql("SELECT person_id, first_seen FROM persons ORDER BY 1")
        )
        # the daily runs that follow keep them the same too
        for day in ("2026-08-25", "2026-08-31"):
            apply_retention(wh, POLICY, today=day)
            same(before, trends(wh))


def test_what_is_left_before_the_cutoff(copy):
    with Warehouse(copy) as wh:
        apply_retention(wh, POLICY, today=TODAY)
        cut = retention_state(wh).cutoff
        old = wh.sql(
            f"SELECT person_id, event, count(*) AS n FROM events WHERE timestamp < "
            f"TIMESTAMPTZ '{cut.isoformat()}' AND set_props IS NULL "
            "AND event NOT IN ('subscription_started', 'subscription_cancelled', "
            "'payment_failed') GROUP BY ALL"
        )
        # at most a person's first event of each kind plus their latest one
        assert old["n"].max() <= 2
        assert len(old) > 0


def test_rollups_hold_no_person_identifier(copy):
    with Warehouse(copy) as wh:
        apply_retention(wh, POLICY, today=TODAY)
        ids = {r[0] for r in wh.engine.rows("SELECT DISTINCT distinct_id FROM events")}
        for table, (cols, _) in TABLES.items():
            names = [c for c, _ in cols]
            assert not {"distinct_id", "person_id", "anon_distinct_id", "uuid"} & set(names)
            if table == "retention_runs":
                continue
            for row in wh.engine.rows(f"SELECT * FROM {table}"):
                assert not ids & {str(v) for v in row}, table


def test_dry_run_changes_nothing_and_says_what_would_go(copy, capsys):
    w = str(copy)
    with Warehouse(copy) as wh:
        n = wh.scalar("SELECT count(*) FROM events")
        tables = set(wh.engine.table_columns())
    policy = copy.parent / "p.yaml"
    policy.write_text("retention:\n  events_days: 45\n  persons_days: 120\n")
    args = ["retention", "apply", "--dry-run", "--today", "2026-08-24", "--policy", str(policy)]
    assert cli_main([*args, "-w", w]) == 0
    out = capsys.readouterr().out
    assert "dry run" in out and "would delete" in out and "history skeleton" in out
    with Warehouse(copy) as wh:
        assert wh.scalar("SELECT count(*) FROM events") == n
        assert set(wh.engine.table_columns()) == tables
    assert cli_main(["retention", "status", "-w", w]) == 0
    assert "never been applied" in capsys.readouterr().out


def test_results_and_pages_say_where_history_comes_from(copy):
    from zantara_nb.reporting.report import Report, history_note

    with Warehouse(copy) as wh:
        assert "roll-ups" not in z.dau(wh, start="2026-06-01", end="2026-08-24").definition
        apply_retention(wh, POLICY, today=TODAY)
        d = z.dau(wh, start="2026-06-01", end="2026-08-24")
        assert "daily roll-ups" in d.definition and "retention" in d.extra
        lat = z.p95_latency(wh, start="2026-06-01", end="2026-08-24")
        assert "does not read the roll-ups" in lat.definition
        recent = z.p95_latency(wh, start="2026-08-17", end="2026-08-24")
        assert "retention" not in recent.definition
        rep = Report(wh, None, "week", "Asia/Jakarta", date(2026, 8, 17), date(2026, 8, 24), None)
        assert "come from daily roll-ups" in history_note(rep)


def test_expired_events_are_not_loaded_again(copy, demo):
    files = sorted((Path(demo).parent / "demo").glob("*.parquet"))
    with Warehouse(copy) as wh:
        apply_retention(wh, POLICY, today=TODAY)
        n = wh.scalar("SELECT count(*) FROM events")
        june = [f for f in files if "2026-06" in f.name]
        [s] = wh.ingest(june[:1])
        assert s.expired > 0 and s.loaded == 0 and s.adds_up
        assert wh.scalar("SELECT count(*) FROM events") == n


def test_persons_past_their_age_go_whole(copy):
    with Warehouse(copy) as wh:
        # a run on 2026-11-01: persons not seen since 2026-07-04 (120 days, Jakarta
        # midnight) and without a billing record (subscribers stay: MRR needs them)
        gone = wh.scalar(
            "SELECT count(*) FROM persons WHERE last_seen < TIMESTAMPTZ '2026-07-03 17:00:00+00' "
            "AND person_id NOT IN (SELECT person_id FROM events WHERE event IN "
            "('subscription_started', 'subscription_cancelled', 'payment_failed'))"
        )
        run = apply_retention(wh, POLICY, today="2026-11-01")
        assert run.deleted["persons not seen for persons_days"] == gone > 0
        assert (
            wh.scalar(
                "SELECT count(*) FROM events e WHERE NOT EXISTS "
                "(SELECT 1 FROM persons p WHERE p.person_id = e.person_id)"
            )
            == 0
        )
        assert wh.scalar("SELECT count(*) FROM persons") > 0


def test_policy_file_and_checks(tmp_path):
    from zantara_nb.config import SettingError
    from zantara_nb.retention_policy.policy import load_policy

    p = load_policy()
    assert p.events_days == 90 and "subscription_started" in p.billing_events
    with pytest.raises(SettingError):
        Policy(events_days=20)
    with pytest.raises(SettingError):
        Policy(events_days=90, persons_days=30)
    f = tmp_path / "r.yaml"
    f.write_text("retention:\n  events_days: 60\n  timezone: Asia/Makassar\n")
    assert load_policy(f) == Policy(events_days=60, timezone="Asia/Makassar")
