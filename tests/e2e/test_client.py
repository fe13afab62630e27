"""collab.client against a real server: sync, edits committed by flush, others' edits
arriving, and refusals as ClientClosed with the close code."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
import pytest
from pycrdt import Doc, Text

from collab.auth import Role, mint_token
from collab.client import Client, ClientClosed

pytestmark = pytest.mark.e2e

SECRET = "client-test-secret-that-is-at-least-32-bytes"


def exported_text(server: Any, name: str, token: str | None = None) -> str:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    response = httpx.get(
        f"{server.http_url}/api/documents/{name}/export",
        params={"format": "text"},
        headers=headers,
        timeout=5,
    )
    response.raise_for_status()
    return response.text


def test_edits_are_committed_when_flush_returns_and_others_see_them(server: Any) -> None:
    async def main() -> None:
        async with Client(server.http_url, "team/notes") as alice:
            assert alice.synced
            text = alice.doc.get("text", type=Text)
            text += "hello"
            await alice.flush()
            # No polling: flush returned, so the server has committed it.
            assert exported_text(server, "team/notes") == "hello"

            async with Client(server.ws_url, "team/notes") as bob:
                bob_text = bob.doc.get("text", type=Text)
                assert str(bob_text) == "hello"  # synced on connect
                text += " world"
                await bob.wait_until(lambda: str(bob_text) == "hello world", "alice's edit")
                bob_text.insert(0, ">> ")
                await bob.flush()
                await alice.wait_until(lambda: str(text) == ">> hello world", "bob's edit")
        assert exported_text(server, "team/notes") == ">> hello world"

    asyncio.run(main())


def test_a_prefilled_doc_is_sent_in_the_sync_step_2(server: Any) -> None:
    async def main() -> None:
        doc: Doc[Any] = Doc()
        doc.get("text", type=Text).insert(0, "written before connecting")
        async with Client(server.http_url, "prefilled", doc=doc) as client:
            await client.flush()
        assert exported_text(server, "prefilled") == "written before connecting"

    asyncio.run(main())


def test_refusals_raise_client_closed_with_the_close_code(server_factory: Any) -> None:
    server = server_factory(extra=["--auth-secret", SECRET])
    read = mint_token(SECRET, "doc", Role.READ, 600)

    async def main() -> None:
        with pytest.raises(ClientClosed) as refused:
            await Client(server.http_url, "doc").connect()
        assert refused.value.close_code == 4401

        with pytest.raises(ClientClosed) as bad_name:
            await Client(server.http_url, "a/../b", token=read).connect()
        assert bad_name.value.close_code == 4400

        async with Client(server.http_url, "doc", token=read) as reader:
            reader.doc.get("text", type=Text).insert(0, "not allowed")
            with pytest.raises(ClientClosed) as denied:
                await reader.flush()
        assert denied.value.close_code == 4403
        assert "read-only" in denied.value.reason

    asyncio.run(main())


def test_an_unreachable_server_raises_client_closed() -> None:
    from tests.e2e.conftest import free_port

    async def main() -> None:
        with pytest.raises(ClientClosed, match="cannot connect"):
            await Client(f"http://127.0.0.1:{free_port()}", "x", timeout=5).connect()

    asyncio.run(main())
