"""The named mappings from each editor's node and mark names to the tree the renderers draw.

The renderers (:mod:`collab.export.markdown`, :mod:`collab.export.html`) draw one tree: the
ProseMirror-JSON shape of :data:`collab.export.roots.Node` with these **canonical** names
(Tiptap's): nodes ``paragraph``, ``heading`` (``level``), ``blockquote``, ``codeBlock``
(``language``), ``bulletList``, ``orderedList`` (``start``), ``listItem``, ``taskList``,
``taskItem`` (``checked``), ``horizontalRule``, ``hardBreak``, ``image`` (``src``, ``alt``,
``title``), ``text``; marks ``bold``, ``italic``, ``strike``, ``underline``, ``code``, ``link``
(``href``, ``title``), ``subscript``, ``superscript``, ``highlight``. A node the layout does not
know becomes ``{"type": "unknown", "attrs": {"name": ...}}``, which renders its text content.

Each layout is a :class:`Schema`: its node names (and attribute renames) and mark names.
Layouts whose tree has another shape (Lexical, BlockNote, Quill) are read into this tree by
their own module, then use the mapping for the names they share.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Final

from collab.export.roots import Node

__all__ = [
    "BLOCKNOTE_MARKS",
    "CANONICAL_MARKS",
    "CANONICAL_NODES",
    "PROSEMIRROR",
    "STYLE_MARKS",
    "TIPTAP",
    "Schema",
    "Unknown",
    "sort_marks",
]

CANONICAL_NODES: Final = frozenset(
    {
        "paragraph",
        "heading",
        "blockquote",
        "codeBlock",
        "bulletList",
        "orderedList",
        "listItem",
        "taskList",
        "taskItem",
        "horizontalRule",
        "hardBreak",
        "image",
        "text",
    }
)
CANONICAL_MARKS: Final = frozenset(
    {"bold", "italic", "strike", "underline", "code", "link"}
    | {"subscript", "superscript", "highlight"}
)
STYLE_MARKS: Final = frozenset(
    {"textStyle", "textColor", "backgroundColor", "color", "fontFamily", "comment", "ychange"}
)
"""Marks that only style text (colours, fonts) or annotate it: known, and dropped on purpose."""

_MARK_ORDER: Final = {"link": 0, "bold": 1, "italic": 2, "strike": 3, "underline": 4, "code": 9}


def sort_marks(marks: list[Node]) -> list[Node]:
    """Marks in the order the renderers open them: link outermost, code innermost."""
    return sorted(marks, key=lambda m: (_MARK_ORDER.get(m["type"], 5), m["type"], repr(m)))


@dataclass
class Unknown:
    """The node types, and marks, a layout's mapping did not know, by name (for the warning)."""

    nodes: set[str] = field(default_factory=set)
    marks: set[str] = field(default_factory=set)

    def warning(self) -> str | None:
        """One line naming them (a name that is not printable as it is, quoted and escaped),
        or ``None`` when every name was known."""
        parts = []
        if self.nodes:
            parts.append(f"unknown node types rendered as their text: {_names(self.nodes)}")
        if self.marks:
            parts.append(f"unknown marks left out: {_names(self.marks)}")
        return "; ".join(parts) or None


def _names(names: set[str]) -> str:
    return ", ".join(
        n if n.isprintable() and n.strip() == n and n else repr(n) for n in sorted(names)
    )


@dataclass(frozen=True)
class Schema:
    """A layout's names: ``nodes`` maps its node type to (canonical type, {its attr: ours}),
    ``marks`` its mark type to the canonical mark."""

    name: str
    nodes: dict[str, tuple[str, dict[str, str]]]
    marks: dict[str, str]

    def mark(self, mark: Node, unknown: Unknown) -> Node | None:
        """The canonical mark for ``mark``, or ``None`` (a style mark, or one noted unknown)."""
        kind = mark["type"]
        if kind in self.marks:
            return {**mark, "type": self.marks[kind]}
        if kind not in STYLE_MARKS:
            unknown.marks.add(kind)
        return None

    def node(self, node: Node, unknown: Unknown, depth: int = 0) -> Node:
        """``node`` (ProseMirror JSON in this layout's names) renamed to the canonical tree."""
        kind = node.get("type", "")
        if kind == "text":
            marks = [m for m in (self.mark(m, unknown) for m in node.get("marks", [])) if m]
            out: Node = {"type": "text", "text": node["text"]}
            if marks:
                out["marks"] = sort_marks(marks)
            return out
        content = [self.node(child, unknown, depth + 1) for child in node.get("content", [])]
        attrs: dict[str, Any] = dict(node.get("attrs", {}))
        if kind in self.nodes:
            canonical, renames = self.nodes[kind]
            attrs = {renames.get(key, key): value for key, value in attrs.items()}
            renamed: Node = {"type": canonical, "attrs": attrs}
        else:
            unknown.nodes.add(kind)
            renamed = {"type": "unknown", "attrs": {"name": kind}}
        if content:
            renamed["content"] = content
        return renamed


def _same(*names: str) -> dict[str, tuple[str, dict[str, str]]]:
    return {name: (name, {}) for name in names}


TIPTAP: Final = Schema(
    "tiptap",
    nodes={
        **_same(*(CANONICAL_NODES - {"text"})),
    },
    marks={name: name for name in CANONICAL_MARKS},
)
"""Tiptap's StarterKit (and task list) names, as ``@tiptap/y-tiptap``/y-prosemirror store them."""

PROSEMIRROR: Final = Schema(
    "prosemirror",
    nodes={
        "paragraph": ("paragraph", {}),
        "heading": ("heading", {}),
        "blockquote": ("blockquote", {}),
        "code_block": ("codeBlock", {"params": "language"}),
        "bullet_list": ("bulletList", {}),
        "ordered_list": ("orderedList", {"order": "start"}),
        "list_item": ("listItem", {}),
        "horizontal_rule": ("horizontalRule", {}),
        "hard_break": ("hardBreak", {}),
        "image": ("image", {}),
    },
    marks={"strong": "bold", "em": "italic", "code": "code", "link": "link"},
)
"""``prosemirror-schema-basic`` with ``prosemirror-schema-list``'s names, through y-prosemirror."""

BLOCKNOTE_MARKS: Final = {
    "bold": "bold",
    "italic": "italic",
    "underline": "underline",
    "strike": "strike",
    "code": "code",
    "link": "link",
}
"""BlockNote's styles and its link mark (``textColor``/``backgroundColor`` are style marks)."""
