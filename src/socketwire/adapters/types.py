"""The types a server and its adapters share: handshakes, sessions, encoded packets.

They live here, below `socketwire.server`, because the adapters need them and
the adapters import nothing from the server (see the design topic, "Layers"). The server re-exports
the public ones (``socketwire.Handshake``, ``socketwire.RecoveryOptions``).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from socketwire.engineio.packets import Packet as EnginePacket
from socketwire.engineio.packets import PacketType as EnginePacketType
from socketwire.engineio.packets import SharedMessage, encode_packet
from socketwire.socketio import Packet

__all__ = ["EncodedPacket", "Handshake", "RecoveryOptions", "Session"]


@dataclass(frozen=True, slots=True)
class Handshake:
    """What the server knew about a client when its socket connected (JS
    ``socket.handshake``).

    Attributes:
        headers: The Engine.IO handshake request's headers (lower-case names).
        time: The creation date as a JS ``Date`` string.
        address: The client's IP address, when known.
        xdomain: True when the request carried an ``Origin`` header.
        secure: True when the request came over TLS.
        issued: The creation time in milliseconds since the epoch.
        url: The handshake request's target (path and query string).
        query: The handshake request's query parameters.
        auth: The ``auth`` payload of the client's CONNECT packet.
    """

    headers: Mapping[str, str]
    time: str
    address: str | None
    xdomain: bool
    secure: bool
    issued: int
    url: str
    query: Mapping[str, str]
    auth: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class RecoveryOptions:
    """Options of connection state recovery (JS ``connectionStateRecovery``).

    Attributes:
        max_disconnection_duration: Seconds a session (and the packets it may miss) is kept.
        skip_middlewares: Skip the connection middlewares when a session is recovered.
    """

    max_disconnection_duration: float = 120.0
    skip_middlewares: bool = True


@dataclass(slots=True)
class Session:
    """A disconnected socket's state, as an adapter persists and restores it.

    Attributes:
        sid: The socket id, reused on recovery.
        pid: The private session id the client presents to recover.
        rooms: The rooms the socket was in (its own id included).
        data: The socket's ``data`` dict.
        disconnected_at: When it was persisted (seconds, the adapter's clock).
        missed_packets: On restore: the ``[event, *args, offset]`` lists to replay.
    """

    sid: str
    pid: str
    rooms: list[str]
    data: dict[str, Any]
    disconnected_at: float = 0.0
    missed_packets: list[list[Any]] = field(default_factory=list)


class EncodedPacket:
    """One Socket.IO packet encoded once for many recipients (a broadcast).

    ``messages`` are the parser's messages, each already wrapped as an Engine.IO MESSAGE
    packet in a `SharedMessage`: the fan-out loop hands
    the very same objects to every recipient's Engine.IO connection (and the recipients on
    the native WebSocket plumbing share one frame per message). ``packet`` is the packet
    itself, for the recipients' catch-all outgoing listeners.

    Args:
        packet: The packet.
        messages: What `encode_for_broadcast()` returned
            for it.
    """

    __slots__ = ("messages", "packet")

    def __init__(self, packet: Packet, messages: Sequence[str | bytes]) -> None:
        self.packet = packet
        self.messages = tuple(
            SharedMessage(encode_packet(EnginePacket(EnginePacketType.MESSAGE, m)))
            for m in messages
        )
