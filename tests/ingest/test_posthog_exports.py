"""PostHog batch-export folders: Parquet (.parquet.zst), split files with a manifest."""

from __future__ import annotations

import gzip
import json
import re
from datetime import UTC, datetime, timedelta

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from zantara_nb import Warehouse
from zantara_nb.cli import main as cli_main
from zantara_nb.ingest import IngestError
from zantara_nb.ingest.posthog_exports import export_files, load_export_folder
from zantara_nb.ingest.posthog_state import person_agreement

T0 = datetime(2026, 11, 1, tzinfo=UTC)
NOW = datetime(2026, 11, 10, tzinfo=UTC)


def export_rows(n: int, start: int = 0) -> pa.Table:
    """Rows in the shape of an S3 batch export (its default fields)."""
    rows = []
    for i in range(start, start + n):
        ev = ("$pageview", "message_sent", "$ai_generation")[i % 3]
        props = {"$ip": "198.51.100.23", "session_id": f"s{i}"}
        if ev == "$pageview":
            props["$pathname"] = "/pricing"
        if ev == "$ai_generation":
            props.update({"$ai_latency": 2.0, "$ai_total_cost_usd": 0.01})
        rows.append(
            {
                "uuid": f"00000000-0000-4000-8000-{i:012d}",
                "event": ev,
                "properties": json.dumps(props),
                "distinct_id": f"user_{i % 4}",
                "team_id": 1,
                "timestamp": T0 + timedelta(minutes=i),
                "created_at": T0 + timedelta(minutes=i),
                "elements_chain": "",
                "person_properties": json.dumps({"email": "x@example.com"}),
                "person_id": f"10000000-0000-4000-8000-{i % 2:012d}",
            }
        )
    t = pa.Table.from_pylist(rows)
    return t.cast(t.schema.set(5, pa.field("timestamp", pa.timestamp("us", tz="UTC"))))


def test_split_export_with_manifest_loads_once(tmp_path):
    d = tmp_path / "export"
    d.mkdir()
    start, end = "2026-11-01T00:00:00+00:00", "2026-11-02T00:00:00+00:00"
    keys = []
    for part in range(3):
        name = f"{start}-{end}-{part}.parquet.zst"
        pq.write_table(export_rows(40, part * 40), d / name, compression="zstd")
        keys.append(f"prefix/events/{name}")
    (d / f"{start}-{end}_manifest.json").write_text(json.dumps({"files": keys}))
    assert [p.name for p in export_files(d)] == sorted(k.split("/")[-1] for k in keys)
    with Warehouse(tmp_path / "w.duckdb") as wh:
        summaries = load_export_folder(wh, d, now=NOW)
        assert [s.loaded for s in summaries] == [40, 40, 40]
        assert wh.scalar("SELECT count(*) FROM events") == 120
        ev = dict(wh.execute("SELECT event, count(*) FROM events GROUP BY 1").fetchall())
        assert ev == {"page_viewed": 40, "message_sent": 40, "$ai_generation": 40}
        assert (
            wh.scalar("SELECT max(response_latency_ms) FROM events WHERE event = '$ai_generation'")
            == 2000.0
        )
        assert wh.scalar("SELECT max(ip) FROM events") == "198.51.100.0"
        paths = set(wh.sql("SELECT path FROM loads")["path"])
        assert paths == {str(d / k.split("/")[-1]) for k in keys}
        # PostHog put user_0..3 into two persons; we keep four: they disagree on all four
        (a,) = person_agreement(wh)
        assert a.distinct_ids == 4 and a.posthog_merged == 4
        again = load_export_folder(wh, d, now=NOW)
        assert sum(s.loaded for s in again) == 0 and sum(s.duplicates for s in again) == 120
        # no e-mail from person_properties anywhere in events
        assert (
            wh.scalar(
                "SELECT count(*) FROM events WHERE contains(properties::VARCHAR, 'example.com')"
            )
            == 0
        )


def test_manifest_missing_a_file_is_refused(tmp_path):
    d = tmp_path / "export"
    d.mkdir()
    pq.write_table(export_rows(5), d / "a-b-0.parquet")
    (d / "a-b_manifest.json").write_text(json.dumps({"files": ["a-b-0.parquet", "a-b-1.parquet"]}))
    with pytest.raises(IngestError, match=r"lists 1 file\(s\) that are not in .*a-b-1.parquet"):
        export_files(d)
    (d / "a-b_manifest.json").write_text("{not json")
    with pytest.raises(IngestError, match="not a batch-export manifest"):
        export_files(d)


def test_jsonl_gz_export_and_unsupported_codec(tmp_path):
    d = tmp_path / "export"
    d.mkdir()
    lines = [
        json.dumps(
            {
                "uuid": f"00000000-0000-4000-8000-{i:012d}",
                "event": "message_sent",
                "distinct_id": "u1",
                "timestamp": (T0 + timedelta(minutes=i)).isoformat(),
                "properties": json.dumps({"session_id": "s"}),
                "person_id": "p1",
            }
        )
        for i in range(7)
    ]
    with gzip.open(d / "a-b.jsonl.gz", "wt") as f:
        f.write("\n".join(lines) + "\n")
    with Warehouse(tmp_path / "w.duckdb") as wh:
        assert sum(s.loaded for s in load_export_folder(wh, d, now=NOW)) == 7
    (d / "c-d.jsonl.br").write_bytes(b"x")
    with pytest.raises(IngestError, match="only gzip"):
        export_files(d)


def test_cli_ingest_folder(tmp_path, capsys):
    d = tmp_path / "export"
    d.mkdir()
    pq.write_table(export_rows(9), d / "x-y.parquet.zst", compression="zstd")
    db = str(tmp_path / "w.duckdb")
    assert cli_main(["ingest", str(d), "-w", db]) == 0
    assert re.search(r"loaded\s+9\b", capsys.readouterr().out)
    assert cli_main(["ingest", str(tmp_path / "empty_dir_missing"), "-w", db]) == 1
