"""Errors raised by the Socket.IO protocol core."""

from __future__ import annotations

__all__ = ["ProtocolError"]


class ProtocolError(Exception):
    """The peer sent something that is not a valid Socket.IO v5 packet.

    The connection cannot continue: the caller must close it. Decoders reset their state before
    raising, so nothing of the offending packet is kept.
    """
