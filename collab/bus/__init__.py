"""Cross-node coordination: the :class:`Bus` seam, :class:`LocalBus` (one process) and
:class:`RedisBus` (cluster mode, Redis Streams; README "Running several processes or machines").

``RedisBus`` is imported on first use: redis-py takes about 7 MiB of every process that
imports it, and only a cluster node needs it.
"""

from typing import TYPE_CHECKING, Any

from collab.bus.base import Bus, BusListener, BusUnavailable
from collab.bus.local import LocalBus

if TYPE_CHECKING:
    from collab.bus.redis import RedisBus

__all__ = ["Bus", "BusListener", "BusUnavailable", "LocalBus", "RedisBus"]


def __getattr__(name: str) -> Any:
    """``RedisBus``, imported on first use (PEP 562)."""
    if name == "RedisBus":
        from collab.bus.redis import RedisBus

        return RedisBus
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
