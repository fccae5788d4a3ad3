"""socketwire clusters over Redis beyond one server: a real 3-master Redis Cluster (every
adapter, and the emitter, with redis-py's ``RedisCluster``) and Redis Sentinel (a master, a
replica and a Sentinel; the master is killed during a stream of broadcasts and Sentinel
promotes the replica)."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Iterator
from typing import Any

import pytest
from redis.asyncio import RedisCluster
from redis.asyncio.sentinel import Sentinel

from conftest import http_request, start_native, wait_until
from integration.cluster_nodes import (
    PyNode,
    Ticker,
    adapter_factory,
    drop_transport,
    eventually,
    room_channels_ready,
    session_of,
    start_node,
)
from integration.redis_server import RedisServerError
from integration.redis_topologies import (
    REDIS_CLI,
    REDIS_SENTINEL,
    RedisClusterSetup,
    SentinelSetup,
    command,
)
from socketwire import Server
from socketwire.adapters.emitter import Emitter
from socketwire.adapters.redis_link import LinkState, client_from_url

pytestmark = pytest.mark.integration

KINDS = ["classic", "sharded", "streams"]


@pytest.fixture(scope="module")
def redis_cluster() -> Iterator[RedisClusterSetup]:
    """One 3-master Redis Cluster for the module (started in about two seconds)."""
    if REDIS_CLI is None:
        pytest.skip("redis-cli is not installed (run `make system-deps`)")
    try:
        cluster = RedisClusterSetup()
    except RedisServerError as exc:
        pytest.skip(str(exc))
    cluster.start()
    try:
        yield cluster
    finally:
        cluster.stop()


async def _pair(kind: str, url: str, **options: Any) -> tuple[PyNode, PyNode]:
    a = await start_node(adapter_factory(kind, url), **options)
    b = await start_node(adapter_factory(kind, url), **options)

    async def counted() -> bool:
        return await a.adapter().server_count() == 2 and await b.adapter().server_count() == 2

    await eventually(counted, "both nodes to count each other")
    return a, b


@pytest.fixture(params=KINDS)
async def cluster_pair(
    request: pytest.FixtureRequest, redis_cluster: RedisClusterSetup
) -> AsyncIterator[tuple[str, PyNode, PyNode]]:
    """Two socketwire nodes on the Redis Cluster, through ``redis+cluster://``."""
    kind: str = request.param
    a, b = await _pair(kind, "redis+cluster://" + redis_cluster.url.removeprefix("redis://"))
    try:
        yield kind, a, b
    finally:
        await a.close()
        await b.close()


async def test_the_cluster_spreads_the_channels_over_its_masters(
    redis_cluster: RedisClusterSetup,
) -> None:
    """The test is about a real cluster: three masters, each owning slots."""
    nodes = command(redis_cluster.ports[0], "CLUSTER", "NODES").decode()
    masters = [line.split() for line in nodes.splitlines() if "master" in line]
    assert len(masters) == 3
    # <id> <addr> <flags> <master> <ping> <pong> <epoch> <link-state> <slot ranges...>
    assert all(len(fields) >= 9 and fields[7] == "connected" for fields in masters)


async def test_every_operation_across_the_cluster(
    cluster_pair: tuple[str, PyNode, PyNode],
) -> None:
    kind, a, b = cluster_pair
    assert a.adapter().link.cluster
    await a.client("a1", ["red"], {"who": "a1"})
    await b.client("b1", ["red"], {"who": "b1"})
    await b.client("b2", ["blue"])
    await room_channels_ready(a, b)
    for count, (src, dst) in enumerate(((a, b), (b, a)), start=1):
        src.sio.emit("all", src.url, b"\x00\x01")
        src.sio.to("red").emit("red", src.url)
        for node in (a, b):
            for inbox in node.inboxes.values():
                assert (await inbox.get("all", count))[-1] == [src.url, b"\x00\x01"]
        assert (await a.inboxes["a1"].get("red", count))[-1] == [src.url]
        assert (await b.inboxes["b1"].get("red", count))[-1] == [src.url]
        sockets = await src.sio.in_("red").fetch_sockets()
        assert sorted(s.id for s in sockets) == sorted([a.ids["a1"], b.ids["b1"]])
        remote = next(s for s in sockets if s.id in dst.ids.values())
        assert remote.data["who"] in ("a1", "b1")
        assert await src.sio.server_side_emit_with_ack("py-sse", "ping") == ["py-pong"]
        answers = await src.sio.timeout(5).emit_with_ack("ask")
        assert sorted(answers) == ["ack-a1", "ack-b1", "ack-b2"]
    assert not b.inboxes["b2"].of("red")
    await a.sio.in_("blue").sockets_join("joined")

    async def joined() -> bool:
        return {s.id for s in await a.sio.in_("joined").fetch_sockets()} == {b.ids["b2"]}

    await eventually(joined, f"sockets_join across the cluster ({kind})")
    await a.sio.in_("joined").disconnect_sockets()
    await b.inboxes["b2"].get("<disconnect>")


async def test_recovery_across_nodes_with_the_streams_adapter(
    redis_cluster: RedisClusterSetup,
) -> None:
    url = "redis+cluster://" + redis_cluster.url.removeprefix("redis://")
    a, b = await _pair("streams", url, connection_state_recovery=True)
    try:
        sid = await a.client("c", ["r"])
        a.sio.emit("first")
        await a.inboxes["c"].get("first")
        pid, offset = session_of(a.clients["c"])
        await drop_transport(a.clients["c"])
        redis = client_from_url(url)
        try:

            async def stored() -> bool:
                return bool(await redis.exists(f"sio:session:{pid}"))

            await eventually(stored, "the session stored in the cluster")
        finally:
            await redis.aclose()
        b.sio.to("r").emit("missed", 1)
        assert await b.client("c2", auth={"pid": pid, "offset": offset}) == sid
        assert await b.inboxes["c2"].get("missed") == [[1]]
        assert b.sio.of("/").sockets[sid].recovered
    finally:
        await a.close()
        await b.close()


async def test_the_emitter_on_a_cluster_client(redis_cluster: RedisClusterSetup) -> None:
    url = redis_cluster.url
    a, b = await _pair("classic", "redis+cluster://" + url.removeprefix("redis://"))
    cluster = RedisCluster.from_url(url)
    emitter = Emitter(cluster)
    try:
        await a.client("a1", ["room"])
        await b.client("b1")
        await emitter.to("room").emit("from-emitter", 1)
        await emitter.emit("everyone", 2)
        assert await a.inboxes["a1"].get("from-emitter") == [[1]]
        assert await b.inboxes["b1"].get("everyone") == [[2]]
        assert not b.inboxes["b1"].of("from-emitter")
    finally:
        await cluster.aclose()
        await a.close()
        await b.close()


@pytest.mark.parametrize("kind", KINDS)
async def test_requests_are_forwarded_to_the_owner_across_the_cluster(
    kind: str, redis_cluster: RedisClusterSetup
) -> None:
    """No sticky sessions over a Redis Cluster: a session opened on one server is served
    through the other (its requests forwarded to the owner on the cluster's channels)."""
    url = "redis+cluster://" + redis_cluster.url.removeprefix("redis://")
    servers = [Server(adapter=adapter_factory(kind, url)) for _ in range(2)]
    stops = []
    try:
        ports = []
        for sio in servers:
            await sio.start()
            port, stop = await start_native(sio)
            ports.append(port)
            stops.append(stop)
        target = "/socket.io/?EIO=4&transport=polling"
        opened = await http_request(ports[0], "GET", target)
        sid = json.loads(opened.body[1:])["sid"]
        with_sid = f"{target}&sid={sid}"
        assert (await http_request(ports[1], "POST", with_sid, body="40")).status == 200
        connected = await http_request(ports[1], "GET", with_sid)
        assert connected.body.startswith(b'40{"sid":'), connected.body
    finally:
        for stop in stops:
            await stop()
        for sio in servers:
            await sio.close()


# -- Sentinel ------------------------------------------------------------------------------


@pytest.fixture
def sentinel_setup() -> Iterator[SentinelSetup]:
    """A master, its replica and a Sentinel (quorum 1), for one test."""
    if REDIS_SENTINEL is None:
        pytest.skip("redis-sentinel is not installed (run `make system-deps`)")
    setup = SentinelSetup()
    setup.start()
    try:
        yield setup
    finally:
        setup.stop()


def _in_sync(setup: SentinelSetup) -> bool:
    master = command(setup.master.port, "INFO", "replication").decode()
    replica = command(setup.replica.port, "INFO", "replication").decode()

    def field(text: str, name: str) -> str:
        for line in text.splitlines():
            if line.startswith(name + ":"):
                return line.split(":", 1)[1].strip()
        return ""

    offset = field(master, "master_repl_offset")
    return bool(offset) and f"offset={offset}," in master and field(replica, "role") == "slave"


@pytest.mark.parametrize("kind", KINDS)
async def test_a_sentinel_failover_during_a_stream_of_broadcasts(
    kind: str, sentinel_setup: SentinelSetup
) -> None:
    """Both nodes reach the master through Sentinel (``redis+sentinel://``); the master is
    killed while node A broadcasts a tick every few milliseconds, Sentinel promotes the
    replica, the links find the new master, and B's client gets every tick, in order."""
    hosts = ",".join(f"{host}:{port}" for host, port in sentinel_setup.sentinels)
    url = f"redis+sentinel://{hosts}/0/{sentinel_setup.name}"
    a, b = await _pair(kind, url)
    try:
        await a.client("a1")
        await b.client("b1")
        ticker = Ticker(a)
        await ticker.ticks(30)
        # Redis replicates asynchronously: a crash loses what the replica has not received
        # yet (the streams adapter's last entries). Kill the master once it is in sync.
        await wait_until(lambda: _in_sync(sentinel_setup), "the replica to catch up")
        old_master = sentinel_setup.master.port
        sentinel_setup.master.kill()
        link = a.adapter().link
        await ticker.ticks_until(lambda: link.state is LinkState.DOWN, "the link to go down", 20)
        await ticker.ticks_until(
            lambda: sentinel_setup.master_port() != old_master, "Sentinel's failover", 20
        )
        assert sentinel_setup.master_port() == sentinel_setup.replica.port, "no failover"
        for node in (a, b):
            await wait_until(
                lambda node=node: node.adapter().link.state is LinkState.UP,
                "the link to come back after the failover",
            )
        await ticker.ticks(30)
        await ticker.all_arrived(b.inboxes["b1"], "on B")
        await ticker.all_arrived(a.inboxes["a1"], "on A")
        stats = link.stats
        assert stats.dropped == stats.dropped_volatile == stats.rejected == 0
        assert stats.disconnects >= 1
        assert stats.reconnects >= 1
        # the links now talk to the promoted replica
        sentinel = Sentinel(sentinel_setup.sentinels)
        try:
            master = await sentinel.discover_master(sentinel_setup.name)
        finally:
            for client in sentinel.sentinels:
                await client.aclose()
        assert master[1] == sentinel_setup.replica.port
        assert await a.adapter().server_count() == 2
    finally:
        await a.close()
        await b.close()


def test_client_from_url_reads_the_three_topologies() -> None:
    from redis.asyncio import Redis

    assert isinstance(client_from_url("redis://127.0.0.1:1/0"), Redis)
    assert isinstance(client_from_url("redis+cluster://127.0.0.1:1"), RedisCluster)
    master = client_from_url("redis+sentinel://u:p%40ss@127.0.0.1:1,127.0.0.1:2/3/svc")
    assert isinstance(master, Redis)
    pool: Any = master.connection_pool
    assert pool.service_name == "svc"
    assert [
        (s.connection_pool.connection_kwargs["port"]) for s in pool.sentinel_manager.sentinels
    ] == [1, 2]
    assert pool.connection_kwargs["password"] == "p@ss"
    assert pool.connection_kwargs["db"] == 3
    with pytest.raises(ValueError, match="not a Redis URL"):
        client_from_url("http://127.0.0.1")
    with pytest.raises(ValueError, match="no Sentinel host"):
        client_from_url("redis+sentinel:///0/svc")
