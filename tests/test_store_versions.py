"""The stores' versions, against SQLite and PostgreSQL: added, listed newest first in pages,
read, found by moment, deleted by retention, kept across compaction, purge and reopening,
deleted with their document; older databases are upgraded."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from pycrdt import Doc, Text
from sqlite_utils import Database

from collab.stores import DocumentStore
from collab.stores.sqlite import SCHEMA_VERSION, Store, migrations
from tests.helpers.stores import STORES, Opener, opener


@pytest.fixture(params=STORES)
def open_store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Opener]:
    with opener(request, request.param, tmp_path) as open_:
        yield open_


@pytest.fixture
def store(open_store: Opener) -> DocumentStore:
    return open_store()


def typed(doc: Doc[Any], text: str) -> bytes:
    """Append ``text`` to the doc's Y.Text; the update it made."""
    updates: list[bytes] = []
    subscription = doc.observe(lambda event: updates.append(event.update))
    doc.get("text", type=Text).insert(len(doc.get("text", type=Text)), text)
    doc.unobserve(subscription)
    return updates[0]


def test_versions_are_listed_newest_first_in_pages(store: DocumentStore) -> None:
    made = [
        store.add_version("doc", bytes([i, 0]), label=f"v{i}", author="ann", created_at=100 + i)
        for i in range(5)
    ]
    store.add_version("other", b"\x00\x00", automatic=True)
    page = store.list_versions("doc", limit=2)
    assert [v.label for v in page] == ["v4", "v3"]
    page = store.list_versions("doc", before=page[-1].id, limit=2)
    assert [v.label for v in page] == ["v2", "v1"]
    assert [v.label for v in store.list_versions("doc", before=page[-1].id)] == ["v0"]
    assert made[2] == store.list_versions("doc")[2]
    assert made[2].author == "ann" and not made[2].automatic and made[2].size_bytes == 2
    got = store.get_version("doc", made[3].id)
    assert got is not None and got == (made[3], bytes([3, 0]))
    assert store.get_version("other", made[3].id) is None  # ids belong to their document
    assert store.get_version("doc", 10_000) is None


def test_version_at_a_moment(store: DocumentStore) -> None:
    for moment in (10.0, 20.0, 30.0):
        store.add_version("doc", str(moment).encode(), created_at=moment)
    assert store.version_at("doc", 9.9) is None
    found = store.version_at("doc", 25.0)
    assert found is not None and found[1] == b"20.0"
    found = store.version_at("doc", 30.0)
    assert found is not None and found[1] == b"30.0"


def test_retention_deletes_only_what_it_names(store: DocumentStore) -> None:
    ids = [store.add_version("doc", b"\x00\x00", automatic=True).id for _ in range(4)]
    other = store.add_version("other", b"\x00\x00", automatic=True)
    assert store.delete_versions("doc", [ids[0], ids[2], other.id]) == 2
    assert [v.id for v in store.list_versions("doc")] == [ids[3], ids[1]]
    assert store.list_versions("other") == [other]
    assert store.delete_versions("doc", []) == 0


def test_versions_survive_compaction_purge_and_reopening(open_store: Opener) -> None:
    store = open_store()
    doc: Doc[Any] = Doc()
    store.append([("doc", typed(doc, "one "))])
    first = store.add_version("doc", doc.get_update(), label="first")
    store.append([("doc", typed(doc, "two"))])
    assert store.compact("doc") is not None
    store.purge("doc")  # an import replacing the document keeps its versions
    store.close()
    store = open_store()
    got = store.get_version("doc", first.id)
    assert got is not None
    old: Doc[Any] = Doc()
    old.apply_update(got[1])
    assert str(old.get("text", type=Text)) == "one "
    # ids are never given twice, even after the newest version was deleted
    store.delete_versions("doc", [first.id])
    assert store.add_version("doc", b"\x00\x00").id > first.id


def test_a_deleted_document_loses_its_versions_and_keeps_its_tombstone(
    store: DocumentStore,
) -> None:
    doc: Doc[Any] = Doc()
    store.append([("doc", typed(doc, "text"))])
    version = store.add_version("doc", doc.get_update())
    assert store.delete("doc")
    assert store.list_versions("doc") == []
    assert store.get_version("doc", version.id) is None
    assert store.load("doc").tombstone is not None


def test_an_older_sqlite_database_is_upgraded(tmp_path: Path) -> None:
    path = tmp_path / "old.db"
    db = Database(path)
    migrations.apply(db, stop_before="m005_versions")
    assert "versions" not in db.table_names()
    db.close()
    store = Store(path)
    assert store.schema_version() == SCHEMA_VERSION
    assert store.add_version("doc", b"\x00\x00").id == 1
    store.close()


def test_an_older_postgres_database_is_upgraded(postgres_dsn: str) -> None:
    import psycopg

    from collab.stores import postgres_schema
    from collab.stores.postgres import PostgresStore

    with psycopg.connect(postgres_dsn, autocommit=True) as conn:
        names = [name for name, _ in postgres_schema.MIGRATIONS]
        postgres_schema.migrate(conn, postgres_schema.MIGRATIONS[: names.index("m003_versions")])
    read_only = PostgresStore(postgres_dsn, migrate=False)
    assert read_only.list_versions("doc") == [] and read_only.version_at("doc", 1e12) is None
    read_only.close()
    store = PostgresStore(postgres_dsn)
    assert store.schema_version() == postgres_schema.SCHEMA_VERSION
    assert store.get_version("doc", store.add_version("doc", b"\x00\x00").id) is not None
    store.close()
