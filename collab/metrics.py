"""Prometheus metrics, served at ``/metrics`` in the text exposition format.

Every metric is a plain number (or a list of bucket counts) that a custom collector turns
into ``prometheus_client`` metric families at scrape time: counting a message costs a dict
update and observing a commit a bisection, not a lock (``prometheus_client``'s own
``Histogram.observe`` took 5% of the server's CPU at 300 commits per second). Everything runs
on the event loop. One registry per application: no globals.
"""

from __future__ import annotations

from bisect import bisect_left
from collections import Counter
from collections.abc import Callable, Iterator
from itertools import accumulate
from typing import Any

from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
    Metric,
)
from prometheus_client.registry import Collector
from prometheus_client.utils import floatToGoString

__all__ = ["CONTENT_TYPE", "Histogram", "Metrics", "frame_kind"]

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"

_SYNC_KINDS = {0: "sync_step1", 1: "sync_step2", 2: "update"}
_KINDS = {1: "awareness", 2: "auth", 3: "query_awareness"}


def frame_kind(frame: bytes) -> str:
    """The y-protocols message kind of a frame from its first bytes, without decoding it."""
    if not frame:
        return "invalid"
    if frame[0] == 0:
        return _SYNC_KINDS.get(frame[1], "invalid") if len(frame) > 1 else "invalid"
    return _KINDS.get(frame[0], "invalid")


class Histogram:
    """A histogram for one thread: bucket counts and a sum, rendered at scrape time.

    Args:
        name: the metric name (Prometheus adds ``_bucket``, ``_count`` and ``_sum``).
        documentation: the help text.
        buckets: the increasing upper bounds (``le``); ``+Inf`` is added.
    """

    def __init__(self, name: str, documentation: str, buckets: tuple[float, ...]) -> None:
        self.name, self.documentation, self.bounds = name, documentation, buckets
        self.counts = [0] * (len(buckets) + 1)
        self.sum = 0.0

    def observe(self, value: float) -> None:
        """Count ``value`` in the first bucket whose bound is at least ``value``."""
        self.counts[bisect_left(self.bounds, value)] += 1
        self.sum += value

    def family(self) -> HistogramMetricFamily:
        """The metric family (cumulative buckets) for the registry."""
        bounds = [*map(floatToGoString, self.bounds), "+Inf"]
        return HistogramMetricFamily(
            self.name,
            self.documentation,
            buckets=list(zip(bounds, accumulate(self.counts), strict=True)),
            sum_value=self.sum,
        )


class Metrics(Collector):
    """Every metric of one server.

    Args:
        gauges: callables for the current open rooms and connected peers.
    """

    def __init__(self, rooms: Callable[[], int], peers: Callable[[], int]) -> None:
        self.registry = CollectorRegistry()
        self._rooms, self._peers = rooms, peers
        # kind -> [messages, bytes]; the last frame sent and its entry, because a broadcast
        # sends one frame to every peer in a row (counting it costs two additions then).
        self._in: dict[str, list[int]] = {}
        self._out: dict[str, list[int]] = {}
        self._last_sent: bytes | None = None
        self._last_out = [0, 0]
        self.closes: Counter[int] = Counter()
        self.webhook_deliveries: Counter[str] = Counter()  # by outcome
        self.updates_committed = 0
        self.compactions = 0
        self.compactions_abandoned = 0  # past their time budget, or the log changed
        self.hibernations = 0  # rooms put to sleep (collab.hub.hibernation)
        self.memory_releases = 0  # free heap pages given back (collab.hub.release)
        self.asleep: Callable[[], int] = lambda: 0  # rooms asleep now (the hub sets it)
        self.rate_pauses = 0  # times a connection over its message rate was not read
        self.storage_errors = 0
        self.bus: Any = None  # cluster mode: the RedisBus (its counters), else None
        self.bus_failures = 0  # times the cluster bus went down
        self.commit_retries = 0  # commits tried again after a transient failure (locked)
        self.updates_lost = 0  # updates whose commit failed for good (never acknowledged)
        self.commit_batch = Histogram(
            "collab_commit_batch_updates",
            "Updates committed per transaction (group commit).",
            buckets=(1, 2, 5, 10, 20, 50, 100, 200, 500, 1000, 5000),
        )
        self.commit_seconds = Histogram(
            "collab_commit_seconds",
            "Time to commit one batch to SQLite.",
            buckets=(0.0005, 0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.25, 1.0),
        )
        self.fanout_seconds = Histogram(
            "collab_fanout_seconds",
            "Time from the arrival of a commit batch's first update to its relay (commit"
            " included), one sample per batch.",
            buckets=(0.0005, 0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.25, 1.0),
        )
        self.registry.register(self)

    def received(self, frame: bytes) -> None:
        """Count one frame received from a peer."""
        counts = self._in.setdefault(frame_kind(frame), [0, 0])
        counts[0] += 1
        counts[1] += len(frame)

    def sent(self, frame: bytes) -> None:
        """Count one frame sent to a peer."""
        if frame is not self._last_sent:
            self._last_sent = frame
            self._last_out = self._out.setdefault(frame_kind(frame), [0, 0])
        counts = self._last_out
        counts[0] += 1
        counts[1] += len(frame)

    def render(self) -> bytes:
        """The exposition text of every metric."""
        return generate_latest(self.registry)

    def collect(self) -> Iterator[Metric]:
        """Yield every metric (called by the registry at scrape time)."""
        yield GaugeMetricFamily("collab_open_rooms", "Rooms loaded in memory.", self._rooms())
        yield GaugeMetricFamily("collab_peers", "WebSocket peers connected.", self._peers())
        for name, doc, counts, index in (
            ("collab_messages_received", "Messages received, by type.", self._in, 0),
            ("collab_bytes_received", "Bytes received, by message type.", self._in, 1),
            ("collab_messages_sent", "Messages sent, by type.", self._out, 0),
            ("collab_bytes_sent", "Bytes sent, by message type.", self._out, 1),
        ):
            family = CounterMetricFamily(name, doc, labels=["type"])
            for kind, values in sorted(counts.items()):
                family.add_metric([kind], values[index])
            yield family
        closes = CounterMetricFamily(
            "collab_closes", "WebSocket connections closed by the server, by code.", labels=["code"]
        )
        for code, value in sorted(self.closes.items()):
            closes.add_metric([str(code)], value)
        yield closes
        yield CounterMetricFamily(
            "collab_updates_committed", "Updates committed to SQLite.", self.updates_committed
        )
        yield CounterMetricFamily("collab_compactions", "Compactions done.", self.compactions)
        yield CounterMetricFamily(
            "collab_compactions_abandoned",
            "Compactions abandoned: past --compact-seconds, or the log changed under the fold.",
            self.compactions_abandoned,
        )
        yield CounterMetricFamily(
            "collab_hibernations",
            "Open documents put to sleep (their CRDT dropped, see --hibernate-seconds).",
            self.hibernations,
        )
        yield CounterMetricFamily(
            "collab_memory_releases",
            "Times the free pages of the C heap were given back after large writes.",
            self.memory_releases,
        )
        yield GaugeMetricFamily(
            "collab_rooms_asleep", "Open documents asleep now (hibernated).", self.asleep()
        )
        yield CounterMetricFamily(
            "collab_rate_limit_pauses",
            "Times a connection over --max-messages-per-second was held back (not read).",
            self.rate_pauses,
        )
        yield CounterMetricFamily(
            "collab_commit_retries",
            "Commits tried again after a transient failure (database locked).",
            self.commit_retries,
        )
        yield CounterMetricFamily(
            "collab_updates_lost",
            "Updates whose commit failed for good: never relayed nor acknowledged.",
            self.updates_lost,
        )
        yield CounterMetricFamily(
            "collab_storage_errors", "Failed commits, loads and compactions.", self.storage_errors
        )
        deliveries = CounterMetricFamily(
            "collab_webhook_deliveries",
            "Webhook requests by outcome: delivered, failed (to be retried), dead (given up).",
            labels=["outcome"],
        )
        for outcome, value in sorted(self.webhook_deliveries.items()):
            deliveries.add_metric([outcome], value)
        yield deliveries
        for histogram in (self.commit_batch, self.commit_seconds, self.fanout_seconds):
            yield histogram.family()
        bus = self.bus
        if bus is not None:
            yield GaugeMetricFamily(
                "collab_bus_up", "Whether the cluster bus (Redis) works now.", int(bus.healthy)
            )
            yield GaugeMetricFamily(
                "collab_bus_nodes", "Other cluster nodes heard from lately.", len(bus.nodes)
            )
            yield GaugeMetricFamily(
                "collab_bus_watched_streams",
                "Document streams this node reads now (its open rooms).",
                bus.watched,
            )
            yield bus.lag.family()
            for name, doc, value in (
                ("collab_bus_entries_appended", "Updates appended to Redis streams.", bus.appended),
                ("collab_bus_entries_read", "Entries of other nodes read.", bus.read),
                ("collab_bus_errors", "Failed Redis calls.", bus.errors),
                ("collab_bus_failures", "Times the cluster bus went down.", self.bus_failures),
            ):
                yield CounterMetricFamily(name, doc, value)
