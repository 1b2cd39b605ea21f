"""Pull events from a PostHog project, incrementally, through the file loader.

>>> from zantara_nb import Warehouse
>>> from zantara_nb.ingest.posthog_pull import PullConfig, pull
>>> cfg = PullConfig(host="eu", project_id=12345)       # key: $POSTHOG_PERSONAL_API_KEY
>>> pull(Warehouse(), cfg, since="2026-05-01")           # first run: a backfill
>>> pull(Warehouse(), cfg)                               # later runs: only what is new

How a run goes
--------------
1. **Where to start.** Each project has a cursor (``posthog_cursors``, see
   :mod:`.posthog_state`). An incremental run reads from ``done_until - overlap`` (the
   overlap re-reads late arrivals; dedupe on ``uuid`` makes that safe) up to now. With
   ``since``/``until`` it is a backfill with its own cursor, which also seeds the
   incremental one when it reaches it. A run that was killed is resumed from its cursor.
2. **Time slices.** ``[from, until)`` is cut into slices (``slice``, default one day) so
   that each query scans a bounded range and stays under PostHog's query time limit.
3. **Keyset pages.** Within a slice, pages of ``page_size`` rows (at most 50,000,
   PostHog's cap) are read ``ORDER BY timestamp, uuid`` after the last row of the
   previous page: ``timestamp > t OR (timestamp = t AND uuid > u)``. Never ``OFFSET``.
4. **Decoding.** Each answer is checked and parsed by DuckDB (:mod:`.posthog_duckdb`):
   PostHog's names are mapped onto the plan's (``$pageview`` -> ``page_viewed``),
   PostHog's ``person_id`` of each distinct id is noted.
5. **The same loader.** Pages are written to a Parquet spool in the shape of a PostHog
   batch export and handed to :func:`zantara_nb.ingest.ingest` (``posthog-parquet``):
   the same validation, quarantine, dedupe, privacy (IP truncation, never-store keys)
   and typed columns as a file (``$ai_latency`` seconds -> ``response_latency_ms``,
   ``$ai_total_cost_usd`` -> ``response_cost_usd``). The ``loads`` row names the project
   and the time range instead of the spool file.
6. **Commit.** Every ``commit_rows`` rows (and at the end) the spool is loaded as one load
   (all or nothing), then the cursor and PostHog's person ids move in one transaction.
   A page is therefore committed whole or not at all; a run killed at any point resumes
   from the last committed page, and what was loaded but not yet recorded in the cursor
   is read again and skipped as duplicates: every event lands exactly once.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import sys
import tempfile
import time
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pyarrow.parquet as pq

from .posthog_api import (
    KEY_ENV,
    MAX_ROWS,
    Limits,
    PostHogError,
    QueryClient,
    RetryPolicy,
    hogql_str,
    hogql_ts,
)
from .posthog_duckdb import COLUMNS, connection, decode, latest_person, map_names, utc_texts
from .posthog_state import (
    Cursor,
    ensure_tables,
    merge_person_ids,
    parse_ts,
    read_cursor,
    ts_text,
    write_cursor,
    writing,
)

#: The format recorded in ``loads`` for pulled pages.
LOAD_FORMAT = "posthog-api"


@dataclass
class PullConfig:
    """Where and how to pull. The key is never here: only the name of its variable."""

    host: str
    project_id: str | int
    key_env: str = KEY_ENV
    page_size: int = MAX_ROWS
    overlap: timedelta = timedelta(hours=2)
    slice: timedelta = timedelta(days=1)
    commit_rows: int = 1_000_000
    timeout: float = 120.0
    limits: Limits = field(default_factory=Limits)
    retry: RetryPolicy = field(default_factory=RetryPolicy)

    def __post_init__(self) -> None:
        if not 1 <= int(self.page_size) <= MAX_ROWS:
            raise ValueError(
                f"page_size {self.page_size}: between 1 and {MAX_ROWS:,} (PostHog's cap)"
            )
        if self.slice <= timedelta(0) or self.overlap < timedelta(0):
            raise ValueError("slice must be positive and overlap not negative")
        if self.commit_rows < 1:
            raise ValueError("commit_rows must be at least 1")

    @classmethod
    def from_parameters(cls, params: dict, **overrides) -> PullConfig:
        """From the ``posthog:`` section of a parameters file (durations in hours/days)."""
        sec = dict(params.get("posthog") or {})
        sec.update({k: v for k, v in overrides.items() if v is not None})
        kw: dict = {}
        for k in ("host", "project_id", "key_env", "page_size", "commit_rows", "timeout"):
            if k in sec:
                kw[k] = sec[k]
        if "overlap_hours" in sec:
            kw["overlap"] = timedelta(hours=float(sec["overlap_hours"]))
        if "slice_hours" in sec:
            kw["slice"] = timedelta(hours=float(sec["slice_hours"]))
        if "host" not in kw or "project_id" not in kw:
            raise ValueError("PostHog needs a host (us, eu or a URL) and a project_id")
        return cls(**kw)


@dataclass
class PullResult:
    """What one run did."""

    stream: str
    run_from: datetime
    run_until: datetime
    resumed: bool = False
    rows: int = 0
    pages: int = 0
    loads: int = 0
    loaded: int = 0
    duplicates: int = 0
    quarantined: int = 0
    requests: int = 0
    retries: int = 0
    throttled: int = 0
    seconds: float = 0.0
    http_seconds: float = 0.0  # waiting for PostHog (retries and rate limits included)
    decode_seconds: float = 0.0  # checking, decoding, mapping, spooling pages
    load_seconds: float = 0.0  # the loader, the cursor and person ids
    cursor: tuple[str | None, str | None] = (None, None)
    load_ids: list[int] = field(default_factory=list)

    def __str__(self) -> str:
        rate = f", {self.rows / self.seconds:,.0f} rows/s" if self.seconds else ""
        return (
            f"{self.stream}: {ts_text(self.run_from)} -> {ts_text(self.run_until)}"
            f"{' (resumed)' if self.resumed else ''}\n"
            f"  {self.rows:,} rows in {self.pages:,} pages ({self.requests:,} requests, "
            f"{self.retries:,} retries, {self.throttled:,} throttled){rate}\n"
            f"  {self.loaded:,} loaded, {self.duplicates:,} duplicates, "
            f"{self.quarantined:,} quarantined in {self.loads:,} loads; {self.seconds:.1f} s "
            f"(PostHog {self.http_seconds:.1f}, decoding {self.decode_seconds:.1f}, "
            f"loading {self.load_seconds:.1f})\n"
            f"  cursor {self.cursor[0] or '—'} {self.cursor[1] or ''}".rstrip()
        )


def as_instant(value: str | date | datetime | None) -> datetime | None:
    """``YYYY-MM-DD``, an ISO instant, a date or a datetime as an aware UTC datetime."""
    if value is None:
        return None
    if isinstance(value, datetime):
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)
    if isinstance(value, date):
        return datetime(value.year, value.month, value.day, tzinfo=UTC)
    text = str(value).strip()
    try:
        return parse_ts(text.replace("Z", "+00:00"))
    except ValueError:
        raise ValueError(f"{value!r}: expected YYYY-MM-DD or an ISO date-time") from None


def source_name(cfg: PullConfig, client: QueryClient) -> str:
    return f"{client.host}/project/{client.project_id}"


def page_query(lo: datetime, hi: datetime, after: tuple[datetime, str] | None, limit: int) -> str:
    """The HogQL of one keyset page in ``[lo, hi)`` after ``after`` (timestamp, uuid)."""
    where = [f"timestamp >= {hogql_ts(lo)}", f"timestamp < {hogql_ts(hi)}"]
    if after is not None:
        t, u = hogql_ts(after[0]), hogql_str(after[1])
        where.append(f"(timestamp > {t} OR (timestamp = {t} AND uuid > toUUID({u})))")
    return (
        f"SELECT {', '.join(COLUMNS)} FROM events WHERE "
        + " AND ".join(where)
        + f" ORDER BY timestamp ASC, uuid ASC LIMIT {int(limit)}"
    )


class _Spool:
    """Pages waiting to be loaded: one Parquet file in the shape of a batch export."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.n = 0
        self.path: Path | None = None
        self.writer: pq.ParquetWriter | None = None
        self.rows = 0
        self.pages = 0
        self.persons: dict[str, tuple[str, str]] = {}

    def add(self, table, persons) -> None:
        """Append a page; ``persons`` from :func:`.posthog_duckdb.latest_person` (ordered):
        pages come in time order, so a later page's person of a distinct id wins."""
        if self.writer is None:
            self.n += 1
            self.path = self.folder / f"page-group-{self.n}.parquet"
            self.writer = pq.ParquetWriter(self.path, table.schema, compression="none")
        self.writer.write_table(table, row_group_size=max(1, table.num_rows))
        self.rows += table.num_rows
        self.pages += 1
        for did, pid, ts in persons:
            self.persons[did] = (ts, str(pid))

    def take(self) -> tuple[Path | None, int, int, dict]:
        if self.writer is not None:
            self.writer.close()
        persons = self.persons
        if persons:
            dids = list(persons)
            texts = utc_texts([persons[d][0] for d in dids])
            persons = {
                d: (t, persons[d][1]) for d, t in zip(dids, texts, strict=True) if t is not None
            }
        out = (self.path, self.rows, self.pages, persons)
        self.writer, self.path, self.rows, self.pages, self.persons = None, None, 0, 0, {}
        return out


def _bar(enabled: bool | None, total: float, desc: str):
    if enabled is None:
        enabled = sys.stderr.isatty()
    if not enabled:
        return None
    from tqdm.auto import tqdm

    return tqdm(
        total=max(1, int(total)),
        desc=desc,
        unit="s",
        unit_scale=False,
        bar_format="{desc} {percentage:3.0f}%|{bar}| {postfix} [{elapsed}<{remaining}]",
        leave=True,
    )


def pull(
    wh,
    cfg: PullConfig,
    *,
    since: str | date | datetime | None = None,
    until: str | date | datetime | None = None,
    progress: bool | None = None,
    now: datetime | None = None,
    client: QueryClient | None = None,
    spool_dir: str | os.PathLike | None = None,
) -> PullResult:
    """Pull new events of one PostHog project into ``wh`` (see the module docstring).

    ``since``/``until`` (UTC when no offset is given) make it a backfill of that range;
    without them the project's cursor decides. Raises :class:`PostHogError` (a clear
    message, the cursor kept) on authentication, query and answer errors.
    """
    from . import ingest
    from .summary import IngestError

    if getattr(wh, "read_only", False):
        raise IngestError("posthog: the warehouse is open read-only; open it writable to pull")
    t0 = time.perf_counter()
    now = as_instant(now) or datetime.now(UTC)
    client = client or QueryClient(
        cfg.host,
        cfg.project_id,
        key_env=cfg.key_env,
        timeout=cfg.timeout,
        limits=cfg.limits,
        retry=cfg.retry,
    )
    source = source_name(cfg, client)
    lo_arg, hi_arg = as_instant(since), as_instant(until)
    if lo_arg is None and hi_arg is not None:
        raise ValueError("--until needs --since (a backfill of that range)")
    if lo_arg is not None:
        stream = f"{source} backfill {ts_text(lo_arg)}..{ts_text(hi_arg) if hi_arg else 'now'}"
    else:
        stream = source
    with writing(wh):
        ensure_tables(wh)
        cur = read_cursor(wh, stream) or Cursor(stream, source)
        resumed = cur.interrupted
        if resumed:
            run_from, run_until = parse_ts(cur.run_from), parse_ts(cur.run_until)
            after = (parse_ts(cur.cursor_ts), cur.cursor_uuid) if cur.cursor_uuid else None
        else:
            if lo_arg is not None:
                run_from, run_until = lo_arg, hi_arg or now
            elif cur.done_until is None:
                raise PostHogError(
                    f"{source}: no cursor yet; the first pull needs --since YYYY-MM-DD "
                    "(a backfill from that day, which then seeds the incremental cursor)"
                )
            else:
                run_from, run_until = parse_ts(cur.done_until) - cfg.overlap, now
            if run_until <= run_from:
                raise ValueError(
                    f"nothing to pull: until {ts_text(run_until)} is not after "
                    f"since {ts_text(run_from)}"
                )
            after = None
            cur.run_from, cur.run_until = ts_text(run_from), ts_text(run_until)
            cur.cursor_ts, cur.cursor_uuid = None, None
            write_cursor(wh, cur)
    res = PullResult(stream, run_from, run_until, resumed=resumed)
    folder = Path(tempfile.mkdtemp(prefix="zantara-posthog-", dir=spool_dir))
    spool = _Spool(folder)
    dcon = connection()
    pos_ts = after[0] if after else run_from
    bar = _bar(progress, (run_until - run_from).total_seconds(), f"PostHog {client.project_id}")

    # Loads run on one worker thread, at most one at a time, while the next pages are
    # fetched and decoded (DuckDB releases the GIL): the cursor of a group moves only
    # after its own load has committed.
    pool = ThreadPoolExecutor(1, thread_name_prefix="zantara-posthog-load")
    pending: list[Future] = []

    def commit() -> None:
        group = (*spool.take(), after)
        for f in pending:
            f.result()  # the previous load first (its error stops the pull here)
        pending[:] = [pool.submit(load_group, *group)]

    def load_group(path, rows, pages, persons, upto) -> None:
        t = time.perf_counter()
        with writing(wh):
            _load_group(path, rows, pages, persons, upto)
        res.load_seconds += time.perf_counter() - t

    def _load_group(path, rows, pages, persons, upto) -> None:
        if path is not None and rows:
            summaries = ingest(wh, [path], format="posthog-parquet", now=now)
            for s in summaries:
                _provenance(wh, s.load_id, stream)
                res.loads += 1
                res.loaded += s.loaded
                res.duplicates += s.duplicates
                res.quarantined += s.quarantined_total
                res.load_ids.append(s.load_id)
            path.unlink(missing_ok=True)
        wh.execute("BEGIN TRANSACTION")
        try:
            merge_person_ids(wh, source, persons)
            if upto is not None:
                cur.cursor_ts, cur.cursor_uuid = ts_text(upto[0]), upto[1]
            cur.rows_read += rows
            cur.pages += pages
            write_cursor(wh, cur)
            wh.execute("COMMIT")
        except BaseException:
            with contextlib.suppress(Exception):
                wh.execute("ROLLBACK")
            raise

    try:
        lo = max(run_from, pos_ts)
        while lo < run_until:
            hi = min(lo + cfg.slice, run_until)
            while True:
                t = time.perf_counter()
                answer = client.query(
                    page_query(lo, hi, after, cfg.page_size), name="zantara-nb incremental pull"
                )
                t1 = time.perf_counter()
                res.http_seconds += t1 - t
                page = decode(dcon, answer.body, client.url)
                if page.rows:
                    table = map_names(dcon, page.table, check=True)
                    spool.add(table, latest_person(dcon, page.table, ordered=True))
                    last_ts = parse_ts(page.table["timestamp"][-1].as_py().replace("Z", "+00:00"))
                    after = (last_ts, page.table["uuid"][-1].as_py())
                    res.rows += page.rows
                    res.pages += 1
                    if bar is not None:
                        bar.n = int((last_ts - run_from).total_seconds())
                        bar.set_postfix_str(f"{res.rows:,} rows, at {ts_text(last_ts)[:16]}")
                res.decode_seconds += time.perf_counter() - t1
                if spool.rows >= cfg.commit_rows:
                    commit()
                if not page.rows:
                    break
                if page.has_more is None:  # not said: read on until a page comes back empty
                    continue
                if page.rows < cfg.page_size and not page.has_more:
                    break
            lo = hi
            if bar is not None:
                bar.n = int((hi - run_from).total_seconds())
                bar.refresh()
        commit()
        for f in pending:
            f.result()
        pending.clear()
        # the run is complete: the next one starts from here (minus the overlap)
        with writing(wh):
            _complete(wh, cur, stream, source, run_from, run_until)
    finally:
        for f in pending:  # a load in flight finishes (and moves the cursor) first
            with contextlib.suppress(Exception):
                f.result()
        pool.shutdown(wait=True)
        spool.take()
        if bar is not None:
            bar.close()
        dcon.close()
        shutil.rmtree(folder, ignore_errors=True)
    st = client.stats
    res.requests, res.retries, res.throttled = st.requests, st.retries, st.throttled
    res.cursor = (cur.cursor_ts, cur.cursor_uuid)
    res.seconds = time.perf_counter() - t0
    return res


def _complete(wh, cur: Cursor, stream: str, source: str, run_from, run_until) -> None:
    wh.execute("BEGIN TRANSACTION")
    try:
        done = ts_text(run_until)
        cur.done_until = max(cur.done_until or done, done)
        cur.run_from = cur.run_until = None
        cur.runs += 1
        write_cursor(wh, cur)
        if stream != source:
            _seed_incremental(wh, source, run_from, run_until)
        wh.execute("COMMIT")
    except BaseException:
        with contextlib.suppress(Exception):
            wh.execute("ROLLBACK")
        raise


def _seed_incremental(wh, source: str, run_from: datetime, run_until: datetime) -> None:
    """A finished backfill moves the incremental cursor when it starts at or before it."""
    inc = read_cursor(wh, source) or Cursor(source, source)
    if inc.interrupted:
        return
    done = parse_ts(inc.done_until) if inc.done_until else None
    if done is None or (run_from <= done < run_until):
        inc.done_until = ts_text(run_until)
        write_cursor(wh, inc)


def _provenance(wh, load_id: int | None, stream: str) -> None:
    """The load of a spool names the project stream, not the temporary file."""
    if load_id is None:
        return
    label = f"posthog:{stream}"
    wh.execute(
        "UPDATE loads SET path = ?, format = ? WHERE load_id = ?", [label, LOAD_FORMAT, load_id]
    )
    wh.execute("UPDATE quarantine SET file = ? WHERE load_id = ?", [label, load_id])


# --------------------------------------------------------------------------------------
# Command line: ``zantara-nb ingest posthog ...``
# --------------------------------------------------------------------------------------


def build_parser():
    import argparse

    p = argparse.ArgumentParser(
        prog="zantara-nb ingest posthog",
        description="Pull events from a PostHog project (incremental; --since/--until for a "
        f"backfill). The personal API key (Query Read scope) is read from ${KEY_ENV}.",
    )
    p.add_argument("--host", help="us, eu or a self-hosted URL (default: $POSTHOG_HOST)")
    p.add_argument("--project", help="project id (default: $POSTHOG_PROJECT_ID)")
    p.add_argument("--params", help="parameters file with a posthog: section")
    p.add_argument("--since", help="backfill from this day/instant (UTC unless an offset is given)")
    p.add_argument("--until", help="backfill up to this day/instant (default: now)")
    p.add_argument("--overlap-hours", type=float, help="re-read window for late events (2)")
    p.add_argument("--slice-hours", type=float, help="time slice per query range (24)")
    p.add_argument("--page-size", type=int, help=f"rows per page (max {MAX_ROWS:,})")
    p.add_argument("--key-env", help=f"variable holding the key (default {KEY_ENV})")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.add_argument("--warehouse", "-w", help="DuckDB warehouse file")
    return p


def cli(argv=None) -> int:
    """``zantara-nb ingest posthog``: exit 0 done, 1 PostHog/loader error, 2 bad settings."""
    from .. import config
    from ..warehouse.connection import Warehouse
    from .summary import IngestError

    args = build_parser().parse_args(argv)
    try:
        params = config.load_parameters(args.params) if args.params else {}
        sec = params.get("posthog") or {}
        cfg = PullConfig.from_parameters(
            params,
            host=args.host or sec.get("host") or os.environ.get("POSTHOG_HOST"),
            project_id=args.project
            or sec.get("project_id")
            or os.environ.get("POSTHOG_PROJECT_ID"),
            overlap_hours=args.overlap_hours,
            slice_hours=args.slice_hours,
            page_size=args.page_size,
            key_env=args.key_env,
        )
        QueryClient(cfg.host, cfg.project_id, key_env=cfg.key_env)  # checks host and project
    except (ValueError, OSError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    try:
        with Warehouse(args.warehouse) as wh:
            res = pull(
                wh,
                cfg,
                since=args.since,
                until=args.until,
                progress=False if args.no_progress else None,
            )
    except (PostHogError, IngestError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(res)
    return 0
