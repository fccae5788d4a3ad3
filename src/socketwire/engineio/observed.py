"""A server session that also reports its packets, flushes and heartbeats, sans I/O.

JS engine.io's ``Socket`` emits ``packet`` for every packet received, ``packetCreate`` for
every packet queued, ``flush`` and ``drain`` around every write, and ``heartbeat`` for every
pong. Reporting them costs work on every packet, so a
``ServerSession`` does not: the I/O layer
calls [`observe()`][observe] on a session once something listens to those events, and from
then on the session also produces these outputs, in JS's order:

- [`PacketReceived`][PacketReceived]: a packet arrived on the session's transport while it
  was open (before the ``MessageReceived`` of a message), JS ``packet``;
- [`PacketCreated`][PacketCreated]: a packet was queued for the client (a message or a
  ping), JS ``packetCreate``;
- [`Flushed`][Flushed] then [`Drained`][Drained]: packets were handed to the transport (over
  WebSocket each packet as it is sent; over polling the packets of one poll response, and
  those waiting when the upgrade completes), JS ``flush`` and ``drain``;
- [`Heartbeat`][Heartbeat]: the client's pong arrived, JS ``heartbeat``.

An observed session takes no shortcut: ``writes_through`` is False and
``take_websocket_message`` takes nothing, so every message goes through the paths that report
it. A session that is never observed runs exactly as before.
"""

from __future__ import annotations

from dataclasses import dataclass

from socketwire.engineio.errors import ProtocolError
from socketwire.engineio.packets import Packet, PacketType, decode_packet
from socketwire.engineio.server_session import Observation, ReadyState, ServerSession
from socketwire.engineio.v3 import MESSAGE_BYTE

__all__ = [
    "Drained",
    "Flushed",
    "Heartbeat",
    "ObservedSession",
    "PacketCreated",
    "PacketReceived",
    "observe",
]

_OPEN = ReadyState.OPEN
_PING = PacketType.PING
_PONG = PacketType.PONG


@dataclass(frozen=True, slots=True)
class PacketReceived(Observation):
    """A packet arrived on the session's transport (JS socket ``packet``)."""

    packet: Packet


@dataclass(frozen=True, slots=True)
class PacketCreated(Observation):
    """A packet was queued for the client (JS socket ``packetCreate``).

    ``compress``: the packet may be compressed (JS ``packet.options.compress``).
    """

    packet: Packet
    compress: bool = True


@dataclass(frozen=True, slots=True)
class Flushed(Observation):
    """``packets`` are handed to the transport now (JS socket ``flush``, with the buffer)."""

    packets: tuple[Packet, ...]


@dataclass(frozen=True, slots=True)
class Drained(Observation):
    """What was flushed is written (JS socket ``drain``)."""


@dataclass(frozen=True, slots=True)
class Heartbeat(Observation):
    """The client answered a ping (JS socket ``heartbeat``)."""


def _packet(message: str | bytes, protocol: int) -> Packet:
    """The packet a queued message (``"4..."``, ``"2"``, raw bytes; in v3 binary keeps its
    type byte) carries."""
    if isinstance(message, str):
        try:
            return decode_packet(message)
        except ProtocolError:  # never: the session encoded it
            return Packet(PacketType.MESSAGE, message)
    if protocol == 3 and message[:1] == MESSAGE_BYTE:
        return Packet(PacketType.MESSAGE, bytes(message[1:]))
    return Packet(PacketType.MESSAGE, bytes(message))


class ObservedSession(ServerSession):
    """A ``ServerSession`` that also reports the outputs of this module. Made by
    [`observe()`][observe], never directly."""

    __slots__ = ()

    @property
    def writes_through(self) -> bool:
        """Always False: every message goes through the session, which reports it."""
        return False

    def take_websocket_message(self, data: str | bytes) -> str | bytes | None:
        """Takes nothing: every message goes through ``receive_websocket()``."""
        return None

    def _on_packet(self, packet: Packet, now: float) -> None:
        if self.state is not _OPEN:
            return
        self._outputs.append(PacketReceived(packet))
        super()._on_packet(packet, now)
        # JS: the client's pong (v4), or its ping once the pong is sent (v3)
        heartbeat = _PING if self.protocol == 3 else _PONG
        if packet.type is heartbeat and self.state is _OPEN:
            self._outputs.append(Heartbeat())

    def _send(
        self,
        message: str | bytes,
        *,
        bounded: bool = True,
        compress: bool = True,
        frame: bytes | None = None,
    ) -> None:
        if self.state is not _OPEN:
            return  # JS sendPacket: nothing is created once the socket is closing
        packet = _packet(message, self.protocol)
        outputs = self._outputs
        outputs.append(PacketCreated(packet, compress))
        if self.transport != "polling":
            outputs.append(Flushed((packet,)))
            super()._send(message, bounded=bounded, compress=compress, frame=frame)
            outputs.append(Drained())
        else:
            super()._send(message, bounded=bounded, compress=compress, frame=frame)

    def _flush_poll(self, *, closing: bool = False) -> None:
        packets = tuple(_packet(message, self.protocol) for message in self._queue)
        if packets:
            self._outputs.append(Flushed(packets))
        super()._flush_poll(closing=closing)
        if packets:
            self._outputs.append(Drained())

    def _complete_upgrade(self) -> None:
        # JS flushes what waited for the next poll onto the new transport.
        packets = tuple(_packet(message, self.protocol) for message in self._queue)
        super()._complete_upgrade()
        if packets:
            outputs = self._outputs
            first = len(outputs) - len(packets)
            outputs.insert(first, Flushed(packets))
            outputs.append(Drained())


def observe(session: ServerSession) -> None:
    """Make ``session`` report the outputs of this module from now on (idempotent)."""
    if not isinstance(session, ObservedSession):
        # Same slots, more outputs: the session keeps its state and changes its behaviour.
        session.__class__ = ObservedSession
