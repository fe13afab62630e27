"""Document name rules, shared by the WebSocket endpoint and the HTTP API."""

from __future__ import annotations

import pytest

from collab.names import InvalidName, parse_name, validate_name


@pytest.mark.parametrize(
    ("raw", "name"),
    [
        ("notes", "notes"),
        ("team/notes", "team/notes"),
        ("team%2Fnotes", "team/notes"),
        ("a%2520b", "a%20b"),  # decoded exactly once
        ("caf%C3%A9", "café"),
        ("plan%3F%20%232/a%20b", "plan? #2/a b"),  # encodeURIComponent of each segment
        ("日本語/メモ", "日本語/メモ"),
        ("x" * 255, "x" * 255),
    ],
)
def test_valid_names(raw: str, name: str) -> None:
    assert parse_name(raw) == name


@pytest.mark.parametrize(
    ("raw", "why"),
    [
        ("", "empty"),
        ("a//b", "segment"),
        ("/a", "segment"),
        ("a/", "segment"),
        (".", "segment"),
        ("a/..", "segment"),
        ("./x", "segment"),
        ("%2E%2E", "segment"),
        ("a%00b", "control"),
        ("a%0Ab", "control"),
        ("a\x7fb", "control"),
        ("x" * 256, "255"),
        ("é" * 128, "255"),
        ("%FF", "UTF-8"),
    ],
)
def test_invalid_names(raw: str, why: str) -> None:
    with pytest.raises(InvalidName, match=why):
        parse_name(raw)


def test_names_are_normalised_to_nfc() -> None:
    """Issue 19 (also seen): NFC and NFD "café" were two documents."""
    nfc, nfd = "caf\u00e9", "cafe\u0301"
    assert parse_name("caf%C3%A9") == nfc
    assert parse_name("cafe%CC%81") == nfc
    assert parse_name(nfd) == nfc
    assert validate_name(nfd) == nfc
