"""The SQLite side of ``collab doctor``: read-only checks of a database file.

Checks: SQLite's ``integrity_check``; the schema version against this release's migrations;
orphaned log rows and snapshots (no ``documents`` row); documents whose recorded log count or
size disagree with their rows; snapshots and logs that pycrdt cannot read. Safe while the
server runs (the file is opened read-only; WAL readers do not block the writer).
"""

from __future__ import annotations

import sqlite3
from pathlib import Path

from collab.stores.doctor_rows import counted, repair_hint, undecodable
from collab.stores.sqlite_read_only import read_only_hint, read_only_uri
from collab.stores.sqlite_schema import SCHEMA_VERSION, migrations

__all__ = ["inspect"]


class _Found:
    def __init__(self) -> None:
        self.summary: list[str] = []
        self.problems: list[str] = []


def inspect(path: str | Path, *, decode: bool = True) -> tuple[list[str], list[str]]:
    """Check the database at ``path``.

    Args:
        path: the SQLite file.
        decode: also merge every document's snapshot and log with pycrdt (slower).

    Returns:
        Summary lines and problems (none when all is well; a missing or unreadable file is
        a problem).
    """
    report = _Found()
    path = Path(path)
    if not path.is_file():
        report.problems.append(f"{path} does not exist")
        return report.summary, report.problems
    try:  # on read-only media too
        conn = sqlite3.connect(read_only_uri(path), uri=True, timeout=5.0)
    except sqlite3.Error as exc:
        report.problems.append(f"cannot open {path}: {exc}{read_only_hint(path)}")
        return report.summary, report.problems
    try:
        _check(conn, path, report, decode)
    except sqlite3.Error as exc:
        report.problems.append(f"cannot read {path}: {exc}{read_only_hint(path)}")
    finally:
        conn.close()
    return report.summary, report.problems


def _check(conn: sqlite3.Connection, path: Path, report: _Found, decode: bool) -> None:
    integrity = [row[0] for row in conn.execute("PRAGMA integrity_check")]
    if integrity != ["ok"]:
        report.problems += [f"integrity: {line}" for line in integrity[:20]]
        return
    tables = {row[0] for row in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")}
    applied = []
    if migrations.migrations_table in tables:
        applied = [
            row[0]
            for row in conn.execute(
                f"SELECT name FROM {migrations.migrations_table} WHERE migration_set = ?",
                [migrations.name],
            )
        ]
    report.summary.append(f"database: {path} ({counted(path.stat().st_size, 'byte')})")
    report.summary.append(f"schema version: {len(applied)} (this release: {SCHEMA_VERSION})")
    if len(applied) > SCHEMA_VERSION:
        report.problems.append("schema is newer than this release: upgrade collab")
    missing = {"documents", "updates", "snapshots"} - tables
    if missing:
        if len(applied) < SCHEMA_VERSION:
            report.summary.append("schema is older than this release: the server will upgrade it")
        report.problems.append(f"missing tables: {', '.join(sorted(missing))}")
        return
    documents, log_rows, log_bytes = conn.execute(
        "SELECT (SELECT count(*) FROM documents), count(*), coalesce(sum(length(data)), 0)"
        " FROM updates"
    ).fetchone()
    snapshots, snapshot_bytes = conn.execute(
        "SELECT count(*), coalesce(sum(length(data)), 0) FROM snapshots"
    ).fetchone()
    report.summary.append(f"documents: {documents:,}")
    report.summary.append(f"log: {counted(log_rows, 'update')}, {counted(log_bytes, 'byte')}")
    report.summary.append(f"snapshots: {snapshots:,}, {counted(snapshot_bytes, 'byte')}")
    for table in ("updates", "snapshots"):
        orphans = conn.execute(
            f"SELECT count(*) FROM {table} WHERE name NOT IN (SELECT name FROM documents)"
        ).fetchone()[0]
        if orphans:
            report.problems.append(f"{counted(orphans, 'orphaned row')} in {table} (no document)")
    mismatched = conn.execute(
        "SELECT d.name, d.updates, d.size_bytes,"
        " (SELECT count(*) FROM updates u WHERE u.name = d.name),"
        " coalesce((SELECT sum(length(data)) FROM updates u WHERE u.name = d.name), 0)"
        "  + coalesce((SELECT length(data) FROM snapshots s WHERE s.name = d.name), 0)"
        " FROM documents d"
    ).fetchall()
    for name, count, size, real_count, real_size in mismatched:
        if count == real_count and size == real_size:
            continue
        found = f"document {name!r} records {counted(count, 'update')} / {counted(size, 'byte')},"
        found += f" has {real_count} / {real_size}"
        if count < real_count and size < real_size:
            # The server writes counters at checkpoints (a second at most behind its commits),
            # and a crash may lose the last ones: it recounts them when it starts after one.
            report.summary.append(f"note: {found} (counters not written yet)")
        else:
            report.problems.append(found)
    if decode:
        _decode_all(conn, report, repair_hint(str(path.absolute())))


def _decode_all(conn: sqlite3.Connection, report: _Found, hint: str) -> None:
    for (name,) in conn.execute("SELECT name FROM documents ORDER BY name").fetchall():
        snapshot = conn.execute("SELECT data FROM snapshots WHERE name = ?", [name]).fetchone()
        rows = conn.execute(
            "SELECT id, data FROM updates WHERE name = ? ORDER BY id", [name]
        ).fetchall()
        problem = undecodable(name, snapshot[0] if snapshot else None, rows, hint)
        if problem is not None:
            report.problems.append(problem)
