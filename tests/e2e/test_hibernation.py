"""End-to-end hibernation (README "Hibernation"): a real server whose room hibernates between
the edits of unmodified y-websocket clients in Node; joiners, awareness and writes go on and
every client converges."""

from __future__ import annotations

import re

import httpx
import pytest

from tests.e2e.conftest import Server
from tests.e2e.nodepeer import NodePeer
from tests.e2e.pyclient import PyClient, eventually

pytestmark = pytest.mark.e2e


def metric(server: Server, name: str) -> float:
    text = httpx.get(f"{server.http_url}/metrics", timeout=5).text
    found = re.search(rf"^{name} (\S+)$", text, re.MULTILINE)
    assert found is not None, f"no {name} in /metrics"
    return float(found.group(1))


async def asleep(server: Server, count: int) -> None:
    await eventually(
        lambda: metric(server, "collab_rooms_asleep") == count, f"{count} room(s) asleep"
    )


async def test_a_hibernating_room_serves_joiners_awareness_and_writes_in_order(
    server_factory, node_modules: None
) -> None:
    server: Server = server_factory(["--hibernate-seconds", "0.4", "--hibernate-bytes", "1"])
    async with NodePeer(server.ws_url, "sleepy") as alice:
        await alice.call("wait_synced")
        await alice.call("insert", index=0, text="written before the room slept. ")
        await alice.call("awareness_set", state={"user": "alice", "cursor": 1})
        await asleep(server, 1)
        async with NodePeer(server.ws_url, "sleepy") as bob:
            await bob.call("wait_synced")
            await bob.call("wait_text", equals="written before the room slept. ")
            states = (await bob.call("wait_awareness", count=2))["states"]
            assert states[str(alice.client_id)] == {"user": "alice", "cursor": 1}
            assert metric(server, "collab_rooms_asleep") == 1, "a joiner does not wake it"
            await alice.call("awareness_set", state={"user": "alice", "cursor": 7})
            await bob.call("wait_awareness", count=2)
            await eventually(
                lambda: bob_sees_cursor(bob, alice.client_id, 7), "the moved cursor at bob"
            )
            assert metric(server, "collab_rooms_asleep") == 1, "awareness does not wake it"
            # bob writes: the room wakes, alice gets the edits in order
            for i, word in enumerate(("one ", "two ", "three ")):
                await bob.call("insert", index=31 + sum(map(len, ("one ", "two ")[:i])), text=word)
            expected = "written before the room slept. one two three "
            await alice.call("wait_text", equals=expected)
            await asleep(server, 1)  # quiet again
            await alice.call("insert", index=len(expected), text="after the second sleep.")
            expected += "after the second sleep."
            await bob.call("wait_text", equals=expected)
        assert metric(server, "collab_hibernations_total") >= 2
    async with PyClient(server.ws_url, "sleepy") as fresh:
        await fresh.wait_for(lambda: str(fresh.text()) == expected)
    server.restart()  # and it was all committed
    async with PyClient(server.ws_url, "sleepy") as fresh:
        await fresh.wait_for(lambda: str(fresh.text()) == expected)


async def bob_sees_cursor(bob: NodePeer, client_id: int, cursor: int) -> bool:
    states = (await bob.call("awareness_states"))["states"]
    return states.get(str(client_id), {}).get("cursor") == cursor
