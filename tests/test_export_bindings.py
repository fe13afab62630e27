"""collab.export against documents written by each editor's own libraries, the root selection
rules, layouts forced with ``schema``, and unknown node types.

The goldens (tests/golden/bindings, see tests/bindings.py) were written by Tiptap, ProseMirror
(prosemirror-schema-basic), Lexical (@lexical/yjs), BlockNote, Quill (y-quill) and plain Y.Text
editors; the other documents here are built with pycrdt in the layout each binding writes.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
from pycrdt import Doc, Map, Text, XmlFragment

from collab.export import LAYOUTS, ExportError, RootError, export, render, to_json
from tests import bindings
from tests.test_export import _write, el, fragment, li, p, t, ul

README = Path(__file__).resolve().parents[1] / "README.md"
CASES = [
    (name, suffix) for name, (_, _, suffixes) in bindings.BINDINGS.items() for suffix in suffixes
]


@pytest.mark.parametrize(("name", "suffix"), CASES, ids=[f"{n}-{s}" for n, s in CASES])
def test_each_binding_exports_what_its_library_serializes(name: str, suffix: str) -> None:
    body = export(bindings.golden(name, "bin"), bindings.SUFFIX[suffix])
    assert bindings.actual(body, suffix) == bindings.expected(name, suffix)


@pytest.mark.parametrize("name", list(bindings.BINDINGS))
def test_each_binding_is_detected_and_what_is_unknown_is_named(name: str) -> None:
    root, layout, _ = bindings.BINDINGS[name]
    for fmt in ("markdown", "html", "text"):
        rendered = render(bindings.golden(name, "bin"), fmt)
        warning = bindings.WARNINGS.get(name)
        assert (rendered.root, rendered.layout, rendered.warning) == (root, layout, warning)
        assert rendered.body.strip()


@pytest.mark.parametrize("name", ["codemirror", "monaco"])
def test_plain_text_exports_as_it_is(name: str) -> None:
    update, text = bindings.golden(name, "bin"), bindings.golden(name, "txt")
    assert export(update, "text") == text
    assert export(update, "markdown") == text
    page = export(update, "html", title="t").decode()
    assert (
        "<pre>"
        + text.decode().replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
        + "</pre>"
        in page
    )


def test_every_listed_difference_is_in_the_readme() -> None:
    readme = " ".join(README.read_text(encoding="utf-8").split())
    for differences in bindings.DIFFERENCES.values():
        for _, _, why in differences:
            assert why in readme, why


def test_json_of_a_lexical_document_keeps_its_nodes_and_formats() -> None:
    root = to_json(bindings.golden("lexical", "bin"))["root"]
    blocks = root["content"]
    assert [b["attrs"]["__type"] for b in blocks] == [
        *("heading", "paragraph", "heading", "list", "list", "quote", "code", "paragraph")
    ]
    paragraph = blocks[1]["content"]
    bold = paragraph.index({"type": "text", "text": "bold"})
    assert paragraph[bold - 1]["attrs"]["__format"] == 1  # the text node's properties


# -- root selection -----------------------------------------------------------------------------


def _doc(**roots: Any) -> bytes:
    doc: Doc[Any] = Doc()
    for name, value in roots.items():
        if isinstance(value, list):
            doc[name] = frag = XmlFragment()
            _write(frag, value)
        else:
            doc[name] = value
    return doc.get_update()


def test_the_editors_default_root_wins() -> None:
    update = _doc(default=[p(t("rich"))], text=Text("plain"), other=Text("x"))
    rendered = render(update, "markdown")
    assert (rendered.root, rendered.body) == ("default", b"rich\n")
    assert render(update, "text", "text").body == b"plain"


def test_the_only_root_is_picked_whatever_its_name() -> None:
    assert render(_doc(content=Text("only one")), "text").body == b"only one"
    rendered = render(_doc(notes=[p(t("a"), t("b", {"type": "bold"}))]), "markdown")
    assert (rendered.root, rendered.body) == ("notes", b"a**b**\n")


def test_a_root_whose_content_was_deleted_does_not_count() -> None:
    doc: Doc[Any] = Doc()
    doc["gone"] = gone = Text("x")
    del gone[0:1]
    doc["content"] = Text("kept")
    assert render(doc.get_update(), "text").body == b"kept"


def test_several_roots_without_default_is_an_error_listing_them() -> None:
    update = _doc(a=Text("x"), b=Map({"k": 1}), c=[p(t("y"))])
    for fmt in ("markdown", "html", "text"):
        with pytest.raises(RootError) as caught:
            render(update, fmt)
        assert str(caught.value) == (
            "the document has 3 roots and none is the editor's 'default': pick one with field"
            " (--field); the document's roots: 'a' (Y.Text), 'b' (Y.Map),"
            " 'c' (Y.XmlFragment/Y.XmlText)"
        )
    assert render(update, "markdown", "c").body == b"y\n"


def test_a_missing_root_or_one_of_the_wrong_type_is_an_error_listing_the_roots() -> None:
    update = _doc(default=[p(t("x"))], meta=Map({"k": 1}))
    listing = "the document's roots: 'default' (Y.XmlFragment/Y.XmlText), 'meta' (Y.Map)"
    for fmt in ("json", "markdown", "html", "text"):
        with pytest.raises(RootError, match=re.escape(f"no root 'nope'; {listing}")):
            render(update, fmt, "nope")
    for fmt in ("markdown", "html", "text"):
        with pytest.raises(RootError, match=re.escape(f"which {fmt} cannot render")):
            render(update, fmt, "meta")
    assert render(update, "json", "meta").body == b'{\n  "k": 1\n}\n'


def test_an_empty_document_is_an_error_not_an_empty_file() -> None:
    for fmt in ("markdown", "html", "text"):
        with pytest.raises(RootError, match="the document is empty"):
            render(Doc().get_update(), fmt)


def test_yjs_and_json_refuse_what_does_not_apply() -> None:
    update = _doc(default=[p(t("x"))])
    with pytest.raises(RootError, match="yjs is the whole document"):
        render(update, "yjs", "default")
    with pytest.raises(RootError, match="schema does not apply"):
        render(update, "json", schema="tiptap")
    with pytest.raises(ExportError, match="unknown schema 'word'"):
        render(update, "markdown", schema="word")


# -- forcing a layout ---------------------------------------------------------------------------


def test_schema_forces_the_layout() -> None:
    quill = bindings.golden("quill", "bin")
    plain = render(quill, "markdown", schema="text")
    assert plain.layout == "text" and plain.body.startswith(b"Field notes\nSome bold")
    assert render(quill, "markdown", schema="quill").body.startswith(b"# Field notes\n")
    # Tiptap's names read with the prosemirror-schema-basic mapping: nothing is lost, and the
    # names it does not know are listed.
    rendered = render(bindings.golden("tiptap", "bin"), "markdown", schema="prosemirror")
    assert rendered.warning is not None
    assert "bulletList" in rendered.warning and "codeBlock" in rendered.warning
    assert b"nested one" in rendered.body and b"step two" in rendered.body


def test_schema_of_another_root_type_is_an_error() -> None:
    wrong = "schema quill reads a Y.Text root; root 'default'"
    with pytest.raises(RootError, match=re.escape(wrong)):
        render(bindings.golden("tiptap", "bin"), "markdown", schema="quill")
    with pytest.raises(RootError, match=re.escape("schema lexical reads a Y.XmlFragment root")):
        render(bindings.golden("quill", "bin"), "text", schema="lexical")
    assert set(LAYOUTS) == {"tiptap", "prosemirror", "blocknote", "lexical", "quill", "text"}


# -- unknown node types -------------------------------------------------------------------------


def test_unknown_tiptap_nodes_render_their_text_and_are_listed() -> None:
    update = fragment(
        el("callout", p(t("careful"))),
        p(t("hi "), el("mention", t("@ann")), t(" and "), t("c", {"type": "comment"})),
        ul(li(p(t("item")))),
        p(t("x", {"type": "sparkle"})),
    )
    for fmt, shown in (("markdown", "careful"), ("html", "<p>careful</p>"), ("text", "careful")):
        rendered = render(update, fmt)
        body = rendered.body.decode()
        assert shown in body and "@ann" in body and "item" in body, body
        assert rendered.warning == (
            "unknown node types rendered as their text: callout, mention;"
            " unknown marks left out: sparkle"
        )


def test_unknown_blocknote_blocks_render_their_text_and_are_listed() -> None:
    blocks = el(
        "blockGroup",
        el("blockContainer", el("alert", t("watch out")), id="1"),
        el("blockContainer", el("numberedListItem", t("five"), start=5), id="2"),
        el("blockContainer", el("numberedListItem", t("six")), id="3"),
        el(
            "blockContainer",
            el("paragraph", t("parent")),
            el("blockGroup", el("blockContainer", el("paragraph", t("child")), id="5")),
            id="4",
        ),
    )
    rendered = render(_doc(**{"document-store": [blocks]}), "markdown")
    assert rendered.layout == "blocknote"
    assert rendered.body == b"watch out\n\n5. five\n6. six\n\nparent\n\nchild\n"
    assert rendered.warning == "unknown node types rendered as their text: alert"


def test_blocknote_images_dividers_and_toggles() -> None:
    blocks = el(
        "blockGroup",
        el("blockContainer", el("image", url="https://example.com/a.png", caption="A"), id="1"),
        el("blockContainer", el("divider"), id="2"),
        el("blockContainer", el("toggleListItem", t("fold")), id="3"),
    )
    rendered = render(_doc(**{"document-store": [blocks]}), "markdown")
    assert rendered.body == b"![A](https://example.com/a.png)\n\n---\n\n- fold\n"
    assert rendered.warning is None


# -- Quill deltas -------------------------------------------------------------------------------


def _quill(*ops: tuple[Any, dict[str, Any] | None]) -> bytes:
    doc: Doc[Any] = Doc()
    doc["quill"] = text = Text()
    for value, attrs in ops:
        if isinstance(value, str):
            text.insert(len(text), value, attrs)
        else:
            text.insert_embed(len(text), value, attrs)
    return doc.get_update()


def test_quill_lists_nest_by_indent_and_code_lines_join() -> None:
    update = _quill(
        ("deep", None),
        ("\n", {"list": "bullet", "indent": 2}),
        ("top", None),
        ("\n", {"list": "ordered"}),
        ("a = 1", None),
        ("\n", {"code-block": "plain"}),
        ("b = 2", None),
        ("\n", {"code-block": "plain"}),
        ("x", {"script": "super", "color": "#f00"}),
        ("\n", {"align": "center"}),
    )
    assert render(update, "markdown").body == (
        b"- - - deep\n\n1. top\n\n```\na = 1\nb = 2\n```\n\nx\n"  # empty outer items
    )
    assert b"<sup>x</sup>" in render(update, "html").body


def test_quill_embeds() -> None:
    update = _quill(
        ("see ", None),
        ({"image": "https://example.com/a.png"}, None),
        ({"formula": "e=mc^2"}, None),
        ("\n", None),
    )
    rendered = render(update, "markdown")
    assert rendered.body == b"see ![](https://example.com/a.png)e=mc^2\n"
    assert rendered.warning == "unknown node types rendered as their text: formula"


def test_a_warning_is_one_printable_line_whatever_the_names() -> None:
    update = fragment(el("evil\r\nX-Injected: 1", p(t("text"))), p(t("x", {"type": "\x00"})))
    rendered = render(update, "markdown")
    assert rendered.body == b"text\n\nx\n"
    assert rendered.warning == (
        "unknown node types rendered as their text: 'evil\\r\\nX-Injected: 1';"
        " unknown marks left out: '\\x00'"
    )
