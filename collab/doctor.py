"""``collab doctor``: check a database file and summarise it, read-only.

Checks: SQLite's ``integrity_check``; the schema version against this release's migrations;
orphaned log rows and snapshots (no ``documents`` row); documents whose recorded log count or
size disagree with their rows; snapshots and logs that pycrdt cannot read. Safe while the
server runs (the file is opened read-only; WAL readers do not block the writer).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from collab.stores.sqlite_doctor import inspect

__all__ = ["Report", "check"]


@dataclass
class Report:
    """What :func:`check` found: summary lines and problems (any problem fails the check)."""

    summary: list[str] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems

    def render(self) -> str:
        lines = [*self.summary]
        lines += [f"PROBLEM: {p}" for p in self.problems] or ["no problems found"]
        return "\n".join(lines)


def check(path: str | Path, *, decode: bool = True) -> Report:
    """Check the database at ``path`` (see :func:`collab.stores.sqlite_doctor.inspect`).

    Returns:
        The report; ``report.ok`` is false when anything is wrong, including a missing or
        unreadable file.
    """
    summary, problems = inspect(path, decode=decode)
    return Report(summary, problems)
