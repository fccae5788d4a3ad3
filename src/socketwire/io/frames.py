"""WebSocket server frames built by hand (RFC 6455 section 5.2), for frames written to many
connections: pure functions, no I/O and no dependency, so that the Engine.IO server can
frame a broadcast once without loading the native server."""

from __future__ import annotations

import struct
from typing import Final

__all__ = ["FIN_BINARY", "FIN_TEXT", "frame_header", "frame_message"]

#: First byte of an unfragmented frame (FIN, no RSV bit) of a text or binary message.
FIN_TEXT: Final = 0x81
FIN_BINARY: Final = 0x82


def frame_header(first: int, length: int) -> bytes:
    """The header of an unmasked server frame whose first byte is ``first``.

    RFC 6455 section 5.2: a 7-bit length, or 126 and a 16-bit length, or 127 and a 64-bit
    length; server frames are not masked.
    """
    if length < 126:
        return bytes((first, length))
    if length < 65536:
        return struct.pack("!BBH", first, 126, length)
    return struct.pack("!BBQ", first, 127, length)


def frame_message(data: str | bytes) -> bytes:
    """Build one complete, unmasked, uncompressed server frame holding ``data``.

    ``str`` becomes a text frame, ``bytes`` a binary frame. The result can be written to
    any number of connections (``WebSocketTransport.send_frame``): server frames are not
    masked (RFC 6455 section 5.1), and an uncompressed message is valid even when
    permessage-deflate was negotiated (RFC 7692 section 6: RSV1 clear means not compressed).
    """
    if isinstance(data, str):
        payload = data.encode()
        return frame_header(FIN_TEXT, len(payload)) + payload
    return frame_header(FIN_BINARY, len(data)) + data
