"""Access tokens (signed JWTs), roles and the Origin check. Pure: no I/O but the clock.

A token's claims (RFC 7519 names where one exists):

* ``doc``: the document name it grants, or a name prefix ending in ``*`` (``team/*`` grants
  every document under ``team/``; ``*`` grants every document);
* ``role``: ``read`` (receive the document and awareness), ``write`` (also change it) or
  ``admin`` (also delete it);
* ``exp``: expiry, Unix seconds (required); ``iat``: issue time.

Tokens are HMAC-signed (HS256 by default) with the server's secret, through PyJWT.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from enum import IntEnum
from urllib.parse import urlsplit

import jwt

from collab.errors import AuthError, Forbidden, Unauthorized

__all__ = [
    "AuthError",
    "Forbidden",
    "Grant",
    "Role",
    "Unauthorized",
    "host_allowed",
    "mint_token",
    "origin_allowed",
    "verify_token",
]


class Role(IntEnum):
    """What a token allows, each role including the ones below it."""

    READ = 1
    WRITE = 2
    ADMIN = 3

    @classmethod
    def parse(cls, text: str) -> Role:
        """``"read"``, ``"write"`` or ``"admin"`` to a role.

        Raises:
            ValueError: for any other text.
        """
        try:
            return cls[text.upper()]
        except KeyError as exc:
            raise ValueError(f"role must be read, write or admin, not {text!r}") from exc


@dataclass(frozen=True, slots=True)
class Grant:
    """What a verified token grants: a document or ``*``-prefix, a role, an expiry (Unix s)."""

    doc: str
    role: Role
    expires_at: float
    subject: str | None = None  # the token's ``sub`` claim: who holds it (recorded as author)

    @property
    def prefix(self) -> str | None:
        """The granted name prefix, or ``None`` when the grant names one document."""
        return self.doc[:-1] if self.doc.endswith("*") else None

    def covers(self, name: str) -> bool:
        """Whether the grant reaches document ``name``."""
        prefix = self.prefix
        return name == self.doc if prefix is None else name.startswith(prefix)

    def require(self, name: str, role: Role) -> None:
        """Check that the grant reaches ``name`` with at least ``role``.

        Raises:
            Forbidden: naming what is missing.
        """
        if not self.covers(name):
            raise Forbidden("token does not grant this document")
        if self.role < role:
            raise Forbidden(f"token role {self.role.name.lower()} cannot {_VERBS[role]}")


_VERBS = {Role.READ: "read", Role.WRITE: "write", Role.ADMIN: "delete documents"}

ALL_DOCUMENTS = Grant("*", Role.ADMIN, float("inf"))
"""The grant of every request when auth is off."""


def mint_token(
    secret: str,
    doc: str,
    role: Role,
    ttl_seconds: float,
    *,
    algorithm: str = "HS256",
    now: float | None = None,
    subject: str | None = None,
) -> str:
    """A signed token granting ``role`` on ``doc`` (a name or ``*``-prefix) for ``ttl_seconds``,
    held by ``subject`` (its ``sub`` claim, e.g. a user name: the author of the versions it
    saves), if given."""
    issued = time.time() if now is None else now
    claims: dict[str, object] = {"doc": doc, "role": role.name.lower(), "iat": int(issued)}
    claims["exp"] = int(issued + ttl_seconds)
    if subject:
        claims["sub"] = subject
    return jwt.encode(claims, secret, algorithm=algorithm)


def verify_token(
    token: str | None, secret: str, *, algorithm: str = "HS256", now: float | None = None
) -> Grant:
    """Verify ``token``'s signature and expiry and return its grant.

    Raises:
        Unauthorized: missing, malformed, wrongly signed or expired token, or bad claims.
    """
    if not token:
        raise Unauthorized("access token required")
    try:
        claims = jwt.decode(
            token,
            secret,
            algorithms=[algorithm],
            options={"require": ["exp", "doc", "role"], "verify_exp": False},
        )
    except jwt.InvalidTokenError as exc:
        raise Unauthorized(f"invalid access token: {_in_words(exc, algorithm)}") from exc
    expires = claims["exp"]
    if not isinstance(expires, int | float):
        raise Unauthorized("invalid access token: exp is not a number")
    if expires <= (time.time() if now is None else now):
        raise Unauthorized("access token expired")
    doc, role = claims["doc"], claims["role"]
    if not isinstance(doc, str) or not doc or not isinstance(role, str):
        raise Unauthorized("invalid access token: bad doc or role claim")
    subject = claims.get("sub")
    if subject is not None and not isinstance(subject, str):
        raise Unauthorized("invalid access token: sub is not a string")
    try:
        return Grant(doc, Role.parse(role), float(expires), subject or None)
    except ValueError as exc:
        raise Unauthorized(f"invalid access token: {exc}") from exc


def _in_words(exc: jwt.InvalidTokenError, algorithm: str) -> str:
    """Why PyJWT refused a token, in words a user can act on (PyJWT says "Not enough
    segments" or "Invalid header padding"); short enough for a close reason (123 bytes)."""
    if isinstance(exc, jwt.InvalidSignatureError):
        return "not signed with this server's secret"
    if isinstance(exc, jwt.InvalidAlgorithmError):
        return f"not signed with {algorithm}, as this server expects"
    if isinstance(exc, jwt.MissingRequiredClaimError):
        return f"it has no {exc.claim} claim (make one with collab token)"
    if isinstance(exc, jwt.DecodeError):
        return "not a JWT (make one with collab token)"
    return str(exc)


def bearer_token(header: str | None) -> str | None:
    """The token of an ``Authorization: Bearer <token>`` header, or ``None``."""
    if header and header[:7].lower() == "bearer ":
        return header[7:].strip() or None
    return None


def origin_allowed(origin: str | None, host: str | None, allowed: tuple[str, ...]) -> bool:
    """Whether a browser ``Origin`` may open a WebSocket or change a document over HTTP.

    Requests without ``Origin`` (non-browser clients) are allowed: the check defends against
    cross-site WebSocket hijacking, which only browsers do. With an empty ``allowed`` list only
    same-origin pages are allowed (the Origin's host:port equals the ``Host`` header); ``*``
    allows any origin; otherwise the Origin must be listed exactly (``https://app.example``).
    """
    if origin is None:
        return True
    if "*" in allowed or origin in allowed:
        return True
    if allowed:
        return False
    return bool(host) and urlsplit(origin).netloc.lower() == (host or "").lower()


LOOPBACK_HOSTS = frozenset({"localhost", "127.0.0.1", "::1"})
"""Host names every server answers to (and any name under ``.localhost``)."""


def host_allowed(host: str | None, allowed: tuple[str, ...], served: str = "") -> bool:
    """Whether a request's ``Host`` header names this server, against DNS rebinding.

    A page on ``http://evil.example:P`` whose name the attacker re-points at 127.0.0.1 reaches
    the server with ``Host: evil.example:P`` and a matching ``Origin``, so comparing the two
    proves nothing; the host name itself must be one the server serves: a loopback name,
    the ``--host`` it listens on (unless a wildcard address), or one listed in
    ``allowed`` (``--allowed-host``; ``*`` allows any). Requests without ``Host`` (HTTP/1.0
    tools; browsers always send it) are allowed.
    """
    if not host or "*" in allowed:
        return True
    name = urlsplit("//" + host).hostname
    if name is None:
        return False
    name = name.rstrip(".")
    if name in LOOPBACK_HOSTS or name.endswith(".localhost"):
        return True
    if served and served not in ("0.0.0.0", "::") and name == served.lower().strip("[]"):
        return True
    return name in {a.lower() for a in allowed}
