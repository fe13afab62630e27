"""PostgreSQL connection strings: recognise them, and hide their password.

A connection string is a URL (``postgresql://user:password@host:port/dbname?sslmode=...``,
``postgres://`` too) or libpq's ``key=value`` form (``host=... password=...``); see
PostgreSQL's documentation, "Connection Strings" (libpq, section 34.1.1). The password must
never reach a log, an error message, ``/metrics`` or ``collab doctor``'s output: every
message that names the database uses :func:`masked`, and messages that come from the driver
pass through :func:`scrubbed`.
"""

from __future__ import annotations

import re
from urllib.parse import quote, unquote, urlsplit, urlunsplit

__all__ = ["MASK", "is_postgres", "masked", "password", "scrubbed"]

MASK = "****"
"""What a password is replaced with."""

_SCHEMES = ("postgresql://", "postgres://")

_KEYWORD_PASSWORD = re.compile(r"(\bpassword\s*=\s*)('(?:[^'\\]|\\.)*'|[^\s&]*)", re.IGNORECASE)
"""``password=...`` in the key=value form or in a URL's query string."""


def is_postgres(db: str) -> bool:
    """Whether ``db`` (the ``--db`` setting) names a PostgreSQL database rather than a file."""
    return db.lower().startswith(_SCHEMES)


def password(dsn: str) -> str | None:
    """The password written in ``dsn`` (URL user info or ``password=``), or ``None``."""
    found = None
    if is_postgres(dsn):
        try:
            found = urlsplit(dsn).password
        except ValueError:
            found = None
        found = unquote(found) if found else None
    match = _KEYWORD_PASSWORD.search(dsn)
    if match and match.group(2):
        value = match.group(2)
        if value.startswith("'"):
            value = re.sub(r"\\(.)", r"\1", value[1:-1])
        found = found or unquote(value)
    return found


def masked(dsn: str) -> str:
    """``dsn`` with its password replaced by :data:`MASK` (a file path comes back as is)."""
    text = _KEYWORD_PASSWORD.sub(lambda m: m.group(1) + MASK, dsn)
    if is_postgres(text):
        try:
            parts = urlsplit(text)
            if parts.password is not None:
                user = quote(unquote(parts.username or ""), safe="")
                host = parts.netloc.rpartition("@")[2]
                text = urlunsplit(parts._replace(netloc=f"{user}:{MASK}@{host}"))
        except ValueError:
            text = re.sub(r"(://[^:/@]*:)[^@]*@", r"\1" + MASK + "@", text)
    secret = password(dsn)
    return scrubbed(text, secret)


def scrubbed(text: str, secret: str | None) -> str:
    """``text`` (a driver's error message, say) with every occurrence of ``secret``, as is
    and URL-encoded, replaced by :data:`MASK`."""
    if not secret:
        return text
    for form in {secret, quote(secret, safe="")}:
        text = text.replace(form, MASK)
    return text
