"""Issue 19: items whose origin and right origin lie in different parents (forged), with Yjs
(Node, real ``yjs``) as the reference; :mod:`collab.parents`."""

from __future__ import annotations

from typing import Any

import pytest
from pycrdt import Doc, Map, Text, XmlElement, XmlFragment, XmlText

from collab.integrator import Integrator, replay
from collab.updates import InvalidUpdate, state_vector
from tests.e2e.yjsref import yjs_apply
from tests.helpers.sequence import mutations

pytestmark = pytest.mark.e2e


def base() -> list[bytes]:
    """Client 1's "AB" in root ``text``, client 2's ``k`` -> 1 in a map in root ``meta``."""
    a: Doc[Any] = Doc(client_id=1)
    a.get("text", type=Text).insert(0, "AB")
    b: Doc[Any] = Doc(client_id=2)
    b.get("meta", type=Map)["k"] = 1
    return [a.get_update(), b.get_update()]


def item(client: int, origin: tuple[int, int], right: tuple[int, int], text: str) -> bytes:
    """A v1 update of one string item of ``client`` at clock 0 with both neighbours given."""
    assert all(n < 128 for n in (client, *origin, *right)) and len(text) < 128
    return bytes([1, 1, client, 0, 0xC4, *origin, *right, len(text), *text.encode(), 0])


MAP_THEN_TEXT = item(3, (2, 0), (1, 1), "xy")
"""Origin the map entry ``k``, right origin client 1's "B" in ``text``."""

DELETE_ALL = bytes.fromhex("0103950600817b0701000ac4c80306c80307046b657074027b0100d302950601000b")
"""Seed 120 of the sequence test, minimised: client 789's deleted item, GC and item, and a
delete set removing everything of client 123 (the text and the paragraph's attribute)."""
ABC = bytes.fromhex("01012000c47b087b060361626300")
"""Then client 32's "abc", origin the paragraph's attribute ``a`` (123:8, a map entry of the
XML element 123:7), right origin 123:6 in ``text``."""


def test_pycrdt_alone_places_a_cross_parent_item_elsewhere_than_yjs() -> None:
    """Why the integrator refuses these: the same bytes give another document in pycrdt
    (``abc`` in ``text``) than in Yjs (in the attribute: ``text`` empty)."""
    rich = mutations(seed=120, count=0, gc=True)[0]
    (reference,) = yjs_apply([DELETE_ALL, ABC], base=rich)
    assert reference["errors"] == [None, None]
    assert reference["texts"]["text"] == ""
    raw: Doc[Any] = Doc()
    for update in [*rich, DELETE_ALL, ABC]:
        raw.apply_update(update)
    assert str(raw.get("text", type=Text)) == "abc"
    integrator = replay(Doc(), rich)
    assert integrator.apply(DELETE_ALL)
    with pytest.raises(InvalidUpdate, match="right origin in"):
        integrator.apply(ABC)
    assert str(integrator.doc.get("text", type=Text)) == ""


@pytest.mark.parametrize(
    "forged",
    [
        MAP_THEN_TEXT,
        item(3, (1, 0), (2, 0), "xy"),  # origin in text, right origin in the map entry
    ],
)
@pytest.mark.parametrize("loaded", [False, True])
def test_an_item_whose_neighbours_lie_in_different_parents_is_refused(
    forged: bytes, loaded: bool
) -> None:
    """Refused whole, before the document changes, also in a document loaded from a state
    (its parents read from the state on the first question)."""
    if loaded:
        whole = replay(Doc(), base()).doc.get_update()
        doc: Doc[Any] = Doc()
        doc.apply_update(whole)
        integrator = Integrator(doc)
    else:
        integrator = replay(Doc(), base())
    before = integrator.doc.get_update()
    with pytest.raises(InvalidUpdate, match="right origin in"):
        integrator.apply(forged)
    assert integrator.doc.get_update() == before
    honest: Doc[Any] = Doc(client_id=4)
    honest.apply_update(before)
    honest.get("text", type=Text).insert(1, "-")
    assert integrator.apply(honest.get_update(integrator.doc.get_state()))
    assert str(integrator.doc.get("text", type=Text)) == "A-B"


def test_an_item_refers_to_a_cross_parent_item_of_its_own_update() -> None:
    """Parents of structs of the update itself: client 3 types "x" after "A" (origin in
    ``text``), then "y" between its "x" and the map entry."""
    first = item(3, (1, 0), (1, 1), "x")
    chained = bytes([1, 2, 3, 0, 0xC4, 1, 0, 1, 1, 1, ord("x"), 0xC4, 3, 0, 2, 0, 1, ord("y"), 0])
    integrator = replay(Doc(), base())
    assert integrator.apply(first)
    integrator = replay(Doc(), base())
    with pytest.raises(InvalidUpdate, match="right origin in"):
        integrator.apply(chained)


def test_honest_editing_inside_nested_types_and_map_entries_integrates() -> None:
    """Editors inserting between characters of paragraphs (origin and right origin in one
    XML text, the parent given by id) and overwriting map entries, into a document loaded
    from a state: nothing refused, the same document as Yjs."""
    a: Doc[Any] = Doc(client_id=11)
    fragment = a.get("default", type=XmlFragment)
    for words in ("first paragraph", "second one"):
        paragraph = XmlElement("paragraph")
        fragment.children.append(paragraph)
        paragraph.children.append(XmlText(words))
    meta = a.get("meta", type=Map)
    meta["title"] = "draft"
    b: Doc[Any] = Doc(client_id=12)
    b.apply_update(a.get_update())
    updates: list[bytes] = []
    b.observe(lambda event: updates.append(event.update))
    for index, paragraph in enumerate(b.get("default", type=XmlFragment).children):
        assert isinstance(paragraph, XmlElement)
        text = paragraph.children[0]
        assert isinstance(text, XmlText)
        for step in range(5):
            text.insert(3 + step * 2, f"{index}")
    b.get("meta", type=Map)["title"] = "final"
    doc: Doc[Any] = Doc()
    doc.apply_update(a.get_update())
    integrator = Integrator(doc)
    for update in updates:
        assert integrator.apply(update)
    (reference,) = yjs_apply(updates, base=[a.get_update()])
    assert reference["errors"] == [None] * len(updates)
    assert state_vector(integrator.doc.get_state()) == {
        int(k): v for k, v in reference["state_vector"].items()
    }
    assert integrator.doc.get("meta", type=Map)["title"] == "final"


def test_a_waiting_item_naming_a_string_as_parent_becomes_gc_as_in_yjs() -> None:
    """Client 7's clock 1 names client 3's "h" as its parent and waits for clock 0; once
    clock 0 arrives it integrates as GC, as in Yjs (``Item.getMissing`` finds no type), and
    what waited beside it is kept (everything that waited was dropped before)."""
    author: Doc[Any] = Doc(client_id=3)
    author.get("text", type=Text).insert(0, "hi")
    parented = bytes.fromhex("010107010400030001580" + "0")
    first = bytes.fromhex("0101070004010474657874015900")
    integrator = replay(Doc(), [author.get_update()])
    assert integrator.apply(parented)
    assert integrator.pending_structs == 1
    assert integrator.apply(first)
    (reference,) = yjs_apply([parented, first], base=[author.get_update()])
    assert reference["errors"] == [None, None]
    assert state_vector(integrator.doc.get_state()) == {3: 2, 7: 2}
    assert str(integrator.doc.get("text", type=Text)) == reference["texts"]["text"]
    assert integrator.pending == []


def test_a_waiting_cross_parent_item_becomes_gc_and_nothing_else_is_dropped() -> None:
    """A cross-parent item that waited cannot be refused any more: it becomes GC, and the
    rest of what waited still integrates when its turn comes."""
    forged = bytes([1, 1, 7, 1, 0xC4, 1, 0, 2, 0, 1, ord("x"), 0])  # clock 1: waits for 0
    predecessor = bytes.fromhex("0101070004010474657874015900")  # clock 0: "Y" in text
    later: Doc[Any] = Doc(client_id=8)
    later.apply_update(replay(Doc(), base()).doc.get_update())
    updates: list[bytes] = []
    later.observe(lambda event: updates.append(event.update))
    later.get("text", type=Text).insert(0, "p")
    later.get("text", type=Text).insert(1, "q")
    integrator = replay(Doc(), base())
    assert integrator.apply(forged)
    assert integrator.apply(updates[1])  # waits for client 8's clock 0
    assert integrator.apply(predecessor)
    assert integrator.state[7] == 2
    assert integrator.apply(updates[0])
    assert integrator.pending == []
    (honest,) = yjs_apply([predecessor, *updates], base=base())  # all but the forged item
    assert str(integrator.doc.get("text", type=Text)) == honest["texts"]["text"] == "pqABY"
