"""The inter-node codecs against the real Node adapters, over a real redis-server.

A Node socket.io 4.8 server (js/cluster_capture.js) runs with @socket.io/redis-adapter
(classic, then sharded) or @socket.io/redis-streams-adapter, with socket.io-client sockets
of its own. Python joins the same Redis as a peer node:

- Node → Python: Node performs each operation; Python captures what it publishes, decodes
  it with socketwire's codec, checks every field, and re-encodes it to the same bytes;
- Python → Node: Python publishes messages its codec encoded; the Node server acts on them
  (its clients receive, its handlers run) or answers, and Python decodes the answers.

The @socket.io/redis-emitter's messages are checked the same way.
"""

from __future__ import annotations

import asyncio
import base64
import json
import re
from collections.abc import AsyncIterator
from typing import Any

import pytest
from cluster_harness import Capture, Cluster, wait_for_redis
from redis.asyncio import Redis

from conftest import JS_DIR, NodeFactory
from integration.redis_fixtures import redis_server  # noqa: F401  (fixture)
from integration.redis_server import RedisServer
from socketwire.adapters.wire import (
    ClassicCodec,
    EmitterCodec,
    ShardedCodec,
    StreamsCodec,
    WireFlags,
    WireOptions,
)
from socketwire.adapters.wire.classic import (
    AllRoomsRequest,
    AllRoomsResponse,
    BroadcastAckRequest,
    BroadcastAckResponse,
    BroadcastClientCountResponse,
    ClassicBroadcast,
    FetchSocketsRequest,
    FetchSocketsResponse,
    RemoteDisconnectRequest,
    RemoteJoinRequest,
    RemoteLeaveRequest,
    ServerSideEmitRequest,
    ServerSideEmitResponse,
)
from socketwire.adapters.wire.cluster import (
    BroadcastAck,
    BroadcastClientCount,
    ClusterBroadcast,
    DisconnectSockets,
    FetchSockets,
    ServerSideEmit,
    SocketsJoin,
    SocketsLeave,
)
from socketwire.adapters.wire.cluster import FetchSocketsResponse as ClusterFetchSocketsResponse
from socketwire.adapters.wire.cluster import ServerSideEmitResponse as ClusterSseResponse
from socketwire.adapters.wire.common import WireHandshake, WireSession, WireSocket
from socketwire.adapters.wire.naming import (
    ClassicChannels,
    ShardedChannels,
    js_hash_code,
    next_offset,
    node_id,
    session_key,
    stream_name,
    streams_channels,
)
from socketwire.socketio import Packet, PacketType

pytestmark = pytest.mark.interop

CLASSIC = ClassicCodec()
EMITTER = EmitterCodec()
CH = ClassicChannels.of("/")
ADMIN = ClassicChannels.of("/admin")
PY_UID = "pyNODE"
EVENT = PacketType.EVENT


def b64(data: bytes) -> dict[str, str]:
    """Binary in the driver's JSON."""
    return {"$bin": base64.b64encode(data).decode()}


PY_HANDSHAKE = WireHandshake(
    headers={"host": "127.0.0.1", "user-agent": "python"},
    time="Thu Nov 26 2026 11:20:38 GMT+0000 (Coordinated Universal Time)",
    address="127.0.0.1",
    xdomain=False,
    secure=False,
    issued=1795688880501,
    url="/socket.io/?EIO=4&transport=websocket",
    query={"EIO": "4", "transport": "websocket"},
    auth={"token": "t"},
)


# -- classic adapter ------------------------------------------------------------------------


async def start_classic(
    redis_server: RedisServer,  # noqa: F811
    node: NodeFactory,
    options: dict[str, Any] | None = None,
) -> Cluster:
    """Node with the classic adapter; clients a (room1) and b (room2); Python peer 'pyNODE'
    subscribed to the request channel (so Node counts it) and capturing ``socket.io*``."""
    driver = await node(
        "cluster_capture.js",
        {"redis": redis_server.url, "adapter": "classic", "options": options or {}},
    )
    ready = await driver.expect("ready")
    redis = Redis.from_url(redis_server.url)
    capture_sub = redis.pubsub()
    await capture_sub.psubscribe("socket.io*")
    presence = redis.pubsub()
    await presence.subscribe(CH.request, CH.response, CH.specific_response(PY_UID))
    cluster = Cluster(driver, redis, Capture(capture_sub, "classic"), ready["uids"], ready["port"])
    cluster.extra.append(presence)
    try:

        async def subscribed() -> bool:
            counts = dict(await redis.pubsub_numsub(CH.request, ADMIN.request))
            patterns = await redis.pubsub_numpat()
            return (
                counts[CH.request.encode()] == 2
                and counts[ADMIN.request.encode()] == 1
                and patterns == 3
            )

        await wait_for_redis(subscribed, "the Node adapter's subscriptions")
        await cluster.client("a", ["room1"], data={"name": "a"})
        await cluster.client("b", ["room2"])
    except BaseException:
        await cluster.close()
        raise
    return cluster


@pytest.fixture
async def classic(redis_server: RedisServer, node: NodeFactory) -> AsyncIterator[Cluster]:  # noqa: F811
    """See :func:`start_classic`."""
    cluster = await start_classic(redis_server, node)
    try:
        yield cluster
    finally:
        await cluster.close()


def _node_request(cluster: Cluster) -> Any:
    """A match for requests published by the Node server of namespace '/'."""
    return lambda msg: getattr(msg, "uid", None) == cluster.uids["/"]


async def test_classic_broadcasts_from_node(classic: Cluster) -> None:
    uid = classic.uids["/"]
    assert len(uid) == 6
    cases: list[tuple[dict[str, Any], str, ClassicBroadcast]] = [
        (
            {"ev": "all", "args": [1, "x", None, {"k": [True, 1.5]}]},
            CH.broadcast,
            ClassicBroadcast(
                uid, Packet(EVENT, "/", ["all", 1, "x", None, {"k": [True, 1.5]}]), WireOptions()
            ),
        ),
        (
            {"ev": "one", "rooms": ["room1"], "args": ["é", -40000]},
            CH.room("room1"),
            ClassicBroadcast(
                uid, Packet(EVENT, "/", ["one", "é", -40000]), WireOptions(rooms=("room1",))
            ),
        ),
        (
            {"ev": "except", "rooms": ["room1", "room2"], "except": ["room2"], "args": [3]},
            CH.broadcast,
            ClassicBroadcast(
                uid,
                Packet(EVENT, "/", ["except", 3]),
                WireOptions(rooms=("room1", "room2"), except_=("room2",)),
            ),
        ),
        (
            {"ev": "bin", "args": [b64(b"\x00\x01\xff"), {"nested": b64(b"x" * 300)}]},
            CH.broadcast,
            ClassicBroadcast(
                uid,
                Packet(EVENT, "/", ["bin", b"\x00\x01\xff", {"nested": b"x" * 300}]),
                WireOptions(),
            ),
        ),
        (
            {"ev": "vol", "flags": ["volatile"], "compress": False, "args": []},
            CH.broadcast,
            ClassicBroadcast(
                uid,
                Packet(EVENT, "/", ["vol"]),
                WireOptions(flags=WireFlags(volatile=True, compress=False)),
            ),
        ),
        (
            {"ev": "admin", "nsp": "/admin", "args": ["y" * 40]},
            ADMIN.broadcast,
            ClassicBroadcast(
                classic.uids["/admin"], Packet(EVENT, "/admin", ["admin", "y" * 40]), WireOptions()
            ),
        ),
    ]
    for command, channel, expected in cases:
        await classic.node.command("emit", **command)
        decoded, raw = await classic.capture.take(channel, CLASSIC.decode_broadcast)
        assert decoded == expected
        assert CLASSIC.encode(decoded) == raw
    # The clients got them (sanity: the Node server really did broadcast).
    got = await classic.node.expect("client_ev", name="a", ev="bin")
    assert got["args"] == [b64(b"\x00\x01\xff"), {"nested": b64(b"x" * 300)}]


async def test_classic_requests_from_node(classic: Cluster) -> None:
    uid = classic.uids["/"]
    take = classic.capture.take
    mine = _node_request(classic)

    # fetchSockets: Node counts 2 servers and waits for the Python peer's answer.
    ref = classic.ref()
    await classic.node.command("fetch", ref=ref, rooms=["room1"])
    fetch, raw = await take(CH.request, CLASSIC.decode_request, mine)
    assert isinstance(fetch, FetchSocketsRequest)
    assert (fetch.uid, len(fetch.request_id)) == (uid, 6)
    assert fetch.opts == WireOptions(rooms=("room1",))
    assert CLASSIC.encode(fetch) == raw
    py_socket = WireSocket("py-socket-id", PY_HANDSHAKE, ("py-socket-id", "room1"), {"py": b"\x01"})
    await classic.redis.publish(
        CH.response, CLASSIC.encode(FetchSocketsResponse(fetch.request_id, (py_socket,)))
    )
    sockets = await classic.result(ref)
    assert sorted(s["id"] for s in sockets) == sorted(["py-socket-id", classic.client_ids["a"]])
    remote = next(s for s in sockets if s["id"] == "py-socket-id")
    assert remote["handshake"] == PY_HANDSHAKE.to_wire()
    assert remote["rooms"] == ["py-socket-id", "room1"]
    # JSON carries bytes as a Buffer object, as Node itself would write it.
    assert remote["data"] == {"py": {"type": "Buffer", "data": [1]}}

    # allRooms
    ref = classic.ref()
    await classic.node.command("all_rooms", ref=ref)
    rooms_req, raw = await take(CH.request, CLASSIC.decode_request, mine)
    assert isinstance(rooms_req, AllRoomsRequest)
    assert rooms_req.uid == uid
    assert CLASSIC.encode(rooms_req) == raw
    await classic.redis.publish(
        CH.response, CLASSIC.encode(AllRoomsResponse(rooms_req.request_id, ("py-room",)))
    )
    assert {"py-room", "room1", "room2"} <= set(await classic.result(ref))

    # serverSideEmit, without and with ack
    await classic.node.command("sse", args=["hello", 1, {"k": "v"}])
    sse, raw = await take(CH.request, CLASSIC.decode_request, mine)
    assert sse == ServerSideEmitRequest(uid, ["hello", 1, {"k": "v"}])
    assert CLASSIC.encode(sse) == raw
    ref = classic.ref()
    await classic.node.command("sse_ack", ref=ref, args=["question", 2])
    sse, raw = await take(CH.request, CLASSIC.decode_request, mine)
    assert isinstance(sse, ServerSideEmitRequest)
    assert (sse.uid, sse.data) == (uid, ["question", 2])
    assert sse.request_id is not None
    assert len(sse.request_id) == 6
    assert CLASSIC.encode(sse) == raw
    await classic.redis.publish(
        CH.response, CLASSIC.encode(ServerSideEmitResponse(sse.request_id, {"py": "pong"}))
    )
    assert await classic.result(ref) == [{"py": "pong"}]

    # socketsJoin, socketsLeave, disconnectSockets
    await classic.node.command("join", rooms=["room1"], target=["room3"])
    join, raw = await take(CH.request, CLASSIC.decode_request, mine)
    assert join == RemoteJoinRequest(uid, WireOptions(rooms=("room1",)), ("room3",))
    assert CLASSIC.encode(join) == raw
    await classic.node.command("leave", rooms=["room1"], target=["room3", "room1"])
    leave, raw = await take(CH.request, CLASSIC.decode_request, mine)
    assert leave == RemoteLeaveRequest(uid, WireOptions(rooms=("room1",)), ("room3", "room1"))
    assert CLASSIC.encode(leave) == raw
    await classic.node.command("disconnect", rooms=["room2"], close=True)
    disconnect, raw = await take(CH.request, CLASSIC.decode_request, mine)
    assert disconnect == RemoteDisconnectRequest(uid, WireOptions(rooms=("room2",)), True)
    assert CLASSIC.encode(disconnect) == raw
    await classic.node.expect("client_disconnect", name="b")


async def test_classic_broadcast_with_ack_from_node(classic: Cluster) -> None:
    uid = classic.uids["/"]
    ref = classic.ref()
    await classic.node.command("emit_ack", ref=ref, timeout=3000, ev="ask", args=[b64(b"?")])
    request, raw = await classic.capture.take(
        CH.request, CLASSIC.decode_request, _node_request(classic)
    )
    assert raw[:1] != b"{"  # msgpack
    assert isinstance(request, BroadcastAckRequest)
    assert (request.uid, len(request.request_id)) == (uid, 6)
    assert request.packet == Packet(EVENT, "/", ["ask", b"?"])
    assert request.opts == WireOptions(flags=WireFlags(timeout=3000))
    assert CLASSIC.encode(request) == raw
    # The Python peer has one client, which acknowledges.
    await classic.redis.publish(
        CH.response, CLASSIC.encode(BroadcastClientCountResponse(request.request_id, 1))
    )
    await classic.redis.publish(
        CH.response, CLASSIC.encode(BroadcastAckResponse(request.request_id, [b"py", 1]))
    )
    responses = await classic.result(ref)
    assert sorted(map(repr, responses)) == sorted(map(repr, ["ack-a", "ack-b", [b64(b"py"), 1]]))


async def test_classic_messages_from_python(classic: Cluster) -> None:
    node, redis, take = classic.node, classic.redis, classic.capture.take
    a_id = classic.client_ids["a"]

    # A broadcast to one room, with binary, on the room's channel: only a gets it.
    message = ClassicBroadcast(
        PY_UID,
        Packet(EVENT, "/", ["from-py", b"\x00\x01", {"n": 1}]),
        WireOptions(rooms=("room1",)),
    )
    await redis.publish(CH.room("room1"), CLASSIC.encode(message))
    await redis.publish(
        CH.broadcast,
        CLASSIC.encode(ClassicBroadcast(PY_UID, Packet(EVENT, "/", ["marker"]), WireOptions())),
    )
    got = await node.expect("client_ev", name="a", ev="from-py")
    assert got["args"] == [b64(b"\x00\x01"), {"n": 1}]
    await node.expect("client_ev", name="b", ev="marker")
    assert node.seen("client_ev", name="b", ev="from-py") == []
    # Excepting a room, and volatile.
    await redis.publish(
        CH.broadcast,
        CLASSIC.encode(
            ClassicBroadcast(
                PY_UID,
                Packet(EVENT, "/", ["not-b"]),
                WireOptions(except_=("room2",), flags=WireFlags(volatile=True)),
            )
        ),
    )
    await node.expect("client_ev", name="a", ev="not-b")

    # serverSideEmit: the Node handler runs; with ack, it answers on the response channel.
    await redis.publish(
        CH.request, CLASSIC.encode(ServerSideEmitRequest(PY_UID, ["py-sse", "hi", b"\x01"]))
    )
    sse = await node.expect("server_sse", acked=False)
    assert sse["args"] == ["hi", {"type": "Buffer", "data": [1]}]
    await redis.publish(
        CH.request, CLASSIC.encode(ServerSideEmitRequest(PY_UID, ["py-sse", 2], "pyRQ01"))
    )
    await node.expect("server_sse", acked=True)
    response, raw = await take(CH.response, CLASSIC.decode_response)
    assert response == ServerSideEmitResponse("pyRQ01", "node-pong")
    assert CLASSIC.encode(response) == raw

    # fetchSockets: Node answers with a's details.
    await redis.publish(
        CH.request,
        CLASSIC.encode(FetchSocketsRequest(PY_UID, "pyRQ02", WireOptions(rooms=("room1",)))),
    )
    fetched, raw = await take(CH.response, CLASSIC.decode_response)
    assert isinstance(fetched, FetchSocketsResponse)
    assert fetched.request_id == "pyRQ02"
    (socket,) = fetched.sockets
    assert (socket.id, socket.rooms, socket.data) == (a_id, (a_id, "room1"), {"name": "a"})
    assert socket.handshake.auth == {"rooms": ["room1"], "data": {"name": "a"}}
    assert socket.handshake.query["EIO"] == "4"
    assert socket.handshake.address == "127.0.0.1"
    assert socket.handshake.url.startswith("/socket.io/?")
    assert CLASSIC.encode(fetched) == raw

    # allRooms
    await redis.publish(CH.request, CLASSIC.encode(AllRoomsRequest(PY_UID, "pyRQ03")))
    rooms, raw = await take(CH.response, CLASSIC.decode_response)
    assert isinstance(rooms, AllRoomsResponse)
    assert {"room1", "room2", a_id} <= set(rooms.rooms)
    assert CLASSIC.encode(rooms) == raw

    # socketsJoin from Python, then a fetch of the new room finds a only.
    await redis.publish(
        CH.request,
        CLASSIC.encode(RemoteJoinRequest(PY_UID, WireOptions(rooms=("room1",)), ("py-room",))),
    )
    await redis.publish(
        CH.request,
        CLASSIC.encode(FetchSocketsRequest(PY_UID, "pyRQ04", WireOptions(rooms=("py-room",)))),
    )
    fetched, _ = await take(CH.response, CLASSIC.decode_response)
    assert isinstance(fetched, FetchSocketsResponse)
    assert [s.id for s in fetched.sockets] == [a_id]
    assert "py-room" in fetched.sockets[0].rooms

    # Broadcast with ack: Node reports its client count (JSON), then each ack (msgpack).
    await redis.publish(
        CH.request,
        CLASSIC.encode(
            BroadcastAckRequest(
                PY_UID,
                "pyRQ05",
                Packet(EVENT, "/", ["ask-py", 5]),
                WireOptions(flags=WireFlags(timeout=2000)),
            )
        ),
    )
    count, raw = await take(CH.response, CLASSIC.decode_response)
    assert count == BroadcastClientCountResponse("pyRQ05", 2)
    assert CLASSIC.encode(count) == raw
    acks = []
    for _ in range(2):
        ack, raw = await take(CH.response, CLASSIC.decode_response)
        assert raw[:1] != b"{"
        assert CLASSIC.encode(ack) == raw
        acks.append(ack)
    assert sorted(acks, key=repr) == [
        BroadcastAckResponse("pyRQ05", "ack-a"),
        BroadcastAckResponse("pyRQ05", "ack-b"),
    ]

    # disconnectSockets, as the emitter sends it (no uid).
    await redis.publish(
        CH.request,
        CLASSIC.encode(RemoteDisconnectRequest(None, WireOptions(rooms=("room2",)), False)),
    )
    event = await node.expect("client_disconnect", name="b")
    assert event["reason"] == "io server disconnect"


async def test_classic_specific_response_channel(
    redis_server: RedisServer,  # noqa: F811
    node: NodeFactory,
) -> None:
    """With ``publishOnSpecificResponseChannel``, Node answers on the requester's channel."""
    cluster = await start_classic(redis_server, node, {"publishOnSpecificResponseChannel": True})
    try:
        await cluster.redis.publish(CH.request, CLASSIC.encode(AllRoomsRequest(PY_UID, "pyRQ10")))
        rooms, raw = await cluster.capture.take(
            CH.specific_response(PY_UID), CLASSIC.decode_response
        )
        assert isinstance(rooms, AllRoomsResponse)
        assert rooms.request_id == "pyRQ10"
        assert CLASSIC.encode(rooms) == raw
    finally:
        await cluster.close()


# -- @socket.io/redis-emitter ---------------------------------------------------------------


async def test_emitter_messages(classic: Cluster) -> None:
    node, take = classic.node, classic.capture.take
    emitted = lambda msg: getattr(msg, "uid", "") in ("emitter", None)  # noqa: E731

    await node.command(
        "emitter_emit", rooms=["room1"], flags=["volatile"], ev="em", args=[1, b64(b"\x01")]
    )
    decoded, raw = await take(CH.room("room1"), CLASSIC.decode_broadcast)
    assert decoded == ClassicBroadcast(
        "emitter",
        Packet(EVENT, "/", ["em", 1, b"\x01"]),
        WireOptions(rooms=("room1",), flags=WireFlags(volatile=True)),
    )
    assert EMITTER.encode(decoded) == raw
    await node.expect("client_ev", name="a", ev="em")

    await node.command("emitter_emit", nsp="/admin", ev="adm", args=[])
    decoded, raw = await take(ADMIN.broadcast, CLASSIC.decode_broadcast)
    assert decoded == ClassicBroadcast("emitter", Packet(EVENT, "/admin", ["adm"]), WireOptions())
    assert EMITTER.encode(decoded) == raw

    await node.command("emitter_sse", args=["py-sse", "from-emitter"])
    sse, raw = await take(CH.request, CLASSIC.decode_request, emitted)
    assert sse == ServerSideEmitRequest("emitter", ["py-sse", "from-emitter"])
    assert EMITTER.encode(sse) == raw
    await node.expect("server_sse", args=["from-emitter"])

    await node.command("emitter_join", rooms=["room1"], target=["e-room"])
    join, raw = await take(CH.request, CLASSIC.decode_request, emitted)
    assert join == RemoteJoinRequest(None, WireOptions(rooms=("room1",)), ("e-room",))
    assert EMITTER.encode(join) == raw
    await node.command("emitter_leave", rooms=["room1"], target=["e-room"])
    leave, raw = await take(CH.request, CLASSIC.decode_request, emitted)
    assert leave == RemoteLeaveRequest(None, WireOptions(rooms=("room1",)), ("e-room",))
    assert EMITTER.encode(leave) == raw
    await node.command("emitter_disconnect", rooms=["room2"], close=True)
    disconnect, raw = await take(CH.request, CLASSIC.decode_request, emitted)
    assert disconnect == RemoteDisconnectRequest(None, WireOptions(rooms=("room2",)), True)
    assert EMITTER.encode(disconnect) == raw
    await node.expect("client_disconnect", name="b")

    # What a Python emitter publishes reaches Node's clients.
    message = ClassicBroadcast(
        "emitter", Packet(EVENT, "/", ["py-emitter", b"\x02"]), WireOptions(rooms=("room1",))
    )
    await classic.redis.publish(CH.room("room1"), EMITTER.encode(message))
    got = await node.expect("client_ev", name="a", ev="py-emitter")
    assert got["args"] == [b64(b"\x02")]


# -- sharded adapter ------------------------------------------------------------------------

SHARDED = ShardedCodec()
SCH = ShardedChannels.of("/")
PY_NODE = node_id()
HEX16 = re.compile(r"[0-9a-f]{16}")


@pytest.fixture
async def sharded(redis_server: RedisServer, node: NodeFactory) -> AsyncIterator[Cluster]:  # noqa: F811
    """Node with the sharded adapter; clients a (room1) and b (room2); the Python peer
    SSUBSCRIBEs the namespace channel (so Node counts it), both response channels and
    room1's channel."""
    driver = await node("cluster_capture.js", {"redis": redis_server.url, "adapter": "sharded"})
    ready = await driver.expect("ready")
    uid = ready["uids"]["/"]
    redis = Redis.from_url(redis_server.url)
    sub = redis.pubsub()
    await sub.ssubscribe(SCH.main, SCH.response(uid), SCH.response(PY_NODE), SCH.room("room1"))
    cluster = Cluster(driver, redis, Capture(sub, "sharded"), ready["uids"], ready["port"])
    try:

        async def shard_count(channel: str) -> int:
            reply = await redis.execute_command("PUBSUB", "SHARDNUMSUB", channel)
            return int(reply[1])

        async def subscribed() -> bool:
            return await shard_count(SCH.main) == 2 and await shard_count(SCH.response(uid)) == 2

        await wait_for_redis(subscribed, "the Node adapter's subscriptions")
        await cluster.client("a", ["room1"], data={"name": "a"})
        await cluster.client("b", ["room2"])

        async def room_subscribed() -> bool:
            return await shard_count(SCH.room("room1")) == 2

        await wait_for_redis(room_subscribed, "Node's subscription to room1's channel")
        yield cluster
    finally:
        await cluster.close()


def _from(uid: str) -> Any:
    return lambda msg: msg.uid == uid


async def test_sharded_broadcasts_from_node(sharded: Cluster) -> None:
    uid = sharded.uids["/"]
    assert HEX16.fullmatch(uid)
    a_id = sharded.client_ids["a"]
    cases: list[tuple[dict[str, Any], ClusterBroadcast, bool]] = [
        ({"ev": "all", "args": [1, {"k": None}]},
         ClusterBroadcast(uid, "/", Packet(EVENT, "/", ["all", 1, {"k": None}]), WireOptions()),
         False),
        ({"ev": "one", "rooms": ["room1"], "args": []},
         ClusterBroadcast(uid, "/", Packet(EVENT, "/", ["one"]), WireOptions(rooms=("room1",))),
         False),
        ({"ev": "sid", "rooms": [a_id], "args": []},
         ClusterBroadcast(uid, "/", Packet(EVENT, "/", ["sid"]), WireOptions(rooms=(a_id,))),
         False),
        ({"ev": "ex", "rooms": ["room1", "room2"], "except": ["room2"], "args": []},
         ClusterBroadcast(uid, "/", Packet(EVENT, "/", ["ex"]),
                          WireOptions(rooms=("room1", "room2"), except_=("room2",))),
         False),
        ({"ev": "bin", "args": [b64(b"\x00\xff"), "t"]},
         ClusterBroadcast(uid, "/", Packet(EVENT, "/", ["bin", b"\x00\xff", "t"]), WireOptions()),
         True),
        ({"ev": "vol", "flags": ["volatile"], "args": []},
         ClusterBroadcast(uid, "/", Packet(EVENT, "/", ["vol"]),
                          WireOptions(flags=WireFlags(volatile=True))),
         False),
    ]  # fmt: skip
    for command, expected, binary in cases:
        await sharded.node.command("emit", **command)
        channel = SCH.channel_for(expected)
        decoded, raw = await sharded.capture.take(channel, SHARDED.decode, _from(uid))
        assert decoded == expected
        assert (raw[:1] != b"{") is binary
        assert SHARDED.encode(decoded) == raw
    assert SCH.channel_for(cases[1][1]) == SCH.room("room1")
    assert SCH.channel_for(cases[2][1]) == SCH.main  # a socket id has no channel


async def test_sharded_requests_from_node(sharded: Cluster) -> None:
    uid = sharded.uids["/"]
    redis, take, reply_to = sharded.redis, sharded.capture.take, SCH.response(uid)
    mine = _from(uid)

    ref = sharded.ref()
    await sharded.node.command("fetch", ref=ref, rooms=["room1"])
    fetch, raw = await take(SCH.main, SHARDED.decode, mine)
    assert isinstance(fetch, FetchSockets)
    assert fetch.opts == WireOptions(rooms=("room1",))
    assert HEX16.fullmatch(fetch.request_id)
    assert SHARDED.encode(fetch) == raw
    py_socket = WireSocket("py-socket-id", PY_HANDSHAKE, ("py-socket-id",), {"bin": b"\x07"})
    response = ClusterFetchSocketsResponse(PY_NODE, "/", fetch.request_id, (py_socket,))
    await redis.execute_command("SPUBLISH", reply_to, SHARDED.encode(response))
    sockets = await sharded.result(ref)
    remote = next(s for s in sockets if s["id"] == "py-socket-id")
    assert remote["data"] == {"bin": b64(b"\x07")}  # msgpack carried real binary
    assert remote["handshake"] == PY_HANDSHAKE.to_wire()

    ref = sharded.ref()
    await sharded.node.command("sse_ack", ref=ref, args=["question", b64(b"\x01")])
    sse, raw = await take(SCH.main, SHARDED.decode, mine)
    assert isinstance(sse, ServerSideEmit)
    assert sse.packet == ["question", b"\x01"]
    assert sse.request_id is not None
    assert raw[:1] != b"{"
    assert SHARDED.encode(sse) == raw
    await redis.execute_command(
        "SPUBLISH", reply_to, SHARDED.encode(ClusterSseResponse(PY_NODE, "/", sse.request_id, 7))
    )
    assert await sharded.result(ref) == [7]

    await sharded.node.command("sse", args=["plain"])
    sse, raw = await take(SCH.main, SHARDED.decode, mine)
    assert sse == ServerSideEmit(uid, "/", ["plain"])
    assert SHARDED.encode(sse) == raw

    ref = sharded.ref()
    await sharded.node.command("emit_ack", ref=ref, rooms=["room1"], timeout=3000, ev="ask")
    ask, raw = await take(SCH.main, SHARDED.decode, mine)  # never a room channel with ack
    assert isinstance(ask, ClusterBroadcast)
    assert ask.request_id is not None
    assert (ask.packet, ask.opts) == (
        Packet(EVENT, "/", ["ask"]),
        WireOptions(rooms=("room1",), flags=WireFlags(timeout=3000)),
    )
    assert SHARDED.encode(ask) == raw
    for message in (
        BroadcastClientCount(PY_NODE, "/", ask.request_id, 1),
        BroadcastAck(PY_NODE, "/", ask.request_id, b"py"),
    ):
        await redis.execute_command("SPUBLISH", reply_to, SHARDED.encode(message))
    assert sorted(map(repr, await sharded.result(ref))) == sorted(map(repr, ["ack-a", b64(b"py")]))

    for command, expected in [
        ({"cmd": "join", "rooms": ["room1"], "target": ["r3"]},
         SocketsJoin(uid, "/", WireOptions(rooms=("room1",)), ("r3",))),
        ({"cmd": "leave", "except": ["room1"], "target": ["r3"]},
         SocketsLeave(uid, "/", WireOptions(except_=("room1",)), ("r3",))),
        ({"cmd": "disconnect", "rooms": ["room2"], "close": False},
         DisconnectSockets(uid, "/", WireOptions(rooms=("room2",)), False)),
    ]:  # fmt: skip
        await sharded.node.command(**command)
        decoded, raw = await take(SCH.main, SHARDED.decode, mine)
        assert decoded == expected
        assert SHARDED.encode(decoded) == raw
    await sharded.node.expect("client_disconnect", name="b")


async def test_sharded_messages_from_python(sharded: Cluster) -> None:
    node, redis, take = sharded.node, sharded.redis, sharded.capture.take
    a_id = sharded.client_ids["a"]
    mine = SCH.response(PY_NODE)
    from_node = _from(sharded.uids["/"])

    async def spublish(message: Any) -> None:
        await redis.execute_command("SPUBLISH", SCH.channel_for(message), SHARDED.encode(message))

    await spublish(
        ClusterBroadcast(PY_NODE, "/", Packet(EVENT, "/", ["to-room1", 1]), WireOptions(("room1",)))
    )
    await spublish(
        ClusterBroadcast(PY_NODE, "/", Packet(EVENT, "/", ["bin", b"\x01"]), WireOptions())
    )
    assert (await node.expect("client_ev", name="a", ev="to-room1"))["args"] == [1]
    assert (await node.expect("client_ev", name="b", ev="bin"))["args"] == [b64(b"\x01")]
    assert node.seen("client_ev", name="b", ev="to-room1") == []

    await spublish(ServerSideEmit(PY_NODE, "/", ["py-sse", b"\x02"], "req-sse"))
    assert (await node.expect("server_sse", acked=True))["args"] == [b64(b"\x02")]
    answer, raw = await take(mine, SHARDED.decode, from_node)
    assert answer == ClusterSseResponse(sharded.uids["/"], "/", "req-sse", "node-pong")
    assert SHARDED.encode(answer) == raw

    await spublish(FetchSockets(PY_NODE, "/", WireOptions(rooms=("room1",)), "req-fetch"))
    fetched, raw = await take(mine, SHARDED.decode, from_node)
    assert isinstance(fetched, ClusterFetchSocketsResponse)
    assert fetched.request_id == "req-fetch"
    assert [(s.id, s.rooms, s.data) for s in fetched.sockets] == [
        (a_id, (a_id, "room1"), {"name": "a"})
    ]
    assert SHARDED.encode(fetched) == raw

    await spublish(
        ClusterBroadcast(
            PY_NODE,
            "/",
            Packet(EVENT, "/", ["ask"]),
            WireOptions(flags=WireFlags(timeout=2000)),
            "req-ack",
        )
    )
    count, raw = await take(mine, SHARDED.decode, from_node)
    assert count == BroadcastClientCount(sharded.uids["/"], "/", "req-ack", 2)
    assert SHARDED.encode(count) == raw
    acks = [await take(mine, SHARDED.decode, from_node) for _ in range(2)]
    assert sorted(ack.packet for ack, _ in acks) == ["ack-a", "ack-b"]
    assert all(SHARDED.encode(ack) == raw for ack, raw in acks)

    await spublish(SocketsJoin(PY_NODE, "/", WireOptions(rooms=("room2",)), ("joined",)))
    await spublish(FetchSockets(PY_NODE, "/", WireOptions(rooms=("joined",)), "req-fetch-2"))
    fetched, _ = await take(mine, SHARDED.decode, from_node)
    assert isinstance(fetched, ClusterFetchSocketsResponse)
    assert [s.id for s in fetched.sockets] == [sharded.client_ids["b"]]
    await spublish(DisconnectSockets(PY_NODE, "/", WireOptions(rooms=("joined",)), True))
    await node.expect("client_disconnect", name="b")


# -- streams adapter ------------------------------------------------------------------------

STREAMS = StreamsCodec()
STREAM = stream_name("/")


@pytest.fixture
async def streams(redis_server: RedisServer, node: NodeFactory) -> AsyncIterator[Cluster]:  # noqa: F811
    """Node with the streams adapter and connection state recovery; clients a (room1) and b
    (room2); the Python peer SUBSCRIBEs the public channel (so Node counts it) and both
    private channels."""
    driver = await node(
        "cluster_capture.js",
        {"redis": redis_server.url, "adapter": "streams", "recovery": True},
    )
    ready = await driver.expect("ready")
    uid = ready["uids"]["/"]
    public, node_private = streams_channels("/", uid)
    redis = Redis.from_url(redis_server.url)
    sub = redis.pubsub()
    await sub.subscribe(public, node_private, streams_channels("/", PY_NODE)[1])
    cluster = Cluster(driver, redis, Capture(sub, "streams"), ready["uids"], ready["port"])
    try:

        async def ready_to_read() -> bool:
            counts = dict(await redis.pubsub_numsub(public, node_private))
            clients = await redis.execute_command("CLIENT", "LIST")
            return (
                counts[public.encode()] == 2
                and counts[node_private.encode()] == 2
                and b"cmd=xread" in clients
            )

        await wait_for_redis(ready_to_read, "the Node adapter's subscriptions and stream reader")
        await cluster.client("a", ["room1"], data={"name": "a"})
        await cluster.client("b", ["room2"])
        yield cluster
    finally:
        await cluster.close()


class StreamReader:
    """Reads the stream entries after the last one read."""

    def __init__(self, redis: Redis) -> None:
        self.redis = redis
        self.last = "0-0"

    async def next(self) -> tuple[str, dict[bytes, bytes]]:
        """The next entry (waiting at most about WAIT for it)."""
        for _ in range(10):
            reply = await self.redis.xread({STREAM: self.last}, count=1, block=500)
            if reply:
                entry_id, fields = reply[0][1][0]
                self.last = entry_id.decode()
                return self.last, fields
        pytest.fail(f"no stream entry after {self.last}")


async def test_streams_durable_messages_from_node(streams: Cluster) -> None:
    uid = streams.uids["/"]
    assert HEX16.fullmatch(uid)
    reader = StreamReader(streams.redis)
    cases: list[tuple[dict[str, Any], Any]] = [
        ({"cmd": "emit", "ev": "all", "args": [1, "x"]},
         ClusterBroadcast(uid, "/", Packet(EVENT, "/", ["all", 1, "x"]), WireOptions())),
        ({"cmd": "emit", "ev": "bin", "rooms": ["room1"], "args": [b64(b"\x00\x01")]},
         ClusterBroadcast(uid, "/", Packet(EVENT, "/", ["bin", b"\x00\x01"]),
                          WireOptions(rooms=("room1",)))),
        ({"cmd": "emit", "ev": "vol", "flags": ["volatile"], "except": ["room2"], "args": []},
         ClusterBroadcast(uid, "/", Packet(EVENT, "/", ["vol"]),
                          WireOptions(except_=("room2",), flags=WireFlags(volatile=True)))),
        ({"cmd": "join", "rooms": ["room1"], "target": ["r3"]},
         SocketsJoin(uid, "/", WireOptions(rooms=("room1",)), ("r3",))),
        ({"cmd": "leave", "rooms": ["room1"], "target": ["r3"]},
         SocketsLeave(uid, "/", WireOptions(rooms=("room1",)), ("r3",))),
        ({"cmd": "disconnect", "rooms": ["room2"], "close": True},
         DisconnectSockets(uid, "/", WireOptions(rooms=("room2",)), True)),
    ]  # fmt: skip
    for command, expected in cases:
        await streams.node.command(**command)
        _entry_id, fields = await reader.next()
        decoded = STREAMS.decode_entry(fields)
        assert decoded == expected
        assert STREAMS.encode_entry(decoded) == {k.decode(): v.decode() for k, v in fields.items()}
        binary = isinstance(decoded, ClusterBroadcast) and decoded.packet.data[0] == "bin"
        assert (not fields[b"data"].startswith(b"{")) is binary
    await streams.node.expect("client_disconnect", name="b")


async def test_streams_ephemeral_messages_from_node(streams: Cluster) -> None:
    uid = streams.uids["/"]
    public, node_private = streams_channels("/", uid)
    redis, take, mine = streams.redis, streams.capture.take, _from(uid)

    ref = streams.ref()
    await streams.node.command("fetch", ref=ref, rooms=["room1"])
    fetch, raw = await take(public, STREAMS.decode_pubsub, mine)
    assert isinstance(fetch, FetchSockets)
    assert fetch.opts == WireOptions(rooms=("room1",))
    assert STREAMS.encode_pubsub(fetch) == raw
    py_socket = WireSocket("py-socket-id", PY_HANDSHAKE, ("py-socket-id", "room1"), {"x": 1})
    await redis.publish(
        node_private,
        STREAMS.encode_pubsub(
            ClusterFetchSocketsResponse(PY_NODE, "/", fetch.request_id, (py_socket,))
        ),
    )
    sockets = await streams.result(ref)
    assert {s["id"] for s in sockets} == {"py-socket-id", streams.client_ids["a"]}

    ref = streams.ref()
    await streams.node.command("sse_ack", ref=ref, args=["q", {"deep": [b64(b"\x05")]}])
    sse, raw = await take(public, STREAMS.decode_pubsub, mine)
    assert isinstance(sse, ServerSideEmit)
    assert sse.packet == ["q", {"deep": [b"\x05"]}]
    assert sse.request_id is not None
    assert STREAMS.encode_pubsub(sse) == raw
    await redis.publish(
        node_private,
        STREAMS.encode_pubsub(ClusterSseResponse(PY_NODE, "/", sse.request_id, None)),
    )
    assert await streams.result(ref) == [None]

    ref = streams.ref()
    await streams.node.command("emit_ack", ref=ref, timeout=3000, ev="ask", args=[])
    ask, raw = await take(public, STREAMS.decode_pubsub, mine)
    assert isinstance(ask, ClusterBroadcast)
    assert ask.request_id is not None
    assert ask.opts.flags == WireFlags(timeout=3000)
    assert STREAMS.encode_pubsub(ask) == raw
    for message in (
        BroadcastClientCount(PY_NODE, "/", ask.request_id, 1),
        BroadcastAck(PY_NODE, "/", ask.request_id, {"py": True}),
    ):
        await redis.publish(node_private, STREAMS.encode_pubsub(message))
    assert sorted(map(repr, await streams.result(ref))) == sorted(
        map(repr, ["ack-a", "ack-b", {"py": True}])
    )


async def test_streams_messages_from_python(streams: Cluster) -> None:
    node, redis, take = streams.node, streams.redis, streams.capture.take
    uid = streams.uids["/"]
    public, _ = streams_channels("/", uid)
    mine, from_node = streams_channels("/", PY_NODE)[1], _from(uid)

    # A durable broadcast: the receiving node appends the entry id as the offset.
    message = ClusterBroadcast(
        PY_NODE, "/", Packet(EVENT, "/", ["to-room1", b"\x09"]), WireOptions(rooms=("room1",))
    )
    entry_id = (await redis.xadd(STREAM, STREAMS.encode_entry(message))).decode()
    got = await node.expect("client_ev", name="a", ev="to-room1")
    assert got["args"] == [b64(b"\x09"), entry_id]
    volatile = ClusterBroadcast(
        PY_NODE, "/", Packet(EVENT, "/", ["vol"]), WireOptions(flags=WireFlags(volatile=True))
    )
    await redis.xadd(STREAM, STREAMS.encode_entry(volatile))
    assert (await node.expect("client_ev", name="b", ev="vol"))["args"] == []
    assert node.seen("client_ev", name="b", ev="to-room1") == []

    await redis.publish(public, STREAMS.encode_pubsub(ServerSideEmit(PY_NODE, "/", ["py-sse", 1])))
    assert (await node.expect("server_sse", acked=False))["args"] == [1]

    await redis.publish(
        public,
        STREAMS.encode_pubsub(FetchSockets(PY_NODE, "/", WireOptions(rooms=("room2",)), "rq-f")),
    )
    fetched, raw = await take(mine, STREAMS.decode_pubsub, from_node)
    assert isinstance(fetched, ClusterFetchSocketsResponse)
    (socket,) = fetched.sockets
    assert socket.id == streams.client_ids["b"]
    assert socket.handshake.auth == {"rooms": ["room2"], "data": {}}
    assert STREAMS.encode_pubsub(fetched) == raw

    join = SocketsJoin(PY_NODE, "/", WireOptions(rooms=("room1",)), ("py-joined",))
    await redis.xadd(STREAM, STREAMS.encode_entry(join))
    # The stream is read in order: once a gets this, the join was applied (pub/sub below
    # could overtake the stream otherwise).
    joined = ClusterBroadcast(
        PY_NODE, "/", Packet(EVENT, "/", ["joined"]), WireOptions(rooms=("py-joined",))
    )
    await redis.xadd(STREAM, STREAMS.encode_entry(joined))
    await node.expect("client_ev", name="a", ev="joined")
    await redis.publish(
        public,
        STREAMS.encode_pubsub(
            FetchSockets(PY_NODE, "/", WireOptions(rooms=("py-joined",)), "rq-f2")
        ),
    )
    fetched, _ = await take(mine, STREAMS.decode_pubsub, from_node)
    assert isinstance(fetched, ClusterFetchSocketsResponse)
    assert [s.id for s in fetched.sockets] == [streams.client_ids["a"]]


async def test_streams_session_across_nodes(streams: Cluster) -> None:
    """Node persists a session; Python reads it, rewrites it; Node restores the rewrite."""
    node, redis = streams.node, streams.redis
    a_id = streams.client_ids["a"]
    # The client only asks to recover once it holds an offset: give it one.
    first = ClusterBroadcast(PY_NODE, "/", Packet(EVENT, "/", ["first"]), WireOptions())
    first_id = (await redis.xadd(STREAM, STREAMS.encode_entry(first))).decode()
    assert (await node.expect("client_ev", name="a", ev="first"))["args"] == [first_id]
    await node.command("client_drop", name="a")
    await node.expect("client_disconnect", name="a")  # server side: "transport close"

    async def stored() -> list[bytes]:
        return list(await redis.keys(session_key("*")))

    await wait_for_redis(stored, "the session Node persists")
    (key,) = await stored()
    raw = await redis.get(key)
    session = STREAMS.decode_session(raw)
    assert session.sid == a_id
    assert key.decode() == session_key(session.pid)
    assert session.rooms == (a_id, "room1")
    assert session.data == {"name": "a"}
    assert STREAMS.encode_session(session).encode() == raw
    ttl = await redis.pttl(key)
    assert 0 < ttl <= 60000

    rewritten = WireSession(session.sid, session.pid, (*session.rooms, "py-room"), {"py": b"\x01"})
    await redis.set(key, STREAMS.encode_session(rewritten), px=60000)
    # Missed while away, and only for a room the rewritten session added: replayed only if
    # Node restores the session Python wrote.
    missed = ClusterBroadcast(
        PY_NODE, "/", Packet(EVENT, "/", ["missed"]), WireOptions(rooms=("py-room",))
    )
    missed_id = (await redis.xadd(STREAM, STREAMS.encode_entry(missed))).decode()
    await node.command("client_reconnect", name="a")
    assert (await node.expect("client_ev", name="a", ev="missed"))["args"] == [missed_id]
    event = await node.expect("client_connect", name="a")
    assert (event["id"], event["recovered"]) == (a_id, True)
    await redis.publish(
        streams_channels("/", streams.uids["/"])[0],
        STREAMS.encode_pubsub(
            FetchSockets(PY_NODE, "/", WireOptions(rooms=("py-room",)), "rq-session")
        ),
    )
    fetched, _ = await streams.capture.take(
        streams_channels("/", PY_NODE)[1], STREAMS.decode_pubsub, _from(streams.uids["/"])
    )
    assert isinstance(fetched, ClusterFetchSocketsResponse)
    (socket,) = fetched.sockets
    assert (socket.id, socket.data) == (a_id, {"py": b"\x01"})
    assert set(socket.rooms) == {a_id, "room1", "py-room"}


# -- naming against the Node sources --------------------------------------------------------


async def test_stream_names_and_hash_match_node(node: NodeFactory) -> None:
    names = ["/", "/admin", "/chat", "", "/é", "/😀", "/" + "x" * 300, "/negative-hash?"]
    script = (
        "const { hashCode } = require('@socket.io/redis-streams-adapter/dist/util');"
        "const names = JSON.parse(process.argv[1]);"
        "process.stdout.write(JSON.stringify(names.map((n) => [hashCode(n),"
        " [2, 3, 7].map((c) => 'socket.io-' + (hashCode(n) % c))])));"
    )
    proc = await asyncio.create_subprocess_exec(
        "node", "-e", script, json.dumps(names), cwd=str(JS_DIR), stdout=asyncio.subprocess.PIPE
    )
    out, _ = await asyncio.wait_for(proc.communicate(), 10)
    assert proc.returncode == 0
    expected = json.loads(out)
    assert any(h < 0 for h, _ in expected)  # the negative case is covered
    for name, (hashed, streams_by_count) in zip(names, expected, strict=True):
        assert js_hash_code(name) == hashed, name
        assert [stream_name(name, count=c) for c in (2, 3, 7)] == streams_by_count, name
    assert next_offset("1795688880501-9") == "1795688880501-10"
