"""Hand-made WebSocket client frames, for the tests and the soak that cross the server's bounds.

No pytest and no socketwire here: tests/soak/run.py imports this module as a plain script.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket

__all__ = ["UPGRADE", "flood_fragments", "masked", "read_frame"]

HOST = "127.0.0.1"

#: The opening handshake of an Engine.IO WebSocket at /socket.io/.
UPGRADE = (
    f"GET /socket.io/?EIO=4&transport=websocket HTTP/1.1\r\nHost: {HOST}\r\n"
    "Upgrade: websocket\r\nConnection: Upgrade\r\n"
    "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"
).encode()


def masked(opcode: int, payload: bytes, *, fin: bool = True) -> bytes:
    """One client frame with an all-zero mask (valid, RFC 6455 5.3, and cheap to build)."""
    first = (0x80 if fin else 0) | opcode
    length = len(payload)
    if length < 126:
        header = bytes((first, 0x80 | length))
    elif length < 65536:
        header = bytes((first, 0x80 | 126)) + length.to_bytes(2, "big")
    else:
        header = bytes((first, 0x80 | 127)) + length.to_bytes(8, "big")
    return header + b"\0\0\0\0" + payload


async def read_frame(reader: asyncio.StreamReader) -> tuple[int, bytes]:
    """One unmasked server frame: ``(first byte, payload)`` (FIN, RSV bits, opcode)."""
    first, second = await reader.readexactly(2)
    length = second & 0x7F
    if length == 126:
        length = int.from_bytes(await reader.readexactly(2), "big")
    elif length == 127:
        length = int.from_bytes(await reader.readexactly(8), "big")
    return first, await reader.readexactly(length)


def flood_fragments(port: int, count: int, timeout: float = 30.0) -> tuple[int | None, int]:
    """Blocking (run it in a thread; the client then holds no buffer): open an Engine.IO
    WebSocket, start a text message and send up to ``count`` empty continuation frames.

    Returns the server's close code (None if it sent no close frame) and how many frames
    were sent before the server closed the connection.
    """
    with socket.create_connection((HOST, port), timeout=timeout) as sock:
        sock.sendall(UPGRADE)
        received = b""
        while b"\r\n\r\n" not in received:
            received += sock.recv(4096)
        if not received.startswith(b"HTTP/1.1 101"):
            raise ConnectionError(f"upgrade refused: {received[:40]!r}")
        sock.sendall(masked(0x1, b'42["x",', fin=False))
        chunk = masked(0x0, b"", fin=False) * 10_000  # 60 KB of empty fragments
        sent = 0
        with contextlib.suppress(OSError):  # the server closed: reset or broken pipe
            while sent < count:
                sock.sendall(chunk)
                sent += 10_000
        rest = received.partition(b"\r\n\r\n")[2]
        with contextlib.suppress(OSError):
            while data := sock.recv(65536):
                rest += data
    # The frames the server sent: the open packet, then the close frame.
    pos = 0
    while pos + 2 <= len(rest):
        opcode, length = rest[pos] & 0x0F, rest[pos + 1] & 0x7F
        if opcode == 0x8:
            return int.from_bytes(rest[pos + 2 : pos + 4], "big"), sent
        pos += 2 + length
    return None, sent
