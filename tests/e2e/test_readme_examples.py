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
import types
import uuid
from pathlib import Path
from typing import Any

import httpx
import pytest

from collab.auth import Role, mint_token
from tests.e2e.conftest import free_port
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


SECRET = "readme-examples-secret-" + "x" * 32


def run_commands(block: str, cwd: Path, env: dict[str, str] | None = None) -> None:
    """Run a shell block one command a line (a trailing backslash continues it on the next, as
    in a shell), each of which must exit 0."""
    joined = block.replace("\\\n", " ")
    commands = [line for line in joined.splitlines() if line.strip() and not line.startswith("#")]
    for command in commands:
        result = subprocess.run(
            ["bash", "-o", "pipefail", "-c", command],
            cwd=cwd,
            capture_output=True,
            text=True,
            timeout=60,
            env={**os.environ, **(env or {})},
        )
        assert result.returncode == 0, f"{command}\nexit {result.returncode}: {result.stderr}"


def run_script(block: str, cwd: Path, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    """Run a shell block as one script (its variables carry from line to line), stopping at
    the first command that fails."""
    return subprocess.run(
        ["bash", "-e", "-o", "pipefail", "-c", block],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, **env},
    )


def test_the_curl_session_runs_from_an_empty_server(server: Any, tmp_path: Path) -> None:
    (block,) = examples("sh", server)
    assert len([line for line in block.splitlines() if line.startswith("curl")]) >= 10
    run_commands(block, tmp_path)
    assert (tmp_path / "notes.txt").read_text() == "hello\n"  # the paragraph the editor shows
    assert (tmp_path / "notes.yjs").read_bytes() == (tmp_path / "hello.yjs").read_bytes()
    assert (tmp_path / "diff.yjs").stat().st_size <= 2  # nothing the client lacks
    assert exported(server, "team/copy").text == "hello\n"
    assert exported(server, "team/copy").headers["x-collab-root"] == "default"
    assert exported(server, "team/notes").status_code == 404  # the last DELETE


def test_the_rename_and_versions_blocks_follow_the_curl_session(
    server: Any, tmp_path: Path
) -> None:
    """Run in README order on one server, each block finds the documents the one before
    left: nothing fails with 404 (trial 2, finding 6)."""
    (session,) = examples("sh", server)
    (rename,) = examples("rename", server)
    (versions,) = examples("versions", server)
    run_commands(session, tmp_path)
    (tmp_path / ".venv").symlink_to(Path(sys.executable).parents[1])  # `.venv/bin/collab`
    env = {"COLLAB_SERVER": server.http_url}
    results = [run_script(block, tmp_path, env) for block in (rename, versions)]
    for block, result in zip((rename, versions), results, strict=True):
        assert result.returncode == 0, f"{block}\nexit {result.returncode}: {result.stderr}"
    assert "renamed 'team/archive/copy' to 'team/copy'" in results[0].stdout
    listing = httpx.get(f"{server.http_url}/api/documents/team/copy/versions", timeout=5).json()
    assert [v["label"] for v in listing["versions"]][-1] == "before the review"
    assert exported(server, "team/copy").text == "hello\n"


def node_example(
    server: Any, env: dict[str, str] | None = None, name: str = "team/notes"
) -> subprocess.CompletedProcess[str]:
    (block,) = examples("node", server)
    assert block.count("const name = 'team/notes'") == 1
    block = block.replace("const name = 'team/notes'", f"const name = {name!r}")
    # Run where the pinned yjs, y-websocket and ws are installed (tests/e2e/node).
    script = NODE_DIR / f"readme-{uuid.uuid4().hex}.mjs"
    script.write_text(block, encoding="utf-8")
    try:
        return subprocess.run(
            ["node", script.name],
            cwd=NODE_DIR,
            capture_output=True,
            text=True,
            timeout=60,
            env={**os.environ, **(env or {})},
        )
    finally:
        script.unlink()


def test_the_node_example_edits_and_exits(server: Any, node_modules: None) -> None:
    result = node_example(server)
    assert result.returncode == 0, result.stderr  # and it exited by itself
    assert result.stdout == "<paragraph>hello from Node</paragraph>\n"
    # the paragraph is in the editor's fragment: what the web editor and the exports show
    assert exported(server, "team/notes").text == "hello from Node\n"
    assert exported(server, "team/notes").headers["x-collab-root"] == "default"


def test_the_node_example_says_why_it_is_refused_and_takes_a_token(
    server_factory: Any, node_modules: None
) -> None:
    server = server_factory(env={"COLLAB_AUTH_SECRET": SECRET})
    refused = node_example(server)
    assert refused.returncode == 1 and refused.stdout == ""
    assert refused.stderr.startswith("refused (4401): "), refused.stderr
    # a read token: connected and synced, then the write is refused with 4403, which the
    # example waits for instead of exiting 0 before it arrives (a newcomer's trial)
    reader = mint_token(SECRET, "team/notes", Role.READ, 600)
    read_only = node_example(server, {"COLLAB_TOKEN": reader})
    assert read_only.returncode == 1 and read_only.stdout == "", read_only.stdout
    # (after y-websocket's own warning of the auth message that precedes the close)
    assert read_only.stderr.splitlines()[-1].startswith("refused (4403): "), read_only.stderr
    record = httpx.get(
        f"{server.http_url}/api/documents/team/notes",
        headers={"Authorization": f"Bearer {reader}"},
        timeout=5,
    )
    assert record.status_code == 404  # nothing was written
    token = mint_token(SECRET, "team/notes", Role.WRITE, 600)
    result = node_example(server, {"COLLAB_TOKEN": token})
    assert result.returncode == 0, result.stderr
    assert result.stdout == "<paragraph>hello from Node</paragraph>\n"


@pytest.mark.parametrize("name", ["team/./notes", "team/x/../notes"])
def test_the_node_example_refuses_a_name_a_url_would_resolve(
    server: Any, node_modules: None, name: str
) -> None:
    """encodeURIComponent leaves '.' and '..' as they are, and a URL resolves them: the
    example edited team/notes when given team/./notes (a newcomer's trial)."""
    result = node_example(server, name=name)
    assert result.returncode == 1 and result.stdout == "", result.stdout
    segment = "'..'" if ".." in name else "'.'"
    assert result.stderr.strip() == (
        f"bad document name {name!r}: a {segment} segment (a URL would resolve it)"
    ), result.stderr
    record = httpx.get(f"{server.http_url}/api/documents/team/notes", timeout=5)
    assert record.status_code == 404, "team/notes was not written"


def test_the_node_example_says_when_nothing_listens(node_modules: None) -> None:
    nobody = types.SimpleNamespace(port=free_port())
    result = node_example(nobody)
    assert result.returncode == 1 and result.stdout == ""
    assert result.stderr.startswith("cannot connect: is collab serving at ws://127.0.0.1:")


def python_example(server: Any, cwd: Path, env: dict[str, str] | None = None) -> Any:
    (block,) = examples("python", server)
    return subprocess.run(
        [sys.executable, "-c", block],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, "PYTHONPATH": str(ROOT), **(env or {})},
    )


def test_the_python_example_edits_and_prints(server: Any, tmp_path: Path) -> None:
    result = python_example(server, tmp_path)
    assert result.returncode == 0, result.stderr
    assert result.stdout == "<paragraph>hello from Python</paragraph>\n"
    assert exported(server, "team/notes").text == "hello from Python\n"


def test_the_python_example_says_why_it_is_refused_and_takes_a_token(
    server_factory: Any, tmp_path: Path
) -> None:
    server = server_factory(env={"COLLAB_AUTH_SECRET": SECRET})
    refused = python_example(server, tmp_path)
    assert refused.returncode == 1 and refused.stdout == ""
    assert refused.stderr.startswith("hello.py: ") and "4401" in refused.stderr, refused.stderr
    token = mint_token(SECRET, "team/notes", Role.WRITE, 600)
    result = python_example(server, tmp_path, {"COLLAB_TOKEN": token})
    assert result.returncode == 0, result.stderr
