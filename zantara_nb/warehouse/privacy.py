"""Privacy helpers: hashed person ids for reports, IP anonymisation.

Reports never show raw ids, emails, names or full IPs. Person ids shown for drill-down
are salted SHA-256 prefixes; the salt comes from ``$ZANTARA_HASH_SALT`` so the same
person hashes the same across reports of one deployment but cannot be looked up
without the salt.
"""

from __future__ import annotations

import hashlib
import ipaddress
import os

DEFAULT_SALT = "zantara-nb"
HASH_CHARS = 12


def hash_salt() -> str:
    """The salt used for hashed ids (``$ZANTARA_HASH_SALT`` or a fixed default)."""
    return os.environ.get("ZANTARA_HASH_SALT", DEFAULT_SALT)


def hash_id(value: str) -> str:
    """Salted, truncated SHA-256 of an id: stable within a deployment, not reversible."""
    digest = hashlib.sha256((hash_salt() + str(value)).encode()).hexdigest()
    return digest[:HASH_CHARS]


def hash_id_sql(column: str, dialect=None) -> str:
    """The same hash as :func:`hash_id`, as an SQL expression over ``column``.

    ``dialect`` is the warehouse's (``scope.dialect``); the default engine's otherwise.
    """
    if dialect is None:
        from .dialects import DuckDBDialect

        dialect = DuckDBDialect()
    return dialect.salted_hash(column, hash_salt(), HASH_CHARS)


def anonymize_ip(ip: str | None) -> str | None:
    """IPv4 with its last octet zeroed, IPv6 truncated to /48; None for unparseable input."""
    if not ip:
        return None
    try:
        addr = ipaddress.ip_address(ip.strip())
    except ValueError:
        return None
    prefix = 24 if addr.version == 4 else 48
    return str(ipaddress.ip_network(f"{addr}/{prefix}", strict=False).network_address)
