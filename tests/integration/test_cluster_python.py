"""Two socketwire servers in one cluster, clients on each, every operation both ways.

Run for each adapter: Redis classic pub/sub, sharded pub/sub and streams, and PostgreSQL. A
real redis-server is started on a free port for each test (the ``redis_server`` fixture); a
PostgreSQL cluster once per module, with a database per test (``postgres_db``).
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Any

import pytest
from redis.asyncio import Redis

from integration.cluster_nodes import KINDS as ALL_KINDS
from integration.cluster_nodes import (
    PyNode,
    adapter_factory,
    broker_url,
    drop_transport,
    eventually,
    room_channels_ready,
    session_of,
    start_node,
)
from integration.postgres_fixtures import postgres_db, postgres_server  # noqa: F401
from integration.redis_fixtures import redis_server  # noqa: F401  (fixture)
from integration.redis_server import RedisServer
from socketwire import AckTimeoutError
from socketwire.adapters.base import AdapterFactory
from socketwire.adapters.cluster import ClusterTimeoutError
from socketwire.adapters.emitter import Emitter
from socketwire.adapters.wire.naming import session_key

KINDS = ["classic", "sharded", "streams"]


def factory(kind: str, url: str, **options: Any) -> AdapterFactory:
    """The adapter factory of ``kind`` on ``url``."""
    return adapter_factory(kind, url, **options)


@pytest.fixture(params=ALL_KINDS)
async def nodes(request: pytest.FixtureRequest) -> AsyncIterator[tuple[PyNode, PyNode]]:
    """Two nodes; each sees the other (server_count == 2) before the test starts."""
    kind: str = request.param
    url = broker_url(request, kind)
    a = await start_node(factory(kind, url))
    b = await start_node(factory(kind, url))
    try:

        async def both_counted() -> bool:
            return await a.adapter().server_count() == 2 and await b.adapter().server_count() == 2

        await eventually(both_counted, "both nodes to count each other")
        yield a, b
    finally:
        await a.close()
        await b.close()


Pair = tuple[PyNode, PyNode]


def directions(pair: Pair) -> list[tuple[PyNode, PyNode]]:
    """(sender, receiver) both ways."""
    a, b = pair
    return [(a, b), (b, a)]


async def test_broadcast_to_all_and_to_rooms_both_ways(nodes: Pair) -> None:
    a, b = nodes
    await a.client("a1", ["red"])
    await a.client("a2", ["blue"])
    await b.client("b1", ["red"])
    await b.client("b2", ["blue", "green"])
    await room_channels_ready(a, b)
    for index, (src, _dst) in enumerate(directions(nodes)):
        tag = f"{index}"
        src.sio.emit("all", tag, b"\x01\x02")
        src.sio.to("red").emit("red", tag)
        src.sio.to(["red", "green"]).except_("blue").emit("red-green-not-blue", tag)
        src.sio.except_("red").emit("not-red", tag)
        for node in (a, b):
            for name, inbox in node.inboxes.items():
                await inbox.get("all", index + 1)
                assert inbox.of("all")[index] == [tag, b"\x01\x02"], name
        await a.inboxes["a1"].get("red", index + 1)
        await b.inboxes["b1"].get("red", index + 1)
        await a.inboxes["a1"].get("red-green-not-blue", index + 1)
        await b.inboxes["b1"].get("red-green-not-blue", index + 1)
        await a.inboxes["a2"].get("not-red", index + 1)
        await b.inboxes["b2"].get("not-red", index + 1)
        # A marker sent last: once it arrived everywhere, nothing else is in flight.
        src.sio.emit("marker", tag)
        for node in (a, b):
            for inbox in node.inboxes.values():
                await inbox.get("marker", index + 1)
    assert not a.inboxes["a2"].of("red")
    assert not b.inboxes["b2"].of("red")
    assert not a.inboxes["a2"].of("red-green-not-blue")
    assert not b.inboxes["b2"].of("red-green-not-blue")
    assert not a.inboxes["a1"].of("not-red")
    assert not b.inboxes["b1"].of("not-red")


async def test_fetch_sockets_and_remote_socket_both_ways(nodes: Pair) -> None:
    a, b = nodes
    await a.client("a1", ["room"], {"who": "a1"})
    await b.client("b1", ["room"], {"who": "b1"})
    for src, dst in directions(nodes):
        remote_name = "b1" if dst is b else "a1"
        sockets = await src.sio.in_("room").fetch_sockets()
        assert sorted(s.id for s in sockets) == sorted([a.ids["a1"], b.ids["b1"]])
        remote = next(s for s in sockets if s.id == dst.ids[remote_name])
        assert remote.data == {"who": remote_name}
        assert remote.rooms == {remote.id, "room"}
        assert remote.handshake.auth["data"] == {"who": remote_name}
        assert remote.handshake.query["EIO"] == "4"

        remote.emit("direct", "hi")
        assert await dst.inboxes[remote_name].get("direct") == [["hi"]]
        assert await remote.timeout(5).emit_with_ack("ask") == f"ack-{remote_name}"

        await remote.join("joined")

        async def in_joined(src: PyNode = src, sid: str = remote.id) -> bool:
            return sid in {s.id for s in await src.sio.in_("joined").fetch_sockets()}

        await eventually(in_joined, "the remote socket to join")
        await remote.leave("joined")

        async def left(src: PyNode = src) -> bool:
            return not await src.sio.in_("joined").fetch_sockets()

        await eventually(left, "the remote socket to leave")

    sockets = await a.sio.fetch_sockets()
    remote = next(s for s in sockets if s.id == b.ids["b1"])
    await remote.disconnect()
    await b.inboxes["b1"].get("<disconnect>")
    assert b.inboxes["b1"].disconnects == ["io server disconnect"]


async def test_sockets_join_leave_disconnect_both_ways(nodes: Pair) -> None:
    a, b = nodes
    await a.client("a1", ["x"])
    await b.client("b1", ["x"])
    await b.client("b2", ["y"])
    for src, _dst in directions(nodes):
        await src.sio.in_("x").sockets_join("joined")

        async def both_joined(src: PyNode = src) -> bool:
            found = {s.id for s in await src.sio.in_("joined").fetch_sockets()}
            return found == {a.ids["a1"], b.ids["b1"]}

        await eventually(both_joined, "sockets_join on both nodes")
        await src.sio.in_("joined").sockets_leave("joined")

        async def none_left(src: PyNode = src) -> bool:
            return not await src.sio.in_("joined").fetch_sockets()

        await eventually(none_left, "sockets_leave on both nodes")
    await a.sio.in_("x").except_("y").disconnect_sockets()
    await a.inboxes["a1"].get("<disconnect>")
    await b.inboxes["b1"].get("<disconnect>")

    async def only_b2() -> bool:
        return {s.id for s in await b.sio.fetch_sockets()} == {b.ids["b2"]}

    await eventually(only_b2, "b2 to be the only socket left")


async def test_server_side_emit_with_and_without_ack_both_ways(nodes: Pair) -> None:
    for src, dst in directions(nodes):
        before = len(dst.server_events)
        await src.sio.server_side_emit("py-sse", 1, {"two": 2})
        await eventually(
            lambda dst=dst, before=before: _async(len(dst.server_events) > before),
            "the server-side event",
        )
        assert dst.server_events[-1] == ("py-sse", [1, {"two": 2}])
        assert len(src.server_events) == 0 or src.server_events[-1] != ("py-sse", [1, {"two": 2}])
        responses = await src.sio.server_side_emit_with_ack("py-sse", "ping")
        assert responses == ["py-pong"]


async def _async(value: bool) -> bool:
    return value


async def test_broadcast_with_ack_counts_clients_on_every_node(nodes: Pair) -> None:
    a, b = nodes
    await a.client("a1", ["r"])
    await b.client("b1", ["r"])
    await b.client("b2", ["r"])
    for src, _dst in directions(nodes):
        responses = await src.sio.to("r").timeout(5).emit_with_ack("ask")
        assert sorted(responses) == ["ack-a1", "ack-b1", "ack-b2"]
        everyone = await src.sio.timeout(5).emit_with_ack("ask")
        assert sorted(everyone) == ["ack-a1", "ack-b1", "ack-b2"]


async def test_broadcast_with_ack_times_out_with_what_arrived(nodes: Pair) -> None:
    a, b = nodes
    await a.client("a1", ["r"])
    await b.client("b1", ["r"])
    # "slow" never answers: the operation times out with a1's and b1's answers only.
    await b.client("slow", ["r"])
    b.clients["slow"].socket("/").off("ask")
    with pytest.raises(AckTimeoutError) as caught:
        await a.sio.to("r").timeout(1).emit_with_ack("ask")
    assert sorted(caught.value.responses) == ["ack-a1", "ack-b1"]


async def test_all_rooms_and_server_count(nodes: Pair) -> None:
    a, b = nodes
    await a.client("a1", ["ra"])
    await b.client("b1", ["rb"])
    for src, _dst in directions(nodes):
        rooms = await src.adapter().all_rooms()
        assert {"ra", "rb", a.ids["a1"], b.ids["b1"]} <= rooms
        assert await src.adapter().server_count() == 2


@pytest.mark.parametrize("kind", KINDS)
async def test_a_server_that_does_not_answer_times_out_with_a_clear_error(
    kind: str,
    redis_server: RedisServer,  # noqa: F811
) -> None:
    node = await start_node(factory(kind, redis_server.url, requests_timeout=0.5))
    silent = Redis.from_url(redis_server.url)
    mute = silent.pubsub()
    try:
        # A "server" that listens where servers are counted, and never answers.
        channel = _count_channel(node)
        if kind == "sharded":
            await mute.ssubscribe(channel)
        else:
            await mute.subscribe(channel)

        async def counted() -> bool:
            return await node.adapter().server_count() == 2

        await eventually(counted, "the silent server to be counted")
        with pytest.raises(ClusterTimeoutError) as caught:
            await node.sio.fetch_sockets()
        message = str(caught.value)
        assert "fetch_sockets timed out after 0.5 s" in message
        assert "0 of 1 servers answered, 1 missing" in message
        assert channel in message
        with pytest.raises(ClusterTimeoutError, match="server_side_emit timed out"):
            await node.sio.server_side_emit_with_ack("py-sse")
    finally:
        await mute.aclose()
        await silent.aclose()
        await node.close()


def _count_channel(node: PyNode) -> str:
    """The channel whose subscribers are the servers of the cluster."""
    adapter = node.adapter()
    if hasattr(adapter, "public"):
        return str(adapter.public)
    return str(getattr(adapter.channels, "request", None) or adapter.channels.main)


async def test_sockets_on_another_namespace_are_not_touched(nodes: Pair) -> None:
    a, b = nodes
    await a.client("a1", ["r"], nsp="/admin")
    await b.client("b1", ["r"])
    a.sio.of("/admin").to("r").emit("admin-only")
    await a.inboxes["a1"].get("admin-only")
    b.sio.emit("main-marker")
    await b.inboxes["b1"].get("main-marker")
    assert not b.inboxes["b1"].of("admin-only")
    assert not a.inboxes["a1"].of("main-marker")


@pytest.mark.parametrize("kind", ["classic", "streams"])
async def test_connection_state_recovery_across_nodes(
    kind: str,
    redis_server: RedisServer,  # noqa: F811
) -> None:
    """A client leaves server A and recovers its session on server B: same id, same rooms,
    and what was broadcast meanwhile (by either server) replayed, minus what was not for it."""
    a = await start_node(factory(kind, redis_server.url), connection_state_recovery=True)
    b = await start_node(factory(kind, redis_server.url), connection_state_recovery=True)
    redis = Redis.from_url(redis_server.url)
    try:
        await eventually(_counted(a, b), "both nodes to count each other")
        sid = await a.client("c", ["r"])
        await a.client("watch", ["r", "other"])
        # The offsets the server appends stay with the client: read them on the wire.
        wire: list[list[Any]] = []
        manager = a.clients["watch"].io
        assert manager is not None
        assert manager.engine is not None
        manager.engine.on("message", lambda data: wire.append(json.loads(data[1:])))
        a.sio.emit("first")
        assert (await a.inboxes["c"].get("first"))[0] == []  # the offset stays with the client
        pid, last = session_of(a.clients["c"])
        assert isinstance(last, str)

        await drop_transport(a.clients["c"])

        async def persisted() -> bool:
            return bool(await redis.exists(session_key(pid)))

        await eventually(persisted, "the session to be stored in Redis")
        b.sio.emit("missed-all", 1)
        b.sio.to("r").emit("missed-room")
        b.sio.to("other").emit("not-for-you")
        a.sio.emit("missed-a")
        watch = a.inboxes["watch"]
        for event in ("missed-all", "missed-room", "not-for-you", "missed-a"):
            await watch.get(event)
        if kind == "classic":
            missed = ("missed-all", "missed-room", "not-for-you", "missed-a")
            offsets = [args[-1] for args in wire if args[0] in missed]
            assert len(offsets) == 4
            log = b.adapter().recovery

            async def logged() -> bool:
                return all(log.knows(o) for o in offsets)

            await eventually(logged, "B to log every broadcast")

        new_sid = await b.client("c2", auth={"pid": pid, "offset": last})
        assert new_sid == sid
        inbox = b.inboxes["c2"]
        await inbox.get("missed-a")
        # (A's and B's broadcasts race each other to Redis: no order between them)
        names = [name for name, _args in inbox.events]
        assert sorted(names) == ["missed-a", "missed-all", "missed-room"]
        assert names.index("missed-all") < names.index("missed-room")
        assert inbox.of("missed-all")[0][0] == 1
        socket = b.sio.of("/").sockets[sid]
        assert socket.recovered
        assert socket.rooms == {sid, "r"}
    finally:
        await redis.aclose()
        await a.close()
        await b.close()


def _counted(*nodes: PyNode) -> Any:
    async def check() -> bool:
        for node in nodes:
            if await node.adapter().server_count() != len(nodes):
                return False
        return True

    return check


async def test_the_emitter_into_socketwire_servers(
    redis_server: RedisServer,  # noqa: F811
) -> None:
    a = await start_node(factory("classic", redis_server.url))
    b = await start_node(factory("classic", redis_server.url))
    emitter = Emitter(redis_server.url)
    try:
        await eventually(_counted(a, b), "both nodes to count each other")
        await a.client("a1", ["r"])
        await b.client("b1", ["r", "x"])
        await b.client("b2", [])
        await a.client("admin", ["r"], nsp="/admin")
        await emitter.emit("all", {"k": b"\x00"})
        await emitter.to("r").except_("x").emit("r-not-x")
        await emitter.volatile.to("r").emit("volatile")
        await emitter.of("/admin").to("r").emit("admin")
        for node, name in ((a, "a1"), (b, "b1"), (b, "b2")):
            assert await node.inboxes[name].get("all") == [[{"k": b"\x00"}]]
        await a.inboxes["a1"].get("r-not-x")
        await a.inboxes["admin"].get("admin")
        await b.inboxes["b1"].get("volatile")
        assert not b.inboxes["b1"].of("r-not-x")
        assert not b.inboxes["b2"].of("r-not-x")
        assert not a.inboxes["a1"].of("admin")
        await emitter.server_side_emit("py-sse", "from-emitter")
        await eventually(
            lambda: _async(
                ("py-sse", ["from-emitter"]) in a.server_events + b.server_events
                and len(a.server_events) == len(b.server_events) == 1
            ),
            "both servers to get the emitter's server-side event",
        )
        await emitter.in_("r").sockets_join("joined")

        async def joined() -> bool:
            return len(await a.sio.in_("joined").fetch_sockets()) == 2

        await eventually(joined, "the emitter's sockets_join")
        await emitter.in_("joined").sockets_leave("joined")

        async def left() -> bool:
            return not await a.sio.in_("joined").fetch_sockets()

        await eventually(left, "the emitter's sockets_leave")
        await emitter.in_("x").disconnect_sockets()
        await b.inboxes["b1"].get("<disconnect>")
        assert not a.inboxes["a1"].disconnects
        with pytest.raises(ValueError, match="reserved"):
            await emitter.emit("connect")
    finally:
        await emitter.aclose()
        await a.close()
        await b.close()


@pytest.mark.parametrize("streams", [False, True])
async def test_adapter_from_url_is_what_serve_uses(
    streams: bool,
    redis_server: RedisServer,  # noqa: F811
) -> None:
    from socketwire.adapters.redis import RedisAdapter, adapter_from_url
    from socketwire.adapters.redis_streams import RedisStreamsAdapter

    a = await start_node(adapter_from_url(redis_server.url, streams=streams))
    b = await start_node(adapter_from_url(redis_server.url, streams=streams))
    try:
        expected = RedisStreamsAdapter if streams else RedisAdapter
        assert type(a.adapter()) is expected
        await eventually(_counted(a, b), "both nodes to count each other")
        await b.client("b1")
        a.sio.emit("hello")
        assert await b.inboxes["b1"].get("hello") == [[]]
    finally:
        await a.close()
        await b.close()


@pytest.mark.parametrize("kind", ["classic", "streams"])
async def test_a_server_shutting_down_stores_its_sessions_first(
    kind: str,
    redis_server: RedisServer,  # noqa: F811
) -> None:
    """ "server shutting down" is recoverable: a rolling restart must not lose sessions."""
    a = await start_node(factory(kind, redis_server.url), connection_state_recovery=True)
    redis = Redis.from_url(redis_server.url)
    try:
        await a.client("c")
        a.sio.emit("first")
        await a.inboxes["c"].get("first")
        pid, _offset = session_of(a.clients["c"])
        await a.sio.shutdown()
        assert await redis.exists(session_key(pid)) == 1
    finally:
        await redis.aclose()
        await a.close()
