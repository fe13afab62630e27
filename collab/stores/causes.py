"""What a database failure means, in words an operator acts on ("the disk is full").

A :class:`~collab.stores.base.StoreError` says what failed ("commit failed on PATH: database
or disk is full"); :func:`cause` says why, from the SQLite error code, the PostgreSQL
SQLSTATE or the OS error number it was raised from, followed by the database's own text.
"""

from __future__ import annotations

import errno
import os

__all__ = ["cause"]

_SQLITE = {
    "SQLITE_FULL": "the disk is full",
    "SQLITE_READONLY": "the database is read-only",
    "SQLITE_IOERR": "the disk failed to read or write",
    "SQLITE_CORRUPT": "the database file is damaged",
    "SQLITE_NOTADB": "the database file is damaged",
    "SQLITE_CANTOPEN": "the database file cannot be opened",
    "SQLITE_PERM": "permission denied",
    "SQLITE_BUSY": "another process holds the database's write lock",
    "SQLITE_LOCKED": "another process holds the database's write lock",
}
"""Primary SQLite result codes (an extended one, such as SQLITE_IOERR_WRITE, maps by its
prefix) to what they mean."""

_SQLSTATE = {
    "53100": "the database server's disk is full",
    "53200": "the database server is out of memory",
    "25006": "the database is read-only",
    "58030": "the database server failed to read or write its disk",
}
"""PostgreSQL SQLSTATE codes to what they mean."""

_OS = {
    errno.ENOSPC: "the disk is full",
    errno.EDQUOT: "the disk quota is exceeded",
    errno.EROFS: "the file system is read-only",
    errno.EIO: "the disk failed to read or write",
}


def cause(exc: BaseException) -> str:
    """Why ``exc`` (a ``StoreError``, or any exception) happened: the meaning of the SQLite,
    PostgreSQL or OS error it was raised from, with that error's text in parentheses (``"the
    disk is full (database or disk is full)"``); the innermost error's text when its code
    means nothing more; ``str(exc)`` when it was raised from nothing."""
    seen: BaseException | None = exc
    while seen is not None:
        meaning = _meaning(seen)
        if meaning is not None:
            text = _text(seen)
            return f"{meaning} ({text})" if text and text != meaning else meaning
        if seen.__cause__ is None:
            return _text(seen) or str(exc)
        seen = seen.__cause__
    return str(exc)  # pragma: no cover - the loop returns


def _meaning(exc: BaseException) -> str | None:
    name = getattr(exc, "sqlite_errorname", None)
    if isinstance(name, str):
        for prefix, meaning in _SQLITE.items():
            if name == prefix or name.startswith(prefix + "_"):
                return meaning
    sqlstate = getattr(exc, "sqlstate", None)
    if isinstance(sqlstate, str) and sqlstate in _SQLSTATE:
        return _SQLSTATE[sqlstate]
    if isinstance(exc, OSError) and exc.errno in _OS:
        return _OS[exc.errno]
    return None


def _text(exc: BaseException) -> str:
    if isinstance(exc, OSError) and exc.errno is not None and exc.strerror:
        return os.strerror(exc.errno)
    return str(exc).strip().splitlines()[0] if str(exc).strip() else ""
