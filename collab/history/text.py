"""Making one text equal to another: characters diffed, formatting changed in place.

A Y.Text (or Y.XmlText) is a sequence of items, characters and embeds, each with formatting
attributes. The two texts are compared as strings by Google's diff-match-patch (lines first,
then the characters of changed lines), each distinct embed standing for one private-use code
point. Runs both texts have are kept, and given the target's formatting with ``format`` where
it differs; the rest is deleted and inserted with explicit attributes (without them Yjs would
give inserted text the formatting around it). pycrdt counts text offsets in UTF-8 bytes (an
embed counts one).
"""

from __future__ import annotations

import json
from typing import Any, Final

from diff_match_patch import diff_match_patch  # type: ignore[import-untyped]
from pycrdt import Text, XmlText

from collab.history.content import SHARED, RestoreError, attributes, tree

__all__ = ["DIFF_SECONDS", "patch_text"]

DIFF_SECONDS: Final = 0.5
"""Time budget of one text diff (diff-match-patch compares lines first, then the characters
of changed lines); past it the rest of the diff is coarser (still exact): more is deleted and
inserted again than needed. A diff of two unrelated texts of 100,000 characters is the case
it bounds (Myers' algorithm costs the product of the length and the edit distance)."""

_EMBED_BASE: Final = 0xF0000
"""Embeds are diffed as code points from Supplementary Private Use Area-A on, skipping any
that the texts themselves hold."""


def _key(value: Any) -> str:
    return json.dumps(tree(value), sort_keys=True, default=repr)


class _Flat:
    """A text as one string for diff-match-patch: its characters, each distinct embed as a
    private-use code point no text of the pair holds (``codes``), with the formatting
    attributes of every item (``marks``, shared by the items of one delta run) and the embeds
    by index."""

    def __init__(self, runs: list[tuple[Any, dict[str, Any]]], codes: dict[str, str]) -> None:
        parts: list[str] = []
        self.marks: list[dict[str, Any]] = []
        self.embeds: dict[int, Any] = {}
        for value, marks in runs:
            if isinstance(value, str):
                parts.append(value)
                self.marks.extend([marks] * len(value))
            else:
                self.embeds[len(self.marks)] = value
                parts.append(codes[_key(value)])
                self.marks.append(marks)
        self.string = "".join(parts)
        self.codes = set(codes.values())

    def units(self, start: int, stop: int) -> int:
        """The length of items ``start:stop`` in pycrdt's text offsets: UTF-8 bytes of the
        characters, 1 per embed (whose code point takes 4 bytes)."""
        chunk = self.string[start:stop]
        size = len(chunk.encode("utf-8", "surrogatepass"))
        if self.embeds:
            size -= 3 * sum(chunk.count(code) for code in self.codes)
        return size


def _runs(text: Text | XmlText) -> list[tuple[Any, dict[str, Any]]]:
    return [(value, attributes(attrs)) for value, attrs in text.diff() if value != ""]


def _embed_codes(*texts: list[tuple[Any, dict[str, Any]]]) -> dict[str, str]:
    """A private-use code point for each distinct embed of ``texts``, none that they hold."""
    embeds = [value for runs in texts for value, _ in runs if not isinstance(value, str)]
    if not embeds:
        return {}
    used = {ch for runs in texts for value, _ in runs if isinstance(value, str) for ch in value}
    codes: dict[str, str] = {}
    point = _EMBED_BASE
    for value in embeds:
        key = _key(value)
        if key not in codes:
            while chr(point) in used:
                point += 1
            codes[key] = chr(point)
            point += 1
    return codes


def patch_text(current: Text | XmlText, target: Text | XmlText) -> None:
    """Change the integrated text ``current`` (inside a transaction) until its items and their
    formatting equal ``target``'s (see the module docstring).

    Raises:
        RestoreError: ``target`` embeds a shared type.
    """
    old_runs, new_runs = _runs(current), _runs(target)
    codes = _embed_codes(old_runs, new_runs)
    old, new = _Flat(old_runs, codes), _Flat(new_runs, codes)
    differ = diff_match_patch()
    differ.Diff_Timeout = DIFF_SECONDS
    diffs = differ.diff_main(old.string, new.string, True)
    pos = i = j = 0  # pos: pycrdt offset in `current`; i, j: items of old and new
    for op, chunk in diffs:
        count = len(chunk)
        if op == 0:
            if old.marks[i : i + count] == new.marks[j : j + count]:
                pos += old.units(i, i + count)
            else:
                pos = _reformat(current, pos, old, i, new, j, count)
            i += count
            j += count
        elif op == -1:
            units = old.units(i, i + count)
            del current[pos : pos + units]
            i += count
        else:
            pos = _insert(current, pos, new, j, count)
            j += count


def _reformat(
    text: Text | XmlText, pos: int, old: _Flat, i: int, new: _Flat, j: int, count: int
) -> int:
    """Give the ``count`` equal items at ``old[i:]`` / ``new[j:]`` the new formatting
    (``format`` runs of the same change); returns the offset after them."""
    start, change = pos, None
    for k in range(count):
        before, after = old.marks[i + k], new.marks[j + k]
        wanted = None
        if before != after:
            wanted = {key: after.get(key) for key in sorted(set(before) | set(after))}
            wanted = {key: v for key, v in wanted.items() if before.get(key) != v}
        if wanted != change:
            if change:
                text.format(start, pos, change)
            start, change = pos, wanted
        pos += old.units(i + k, i + k + 1)
    if change:
        text.format(start, pos, change)
    return pos


def _insert(text: Text | XmlText, pos: int, new: _Flat, j: int, count: int) -> int:
    """Insert the items ``new[j:j + count]`` with their formatting at ``pos`` (explicit
    attributes, also when empty: without them Yjs would give the text the formatting around
    it); returns the offset after them."""
    k, stop = j, j + count
    while k < stop:
        marks = new.marks[k]
        if k in new.embeds:
            value = new.embeds[k]
            if isinstance(value, SHARED):
                raise RestoreError("cannot restore a shared type embedded in a text")
            text.insert_embed(pos, value, dict(marks))
            pos += 1
            k += 1
            continue
        end = k + 1
        while end < stop and new.marks[end] is marks and end not in new.embeds:
            end += 1
        chunk = new.string[k:end]
        text.insert(pos, chunk, dict(marks))
        pos += len(chunk.encode("utf-8", "surrogatepass"))
        k = end
    return pos
