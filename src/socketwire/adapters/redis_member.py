"""What the three Redis adapters (classic, sharded, streams) share about their membership.

Each counts the servers of its namespace as the subscribers of one channel (``PUBSUB
NUMSUB``, or ``PUBSUB SHARDNUMSUB`` for the sharded adapter), subscribes once, however
many times ``init`` is called, and queues its pub/sub publishes on the shared link
expecting that many receivers.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

from socketwire.adapters.base import PublishHealth
from socketwire.adapters.cluster_base import is_volatile
from socketwire.adapters.redis_link import PresenceKind, RedisLink

if TYPE_CHECKING:
    from socketwire.adapters.redis_link import RedisClient
    from socketwire.adapters.wire.cluster import ClusterMessage

__all__ = ["RedisMember"]


class RedisMember:
    """A mixin for a Redis adapter, placed before its adapter base class.

    The adapter must set ``link``, ``_presence`` (the counter and the channel every server
    of the namespace subscribes to) and ``_ready = None`` in its constructor, and implement
    ``_subscribe``.
    """

    link: RedisLink
    _presence: tuple[PresenceKind, str]
    _ready: asyncio.Future[None] | None

    async def _subscribe(self) -> None:
        raise NotImplementedError

    async def init(self) -> None:
        """Subscribe to the namespace's channels (once; later calls wait for the first)."""
        if self._ready is None:
            self._ready = asyncio.ensure_future(self._subscribe())
        await asyncio.shield(self._ready)

    async def server_count(self) -> int:
        """How many servers subscribe to the ``_presence`` channel (asks Redis)."""
        return await self.link.count(*self._presence)

    def publish_health(self) -> PublishHealth:
        """The shared link's publications: given up or refused, and queued now."""
        stats = self.link.stats
        errors = stats.dropped + stats.dropped_volatile + stats.rejected
        return PublishHealth(self.link, errors, self.link.queued)

    def _servers(self) -> int:
        # The count last known, without asking Redis: what a publish should reach.
        return self.link.known(*self._presence)

    def _pubsub_send(
        self,
        channel: str,
        message: ClusterMessage,
        command: Callable[[RedisClient], Awaitable[Any]],
        *,
        expect: bool,
        on_result: Callable[[str], None] | None,
        on_error: Callable[[BaseException], None] | None,
    ) -> None:
        """Queue ``command``, which publishes ``message`` on ``channel``.

        ``expect``: every server listens on ``channel`` (a publish reaching fewer is
        repeated once they are back). ``on_result`` gets ``""``: a pub/sub message has no
        offset.
        """

        def done(_result: Any) -> None:
            if on_result is not None:
                on_result("")

        self.link.send(
            f"{type(message).__name__} on {channel}",
            command,
            volatile=is_volatile(message),
            expect=self._servers if expect else None,
            on_result=done,
            on_error=on_error,
        )
