"""The peers of one open document and their presence: who is in the room, the client ids each
connection owns (one registry for structs and awareness), and the awareness states, relayed
as one message per peer and event-loop turn (y-protocols ``awareness.js``).

:class:`Presence` is the base of :class:`collab.room.Room`; it does no I/O and never awaits.
"""

from __future__ import annotations

from collections.abc import Callable, Container, Iterable
from typing import Any, Protocol

from pycrdt import write_message, write_var_uint

from collab import awareness_codec, protocol
from collab.errors import CloseCode
from collab.protocol import ProtocolError

__all__ = ["NO_CLIENTS", "AwarenessTooLarge", "Peer", "Presence"]

NO_CLIENTS: set[int] = set()
"""The client ids of a peer that owns none (shared: never added to)."""

_SEVERAL: Any = object()
"""The senders of the awareness entries waiting for the end of the turn, when there are
several (or a leave): then every peer gets them all."""

_NULL_STATE = write_message(b"null")


class Peer(Protocol):
    """What a room needs of a connection: a queue to put frames on, without waiting."""

    def send(self, frame: bytes) -> None:
        """Queue one binary frame for the peer (never blocks, never raises)."""


class AwarenessTooLarge(ProtocolError):
    """An awareness state over the room's size limit."""

    close_code = CloseCode.TOO_LARGE
    http_status = 413
    code = "too_large"


class _Others:
    """The client ids owned by someone other than ``origin``, as a container (no copy of
    the registry for every update)."""

    __slots__ = ("origin", "owners")

    def __init__(self, owners: dict[int, Peer], origin: object) -> None:
        self.owners = owners
        self.origin = origin

    def __contains__(self, client_id: object) -> bool:
        owner = self.owners.get(client_id)  # type: ignore[call-overload]
        return owner is not None and owner is not self.origin

    def __bool__(self) -> bool:
        return bool(self.owners)


class Presence:
    """The peers, client-id owners and awareness states of one room.

    Args:
        max_awareness_bytes: largest accepted JSON state of one awareness client, in bytes.
        defer: runs a callback at the end of the current event-loop turn (``loop.call_soon``):
            the awareness entries accepted during one turn are then relayed as one message
            per peer. ``None`` relays each awareness message at once.
    """

    def __init__(
        self,
        max_awareness_bytes: int = 64 * 1024,
        defer: Callable[[Callable[[], None]], object] | None = None,
    ) -> None:
        self.max_awareness_bytes = max_awareness_bytes
        # Awareness (y-protocols awareness.js): each client's last clock, the entry of each
        # present client as it was sent, and the entries accepted during this turn.
        self.clocks: dict[int, int] = {}
        self.awareness: dict[int, bytes] = {}
        self._awareness_frame: bytes | None = None
        self._turn: dict[int, bytes] = {}
        self._turn_from: Any = None  # the one peer that sent them, or _SEVERAL
        self._defer = defer
        # Client ids a connection writes with (structs or awareness), one registry for both:
        # each peer's, and the owner of each (a peer, or the cluster's stand-in for the
        # clients of other nodes); peers that made their first awareness announcement.
        self.peers: dict[Peer, set[int]] = {}
        self.owners: dict[int, Peer] = {}
        self._announced: set[Peer] = set()
        # Told each accepted awareness update of a local peer (cluster mode: other nodes).
        self.on_awareness: Callable[[bytes], None] | None = None

    def leave(self, peer: Peer) -> None:
        """Remove ``peer``, release the client ids it owned, and broadcast the removal of
        their awareness states (a ``null`` state at the next clock, as y-protocols
        ``removeAwarenessStates`` does)."""
        client_ids = self.peers.pop(peer, set())
        self._announced.discard(peer)
        for client_id in client_ids:
            if self.owners.get(client_id) is peer:
                del self.owners[client_id]
        removed = self.remove_clients(client_ids)
        if removed and self.on_awareness is not None:
            self.on_awareness(awareness_codec.encode_awareness_entries(removed))

    def remove_clients(self, client_ids: Iterable[int]) -> list[bytes]:
        """Remove the awareness states of ``client_ids`` (those present) and tell every peer
        (a ``null`` state at the next clock, as y-protocols ``removeAwarenessStates`` does).

        Returns:
            The removal entries, encoded (empty when none of them was present).
        """
        removed = []
        for client_id in client_ids:
            if client_id not in self.awareness:
                continue
            clock = self.clocks[client_id] + 1
            raw = b"".join((write_var_uint(client_id), write_var_uint(clock), _NULL_STATE))
            self._accept(client_id, clock, None, raw)
            removed.append(raw)
        if removed:
            self._queue(_SEVERAL)
        return removed

    def owned_by_others(self, origin: object) -> Container[int]:
        """The client ids owned by someone other than ``origin`` (none checked for ``origin``
        ``None``: another node's update in cluster mode), without a copy of the registry."""
        owners = self.owners
        return _Others(owners, origin) if owners and origin is not None else ()

    def wrote(self, origin: object, client_ids: Iterable[int]) -> None:
        """``origin`` wrote the first structs of ``client_ids``: a member that made no
        awareness announcement yet owns those nobody owns."""
        if origin in self.peers and origin not in self._announced:
            fresh = [c for c in client_ids if c not in self.owners]
            if fresh:
                self._own(origin, fresh)

    def _own(self, peer: Peer, client_ids: Iterable[int]) -> set[int]:
        """Make ``peer``, a member, the owner of ``client_ids``; every client id it owns.
        Only members own: :meth:`leave` releases what a peer owns."""
        owned = self.peers[peer]
        if owned is NO_CLIENTS:
            owned = self.peers[peer] = set()
        for client_id in client_ids:
            owned.add(client_id)
            self.owners[client_id] = peer
        return owned

    def broadcast(self, frame: bytes, exclude: object = None) -> None:
        """Send ``frame`` (encoded once) to every peer except ``exclude``."""
        for peer in self.peers:
            if peer is not exclude:
                peer.send(frame)

    def apply_awareness(self, peer: Peer, payload: bytes) -> None:
        """Apply an awareness update from ``peer`` and relay it to the other peers.

        A peer owns the client ids of its first announcement (its first awareness update with
        a state, counting ids no other peer owns) and those it owns for writing (see
        :meth:`apply`: one registry): entries for any other id are dropped, so
        no connection, read-only ones included, can remove or impersonate another's presence
        (the y-websocket client re-broadcasts the states it receives, and removes, after 30 s
        without news, states it thinks are stale: those entries are dropped too). :meth:`leave`
        removes the owned ids when the connection ends. A peer that is not in the room
        (never joined, or has left) owns nothing and its update is dropped whole: what it
        owned would never be released.

        Raises:
            ProtocolError: when the payload is malformed.
            AwarenessTooLarge: when a state exceeds ``max_awareness_bytes``.
        """
        entries = awareness_codec.decode_awareness_entries(payload)
        if peer not in self.peers:
            return
        # A connection owns the client ids of its first announcement (those no other
        # connection owns); entries for any other client id are dropped: the y-websocket
        # client re-broadcasts every state it receives (an echo), and a forged entry would
        # remove a live editor's presence for everyone (a null state) or impersonate it.
        owned = self.peers.get(peer, NO_CLIENTS)
        if peer not in self._announced:
            owners = self.owners
            claim = {
                entry.client_id
                for entry, _ in entries
                if entry.state is not None and owners.get(entry.client_id, peer) is peer
            }
            if claim:
                self._announced.add(peer)
                owned = self._own(peer, claim)
        taken = [(entry, raw) for entry, raw in entries if entry.client_id in owned]
        for entry, raw in taken:
            # the entry's size as one client's awareness update (count prefix included)
            if entry.state is not None and len(raw) + 1 > self.max_awareness_bytes:
                raise AwarenessTooLarge(
                    f"awareness state of {len(raw) + 1} bytes exceeds {self.max_awareness_bytes}"
                )
        accepted = False
        for entry, raw in taken:
            accepted |= self._accept(entry.client_id, entry.clock, entry.state, raw)
        if accepted:
            self._queue(peer)
            if self.on_awareness is not None:
                if len(taken) != len(entries):
                    payload = awareness_codec.encode_awareness_entries([raw for _, raw in taken])
                self.on_awareness(payload)

    def apply_foreign_awareness(
        self, payload: bytes, owner: Peer
    ) -> list[awareness_codec.AwarenessEntry]:
        """Apply an awareness update of another node's clients and relay it to every peer.
        The clients it announces belong to ``owner`` (a stand-in for the other nodes), so
        that no local peer relaying their states removes them when it leaves.

        Returns:
            Its entries.

        Raises:
            ProtocolError: when the payload is malformed.
        """
        entries = awareness_codec.decode_awareness_entries(payload)
        accepted = False
        for entry, raw in entries:
            client_id = entry.client_id
            current = self.owners.get(client_id)
            if entry.state is None:
                if current is owner:
                    del self.owners[client_id]
            elif current is None:
                self.owners[client_id] = owner
            accepted |= self._accept(client_id, entry.clock, entry.state, raw)
        if accepted:
            self._queue(_SEVERAL)
        return [entry for entry, _ in entries]

    def _accept(self, client_id: int, clock: int, state: Any, raw: bytes) -> bool:
        """Apply one entry as y-protocols ``applyAwarenessUpdate`` does: a newer clock wins,
        and a removal at the same clock; anything else (a stale echo) is dropped."""
        current = self.clocks.get(client_id, 0)
        if not (
            current < clock or (current == clock and state is None and client_id in self.awareness)
        ):
            return False
        self.clocks[client_id] = clock
        if state is None:
            self.awareness.pop(client_id, None)
        else:
            self.awareness[client_id] = raw
        self._awareness_frame = None
        self._turn.pop(client_id, None)  # insertion order: the client's latest position
        self._turn[client_id] = raw
        return True

    def _queue(self, sender: Any) -> None:
        """Relay the accepted entries at the end of the turn (at once without ``defer``)."""
        if self._turn_from is None:
            self._turn_from = sender
            if self._defer is not None:
                self._defer(self.flush_awareness)
        elif self._turn_from is not sender:
            self._turn_from = _SEVERAL
        if self._defer is None:
            self.flush_awareness()

    def flush_awareness(self) -> None:
        """Send the awareness entries accepted since the last flush as one message: to every
        peer but their sender when one peer sent them all, else to every peer (a client
        ignores its own entries: their clocks are not newer than its own)."""
        entries, sender = self._turn, self._turn_from
        self._turn, self._turn_from = {}, None
        if entries:
            payload = awareness_codec.encode_awareness_entries(list(entries.values()))
            frame = protocol.encode(protocol.Awareness(payload))
            self.broadcast(frame, exclude=None if sender is _SEVERAL else sender)

    def awareness_frame(self) -> bytes | None:
        """An awareness frame with every known state, or ``None`` when there is none."""
        if not self.awareness:
            return None
        if self._awareness_frame is None:
            payload = awareness_codec.encode_awareness_entries(list(self.awareness.values()))
            self._awareness_frame = protocol.encode(protocol.Awareness(payload))
        return self._awareness_frame
