"""Run report suites on their schedules, in the foreground: ``zantara-nb schedule``.

Each parameters file with a ``schedule`` section is a job::

    suite: weekly
    schedule:
      cron: "0 7 * * 1"          # minute hour day-of-month month day-of-week
      timezone: Asia/Jakarta     # default: the file's `timezone`, else $ZANTARA_TIMEZONE
      catch_up: true             # default true

Behaviour:

- **Next run** = the next time the cron expression matches, in the job's timezone
  (croniter; a timezone with daylight saving is handled by croniter).
- **Catch-up once on start.** When the newest *successful* run of the suite
  (``reports/<suite>/*/manifest.json`` with a success status) has an ``as_of`` whose
  local date is before the date of the last scheduled time, the suite runs once right
  away for that scheduled time, however many periods were missed.
- **as_of** passed to the runner is the local date of the scheduled time
  (``YYYY-MM-DD``): reports cover complete days, so a run at 07:00 Monday reports the
  week that ended on Sunday, and a late catch-up produces the same report.
- **No overlap.** Jobs run one at a time in this loop (a run blocks the loop); a firing
  missed while a suite was running is not repeated for that suite (its next run is the
  next firing after the run ends), while another suite that fell due meanwhile runs
  once, right after. The runner's per-suite lock also stops a manual run and a
  scheduled run of the same suite from overlapping; a lock error is logged and skipped.
- A failing run is logged and never stops the loop (the runner sends the failure
  e-mail). The clock, ``sleep`` and the run function are injectable for tests.
- **Delivery retries.** When a run wrote its reports but its e-mail or Slack post
  failed (exit code 4, ``delivery_failed`` in the manifest), the delivery alone is tried
  again (:func:`zantara_nb.reporting.runner.redeliver`) after
  :data:`RETRY_MINUTES` (5, 15, 60, 240 minutes), until it goes out; each attempt is
  recorded in the run's manifest and index page.
"""

from __future__ import annotations

import inspect
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from croniter import croniter

from .. import config
from .manifest import iter_manifests

SUCCESS = {"ok", "success", "succeeded", "completed", "complete", "done", "passed"}
DEFAULT_PARAMS_DIR = Path("parameters")
DEFAULT_REPORTS_DIR = Path("reports")
#: Minutes after a failed delivery at which it is tried again (then given up).
RETRY_MINUTES = (5, 15, 60, 240)


@dataclass
class Job:
    """One suite on a schedule."""

    suite: str
    params_path: Path
    cron: str
    tz: str = config.DEFAULT_TIMEZONE
    catch_up: bool = True
    reports_dir: Path | None = None  # the file's ``reports_dir:``; None = reports/

    def __post_init__(self) -> None:
        if not croniter.is_valid(self.cron):
            raise config.SettingError(
                f"{self.params_path}: schedule.cron {self.cron!r} is not valid"
            )
        config.check_time_zone(self.tz, f"{self.params_path}: schedule.timezone")

    @property
    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.tz)

    def next_after(self, moment: datetime) -> datetime:
        """The first scheduled time strictly after ``moment`` (aware, in the job's zone)."""
        return croniter(self.cron, _aware(moment).astimezone(self.zone)).get_next(datetime)

    def last_at_or_before(self, moment: datetime) -> datetime:
        """The latest scheduled time at or before ``moment``."""
        m = _aware(moment).astimezone(self.zone)
        nxt = self.next_after(m - timedelta(seconds=1))
        if nxt <= m:
            return nxt
        return croniter(self.cron, m).get_prev(datetime)

    def as_of_for(self, scheduled: datetime) -> str:
        """The as_of given to the runner for a scheduled time: its local date."""
        return _aware(scheduled).astimezone(self.zone).date().isoformat()


def _aware(moment: datetime) -> datetime:
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


# ------------------------------------------------------------------------------------------
# Jobs from parameters files
# ------------------------------------------------------------------------------------------


def job_from_params(path: str | Path, params: dict[str, Any] | None = None) -> Job | None:
    """The job of one parameters file, or None when it has no ``schedule`` section."""
    p = Path(path)
    params = config.load_parameters(p) if params is None else params
    sched = params.get("schedule")
    if not sched:
        return None
    if not isinstance(sched, dict) or not sched.get("cron"):
        raise ValueError(f"{p}: schedule needs a cron expression (schedule: {{cron: ...}})")
    tz = sched.get("timezone") or params.get("timezone") or config.default_timezone()
    return Job(
        suite=str(params.get("suite") or p.stem),
        params_path=p,
        cron=str(sched["cron"]).strip(),
        tz=str(tz),
        catch_up=bool(sched.get("catch_up", True)),
        reports_dir=Path(params["reports_dir"]) if params.get("reports_dir") else None,
    )


def load_jobs(
    paths: Sequence[str | Path] | None = None, params_dir: str | Path = DEFAULT_PARAMS_DIR
) -> list[Job]:
    """Jobs of the given parameters files, or of every ``parameters/*.yaml`` with a schedule.

    A file named explicitly without a ``schedule`` section is an error; in the default
    scan such files are skipped.
    """
    explicit = bool(paths)
    files = [Path(p) for p in paths] if paths else sorted(Path(params_dir).glob("*.y*ml"))
    jobs = []
    for f in files:
        job = job_from_params(f)
        if job is None:
            if explicit:
                raise ValueError(f"{f}: no schedule section")
            continue
        jobs.append(job)
    names = [j.suite for j in jobs]
    dupes = sorted({n for n in names if names.count(n) > 1})
    if dupes:
        raise ValueError(f"suites scheduled twice: {', '.join(dupes)}")
    return jobs


# ------------------------------------------------------------------------------------------
# Past runs
# ------------------------------------------------------------------------------------------


def _parse_as_of(value: Any, zone: ZoneInfo) -> date | None:
    """The local date of a manifest's as_of (a date or a datetime string)."""
    if not value:
        return None
    s = str(value).strip()
    try:
        if len(s) == 10:
            return date.fromisoformat(s)
        t = datetime.fromisoformat(s.replace("Z", "+00:00"))
    except ValueError:
        return None
    return (t if t.tzinfo else t.replace(tzinfo=zone)).astimezone(zone).date()


def last_success(job: Job, reports_dir: str | Path = DEFAULT_REPORTS_DIR) -> date | None:
    """The latest local as_of date of a successful run of ``job``'s suite, or None."""
    best = None
    for _, m in iter_manifests(reports_dir, job.suite):
        if not m.ok:
            continue
        params = m.parameters if isinstance(m.parameters, dict) else {}
        d = _parse_as_of(m.as_of or params.get("as_of"), job.zone)
        if d is not None and (best is None or d > best):
            best = d
    return best


def needs_catch_up(
    job: Job, now: datetime, reports_dir: str | Path = DEFAULT_REPORTS_DIR
) -> datetime | None:
    """The scheduled time to catch up at start, or None when the suite is up to date."""
    if not job.catch_up:
        return None
    last_sched = job.last_at_or_before(now)
    done = last_success(job, reports_dir)
    if done is not None and done >= last_sched.astimezone(job.zone).date():
        return None
    return last_sched


# ------------------------------------------------------------------------------------------
# Running
# ------------------------------------------------------------------------------------------


def default_run(
    job: Job,
    as_of: str,
    *,
    reports_dir: str | Path | None = None,
    warehouse: str | Path | None = None,
) -> Any:
    """Run a suite with :func:`zantara_nb.reporting.runner.run_suite` (``reports_dir`` only if given)."""
    try:
        from . import runner  # type: ignore[attr-defined]
    except ImportError as exc:
        raise RuntimeError("zantara_nb.reporting.runner is not available") from exc
    fn = next(
        (getattr(runner, n) for n in ("run_suite", "run") if callable(getattr(runner, n, None))),
        None,
    )
    if fn is None:
        raise RuntimeError("zantara_nb.reporting.runner has no run_suite()")
    try:
        accepted = inspect.signature(fn).parameters
    except (TypeError, ValueError):
        accepted = {}
    kw: dict[str, Any] = {}
    if "as_of" in accepted:
        kw["as_of"] = as_of
    if reports_dir is not None and "reports_dir" in accepted:
        kw["reports_dir"] = reports_dir
    if warehouse is not None and "warehouse" in accepted:
        kw["warehouse"] = warehouse
    return fn(job.params_path, **kw)


def _default_redeliver(job: Job, run_dir: Path) -> Any:
    """Send what failed of a run again (:func:`zantara_nb.reporting.runner.redeliver`)."""
    from .runner import redeliver

    return redeliver(run_dir, by="schedule retry", only_failed=True)


def _outcome(result: Any) -> tuple[bool, str | None]:
    """(ok, error) of a run function's return value (a RunResult, a dict or None)."""
    if isinstance(result, dict):
        status = result.get("status")
        if status is not None and str(status).lower() not in SUCCESS:
            return False, f"status {status}"
        return True, None
    ok = getattr(result, "ok", None)
    if isinstance(ok, bool) and not ok:
        return False, str(getattr(result, "message", "") or "run failed")
    code = getattr(result, "exit_code", None)
    if isinstance(code, int) and code != 0:
        return False, f"exit code {code}: {getattr(result, 'message', '')}".strip()
    return True, None


def _now() -> datetime:
    return datetime.now(UTC)


def _print(msg: str) -> None:
    print(f"{datetime.now().astimezone():%Y-%m-%d %H:%M:%S %Z}  {msg}", flush=True)


@dataclass
class RunRecord:
    suite: str
    scheduled: datetime
    as_of: str
    started: datetime
    finished: datetime
    ok: bool
    error: str | None = None
    catch_up: bool = False


class Scheduler:
    """A sequential loop over jobs: sleep until the next one is due, run it, repeat."""

    def __init__(
        self,
        jobs: Sequence[Job],
        *,
        run: Callable[[Job, str], Any] | None = None,
        reports_dir: str | Path | None = None,
        clock: Callable[[], datetime] = _now,
        sleep: Callable[[float], None] = time.sleep,
        log: Callable[[str], None] = _print,
        max_sleep: float = 60.0,
        redeliver: Callable[[Job, Path], Any] | None = None,
    ) -> None:
        if not jobs:
            raise ValueError("nothing to schedule (no parameters file with a schedule section)")
        self.jobs = list(jobs)
        self.reports_dir = Path(reports_dir) if reports_dir is not None else None
        self.run_fn = run or (lambda job, as_of: default_run(job, as_of, reports_dir=reports_dir))
        self.clock = clock
        self.sleep = sleep
        self.log = log
        self.max_sleep = max_sleep
        self.history: list[RunRecord] = []
        self.redeliver_fn = redeliver or _default_redeliver
        self.retries: dict[str, tuple[datetime, int, Path]] = {}  # suite -> (due, attempt, run)
        self.pending: dict[
            str, tuple[datetime, datetime, bool]
        ] = {}  # suite -> (due, scheduled, catch-up)

    def plan(self) -> dict[str, tuple[datetime, datetime, bool]]:
        """Initial plan: each job's catch-up run (due now) or its next scheduled time."""
        now = _aware(self.clock())
        for job in self.jobs:
            missed = needs_catch_up(job, now, self.reports_of(job))
            if missed is not None:
                self.pending[job.suite] = (now, missed, True)
                self.log(f"{job.suite}: catching up the run of {missed:%Y-%m-%d %H:%M %Z}")
            else:
                nxt = job.next_after(now)
                self.pending[job.suite] = (nxt, nxt, False)
            due = self.pending[job.suite][0]
            self.log(
                f"{job.suite}: next run {due.astimezone(job.zone):%Y-%m-%d %H:%M %Z} ({job.cron})"
            )
        return dict(self.pending)

    def reports_of(self, job: Job) -> Path:
        """Where the job's runs land: the explicit reports dir, the file's, or reports/."""
        return self.reports_dir or job.reports_dir or DEFAULT_REPORTS_DIR

    def _next(self) -> tuple[Job, datetime, datetime, bool]:
        order = {j.suite: i for i, j in enumerate(self.jobs)}
        suite = min(self.pending, key=lambda s: (self.pending[s][0], order[s]))
        job = next(j for j in self.jobs if j.suite == suite)
        return (job, *self.pending[suite])

    def run_once(self, job: Job, scheduled: datetime, catch_up: bool = False) -> RunRecord:
        as_of = job.as_of_for(scheduled)
        started = _aware(self.clock())
        self.log(f"{job.suite}: run as_of {as_of} started")
        ok, err, result = True, None, None
        try:
            result = self.run_fn(job, as_of)
            ok, err = _outcome(result)
        except KeyboardInterrupt:
            raise
        except Exception as exc:  # noqa: BLE001 - one failed run must not stop the loop
            ok, err = False, f"{type(exc).__name__}: {exc}"
        finished = _aware(self.clock())
        rec = RunRecord(job.suite, scheduled, as_of, started, finished, ok, err, catch_up)
        self.history.append(rec)
        self._plan_retry(job, result, 0)
        secs = (finished - started).total_seconds()
        self.log(
            f"{job.suite}: run as_of {as_of} {'finished' if ok else 'FAILED'} in {secs:.0f} s"
            + (f": {err}" if err else "")
        )
        return rec

    def _plan_retry(self, job: Job, result: Any, attempt: int) -> None:
        """After a run (``attempt`` 0) or a retry: plan the next delivery retry, if any."""
        manifest = getattr(result, "manifest", None)
        run_dir = getattr(result, "run_dir", None)
        if run_dir is None or not getattr(manifest, "delivery_failed", False):
            self.retries.pop(job.suite, None)
            return
        self._retry_later(job, Path(run_dir), attempt)

    def _retry_later(self, job: Job, run_dir: Path, attempt: int) -> None:
        self.retries.pop(job.suite, None)
        if attempt >= len(RETRY_MINUTES):
            self.log(f"{job.suite}: delivery still failing after {attempt} retries; giving up "
                     f"(send with: zantara-nb email {run_dir})")  # fmt: skip
            return
        due = _aware(self.clock()) + timedelta(minutes=RETRY_MINUTES[attempt])
        self.retries[job.suite] = (due, attempt + 1, run_dir)
        self.log(f"{job.suite}: delivery failed; retry {attempt + 1} at {due:%H:%M %Z}")

    def retry_due(self, now: datetime) -> bool:
        """Retry the first delivery that is due; True when one was tried."""
        due = sorted((d, s) for s, (d, _, _) in self.retries.items() if d <= now)
        if not due:
            return False
        suite = due[0][1]
        _, attempt, run_dir = self.retries[suite]
        job = next(j for j in self.jobs if j.suite == suite)
        self.log(f"{suite}: delivery retry {attempt} for {run_dir}")
        try:
            result = self.redeliver_fn(job, run_dir)
        except Exception as exc:  # noqa: BLE001 - a failed retry must not stop the loop
            self.log(f"{suite}: delivery retry {attempt} FAILED: {type(exc).__name__}: {exc}")
            self._retry_later(job, run_dir, attempt)
            return True
        ok, err = _outcome(result)
        self.log(f"{suite}: delivery retry {attempt} " + ("delivered" if ok else f"FAILED: {err}"))
        self._plan_retry(job, result, attempt)
        return True

    def run_forever(
        self, *, max_runs: int | None = None, until: datetime | None = None
    ) -> list[RunRecord]:
        """Loop until interrupted (or ``max_runs`` runs, or the clock passes ``until``)."""
        if not self.pending:
            self.plan()
        runs = 0
        while True:
            now = _aware(self.clock())
            if until is not None and now >= until:
                return self.history
            if self.retry_due(now):
                continue
            job, due, scheduled, catch_up = self._next()
            if due > now:
                wait = (min([due] + [d for d, _, _ in self.retries.values()]) - now).total_seconds()
                if until is not None:
                    wait = min(wait, max((until - now).total_seconds(), 0.0))
                self.sleep(min(wait, self.max_sleep) if wait > 0 else 0.0)
                continue
            self.run_once(job, scheduled, catch_up)
            runs += 1
            after = _aware(self.clock())
            nxt = job.next_after(after)
            self.pending[job.suite] = (nxt, nxt, False)
            self.log(f"{job.suite}: next run {nxt.astimezone(job.zone):%Y-%m-%d %H:%M %Z}")
            if max_runs is not None and runs >= max_runs:
                return self.history


def main(
    paths: Sequence[str] | None = None,
    *,
    reports_dir: str | Path | None = None,
    params_dir: str | Path = DEFAULT_PARAMS_DIR,
    catch_up: bool = True,
    list_only: bool = False,
    warehouse: str | Path | None = None,
) -> int:
    """The ``zantara-nb schedule`` command."""
    try:
        jobs = load_jobs(paths, params_dir)
    except (OSError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    if not jobs:
        print(f"error: no parameters file in {params_dir}/ has a schedule section", file=sys.stderr)
        return 2
    for j in jobs:
        j.catch_up = j.catch_up and catch_up
    if list_only:
        now = _now()
        for j in jobs:
            nxt = j.next_after(now).astimezone(j.zone)
            missed = needs_catch_up(j, now, reports_dir or j.reports_dir or DEFAULT_REPORTS_DIR)
            extra = f"; would catch up {missed:%Y-%m-%d %H:%M}" if missed else ""
            print(f"{j.suite:<16} {j.cron:<16} {j.tz:<16} next {nxt:%Y-%m-%d %H:%M %Z}{extra}")
        return 0
    try:
        Scheduler(
            jobs,
            run=lambda job, as_of: default_run(
                job, as_of, reports_dir=reports_dir, warehouse=warehouse
            ),
            reports_dir=reports_dir,
        ).run_forever()
    except KeyboardInterrupt:
        print("stopped", file=sys.stderr)
    return 0
