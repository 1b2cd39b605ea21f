"""Who may use a warehouse file now, and who waits: readers share it, one writer has it.

An embedded engine such as DuckDB lets many processes read a file, or one process
write it, never both; a process that finds the file taken fails at once. The
warehouse therefore never keeps a file open while idle: it holds the file only while a
statement or a metric runs (:meth:`FileLock.acquire`), and waits its turn here, with a
bounded timeout, saying who is in the way.

Beside ``data/zantara.duckdb`` lives ``data/zantara.duckdb.locks/``:

``data``
    an advisory lock (``flock``): shared by each reader while it reads, exclusive for
    the writer while it writes.
``queue``
    exclusive for a writer from the moment it asks for the file until it is done;
    readers pass through it (shared, for an instant) before taking ``data``, so a
    writer that waits for readers is not overtaken by new ones, and writers queue up
    one behind the other.
``<pid>-<n>.json``
    who holds or waits (process id, host, command, what for, since when), for the
    messages; removed on release, ignored once the process is gone.

A report run holds the file for reading for the whole run (its numbers all come from
one state of the data) and tells its notebook kernels so through
:data:`RUN_HOLD_ENV`: they read without queueing behind a writer that waits for the run.

A chdb data directory (one process at a time may open it) uses the same files beside it
(``data/zantara.chdb.locks/``): a process holds ``data`` exclusively (mode ``open``) for
as long as it has the directory open; a report run takes it for the whole run.

The locks are advisory and local to one machine (``flock``); the engine's own lock
still guards against programs that do not use them (they are waited for too).
"""

from __future__ import annotations

import contextlib
import itertools
import json
import os
import socket
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from .. import config

try:  # POSIX; elsewhere only the engine's own lock applies
    import fcntl
except ImportError:  # pragma: no cover - Windows
    fcntl = None  # type: ignore[assignment]

#: Environment variable: how long to wait for the warehouse, in seconds.
TIMEOUT_ENV = "ZANTARA_LOCK_TIMEOUT"
#: Default wait: long enough for a large load or a report run to finish.
DEFAULT_TIMEOUT = 600.0
#: Set by a report run for its kernels: the warehouse file the run holds for reading.
RUN_HOLD_ENV = "ZANTARA_RUN_HOLDS"
#: Seconds of waiting before the first "waiting for ..." message.
NOTICE_AFTER = 1.0

READ, WRITE = "read", "write"
#: Exclusive like a writer, for an engine whose data one process at a time may open (chdb).
OPEN = "open"
_DOING = {READ: "reading", WRITE: "writing", OPEN: "has it open", "queue": "waiting to write"}
_WANT = {READ: "read", WRITE: "write", OPEN: "open"}
_SEQ = itertools.count(1)


class WarehouseBusy(RuntimeError):
    """The warehouse stayed held by others for longer than the timeout."""


def wait_timeout(explicit: float | None = None) -> float:
    """Seconds to wait for the warehouse: ``explicit``, else ``$ZANTARA_LOCK_TIMEOUT``,
    else :data:`DEFAULT_TIMEOUT`; a value that is not a number of seconds is refused."""
    if explicit is not None:
        value, source = explicit, "timeout"
    else:
        value, source = os.environ.get(TIMEOUT_ENV), TIMEOUT_ENV
        if value is None or not str(value).strip():
            return DEFAULT_TIMEOUT
    try:
        seconds = float(value)
    except (TypeError, ValueError):
        seconds = float("nan")
    if not seconds >= 0:  # also refuses NaN
        raise config.SettingError(
            f"{source}={value!r}: not a number of seconds (e.g. {TIMEOUT_ENV}=600)"
        )
    return seconds


@dataclass(frozen=True)
class Holder:
    """A process that holds the warehouse (or waits to write it)."""

    pid: int
    host: str
    mode: str  # read | write | queue
    since: datetime
    command: str
    purpose: str = ""

    def describe(self, now: datetime | None = None) -> str:
        now = now or datetime.now(UTC)
        what = f"{self.purpose}: " if self.purpose else ""
        host = "" if self.host == socket.gethostname() else f" on {self.host}"
        age = _age((now - self.since).total_seconds())
        return (
            f"pid {self.pid}{host} ({what}{self.command}) {_DOING.get(self.mode, self.mode)} "
            f"since {self.since:%Y-%m-%d %H:%M:%S} UTC ({age})"
        )


def _age(seconds: float) -> str:
    s = max(0, int(seconds))
    if s < 120:
        return f"{s} s"
    if s < 7200:
        return f"{s // 60} min"
    return f"{s / 3600:.1f} h"


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # another user's process
        return True
    return True


def _command() -> str:
    argv = list(sys.argv) or ["python"]
    exe = Path(argv[0]).name
    if "ipykernel" in argv[0] or "ipykernel" in " ".join(argv[1:3]):
        text = "a Jupyter kernel"
    elif exe in {"-c", ""}:
        text = f"python {exe or '(interactive)'}".strip()
    else:
        text = " ".join([exe, *argv[1:]])
    return text if len(text) <= 120 else text[:117] + "..."


class _Held:
    """One acquired hold: release it exactly once."""

    def __init__(self, lock: FileLock, mode: str, record: Path | None) -> None:
        self.lock, self.mode, self.record = lock, mode, record

    def release(self) -> None:
        lock, self.lock = self.lock, None
        if lock is not None:
            lock._release(self)


class FileLock:
    """The locks of one warehouse file (see the module docstring).

    ``notify`` receives the "waiting for ..." messages (default: standard error);
    ``timeout`` overrides :func:`wait_timeout`.
    """

    def __init__(
        self,
        target: Path,
        *,
        timeout: float | None = None,
        notify: Callable[[str], None] | None = None,
    ) -> None:
        self.target = Path(target)
        self.dir = Path(str(self.target) + ".locks")
        self.timeout = timeout
        self.notify = notify or _to_stderr
        self._fds: dict[str, int] = {}
        self._usable = fcntl is not None

    # -- files ----------------------------------------------------------------------------

    def _fd(self, name: str) -> int | None:
        if not self._usable:
            return None
        fd = self._fds.get(name)
        if fd is None:
            try:
                self.dir.mkdir(parents=True, exist_ok=True)
                fd = os.open(self.dir / name, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o666)
            except OSError:
                # a read-only folder: no advisory locks; the engine's own lock still applies
                self._usable = False
                return None
            self._fds[name] = fd
        return fd

    def _write_record(self, mode: str, purpose: str, record: Path | None = None) -> Path | None:
        if not self._usable:
            return None
        record = record or self.dir / f"{os.getpid()}-{next(_SEQ)}.json"
        data = {
            "pid": os.getpid(),
            "host": socket.gethostname(),
            "mode": mode,
            "since": datetime.now(UTC).isoformat(timespec="seconds"),
            "command": _command(),
            "purpose": purpose,
        }
        tmp = record.with_suffix(".tmp")
        try:
            tmp.write_text(json.dumps(data), encoding="utf-8")
            os.replace(tmp, record)
        except OSError:
            return None
        return record

    def holders(self) -> list[Holder]:
        """The live processes holding the file or waiting to write it (not this one's
        own holds), oldest first; records of processes that are gone are removed."""
        out: list[Holder] = []
        try:
            entries = list(self.dir.glob("*.json"))
        except OSError:
            return out
        host = socket.gethostname()
        for f in entries:
            try:
                d = json.loads(f.read_text(encoding="utf-8"))
                h = Holder(
                    int(d["pid"]),
                    str(d["host"]),
                    str(d["mode"]),
                    datetime.fromisoformat(d["since"]),
                    str(d.get("command") or "?"),
                    str(d.get("purpose") or ""),
                )
            except (OSError, ValueError, KeyError, TypeError):
                continue
            if h.host == host and not _alive(h.pid):
                with contextlib.suppress(OSError):
                    f.unlink()
                continue
            if h.pid == os.getpid() and h.host == host:
                continue
            out.append(h)
        return sorted(out, key=lambda h: h.since)

    # -- acquire / release ----------------------------------------------------------------

    def acquire(self, mode: str, *, purpose: str = "", wait: bool = True) -> _Held:
        """Hold the file for ``mode`` (``"read"`` or ``"write"``); wait for others up to the
        timeout (raise :class:`WarehouseBusy` then, or at once when ``wait`` is false)."""
        if mode not in (READ, WRITE, OPEN):
            raise ValueError(f"mode {mode!r}: use 'read', 'write' or 'open'")
        timeout = wait_timeout(self.timeout) if wait else 0.0
        waiter = _Waiter(self, mode, timeout)
        data = self._fd("data")
        if data is None:
            return _Held(self, mode, None)
        record = None
        queued = False
        try:
            if mode in (WRITE, OPEN):
                queue = self._fd("queue")
                record = self._write_record("queue", purpose)
                waiter.until(queue, fcntl.LOCK_EX, "the writer before")
                queued = True
                waiter.until(data, fcntl.LOCK_EX, "readers")
                record = self._write_record(mode, purpose, record)
            else:
                if not self._run_holds():
                    queue = self._fd("queue")
                    waiter.until(queue, fcntl.LOCK_SH, "a writer")
                    queued = True
                try:
                    waiter.until(data, fcntl.LOCK_SH, "a writer")
                finally:
                    if queued and mode == READ:
                        fcntl.flock(self._fds["queue"], fcntl.LOCK_UN)
                        queued = False
                record = self._write_record(READ, purpose)
        except BaseException:
            if queued:
                fcntl.flock(self._fds["queue"], fcntl.LOCK_UN)
            if record is not None:
                with contextlib.suppress(OSError):
                    record.unlink()
            raise
        waiter.done()
        return _Held(self, mode, record)

    def _run_holds(self) -> bool:
        return held_by_run(self.target)

    def _release(self, held: _Held) -> None:
        if held.record is not None:
            with contextlib.suppress(OSError):
                held.record.unlink()
        if not self._usable:
            return
        fcntl.flock(self._fds["data"], fcntl.LOCK_UN)
        if held.mode in (WRITE, OPEN):
            fcntl.flock(self._fds["queue"], fcntl.LOCK_UN)

    def close(self) -> None:
        """Close the lock files (releases whatever this object still holds)."""
        fds, self._fds = self._fds, {}
        for fd in fds.values():
            with contextlib.suppress(OSError):
                os.close(fd)

    def busy_message(self, mode: str, waited: float, timeout: float) -> str:
        """Why ``mode`` could not be had: who holds the file, how long we waited."""
        who = self.describe_holders() or "another process (no details: an older zantara-nb?)"
        want = _WANT[mode]
        return (
            f"warehouse {self.target} is busy: {who}; gave up waiting to {want} after "
            f"{waited:.1f} s (the limit is {timeout:g} s: set {TIMEOUT_ENV} to wait longer)"
        )

    def describe_holders(self) -> str:
        return "; ".join(h.describe() for h in self.holders())


class _Waiter:
    """Polls one lock until it is free or the deadline passes, saying once why it waits."""

    def __init__(self, lock: FileLock, mode: str, timeout: float) -> None:
        self.lock, self.mode, self.timeout = lock, mode, timeout
        self.t0 = time.monotonic()
        self.said = False

    def until(self, fd: int, how: int, _for: str) -> None:
        delay = 0.005
        while True:
            try:
                fcntl.flock(fd, how | fcntl.LOCK_NB)
                return
            except BlockingIOError:
                pass
            waited = time.monotonic() - self.t0
            if waited >= self.timeout:
                raise WarehouseBusy(self.lock.busy_message(self.mode, waited, self.timeout))
            if not self.said and waited >= min(NOTICE_AFTER, self.timeout):
                self.said = True
                who = self.lock.describe_holders() or "another process"
                want = _WANT[self.mode]
                self.lock.notify(
                    f"waiting to {want} warehouse {self.lock.target}: held by {who} "
                    f"(waiting up to {self.timeout:g} s, {TIMEOUT_ENV})"
                )
            time.sleep(min(delay, max(0.0, self.timeout - waited)))
            delay = min(delay * 2, 0.1)

    def done(self) -> None:
        if self.said:
            self.lock.notify(
                f"warehouse {self.lock.target} free after {time.monotonic() - self.t0:.1f} s; "
                "going ahead"
            )


def _to_stderr(message: str) -> None:
    print(f"zantara-nb: {message}", file=sys.stderr, flush=True)


def held_by_run(target: str | os.PathLike) -> bool:
    """Whether a report run (this process or its parent) holds ``target`` for us."""
    held = os.environ.get(RUN_HOLD_ENV)
    if not held:
        return False
    with contextlib.suppress(OSError):
        mine = os.path.realpath(target)
        return any(os.path.realpath(p) == mine for p in held.split(os.pathsep) if p)
    return False


@contextlib.contextmanager
def run_holds(target: str | os.PathLike):
    """Tell the processes started inside the block (a run's notebook kernels) that this
    process holds ``target`` for reading for them: they read it without queueing behind
    a writer that waits for the run (it would wait for them in turn)."""
    before = os.environ.get(RUN_HOLD_ENV)
    os.environ[RUN_HOLD_ENV] = os.pathsep.join(p for p in (before, os.path.realpath(target)) if p)
    try:
        yield
    finally:
        if before is None:
            os.environ.pop(RUN_HOLD_ENV, None)
        else:
            os.environ[RUN_HOLD_ENV] = before
