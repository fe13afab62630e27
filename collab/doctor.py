"""``collab doctor``: check a database (an SQLite file or a PostgreSQL database) and
summarise it, read-only.

Checks: SQLite's ``integrity_check`` (PostgreSQL: that it answers); the schema version against
this release's migrations; orphaned log rows and snapshots (no ``documents`` row); documents
whose recorded log count or size disagree with their rows; snapshots and logs that pycrdt
cannot read. Safe while the server runs (SQLite: the file is opened read-only, WAL readers do
not block the writer; PostgreSQL: one read-only transaction). A PostgreSQL password never
shows.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from collab.hub.loading import read_document
from collab.stores import DocumentStore, SQLiteStore, StoreError
from collab.stores.doctor_rows import counted
from collab.stores.dsn import is_postgres
from collab.stores.sqlite_doctor import inspect
from collab.updates import InvalidUpdate

__all__ = ["Report", "check", "repair"]


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


def check(path: str | Path, *, decode: bool = True, hint: str = "") -> Report:
    """Check the database at ``path``: an SQLite file, or a ``postgresql://`` URL (see
    :func:`collab.stores.sqlite_doctor.inspect`, :func:`collab.stores.postgres_doctor.inspect`).

    Args:
        path: the database file; relative paths are taken from the current folder, and the
            report names the absolute path.
        decode: also merge every snapshot and log with pycrdt.
        hint: the flag that picks another file (``--db``), suggested when the file is missing.

    Returns:
        The report; ``report.ok`` is false when anything is wrong, including a missing or
        unreadable file.
    """
    if is_postgres(str(path)):
        from collab.stores.postgres_doctor import inspect as inspect_postgres

        summary, problems = inspect_postgres(str(path), decode=decode)
        return Report(summary, problems)
    path = Path(path).expanduser().absolute()
    if not path.exists():
        problem = f"{path} does not exist"
        if hint:
            problem += (
                f" (relative paths start from the current folder, {Path.cwd()}: run collab"
                f" doctor where the server runs, or pass {hint} PATH)"
            )
        return Report([f"database: {path}"], [problem])
    if path.is_dir():
        return Report([f"database: {path}"], [f"{path} is a folder, not a database file"])
    summary, problems = inspect(path, decode=decode)
    if not any(line.startswith("database:") for line in summary):
        summary = [f"database: {path}", *summary]
    return Report(summary, problems)


def repair(
    path: str | Path, *, restore: tuple[int, ...] = (), drop: tuple[int, ...] = ()
) -> Report:
    """``collab doctor --repair`` of the SQLite file or ``postgresql://`` URL ``path``: load
    every document as a server would, moving the stored rows that no longer decode to the
    quarantine; then restore (put back in the log) or drop the quarantined rows named; list
    what stays quarantined. The database must not be served meanwhile (its lock is taken).

    A row is restored only when it applies to its document as loaded, the check of the HTTP
    route ``POST .../quarantine?restore=ID`` (:meth:`collab.integrator.Integrator.apply`,
    which :meth:`collab.hub.Hub.write` runs): else it stays quarantined, and is a problem.

    Returns:
        The report; a problem for each row named that does not exist or still does not
        decode, and for a database that does not exist (an SQLite file is never created) or
        cannot be opened.
    """
    report = Report()
    store: DocumentStore
    try:
        if is_postgres(str(path)):
            from collab.stores.postgres import PostgresStore

            store = PostgresStore(str(path), lock=True)
        elif not Path(path).expanduser().is_file():  # never create a database to repair
            report.problems.append(f"{Path(path).expanduser().absolute()} does not exist")
            return report
        else:
            store = SQLiteStore(path, lock=True)
    except StoreError as exc:
        report.problems.append(str(exc))
        return report
    try:
        for name in list(store.names()):
            before = len(store.quarantined(name))
            read_document(store, name)
            moved = len(store.quarantined(name)) - before
            if moved:
                report.summary.append(f"quarantined {counted(moved, 'row')} of {name!r}")
        for wanted in restore:
            refused = _refusal(store, wanted)
            if refused:
                report.problems.append(refused)
                continue
            owner = store.release(wanted, restore=True)
            report.summary.append(f"restored quarantined row {wanted} of {owner!r}")
        for wanted in drop:
            owner = store.release(wanted, restore=False)
            if owner is None:
                report.problems.append(f"no quarantined row {wanted}")
            else:
                report.summary.append(f"dropped quarantined row {wanted} of {owner!r}")
        rows = store.quarantined()
        for row in rows:
            report.summary.append(
                f"quarantine #{row.id}: {row.name!r} {row.kind}, {counted(row.size, 'byte')}:"
                f" {row.reason}"
            )
        report.summary.append(f"{counted(len(rows), 'row')} in quarantine")
    finally:
        store.close()
    return report


def _refusal(store: DocumentStore, wanted: int) -> str:
    """Why quarantined row ``wanted`` cannot be restored: there is no such row, or it does not
    apply to its document as loaded (as the HTTP route refuses it); ``""`` when it can."""
    owner = next((row.name for row in store.quarantined() if row.id == wanted), None)
    if owner is None:
        return f"no quarantined row {wanted}"
    _, integrator = read_document(store, owner)
    try:
        integrator.apply(store.quarantined_data(wanted), bounded=False)
    except InvalidUpdate as exc:
        return (
            f"quarantined row {wanted} of {owner!r} still does not decode ({exc}): it stays"
            f" in quarantine (delete it with --drop {wanted})"
        )
    return ""
