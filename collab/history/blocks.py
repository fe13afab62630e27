"""Text blocks of a version, and which were added or removed between two versions.

A document's blocks are the lines of its plain-text export (``export?format=text``: the
editor's rich-text fragment, one line per paragraph, heading or list item, or the Y.Text
``text``, as :mod:`collab.export.select` picks the root); a document with no root that reads
as text has the lines of its JSON export instead. Two versions are
compared block by block (:mod:`difflib`), which is what the editor's preview highlights.
"""

from __future__ import annotations

import difflib
from typing import Literal, TypedDict

from collab.export import NothingToExport, RootError, export, root_types

__all__ = ["Change", "diff_blocks", "text_blocks"]


class Change(TypedDict):
    """One block of a comparison: ``op`` is ``equal`` (in both), ``removed`` (only in the
    first version) or ``added`` (only in the second); ``text`` is the block."""

    op: Literal["equal", "removed", "added"]
    text: str


def text_blocks(update: bytes) -> list[str]:
    """The blocks of the state ``update`` (see the module docstring), blank lines left out.

    Raises:
        collab.export.ExportError: the update cannot be read.
    """
    types = {name: kind for name, kind in root_types(update).items() if kind is not None}
    if not types:
        return []
    try:
        rendered = export(update, "text")
    except NothingToExport:  # a blank editor, say
        return []
    except RootError:  # no root reads as text (several roots, or maps and arrays only)
        rendered = export(update, "json")
    return [line for line in rendered.decode("utf-8").splitlines() if line.strip()]


def diff_blocks(old: list[str], new: list[str]) -> list[Change]:
    """Every block of ``old`` and ``new`` in reading order, each marked as in both, removed
    (only in ``old``) or added (only in ``new``); where a run was replaced, its removed
    blocks come before the added ones."""
    changes: list[Change] = []
    matcher = difflib.SequenceMatcher(None, old, new, autojunk=False)
    for op, i1, i2, j1, j2 in matcher.get_opcodes():
        if op == "equal":
            changes.extend({"op": "equal", "text": text} for text in old[i1:i2])
            continue
        changes.extend({"op": "removed", "text": text} for text in old[i1:i2])
        changes.extend({"op": "added", "text": text} for text in new[j1:j2])
    return changes
