"""Requests for a session another node owns, forwarded through Redis (socketwire.io.forwarding).

Two Engine.IO servers (the *owner* and the *opener*), each with its own Redis link, on one
real redis-server. A client's requests are sent to either by hand: the opener must get them
to the owner and relay the owner's answers (polling), or relay a WebSocket both ways (an
upgrade); an owner that is gone or never answers must give the JS "Session ID unknown", and
nothing may hang. The opener runs on the native server and behind the ASGI app.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import msgpack  # type: ignore[import-untyped]
import pytest
from redis.asyncio import Redis

from conftest import (
    WAIT,
    EngineHarness,
    RawWebSocket,
    build_request,
    raw_connection,
    read_response,
    start_asgi,
    start_native,
    wait_until,
)
from integration.redis_fixtures import redis_server  # noqa: F401  (fixture)
from integration.redis_server import RedisServer
from socketwire.adapters.redis_forwarding import RedisNodeChannel
from socketwire.adapters.redis_link import PresenceKind, link_for
from socketwire.engineio import EngineOptions
from socketwire.engineio.forwarding import (
    Forward,
    ForwardType,
    HttpAnswerMessage,
    HttpRequestMessage,
    TunnelClose,
    TunnelData,
    TunnelFlow,
    decode_forward,
    encode_forward,
)
from socketwire.engineio.sids import new_node_tag, new_sid, owner_prefix
from socketwire.io import forwarding
from socketwire.io.engine import EngineServer
from socketwire.io.node_channel import ForwardStats

pytestmark = pytest.mark.integration

UNKNOWN = {"code": 1, "message": "Session ID unknown"}
OPTIONS: dict[str, Any] = {"ping_interval": 5.0, "ping_timeout": 5.0}


@dataclass
class Node:
    """One Engine.IO server that forwards through Redis."""

    harness: EngineHarness
    stop: Callable[[], Awaitable[None]]

    @property
    def engine(self) -> EngineServer:
        return self.harness.engine

    @property
    def me(self) -> str:
        return self.engine.sid_prefix

    @property
    def stats(self) -> ForwardStats:
        forwarder = self.engine.forwarder
        assert forwarder is not None
        return forwarder.stats


async def start_node(url: str, plumbing: str = "native", **options: Any) -> Node:
    """An EngineServer on its own Redis link, listening for forwarded requests."""
    engine_options = EngineOptions(**{**OPTIONS, **options})
    engine = EngineServer(engine_options)
    engine.forward_through(RedisNodeChannel(link_for(url), PresenceKind.NUMSUB))
    await engine.start()
    starter = start_native if plumbing == "native" else start_asgi
    port, stop = await starter(engine, {})
    return Node(EngineHarness(plumbing, engine, port, engine_options), stop)


@contextlib.asynccontextmanager
async def nodes(
    url: str, opener_plumbing: str = "native", **options: Any
) -> AsyncIterator[tuple[Node, Node]]:
    """(owner, opener): the opener under ``opener_plumbing``."""
    owner = await start_node(url, **options)
    opener = await start_node(url, opener_plumbing, **options)
    try:
        yield owner, opener
    finally:
        for node in (opener, owner):
            await asyncio.wait_for(node.stop(), 20)
        for node in (opener, owner):
            assert node.engine.clients_count == 0


@pytest.fixture(params=["native", "asgi"])
def opener_plumbing(request: pytest.FixtureRequest) -> str:
    """The opener's plumbing (the owner runs on the native server)."""
    param: str = request.param
    return param


@pytest.fixture
async def pair(
    redis_server: RedisServer,  # noqa: F811
    opener_plumbing: str,
) -> AsyncIterator[tuple[Node, Node]]:
    async with nodes(redis_server.url, opener_plumbing) as both:
        yield both


class Capture:
    """Every forwarding message published on the nodes' channels (``engine.io#*``)."""

    def __init__(self, redis: Redis) -> None:
        self.redis = redis
        self.pubsub = redis.pubsub()
        self.messages: list[tuple[str, Forward]] = []
        self._task: asyncio.Task[None] | None = None

    async def start(self, pattern: str = "engine.io#*") -> None:
        await self.pubsub.psubscribe(pattern)
        self._task = asyncio.create_task(self._read())

    async def _read(self) -> None:
        while True:
            message = await self.pubsub.get_message(ignore_subscribe_messages=True, timeout=1.0)
            if message is not None:
                decoded = decode_forward(message["data"], max_size=1 << 26)
                self.messages.append((message["channel"].decode(), decoded))

    def of(self, kind: ForwardType) -> list[tuple[str, Forward]]:
        return [(channel, m) for channel, m in self.messages if m.type is kind]

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        await self.pubsub.aclose()
        await self.redis.aclose()


@contextlib.asynccontextmanager
async def capture(url: str) -> AsyncIterator[Capture]:
    recorder = Capture(Redis.from_url(url))
    await recorder.start()
    try:
        yield recorder
    finally:
        await recorder.close()


class FakeNode:
    """A node played by the test on redis-py: it listens on its channel and publishes what
    the test wants, and never answers by itself."""

    def __init__(self, url: str) -> None:
        self.me = owner_prefix(0, new_node_tag())
        self.redis = Redis.from_url(url)
        self.pubsub = self.redis.pubsub()

    async def send(self, to: str, message: Forward) -> None:
        """Publish ``message`` on node ``to``'s channel."""
        await self.redis.publish(f"engine.io#{to}#", encode_forward(message))

    async def receive(self) -> Forward:
        """The next message on this node's channel (within WAIT)."""
        async with asyncio.timeout(WAIT):
            while (got := await self.pubsub.get_message(True, timeout=0.5)) is None:
                pass
        return decode_forward(got["data"], max_size=1 << 26)


@contextlib.asynccontextmanager
async def fake_node(url: str) -> AsyncIterator[FakeNode]:
    node = FakeNode(url)
    await node.pubsub.subscribe(f"engine.io#{node.me}#")
    try:
        yield node
    finally:
        await node.pubsub.aclose()
        await node.redis.aclose()


async def upgrade_through(opener: Node, owner: Node, sid: str) -> RawWebSocket:
    """Upgrade session ``sid`` (of ``owner``) with a WebSocket to ``opener``."""
    ws, response = await RawWebSocket.connect(
        opener.harness.port, owner.harness.target("websocket", sid)
    )
    assert response.status == 101, (response.status, response.body)
    ws.send_frame(0x1, b"2probe")
    assert await ws.recv_frame() == (0x1, b"3probe")
    ws.send_frame(0x1, b"5")
    await owner.harness.wait_upgraded(owner.harness.session(sid))
    return ws


# -- polling ---------------------------------------------------------------------------------


async def test_polling_requests_reach_the_owner_through_the_other_node(
    pair: tuple[Node, Node],
    redis_server: RedisServer,  # noqa: F811
) -> None:
    owner, opener = pair
    async with capture(redis_server.url) as recorder:
        sid, _, _ = await owner.harness.handshake()
        assert sid.startswith(owner.me)
        record = await owner.harness.wait_session(sid)

        posted = await opener.harness.post(sid, "4hello\x1e4world")
        assert (posted.status, posted.body) == (200, b"ok")
        assert await owner.harness.wait_message(record, 2) == ["hello", "world"]
        polled = await opener.harness.poll(sid)  # the owner echoed both
        assert (polled.status, polled.body) == (200, b"4hello\x1e4world")
        assert polled.header("content-type") == "text/plain; charset=UTF-8"

        # The owner's own checks answer: a second handshake-less transport is refused there.
        mismatch = await opener.harness.request("GET", owner.harness.target("websocket", sid))
        assert mismatch.status == 400
        assert mismatch.json()["code"] == 3  # BAD_REQUEST, TRANSPORT_MISMATCH on the owner

        await wait_until(lambda: len(recorder.of(ForwardType.RESPONSE)) == 3, "three answers")
    assert opener.stats.forwarded == 3
    assert owner.stats.served == 3
    requests = recorder.of(ForwardType.REQUEST)
    assert [channel for channel, _ in requests] == [f"engine.io#{owner.me}#"] * 3
    first = requests[0][1]
    assert (first.sender, first.recipient) == (opener.me, owner.me)
    assert first.body.method == "POST"  # type: ignore[union-attr]
    assert first.body.body == b"4hello\x1e4world"  # type: ignore[union-attr]
    headers = dict(first.body.headers)  # type: ignore[union-attr]
    assert headers["content-type"] == "text/plain;charset=UTF-8"
    assert "connection" not in headers
    assert "content-length" not in headers


async def test_a_long_poll_left_by_its_client_is_aborted_on_the_owner(
    pair: tuple[Node, Node],
) -> None:
    owner, opener = pair
    sid, _, _ = await owner.harness.handshake()
    record = await owner.harness.wait_session(sid)
    async with raw_connection(opener.harness.port) as (_reader, writer):
        port = opener.harness.port
        writer.write(build_request("GET", owner.harness.target(sid=sid), port))
        await writer.drain()
        await owner.harness.wait_poll_pending(record)
    # JS: "poll connection closed prematurely", on the owner as for a local poll
    assert await owner.harness.wait_closed(record) == "transport error"


async def test_a_body_over_the_limit_is_refused_by_the_opener(redis_server: RedisServer) -> None:  # noqa: F811
    async with nodes(redis_server.url, max_http_buffer_size=1000) as (owner, opener):
        sid, _, _ = await owner.harness.handshake()
        record = await owner.harness.wait_session(sid)
        assert (await opener.harness.post(sid, "4" + "x" * 1000)).status == 413
        assert opener.stats.forwarded == 0
        # the session is kept, as for a local POST over the limit
        assert (await opener.harness.post(sid, "4small")).status == 200
        assert await owner.harness.wait_message(record) == ["small"]


# -- WebSocket -------------------------------------------------------------------------------


async def test_an_upgrade_through_the_other_node_relays_the_websocket(
    pair: tuple[Node, Node],
) -> None:
    owner, opener = pair
    sid, _, _ = await owner.harness.handshake()
    record = await owner.harness.wait_session(sid)
    ws = await upgrade_through(opener, owner, sid)
    async with ws:
        ws.send_frame(0x1, b"4text")
        assert await ws.recv_frame() == (0x1, b"4text")
        ws.send_frame(0x2, b"\x00\x01binary")
        assert await ws.recv_frame() == (0x2, b"\x00\x01binary")
        assert await owner.harness.wait_message(record, 2) == ["text", b"\x00\x01binary"]
        assert opener.stats.tunnels == 1
        assert owner.stats.served_tunnels == 1
        # the client closes: the owner's session ends as for a local WebSocket
        ws.send_frame(0x8, (1000).to_bytes(2, "big"))
        assert await ws.recv_until_close() == 1000
    assert await owner.harness.wait_closed(record) == "transport close"


async def test_the_owner_closing_a_relayed_websocket_closes_the_clients(
    pair: tuple[Node, Node],
) -> None:
    owner, opener = pair
    sid, _, _ = await owner.harness.handshake()
    record = await owner.harness.wait_session(sid)
    async with await upgrade_through(opener, owner, sid) as ws:
        record.sock.close()
        assert await ws.recv_until_close() == 1000  # as JS: no close packet on WebSocket
    assert await owner.harness.wait_closed(record) == "forced close"


async def test_a_second_upgrade_is_refused_as_the_owner_refuses_it(
    pair: tuple[Node, Node],
) -> None:
    owner, opener = pair
    sid, _, _ = await owner.harness.handshake()
    async with await upgrade_through(opener, owner, sid):
        # The session is upgraded: the owner closes another WebSocket for it at once, as
        # it would a local one.
        ws, response = await RawWebSocket.connect(
            opener.harness.port, owner.harness.target("websocket", sid)
        )
        async with ws:
            assert response.status == 101
            assert await ws.recv_until_close() == 1000
    assert owner.stats.served_tunnels == 2


async def test_a_handshake_the_openers_plumbing_refuses_frees_the_owners_probe(
    redis_server: RedisServer,  # noqa: F811
) -> None:
    async with nodes(redis_server.url, forward_timeout=0.3) as (owner, opener):
        sid, _, _ = await owner.harness.handshake()
        # No Sec-WebSocket-Key: the owner accepts the upgrade, then the opener's plumbing
        # refuses the handshake and never opens the WebSocket.
        target = owner.harness.target("websocket", sid)
        headers = {"Upgrade": "websocket", "Connection": "Upgrade"}
        async with raw_connection(opener.harness.port) as (reader, writer):
            writer.write(build_request("GET", target, opener.harness.port, headers))
            response = await read_response(reader)
        assert response.status == 400
        # The owner's probe is released once the opener gives up: a real upgrade works.
        await wait_until(lambda: not owner.engine.forwarder._tunnels, "the tunnel freed")
        async with await upgrade_through(opener, owner, sid) as ws:
            ws.send_frame(0x1, b"4after")
            assert await ws.recv_frame() == (0x1, b"4after")


async def test_the_owners_application_pausing_holds_the_clients_messages(
    pair: tuple[Node, Node],
    redis_server: RedisServer,  # noqa: F811
) -> None:
    owner, opener = pair
    owner.harness.echo = False
    sid, _, _ = await owner.harness.handshake()
    record = await owner.harness.wait_session(sid)
    async with capture(redis_server.url) as recorder:
        async with await upgrade_through(opener, owner, sid) as ws:
            record.sock.pause_reading()
            for i in range(20):
                ws.send_frame(0x1, b"4m%d" % i)
            # a round trip through both nodes, while the client's messages travel
            record.sock.send("marker")
            assert await ws.recv_frame() == (0x1, b"4marker")
            assert record.messages == []
            record.sock.resume_reading()
            assert await owner.harness.wait_message(record, 20) == [f"m{i}" for i in range(20)]
        flows = [m.body for _, m in recorder.of(ForwardType.FLOW)]
        assert flows == [TunnelFlow(True), TunnelFlow(False)]


# -- owners that are gone or silent ----------------------------------------------------------


async def assert_unknown_everywhere(opener: Node, sid: str) -> None:
    """A poll, a POST and an upgrade for ``sid`` through ``opener``: "Session ID unknown"."""
    polled = await opener.harness.poll(sid)
    assert (polled.status, polled.json()) == (400, UNKNOWN)
    posted = await opener.harness.post(sid, "4x")
    assert (posted.status, posted.json()) == (400, UNKNOWN)
    ws, response = await RawWebSocket.connect(
        opener.harness.port, opener.harness.target("websocket", sid)
    )
    await ws.close()
    assert (response.status, response.body) == (400, b"Session ID unknown")


async def test_a_session_whose_owner_is_gone_is_unknown_at_once(pair: tuple[Node, Node]) -> None:
    _, opener = pair
    await assert_unknown_everywhere(opener, new_sid(owner_prefix(0, new_node_tag())))
    assert opener.stats.unreachable == 3
    assert opener.stats.timeouts == 0


async def test_an_owner_that_never_answers_gives_unknown_after_the_timeout(
    redis_server: RedisServer,  # noqa: F811
) -> None:
    options = {"forward_timeout": 0.3, "ping_interval": 0.2, "ping_timeout": 0.2}
    async with fake_node(redis_server.url) as silent, nodes(redis_server.url, **options) as both:
        opener = both[1]
        await assert_unknown_everywhere(opener, new_sid(silent.me))
        assert opener.stats.timeouts == 3
        received = [(await silent.receive()).type for _ in range(3)]
        assert received == [ForwardType.REQUEST, ForwardType.REQUEST, ForwardType.UPGRADE]


async def test_a_long_poll_ends_when_its_owner_goes(pair: tuple[Node, Node]) -> None:
    owner, opener = pair
    sid, _, _ = await owner.harness.handshake()
    record = await owner.harness.wait_session(sid)
    poll = asyncio.ensure_future(opener.harness.poll(sid))
    await owner.harness.wait_poll_pending(record)
    # The owner's process dies: its channel has no listener any more.
    forwarder = owner.engine.forwarder
    assert forwarder is not None
    await forwarder.channel.close()
    polled = await poll
    assert (polled.status, polled.json()) == (400, UNKNOWN)
    assert opener.stats.unreachable == 1


async def test_a_relayed_websocket_ends_when_its_owner_goes(pair: tuple[Node, Node]) -> None:
    owner, opener = pair
    sid, _, _ = await owner.harness.handshake()
    async with await upgrade_through(opener, owner, sid) as ws:
        forwarder = owner.engine.forwarder
        assert forwarder is not None
        await forwarder.channel.close()
        assert await ws.recv_until_close() == 1011


async def test_a_relayed_websocket_ends_when_its_opener_goes(pair: tuple[Node, Node]) -> None:
    owner, opener = pair
    sid, _, _ = await owner.harness.handshake()
    record = await owner.harness.wait_session(sid)
    async with await upgrade_through(opener, owner, sid):
        forwarder = opener.engine.forwarder
        assert forwarder is not None
        await forwarder.channel.close()
        # the connection is lost, as for a local WebSocket whose TCP connection broke
        assert await owner.harness.wait_closed(record) == "transport close"


# -- bad input on the channel and limits -----------------------------------------------------


async def test_malformed_messages_on_a_nodes_channel_are_dropped(
    redis_server: RedisServer,  # noqa: F811
) -> None:
    async with nodes(redis_server.url, max_buffered_bytes=64 * 1024) as (owner, opener):
        channel = f"engine.io#{owner.me}#"
        other = owner_prefix(5, new_node_tag())
        cluster_engine = msgpack.packb(
            {"_source": "_eio", "senderId": "abc123", "type": 0, "requestId": 1, "data": {}}
        )
        for_another = encode_forward(
            Forward(ForwardType.CLIENT_MESSAGE, opener.me, other, 1, TunnelData("x"))
        )
        oversized = encode_forward(
            Forward(ForwardType.CLIENT_MESSAGE, opener.me, owner.me, 1, TunnelData("x" * (2 << 20)))
        )
        # an answer to a request nobody made, and a message for a tunnel that does not exist
        stray = encode_forward(
            Forward(ForwardType.CLIENT_MESSAGE, opener.me, owner.me, 99, TunnelData("x"))
        )
        redis = Redis.from_url(redis_server.url)
        try:
            for data in (b"\xc1garbage", cluster_engine, for_another, oversized, stray):
                assert await redis.publish(channel, data) == 1
        finally:
            await redis.aclose()
        await wait_until(lambda: owner.stats.malformed == 4, "the malformed messages counted")
        # the node goes on
        sid, _, _ = await owner.harness.handshake()
        record = await owner.harness.wait_session(sid)
        assert (await opener.harness.post(sid, "4still")).status == 200
        assert await owner.harness.wait_message(record) == ["still"]


async def test_requests_over_the_bound_are_refused(
    pair: tuple[Node, Node], monkeypatch: pytest.MonkeyPatch
) -> None:
    owner, opener = pair
    monkeypatch.setattr(forwarding, "MAX_PENDING", 1)
    sid, _, _ = await owner.harness.handshake()
    record = await owner.harness.wait_session(sid)
    held = asyncio.ensure_future(opener.harness.poll(sid))
    await owner.harness.wait_poll_pending(record)
    refused = await opener.harness.post(sid, "4x")
    assert (refused.status, refused.json()) == (400, UNKNOWN)
    assert opener.stats.refused == 1
    record.sock.send("done")
    assert (await held).body == b"4done"


async def test_an_owner_over_the_bound_answers_unknown_at_once(
    redis_server: RedisServer,  # noqa: F811
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(forwarding, "MAX_PENDING", 1)
    async with fake_node(redis_server.url) as opener, nodes(redis_server.url) as (owner, _):
        sid, _, _ = await owner.harness.handshake()
        record = await owner.harness.wait_session(sid)
        poll = HttpRequestMessage("GET", owner.harness.target(sid=sid), ())
        await opener.send(owner.me, Forward(ForwardType.REQUEST, opener.me, owner.me, 1, poll))
        await owner.harness.wait_poll_pending(record)
        await opener.send(owner.me, Forward(ForwardType.REQUEST, opener.me, owner.me, 2, poll))
        refused = await opener.receive()
        record.sock.send("later")
        answered = await opener.receive()
        assert (refused.request_id, answered.request_id) == (2, 1)
        assert isinstance(refused.body, HttpAnswerMessage)
        assert isinstance(answered.body, HttpAnswerMessage)
        assert (refused.body.status, json.loads(refused.body.body)) == (400, UNKNOWN)
        assert (answered.body.status, answered.body.body) == (200, b"4later")
        assert owner.stats.refused == 1


async def test_a_message_for_a_tunnel_the_owner_does_not_have_closes_it(
    redis_server: RedisServer,  # noqa: F811
) -> None:
    """A worker restarted under the same id does not know its predecessor's tunnels: the
    opener is told to close them when their clients speak."""
    async with fake_node(redis_server.url) as opener, nodes(redis_server.url) as (owner, _):
        stray = Forward(ForwardType.CLIENT_MESSAGE, opener.me, owner.me, 41, TunnelData("3"))
        await opener.send(owner.me, stray)
        answer = await opener.receive()
        assert (answer.type, answer.request_id) == (ForwardType.SERVER_CLOSE, 41)
        assert answer.body == TunnelClose(1011)


async def test_an_opener_that_ignores_flow_control_gets_the_tunnel_closed(
    redis_server: RedisServer,  # noqa: F811
) -> None:
    """The owner holds at most max_buffered_bytes of a paused client's messages."""
    async with (
        capture(redis_server.url) as recorder,
        nodes(redis_server.url, max_buffered_bytes=64 * 1024) as (owner, opener),
    ):
        owner.harness.echo = False
        sid, _, _ = await owner.harness.handshake()
        record = await owner.harness.wait_session(sid)
        async with await upgrade_through(opener, owner, sid) as ws:
            [(_, upgrade)] = recorder.of(ForwardType.UPGRADE)
            record.sock.pause_reading()
            await wait_until(lambda: recorder.of(ForwardType.FLOW), "the FLOW message")
            # A peer that goes on sending as the opener of this tunnel.
            redis = Redis.from_url(redis_server.url)
            try:
                chunk = TunnelData("4" + "x" * 16 * 1024)
                for _ in range(5):
                    message = Forward(
                        ForwardType.CLIENT_MESSAGE, opener.me, owner.me, upgrade.request_id, chunk
                    )
                    await redis.publish(f"engine.io#{owner.me}#", encode_forward(message))
            finally:
                await redis.aclose()
            assert await ws.recv_until_close() == 1009
            # the opener reads again (it had paused for the owner): the closing handshake
            # completes and it ends the connection
            await ws.wait_eof()
        assert await owner.harness.wait_closed(record) == "transport error"


async def test_a_client_that_does_not_read_a_relayed_websocket_is_closed(
    redis_server: RedisServer,  # noqa: F811
) -> None:
    owner = await start_node(redis_server.url)
    opener = await start_node(redis_server.url, max_buffered_bytes=256 * 1024)
    try:
        sid, _, _ = await owner.harness.handshake()
        record = await owner.harness.wait_session(sid)
        async with await upgrade_through(opener, owner, sid):
            # Up to 40 MB for a client that reads nothing: the kernel's buffers fill, then
            # the opener's write buffer, and the opener closes the WebSocket (1008).
            for _ in range(80):
                if record.close_reason is not None:
                    break
                record.sock.send(b"x" * (512 * 1024))
                await wait_until(lambda: record.sock.buffered_amount == 0, "the publish")
            assert await owner.harness.wait_closed(record) == "transport error"
    finally:
        for node in (opener, owner):
            await asyncio.wait_for(node.stop(), 20)


# -- Socket.IO servers with each Redis adapter -------------------------------------------------


@pytest.mark.parametrize("kind", ["classic", "sharded", "streams"])
async def test_every_redis_adapter_forwards(kind: str, redis_server: RedisServer) -> None:  # noqa: F811
    from integration.cluster_nodes import adapter_factory
    from socketwire import Server

    servers = [Server(adapter=adapter_factory(kind, redis_server.url)) for _ in range(2)]
    stops = []
    try:
        ports = []
        for sio in servers:
            await sio.start()
            port, stop = await start_native(sio)
            ports.append(port)
            stops.append(stop)
        target = "/socket.io/?EIO=4&transport=polling"
        from conftest import http_request

        opened = await http_request(ports[0], "GET", target)
        sid = json.loads(opened.body[1:])["sid"]
        assert sid.startswith(servers[0].engine.sid_prefix)
        with_sid = f"{target}&sid={sid}"
        assert (await http_request(ports[1], "POST", with_sid, body="40")).status == 200
        connected = await http_request(ports[1], "GET", with_sid)
        assert connected.body.startswith(b'40{"sid":'), connected.body
    finally:
        for stop in stops:
            await stop()
