"""Engine.IO v4 packets and their encoding on one transport message.

Wire format (engine.io-parser 5, protocol revision 4): a text packet is its type digit
followed by its data (``4hello``); a binary message travels as a binary WebSocket frame
with no type byte, or, where only text is possible (polling payloads), as ``b`` followed
by its base64 encoding.
"""

from __future__ import annotations

import base64
import binascii
from dataclasses import dataclass
from enum import IntEnum

from socketwire.engineio.errors import ProtocolError

__all__ = [
    "Packet",
    "PacketType",
    "SharedMessage",
    "decode_packet",
    "encode_packet",
]


class PacketType(IntEnum):
    """Engine.IO v4 packet types (the digit that starts a text packet)."""

    OPEN = 0
    CLOSE = 1
    PING = 2
    PONG = 3
    MESSAGE = 4
    UPGRADE = 5
    NOOP = 6


@dataclass(frozen=True, slots=True)
class Packet:
    """One Engine.IO packet.

    Attributes:
        type: the packet type.
        data: text data (``""`` when absent), or bytes for a binary ``MESSAGE``.
    """

    type: PacketType
    data: str | bytes = ""


_TYPE_BY_CHAR: dict[str, PacketType] = {str(int(t)): t for t in PacketType}
_CHAR_BY_TYPE: dict[PacketType, str] = {t: c for c, t in _TYPE_BY_CHAR.items()}


def encode_packet(packet: Packet, *, supports_binary: bool = True) -> str | bytes:
    """Encode one packet as one transport message.

    Args:
        packet: the packet; bytes data is only allowed for ``MESSAGE``.
        supports_binary: when False (polling payloads), binary data is sent as ``b`` + base64.

    Returns:
        ``str`` for a text message, ``bytes`` for a binary WebSocket message.

    Raises:
        ValueError: bytes data on a packet that is not a ``MESSAGE`` (the wire cannot
            carry it: a binary frame is always a message).
    """
    data = packet.data
    if isinstance(data, str):
        return _CHAR_BY_TYPE[packet.type] + data
    if packet.type is not PacketType.MESSAGE:
        raise ValueError(f"binary data on a {packet.type.name} packet")
    if supports_binary:
        return bytes(data)
    return "b" + base64.b64encode(data).decode("ascii")


def decode_packet(message: str | bytes) -> Packet:
    """Decode one transport message (a WebSocket message or one item of a payload).

    Raises:
        ProtocolError: empty message, unknown type, or invalid base64 after ``b``.
    """
    if not isinstance(message, str):
        # A binary WebSocket frame is a message packet; it has no type byte.
        return Packet(PacketType.MESSAGE, bytes(message))
    if not message:
        raise ProtocolError("empty packet")
    first = message[0]
    if first == "b":
        try:
            # validate=True rejects characters outside the alphabet and bad padding, where
            # Node's Buffer.from(..., "base64") would silently skip them.
            return Packet(PacketType.MESSAGE, base64.b64decode(message[1:], validate=True))
        except (binascii.Error, ValueError) as exc:
            raise ProtocolError("invalid base64 in binary packet") from exc
    packet_type = _TYPE_BY_CHAR.get(first)
    if packet_type is None:
        raise ProtocolError(f"unknown packet type {first!r}")
    return Packet(packet_type, message[1:])


class SharedMessage:
    """One Engine.IO packet encoded once for many sessions: a broadcast.

    ``data`` is the packet in WebSocket form (``"4..."`` text, or raw bytes), as
    `encode_packet()` returns it. ``frame`` is a cache the I/O layer fills: the
    packet's WebSocket frame, built on first use by a recipient that can take frames, then written
    as is to every such recipient (server frames are unmasked, RFC 6455 section 5.1, so one frame
    fits every connection without permessage-deflate).
    """

    __slots__ = ("_eio3", "data", "frame")

    def __init__(self, data: str | bytes) -> None:
        """Wrap an encoded packet (see `encode_packet()`)."""
        self.data = data
        #: The WebSocket frame of [`data`][data], once an I/O layer has built it.
        self.frame: bytes | None = None
        self._eio3: SharedMessage | None = None

    def eio3(self) -> SharedMessage:
        """The same packet for Engine.IO v3 sessions, built once on first use.

        A text packet is the same in v3 (so is its frame): this very object. A binary one
        keeps its type byte in v3 (``b"\\x04" + data``): a second shared message, cached
        here, so a broadcast is encoded once per protocol revision in use.
        """
        if isinstance(self.data, str):
            return self
        twin = self._eio3
        if twin is None:
            twin = self._eio3 = SharedMessage(b"\x04" + self.data)
        return twin
