"""Erase a person: every row of their identity group, everywhere, with an audit record.

:func:`delete_person` (``zantara-nb gdpr delete ID [--dry-run]``):

1. resolves the identity group (:mod:`.resolve`) and lists the stored report runs
   whose data included the person (:mod:`.runs`);
2. finds the rows: every table with a person column (``events``, ``quarantine`` with
   its raw text, ``identity_links``, ``person_distinct_ids``, ``persons``, and any table
   another module added later: :func:`.tables.personal_tables`), hashed-id tables
   (consent decisions), and quarantined rows whose raw text names one of the ids;
3. deletes them, adds the ids' salted hashes to the suppression list and writes one
   ``gdpr_audit`` row (hashed id, when, rows per table; never the data).

**All or nothing.** On an engine with transactions (DuckDB) steps 3 run in one
transaction: a failure, a kill or a power cut before its COMMIT leaves every row in
place and no audit row; after it, nothing of the person is left. On ClickHouse (no
multi-statement transactions) the suppression and a ``started`` audit row are written
first, then each table's rows are removed with a lightweight ``DELETE``, then a
``done`` audit row: a run cut short keeps the person suppressed and is finished by
running the command again (every step is idempotent).

With ``posthog=`` (a :class:`~.posthog.PersonsClient`), PostHog is then asked to
delete the person and their events; its answer goes into a second audit row.

``dry_run`` counts what would be deleted and changes nothing (no audit row either).
Many persons at once (:func:`delete_persons`): one resolution each, then one
transaction and one scan of ``events`` for all of them.
"""

from __future__ import annotations

import json
import os
import time
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from . import suppression, tables
from .resolve import IdentityGroup, resolve_batch
from .runs import RunRef, runs_including


@dataclass
class DeleteResult:
    """What one erasure request touched (or would touch, for a dry run)."""

    request_id: str
    groups: list[IdentityGroup]
    rows: dict[str, int] = field(default_factory=dict)
    runs: list[RunRef] = field(default_factory=list)
    dry_run: bool = False
    suppressed: int = 0
    seconds: float = 0.0
    posthog: list[str] = field(default_factory=list)

    @property
    def total(self) -> int:
        return sum(self.rows.values())

    @property
    def found(self) -> bool:
        return any(g.found for g in self.groups)

    def __str__(self) -> str:
        verb = "would delete" if self.dry_run else "deleted"
        lines = []
        if len(self.groups) <= 5:
            lines += [g.describe() for g in self.groups]
        else:
            n = sum(g.found for g in self.groups)
            lines.append(f"{len(self.groups):,} ids asked for, {n:,} found")
        lines.append(f"{verb} {self.total:,} rows:")
        for t, n in sorted(self.rows.items()):
            lines.append(f"  {t:<22} {n:>10,}")
        if not self.dry_run:
            lines.append(
                f"suppressed {self.suppressed:,} new id hashes; audit request {self.request_id}"
            )
        if self.runs:
            lines.append(f"{len(self.runs)} stored report run(s) included the person; re-run them:")
            lines += [f"  {r.command}" for r in self.runs]
        else:
            lines.append("no stored report run included the person")
        lines += [f"PostHog: {p}" for p in self.posthog]
        lines.append(f"time {self.seconds:.2f} s")
        return "\n".join(lines)


def _crash_point(where: str) -> None:
    """Tests only: ``$ZANTARA_TEST_CRASH_AT=gdpr:<where>`` kills the process (SIGKILL)
    there (``after_events``, ``before_commit``); ``gdpr-raise:<where>`` raises instead."""
    spec = os.environ.get("ZANTARA_TEST_CRASH_AT", "")
    if spec == f"gdpr:{where}":
        import signal

        os.kill(os.getpid(), signal.SIGKILL)
    if spec == f"gdpr-raise:{where}":
        raise RuntimeError(f"injected failure at {where}")


def _hashes(groups: list[IdentityGroup]) -> dict[str, set[str]]:
    out: dict[str, set[str]] = {"distinct_id": set(), "person_id": set(), "email": set()}
    for g in groups:
        out["distinct_id"] |= set(g.distinct_ids)
        out["person_id"] |= set(g.person_ids)
        out["email"] |= set(g.emails)
    return out


def _id_sets(wh, groups: list[IdentityGroup]) -> tables.IdSets:
    """The request's ids as SQL (literal lists, or registered tables for many)."""
    ids = _hashes(groups)
    return tables.IdSets(
        wh,
        any=ids["person_id"] | ids["distinct_id"],
        hash={suppression.id_hash(v) for vs in ids.values() for v in vs},
    )


def _predicates(wh, groups: list[IdentityGroup], idsets: tables.IdSets) -> dict[str, list[str]]:
    """Per table, the predicates (one per column) selecting the group's rows."""
    texts = sorted({x for g in groups for x in [*g.person_ids, *g.distinct_ids, *g.emails]})
    out = {}
    for table, cols in tables.personal_tables(wh).items():
        preds = tables.person_predicates(wh, table, cols, idsets, texts)
        if preds:
            out[table] = preds
    return out


def _count(wh, preds: dict[str, list[str]]) -> dict[str, int]:
    return {t: tables.count_union(wh, t, p) for t, p in preds.items()}


def _delete(wh, table: str, preds: list[str]) -> int:
    """Delete the rows matching any predicate: one pass per predicate, each filtering
    one column while scanning (the rows an earlier pass took are gone already)."""
    return sum(wh.engine.delete_where(table, p) for p in preds)


def _audit(wh, res: DeleteResult, action: str, status: str, query: str, **extra) -> None:
    tables.ensure(wh, "gdpr_audit")
    now = datetime.now(UTC)
    persons = sorted({suppression.id_hash(p) for g in res.groups for p in g.person_ids})
    wh.execute(
        "INSERT INTO gdpr_audit (request_id, action, status, id_hash, person_hashes, "
        "requested_at, finished_at, dry_run, rows_json, runs_json, posthog, message) "
        "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        [
            res.request_id,
            action,
            status,
            suppression.id_hash(query),
            ",".join(persons)[:60_000],
            extra.get("requested_at", now),
            now,
            res.dry_run,
            json.dumps(res.rows, sort_keys=True),
            json.dumps([r.key for r in res.runs]),
            extra.get("posthog"),
            extra.get("message"),
        ],
    )


def delete_person(
    wh,
    ident: str,
    *,
    dry_run: bool = False,
    reports_dir: str | Path | None = "reports",
    posthog=None,
) -> DeleteResult:
    """Erase the person ``ident`` names (see the module docstring)."""
    return delete_persons(wh, [ident], dry_run=dry_run, reports_dir=reports_dir, posthog=posthog)


def delete_persons(
    wh,
    idents: list[str],
    *,
    dry_run: bool = False,
    reports_dir: str | Path | None = "reports",
    posthog=None,
) -> DeleteResult:
    """Erase several persons in one request: one transaction, one pass per table."""
    t0 = time.perf_counter()
    requested = datetime.now(UTC)
    request_id = uuid.uuid4().hex
    query = idents[0] if len(idents) == 1 else f"{len(idents)} ids"
    with wh.writing():
        suppression.check_salt(wh)
        groups = resolve_many(wh, idents)
        res = DeleteResult(request_id=request_id, groups=groups, dry_run=dry_run)
        firsts = [g.first_seen for g in groups if g.first_seen is not None]
        if reports_dir is not None and firsts:
            res.runs = runs_including(reports_dir, min(firsts))
        if not dry_run:
            tables.ensure(wh, "gdpr_suppression", "gdpr_audit")
        with _id_sets(wh, groups) as idsets:
            preds = _predicates(wh, groups, idsets)
            if dry_run:
                res.rows = _count(wh, preds)
                res.seconds = time.perf_counter() - t0
                return res
            if wh.engine.transactional:
                _delete_in_transaction(wh, res, preds, query, requested)
            else:
                _delete_step_by_step(wh, res, preds, query, requested)
    if posthog is not None:
        _posthog_delete(wh, res, posthog, query)
    res.seconds = time.perf_counter() - t0
    return res


def resolve_many(wh, idents: list[str]) -> list[IdentityGroup]:
    """The identity group of each id (the same few scans for all of them)."""
    return resolve_batch(wh, idents)


def _delete_in_transaction(wh, res, preds, query, requested) -> None:
    con = wh.con
    con.execute("BEGIN TRANSACTION")
    try:
        for table, pred in preds.items():
            res.rows[table] = _delete(wh, table, pred)
            if table == "events":
                _crash_point("after_events")
        res.suppressed = suppression.record(wh, res.request_id, _hashes(res.groups))
        _audit(wh, res, "delete", "done", query, requested_at=requested)
        _crash_point("before_commit")
        con.execute("COMMIT")
    except BaseException:
        con.execute("ROLLBACK")
        raise


def _delete_step_by_step(wh, res, preds, query, requested) -> None:
    res.suppressed = suppression.record(wh, res.request_id, _hashes(res.groups))
    _audit(wh, res, "delete", "started", query, requested_at=requested)
    for table, pred in preds.items():
        res.rows[table] = _delete(wh, table, pred)
        if table == "events":
            _crash_point("after_events")
    _audit(wh, res, "delete", "done", query, requested_at=requested)


def _posthog_delete(wh, res: DeleteResult, client, query: str) -> None:
    answers = []
    for g in res.groups:
        for did in g.distinct_ids or g.person_ids:
            answers.append(client.delete_person(did))
    res.posthog = [str(a) for a in answers]
    status = "done" if all(a.ok for a in answers) else "failed"
    with wh.writing():
        _audit(
            wh,
            res,
            "posthog_delete",
            status,
            query,
            posthog=json.dumps([a.summary() for a in answers]),
        )
