"""Honest editing for tests: a pycrdt document typing into root ``text``, one update per
insertion."""

from __future__ import annotations

from typing import Any

from pycrdt import Doc, Text


def typing(client_id: int, *chunks: str) -> tuple[Doc[Any], list[bytes]]:
    """A document of ``client_id`` appending ``chunks`` to root ``text`` one after another,
    and its updates (one per chunk)."""
    doc: Doc[Any] = Doc(client_id=client_id)
    updates: list[bytes] = []
    doc.observe(lambda event: updates.append(event.update))
    shared = doc.get("text", type=Text)
    for chunk in chunks:
        shared.insert(len(shared), chunk)
    return doc, updates


def keystrokes(client_id: int, text: str) -> tuple[Doc[Any], list[bytes]]:
    """:func:`typing` one character at a time."""
    return typing(client_id, *text)
