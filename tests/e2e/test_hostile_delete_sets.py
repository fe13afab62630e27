"""Issue 19: delete sets that Yjs and pycrdt read differently (forged), with Yjs (Node, real
``yjs``) as the reference."""

from __future__ import annotations

from typing import Any

import pytest
from pycrdt import Doc, Text

from collab.integrator import replay
from collab.updates import InvalidUpdate
from tests.e2e.yjsref import yjs_apply

pytestmark = pytest.mark.e2e

ABC = bytes.fromhex("0101030004010474657874036162630" + "0")
"""Client 3's "abc" in root ``text``."""
TWICE = bytes.fromhex("0002030100020300")
"""Seed 178 of the sequence test: a delete set listing client 3 twice, first deleting its
clocks 0-1, then with no range: Yjs applies both entries ("c" stays), yrs keeps the last
(nothing deleted)."""


def test_a_delete_set_listing_a_client_twice_is_refused() -> None:
    (reference,) = yjs_apply([ABC, TWICE])
    assert reference["texts"]["text"] == "c"
    raw: Doc[Any] = Doc()
    for update in (ABC, TWICE):
        raw.apply_update(update)
    assert str(raw.get("text", type=Text)) == "abc"
    integrator = replay(Doc(), [ABC])
    with pytest.raises(InvalidUpdate, match="listed twice in the delete set"):
        integrator.apply(TWICE)
    assert str(integrator.doc.get("text", type=Text)) == "abc"
