"""Cross-node coordination: the :class:`Bus` seam, :class:`LocalBus` (one process) and
:class:`RedisBus` (cluster mode, Redis Streams; DESIGN.md section 6)."""

from collab.bus.base import Bus, BusListener, BusUnavailable
from collab.bus.local import LocalBus
from collab.bus.redis import RedisBus

__all__ = ["Bus", "BusListener", "BusUnavailable", "LocalBus", "RedisBus"]
