"""The start-up line says how access is decided in words (auth off, tokens and their algorithm,
the embedding app's hook by name), never an internal class name."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import pytest

from collab import Collab, Settings

SECRET = "startup-log-secret-0123456789-abcdefghijklmn"


def app_authorize(request_or_websocket: Any, name: str) -> str | None:
    """An embedding app's access rule."""
    return "write"


@pytest.mark.parametrize(
    ("settings", "authorize", "expected"),
    [
        ({}, None, "auth off: anyone may read, write, rename and delete every document"),
        ({"auth_secret": SECRET}, None, "auth by signed tokens (HS256)"),
        (
            {"auth_secret": SECRET, "auth_algorithm": "HS512"},
            None,
            "auth by signed tokens (HS512)",
        ),
        (
            {},
            app_authorize,
            "auth by the app's authorize hook tests.test_startup_log.app_authorize",
        ),
    ],
)
async def test_the_startup_line_names_how_access_is_decided(
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
    settings: dict[str, Any],
    authorize: Any,
    expected: str,
) -> None:
    collab = Collab(Settings(db=str(tmp_path / "c.db"), **settings), authorize=authorize)
    with caplog.at_level(logging.INFO, logger="collab"):
        async with collab.lifespan():
            pass
    lines = [r.getMessage() for r in caplog.records if r.getMessage().startswith("serving ")]
    assert len(lines) == 1 and lines[0].endswith(expected), lines
    assert "Access" not in lines[0]  # no class name (OpenAccess, TokenAccess, HookAccess)
