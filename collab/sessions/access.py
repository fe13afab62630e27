"""Who may do what to which document: the ``authorize`` hook and its built-in implementations.

Every WebSocket connection and HTTP request is checked by one :class:`Authorizer`:

* :class:`HookAccess` wraps a host's ``authorize(request_or_websocket, name)`` (sync or async)
  returning ``"read"``, ``"write"``, ``"admin"`` or ``None`` (refused; 4403 / 403);
* :class:`TokenAccess` is collab's own check of a signed JWT (``--auth-secret``), one
  implementation of the same interface;
* :class:`OpenAccess` lets everyone do everything (no secret, no hook).

``conn`` is the Starlette ``Request`` or ``WebSocket`` (anything with ``headers``,
``query_params`` and ``scope``). A check that raises :class:`~collab.errors.AuthError` refuses
with its own code; any other exception from a host's hook is logged and refuses (4403 / 403).
"""

from __future__ import annotations

import inspect
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, Protocol

from collab.auth import ALL_DOCUMENTS, Grant, Role, bearer_token, verify_token
from collab.errors import NOT_OURS, AuthError, Forbidden, Unauthorized

__all__ = [
    "Access",
    "AuthorizeHook",
    "Authorizer",
    "HookAccess",
    "OpenAccess",
    "TokenAccess",
]

log = logging.getLogger("collab.access")

AuthorizeHook = Callable[[Any, str], "str | Awaitable[str | None] | None"]
"""``authorize(request_or_websocket, name) -> "read" | "write" | "admin" | None``."""


@dataclass(frozen=True, slots=True)
class Access:
    """What one connection or request may do to one document, until ``expires_at`` (Unix s)."""

    role: Role
    expires_at: float = float("inf")
    by: str = "access"  # what decided it, for the refusal's wording ("token role read ...")
    user: str | None = None  # who: the token's subject, or the host's authenticated user

    def require(self, role: Role, doing: str = "") -> None:
        """Check that this access includes ``role``; ``doing`` says what needs it in the
        refusal ("rename documents"; else the role's usual action).

        Raises:
            Forbidden: naming what is missing.
        """
        if self.role < role:
            what = doing or _VERBS[role]
            raise Forbidden(f"{self.by} role {self.role.name.lower()} cannot {what}")


_VERBS = {Role.READ: "read", Role.WRITE: "write", Role.ADMIN: "delete documents"}


class Authorizer(Protocol):
    """Decides access (see the module docstring); ``description`` says how in words (the
    start-up log line)."""

    description: str

    async def access(self, conn: Any, name: str) -> Access:
        """The access ``conn`` has to document ``name`` (at least read).

        Raises:
            AuthError: Unauthorized (no or bad credentials) or Forbidden (not this).
        """

    async def grant(self, conn: Any) -> Grant | None:
        """A grant covering every document ``conn`` may list (the listing narrows its query
        to it), or ``None``: each listed document is checked with :meth:`access`.

        Raises:
            AuthError: when ``conn`` has no valid credentials.
        """


class OpenAccess:
    """No authentication: everyone is admin of every document."""

    description = "auth off: anyone may read, write, rename and delete every document"

    async def access(self, conn: Any, name: str) -> Access:
        return Access(Role.ADMIN)

    async def grant(self, conn: Any) -> Grant | None:
        return ALL_DOCUMENTS


class TokenAccess:
    """collab's signed tokens (HS256 JWTs naming a document or prefix, a role, an expiry),
    from ``Authorization: Bearer`` or, for WebSockets, ``?token=``.

    Args:
        secret: the signing secret.
        algorithm: the JWT algorithm (an HMAC one).
    """

    def __init__(self, secret: str, algorithm: str = "HS256") -> None:
        self.secret = secret
        self.algorithm = algorithm
        self.description = f"auth by signed tokens ({algorithm.upper()})"

    async def grant(self, conn: Any) -> Grant | None:
        token = None
        if conn.scope.get("type") == "websocket":  # browsers cannot set its headers
            token = conn.query_params.get("token")
        header = conn.headers.get("authorization")
        token = token or bearer_token(header)
        if not token and header and header.strip():
            scheme = header.split()[0] if " " in header.strip() else None
            sent = f"the {scheme!r} scheme" if scheme else "no scheme"
            raise Unauthorized(
                f"access token required: the Authorization header has {sent}; send"
                " 'Authorization: Bearer <token>'"
            )
        return verify_token(token, self.secret, algorithm=self.algorithm)

    async def access(self, conn: Any, name: str) -> Access:
        grant = await self.grant(conn)
        assert grant is not None
        grant.require(name, Role.READ)
        return Access(grant.role, grant.expires_at, "token", grant.subject)


_ROLES = {"read": Role.READ, "write": Role.WRITE, "admin": Role.ADMIN}


class HookAccess:
    """A host's ``authorize`` hook (see the module docstring).

    Args:
        hook: ``authorize(request_or_websocket, name)``, sync or async.
    """

    def __init__(self, hook: AuthorizeHook) -> None:
        self.hook = hook
        module = getattr(hook, "__module__", None)
        qualname = getattr(hook, "__qualname__", None) or type(hook).__qualname__
        self.description = "auth by the app's authorize hook " + (
            f"{module}.{qualname}" if module else qualname
        )

    async def access(self, conn: Any, name: str) -> Access:
        try:
            answer = self.hook(conn, name)
            if inspect.isawaitable(answer):
                answer = await answer
        except AuthError:
            raise
        except NOT_OURS:
            raise
        except BaseException:
            log.exception("authorize hook failed", extra={"room": name})
            raise Forbidden("access check failed") from None
        if answer is None:
            raise Forbidden("access refused")
        role = _ROLES.get(answer) if isinstance(answer, str) else None
        if role is None:
            log.error("authorize hook returned %r (not read, write, admin or None)", answer)
            raise Forbidden("access check failed")
        return Access(role, by="authorize", user=_user_of(conn))

    async def grant(self, conn: Any) -> Grant | None:
        return None


def _user_of(conn: Any) -> str | None:
    """The name of the user a host's authentication put in the ASGI scope (Starlette's
    ``AuthenticationMiddleware``: ``scope["user"]`` with ``is_authenticated`` and
    ``display_name``), when there is one."""
    user = conn.scope.get("user") if hasattr(conn, "scope") else None
    if user is None or not getattr(user, "is_authenticated", False):
        return None
    name = getattr(user, "display_name", None) or getattr(user, "identity", None)
    return str(name) if name else None
