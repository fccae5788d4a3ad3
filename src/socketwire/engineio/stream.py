"""Engine.IO packets on a byte stream: the WebTransport framing (engine.io-parser 5
``createPacketEncoderStream`` / ``createPacketDecoderStream``).

socket.io 4.7+ carries a WebTransport session on one bidirectional stream, each packet
after a header inspired by WebSocket's: one byte whose high bit says binary (1) or text
(0) and whose low 7 bits are the length, 126 (then a 16-bit length) or 127 (then a 64-bit
length), all big-endian. A text packet is its WebSocket text form in UTF-8 (``4hello``); a
binary packet is a binary MESSAGE's data (no type byte), as a binary WebSocket frame.
"""

from __future__ import annotations

import struct

from socketwire.engineio.errors import ProtocolError

__all__ = ["StreamDecoder", "encode_stream_packet"]

_BINARY = 0x80


def encode_stream_packet(message: str | bytes) -> bytes:
    """One packet in WebSocket form (``"4..."`` text, or binary message data), framed."""
    if isinstance(message, str):
        payload = message.encode("utf-8", "surrogatepass")
        flag = 0
    else:
        payload = bytes(message)
        flag = _BINARY
    length = len(payload)
    if length < 126:
        header = bytes((flag | length,))
    elif length < 65536:
        header = struct.pack("!BH", flag | 126, length)
    else:
        header = struct.pack("!BQ", flag | 127, length)
    return header + payload


class StreamDecoder:
    """Cuts one stream's bytes into packets (WebSocket form), whatever the chunking.

    Args:
        max_payload: the largest packet accepted, in bytes (``max_http_buffer_size``).
    """

    __slots__ = ("_buffer", "_max_payload")

    def __init__(self, max_payload: int) -> None:
        self._buffer = bytearray()
        self._max_payload = max_payload

    @property
    def buffered(self) -> int:
        """Bytes received and not yet part of a complete packet."""
        return len(self._buffer)

    def feed(self, data: bytes) -> list[str | bytes]:
        """Add received bytes; return the packets they complete, in order.

        Raises:
            ProtocolError: a packet of length 0 or over ``max_payload``, or text that is not
                UTF-8. The stream cannot be resynchronised: close the session.
        """
        buffer = self._buffer
        buffer += data
        out: list[str | bytes] = []
        while buffer:
            first = buffer[0]
            length = first & 0x7F
            start = 1
            if length == 126:
                if len(buffer) < 3:
                    break
                (length,) = struct.unpack_from("!H", buffer, 1)
                start = 3
            elif length == 127:
                if len(buffer) < 9:
                    break
                (length,) = struct.unpack_from("!Q", buffer, 1)
                start = 9
            if length == 0 or length > self._max_payload:
                raise ProtocolError(f"invalid packet length {length} on the stream")
            end = start + length
            if len(buffer) < end:
                break
            payload = bytes(buffer[start:end])
            del buffer[:end]
            if first & _BINARY:
                out.append(payload)
            else:
                try:
                    out.append(payload.decode("utf-8"))
                except UnicodeDecodeError as exc:
                    raise ProtocolError("text packet is not UTF-8") from exc
        return out
