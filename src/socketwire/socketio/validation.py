"""The one shape check shared by both parsers.

socket.io-parser checks decoded packets in ``Decoder.isPayloadValid`` and
socket.io-msgpack-parser in ``checkPacket``; this module is at least as strict as both, so a
peer cannot send the Python side anything the JavaScript side would refuse.
"""

from __future__ import annotations

import enum
from typing import Final

from .errors import ProtocolError
from .packets import MAX_ACK_ID, RESERVED_EVENTS, PacketType

__all__ = ["ABSENT", "Absent", "check_ack_id", "check_packet"]


class Absent(enum.Enum):
    """Marks a payload that is absent from the wire, as opposed to a JSON ``null``."""

    ABSENT = enum.auto()


# Module constants: enum attribute lookups and enum hashing are slow on the hot path.
_CONNECT: Final = PacketType.CONNECT
_DISCONNECT: Final = PacketType.DISCONNECT
_EVENT: Final = PacketType.EVENT
_ACK: Final = PacketType.ACK
_CONNECT_ERROR: Final = PacketType.CONNECT_ERROR
_BINARY_EVENT: Final = PacketType.BINARY_EVENT
_BINARY_ACK: Final = PacketType.BINARY_ACK

#: The payload was absent (``40`` has no payload; ``40null`` has a ``null`` one).
ABSENT: Final = Absent.ABSENT


def check_ack_id(value: object) -> int:
    """Return ``value`` if it is a valid ack id, or raise.

    Raises:
        ProtocolError: ``value`` is not an integer in ``[0, MAX_ACK_ID]`` (booleans and floats
            are refused).
    """
    if type(value) is not int or not 0 <= value <= MAX_ACK_ID:
        raise ProtocolError(f"invalid ack id {value!r}")
    return value


def check_packet(packet_type: PacketType, data: object, ack_id: int | None) -> None:
    """Check that a decoded packet has the shape its type requires.

    Args:
        packet_type: The decoded type (``BINARY_*`` types are checked like their plain ones).
        data: The decoded payload, or [`ABSENT`][ABSENT] when the wire had none.
        ack_id: The decoded ack id (already range-checked), or ``None``.

    Raises:
        ProtocolError: An ``EVENT`` whose payload is not a non-empty list starting with a
            non-reserved event name (a string); an ``ACK`` without a list payload or without
            an id; a ``CONNECT`` payload that is not a dict; a ``CONNECT_ERROR`` payload that
            is neither a dict nor a string; a ``DISCONNECT`` with a payload; an ack id on
            anything but ``EVENT`` or ``ACK``.
    """
    if packet_type is _EVENT or packet_type is _BINARY_EVENT:
        # socket.io-parser also accepts a number as the event name; no JavaScript client API
        # produces one (event names are strings), and the server dispatches by string name.
        if not isinstance(data, list) or not data or not isinstance(data[0], str):
            raise ProtocolError("invalid payload: an EVENT needs [name: str, *args]")
        if data[0] in RESERVED_EVENTS:
            raise ProtocolError(f"invalid payload: {data[0]!r} is a reserved event name")
        return
    if packet_type is _ACK or packet_type is _BINARY_ACK:
        if not isinstance(data, list):
            raise ProtocolError("invalid payload: an ACK needs a list of arguments")
        if ack_id is None:
            raise ProtocolError("invalid packet: an ACK needs an ack id")
        return
    # socket.io-parser parses an id on every type and ignores it; it only means something on
    # EVENT and ACK, and no client sends one elsewhere.
    if ack_id is not None:
        raise ProtocolError(f"invalid packet: unexpected ack id on {packet_type.name}")
    if packet_type is _CONNECT:
        if data is not ABSENT and not isinstance(data, dict):
            raise ProtocolError("invalid payload: CONNECT data must be an object")
    elif packet_type is _CONNECT_ERROR:
        if not isinstance(data, dict | str):
            raise ProtocolError("invalid payload: CONNECT_ERROR data must be an object or string")
    elif packet_type is _DISCONNECT and data is not ABSENT:
        raise ProtocolError("invalid payload: DISCONNECT carries no data")
