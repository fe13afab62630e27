"""How a database file is opened read-only, on read-only media too.

SQLite's WAL mode keeps a shared-memory index beside the database (``NAME-shm``): a reader
must create it when it is missing, even with ``mode=ro``, and fails with "unable to open
database file" in a folder it cannot write (a read-only mount, a backup disk, a CD). There a
database with no ``NAME-wal`` file beside it is opened with ``immutable=1`` (SQLite then needs
no ``-shm`` file): no connection has it open, as a WAL connection keeps its ``-wal`` file while
open, and none can start writing it through a read-only folder. A database with a ``-wal``
file (a server had it open, or crashed) cannot be read there without its ``-shm`` file:
:func:`read_only_hint` says to copy it to writable storage.
"""

from __future__ import annotations

import os
from pathlib import Path

__all__ = ["read_only_hint", "read_only_uri"]


def _writable_folder(path: Path) -> bool:
    return os.access(path.parent, os.W_OK | os.X_OK)


def read_only_uri(path: Path) -> str:
    """The ``file:`` URI (for ``sqlite3.connect(..., uri=True)``) opening ``path`` read-only:
    ``mode=ro``, or ``immutable=1`` when its folder cannot be written and no ``-wal`` file
    is beside it (see the module's docstring)."""
    uri = path.resolve().as_uri()
    if not _writable_folder(path) and not path.with_name(path.name + "-wal").exists():
        return uri + "?immutable=1"
    return uri + "?mode=ro"


def read_only_hint(path: Path) -> str:
    """What to do when ``path`` could not be opened read-only: when its folder cannot be
    written, a sentence saying why SQLite needs to and what to do; else ``""``."""
    if _writable_folder(path):
        return ""
    return (
        f" (its folder is not writable, and SQLite's WAL mode must create {path.name}-shm "
        f"beside a database with a {path.name}-wal file: copy both files to writable storage "
        "and open the copy)"
    )
