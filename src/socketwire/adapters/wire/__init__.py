"""Typed inter-node messages and their codecs, wire-compatible with the Node adapters.

One codec per format; never pickle, never eval:

- [`ClassicCodec`][ClassicCodec] ([`classic`][.classic]): ``@socket.io/redis-adapter`` 8.x, pub/sub;
- [`EmitterCodec`][EmitterCodec] ([`emitter`][.emitter]): what ``@socket.io/redis-emitter`` 5.x
  publishes (classic messages; decode them with [`ClassicCodec`][ClassicCodec]);
- [`ShardedCodec`][ShardedCodec] ([`sharded`][.sharded]): ``createShardedAdapter``, the
  ClusterAdapter envelopes of [`cluster`][.cluster] over sharded pub/sub;
- [`StreamsCodec`][StreamsCodec] ([`streams`][.streams]): ``@socket.io/redis-streams-adapter`` 0.3,
  the same envelopes in a Redis stream and over pub/sub, and recovery sessions.

Channel, stream and key names, and ids, are in [`naming`][.naming]. Every decoder raises
[`WireError`][WireError] for anything malformed or unknown.
"""

from __future__ import annotations

from .classic import ClassicCodec, RequestType
from .cluster import ClusterMessage, MessageType
from .common import WireFlags, WireHandshake, WireOptions, WireSession, WireSocket
from .emitter import EMITTER_UID, EmitterCodec
from .errors import WireError
from .sharded import ShardedCodec
from .streams import StreamsCodec, is_ephemeral

__all__ = [
    "EMITTER_UID",
    "ClassicCodec",
    "ClusterMessage",
    "EmitterCodec",
    "MessageType",
    "RequestType",
    "ShardedCodec",
    "StreamsCodec",
    "WireError",
    "WireFlags",
    "WireHandshake",
    "WireOptions",
    "WireSession",
    "WireSocket",
    "is_ephemeral",
]
