"""The export goldens of tests/golden/bindings and how collab's export is compared with them.

Each binding's document (NAME.bin) was written by the editor's own JavaScript libraries, and
NAME.md / NAME.html / NAME.txt are what the library's own serializers make of it
(``make_goldens.mjs``). Markup differs in ways that do not change what a reader sees, so both
sides are compared in a normal form:

* Markdown: both are rendered by a CommonMark parser (markdown-it-py, with strikethrough) and
  the HTML compared as below: bullet characters, escaping and loose/tight spacing vanish.
* HTML: the body's elements and text, whitespace runs collapsed (``&nbsp;`` is a space);
  attributes other than ``href``, ``src``, ``start`` and ``checked`` dropped; presentational
  wrappers dropped (``span``, Lexical's ``b``/``i`` around ``strong``/``em``); a list item's
  single ``<p>`` and a ``<pre>``'s ``<code>`` unwrapped (tight lists, code blocks).
* Text: whitespace runs collapsed; collab's list markers (``-``, ``1.``, ``[x]``) removed.

What still differs after that is listed in :data:`DIFFERENCES` (and in the README's export
section): each entry replaces the library's normal form with collab's, and says why.
"""

from __future__ import annotations

import re
from html.parser import HTMLParser
from pathlib import Path
from typing import Final

from markdown_it import MarkdownIt

GOLDEN: Final = Path(__file__).parent / "golden" / "bindings"

BINDINGS: Final = {
    # name: (root, layout, the library serializers' outputs that exist)
    "tiptap": ("default", "tiptap", ("md", "html", "txt")),
    "prosemirror": ("prosemirror", "prosemirror", ("md", "html", "txt")),
    "lexical": ("root", "lexical", ("md", "html", "txt")),
    "lexical-more": ("root", "lexical", ("md", "html", "txt")),
    "blocknote": ("document-store", "blocknote", ("md", "html")),
    "quill": ("quill", "quill", ("html", "txt")),
    "codemirror": ("codemirror", "text", ("txt",)),
    "monaco": ("monaco", "text", ("txt",)),
}
WARNINGS: Final = {"lexical-more": "unknown node types rendered as their text: hashtag"}
"""The warning each binding's document gives (``None`` for the others)."""
SUFFIX: Final = {"md": "markdown", "html": "html", "txt": "text"}

DIFFERENCES: Final[dict[tuple[str, str], list[tuple[str, str, str]]]] = {
    ("lexical", "md"): [
        (
            "struck</s>. After a break.",
            "struck</s>.<br>After a break.",
            "Lexical's $convertToMarkdownString writes a line break as a bare newline (a soft"
            " break, which Markdown reads as a space); collab writes a hard break",
        ),
    ],
    ("lexical-more", "md"): [
        (
            "<h3>More underlined</h3>",
            "<h3>More <u>underlined</u></h3>",
            "Lexical's $convertToMarkdownString drops underline (Markdown has none); collab"
            " writes <u>...</u>",
        ),
        (
            "</pre><p>Tagged",
            "</pre><hr><p>Tagged",
            "@lexical/markdown has no transformer for the horizontal rule and drops it; collab"
            " writes ---",
        ),
    ],
    ("lexical-more", "html"): [
        (
            "<ul><li>done</li><li>to do</li></ul>",
            "<ul><li><input checked>done</li><li><input>to do</li></ul>",
            "Lexical's $generateHtmlFromNodes marks check items with role=checkbox and"
            " aria-checked; collab writes a checkbox",
        ),
        (
            "<pre>if (x) {<br>go()<br>}</pre>",
            "<pre>if (x) { go() }</pre>",
            "Lexical's $generateHtmlFromNodes writes the line breaks of a code block as <br>;"
            " collab writes newlines",
        ),
    ],
    ("lexical", "html"): [
        (
            "<blockquote>A quote with <em>emphasis</em>.</blockquote>",
            "<blockquote><p>A quote with <em>emphasis</em>.</p></blockquote>",
            "Lexical's $generateHtmlFromNodes puts a quote's text straight in <blockquote>;"
            " collab wraps it in <p>, as"
            " Tiptap, ProseMirror and Markdown readers do",
        ),
    ],
    ("blocknote", "html"): [
        (
            "<blockquote>A quote with <em>emphasis</em>.</blockquote>",
            "<blockquote><p>A quote with <em>emphasis</em>.</p></blockquote>",
            "BlockNote's blocksToHTMLLossy puts a quote's text straight in <blockquote>;"
            " collab wraps it in <p>, as"
            " Tiptap, ProseMirror and Markdown readers do",
        ),
    ],
    ("quill", "html"): [
        (
            "<blockquote>A quote with <em>emphasis</em>.</blockquote>",
            "<blockquote><p>A quote with <em>emphasis</em>.</p></blockquote>",
            "Quill's getSemanticHTML puts a quote's text straight in <blockquote>;"
            " collab wraps it in <p>, as"
            " Tiptap, ProseMirror and Markdown readers do",
        ),
        (
            "<ul><li>done</li></ul><ul><li>to do</li></ul>",
            "<ul><li><input checked>done</li><li><input>to do</li></ul>",
            "Quill's getSemanticHTML writes each check item as a list of its own, checked or not"
            " only in a data-list attribute; collab writes one list with checkboxes",
        ),
    ],
}
"""(binding, golden suffix) -> [(library's normal form, collab's, why)]."""


def golden(name: str, suffix: str) -> bytes:
    return (GOLDEN / f"{name}.{suffix}").read_bytes()


_KEEP_ATTRS: Final = frozenset({"href", "src", "start", "checked"})
_DROP_TAGS: Final = frozenset({"span", "b", "i", "label", "div"})
_VOID: Final = frozenset({"br", "hr", "img", "input"})


class _Normal(HTMLParser):
    """Tokens of an HTML fragment in the normal form of the module docstring."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.out: list[str] = []
        self.stack: list[str] = []
        self.in_body = True

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in ("html", "head", "body", "title", "meta") or tag in _DROP_TAGS:
            if tag == "head":
                self.in_body = False
            if tag == "body":
                self.in_body = True
            return
        kept = sorted(name for name, _ in attrs if name in _KEEP_ATTRS)
        values = {name: value for name, value in attrs}
        shown = [f'{name}="{values[name]}"' if name != "checked" else name for name in kept]
        self.out.append("<" + " ".join([tag, *shown]) + ">")
        if tag not in _VOID:
            self.stack.append(tag)

    def handle_endtag(self, tag: str) -> None:
        if tag == "head":
            self.in_body = True
        if tag in ("html", "head", "body", "title", "meta") or tag in _DROP_TAGS or tag in _VOID:
            return
        self.out.append(f"</{tag}>")

    def handle_data(self, data: str) -> None:
        if self.in_body:
            self.out.append(data)


def normal_html(text: str) -> str:
    """The normal form of an HTML page or fragment (see the module docstring)."""
    parser = _Normal()
    parser.feed(text)
    parser.close()
    html = "".join(parser.out).replace("\xa0", " ")
    html = re.sub(r"\s+", " ", html)
    html = re.sub(r"\s*(</?(?:p|li|ul|ol|h\d|blockquote|pre|hr|br)[^>]*>)\s*", r"\1", html)
    html = re.sub(
        r"<li((?: checked)?)>((?:<input[^>]*>)?)<p>((?:(?!</?p>|<li|</li>).)*)</p>",
        r"<li\1>\2\3",
        html,
    )
    html = re.sub(r"<pre>\s*<code[^>]*>(.*?)</code>\s*</pre>", r"<pre>\1</pre>", html)
    return html.strip()


_MD = MarkdownIt("commonmark").enable("strikethrough")


def normal_markdown(text: str) -> str:
    """The normal form of Markdown: its CommonMark HTML, normalised."""
    return normal_html(_MD.render(text))


_MARKER = re.compile(r"^[ \t]*(?:[-*]|\d+[.)])[ \t]+(?:\[[ x]\][ \t]+)?", re.MULTILINE)


def normal_text(text: str, ours: bool) -> str:
    """Plain text with whitespace runs collapsed (and collab's list markers removed)."""
    if ours:
        text = _MARKER.sub("", text)
    return re.sub(r"\s+", " ", text).strip()


def expected(name: str, suffix: str) -> str:
    """The library's output for ``name`` in normal form, with the listed differences applied."""
    raw = golden(name, suffix).decode()
    if suffix == "md":
        normal = normal_markdown(raw)
    elif suffix == "html":
        normal = normal_html(raw)
    else:
        normal = normal_text(raw, ours=False)
    for theirs, ours, _why in DIFFERENCES.get((name, suffix), []):
        assert theirs in normal, f"a listed difference no longer occurs: {theirs!r}"
        normal = normal.replace(theirs, ours)
    return normal


def actual(body: bytes, suffix: str) -> str:
    """collab's export ``body`` in the normal form of ``suffix``."""
    text = body.decode()
    if suffix == "md":
        return normal_markdown(text)
    if suffix == "html":
        return normal_html(text)
    return normal_text(text, ours=True)
