"""The hub's side of a cluster bus: other nodes' updates, awareness states and control events
applied to this node's open rooms (README "Running several processes or machines").

In cluster mode every node commits its peers' updates to the shared store, then appends them
to the document's stream, and only then relays them (the committer). The other nodes with the
room open read the entry, apply it (a no-op if their document holds it already) and relay it
to their own peers; it is committed already, so nothing waits. A room is loaded as the
store's content plus the stream's entries after the position read before the load.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from functools import partial

from collab import awareness_codec
from collab.bus import Bus, BusUnavailable
from collab.errors import CloseCode
from collab.hub.renames import RENAMED_HERE, renamed_reason
from collab.hub.rooms import Rooms
from collab.metrics import Metrics
from collab.protocol import ProtocolError
from collab.room import RevivesDeleted, Room
from collab.updates import DocumentCorrupted, InvalidUpdate

__all__ = ["Cluster"]

log = logging.getLogger("collab.hub")

BUS_ERROR = 1011


class _OtherNode:
    """The owner, in a room, of the awareness clients of other nodes: a local peer that
    relays their states never becomes their owner (its leaving removes only its own)."""

    def send(self, frame: bytes) -> None:
        """Nothing to send: the other node's own peers get its clients' states."""


OTHER_NODE = _OtherNode()


class Cluster:
    """Applies what a remote bus delivers to the open rooms (a
    :class:`~collab.bus.BusListener`), and connects the rooms to the bus.

    Args:
        bus: the started bus (``bus.remote`` is true).
        rooms: the open rooms.
        metrics: counts bus failures.
    """

    def __init__(self, bus: Bus, rooms: Rooms, metrics: Metrics) -> None:
        self.bus = bus
        self.rooms = rooms
        self.metrics = metrics
        # Awareness client ids of other nodes' clients: node -> document -> client ids.
        self.remote_clients: dict[str, dict[str, set[int]]] = {}
        self.reauthorize: Callable[[str], None] | None = None  # set by Collab
        # Sends a Stateless message to this node's Hocuspocus clients (set by Collab).
        self.stateless: Callable[[str, str], object] | None = None
        # Told of each document another node's update changed (the hub's commit listeners:
        # the versions' quiet timers count every node's edits).
        self.changed: Callable[[str], None] | None = None

    # -- rooms -------------------------------------------------------------------------------

    def check(self) -> None:
        """Refuse a join while the bus is down.

        Raises:
            BusUnavailable: naming why.
        """
        if not self.bus.healthy:
            raise BusUnavailable(self.bus.reason)

    async def position(self, name: str) -> str:
        """The position of ``name``'s stream now (see :meth:`Bus.position`).

        Raises:
            BusUnavailable: when the bus cannot be reached.
        """
        return await self.bus.position(name)

    def loaded(self, room: Room, position: str) -> None:
        """``room`` was loaded from the store after its stream stood at ``position``: read
        the stream from there, and publish its local awareness changes."""
        room.on_awareness = partial(self.bus.publish_awareness, room.name)
        self.bus.watch(room.name, position)

    def unloaded(self, name: str) -> None:
        """Document ``name``'s room was unloaded or dropped: stop reading its stream."""
        self.bus.unwatch(name)

    # -- what other nodes did ----------------------------------------------------------------

    def remote_update(self, name: str, update: bytes) -> None:
        """Apply another node's committed update and relay it to this node's peers."""
        room = self.rooms.room(name)
        if room is None or room.closed:
            return
        try:
            changed = room.apply(update)
        except DocumentCorrupted:
            slot = self.rooms.slots.get(name)
            if slot is not None:  # the next user reloads it from the store, which has it
                self.rooms.drop(slot, room, BUS_ERROR, "document reloaded after a failed update")
            return
        except RevivesDeleted:  # committed before a delete, read after the next life loaded
            log.debug("skipped an update of a deleted life", extra={"room": name})
            return
        except InvalidUpdate as exc:  # committed on another node: this one cannot take it
            log.error("cannot apply an update of another node", extra={"room": name}, exc_info=exc)
            return
        if changed:
            room.size_bytes += len(update)
            room.relay(update, None)
            if self.changed is not None:
                self.changed(name)

    def remote_awareness(self, name: str, node: str, payload: bytes) -> None:
        """Apply another node's client's awareness change and relay it to this node's peers."""
        room = self.rooms.room(name)
        if room is None or room.closed:
            return
        try:
            entries = room.apply_foreign_awareness(payload, OTHER_NODE)
        except ProtocolError:
            return
        clients = self.remote_clients.setdefault(node, {}).setdefault(name, set())
        for entry in entries:
            if entry.state is None:
                clients.discard(entry.client_id)
            else:
                clients.add(entry.client_id)

    def remote_stateless(self, name: str, payload: str) -> None:
        """Another node broadcast a Stateless message: send it to this node's clients."""
        if self.stateless is not None and self.rooms.room(name) is not None:
            self.stateless(name, payload)

    def remote_compacted(self, name: str, removed: int) -> None:
        """Another node compacted ``name``, folding what this node committed too: its size
        (which counts every node's updates) shrinks by the ``removed`` bytes, so the size
        limit holds for the document, not per node; the counts that trigger a compaction
        here start again."""
        slot = self.rooms.slots.get(name)
        room = slot.loaded if slot is not None else None
        if slot is None or room is None:
            return
        # (it may dip below the stored size while entries it folded are still on their way)
        room.size_bytes -= removed
        if not slot.compacting:
            slot.log_updates = slot.log_bytes = 0
            # and a fold abandoned here waits no longer for the log to grow by a threshold
            # more: the log it could not fold is folded (else, with the other node compacting
            # every few updates, this node's counts never reached it again)
            slot.compact_again_at = (0, 0)

    def compacted(self, name: str, removed: int) -> None:
        """This node's compaction shrank ``name`` by ``removed`` bytes: tell the others."""
        self.bus.publish_compacted(name, removed)

    async def claim(self, name: str, what: str, seconds: float) -> bool:
        """Claim ``what`` of ``name`` for ``seconds`` (see :meth:`Bus.claim`); ``False`` also
        when the bus is down (logged): a duplicate is worse than a skipped chore."""
        try:
            return await self.bus.claim(name, what, seconds)
        except BusUnavailable as exc:
            log.error("cannot claim %s", what, extra={"room": name}, exc_info=exc)
            return False

    def awareness_wanted(self, name: str) -> None:
        """Another node opened ``name``: publish the states of this node's clients there."""
        room = self.rooms.room(name)
        if room is None or room.closed:
            return
        states = room.awareness
        local = [
            states[client]
            for client, owner in room.owners.items()
            if owner is not OTHER_NODE and client in states
        ]
        if local:
            self.bus.publish_awareness(name, awareness_codec.encode_awareness_entries(local))

    def node_gone(self, node: str) -> None:
        """Remove the awareness states of ``node``'s clients from every room, telling the
        local peers."""
        for name, clients in self.remote_clients.pop(node, {}).items():
            room = self.rooms.room(name)
            if room is None:
                continue
            for client in clients:
                if room.owners.get(client) is OTHER_NODE:
                    del room.owners[client]
            room.remove_clients(clients)

    def remote_deleted(self, name: str) -> None:
        """Document ``name`` was deleted on another node: close its peers here with 4410."""
        self.rooms.forget(name)

    def remote_renamed(self, name: str, to: str) -> None:
        """Document ``name`` was renamed ``to`` on another node: close both rooms here, as
        :meth:`collab.hub.Hub.rename` does on its node."""
        self.rooms.forget(name, CloseCode.DOCUMENT_RENAMED, renamed_reason(to))
        self.rooms.forget(to, CloseCode.GOING_AWAY, RENAMED_HERE)

    def remote_reauthorize(self, name: str) -> None:
        """Access changed on another node: check this node's connections again."""
        if self.reauthorize is not None:
            self.reauthorize(name)

    def bus_down(self, reason: str) -> None:
        """The bus failed: every open room may now miss other nodes' updates, so close them
        (1011); their clients reconnect once it is back and load from the store."""
        self.metrics.bus_failures += 1
        self.remote_clients.clear()
        for slot in list(self.rooms.slots.values()):
            room = slot.loaded
            if room is not None:
                self.rooms.drop(slot, room, BUS_ERROR, f"cluster bus unavailable: {reason}"[:120])

    async def announce(self, kind: str, name: str, to: str = "") -> None:
        """Tell the other nodes of a delete, rename (to ``to``) or re-authorization; a
        failure is logged (the store holds the delete or rename; other nodes' peers learn of
        it when they reconnect)."""
        try:
            await self.bus.announce(kind, name, to)
        except BusUnavailable as exc:
            log.error("cannot announce %s", kind, extra={"room": name}, exc_info=exc)

    @staticmethod
    def spawn_reauthorize(reauthorize: Callable[[str | None], object]) -> Callable[[str], None]:
        """A ``remote_reauthorize`` callback that runs ``Collab.reauthorize``-like coroutine
        function ``reauthorize`` in the background."""
        tasks: set[asyncio.Future[object]] = set()

        def run(name: str) -> None:
            result = reauthorize(name or None)
            if asyncio.iscoroutine(result):
                task = asyncio.ensure_future(result)
                tasks.add(task)
                task.add_done_callback(tasks.discard)

        return run
