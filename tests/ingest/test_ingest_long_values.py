"""The loader's per-value size limit: long text values are cut, marked and counted."""

from __future__ import annotations

import json

from ingest_fixtures import NOW, posthog, segment, write_jsonl

from zantara_nb.ingest import ingest
from zantara_nb.ingest.normalize import VALUE_LIMIT


def test_long_values_are_cut_at_load_and_counted(wh, tmp_path):
    big = "visa " * 40_000  # 200 KB
    path = write_jsonl(
        tmp_path / "long.jsonl",
        [
            posthog("a", "message_sent", query_category=big, message_id="m1"),
            posthog("b", "message_sent", query_category=big, **{"odd/key~1": "y" * 5000}),
            posthog("c", "message_sent", query_category="tax", note="x" * VALUE_LIMIT),
        ],
    )
    [s] = ingest(wh, path, now=NOW)
    assert s.loaded == 3 and s.adds_up
    assert s.long_values == {
        "message_sent.query_category": 2,
        "message_sent.odd/key~1": 1,
    }
    assert "long values" in str(s) and "3 cut to the size limit" in str(s)
    rows = wh.sql("SELECT uuid, query_category, properties FROM events ORDER BY 1")
    for r in rows.itertuples():
        p = json.loads(r.properties)
        if r.uuid == "c":  # exactly at the limit: kept whole
            assert r.query_category == "tax" and len(p["note"]) == VALUE_LIMIT
            continue
        assert len(r.query_category) == VALUE_LIMIT and r.query_category.endswith("…")
        assert p["query_category"] == r.query_category
        assert "$long:query_category" not in p  # the marker is never stored
    b = json.loads(rows.set_index("uuid").loc["b", "properties"])
    assert len(b["odd/key~1"]) == VALUE_LIMIT
    # loading the file again adds nothing (the cut is deterministic)
    [again] = ingest(wh, path, now=NOW)
    assert again.loaded == 0 and again.duplicates == 3


def test_segment_context_values_are_cut_too(wh, tmp_path):
    path = write_jsonl(
        tmp_path / "seg.jsonl",
        [
            segment(
                "d",
                "message_sent",
                properties={"query_category": "z" * 10_000},
                context={"page": {"title": "t" * 5000}},
            )
        ],  # fmt: skip
    )
    [s] = ingest(wh, path, now=NOW)
    assert s.loaded == 1 and sorted(s.long_values) == ["message_sent.query_category"]
    assert len(wh.scalar("SELECT query_category FROM events")) == VALUE_LIMIT
