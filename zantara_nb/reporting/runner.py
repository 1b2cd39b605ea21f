"""``zantara-nb run parameters/weekly.yaml``: execute a suite's notebooks into a report.

One run, step by step:

1. Read the parameters file (:mod:`zantara_nb.reporting.suite`); ``as_of`` is ``--as-of``, else the
   file's ``as_of``, else the end of the last complete period before now.
2. Take the suite's lock: an exclusive ``fcntl.flock`` on ``reports/<suite>/.lock``, held
   for the whole run. A second run of the same suite says so and exits with code 3.
3. Check the warehouse (read-only): row counts, the newest event before the cut-off and
   whether it is stale (older than ``stale_after_hours`` at ``as_of``).
4. Execute the notebooks with papermill, ``concurrency`` at a time (threads; each
   notebook runs in its own kernel process), into ``reports/<suite>/.tmp-<as_of>-<pid>/``.
   A failing notebook does not stop the others. The kernel is ``kernel_name`` (default
   ``zantara``, registered by ``tasks.py``) or, when it is not installed, ipykernel's
   ``python3`` (the interpreter running this command). Kernels get
   ``MPLBACKEND=module://matplotlib_inline.backend_inline``.
5. Render each notebook, as soon as it finishes, twice (:mod:`zantara_nb.reporting.render`): a
   reader page without code and an analyst page with code; a stale-data warning and a
   failure notice go at the top of every page.
6. Build the e-mail digest (:func:`zantara_nb.reporting.digest.build_digest`, in a thread while
   the notebooks run); an error there is recorded in the manifest and printed, the run
   still renders (and exits 0 if every notebook ran).
7. Write ``manifest.json`` (parameters, data freshness, row counts, package version,
   timings, status) and ``index.html``, then swap the folder into
   ``reports/<suite>/<as_of>/`` with one atomic rename (``renameat2(RENAME_EXCHANGE)``
   on Linux; elsewhere two renames). An interrupted run leaves the previous report as it
   was. ``reports/index.html`` is rewritten to list every run.
8. E-mail (unless ``--no-email``, and only when ``email.to`` is set and
   ``ZANTARA_SMTP_HOST`` is in the environment): the report when every notebook ran,
   otherwise the failure notice to ``email.failure_to``. The e-mail, and the Slack post
   of the firing alerts the digest made, each have a total deadline; what happened to
   them is recorded in the manifest (``email``, ``slack``, ``delivery_status``,
   ``delivery_errors``, ``delivery_attempts``) and shown on the run index. A delivery
   that failed or ran out of time leaves the reports in place and makes the run exit
   with code 4; ``zantara-nb email RUN`` (:func:`redeliver`) sends again, and the
   scheduler retries by itself.

Exit codes: 0 all notebooks ran and every configured delivery went out; 1 a notebook
failed; 2 the parameters file or the warehouse is unusable (recipients included); 3
another run of the suite holds the lock; 4 the reports were written but the e-mail or
the Slack post failed (a notebook failure takes precedence: 1).

``--only NB`` re-runs some notebooks of an existing run: the others' pages are carried
over from the previous output for the same ``as_of``.
"""

from __future__ import annotations

import contextlib
import ctypes
import ctypes.util
import json
import os
import shutil
import sys
import time
import traceback
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from datetime import time as dtime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from .. import __version__, config
from ..warehouse.scope import last_complete_period
from . import render
from .manifest import RunManifest, read_manifest, write_manifest
from .suite import NotebookSpec, Suite, SuiteError, load_suite, parse_as_of

EXIT_OK, EXIT_FAILED, EXIT_UNUSABLE, EXIT_LOCKED, EXIT_DELIVERY = 0, 1, 2, 3, 4
KERNEL_ENV = {"MPLBACKEND": "module://matplotlib_inline.backend_inline"}
FALLBACK_KERNEL = "python3"


class RunLocked(RuntimeError):
    """Another run of the same suite holds the lock."""


@dataclass
class RunResult:
    """What a run did: exit code, output folder, manifest and a one-line message."""

    exit_code: int
    message: str
    run_dir: Path | None = None
    manifest: RunManifest | None = None

    @property
    def ok(self) -> bool:
        return self.exit_code == EXIT_OK


# -- lock and folders ---------------------------------------------------------------------


@contextlib.contextmanager
def suite_lock(suite_dir: Path, suite: str) -> Iterator[Path]:
    """Hold an exclusive lock on ``suite_dir/.lock`` (raises :class:`RunLocked` if taken)."""
    import fcntl

    suite_dir.mkdir(parents=True, exist_ok=True)
    path = suite_dir / ".lock"
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.pread(fd, 200, 0).decode("utf-8", "replace").strip() or "unknown"
            raise RunLocked(
                f"another run of suite {suite!r} is in progress ({holder}); "
                f"not starting a second one (lock: {path})"
            ) from None
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"pid {os.getpid()}, started {_now_iso()}".encode(), 0)
        yield path
    finally:
        os.close(fd)  # closing the descriptor releases the lock


@contextlib.contextmanager
def _index_lock(root: Path) -> Iterator[None]:
    import fcntl

    fd = os.open(root / ".index.lock", os.O_RDWR | os.O_CREAT, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)


def _exchange(a: Path, b: Path) -> bool:
    """Atomically swap two paths (Linux ``renameat2(RENAME_EXCHANGE)``); False if unsupported."""
    if not sys.platform.startswith("linux"):
        return False
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
        fn = libc.renameat2
    except (OSError, AttributeError):
        return False
    fn.argtypes = [ctypes.c_int, ctypes.c_char_p, ctypes.c_int, ctypes.c_char_p, ctypes.c_uint]
    at_fdcwd, rename_exchange = -100, 2
    rc = fn(at_fdcwd, os.fsencode(a), at_fdcwd, os.fsencode(b), rename_exchange)
    return rc == 0


def replace_dir(tmp: Path, final: Path) -> None:
    """Move ``tmp`` to ``final``, replacing a previous ``final`` in one atomic step."""
    if not final.exists():
        tmp.rename(final)
        return
    if _exchange(tmp, final):
        shutil.rmtree(tmp)  # tmp now holds the previous output
        return
    old = final.parent / f".old-{final.name}-{os.getpid()}"
    final.rename(old)
    tmp.rename(final)
    shutil.rmtree(old, ignore_errors=True)


def _clean_leftovers(suite_dir: Path) -> None:
    """Remove temporary folders of runs that were interrupted (we hold the lock)."""
    for p in suite_dir.glob(".tmp-*"):
        shutil.rmtree(p, ignore_errors=True)
    for p in suite_dir.glob(".old-*"):
        shutil.rmtree(p, ignore_errors=True)


# -- kernel -------------------------------------------------------------------------------


def choose_kernel(requested: str) -> tuple[str, bool]:
    """``(kernel name, is_fallback)``: ``requested`` if installed, else ipykernel's python3.

    jupyter_client runs a ``python3`` kernelspec whose command is ``python`` with the
    current interpreter, so the fallback always uses this environment.
    """
    from jupyter_client.kernelspec import KernelSpecManager

    specs = KernelSpecManager().find_kernel_specs()
    if requested in specs:
        return requested, False
    return FALLBACK_KERNEL, True


def _kernel_manager_class(cwd: Path | None = None):
    """A kernel manager class that starts kernels with :data:`KERNEL_ENV` in ``cwd``.

    The working directory goes to the kernel process only: papermill's own ``cwd``
    option changes the whole process's directory, which threads running notebooks side
    by side must not do.
    """
    import zmq
    from jupyter_client import AsyncKernelManager
    from traitlets import default

    class ReportKernelManager(AsyncKernelManager):
        """Kernels with the report environment and encrypted transport when possible."""

        @default("transport_encryption")
        def _encrypt_default(self) -> str:
            return "auto" if zmq.has("curve") else "disabled"

        _quiet_shutdown = False

        async def shutdown_kernel(self, now: bool = False, restart: bool = False) -> None:
            """Shut down without the SIGINT jupyter_client sends first: the shutdown
            request follows anyway (a kill if it is not answered), and a kernel that is
            inside a message handler when the signal lands logs a spurious
            "KeyboardInterrupt caught in kernel" on the report's console."""
            self._quiet_shutdown = True
            try:
                await super().shutdown_kernel(now=now, restart=restart)
            finally:
                self._quiet_shutdown = False

        async def _async_interrupt_kernel(self) -> None:
            if not self._quiet_shutdown:
                await super()._async_interrupt_kernel()

        async def _async_pre_start_kernel(self, **kw: Any):
            env = dict(kw.pop("env", None) or os.environ)
            env.update(KERNEL_ENV)
            kw["env"] = env
            if cwd is not None:
                kw["cwd"] = str(cwd)
            return await super()._async_pre_start_kernel(**kw)

    return ReportKernelManager


# -- data checks --------------------------------------------------------------------------


def _now_iso() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


def _ts(x: datetime | None) -> str | None:
    return None if x is None else x.astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC")


def data_info(
    wh_path: str | Path,
    as_of: datetime,
    start: datetime,
    end: datetime,
    stale_after_hours: float | None,
) -> dict[str, Any]:
    """Row counts and freshness of the warehouse at the cut-off ``as_of`` (read-only)."""
    from ..warehouse.connection import Warehouse

    with Warehouse(wh_path, read_only=True) as wh:
        n, first, last, before, in_period, newest = wh.execute(
            """SELECT count(*), min(timestamp), max(timestamp),
                      count(*) FILTER (WHERE timestamp < $as_of),
                      count(*) FILTER (WHERE timestamp >= $start AND timestamp < $end
                                       AND timestamp < $as_of),
                      max(timestamp) FILTER (WHERE timestamp < $as_of)
               FROM events""",
            {"as_of": as_of, "start": start, "end": end},
        ).fetchall()[0]
        persons = wh.scalar("SELECT count(*) FROM persons")
        quarantine = wh.scalar("SELECT count(*) FROM quarantine")
        loads, last_load = wh.execute("SELECT count(*), max(finished_at) FROM loads").fetchall()[0]
    lag = None if newest is None else (as_of - newest).total_seconds() / 3600
    stale = stale_after_hours is not None and (lag is None or lag > stale_after_hours)
    return {
        "warehouse": str(wh_path),
        "first_event": _ts(first),
        "last_event": _ts(last),
        "newest_event": _ts(newest),
        "lag_hours": None if lag is None else round(lag, 2),
        "stale_after_hours": stale_after_hours,
        "stale": bool(stale),
        "last_load": str(last_load) if last_load is not None else None,
        "row_counts": {
            "events": int(n),
            "events_before_as_of": int(before),
            "events_in_period": int(in_period),
            "persons": int(persons or 0),
            "quarantine": int(quarantine or 0),
            "loads": int(loads or 0),
        },
    }


# -- one notebook --------------------------------------------------------------------------


def _jsonable(x: Any) -> Any:
    return json.loads(json.dumps(x, default=str))


def _parse_iso(s: Any) -> datetime | None:
    try:
        return datetime.fromisoformat(str(s))
    except (TypeError, ValueError):
        return None


def execute_notebook(
    nb: NotebookSpec,
    parameters: dict[str, Any],
    out_dir: Path,
    *,
    kernel: str,
    timeout: int | None,
    progress: bool | dict,
) -> dict[str, Any]:
    """Run one notebook with papermill into ``out_dir/<name>.ipynb``; never raises.

    Returns its manifest entry: status, timings (kernel start, execution), error.
    """
    import papermill as pm

    entry: dict[str, Any] = {
        "name": nb.name,
        "source": str(nb.path),
        "status": "failed",
        "started_at": _now_iso(),
        "outputs": {"notebook": f"{nb.name}.ipynb"},
    }
    out = out_dir / f"{nb.name}.ipynb"
    t0 = time.monotonic()
    wall0 = datetime.now(UTC)
    try:
        declared = set(pm.inspect_notebook(str(nb.path)))
        entry["parameters"] = _jsonable({k: v for k, v in parameters.items() if k in declared})
        entry["ignored_parameters"] = sorted(set(nb.parameters) - declared)
        pm.execute_notebook(
            str(nb.path),
            str(out),
            parameters=entry["parameters"],
            kernel_name=kernel,
            progress_bar=progress,
            request_save_on_cell_execute=False,
            execution_timeout=timeout,
            start_timeout=120,
            kernel_manager_class=_kernel_manager_class(out_dir),
        )
        entry["status"] = "ok"
    except Exception as exc:  # noqa: BLE001 - one notebook must not stop the others
        entry["error"] = _error_of(out, exc)
    entry["duration_s"] = round(time.monotonic() - t0, 3)
    entry["kernel_start_s"] = _kernel_start(out, wall0)
    if entry["kernel_start_s"] is not None:
        entry["execute_s"] = round(entry["duration_s"] - entry["kernel_start_s"], 3)
    return entry


def _kernel_start(out: Path, wall0: datetime) -> float | None:
    """Seconds from the call to the first cell's start (kernel launch and connection)."""
    import nbformat

    try:
        nb = nbformat.read(str(out), as_version=4)
    except Exception:  # noqa: BLE001
        return None
    for cell in nb.cells:
        t = _parse_iso((cell.metadata.get("papermill") or {}).get("start_time"))
        if cell.cell_type == "code" and t is not None:
            return round((t - wall0).total_seconds(), 3)
    return None


def _error_of(out: Path, exc: BaseException) -> dict[str, Any]:
    import nbformat

    with contextlib.suppress(Exception):
        err = render.notebook_error(nbformat.read(str(out), as_version=4))
        if err:
            return err
    tb = traceback.format_exception(type(exc), exc, exc.__traceback__)
    return {
        "ename": getattr(exc, "ename", None) or type(exc).__name__,
        "evalue": render.error_text(str(getattr(exc, "evalue", None) or exc))[:2000],
        "traceback": [render.error_text(line) for line in "".join(tb).splitlines()][-40:],
        "cell": None,
    }


# -- the run ------------------------------------------------------------------------------


def helper_params(suite: Suite) -> dict[str, Any]:
    """The suite's parameters as the digest and e-mail modules read them.

    The file's top-level keys, with the common notebook parameters (``filters``,
    ``thresholds``, ``targets``) lifted to the top and ``alerts`` taken from
    ``thresholds.alerts`` when the file has no top-level ``alerts``.
    """
    p = {**suite.raw, **suite.parameters}
    p.update(suite=suite.name, title=suite.title, period=suite.period, timezone=suite.timezone)
    th = p.get("thresholds")
    if "alerts" not in p and isinstance(th, dict) and th.get("alerts"):
        p["alerts"] = th["alerts"]
    return _jsonable(p)


class _Printer:
    def __init__(self, quiet: bool) -> None:
        self.quiet = quiet

    def __call__(self, msg: str) -> None:
        if not self.quiet:
            print(f"[run] {msg}", file=sys.stderr, flush=True)


def run_suite(
    params_file: str | Path,
    *,
    as_of: str | date | None = None,
    only: Sequence[str] | None = None,
    send_email: bool = True,
    reports_dir: str | Path | None = None,
    warehouse: str | Path | None = None,
    progress: bool | None = None,
    quiet: bool = False,
    now: datetime | None = None,
) -> RunResult:
    """Run a suite (see the module docstring). Never raises for notebook or data errors."""
    say = _Printer(quiet)
    _headless_matplotlib()
    try:
        suite = load_suite(params_file)
        day = parse_as_of(as_of or suite.as_of or suite.default_as_of(now))
        chosen = {suite.notebook(n).name for n in only or ()}
        selected = [nb for nb in suite.notebooks if not only or nb.name in chosen]
    except SuiteError as exc:
        say(f"error: {exc}")
        return RunResult(EXIT_UNUSABLE, str(exc))
    root = Path(reports_dir or suite.reports_dir or "reports")
    suite_dir = root / suite.name
    from ..warehouse.connection import held_for_run
    from ..warehouse.locking import WarehouseBusy

    try:
        # the warehouse is held for reading through the run: one state of the data
        with (
            suite_lock(suite_dir, suite.name),
            held_for_run(warehouse or suite.warehouse, purpose=f"{suite.name} report run"),
        ):
            return _run_locked(
                suite, day, selected, root, suite_dir, send_email, warehouse, progress, say
            )
    except RunLocked as exc:
        say(f"error: {exc}")
        return RunResult(EXIT_LOCKED, str(exc))
    except (WarehouseBusy, config.SettingError) as exc:  # a load held it too long; a bad setting
        say(f"error: {exc}")
        _maybe_failure_email(suite, helper_params(suite), None, str(exc), send_email, say)
        return RunResult(EXIT_UNUSABLE, str(exc))


def _headless_matplotlib() -> None:
    """The digest draws charts in a thread: use Agg unless we run inside IPython."""
    ipython = sys.modules.get("IPython")
    if ipython is not None and getattr(ipython, "get_ipython", lambda: None)() is not None:
        return
    import matplotlib

    matplotlib.use("Agg")


def _period(suite: Suite, day: date) -> tuple[datetime, date, date]:
    zone = ZoneInfo(suite.timezone)
    cut = datetime.combine(day, dtime(0), tzinfo=zone)
    start, end = last_complete_period(cut, suite.period, suite.timezone)
    return cut, start, end


def _run_locked(
    suite: Suite,
    day: date,
    selected: list[NotebookSpec],
    root: Path,
    suite_dir: Path,
    send_email: bool,
    warehouse: str | Path | None,
    progress: bool | None,
    say: Callable[[str], None],
) -> RunResult:
    t_start = time.monotonic()
    started_at = _now_iso()
    cut, start, end = _period(suite, day)
    label = f"{suite.period} {start:%Y-%m-%d} → {(end - timedelta(days=1)):%Y-%m-%d}"
    hparams = helper_params(suite)
    from ..warehouse.engines import absolute_address, one_process_at_a_time

    wh_path = absolute_address(warehouse or suite.warehouse)
    # chdb: one process at a time opens the data, so the notebooks run one after another
    # and the digest after them, instead of side by side
    one_at_a_time = one_process_at_a_time(wh_path)
    say(f"{suite.title}: {label} ({suite.timezone}), cut-off {day}, {len(selected)} notebook(s)")

    # -- data ------------------------------------------------------------------------------
    zone = ZoneInfo(suite.timezone)
    try:
        data = data_info(
            wh_path,
            cut,
            datetime.combine(start, dtime(0), tzinfo=zone),
            datetime.combine(end, dtime(0), tzinfo=zone),
            suite.stale_after_hours,
        )
    except Exception as exc:  # noqa: BLE001 - missing or locked warehouse
        msg = f"warehouse {wh_path}: {type(exc).__name__}: {exc}"
        say(f"error: {msg}")
        _maybe_failure_email(suite, hparams, None, msg, send_email, say)
        return RunResult(EXIT_UNUSABLE, msg)
    stale = render.stale_message(data)
    rc = data["row_counts"]
    say(
        f"warehouse {wh_path}: {rc['events']:,} events, newest before the cut-off "
        f"{data['newest_event'] or '—'}" + (" — STALE" if stale else "")
    )

    kernel, fallback = choose_kernel(suite.kernel_name)
    if fallback:
        say(f"kernel {suite.kernel_name!r} is not installed; using {kernel!r} (this interpreter)")

    # -- folders ----------------------------------------------------------------------------
    _clean_leftovers(suite_dir)
    final = suite_dir / day.isoformat()
    tmp = suite_dir / f".tmp-{day.isoformat()}-{os.getpid()}"
    tmp.mkdir(parents=True)
    try:
        # The digest needs no notebook: it is built in a thread while the kernels run
        # (one process at a time: after them).
        with ThreadPoolExecutor(max_workers=1, thread_name_prefix="digest") as side:
            digest_args = (suite, hparams, wh_path, cut, tmp, say)
            digest_job = None if one_at_a_time else side.submit(_digest, *digest_args)
            entries = _execute_all(
                suite, selected, day, wh_path, kernel, tmp, stale, progress, say,
                concurrency=1 if one_at_a_time else suite.concurrency,
            )  # fmt: skip
            entries = _with_carried_over(suite, entries, selected, final, tmp)
            t_exec_done = time.monotonic()
            digest = digest_job.result() if digest_job else _digest(*digest_args)
        failed = [e["name"] for e in entries if e["status"] == "failed"]
        status = "failed" if failed else "ok"
        manifest = RunManifest(
            suite=suite.name,
            title=suite.title,
            status=status,
            failed=failed,
            as_of=day.isoformat(),
            as_of_moment=cut.isoformat(),
            period=suite.period,
            period_start=start.isoformat(),
            period_end=end.isoformat(),
            period_label=label,
            timezone=suite.timezone,
            started_at=started_at,
            finished_at=_now_iso(),
            version=__version__,
            python=sys.version.split()[0],
            kernel={"name": kernel, "requested": suite.kernel_name, "fallback": fallback},
            parameters_file=str(suite.path),
            parameters=_jsonable(hparams),
            only=[nb.name for nb in selected] if len(selected) < len(suite.notebooks) else None,
            data=data,
            freshness=(
                f"newest event {data['newest_event'] or '—'}"
                + (
                    ""
                    if data["lag_hours"] is None
                    else f", {data['lag_hours']:.1f} h before the cut-off"
                )
                + (" (stale)" if stale else "")
            ),
            stale_message=stale,
            notebooks=entries,
            digest={k: v for k, v in digest.items() if k != "slack"},
            email=None,
            slack=digest.get("slack"),
            timings=_timings(entries, t_start, t_exec_done, digest),
        )
        write_manifest(tmp, manifest)
        render.render_run_index(manifest, tmp)
        replace_dir(tmp, final)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    with _index_lock(root):
        render.render_reports_index(root)

    manifest.email = _send(suite, hparams, final, manifest, send_email, say)
    manifest.record_delivery(by="run", at=_now_iso())
    manifest.timings["total_s"] = round(time.monotonic() - t_start, 3)
    manifest.finished_at = _now_iso()
    write_manifest(final, manifest)
    _render_indexes(manifest, final, root)
    for line in manifest.delivery_errors:
        say(f"DELIVERY FAILED: {line}")
    t = manifest.timings
    say(
        f"{'done' if status == 'ok' else 'FAILED'} in {t['total_s']:.1f} s; summed over "
        f"notebooks: kernel start {t['kernel_start_s']:.1f} s, execution "
        f"{t['execute_s']:.1f} s, rendering {t['render_s']:.1f} s; digest {t['digest_s']:.1f} s"
    )
    say(f"report: {final / 'index.html'}   all runs: {root / 'index.html'}")
    resend = f"re-send with: zantara-nb email {final}"
    if status != "ok":
        extra = f"; delivery failed too ({resend})" if manifest.delivery_failed else ""
        return RunResult(EXIT_FAILED, f"failed: {', '.join(failed)}{extra}", final, manifest)
    if manifest.delivery_failed:
        msg = (
            f"the reports were written, but delivery failed: "
            f"{'; '.join(manifest.delivery_errors)} ({resend})"
        )
        return RunResult(EXIT_DELIVERY, msg, final, manifest)
    return RunResult(EXIT_OK, f"{len(entries)} notebook(s) ran", final, manifest)


def _render_indexes(manifest: RunManifest, run_dir: Path, root: Path) -> None:
    """The run's ``index.html`` and ``reports/index.html`` again (delivery changed)."""
    render.render_run_index(manifest, run_dir)
    with _index_lock(root):
        render.render_reports_index(root)


def _execute_all(
    suite: Suite,
    selected: list[NotebookSpec],
    day: date,
    wh_path: str,
    kernel: str,
    tmp: Path,
    stale: str | None,
    progress: bool | None,
    say: Callable[[str], None],
    *,
    concurrency: int,
) -> list[dict[str, Any]]:
    """Execute the notebooks ``concurrency`` at a time; render each as it finishes."""
    bars = sys.stderr.isatty() if progress is None else progress
    workers = min(concurrency, len(selected))
    results: dict[str, dict[str, Any]] = {}
    with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="notebook") as pool:
        futures: dict[Future, NotebookSpec] = {}
        for i, nb in enumerate(selected):
            params = suite.parameters_for(nb, as_of=day, warehouse=wh_path)
            bar: bool | dict = (
                {"desc": f"{nb.name:<24}", "position": i, "leave": True} if bars else False
            )
            if not bars:
                say(f"start {nb.name}")
            fut = pool.submit(
                execute_notebook,
                nb,
                params,
                tmp,
                kernel=kernel,
                timeout=suite.cell_timeout_seconds,
                progress=bar,
            )
            futures[fut] = nb
        pending = set(futures)
        try:
            while pending:
                done, pending = wait(pending, return_when=FIRST_COMPLETED)
                for fut in done:
                    nb = futures[fut]
                    entry = fut.result()
                    _render_entry(suite, entry, tmp, stale)
                    results[nb.name] = entry
                    mark = "ok" if entry["status"] == "ok" else "FAILED"
                    err = entry.get("error") or {}
                    detail = (
                        f"  {err.get('ename')}: {str(err.get('evalue', ''))[:200]}" if err else ""
                    )
                    say(f"{mark:6} {nb.name} in {entry['duration_s']:.1f} s{detail}")
        except BaseException:  # Ctrl-C: start nothing more; running notebooks finish
            pool.shutdown(wait=False, cancel_futures=True)
            raise
    return [results[nb.name] for nb in selected]


def _render_entry(suite: Suite, entry: dict[str, Any], tmp: Path, stale: str | None) -> None:
    t0 = time.monotonic()
    out = tmp / entry["outputs"]["notebook"]
    err = entry.get("error")
    try:
        if out.exists() and out.stat().st_size:
            files = render.render_notebook(
                out, tmp, name=entry["name"], title=suite.title, stale=stale, error=err
            )
            if pdf_wanted(suite, entry["name"]) and entry["status"] == "ok":
                files.update(_write_pdf(suite, entry, out, tmp))
        else:
            entry["outputs"]["notebook"] = None
            files = render.render_error_page(
                tmp, name=entry["name"], title=suite.title, error=err or {}, stale=stale
            )
    except Exception as exc:  # noqa: BLE001 - a broken page must not stop the run
        entry["status"] = "failed"
        entry["error"] = entry.get("error") or _error_of(Path("/nonexistent"), exc)
        files = render.render_error_page(
            tmp, name=entry["name"], title=suite.title, error=entry["error"], stale=stale
        )
    entry["outputs"].update(files)
    entry["render_s"] = round(time.monotonic() - t0, 3)


def pdf_wanted(suite: Suite, name: str) -> bool:
    """``pdf:`` of the parameters file: ``true`` (every notebook) or a list of names."""
    want = suite.raw.get("pdf")
    return want is True or (isinstance(want, list) and name in [str(w) for w in want])


def _write_pdf(suite: Suite, entry: dict[str, Any], nb_path: Path, tmp: Path) -> dict[str, str]:
    """``<name>.pdf`` of the reader report; a failure marks the notebook failed (pages stay)."""
    from .pdf import notebook_pdf

    t0 = time.monotonic()
    name = f"{entry['name']}.pdf"
    try:
        notebook_pdf(nb_path, tmp / name, title=f"{suite.title} · {entry['name']}",
                     footer=suite.title)  # fmt: skip
    except Exception as exc:  # noqa: BLE001 - recorded; the run goes on
        entry["status"] = "failed"
        entry["error"] = _error_of(Path("/nonexistent"), exc)
        return {}
    finally:
        entry["pdf_s"] = round(time.monotonic() - t0, 3)
    return {"pdf": name}


def _with_carried_over(
    suite: Suite, entries: list[dict], selected: list[NotebookSpec], final: Path, tmp: Path
) -> list[dict]:
    """With ``--only``: keep the other notebooks' pages from the previous output."""
    if len(selected) == len(suite.notebooks):
        return entries
    ran = {e["name"]: e for e in entries}
    old = read_manifest(final)
    previous = {e["name"]: e for e in (old.notebooks if old else [])}
    out = []
    for nb in suite.notebooks:
        if nb.name in ran:
            out.append(ran[nb.name])
            continue
        e = previous.get(nb.name)
        if e is None:
            out.append(
                {"name": nb.name, "source": str(nb.path), "status": "not run", "outputs": {}}
            )
            continue
        for f in (e.get("outputs") or {}).values():
            if f and (final / f).is_file():
                shutil.copy2(final / f, tmp / f)
        out.append({**e, "carried_over": True})
    return out


def _digest(
    suite: Suite, hparams: dict, wh_path: str, cut: datetime, tmp: Path, say
) -> dict[str, Any]:
    t0 = time.monotonic()
    info: dict[str, Any] = {"status": "ok", "file": "digest.json"}
    try:
        from ..warehouse.connection import Warehouse
        from .digest import build_digest

        with Warehouse(wh_path, read_only=True) as wh:
            d = build_digest(
                wh, as_of=cut, period=suite.period, tz=suite.timezone, out_dir=tmp, params=hparams
            )
        info["slack"] = d.alerts_delivery or None
    except Exception as exc:  # noqa: BLE001 - recorded; the run still renders
        info = {"status": "failed", "error": render.error_text(f"{type(exc).__name__}: {exc}")}
        say(f"digest failed: {info['error']}")
    info["duration_s"] = round(time.monotonic() - t0, 3)
    return info


def _timings(entries: list[dict], t_start: float, t_exec_done: float, digest: dict) -> dict:
    ran = [e for e in entries if not e.get("carried_over") and "duration_s" in e]
    return {
        "total_s": round(time.monotonic() - t_start, 3),
        "notebooks_wall_s": round(t_exec_done - t_start, 3),
        "kernel_start_s": round(sum(e.get("kernel_start_s") or 0 for e in ran), 3),
        "execute_s": round(sum(e.get("execute_s") or e.get("duration_s", 0) for e in ran), 3),
        "render_s": round(sum(e.get("render_s") or 0 for e in ran), 3),
        "digest_s": digest.get("duration_s", 0.0),
    }


# -- e-mail -------------------------------------------------------------------------------


def email_configured(addresses: Sequence[str]) -> bool:
    """True when there are recipients and ``ZANTARA_SMTP_HOST`` is set."""
    return bool(addresses) and bool(os.environ.get("ZANTARA_SMTP_HOST"))


def _result_dict(res: Any) -> dict[str, Any]:
    if res is None:
        return {"sent": False}
    if hasattr(res, "to_dict"):
        return _jsonable(res.to_dict())
    d = getattr(res, "__dict__", None)
    return _jsonable(d) if isinstance(d, dict) else {"result": str(res)}


def _send(suite: Suite, hparams: dict, final: Path, manifest: RunManifest, send_email: bool, say):
    kind = "run" if manifest.ok else "failure"
    to = suite.email_to if kind == "run" else suite.email_failure_to
    if not send_email:
        return {"kind": kind, "skipped": "--no-email"}
    if not email_configured(to):
        why = "no recipients" if not to else "ZANTARA_SMTP_HOST is not set"
        return {"kind": kind, "skipped": why}
    try:
        from . import email

        if kind == "run":
            res = email.send_run_email(final, hparams)
        else:
            failed = ", ".join(manifest.failed)
            res = email.send_failure_email(final, hparams, f"notebooks failed: {failed}")
        out = {"kind": kind, **_result_dict(res)}
    except Exception as exc:  # noqa: BLE001 - sending never fails the run
        out = {"kind": kind, "ok": False, "error": f"{type(exc).__name__}: {exc}"}
    ok = out.get("ok", out.get("sent"))
    say(f"e-mail ({kind}) to {', '.join(to)}: {'sent' if ok else 'NOT sent'}"
        + (f" ({out.get('error')})" if out.get("error") else ""))  # fmt: skip
    return out


def _maybe_failure_email(suite: Suite, hparams: dict, run_dir, error: str, send_email: bool, say):
    if not send_email or not email_configured(suite.email_failure_to):
        return None
    try:
        from . import email

        res = email.send_failure_email(run_dir, hparams, error)
        return _result_dict(res)
    except Exception as exc:  # noqa: BLE001
        say(f"failure e-mail not sent: {type(exc).__name__}: {exc}")
        return None


# -- delivering again ----------------------------------------------------------------------


def redeliver(
    run_dir: str | Path,
    params: dict[str, Any] | None = None,
    *,
    by: str = "zantara-nb email",
    recipients: Sequence[str] | None = None,
    only_failed: bool = False,
    say: Callable[[str], None] | None = None,
) -> RunResult:
    """Deliver a finished run again and record the attempt in its manifest and index.

    ``zantara-nb email RUN`` (``only_failed=False``): the report e-mail, to ``email.to``
    (or ``recipients``). The scheduler (``only_failed=True``): whatever failed, the
    e-mail of the kind that failed (report or failure notice) and the Slack post of the
    firing alerts. A send to other ``recipients`` is recorded as an attempt but leaves
    the run's delivery status as it was. Exit code 0 when everything attempted went out,
    4 when not, 2 when ``run_dir`` is not a run folder.
    """
    from . import email
    from .manifest import delivery_state

    say = say or (lambda msg: None)
    run = Path(run_dir)
    m = read_manifest(run)
    if m is None:
        return RunResult(EXIT_UNUSABLE, f"{run}: no readable manifest.json (not a run folder)")
    hparams = dict(params or m.parameters or {})
    now = _now_iso()
    email_failed = delivery_state("e-mail", m.email) == "failed"
    slack_failed = delivery_state("Slack", m.slack) == "failed"
    attempted: list[str] = []
    errors: list[str] = []
    if not only_failed or email_failed:
        kind = (m.email or {}).get("kind") if only_failed else "run"
        if kind == "failure":
            res = email.send_failure_email(
                run, hparams, f"notebooks failed: {', '.join(m.failed)}", recipients=recipients
            )
        else:
            res = email.send_run_email(run, hparams, recipients=recipients)
        out = {"kind": kind or "run", **_result_dict(res)}
        say(str(res))
        for w in res.warnings if hasattr(res, "warnings") else ():
            say(f"warning: {w}")
        if not res.ok:
            errors.append(f"e-mail: {res.error}")
        if recipients is not None:
            m.delivery_attempts.append(
                {"at": now, "by": by, "channel": "e-mail", "kind": out["kind"], "ok": res.ok,
                 "error": None if res.ok else res.error, "to": list(res.recipients)}
            )  # fmt: skip
        else:
            m.email = out
            attempted.append("e-mail")
    if only_failed and slack_failed:
        m.slack = _repost_slack(run)
        attempted.append("Slack")
        if not m.slack.get("ok"):
            errors.append(f"Slack: {m.slack.get('error')}")
        say(f"Slack: {'sent' if m.slack.get('ok') else 'NOT sent: ' + str(m.slack.get('error'))}")
    if attempted:
        m.record_delivery(by=by, at=now, channels=tuple(attempted))
    write_manifest(run, m)
    _render_indexes(m, run, run.parent.parent)
    if errors:
        return RunResult(EXIT_DELIVERY, "; ".join(errors), run, m)
    return RunResult(EXIT_OK, "delivered", run, m)


def _repost_slack(run: Path) -> dict[str, Any]:
    """Post the firing alerts of a run's digest to the Slack webhook again."""
    import pandas as pd

    from ..insights.alerts import AlertResult, send_slack
    from .digest import Digest

    try:
        d = Digest.load(run)
        res = AlertResult(name="alerts", title="Alerts", df=pd.DataFrame(d.alerts))
        if "status" not in res.df:
            res.df["status"] = []
        return _result_dict(send_slack(res))
    except Exception as exc:  # noqa: BLE001 - recorded like any other failure
        return {"attempted": True, "ok": False, "error": f"{type(exc).__name__}: {exc}"}
