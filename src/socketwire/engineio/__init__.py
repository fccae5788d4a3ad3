"""Sans-I/O Engine.IO v4: packets, polling payloads, and the server session state machine.

Nothing in this package does I/O, starts tasks or reads a clock: the current time is an argument,
and deadlines are values the I/O layer (`socketwire.io.engine`) waits for.
"""

from __future__ import annotations

from socketwire.engineio.errors import ProtocolError
from socketwire.engineio.options import CookieOptions, CorsOptions, EngineOptions
from socketwire.engineio.packets import Packet, PacketType, decode_packet, encode_packet
from socketwire.engineio.payload import (
    SEPARATOR,
    decode_payload,
    decode_payload_bytes,
    encode_payload,
    join_encoded,
)
from socketwire.engineio.reasons import CloseReason

__all__ = [
    "SEPARATOR",
    "CloseReason",
    "CookieOptions",
    "CorsOptions",
    "EngineOptions",
    "Packet",
    "PacketType",
    "ProtocolError",
    "decode_packet",
    "decode_payload",
    "decode_payload_bytes",
    "encode_packet",
    "encode_payload",
    "join_encoded",
]
