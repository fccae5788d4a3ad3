"""What a server counts while metrics or the admin UI are on: plain integers, no locks.

Counting costs nothing while it is off.
[`Server.enable_counters()`][socketwire.Server.enable_counters] creates one
[`ServerCounters`][ServerCounters]; from then on each new connection reads
``server.counters`` once, when it opens, and wraps its decoder, encoder and writers in the
counting ones here, the way DEBUG logging wraps them in tracing ones
(``socketwire.socketio.tracing``). Connections opened before stay
uncounted; a server with counting off runs the same per-packet code as before.

Counting is cheap when on: each packet adds to a few integer attributes. Whoever reports the
numbers ([`socketwire.metrics`][socketwire.metrics] at scrape time, the admin UI every two
seconds) reads them; nothing here talks to Prometheus.
"""

from __future__ import annotations

import bisect
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, Final

from socketwire.adapters.base import AckHandler
from socketwire.adapters.types import EncodedPacket
from socketwire.server.state import PendingAcks
from socketwire.socketio import Packet, PacketType
from socketwire.socketio.base import Decoder

if TYPE_CHECKING:
    from socketwire.io.engine import EngineSocket
    from socketwire.server.client import EngineSocketLike

__all__ = [
    "ACK_RTT_BUCKETS",
    "SLOW_CONSUMER_REASON",
    "CountingDecoder",
    "Histogram",
    "ServerCounters",
    "TimedAcks",
    "add_upgrade_listener",
]

#: Upper bounds (seconds) of the ack round-trip histogram's buckets (``+Inf`` follows).
ACK_RTT_BUCKETS: Final = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0)
#: The Engine.IO close reason of a client that did not read what it was sent.
SLOW_CONSUMER_REASON: Final = "transport buffer full"

Encode = Callable[[Packet], list[str | bytes]]
Write = Callable[[EncodedPacket, bool, bool | None], None]
WritePacket = Callable[..., None]
_PACKET_TYPES: Final = len(PacketType)


def _size(message: str | bytes) -> int:
    # str.isascii() is O(1) in CPython: most messages are ASCII JSON, counted without copying.
    if isinstance(message, str):
        return len(message) if message.isascii() else len(message.encode())
    return len(message)


class Histogram:
    """A histogram of observations with fixed buckets (Prometheus' cumulative form is
    computed when read).

    Attributes:
        bounds: The buckets' upper bounds, increasing.
        counts: Observations per bucket (``len(bounds) + 1``: the last is over every bound).
        total: The sum of the observations.
    """

    __slots__ = ("bounds", "counts", "total")

    def __init__(self, bounds: tuple[float, ...] = ACK_RTT_BUCKETS) -> None:
        self.bounds = bounds
        self.counts = [0] * (len(bounds) + 1)
        self.total = 0.0

    def observe(self, value: float) -> None:
        """Record ``value``."""
        self.counts[bisect.bisect_left(self.bounds, value)] += 1
        self.total += value

    @property
    def count(self) -> int:
        """The number of observations."""
        return sum(self.counts)

    def cumulative(self) -> list[tuple[str, int]]:
        """``(upper bound, observations at most that)`` per bucket, ``"+Inf"`` last."""
        out: list[tuple[str, int]] = []
        running = 0
        for bound, count in zip((*map(str, self.bounds), "+Inf"), self.counts, strict=True):
            running += count
            out.append((bound, running))
        return out


class ServerCounters:
    """The counts of one server since counting was enabled.

    Attributes:
        packets_in: Socket.IO packets received, indexed by ``PacketType``.
        packets_out: Socket.IO packets sent (one per recipient of a broadcast), by type.
        bytes_in: Bytes of the Socket.IO messages received (binary attachments included).
        bytes_out: Bytes of the Socket.IO messages sent.
        volatile_dropped: Volatile packets dropped for a connection that could not take them.
        acks_timed_out: Acknowledgements a server-side ``emit_with_ack`` stopped waiting for.
        ack_rtt: Seconds from an emit asking for an ack to the ack's arrival.
        handler_errors: Exceptions raised by application handlers and listeners.
        connections: Engine.IO connections opened, by their first transport.
        disconnections: Engine.IO connections closed, by reason.
        upgrades: Engine.IO connections upgraded from polling to WebSocket.
    """

    __slots__ = (
        "ack_rtt",
        "acks_timed_out",
        "bytes_in",
        "bytes_out",
        "clock",
        "connections",
        "disconnections",
        "handler_errors",
        "packets_in",
        "packets_out",
        "upgrades",
        "volatile_dropped",
    )

    def __init__(self, clock: Callable[[], float] = time.perf_counter) -> None:
        self.clock = clock
        self.packets_in = [0] * _PACKET_TYPES
        self.packets_out = [0] * _PACKET_TYPES
        self.bytes_in = 0
        self.bytes_out = 0
        self.volatile_dropped = 0
        self.acks_timed_out = 0
        self.ack_rtt = Histogram()
        self.handler_errors = 0
        self.connections: dict[str, int] = {}
        self.disconnections: dict[str, int] = {}
        self.upgrades = 0

    @property
    def slow_consumer_disconnects(self) -> int:
        """Connections closed because their client did not read what it was sent."""
        return self.disconnections.get(SLOW_CONSUMER_REASON, 0)

    # -- the Engine.IO server's callbacks ----------------------------------------------------

    def connection_opened(self, conn: EngineSocket) -> None:
        """An Engine.IO connection opened: count it, and its upgrade when it comes."""
        transport = conn.transport
        self.connections[transport] = self.connections.get(transport, 0) + 1
        if transport == "polling":
            add_upgrade_listener(conn, self._upgraded)

    def _upgraded(self) -> None:
        self.upgrades += 1

    def connection_closed(self, _conn: EngineSocket, reason: str) -> None:
        """An Engine.IO connection closed for ``reason``."""
        self.disconnections[reason] = self.disconnections.get(reason, 0) + 1

    # -- wrappers a connection installs when it opens ----------------------------------------

    def decoder(self, inner: Decoder) -> Decoder:
        """``inner``, counting what it decodes."""
        return CountingDecoder(inner, self)

    def encoder(self, encode: Encode) -> Encode:
        """``encode``, counting each packet and the bytes of its messages."""
        packets = self.packets_out

        def counting_encode(packet: Packet) -> list[str | bytes]:
            messages = encode(packet)
            packets[packet.type] += 1
            size = 0
            for message in messages:
                size += _size(message)
            self.bytes_out += size
            return messages

        return counting_encode

    def writer(self, write: Write, conn: EngineSocketLike) -> Write:
        """A connection's ``write`` (a broadcast's packet, encoded once), counting each
        packet written and each volatile one dropped."""
        packets = self.packets_out

        def counting_write(
            encoded: EncodedPacket, volatile: bool = False, compress: bool | None = None
        ) -> None:
            if volatile and not conn.writable:
                self.volatile_dropped += 1
                return
            packets[encoded.packet.type] += 1
            size = 0
            for message in encoded.messages:
                # the Engine.IO "4" of a text message is not counted, as with encode()
                data = message.data
                size += _size(data) - 1 if isinstance(data, str) else len(data)
            self.bytes_out += size
            write(encoded, volatile, compress)

        return counting_write

    def packet_writer(self, write_packet: WritePacket, conn: EngineSocketLike) -> WritePacket:
        """A connection's ``write_packet``, counting the volatile packets it drops (the
        encoder counts the others)."""

        def counting_write_packet(
            packet: Packet, *, volatile: bool = False, compress: bool | None = None
        ) -> None:
            if volatile and not conn.writable:
                self.volatile_dropped += 1
                return
            write_packet(packet, volatile=volatile, compress=compress)

        return counting_write_packet

    def pending_acks(self) -> PendingAcks:
        """A socket's pending acknowledgements that time their round trips."""
        return TimedAcks(self)


class CountingDecoder(Decoder):
    """A decoder that counts the messages it is fed and the packets it completes."""

    __slots__ = ("_counters", "_inner", "_packets")

    def __init__(self, inner: Decoder, counters: ServerCounters) -> None:
        """Wrap ``inner``; counts go to ``counters``."""
        self._inner = inner
        self._counters = counters
        self._packets = counters.packets_in

    def feed(self, message: str | bytes) -> Packet | None:
        """Decode as the wrapped decoder does, counting."""
        self._counters.bytes_in += _size(message)
        packet = self._inner.feed(message)
        if packet is not None:
            self._packets[packet.type] += 1
        return packet

    @property
    def awaiting_attachments(self) -> int:
        """As the wrapped decoder."""
        return self._inner.awaiting_attachments

    def reset(self) -> None:
        """As the wrapped decoder."""
        self._inner.reset()


class TimedAcks(PendingAcks):
    """``PendingAcks`` (``socketwire.server.state``) that time each acknowledgement:
    a handler registered is wrapped so that its call with the client's answer records the
    round trip in ``counters.ack_rtt`` (a disconnection or a timeout records nothing)."""

    __slots__ = ("_counters",)

    def __init__(self, counters: ServerCounters) -> None:
        super().__init__()
        self._counters = counters

    def __setitem__(self, ack_id: int, handler: AckHandler) -> None:
        counters = self._counters
        sent = counters.clock()

        def timed(args: list[Any] | None) -> None:
            if args is not None:
                counters.ack_rtt.observe(counters.clock() - sent)
            handler(args)

        super().__setitem__(ack_id, timed)


def add_upgrade_listener(conn: EngineSocketLike, listener: Callable[[], None]) -> None:
    """Call ``listener()`` when ``conn`` upgrades to WebSocket, after the listeners set
    before (an Engine.IO socket has one ``on_upgrade`` slot: they are chained)."""
    previous = conn.on_upgrade
    if previous is None:
        conn.on_upgrade = listener
        return

    def both() -> None:
        previous()
        listener()

    conn.on_upgrade = both
