"""A local stand-in for PostHog, close enough to its documented contract that the
client cannot tell: the query API and the capture endpoints, in one HTTP server.

Query API (``POST /api/projects/{id}/query/``, ``Authorization: Bearer <personal key>``)
- ``{"query": {"kind": "HogQLQuery", "query": ...}}``; the HogQL understood is the shape of
  a keyset page over ``events`` (``SELECT <columns> FROM events WHERE timestamp ...
  [AND (timestamp > t OR (timestamp = t AND uuid > u))] ORDER BY timestamp, uuid LIMIT n``)
  and ``SELECT count() FROM events``;
- time literals as in ClickHouse: ``toDateTime('YYYY-MM-DD hh:mm:ss[.ffffff]'[, tz])`` and
  bare strings are read in ``tz`` (default: the project's time zone); an ISO string with
  ``T``/``Z`` compared with ``timestamp`` fails with ClickHouse's type-mismatch error
  (PostHog issues 28970, 47728); ``OFFSET`` is refused; LIMIT is capped at 50,000, no
  LIMIT means 100 rows;
- answer ``{"results", "columns", "types", "hasMore", "limit", "offset", "hogql", ...}``,
  datetimes as ISO strings in the project's time zone, ``properties`` as a JSON string,
  ``person_id`` as PostHog resolves it (identify merges, ``person_overrides``);
- errors as PostHog's DRF handler writes them: ``{"type", "code", "detail", "attr"}``:
  401 for a wrong key, 400 ``validation_error`` for HogQL errors, 429 with
  ``Retry-After`` from the rate limits (``per_minute``, ``per_hour``), 429 *without*
  it after ``queue_wait`` seconds over ``concurrent`` running queries;
- ``faults``: scripted failures consumed one per query request (``"500"``, ``"502"``,
  ``"504"``, ``"429"``, ``"429-bare"``, ``"401"``, ``"403"``, ``"hogql"``, ``"truncated"``,
  ``"malformed"``, ``"slow:<s>"``, ``"drop"``).

Capture (``POST /batch/``, ``/i/v0/e/``, ``/capture/``, ``/i/v0/ai/batch/``): gzip or
plain JSON bodies ``{"api_key", "batch": [...]}`` (or one event); the decompressed bodies
are kept (``bodies``) and the events join the store the query API serves.
"""

from __future__ import annotations

import bisect
import gzip
import json
import math
import re
import threading
import time
import uuid as uuidlib
from collections import deque
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from zoneinfo import ZoneInfo

MAX_ROWS = 50_000
_NS = uuidlib.UUID("6f1c1e4a-6b8e-4a53-9d55-2b8d7c0e9f11")
COLUMN_TYPES = {
    "uuid": "UUID",
    "event": "String",
    "timestamp": "DateTime64(6, 'UTC')",
    "distinct_id": "String",
    "person_id": "UUID",
    "properties": "String",
}


_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
DEFAULT_COLUMNS = ["uuid", "event", "timestamp", "distinct_id", "person_id", "properties"]


def _us(t: datetime) -> int:
    return (t - _EPOCH) // timedelta(microseconds=1)


def _from_us(us: int, tz) -> datetime:
    return (_EPOCH + timedelta(microseconds=us)).astimezone(tz)


class HogQLError(Exception):
    def __init__(self, detail: str, code: str = "syntax_error") -> None:
        super().__init__(detail)
        self.detail = detail
        self.code = code


class Store:
    """Events sorted by (timestamp, uuid), persons resolved at query time."""

    def __init__(self, timezone: str = "UTC") -> None:
        self.tz = ZoneInfo(timezone)
        self.keys: list[tuple[int, str]] = []
        self.rows: list[tuple] = []  # (us, uuid, event, distinct_id, properties_json_text)
        self.person_of: dict[str, str] = {}
        self._members: dict[str, set[str]] = {}
        self.person_overrides: dict[str, str] = {}
        self._encoded: dict[str, bytes] = {}
        self.lock = threading.Lock()

    def add(self, event: str, distinct_id: str, timestamp, properties, uuid: str | None = None):
        if isinstance(timestamp, str):
            t = datetime.fromisoformat(timestamp.replace("Z", "+00:00"))
        else:
            t = timestamp
        if t.tzinfo is None:
            t = t.replace(tzinfo=UTC)
        us = _us(t)
        u = str(uuid or uuidlib.uuid4())
        props = properties if isinstance(properties, str) else json.dumps(properties)
        with self.lock:
            key = (us, u)
            i = bisect.bisect_left(self.keys, key)
            if i < len(self.keys) and self.keys[i] == key:
                return u  # PostHog dedupes on uuid too
            self.keys.insert(i, key)
            self.rows.insert(i, (us, u, event, distinct_id, props))
            self._person(event, distinct_id, props)
        return u

    def extend_sorted(self, rows: list[tuple]) -> None:
        """Bulk add ``(us, uuid, event, distinct_id, properties_text)`` (benchmarks)."""
        rows = sorted(rows, key=lambda r: (r[0], r[1]))
        with self.lock:
            self.rows = rows
            self.keys = [(r[0], r[1]) for r in rows]
            for r in rows:
                self._person(r[2], r[3], r[4])

    def _person(self, event: str, did: str, props: str) -> None:
        if did not in self.person_of:
            pid = str(uuidlib.uuid5(_NS, did))
            self.person_of[did] = pid
            self._members.setdefault(pid, set()).add(did)
        if event == "$identify" and "$anon_distinct_id" in props:
            try:
                anon = json.loads(props).get("$anon_distinct_id")
            except (ValueError, AttributeError):
                anon = None
            if anon and anon != did:
                self._encoded.clear()
                # the anonymous person joins the identified user's person
                new = self.person_of[did]
                old = self.person_of.get(anon)
                moving = self._members.pop(old, {anon}) if old and old != new else {anon}
                for k in moving:
                    self.person_of[k] = new
                self._members.setdefault(new, set()).update(moving)

    def person(self, did: str) -> str:
        return (
            self.person_overrides.get(did)
            or self.person_of.get(did)
            or str(uuidlib.uuid5(_NS, did))
        )

    def encode(self, r: tuple, columns: list[str]) -> bytes:
        us, u, event, did, props = r
        cache = columns == DEFAULT_COLUMNS and not self.person_overrides
        if cache:
            hit = self._encoded.get(u)
            if hit is not None:
                return hit
        values = {
            "uuid": u,
            "event": event,
            "timestamp": _from_us(us, self.tz).isoformat(),
            "distinct_id": did,
            "person_id": self.person(did),
            "properties": props,
        }
        out = json.dumps([values[c] for c in columns]).encode()
        if cache:
            self._encoded[u] = out
        return out

    def warm(self) -> None:
        """Encode every row once (benchmarks: the server's own work out of the timing)."""
        for r in self.rows:
            self.encode(r, DEFAULT_COLUMNS)


# --------------------------------------------------------------------------------------
# HogQL (the subset the pull sends)
# --------------------------------------------------------------------------------------

_LIT = r"(toDateTime\('([^']*)'(?:\s*,\s*'([^']*)')?\)|'([^']*)')"
_CMP = re.compile(r"\btimestamp\s*(>=|<=|<|>|=)\s*" + _LIT)
_KEYSET = re.compile(
    r"\(\s*timestamp\s*>\s*"
    + _LIT
    + r"\s+OR\s+\(\s*timestamp\s*=\s*"
    + _LIT
    + r"\s+AND\s+uuid\s*>\s*(?:toUUID\('([^']*)'\)|'([^']*)')\s*\)\s*\)",
    re.IGNORECASE,
)
_SELECT = re.compile(r"^\s*SELECT\s+(.*?)\s+FROM\s+events\b(.*)$", re.IGNORECASE | re.DOTALL)
_ISO = re.compile(r"T|Z$|[+-]\d\d:\d\d$")


class Query:
    def __init__(self, text: str, tz) -> None:
        m = _SELECT.match(text)
        if not m:
            raise HogQLError(f"Syntax error at line 1, column 0: cannot parse {text[:80]!r}")
        self.count = m.group(1).strip().lower() == "count()"
        self.columns = [c.strip() for c in m.group(1).split(",")] if not self.count else []
        for c in self.columns:
            if c not in COLUMN_TYPES:
                raise HogQLError(f"Unable to resolve field: {c}", "resolution_error")
        rest = m.group(2)
        if re.search(r"\bOFFSET\b", rest, re.IGNORECASE):
            raise HogQLError(
                "OFFSET is not allowed in queries with a personal API key: "
                "paginate on timestamp instead",
                "offset_not_allowed",
            )
        lim = re.search(r"\bLIMIT\s+(\d+)", rest, re.IGNORECASE)
        self.limit = min(int(lim.group(1)), MAX_ROWS) if lim else 100
        self.asked = int(lim.group(1)) if lim else None
        self.after = None
        km = _KEYSET.search(rest)
        if km:
            t1 = self._lit(km.group(1), km.group(2), km.group(3), km.group(4), tz)
            t2 = self._lit(km.group(5), km.group(6), km.group(7), km.group(8), tz)
            if t1 != t2:
                raise HogQLError("keyset timestamps differ")
            self.after = (t1, km.group(9) or km.group(10))
            rest = rest[: km.start()] + rest[km.end() :]
        self.lo = None
        self.hi = None
        for cm in _CMP.finditer(rest):
            op = cm.group(1)
            t = self._lit(cm.group(2), cm.group(3), cm.group(4), cm.group(5), tz)
            if op == ">=":
                self.lo = t if self.lo is None else max(self.lo, t)
            elif op == ">":
                self.lo = t + 1 if self.lo is None else max(self.lo, t + 1)
            elif op == "<":
                self.hi = t if self.hi is None else min(self.hi, t)
            elif op == "<=":
                self.hi = t + 1 if self.hi is None else min(self.hi, t + 1)
        if not self.count and not re.search(
            r"ORDER\s+BY\s+timestamp(\s+ASC)?\s*,\s*uuid(\s+ASC)?", rest, re.IGNORECASE
        ):
            raise HogQLError("this stand-in serves keyset pages ORDER BY timestamp, uuid only")

    @staticmethod
    def _lit(whole, fn_arg, fn_tz, bare, tz) -> int:
        text = fn_arg if fn_arg is not None else bare
        zone = ZoneInfo(fn_tz) if fn_tz else tz
        if fn_arg is None and _ISO.search(text or ""):
            # ClickHouse cannot convert an ISO 8601 string with T/Z to DateTime64
            raise HogQLError(
                f"Cannot convert string '{text}' to type DateTime64(6, 'UTC'): "
                "while executing function greater",
                "CHQueryErrorTypeMismatch",
            )
        try:
            t = datetime.fromisoformat(text)
        except ValueError:
            raise HogQLError(
                f"Cannot parse DateTime from String {text!r}", "type_mismatch"
            ) from None
        if t.tzinfo is None:
            t = t.replace(tzinfo=zone)
        return _us(t)


class StandIn:
    """The server: ``with StandIn() as ph: ph.url, ph.store.add(...), ph.faults.append(...)``."""

    def __init__(
        self,
        *,
        project_id: int = 4242,
        key: str = "phx_test_personal_key",
        timezone: str = "UTC",
        per_minute: int = 240,
        per_hour: int = 2_400,
        concurrent: int = 3,
        queue_wait: float = 30.0,
        retry_after: int = 1,
        minute: float = 60.0,
    ) -> None:
        self.project_id = project_id
        self.key = key
        self.store = Store(timezone)
        self.faults: deque[str] = deque()
        self.per_minute, self.per_hour = per_minute, per_hour
        self.concurrent, self.queue_wait = concurrent, queue_wait
        self.retry_after = retry_after
        self.minute = minute  # length of the "minute" window (shortened by tests)
        self.queries: list[str] = []
        self.statuses: list[int] = []
        self.bodies: list[bytes] = []  # decompressed capture bodies
        self.capture_headers: list[dict] = []
        self.auth_headers: list[str] = []
        self.pages_served = 0
        self.page_event = threading.Event()
        self.on_page = None  # callable(pages_served) after each 200 page
        self._times: deque[float] = deque()
        self._running = 0
        self._cv = threading.Condition()
        self.max_running = 0
        self._server: ThreadingHTTPServer | None = None

    # -- lifecycle -----------------------------------------------------------------

    def __enter__(self) -> StandIn:
        handler = type("H", (_Handler,), {"ph": self})
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self._server.daemon_threads = True
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        return self

    def __exit__(self, *exc) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()

    @property
    def url(self) -> str:
        assert self._server is not None
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    # -- query API -----------------------------------------------------------------

    def _rate(self) -> float:
        """0 when the request may run, else the seconds until it may (Retry-After)."""
        now = time.monotonic()
        with self._cv:
            while self._times and now - self._times[0] >= 3600:
                self._times.popleft()
            recent = [t for t in self._times if now - t < self.minute]
            if len(recent) >= self.per_minute:
                return recent[len(recent) - self.per_minute] + self.minute - now
            if len(self._times) >= self.per_hour:
                return self._times[len(self._times) - self.per_hour] + 3600 - now
            self._times.append(now)
            return 0.0

    def _slot(self) -> bool:
        deadline = time.monotonic() + self.queue_wait
        with self._cv:
            while self._running >= self.concurrent:
                left = deadline - time.monotonic()
                if left <= 0:
                    return False
                self._cv.wait(left)
            self._running += 1
            self.max_running = max(self.max_running, self._running)
            return True

    def _free(self) -> None:
        with self._cv:
            self._running -= 1
            self._cv.notify_all()

    def answer(self, text: str) -> bytes:
        st = self.store
        q = Query(text, st.tz)
        with st.lock:
            keys = st.keys
            i = 0 if q.lo is None else bisect.bisect_left(keys, (q.lo, ""))
            j = len(keys) if q.hi is None else bisect.bisect_left(keys, (q.hi, ""))
            if q.after is not None:
                i = max(i, bisect.bisect_right(keys, q.after))
            if q.count:
                return json.dumps(
                    {
                        "results": [[max(0, j - i)]],
                        "columns": ["count()"],
                        "types": [["count()", "UInt64"]],
                        "hasMore": False,
                        "hogql": text,
                    }
                ).encode()
            rows = st.rows[i : min(j, i + q.limit)]
            more = j - i > q.limit
            body = b",".join(st.encode(r, q.columns) for r in rows)
        head = {
            "cache_key": "standin",
            "is_cached": False,
            "columns": q.columns,
            "types": [[c, COLUMN_TYPES[c]] for c in q.columns],
            "hasMore": more,
            "limit": q.limit,
            "offset": 0,
            "hogql": text,
            "clickhouse": "SELECT ...",
            "timings": [],
            "modifiers": {},
            "error": None,
            "query_status": None,
            "last_refresh": datetime.now(UTC).isoformat(),
        }
        tail = json.dumps(head)[1:]
        return b'{"results":[' + body + b"]," + tail.encode()


def _err(kind: str, code: str, detail: str) -> bytes:
    return json.dumps({"type": kind, "code": code, "detail": detail, "attr": None}).encode()


class _Handler(BaseHTTPRequestHandler):
    ph: StandIn
    protocol_version = "HTTP/1.1"

    def log_message(self, *args) -> None:  # quiet
        pass

    def _send(self, status: int, body: bytes, headers: dict | None = None, cut: int | None = None):
        self.ph.statuses.append(status)
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        for k, v in (headers or {}).items():
            self.send_header(k, v)
        if cut is not None:
            self.send_header("Connection", "close")
        self.end_headers()
        self.wfile.write(body if cut is None else body[:cut])
        if cut is not None:
            self.wfile.flush()
            self.close_connection = True

    def _body(self) -> bytes:
        n = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(n)
        enc = (self.headers.get("Content-Encoding") or "").lower()
        if enc == "gzip" or "compression=gzip" in self.path:
            raw = gzip.decompress(raw)
        return raw

    def do_POST(self) -> None:  # noqa: N802
        ph = self.ph
        path = self.path.split("?")[0]
        if path in ("/batch/", "/i/v0/e/", "/capture/", "/e/", "/i/v0/ai/batch/"):
            return self._capture()
        m = re.fullmatch(r"/api/projects/(\d+)/query/?", path)
        if not m:
            return self._send(404, _err("invalid_request", "not_found", "Not found."))
        body = self._body()
        auth = self.headers.get("Authorization") or ""
        ph.auth_headers.append(auth)
        fault = ph.faults.popleft() if ph.faults else None
        if fault == "drop":
            self.close_connection = True
            self.connection.close()
            return None
        if fault == "401" or auth != f"Bearer {ph.key}":
            return self._send(
                401,
                _err(
                    "authentication_error",
                    "authentication_failed",
                    "Personal API key found in request Authorization header is invalid.",
                ),
            )
        if fault == "403" or int(m.group(1)) != ph.project_id:
            return self._send(
                403,
                _err(
                    "authentication_error",
                    "permission_denied",
                    "API key missing required scope 'query:read'",
                ),
            )
        wait = ph.retry_after if fault == "429" else ph._rate()
        if wait:
            secs = max(1, math.ceil(wait))
            return self._send(
                429,
                _err(
                    "throttled_error",
                    "throttled",
                    f"Request was throttled. Expected available in {secs} seconds.",
                ),
                {"Retry-After": str(secs)},
            )
        if fault in ("500", "502", "504"):
            return self._send(int(fault), _err("server_error", "error", "A server error occurred."))
        if fault == "429-bare" or not ph._slot():
            return self._send(
                429,
                _err("throttled_error", "throttled", "Too many concurrent queries, try later."),
            )
        try:
            if fault and fault.startswith("slow:"):
                time.sleep(float(fault.split(":", 1)[1]))
            try:
                req = json.loads(body)
                q = req["query"]
                if q.get("kind") != "HogQLQuery":
                    raise HogQLError(f"unsupported query kind {q.get('kind')!r}")
                if fault == "hogql":
                    raise HogQLError("Unable to resolve field: nope", "resolution_error")
                ph.queries.append(q["query"])
                out = ph.answer(q["query"])
            except HogQLError as e:
                return self._send(400, _err("validation_error", e.code, e.detail))
            except (ValueError, KeyError, TypeError) as e:
                return self._send(400, _err("validation_error", "parse_error", str(e)))
            if fault == "malformed":
                return self._send(200, b'{"results": [["x", "y"], oops' + b" " * 20)
            if fault == "truncated":
                return self._send(200, out, cut=len(out) // 2)
            ph.pages_served += 1
            self._send(200, out)
            if ph.on_page is not None:
                ph.on_page(ph.pages_served)
            ph.page_event.set()
            return None
        finally:
            ph._free()

    def _capture(self) -> None:
        ph = self.ph
        raw = self._body()
        ph.bodies.append(raw)
        ph.capture_headers.append(dict(self.headers))
        doc = json.loads(raw)
        events = doc.get("batch") if isinstance(doc, dict) and "batch" in doc else [doc]
        for e in events:
            props = dict(e.get("properties") or {})
            did = e.get("distinct_id") or props.pop("distinct_id", None)
            ph.store.add(
                e["event"], str(did), e.get("timestamp") or datetime.now(UTC), props, e.get("uuid")
            )
        self._send(200, b'{"status": 1}')
