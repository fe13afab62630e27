"""A watchdog for calls that get no answer: it cuts the connection of a call blocked too long.

A PostgreSQL server that is alive but frozen (stopped with SIGSTOP, a hung host whose kernel
still acknowledges packets) answers neither a statement nor its cancellation, and neither TCP
keepalives nor ``tcp_user_timeout`` notice it; a blocking psycopg call would wait for ever.
The watchdog, one thread per store, looks every :data:`CHECK_EVERY` seconds at the call in
progress; once it has been waiting for the server's answer for :data:`LIMIT` seconds (the
store's own work between statements, such as a compaction's replay, does not count), it shuts
the connection's socket down (a
``shutdown`` on a duplicate of its descriptor, safe from another thread), so the call fails
at once with a broken connection: the store reports it as a :class:`StoreError`, the hub
closes the room's peers with 1011, and the next call takes a new connection.
"""

from __future__ import annotations

import contextlib
import logging
import os
import socket
import threading
import time
from collections.abc import Callable, Iterator

import psycopg

__all__ = ["CHECK_EVERY", "LIMIT", "Watchdog"]

log = logging.getLogger("collab.stores.postgres")

LIMIT = 30.0
"""Seconds a statement may wait for the server's answer before its connection is cut (above
the server's own ``statement_timeout``, which a working server enforces first)."""

CHECK_EVERY = 1.0
"""Seconds between two looks at the call in progress."""


class Watchdog:
    """Cuts the connection of a call that waits longer than :data:`LIMIT` seconds.

    Args:
        current: the connection the store is using (``None`` while it has none).
        where: the database's name (password masked), for the log.
    """

    def __init__(self, current: Callable[[], psycopg.Connection | None], where: str) -> None:
        self.current, self.where = current, where
        self._call: object | None = None  # a token per outermost call
        self._cut: object | None = None
        self._depth = 0
        self.fired = False  # whether the last call's connection was cut
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._watch, name="collab-pg-watchdog", daemon=True)
        self._thread.start()

    @contextlib.contextmanager
    def watching(self) -> Iterator[None]:
        """Watch the ``with`` body, one call of the store (nested bodies count as one)."""
        if self._depth == 0:
            self._call = object()
            self.fired = False
        self._depth += 1
        try:
            yield
        finally:
            self._depth -= 1
            if self._depth == 0:
                self.fired = self._cut is self._call
                self._call = None

    def close(self) -> None:
        """Stop the thread."""
        self._stop.set()

    def _watch(self) -> None:
        waiting: tuple[object, float] | None = None  # the call seen waiting, and since when
        while not self._stop.wait(CHECK_EVERY):
            call, conn = self._call, self.current()
            if call is None or conn is None or call is self._cut or not _waits(conn):
                waiting = None  # between statements (the store's own work) or idle
                continue
            now = time.monotonic()
            if waiting is None or waiting[0] is not call:
                waiting = (call, now)
            if now - waiting[1] < LIMIT or self._call is not call:
                continue
            self._cut = call
            log.error("no answer from %s in %.0f s: cutting the connection", self.where, LIMIT)
            with (
                contextlib.suppress(OSError, psycopg.Error),
                socket.socket(fileno=os.dup(conn.pgconn.socket)) as sock,
            ):
                sock.shutdown(socket.SHUT_RDWR)


def _waits(conn: psycopg.Connection) -> bool:
    """Whether ``conn`` has a statement out, waiting for the server's answer (libpq's
    transaction status ``ACTIVE``; read from another thread, it may be a moment late)."""
    try:
        return bool(conn.pgconn.transaction_status == psycopg.pq.TransactionStatus.ACTIVE)
    except psycopg.Error:
        return False
