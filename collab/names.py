"""Document names: the one function that decides which names are valid.

Both the WebSocket endpoint (``/sync/{name}``) and the HTTP API (``/api/documents/{name}``)
take the name from the raw request path and pass it here, so both decode and check it the
same way. Names are Unicode-normalised to NFC (composed): "café" typed on a Mac (NFD, with
a combining accent) and on Windows (NFC) name one document.
"""

from __future__ import annotations

import unicodedata
from urllib.parse import unquote

__all__ = ["MAX_NAME_BYTES", "InvalidName", "parse_name", "validate_name"]

MAX_NAME_BYTES = 255


class InvalidName(ValueError):
    """A document name that breaks the naming rules; the message says which."""


def parse_name(raw: str) -> str:
    """Percent-decode a raw URL path segment exactly once and validate the result.

    Args:
        raw: the name as it appears in the request path, still percent-encoded
            (e.g. ``team/notes`` or ``team%2Fnotes%20v2``).

    Returns:
        The decoded, valid document name, in Unicode NFC.

    Raises:
        InvalidName: when the decoded name is invalid (see :func:`validate_name`) or the
            percent-encoding does not decode to UTF-8.
    """
    try:
        name = unquote(raw, encoding="utf-8", errors="strict")
    except UnicodeDecodeError as exc:
        raise InvalidName("document name is not valid UTF-8 once percent-decoded") from exc
    return validate_name(name)


def validate_name(name: str) -> str:
    """Check a decoded document name and return it in Unicode NFC.

    Rules: not empty; at most 255 bytes in UTF-8 (once normalised); no control characters
    (Unicode category ``Cc``); ``/`` separates segments, and no segment may be empty, ``.``
    or ``..``.

    Raises:
        InvalidName: naming the broken rule.
    """
    if not name:
        raise InvalidName("document name is empty")
    if not name.isascii() and not any(unicodedata.category(ch) == "Cs" for ch in name):
        name = unicodedata.normalize("NFC", name)
    size = len(name.encode("utf-8", errors="surrogatepass"))
    if size > MAX_NAME_BYTES:
        raise InvalidName(f"document name is {size} bytes, over the {MAX_NAME_BYTES} limit")
    if any(unicodedata.category(ch) in ("Cc", "Cs") for ch in name):
        raise InvalidName("document name contains a control character")
    for segment in name.split("/"):
        if segment in ("", ".", ".."):
            raise InvalidName(f"document name has an empty, '.' or '..' segment: {name!r}")
    return name
