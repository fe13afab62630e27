"""The close reasons of a rename (:meth:`collab.hub.Hub.rename`), what the web editor reads.

The peers of the renamed document are closed with
:attr:`~collab.errors.CloseCode.DOCUMENT_RENAMED` (4409) and the reason
``renamed to <new name>`` (the name as it is, UTF-8), which an editor follows to the new name.
A close reason holds at most 123 bytes (RFC 6455 section 5.5): a new name too long for it
gives :data:`RENAMED_UNNAMED` instead, and the editor sends the person to the document list.
The peers of a room already open under the new name (holding nothing: a document of that name
would have refused the rename) are closed with 1001 and :data:`RENAMED_HERE`: they reconnect
and load the document moved in.
"""

from __future__ import annotations

__all__ = [
    "MAX_REASON_BYTES",
    "RENAMED_HERE",
    "RENAMED_PREFIX",
    "RENAMED_UNNAMED",
    "renamed_reason",
]

MAX_REASON_BYTES = 123
"""The longest close reason, in UTF-8 bytes (RFC 6455 section 5.5: 125 minus the code)."""

RENAMED_PREFIX = "renamed to "
RENAMED_UNNAMED = "renamed (the new name is too long for a close reason: see the document list)"
RENAMED_HERE = "a document was renamed to this name: reconnect to load it"


def renamed_reason(new: str) -> str:
    """The close reason telling the peers of a renamed document its new name ``new``."""
    reason = RENAMED_PREFIX + new
    if len(reason.encode("utf-8", "surrogatepass")) > MAX_REASON_BYTES:
        return RENAMED_UNNAMED
    return reason
