"""The web editor and the server agree: every close code the server sends has a policy in
web/src/closecodes.js, and web/src/names.js accepts exactly the names collab.names accepts.

The page's modules are plain ES modules, run here by Node (the editor's own runtime checks are
in web/test, run by Vitest).
"""

from __future__ import annotations

import json
import random
import shutil
import subprocess
from enum import IntEnum
from pathlib import Path
from typing import Any

import pytest

from collab.names import MAX_NAME_BYTES, InvalidName, validate_name

ROOT = Path(__file__).resolve().parents[1]
WEB_SRC = ROOT / "web" / "src"


def node(script: str, stdin: object = None) -> Any:
    """Run an ES module ``script`` (imports relative to web/src) and parse its JSON output."""
    if shutil.which("node") is None:
        pytest.fail("Node.js is missing: install Node.js 20+ (./scripts/test needs it anyway)")
    result = subprocess.run(
        ["node", "--input-type=module", "-e", script],
        cwd=WEB_SRC,
        input=json.dumps(stdin),
        capture_output=True,
        text=True,
        check=True,
    )
    return json.loads(result.stdout)


def server_close_codes() -> type[IntEnum]:
    """collab's CloseCode (collab.errors: every close code the server sends)."""
    from collab.errors import CloseCode

    return CloseCode


def test_every_close_code_the_server_sends_has_a_policy_in_the_page() -> None:
    page = node(
        "import { CLOSE_CODES } from './closecodes.js';"
        "console.log(JSON.stringify(Object.keys(CLOSE_CODES).map(Number)))"
    )
    server = sorted(int(code) for code in server_close_codes())
    assert sorted(page) == server


def test_the_page_stops_where_the_readme_says_retrying_cannot_help() -> None:
    codes = [int(code) for code in server_close_codes()]
    actions = node(
        "import { readFileSync } from 'node:fs';"
        "import { closePolicy } from './closecodes.js';"
        "const codes = JSON.parse(readFileSync(0, 'utf8'));"
        "console.log(JSON.stringify(codes.map((c) => closePolicy(c).action)))",
        codes,
    )
    by_code = dict(zip(codes, actions, strict=True))
    # README "Close codes": 4400-4499 and the protocol errors are not retried.
    for code, action in by_code.items():
        if 4400 <= code < 4500 or code in (1002, 1003, 1007, 1008, 1009):
            assert action == "stop", code
        else:
            assert action in ("retry", "pause"), code


def tricky_names() -> list[str]:
    fixed = [
        "",
        "notes",
        "team/notes",
        "../etc",
        "a//b",
        "/a",
        "a/",
        ".",
        "..",
        "...",
        "a/./b",
        "a/../b",
        ".hidden",
        "a\x00b",
        "a\nb",
        "a\x7fb",
        "a\x85b",
        "a\u200bb",
        "a\ud800b",
        "café",
        "日本語/メモ",
        "😀" * 63,
        "😀" * 64,
        "x" * MAX_NAME_BYTES,
        "x" * (MAX_NAME_BYTES + 1),
        "é" * 127 + "x",
        "é" * 128,
        "a%2Fb",
        " spaced ",
    ]
    rng = random.Random(26)
    alphabet = ["a", "/", ".", "é", "😀", "\x01", "\x9f", " ", "%", "\u2028"]
    fuzz = ["".join(rng.choice(alphabet) for _ in range(rng.randint(1, 6))) for _ in range(300)]
    return fixed + fuzz


def server_accepts(name: str) -> bool:
    try:
        validate_name(name)
    except InvalidName:
        return False
    return True


def test_the_page_accepts_exactly_the_names_the_server_accepts() -> None:
    names = tricky_names()
    problems = node(
        "import { readFileSync } from 'node:fs';"
        "import { nameProblem } from './names.js';"
        "const names = JSON.parse(readFileSync(0, 'utf8'));"
        "console.log(JSON.stringify(names.map((n) => nameProblem(n))))",
        names,
    )
    disagree = [
        (name, problem)
        for name, problem in zip(names, problems, strict=True)
        if (problem is None) != server_accepts(name)
    ]
    assert not disagree


def test_the_page_drops_its_copy_when_the_server_says_its_content_was_deleted() -> None:
    """The server closes an editor sending a deleted document's content with 4410 (issue 19
    item 12); the page then stops and drops its local copy, which could never merge."""
    package = ROOT / "collab"
    reasons = [
        path
        for path in package.rglob("*.py")
        if "update carries content of a deleted document" in path.read_text(encoding="utf-8")
    ]
    assert reasons, "the server no longer gives this reason: update web/src/closecodes.js"
    policy = node(
        "import { closePolicy } from './closecodes.js';"
        "console.log(JSON.stringify(closePolicy(4410,"
        " 'document was deleted: update carries content of a deleted document')))"
    )
    assert policy["action"] == "stop" and policy["discardLocal"] is True


def test_the_page_reads_the_new_name_from_the_servers_rename_close() -> None:
    """A renamed document's peers are closed with 4409 and ``renamed to <new name>``
    (collab.hub.renames); the page reads the name back exactly, or knows it was left out."""
    from collab.hub.renames import RENAMED_UNNAMED, renamed_reason

    names = ["b", "team/new notes", "é" * 56, "renamed to x", "a/b/c 🎉", "é" * 57]
    read = node(
        "import { readFileSync } from 'node:fs';"
        "import { renamedTo } from './closecodes.js';"
        "const reasons = JSON.parse(readFileSync(0, 'utf8'));"
        "console.log(JSON.stringify(reasons.map((r) => renamedTo(r))))",
        [renamed_reason(name) for name in names] + [RENAMED_UNNAMED, "document deleted"],
    )
    assert read == [*names[:-1], None, None, None]
