"""``collab rename OLD NEW`` as a process against a real server: the document moves, and every
refusal is one line on stderr with the documented exit status (1: refused or unreachable,
2: a name the naming rules refuse, checked before any request)."""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

import httpx
import pytest

from collab.auth import Role, mint_token
from tests.e2e.conftest import OCTETS, Server, free_port
from tests.e2e.test_export_cli import cli, fails, ok
from tests.test_http_api import text_update

pytestmark = pytest.mark.e2e

SECRET = "rename-cli-secret-0123456789-abcdefghijklmnop"


def create(server: Server, name: str, text: str, token: str | None = None) -> None:
    headers = {**OCTETS, **({"Authorization": f"Bearer {token}"} if token else {})}
    url = f"{server.http_url}/api/documents/{quote(name, safe='')}/update"
    httpx.post(url, content=text_update(text), headers=headers, timeout=10).raise_for_status()


def content(server: Server, name: str) -> httpx.Response:
    return httpx.get(f"{server.http_url}/api/documents/{quote(name, safe='')}/content", timeout=10)


def test_rename_moves_the_document_and_refusals_are_one_line(server: Server) -> None:
    url = server.http_url
    create(server, "team/a", "hello")
    create(server, "team/taken", "other")
    done = ok(cli("rename", "team/a", "team/b é", "--server", url))
    assert done.stdout.decode().strip() == "renamed 'team/a' to 'team/b é'"
    assert content(server, "team/b é").json() == {"text": "hello"}
    assert content(server, "team/a").status_code == 404
    fails(cli("rename", "team/a", "team/c", "--server", url), 1, "no document named 'team/a'")
    fails(cli("rename", "team/b é", "team/taken", "--server", url), 1, "'team/taken' exists")
    same = "the document is named 'team/taken' already"
    fails(cli("rename", "team/taken", "team/taken", "--server", url), 1, same)
    fails(cli("rename", "team/b é", "../etc", "--server", url), 2, "new name '../etc'")
    fails(cli("rename", "a//b", "c", "--server", url), 2, "name 'a//b'")
    fails(cli("rename", "x", "y", "--server", f"http://127.0.0.1:{free_port()}"), 1, "cannot reach")
    assert content(server, "team/taken").json() == {"text": "other"}


def test_rename_takes_a_token_and_says_when_it_does_not_allow_it(server_factory: Any) -> None:
    server = server_factory(["--auth-secret", SECRET])
    url = server.http_url
    admin = mint_token(SECRET, "*", Role.ADMIN, 600)
    create(server, "a", "x", admin)
    writer = mint_token(SECRET, "*", Role.WRITE, 600)
    fails(cli("rename", "a", "b", "--server", url, "--token", writer), 1, "token does not allow")
    fails(cli("rename", "a", "b", "--server", url), 1, "--token")
    ok(cli("rename", "a", "b", "--server", url, env={"COLLAB_TOKEN": admin}))
