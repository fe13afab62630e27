"""The bus seam: what the hub asks of a cross-node bus, and what a bus tells the hub.

A bus carries committed updates, awareness changes and control events (deletes, renames,
re-authorization, nodes leaving) between the collab processes ("nodes") that serve the same
documents. :class:`~collab.bus.local.LocalBus` is the single-process bus: it carries nothing,
and the hub skips every bus call when ``bus.remote`` is false, so one process pays nothing
for the seam. :class:`~collab.bus.redis.RedisBus` carries them through Redis Streams.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

from collab.errors import CloseCode, CollabError

__all__ = ["Bus", "BusListener", "BusUnavailable"]


class BusUnavailable(CollabError):
    """The cluster bus (Redis) cannot be reached: writes and joins are refused until it is
    back (1011 / 503); the message says why."""

    close_code = CloseCode.INTERNAL_ERROR
    http_status = 503
    code = "bus_unavailable"


class BusListener(Protocol):
    """What a bus delivers to its node (the hub's side, :class:`collab.hub.cluster.Cluster`).
    Every method runs on the event loop and must not block."""

    def remote_update(self, name: str, update: bytes) -> None:
        """Another node committed ``update`` (Yjs v1) to document ``name``."""

    def remote_awareness(self, name: str, node: str, payload: bytes) -> None:
        """A client of ``node`` changed its awareness state (an awareness update payload)."""

    def remote_stateless(self, name: str, payload: str) -> None:
        """Another node broadcast a Hocuspocus Stateless message to document ``name``'s
        clients: send it to this node's."""

    def remote_compacted(self, name: str, removed: int) -> None:
        """Another node compacted document ``name``: its stored size shrank by ``removed``
        bytes."""

    def awareness_wanted(self, name: str) -> None:
        """Another node opened document ``name``: publish the local clients' states."""

    def remote_deleted(self, name: str) -> None:
        """Document ``name`` was deleted on another node: close its room here (4410)."""

    def remote_renamed(self, name: str, to: str) -> None:
        """Document ``name`` was renamed ``to`` on another node: close both rooms here."""

    def remote_reauthorize(self, name: str) -> None:
        """Access changed: check the connections of ``name`` (``""``: every document) again."""

    def node_gone(self, node: str) -> None:
        """``node`` left or stopped answering: forget its clients' awareness states."""

    def bus_down(self, reason: str) -> None:
        """The bus failed: open rooms may miss other nodes' updates, so close them (1011)."""


class Bus(Protocol):
    """A cross-node bus. All methods run on the event loop.

    Attributes:
        remote: whether there are other nodes at all (``False``: every call is skipped).
        node: this node's id (unique per process start).
        healthy: whether the bus works now; ``reason`` says why not.
    """

    remote: bool
    node: str
    healthy: bool
    reason: str

    async def start(self, listener: BusListener) -> None:
        """Connect and start delivering to ``listener``.

        Raises:
            BusUnavailable: when the bus cannot be reached at start.
        """

    async def close(self) -> None:
        """Announce that this node leaves, stop delivering and disconnect."""

    async def append(self, updates: Sequence[tuple[str, bytes]]) -> None:
        """Publish committed ``(document name, update)`` pairs, in order, in one round trip;
        returns once the bus holds them all.

        Raises:
            BusUnavailable: nothing or part of it was published.
        """

    async def position(self, name: str) -> str:
        """The position of document ``name``'s stream now (read it before loading the
        document from the store: :meth:`watch` from there misses nothing committed later).

        Raises:
            BusUnavailable: when the bus cannot be reached.
        """

    def watch(self, name: str, position: str) -> None:
        """Deliver document ``name``'s entries after ``position`` until :meth:`unwatch`."""

    def unwatch(self, name: str) -> None:
        """Stop delivering document ``name``'s entries."""

    def publish_awareness(self, name: str, payload: bytes) -> None:
        """Publish a local awareness update of document ``name`` (in the background)."""

    def publish_stateless(self, name: str, payload: str) -> None:
        """Publish a Stateless message to document ``name``'s clients on the other nodes (in
        the background; at most once, never stored)."""

    def publish_compacted(self, name: str, removed: int) -> None:
        """Tell the other nodes that a compaction of document ``name`` shrank its stored size
        by ``removed`` bytes (in the background)."""

    async def claim(self, name: str, what: str, seconds: float) -> bool:
        """Claim ``what`` of document ``name`` (e.g. ``"version"``) for ``seconds``: ``True``
        for the one node that got it, ``False`` while another holds it.

        Raises:
            BusUnavailable: when the bus cannot be reached.
        """

    async def announce(self, kind: str, name: str, to: str = "") -> None:
        """Tell every other node of a control event: ``"delete"``, ``"rename"`` (of ``name``
        to ``to``) or ``"reauthorize"``.

        Raises:
            BusUnavailable: when the bus cannot be reached.
        """
