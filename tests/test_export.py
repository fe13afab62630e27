"""Tests for collab.export: root type detection, JSON, Markdown, HTML and plain text.

Two kinds of input: binary updates written by the real browser stack (Tiptap + y-tiptap + yjs,
``tests/golden/make_golden.mjs``), and documents built here with pycrdt the way y-prosemirror
writes them (one Y.XmlElement per node with its non-null attributes, one Y.XmlText per run of
text nodes whose marks are formatting attributes ``{mark: attrs}``).

Set ``UPDATE_GOLDEN=1`` to rewrite the golden Markdown/HTML/text files after a deliberate change.
"""

from __future__ import annotations

import base64
import contextlib
import json
import os
import re
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pycrdt import Array, Doc, Map, Text, XmlElement, XmlFragment, XmlText

from collab import integrator
from collab.export import (
    DEFAULT_FRAGMENT,
    FORMATS,
    ExportError,
    RootError,
    export,
    fragment_to_html,
    fragment_to_json,
    fragment_to_markdown,
    fragment_to_text,
    root_types,
    text_to_text,
    to_json,
)
from collab.export.inline import md_inline
from collab.export.roots import MAX_DEPTH

GOLDEN = Path(__file__).parent / "golden"
TIPTAP = (GOLDEN / "tiptap_doc.bin").read_bytes()
YJS_ROOTS = (GOLDEN / "yjs_roots.bin").read_bytes()

Node = dict[str, Any]


# -- building documents the way y-prosemirror does ----------------------------------------------


def t(text: str, *marks: Node) -> Node:
    node: Node = {"type": "text", "text": text}
    if marks:
        node["marks"] = list(marks)
    return node


def m(name: str, **attrs: Any) -> Node:
    return {"type": name, "attrs": attrs}


def el(kind: str, *content: Node, **attrs: Any) -> Node:
    return {"type": kind, "attrs": attrs, "content": list(content)}


def p(*content: Node) -> Node:
    return el("paragraph", *content)


def h(level: Any, *content: Node) -> Node:
    return el("heading", *content, level=level)


def li(*blocks: Node) -> Node:
    return el("listItem", *blocks)


def ul(*items: Node) -> Node:
    return el("bulletList", *items)


def ol(*items: Node, start: int = 1) -> Node:
    return el("orderedList", *items, start=start, type=None)


BOLD, ITALIC, STRIKE, CODE = m("bold"), m("italic"), m("strike"), m("code")
HARD_BREAK = el("hardBreak")


def _write(parent: XmlFragment | XmlElement, nodes: list[Node]) -> None:
    run: list[Node] = []

    def flush() -> None:
        if run:
            text = parent.children.append(XmlText())
            for node in run:
                marks = {mark["type"]: mark.get("attrs", {}) for mark in node.get("marks", [])}
                text.insert(len(text), node["text"], marks)
            run.clear()

    for node in nodes:
        if node["type"] == "text":
            run.append(node)
            continue
        flush()
        element = parent.children.append(XmlElement(node["type"]))
        for key, value in node.get("attrs", {}).items():
            if value is not None:  # y-prosemirror never stores null attributes
                element.attributes[key] = value
        _write(element, node.get("content", []))
    flush()


def fragment(*blocks: Node, field: str = DEFAULT_FRAGMENT) -> bytes:
    doc: Doc[Any] = Doc()
    doc[field] = root = XmlFragment()
    _write(root, list(blocks))
    return doc.get_update()


def md(*blocks: Node) -> str:
    return fragment_to_markdown(fragment(*blocks))


def html(*blocks: Node) -> str:
    return fragment_to_html(fragment(*blocks))


def text(*blocks: Node) -> str:
    return fragment_to_text(fragment(*blocks))


# -- golden documents from the browser stack ----------------------------------------------------


@pytest.mark.parametrize(
    ("suffix", "render"),
    [
        ("md", fragment_to_markdown),
        ("html", fragment_to_html),
        ("txt", fragment_to_text),
    ],
)
def test_tiptap_document_matches_golden_file(suffix: str, render: Any) -> None:
    golden = GOLDEN / f"tiptap_doc.{suffix}"
    out = render(TIPTAP)
    if os.environ.get("UPDATE_GOLDEN"):
        golden.write_text(out, encoding="utf-8")
    assert out == golden.read_text(encoding="utf-8")


def test_tiptap_storage_facts() -> None:
    """What y-tiptap really writes, read back with pycrdt (the facts the exporter relies on)."""
    doc: Doc[Any] = Doc()
    doc.apply_update(TIPTAP)
    blocks = list(doc.get(DEFAULT_FRAGMENT, type=XmlFragment).children)
    heading, paragraph = blocks[0], blocks[1]
    assert isinstance(heading, XmlElement) and isinstance(paragraph, XmlElement)
    assert heading.tag == "heading"
    assert dict(heading.attributes.__iter__()) == {"level": 1.0}  # a number, not "1"
    ordered = next(b for b in blocks if isinstance(b, XmlElement) and b.tag == "orderedList")
    assert dict(ordered.attributes.__iter__()) == {"start": 3.0}  # null "type" not stored
    code = next(b for b in blocks if isinstance(b, XmlElement) and b.tag == "codeBlock")
    assert dict(code.attributes.__iter__()) == {"language": "python"}
    run = paragraph.children[0]
    assert isinstance(run, XmlText)
    delta = dict(run.diff())
    assert delta["bold"] == {"bold": {}}
    assert delta["both"] == {"bold": {}, "italic": {}}
    assert delta["a link"] == {
        "link": {
            "href": "https://example.com/?q=1&r=2",
            "target": "_blank",
            "rel": "noopener noreferrer nofollow",
            "class": None,
            "title": None,
        }
    }
    assert [type(c).__name__ for c in paragraph.children] == ["XmlText", "XmlElement", "XmlText"]
    empty = blocks[2]
    assert isinstance(empty, XmlElement) and len(empty.children) == 0


def _shape(node: Node) -> Any:
    """A node without attributes (the stored ones include defaults that the source omits)."""
    if node["type"] == "text":
        return (node["text"], sorted(mark["type"] for mark in node.get("marks", [])))
    return (node["type"], [_shape(child) for child in node.get("content", [])])


def test_tiptap_fragment_json_is_the_prosemirror_document() -> None:
    source = json.loads((GOLDEN / "tiptap_doc.json").read_text(encoding="utf-8"))
    doc = fragment_to_json(TIPTAP)
    assert _shape(doc) == _shape(source)
    assert doc["content"][0] == {
        "type": "heading",
        "attrs": {"level": 1},
        "content": [{"type": "text", "text": "Title & <html> *stars*"}],
    }
    link = doc["content"][1]["content"][11]
    assert link == {
        "type": "text",
        "text": "a link",
        "marks": [
            {
                "type": "link",
                "attrs": {
                    "href": "https://example.com/?q=1&r=2",
                    "rel": "noopener noreferrer nofollow",
                    "target": "_blank",
                },
            }
        ],
    }
    assert doc["content"][1]["content"][5]["marks"] == [{"type": "bold"}, {"type": "italic"}]
    assert doc["content"][2] == {"type": "paragraph"}
    assert to_json(TIPTAP) == {"default": doc}


def test_root_types_of_yjs_document() -> None:
    assert root_types(TIPTAP) == {"default": "xml"}
    assert root_types(YJS_ROOTS) == {
        "cleared": None,  # every item deleted: nothing left to tell its type
        "list": "array",
        "meta": "map",
        "rich": "text",
        "text": "text",
    }


def test_to_json_of_yjs_document() -> None:
    assert to_json(YJS_ROOTS) == {
        "cleared": None,
        "list": [1, False, {"k": "v"}, [42]],
        "meta": {
            "count": 3,
            "nested": {"deep": None},
            "ratio": 0.5,
            "tags": ["a", "b"],
            "title": "Notes",
        },
        "rich": "ab",
        "text": "Hello there!",
    }
    assert text_to_text(YJS_ROOTS) == "Hello there!"
    assert text_to_text(YJS_ROOTS, "rich") == "ab"


# -- root types and JSON for pycrdt-built documents ---------------------------------------------


def test_root_types_are_detected_from_the_data() -> None:
    doc: Doc[Any] = Doc()
    doc["t"] = Text("hello")
    doc["embed_only"] = embed = Text()
    embed.insert_embed(0, {"image": "x.png"})
    doc["formatted"] = formatted = Text("ab")
    formatted.format(0, 1, {"bold": True})
    doc["m"] = Map({"k": 1})
    doc["emptied"] = emptied = Map({"k": 1})
    del emptied["k"]
    doc["a"] = Array([1, "x"])
    doc["shared"] = Array([Map({"x": 1}), Text("y")])
    doc["f"] = frag = XmlFragment()
    frag.children.append(XmlText("loose text"))
    assert root_types(doc.get_update()) == {
        "a": "array",
        "embed_only": "text",
        "emptied": None,
        "f": "xml",
        "formatted": "text",
        "m": "map",
        "shared": "array",
        "t": "text",
    }


def test_to_json_converts_values() -> None:
    doc: Doc[Any] = Doc()
    doc["m"] = Map(
        {
            "int": 7,
            "float": 1.5,
            "big": 2.0**60,
            "bytes": b"\x00\xff",
            "none": None,
            "list": [1, [2, {"z": 3, "a": 4}]],
            "text": Text("nested"),
            "array": Array([True, Map({"deep": "yes"})]),
            "unicode": "Grüße 🌍",
        }
    )
    doc["f"] = frag = XmlFragment()
    _write(frag, [p(t("x", BOLD))])
    out = to_json(doc.get_update())
    assert out["m"] == {
        "array": [True, {"deep": "yes"}],
        "big": 2.0**60,
        "bytes": base64.b64encode(b"\x00\xff").decode(),
        "float": 1.5,
        "int": 7,
        "list": [1, [2, {"a": 4, "z": 3}]],
        "none": None,
        "text": "nested",
        "unicode": "Grüße 🌍",
    }
    assert list(out["m"]["list"][1][1]) == ["a", "z"]  # keys sorted
    assert out["f"] == {
        "type": "doc",
        "content": [
            {
                "type": "paragraph",
                "content": [{"type": "text", "text": "x", "marks": [{"type": "bold"}]}],
            }
        ],
    }
    json.dumps(out, allow_nan=False)


def test_json_of_empty_and_hashed_marks() -> None:
    update = fragment(p(t("note", {"type": "comment--AbCd+/9=", "attrs": {"id": 7}})))
    assert fragment_to_json(update)["content"][0]["content"][0]["marks"] == [
        {"type": "comment", "attrs": {"id": 7}}
    ]
    assert to_json(b"\x00\x00") == {}


# -- Markdown -----------------------------------------------------------------------------------


def test_markdown_blocks() -> None:
    assert md(
        h(1, t("Title")),
        p(t("one"), HARD_BREAK, t("two")),
        p(),
        el("horizontalRule"),
        el("blockquote", p(t("quoted")), el("blockquote", p(t("deeper")))),
        el("codeBlock", t("x = `y`\n```\n"), language="py"),
        el("codeBlock"),
        h(6, t("six")),
    ) == (
        "# Title\n\n"
        "one\\\ntwo\n\n"
        "---\n\n"
        "> quoted\n>\n> > deeper\n\n"
        "````py\nx = `y`\n```\n\n````\n\n"
        "```\n```\n\n"
        "###### six\n"
    )


def test_markdown_nested_lists() -> None:
    doc = ul(
        li(p(t("a"))),
        li(
            p(t("b")),
            ol(li(p(t("b1"))), li(p(t("b2")), ul(li(p(t("deep"))))), start=5),
        ),
        li(p(t("c")), ol(li(p(t("c1"))))),
    )
    # "5." cannot interrupt a paragraph: a blank line, so the outer list is loose
    assert md(doc) == ("- a\n\n- b\n\n  5. b1\n  6. b2\n     - deep\n\n- c\n  1. c1\n")
    assert md(ul(li(p(t("a")), ul(li(p(t("b"))))))) == "- a\n  - b\n"


def test_markdown_loose_list_items_and_adjacent_lists() -> None:
    assert md(
        ul(li(p(t("one")), p(t("more"))), li(p(t("two")))),
        ul(li(p(t("other list")))),
        ol(li(p(t("x")))),
        ol(li(p(t("y"))), start=2),
        ul(li(el("horizontalRule"))),
    ) == ("- one\n\n  more\n\n- two\n\n* other list\n\n1. x\n\n2) y\n\n- ***\n")


def test_markdown_empty_list_item_does_not_become_a_heading() -> None:
    assert md(ul(li(p(t("a")), ul(li(p()))))) == "- a\n\n  -\n"


def test_markdown_inline_marks() -> None:
    assert md(
        p(
            t("plain "),
            t("bold", BOLD),
            t(" "),
            t("italic", ITALIC),
            t(" "),
            t("both", BOLD, ITALIC),
            t(" "),
            t("struck", STRIKE),
            t(" "),
            t("code", CODE),
            t(" "),
            t("under", m("underline")),
            t(" "),
            t("site", m("link", href="https://x.org/a_b")),
            t(" "),
            t("unknown", m("highlight")),
        )
    ) == (
        "plain **bold** *italic* ***both*** ~~struck~~ `code` <u>under</u> "
        "[site](https://x.org/a_b) unknown\n"
    )


def test_markdown_marks_span_text_nodes_and_move_whitespace_out() -> None:
    assert md(p(t("bold ", BOLD), t("both", BOLD, ITALIC), t(" plain"))) == (
        "**bold *both*** plain\n"
    )
    assert md(p(t("a "), t(" spaced ", BOLD), t("b"))) == "a  **spaced** b\n"
    assert md(p(t("un"), t("believ", BOLD), t("able"))) == "un**believ**able\n"
    assert md(p(t("x", ITALIC), t("y", BOLD))) == "<em>x</em>**y**\n"
    assert md(p(t("code ", CODE), t("`tick`", CODE, BOLD))) == "`code `**`` `tick` ``**\n"


def test_markdown_links() -> None:
    assert md(p(t("go", m("link", href="https://e.com/a b(c)", title='say "hi"')))) == (
        '[go](<https://e.com/a b(c)> "say \\"hi\\"")\n'
    )
    assert md(p(t("bang!"), t("link", m("link", href="/x")))) == "bang\\![link](/x)\n"
    assert md(p(t("evil", m("link", href=" JavaScript:alert(1)")))) == "evil\n"
    assert md(p(t("mail", m("link", href="mailto:a@b.c")))) == "[mail](mailto:a@b.c)\n"
    assert md(p(t("[x]", m("link", href="")))) == "[\\[x\\]](<>)\n"


def test_markdown_escapes_text() -> None:
    assert md(p(t("*a* _b_ `c` [d](e) <f> ~g~ \\ &amp; & #h |"))) == (
        "\\*a\\* \\_b\\_ \\`c\\` \\[d\\](e) \\<f> \\~g\\~ \\\\ \\&amp; & #h |\n"
    )
    starts = ["# h", "> q", "- l", "+ l", "=", "12. n", "3) n", "    code", "\tx", "!x"]
    assert md(*(p(t(s)) for s in starts)) == (
        "\\# h\n\n\\> q\n\n\\- l\n\n\\+ l\n\n\\=\n\n12\\. n\n\n3\\) n\n\n"
        "&#32;&#32;&#32;&#32;code\n\n&#9;x\n\n!x\n"
    )
    assert md(p(t("a"), HARD_BREAK, t("# b"))) == "a\\\n\\# b\n"
    assert md(p(t("line\n- two"))) == "line\\\n\\- two\n"


def test_markdown_headings() -> None:
    assert md(h(9, t("x")), h("2", t("y")), h("bad", t("z")), h(3, t("C#")), h(2)) == (
        "###### x\n\n## y\n\n# z\n\n### C\\#\n\n##\n"
    )
    assert md(el("heading", t("no level"))) == "# no level\n"
    assert md(h(1, t("a"), HARD_BREAK, t("b"))) == "# a b\n"


def test_markdown_trailing_hard_break_and_images() -> None:
    assert md(p(t("end"), HARD_BREAK)) == "end\n"
    image = el("image", src="https://e.com/i.png", alt="an *image*", title="T")
    assert md(image, p(t("x "), el("image", src="javascript:x", alt="a"))) == (
        '![an \\*image\\*](https://e.com/i.png "T")\n\nx ![a](<>)\n'
    )


def test_markdown_unicode_and_empty() -> None:
    assert md(p(t("Grüße 🌍 日本語 ", BOLD), t("مرحبا"))) == "**Grüße 🌍 日本語** مرحبا\n"
    assert md(p(), p()) == ""
    assert fragment_to_markdown(fragment(p(t("x")), field="notes"), "notes") == "x\n"


def test_markdown_two_adjacent_xml_texts_merge() -> None:
    doc: Doc[Any] = Doc()
    doc[DEFAULT_FRAGMENT] = frag = XmlFragment()
    para = frag.children.append(XmlElement("paragraph"))
    para.children.append(XmlText("a "))
    second = para.children.append(XmlText())
    second.insert(0, "`b`", {"code": {}})
    third = para.children.append(XmlText())
    third.insert(0, "c", {"code": {}})
    assert fragment_to_markdown(doc.get_update()) == "a `` `b`c ``\n"


# -- HTML and plain text ------------------------------------------------------------------------


def test_html_fragment() -> None:
    assert html(
        h(2, t("A & B")),
        p(t("x < y", BOLD), HARD_BREAK, t("q", m("link", href='https://e.com/?a="1"&b'))),
        p(),
        ol(li(p(t("one"))), li(p(t("two")), ul(li(p(t("in"))))), start=3),
        el("blockquote", p(t("q"))),
        el("codeBlock", t("<b>\n"), language='js" onload="x'),
        el("horizontalRule"),
        p(t("bad", m("link", href="javascript:alert(1)")), t("s", STRIKE), t("u", m("underline"))),
        el("image", src="data:text/html,x", alt='"alt"'),
    ) == (
        "<h2>A &amp; B</h2>\n"
        "<p><strong>x &lt; y</strong><br>"
        '<a href="https://e.com/?a=&quot;1&quot;&amp;b" rel="noopener noreferrer nofollow">q</a>'
        "</p>\n"
        "<p></p>\n"
        '<ol start="3">\n<li><p>one</p></li>\n<li>\n<p>two</p>\n<ul>\n<li><p>in</p></li>\n</ul>\n'
        "</li>\n</ol>\n"
        "<blockquote>\n<p>q</p>\n</blockquote>\n"
        '<pre><code class="language-js&quot;">&lt;b&gt;\n</code></pre>\n'
        "<hr>\n"
        "<p>bad<s>s</s><u>u</u></p>\n"
        '<img src="" alt="&quot;alt&quot;">'
    )


def test_html_standalone_page() -> None:
    update = fragment(p(t("intro")), h(2, t("The ", BOLD), t("<Title>")))
    page = fragment_to_html(update, standalone=True)
    assert page.startswith('<!DOCTYPE html>\n<html>\n<head>\n<meta charset="utf-8">\n')
    assert "<title>The &lt;Title&gt;</title>" in page
    assert page.endswith(
        "<body>\n<p>intro</p>\n<h2><strong>The </strong>&lt;Title&gt;</h2>\n</body>\n</html>\n"
    )
    assert "<title>Mine</title>" in fragment_to_html(update, standalone=True, title="Mine")
    assert "<title>Untitled</title>" in fragment_to_html(fragment(p()), standalone=True)


def test_plain_text() -> None:
    assert text(
        h(1, t("Title", BOLD)),
        p(t("a "), t("link", m("link", href="https://e.com")), HARD_BREAK, t("next")),
        p(),
        ul(li(p(t("one"))), li(p(t("two")), ol(li(p(t("sub"))), start=4))),
        el("blockquote", p(t("*quoted*"))),
        el("horizontalRule"),
        el("codeBlock", t("code()"), language="py"),
    ) == ("Title\n\na link\nnext\n\n\n\n- one\n- two\n  4. sub\n\n*quoted*\n\ncode()\n")
    assert text(p()) == ""


def test_text_to_text() -> None:
    doc: Doc[Any] = Doc()
    doc["text"] = Text("héllo 🌍\nworld")
    doc["notes"] = Text("other")
    update = doc.get_update()
    assert text_to_text(update) == "héllo 🌍\nworld"
    assert text_to_text(update, "notes") == "other"


# -- errors -------------------------------------------------------------------------------------


def test_missing_or_mistyped_fields_raise() -> None:
    with pytest.raises(ExportError, match="no field 'default'"):
        fragment_to_markdown(YJS_ROOTS)
    with pytest.raises(ExportError, match=re.escape("'text' is a Y.Text, not a Y.XmlFragment")):
        fragment_to_html(YJS_ROOTS, "text")
    with pytest.raises(ExportError, match=re.escape("is a Y.XmlFragment, not a Y.Text")):
        text_to_text(TIPTAP, DEFAULT_FRAGMENT)
    with pytest.raises(ExportError, match="no field"):
        text_to_text(TIPTAP)
    with pytest.raises(ExportError, match="must be bytes"):
        to_json("not bytes")  # type: ignore[arg-type]
    # a root with no content left reads as empty whatever it was
    assert fragment_to_markdown(YJS_ROOTS, "cleared") == ""
    assert text_to_text(YJS_ROOTS, "cleared") == ""


@pytest.mark.parametrize("update", [b"", b"\x00", b"\xff\xff\xff", b"\x01\x01\x01\x01\x01"])
def test_garbage_raises_export_error(update: bytes) -> None:
    with pytest.raises(ExportError, match="cannot read"):
        to_json(update)
    with pytest.raises(ExportError):
        export(update, "yjs")


def test_panics_become_export_errors(monkeypatch: pytest.MonkeyPatch) -> None:
    class PanicException(BaseException):  # what pyo3 raises when Rust code panics
        pass

    def panic(doc: Doc[Any], update: bytes) -> None:
        raise PanicException("called `Option::unwrap()` on a `None` value")

    monkeypatch.setattr(integrator, "_apply", panic)
    with pytest.raises(ExportError, match="unwrap"):
        fragment_to_markdown(TIPTAP)

    def interrupt(doc: Doc[Any], update: bytes) -> None:
        raise KeyboardInterrupt

    monkeypatch.setattr(integrator, "_apply", interrupt)
    with pytest.raises(KeyboardInterrupt):
        to_json(TIPTAP)


def test_deep_nesting_raises_export_error() -> None:
    node = p(t("core"))
    for _ in range(MAX_DEPTH + 5):
        node = el("blockquote", node)
    update = fragment(node)
    for render in (fragment_to_markdown, fragment_to_html, fragment_to_text, to_json):
        with pytest.raises(ExportError, match="deeper"):
            render(update)


# -- export() -----------------------------------------------------------------------------------


def test_formats_table() -> None:
    assert set(FORMATS) == {"yjs", "json", "markdown", "html", "text"}
    assert FORMATS["markdown"] == ("text/markdown; charset=utf-8", "md")
    assert all(media and ext and "." not in ext for media, ext in FORMATS.values())


def test_export_dispatch() -> None:
    assert export(TIPTAP, "yjs") == TIPTAP
    assert export(TIPTAP, "markdown") == fragment_to_markdown(TIPTAP).encode()
    assert export(TIPTAP, "text") == fragment_to_text(TIPTAP).encode()
    assert export(TIPTAP, "html") == fragment_to_html(TIPTAP, standalone=True).encode()
    assert b"<title>Doc</title>" in export(TIPTAP, "html", title="Doc")
    assert json.loads(export(TIPTAP, "json")) == to_json(TIPTAP)
    assert json.loads(export(YJS_ROOTS, "json", "meta"))["title"] == "Notes"
    assert export(YJS_ROOTS, "text", "text") == b"Hello there!"
    assert export(YJS_ROOTS, "text", "rich") == b"ab\n"  # formatted: read as a Quill delta
    roots = "'cleared' (empty), 'list' (Y.Array), 'meta' (Y.Map), 'rich' (Y.Text), 'text' (Y.Text)"
    for fmt in ("markdown", "html", "text"):
        with pytest.raises(
            RootError,
            match=re.escape(f"pick one with field (--field); the document's roots: {roots}"),
        ):
            export(YJS_ROOTS, fmt)
    with pytest.raises(ExportError, match="unknown format"):
        export(TIPTAP, "pdf")
    with pytest.raises(RootError, match="no root 'nope'; the document's roots: 'default' "):
        export(TIPTAP, "json", "nope")
    with pytest.raises(RootError, match=re.escape("'meta' is a Y.Map, which text cannot render")):
        export(YJS_ROOTS, "text", "meta")


def test_export_prefers_the_fragment_for_text() -> None:
    doc: Doc[Any] = Doc()
    doc["text"] = Text("plain")
    doc[DEFAULT_FRAGMENT] = frag = XmlFragment()
    _write(frag, [p(t("rich"))])
    assert export(doc.get_update(), "text") == b"rich\n"


def test_export_of_an_empty_document() -> None:
    empty = Doc().get_update()
    for fmt in ("markdown", "html", "text"):
        with pytest.raises(RootError, match="the document is empty: it has no root to export"):
            export(empty, fmt)
    assert export(empty, "json") == b"{}\n"


# -- properties ---------------------------------------------------------------------------------

_PUBLIC = (to_json, root_types, fragment_to_markdown, fragment_to_html, fragment_to_text)


@settings(max_examples=60, deadline=None)  # pycrdt takes up to ~1 s on some garbage
@given(st.binary(max_size=300))
def test_arbitrary_bytes_raise_only_export_error(update: bytes) -> None:
    for render in _PUBLIC:
        with contextlib.suppress(ExportError):
            render(update)
    for fmt in FORMATS:
        with contextlib.suppress(ExportError):
            assert isinstance(export(update, fmt), bytes)


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.data())
def test_corrupted_real_updates_raise_only_export_error(data: st.DataObject) -> None:
    update = bytearray(data.draw(st.sampled_from([TIPTAP, YJS_ROOTS])))
    for _ in range(data.draw(st.integers(1, 4))):
        pos = data.draw(st.integers(0, len(update) - 1))
        update[pos] = data.draw(st.integers(0, 255))
    for fmt in FORMATS:
        with contextlib.suppress(ExportError):
            export(bytes(update), fmt)


def _md_unescape(markdown: str) -> str:
    markdown = markdown.replace("&#32;", " ").replace("&#9;", "\t")
    return re.sub(r"\\([!-/:-@\[-`{-~])", r"\1", markdown)


_TEXT = st.lists(
    st.sampled_from([*"ab 1.#*_`[]()<>!&;~-+=\\|\t", "é", "🌍", "&amp;", "&#1;"]), max_size=30
).map("".join)


@settings(max_examples=300, deadline=None)
@given(_TEXT)
def test_markdown_escaping_round_trips_plain_text(value: str) -> None:
    out = md_inline([t(value)] if value else [])
    assert _md_unescape(out) == value.rstrip(" \t")
    assert "\n" not in out


class _TextOf(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.text: list[str] = []
        self.open: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag not in ("br", "hr", "img"):
            self.open.append(tag)

    def handle_endtag(self, tag: str) -> None:
        assert self.open.pop() == tag  # well nested

    def handle_data(self, data: str) -> None:
        self.text.append(data)


_MARKS = st.lists(
    st.sampled_from([BOLD, ITALIC, STRIKE, CODE, m("underline"), m("link", href="https://e.com")]),
    unique_by=lambda mark: mark["type"],
    max_size=3,
)


@settings(max_examples=150, deadline=None)
@given(st.lists(st.tuples(_TEXT, _MARKS), max_size=6))
def test_marked_text_renders_in_every_format(runs: list[tuple[str, list[Node]]]) -> None:
    nodes = [t(value, *marks) for value, marks in runs if value]
    update = fragment(p(*nodes))
    plain = "".join(node["text"] for node in nodes)
    parser = _TextOf()
    parser.feed(fragment_to_html(update))
    parser.close()
    assert parser.open == []
    assert "".join(parser.text) == plain
    assert fragment_to_text(update) == (plain + "\n" if plain else "")
    fragment_to_markdown(update)  # must not raise
