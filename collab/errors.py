"""The one exception tree of collab, its close codes and statuses, and the one pycrdt guard.

Every error collab raises on purpose is a :class:`CollabError`. Each subclass carries the
WebSocket close code (RFC 6455 section 7.4; 4xxx are collab's own) and the HTTP status it is
answered with, and a short machine-readable ``code`` for HTTP's JSON ``{"error", "detail"}``:
a boundary (a WebSocket session, the HTTP API) maps any of them in one place, without knowing
every kind (h11's ``error_status_hint`` idea). ``str(exc)`` is the reason shown to the client.

pycrdt reports most bad input with ``ValueError``, but failures inside its Rust core surface as
``pyo3_runtime.PanicException``, which derives from ``BaseException``: :func:`crdt_call` and
:data:`NOT_OURS` are the one rule for catching them (everything except the interpreter's own
control-flow exceptions).

This module imports nothing of collab: every layer may use it.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from enum import IntEnum
from typing import ClassVar, TypeVar

__all__ = [
    "NOT_OURS",
    "AuthError",
    "CloseCode",
    "CollabError",
    "DocumentTooLarge",
    "Forbidden",
    "Refused",
    "ShuttingDown",
    "TooManyConnections",
    "Unauthorized",
    "clip_reason",
    "crdt_call",
]

T = TypeVar("T")


class CloseCode(IntEnum):
    """Every WebSocket close code collab sends (RFC 6455 section 7.4, 4xxx are collab's own)."""

    GOING_AWAY = 1001  # server shutting down or restarting: reconnect later
    PROTOCOL_ERROR = 1002  # malformed y-protocols frame
    UNSUPPORTED_DATA = 1003  # a text frame
    INVALID_UPDATE = 1007  # an update pycrdt rejects, or v2-encoded
    POLICY_VIOLATION = 1008  # a /hocuspocus socket over its documents or held frames
    MESSAGE_TOO_BIG = 1009  # no longer sent: a message over max_message_bytes gets TOO_LARGE
    INTERNAL_ERROR = 1011  # storage failed; the update was not saved
    TRY_AGAIN_LATER = 1013  # the peer read too slowly, or stayed far over the message rate
    BAD_DOCUMENT_NAME = 4400
    UNAUTHORIZED = 4401
    FORBIDDEN = 4403
    NOT_FOUND = 4404  # no WebSocket endpoint at this path (servers that cannot answer 404)
    DOCUMENT_RENAMED = 4409  # the document was renamed: the reason names the new name
    DOCUMENT_DELETED = 4410
    TOO_LARGE = 4413  # message, document, awareness state or waiting structs over a limit
    RATE_LIMITED = 4429  # sync step 2 replies of the whole document over --full-syncs-per-minute
    SERVER_FULL = 4503


NOT_OURS: tuple[type[BaseException], ...] = (
    KeyboardInterrupt,
    SystemExit,
    GeneratorExit,
    asyncio.CancelledError,
)
"""Exceptions a pycrdt guard lets through: everything else pycrdt raises is bad input (or a
Rust panic, a ``BaseException``)."""


class CollabError(Exception):
    """Base of every error collab raises on purpose; ``str(exc)`` is the client's reason.

    Class attributes (overridden per subclass): ``close_code`` (WebSocket), ``http_status``
    and ``code`` (the ``error`` field of an HTTP JSON error).
    """

    close_code: ClassVar[int] = CloseCode.INTERNAL_ERROR
    http_status: ClassVar[int] = 500
    code: ClassVar[str] = "internal_error"


class Refused(CollabError):
    """A refusal whose close code and status are chosen where it is raised (a session's
    limits: rate, text frames, read-only writes)."""

    def __init__(self, close_code: int, reason: str, http_status: int = 400) -> None:
        super().__init__(reason)
        self.close_code = close_code  # type: ignore[misc]
        self.http_status = http_status  # type: ignore[misc]


class ShuttingDown(CollabError):
    """The server is closing and accepts no new room users."""

    close_code = CloseCode.GOING_AWAY
    http_status = 503
    code = "shutting_down"


class TooManyConnections(CollabError):
    """The server or the document has its maximum number of WebSocket connections."""

    close_code = CloseCode.SERVER_FULL
    http_status = 503
    code = "server_full"


class DocumentTooLarge(CollabError):
    """An update would take a document past ``max_document_bytes``."""

    close_code = CloseCode.TOO_LARGE
    http_status = 413
    code = "too_large"


class AuthError(CollabError):
    """Access refused; ``str(exc)`` is the reason given to the client."""

    close_code = CloseCode.FORBIDDEN
    http_status = 403
    code = "forbidden"


class Unauthorized(AuthError):
    """No token, or one that is malformed, wrongly signed or expired (HTTP 401, close 4401)."""

    close_code = CloseCode.UNAUTHORIZED
    http_status = 401
    code = "unauthorized"


class Forbidden(AuthError):
    """Valid credentials that do not grant this (HTTP 403, close 4403)."""


def crdt_call(what: str, fn: Callable[[], T], error: Callable[[str], Exception]) -> T:
    """Call ``fn`` (a pycrdt operation); any failure but :data:`NOT_OURS`, including a pyo3
    ``PanicException``, is raised as ``error(f"{what}: {type}: {message}")`` from it."""
    try:
        return fn()
    except NOT_OURS:
        raise
    except BaseException as exc:
        raise error(f"{what}: {type(exc).__name__}: {exc}") from exc


def clip_reason(text: str, limit: int = 123) -> str:
    """``text`` cut to at most ``limit`` bytes of UTF-8 (a close reason holds 123, RFC 6455
    section 5.5) at a word boundary, ending with "…" when cut (a word longer than the limit
    is cut inside it)."""
    if len(text.encode("utf-8", "surrogatepass")) <= limit:
        return text
    room = limit - len("…".encode())
    head = text.encode("utf-8", "surrogatepass")[:room].decode("utf-8", "ignore")
    cut = head.rsplit(" ", 1)[0] if " " in head.strip() else head
    return cut.rstrip(" ,;:(") + "…"
