"""A collab database file: read it read-only (safe while the server runs), write it for imports.

Reading opens ``file:PATH?mode=ro`` and takes every document inside one read transaction, so
a compaction committed meanwhile by the server is either wholly seen or not at all (WAL readers
never block the writer, nor the writer them).

Writing goes through :class:`collab.store.Store` (so migrations and counters stay right), and
only when no other process has the database open: a server that has a document loaded would
not see rows appended behind its back.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from collab.backup.errors import BackupError, HistoryGone, NotFound, NotYet
from collab.backup.moments import iso
from collab.backup.remote import DocumentInfo
from collab.backup.states import clients, merge
from collab.store import Store, StoreError

__all__ = ["LOCK_TIMEOUT", "DbReader", "DbWriter"]

LOCK_TIMEOUT = 5.0
"""Seconds to wait for a lock before reporting the database as locked."""


def _existing(path: Path) -> Path:
    if not path.exists():
        raise BackupError(f"no database at {path}")
    if not path.is_file():
        raise BackupError(f"{path} is not a database file")
    return path


def _sqlite_error(path: Path, exc: sqlite3.Error) -> BackupError:
    text = str(exc)
    if "locked" in text or "busy" in text:
        return BackupError(f"database {path} is locked: {text}")
    return BackupError(f"cannot read database {path}: {text}")


class DbReader:
    """A collab database opened read-only."""

    def __init__(self, path: str | Path) -> None:
        self.path = _existing(Path(path))
        uri = self.path.resolve().as_uri() + "?mode=ro"
        try:
            self.conn = sqlite3.connect(uri, uri=True, timeout=LOCK_TIMEOUT, isolation_level=None)
        except sqlite3.Error as exc:
            raise _sqlite_error(self.path, exc) from None
        with self._reading():
            tables = {r[0] for r in self.conn.execute("SELECT name FROM sqlite_master")}
            if not {"documents", "updates", "snapshots"} <= tables:
                raise BackupError(f"{self.path} is not a collab database")
            columns = {r[1] for r in self.conn.execute("PRAGMA table_info(snapshots)")}
        self.tombstones = "tombstones" in tables
        # Before migration m003 a snapshot does not record the newest update it merged; its
        # own created_at (the compaction's time) is a safe upper bound.
        self.covers = (
            "coalesce(covers_until, created_at)" if "covers_until" in columns else ("created_at")
        )

    def close(self) -> None:
        self.conn.close()

    def __str__(self) -> str:
        return str(self.path)

    @contextmanager
    def _reading(self) -> Iterator[None]:
        """One read transaction; SQLite errors become :class:`BackupError`."""
        try:
            self.conn.execute("BEGIN")
            try:
                yield
            finally:
                self.conn.execute("COMMIT")
        except sqlite3.Error as exc:
            raise _sqlite_error(self.path, exc) from None

    def documents(self) -> Iterator[DocumentInfo]:
        """Every stored document, by name."""
        with self._reading():
            rows = self.conn.execute("SELECT name, updated_at FROM documents ORDER BY name")
            infos = [DocumentInfo(name, updated) for name, updated in rows]
        yield from infos

    def state(self, name: str, at: float | None = None) -> bytes:
        """Document ``name``'s state as one Yjs v1 update: now, or at Unix time ``at``.

        At a moment, the state is the snapshot (when it only merged updates written at or
        before then) plus the log rows written at or before then.

        Raises:
            NotFound: no such document.
            NotYet: ``at`` is before the document was created.
            HistoryGone: compaction merged updates written after ``at`` into the snapshot.
        """
        with self._reading():
            row = self.conn.execute(
                "SELECT created_at FROM documents WHERE name = ?", [name]
            ).fetchone()
            if row is None:
                raise NotFound(f"no document named {name!r} in {self.path}{self._deleted(name)}")
            snapshot = self.conn.execute(
                f"SELECT data, {self.covers} FROM snapshots WHERE name = ?", [name]
            ).fetchone()
            # Every log row left beside the snapshot follows it, or still waits for a missing
            # predecessor (compaction keeps those rows raw).
            if at is None:
                rows = self.conn.execute(
                    "SELECT data FROM updates WHERE name = ? ORDER BY id", [name]
                ).fetchall()
            else:
                if at < row[0]:
                    raise NotYet(
                        f"{name!r} did not exist yet at {iso(at)}: it was created at {iso(row[0])}"
                    )
                if snapshot and at < snapshot[1]:
                    raise HistoryGone(
                        f"the history of {name!r} at {iso(at)} was compacted into a snapshot;"
                        f" the earliest moment it still covers is {iso(snapshot[1])}"
                    )
                rows = self.conn.execute(
                    "SELECT data FROM updates WHERE name = ? AND created_at <= ? ORDER BY id",
                    [name, at],
                ).fetchall()
        parts = ([snapshot[0]] if snapshot else []) + [r[0] for r in rows]
        return merge(parts, repr(name))

    def _deleted(self, name: str) -> str:
        if not self.tombstones:
            return ""
        row = self.conn.execute(
            "SELECT deleted_at FROM tombstones WHERE name = ?", [name]
        ).fetchone()
        return f" (deleted at {iso(row[0])})" if row and row[0] else ""


def _ensure_unused(path: Path) -> None:
    """Refuse a database another process (a running server) has open.

    In WAL mode every open connection holds a shared lock on the database, so an exclusive
    lock succeeds only when nobody else has it open.
    """
    if not path.exists():
        return
    try:
        probe = sqlite3.connect(path, timeout=0, isolation_level=None)
    except sqlite3.Error as exc:
        raise _sqlite_error(path, exc) from None
    try:
        probe.execute("PRAGMA locking_mode=EXCLUSIVE")
        probe.execute("BEGIN EXCLUSIVE")
        probe.execute("COMMIT")
    except sqlite3.OperationalError as exc:
        if "locked" in str(exc) or "busy" in str(exc):
            raise BackupError(
                f"database {path} is in use by another process (is the server running?):"
                " stop it, or import over HTTP with --server"
            ) from None
        raise _sqlite_error(path, exc) from None
    except sqlite3.Error as exc:
        raise _sqlite_error(path, exc) from None
    finally:
        probe.close()


class DbWriter:
    """A collab database opened for an import (created when missing), through ``Store``."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        if self.path.is_dir():
            raise BackupError(f"{self.path} is not a database file")
        _ensure_unused(self.path)
        try:
            self.store = Store(self.path)
        except StoreError as exc:
            raise BackupError(str(exc)) from None

    def close(self) -> None:
        self.store.close()

    def __str__(self) -> str:
        return str(self.path)

    @contextmanager
    def transaction(self) -> Iterator[None]:
        """One transaction around several writes (an import of many documents is all or none)."""
        try:
            with self.store.db.atomic():
                yield
        except (StoreError, sqlite3.Error) as exc:
            raise BackupError(f"import into {self.path} failed: {exc}") from None

    def current(self, name: str) -> bytes | None:
        """The document's state, or ``None`` when it does not exist."""
        try:
            if self.store.get(name) is None:
                return None
            parts = self.store.load(name).updates_in_order()
        except StoreError as exc:
            raise BackupError(str(exc)) from None
        return merge(parts, repr(name))

    def revives(self, name: str, update: bytes) -> bool:
        """Whether ``update`` carries content of the deleted document ``name`` (its tombstone):
        structs of a client the tombstone holds (all of them, in a whole document's state)."""
        try:
            tombstone = self.store.load(name).tombstone
        except StoreError as exc:
            raise BackupError(str(exc)) from None
        return tombstone is not None and bool(clients(update) & clients(tombstone))

    def write(self, name: str, update: bytes, *, replace: bool = False) -> None:
        """Append ``update`` as document ``name``'s log row. With ``replace``, first remove the
        document, its log, snapshot and tombstone, in the same transaction."""
        with self.transaction():
            if replace:
                for table in ("updates", "snapshots", "documents", "tombstones"):
                    self.store.db.execute(f"DELETE FROM {table} WHERE name = ?", [name])
            self.store.append([(name, update)])
