"""Privacy at load: never-store keys dropped (and counted), IPs anonymized everywhere."""

from __future__ import annotations

import json

import pyarrow as pa
from ingest_fixtures import NOW, posthog, segment, write_jsonl, write_parquet

from zantara_nb.ingest import ingest
from zantara_nb.warehouse.privacy import anonymize_ip
from zantara_nb.warehouse.tracking_plan import NEVER_STORE


def props(wh, uuid: str) -> dict:
    return json.loads(wh.scalar("SELECT properties FROM events WHERE uuid = ?", [uuid]))


def test_never_store_keys_are_removed_and_counted(wh, tmp_path):
    path = write_jsonl(
        tmp_path / "p.jsonl",
        [
            posthog(
                "a", "message_sent", query_length=12, query_text="my passport is X123", prompt="..."
            ),
            posthog("b", "feedback_given", rating=1, feedback_text="great", has_text=True),
            posthog("c", "message_received", responseText="the answer", model_used="claude"),
            posthog("d", "message_sent", query_length=1),
            posthog(
                "e",
                "$identify",
                **{"$anon_distinct_id": "anon", "$set": {"plan": "pro", "passport_number": "P1"}},
            ),
        ],
    )
    [s] = ingest(wh, path, now=NOW)
    assert s.loaded == 5
    assert s.redacted_properties == 5
    assert props(wh, "a") == {"query_length": 12}
    assert props(wh, "b") == {"rating": 1, "has_text": True}
    assert props(wh, "c") == {"model_used": "claude"}
    assert props(wh, "d") == {"query_length": 1}
    assert props(wh, "e")["$set"] == {"plan": "pro"}
    assert json.loads(wh.scalar("SELECT set_props FROM events WHERE uuid = 'e'")) == {"plan": "pro"}
    everything = " ".join(str(v) for r in wh.execute("SELECT * FROM events").fetchall() for v in r)
    for secret in ("X123", "great", "the answer", "P1"):
        assert secret not in everything
    assert "redacted" in str(s)


def test_segment_traits_keep_email_drop_never_store(wh, tmp_path):
    path = write_jsonl(
        tmp_path / "s.jsonl",
        [
            segment(
                "i1",
                type="identify",
                user_id="u1",
                traits={"email": "a@b.c", "plan": "pro", "tax_id": "123", "npwpNumber": "9"},
            )
        ],
    )
    [s] = ingest(wh, path, now=NOW)
    assert s.redacted_properties == 2
    assert json.loads(wh.scalar("SELECT set_props FROM events")) == {
        "email": "a@b.c",
        "plan": "pro",
    }


IPS = [
    "203.0.113.42",
    "198.51.100.7",
    "2001:db8:85a3:8d3:1319:8a2e:370:7348",
    "2001:db8::1",
    "::ffff:192.0.2.128",
    "fe80::1ff:fe23:4567:890a",
    "not an ip",
    "10.0.0.1, 10.0.0.2",
]


def test_ips_are_anonymized_in_properties_and_column(wh, tmp_path):
    rows = [posthog(f"p{i}", "page_viewed", **{"$ip": ip, "path": "/"}) for i, ip in enumerate(IPS)]
    [s] = ingest(wh, write_jsonl(tmp_path / "ip.jsonl", rows), now=NOW)
    assert s.loaded == len(IPS)
    for i, ip in enumerate(IPS):
        expected = anonymize_ip(ip)
        got = wh.execute("SELECT ip, properties FROM events WHERE uuid = ?", [f"p{i}"]).fetchall()[
            0
        ]
        assert got[0] == expected, ip
        p = json.loads(got[1])
        if expected is None:
            assert "$ip" not in p  # an address that cannot be parsed is dropped
        else:
            assert p["$ip"] == expected
    assert "203.0.113.0" in [r[0] for r in wh.execute("SELECT ip FROM events").fetchall()]


def test_segment_context_ip_and_parquet_ip_column(wh, tmp_path):
    seg = write_jsonl(
        tmp_path / "s.jsonl",
        [segment("s1", "message_sent", context={"ip": "2001:db8:aaaa:bbbb::1"})],
    )
    ingest(wh, seg, now=NOW)
    assert wh.scalar("SELECT ip FROM events WHERE uuid = 's1'") == "2001:db8:aaaa::"
    assert props(wh, "s1")["$ip"] == "2001:db8:aaaa::"
    pq = write_parquet(
        tmp_path / "e.parquet",
        {
            "uuid": ["q1"],
            "event": ["message_sent"],
            "distinct_id": ["u"],
            "properties": ["{}"],
            "timestamp": pa.array([1763191800_000000], pa.timestamp("us", tz="UTC")),
            "ip": ["198.51.100.99"],
        },
    )
    ingest(wh, pq, now=NOW)
    assert wh.scalar("SELECT ip FROM events WHERE uuid = 'q1'") == "198.51.100.0"


def test_quarantined_raw_text_is_scrubbed(wh, tmp_path):
    bad = '{"uuid":"z","event":"message_sent","distinct_id":"u","timestamp":"nope","properties":{"query_text":"secret words","$ip":"203.0.113.42"}}'
    broken = '{"query":"other secret", "ip": "2001:db8::7", "x": 198.51.100.3'
    [s] = ingest(
        wh, write_jsonl(tmp_path / "q.jsonl", [bad, broken]), format="posthog-jsonl", now=NOW
    )
    assert sum(s.quarantined.values()) == 2
    raws = [r[0] for r in wh.execute("SELECT raw FROM quarantine ORDER BY line").fetchall()]
    assert "secret" not in " ".join(raws) and "203.0.113.42" not in raws[0]
    assert '"query_text":"[redacted]"' in raws[0] and "203.0.113.0" in raws[0]
    assert '"ip": "[redacted]"' in raws[1] and "198.51.100.0" in raws[1]


def test_never_store_list_is_what_the_plan_says():
    assert {"query_text", "response_text", "feedback_text", "prompt"} <= NEVER_STORE
