"""Prometheus metrics of a socketwire server (the ``metrics`` extra: ``prometheus_client``).

```python
import socketwire.metrics

sio = socketwire.Server()
socketwire.metrics.enable(sio)      # GET /metrics on the same server
```

[`enable()`][socketwire.metrics.enable] turns the server's counting on
([`Server.enable_counters()`][socketwire.Server.enable_counters]: plain integers, added to
per packet only on connections opened from then on) and registers a
[`ServerCollector`][socketwire.metrics.ServerCollector], which reads the counters and the
server's state when scraped. Nothing is computed between scrapes. ``socketwire serve
--metrics`` does the same for the app it serves.

Every name starts with ``socketwire_``; the list is in the observability page of the docs.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Final

from socketwire.adapters.memory import MemoryAdapter
from socketwire.io.http import HttpRequest, HttpResponse
from socketwire.server.counters import ServerCounters
from socketwire.server.server import Server
from socketwire.socketio import PacketType

try:
    from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest
    from prometheus_client.core import (
        CounterMetricFamily,
        GaugeMetricFamily,
        HistogramMetricFamily,
        Metric,
    )
    from prometheus_client.registry import Collector
except ImportError as exc:  # pragma: no cover - depends on the environment
    raise ImportError(
        "socketwire.metrics needs prometheus_client: install socketwire's 'metrics' extra "
        "(pip install 'socketwire[metrics]')"
    ) from exc

__all__ = ["METRICS_PATH", "MetricsEndpoint", "ServerCollector", "enable"]

#: Where [`enable()`][enable] serves the metrics by default.
METRICS_PATH: Final = "/metrics"
# Binary events and acks are counted as events and acks (a packet holding bytes is an EVENT
# or an ACK until it is encoded).
_TYPES: Final = [
    (kind, kind.name.lower())
    for kind in PacketType
    if kind not in (PacketType.BINARY_EVENT, PacketType.BINARY_ACK)
]


class ServerCollector(Collector):
    """Reads one server's counters and state at each scrape (a prometheus_client
    collector).

    Args:
        server: The server; its counting must be on.
    """

    def __init__(self, server: Server) -> None:
        self.server = server
        self.counters: ServerCounters = server.enable_counters()

    def collect(self) -> Iterator[Metric]:
        """The metrics, now."""
        yield from self._engine()
        yield from self._socketio()
        yield from self._adapters()

    def _engine(self) -> Iterator[Metric]:
        counters = self.counters
        clients = list(self.server.engine.clients.values())
        current = GaugeMetricFamily(
            "socketwire_engine_connections",
            "Engine.IO connections open now, by transport.",
            labels=["transport"],
        )
        by_transport = {"polling": 0, "websocket": 0}
        for conn in clients:
            by_transport[conn.transport] = by_transport.get(conn.transport, 0) + 1
        for transport, count in sorted(by_transport.items()):
            current.add_metric([transport], count)
        yield current
        opened = CounterMetricFamily(
            "socketwire_engine_connections_opened",
            "Engine.IO connections opened, by their first transport.",
            labels=["transport"],
        )
        for transport, count in sorted(counters.connections.items()):
            opened.add_metric([transport], count)
        yield opened
        closed = CounterMetricFamily(
            "socketwire_engine_disconnections",
            "Engine.IO connections closed, by reason.",
            labels=["reason"],
        )
        for reason, count in sorted(counters.disconnections.items()):
            closed.add_metric([reason], count)
        yield closed
        yield CounterMetricFamily(
            "socketwire_engine_upgrades",
            "Engine.IO connections upgraded from HTTP long-polling to WebSocket.",
            value=counters.upgrades,
        )
        yield CounterMetricFamily(
            "socketwire_slow_consumer_disconnects",
            "Connections closed because the client did not read what it was sent "
            '("transport buffer full").',
            value=counters.slow_consumer_disconnects,
        )
        yield GaugeMetricFamily(
            "socketwire_buffered_bytes",
            "Bytes queued for the clients and not yet handed to the OS.",
            value=sum(conn.buffered_amount for conn in clients),
        )

    def _socketio(self) -> Iterator[Metric]:
        counters = self.counters
        sockets = GaugeMetricFamily(
            "socketwire_sockets", "Socket.IO sockets connected, by namespace.", labels=["namespace"]
        )
        rooms = GaugeMetricFamily(
            "socketwire_rooms",
            "Rooms of this server with members, by namespace (each socket's own room left out).",
            labels=["namespace"],
        )
        for name, nsp in sorted(self.server.namespaces.items()):
            sockets.add_metric([name], len(nsp.sockets))
            adapter = nsp.adapter
            if isinstance(adapter, MemoryAdapter):
                own = adapter.sids
                rooms.add_metric([name], sum(1 for room in adapter.rooms if room not in own))
        yield sockets
        yield rooms
        received = CounterMetricFamily(
            "socketwire_packets_received", "Socket.IO packets received, by type.", labels=["type"]
        )
        sent = CounterMetricFamily(
            "socketwire_packets_sent",
            "Socket.IO packets sent (one per recipient of a broadcast), by type.",
            labels=["type"],
        )
        for kind, label in _TYPES:
            received.add_metric([label], counters.packets_in[kind])
            sent.add_metric([label], counters.packets_out[kind])
        yield received
        yield sent
        yield CounterMetricFamily(
            "socketwire_bytes_received",
            "Bytes of the Socket.IO messages received (binary attachments included).",
            value=counters.bytes_in,
        )
        yield CounterMetricFamily(
            "socketwire_bytes_sent",
            "Bytes of the Socket.IO messages sent (binary attachments included).",
            value=counters.bytes_out,
        )
        yield CounterMetricFamily(
            "socketwire_acks_sent",
            "Acknowledgements sent to clients (answers to their events).",
            value=counters.packets_out[PacketType.ACK]
            + counters.packets_out[PacketType.BINARY_ACK],
        )
        yield CounterMetricFamily(
            "socketwire_acks_timed_out",
            "Acknowledgements a server-side emit_with_ack stopped waiting for.",
            value=counters.acks_timed_out,
        )
        rtt = counters.ack_rtt
        yield HistogramMetricFamily(
            "socketwire_ack_round_trip_seconds",
            "Seconds from a server-side emit asking for an acknowledgement to its arrival.",
            buckets=[(bound, float(count)) for bound, count in rtt.cumulative()],
            sum_value=rtt.total,
        )
        yield CounterMetricFamily(
            "socketwire_volatile_dropped",
            "Volatile packets dropped for a connection that could not take them.",
            value=counters.volatile_dropped,
        )
        yield CounterMetricFamily(
            "socketwire_handler_errors",
            "Exceptions raised by application handlers and listeners.",
            value=counters.handler_errors,
        )

    def _adapters(self) -> Iterator[Metric]:
        errors = CounterMetricFamily(
            "socketwire_adapter_publish_errors",
            "Messages to the other servers given up or refused, by adapter.",
            labels=["adapter"],
        )
        queued = GaugeMetricFamily(
            "socketwire_adapter_queued_messages",
            "Messages to the other servers waiting to be published, by adapter.",
            labels=["adapter"],
        )
        seen: set[int] = set()
        totals: dict[str, tuple[int, int]] = {}
        for nsp in self.server.namespaces.values():
            health = nsp.adapter.publish_health()
            if health is None or id(health.link) in seen:
                continue
            seen.add(id(health.link))
            label = type(nsp.adapter).__name__
            before = totals.get(label, (0, 0))
            totals[label] = (before[0] + health.errors, before[1] + health.queued)
        for label, (error_count, queued_count) in sorted(totals.items()):
            errors.add_metric([label], error_count)
            queued.add_metric([label], queued_count)
        yield errors
        yield queued


class MetricsEndpoint:
    """Answers ``GET /metrics`` with a registry's metrics in the text format (a route of the
    server).

    Args:
        registry: What to expose.
    """

    def __init__(self, registry: CollectorRegistry) -> None:
        self.registry = registry

    async def __call__(self, request: HttpRequest) -> HttpResponse:
        """The metrics, or 405 for a method other than GET and HEAD."""
        if request.method not in ("GET", "HEAD"):
            return HttpResponse(405, [("Allow", "GET, HEAD")])
        body = generate_latest(self.registry)
        return HttpResponse(
            200,
            [("Content-Type", CONTENT_TYPE_LATEST), ("Cache-Control", "no-store")],
            b"" if request.method == "HEAD" else body,
        )


def enable(
    server: Server,
    *,
    path: str | None = METRICS_PATH,
    registry: CollectorRegistry | None = None,
) -> ServerCollector:
    """Count, and expose the server's metrics.

    Call it before the server serves: connections opened earlier are not counted.

    Args:
        server: The server.
        path: Serve the metrics at this path on the server itself (None: do not; scrape
            ``registry`` some other way, e.g. ``prometheus_client.start_http_server``).
        registry: Where to register the collector (default: a new registry, holding only
            this server's metrics; pass ``prometheus_client.REGISTRY`` to expose them with
            the process's and the application's own metrics).

    Returns:
        The collector (``registry`` holds it).
    """
    collector = ServerCollector(server)
    if registry is None:
        registry = CollectorRegistry()
    registry.register(collector)
    if path is not None:
        server.route(path, MetricsEndpoint(registry))
    return collector
