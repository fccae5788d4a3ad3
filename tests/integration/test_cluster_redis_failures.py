"""Redis failures under a socketwire cluster: restarts, dropped connections, outages.

What must hold (see socketwire.adapters.redis_link): a lost connection is re-established
and resubscribed, with a log line and a counter; a broadcast while Redis is known to be
down raises :class:`ClusterUnavailableError`; a broadcast the API accepted is delivered
(retried across the outage) or, past ``publish_timeout``, dropped with an error log and a
counter, never silently.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator
from typing import Any

import pytest
from redis.asyncio import Redis

from integration.cluster_nodes import WAIT, PyNode, eventually, start_node
from integration.redis_fixtures import redis_server  # noqa: F401  (fixture)
from integration.redis_server import RedisServer
from socketwire.adapters.base import AdapterFactory
from socketwire.adapters.cluster import ClusterUnavailableError
from socketwire.adapters.redis import create_adapter, create_sharded_adapter
from socketwire.adapters.redis_link import LinkState
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
        with caplog.at_level(logging.WARNING, logger="socketwire.cluster.redis"):
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
    """Every broadcast the API accepted (did not raise for) reaches the other server's
    client; the refused ones raised ClusterUnavailableError."""
    _kind, a, b = pair
    await b.client("b1")
    sent: list[int] = []
    refused: list[int] = []
    index = 0

    def emit() -> None:
        nonlocal index
        index += 1
        try:
            a.sio.emit("tick", index)
        except ClusterUnavailableError:
            refused.append(index)
        else:
            sent.append(index)

    for _ in range(30):
        emit()
        await asyncio.sleep(0.005)
    # Kill while the loop is blocked: the ticks right after are accepted before the link
    # can notice, so they must survive the outage.
    redis_server.kill()
    for _ in range(5):
        emit()
    deadline = time.monotonic() + WAIT
    while a.adapter().link.state is not LinkState.DOWN and time.monotonic() < deadline:
        emit()
        await asyncio.sleep(0.005)
    for _ in range(10):
        emit()
        await asyncio.sleep(0.01)
    await redis_server.astart()
    await _wait_state(a, LinkState.UP)
    await _wait_state(b, LinkState.UP)
    for _ in range(30):
        emit()
        await asyncio.sleep(0.005)

    assert refused, "some broadcasts were issued while Redis was known to be down"
    inbox = b.inboxes["b1"]
    await inbox.wait(
        lambda: set(sent) <= {args[0] for args in inbox.of("tick")},
        f"the {len(sent)} accepted ticks",
    )
    stats = a.adapter().link.stats
    assert stats.dropped == 0
    assert stats.disconnects >= 1
    assert stats.reconnects >= 1
    assert stats.rejected == len(refused)


@pytest.mark.parametrize("kind", KINDS)
async def test_a_broadcast_while_redis_is_down_raises(
    kind: str,
    redis_server: RedisServer,  # noqa: F811
) -> None:
    a, b = await _pair(kind, redis_server.url)
    try:
        await a.client("a1")
        await redis_server.astop()
        await _wait_state(a, LinkState.DOWN)
        with pytest.raises(ClusterUnavailableError, match="Redis is unreachable"):
            a.sio.emit("lost")
        with pytest.raises(ClusterUnavailableError):
            await a.sio.fetch_sockets()
        with pytest.raises(ClusterUnavailableError):
            await a.sio.server_side_emit("py-sse")
        # Nothing was delivered locally either: the API said it was not sent.
        assert not a.inboxes["a1"].of("lost")
        await redis_server.astart()
        await _wait_state(a, LinkState.UP)
        await eventually(_sees_both(a), "both servers to be back")
        a.sio.emit("back")
        await a.inboxes["a1"].get("back")
    finally:
        await a.close()
        await b.close()


async def test_an_accepted_broadcast_past_the_bound_is_dropped_loudly(
    redis_server: RedisServer,  # noqa: F811
    caplog: pytest.LogCaptureFixture,
) -> None:
    node = await start_node(create_adapter(redis_server.url, publish_timeout=0.3))
    try:
        with caplog.at_level(logging.ERROR, logger="socketwire.cluster.redis"):
            # The loop is blocked while Redis dies: the emit is accepted, then cannot go out.
            redis_server.kill()
            node.sio.emit("never")
            stats = node.adapter().link.stats

            async def dropped() -> bool:
                return bool(stats.dropped == 1)

            await eventually(dropped, "the message to be dropped")
        assert "dropped 1 message(s) after 0.3 s without Redis" in caplog.text
        assert "broadcast on socket.io#/#" in caplog.text
    finally:
        await redis_server.astart()
        await node.close()
