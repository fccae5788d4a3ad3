"""Mixed clusters: one socketwire server and one Node socket.io 4.8 server on one Redis, or
on one PostgreSQL database.

For each adapter (``@socket.io/redis-adapter`` classic, its sharded variant,
``@socket.io/redis-streams-adapter`` and ``@socket.io/postgres-adapter``), with clients on
each server, every operation is run
in both directions: Python -> Node (the socketwire server acts, Node's clients and handlers
see it) and Node -> Python. The Node side is js/cluster_capture.js; its clients answer
every acknowledged event with ``"ack-<name>"`` and its server answers ``py-sse`` with
``"node-pong"``. The socketwire side is tests/integration/cluster_nodes.py (clients answer
``ask`` with ``"ack-<name>"``; the server answers ``py-sse`` with ``"py-pong"``).

The operation x direction x adapter matrix these tests cover is in docs/topics/clusters.md.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest
from cluster_harness import Mixed, b64, emitter_moves_sockets, start_mixed
from redis.asyncio import Redis

from conftest import NodeFactory
from integration.cluster_nodes import (
    KINDS,
    broker_url,
    drop_transport,
    eventually,
    session_of,
    start_node,
)
from integration.postgres_fixtures import postgres_db, postgres_server  # noqa: F401
from integration.redis_fixtures import redis_server  # noqa: F401  (fixture)
from integration.redis_server import RedisServer
from socketwire import AsyncClient
from socketwire.adapters.emitter import Emitter
from socketwire.adapters.redis_streams import create_streams_adapter
from socketwire.adapters.wire.naming import session_key

pytestmark = pytest.mark.interop


@pytest.fixture(params=KINDS)
async def mixed(request: pytest.FixtureRequest, node: NodeFactory) -> AsyncIterator[Mixed]:
    """A mixed cluster for each adapter."""
    kind: str = request.param
    async with start_mixed(kind, broker_url(request, kind), node) as cluster:
        yield cluster


async def test_broadcasts_both_ways(mixed: Mixed) -> None:
    py = mixed.py
    await py.client("p1", ["red"])
    await py.client("p2", ["blue"])
    await mixed.node_client("n1", ["red"])
    await mixed.node_client("n2", ["blue", "green"])
    if mixed.kind == "sharded":
        # Each server subscribes to a room's channel when the room appears on it.
        await _shard_subscribers(mixed, {"red": 2, "blue": 2, "green": 1})

    # Python -> Node
    py.sio.emit("all", 1, b"\x00\xff")
    assert await mixed.node_got("n1", "all") == [1, b64(b"\x00\xff")]
    assert await mixed.node_got("n2", "all") == [1, b64(b"\x00\xff")]
    py.sio.to("red").emit("red", "x")
    assert await mixed.node_got("n1", "red") == ["x"]
    py.sio.to(["red", "green"]).except_("blue").emit("rg", "y")
    assert await mixed.node_got("n1", "rg") == ["y"]
    py.sio.emit("marker-py")
    await mixed.node_got("n2", "marker-py")
    assert not mixed.node.seen("client_ev", name="n2", ev="red")
    assert not mixed.node.seen("client_ev", name="n2", ev="rg")

    # Node -> Python
    await mixed.node.command("emit", nsp="/", ev="all", args=[2, b64(b"\x01")])
    await mixed.node.command("emit", nsp="/", rooms=["red"], ev="red", args=["z"])
    await mixed.node.command("emit", nsp="/", rooms=["blue"], ev="blue", args=[])
    await mixed.node.command("emit", nsp="/", **{"except": ["red"]}, ev="not-red2", args=[3])
    await mixed.node.command("emit", nsp="/", ev="marker-node", args=[])
    for name in ("p1", "p2"):
        assert (await py.inboxes[name].get("all", 2))[1] == [2, b"\x01"]
        await py.inboxes[name].get("marker-node")
    assert py.inboxes["p1"].of("red") == [["x"], ["z"]]
    assert py.inboxes["p2"].of("blue") == [[]]
    assert py.inboxes["p2"].of("not-red2") == [[3]]
    assert not py.inboxes["p1"].of("not-red2")
    assert not py.inboxes["p2"].of("red")
    assert not py.inboxes["p1"].of("blue")


async def test_fetch_sockets_and_remote_sockets_both_ways(mixed: Mixed) -> None:
    py = mixed.py
    pid = await py.client("p1", ["room"], {"lang": "py"})
    nid = await mixed.node_client("n1", ["room"], data={"lang": "js"})

    # Python fetches, and drives Node's socket through RemoteSocket
    sockets = await py.sio.in_("room").fetch_sockets()
    assert sorted(s.id for s in sockets) == sorted([pid, nid])
    remote = next(s for s in sockets if s.id == nid)
    assert remote.data == {"lang": "js"}
    assert remote.rooms == {nid, "room"}
    assert remote.handshake.auth["data"] == {"lang": "js"}
    remote.emit("direct", "hi")
    assert await mixed.node_got("n1", "direct") == ["hi"]
    assert await remote.timeout(5).emit_with_ack("ask") == "ack-n1"
    await remote.join("extra")

    async def joined() -> bool:
        found = await mixed.node_result("fetch", nsp="/", rooms=["extra"])
        return [s["id"] for s in found] == [nid]

    await eventually(joined, "Node's socket to join")
    await remote.leave("extra")

    async def left() -> bool:
        return not await mixed.node_result("fetch", nsp="/", rooms=["extra"])

    await eventually(left, "Node's socket to leave")

    # Node fetches Python's socket
    found = await mixed.node_result("fetch", nsp="/", rooms=["room"])
    assert sorted(s["id"] for s in found) == sorted([pid, nid])
    mine = next(s for s in found if s["id"] == pid)
    assert mine["data"] == {"lang": "py"}
    assert sorted(mine["rooms"]) == sorted([pid, "room"])
    assert mine["handshake"]["auth"]["data"] == {"lang": "py"}

    # Node acks from Python's client (RemoteSocket.emitWithAck is a broadcast with ack)
    acks = await mixed.node_result("emit_ack", nsp="/", rooms=[pid], timeout=5000, ev="ask")
    assert acks == ["ack-p1"]

    await remote.disconnect()
    await mixed.node.expect("client_disconnect", name="n1", reason="io server disconnect")


async def test_sockets_join_leave_disconnect_both_ways(mixed: Mixed) -> None:
    py = mixed.py
    pid = await py.client("p1", ["x"])
    nid = await mixed.node_client("n1", ["x"])
    await mixed.node_client("n2", ["y"])

    async def in_joined() -> set[str]:
        return {s.id for s in await py.sio.in_("joined").fetch_sockets()}

    # Python -> Node
    await py.sio.in_("x").sockets_join("joined")
    await eventually(lambda: _eq(in_joined(), {pid, nid}), "sockets_join from Python")
    await py.sio.in_("x").sockets_leave("joined")
    await eventually(lambda: _eq(in_joined(), set()), "sockets_leave from Python")
    # Node -> Python
    await mixed.node.command("join", nsp="/", rooms=["x"], target=["joined2"])

    async def in_joined2() -> bool:
        return {s.id for s in await py.sio.in_("joined2").fetch_sockets()} == {pid, nid}

    await eventually(in_joined2, "sockets_join from Node")
    await mixed.node.command("leave", nsp="/", rooms=["x"], target=["joined2"])

    async def none_in_joined2() -> bool:
        return not await py.sio.in_("joined2").fetch_sockets()

    await eventually(none_in_joined2, "sockets_leave from Node")
    # disconnect, both ways
    await mixed.node.command("disconnect", nsp="/", rooms=["x"], close=False)
    await py.inboxes["p1"].get("<disconnect>")
    await mixed.node.expect("client_disconnect", name="n1")
    await py.sio.disconnect_sockets()
    await mixed.node.expect("client_disconnect", name="n2", reason="io server disconnect")


async def _shard_subscribers(mixed: Mixed, rooms: dict[str, int]) -> None:
    from socketwire.adapters.redis_link import PresenceKind

    adapter = mixed.py.adapter()

    async def ready() -> bool:
        for room, count in rooms.items():
            channel = adapter.channels.room(room)
            if await adapter.link.count(PresenceKind.SHARDNUMSUB, channel) < count:
                return False
        return True

    await eventually(ready, "both servers to subscribe to their rooms' channels")


async def _eq(value: Any, expected: Any) -> bool:
    return bool(await value == expected)


async def test_server_side_emit_both_ways(mixed: Mixed) -> None:
    py = mixed.py
    # Python -> Node
    await py.sio.server_side_emit("py-sse", 1, {"a": [2]})
    event = await mixed.node.expect("server_sse", nsp="/")
    assert event["args"] == [1, {"a": [2]}]
    assert event["acked"] is False
    assert await py.sio.server_side_emit_with_ack("py-sse", "ping") == ["node-pong"]
    event = await mixed.node.expect("server_sse", nsp="/")
    assert event["args"] == ["ping"]
    assert event["acked"] is True
    # Node -> Python
    await mixed.node.command("sse", nsp="/", args=["node-sse", "hello", 3])
    await eventually(lambda: _eq(_value(len(py.server_events)), 1), "Node's server-side emit")
    assert py.server_events == [("node-sse", ["hello", 3])]
    assert await mixed.node_result("sse_ack", nsp="/", args=["node-sse", "q"]) == ["py-pong"]


async def _value(value: Any) -> Any:
    return value


async def test_broadcast_with_ack_both_ways(mixed: Mixed) -> None:
    py = mixed.py
    await py.client("p1", ["r"])
    await py.client("p2", ["r"])
    await mixed.node_client("n1", ["r"])
    # Python asks, Node's client answers too
    responses = await py.sio.to("r").timeout(5).emit_with_ack("ask")
    assert sorted(responses) == ["ack-n1", "ack-p1", "ack-p2"]
    # Node asks, Python's clients answer too
    acks = await mixed.node_result("emit_ack", nsp="/", rooms=["r"], timeout=5000, ev="ask")
    assert sorted(acks) == ["ack-n1", "ack-p1", "ack-p2"]


async def test_all_rooms_and_server_count(mixed: Mixed) -> None:
    py = mixed.py
    pid = await py.client("p1", ["pyroom"])
    nid = await mixed.node_client("n1", ["noderoom"])
    assert {"pyroom", "noderoom", pid, nid} <= await py.adapter().all_rooms()
    assert await py.adapter().server_count() == 2
    if mixed.kind == "classic":  # Node's other adapters have no allRooms
        rooms = await mixed.node_result("all_rooms", nsp="/")
        assert {"pyroom", "noderoom", pid, nid} <= set(rooms)


async def test_emitters_into_both_servers(
    redis_server: RedisServer,  # noqa: F811
    node: NodeFactory,
) -> None:
    """The emitters speak the classic adapter's format: a classic cluster only."""
    async with start_mixed("classic", redis_server.url, node) as mixed:
        await _emitters(mixed, redis_server)


async def _emitters(mixed: Mixed, redis_server: RedisServer) -> None:  # noqa: F811
    py = mixed.py
    pid = await py.client("p1", ["r"])
    await mixed.node_client("n1", ["r"])
    emitter = Emitter(redis_server.url)
    try:
        # socketwire's Emitter into both servers
        await emitter.to("r").emit("from-py-emitter", b"\x07")
        assert await mixed.node_got("n1", "from-py-emitter") == [b64(b"\x07")]
        assert await py.inboxes["p1"].get("from-py-emitter") == [[b"\x07"]]
        await emitter.server_side_emit("py-sse", "e")
        assert (await mixed.node.expect("server_sse", nsp="/"))["args"] == ["e"]
        await eventually(lambda: _value(("py-sse", ["e"]) in py.server_events), "emitter sse")
        await emitter_moves_sockets(emitter, py, "r", 2)
        # Node's @socket.io/redis-emitter into the socketwire server
        await mixed.node.command("emitter_emit", nsp="/", rooms=["r"], ev="from-node-emitter")
        assert await py.inboxes["p1"].get("from-node-emitter") == [[]]
        await mixed.node.command("emitter_sse", nsp="/", args=["node-sse", 1])
        await eventually(
            lambda: _value(("node-sse", [1]) in py.server_events), "the Node emitter's sse"
        )
        await mixed.node.command("emitter_join", nsp="/", rooms=["r"], target=["ne"])

        async def in_ne() -> bool:
            return {s.id for s in await py.sio.in_("ne").fetch_sockets()} >= {pid}

        await eventually(in_ne, "the Node emitter's sockets_join")
        await mixed.node.command("emitter_disconnect", nsp="/", rooms=["r"], close=False)
        await py.inboxes["p1"].get("<disconnect>")
        await emitter.disconnect_sockets()
    finally:
        await emitter.aclose()


@pytest.mark.parametrize("persisted_by", ["python", "node"])
async def test_streams_recovery_across_languages(
    persisted_by: str,
    redis_server: RedisServer,  # noqa: F811
    node: NodeFactory,
) -> None:
    """A client leaves one server and recovers on the other: the session one language
    stored in Redis, and the packets both broadcast meanwhile, are restored by the other."""
    args = {"redis": redis_server.url, "adapter": "streams", "recovery": True}
    driver = await node("cluster_capture.js", args)
    node_url = f"http://127.0.0.1:{(await driver.expect('ready'))['port']}"
    py = await start_node(create_streams_adapter(redis_server.url), connection_state_recovery=True)
    cluster = Mixed("streams", py, driver)
    redis = Redis.from_url(redis_server.url)
    leaving = AsyncClient(reconnection=False, transports=["websocket"])
    coming = AsyncClient(reconnection=False, transports=["websocket"])
    got: list[tuple[str, list[Any]]] = []

    async def record(event: str, *event_args: Any) -> None:
        got.append((event, list(event_args)))

    coming.socket("/").on_any(record)
    try:

        async def counted() -> bool:
            node_count = await cluster.node_result("server_count", nsp="/")
            return node_count == 2 and await py.adapter().server_count() == 2

        await eventually(counted, "each server to count the other")
        first_url, second_url = (
            (py.url, node_url) if persisted_by == "python" else (node_url, py.url)
        )
        first_seen: list[list[Any]] = []

        async def on_first(*event_args: Any) -> None:
            first_seen.append(list(event_args))

        leaving.on("first", on_first)
        await leaving.connect(first_url, auth={"rooms": ["r"]}, wait_timeout=5)
        sid = leaving.socket("/").id
        if persisted_by == "python":
            py.sio.emit("first")
        else:
            await driver.command("emit", nsp="/", ev="first", args=[])
        await eventually(lambda: _value(bool(first_seen)), "the first event")
        pid, offset = session_of(leaving)
        assert first_seen == [[]]  # the offset stays with the client
        assert "-" in offset  # a Redis stream id

        await drop_transport(leaving)

        async def persisted() -> bool:
            return bool(await redis.exists(session_key(pid)))

        await eventually(persisted, "the session to be stored in Redis")
        # Watchers on both servers: once they got everything, it is in the stream.
        await py.client("pw", ["r", "other"])
        await cluster.node_client("nw", ["r", "other"])
        py.sio.emit("missed-py", b"\x01")
        await driver.command("emit", nsp="/", rooms=["r"], ev="missed-node", args=[2])
        await driver.command("emit", nsp="/", rooms=["other"], ev="not-for-you", args=[])
        for ev in ("missed-py", "missed-node", "not-for-you"):
            await py.inboxes["pw"].get(ev)
            await cluster.node_got("nw", ev)

        await coming.connect(
            second_url, auth={"pid": pid, "offset": offset, "rooms": ["ignored"]}, wait_timeout=5
        )
        assert coming.socket("/").id == sid
        await eventually(lambda: _value(len(got) >= 2), "the missed events")
        names = sorted(name for name, _args in got)
        assert names == ["missed-node", "missed-py"]
        by_name = dict(got)
        assert by_name["missed-py"][0] == b"\x01"
        assert by_name["missed-node"][0] == 2
        if persisted_by == "node":
            socket = py.sio.of("/").sockets[sid]
            assert socket.recovered
            assert socket.rooms == {sid, "r"}
    finally:
        await coming.disconnect()
        await leaving.disconnect()
        await redis.aclose()
        await py.close()
