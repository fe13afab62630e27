"""Export and import of documents: backups, migration between servers, files for other tools.

``collab export`` reads documents from a running server (HTTP, :mod:`collab.backup.remote`) or
straight from a database file, read-only (:mod:`collab.backup.database`), converts them with
:mod:`collab.export` and writes files atomically with a manifest (:mod:`collab.backup.files`).
``--at`` rebuilds a document as it was at a moment from the database's snapshot and log.
``collab import`` applies Yjs update files like client updates (:mod:`collab.backup.importing`).
"""

from __future__ import annotations

from collab.backup.commands import run_export, run_import
from collab.backup.errors import BackupError

__all__ = ["BackupError", "run_export", "run_import"]
