"""Restore (collab.history.restore): one update that makes a document's content a version's."""

from __future__ import annotations

import gzip
import json
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pycrdt import Array, Doc, Map, Text, XmlElement, XmlFragment, XmlText

from collab.export import to_json
from collab.history.content import content
from collab.history.restore import RestoreError, restore_update
from collab.updates import EMPTY_UPDATE
from tests.helpers.traces import DATA

GOLDEN = Path(__file__).parent / "golden"


def restored(current: bytes, version: bytes) -> tuple[bytes, bytes]:
    """The restore update, and the state after applying it to ``current``."""
    update = restore_update(current, version)
    doc: Doc[Any] = Doc()
    doc.apply_update(current)
    doc.apply_update(update)
    return update, doc.get_update()


def assert_restores(current: bytes, version: bytes) -> bytes:
    update, after = restored(current, version)
    assert content(after) == content(version)
    return update


def visible(roots: dict[str, Any]) -> dict[str, Any]:
    """The roots that hold something (emptied roots keep their name, with no type)."""
    return {name: value for name, value in roots.items() if value is not None}


def tiptap() -> Doc[Any]:
    doc: Doc[Any] = Doc()
    doc.apply_update((GOLDEN / "tiptap_doc.bin").read_bytes())
    return doc


def test_text_formatting_and_embeds_come_back() -> None:
    doc: Doc[Any] = Doc()
    text = doc.get("text", type=Text)
    text.insert(0, "héllo brave 😀 world", {})
    text.format(0, 6, {"bold": True})
    text.insert_embed(7, {"image": "a.png"}, {"width": 3})
    version = doc.get_update()
    text.insert(8, "very ", {"italic": True})
    text.format(0, 3, {"bold": None, "link": {"href": "x"}})
    del text[0:2]
    text.insert_embed(3, {"image": "b.png"}, {})
    assert_restores(doc.get_update(), version)


def test_a_small_change_makes_a_small_update() -> None:
    doc: Doc[Any] = Doc()
    text = doc.get("text", type=Text)
    text.insert(0, "word " * 2000)
    version = doc.get_update()
    text.insert(5000, "inserted")
    update = assert_restores(doc.get_update(), version)
    assert len(update) < 100  # a deletion of 8 characters, not a rewrite of 10,000


def test_restoring_what_is_there_writes_nothing() -> None:
    doc = tiptap()
    assert restore_update(doc.get_update(), doc.get_update()) == EMPTY_UPDATE


def test_tiptap_document_restore_is_structurally_equal() -> None:
    doc = tiptap()
    version = doc.get_update()
    fragment = doc.get("default", type=XmlFragment)
    heading = fragment.children[0]
    assert isinstance(heading, XmlElement)
    heading.attributes["level"] = 2
    paragraph = fragment.children[1]
    assert isinstance(paragraph, XmlElement)
    first = paragraph.children[0]
    assert isinstance(first, XmlText)
    first.format(0, 5, {"italic": {}})
    first.insert(2, "typed ", {"bold": {}})
    del fragment.children[3]
    fragment.children.insert(0, XmlElement("paragraph", contents=[XmlText("new first line")]))
    fragment.children.append(XmlElement("blockquote"))
    current = doc.get_update()
    assert to_json(current) != to_json(version)
    update = assert_restores(current, version)
    assert to_json(restored(current, version)[1]) == to_json(version)
    # a diff: the untouched part of the document is not written again
    assert len(update) < len(version) / 2


def test_restore_into_an_empty_document_and_to_an_empty_one() -> None:
    golden = (GOLDEN / "tiptap_doc.bin").read_bytes()
    assert_restores(EMPTY_UPDATE, golden)
    _, emptied = restored(golden, EMPTY_UPDATE)
    assert content(emptied) == {}
    roots = (GOLDEN / "yjs_roots.bin").read_bytes()
    assert_restores(roots, golden)
    assert_restores(golden, roots)


def test_nested_maps_arrays_and_a_changed_root_type() -> None:
    doc: Doc[Any] = Doc()
    settings_map = doc.get("settings", type=Map)
    settings_map["title"] = "T"
    settings_map["nested"] = Map({"a": 1, "list": Array([1, 2, Map({"deep": Text("x")})])})
    doc.get("items", type=Array).extend([1, "two", {"three": 3}, Array([4])])
    version = doc.get_update()
    other: Doc[Any] = Doc()
    other.apply_update(version)
    nested = other.get("settings", type=Map)["nested"]
    nested["a"] = 2
    nested["list"][2]["deep"].insert(1, "yz")
    nested["new"] = Array(["n"])
    del other.get("settings", type=Map)["title"]
    items = other.get("items", type=Array)
    items[3].append(5)
    items.insert(0, Map({"m": 1}))
    del items[1]
    other.get("extra", type=Text).insert(0, "a root the version lacks")
    assert_restores(other.get_update(), version)


def test_a_version_from_another_history_is_restored_too() -> None:
    mine: Doc[Any] = Doc()
    mine.get("text", type=Text).insert(0, "mine")
    theirs: Doc[Any] = Doc()
    theirs.get("text", type=Text).insert(0, "theirs", {"bold": True})
    assert_restores(mine.get_update(), theirs.get_update())


def test_the_update_is_written_by_a_new_client() -> None:
    doc = tiptap()
    version = doc.get_update()
    del doc.get("default", type=XmlFragment).children[0]
    current = doc.get_update()
    update = restore_update(current, version)
    scratch: Doc[Any] = Doc()
    scratch.apply_update(current)
    before = set(_clients(scratch.get_state()))
    scratch.apply_update(update)
    new = set(_clients(scratch.get_state())) - before
    assert len(new) == 1 and new != {doc.client_id}


def test_unreadable_states_are_refused() -> None:
    with pytest.raises(RestoreError):
        restore_update(EMPTY_UPDATE, b"\x05garbage")
    with pytest.raises(RestoreError):
        restore_update(b"\x05garbage", EMPTY_UPDATE)


def _clients(state_vector: bytes) -> list[int]:
    values, value, shift = [], 0, 0
    for byte in state_vector:
        value |= (byte & 0x7F) << shift
        shift += 7
        if byte < 0x80:
            values.append(value)
            value, shift = 0, 0
    return values[1::2]


# -- the automerge-paper trace -----------------------------------------------------------------


def trace_prefix(transactions: int) -> list[list[Any]]:
    with gzip.open(DATA / "automerge-paper.json.gz", "rt", encoding="utf-8") as f:
        trace: dict[str, Any] = json.load(f)
    return [txn["patches"] for txn in trace["txns"][:transactions]]


def test_trace_slices_restore_in_any_order() -> None:
    doc: Doc[Any] = Doc()
    text = doc.get("text", type=Text)
    expected, states, texts = "", [], []
    for i, patches in enumerate(trace_prefix(30_000), 1):
        with doc.transaction():
            for position, deleted, inserted in patches:
                if deleted:
                    del text[position : position + deleted]
                if inserted:
                    text.insert(position, inserted)
                expected = expected[:position] + inserted + expected[position + deleted :]
        if i % 6_000 == 0:
            states.append(doc.get_update())
            texts.append(expected)
    assert str(text) == expected
    current = doc.get_update()
    for version, version_text in [(states[0], texts[0]), (states[2], texts[2])]:
        _, after = restored(current, version)
        restored_doc: Doc[Any] = Doc()
        restored_doc.apply_update(after)
        assert str(restored_doc.get("text", type=Text)) == version_text
        # and back to the state before the restore
        _, back = restored(after, current)
        back_doc: Doc[Any] = Doc()
        back_doc.apply_update(back)
        assert str(back_doc.get("text", type=Text)) == expected


# -- random documents --------------------------------------------------------------------------

MARKS = st.sampled_from([{}, {"bold": True}, {"italic": {}}, {"link": {"href": "h"}}])
WORDS = st.text(alphabet="ab é😀\n", min_size=1, max_size=6)


@st.composite
def edits(draw: st.DrawFn) -> list[tuple[Any, ...]]:
    ops = st.one_of(
        st.tuples(st.just("text"), st.integers(0, 40), WORDS, MARKS),
        st.tuples(st.just("untext"), st.integers(0, 40), st.integers(1, 5)),
        st.tuples(st.just("format"), st.integers(0, 40), st.integers(1, 6), MARKS),
        st.tuples(st.just("embed"), st.integers(0, 40), st.integers(0, 3)),
        st.tuples(st.just("map"), st.sampled_from("abc"), st.integers(0, 3)),
        st.tuples(st.just("array"), st.integers(0, 10), st.integers(0, 3)),
        st.tuples(st.just("unarray"), st.integers(0, 10)),
        st.tuples(st.just("xml"), st.integers(0, 5), st.sampled_from(["p", "h", "li"]), WORDS),
        st.tuples(st.just("xmlattr"), st.integers(0, 5), st.sampled_from(["x", "y"]), MARKS),
        st.tuples(st.just("xmltext"), st.integers(0, 5), st.integers(0, 6), WORDS, MARKS),
        st.tuples(st.just("unxml"), st.integers(0, 5)),
    )
    return draw(st.lists(ops, max_size=12))


def _value(kind: int) -> Any:
    return [1, "s", Map({"k": Text("t")}), Array([1, Array([2])])][kind]


def apply_edits(doc: Doc[Any], ops: list[tuple[Any, ...]]) -> None:
    text = doc.get("text", type=Text)
    fragment = doc.get("xml", type=XmlFragment)
    array = doc.get("array", type=Array)
    for op, *args in ops:
        if op == "text":
            text.insert(_offset_chars(text, args[0]), args[1], args[2])
        elif op == "untext" and len(text):
            start = _offset_chars(text, args[0])
            stop = _offset_chars(text, args[0] + args[1])
            if stop > start:
                del text[start:stop]
        elif op == "format" and len(text):
            start = _offset_chars(text, args[0])
            stop = _offset_chars(text, args[0] + args[1])
            if stop > start:
                text.format(start, stop, args[2] or {"bold": None})
        elif op == "embed":
            text.insert_embed(_offset_chars(text, args[0]), {"e": args[1]}, {})
        elif op == "map":
            doc.get("map", type=Map)[args[0]] = _value(args[1])
        elif op == "array":
            array.insert(min(args[0], len(array)), _value(args[1]))
        elif op == "unarray" and len(array):
            del array[min(args[0], len(array) - 1)]
        elif op == "xml":
            index = min(args[0], len(fragment.children))
            fragment.children.insert(index, XmlElement(args[1], contents=[XmlText(args[2])]))
        elif op in ("xmlattr", "xmltext", "unxml") and len(fragment.children):
            child = fragment.children[min(args[0], len(fragment.children) - 1)]
            assert isinstance(child, XmlElement)
            if op == "xmlattr":
                child.attributes[args[1]] = json.dumps(args[2])
            elif op == "unxml":
                del fragment.children[min(args[0], len(fragment.children) - 1)]
            elif len(child.children):
                inner = child.children[0]
                assert isinstance(inner, XmlText)
                inner.insert(_offset_chars(inner, args[1]), args[2], args[3])


def _offset_chars(text: Text | XmlText, chars: int) -> int:
    """The pycrdt offset (UTF-8 bytes, embeds count 1) of the item boundary at ``chars``."""
    offset = 0
    for value, _ in text.diff():
        if isinstance(value, str):
            for ch in value:
                if chars <= 0:
                    return offset
                offset += len(ch.encode("utf-8"))
                chars -= 1
        else:
            if chars <= 0:
                return offset
            offset += 1
            chars -= 1
    return offset


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(edits(), edits(), st.booleans())
def test_random_documents_restore_exactly(
    before: list[tuple[Any, ...]], after: list[tuple[Any, ...]], shared_history: bool
) -> None:
    doc: Doc[Any] = Doc()
    apply_edits(doc, before)
    version = doc.get_update()
    if not shared_history:
        doc = Doc()
    apply_edits(doc, after)
    current = doc.get_update()
    update = assert_restores(current, version)
    # and the restore is undone by restoring what was there before it
    _, after_restore = restored(current, version)
    assert restore_update(after_restore, after_restore) == EMPTY_UPDATE
    _, back = restored(after_restore, current)
    assert content(back) == content(current)
    assert update
