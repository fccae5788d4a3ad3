"""Engine.IO v4 HTTP long-polling payloads: packets joined by the record separator.

A payload is text: every packet encoded as text (binary as ``b`` + base64), joined by
``"\\x1e"`` (ASCII RS). engine.io-parser 5 ``encodePayload``/``decodePayload``.
"""

from __future__ import annotations

import base64
from collections.abc import Iterable

from socketwire.engineio.errors import ProtocolError
from socketwire.engineio.packets import Packet, decode_packet, encode_packet

__all__ = [
    "SEPARATOR",
    "decode_payload",
    "decode_payload_bytes",
    "encode_payload",
    "join_encoded",
]

SEPARATOR = "\x1e"


def join_encoded(messages: Iterable[str | bytes]) -> str:
    """Build a payload from packets already encoded for a WebSocket.

    Text items are kept; binary items (binary messages) become ``b`` + base64. This lets a
    session queue each packet once, in WebSocket form, and serve it on either transport.
    """
    return SEPARATOR.join(
        m if isinstance(m, str) else "b" + base64.b64encode(m).decode("ascii") for m in messages
    )


def encode_payload(packets: Iterable[Packet]) -> str:
    """Encode packets as one polling payload.

    Raises:
        ValueError: a packet cannot be encoded (see `encode_packet()`).
    """
    return join_encoded(encode_packet(p) for p in packets)


def decode_payload(payload: str, *, max_packets: int | None = None) -> list[Packet]:
    """Decode a whole polling payload.

    Args:
        payload: the request body as text.
        max_packets: the most packets accepted in one payload (None: no bound beyond the
            payload's own size limit).

    Raises:
        ProtocolError: an empty payload, an empty or invalid packet anywhere in it, or more
            than ``max_packets`` packets. Decoding is all or nothing, so no packet of an
            invalid payload is delivered.
    """
    if max_packets is not None and payload.count(SEPARATOR) >= max_packets:
        raise ProtocolError(f"more than {max_packets} packets in one payload")
    return [decode_packet(item) for item in payload.split(SEPARATOR)]


def decode_payload_bytes(body: bytes, *, max_packets: int | None = None) -> list[Packet]:
    """Decode a polling payload received as bytes (an HTTP body), which must be UTF-8.

    Raises:
        ProtocolError: the body is not UTF-8, or see [`decode_payload()`][decode_payload].
    """
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ProtocolError("payload is not UTF-8") from exc
    return decode_payload(text, max_packets=max_packets)
