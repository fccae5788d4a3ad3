"""Sans-I/O Socket.IO v5: packets, the JSON and msgpack parsers, binary attachments.

Wire-compatible with the npm packages socket.io-parser 4.2 and socket.io-msgpack-parser 3.0.
Nothing here does I/O: parsers turn [`Packet`][Packet] objects into Engine.IO messages and back.
"""

from __future__ import annotations

from .base import Decoder, Parser, encode_for_broadcast
from .errors import ProtocolError
from .msgpack_parser import MsgpackDecoder, MsgpackParser
from .packets import MAX_ACK_ID, RESERVED_EVENTS, Packet, PacketType
from .parser import JsonDecoder, JsonParser

__all__ = [
    "MAX_ACK_ID",
    "RESERVED_EVENTS",
    "Decoder",
    "JsonDecoder",
    "JsonParser",
    "MsgpackDecoder",
    "MsgpackParser",
    "Packet",
    "PacketType",
    "Parser",
    "ProtocolError",
    "encode_for_broadcast",
]
