"""Engine.IO v3 encodings (socket.io 2.x clients), as JS ``engine.io`` 6.6 serves them
with ``allowEIO3`` (its ``parser-v3``, engine.io-parser 2.2).

What differs from v4 on the wire (see the protocol's v3 branch, "Encoding"):

- A binary message keeps its type byte: a WebSocket binary frame is ``b"\\x04" + data``;
  where only text is possible it is ``b4`` + base64 (``b`` and the type digit).
- A polling payload is length-prefixed, ``<length>:<packet>...``, the length counted in
  UTF-16 code units (JavaScript's ``String.length``), not characters or bytes.
- A client that can take binary over polling (XHR2, no ``b64`` in the query) gets payloads
  holding binary as bytes (``application/octet-stream``): each item ``<0 string | 1
  binary><length digits as bytes 0-9><255><packet>``, a string's length counted in UTF-8
  bytes; it may POST such payloads too.

Every packet here is in "WebSocket form": text ``"4..."`` or bytes starting with the type
byte, as a session queues them. Decoding is strict where JS is lenient (a length like
``"0x1A"``, base64 with stray characters): the decoders raise
[`ProtocolError`][ProtocolError], which the session turns into a close with reason
"parse error".
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Iterable, Sequence

from socketwire.engineio.errors import ProtocolError
from socketwire.engineio.packets import Packet, PacketType

__all__ = [
    "MESSAGE_BYTE",
    "base64_message",
    "decode_binary_payload",
    "decode_message",
    "decode_payload",
    "encode_payload",
    "utf16_length",
]

#: The type byte that starts a binary MESSAGE packet.
MESSAGE_BYTE = b"\x04"

_TYPES: dict[str, PacketType] = {str(int(t)): t for t in PacketType}
#: The most digits a length prefix may have: far more than any payload the server reads.
_MAX_LENGTH_DIGITS = 12


def utf16_length(text: str) -> int:
    """The length of ``text`` in UTF-16 code units (JavaScript's ``String.length``)."""
    if text.isascii():
        return len(text)
    return len(text.encode("utf-16-le", "surrogatepass")) // 2


def base64_message(message: bytes) -> str:
    """A binary packet (type byte first) as text: ``b`` + type digit + base64 (JS
    ``encodeBase64Packet``)."""
    return f"b{message[0]}" + base64.b64encode(message[1:]).decode("ascii")


def decode_message(message: str | bytes) -> Packet:
    """Decode one v3 packet: a WebSocket message, or one item of a payload.

    Raises:
        ProtocolError: empty, an unknown type, invalid base64, or binary data on a packet
            that is not a MESSAGE (no client sends one).
    """
    if not isinstance(message, str):
        if not message:
            raise ProtocolError("empty packet")
        packet_type = _TYPES.get(chr(message[0] + 48)) if message[0] < 10 else None
        if packet_type is not PacketType.MESSAGE:
            raise ProtocolError(f"binary packet of type {message[0]}")
        return Packet(PacketType.MESSAGE, bytes(message[1:]))
    if not message:
        raise ProtocolError("empty packet")
    first = message[0]
    if first == "b":
        if _TYPES.get(message[1:2]) is not PacketType.MESSAGE:
            raise ProtocolError("base64 packet that is not a message")
        try:
            data = base64.b64decode(message[2:], validate=True)
        except (binascii.Error, ValueError) as exc:
            raise ProtocolError("invalid base64 in binary packet") from exc
        return Packet(PacketType.MESSAGE, data)
    packet_type = _TYPES.get(first)
    if packet_type is None:
        raise ProtocolError(f"unknown packet type {first!r}")
    return Packet(packet_type, message[1:])


def encode_payload(messages: Sequence[str | bytes], *, binary: bool) -> str | bytes:
    """Join packets (WebSocket form) into one polling payload (JS ``encodePayload``).

    Args:
        messages: the packets, at least one.
        binary: the client takes binary payloads (no ``b64`` in its handshake query); the
            payload is then bytes when some packet is binary.

    Returns:
        The text payload, or the binary one (answer it as ``application/octet-stream``).
    """
    if binary and any(not isinstance(m, str) for m in messages):
        return b"".join(_binary_item(m) for m in messages)
    parts = []
    for message in messages:
        text = message if isinstance(message, str) else base64_message(message)
        parts.append(f"{utf16_length(text)}:{text}")
    return "".join(parts)


def _binary_item(message: str | bytes) -> bytes:
    if isinstance(message, str):
        data = message.encode("utf-8", "surrogatepass")
        kind = b"\x00"
    else:
        data = message
        kind = b"\x01"
    # the length's decimal digits as bytes 0-9, then 255
    return kind + bytes(ord(d) - 48 for d in str(len(data))) + b"\xff" + data


def _check_count(packets: list[Packet], max_packets: int | None) -> None:
    if max_packets is not None and len(packets) > max_packets:
        raise ProtocolError(f"more than {max_packets} packets in one payload")


def decode_payload(payload: str, *, max_packets: int | None = None) -> list[Packet]:
    """Decode a text payload, ``<length>:<packet>...`` (JS ``decodePayload``).

    Items of length 0 carry nothing and are skipped, as JS does (``"0:"`` is the empty
    payload).

    Raises:
        ProtocolError: an empty payload, a length that is not decimal digits or runs past
            the end, an invalid packet anywhere, or more than ``max_packets`` packets. All
            or nothing: no packet of an invalid payload is delivered.
    """
    if not payload:
        raise ProtocolError("empty payload")
    # Lengths count UTF-16 code units: a payload with non-ASCII text is walked as UTF-16.
    units = _Ascii(payload) if payload.isascii() else _Utf16(payload)
    packets: list[Packet] = []
    i, end = 0, len(units)
    while i < end:
        colon = units.find_colon(i, i + _MAX_LENGTH_DIGITS + 1)
        digits = units.text(i, colon) if colon > i else ""
        if not (digits.isascii() and digits.isdigit()):
            raise ProtocolError("invalid length prefix in payload")
        length = int(digits)
        start = colon + 1
        if start + length > end:
            raise ProtocolError("payload shorter than its length prefix")
        if length:
            packets.append(decode_message(units.text(start, start + length)))
            _check_count(packets, max_packets)
        i = start + length
    return packets


class _Ascii:
    """An ASCII payload: one character is one UTF-16 code unit."""

    __slots__ = ("_text",)

    def __init__(self, text: str) -> None:
        self._text = text

    def __len__(self) -> int:
        return len(self._text)

    def find_colon(self, start: int, stop: int) -> int:
        return self._text.find(":", start, stop)

    def text(self, start: int, end: int) -> str:
        return self._text[start:end]


class _Utf16:
    """A payload as UTF-16 code units (two bytes each), sliced by unit."""

    __slots__ = ("_units",)

    def __init__(self, text: str) -> None:
        self._units = text.encode("utf-16-le", "surrogatepass")

    def __len__(self) -> int:
        return len(self._units) // 2

    def find_colon(self, start: int, stop: int) -> int:
        index = start * 2
        limit = min(stop * 2, len(self._units))
        while True:
            index = self._units.find(b":\x00", index, limit)
            if index < 0:
                return -1
            if index % 2 == 0:
                return index // 2
            index += 1

    def text(self, start: int, end: int) -> str:
        return self._units[start * 2 : end * 2].decode("utf-16-le", "surrogatepass")


def decode_binary_payload(body: bytes, *, max_packets: int | None = None) -> list[Packet]:
    """Decode a binary payload (an ``application/octet-stream`` POST, JS
    ``decodePayloadAsBinary``).

    Raises:
        ProtocolError: an item kind other than 0 or 1, a length that is not digits 0-9
            ended by 255, runs past the end, a string item that is not UTF-8, an invalid
            packet, or more than ``max_packets`` packets.
    """
    if not body:
        raise ProtocolError("empty payload")
    packets: list[Packet] = []
    view = memoryview(body)
    i, end = 0, len(body)
    while i < end:
        kind = body[i]
        if kind > 1:
            raise ProtocolError(f"invalid item kind {kind} in binary payload")
        stop = body.find(b"\xff", i + 1, i + 2 + _MAX_LENGTH_DIGITS)
        digits = body[i + 1 : stop] if stop > i + 1 else b""
        if not digits or max(digits) > 9:
            raise ProtocolError("invalid length in binary payload")
        length = int("".join(chr(d + 48) for d in digits))
        start = stop + 1
        if start + length > end:
            raise ProtocolError("binary payload shorter than its length")
        item = view[start : start + length]
        if kind == 0:
            try:
                packets.append(decode_message(str(item, "utf-8", "surrogatepass")))
            except UnicodeDecodeError as exc:
                raise ProtocolError("string item is not UTF-8") from exc
        else:
            packets.append(decode_message(bytes(item)))
        _check_count(packets, max_packets)
        i = start + length
    return packets


def messages_of(packets: Iterable[Packet]) -> list[str | bytes]:
    """Packets in WebSocket form (for tests and clients: the inverse of the decoders)."""
    out: list[str | bytes] = []
    for packet in packets:
        data = packet.data
        if isinstance(data, str):
            out.append(str(int(packet.type)) + data)
        else:
            out.append(bytes([int(packet.type)]) + data)
    return out
