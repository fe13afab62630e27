"""pycrdt's merges of updates, read back the way Yjs reads them.

What waits in a document (:class:`collab.waiting.Waiting`) is merged into its state with
pycrdt's ``merge_updates``, whose result is read back (:func:`collab.structs.parse`): pycrdt
0.14 reads some updates differently from Yjs, and their merge failed or did not read back
(issue 19's fuzz beside editors).
"""

from __future__ import annotations

from pycrdt import merge_updates

from collab import structs
from collab.structs import Malformed, Parsed
from collab.updates import InvalidUpdate, guarded

__all__ = ["merged", "merged_readable", "reads_alike"]


def merged(updates: list[bytes]) -> bytes:
    """``pycrdt.merge_updates`` of ``updates``.

    Raises:
        InvalidUpdate: when pycrdt cannot merge them.
    """
    return guarded("cannot merge update", lambda: merge_updates(*updates))


def merged_readable(updates: list[bytes]) -> bytes | None:
    """``pycrdt.merge_updates`` of ``updates`` when it reads back (:func:`structs.parse`),
    else ``None``."""
    try:
        result = merged(updates)
        structs.parse(result)
    except (InvalidUpdate, Malformed):
        return None
    return result


def reads_alike(update: bytes) -> bool:
    """Whether pycrdt (yrs) reads ``update`` as :func:`structs.parse` (Yjs) does: its merge of
    ``update`` alone reads back with the same structs per client (yrs leaves zero-length
    items out). What waits is merged with the document for every snapshot and state: an
    update yrs reads differently gave states that failed or did not read back."""
    result = merged_readable([update])
    if result is None:
        return False
    return _shape(structs.parse(update)) == _shape(structs.parse(result))


def _shape(parsed: Parsed) -> list[tuple[int, list[tuple[int, int, int]]]]:
    return sorted(
        (run.client, [(s[0], s[1], s[2]) for s in run.structs if s[1] and s[2] != structs.SKIP])
        for run in parsed.runs
    )
