"""collab.export never renders an empty file: a root with no text does not win over the only
root that has some, and an export with no text anywhere is an error naming the roots.

The documents are the ones a user makes by following the README: the editor's ``default``
fragment emptied by ``import --replace`` (its items all deleted), or holding the blank paragraph
an editor leaves, beside the Y.Text ``text`` the README's clients write.
"""

from __future__ import annotations

import re
from typing import Any

import pytest
from pycrdt import Doc, Map, Text, XmlFragment

from collab.export import RootError, export, render, root_types
from collab.history.blocks import text_blocks
from tests.test_export import _write, p, t

RENDERED = ("markdown", "html", "text")


def _emptied_default(**texts: str) -> bytes:
    """``default`` once held a paragraph, now deleted (what ``import --replace`` leaves),
    beside a Y.Text per keyword argument."""
    doc: Doc[Any] = Doc()
    doc["default"] = frag = XmlFragment()
    _write(frag, [p(t("editor words"))])
    del frag.children[0]
    for name, value in texts.items():
        doc[name] = Text(value)
    return doc.get_update()


def _blank_default(**texts: str) -> bytes:
    """``default`` holds one empty paragraph (a blank editor), beside a Y.Text per keyword."""
    doc: Doc[Any] = Doc()
    doc["default"] = frag = XmlFragment()
    _write(frag, [p()])
    for name, value in texts.items():
        doc[name] = Text(value)
    return doc.get_update()


@pytest.mark.parametrize("make", [_emptied_default, _blank_default], ids=["emptied", "blank"])
def test_a_default_root_without_text_gives_way_to_the_only_root_with_text(make: Any) -> None:
    update = make(text="plain words")
    for fmt in RENDERED:
        rendered = render(update, fmt)
        assert rendered.root == "text" and rendered.layout == "text", fmt
        assert "plain words" in rendered.body.decode()
    assert export(update, "text") == b"plain words"


def test_the_emptied_root_has_no_type_and_json_still_shows_every_root() -> None:
    update = _emptied_default(text="plain words")
    assert root_types(update) == {"default": None, "text": "text"}
    assert b'"text": "plain words"' in export(update, "json")


@pytest.mark.parametrize("make", [_emptied_default, _blank_default], ids=["emptied", "blank"])
def test_with_two_other_roots_holding_text_the_error_names_them(make: Any) -> None:
    update = make(text="plain words", codemirror="code")
    for fmt in RENDERED:
        with pytest.raises(RootError) as caught:
            render(update, fmt)
        message = str(caught.value)
        assert "'default' holds no text" in message, message
        assert "pick one with field (--field)" in message, message
        assert "'codemirror' (Y.Text)" in message and "'text' (Y.Text)" in message, message


@pytest.mark.parametrize("make", [_emptied_default, _blank_default], ids=["emptied", "blank"])
def test_a_document_without_text_is_an_error_naming_the_roots_never_an_empty_file(
    make: Any,
) -> None:
    update = make()
    for fmt in RENDERED:
        with pytest.raises(RootError, match=re.escape("nothing to export")) as caught:
            render(update, fmt)
        assert "the document's roots: 'default' (" in str(caught.value)
    assert export(update, "json").strip()  # json shows the (empty) roots as they are


def test_a_root_asked_for_by_name_that_holds_no_text_is_an_error() -> None:
    update = _emptied_default(text="plain words")
    for fmt in RENDERED:
        with pytest.raises(RootError, match=re.escape("root 'default' holds no text")):
            render(update, fmt, "default")
    doc: Doc[Any] = Doc()
    doc["text"] = text = Text("gone")
    del text[0:4]
    doc["meta"] = Map({"k": 1})
    with pytest.raises(RootError, match="nothing to export"):
        render(doc.get_update(), "text", "text")


def test_a_default_root_with_text_still_wins() -> None:
    doc: Doc[Any] = Doc()
    doc["default"] = frag = XmlFragment()
    _write(frag, [p(t("editor words"))])
    doc["text"] = Text("plain words")
    assert render(doc.get_update(), "text").body == b"editor words\n"


def test_history_blocks_of_a_document_without_text_are_none() -> None:
    assert text_blocks(_blank_default()) == []
    assert text_blocks(_emptied_default(text="plain words")) == ["plain words"]
