"""The PostHog pull against a local stand-in of the query API (tests/posthog_standin.py)."""

from __future__ import annotations

import json
import logging
import os
import signal
import subprocess
import sys
import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from posthog_standin import StandIn

from zantara_nb import Warehouse
from zantara_nb.cli import main as cli_main
from zantara_nb.ingest.posthog_api import (
    Limits,
    PostHogAuthError,
    PostHogError,
    PostHogQueryError,
    PostHogResponseError,
    PostHogRetryError,
    QueryClient,
    RateLimiter,
    RetryPolicy,
    hogql_ts,
)
from zantara_nb.ingest.posthog_pull import PullConfig, page_query, pull
from zantara_nb.ingest.posthog_state import person_agreement, read_cursor, status_lines

ROOT = Path(__file__).resolve().parents[2]
T0 = datetime(2026, 11, 1, tzinfo=UTC)
NOW = datetime(2026, 11, 10, tzinfo=UTC)
FAST = RetryPolicy(attempts=4, base=0.01, cap=0.02, floor_429=0.01)


@pytest.fixture
def ph(monkeypatch):
    with StandIn() as server:
        monkeypatch.setenv("POSTHOG_PERSONAL_API_KEY", server.key)
        yield server


def seed(ph: StandIn, n: int, start: datetime = T0, step_s: int = 600, users: int = 9) -> list[str]:
    """``n`` events every ``step_s`` seconds; every fifth pair shares one timestamp."""
    out = []
    for i in range(n):
        t = start + timedelta(seconds=step_s * (i - (i % 5 == 1)))
        ev = ("message_sent", "message_received", "$pageview", "$ai_generation", "feedback_given")[
            i % 5
        ]
        props: dict = {"session_id": f"s{i // 10}", "$ip": "203.0.113.77"}
        if ev == "$ai_generation":
            props.update({"$ai_latency": 1.25, "$ai_total_cost_usd": 0.004, "$ai_model": "m1"})
        if ev == "$pageview":
            props.update({"$pathname": "/chat", "$referrer": "https://google.com"})
        if ev == "feedback_given":
            props.update({"rating": 1, "message_id": f"m{i}"})
        out.append(ph.store.add(ev, f"user_{i % users}", t, props))
    return out


def cfg(ph: StandIn, **kw) -> PullConfig:
    kw.setdefault("page_size", 50)
    kw.setdefault("commit_rows", 50)
    kw.setdefault("retry", FAST)
    return PullConfig(host=ph.url, project_id=ph.project_id, **kw)


def uuids(wh) -> list[str]:
    return [r[0] for r in wh.execute("SELECT uuid FROM events").fetchall()]


def backfill(wh, ph, **kw):
    return pull(wh, cfg(ph, **kw), since="2026-11-01", until="2026-11-05", now=NOW)


# --------------------------------------------------------------------------------------


def test_keyset_pages_load_every_event_exactly_once(ph):
    ids = seed(ph, 437)
    wh = Warehouse(":memory:")
    res = backfill(wh, ph)
    got = uuids(wh)
    assert sorted(got) == sorted(ids) and len(got) == len(set(got)) == 437
    assert res.rows == 437 and res.loaded == 437 and res.duplicates == 0
    assert res.pages >= 437 // 50
    for q in ph.queries:
        assert "OFFSET" not in q and "LIMIT 50" in q
        assert "ORDER BY timestamp ASC, uuid ASC" in q
        # timestamps as toDateTime('YYYY-MM-DD hh:mm:ss.ffffff', 'UTC'), never ISO 'T...Z'
        assert "T" not in q.split("toDateTime('")[1][:26]
    assert any("uuid > toUUID(" in q for q in ph.queries)
    # the plan's names and units
    rows = dict(wh.execute("SELECT event, count(*) FROM events GROUP BY 1").fetchall())
    assert rows["page_viewed"] == 87 and "$pageview" not in rows
    lat, cost = wh.execute(
        "SELECT max(response_latency_ms), max(response_cost_usd) FROM events "
        "WHERE event = '$ai_generation'"
    ).fetchall()[0]
    assert lat == 1250.0 and cost == 0.004
    assert wh.scalar("SELECT count(DISTINCT ip) FROM events") == 1
    assert wh.scalar("SELECT max(ip) FROM events") == "203.0.113.0"
    path = wh.scalar(
        "SELECT json_extract_string(properties, '$.path') FROM events "
        "WHERE event = 'page_viewed' LIMIT 1"
    )
    assert path == "/chat"
    loads = wh.sql("SELECT path, format, status FROM loads")
    assert set(loads["format"]) == {"posthog-api"}
    assert all(p.startswith(f"posthog:{ph.url}/project/{ph.project_id}") for p in loads["path"])


def test_pages_in_a_project_time_zone(monkeypatch):
    with StandIn(timezone="Asia/Jakarta") as ph:
        monkeypatch.setenv("POSTHOG_PERSONAL_API_KEY", ph.key)
        ids = seed(ph, 120)
        wh = Warehouse(":memory:")
        backfill(wh, ph)
        assert sorted(uuids(wh)) == sorted(ids)
        first = wh.scalar("SELECT min(timestamp) FROM events")
        assert first == T0
        assert b"+07:00" in ph.store.encode(ph.store.rows[0], ["timestamp"])


@pytest.mark.parametrize("fault", ["500", "502", "504", "truncated", "drop"])
def test_transient_failures_are_retried(ph, fault):
    ids = seed(ph, 130)
    ph.faults.extend(["ok", fault, fault])
    wh = Warehouse(":memory:")
    res = backfill(wh, ph)
    assert sorted(uuids(wh)) == sorted(ids)
    assert res.retries == 2


def test_429_waits_retry_after(ph):
    seed(ph, 60)
    ph.faults.extend(["429"])
    waits: list[float] = []
    client = QueryClient(ph.url, ph.project_id, retry=FAST, sleep=waits.append)
    wh = Warehouse(":memory:")
    res = pull(wh, cfg(ph), since="2026-11-01", until="2026-11-02", now=NOW, client=client)
    assert res.throttled == 1 and waits == [1.0]
    assert wh.scalar("SELECT count(*) FROM events") == 60


def test_429_without_retry_after_backs_off(ph):
    seed(ph, 10)
    ph.faults.extend(["429-bare"])
    waits: list[float] = []
    policy = RetryPolicy(attempts=3, base=0.01, cap=0.02, floor_429=5.0)
    client = QueryClient(ph.url, ph.project_id, retry=policy, sleep=waits.append)
    pull(
        Warehouse(":memory:"),
        cfg(ph),
        since="2026-11-01",
        until="2026-11-02",
        now=NOW,
        client=client,
    )
    assert waits == [5.0]


def test_rate_limits_of_the_server_are_honoured(monkeypatch):
    with StandIn(per_minute=2, minute=2.0) as ph:
        monkeypatch.setenv("POSTHOG_PERSONAL_API_KEY", ph.key)
        ids = seed(ph, 200, step_s=60)
        wh = Warehouse(":memory:")
        res = pull(
            wh,
            cfg(ph, retry=RetryPolicy(attempts=10, base=0.01), commit_rows=1000),
            since="2026-11-01",
            until="2026-11-02",
            now=NOW,
        )
        assert sorted(uuids(wh)) == sorted(ids)
        assert res.throttled >= 1


def test_client_limits_requests_per_minute_and_concurrency():
    clock = [0.0]
    waits: list[float] = []

    def sleep(s):
        waits.append(s)
        clock[0] += s

    rl = RateLimiter(
        Limits(per_minute=3, per_hour=5, concurrent=2), clock=lambda: clock[0], sleep=sleep
    )
    for _ in range(3):
        rl.acquire()
        rl.release()
    rl.acquire()  # the 4th in a minute waits for the first to age out
    rl.release()
    assert waits == [60.0]
    rl.acquire()
    rl.release()
    rl.acquire()  # the 6th in an hour waits for the first to age out of the hour
    rl.release()
    assert clock[0] == pytest.approx(3600.0)


def test_at_most_three_queries_at_once(monkeypatch):
    with StandIn(concurrent=3) as ph:
        monkeypatch.setenv("POSTHOG_PERSONAL_API_KEY", ph.key)
        seed(ph, 10)
        ph.faults.extend(["slow:0.3"] * 8)
        client = QueryClient(ph.url, ph.project_id, retry=FAST)
        q = page_query(T0, T0 + timedelta(days=1), None, 5)
        threads = [threading.Thread(target=client.query, args=(q,)) for _ in range(8)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert ph.max_running <= 3
        assert client.stats.throttled == 0


def test_401_stops_with_a_clear_message_and_no_key_in_it(ph, monkeypatch):
    seed(ph, 20)
    monkeypatch.setenv("POSTHOG_PERSONAL_API_KEY", "phx_wrong_secret_value")
    wh = Warehouse(":memory:")
    with pytest.raises(PostHogAuthError) as exc:
        backfill(wh, ph)
    msg = str(exc.value)
    assert "401" in msg and "POSTHOG_PERSONAL_API_KEY" in msg and "Query Read" in msg
    assert "phx_wrong_secret_value" not in msg
    assert wh.scalar("SELECT count(*) FROM events") == 0
    assert len(ph.queries) == 0


def test_403_and_missing_key(ph, monkeypatch):
    ph.faults.append("403")
    with pytest.raises(PostHogAuthError, match="403"):
        backfill(Warehouse(":memory:"), ph)
    monkeypatch.delenv("POSTHOG_PERSONAL_API_KEY")
    with pytest.raises(PostHogAuthError, match=r"set \$POSTHOG_PERSONAL_API_KEY"):
        backfill(Warehouse(":memory:"), ph)


def test_hogql_error_stops(ph):
    seed(ph, 20)
    ph.faults.append("hogql")
    with pytest.raises(PostHogQueryError, match="Unable to resolve field"):
        backfill(Warehouse(":memory:"), ph)


def test_iso_z_literal_is_the_documented_type_mismatch(ph):
    client = QueryClient(ph.url, ph.project_id, retry=FAST)
    bad = "SELECT uuid FROM events WHERE timestamp >= '2026-11-01T00:00:00Z' ORDER BY timestamp, uuid LIMIT 5"
    with pytest.raises(PostHogQueryError, match="Cannot convert string"):
        client.query(bad)
    assert hogql_ts(T0) == "toDateTime('2026-11-01 00:00:00.000000', 'UTC')"
    with pytest.raises(PostHogQueryError, match="OFFSET"):
        client.query("SELECT uuid FROM events ORDER BY timestamp, uuid LIMIT 5 OFFSET 5")


def test_malformed_body_stops_and_rerun_completes(ph):
    ids = seed(ph, 160)
    ph.faults.extend(["ok", "ok", "malformed"])
    wh = Warehouse(":memory:")
    with pytest.raises(PostHogResponseError, match="not valid JSON"):
        backfill(wh, ph)
    assert wh.scalar("SELECT count(*) FROM events") == 100  # two whole pages, not a row more
    cur = read_cursor(wh, next(iter(wh.sql("SELECT stream FROM posthog_cursors")["stream"])))
    assert cur.interrupted
    res = backfill(wh, ph)
    assert res.resumed
    got = uuids(wh)
    assert sorted(got) == sorted(ids) and len(got) == len(set(got))


def test_body_truncated_every_time_gives_up_clearly(ph):
    seed(ph, 20)
    ph.faults.extend(["truncated"] * 10)
    with pytest.raises(PostHogRetryError, match="body cut short"):
        backfill(Warehouse(":memory:"), ph)


def test_incremental_reads_only_new_events_and_late_ones_in_the_overlap(ph):
    seed(ph, 100, start=T0, step_s=3600)  # 2026-11-01 00:00 .. 11-05 03:00
    wh = Warehouse(":memory:")
    c = cfg(ph, overlap=timedelta(hours=6))
    with pytest.raises(PostHogError, match="--since"):
        pull(wh, c, now=NOW)
    pull(wh, c, since="2026-11-01", until="2026-11-04", now=NOW)
    assert wh.scalar("SELECT count(*) FROM events") == 72
    # incremental from the backfill's end (minus the overlap) to now
    overlap = wh.scalar(
        "SELECT count(*) FROM events WHERE timestamp >= TIMESTAMPTZ '2026-11-03 18:00:00+00'"
    )
    first = pull(wh, c, now=datetime(2026, 11, 6, tzinfo=UTC))
    assert wh.scalar("SELECT count(*) FROM events") == 100
    assert first.duplicates == overlap > 0  # the overlap re-read
    # late arrivals: one inside the overlap, one older than it (documented limit)
    late_in = ph.store.add("message_sent", "user_1", datetime(2026, 11, 5, 21, tzinfo=UTC), {})
    ph.store.add("message_sent", "user_1", datetime(2026, 11, 5, 12, tzinfo=UTC), {})
    new = ph.store.add("message_sent", "user_2", datetime(2026, 11, 6, 1, tzinfo=UTC), {})
    second = pull(wh, c, now=datetime(2026, 11, 6, 2, tzinfo=UTC))
    got = set(uuids(wh))
    assert late_in in got and new in got
    assert second.loaded == 2 and wh.scalar("SELECT count(*) FROM events") == 102
    assert any(
        "WHERE timestamp >= toDateTime('2026-11-05 18:00:00.000000', 'UTC')" in q
        for q in ph.queries
    )


_CHILD = """
import sys
sys.path.insert(0, {root!r})
from datetime import datetime, UTC
from zantara_nb import Warehouse
from zantara_nb.ingest.posthog_pull import PullConfig, pull
from zantara_nb.ingest.posthog_api import RetryPolicy
wh = Warehouse({db!r})
cfg = PullConfig(host={url!r}, project_id={pid}, page_size=40, commit_rows=40,
                 retry=RetryPolicy(attempts=3, base=0.01))
pull(wh, cfg, since="2026-11-01", until="2026-11-05", now=datetime(2026, 11, 10, tzinfo=UTC))
print("finished")
"""


@pytest.mark.parametrize("kill_after", [1, 4])
def test_pull_killed_midway_resumes_every_event_exactly_once(ph, tmp_path, kill_after):
    ids = seed(ph, 400, step_s=400)
    db = tmp_path / "w.duckdb"
    Warehouse(db).close()
    code = _CHILD.format(root=str(ROOT), db=str(db), url=ph.url, pid=ph.project_id)
    child = subprocess.Popen(
        [sys.executable, "-c", code],
        env=dict(os.environ),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )

    def kill(n):
        if n == kill_after:
            os.kill(child.pid, signal.SIGKILL)

    ph.on_page = kill
    out, err = child.communicate(timeout=120)
    assert child.returncode == -signal.SIGKILL, err.decode()[-2000:]
    ph.on_page = None
    with Warehouse(db) as wh:
        before = wh.scalar("SELECT count(*) FROM events")
        assert before < 400
        res = pull(
            wh,
            cfg(ph, page_size=40, commit_rows=40),
            since="2026-11-01",
            until="2026-11-05",
            now=NOW,
        )
        got = uuids(wh)
        assert sorted(got) == sorted(ids)
        assert len(got) == len(set(got)) == 400
        assert res.resumed
        assert wh.scalar("SELECT count(*) FROM quarantine") == 0


def test_posthog_persons_beside_ours_and_status(ph):
    ph.store.add("page_viewed", "anon_1", T0, {"path": "/"})
    ph.store.add("$identify", "user_1", T0 + timedelta(minutes=1), {"$anon_distinct_id": "anon_1"})
    ph.store.add("message_sent", "user_1", T0 + timedelta(minutes=2), {"session_id": "s"})
    ph.store.add("message_sent", "user_2", T0 + timedelta(minutes=3), {"session_id": "s"})
    ph.store.add("message_sent", "user_3", T0 + timedelta(minutes=4), {"session_id": "s"})
    # PostHog merged user_2 and user_3 (say, an alias we never saw)
    ph.store.person_overrides["user_3"] = ph.store.person("user_2")
    wh = Warehouse(":memory:")
    backfill(wh, ph)
    (a,) = person_agreement(wh)
    assert a.distinct_ids == 4
    assert a.disagree == 2 and a.posthog_merged == 2 and a.we_merged == 0
    assert a.events_disagree == 2 and a.events == 5
    lines = "\n".join(status_lines(wh))
    assert "disagree on 2 (50.0%)" in lines and "complete to 2026-11-05" in lines


def test_secret_never_written_anywhere(ph, tmp_path, capsys, caplog):
    caplog.set_level(logging.DEBUG)
    seed(ph, 30)
    db = tmp_path / "w.duckdb"
    spool = tmp_path / "spool"
    spool.mkdir()
    with Warehouse(db) as wh:
        res = pull(wh, cfg(ph), since="2026-11-01", until="2026-11-05", now=NOW, spool_dir=spool)
        text = str(res) + repr(QueryClient(ph.url, ph.project_id)) + repr(cfg(ph))
        for table in ("loads", "posthog_cursors", "quarantine", "events"):
            text += wh.sql(f"SELECT * FROM {table}").to_csv()
    assert ph.key not in text
    out = capsys.readouterr()
    assert ph.key not in out.out + out.err + caplog.text
    for f in tmp_path.rglob("*"):
        if f.is_file():
            assert ph.key.encode() not in f.read_bytes(), f
    assert list(spool.iterdir()) == []  # the spool is gone
    assert all(h == f"Bearer {ph.key}" for h in ph.auth_headers)  # only in the header


def test_cli_pull_and_status(ph, tmp_path, capsys):
    seed(ph, 30)
    db = str(tmp_path / "w.duckdb")
    args = [
        "ingest",
        "posthog",
        "--host",
        ph.url,
        "--project",
        str(ph.project_id),
        "--since",
        "2026-11-01",
        "--until",
        "2026-11-05",
        "-w",
        db,
        "--no-progress",
    ]
    assert cli_main(args) == 0
    out = capsys.readouterr().out
    assert "30 rows" in out and "30 loaded" in out
    assert cli_main(["status", "-w", db]) == 0
    out = capsys.readouterr().out
    assert "PostHog" in out and "distinct ids with a PostHog person" in out
    assert cli_main(["ingest", "posthog", "--host", ph.url, "--project", "x", "-w", db]) == 2
    ph.faults.append("401")
    assert cli_main(args[:-1]) == 1
    assert "401" in capsys.readouterr().err


def test_settings_are_checked():
    with pytest.raises(ValueError, match="50,000"):
        PullConfig(host="eu", project_id=1, page_size=50_001)
    with pytest.raises(ValueError, match="host"):
        QueryClient("posthog.example.com", 1)
    c = PullConfig.from_parameters({"posthog": {"host": "eu", "project_id": 7, "overlap_hours": 1}})
    assert c.overlap == timedelta(hours=1)
    assert QueryClient(c.host, c.project_id).url == "https://eu.posthog.com/api/projects/7/query/"
    assert json.loads(json.dumps({"ok": True}))
    assert time.time() > 0


def test_progress_bar_and_until_needs_since(ph, capsys):
    seed(ph, 120)
    wh = Warehouse(":memory:")
    pull(wh, cfg(ph), since="2026-11-01", until="2026-11-03", now=NOW, progress=True)
    err = capsys.readouterr().err
    assert f"PostHog {ph.project_id}" in err and "100%" in err and "120 rows" in err
    with pytest.raises(ValueError, match="--until needs --since"):
        pull(wh, cfg(ph), until="2026-11-03", now=NOW)
    for _ in range(2):  # refused before any state is kept: the same answer again
        with pytest.raises(ValueError, match="nothing to pull"):
            pull(wh, cfg(ph), since="2026-11-03", until="2026-11-02", now=NOW)
