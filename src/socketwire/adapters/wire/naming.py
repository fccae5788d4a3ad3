"""Channel names, stream names, Redis keys and ids, as the Node adapters make them.

All prefixes default to the Node defaults (``socket.io``; ``sio:session:``) and can be
changed as the Node options ``key`` / ``channelPrefix`` / ``streamName`` /
``sessionKeyPrefix`` change them.
"""

from __future__ import annotations

import enum
import re
import secrets
from dataclasses import dataclass
from typing import Final

from .cluster import ClusterBroadcast, ClusterMessage
from .errors import WireError

__all__ = [
    "DEFAULT_PREFIX",
    "DEFAULT_SESSION_PREFIX",
    "ClassicChannels",
    "ShardedChannels",
    "SubscriptionMode",
    "classic_id",
    "is_valid_offset",
    "js_hash_code",
    "js_length",
    "looks_like_socket_id",
    "next_offset",
    "node_id",
    "session_key",
    "stream_name",
    "streams_channels",
]

DEFAULT_PREFIX: Final = "socket.io"
DEFAULT_SESSION_PREFIX: Final = "sio:session:"

# uid2's alphabet: a random byte modulo 64 picks each character.
_UID_CHARS: Final = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
_OFFSET: Final = re.compile(r"[0-9]+-[0-9]+")


def classic_id() -> str:
    """A node uid or request id of the classic adapter: ``uid2(6)``, 6 URL-safe characters."""
    return "".join(_UID_CHARS[byte % 64] for byte in secrets.token_bytes(6))


def node_id() -> str:
    """A ClusterAdapter node uid or request id: 8 random bytes in hex (16 characters)."""
    return secrets.token_hex(8)


def js_length(text: str) -> int:
    """``text.length`` in JavaScript: UTF-16 code units, not code points."""
    return len(text.encode("utf-16-le")) // 2


def js_hash_code(text: str) -> int:
    """The streams adapter's ``hashCode``: Java's string hash over UTF-16 code units, as a
    signed 32-bit integer (it can be negative)."""
    units = text.encode("utf-16-le")
    value = 0
    for index in range(0, len(units), 2):
        value = (value * 31 + int.from_bytes(units[index : index + 2], "little")) & 0xFFFFFFFF
    return value - (1 << 32) if value & 0x80000000 else value


@dataclass(frozen=True, slots=True)
class ClassicChannels:
    """The channels of one namespace for the classic adapter.

    Attributes:
        broadcast: ``socket.io#<nsp>#``; nodes ``PSUBSCRIBE`` [`pattern`][pattern].
        request: ``socket.io-request#<nsp>#``; its ``PUBSUB NUMSUB`` is the cluster size.
        response: ``socket.io-response#<nsp>#``, shared by every node.
    """

    broadcast: str
    request: str
    response: str

    @classmethod
    def of(cls, nsp: str, prefix: str = DEFAULT_PREFIX) -> ClassicChannels:
        """The channels of namespace ``nsp``."""
        return cls(f"{prefix}#{nsp}#", f"{prefix}-request#{nsp}#", f"{prefix}-response#{nsp}#")

    @property
    def pattern(self) -> str:
        """The broadcast pattern every node subscribes to: ``socket.io#<nsp>#*``.

        Redis glob characters in the namespace name are not escaped (nor are they by Node).
        """
        return self.broadcast + "*"

    def room(self, room: str) -> str:
        """The channel of a broadcast to exactly one room: ``socket.io#<nsp>#<room>#``."""
        return f"{self.broadcast}{room}#"

    def specific_response(self, uid: str) -> str:
        """Node ``uid``'s own response channel: ``socket.io-response#<nsp>#<uid>#`` (used
        when the requester's peers set ``publishOnSpecificResponseChannel``)."""
        return f"{self.response}{uid}#"

    def broadcast_channel(self, rooms: tuple[str, ...]) -> str:
        """Where a broadcast to ``rooms`` is published: the room channel for exactly one."""
        return self.room(rooms[0]) if len(rooms) == 1 else self.broadcast

    def room_of(self, channel: str) -> str | None:
        """The room a broadcast channel names (``""`` for none), None if not this namespace's.

        The Node adapter ignores a message on a room channel for a room it does not have.
        """
        if not channel.startswith(self.broadcast) or not channel.endswith("#"):
            return None
        return channel[len(self.broadcast) : -1]


class SubscriptionMode(enum.Enum):
    """The sharded adapter's ``subscriptionMode``: which rooms get their own channel."""

    STATIC = "static"
    DYNAMIC = "dynamic"
    DYNAMIC_PRIVATE = "dynamic-private"


def looks_like_socket_id(room: str) -> bool:
    """Whether the sharded adapter takes ``room`` for a socket id (20 JS characters)."""
    return js_length(room) == 20


@dataclass(frozen=True, slots=True)
class ShardedChannels:
    """The channels of one namespace for the sharded adapter (all used with ``S*`` commands).

    Attributes:
        main: ``socket.io#<nsp>#``: every request and broadcast; its ``PUBSUB SHARDNUMSUB``
            is the cluster size.
        mode: Which rooms get a channel of their own.
    """

    main: str
    mode: SubscriptionMode = SubscriptionMode.DYNAMIC

    @classmethod
    def of(
        cls,
        nsp: str,
        prefix: str = DEFAULT_PREFIX,
        mode: SubscriptionMode = SubscriptionMode.DYNAMIC,
    ) -> ShardedChannels:
        """The channels of namespace ``nsp``."""
        return cls(f"{prefix}#{nsp}#", mode)

    def response(self, uid: str) -> str:
        """Node ``uid``'s response channel: ``socket.io#<nsp>#<uid>#``."""
        return f"{self.main}{uid}#"

    def room(self, room: str) -> str:
        """Room ``room``'s own channel: ``socket.io#<nsp>#<room>#``."""
        return f"{self.main}{room}#"

    def has_own_channel(self, room: str, *, is_socket_id: bool) -> bool:
        """Whether a node subscribes to ``room``'s channel when the room is created.

        Args:
            room: The room.
            is_socket_id: The room is a local socket's own room (JS ``sids.has(room)``).
        """
        if self.mode is SubscriptionMode.DYNAMIC:
            return not is_socket_id
        return self.mode is SubscriptionMode.DYNAMIC_PRIVATE

    def channel_for(self, message: ClusterMessage) -> str:
        """Where ``message`` is published (``computeChannel``).

        Only a broadcast without ack to exactly one room uses that room's channel: in the
        dynamic mode, when the room does not look like a socket id; always in the
        dynamic-private mode. An acked broadcast cannot, as the server count covers every
        node.
        """
        if (
            isinstance(message, ClusterBroadcast)
            and message.request_id is None
            and len(message.opts.rooms) == 1
        ):
            room = message.opts.rooms[0]
            if (
                self.mode is SubscriptionMode.DYNAMIC and not looks_like_socket_id(room)
            ) or self.mode is SubscriptionMode.DYNAMIC_PRIVATE:
                return self.room(room)
        return self.main


def streams_channels(nsp: str, uid: str, prefix: str = DEFAULT_PREFIX) -> tuple[str, str]:
    """The streams adapter's ``(public, private)`` channels: ``socket.io#<nsp>#`` (ephemeral
    requests; its ``NUMSUB`` is the cluster size) and ``socket.io#<nsp>#<uid>#`` (responses
    to node ``uid``)."""
    public = f"{prefix}#{nsp}#"
    return public, f"{public}{uid}#"


def stream_name(nsp: str, name: str = DEFAULT_PREFIX, count: int = 1) -> str:
    """The stream namespace ``nsp`` is written to (``computeStreamName``).

    With several streams it is ``<name>-<hashCode(nsp) % count>``, where ``%`` is JS's
    remainder: it keeps the sign of the hash, so the index can be negative
    (``socket.io--1``), and Node really uses that name.

    Raises:
        WireError: ``count`` is not positive.
    """
    if count < 1:
        raise WireError(f"invalid stream count {count}")
    if count == 1:
        return name
    hashed = js_hash_code(nsp)
    index = abs(hashed) % count
    return f"{name}-{-index if hashed < 0 else index}"


def session_key(pid: str, prefix: str = DEFAULT_SESSION_PREFIX) -> str:
    """The key a disconnected session is stored under: ``sio:session:<pid>``."""
    return prefix + pid


def is_valid_offset(offset: object) -> bool:
    """Whether ``offset`` is a stream entry id (``^[0-9]+-[0-9]+$``), as a client presents
    it to recover; anything else is refused before reaching Redis."""
    return isinstance(offset, str) and _OFFSET.fullmatch(offset) is not None


def next_offset(offset: str) -> str:
    """The entry id right after ``offset`` (``<ms>-<seq+1>``), for an exclusive XRANGE start.

    Raises:
        WireError: ``offset`` is not a valid entry id.
    """
    if not is_valid_offset(offset):
        raise WireError(f"invalid offset {offset!r:.80}")
    millis, sequence = offset.split("-")
    return f"{millis}-{int(sequence) + 1}"
