"""The README's examples run as written against a real server on an empty database.

Blocks marked ``<!-- example: sh|node|python -->`` are taken from README.md, pointed at the
test server (``127.0.0.1:8000`` becomes its address) and run in a temporary folder; every shell
command must exit 0, then the server is checked for what the example did.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import uuid
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.e2e.nodepeer import NODE_DIR

pytestmark = pytest.mark.e2e

ROOT = Path(__file__).resolve().parents[2]
README = ROOT / "README.md"
EXAMPLE = re.compile(r"<!-- example: (\w+) -->\n```\w*\n(.*?)```", re.DOTALL)


def examples(kind: str, server: Any) -> list[str]:
    found = [code for k, code in EXAMPLE.findall(README.read_text(encoding="utf-8")) if k == kind]
    assert found, f"README.md has no block marked <!-- example: {kind} -->"
    return [code.replace("127.0.0.1:8000", f"127.0.0.1:{server.port}") for code in found]


def exported(server: Any, name: str) -> httpx.Response:
    return httpx.get(
        f"{server.http_url}/api/documents/{name}/export", params={"format": "text"}, timeout=5
    )


def test_the_curl_session_runs_from_an_empty_server(server: Any, tmp_path: Path) -> None:
    (block,) = examples("sh", server)
    # One command a line; a trailing backslash continues it on the next, as in a shell.
    joined = block.replace("\\\n", " ")
    commands = [line for line in joined.splitlines() if line.strip() and not line.startswith("#")]
    assert len(commands) >= 10
    for command in commands:
        result = subprocess.run(
            ["bash", "-o", "pipefail", "-c", command],
            cwd=tmp_path,
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert result.returncode == 0, f"{command}\nexit {result.returncode}: {result.stderr}"
    assert (tmp_path / "notes.txt").read_text() == "hello"
    assert (tmp_path / "notes.yjs").read_bytes() == (tmp_path / "hello.yjs").read_bytes()
    assert (tmp_path / "diff.yjs").stat().st_size <= 2  # nothing the client lacks
    assert exported(server, "team/copy").text == "hello"
    assert exported(server, "team/notes").status_code == 404  # the last DELETE


def test_the_node_example_edits_and_exits(server: Any, node_modules: None) -> None:
    (block,) = examples("node", server)
    # Run where the pinned yjs, y-websocket and ws are installed (tests/e2e/node).
    script = NODE_DIR / f"readme-{uuid.uuid4().hex}.mjs"
    script.write_text(block, encoding="utf-8")
    try:
        result = subprocess.run(
            ["node", script.name], cwd=NODE_DIR, capture_output=True, text=True, timeout=60
        )
    finally:
        script.unlink()
    assert result.returncode == 0, result.stderr  # and it exited by itself
    assert exported(server, "team/notes").text == "hello from Node "


def test_the_python_example_edits_and_prints(server: Any, tmp_path: Path) -> None:
    (block,) = examples("python", server)
    result = subprocess.run(
        [sys.executable, "-c", block],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout == "hello from Python\n"
    assert exported(server, "team/notes").text == "hello from Python"
