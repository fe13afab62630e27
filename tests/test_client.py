"""collab.client's pure part: the WebSocket URL of a document."""

from __future__ import annotations

import pytest

from collab.client import sync_url


@pytest.mark.parametrize(
    ("server", "name", "token", "url"),
    [
        ("http://127.0.0.1:8000", "notes", None, "ws://127.0.0.1:8000/sync/notes"),
        ("https://example.org/", "team/notes", None, "wss://example.org/sync/team/notes"),
        ("ws://h:1/sync", "a b/c?d", None, "ws://h:1/sync/a%20b/c%3Fd"),
        ("wss://h/collab", "x", None, "wss://h/collab/sync/x"),
        ("http://h", "a%2Fb", "t.k", "ws://h/sync/a%252Fb?token=t.k"),
    ],
)
def test_sync_url(server: str, name: str, token: str | None, url: str) -> None:
    assert sync_url(server, name, token) == url


def test_sync_url_refuses_other_schemes() -> None:
    with pytest.raises(ValueError, match="http://, https://, ws:// or wss://"):
        sync_url("ftp://h", "x")
