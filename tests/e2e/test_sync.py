"""End-to-end sync: real server process, pycrdt and Node Yjs peers."""

from __future__ import annotations

import asyncio

import pytest

from tests.e2e.conftest import Server
from tests.e2e.nodepeer import NodePeer
from tests.e2e.pyclient import PyClient

pytestmark = pytest.mark.e2e


async def test_two_pycrdt_clients_converge(server: Server) -> None:
    async with PyClient(server.ws_url, "notes") as a, PyClient(server.ws_url, "notes") as b:
        a.text().insert(0, "hello")
        await b.wait_for(lambda: str(b.text()) == "hello")
        b.text().insert(5, " world")
        await a.wait_for(lambda: str(a.text()) == "hello world")
