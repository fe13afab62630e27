"""The Redis keys of a cluster and what their entries mean to a node.

Keys (hash-tagged by document, so a Redis Cluster keeps one document's keys on one shard):

- ``collab:{<name>}:updates``: one stream per document. Entries: ``n`` (the writing node)
  with ``u`` (a committed Yjs v1 update), ``a`` (an awareness update payload), ``s`` (a
  Hocuspocus Stateless message, UTF-8), ``z`` (the node compacted the document: the bytes
  its stored size shrank by) or ``q`` (a node opened the document and asks for the others'
  awareness states). Entries older than
  ten minutes are trimmed on append (``XADD MINID ~``): the store holds every update, so
  the stream only has to cover what nodes have not read yet.
- ``collab:control``: one stream for all nodes: ``n`` (the node), ``k`` (the kind:
  ``hb`` heartbeat, ``bye`` a node leaving, ``delete``, ``rename``, ``reauthorize``), ``d``
  (the document, empty for all), ``t`` (a rename's new name).
- ``collab:node:<node>:wake``: written to wake a node's reader when it starts reading one
  more document.
"""

from __future__ import annotations

import logging
import time

from collab.bus.base import BusListener
from collab.metrics import Histogram

__all__ = [
    "CONTROL",
    "Entries",
    "deliver_control",
    "deliver_entries",
    "entry_age",
    "stream_key",
]

log = logging.getLogger("collab.bus")

CONTROL = b"collab:control"

Entries = list[tuple[bytes, dict[bytes, bytes]]]
"""Stream entries as redis-py returns them: ``(entry id, fields)``."""


def stream_key(name: str) -> bytes:
    """The stream of document ``name``: ``collab:{<name>}:updates``."""
    return f"collab:{{{name}}}:updates".encode()


def entry_age(entry_id: bytes, now_ms: int) -> float:
    """The age in seconds of the stream entry ``entry_id`` (``b"<ms>-<seq>"``, the ms being
    the Redis server's clock when it added the entry) at ``now_ms`` (this node's
    ``time.time()`` in ms); 0 when this node's clock is behind Redis's."""
    ms, _, _ = entry_id.partition(b"-")
    return max(0, now_ms - int(ms)) / 1000


def deliver_entries(
    listener: BusListener,
    own: bytes,
    name: str,
    entries: Entries,
    nodes: dict[str, float],
    lag: Histogram | None = None,
) -> int:
    """Hand ``listener`` the entries of document ``name``'s stream written by other nodes
    than ``own``, note in ``nodes`` when each writer was last heard from (a node killed
    before its first heartbeat must still be timed out) and observe in ``lag`` each entry's
    age (seconds since Redis added it, :func:`entry_age`). An entry that cannot be applied
    is logged; the next ones go on.

    Returns:
        How many entries of other nodes there were.
    """
    count = 0
    now = time.monotonic()
    now_ms = int(time.time() * 1000)
    for entry_id, fields in entries:
        writer = fields.get(b"n")
        if writer == own:
            continue
        count += 1
        if writer:
            nodes[writer.decode()] = now
        if lag is not None:
            lag.observe(entry_age(entry_id, now_ms))
        try:
            update = fields.get(b"u")
            if update is not None:
                listener.remote_update(name, update)
            elif (payload := fields.get(b"a")) is not None:
                listener.remote_awareness(name, (writer or b"").decode(), payload)
            elif (stateless := fields.get(b"s")) is not None:
                listener.remote_stateless(name, stateless.decode(errors="replace"))
            elif (size := fields.get(b"z")) is not None:
                listener.remote_compacted(name, int(size))
            elif b"q" in fields:
                listener.awareness_wanted(name)
        except Exception:  # a bug, or bad awareness bytes: the next entries go on
            log.exception("cannot apply an entry of another node", extra={"room": name})
    return count


def deliver_control(
    listener: BusListener, own: str, nodes: dict[str, float], entries: Entries
) -> None:
    """Hand ``listener`` the control events of other nodes than ``own``, and note in
    ``nodes`` (node id: ``time.monotonic()``) when each was last heard from."""
    now = time.monotonic()
    for _, fields in entries:
        writer = fields.get(b"n", b"").decode()
        if writer == own:
            continue
        kind, name = fields.get(b"k"), fields.get(b"d", b"").decode()
        try:
            if kind == b"bye":
                nodes.pop(writer, None)
                listener.node_gone(writer)
                continue
            nodes[writer] = now
            if kind == b"delete":
                listener.remote_deleted(name)
            elif kind == b"rename":
                listener.remote_renamed(name, fields.get(b"t", b"").decode())
            elif kind == b"reauthorize":
                listener.remote_reauthorize(name)
        except Exception:
            log.exception("cannot apply a control event of node %s", writer)
