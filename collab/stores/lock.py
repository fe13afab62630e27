"""One process at a time serves a database file: an exclusive lock on ``<db>.lock``.

Two servers on one SQLite file both commit, but neither sees the other's rooms: their clients
silently diverge until a restart. So a server (and ``collab import --db``) takes an exclusive
``flock`` on a lock file beside the database and writes its pid into it; a second process
finds the lock taken and is refused, with the pid of the first. The kernel drops the lock
when the process ends, however it ends (``kill -9`` included), so a stale lock file is never
an obstacle.

The nodes of one cluster (``collab serve --redis``) on one machine share the file: each takes
a shared lock, which keeps out a single server (and a single server keeps out the nodes). They
see each other's edits through Redis, and SQLite in WAL mode serializes their commits. Their
set-up of the database (WAL mode, migrations) is serialized by :meth:`ProcessLock.setting_up`:
nodes or workers started at once on a new file created its tables twice ("table events already
exists") or found it locked mid-migration, in about 1 start of 15.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from pathlib import Path

from collab.stores.base import DatabaseInUse, StoreError

try:
    import fcntl
except ImportError:  # pragma: no cover - not on POSIX: no lock (documented)
    fcntl = None  # type: ignore[assignment]

__all__ = ["ProcessLock"]


class ProcessLock:
    """The exclusive lock of one database file, held until :meth:`release`.

    Args:
        database: the database file (the lock file is ``<database>.lock``).
        shared: a cluster node's shared lock (other nodes may hold it too).

    Raises:
        DatabaseInUse: another process holds the lock; the message names its pid.
        StoreError: the lock file cannot be created.
    """

    def __init__(self, database: Path, *, shared: bool = False) -> None:
        self.path = database.with_name(database.name + ".lock")
        self.shared = shared
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._fd: int | None = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        except OSError as exc:
            raise StoreError(
                f"cannot open the database {database}: cannot create its lock file"
                f" {self.path.name}: {exc.strerror or exc}"
            ) from exc
        if fcntl is None:
            return
        try:
            fcntl.flock(self._fd, (fcntl.LOCK_SH if shared else fcntl.LOCK_EX) | fcntl.LOCK_NB)
        except OSError:
            holder = os.pread(self._fd, 32, 0).decode(errors="replace").strip() or "unknown"
            os.close(self._fd)
            self._fd = None
            if shared:
                raise DatabaseInUse(
                    f"database {database} is in use by a collab process that is not a cluster"
                    f" node (pid {holder})",
                    "stop it first, or start it with this cluster's Redis URL too"
                    " (--redis on the command line, Settings(redis=...) in an app)",
                ) from None
            if holder == "unknown":  # shared holders write no pid
                raise DatabaseInUse(
                    f"database {database} is in use by the nodes of a collab cluster",
                    "stop them first, or start this one with their Redis URL too"
                    " (--redis on the command line, Settings(redis=...) in an app)",
                ) from None
            raise DatabaseInUse(
                f"database {database} is in use by another collab process (pid {holder})",
                "stop it first, or give this one another database (--db on the command line,"
                " Settings(db=...) in an app)",
            ) from None
        if not shared:
            os.ftruncate(self._fd, 0)
            os.pwrite(self._fd, f"{os.getpid()}\n".encode(), 0)

    @contextlib.contextmanager
    def setting_up(self) -> Iterator[None]:
        """Hold the lock file's POSIX record lock (``lockf``, which the kernel keeps apart from
        the ``flock`` above) while the database is set up, so that processes sharing the file
        set it up one after another; waits for the one setting it up now."""
        if fcntl is None or self._fd is None:
            yield
            return
        fcntl.lockf(self._fd, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.lockf(self._fd, fcntl.LOCK_UN)

    def release(self) -> None:
        """Give the lock back (closing the file releases it). Safe to call twice."""
        if self._fd is not None:
            if not self.shared:
                with contextlib.suppress(OSError):
                    os.ftruncate(self._fd, 0)
            os.close(self._fd)
            self._fd = None
