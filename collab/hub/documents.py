"""Whole-document operations of the hub beside its write path: delete, rename, and reads of
a document's committed state (:class:`Documents`, whose methods the hub binds as its own
``delete``, ``rename``, ``state`` and ``state_vector``).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable

from collab.errors import CloseCode
from collab.hub.cluster import Cluster
from collab.hub.committer import Committer
from collab.hub.folds import FoldThreads
from collab.hub.hooks import Hooks
from collab.hub.renames import RENAMED_HERE, renamed_reason
from collab.hub.rooms import Rooms
from collab.hub.worker import DatabaseThread
from collab.room import Room
from collab.stores import DocumentStore, NameTaken, StoreError
from collab.updates import EMPTY_UPDATE

__all__ = ["Documents"]


class Documents:
    """Deletes, renames and reads whole documents, open or not.

    Args:
        store: the hub's store (run on ``thread``).
        thread: the database thread.
        rooms: the open rooms.
        committer: what is queued for commit (flushed first; reads wait for it).
        folds: where a document that is not open is replayed and encoded.
        hooks: the host's hooks (``on_delete``).
        cluster: cluster mode's side of the bus, or ``None`` in one process.
    """

    def __init__(
        self,
        store: DocumentStore,
        thread: DatabaseThread,
        rooms: Rooms,
        committer: Committer,
        folds: FoldThreads,
        hooks: Hooks,
        cluster: Cluster | None,
    ) -> None:
        self.store = store
        self.rooms = rooms
        self.committer = committer
        self.folds = folds
        self.hooks = hooks
        self.cluster = cluster
        self.run = thread.run
        self.flush = committer.flush

    async def delete(self, name: str) -> bool:
        """Delete document ``name``: commit what is queued, close its peers with 4410 (in
        cluster mode on every node), drop it, then run ``on_delete``.

        Returns:
            ``True`` when the document existed.

        Raises:
            StoreError: on a database failure.
        """
        await self.flush()
        self.rooms.forget(name)
        deleted = await self.run(self.store.delete, name)
        if self.cluster is not None:
            await self.cluster.announce("delete", name)
        if deleted and self.hooks.delete is not None:
            self.hooks.delete(name)
        return deleted

    async def rename(self, old: str, new: str) -> bool:
        """Rename document ``old`` to ``new``: commit what is queued, close the peers of
        ``old`` with 4409 and a reason naming ``new`` (and those of an empty room open under
        ``new`` with 1001, to load what moved in; see :mod:`collab.hub.renames`), in cluster
        mode on every node, then move it in the store (:meth:`DocumentStore.rename`).

        Returns:
            ``True`` when ``old`` existed.

        Raises:
            NameTaken: ``new`` is a stored document (the peers of ``old`` stay connected).
            StoreError: on a database failure.
        """
        await self.flush()  # a document whose first updates wait for their commit exists
        if await self.run(self.store.get, old) is None:
            return False
        if await self.run(self.store.get, new) is not None:
            raise NameTaken(new)
        await self.flush()
        self.rooms.forget(old, CloseCode.DOCUMENT_RENAMED, renamed_reason(new))
        self.rooms.forget(new, CloseCode.GOING_AWAY, RENAMED_HERE)
        renamed = await self.run(self.store.rename, old, new)
        if self.cluster is not None:
            await self.cluster.announce("rename", old, new)
        return renamed

    async def state(self, name: str) -> bytes:
        """The committed state of document ``name`` as one v1 update (empty when unknown):
        from its open room at a moment when nothing of it waits for a commit, else from the
        store. In cluster mode always from the store, which every node commits to before it
        relays: an open room may not have read another node's newest commit yet.

        Raises:
            StoreError: on a database failure, or when the room is dropped while read.
        """
        room = self.rooms.room(name)
        if room is None or self.cluster is not None:
            # as a room loads it (rows that no longer decode go to the quarantine), the
            # replay and the encoding on a load thread
            stored, integrator = await self.rooms.read(name)
            if stored.snapshot is None and not stored.updates:
                return EMPTY_UPDATE
            return await self.folds.load(integrator.state_update)
        return await self._committed(room, room.state)

    async def state_vector(self, name: str) -> bytes:
        """The state vector of document ``name``'s committed state (without the structs that
        wait for a predecessor), as :meth:`state` would give it, but read from the open room's
        document without encoding the document: a 20 MB document's state, decoded again to
        read its state vector (``pycrdt.get_state``), took 170 MiB and half a second of the
        event loop, in every change event while it was edited.

        Raises:
            StoreError: on a database failure, or when the room is dropped while read.
        """
        room = self.rooms.room(name)
        if room is None or self.cluster is not None:
            _, integrator = await self.rooms.read(name)
            return await self.folds.load(integrator.doc.get_state)
        return await self._committed(room, lambda: room.state_vector)

    async def _committed(self, room: Room, read: Callable[[], bytes]) -> bytes:
        """``read()`` at a moment when nothing of ``room`` waits for a commit."""
        result: asyncio.Future[bytes] = asyncio.get_running_loop().create_future()
        self.committer.when_committed(
            room,
            lambda: result.set_result(read()),
            lambda: result.set_exception(StoreError("the document was closed while being read")),
        )
        return await result
