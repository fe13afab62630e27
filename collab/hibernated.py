"""What a hibernated room keeps of its document (:meth:`collab.room.Room.hibernate`): one
encoded copy of its state, from which joiners are served and the document is rebuilt, and the
test that lets an update bringing nothing leave it asleep."""

from __future__ import annotations

from collections.abc import Mapping

from pycrdt import Doc

from collab import protocol, structs
from collab.integrator import Integrator, replay

__all__ = ["Asleep", "brings_nothing"]


class Asleep:
    """What a hibernated room keeps of its document: its whole state as the sync step 2
    frames a joiner is sent (one, or several parts: see :meth:`collab.room.Room.sync_frames`), its
    state vector, and its integrator's bounds."""

    __slots__ = ("frames", "max_pending_bytes", "max_pending_structs", "state_vector")

    def __init__(self, frames: list[bytes], state_vector: bytes, integrator: Integrator) -> None:
        self.frames = frames
        self.state_vector = state_vector
        self.max_pending_bytes = integrator.max_pending_bytes
        self.max_pending_structs = integrator.max_pending_structs

    def parts(self) -> list[bytes]:
        """The state, as the updates of its frames (a copy of each)."""
        parts = []
        for frame in self.frames:
            message = protocol.decode(frame)
            assert isinstance(message, protocol.SyncStep2 | protocol.Update)
            parts.append(message.update)
        return parts

    def rebuild(self) -> Integrator:
        """A new document from the kept state, through an integrator (the parts of a large
        state may hold structs whose origin comes in a later part).

        Raises:
            InvalidUpdate: never for a state the room encoded itself.
        """
        integrator = replay(Doc(), self.parts())
        integrator.max_pending_bytes = self.max_pending_bytes
        integrator.max_pending_structs = self.max_pending_structs
        return integrator


def brings_nothing(known: Mapping[int, int], update: bytes) -> bool:
    """Whether ``update`` certainly changes nothing to a document of state vector ``known``
    (client id -> clock): no deletion, every struct below it. Decided without the document:
    the sync step 2 of a joiner with nothing new keeps a hibernated room asleep. ``False``
    when in doubt (it is then applied)."""
    try:
        parsed = structs.parse(update)
    except structs.Malformed:
        return False
    for run in parsed.runs:
        last = run.structs[-1] if run.structs else None
        if last is not None and last[0] + last[1] > known.get(run.client, 0):
            return False
    return not parsed.deletes
