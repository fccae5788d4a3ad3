"""What ``@socket.io/redis-emitter`` 5.x publishes: classic adapter messages from no node.

The emitter speaks the classic format ([`classic`][.classic]) with the uid ``"emitter"``:

- a broadcast is a [`ClassicBroadcast`][.ClassicBroadcast] whose ``opts`` keys come in the order
  ``{rooms, flags, except}``;
- ``serverSideEmit`` is a [`ServerSideEmitRequest`][.ServerSideEmitRequest] without ``requestId``
  (the emitter supports no acknowledgements);
- ``socketsJoin``, ``socketsLeave`` and ``disconnectSockets`` are the remote-control
  requests without a ``uid`` at all.

Receivers decode all of these with [`ClassicCodec`][.ClassicCodec]; [`EmitterCodec`][EmitterCodec]
encodes them byte for byte as the Node emitter does.
"""

from __future__ import annotations

from typing import Final, TypeAlias

from .classic import (
    ClassicBroadcast,
    ClassicCodec,
    RemoteDisconnectRequest,
    RemoteJoinRequest,
    RemoteLeaveRequest,
    ServerSideEmitRequest,
)
from .common import packet_to_wire
from .errors import WireError
from .values import pack

__all__ = ["EMITTER_UID", "EmitterCodec", "EmitterMessage"]

#: The uid the emitter publishes under; ClusterAdapter nodes do not count it as a node.
EMITTER_UID: Final = "emitter"

EmitterMessage: TypeAlias = (
    ClassicBroadcast
    | ServerSideEmitRequest
    | RemoteJoinRequest
    | RemoteLeaveRequest
    | RemoteDisconnectRequest
)

_CLASSIC: Final = ClassicCodec()


class EmitterCodec:
    """Encodes the emitter's messages exactly as ``@socket.io/redis-emitter`` does. Stateless.

    Decoding is the classic adapter's: use [`ClassicCodec`][.ClassicCodec].
    """

    __slots__ = ()

    def encode(self, message: EmitterMessage) -> bytes:
        """Encode one emitter message.

        Raises:
            WireError: A message the emitter never sends (an acknowledgement request, a
                remote-control request with a uid, a uid other than ``"emitter"``), or one
                holding what its encoding cannot carry.
        """
        if isinstance(message, ClassicBroadcast):
            if message.uid != EMITTER_UID:
                raise WireError(f"the emitter publishes as {EMITTER_UID!r}, not {message.uid!r}")
            opts = message.opts
            return pack(
                [
                    EMITTER_UID,
                    packet_to_wire(message.packet),
                    {
                        "rooms": list(opts.rooms),
                        "flags": opts.flags.to_wire(),
                        "except": list(opts.except_),
                    },
                ]
            )
        if isinstance(message, ServerSideEmitRequest):
            if message.uid != EMITTER_UID or message.request_id is not None:
                raise WireError("the emitter sends serverSideEmit as 'emitter', without ack")
            return _CLASSIC.encode(message)
        if isinstance(message, RemoteJoinRequest | RemoteLeaveRequest | RemoteDisconnectRequest):
            if message.uid is not None:
                raise WireError("the emitter sends remote-control requests without a uid")
            return _CLASSIC.encode(message)
        raise WireError(f"the emitter never sends {type(message).__name__}")
