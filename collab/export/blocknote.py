"""BlockNote's layout, read into the canonical tree of :mod:`collab.export.schemas`.

BlockNote (``@blocknote/core``, a Tiptap editor bound by y-prosemirror) stores its document in a
Y.XmlFragment (``document-store`` in its examples) as one ``blockGroup`` of ``blockContainer``
elements (attribute ``id``). A container holds one block content element, named after the block
type, and optionally a ``blockGroup`` of child blocks (nesting). Block props are the element's
attributes (``level``, ``checked``, ``start``, ``language``, ``textColor``...); inline styles
are marks (``bold``, ``italic``, ``underline``, ``strike``, ``code``, ``textColor``,
``backgroundColor``) and links a ``link`` mark with ``href``. Checked against bytes written by
``ServerBlockNoteEditor.blocksToYDoc`` (``tests/golden/bindings/make_goldens.mjs``).

List items are separate blocks: consecutive ``bulletListItem`` / ``numberedListItem`` /
``checkListItem`` blocks form one list, and a list item's child blocks nest inside its item.
Child blocks of any other block follow it (BlockNote shows them indented).
"""

from __future__ import annotations

from typing import Final

from collab.export.roots import Node
from collab.export.schemas import BLOCKNOTE_MARKS, Schema, Unknown

__all__ = ["BLOCKNOTE", "read_blocknote"]

BLOCKNOTE: Final = Schema(
    "blocknote",
    nodes={
        "paragraph": ("paragraph", {}),
        "heading": ("heading", {}),
        "quote": ("blockquote", {}),
        "codeBlock": ("codeBlock", {}),
        "bulletListItem": ("listItem", {}),
        "numberedListItem": ("listItem", {}),
        "checkListItem": ("taskItem", {}),
        "toggleListItem": ("listItem", {}),
        "image": ("image", {"url": "src", "caption": "alt"}),
        "divider": ("horizontalRule", {}),
        "hardBreak": ("hardBreak", {}),
    },
    marks=BLOCKNOTE_MARKS,
)
"""BlockNote's default block types (toggle items read as bullets) and styles."""

_LISTS: Final = {
    "bulletListItem": "bulletList",
    "toggleListItem": "bulletList",
    "numberedListItem": "orderedList",
    "checkListItem": "taskList",
}


def _inline(content: list[Node], unknown: Unknown) -> list[Node]:
    return [BLOCKNOTE.node(child, unknown) for child in content]


def _block(block: Node, unknown: Unknown) -> Node:
    """One block content element as a canonical block (list items become their item)."""
    kind = block.get("type", "")
    attrs = block.get("attrs", {})
    inline = _inline(block.get("content", []), unknown)
    if kind == "quote":
        return {"type": "blockquote", "content": [{"type": "paragraph", "content": inline}]}
    if kind in _LISTS:
        item: Node = {"type": "taskItem" if kind == "checkListItem" else "listItem"}
        if kind == "checkListItem":
            item["attrs"] = {"checked": attrs.get("checked") in (True, "true")}
        item["content"] = [{"type": "paragraph", "content": inline}]
        return item
    if kind == "image":
        return BLOCKNOTE.node({**block, "content": []}, unknown)
    return BLOCKNOTE.node({**block, "content": block.get("content", [])}, unknown)


def _group(containers: list[Node], unknown: Unknown) -> list[Node]:
    """The blocks of one ``blockGroup``, list items gathered into lists."""
    out: list[Node] = []
    for container in containers:
        if container.get("type") != "blockContainer":
            out.append(BLOCKNOTE.node(container, unknown))
            continue
        children = container.get("content", [])
        content = [c for c in children if c.get("type") != "blockGroup"]
        nested = [
            block
            for group in children
            if group.get("type") == "blockGroup"
            for block in _group(group.get("content", []), unknown)
        ]
        if not content:
            out.extend(nested)
            continue
        kind = content[0].get("type", "")
        block = _block(content[0], unknown)
        if kind in _LISTS:
            block["content"].extend(nested)
            list_type = _LISTS[kind]
            last = out[-1] if out else None
            if last is not None and last["type"] == list_type and last.get("_blocknote"):
                last["content"].append(block)
            else:
                fresh: Node = {"type": list_type, "_blocknote": True, "content": [block]}
                start = content[0].get("attrs", {}).get("start")
                if list_type == "orderedList" and start is not None:
                    fresh["attrs"] = {"start": start}
                out.append(fresh)
        else:
            out.append(block)
            out.extend(nested)
    for block in out:
        block.pop("_blocknote", None)
    return out


def read_blocknote(content: list[Node], unknown: Unknown) -> list[Node]:
    """The canonical blocks of a BlockNote fragment, given its raw nodes (``blockGroup``...)."""
    out: list[Node] = []
    for node in content:
        if node.get("type") == "blockGroup":
            out.extend(_group(node.get("content", []), unknown))
        else:
            out.extend(_group([node], unknown))
    return out
