"""Consent and PII at the door: events of persons who declined analytics are only counted
per day; free-text property values are scrubbed of personal data, with counts."""

from __future__ import annotations

import csv
import json
import re
from pathlib import Path

from ingest_fixtures import NOW, posthog, segment, write_jsonl

from zantara_nb.gdpr import consent, delete_person
from zantara_nb.ingest import ingest
from zantara_nb.ingest.privacy_gate import CANDIDATE, SAFE_PATCH, load_privacy
from zantara_nb.warehouse import Warehouse
from zantara_nb.warehouse.pii import find

DATA = Path(__file__).resolve().parents[1] / "data" / "pii_labelled.csv"


def _ev(uuid, event, did, ts="2025-11-15T14:30:00Z", **props):
    return posthog(uuid, event, did, ts, **props)


def test_declined_persons_are_only_counted_per_day(tmp_path):
    rows = [
        _ev("c1", "message_sent", "u1", "2025-11-10T08:00:00Z", query_length=1),
        _ev(
            "c2",
            "consent_updated",
            "u1",
            "2025-11-10T09:00:00Z",
            analytics_consent=False,
            consent_source="banner",
        ),
        _ev("c3", "message_sent", "u1", "2025-11-10T10:00:00Z", query_length=2),
        _ev("c4", "message_sent", "u1", "2025-11-11T10:00:00Z", query_length=3),
        _ev("c5", "consent_updated", "u1", "2025-11-12T09:00:00Z", analytics_consent="granted"),
        _ev("c6", "message_sent", "u1", "2025-11-12T10:00:00Z", query_length=4),
        _ev("c7", "message_sent", "u2", "2025-11-10T10:00:00Z", query_length=5),
        # a decline as a person property ($set) on any event
        _ev(
            "c8",
            "$identify",
            "u3",
            "2025-11-10T07:00:00Z",
            **{"$anon_distinct_id": "a3", "$set": {"analytics_consent": "false"}},
        ),
        _ev("c9", "message_sent", "a3", "2025-11-10T08:00:00Z", query_length=6),
        _ev("c10", "message_sent", "u3", "2025-11-10T08:00:00Z", query_length=7),
        # and on the event itself
        _ev("c11", "page_viewed", "u4", "2025-11-10T08:00:00Z", path="/", analytics_consent=0),
        '{"uuid":"c12","event":"message_sent","distinct_id":"u3","timestamp":"bad"}',
    ]
    with Warehouse(tmp_path / "w.duckdb") as wh:
        [s] = ingest(wh, write_jsonl(tmp_path / "c.jsonl", rows), now=NOW)
        kept = sorted(r[0] for r in wh.execute("SELECT uuid FROM events").fetchall())
        assert kept == ["c1", "c5", "c6", "c7"]
        assert s.consent_declined == 8 and s.loaded == 4 and s.adds_up
        assert "no consent" in str(s)
        assert wh.scalar("SELECT count(*) FROM quarantine") == 0  # u3's bad row: declined
        daily = consent.declined_per_day(wh)
        got = {(str(d)[:10], e): int(n) for d, e, n in daily.itertuples(index=False)}
        assert got == {
            ("2025-11-10", "consent_updated"): 1,
            ("2025-11-10", "message_sent"): 3,  # c3, a3's c9, u3's c10
            ("2025-11-10", "$identify"): 1,
            ("2025-11-10", "page_viewed"): 1,
            ("2025-11-11", "message_sent"): 1,
        }
        assert sum(got.values()) == s.consent_declined - 1  # + the quarantined row
        # decisions are kept hashed, only for ids that declined
        dec = wh.sql("SELECT * FROM consent_decisions")
        assert set(dec.columns) >= {"id_hash", "timestamp", "granted"}
        assert "u1" not in dec.to_string() and len(dec) == 5  # u1 x2, u3, a3, u4
        # a later load remembers: u1 (granted again) loads, u4 still declined
        later = [
            _ev("d1", "message_sent", "u1", "2025-11-20T10:00:00Z", query_length=1),
            _ev("d2", "message_sent", "u4", "2025-11-20T10:00:00Z", query_length=1),
            _ev("d3", "message_sent", "a3", "2025-11-20T10:00:00Z", query_length=1),
        ]
        [s2] = ingest(wh, write_jsonl(tmp_path / "d.jsonl", later), now=NOW)
        assert s2.loaded == 1 and s2.consent_declined == 2
        # an erased person's consent records go with them
        delete_person(wh, "u1", reports_dir=None)
        assert wh.scalar("SELECT count(*) FROM consent_decisions") == 3


def test_segment_identify_traits_decline(tmp_path):
    rows = [
        segment("s1", type="identify", user_id="u9", traits={"analytics_consent": False}),
        segment("s2", "message_sent", user_id="u9", properties={"query_length": 3}),
    ]
    with Warehouse(tmp_path / "w.duckdb") as wh:
        [s] = ingest(wh, write_jsonl(tmp_path / "s.jsonl", rows), now=NOW)
        assert s.consent_declined == 2 and s.loaded == 0


def test_free_text_is_scrubbed_with_typed_placeholders_and_counts(tmp_path):
    rows = [
        _ev(
            "p1",
            "error_occurred",
            "u1",
            error_type="payment",
            error_message="card 4111 1111 1111 1111 of budi@gmail.com declined, call 0812-3456-7890",
        ),
        _ev(
            "p2",
            "source_clicked",
            "u1",
            document_title="KTP 3174051203900001 / NPWP 01.234.567.8-901.000",
            message_id="m1",
            document_id="d1",
            source_position=1,
        ),
        _ev(
            "p3",
            "subscription_cancelled",
            "u1",
            plan="pro",
            cancel_reason="moved, new number +62 812 1111 2222",
            days_subscribed=3,
        ),
        _ev(
            "p4",
            "page_viewed",
            "u1",
            path="/admin",
            referrer="https://admin:rahasia@internal.zantara.id/x",
            user_agent="Mozilla/5.0 Chrome/120.0.6099.109",
        ),
        _ev("p5", "feature_used", "u1", feature="x", note={"deep": ["ip 36.85.12.201"]}),
        # safe keys are never scanned (ids, enumerations)
        _ev("p6", "message_sent", "u1", session_id="0812-3456-7890", query_length=1),
        # quarantined rows: raw text scrubbed too
        '{"uuid":"p7","event":"message_sent","distinct_id":"u1","timestamp":"bad",'
        '"properties":{"error":"mail siti@mail.com"}}',
    ]
    with Warehouse(tmp_path / "w.duckdb") as wh:
        [s] = ingest(wh, write_jsonl(tmp_path / "p.jsonl", rows), now=NOW)
        props = {
            u: json.loads(p)
            for u, p in wh.execute("SELECT uuid, properties FROM events").fetchall()
        }
        assert props["p1"]["error_message"] == "card [card] of [email] declined, call [phone]"
        assert props["p1"]["error_type"] == "payment"
        assert props["p2"]["document_title"] == "KTP [nik] / NPWP [npwp]"
        assert props["p3"]["cancel_reason"] == "moved, new number [phone]"
        assert props["p4"]["referrer"] == "https://[credentials]@internal.zantara.id/x"
        assert props["p4"]["user_agent"] == "Mozilla/5.0 Chrome/120.0.6099.109"
        assert props["p5"]["note"] == {"deep": ["ip [ip]"]}
        assert props["p6"]["session_id"] == "0812-3456-7890"
        raw = wh.scalar("SELECT raw FROM quarantine")
        assert "siti@" not in raw and "[email]" in raw
        assert s.pii_scrubbed == {
            "email": 2,
            "phone": 2,
            "card": 1,
            "nik": 1,
            "npwp": 1,
            "url_credentials": 1,
            "ip": 1,
        }
        assert "scrubbed" in str(s)
        lp = load_privacy(wh)
        assert int(lp["pii_scrubbed"].iloc[0]) == 9


def test_sql_prefilter_misses_nothing_the_patterns_find():
    """The cheap SQL pre-filter must let through every string the patterns would
    redact: checked on every labelled string, as a property value, in DuckDB."""
    import duckdb

    con = duckdb.connect()
    texts = []
    with DATA.open(encoding="utf-8", newline="") as f:
        for r in csv.DictReader(f):
            if find(r["text"]):
                texts.append(r["text"])
    assert len(texts) >= 70
    for t in texts:
        props = json.dumps({"session_id": "s", "error_message": t}, ensure_ascii=False)
        hit = con.execute(
            "SELECT regexp_matches(json_merge_patch(?, ?)::VARCHAR, ?)",
            [props, SAFE_PATCH, CANDIDATE],
        ).fetchall()[0][0]
        assert hit, t
    assert re.compile(CANDIDATE).search("plain words 123") is None
