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

Every pattern has bounded repetition, so a 200 KB string is scanned in linear time.
May import the standard library only.
"""

from __future__ import annotations

import ipaddress
import re
from typing import NamedTuple

#: What each kind of match is replaced with by :func:`redact`.
MARKS = {"email": "[email]", "phone": "[phone]", "ip": "[ip]"}

_EMAIL = re.compile(
    r"(?<![\w.!#$%&'*+/=?^`{|}~-])"
    r"[\w!#$%&'*+/=?^`{|}~-][\w.!#$%&'*+/=?^`{|}~-]{0,63}"
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
    taken: list[tuple[int, int]] = []

    def free(a: int, b: int) -> bool:
        return all(b <= x or a >= y for x, y in taken)

    def add(kind: str, m: re.Match) -> None:
        a, b = m.span()
        if free(a, b):
            found.append(Match(kind, a, b, m.group(0)))
            taken.append((a, b))

    if "@" in s:
        for m in _EMAIL.finditer(s):
            add("email", m)
    if "." in s:
        for m in _IPV4.finditer(s):
            if _full_ipv4(m.group(0)):
                add("ip", m)
    if s.count(":") >= 2:
        for m in _IPV6.finditer(s):
            if m.group(0).count(":") >= 2 and _full_ipv6(m.group(0)):
                add("ip", m)
    if sum(ch.isdigit() for ch in s[:100_000]) >= 8 or len(s) > 100_000:
        for m in _PHONE.finditer(s):
            if _phone_ok(m):
                add("phone", m)
    return sorted(found, key=lambda x: x.start)


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


__all__ = ["MARKS", "Match", "find", "redact"]
