"""The errors of ``collab export`` and ``collab import``, and their exit statuses."""

from __future__ import annotations

__all__ = [
    "EXIT_ERROR",
    "EXIT_NO_HISTORY",
    "EXIT_USAGE",
    "AlreadyExists",
    "BackupError",
    "DocumentError",
    "HistoryGone",
    "NotFound",
    "NotYet",
    "TombstoneRefused",
]

EXIT_ERROR = 1
"""Unknown document, unreachable server, unreadable database, unwritable output, refusal."""
EXIT_USAGE = 2
"""Bad arguments (argparse uses 2 as well)."""
EXIT_NO_HISTORY = 3
"""``--at`` asked for a moment the stored history no longer covers (or before the document)."""


class BackupError(Exception):
    """A failure to report as one line on stderr, with exit status ``status``."""

    status = EXIT_ERROR

    def __init__(self, message: str, status: int | None = None) -> None:
        super().__init__(message)
        if status is not None:
            self.status = status


class DocumentError(BackupError):
    """A failure of one document (unreadable state, conversion, history): ``export --all``
    reports it and goes on with the others."""


class NotFound(BackupError):
    """The document does not exist (on the server, or in the database)."""


class AlreadyExists(BackupError):
    """A create-only write found the document holding content (someone wrote it meanwhile)."""


class HistoryGone(DocumentError):
    """Compaction merged the history of that moment into a snapshot, or the document did not
    exist yet then."""

    status = EXIT_NO_HISTORY


class NotYet(HistoryGone):
    """``--at`` names a moment before the document was created (``export --all`` skips it)."""


class TombstoneRefused(BackupError):
    """The server keeps a tombstone of a deleted document of that name, and the update carries
    structs of it (the server refuses such updates so stale editors cannot resurrect it)."""
