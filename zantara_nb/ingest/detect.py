"""Format detection: file extension plus a look at the first bytes.

Sniffing reads at most :data:`SNIFF_BYTES` (decompressed) from the start of the file:
gzip magic, Parquet magic (``PAR1``), the first JSON object's keys (Segment envelope vs
PostHog export), or a CSV header. A file that contradicts its name or the format it was
given (``--format posthog-parquet`` on a text file, a ``.gz`` that is not gzip) raises
:class:`IngestError` with a message naming the file.
"""

from __future__ import annotations

import csv
import gzip
import io
import json
import re
import zlib
from dataclasses import dataclass, field
from pathlib import Path

from .summary import IngestError

FORMATS: tuple[str, ...] = (
    "segment",
    "posthog-jsonl",
    "posthog-csv",
    "posthog-parquet",
    "parquet",
    "csv",
)
SNIFF_BYTES = 64 * 1024
GZIP_MAGIC = b"\x1f\x8b"
PARQUET_MAGIC = b"PAR1"

#: Keys that only a Segment message has at the top level.
SEGMENT_KEYS = frozenset(
    {
        "messageId",
        "userId",
        "anonymousId",
        "type",
        "context",
        "originalTimestamp",
        "sentAt",
        "receivedAt",
        "previousId",
        "traits",
        "integrations",
        "writeKey",
        "batch",
    }
)
#: Keys that only a PostHog event export has at the top level.
POSTHOG_KEYS = frozenset(
    {"distinct_id", "uuid", "person_id", "elements_chain", "team_id", "person_properties"}
)
#: Columns a PostHog events CSV/Parquet export always has (after dropping a ``*.`` prefix).
POSTHOG_COLUMNS = frozenset({"event", "distinct_id", "timestamp"})

_EXT_KIND = {
    ".parquet": "parquet",
    ".pq": "parquet",
    ".csv": "csv",
    ".tsv": "csv",
    ".json": "json",
    ".jsonl": "json",
    ".ndjson": "json",
}


@dataclass
class Sniff:
    """What the first bytes of a file say about it."""

    path: Path
    gzip: bool
    kind: str
    """``parquet``, ``json-lines``, ``json-array``, ``json-document``, ``csv`` or ``empty``."""
    first_keys: list[str] = field(default_factory=list)
    columns: list[str] = field(default_factory=list)
    delimiter: str = ","
    bom: bool = False

    @property
    def json(self) -> bool:
        return self.kind.startswith("json")


def _ext_kind(path: Path) -> tuple[str | None, bool]:
    suffixes = [s.lower() for s in path.suffixes]
    gz = bool(suffixes) and suffixes[-1] in (".gz", ".gzip")
    if gz:
        suffixes = suffixes[:-1]
    return (_EXT_KIND.get(suffixes[-1]) if suffixes else None), gz


def _read_head(path: Path) -> tuple[bytes, bool]:
    try:
        with open(path, "rb") as f:
            magic = f.read(2)
            if magic == GZIP_MAGIC:
                f.seek(0)
                try:
                    with gzip.GzipFile(fileobj=f) as gz:
                        return gz.read(SNIFF_BYTES), True
                except (OSError, EOFError, zlib.error) as exc:
                    raise IngestError(f"{path}: not a readable gzip file: {exc}") from exc
            return magic + f.read(SNIFF_BYTES - 2), False
    except IngestError:
        raise
    except OSError as exc:
        raise IngestError(f"{path}: cannot read the file: {exc.strerror or exc}") from exc


_KEY_RE = re.compile(r'"((?:[^"\\]|\\.)*)"\s*:')


def _first_object_keys(text: str) -> list[str]:
    """Top-level keys of the first JSON object in ``text`` (best effort on a truncated head)."""
    start = text.find("{")
    if start < 0:
        return []
    try:
        obj, _ = json.JSONDecoder().raw_decode(text[start:])
        if isinstance(obj, dict):
            keys = list(obj)
            if "batch" in obj and isinstance(obj["batch"], list) and obj["batch"]:
                first = obj["batch"][0]
                if isinstance(first, dict):
                    keys += list(first)
            return keys
    except ValueError:
        pass
    return _KEY_RE.findall(text[start:])


def _looks_binary(head: bytes) -> bool:
    """NUL bytes make a file binary (or UTF-16 text) unless they are a few stray bytes in
    text: a NUL in an otherwise good JSON-lines or CSV file only spoils its line, which
    is quarantined like any other bad line."""
    if head[:2] in (b"\xff\xfe", b"\xfe\xff"):  # UTF-16 byte order marks
        return True
    nul = head.count(b"\x00")
    return nul > 0 and nul * 100 > len(head)  # more than 1% of the first bytes


def sniff(path: str | Path) -> Sniff:
    """Look at the start of ``path`` (raises :class:`IngestError` if it cannot be read)."""
    p = Path(path)
    if not p.exists():
        raise IngestError(f"{p}: no such file")
    if p.is_dir():
        raise IngestError(f"{p}: is a directory, not a file")
    head, gz = _read_head(p)
    if head[:4] == PARQUET_MAGIC:
        if gz:
            raise IngestError(f"{p}: gzip-compressed Parquet is not supported; decompress it first")
        return Sniff(p, False, "parquet")
    bom = head.startswith(b"\xef\xbb\xbf")
    if bom:
        head = head[3:]
    if _looks_binary(head[:4096]):
        raise IngestError(
            f"{p}: binary content (not JSON, CSV or Parquet; UTF-16 text is not supported)"
        )
    text = head.decode("utf-8", errors="replace")
    stripped = text.lstrip()
    if not stripped:
        return Sniff(p, gz, "empty", bom=bom)
    if stripped[0] == "[":
        return Sniff(p, gz, "json-array", first_keys=_first_object_keys(stripped[1:]), bom=bom)
    if stripped[0] == "{":
        lines = stripped.split("\n")
        complete = lines[:-1] if len(stripped) < len(text) or len(head) == SNIFF_BYTES else lines
        first_obj = None
        for line in complete[:50]:
            try:
                obj = json.loads(line)
            except ValueError:
                continue
            if isinstance(obj, dict):
                first_obj = obj
                break
        if first_obj is not None:
            return Sniff(p, gz, "json-lines", first_keys=list(first_obj), bom=bom)
        if len(complete) <= 1 and len(head) == SNIFF_BYTES:
            # one line longer than the sniff window: still JSON lines
            return Sniff(p, gz, "json-lines", first_keys=_first_object_keys(stripped), bom=bom)
        return Sniff(p, gz, "json-document", first_keys=_first_object_keys(stripped), bom=bom)
    first_line = text.split("\n", 1)[0].rstrip("\r")
    delimiter = ","
    if "\t" in first_line and "," not in first_line:
        delimiter = "\t"
    elif ";" in first_line and "," not in first_line:
        delimiter = ";"
    try:
        header = next(csv.reader(io.StringIO(first_line), delimiter=delimiter))
    except (csv.Error, StopIteration):
        header = []
    return Sniff(p, gz, "csv", columns=[h.strip() for h in header], delimiter=delimiter, bom=bom)


def _json_format(s: Sniff) -> str | None:
    keys = set(s.first_keys)
    if keys & SEGMENT_KEYS:
        return "segment"
    if keys & POSTHOG_KEYS:
        return "posthog-jsonl"
    return None


def csv_base_name(column: str) -> str:
    """A PostHog CSV column without its ``*.`` / ``event.`` prefix (``*.distinct_id``)."""
    return column[2:] if column.startswith("*.") else column


def _csv_format(s: Sniff) -> str:
    """PostHog's UI export (``*.event`` columns), or its columns with a properties JSON."""
    names = {csv_base_name(c) for c in s.columns}
    has_props = "properties" in names or any(n.startswith("properties.") for n in names)
    if any(c.startswith("*.") for c in s.columns) or (names >= POSTHOG_COLUMNS and has_props):
        return "posthog-csv"
    return "csv"


def _parquet_columns(path: Path) -> list[str]:
    import pyarrow.parquet as pq

    try:
        return list(pq.read_schema(path).names)
    except Exception as exc:  # pyarrow raises several types for corrupt files
        raise IngestError(f"{path}: not a readable Parquet file: {exc}") from exc


def detect(path: str | Path, format: str | None = None) -> tuple[str, Sniff]:
    """The format of ``path`` (checked against ``format`` when one is given)."""
    s = sniff(path)
    p = s.path
    ext_kind, ext_gz = _ext_kind(p)
    if ext_gz and not s.gzip:
        raise IngestError(f"{p}: named .gz but is not gzip-compressed")
    if format is not None and format not in FORMATS:
        raise IngestError(f"{p}: unknown format {format!r} (expected one of {', '.join(FORMATS)})")
    if s.kind == "parquet":
        s.columns = _parquet_columns(p)
    looks = {
        "parquet": "Parquet",
        "csv": "CSV/text",
        "empty": "empty",
    }.get(s.kind, "JSON")

    if format is not None:
        if s.kind == "empty":
            return format, s
        if format in ("posthog-parquet", "parquet") and s.kind != "parquet":
            raise IngestError(
                f"{p}: --format {format} but the file is not Parquet "
                f"(no PAR1 magic; it looks like {looks})"
            )
        if format in ("segment", "posthog-jsonl") and not s.json:
            raise IngestError(
                f"{p}: --format {format} but the file is not JSON (it looks like {looks})"
            )
        if format in ("posthog-csv", "csv") and s.kind != "csv":
            raise IngestError(
                f"{p}: --format {format} but the file is not CSV (it looks like {looks})"
            )
        return format, s

    # no format given: content decides, but it must not contradict the file name
    if ext_kind == "parquet" and s.kind not in ("parquet", "empty"):
        raise IngestError(f"{p}: named .parquet but is not Parquet (it looks like {looks})")
    if ext_kind in ("csv", "json") and s.kind == "parquet":
        raise IngestError(f"{p}: named .{ext_kind} but is a Parquet file")
    if ext_kind == "json" and s.kind == "csv":
        raise IngestError(f"{p}: named .json/.jsonl but does not start with '{{' or '['")
    if ext_kind == "csv" and s.json:
        raise IngestError(
            f"{p}: named .csv but holds JSON (pass format='segment' or 'posthog-jsonl')"
        )
    if s.kind == "empty":
        guess = {"parquet": "parquet", "csv": "csv"}.get(ext_kind or "", "posthog-jsonl")
        return guess, s
    if s.kind == "parquet":
        names = set(s.columns)
        if {"event", "distinct_id", "properties", "timestamp"} <= names:
            return "posthog-parquet", s
        return "parquet", s
    if s.kind == "csv":
        return _csv_format(s), s
    fmt = _json_format(s)
    if fmt is None:
        keys = ", ".join(s.first_keys[:10]) or "none"
        raise IngestError(
            f"{p}: cannot tell whether this JSON is a Segment or a PostHog export "
            f"(first keys: {keys}); pass format='segment' or format='posthog-jsonl'"
        )
    return fmt, s
