"""Privacy before anything leaves the process: what the tracker never sends.

- keys the plan never stores (:data:`zantara_nb.warehouse.tracking_plan.NEVER_STORE`:
  raw query and reply text, prompts, ``$ai_input``/``$ai_output_choices``, personal
  numbers) and personal keys (:data:`PERSONAL_KEYS`: email, name, phone...) are dropped,
  at any depth;
- IP addresses (``$ip``, ``ip``) keep their network part only: IPv4 with the last octet
  zeroed, IPv6 cut to /48 (:func:`zantara_nb.warehouse.privacy.anonymize_ip`);
- e-mail addresses and full IPv4 addresses inside other string values are replaced by
  ``[email]`` / ``[ip]``.

:func:`scrub` returns the cleaned copy and the number of things it removed; the tracker
runs it on the properties it builds and again, as PostHog's ``before_send`` hook, on
the final message the SDK is about to queue (which includes what the SDK adds).
"""

from __future__ import annotations

import re
from typing import Any

from ..warehouse import tracking_plan as tp
from ..warehouse.privacy import anonymize_ip

#: Person data that never goes into an event (person profile included).
PERSONAL_KEYS = frozenset(
    {
        "email",
        "$email",
        "name",
        "$name",
        "first_name",
        "last_name",
        "full_name",
        "phone",
        "phone_number",
        "$phone",
        "address",
    }
)
#: Keys whose value is an IP address.
IP_KEYS = frozenset({"$ip", "ip"})
NEVER_KEYS = frozenset(tp.NEVER_STORE) | PERSONAL_KEYS

_EMAIL = re.compile(r"[\w.+-]{1,64}@[\w-]{1,63}(\.[\w-]{1,63}){1,8}")
_IPV4 = re.compile(r"\b(\d{1,3}\.\d{1,3}\.\d{1,3})\.(\d{1,3})\b")


def _text(value: str) -> tuple[str, int]:
    n = 0
    if "@" in value:
        value, k = _EMAIL.subn("[email]", value)
        n += k
    if "." in value:

        def octet(m: re.Match) -> str:
            return m.group(0) if m.group(2) == "0" else m.group(1) + ".0"

        new = _IPV4.sub(octet, value)
        if new != value:
            n += 1
            value = new
    return value, n


def scrub(value: Any, depth: int = 0) -> tuple[Any, int]:
    """A copy of ``value`` (properties) without what must never be sent; and how much went."""
    if isinstance(value, dict):
        out: dict[str, Any] = {}
        removed = 0
        for k, v in value.items():
            key = str(k)
            if key in NEVER_KEYS or key.lower() in NEVER_KEYS:
                removed += 1
                continue
            if key in IP_KEYS and isinstance(v, str):
                anon = anonymize_ip(v)
                if anon != v:
                    removed += 1
                if anon is not None:
                    out[key] = anon
                continue
            out[key], n = scrub(v, depth + 1)
            removed += n
        return out, removed
    if isinstance(value, (list, tuple)):
        items, removed = [], 0
        for v in value:
            x, n = scrub(v, depth + 1)
            items.append(x)
            removed += n
        return items, removed
    if isinstance(value, str):
        return _text(value)
    return value, 0
