"""The scheduler: next runs in Asia/Jakarta, catch-up once on start, no overlapping runs.

All with a fake clock: ``sleep`` advances it, runs advance it by their duration.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from zantara_nb.reporting.schedule import Job, Scheduler, job_from_params, last_success, load_jobs

JKT = ZoneInfo("Asia/Jakarta")


def jkt(*args) -> datetime:
    return datetime(*args, tzinfo=JKT)


class FakeClock:
    def __init__(self, start: datetime):
        self.now = start.astimezone(UTC)
        self.slept = 0.0

    def __call__(self) -> datetime:
        return self.now

    def sleep(self, seconds: float) -> None:
        assert seconds >= 0
        self.slept += seconds
        self.now += timedelta(seconds=seconds)


def write_manifest(reports: Path, suite: str, as_of: str, status: str = "ok") -> None:
    d = reports / suite / as_of
    d.mkdir(parents=True, exist_ok=True)
    (d / "manifest.json").write_text(json.dumps({"suite": suite, "as_of": as_of, "status": status}))


class FakeRunner:
    """Records runs, takes ``minutes`` of fake time, writes a manifest like the runner."""

    def __init__(
        self, clock: FakeClock, reports: Path, minutes: float = 5, fail: set | None = None
    ):
        self.clock, self.reports, self.minutes = clock, reports, minutes
        self.fail = fail or set()
        self.calls: list[tuple[str, str, datetime]] = []
        self.running = False

    def __call__(self, job: Job, as_of: str):
        assert not self.running, "runs overlap"
        self.running = True
        try:
            self.calls.append((job.suite, as_of, self.clock().astimezone(JKT)))
            self.clock.now += timedelta(minutes=self.minutes)
            if job.suite in self.fail:
                raise RuntimeError("notebook failed")
            write_manifest(self.reports, job.suite, as_of)
            return {"status": "ok"}
        finally:
            self.running = False


WEEKLY = Job("weekly", Path("parameters/weekly.yaml"), "0 7 * * 1", "Asia/Jakarta")


def _scheduler(jobs, clock, runner, reports):
    return Scheduler(
        jobs, run=runner, reports_dir=reports, clock=clock, sleep=clock.sleep, log=lambda m: None
    )


def test_next_run_is_computed_in_jakarta_time():
    # Monday 06:30 in Jakarta is still Sunday 23:30 UTC: the next run is in 30 minutes
    # (Monday 07:00 Jakarta = 00:00 UTC), not Monday 07:00 UTC.
    now = datetime(2026, 11, 22, 23, 30, tzinfo=UTC)
    nxt = WEEKLY.next_after(now)
    assert nxt == jkt(2026, 11, 23, 7, 0)
    assert nxt.astimezone(UTC) == datetime(2026, 11, 23, 0, 0, tzinfo=UTC)
    # exactly at the scheduled time: that time is the last one, the next is a week later
    assert WEEKLY.next_after(jkt(2026, 11, 23, 7, 0)) == jkt(2026, 11, 30, 7, 0)
    assert WEEKLY.last_at_or_before(jkt(2026, 11, 23, 7, 0)) == jkt(2026, 11, 23, 7, 0)
    assert WEEKLY.last_at_or_before(jkt(2026, 11, 23, 6, 59)) == jkt(2026, 11, 16, 7, 0)
    assert WEEKLY.as_of_for(jkt(2026, 11, 23, 7, 0)) == "2026-11-23"
    # a naive time is taken as UTC
    assert WEEKLY.next_after(datetime(2026, 11, 22, 23, 30)) == jkt(2026, 11, 23, 7, 0)


def test_catch_up_once_then_follow_the_schedule(tmp_path):
    reports = tmp_path / "reports"
    write_manifest(reports, "weekly", "2026-11-02")  # three Mondays missed since
    write_manifest(reports, "weekly", "2026-11-09", status="failed")  # failed: not a success
    assert last_success(WEEKLY, reports).isoformat() == "2026-11-02"
    clock = FakeClock(jkt(2026, 11, 25, 10, 0))  # Wednesday
    runner = FakeRunner(clock, reports)
    s = _scheduler([WEEKLY], clock, runner, reports)
    s.run_forever(until=jkt(2026, 12, 7, 8, 0))
    # one catch-up for the last scheduled time (Mon 11-23), at start; then each Monday 07:00
    assert [(a, t) for _, a, t in runner.calls] == [
        ("2026-11-23", jkt(2026, 11, 25, 10, 0)),
        ("2026-11-30", jkt(2026, 11, 30, 7, 0)),
        ("2026-12-07", jkt(2026, 12, 7, 7, 0)),
    ]
    assert [r.catch_up for r in s.history] == [True, False, False]
    assert all(r.ok for r in s.history)


def test_no_catch_up_when_up_to_date_or_disabled(tmp_path):
    reports = tmp_path / "reports"
    write_manifest(reports, "weekly", "2026-11-23T07:00:00+07:00")  # a datetime as_of
    clock = FakeClock(jkt(2026, 11, 25, 10, 0))
    runner = FakeRunner(clock, reports)
    _scheduler([WEEKLY], clock, runner, reports).run_forever(until=jkt(2026, 11, 30, 6, 0))
    assert runner.calls == []

    off = Job("monthly", Path("m.yaml"), "0 6 1 * *", "Asia/Jakarta", catch_up=False)
    runner = FakeRunner(clock, reports)
    s = _scheduler([off], clock, runner, reports)
    plan = s.plan()
    assert plan["monthly"][0] == jkt(2026, 12, 1, 6, 0)  # never ran, but catch-up is off


def test_runs_never_overlap_and_missed_firings_are_not_repeated(tmp_path):
    reports = tmp_path / "reports"
    hourly = Job("hourly", Path("h.yaml"), "0 * * * *", "Asia/Jakarta", catch_up=False)
    daily = Job("daily", Path("d.yaml"), "30 7 * * *", "Asia/Jakarta", catch_up=False)
    clock = FakeClock(jkt(2026, 11, 23, 6, 50))
    runner = FakeRunner(clock, reports, minutes=150)  # every run takes 2.5 hours
    s = _scheduler([hourly, daily], clock, runner, reports)
    s.run_forever(max_runs=4)
    assert [(suite, t) for suite, _, t in runner.calls] == [
        # hourly runs 07:00-09:30; its 08:00 and 09:00 firings passed while it ran:
        # not repeated, its next run is the first firing after the run ended (10:00)
        ("hourly", jkt(2026, 11, 23, 7, 0)),
        # daily fell due at 07:30 while hourly was running: runs once, right after
        ("daily", jkt(2026, 11, 23, 9, 30)),
        # hourly's 10:00 passed during the daily run (09:30-12:00): runs once, late
        ("hourly", jkt(2026, 11, 23, 12, 0)),
        # 12:00-14:30, then the next firing, 15:00
        ("hourly", jkt(2026, 11, 23, 15, 0)),
    ]
    h = s.history
    for a, b in zip(h, h[1:], strict=False):
        assert b.started >= a.finished  # one at a time
    assert s.pending["daily"][0] == jkt(2026, 11, 24, 7, 30)


def test_a_failed_run_is_logged_and_the_loop_goes_on(tmp_path):
    reports = tmp_path / "reports"
    clock = FakeClock(jkt(2026, 11, 23, 6, 0))
    runner = FakeRunner(clock, reports, fail={"weekly"})
    logs = []
    s = Scheduler(
        [WEEKLY], run=runner, reports_dir=reports, clock=clock, sleep=clock.sleep, log=logs.append
    )
    s.run_forever(max_runs=3)
    # never succeeded: catch-up for Mon 11-16 at start, then 11-23 and 11-30
    assert [a for _, a, _ in runner.calls] == ["2026-11-16", "2026-11-23", "2026-11-30"]
    assert not any(r.ok for r in s.history)
    assert any("FAILED" in m and "notebook failed" in m for m in logs)
    assert clock.slept > 0


def test_jobs_from_parameters_files(tmp_path, capsys):
    pdir = tmp_path / "parameters"
    pdir.mkdir()
    (pdir / "weekly.yaml").write_text(
        'suite: weekly\nschedule:\n  cron: "0 7 * * 1"\n  timezone: Asia/Jakarta\n'
    )
    (pdir / "monthly.yaml").write_text(
        'timezone: Asia/Makassar\nreports_dir: out\nschedule: {cron: "0 6 1 * *"}\n'
    )
    (pdir / "targets.yaml").write_text("targets: {}\n")
    jobs = load_jobs(None, pdir)
    assert [(j.suite, j.cron, j.tz, j.catch_up) for j in jobs] == [
        ("monthly", "0 6 1 * *", "Asia/Makassar", True),
        ("weekly", "0 7 * * 1", "Asia/Jakarta", True),
    ]
    assert job_from_params(pdir / "targets.yaml") is None
    assert jobs[0].reports_dir == Path("out") and jobs[1].reports_dir is None
    with pytest.raises(ValueError, match="cron"):
        job_from_params(pdir / "x.yaml", {"schedule": "0 7 * * 1"})  # a mapping, as suite.py
    with pytest.raises(ValueError, match="no schedule"):
        load_jobs([pdir / "targets.yaml"])
    with pytest.raises(ValueError, match="not valid"):
        job_from_params(pdir / "x.yaml", {"schedule": {"cron": "every monday"}})

    from zantara_nb.cli import main

    assert (
        main(["schedule", "--params-dir", str(pdir), "--reports-dir", str(tmp_path), "--list"]) == 0
    )
    out = capsys.readouterr().out
    assert "weekly" in out and "0 7 * * 1" in out and "next" in out
    assert main(["schedule", "--params-dir", str(tmp_path / "none"), "--list"]) == 2


def test_default_run_calls_the_runner_and_reads_its_result(tmp_path, monkeypatch):
    from dataclasses import dataclass

    import zantara_nb.reporting.runner as runner
    from zantara_nb.reporting.schedule import default_run

    @dataclass
    class Result:  # the shape of runner.RunResult
        exit_code: int
        message: str

        @property
        def ok(self) -> bool:
            return self.exit_code == 0

    calls = []

    def run_suite(params_file, *, as_of=None, reports_dir=None, send_email=True):
        calls.append((params_file, as_of, reports_dir))
        return Result(3, "another run of weekly holds the lock")

    monkeypatch.setattr(runner, "run_suite", run_suite)
    default_run(WEEKLY, "2026-11-23")
    default_run(WEEKLY, "2026-11-23", reports_dir=tmp_path)
    assert calls == [
        (WEEKLY.params_path, "2026-11-23", None),  # the file's own reports_dir applies
        (WEEKLY.params_path, "2026-11-23", tmp_path),
    ]
    clock = FakeClock(jkt(2026, 11, 23, 6, 0))
    logs = []
    s = Scheduler([WEEKLY], reports_dir=tmp_path, clock=clock, sleep=clock.sleep, log=logs.append)
    rec = s.run_once(WEEKLY, jkt(2026, 11, 23, 7, 0))
    assert not rec.ok and rec.error == "another run of weekly holds the lock"
    assert calls[-1] == (WEEKLY.params_path, "2026-11-23", tmp_path)
