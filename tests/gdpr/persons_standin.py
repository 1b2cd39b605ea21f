"""The PostHog stand-in (tests/posthog_standin.py) with PostHog's persons API added.

``GET /api/projects/{id}/persons/?distinct_id=X`` answers ``{"results": [{"id", "uuid",
"distinct_ids", "properties"}], "next": null}`` (an empty list when the id is unknown);
``DELETE /api/projects/{id}/persons/{uuid}/?delete_events=true`` removes the person
(every distinct id resolving to it) and, with ``delete_events``, their events from the
store the query API serves; 202 with ``delete_events``, else 204. Wrong key: 401.
``person_faults`` scripts failures (``"500"``, ``"429"``) consumed one per request.
"""

from __future__ import annotations

import json
import re
import urllib.parse
from collections import deque

from posthog_standin import StandIn, _err, _Handler


class _PersonsHandler(_Handler):
    def _auth_ok(self) -> bool:
        return (self.headers.get("Authorization") or "") == f"Bearer {self.ph.key}"

    def _fault(self) -> bool:
        f = self.ph.person_faults.popleft() if self.ph.person_faults else None
        if f in ("500", "429"):
            self._send(int(f), _err("server_error", "error", "scripted"))
            return True
        return False

    def do_GET(self) -> None:  # noqa: N802
        ph = self.ph
        url = urllib.parse.urlparse(self.path)
        if not re.fullmatch(rf"/api/projects/{ph.project_id}/persons/?", url.path):
            return self._send(404, _err("invalid_request", "not_found", "Not found."))
        ph.person_requests.append(("GET", self.path))
        if not self._auth_ok():
            return self._send(401, _err("authentication_error", "not_authenticated", "no"))
        if self._fault():
            return None
        did = urllib.parse.parse_qs(url.query).get("distinct_id", [None])[0]
        store = ph.store
        results = []
        with store.lock:
            if did is not None and did in store.person_of and did not in ph.deleted_ids:
                pid = store.person(did)
                ids = sorted(d for d in store.person_of if store.person(d) == pid)
                results.append({"id": len(pid), "uuid": pid, "distinct_ids": ids, "properties": {}})
        return self._send(200, json.dumps({"results": results, "next": None}).encode())

    def do_DELETE(self) -> None:  # noqa: N802
        ph = self.ph
        url = urllib.parse.urlparse(self.path)
        m = re.fullmatch(rf"/api/projects/{ph.project_id}/persons/([^/]+)/?", url.path)
        if not m:
            return self._send(404, _err("invalid_request", "not_found", "Not found."))
        ph.person_requests.append(("DELETE", self.path))
        if not self._auth_ok():
            return self._send(401, _err("authentication_error", "not_authenticated", "no"))
        if self._fault():
            return None
        pid = urllib.parse.unquote(m.group(1))
        with_events = urllib.parse.parse_qs(url.query).get("delete_events", ["false"])[0]
        store = ph.store
        with store.lock:
            ids = {d for d in store.person_of if store.person(d) == pid}
            if not ids:
                return self._send(404, _err("invalid_request", "not_found", "Not found."))
            ph.deleted_ids |= ids
            if with_events.lower() == "true":
                keep = [i for i, r in enumerate(store.rows) if r[3] not in ids]
                store.rows = [store.rows[i] for i in keep]
                store.keys = [store.keys[i] for i in keep]
                store._encoded.clear()
        self.send_response(202 if with_events.lower() == "true" else 204)
        self.send_header("Content-Length", "0")
        self.end_headers()
        return None


class PersonsStandIn(StandIn):
    """``StandIn`` answering the persons API as well."""

    def __init__(self, **kw) -> None:
        super().__init__(**kw)
        self.person_requests: list[tuple[str, str]] = []
        self.person_faults: deque[str] = deque()
        self.deleted_ids: set[str] = set()

    def __enter__(self) -> PersonsStandIn:
        import threading
        from http.server import ThreadingHTTPServer

        handler = type("H", (_PersonsHandler,), {"ph": self})
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self._server.daemon_threads = True
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        return self
