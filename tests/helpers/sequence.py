"""Mutated updates one after another through the integrator, and Yjs as the judge of what it
accepted and relayed: the sequence test (``tests/e2e/test_hostile.py``) and
``scripts/fuzz --sequence`` (``tests/fuzz_sequence.py``). :func:`against_yjs` runs real Yjs
in Node (``tests/e2e/node``)."""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from typing import Any

from pycrdt import Doc, Text, XmlElement, XmlFragment, XmlText

from collab.integrator import Integrator, replay
from collab.updates import InvalidUpdate, state_vector
from tests.e2e.yjsref import yjs_apply

__all__ = ["Played", "against_yjs", "doc_view", "mutations", "play", "text_of", "yjs_view"]


def text_of(doc: Doc[Any], name: str = "text") -> str:
    """The text of root ``name`` of ``doc``."""
    return str(doc.get(name, type=Text))


def mutations(seed: int, count: int, *, gc: bool = False) -> tuple[list[bytes], list[bytes]]:
    """A base document's updates and ``count`` mutated updates on top of it (with ``gc``,
    also of a state holding GC structs: a deleted paragraph's text)."""
    rng = random.Random(seed)
    doc: Doc[Any] = Doc(client_id=123)
    base: list[bytes] = []
    doc.observe(lambda event: base.append(event.update))
    text = doc.get("text", type=Text)
    text.insert(0, "hello")
    text.format(0, 2, {"bold": True})
    fragment = doc.get("default", type=XmlFragment)
    fragment.children.append(XmlElement("p", {"a": "1"}))
    seeds: list[bytes] = []
    other: Doc[Any] = Doc(client_id=456)
    other.apply_update(doc.get_update())
    other.observe(lambda event: seeds.append(event.update))
    t2 = other.get("text", type=Text)
    t2.insert(2, "abc")
    t2.insert(0, "é😀", {"italic": True})
    del t2[1:3]
    element = other.get("default", type=XmlFragment).children[0]
    assert isinstance(element, XmlElement)
    element.children.append(XmlText("in p"))
    element.attributes["k"] = "v"
    if gc:
        collected: Doc[Any] = Doc(client_id=789)
        collected.apply_update(other.get_update())
        paragraphs = collected.get("default", type=XmlFragment).children
        paragraphs.append(XmlElement("p", {}, [XmlText("gone soon")]))
        collected.get("text", type=Text).insert(1, "kept")
        del paragraphs[len(paragraphs) - 1]
        seeds.append(collected.get_update(other.get_state()))
    out = []
    for _ in range(count):
        data = bytearray(rng.choice(seeds))
        for _ in range(rng.randint(1, 3)):
            op = rng.random()
            i = rng.randrange(len(data))
            if op < 0.6:
                data[i] = rng.randrange(256)
            elif op < 0.8:
                del data[i]
            else:
                data.insert(i, rng.randrange(256))
        out.append(bytes(data))
    return base, out


@dataclass
class Played:
    """What :func:`play` left: the integrator, the updates it accepted in order, what it
    relayed of them (what the server's clients get), and per accepted update whether
    structs that waited were taken up by it."""

    integrator: Integrator
    accepted: list[bytes] = field(default_factory=list)
    served: list[bytes] = field(default_factory=list)
    retried: list[bool] = field(default_factory=list)


def play(base: list[bytes], updates: list[bytes]) -> Played:
    """An integrator replaying ``base``, then applying ``updates`` one after another as the
    server does (those it refuses are skipped)."""
    played = Played(replay(Doc(), base))
    integrator = played.integrator
    for update in updates:
        waited = integrator.pending_structs
        try:
            integrator.apply(update)
        except InvalidUpdate:
            continue
        played.accepted.append(update)
        played.served += [update] if integrator.relayed is None else integrator.relayed
        played.retried.append(integrator.pending_structs < waited)
    return played


def against_yjs(played: Played, base: list[bytes]) -> tuple[dict[str, Any], dict[str, Any]]:
    """Real Yjs after ``base`` and the accepted updates (the reference), and after ``base``
    and what was relayed of them (a client of the server): :func:`tests.e2e.yjsref.yjs_apply`'s
    results."""
    (reference,) = yjs_apply(played.accepted, base=base)
    (fed,) = yjs_apply(played.served, base=base)
    return reference, fed


def doc_view(doc: Doc[Any]) -> tuple[dict[int, int], str]:
    """The state vector and root ``text`` of ``doc``, to compare with :func:`yjs_view`."""
    return state_vector(doc.get_state()), text_of(doc)


def yjs_view(result: dict[str, Any]) -> tuple[dict[int, int], str]:
    """The state vector and root ``text`` of a :func:`tests.e2e.yjsref.yjs_apply` result, as
    :func:`doc_view` gives them (a client whose only struct is an empty item: Yjs lists it at
    clock 0, yrs not at all)."""
    sv = {int(k): v for k, v in result["state_vector"].items() if v}
    return sv, result["texts"]["text"]
