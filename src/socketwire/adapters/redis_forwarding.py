"""The Redis adapters' channel between nodes, for requests forwarded to a session's owner.

A [`RedisNodeChannel`][RedisNodeChannel] is the
[`NodeChannel`][socketwire.io.node_channel.NodeChannel] the Redis adapters give the Engine.IO
server (see [`socketwire.io.forwarding`][socketwire.io.forwarding]): each node subscribes to
``<prefix>#<node id>#`` (prefix ``engine.io``, as ``@socket.io/cluster-engine``'s
``RedisEngine``) on the server's shared `RedisLink`,
and a node reaches another by publishing on that one's channel, in order with everything
else the link publishes. The sharded adapter's channel uses sharded pub/sub (SPUBLISH,
SSUBSCRIBE), the others plain pub/sub.

Redis says how many received a publish: 0 means the owner is gone, so its sessions are
answered at once as unknown. ``PUBSUB NUMSUB`` (or ``SHARDNUMSUB``) of a channel tells
whether a node still listens. Over a Redis Cluster, a plain PUBLISH reports only the
subscribers of the node that took it, so there (classic and streams adapters) a gone owner
is found by the forward timeout instead; the sharded adapter's SPUBLISH still tells at once.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from typing import Any

from redis.exceptions import RedisError

from socketwire.adapters.base import Adapter, AdapterNamespace
from socketwire.adapters.cluster import ClusterUnavailableError
from socketwire.adapters.redis_link import LinkState, PresenceKind, RedisLink
from socketwire.io.node_channel import NodeChannel

__all__ = ["DEFAULT_CHANNEL_PREFIX", "RedisAdapterFactory", "RedisNodeChannel"]

#: The default prefix of the nodes' channels (cluster-engine's ``channelPrefix``).
DEFAULT_CHANNEL_PREFIX = "engine.io"


class RedisNodeChannel:
    """One server's channel to the other nodes, on its adapters' link.

    Args:
        link: The link the server's adapters share.
        kind: ``NUMSUB`` (plain pub/sub) or ``SHARDNUMSUB`` (sharded pub/sub).
        prefix: The channels' prefix; every node of the cluster must use the same.
    """

    def __init__(
        self, link: RedisLink, kind: PresenceKind, prefix: str = DEFAULT_CHANNEL_PREFIX
    ) -> None:
        self.link = link
        self.kind = kind
        self.prefix = prefix
        self._channel: str | None = None
        self._acquired = False

    def name(self, node: str) -> str:
        """The channel of node ``node``."""
        return f"{self.prefix}#{node}#"

    async def subscribe(self, node: str, receive: Callable[[bytes], None]) -> None:
        """Listen on ``node``'s channel (this server's)."""
        if not self._acquired:
            self._acquired = True
            self.link.acquire()
        channel = self._channel = self.name(node)

        def handler(_channel: str, data: bytes) -> None:
            receive(data)

        if self.kind is PresenceKind.SHARDNUMSUB:
            await self.link.ssubscribe([channel], handler)
        else:
            await self.link.subscribe([channel], handler)

    def publish(self, node: str, data: bytes, done: Callable[[int | None], None]) -> None:
        """Publish ``data`` on ``node``'s channel; ``done`` gets the receivers (None: the
        link refused it, or Redis did)."""
        channel = self.name(node)
        command_name = "SPUBLISH" if self.kind is PresenceKind.SHARDNUMSUB else "PUBLISH"

        async def command(redis: Any) -> Any:
            return await redis.execute_command(command_name, channel, data)

        # Over a Redis Cluster, a node's PUBLISH counts only its own subscribers: 0 does not
        # mean the owner is gone (a silent owner is then found by the forward timeout).
        # SPUBLISH goes to the channel's shard, where every subscriber of it is.
        partial = self.link.cluster and self.kind is not PresenceKind.SHARDNUMSUB

        def on_result(result: Any) -> None:
            if not isinstance(result, int):
                done(None)
            else:
                done(max(result, 1) if partial else result)

        def on_error(_error: BaseException) -> None:
            done(None)

        try:
            self.link.send(
                f"forwarding to {channel}", command, on_result=on_result, on_error=on_error
            )
        except ClusterUnavailableError:
            done(None)

    async def listeners(self, node: str) -> int | None:
        """How many listen on ``node``'s channel; None while Redis is not reachable."""
        if self.link.state is not LinkState.UP:
            return None
        try:
            return await self.link.count(self.kind, self.name(node))
        except (ClusterUnavailableError, RedisError, IndexError, TypeError, ValueError):
            return None

    async def close(self) -> None:
        """Stop listening, and release the link."""
        channel, self._channel = self._channel, None
        if channel is not None:
            with contextlib.suppress(RedisError, OSError):
                if self.kind is PresenceKind.SHARDNUMSUB:
                    await self.link.unsubscribe(shard=[channel])
                else:
                    await self.link.unsubscribe([channel])
        if self._acquired:
            self._acquired = False
            await self.link.release()


class RedisAdapterFactory:
    """What the Redis adapters' ``create_*`` functions return: the
    ``AdapterFactory`` of a server's adapters, which
    also gives its Engine.IO server the channel to forward requests through (a
    [`NodeChannelSource`][socketwire.io.node_channel.NodeChannelSource]).

    Args:
        build: Builds the adapter of a namespace.
        link: The link every adapter it builds uses.
        kind: The pub/sub flavour of the forwarding channel.
    """

    def __init__(
        self,
        build: Callable[[AdapterNamespace], Adapter],
        link: RedisLink,
        kind: PresenceKind = PresenceKind.NUMSUB,
    ) -> None:
        self.build = build
        self.link = link
        self.kind = kind

    def __call__(self, nsp: AdapterNamespace) -> Adapter:
        """The adapter of namespace ``nsp``."""
        return self.build(nsp)

    def node_channel(self) -> NodeChannel:
        """A channel to the other nodes on this factory's link."""
        return RedisNodeChannel(self.link, self.kind)
