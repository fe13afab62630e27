"""Coordination: the open rooms, their one write path (:meth:`Hub.write_now`,
:meth:`Hub.write`), group commit before relay, compaction, and the host's hooks."""

from __future__ import annotations

from collab.errors import ShuttingDown, TooManyConnections
from collab.hub.committer import Origin
from collab.hub.hooks import ChangeHook, ConnectHook, DeleteHook, Hooks, StatelessHook
from collab.hub.hub import Hub, WriteResult
from collab.hub.loading import read_document
from collab.hub.slots import ClosablePeer

__all__ = [
    "ChangeHook",
    "ClosablePeer",
    "ConnectHook",
    "DeleteHook",
    "Hooks",
    "Hub",
    "Origin",
    "ShuttingDown",
    "StatelessHook",
    "TooManyConnections",
    "WriteResult",
    "read_document",
]
