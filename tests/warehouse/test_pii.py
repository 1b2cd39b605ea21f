"""The shared personal-data patterns: what is found, what is left alone, and how fast."""

from __future__ import annotations

import time

import pytest

from zantara_nb.warehouse.pii import find, redact


@pytest.mark.parametrize(
    "text, kind",
    [
        ("ana@example.co.id", "email"),
        ("x.y+tag@mail.example.com", "email"),
        ("+62 812-3456-7890", "phone"),
        ("+6281234567890", "phone"),
        ("6281234567890", "phone"),
        ("0812-3456-7890", "phone"),
        ("0812 3456 7890", "phone"),
        ("081234567890", "phone"),
        ("(021) 555-0123", "phone"),
        ("021-1234-5678", "phone"),
        ("0062 21 555 0123", "phone"),
        ("+1 (202) 555-0143", "phone"),
        ("(555) 123-4567", "phone"),
        ("203.0.113.77", "ip"),
        ("2001:db8::8a2e:370:7334", "ip"),
        ("::1", "ip"),
    ],
)
def test_personal_data_is_found(text, kind):
    assert [m.kind for m in find(f"see {text}, thanks")] == [kind]
    assert redact(f"see {text}, thanks") == f"see [{kind}], thanks"


@pytest.mark.parametrize(
    "text",
    [
        "2026-11-16",
        "1,234,567",
        "0.0072",
        "0.12345678901",
        "12:30:45",
        "08:30",
        "550e8400-e29b-41d4-a716-446655440000",
        "203.0.113.0",  # truncated by the loader (/24): not a full address
        "2001:db8:1::",  # truncated (/48)
        "00:1a:2b:3c:4d:5e",
        "$19.99 / $29.99",
        "order 12345678",
        "2026-08-24 00:00:00+07:00",
        "a@b",
        "visa",
    ],
)
def test_other_text_is_left_alone(text):
    assert find(text) == []
    assert redact(text) == text


def test_matches_do_not_overlap_and_keep_order():
    text = "mail ana@203.0.113.77.example.com, call +62 812 3456 7890 from 10.1.2.3"
    kinds = [m.kind for m in find(text)]
    assert kinds == ["email", "phone", "ip"]
    assert redact(text) == "mail [email], call [phone] from [ip]"


@pytest.mark.parametrize(
    "big",
    [
        "a" * 200_000 + "@",
        "a@" * 100_000,
        "1" * 200_000,
        "1." * 100_000,
        "0812 " * 40_000,
        ":" * 200_000,
        "a1:" * 70_000,
    ],  # fmt: skip
)
def test_long_hostile_strings_are_scanned_quickly(big):
    t0 = time.perf_counter()
    redact(big)
    assert time.perf_counter() - t0 < 1.0


def test_sql_shown_on_pages_redacts_and_cuts_data_literals():
    from zantara_nb.warehouse.sqltrace import SHOWN_LITERAL_LIMIT, shown_sql, sql_details_html

    sql = (
        "SELECT count_if(q = 'call +62 812-3456-7890') AS c, 'it''s', '"
        + "Z" * 5000
        + "' FROM t WHERE x = 'a\u202eb' AND ts >= '2026-08-24 00:00:00+07'"
    )
    shown = shown_sql([sql])
    assert "'call [phone]'" in shown and "'it''s'" in shown
    assert "Z" * SHOWN_LITERAL_LIMIT not in shown and "Z…'" in shown
    assert "'a\ufffdb'" in shown and "'2026-08-24 00:00:00+07'" in shown
    assert "812-3456" not in sql_details_html([sql])
