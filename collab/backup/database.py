"""A collab database file: read it read-only (safe while the server runs), write it for imports.

Both go through :class:`collab.stores.sqlite.SQLiteStore` (no SQL here). Reading opens the
file read-only and takes each document inside one read transaction, so a compaction committed
meanwhile by the server is either wholly seen or not at all (WAL readers never block the
writer, nor the writer them).

Writing keeps migrations and counters right, and happens only when no other process has the
database open: a server that has a document loaded would not see rows appended behind its back.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from collab.backup.errors import BackupError, HistoryGone, NotFound, NotYet
from collab.backup.moments import iso
from collab.backup.remote import DocumentInfo
from collab.backup.states import clients, merge
from collab.stores import (
    DatabaseInUse,
    DocumentNotFound,
    HistoryCompacted,
    NotCreatedYet,
    SQLiteStore,
    StoreError,
)

__all__ = ["LOCK_TIMEOUT", "DbReader", "DbWriter"]

LOCK_TIMEOUT = 5.0
"""Seconds to wait for a lock before reporting the database as locked."""

_PAGE = 1000


def _existing(path: Path) -> Path:
    if not path.exists():
        raise BackupError(f"no database at {path}")
    if not path.is_file():
        raise BackupError(f"{path} is not a database file")
    return path


def _store_error(path: Path, exc: StoreError) -> BackupError:
    text = str(exc.__cause__ or exc)  # SQLite's own words, when it failed
    if "locked" in text or "busy" in text:
        return BackupError(f"database {path} is locked: {text}")
    if exc.__cause__ is None:  # the store's own refusal names the file
        return BackupError(str(exc))
    return BackupError(f"cannot read database {path}: {text}")


class DbReader:
    """A collab database opened read-only."""

    def __init__(self, path: str | Path) -> None:
        self.path = _existing(Path(path))
        try:
            self.store = SQLiteStore.open_read_only(self.path, timeout=LOCK_TIMEOUT)
        except StoreError as exc:
            raise _store_error(self.path, exc) from None

    def close(self) -> None:
        self.store.close()

    def __str__(self) -> str:
        return str(self.path)

    def documents(self) -> Iterator[DocumentInfo]:
        """Every stored document, by name."""
        infos: list[DocumentInfo] = []
        after: tuple[None, str] | None = None
        try:
            while True:
                page = self.store.list(limit=_PAGE, after=after)
                infos += [DocumentInfo(record.name, record.updated_at) for record in page]
                if len(page) < _PAGE:
                    break
                after = (None, page[-1].name)
        except StoreError as exc:
            raise _store_error(self.path, exc) from None
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
        try:
            stored = self.store.load_at(name, at)
        except DocumentNotFound as exc:
            deleted = f" (deleted at {iso(exc.deleted_at)})" if exc.deleted_at else ""
            raise NotFound(f"no document named {name!r} in {self.path}{deleted}") from None
        except NotCreatedYet as exc:
            assert at is not None
            raise NotYet(
                f"{name!r} did not exist yet at {iso(at)}: it was created at {iso(exc.created_at)}"
            ) from None
        except HistoryCompacted as exc:
            assert at is not None
            raise HistoryGone(
                f"the history of {name!r} at {iso(at)} was compacted into a snapshot;"
                f" the earliest moment it still covers is {iso(exc.earliest)}"
            ) from None
        except StoreError as exc:
            raise _store_error(self.path, exc) from None
        return merge(stored.updates_in_order(), repr(name))


class DbWriter:
    """A collab database opened for an import (created when missing), through the store,
    holding the database's process lock (see :mod:`collab.stores.lock`)."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        if self.path.is_dir():
            raise BackupError(f"{self.path} is not a database file")
        try:
            self.store = SQLiteStore(self.path, exclusive=True)
        except DatabaseInUse as exc:
            raise BackupError(f"{exc}: stop it, or import over HTTP with --server") from None
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
            with self.store.transaction():
                yield
        except StoreError as exc:
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
                self.store.purge(name)
            self.store.append([(name, update)])
