"""The wire format of ``createShardedAdapter`` (``@socket.io/redis-adapter`` 8.x).

Each message is one [`cluster`][.cluster] envelope, published with ``SPUBLISH``: JSON, unless its
type may carry binary ([`MAY_CONTAIN_BINARY`][.MAY_CONTAIN_BINARY]) and its ``data`` does, in which
case it is notepack msgpack. Receivers tell the two apart by the first byte (``{`` is JSON). Channel
names are in [`naming`][.naming].
"""

from __future__ import annotations

from .cluster import (
    MAY_CONTAIN_BINARY,
    ClusterMessage,
    envelope_data,
    from_envelope,
    message_type,
    to_envelope,
)
from .values import dumps_json, has_binary, loads_json, pack, starts_like_json, unpack_notepack

__all__ = ["ShardedCodec"]


class ShardedCodec:
    """Encodes and decodes the sharded adapter's messages (requests and responses alike).

    Stateless.
    """

    __slots__ = ()

    def encode(self, message: ClusterMessage) -> bytes:
        """Encode ``message`` as the sharded adapter would publish it.

        Raises:
            WireError: The message holds something its encoding cannot carry.
        """
        envelope = to_envelope(message)
        if message_type(message) in MAY_CONTAIN_BINARY and has_binary(envelope_data(message)):
            return pack(envelope)
        return dumps_json(envelope)

    def decode(self, raw: bytes) -> ClusterMessage:
        """Decode one message from any of the adapter's channels.

        Raises:
            WireError: Malformed, or of an unknown type.
        """
        value = loads_json(raw) if starts_like_json(raw) else unpack_notepack(raw)
        return from_envelope(value)
