"""The sharded Redis adapter (``createShardedAdapter`` of ``@socket.io/redis-adapter`` 8.x).

ClusterAdapter messages ([`cluster_base`][.cluster_base]) over Redis 7 sharded pub/sub: everything
on ``socket.io#<nsp>#``, responses on ``socket.io#<nsp>#<uid>#``, and, in the default "dynamic"
mode, a broadcast to exactly one public room on that room's own channel, which only the servers
having the room subscribe to. Servers are counted with ``PUBSUB SHARDNUMSUB``.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

from socketwire.adapters.base import AdapterNamespace
from socketwire.adapters.cluster import logger
from socketwire.adapters.cluster_base import ClusterAdapter
from socketwire.adapters.redis_link import PresenceKind, RedisLink
from socketwire.adapters.redis_member import RedisMember
from socketwire.adapters.wire import ShardedCodec, WireError
from socketwire.adapters.wire.cluster import ClusterMessage
from socketwire.adapters.wire.naming import DEFAULT_PREFIX, ShardedChannels, SubscriptionMode
from socketwire.handlers import spawn

__all__ = ["ShardedRedisAdapter"]

_CODEC = ShardedCodec()


class ShardedRedisAdapter(RedisMember, ClusterAdapter):
    """One namespace's adapter in a sharded ``@socket.io/redis-adapter`` cluster.

    Attributes:
        channels: The namespace's channels.
        link: The shared Redis connection.
    """

    def __init__(
        self,
        nsp: AdapterNamespace,
        link: RedisLink,
        *,
        key: str = DEFAULT_PREFIX,
        requests_timeout: float = 5.0,
        subscription_mode: SubscriptionMode = SubscriptionMode.DYNAMIC,
    ) -> None:
        self.channels = ShardedChannels.of(nsp.name, key, subscription_mode)
        super().__init__(nsp, requests_timeout=requests_timeout, where=self.channels.main)
        self.link = link
        self._ready: asyncio.Future[None] | None = None
        self._presence = (PresenceKind.SHARDNUMSUB, self.channels.main)
        self._room_channels: set[str] = set()
        if subscription_mode is not SubscriptionMode.STATIC:
            self.on("create-room", self._on_create_room)
            self.on("delete-room", self._on_delete_room)

    async def _subscribe(self) -> None:
        self.link.acquire()
        self.link.watch_presence(*self._presence)
        await self.link.ssubscribe(
            [self.channels.main, self.channels.response(self.uid)], self._on_raw
        )

    async def close(self) -> None:
        """Unsubscribe, fail pending requests, release the link."""
        if self._ready is None:
            return
        self._ready = None
        self.close_requests()
        self.link.forget_presence(*self._presence)
        channels = [self.channels.main, self.channels.response(self.uid), *self._room_channels]
        self._room_channels.clear()
        await self.link.unsubscribe(shard=channels)
        await self.link.release()

    def _send(
        self,
        channel: str,
        message: ClusterMessage,
        on_result: Callable[[str], None] | None,
        on_error: Callable[[BaseException], None] | None,
    ) -> None:
        payload = _CODEC.encode(message)

        async def command(redis: Any) -> Any:
            return await redis.execute_command("SPUBLISH", channel, payload)

        self._pubsub_send(
            channel,
            message,
            command,
            expect=channel == self.channels.main,
            on_result=on_result,
            on_error=on_error,
        )

    def publish(
        self,
        message: ClusterMessage,
        on_result: Callable[[str], None] | None = None,
        on_error: Callable[[BaseException], None] | None = None,
    ) -> None:
        """SPUBLISH ``message`` on its channel (a room's own channel, or the namespace's)."""
        self._send(self.channels.channel_for(message), message, on_result, on_error)

    def publish_response(self, requester: str, message: ClusterMessage) -> None:
        """SPUBLISH ``message`` on the response channel of server ``requester``."""
        self._send(self.channels.response(requester), message, None, None)

    def _on_raw(self, channel: str, data: bytes) -> None:
        try:
            message = _CODEC.decode(data)
        except WireError as exc:
            logger.debug("ignoring a malformed message on %s: %s", channel, exc)
            return
        self.on_message(message)

    def _on_create_room(self, room: str) -> None:
        if self._ready is None:
            return
        if self.channels.has_own_channel(room, is_socket_id=room in self.sids):
            channel = self.channels.room(room)
            self._room_channels.add(channel)
            spawn(self.link.ssubscribe([channel], self._on_raw))

    def _on_delete_room(self, room: str) -> None:
        channel = self.channels.room(room)
        if channel in self._room_channels:
            self._room_channels.discard(channel)
            spawn(self.link.unsubscribe(shard=[channel]))
