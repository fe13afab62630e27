"""``Hub.rename`` on a real SQLite file: the open room's peers are closed with 4409 and a
reason naming the new name, an empty room open under the new name reloads, a taken name or a
missing document changes nothing, and the old name refuses the old content."""

from __future__ import annotations

from pathlib import Path

import pytest
from pycrdt import Doc, Text

from collab.errors import CloseCode
from collab.hub.renames import MAX_REASON_BYTES, RENAMED_HERE, RENAMED_UNNAMED, renamed_reason
from collab.stores import NameTaken
from collab.updates import InvalidUpdate
from tests.test_cluster_bus import Recorder, text_update
from tests.test_connection import started_hub


def test_the_close_reason_names_the_new_name_when_it_fits() -> None:
    assert renamed_reason("team/new notes") == "renamed to team/new notes"
    assert renamed_reason("é" * 56) == "renamed to " + "é" * 56  # 123 bytes exactly
    assert len(renamed_reason("é" * 56).encode()) == MAX_REASON_BYTES
    assert renamed_reason("é" * 57) == RENAMED_UNNAMED


async def test_a_rename_closes_the_peers_and_moves_the_document(tmp_path: Path) -> None:
    async with started_hub(tmp_path) as hub:
        writer = Doc()
        old = text_update(writer, "hello")
        await hub.write("a", old, "http")
        on_a, on_b = Recorder(), Recorder()
        await hub.join("a", on_a)
        _, leave_b = await hub.join("b", on_b)  # open, empty: no document "b" is stored
        assert await hub.rename("a", "b")
        assert on_a.closed == (CloseCode.DOCUMENT_RENAMED, "renamed to b")
        assert on_b.closed == (CloseCode.GOING_AWAY, RENAMED_HERE)
        leave_b()
        again = Recorder()
        room, leave = await hub.join("b", again)
        assert str(room.doc.get("text", type=Text)) == "hello"
        await hub.write("b", text_update(writer, " world"), "http")
        leave()
        assert hub.store.get("a") is None
        with pytest.raises(InvalidUpdate, match="deleted document"):
            await hub.write("a", old, "http")  # a stale editor of "a" cannot resurrect it


async def test_a_taken_name_or_a_missing_document_changes_nothing(tmp_path: Path) -> None:
    async with started_hub(tmp_path) as hub:
        await hub.write("a", text_update(Doc(), "A"), "http")
        await hub.write("b", text_update(Doc(), "B"), "http")
        peer = Recorder()
        await hub.join("a", peer)
        with pytest.raises(NameTaken) as taken:
            await hub.rename("a", "b")
        assert taken.value.http_status == 409 and taken.value.code == "exists"
        assert peer.closed is None and hub.store.get("a") is not None
        assert await hub.rename("missing", "c") is False
        assert hub.store.get("c") is None
