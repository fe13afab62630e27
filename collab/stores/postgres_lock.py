"""One collab process at a time serves a PostgreSQL database: a session advisory lock.

Two servers on one database both commit, but neither sees the other's rooms: their clients
silently diverge until a restart (the SQLite store refuses a second server with a lock file,
:mod:`collab.stores.lock`). So a serving process (and ``collab import --db``) holds
PostgreSQL's session-level advisory lock :data:`KEY` on a connection of its own, named
``collab pid N on HOST`` (``application_name``), and a second process finds the lock taken and
is refused with that name. PostgreSQL drops the lock when the connection ends, however the
process ends (``kill -9`` included), and when the server restarts; the holder then takes it
again when it reconnects (:meth:`ServerLock.renew`).
"""

from __future__ import annotations

import contextlib
import os
import socket
from typing import Any

import psycopg

from collab.stores.base import DatabaseInUse

__all__ = ["KEY", "ServerLock"]

KEY = 0x636F6C6C6162_01
"""The advisory lock's key (a bigint: "collab" and 1)."""

_HOLDER = (
    "SELECT a.application_name, host(a.client_addr) FROM pg_locks l"
    " JOIN pg_stat_activity a ON a.pid = l.pid WHERE l.locktype = 'advisory' AND l.granted"
    " AND l.classid = %s AND l.objid = %s AND l.objsubid = 1"
)


class ServerLock:
    """The advisory lock of one database, held until :meth:`release`.

    Args:
        dsn: the database's connection string.
        options: libpq options for the lock's connection (timeouts, keepalives).
        where: the database's name with its password masked, for messages.
        shared: a cluster node's shared lock: the nodes of one cluster (``--redis``) share
            the database, and keep out a single server (which keeps them out).

    Raises:
        DatabaseInUse: another process holds the lock; the message names it.
        psycopg.Error: when the database cannot be reached.
    """

    def __init__(
        self, dsn: str, options: dict[str, Any], where: str, *, shared: bool = False
    ) -> None:
        self.dsn, self.options, self.where = dsn, options, where
        self.shared = shared
        self.name = f"collab pid {os.getpid()} on {socket.gethostname()}"[:63]
        self._conn: psycopg.Connection | None = None
        self._take()

    def _take(self) -> None:
        options = {**self.options, "application_name": self.name}
        conn = psycopg.connect(self.dsn, autocommit=True, **options)
        take = "pg_try_advisory_lock_shared" if self.shared else "pg_try_advisory_lock"
        row = conn.execute(f"SELECT {take}(%s)", [KEY]).fetchone()
        if row and row[0]:
            self._conn = conn
            return
        holder = conn.execute(_HOLDER, [KEY >> 32, KEY & 0xFFFFFFFF]).fetchone()
        conn.close()
        who = f"{holder[0]} from {holder[1] or 'a local socket'}" if holder else "unknown"
        if self.shared:
            raise DatabaseInUse(
                f"database {self.where} is in use by a collab process that is not a cluster"
                f" node ({who})",
                "stop it first, or start it with this cluster's Redis URL too"
                " (--redis on the command line, Settings(redis=...) in an app)",
            )
        raise DatabaseInUse(
            f"database {self.where} is in use by another collab process ({who})",
            "stop it first, or give this one another database (--db on the command line,"
            " Settings(db=...) in an app)",
        )

    def renew(self) -> None:
        """Check the lock's connection; when it ended (the database restarted), take the
        lock again on a new one.

        Raises:
            DatabaseInUse: another process took the lock meanwhile.
            psycopg.Error: when the database cannot be reached.
        """
        if self._conn is not None:
            try:
                self._conn.execute("")
                return
            except psycopg.Error:
                with contextlib.suppress(psycopg.Error):
                    self._conn.close()
                self._conn = None
        self._take()

    def release(self) -> None:
        """Give the lock back (closing its connection releases it). Safe to call twice."""
        if self._conn is not None:
            with contextlib.suppress(psycopg.Error):
                self._conn.close()
            self._conn = None
