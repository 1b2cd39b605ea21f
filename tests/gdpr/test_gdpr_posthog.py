"""PostHog and the GDPR: a deleted person stays deleted on the next pull, and PostHog is
asked to delete the person with their events (persons API, against the local stand-in)."""

from __future__ import annotations

import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))
sys.path.insert(0, str(Path(__file__).parents[1]))

from persons_standin import PersonsStandIn  # noqa: E402

from zantara_nb.cli import main as cli_main  # noqa: E402
from zantara_nb.gdpr import delete_person  # noqa: E402
from zantara_nb.gdpr.posthog import PersonsClient  # noqa: E402
from zantara_nb.ingest.posthog_api import RetryPolicy  # noqa: E402
from zantara_nb.ingest.posthog_pull import PullConfig, pull  # noqa: E402
from zantara_nb.warehouse import Warehouse  # noqa: E402

T0 = datetime(2026, 11, 1, tzinfo=UTC)
NOW = datetime(2026, 11, 10, tzinfo=UTC)


@pytest.fixture
def ph(monkeypatch):
    with PersonsStandIn() as server:
        monkeypatch.setenv("POSTHOG_PERSONAL_API_KEY", server.key)
        yield server


def seed(ph) -> None:
    ph.store.add("$pageview", "anon_7", T0, {"$pathname": "/"})
    ph.store.add(
        "$identify",
        "user_7",
        T0 + timedelta(minutes=1),
        {"$anon_distinct_id": "anon_7", "$set": {"email": "tono@example.id"}},
    )
    for i in range(20):
        ph.store.add(
            "message_sent", f"user_{i % 4}", T0 + timedelta(hours=i + 1), {"query_length": i}
        )
        ph.store.add("message_sent", "user_7", T0 + timedelta(hours=i + 1, minutes=5), {})


def backfill(wh, ph, since="2026-11-01", until="2026-11-05"):
    cfg = PullConfig(
        host=ph.url,
        project_id=ph.project_id,
        page_size=50,
        commit_rows=50,
        retry=RetryPolicy(attempts=3, base=0.01, cap=0.02, floor_429=0.01),
    )
    return pull(wh, cfg, since=since, until=until, now=NOW)


def test_deleted_person_stays_deleted_on_the_next_pull(ph, tmp_path):
    seed(ph)
    with Warehouse(tmp_path / "w.duckdb") as wh:
        backfill(wh, ph)
        assert wh.scalar("SELECT count(*) FROM events WHERE person_id = 'user_7'") == 22
        res = delete_person(wh, "tono@example.id", reports_dir=None)
        assert res.groups[0].distinct_ids == ["anon_7", "user_7"]
        assert wh.scalar("SELECT count(*) FROM events WHERE person_id = 'user_7'") == 0
        others = wh.scalar("SELECT count(*) FROM events")
        # a second backfill of the same range (PostHog still has the events)
        backfill(wh, ph, since="2026-10-31")
        assert wh.scalar("SELECT count(*) FROM events WHERE distinct_id LIKE '%_7'") == 0
        assert wh.scalar("SELECT count(*) FROM events") == others
        sup = wh.sql("SELECT sum(suppressed) AS n FROM load_privacy")
        assert int(sup["n"].iloc[0]) == 22


def test_posthog_is_asked_to_delete_the_person_and_events(ph, tmp_path):
    seed(ph)
    with Warehouse(tmp_path / "w.duckdb") as wh:
        backfill(wh, ph)
        client = PersonsClient(ph.url, ph.project_id, backoff=0.01)
        ph.person_faults.append("500")  # retried
        res = delete_person(wh, "user_7", reports_dir=None, posthog=client)
        assert all("deleted 1 person" in p or "no person" in p for p in res.posthog)
        assert any("deleted 1 person" in p for p in res.posthog)
        deletes = [r for r in ph.person_requests if r[0] == "DELETE"]
        assert len(deletes) == 1 and "delete_events=true" in deletes[0][1]
        assert not [r for r in ph.store.rows if r[3] in ("user_7", "anon_7")]
        audit = wh.sql("SELECT action, status, posthog FROM gdpr_audit ORDER BY requested_at")
        assert list(audit["action"]) == ["delete", "posthog_delete"]
        assert list(audit["status"]) == ["done", "done"]
        assert "user_7" not in audit.to_string()


def test_posthog_failures_are_reported_not_raised(ph, tmp_path):
    seed(ph)
    with Warehouse(tmp_path / "w.duckdb") as wh:
        backfill(wh, ph)
        client = PersonsClient(ph.url, ph.project_id, backoff=0.01, attempts=2)
        ph.person_faults.extend(["500"] * 10)
        res = delete_person(wh, "user_7", reports_dir=None, posthog=client)
        assert wh.scalar("SELECT count(*) FROM events WHERE person_id = 'user_7'") == 0
        assert all(p.startswith("error") for p in res.posthog)
        assert (
            wh.scalar("SELECT status FROM gdpr_audit WHERE action = 'posthog_delete'") == "failed"
        )


def test_cli_posthog_flag(ph, tmp_path, monkeypatch, capsys):
    seed(ph)
    w = tmp_path / "w.duckdb"
    with Warehouse(w) as wh:
        backfill(wh, ph)
    assert cli_main(["gdpr", "delete", "user_7", "--posthog", "-w", str(w)]) == 2
    monkeypatch.setenv("POSTHOG_HOST", ph.url)
    monkeypatch.setenv("POSTHOG_PROJECT_ID", str(ph.project_id))
    assert cli_main(["gdpr", "delete", "user_7", "--posthog", "-w", str(w)]) == 0
    assert "PostHog: deleted 1 person(s)" in capsys.readouterr().out
