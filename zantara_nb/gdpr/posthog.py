"""PostHog's persons API: ask PostHog to delete a person and their events.

``GET {host}/api/projects/{project_id}/persons/?distinct_id=ID`` finds the person a
distinct id belongs to (its ``uuid`` and all its ``distinct_ids``);
``DELETE {host}/api/projects/{project_id}/persons/{uuid}/?delete_events=true`` deletes
it, and PostHog deletes the person's events in the background (answer 202). The
personal API key (scope *Person Write*) is read from ``$POSTHOG_PERSONAL_API_KEY`` (or
``key_env``) per request and only ever sent in the ``Authorization`` header. 429 and
5xx answers are retried a few times with backoff; anything else is reported, never
raised: the warehouse erasure is done either way, and the audit row says what PostHog
answered.
"""

from __future__ import annotations

import json
import os
import time
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass, field

from ..ingest.posthog_api import KEY_ENV, resolve_host
from .suppression import id_hash


@dataclass
class PostHogAnswer:
    """What PostHog did for one distinct id of the person (ids shown hashed)."""

    distinct_id: str
    found: bool = False
    deleted: list[str] = field(default_factory=list)  # PostHog person uuids
    status: int | None = None
    error: str = ""

    @property
    def ok(self) -> bool:
        return not self.error

    def summary(self) -> dict:
        return {
            "distinct_id_hash": id_hash(self.distinct_id)[:16],
            "found": self.found,
            "deleted": len(self.deleted),
            "status": self.status,
            "error": self.error,
        }

    def __str__(self) -> str:
        if self.error:
            return f"error ({self.status or '—'}): {self.error}"
        if not self.found:
            return "no person with that distinct id in PostHog"
        return f"deleted {len(self.deleted)} person(s) with their events (HTTP {self.status})"


class PersonsClient:
    """Find and delete persons in one PostHog project."""

    def __init__(
        self,
        host: str,
        project_id: str | int,
        *,
        key_env: str = KEY_ENV,
        timeout: float = 30.0,
        attempts: int = 4,
        backoff: float = 0.5,
    ) -> None:
        self.host = resolve_host(host)
        self.project_id = str(project_id).strip()
        if not self.project_id.isdigit():
            raise ValueError(f"PostHog project id {project_id!r}: a number (project settings)")
        self.key_env = key_env
        self.timeout = timeout
        self.attempts = attempts
        self.backoff = backoff
        self._deleted: set[str] = set()

    @classmethod
    def from_environment(cls, host: str | None = None, project: str | None = None, **kw):
        """From ``--posthog-host``/``--posthog-project`` or ``$POSTHOG_HOST`` /
        ``$POSTHOG_PROJECT_ID``; None when PostHog is not configured."""
        host = host or os.environ.get("POSTHOG_HOST")
        project = project or os.environ.get("POSTHOG_PROJECT_ID")
        if not host or not project:
            return None
        return cls(host, project, **kw)

    def __repr__(self) -> str:
        return f"PersonsClient({self.base!r}, key from ${self.key_env})"

    @property
    def base(self) -> str:
        return f"{self.host}/api/projects/{self.project_id}/persons/"

    def _request(self, method: str, url: str) -> tuple[int, bytes]:
        key = os.environ.get(self.key_env, "").strip()
        if not key:
            raise PermissionError(f"no PostHog personal API key in ${self.key_env}")
        last = ""
        for attempt in range(self.attempts):
            req = urllib.request.Request(
                url, method=method, headers={"Authorization": f"Bearer {key}"}
            )
            try:
                with urllib.request.urlopen(req, timeout=self.timeout) as resp:
                    return resp.status, resp.read()
            except urllib.error.HTTPError as err:
                if err.code == 429 or err.code >= 500:
                    last = f"HTTP {err.code}"
                else:
                    return err.code, err.read()
            except (urllib.error.URLError, TimeoutError, ConnectionError) as err:
                last = str(getattr(err, "reason", err))
            if attempt + 1 < self.attempts:
                time.sleep(self.backoff * 2**attempt)
        raise ConnectionError(f"{url}: still failing after {self.attempts} attempts ({last})")

    def find(self, distinct_id: str) -> list[dict]:
        """The persons PostHog has for a distinct id (usually one, or none)."""
        q = urllib.parse.urlencode({"distinct_id": distinct_id})
        status, body = self._request("GET", f"{self.base}?{q}")
        if status != 200:
            raise RuntimeError(f"HTTP {status}: {body[:200].decode(errors='replace')}")
        return list(json.loads(body).get("results") or [])

    def delete_person(self, distinct_id: str) -> PostHogAnswer:
        """Delete the person of ``distinct_id`` with their events (never raises)."""
        ans = PostHogAnswer(distinct_id)
        try:
            persons = self.find(distinct_id)
            ans.found = bool(persons)
            for p in persons:
                pid = str(p.get("uuid") or p.get("id"))
                if pid in self._deleted:
                    ans.deleted.append(pid)
                    continue
                status, body = self._request(
                    "DELETE", f"{self.base}{urllib.parse.quote(pid)}/?delete_events=true"
                )
                ans.status = status
                if status not in (200, 202, 204):
                    ans.error = f"delete refused: {body[:200].decode(errors='replace')}"
                    break
                self._deleted.add(pid)
                ans.deleted.append(pid)
        except Exception as exc:  # reported in the audit, never raised
            ans.error = f"{type(exc).__name__}: {exc}"
        return ans
