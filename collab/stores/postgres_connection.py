"""The PostgreSQL store's connection: a psycopg-pool pool, reconnection, error mapping.

The store holds one connection (autocommit) taken from a
:class:`~psycopg_pool.ConnectionPool`. When it breaks (the server restarted, the network
failed) the call fails with :class:`StoreError`, the connection goes back to the pool, which
discards it, and the next call takes a new one: collab reconnects by itself when the database
comes back. A connection idle for :data:`IDLE_CHECK_SECONDS` is checked with an empty query
before use, so a server restarted while collab was idle costs no failed commit.

Every message names the database by its masked URL, and the driver's and the pool's messages
(log records included) are scrubbed of the password (:mod:`collab.stores.dsn`).
"""

from __future__ import annotations

import contextlib
import logging
import time
from collections.abc import Iterator

import psycopg
import psycopg_pool
from psycopg import errors as pg_errors

from collab.stores import postgres_watchdog as watchdog
from collab.stores.base import StoreError
from collab.stores.dsn import masked, password, scrubbed
from collab.stores.postgres_lock import ServerLock
from collab.stores.postgres_watchdog import Watchdog

__all__ = [
    "CONNECT_TIMEOUT",
    "IDLE_CHECK_SECONDS",
    "LOCK_TIMEOUT",
    "STATEMENT_TIMEOUT",
    "Connection",
]

CONNECT_TIMEOUT = 5.0
"""Seconds a call waits for a connection (the server down or unreachable) before it fails."""

LOCK_TIMEOUT = 5.0
"""Seconds a statement waits for another transaction's lock before it fails."""

STATEMENT_TIMEOUT = 15.0
"""Seconds a statement may run before the server cancels it (a database too slow to commit:
the commit fails, its rooms' peers are closed with 1011, instead of waiting for ever)."""

IDLE_CHECK_SECONDS = 2.0
"""A connection unused for this long is checked (an empty query) before it is used."""

_OPTIONS = {
    "connect_timeout": "5",
    # Dead servers and black-holed networks are noticed within seconds, not hours.
    "keepalives": "1",
    "keepalives_idle": "5",
    "keepalives_interval": "2",
    "keepalives_count": "3",
    "tcp_user_timeout": "10000",
    "application_name": "collab",
}
"""libpq options collab sets unless the connection string sets them."""

_LOGGERS = ("psycopg", "psycopg.pool")


class Connection:
    """The connection of one store to database ``dsn``.

    Args:
        dsn: a libpq connection string (URL or ``key=value`` pairs).
        timeout: seconds a call waits for a connection before it fails.
        lock: hold the database's :class:`~collab.stores.postgres_lock.ServerLock` (a serving
            process, an import), taken again after a reconnection.
        shared_lock: take it shared (a cluster node).

    Raises:
        DatabaseInUse: with ``lock``, when another process holds it.
        StoreError: when no connection is made within ``timeout`` (with the server's reason).
    """

    def __init__(
        self,
        dsn: str,
        *,
        timeout: float = CONNECT_TIMEOUT,
        lock: bool = False,
        shared_lock: bool = False,
    ) -> None:
        self.where = masked(dsn)
        self._secret = password(dsn)
        name = f"collab-{id(self):x}"
        self._log = _PoolLog(name, self._secret)
        for logger in _LOGGERS:
            logging.getLogger(logger).addFilter(self._log)
        self._conn: psycopg.Connection | None = None
        self._used = 0.0
        self.lock: ServerLock | None = None
        self._watchdog = Watchdog(lambda: self._conn, self.where)
        options = {k: v for k, v in _OPTIONS.items() if k not in _keys(dsn)}
        options["options"] = (
            f"-c lock_timeout={int(LOCK_TIMEOUT * 1000)}"
            f" -c statement_timeout={int(STATEMENT_TIMEOUT * 1000)}"
        )
        self.pool = psycopg_pool.ConnectionPool(
            dsn,
            min_size=1,
            max_size=2,  # the database thread's connection, and one for ping()
            kwargs={"autocommit": True, **options},
            open=False,
            timeout=timeout,
            # A failing connection attempt is retried with backoff (1, 2, 4, ... s) for 30 s,
            # then dropped: the next call starts a new attempt at once, so collab reconnects
            # within seconds of the database's return even after a long outage.
            reconnect_timeout=30.0,
            name=name,
        )
        try:
            # Opening: the pool's warnings about each failed attempt are kept, not logged; a
            # failure is the one StoreError below, which names the last reason.
            self._log.opening = True
            try:
                self.pool.open(wait=True, timeout=timeout)
            finally:
                self._log.opening = False
            if lock:
                options.pop("application_name", None)
                self.lock = ServerLock(dsn, options, self.where, shared=shared_lock)
        except (psycopg.Error, psycopg_pool.PoolTimeout) as exc:
            self.close()
            raise StoreError(f"cannot open database {self.where}: {self.text(exc)}") from None
        except StoreError:
            self.close()
            raise

    def close(self) -> None:
        """Give the connection back, release the lock, close the pool. Safe to call twice."""
        if self.lock is not None:
            self.lock.release()
        if self._conn is not None:
            with contextlib.suppress(Exception):
                self.pool.putconn(self._conn)
            self._conn = None
        with contextlib.suppress(Exception):
            self.pool.close(timeout=1.0)
        for logger in _LOGGERS:
            logging.getLogger(logger).removeFilter(self._log)
        self._watchdog.close()

    @contextlib.contextmanager
    def session(self, action: str) -> Iterator[psycopg.Connection]:
        """The store's connection for one call; psycopg and pool errors become
        :class:`StoreError` naming ``action`` and the masked database. A connection left
        broken goes back to the pool, which discards it. Sessions may nest."""
        try:
            with self._watchdog.watching():
                conn = self._connection()
                try:
                    yield conn
                finally:
                    if not (conn.broken or conn.closed):
                        self._used = time.monotonic()
                    elif self._conn is conn:  # not given back yet by a nested session
                        self._conn = None
                        self.pool.putconn(conn)
        except pg_errors.LockNotAvailable as exc:
            text = f"locked by another transaction ({self.text(exc)})"
            raise StoreError(f"{action} failed on {self.where}: {text}") from None
        except pg_errors.QueryCanceled as exc:
            text = f"timed out after {STATEMENT_TIMEOUT:g} s ({self.text(exc)})"
            raise StoreError(f"{action} failed on {self.where}: {text}") from None
        except psycopg.OperationalError as exc:
            if not self._watchdog.fired:
                raise StoreError(f"{action} failed on {self.where}: {self.text(exc)}") from None
            text = f"no answer in {watchdog.LIMIT:g} s, connection cut ({self.text(exc)})"
            raise StoreError(f"{action} failed on {self.where}: {text}") from None
        except (psycopg.Error, psycopg_pool.PoolTimeout) as exc:
            raise StoreError(f"{action} failed on {self.where}: {self.text(exc)}") from None

    def ping(self) -> None:
        """Check that the database answers, on a connection of its own (any thread may call).

        Raises:
            StoreError: when it does not within the timeout.
        """
        try:
            with self.pool.connection() as conn:
                conn.execute("SELECT 1")
        except (psycopg.Error, psycopg_pool.PoolTimeout) as exc:
            raise StoreError(f"database {self.where} unreachable: {self.text(exc)}") from None

    def _connection(self) -> psycopg.Connection:
        conn = self._conn
        if conn is not None and time.monotonic() - self._used > IDLE_CHECK_SECONDS:
            try:
                conn.execute("")
            except psycopg.Error:
                self._conn = None
                self.pool.putconn(conn)
                conn = None
        if conn is None:
            conn = self.pool.getconn()
            self._log.last_error = None
            try:
                if self.lock is not None:  # a new connection: the database may have restarted
                    self.lock.renew()
            except BaseException:
                self.pool.putconn(conn)
                raise
            self._conn = conn
        return conn

    def text(self, exc: BaseException) -> str:
        """What ``exc`` says, without the password (a pool timeout gives the last reason the
        pool could not connect)."""
        text = str(exc).strip() or type(exc).__name__
        if isinstance(exc, psycopg_pool.PoolTimeout):
            reason = self._log.last_error or "is the server running?"
            text = f"no connection within the timeout: {reason}"
        return scrubbed(" ".join(text.split()), self._secret)  # libpq's hints: one line


def _keys(dsn: str) -> set[str]:
    """The connection option names written in ``dsn``."""
    try:
        return set(psycopg.conninfo.conninfo_to_dict(dsn))
    except psycopg.Error:
        return set()


class _PoolLog(logging.Filter):
    """Removes the password from the driver's and the pool's log records, and keeps the
    last reason the pool named ``pool`` gave for failing to connect; while ``opening``, those
    failures are kept only (the store's open fails with one error naming the last one, and a
    command prints that one line, not the pool's warning per attempt before it)."""

    def __init__(self, pool: str, secret: str | None) -> None:
        super().__init__()
        self.secret = secret
        self.prefix = f"error connecting in '{pool}': "
        self.last_error: str | None = None
        self.opening = False

    def filter(self, record: logging.LogRecord) -> bool:
        text = record.getMessage()
        clean = scrubbed(text, self.secret)
        if clean != text:
            record.msg, record.args = clean, None
        if clean.startswith(self.prefix):
            self.last_error = clean.removeprefix(self.prefix)
            return not self.opening
        return True
