"""A total time limit for one network delivery (an e-mail, a webhook post).

A socket timeout bounds each read, not the whole exchange: a server that accepts the
connection and then answers one byte every few seconds never trips it, and the caller
waits for ever. :class:`Deadline` bounds the whole exchange: every socket operation gets
at most the time that is left (:meth:`Deadline.timeout`), and a watchdog timer shuts the
connection's socket down when the deadline passes (:meth:`Deadline.watch`), which ends
whatever read or write is blocked. The caller then sees an error, and
:attr:`Deadline.expired` says it was the deadline.

>>> dl = Deadline(60)
>>> conn = http.client.HTTPConnection(host, port, timeout=dl.timeout(10))
>>> with dl.watch(lambda: conn.sock):
...     conn.request("POST", "/hook", body)
...     answer = conn.getresponse().read()

Used by :mod:`zantara_nb.reporting.email` (SMTP) and :mod:`zantara_nb.insights.alerts`
(Slack). Standard library only.
"""

from __future__ import annotations

import contextlib
import socket
import threading
import time
from collections.abc import Callable, Iterator


class Deadline:
    """``seconds`` from now; see the module docstring."""

    def __init__(self, seconds: float) -> None:
        self.seconds = float(seconds)
        self._end = time.monotonic() + self.seconds
        self.expired = False

    def remaining(self) -> float:
        """Seconds left (0 when the deadline has passed)."""
        return max(self._end - time.monotonic(), 0.0)

    def timeout(self, per_operation: float | None = None) -> float:
        """A socket timeout: ``per_operation``, but never past the deadline."""
        left = max(self.remaining(), 0.01)
        return left if per_operation is None else min(float(per_operation), left)

    def check(self) -> None:
        """Raise :class:`TimeoutError` when the deadline has passed."""
        if self.expired or self.remaining() <= 0:
            self.expired = True
            raise TimeoutError(self.message())

    def message(self) -> str:
        return f"no complete answer within the {self.seconds:g} s deadline"

    @contextlib.contextmanager
    def watch(self, get_socket: Callable[[], socket.socket | None]) -> Iterator[Deadline]:
        """While inside, shut ``get_socket()`` down when the deadline passes."""

        def abort() -> None:
            self.expired = True
            sock = get_socket()
            if sock is not None:
                with contextlib.suppress(OSError, ValueError):
                    # the plain socket call, also for an SSL socket: it wakes a blocked
                    # read in another thread without touching the TLS state
                    socket.socket.shutdown(sock, socket.SHUT_RDWR)

        timer = threading.Timer(self.remaining(), abort)
        timer.daemon = True
        timer.start()
        try:
            yield self
        finally:
            timer.cancel()


__all__ = ["Deadline"]
