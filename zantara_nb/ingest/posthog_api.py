"""PostHog's query API, spoken carefully: one HogQL query in, one page of rows out.

``POST {host}/api/projects/{project_id}/query/`` with
``{"query": {"kind": "HogQLQuery", "query": "SELECT ..."}, "refresh": "force_blocking"}``
and a personal API key (scope *Query Read*) in ``Authorization: Bearer``. The answer is
``{"results": [[...], ...], "columns": [...], "types": [...], "hasMore": ..., ...}``.

What PostHog documents, and what this client does about it:

- **Limits** (per project): 240 query requests a minute, 2,400 an hour, 3 running at once;
  a query over the concurrency quota waits up to 30 s in PostHog's queue and then gets
  a 429 *without* ``Retry-After``. :class:`RateLimiter` keeps every request of this
  process under the first three; a 429 waits ``Retry-After`` when given, else backs off.
- **Retries**: 429, 5xx (504 included), timeouts, dropped connections and bodies cut
  short of their ``Content-Length`` are retried with exponential backoff and full jitter
  (:class:`RetryPolicy`); each attempt counts against the limits.
- **Clear stops** (:class:`PostHogError` subclasses, never retried): 401/403 (the key,
  its scope, or the project), 404 (the project id), a HogQL/ClickHouse error in a 400
  answer (:class:`PostHogQueryError`, PostHog's own message), and a body that is not
  the documented JSON (:class:`PostHogResponseError`).
- **Caching**: query results are cached by PostHog by default; an incremental pull must
  see new rows, so every query is sent with ``refresh: "force_blocking"``.
- **Timestamps**: comparing ``timestamp`` with an ISO string ending in ``Z`` fails in
  PostHog with a ``type_mismatch`` error (PostHog issues 28970 and 47728), and a bare
  string literal is read in the project's time zone. :func:`hogql_ts` writes
  ``toDateTime('YYYY-MM-DD hh:mm:ss.ffffff', 'UTC')``: microseconds kept, zone explicit.
- **Secrets**: the key is read from an environment variable when a request is made, sent
  only in the ``Authorization`` header, and never kept on an object, logged, or put in a
  message (``repr`` and errors name the variable, not its value).
"""

from __future__ import annotations

import http.client
import json
import os
import random
import threading
import time
import urllib.error
import urllib.request
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime

#: PostHog Cloud hosts by region (a self-hosted instance is given by its URL).
HOSTS = {"us": "https://us.posthog.com", "eu": "https://eu.posthog.com"}
#: The environment variable holding the personal API key (Query Read scope).
KEY_ENV = "POSTHOG_PERSONAL_API_KEY"
#: PostHog returns at most this many rows per query.
MAX_ROWS = 50_000


class PostHogError(Exception):
    """The pull cannot go on: the message says why and what to check."""


class PostHogAuthError(PostHogError):
    """401/403: the key is missing, wrong, lacks the Query Read scope, or the project."""


class PostHogQueryError(PostHogError):
    """PostHog refused the HogQL query (a 400 with its message)."""


class PostHogResponseError(PostHogError):
    """The answer is not the documented JSON (or kept failing in transit)."""


class PostHogRetryError(PostHogError):
    """Still failing after every retry (429, 5xx, timeouts)."""


def resolve_host(host: str) -> str:
    """``us``/``eu`` or a URL (a self-hosted instance), without a trailing slash."""
    h = HOSTS.get(host.strip().lower(), host.strip())
    if not h.startswith(("http://", "https://")):
        raise ValueError(f"PostHog host {host!r}: give 'us', 'eu' or a URL (https://...)")
    return h.rstrip("/")


def hogql_ts(moment: datetime) -> str:
    """An instant as a HogQL expression PostHog compares with ``timestamp`` correctly."""
    if moment.tzinfo is None:
        raise ValueError(f"naive datetime {moment!r}: give a time zone")
    text = moment.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S.%f")
    return f"toDateTime('{text}', 'UTC')"


def hogql_str(text: str) -> str:
    """A HogQL string literal."""
    return "'" + str(text).replace("\\", "\\\\").replace("'", "\\'") + "'"


# --------------------------------------------------------------------------------------
# Limits and retries
# --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Limits:
    """PostHog's documented per-project query limits (lower them to share a project)."""

    per_minute: int = 240
    per_hour: int = 2_400
    concurrent: int = 3


class RateLimiter:
    """Keeps requests under ``per_minute``/``per_hour`` (sliding windows) and
    ``concurrent`` at once; ``acquire`` waits (with the injected ``sleep``) when needed."""

    def __init__(self, limits: Limits, clock=time.monotonic, sleep=time.sleep) -> None:
        self.limits = limits
        self.clock = clock
        self.sleep = sleep
        self._times: deque[float] = deque()
        self._lock = threading.Lock()
        self._slots = threading.BoundedSemaphore(limits.concurrent)
        self.waited = 0.0

    def _wait_needed(self, now: float) -> float:
        while self._times and now - self._times[0] >= 3600:
            self._times.popleft()
        wait = 0.0
        if len(self._times) >= self.limits.per_hour:
            wait = max(wait, self._times[len(self._times) - self.limits.per_hour] + 3600 - now)
        recent = [t for t in self._times if now - t < 60]
        if len(recent) >= self.limits.per_minute:
            wait = max(wait, recent[len(recent) - self.limits.per_minute] + 60 - now)
        return wait

    def acquire(self) -> None:
        self._slots.acquire()
        try:
            while True:
                with self._lock:
                    now = self.clock()
                    wait = self._wait_needed(now)
                    if wait <= 0:
                        self._times.append(now)
                        return
                self.waited += wait
                self.sleep(wait)
        except BaseException:
            self._slots.release()
            raise

    def release(self) -> None:
        self._slots.release()


@dataclass(frozen=True)
class RetryPolicy:
    """Exponential backoff with full jitter: attempt ``n`` waits ``U(0, min(cap, base·2ⁿ))``,
    at least ``floor_429`` seconds after a 429 without ``Retry-After``."""

    attempts: int = 8
    base: float = 1.0
    cap: float = 60.0
    floor_429: float = 5.0
    retry_after_cap: float = 600.0

    def backoff(self, attempt: int, rng: random.Random) -> float:
        return rng.uniform(0, min(self.cap, self.base * 2**attempt))


def _retry_after(value: str | None) -> float | None:
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - datetime.now(UTC)).total_seconds())


# --------------------------------------------------------------------------------------
# The client
# --------------------------------------------------------------------------------------


@dataclass
class QueryAnswer:
    """One 200 answer: the raw body (decoded later, see :mod:`.posthog_duckdb`)."""

    body: bytes
    attempts: int
    seconds: float


@dataclass
class Transport:
    """Counts what the client did (shown by the pull and asserted by the tests)."""

    requests: int = 0
    retries: int = 0
    throttled: int = 0
    waited_seconds: float = 0.0
    by_status: dict[int, int] = field(default_factory=dict)


class _Retry(Exception):
    def __init__(self, reason: str, wait: float | None = None, throttled: bool = False) -> None:
        super().__init__(reason)
        self.reason = reason
        self.wait = wait
        self.throttled = throttled


class QueryClient:
    """Sends HogQL queries to one project. Thread-safe; the key is read per request."""

    def __init__(
        self,
        host: str,
        project_id: str | int,
        *,
        key_env: str = KEY_ENV,
        timeout: float = 120.0,
        limits: Limits | None = None,
        retry: RetryPolicy | None = None,
        sleep: Callable[[float], None] = time.sleep,
        seed: int | None = None,
    ) -> None:
        self.host = resolve_host(host)
        self.project_id = str(project_id).strip()
        if not self.project_id.isdigit():
            raise ValueError(f"PostHog project id {project_id!r}: a number (project settings)")
        self.key_env = key_env
        self.timeout = timeout
        self.retry = retry or RetryPolicy()
        self.sleep = sleep
        self.limiter = RateLimiter(limits or Limits(), sleep=sleep)
        self.stats = Transport()
        self._rng = random.Random(seed)
        self._stats_lock = threading.Lock()

    @property
    def url(self) -> str:
        return f"{self.host}/api/projects/{self.project_id}/query/"

    def __repr__(self) -> str:
        return f"QueryClient({self.url!r}, key from ${self.key_env})"

    def _key(self) -> str:
        key = os.environ.get(self.key_env, "").strip()
        if not key:
            raise PostHogAuthError(
                f"no PostHog personal API key: set ${self.key_env} to a personal API key "
                "with the Query Read scope (it is read from the environment only)"
            )
        return key

    def query(self, hogql: str, name: str = "zantara-nb pull") -> QueryAnswer:
        """Run one HogQL query; returns the 200 body, or raises :class:`PostHogError`."""
        payload = json.dumps(
            {
                "query": {"kind": "HogQLQuery", "query": hogql},
                "refresh": "force_blocking",
                "name": name,
            }
        ).encode()
        t0 = time.perf_counter()
        last = ""
        for attempt in range(self.retry.attempts):
            try:
                body = self._attempt(payload)
                return QueryAnswer(body, attempt + 1, time.perf_counter() - t0)
            except _Retry as r:
                last = r.reason
                if attempt + 1 >= self.retry.attempts:
                    break
                wait = r.wait
                if wait is None:
                    wait = self.retry.backoff(attempt, self._rng)
                    if r.throttled:
                        wait = max(wait, self.retry.floor_429)
                wait = min(wait, self.retry.retry_after_cap)
                with self._stats_lock:
                    self.stats.retries += 1
                    self.stats.waited_seconds += wait
                self.sleep(wait)
        raise PostHogRetryError(
            f"{self.url}: still failing after {self.retry.attempts} attempts (last: {last}); "
            "the cursor is kept, run the pull again later"
        )

    def _attempt(self, payload: bytes) -> bytes:
        req = urllib.request.Request(
            self.url,
            data=payload,
            method="POST",
            headers={
                "Content-Type": "application/json",
                "Accept": "application/json",
                "Authorization": f"Bearer {self._key()}",
                "User-Agent": "zantara-nb",
            },
        )
        self.limiter.acquire()
        try:
            with self._stats_lock:
                self.stats.requests += 1
            try:
                resp = urllib.request.urlopen(req, timeout=self.timeout)  # noqa: S310
            except urllib.error.HTTPError as err:
                self._count(err.code)
                self._http_error(err)
                raise AssertionError("unreachable") from None  # pragma: no cover
            except TimeoutError as exc:
                raise _Retry(f"timeout after {self.timeout:g} s") from exc
            except (urllib.error.URLError, ConnectionError, http.client.HTTPException) as exc:
                reason = getattr(exc, "reason", exc)
                raise _Retry(f"connection failed: {reason}") from exc
            with resp:
                self._count(resp.status)
                try:
                    body = resp.read()
                except http.client.IncompleteRead as exc:
                    raise _Retry(
                        f"body cut short ({len(exc.partial):,} bytes of "
                        f"{len(exc.partial) + (exc.expected or 0):,})"
                    ) from exc
                except (TimeoutError, ConnectionError) as exc:
                    raise _Retry(f"connection lost while reading the answer: {exc}") from exc
            if resp.status == 202:
                raise PostHogResponseError(
                    f"{self.url}: PostHog answered asynchronously (202) although the query "
                    "was sent with refresh=force_blocking; run the pull again"
                )
            return body
        finally:
            self.limiter.release()

    def _count(self, status: int) -> None:
        with self._stats_lock:
            self.stats.by_status[status] = self.stats.by_status.get(status, 0) + 1

    def _http_error(self, err: urllib.error.HTTPError) -> None:
        try:
            raw = err.read()
        except Exception:  # noqa: BLE001 - a broken error body says nothing more
            raw = b""
        detail = _detail(raw)
        code = err.code
        if code == 429:
            with self._stats_lock:
                self.stats.throttled += 1
            wait = _retry_after(err.headers.get("Retry-After") if err.headers else None)
            raise _Retry(f"429 throttled: {detail or 'too many requests'}", wait, throttled=True)
        if code in (401, 403):
            raise PostHogAuthError(
                f"{code} from {self.url}: {detail or 'not allowed'}. Check that ${self.key_env} "
                "holds a personal API key with the Query Read scope for this project"
            )
        if code == 404:
            raise PostHogError(f"404 from {self.url}: no such project (check the project id)")
        if code == 400:
            raise PostHogQueryError(f"PostHog refused the query: {detail or raw[:300]!r}")
        if code >= 500 or code in (408, 425):
            raise _Retry(f"{code} {detail or err.reason}".strip())
        raise PostHogError(f"{code} from {self.url}: {detail or err.reason}")


def _detail(raw: bytes) -> str:
    """PostHog's error text (``{"type", "code", "detail", "attr"}``), or the start of the body."""
    try:
        doc = json.loads(raw)
    except ValueError:
        return raw[:200].decode("utf-8", "replace").strip()
    if isinstance(doc, dict):
        parts = [str(doc[k]) for k in ("code", "detail") if doc.get(k)]
        return ": ".join(parts) if parts else json.dumps(doc)[:300]
    return str(doc)[:300]
