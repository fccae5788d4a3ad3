"""Typed inter-node messages and their codecs, wire-compatible with the Node adapters.

One codec per format; never pickle, never eval:

- :class:`ClassicCodec` (:mod:`.classic`): ``@socket.io/redis-adapter`` 8.x, pub/sub;
- :class:`EmitterCodec` (:mod:`.emitter`): what ``@socket.io/redis-emitter`` 5.x publishes
  (classic messages; decode them with :class:`ClassicCodec`);
- :class:`ShardedCodec` (:mod:`.sharded`): ``createShardedAdapter``, the ClusterAdapter
  envelopes of :mod:`.cluster` over sharded pub/sub;
- :class:`StreamsCodec` (:mod:`.streams`): ``@socket.io/redis-streams-adapter`` 0.3, the same
  envelopes in a Redis stream and over pub/sub, and recovery sessions.

Channel, stream and key names, and ids, are in :mod:`.naming`. Every decoder raises
:class:`WireError` for anything malformed or unknown.
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
