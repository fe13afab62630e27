"""Issue 19: references and deletions that split a UTF-16 surrogate pair (forged), with Yjs
(Node, real ``yjs``) as the reference: Yjs (``ContentString.splice``) writes U+FFFD for both
halves of a pair it splits, pycrdt 0.14 keeps the character."""

from __future__ import annotations

from typing import Any

import pytest
from pycrdt import Doc, Text

from collab.integrator import Integrator, replay
from collab.updates import InvalidUpdate, state_vector
from tests.e2e.yjsref import yjs_apply

pytestmark = pytest.mark.e2e


def emoji() -> list[bytes]:
    """Client 3's "a😀b": clocks 0 "a", 1-2 the emoji's two UTF-16 halves, 3 "b"."""
    doc: Doc[Any] = Doc(client_id=3)
    doc.get("text", type=Text).insert(0, "a😀b")
    return [doc.get_update()]


RIGHT_OF_HIGH = bytes([1, 1, 4, 0, 0xC4, 3, 0, 3, 2, 1, ord("x"), 0])
"""Client 4's "x", origin "a" (3:0), right origin the emoji's low half (3:2)."""
LEFT_OF_LOW = bytes([1, 1, 4, 0, 0x84, 3, 1, 1, ord("x"), 0])
"""Client 4's "x", origin the emoji's high half (3:1)."""
DELETE_LOW = bytes([0, 1, 3, 1, 2, 1])
"""No structs; the delete set removes client 3's clock 2 (the emoji's low half)."""


def test_yjs_and_pycrdt_read_a_split_pair_differently() -> None:
    """Why these are refused: Yjs writes U+FFFD, pycrdt keeps the emoji."""
    (reference,) = yjs_apply([RIGHT_OF_HIGH], base=emoji())
    assert reference["texts"]["text"] == "a\ufffdx\ufffdb"
    raw: Doc[Any] = Doc()
    for update in [*emoji(), RIGHT_OF_HIGH]:
        raw.apply_update(update)
    assert "😀" in str(raw.get("text", type=Text))


@pytest.mark.parametrize("forged", [RIGHT_OF_HIGH, LEFT_OF_LOW, DELETE_LOW])
@pytest.mark.parametrize("loaded", [False, True])
def test_an_update_splitting_a_surrogate_pair_is_refused(forged: bytes, loaded: bool) -> None:
    """Refused before the document changes, also in a document loaded from a state."""
    integrator = replay(Doc(), emoji())
    if loaded:  # its surrogate pairs read from its state on the first question
        doc: Doc[Any] = Doc()
        doc.apply_update(emoji()[0])
        integrator = Integrator(doc)
    before = integrator.doc.get_update()
    with pytest.raises(InvalidUpdate, match="surrogate pair"):
        integrator.apply(forged)
    assert integrator.doc.get_update() == before


def test_a_struct_held_already_whose_neighbour_splits_a_pair_is_refused() -> None:
    """Seed 112 of the sequence test: Yjs finds a struct's neighbours (``Item.getMissing``,
    splitting the items there) before it skips the struct as held already; here client 4's
    "x" again, now naming the emoji's low half as its right origin."""
    integrator = replay(Doc(), [*emoji(), bytes([1, 1, 4, 0, 0x84, 3, 0, 1, ord("x"), 0])])
    resent = bytes([1, 1, 4, 0, 0xC4, 3, 0, 3, 2, 1, ord("x"), 0])
    (reference,) = yjs_apply([resent], base=[*emoji(), integrator.doc.get_update()])
    assert "\ufffd" in reference["texts"]["text"]
    with pytest.raises(InvalidUpdate, match="surrogate pair"):
        integrator.apply(resent)


def test_an_update_splitting_a_pair_of_its_own_strings_is_refused() -> None:
    """Client 5 types "😀" and, in the same update, deletes its low half."""
    own = (
        bytes.fromhex("0101050004010474657874")
        + bytes([4])
        + "😀".encode()
        + b"\x01\x05\x01\x01\x01"
    )
    with pytest.raises(InvalidUpdate, match="surrogate pair"):
        replay(Doc(), emoji()).apply(own)


def test_honest_emoji_typing_and_deleting_integrate_as_in_yjs() -> None:
    """Whole characters: inserting beside an emoji, deleting it, typing emoji one by one."""
    doc: Doc[Any] = Doc(client_id=6)
    doc.apply_update(emoji()[0])
    updates: list[bytes] = []
    doc.observe(lambda event: updates.append(event.update))
    text = doc.get("text", type=Text)
    text.insert(3, "👍")  # between "😀" and "b": Python indexes code points
    text.insert(1, "é")
    del text[2]  # the first emoji, whole
    for char in "🎉🎉x":
        text.insert(len(text), char)
    integrator = replay(Doc(), emoji())
    for update in updates:
        assert integrator.apply(update)
    (reference,) = yjs_apply(updates, base=emoji())
    assert reference["errors"] == [None] * len(updates)
    assert str(integrator.doc.get("text", type=Text)) == reference["texts"]["text"]
    assert state_vector(integrator.doc.get_state()) == {
        int(k): v for k, v in reference["state_vector"].items()
    }
