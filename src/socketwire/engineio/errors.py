"""Errors raised by the Engine.IO codecs."""

from __future__ import annotations

__all__ = ["ProtocolError"]


class ProtocolError(Exception):
    """The peer sent bytes that are not valid Engine.IO v4.

    Raised by the pure decoders ([`decode_packet()`][socketwire.engineio.packets.decode_packet],
    [`decode_payload()`][socketwire.engineio.payload.decode_payload]). The session turns it into a
    close with reason ``"parse error"``; it never reaches the I/O layer.
    """
