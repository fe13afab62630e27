"""Export and import of documents: backups, migration between servers, files for other tools.

``collab export`` reads documents from a running server (HTTP, :mod:`collab.backup.remote`) or
straight from a database file, read-only (:mod:`collab.backup.database`), converts them with
:mod:`collab.export` and writes files atomically with a manifest (:mod:`collab.backup.files`).
``--at`` rebuilds a document as it was at a moment from the database's snapshot and log.
``collab import`` applies Yjs update files like client updates (:mod:`collab.backup.importing`).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from collab.backup.errors import BackupError

if TYPE_CHECKING:
    from collab.backup.commands import run_export, run_import

__all__ = ["BackupError", "run_export", "run_import"]


def __getattr__(name: str) -> Any:
    """``run_export`` and ``run_import``, imported on first use (PEP 562): the server imports
    this package for its errors and moments, and the commands would bring httpx and the
    readers into every serving process."""
    if name in ("run_export", "run_import"):
        from collab.backup import commands

        return getattr(commands, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
