"""PostHog batch-export folders: every file of an export, through the file loader.

A PostHog S3 batch export writes, per interval, ``{start}-{end}.parquet`` (with the
codec as a second extension when one is chosen: ``.parquet.zst``, ``.parquet.sz``,
``.parquet.lz4``, ``.parquet.br``, ``.parquet.gz``; the codec is inside the Parquet file,
so they are all ordinary Parquet), or ``.jsonl``/``.jsonl.gz``. With a maximum file size
the interval is split into ``{start}-{end}-{n}.parquet...`` files and a
``{start}-{end}_manifest.json`` (``{"files": [keys...]}``) lists them.

:func:`load_export_folder` loads such a folder: a manifest's files must all be there
(an export missing a part is refused: it would undercount silently); files no manifest
lists are loaded too. ``properties`` and ``person_properties`` are JSON strings in these
files. Each file is one load through :func:`zantara_nb.ingest.ingest` (validation,
quarantine, dedupe, privacy, typed columns); a file with ``$pageview`` events is first
rewritten with PostHog's names mapped onto the plan's (:data:`.posthog_duckdb.EVENT_MAP`),
and PostHog's ``person_id`` of each distinct id is kept beside our stitching.
"""

from __future__ import annotations

import json
import posixpath
import re
import shutil
import tempfile
from datetime import datetime
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from .posthog_duckdb import EVENT_MAP, connection, latest_person, map_names
from .posthog_state import ensure_tables, merge_person_ids, ts_text, writing
from .summary import IngestError, LoadSummary

_PARQUET = re.compile(r"\.parquet(\.(zst|sz|lz4|br|gz|snappy|zstd))?$", re.IGNORECASE)
_JSONL = re.compile(r"\.jsonl(\.gz)?$", re.IGNORECASE)
_UNSUPPORTED = re.compile(r"\.jsonl\.(br|zst|lz4)$", re.IGNORECASE)
#: Columns of an export the loader has no use for (big, or PostHog's own person state).
_DROP = ("person_properties", "elements_chain", "team_id", "_inserted_at", "created_at")


def export_files(folder: str | Path) -> list[Path]:
    """The files of the export in ``folder``, in name order (see the module docstring)."""
    root = Path(folder)
    if not root.is_dir():
        raise IngestError(f"{root}: not a folder")
    listed: list[Path] = []
    for m in sorted(root.glob("*manifest.json")):
        try:
            doc = json.loads(m.read_text(encoding="utf-8"))
            keys = doc["files"]
            if not isinstance(keys, list):
                raise TypeError("files is not a list")
        except (ValueError, KeyError, TypeError) as exc:
            raise IngestError(f"{m}: not a batch-export manifest ({exc})") from None
        missing = []
        for key in keys:
            p = root / posixpath.basename(str(key))
            (listed if p.is_file() else missing).append(p)
        if missing:
            names = ", ".join(p.name for p in missing[:5])
            more = f" and {len(missing) - 5} more" if len(missing) > 5 else ""
            raise IngestError(
                f"{m}: lists {len(missing)} file(s) that are not in {root}: {names}{more}; "
                "download the whole export (a partial one would undercount)"
            )
    bad = sorted(p.name for p in root.iterdir() if _UNSUPPORTED.search(p.name))
    if bad:
        raise IngestError(
            f"{root}: {', '.join(bad[:3])}: only gzip-compressed JSON lines are supported "
            "(choose Parquet or gzip in the batch export)"
        )
    others = [
        p
        for p in root.iterdir()
        if p.is_file() and (_PARQUET.search(p.name) or _JSONL.search(p.name)) and p not in listed
    ]
    files = sorted(set(listed) | set(others), key=lambda p: p.name)
    if not files:
        raise IngestError(f"{root}: no batch-export files (.parquet, .parquet.zst, .jsonl, ...)")
    return files


def _person_rows(con, path: Path, names: list[str]) -> list[tuple]:
    if not {"distinct_id", "person_id", "timestamp"} <= set(names):
        return []
    return latest_person(
        con, pq.read_table(path, columns=["distinct_id", "person_id", "timestamp"])
    )


def load_export_folder(
    wh, folder: str | Path, *, now: datetime | None = None, spool_dir: str | None = None
) -> list[LoadSummary]:
    """Load every file of a PostHog batch export in ``folder``; one summary per file."""
    from . import ingest

    files = export_files(folder)
    with writing(wh):
        ensure_tables(wh)
    source = f"posthog-export:{Path(folder).resolve()}"
    con = connection()
    tmp = Path(tempfile.mkdtemp(prefix="zantara-export-", dir=spool_dir))
    out: list[LoadSummary] = []
    try:
        for path in files:
            if _JSONL.search(path.name):
                out += ingest(wh, [path], format="posthog-jsonl", now=now)
                continue
            try:
                pf = pq.ParquetFile(path)
            except Exception as exc:  # noqa: BLE001 - pyarrow raises several kinds
                raise IngestError(f"{path}: not a readable Parquet file: {exc}") from None
            names = list(pf.schema_arrow.names)
            persons = _person_rows(con, path, names)
            target = path
            if "event" in names:
                events = pq.read_table(path, columns=["event"])["event"]
                if pc.any(pc.is_in(events, value_set=pa.array(list(EVENT_MAP)))).as_py():
                    target = tmp / (path.name.split(".")[0] + ".parquet")
                    keep = [n for n in names if n not in _DROP]
                    writer = None
                    for batch in pf.iter_batches(batch_size=100_000, columns=keep):
                        mapped = map_names(con, pa.Table.from_batches([batch]))
                        if writer is None:
                            writer = pq.ParquetWriter(target, mapped.schema)
                        writer.write_table(mapped)
                    if writer is not None:
                        writer.close()
            summaries = ingest(wh, [target], format="posthog-parquet", now=now)
            for s in summaries:
                if target != path:
                    wh.execute(
                        "UPDATE loads SET path = ? WHERE load_id = ?", [str(path), s.load_id]
                    )
                    wh.execute(
                        "UPDATE quarantine SET file = ? WHERE load_id = ?", [str(path), s.load_id]
                    )
                    s.path = str(path)
            if target != path:
                target.unlink(missing_ok=True)
            latest = {did: (ts_text(ts), str(pid)) for did, pid, ts in persons}
            with writing(wh):
                merge_person_ids(wh, source, latest)
            out += summaries
    finally:
        con.close()
        shutil.rmtree(tmp, ignore_errors=True)
    return out
