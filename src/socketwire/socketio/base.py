"""What every parser offers: a stateless encoder and a per-connection decoder."""

from __future__ import annotations

import abc
from typing import Protocol

from .packets import Packet

__all__ = ["Decoder", "Parser", "encode_for_broadcast"]


class Decoder(abc.ABC):
    """Turns one connection's incoming Engine.IO messages into packets.

    Create one per connection with [`Parser.decoder()`][Parser.decoder]. Feed it every Engine.IO
    message, in order. After a [`ProtocolError`][socketwire.socketio.ProtocolError] the decoder is
    reset; the caller must close the connection anyway.
    """

    __slots__ = ()

    @abc.abstractmethod
    def feed(self, message: str | bytes) -> Packet | None:
        """Decode one Engine.IO message.

        Args:
            message: A text message (``str``) or a binary one (``bytes``, ``bytearray`` or
                ``memoryview``).

        Returns:
            The packet it completes, or ``None`` when the packet still waits for binary
            attachments (see [`awaiting_attachments`][awaiting_attachments]): feed the next
                messages.

        Raises:
            ProtocolError: The message is malformed or unexpected; close the connection.
        """

    @property
    @abc.abstractmethod
    def awaiting_attachments(self) -> int:
        """How many binary attachments the packet being decoded still waits for (0: none)."""

    @abc.abstractmethod
    def reset(self) -> None:
        """Drop any partly received packet."""


class Parser(Protocol):
    """A Socket.IO packet codec: [`JsonParser`][socketwire.socketio.JsonParser] or
    [`MsgpackParser`][socketwire.socketio.MsgpackParser]. Parsers hold only their limits, so one
    instance serves every connection."""

    def encode(self, packet: Packet) -> list[str | bytes]:
        """Encode a packet into the Engine.IO messages to send, in order."""
        ...

    def decoder(self) -> Decoder:
        """Return a new decoder, for one connection."""
        ...


def encode_for_broadcast(parser: Parser, packet: Packet) -> tuple[str | bytes, ...]:
    """Encode a packet once, for writing to many connections.

    The result is an immutable tuple of immutable messages with no per-recipient state: send
    the same objects to every recipient (Engine.IO frames them per transport). Attachments
    given as ``bytearray`` or ``memoryview`` are copied to ``bytes`` by the JSON parser, so
    later changes to them do not leak into queued messages.
    """
    return tuple(parser.encode(packet))
