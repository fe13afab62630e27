"""The PostgreSQL side of ``collab doctor``: read-only checks of a collab database.

Checks: that the server answers; the schema version against this release's migrations;
missing tables; orphaned log rows and snapshots (no ``documents`` row); documents whose
recorded log count or size disagree with their rows (the counters are written with the rows
they count, so any difference is a problem); snapshots and logs that pycrdt cannot read.
Everything is read in one read-only repeatable-read transaction: a consistent view, safe
while servers write. The database is named with its password masked.
"""

from __future__ import annotations

import psycopg

from collab.stores.doctor_rows import counted, repair_hint, undecodable
from collab.stores.dsn import masked, password, scrubbed
from collab.stores.postgres_schema import MIGRATIONS_TABLE, SCHEMA_VERSION

__all__ = ["inspect"]

_TABLES = {"documents", "updates", "snapshots", "tombstones"}


def inspect(dsn: str, *, decode: bool = True) -> tuple[list[str], list[str]]:
    """Check the PostgreSQL database ``dsn``.

    Args:
        dsn: its connection string.
        decode: also merge every document's snapshot and log with pycrdt (slower).

    Returns:
        Summary lines and problems (none when all is well; an unreachable database is one).
    """
    summary: list[str] = []
    problems: list[str] = []
    where, secret = masked(dsn), password(dsn)
    try:
        with psycopg.connect(dsn, connect_timeout=5, application_name="collab doctor") as conn:
            conn.read_only = True
            conn.isolation_level = psycopg.IsolationLevel.REPEATABLE_READ
            with conn.transaction():
                _check(conn, where, summary, problems, decode)
    except psycopg.Error as exc:
        problems.append(f"cannot read {where}: {scrubbed(' '.join(str(exc).split()), secret)}")
    return summary, problems


def _check(
    conn: psycopg.Connection,
    where: str,
    summary: list[str],
    problems: list[str],
    decode: bool,
) -> None:
    size = _one(conn, "SELECT pg_database_size(current_database())")
    tables = {
        row[0]
        for row in conn.execute(
            "SELECT table_name FROM information_schema.tables WHERE table_schema = current_schema()"
        )
    }
    applied = 0
    if MIGRATIONS_TABLE in tables:
        applied = _one(conn, f"SELECT count(*) FROM {MIGRATIONS_TABLE}")
    summary.append(f"database: {where} ({counted(size, 'byte')})")
    summary.append(f"schema version: {applied} (this release: {SCHEMA_VERSION})")
    if applied > SCHEMA_VERSION:
        problems.append("schema is newer than this release: upgrade collab")
    missing = _TABLES - tables
    if missing:
        if applied < SCHEMA_VERSION:
            summary.append("schema is older than this release: the server will upgrade it")
        problems.append(f"missing tables: {', '.join(sorted(missing))}")
        return
    documents = _one(conn, "SELECT count(*) FROM documents")
    log_rows, log_bytes = conn.execute(
        "SELECT count(*), coalesce(sum(length(data)), 0) FROM updates"
    ).fetchone() or (0, 0)
    snapshots, snapshot_bytes = conn.execute(
        "SELECT count(*), coalesce(sum(length(data)), 0) FROM snapshots"
    ).fetchone() or (0, 0)
    summary.append(f"documents: {documents:,}")
    summary.append(f"log: {counted(log_rows, 'update')}, {counted(log_bytes, 'byte')}")
    summary.append(f"snapshots: {snapshots:,}, {counted(snapshot_bytes, 'byte')}")
    for table in ("updates", "snapshots"):
        orphans = _one(
            conn,
            f"SELECT count(*) FROM {table} t"
            " WHERE NOT EXISTS (SELECT 1 FROM documents d WHERE d.name = t.name)",
        )
        if orphans:
            problems.append(f"{counted(orphans, 'orphaned row')} in {table} (no document)")
    for name, count, size_bytes, real_count, real_size in conn.execute(_COUNTERS):
        if count != real_count or size_bytes != real_size:
            problems.append(
                f"document {name!r} records {counted(count, 'update')}"
                f" / {counted(size_bytes, 'byte')},"
                f" has {real_count} / {real_size}"
            )
    if decode:
        _decode_all(conn, problems, repair_hint(where, masked="****" in where))


def _one(conn: psycopg.Connection, sql: str) -> int:
    row = conn.execute(sql.encode()).fetchone()
    return int(row[0]) if row else 0


def _decode_all(conn: psycopg.Connection, problems: list[str], hint: str) -> None:
    names = [row[0] for row in conn.execute("SELECT name FROM documents ORDER BY name")]
    for name in names:
        snapshot = conn.execute(
            "SELECT data FROM snapshots WHERE name = %(name)s", {"name": name}, binary=True
        ).fetchone()
        rows = conn.execute(
            "SELECT id, data FROM updates WHERE name = %(name)s ORDER BY id",
            {"name": name},
            binary=True,
        ).fetchall()
        problem = undecodable(
            name,
            bytes(snapshot[0]) if snapshot else None,
            [(i, bytes(d)) for i, d in rows],
            hint,
        )
        if problem is not None:
            problems.append(problem)


_COUNTERS = (
    "SELECT d.name, d.updates, d.size_bytes, count(u.id),"
    " coalesce(sum(length(u.data)), 0) + coalesce((SELECT length(data) FROM snapshots s"
    " WHERE s.name = d.name), 0)"
    " FROM documents d LEFT JOIN updates u ON u.name = d.name GROUP BY d.name"
)
"""Every document's recorded counters beside those counted from its rows."""
