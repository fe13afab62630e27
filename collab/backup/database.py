"""A collab database: read it (safe while the server runs), write it for imports.

An SQLite file goes through :class:`collab.stores.sqlite.SQLiteStore`, a ``postgresql://``
URL through :class:`collab.stores.postgres.PostgresStore` (no SQL here). Reading takes each
document inside one read transaction, so a compaction committed meanwhile by the server is
either wholly seen or not at all (SQLite: the file opened read-only, WAL readers never block
the writer; PostgreSQL: a repeatable-read transaction, the schema left as it is).

Writing keeps migrations and counters right, and happens only when no other process serves
the database: a server that has a document loaded would not see rows appended behind its back.
A PostgreSQL database is named by its URL with the password masked, in messages and manifests.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from collab.backup.errors import BackupError, HistoryGone, NotFound, NotYet
from collab.backup.moments import compacted_detail, iso, not_yet_detail
from collab.backup.remote import DocumentInfo
from collab.backup.states import clients, merge
from collab.history.moment import parts_at
from collab.stores import (
    DatabaseInUse,
    DocumentNotFound,
    DocumentStore,
    HistoryCompacted,
    NotCreatedYet,
    SQLiteStore,
    StoreError,
)
from collab.stores.dsn import is_postgres, masked

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


def _postgres(dsn: str, *, write: bool) -> DocumentStore:
    """A PostgreSQL database's store: for reading, without migrating it; for writing, holding
    its lock (refused while a server serves it)."""
    from collab.stores.postgres import PostgresStore

    return PostgresStore(dsn, lock=write, migrate=write)


def _store_error(path: Path | str, exc: StoreError) -> BackupError:
    text = str(exc.__cause__ or exc)  # SQLite's own words, when it failed
    if "locked" in text or "busy" in text:
        return BackupError(f"database {path} is locked: {text}")
    if exc.__cause__ is None:  # the store's own refusal names the file
        return BackupError(str(exc))
    return BackupError(f"cannot read database {path}: {text}")


class DbReader:
    """A collab database opened read-only."""

    def __init__(self, path: str | Path) -> None:
        self.path: Path | str
        self.store: DocumentStore
        if is_postgres(str(path)):
            self.path = masked(str(path))
            try:
                self.store = _postgres(str(path), write=False)
            except StoreError as exc:
                raise _store_error(self.path, exc) from None
            return
        self.path = _existing(Path(path).expanduser().absolute())  # named so in every message
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
        before then) plus the log rows written at or before then; where a compaction folded
        that moment, the newest version made by then (:func:`collab.history.moment.parts_at`).

        Raises:
            NotFound: no such document.
            NotYet: ``at`` is before the document was created.
            HistoryGone: compaction merged updates written after ``at`` into the snapshot, and
                no version is that old.
        """
        try:
            if at is None:
                parts = self.store.load_at(name).updates_in_order()
            else:
                parts = parts_at(self.store, name, at)[0]
        except DocumentNotFound as exc:
            deleted = f" (deleted at {iso(exc.deleted_at)})" if exc.deleted_at else ""
            raise NotFound(f"no document named {name!r} in {self.path}{deleted}") from None
        except NotCreatedYet as exc:
            assert at is not None
            raise NotYet(not_yet_detail(name, at, exc.created_at)) from None
        except HistoryCompacted as exc:
            assert at is not None
            raise HistoryGone(compacted_detail(name, at, exc.earliest)) from None
        except StoreError as exc:
            raise _store_error(self.path, exc) from None
        return merge(parts, repr(name))

    def version(self, name: str, version_id: int) -> bytes:
        """The state of version ``version_id`` of document ``name``.

        Raises:
            NotFound: no such version of that document.
        """
        try:
            found = self.store.get_version(name, version_id)
        except StoreError as exc:
            raise _store_error(self.path, exc) from None
        if found is None:
            raise NotFound(f"document {name!r} has no version {version_id} in {self.path}")
        return found[1]


class DbWriter:
    """A collab database opened for an import (created when missing), through the store,
    holding the database's process lock (:mod:`collab.stores.lock`,
    :mod:`collab.stores.postgres_lock`)."""

    def __init__(self, path: str | Path) -> None:
        self.path: Path | str
        self.store: DocumentStore
        try:
            if is_postgres(str(path)):
                self.path = masked(str(path))
                self.store = _postgres(str(path), write=True)
            else:
                self.path = Path(path).expanduser().absolute()  # named so in every message
                if self.path.is_dir():
                    raise BackupError(f"{self.path} is not a database file")
                self.store = SQLiteStore(self.path, exclusive=True)
        except DatabaseInUse as exc:
            # Its own advice, not the server's ("give this one another --db") after it.
            raise BackupError(
                f"{exc.situation}: stop it first, or import over HTTP with --server"
            ) from None
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
        """Append ``update`` as document ``name``'s log row. With ``replace``, first save its
        state as an automatic version, then remove the document, its log, snapshot and
        tombstone (not its versions), in the same transaction."""
        with self.transaction():
            if replace:
                before = self.current(name)
                if before is not None:
                    self.store.add_version(
                        name, before, label="before import --replace", automatic=True
                    )
                self.store.purge(name)
            self.store.append([(name, update)])
