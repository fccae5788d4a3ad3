"""DEBUG logs of every Socket.IO packet in and out, at no cost while DEBUG is off.

The server and the client read ``logger.isEnabledFor(logging.DEBUG)`` once per connection,
when it opens: with DEBUG on, that connection's decoder and encoder are wrapped in
[`TracingDecoder`][socketwire.socketio.tracing.TracingDecoder] and
[`TracingEncoder`][socketwire.socketio.tracing.TracingEncoder], which log each packet with
[`describe`][socketwire.socketio.tracing.describe]; with DEBUG off nothing is wrapped and
the per-packet path is unchanged. Turning DEBUG on therefore applies to the connections
opened after it.

A line names the connection, the direction (``<`` in, ``>`` out), the packet type, the
namespace, the event name, the ack id, the number of arguments and of binary attachments,
the size on the wire, and the arguments cut to [`MAX_SHOWN`][MAX_SHOWN] characters.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any, Final

from .base import Decoder
from .packets import Packet, PacketType

__all__ = ["MAX_SHOWN", "TracingDecoder", "TracingEncoder", "describe"]

#: Arguments are shown up to this many characters, then cut with ``…``.
MAX_SHOWN: Final = 200

Encode = Callable[[Packet], list[str | bytes]]


def _binaries(value: object) -> int:
    if isinstance(value, bytes | bytearray | memoryview):
        return 1
    if isinstance(value, list | tuple):
        return sum(_binaries(item) for item in value)
    if isinstance(value, dict):
        return sum(_binaries(item) for item in value.values())
    return 0


def _shown(value: object) -> str:
    text = repr(value)
    return text if len(text) <= MAX_SHOWN else text[: MAX_SHOWN - 1] + "…"


def describe(packet: Packet, size: int | None = None) -> str:
    """One line for ``packet``: type, namespace, event, ack id, counts, size, arguments."""
    parts = [packet.type.name, packet.nsp]
    data: Any = packet.data
    args: Any = data
    if packet.type is PacketType.EVENT and isinstance(data, list) and data:
        parts.append(repr(data[0])[:MAX_SHOWN])
        args = data[1:]
    if packet.id is not None:
        parts.append(f"id={packet.id}")
    if isinstance(args, list):
        parts.append(f"args={len(args)}")
    binaries = _binaries(args)
    if binaries:
        parts.append(f"binary={binaries}")
    if size is not None:
        parts.append(f"{size} bytes")
    if args is not None and args != []:
        parts.append(_shown(args))
    return " ".join(parts)


def _size(message: str | bytes) -> int:
    return len(message.encode()) if isinstance(message, str) else len(message)


class TracingDecoder(Decoder):
    """A decoder that logs every packet it completes (and every protocol error)."""

    __slots__ = ("_inner", "_logger", "_name", "_size")

    def __init__(self, inner: Decoder, logger: logging.Logger, name: str) -> None:
        """Wrap ``inner``; lines go to ``logger`` at DEBUG, prefixed with ``name``."""
        self._inner = inner
        self._logger = logger
        self._name = name
        self._size = 0

    def feed(self, message: str | bytes) -> Packet | None:
        """Decode as the wrapped decoder does, and log the packet once complete."""
        self._size += _size(message)
        try:
            packet = self._inner.feed(message)
        except Exception as exc:
            self._logger.debug("%s < invalid packet (%d bytes): %s", self._name, self._size, exc)
            self._size = 0
            raise
        if packet is not None:
            self._logger.debug("%s < %s", self._name, describe(packet, self._size))
            self._size = 0
        return packet

    @property
    def awaiting_attachments(self) -> int:
        """As the wrapped decoder."""
        return self._inner.awaiting_attachments

    def reset(self) -> None:
        """As the wrapped decoder."""
        self._size = 0
        self._inner.reset()


class TracingEncoder:
    """A parser's ``encode`` that logs every packet it encodes."""

    __slots__ = ("_encode", "_logger", "_name")

    def __init__(self, encode: Encode, logger: logging.Logger, name: str) -> None:
        """Wrap ``encode``; lines go to ``logger`` at DEBUG, prefixed with ``name``."""
        self._encode = encode
        self._logger = logger
        self._name = name

    def __call__(self, packet: Packet) -> list[str | bytes]:
        """Encode as the wrapped function does, and log the packet."""
        messages = self._encode(packet)
        size = sum(_size(message) for message in messages)
        self._logger.debug("%s > %s", self._name, describe(packet, size))
        return messages
