"""The transport seam: what a session needs of a socket, and what a socket calls on a session.

A session (:mod:`collab.sessions.ywebsocket`) never knows which transport carries it: the
uvicorn fast path (:mod:`collab.wsserver`, ``collab serve``) and the portable ASGI path
(:mod:`collab.transports.asgi`, any ASGI server, Starlette's TestClient) implement
:class:`Transport` alike, and call the session as an :class:`Owner`.
"""

from __future__ import annotations

from typing import Protocol

__all__ = ["CLOSED", "FULL", "SENT", "Owner", "Transport"]

SENT, FULL, CLOSED = 1, 2, 3
"""What :meth:`Transport.write` did."""


class Owner(Protocol):
    """What a transport hands a connection's traffic to; neither method may raise."""

    def received(self, message: bytes | str) -> None:
        """One complete message: bytes, or str for a text frame."""

    def end_of_read(self) -> None:
        """Every message of the data just read from the socket was delivered (the owner may
        take them as one burst)."""

    def ended(self, code: int, reason: str | None = None) -> None:
        """The end of the connection: the close code the client sent, 1005 without one,
        1006 when it was lost without a close frame, 1012 when the server shuts down; or,
        with the ``reason`` it sent, the close the WebSocket layer started (a malformed
        frame: 1002, 1007, 1009; no answer to the keepalive ping: 1011)."""


class Transport(Protocol):
    """One WebSocket connection, driven without awaiting (a relay to N peers wakes no task).

    Frames a transport cannot send yet wait in its bounded send queue: :meth:`write` refuses
    a frame that would take the queue past ``limit`` (the session then closes the slow peer).
    """

    def write(self, payload: bytes, limit: int) -> int:
        """Send ``payload`` as one binary frame, unless the bytes waiting to be sent would pass
        ``limit`` with it (while nothing waits, any frame goes).

        Returns:
            :data:`SENT`, :data:`FULL` (nothing sent) or :data:`CLOSED` (nothing sent).
        """

    def close(self, code: int, reason: str) -> None:
        """Send what waits, then a close frame with ``code`` and ``reason`` (at most 123 bytes
        of UTF-8). Does nothing when the connection is already closing."""

    def pause_reading(self) -> None:
        """Stop reading from the socket (the peer's writes back up into TCP)."""

    def resume_reading(self) -> None:
        """Read from the socket again."""

    def detach(self, owner: Owner) -> None:
        """Deliver every message, the end of every read and the end of the connection to
        ``owner`` from now on."""
