"""Socket.IO v5 packets, as the application layers see them.

See https://github.com/socketio/socket.io-protocol (version 5). Binary arguments are plain
``bytes`` anywhere inside [`Packet.data`][Packet.data]; the parsers turn them into placeholders and
attachments (JSON) or msgpack ``bin`` values on the wire, and back.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from typing import Any, Final

__all__ = ["MAX_ACK_ID", "RESERVED_EVENTS", "Packet", "PacketType", "check_event_name"]


class PacketType(enum.IntEnum):
    """The packet types of the Socket.IO v5 protocol."""

    CONNECT = 0
    DISCONNECT = 1
    EVENT = 2
    ACK = 3
    CONNECT_ERROR = 4
    BINARY_EVENT = 5
    BINARY_ACK = 6


#: Event names a peer may not send: they have a meaning of their own on either side
#: (``RESERVED_EVENTS`` in socket.io-parser, whose decoder rejects them).
RESERVED_EVENTS: Final = frozenset(
    {
        "connect",
        "connect_error",
        "disconnect",
        "disconnecting",
        "newListener",
        "removeListener",
    }
)

#: The largest ack id accepted from a peer: ``Number.MAX_SAFE_INTEGER``, the largest integer a
#: JavaScript peer represents exactly (socket.io-parser's ``isInteger`` would also accept
#: larger, imprecise values; we do not).
MAX_ACK_ID: Final = 2**53 - 1


@dataclass(frozen=True, slots=True)
class Packet:
    """One Socket.IO packet.

    Callers build ``EVENT`` and ``ACK`` packets; the JSON parser picks ``BINARY_EVENT`` /
    ``BINARY_ACK`` on the wire itself when ``data`` holds bytes, and decodes them back to
    ``EVENT`` / ``ACK`` with the bytes in place, so decoded packets never have a ``BINARY_*``
    type and never contain placeholders.

    Attributes:
        type: The packet type.
        nsp: The namespace, ``"/"`` for the main one.
        data: ``EVENT``: ``[event_name, *args]``; ``ACK``: ``[*args]``; ``CONNECT``: the auth
            (client to server) or ``{"sid": ...}`` (server to client) dict, or ``None``;
            ``CONNECT_ERROR``: a dict (usually ``{"message": ...}``) or a string;
            ``DISCONNECT``: ``None``. ``bytes`` may appear anywhere inside an ``EVENT`` or
            ``ACK`` payload (``bytearray`` and ``memoryview`` are accepted when encoding).
        id: The ack id of an ``EVENT`` that expects an acknowledgement, or of the ``ACK``
            answering it; ``None`` otherwise.
    """

    type: PacketType
    nsp: str = "/"
    data: Any = None
    id: int | None = None


# A packet is built for every message received and sent. The frozen dataclass's generated
# ``__init__`` sets each field through ``object.__setattr__``; calling the slots' descriptors
# directly does the same in half the time, and the class stays a frozen dataclass (equality,
# ``repr``, ``dataclasses.replace``, FrozenInstanceError on assignment are unchanged).
_set_type = Packet.__dict__["type"].__set__
_set_nsp = Packet.__dict__["nsp"].__set__
_set_data = Packet.__dict__["data"].__set__
_set_id = Packet.__dict__["id"].__set__


def _packet_init(
    self: Packet, type: PacketType, nsp: str = "/", data: Any = None, id: int | None = None
) -> None:
    _set_type(self, type)
    _set_nsp(self, nsp)
    _set_data(self, data)
    _set_id(self, id)


_packet_init.__qualname__ = "Packet.__init__"
Packet.__init__ = _packet_init  # type: ignore[method-assign]


def check_event_name(event: str) -> None:
    """Raise for an event name the peer would reject.

    Raises:
        TypeError: ``event`` is not a ``str``.
        ValueError: ``event`` is one of [`RESERVED_EVENTS`][RESERVED_EVENTS].
    """
    if not isinstance(event, str):
        raise TypeError(f"event name must be a str, not {type(event).__name__}")
    if event in RESERVED_EVENTS:
        raise ValueError(f'"{event}" is a reserved event name')
