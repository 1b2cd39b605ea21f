"""Personal data in free text: e-mail addresses, phone numbers and full IP addresses.

One pattern set for the whole package: the loader may scrub property values with it at
ingest, and every place that displays a raw property value (report tables, charts, the
e-mail, Slack, logs) redacts with it again (:func:`zantara_nb.display.text.safe_text`).

>>> redact("write to ana@example.co.id or +62 812-3456-7890 from 203.0.113.77")
'write to [email] or [phone] from [ip]'
>>> [m.kind for m in find("call 0812 3456 7890, host 2001:db8::8a2e:370:7334")]
['phone', 'ip']

What counts:

- **E-mail**: ``local@domain.tld`` (local part up to 64 characters, a dotted domain).
- **Phone**: an international number (``+`` or ``00``, then 8–15 digits, with spaces,
  dashes, dots or parentheses between groups: ``+62 812-3456-7890``, ``0062 21 555 0123``),
  an Indonesian one without the plus (``62812…``, 10–14 digits), or a national one
  starting with a trunk ``0`` and a non-zero digit (``0812-3456-7890``, ``(021) 555-0123``,
  9–13 digits), or the North-American ``(555) 123-4567`` / ``555-123-4567``. Plain runs
  of digits without ``+``/``0`` (counts, ids, dates) are not phone numbers.
- **IP**: a full IPv4 (``203.0.113.77``) or IPv6 address (``2001:db8::8a2e:370:7334``).
  Addresses already truncated by :func:`zantara_nb.warehouse.privacy.anonymize_ip`
  (IPv4 ending in ``.0``, IPv6 with its last 80 bits zero) are not full and are kept.

- **URL credentials** (added for the GDPR work, issue 15): the ``user:password@`` part of
  a URL (``https://admin:s3cret@db.example.com/x`` -> ``https://[credentials]@db…``).
- **NIK** (Indonesian identity number, 16 digits ``PP KK CC DDMMYY SSSS``): a run of 16
  digits (optionally in groups of 4) whose province code, day (01–31, or 41–71 for
  women) and month are valid, or any 16 digits right after ``NIK``/``KTP``.
- **NPWP** (Indonesian tax number): the dotted form ``01.234.567.8-901.000``, or 15/16
  digits right after ``NPWP``.
- **Card numbers**: 13–19 digits (spaces or dashes between groups allowed) that start
  like a card (2–6) and pass the Luhn check; a 16-digit run that is also a valid NIK is a
  card only when written in groups.

Every pattern has bounded repetition, so a 200 KB string is scanned in linear time.
May import the standard library only.
"""

from __future__ import annotations

import bisect
import ipaddress
import re
from typing import NamedTuple

#: What each kind of match is replaced with by :func:`redact`.
MARKS = {"email": "[email]", "phone": "[phone]", "ip": "[ip]"}
# -- added for gdpr (issue 15): more kinds, each with its typed placeholder --
MARKS.update(
    {
        "url_credentials": "[credentials]",
        "nik": "[nik]",
        "npwp": "[npwp]",
        "card": "[card]",
    }
)
#: Every kind :func:`find` reports, in the order of :data:`MARKS`.
KINDS: tuple[str, ...] = tuple(MARKS)

_EMAIL = re.compile(
    # a quote before the address is punctuation ('ana@x.id'), not part of it
    r"(?<![\w.!#$%&*+/=?^{|}~-])"
    r"[\w!#$%&*+/=?^{|}~-][\w.!#$%&'*+/=?^`{|}~-]{0,63}"
    r"@(?:[^\W_](?:[\w-]{0,61}[^\W_])?\.){1,8}[^\W\d_]{2,63}(?![\w-])"
)
_OCTET = r"(?:25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])"
_IPV4 = re.compile(rf"(?<![0-9.])(?:{_OCTET}\.){{3}}{_OCTET}(?![0-9]|\.[0-9])")
_IPV6 = re.compile(
    r"(?<![0-9A-Za-z:])"
    r"(?:[0-9A-Fa-f]{0,4}:){2,7}(?:[0-9A-Fa-f]{1,4}|" + _OCTET + r"(?:\." + _OCTET + r"){3})?"
    r"(?![0-9A-Za-z:])"
)
_PHONE = re.compile(
    r"(?<![\w+\-./])(?:"
    # international: +CC or 00CC, then groups
    r"(?P<intl>(?:\+|00)[1-9][0-9]{0,2}(?:[ .\-]?\(?[0-9]{1,5}\)?){2,6})"
    # Indonesian without the plus: 62 8xx...
    r"|(?P<id62>62[ .\-]?8[0-9]{1,3}(?:[ .\-]?[0-9]{2,5}){1,4})"
    # national with a trunk 0: 08xx..., (021) ...
    r"|(?P<national>\(?0[1-9][0-9]{1,3}\)?(?:[ .\-]?[0-9]{2,5}){1,4})"
    # North American: (555) 123-4567, 555-123-4567
    r"|(?P<nanp>(?:\([2-9][0-9]{2}\)[ ]?|[2-9][0-9]{2}[ .\-])[0-9]{3}[ .\-][0-9]{4})"
    r")(?![\w\-/:]|[.,][0-9])"
)
_DIGIT_RANGE = {"intl": (8, 15), "id62": (10, 14), "national": (9, 13), "nanp": (10, 10)}

# -- added for gdpr (issue 15): URL credentials, NIK, NPWP, card numbers --
#: ``scheme://user:password@`` (the user-info part is the match, group ``u``).
_URL_CREDS = re.compile(
    r"\b[A-Za-z][A-Za-z0-9+.\-]{0,15}://"
    r"(?P<u>[^\s:/?#@\[\]]{0,256}:[^\s/?#@]{1,256}|[^\s:/?#@\[\]]{1,256})@"
    r"(?=[^\s@/?#]{1,253})"
)
#: 13-19 digits, single spaces or dashes between groups, not inside a longer number.
_DIGITS = re.compile(r"(?<![\w.,/\-+])(?:[0-9][ \-]?){12,18}[0-9](?![\w\-]|[.,/][0-9])")
#: The dotted NPWP ``99.999.999.9-999.999``.
_NPWP_DOTTED = re.compile(
    r"(?<![\w.\-])[0-9]{2}\.[0-9]{3}\.[0-9]{3}\.[0-9][\-.][0-9]{3}\.[0-9]{3}(?![\w\-]|\.[0-9])"
)
#: A keyword naming the number that follows (within a few words).
_NIK_CONTEXT = re.compile(r"(?i)\b(?:nik|ktp|e-ktp|nomor induk kependudukan)\b[^0-9\n]{0,24}$")
_NPWP_CONTEXT = re.compile(r"(?i)\bnpwp\b[^0-9\n]{0,24}$")
_CARD_CONTEXT = re.compile(
    r"(?i)\b(?:card|cards|kartu|kredit|credit|debit|visa|mastercard|amex|cc|pan)\b[^0-9\n]{0,24}$"
)
#: Province codes of Indonesia (first two digits of a NIK).
_PROVINCES = frozenset(
    [*range(11, 20), 21, *range(31, 37), *range(51, 54), *range(61, 66), *range(71, 77), 81, 82]
    + list(range(91, 98))
)


def luhn_ok(digits: str) -> bool:
    """True when a string of digits passes the Luhn check (card numbers)."""
    total, alt = 0, False
    for ch in reversed(digits):
        d = ord(ch) - 48
        if alt:
            d *= 2
            if d > 9:
                d -= 9
        total += d
        alt = not alt
    return total % 10 == 0


def nik_ok(digits: str) -> bool:
    """True when 16 digits have a NIK's structure: province, day (+40 for women), month,
    and a non-zero serial."""
    if len(digits) != 16 or not digits.isdigit():
        return False
    day, month = int(digits[6:8]), int(digits[8:10])
    return (
        int(digits[:2]) in _PROVINCES
        and (1 <= day <= 31 or 41 <= day <= 71)
        and 1 <= month <= 12
        and digits[12:] != "0000"
    )


def _card_like(digits: str) -> bool:
    return 13 <= len(digits) <= 19 and digits[0] in "23456" and luhn_ok(digits)


def _number_kind(s: str, m: re.Match) -> str | None:
    """What a run of 13–19 digits is: ``nik``, ``npwp``, ``card`` or nothing."""
    text = m.group(0)
    digits = "".join(ch for ch in text if ch.isdigit())
    before = s[max(0, m.start() - 40) : m.start()]
    if len(digits) in (15, 16) and _NPWP_CONTEXT.search(before):
        return "npwp"
    if len(digits) == 16 and _NIK_CONTEXT.search(before):
        return "nik"
    if _CARD_CONTEXT.search(before) and _card_like(digits):
        return "card"
    grouped = not text.isdigit()
    if len(digits) == 16 and nik_ok(digits) and not (grouped and _card_like(digits)):
        return "nik"
    if _card_like(digits):
        return "card"
    return None


class Match(NamedTuple):
    """One piece of personal data found in a text: its kind, position and text."""

    kind: str  # email | phone | ip
    start: int
    end: int
    text: str


def _full_ipv4(s: str) -> bool:
    return not s.endswith(".0")


def _full_ipv6(s: str) -> bool:
    try:
        addr = ipaddress.IPv6Address(s)
    except ValueError:
        return False
    if addr.ipv4_mapped is not None:
        return _full_ipv4(str(addr.ipv4_mapped))
    return int(addr) & ((1 << 80) - 1) != 0  # /48-truncated addresses are not full


def _phone_ok(m: re.Match) -> bool:
    kind = m.lastgroup or ""
    digits = sum(ch.isdigit() for ch in m.group(0))
    lo, hi = _DIGIT_RANGE.get(kind, (99, 0))
    return lo <= digits <= hi


def find(text: str) -> list[Match]:
    """Every e-mail address, phone number and full IP address in ``text``, in order.

    Matches never overlap: e-mails are found first, then IPs, then phone numbers in
    what is left.
    """
    if not text:
        return []
    s = str(text)
    found: list[Match] = []
    # the spans taken so far, sorted and disjoint: a new span is checked against its two
    # neighbours only (bisect), so many matches in a long text stay fast
    starts: list[int] = []
    ends: list[int] = []

    def free(a: int, b: int) -> bool:
        i = bisect.bisect_right(starts, a)
        if i and ends[i - 1] > a:
            return False
        return not (i < len(starts) and starts[i] < b)

    def take(a: int, b: int) -> None:
        i = bisect.bisect_right(starts, a)
        starts.insert(i, a)
        ends.insert(i, b)

    def add(kind: str, m: re.Match) -> None:
        a, b = m.span()
        if free(a, b):
            found.append(Match(kind, a, b, m.group(0)))
            take(a, b)

    if "://" in s and "@" in s:  # added for gdpr: before e-mails ("pass@host.com")
        for m in _URL_CREDS.finditer(s):
            a, b = m.span("u")
            if free(a, b):
                found.append(Match("url_credentials", a, b, m.group("u")))
                take(a, b)
    if "@" in s:
        for m in _EMAIL.finditer(s):
            add("email", m)
    if s.count(".") >= 3:  # added for gdpr: a dotted NPWP before IPv4 ("35.178.123.4-…")
        for m in _NPWP_DOTTED.finditer(s):
            add("npwp", m)
    if "." in s:
        for m in _IPV4.finditer(s):
            if _full_ipv4(m.group(0)):
                add("ip", m)
    if s.count(":") >= 2:
        for m in _IPV6.finditer(s):
            if m.group(0).count(":") >= 2 and _full_ipv6(m.group(0)):
                add("ip", m)
    digits = sum(ch.isdigit() for ch in s[:100_000])
    if digits >= 13 or len(s) > 100_000:  # added for gdpr: NPWP, NIK, cards before phones
        for m in _DIGITS.finditer(s):
            kind = _number_kind(s, m)
            if kind:
                add(kind, m)
    if digits >= 8 or len(s) > 100_000:
        for m in _PHONE.finditer(s):
            if _phone_ok(m):
                add("phone", m)
    return sorted(found, key=lambda x: x.start)


def redact_counted(text: str) -> tuple[str, dict[str, int]]:
    """``text`` redacted as :func:`redact` does, and how many matches of each kind it had
    (added for the loader's scrub at ingest, issue 15)."""
    if not text:
        return text, {}
    s = str(text)
    matches = find(s)
    if not matches:
        return s, {}
    counts: dict[str, int] = {}
    out, pos = [], 0
    for m in matches:
        out.append(s[pos : m.start])
        out.append(MARKS[m.kind])
        pos = m.end
        counts[m.kind] = counts.get(m.kind, 0) + 1
    out.append(s[pos:])
    return "".join(out), counts


def redact(text: str) -> str:
    """``text`` with every match of :func:`find` replaced by its mark (``[email]`` …)."""
    if not text:
        return text
    s = str(text)
    matches = find(s)
    if not matches:
        return s
    out, pos = [], 0
    for m in matches:
        out.append(s[pos : m.start])
        out.append(MARKS[m.kind])
        pos = m.end
    out.append(s[pos:])
    return "".join(out)


__all__ = ["KINDS", "MARKS", "Match", "find", "luhn_ok", "nik_ok", "redact", "redact_counted"]
