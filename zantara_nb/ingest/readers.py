"""Readers: a file in, a stream of Arrow tables (chunks) out, never the whole file at once.

Every chunk has ``_line`` (1-based line number for JSON lines and CSV, element number
for JSON arrays, row number for Parquet), ``_parse_error`` (why the reader could not
split/decode the row, else null) and ``_raw`` (the raw text when the reader has it).
CSV and Parquet chunks carry the file's columns renamed ``src_0, src_1, ...`` (the
original names are in :attr:`Source.columns`), so they never collide with ours.

Fast paths use pyarrow's streaming CSV reader on native file streams, gzip included
(for JSON lines: one column per line, a delimiter that cannot occur in valid JSON, no
quoting) and pyarrow's Parquet reader. A file the fast path cannot split exactly (invalid UTF-8, a stray control character, a
quoted newline in a CSV, a blank line inside a CSV) raises :class:`Restart`; the loader
then starts the file again on the slow path, which reads line by line in Python and
reports the odd rows instead of failing.
"""

from __future__ import annotations

import csv
import gzip
import hashlib
import io
import sys
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import duckdb
import numpy as np
import pyarrow as pa

from .detect import Sniff
from .summary import IngestError
from .validate import sql_str

#: Rows per chunk handed to DuckDB (bounds memory: one chunk of raw text + its staging);
#: a chunk also ends at :data:`CHUNK_BYTES` of input columns, whichever comes first.
CHUNK_ROWS = 250_000
CHUNK_BYTES = 128 << 20
_BLOCK_SIZE = 2 << 20  # bigger blocks only cost memory (read-ahead)
_SLOW_BATCH = 50_000
_RS = "\x1e"  # record separator: never valid inside JSON text


class Restart(Exception):
    """The fast path cannot read this file exactly; read it again on the slow path."""


def file_digest(path: Path) -> tuple[str, int]:
    """sha256 and size of a file, read in 1 MiB blocks."""
    sha = hashlib.sha256()
    n = 0
    with open(path, "rb") as f:
        while chunk := f.read(1 << 20):
            sha.update(chunk)
            n += len(chunk)
    return sha.hexdigest(), n


class FileHasher:
    """sha256 and size of a file, computed in a background thread while it is loaded.

    hashlib releases the GIL on large updates, so this overlaps with the load instead
    of adding a second pass to it.
    """

    def __init__(self, path: Path) -> None:
        self.path = path
        self._result: tuple[str, int] | None = None
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, name="zantara-sha256", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        try:
            self._result = file_digest(self.path)
        except BaseException as exc:  # reported by result()
            self._error = exc

    def result(self) -> tuple[str | None, int | None]:
        self._thread.join()
        if self._result is None:
            return None, None
        return self._result


@dataclass
class Source:
    """An open file: its chunks, its columns (CSV/Parquet) and, at the end, its digest."""

    path: Path
    layout: str  # jsonl | json | csv | parquet
    columns: list[str] = field(default_factory=list)
    arrow_types: list[pa.DataType] = field(default_factory=list)
    chunks: Iterator[pa.Table] = field(default_factory=lambda: iter(()))
    #: Blank lines the reader skipped itself (CSV); blank JSON lines reach the loader,
    #: which counts them (``LoadSummary.blank_lines``).
    skipped: dict[str, int] = field(default_factory=lambda: {"blank": 0})

    def close(self) -> None:
        """Stop reading (closes the chunk generator and the file it holds)."""
        close = getattr(self.chunks, "close", None)
        if close is not None:
            close()


def _rechunk(batches: Iterator[pa.RecordBatch], rows: int) -> Iterator[pa.Table]:
    pending: list[pa.RecordBatch] = []
    n = size = 0
    for batch in batches:
        while batch.num_rows:
            b = batch.slice(0, rows - n)
            batch = batch.slice(b.num_rows)
            pending.append(b)
            n += b.num_rows
            size += b.nbytes
            if n >= rows or size >= CHUNK_BYTES:
                yield pa.Table.from_batches(pending)
                pending, n, size = [], 0, 0
    if pending:
        yield pa.Table.from_batches(pending)


def _binary_stream(path: Path, gz: bool):
    return gzip.open(path, "rb") if gz else open(path, "rb", buffering=1 << 20)  # noqa: SIM115


def _arrow_stream(path: Path, gz: bool):
    return pa.input_stream(str(path), compression="gzip" if gz else None)


# --------------------------------------------------------------------------------------
# JSON lines
# --------------------------------------------------------------------------------------

_JSONL_SCHEMA = pa.schema(
    [("_line", pa.int64()), ("_raw", pa.string()), ("_parse_error", pa.string())]
)


def _jsonl_fast(path: Path, gz: bool) -> Iterator[pa.RecordBatch]:
    import pyarrow.csv as pcsv

    ro = pcsv.ReadOptions(column_names=["_raw"], block_size=_BLOCK_SIZE, use_threads=True)
    po = pcsv.ParseOptions(
        delimiter=_RS,
        quote_char=False,
        escape_char=False,
        double_quote=False,
        newlines_in_values=False,
        ignore_empty_lines=False,
    )
    co = pcsv.ConvertOptions(
        column_types={"_raw": pa.string()},
        strings_can_be_null=False,
        quoted_strings_can_be_null=False,
    )
    try:
        reader = pcsv.open_csv(
            _arrow_stream(path, gz), read_options=ro, parse_options=po, convert_options=co
        )
        line = 1
        nulls = None
        for b in reader:
            n = b.num_rows
            if nulls is None or len(nulls) != n:
                nulls = pa.nulls(n, pa.string())
            yield pa.record_batch(
                [pa.array(np.arange(line, line + n, dtype=np.int64)), b.column(0), nulls],
                schema=_JSONL_SCHEMA,
            )
            line += n
    except (pa.ArrowInvalid, UnicodeDecodeError) as exc:
        raise Restart(str(exc)) from exc
    except OSError as exc:
        raise IngestError(f"{path}: cannot read: {exc}") from exc


def _jsonl_slow(path: Path, gz: bool) -> Iterator[pa.RecordBatch]:
    stream = _binary_stream(path, gz)
    nums: list[int] = []
    texts: list[str] = []
    errs: list[str | None] = []
    lineno = 0
    try:
        for raw in stream:
            lineno += 1
            raw = raw.rstrip(b"\n").rstrip(b"\r")
            if lineno == 1 and raw.startswith(b"\xef\xbb\xbf"):
                raw = raw[3:]
            try:
                text, err = raw.decode("utf-8"), None
            except UnicodeDecodeError:
                text, err = raw.decode("utf-8", errors="replace"), "not valid UTF-8"
            nums.append(lineno)
            texts.append(text)
            errs.append(err)
            if len(nums) >= _SLOW_BATCH:
                yield pa.record_batch([nums, texts, errs], schema=_JSONL_SCHEMA)
                nums, texts, errs = [], [], []
    except (OSError, EOFError) as exc:
        raise IngestError(f"{path}: cannot read: {exc}") from exc
    finally:
        stream.close()
    if nums:
        yield pa.record_batch([nums, texts, errs], schema=_JSONL_SCHEMA)


# --------------------------------------------------------------------------------------
# JSON documents (an array of events, a Segment batch {"batch": [...]}, one object)
# --------------------------------------------------------------------------------------


def _json_array(path: Path, sn: Sniff, con) -> Iterator[pa.RecordBatch]:
    """The elements of a top-level JSON array, streamed by DuckDB's ``read_json_objects``
    (bounded memory: never the whole file), each minified, numbered from 1."""
    if con is None:  # pragma: no cover - the loader always passes one
        raise ValueError("a DuckDB connection is needed to read a JSON array")
    cur = con.cursor()  # its own result stream: the connection keeps staging meanwhile
    options = ", compression = 'gzip'" if sn.gzip else ""
    try:
        cur.execute("SET preserve_insertion_order = true")  # element order = file order
        quoted = sql_str(str(path))
        reader = cur.sql(
            f"SELECT json(json)::VARCHAR AS _raw FROM read_json_objects({quoted}, "
            f"format = 'array'{options})"
        ).to_arrow_reader(_SLOW_BATCH)
        start = 1
        for b in reader:
            n = b.num_rows
            if n:
                yield pa.record_batch(
                    [
                        pa.array(np.arange(start, start + n, dtype=np.int64)),
                        b.column(0),
                        pa.nulls(n, pa.string()),
                    ],
                    schema=_JSONL_SCHEMA,
                )
                start += n
    except (duckdb.Error, OSError, pa.ArrowException) as exc:  # errors surface via Arrow
        msg = str(exc).split("\n")[0]
        raise IngestError(f"{path}: not valid JSON: {msg}") from exc
    finally:
        cur.close()


def _json_document(path: Path, sn: Sniff, con) -> Iterator[pa.RecordBatch]:
    """One JSON document: a Segment batch ``{"batch": [...]}`` or a single event.

    Read whole (such documents are small: Segment's batch API caps them at 500 KB);
    top-level arrays, which can be large, are streamed by :func:`_json_array`.
    """
    if sn.kind == "json-array":
        yield from _json_array(path, sn, con)
        return
    opener = gzip.open if sn.gzip else open
    try:
        with opener(path, "rb") as f:
            text = f.read().decode("utf-8-sig", errors="replace")
    except (OSError, EOFError) as exc:
        raise IngestError(f"{path}: cannot read: {exc}") from exc
    try:
        elements = [
            r[0]
            for r in con.execute(
                """
                SELECT unnest(CASE WHEN json_type(d, '$.batch') = 'ARRAY'
                                   THEN json_extract(d, '$.batch[*]') ELSE [d] END)::VARCHAR
                FROM (SELECT ?::JSON AS d)
                """,
                [text],
            ).fetchall()
        ]
    except Exception as exc:  # duckdb raises ConversionException / InvalidInputException
        if "\n" in text.strip():
            # not one document: JSON lines whose first lines are broken
            del text
            yield from _jsonl_slow(path, sn.gzip)
            return
        msg = str(exc).split("\n")[0]
        raise IngestError(f"{path}: not valid JSON: {msg}") from exc
    del text
    for start in range(0, len(elements), _SLOW_BATCH):
        part = elements[start : start + _SLOW_BATCH]
        yield pa.record_batch(
            [list(range(start + 1, start + 1 + len(part))), part, [None] * len(part)],
            schema=_JSONL_SCHEMA,
        )


# --------------------------------------------------------------------------------------
# CSV
# --------------------------------------------------------------------------------------


def _csv_schema(n: int) -> pa.Schema:
    return pa.schema(
        [("_line", pa.int64()), ("_raw", pa.string()), ("_parse_error", pa.string())]
        + [(f"src_{i}", pa.string()) for i in range(n)]
    )


def _csv_fast(sn: Sniff) -> Iterator[pa.RecordBatch]:
    import pyarrow.csv as pcsv

    names = [f"src_{i}" for i in range(len(sn.columns))]
    ro = pcsv.ReadOptions(column_names=names, skip_rows=1, block_size=_BLOCK_SIZE, use_threads=True)
    po = pcsv.ParseOptions(
        delimiter=sn.delimiter,
        quote_char='"',
        double_quote=True,
        escape_char=False,
        newlines_in_values=False,
        ignore_empty_lines=False,
    )
    co = pcsv.ConvertOptions(
        column_types={n: pa.string() for n in names},
        strings_can_be_null=False,
        quoted_strings_can_be_null=False,
    )
    schema = _csv_schema(len(names))
    try:
        reader = pcsv.open_csv(
            _arrow_stream(sn.path, sn.gzip), read_options=ro, parse_options=po, convert_options=co
        )
        line = 2
        for b in reader:
            n = b.num_rows
            nulls = pa.nulls(n, pa.string())
            yield pa.record_batch(
                [pa.array(np.arange(line, line + n, dtype=np.int64)), nulls, nulls, *b.columns],
                schema=schema,
            )
            line += n
    except (pa.ArrowInvalid, UnicodeDecodeError) as exc:
        raise Restart(str(exc)) from exc
    except OSError as exc:
        raise IngestError(f"{sn.path}: cannot read: {exc}") from exc


def _csv_slow(sn: Sniff, skipped: dict[str, int] | None = None) -> Iterator[pa.RecordBatch]:
    csv.field_size_limit(min(sys.maxsize, 2**31 - 1))
    text = io.TextIOWrapper(
        _binary_stream(sn.path, sn.gzip), encoding="utf-8-sig", errors="replace", newline=""
    )
    ncols = len(sn.columns)
    schema = _csv_schema(ncols)
    reader = csv.reader(text, delimiter=sn.delimiter)
    cols: list[list] = [[] for _ in range(3 + ncols)]
    prev = 0
    try:
        header_done = False
        for row in reader:
            start, prev = prev + 1, reader.line_num
            if not header_done:
                header_done = True
                continue
            if not row or (len(row) == 1 and not row[0].strip()):
                if skipped is not None:
                    skipped["blank"] += 1
                continue
            if len(row) == ncols:
                cols[0].append(start)
                cols[1].append(None)
                cols[2].append(None)
                for i, v in enumerate(row):
                    cols[3 + i].append(v)
            else:
                cols[0].append(start)
                cols[1].append(sn.delimiter.join(row))
                cols[2].append(f"expected {ncols} fields, got {len(row)}")
                for i in range(ncols):
                    cols[3 + i].append(None)
            if len(cols[0]) >= _SLOW_BATCH:
                yield pa.record_batch(cols, schema=schema)
                cols = [[] for _ in range(3 + ncols)]
    except csv.Error as exc:
        raise IngestError(
            f"{sn.path}: not readable as CSV (line {reader.line_num}): {exc}"
        ) from exc
    except (OSError, EOFError) as exc:
        raise IngestError(f"{sn.path}: cannot read: {exc}") from exc
    finally:
        text.close()
    if cols[0]:
        yield pa.record_batch(cols, schema=schema)


# --------------------------------------------------------------------------------------
# Parquet
# --------------------------------------------------------------------------------------


def _parquet(path: Path, chunk_rows: int) -> tuple[list[str], list[pa.DataType], Iterator]:
    import pyarrow.parquet as pq

    try:
        pf = pq.ParquetFile(path)
    except Exception as exc:
        raise IngestError(f"{path}: not a readable Parquet file: {exc}") from exc
    schema = pf.schema_arrow
    names = list(schema.names)
    types = [schema.field(i).type for i in range(len(names))]
    out_schema = pa.schema(
        [("_line", pa.int64()), ("_raw", pa.string()), ("_parse_error", pa.string())]
        + [(f"src_{i}", t) for i, t in enumerate(types)]
    )

    def batches() -> Iterator[pa.RecordBatch]:
        line = 1
        try:
            for b in pf.iter_batches(batch_size=min(chunk_rows, 65_536), use_threads=True):
                n = b.num_rows
                nulls = pa.nulls(n, pa.string())
                yield pa.record_batch(
                    [pa.array(np.arange(line, line + n, dtype=np.int64)), nulls, nulls, *b.columns],
                    schema=out_schema,
                )
                line += n
        except (OSError, pa.ArrowException) as exc:
            raise IngestError(f"{path}: Parquet read failed at row {line}: {exc}") from exc

    return names, types, batches()


# --------------------------------------------------------------------------------------


def open_source(
    sn: Sniff, layout: str, *, slow: bool = False, con=None, chunk_rows: int = CHUNK_ROWS
) -> Source:
    """Open ``sn.path`` for reading as ``layout`` (``jsonl``, ``json``, ``csv``, ``parquet``)."""
    path = sn.path
    if layout == "parquet":
        names, types, batches = _parquet(path, chunk_rows)
        return Source(path, layout, names, types, _rechunk(batches, chunk_rows))
    if layout == "json":
        return Source(path, layout, chunks=_rechunk(_json_document(path, sn, con), chunk_rows))
    if layout == "jsonl":
        gen = _jsonl_slow(path, sn.gzip) if slow else _jsonl_fast(path, sn.gzip)
        return Source(path, layout, chunks=_rechunk(gen, chunk_rows))
    if layout == "csv":
        skipped = {"blank": 0}
        gen = _csv_slow(sn, skipped) if slow else _csv_fast(sn)
        return Source(
            path,
            layout,
            list(sn.columns),
            [pa.string()] * len(sn.columns),
            _rechunk(gen, chunk_rows),
            skipped,
        )
    raise ValueError(f"unknown layout {layout!r}")
