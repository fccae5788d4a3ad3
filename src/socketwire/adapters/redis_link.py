"""One server's connection to Redis for the cluster adapters: subscribe, publish, recover.

Every adapter (one per namespace) of a server shares one `RedisLink`: one pub/sub
connection that reads every subscribed channel, and an ordered outbox that publishes.

Failures, and what the link promises (the clusters topic, "Deploying", compares them with
Node's):

- A lost connection (Redis restarted, the connection killed) is retried with a short
  back-off, capped at `BACKOFF_MAX` (0.25 s): the link tries again at most that long
  after Redis accepts connections, and redis-py resubscribes every channel and pattern on
  reconnection. The link logs one warning when it goes down and one when it is back, and
  counts both (`RedisLink.stats`).
- While Redis is unreachable, local delivery goes on (the adapters deliver to this
  server's clients whatever the link says) and the messages for the other servers wait in
  the outbox, in order, up to ``max_queued``. Over that bound the oldest *volatile*
  message is dropped (counted in ``stats.dropped_volatile``, with a warning); when none
  is volatile, `RedisLink.send()` refuses the new message with
  `ClusterUnavailableError` (``stats.rejected``):
  nothing the link accepted is ever dropped but volatile messages.
- When Redis is back, what waited is published in order once as many servers are
  subscribed again as before the outage (``PUBSUB NUMSUB``/``SHARDNUMSUB`` of the
  channels the adapters watch), or after ``publish_timeout`` seconds. A publish that
  reached fewer subscribers than are known to exist is published again once they are back
  (within the same bound): during a failure a message may arrive twice, but it is not
  lost.
- A command Redis refuses (an error reply, not a connectivity problem) is dropped, logged
  as an error and counted (``stats.dropped``), and its ``on_error`` callback is told.

Deployments: one Redis server, a Sentinel-managed master (a ``Redis`` client from redis-py's
``Sentinel.master_for()``: after a failover the link reconnects to the new master, as after
any lost connection), or a Redis Cluster (redis-py's ``RedisCluster``, redis-py 8 or later:
classic pub/sub goes through one node, sharded pub/sub to each channel's shard, and servers
are counted on every primary, as Node's adapters count them). A cluster node's PUBLISH
reports only its own subscribers, so over a cluster the link does not republish a publish
that reached fewer servers than it knows (see above); the outbox still holds what waits for
an unreachable cluster. [`client_from_url()`][client_from_url] reads the three from URLs.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass
from typing import Any
from urllib.parse import unquote, urlparse

from redis.asyncio import Redis, RedisCluster
from redis.asyncio.sentinel import Sentinel
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import RedisError
from redis.exceptions import TimeoutError as RedisTimeoutError

from socketwire.adapters.cluster import ClusterUnavailableError
from socketwire.adapters.link_common import LinkState, LinkStats, Outbox, PresenceKind

__all__ = [
    "BACKOFF_MAX",
    "LinkState",
    "LinkStats",
    "MessageHandler",
    "PresenceKind",
    "RedisClient",
    "RedisLink",
    "client_from_url",
    "close_client",
    "link_for",
]

logger = logging.getLogger("socketwire.adapters.redis")

#: ``(channel, data)`` of one message.
MessageHandler = Callable[[str, bytes], None]
#: What the adapters take: one server (or a Sentinel-managed master), or a Redis Cluster.
RedisClient = Redis | RedisCluster
Command = Callable[[Any], Awaitable[Any]]

_BACKOFF_MIN = 0.05
#: The longest wait between two attempts to reach Redis: the link is back (and resubscribed)
#: at most this long after Redis accepts connections again.
BACKOFF_MAX = 0.25
_SAMPLE_EVERY = 1.0
#: The reader holds the subscription lock at most this long while idle.
_READ_SLICE = 0.1
_TRANSIENT = (RedisConnectionError, RedisTimeoutError, OSError)


@dataclass(eq=False)
class _Outgoing:
    what: str
    command: Command
    volatile: bool
    expect: Callable[[], int] | None
    on_result: Callable[[Any], None] | None
    on_error: Callable[[BaseException], None] | None


class RedisLink:
    """A shared connection to Redis: subscriptions in, an ordered outbox out.

    Args:
        redis: A redis-py asyncio client with ``decode_responses=False``: ``Redis`` (one
            server, or ``Sentinel.master_for()``) or ``RedisCluster``. The link closes it
            when the last user releases the link, if ``owns_client``.
        publish_timeout: Seconds to wait, once Redis is back, for the other servers to
            resubscribe before publishing what waited.
        max_queued: Messages that may wait for Redis (see the module docstring).
        owns_client: Close ``redis`` on `close()`.
    """

    def __init__(
        self,
        redis: RedisClient,
        *,
        publish_timeout: float = 5.0,
        max_queued: int = 10_000,
        owns_client: bool = True,
    ) -> None:
        #: True over a Redis Cluster.
        self.cluster = isinstance(redis, RedisCluster)
        if self.cluster and not hasattr(redis, "pubsub"):
            raise TypeError("a Redis Cluster needs redis-py 8 or later (async cluster pub/sub)")
        self.redis = redis
        self.publish_timeout = publish_timeout
        self.state = LinkState.CONNECTING
        self.stats = LinkStats()
        self._owns_client = owns_client
        self._pubsub = redis.pubsub()
        self._handlers: dict[str, MessageHandler] = {}
        self._patterns: dict[str, MessageHandler] = {}
        self._shard: dict[str, MessageHandler] = {}
        self._outbox: Outbox[_Outgoing] = Outbox(
            max_queued=max_queued, stats=self.stats, broker="Redis", logger=logger
        )
        self._subscribed = asyncio.Event()
        # redis-py's PubSub opens its connection on first use, twice if two tasks race.
        self._sub_lock = asyncio.Lock()
        self._sub_ok = True
        self._pub_ok = True
        self._healing = False
        self._last_outage = -float("inf")
        self._back_at = -float("inf")
        #: (kind, channel) -> servers last seen subscribed; plus NUMPAT under (None, "")
        self._presence: dict[tuple[PresenceKind | None, str], int] = {}
        self._tasks: list[asyncio.Task[None]] = []
        self._users = 0

    # -- lifecycle ---------------------------------------------------------------------------

    def acquire(self) -> None:
        """Register one user (an adapter); the first starts the link's tasks."""
        self._users += 1
        if not self._tasks and self.state is not LinkState.CLOSED:
            self._tasks = [
                asyncio.create_task(self._read(), name="redis-link:read"),
                asyncio.create_task(self._write(), name="redis-link:write"),
                asyncio.create_task(self._sample(), name="redis-link:presence"),
            ]

    async def release(self) -> None:
        """Unregister one user; the last one closes the link."""
        self._users -= 1
        if self._users <= 0:
            await self.close()

    async def close(self) -> None:
        """Stop the tasks, fail what is still queued, and close the connections."""
        if self.state is LinkState.CLOSED:
            return
        self.state = LinkState.CLOSED
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            # Whatever a task ended with, the connections below must be closed.
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        self._tasks = []
        self._fail_queued(ClusterUnavailableError("the Redis link is closed"), log=False)
        # redis-py annotates PubSub.aclose only from 5.1 on; through a typed name the call
        # type-checks the same against every supported release.
        close_pubsub: Callable[[], Awaitable[None]] = self._pubsub.aclose
        with contextlib.suppress(RedisError, OSError):
            await close_pubsub()
        if self._owns_client:
            await close_client(self.redis)

    # -- subscriptions -----------------------------------------------------------------------

    async def subscribe(self, channels: Iterable[str], handler: MessageHandler) -> None:
        """SUBSCRIBE ``channels``; their messages go to ``handler``."""
        names = list(channels)
        for name in names:
            self._handlers[name] = handler
        async with self._sub_lock:
            await self._pubsub.subscribe(*names)
        self._subscribed.set()

    async def psubscribe(self, pattern: str, handler: MessageHandler) -> None:
        """PSUBSCRIBE ``pattern``; its messages go to ``handler``."""
        self._patterns[pattern] = handler
        async with self._sub_lock:
            await self._pubsub.psubscribe(pattern)
        self._subscribed.set()

    async def ssubscribe(self, channels: Iterable[str], handler: MessageHandler) -> None:
        """SSUBSCRIBE ``channels`` (sharded pub/sub, Redis 7)."""
        names = list(channels)
        for name in names:
            self._shard[name] = handler
        async with self._sub_lock:
            await self._pubsub.ssubscribe(*names)
        self._subscribed.set()

    async def unsubscribe(
        self, channels: Iterable[str] = (), patterns: Iterable[str] = (), shard: Iterable[str] = ()
    ) -> None:
        """Stop listening to ``channels``, ``patterns`` and sharded ``shard`` channels."""
        names, pats, shards = list(channels), list(patterns), list(shard)
        for name in names:
            self._handlers.pop(name, None)
        for pat in pats:
            self._patterns.pop(pat, None)
        for name in shards:
            self._shard.pop(name, None)
        async with self._sub_lock:
            # Best effort: closing must not fail because Redis is restarting.
            with contextlib.suppress(*_TRANSIENT, RedisError):
                if names:
                    await self._pubsub.unsubscribe(*names)
                if pats:
                    await self._pubsub.punsubscribe(*pats)
                if shards:
                    await self._pubsub.sunsubscribe(*shards)

    def watch_presence(self, kind: PresenceKind, channel: str) -> None:
        """Count the servers subscribed to ``channel``, to wait for them after an outage."""
        self._presence.setdefault((kind, channel), 0)

    def known(self, kind: PresenceKind, channel: str) -> int:
        """The subscribers of ``channel`` last counted (0 before the first count)."""
        return self._presence.get((kind, channel), 0)

    def forget_presence(self, kind: PresenceKind, channel: str) -> None:
        """Stop counting ``channel``'s subscribers."""
        self._presence.pop((kind, channel), None)

    async def count(self, kind: PresenceKind, channel: str) -> int:
        """How many connections are subscribed to ``channel`` (NUMSUB or SHARDNUMSUB).

        Raises:
            ClusterUnavailableError: Redis cannot be reached.
        """
        try:
            try:
                count = await self._raw_count(kind, channel)
            except _TRANSIENT:
                # Once more: after a Redis restart, the pool's first connection is stale.
                count = await self._raw_count(kind, channel)
        except _TRANSIENT as exc:
            raise ClusterUnavailableError(f"Redis is unreachable: {exc}") from exc
        self._observe((kind, channel), count)
        return count

    def _observe(self, key: tuple[PresenceKind | None, str], count: int) -> None:
        if key not in self._presence:
            return
        if self._recent_outage():
            # Servers are still coming back: a lower count now means "not yet", not "gone".
            count = max(count, self._presence[key])
        self._presence[key] = count

    async def _raw_count(self, kind: PresenceKind | None, channel: str) -> int:
        # Over a cluster: the sum over the primaries (redis-py adds them up), as Node does.
        where: dict[str, Any] = {"target_nodes": RedisCluster.PRIMARIES} if self.cluster else {}
        execute: Callable[..., Awaitable[Any]] = self.redis.execute_command
        if kind is None:
            return int(await execute("PUBSUB NUMPAT", **where))
        reply = await execute(f"PUBSUB {kind.value}", channel, **where)
        # [channel, count]; redis-py parses NUMSUB into pairs, not SHARDNUMSUB
        value = reply[0][1] if isinstance(reply[0], list | tuple) else reply[1]
        return int(value)

    @property
    def queued(self) -> int:
        """Messages accepted and not yet published."""
        return len(self._outbox)

    # -- publishing --------------------------------------------------------------------------

    def send(
        self,
        what: str,
        command: Command,
        *,
        volatile: bool = False,
        expect: Callable[[], int] | None = None,
        on_result: Callable[[Any], None] | None = None,
        on_error: Callable[[BaseException], None] | None = None,
    ) -> None:
        """Queue ``command(redis)`` (a publish); it runs after every message queued before,
        however long Redis is away.

        Args:
            what: Named in log lines and errors (e.g. ``"broadcast on socket.io#/#"``).
            command: Sends the message; its result goes to ``on_result``.
            volatile: The message may be dropped when the outbox is full.
            expect: How many receivers the publish should reach; when it reports fewer, it
                is published again once they are back (within the bound).
            on_result: Called with the command's result.
            on_error: Called if Redis refuses it.

        Raises:
            ClusterUnavailableError: The link is closed, or the outbox is full of messages
                that are not volatile: nothing was queued.
        """
        if self.state is LinkState.CLOSED:
            raise ClusterUnavailableError(f"cannot send {what}: the Redis link is closed")
        if self.cluster:
            expect = None  # a node counts only its own subscribers (module docstring)
        self._outbox.push(_Outgoing(what, command, volatile, expect, on_result, on_error))

    def _next_backoff(self, backoff: float) -> float:
        self.stats.longest_backoff = max(self.stats.longest_backoff, backoff)
        return min(backoff * 2, BACKOFF_MAX)

    async def _write(self) -> None:
        backoff = _BACKOFF_MIN
        while True:
            item = await self._outbox.head()
            try:
                if self._healing:
                    await self._wait_for_peers()
                result = await item.command(self.redis)
            except _TRANSIENT as exc:
                self.stats.retries += 1
                self._pub_ok = False
                self._went_down(exc)
                self._healing = True
                await asyncio.sleep(backoff)
                backoff = self._next_backoff(backoff)
                continue
            except RedisError as exc:
                # Not a connectivity problem (a command error): retrying will not help.
                self._outbox.popleft()
                logger.error("Redis refused %s: %s", item.what, exc)
                self.stats.dropped += 1
                _notify(item, exc)
                continue
            backoff = _BACKOFF_MIN
            self._pub_ok = True
            self._maybe_up()
            wanted = item.expect() if item.expect is not None and self._recent_outage() else 0
            if isinstance(result, int) and result < wanted and self._still_healing():
                # Reached fewer servers than exist: one is resubscribing. Again, once back.
                self.stats.republished += 1
                self._healing = True
                await asyncio.sleep(_BACKOFF_MIN)
                continue
            self._outbox.popleft()
            self.stats.published += 1
            if item.on_result is not None:
                try:
                    item.on_result(result)
                except Exception:
                    logger.exception("handling the result of %s failed", item.what)

    def _recent_outage(self) -> bool:
        # Only right after an outage does a short receiver count mean "not back yet"; in
        # normal times it means a server left, and publishing again would duplicate.
        return time.monotonic() - self._last_outage < self.publish_timeout

    def _still_healing(self) -> bool:
        # Within publish_timeout of Redis answering again.
        return time.monotonic() - self._back_at < self.publish_timeout

    async def _wait_for_peers(self) -> None:
        """After an outage: wait until as many servers are subscribed as before it (at most
        ``publish_timeout`` seconds once Redis answers)."""
        self._back_at = time.monotonic()
        while self._still_healing():
            if self._sub_ok and await self._peers_back():
                break
            await asyncio.sleep(_BACKOFF_MIN)
        self._healing = False

    async def _peers_back(self) -> bool:
        try:
            for (kind, channel), before in list(self._presence.items()):
                if await self._raw_count(kind, channel) < before:
                    return False
        except _TRANSIENT:
            return False
        return True

    def _fail_queued(self, error: BaseException, *, log: bool) -> None:
        items = list(self._outbox)
        self._outbox.clear()
        if items and log:
            logger.error("dropped %d queued message(s): %s", len(items), error)
        for item in items:
            _notify(item, error)

    # -- reading -----------------------------------------------------------------------------

    async def _read(self) -> None:
        await self._subscribed.wait()
        backoff = _BACKOFF_MIN
        while True:
            try:
                # Under the lock: reading may reconnect (and resubscribe), which must not
                # interleave with a (un)subscribe on the same connection.
                async with self._sub_lock:
                    message = await self._next_message()
            except (*_TRANSIENT, RedisError) as exc:
                # RedisError too: a reply error while reconnecting; the reader never stops.
                self._sub_ok = False
                self._went_down(exc)
                self._healing = True
                await self._reset_pubsub()
                await asyncio.sleep(backoff)
                backoff = self._next_backoff(backoff)
                continue
            backoff = _BACKOFF_MIN
            if not self._sub_ok:
                # Redis answers again: the publisher may try too (it reports if it fails).
                self._sub_ok = self._pub_ok = True
            self._maybe_up()
            if message is not None:
                self._dispatch(message)

    async def _next_message(self) -> dict[str, Any] | None:
        """The next message, waiting at most ``_READ_SLICE``."""
        pubsub = self._pubsub
        if not self.cluster:
            message: dict[str, Any] | None = await pubsub.get_message(timeout=_READ_SLICE)
            return message
        # A cluster reads classic pub/sub on one connection, and sharded messages on each
        # shard's own connection; neither exists before its first subscription.
        classic = bool(self._handlers or self._patterns)
        if not self._shard:
            if not classic:
                await asyncio.sleep(_READ_SLICE)
                return None
            message = await pubsub.get_message(timeout=_READ_SLICE)
            return message
        if classic:
            message = await pubsub.get_message(timeout=0.0)
            if message is not None:
                return message
        get_sharded: Callable[..., Awaitable[dict[str, Any] | None]] = pubsub.get_sharded_message
        return await get_sharded(timeout=_READ_SLICE)

    async def _reset_pubsub(self) -> None:
        # Drop a half-open connection: the next read reconnects and resubscribes everything.
        connection = self._pubsub.connection
        if connection is not None:
            async with self._sub_lock:
                with contextlib.suppress(*_TRANSIENT, RedisError):
                    await connection.disconnect()

    def _dispatch(self, message: dict[str, Any]) -> None:
        kind = message.get("type")
        channel = _text(message.get("channel"))
        handler: MessageHandler | None
        if kind == "message":
            handler = self._handlers.get(channel)
        elif kind == "pmessage":
            handler = self._patterns.get(_text(message.get("pattern")))
        elif kind == "smessage":
            handler = self._shard.get(channel)
        else:
            return  # (un)subscribe confirmations
        data = message.get("data")
        if handler is None or not isinstance(data, bytes):
            return
        try:
            handler(channel, data)
        except Exception:
            logger.exception("handling a message from %s failed", channel)

    async def _sample(self) -> None:
        # Remember how many servers listen, so that after an outage we wait for them.
        self._presence.setdefault((None, ""), 0)
        while True:
            if self.state is LinkState.UP:
                with contextlib.suppress(*_TRANSIENT, RedisError, IndexError, TypeError):
                    for key in list(self._presence):
                        self._observe(key, await self._raw_count(*key))
            await asyncio.sleep(_SAMPLE_EVERY)

    # -- state -------------------------------------------------------------------------------

    def _went_down(self, exc: BaseException) -> None:
        self._last_outage = time.monotonic()
        if self.state is LinkState.UP or self.state is LinkState.CONNECTING:
            self.state = LinkState.DOWN
            self.stats.disconnects += 1
            logger.warning("lost the connection to Redis (%s); reconnecting", exc)

    def _maybe_up(self) -> None:
        if self._sub_ok and self._pub_ok and self.state is not LinkState.CLOSED:
            if self.state is LinkState.DOWN:
                self.stats.reconnects += 1
                logger.warning(
                    "reconnected to Redis and resubscribed (%d reconnection(s) so far)",
                    self.stats.reconnects,
                )
            self.state = LinkState.UP


def _notify(item: _Outgoing, error: BaseException) -> None:
    if item.on_error is not None:
        try:
            item.on_error(error)
        except Exception:
            logger.exception("reporting the failure of %s failed", item.what)


def _text(value: object) -> str:
    if isinstance(value, bytes):
        return value.decode(errors="replace")
    return str(value)


def link_for(
    redis: RedisClient | str, *, publish_timeout: float = 5.0, max_queued: int = 10_000
) -> RedisLink:
    """A `RedisLink` on ``redis`` (a client, or a URL: see `client_from_url()`)."""
    if isinstance(redis, str):
        return RedisLink(
            client_from_url(redis), publish_timeout=publish_timeout, max_queued=max_queued
        )
    return RedisLink(
        redis, publish_timeout=publish_timeout, max_queued=max_queued, owns_client=False
    )


async def close_client(redis: RedisClient) -> None:
    """Close ``redis`` and, for a Sentinel-managed master, its connections to the Sentinels
    (best effort: closing never fails)."""
    pool = getattr(redis, "connection_pool", None)
    sentinels = getattr(getattr(pool, "sentinel_manager", None), "sentinels", ())
    for client in (redis, *sentinels):
        with contextlib.suppress(RedisError, OSError):
            await client.aclose()


def client_from_url(url: str) -> RedisClient:
    """A redis-py asyncio client for ``url``.

    - ``redis://``, ``rediss://``, ``unix://``: one server (``Redis.from_url``);
    - ``redis+cluster://host:port`` (``rediss+cluster://``): a Redis Cluster reached through
      that node (``RedisCluster.from_url``, redis-py 8 or later);
    - ``redis+sentinel://[user:password@]host1:port1,host2:port2/db/service_name``: the
      master Sentinel names ``service_name`` (python-socketio's format; ``mymaster`` when
      absent), through redis-py's ``Sentinel``; the credentials and ``db`` are the master's.

    Raises:
        ValueError: another scheme, or a Sentinel URL without hosts.
    """
    parsed = urlparse(url)
    scheme = parsed.scheme.lower()
    if scheme in ("redis+cluster", "rediss+cluster"):
        return RedisCluster.from_url(url.replace("+cluster", "", 1))
    if scheme in ("redis+sentinel", "rediss+sentinel"):
        hosts = parsed.netloc.rpartition("@")[2]
        sentinels = []
        for host_port in filter(None, hosts.split(",")):
            host, _, port = host_port.rpartition(":")
            sentinels.append((host, int(port or 26379)))
        if not sentinels:
            raise ValueError(f"no Sentinel host in {url!r}")
        kwargs: dict[str, Any] = {}
        if parsed.username:
            kwargs["username"] = unquote(parsed.username)
        if parsed.password:
            kwargs["password"] = unquote(parsed.password)
        if scheme == "rediss+sentinel":
            kwargs["ssl"] = True
        parts = parsed.path.split("/")
        if len(parts) >= 2 and parts[1]:
            kwargs["db"] = int(parts[1])
        service = parts[2] if len(parts) >= 3 and parts[2] else "mymaster"
        master: Redis = Sentinel(sentinels, **kwargs).master_for(service)
        return master
    if scheme in ("redis", "rediss", "unix"):
        return Redis.from_url(url)
    raise ValueError(f"not a Redis URL: {url!r} (redis://, redis+cluster://, redis+sentinel://)")
