"""Redis failures under a socketwire cluster: restarts, dropped connections, outages.

What must hold (see socketwire.adapters.redis_link and the clusters topic, "Deploying"): a
lost connection is re-established and resubscribed, with a log line and a counter, never
waiting more than ``BACKOFF_MAX`` between attempts; while Redis is unreachable, local
clients are served at once and the messages for the other servers wait, in order, up to a
bound (then the oldest volatile ones are dropped, counted, with a warning; when none is
volatile a new message is refused with :class:`ClusterUnavailableError`); once Redis is
back they are published and every other server's client gets them: with every adapter,
no message accepted within the bound is lost.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from typing import Any

import pytest
from redis.asyncio import Redis

from integration.cluster_nodes import WAIT, PyNode, Ticker, eventually, start_node
from integration.redis_fixtures import redis_server  # noqa: F401  (fixture)
from integration.redis_server import RedisServer
from socketwire.adapters.base import AdapterFactory
from socketwire.adapters.cluster import ClusterUnavailableError
from socketwire.adapters.redis import create_adapter, create_sharded_adapter
from socketwire.adapters.redis_link import BACKOFF_MAX, LinkState
from socketwire.adapters.redis_streams import create_streams_adapter

KINDS = ["classic", "sharded", "streams"]


def factory(kind: str, url: str, **options: Any) -> AdapterFactory:
    """The adapter of ``kind``."""
    if kind == "classic":
        return create_adapter(url, **options)
    if kind == "sharded":
        return create_sharded_adapter(url, **options)
    return create_streams_adapter(url, **options)


async def _pair(kind: str, url: str, **options: Any) -> tuple[PyNode, PyNode]:
    a = await start_node(factory(kind, url, **options))
    b = await start_node(factory(kind, url, **options))

    async def counted() -> bool:
        return await a.adapter().server_count() == 2 and await b.adapter().server_count() == 2

    await eventually(counted, "both nodes to count each other")
    return a, b


@pytest.fixture(params=KINDS)
async def pair(
    request: pytest.FixtureRequest,
    redis_server: RedisServer,  # noqa: F811
) -> AsyncIterator[tuple[str, PyNode, PyNode]]:
    """Two nodes with the adapter of the param's kind."""
    a, b = await _pair(request.param, redis_server.url)
    try:
        yield request.param, a, b
    finally:
        await a.close()
        await b.close()


async def _wait_state(node: PyNode, state: LinkState) -> None:
    link = node.adapter().link

    async def reached() -> bool:
        return bool(link.state is state)

    await eventually(reached, f"the link to be {state.value}")


async def test_a_dropped_pubsub_connection_reconnects_and_resubscribes(
    pair: tuple[str, PyNode, PyNode],
    redis_server: RedisServer,  # noqa: F811
    caplog: pytest.LogCaptureFixture,
) -> None:
    _kind, a, b = pair
    await b.client("b1")
    admin = Redis.from_url(redis_server.url)
    try:
        with caplog.at_level(logging.WARNING, logger="socketwire.adapters.redis"):
            killed = await admin.execute_command("CLIENT KILL TYPE pubsub")  # type: ignore[no-untyped-call]
            assert int(killed) >= 2
            for node in (a, b):
                stats = node.adapter().link.stats

                async def back(stats: Any = stats) -> bool:
                    return bool(stats.reconnects >= 1)

                await eventually(back, "the pub/sub connection to come back")
                assert stats.disconnects >= 1
            assert "lost the connection to Redis" in caplog.text
            assert "reconnected to Redis and resubscribed" in caplog.text
        # Resubscribed: a broadcast from A reaches B's client again.
        await eventually(_sees_both(a), "both servers to be subscribed again")
        a.sio.emit("after", 1)
        assert await b.inboxes["b1"].get("after") == [[1]]
    finally:
        await admin.aclose()


def _sees_both(node: PyNode) -> Any:
    async def check() -> bool:
        return bool(await node.adapter().server_count() == 2)

    return check


async def test_redis_restarted_during_a_stream_of_broadcasts(
    pair: tuple[str, PyNode, PyNode],
    redis_server: RedisServer,  # noqa: F811
) -> None:
    """Redis is killed in the middle of a stream of broadcasts and started again: A's own
    client misses nothing and gets each tick at once; B's client gets every tick, in order,
    once Redis is back. Nothing was refused or dropped (the numbers the docs give: none
    within the bound, with every adapter)."""
    _kind, a, b = pair
    await a.client("a1")
    await b.client("b1")
    ticker = Ticker(a)
    await ticker.ticks(30)
    redis_server.kill()
    link = a.adapter().link
    await ticker.ticks_until(lambda: link.state is LinkState.DOWN, "the link to go down", WAIT)
    await ticker.ticks(20, every=0.01)
    # While Redis is down, A's own client already has every tick.
    local = a.inboxes["a1"]
    await local.wait(lambda: len(local.of("tick")) == ticker.index, "every tick on A's own client")
    during = ticker.index
    await redis_server.astart()
    await _wait_state(a, LinkState.UP)
    await _wait_state(b, LinkState.UP)
    await ticker.ticks(30)

    await ticker.all_arrived(b.inboxes["b1"], "on B")
    await ticker.all_arrived(local, "on A")
    stats = a.adapter().link.stats
    assert stats.dropped == stats.dropped_volatile == stats.rejected == 0
    assert stats.disconnects >= 1
    assert stats.reconnects >= 1
    assert stats.queued_max >= 1, "some ticks waited for Redis"
    assert during > 30


@pytest.mark.parametrize("kind", KINDS)
async def test_while_redis_is_down_local_clients_are_served_and_the_rest_waits(
    kind: str,
    redis_server: RedisServer,  # noqa: F811
) -> None:
    a, b = await _pair(kind, redis_server.url)
    try:
        await a.client("a1")
        await b.client("b1")
        await redis_server.astop()
        await _wait_state(a, LinkState.DOWN)
        a.sio.emit("while-down")
        assert await a.inboxes["a1"].get("while-down") == [[]]
        # What must ask the other servers fails at once: they cannot answer.
        with pytest.raises(ClusterUnavailableError):
            await a.sio.fetch_sockets()
        await redis_server.astart()
        assert await b.inboxes["b1"].get("while-down") == [[]]
        await eventually(_sees_both(a), "both servers to be back")
        a.sio.emit("back")
        await b.inboxes["b1"].get("back")
    finally:
        await a.close()
        await b.close()


async def test_over_the_bound_the_oldest_volatile_messages_drop_first(
    redis_server: RedisServer,  # noqa: F811
    caplog: pytest.LogCaptureFixture,
) -> None:
    a, b = await _pair("classic", redis_server.url, max_queued=4)
    try:
        await a.client("a1")
        await b.client("b1")
        await redis_server.astop()
        await _wait_state(a, LinkState.DOWN)
        stats = a.adapter().link.stats
        with caplog.at_level(logging.WARNING, logger="socketwire.adapters.redis"):
            a.sio.emit("kept", 0)
            for i in range(3):
                a.sio.volatile.emit("fleeting", i)
            for i in range(1, 4):
                # Each one over the bound pushes out the oldest volatile message.
                a.sio.emit("kept", i)
            assert stats.dropped_volatile == 3
            a.sio.volatile.emit("fleeting", 3)  # over the bound, nothing volatile waits
            assert stats.dropped_volatile == 4
            with pytest.raises(ClusterUnavailableError, match="already wait for Redis"):
                a.sio.emit("refused")
        assert stats.rejected == 1
        assert "volatile message(s) dropped so far" in caplog.text
        # A's own client got the refused one all the same (volatile packets may be dropped
        # locally too, by a connection that cannot take them at once).
        local = a.inboxes["a1"]
        await local.wait(lambda: len(local.of("refused")) == 1, "the refused one, locally")
        assert local.of("kept") == [[0], [1], [2], [3]]
        await redis_server.astart()
        inbox = b.inboxes["b1"]
        await inbox.wait(lambda: len(inbox.of("kept")) == 4, "the kept messages on B")
        assert inbox.of("kept") == [[0], [1], [2], [3]]
        assert not inbox.of("fleeting")
        assert not inbox.of("refused")
    finally:
        await a.close()
        await b.close()


@pytest.mark.parametrize("kind", KINDS)
async def test_resubscribing_after_a_restart_never_waits_longer_than_the_cap(
    kind: str,
    redis_server: RedisServer,  # noqa: F811
) -> None:
    """A long outage (the back-off reaches its cap), then Redis comes back: between two
    attempts the link never waited more than BACKOFF_MAX (0.25 s), so it is back within
    that of Redis accepting connections."""
    a, b = await _pair(kind, redis_server.url)
    try:
        await b.client("b1")
        await redis_server.astop()
        await _wait_state(a, LinkState.DOWN)
        stats = a.adapter().link.stats
        await eventually(_reached(stats), "the back-off to reach its cap")
        await redis_server.astart()
        await _wait_state(a, LinkState.UP)
        await _wait_state(b, LinkState.UP)
        assert stats.longest_backoff <= BACKOFF_MAX
        assert b.adapter().link.stats.longest_backoff <= BACKOFF_MAX
        await eventually(_sees_both(a), "both servers to be subscribed again")
        a.sio.emit("after")
        await b.inboxes["b1"].get("after")
    finally:
        await a.close()
        await b.close()


def _reached(stats: Any) -> Any:
    async def check() -> bool:
        return bool(stats.longest_backoff >= BACKOFF_MAX)

    return check
