"""Document names: the one function that decides which names are valid.

Both the WebSocket endpoint (``/sync/{name}``) and the HTTP API (``/api/documents/{name}``)
take the name from the raw request path and pass it here, so both decode and check it the
same way. Names are Unicode-normalised to NFC (composed): "café" typed on a Mac (NFD, with
a combining accent) and on Windows (NFC) name one document.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Mapping
from typing import Any
from urllib.parse import unquote

from collab.errors import CloseCode, CollabError

__all__ = ["MAX_NAME_BYTES", "InvalidName", "parse_name", "raw_route_path", "validate_name"]

MAX_NAME_BYTES = 255


class InvalidName(CollabError, ValueError):
    """A document name that breaks the naming rules; the message says which."""

    close_code = CloseCode.BAD_DOCUMENT_NAME
    http_status = 400
    code = "bad_name"


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


def raw_route_path(scope: Mapping[str, Any]) -> str:
    """The request's raw (still percent-encoded) path below the app's mount point.

    Names are cut from the raw path (so that ``%2F`` stays inside a name); when collab is
    mounted (Starlette's ``Mount``, or a server's ``--root-path``), ``root_path`` names the
    mount point and the raw path may start with it: its segments are dropped, however long
    it is (never a fixed number of characters).

    Raises:
        InvalidName: when the raw path is not UTF-8.
    """
    raw: bytes = scope.get("raw_path") or scope["path"].encode()
    try:
        path = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise InvalidName("document name is not valid UTF-8") from exc
    root = str(scope.get("root_path") or "").strip("/")
    if root:
        mount = root.split("/")
        parts = path.split("/")  # parts[0] is the empty text before the leading slash
        if [unquote(part) for part in parts[1 : 1 + len(mount)]] == mount:
            path = "/" + "/".join(parts[1 + len(mount) :])
    return path
