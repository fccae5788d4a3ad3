"""socketwire.testing.TestClient against a real Server, in memory."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

import socketwire
from socketwire import ConnectError, ConnectionRefusedError, Server, Socket
from socketwire.server.handshake import Handshake
from socketwire.testing import ReceivedEvent, TestClient

WAIT = 5.0


def chat_server(**options: Any) -> Server:
    sio = Server(serve_client=False, **options)

    @sio.on("connection")
    async def on_connection(socket: Socket) -> None:
        @socket.on("chat")
        async def chat(text: str) -> str:
            socket.broadcast.emit("chat", text)
            return "ok"

        @socket.on("join")
        async def join(room: str) -> None:
            socket.join(room)

        @socket.on("say")
        async def say(room: str, text: str) -> None:
            socket.to(room).emit("said", room, text)

        @socket.on("echo")
        async def echo(*args: Any) -> tuple[Any, ...]:
            return args

    return sio


async def test_connect_gives_id_and_handshake() -> None:
    sio = Server(serve_client=False)
    seen: list[Handshake] = []

    @sio.on("connection")
    async def on_connection(socket: Socket) -> None:
        seen.append(socket.handshake)
        socket.emit("welcome", socket.id)

    async with TestClient(
        sio, auth={"token": "t"}, headers={"X-Test": "1"}, query={"room": "a"}
    ) as client:
        assert client.connected
        assert client.id is not None
        welcome = await client.receive("welcome")
        assert welcome == ("welcome", [client.id])
        assert seen[0].auth == {"token": "t"}
        assert seen[0].headers["x-test"] == "1"
        assert seen[0].query["room"] == "a"
        assert seen[0].query["EIO"] == "4"
    assert not client.connected
    assert sio.clients_count == 0


async def test_events_and_acks_client_to_server() -> None:
    sio = chat_server()
    async with TestClient(sio) as client:
        assert await client.emit_with_ack("echo", 1, "two", [3]) == (1, "two", [3])
        assert await client.emit_with_ack("chat", "hi") == "ok"
        assert await client.emit_with_ack("echo") is None


async def test_ack_server_to_client() -> None:
    sio = Server(serve_client=False)
    answers: asyncio.Queue[Any] = asyncio.Queue()

    @sio.on("connection")
    async def on_connection(socket: Socket) -> None:
        answers.put_nowait(await socket.timeout(WAIT).emit_with_ack("question", 20))

    client = TestClient(sio)

    @client.on("question")
    async def question(n: int) -> int:
        return n + 22

    async with client:
        assert await asyncio.wait_for(answers.get(), WAIT) == 42
        assert client.received == [ReceivedEvent("question", [20])]


async def test_ack_server_to_client_plain_handler_and_tuple() -> None:
    sio = Server(serve_client=False)
    answers: asyncio.Queue[Any] = asyncio.Queue()

    @sio.on("connection")
    async def on_connection(socket: Socket) -> None:
        answers.put_nowait(await socket.timeout(WAIT).emit_with_ack("pair"))

    client = TestClient(sio)
    client.on("pair", lambda: ("a", "b"))
    async with client:
        assert await asyncio.wait_for(answers.get(), WAIT) == ("a", "b")


async def test_ack_timeout() -> None:
    sio = Server(serve_client=False)  # no handler for the event: no ack ever comes
    async with TestClient(sio) as client:
        with pytest.raises(socketwire.AckTimeoutError):
            await client.emit_with_ack("unknown-event", timeout=0.05)
        assert client.connected


async def test_broadcast_skips_the_sender() -> None:
    sio = chat_server()
    async with TestClient(sio) as alice, TestClient(sio) as bob, TestClient(sio) as carol:
        assert await alice.emit_with_ack("chat", "hello") == "ok"
        assert await bob.receive("chat") == ("chat", ["hello"])
        assert await carol.receive("chat") == ("chat", ["hello"])
        # the broadcast left before the ack: had alice been a recipient, it would be here
        assert alice.received == []


async def test_rooms() -> None:
    sio = chat_server()
    async with TestClient(sio) as alice, TestClient(sio) as bob, TestClient(sio) as carol:
        await alice.emit_with_ack("join", "r1")
        await bob.emit_with_ack("join", "r1")
        await carol.emit_with_ack("say", "r1", "hi room")
        assert await alice.receive("said") == ("said", ["r1", "hi room"])
        assert await bob.receive("said") == ("said", ["r1", "hi room"])
        # carol is not in r1: a round trip after the broadcast shows nothing came
        await carol.emit_with_ack("echo")
        assert carol.received == []


async def test_server_emit_to_one_client_by_id() -> None:
    sio = chat_server()
    async with TestClient(sio) as alice, TestClient(sio) as bob:
        assert bob.id is not None
        sio.to(bob.id).emit("private", {"x": 1})
        assert await bob.receive("private") == ("private", [{"x": 1}])
        await alice.emit_with_ack("echo")
        assert alice.received == []


async def test_receive_keeps_other_events_for_later() -> None:
    sio = Server(serve_client=False)

    @sio.on("connection")
    async def on_connection(socket: Socket) -> None:
        socket.emit("a", 1)
        socket.emit("b", 2)
        socket.emit("a", 3)

    async with TestClient(sio) as client:
        assert await client.receive("b") == ("b", [2])
        assert await client.receive() == ("a", [1])
        assert await client.receive() == ("a", [3])
        assert [e.name for e in client.received] == ["a", "b", "a"]
        with pytest.raises(TimeoutError, match="no event"):
            await client.receive(timeout=0.01)


async def test_middleware_refusal_with_data() -> None:
    sio = Server(serve_client=False)

    @sio.use
    async def check(socket: Socket) -> None:
        if socket.handshake.auth.get("token") != "secret":
            raise ConnectionRefusedError("not authorized", data={"code": 401})

    with pytest.raises(ConnectError) as info:
        async with TestClient(sio, auth={"token": "wrong"}):
            pass
    assert info.value.message == "not authorized"
    assert info.value.data == {"code": 401}
    async with TestClient(sio, auth={"token": "secret"}) as client:
        assert client.connected


async def test_unknown_namespace_is_refused() -> None:
    sio = Server(serve_client=False)
    with pytest.raises(ConnectError, match="Invalid namespace"):
        async with TestClient(sio, "/nope"):
            pass


async def test_allow_request_refusal_is_a_connect_error() -> None:
    async def allow(request: Any) -> tuple[bool, str]:
        return False, "go away"

    sio = Server(serve_client=False, allow_request=allow)
    with pytest.raises(ConnectError) as info:
        async with TestClient(sio, timeout=WAIT):
            pass
    assert "HTTP 400" in info.value.message
    assert info.value.data == "go away"
    assert sio.clients_count == 0


async def test_client_disconnect_reaches_the_server() -> None:
    sio = Server(serve_client=False)
    reasons: asyncio.Queue[str] = asyncio.Queue()

    @sio.on("connection")
    async def on_connection(socket: Socket) -> None:
        socket.on("disconnect", lambda reason, *_: reasons.put_nowait(reason))

    client = await TestClient(sio).connect()
    await client.disconnect()
    assert await asyncio.wait_for(reasons.get(), WAIT) == "client namespace disconnect"
    assert not client.connected
    assert client.disconnect_reason == "io client disconnect"


async def test_server_disconnect_reaches_the_client() -> None:
    sio = Server(serve_client=False)

    @sio.on("connection")
    async def on_connection(socket: Socket) -> None:
        socket.on("bye", lambda: socket.disconnect())

    async with TestClient(sio) as client:
        await client.emit("bye")
        assert await client.wait_disconnected() == "io server disconnect"


async def test_server_close_reaches_the_client() -> None:
    sio = Server(serve_client=False)
    async with TestClient(sio) as client:
        await sio.shutdown()
        assert await client.wait_disconnected() == "transport close"


async def test_binary_both_ways() -> None:
    sio = chat_server()
    blob = bytes(range(256))
    async with TestClient(sio) as client:
        assert await client.emit_with_ack("echo", {"data": blob}, b"") == ({"data": blob}, b"")


async def test_msgpack_server() -> None:
    sio = chat_server(parser="msgpack")
    async with TestClient(sio) as client:
        assert await client.emit_with_ack("echo", b"\x00\x01", 1.5) == (b"\x00\x01", 1.5)


async def test_several_namespaces_on_one_connection() -> None:
    sio = chat_server()
    admin = sio.of("/admin")
    conns: list[str] = []

    @admin.on("connection")
    async def on_admin(socket: Socket) -> None:
        conns.append(socket.conn.sid)
        socket.on("stats", lambda: {"clients": sio.clients_count})

    async with TestClient(sio) as client:
        sock = client.socket("admin")
        await sock.connect()
        assert sock.connected
        assert sock.id != client.id
        assert await sock.emit_with_ack("stats") == {"clients": 1}
        await sock.disconnect()
        assert not sock.connected
        assert client.connected  # the main namespace keeps the connection
        assert await client.emit_with_ack("echo", "still") == "still"
    assert len(conns) == 1


async def test_oversized_message_closes_the_connection() -> None:
    sio = chat_server(max_http_buffer_size=1000)
    async with TestClient(sio) as client:
        await client.emit("echo", "x" * 2000)
        assert await client.wait_disconnected() == "transport close"


async def test_reserved_event_name_is_refused() -> None:
    sio = chat_server()
    async with TestClient(sio) as client:
        with pytest.raises(ValueError, match="reserved"):
            await client.emit("disconnect")


async def test_connection_state_recovery() -> None:
    sio = Server(serve_client=False, connection_state_recovery=True)
    sockets: asyncio.Queue[Socket] = asyncio.Queue()

    @sio.on("connection")
    async def on_connection(socket: Socket) -> None:
        sockets.put_nowait(socket)
        if not socket.recovered:
            # the client recovers from the offset of the last event it received
            socket.emit("hello")

    async with TestClient(sio) as client:
        await client.receive("hello")
        first = await asyncio.wait_for(sockets.get(), WAIT)
        first_id = client.id
        first.join("news")
        first.conn.close()  # the connection drops: a recoverable reason
        assert await client.wait_disconnected() == "transport close"
        sio.to("news").emit("headline", "missed while away")
        await client.main.connect()
        assert client.recovered
        assert client.id == first_id
        event = await client.receive("headline")
        assert event.args == ["missed while away"]  # the offset stays with the client
        second = await asyncio.wait_for(sockets.get(), WAIT)
        assert second.recovered
        assert "news" in second.rooms


@pytest.mark.parametrize("parser", ["json", "msgpack"])
async def test_recovery_offsets_never_reach_the_test(parser: str) -> None:
    # With recovery the server appends an offset to every event it may replay; the test
    # client keeps it for the next CONNECT and records exactly what the application sent.
    sio = Server(serve_client=False, connection_state_recovery=True, parser=parser)

    @sio.on("connection")
    async def on_connection(socket: Socket) -> None:
        @socket.on("ready")
        async def ready() -> None:
            socket.emit("news", "headline")
            sio.emit("bare")
            socket.emit("pair", 1, b"\x00")

    async with TestClient(sio) as client:
        await client.emit("ready")
        assert await client.receive("news") == ("news", ["headline"])
        assert await client.receive("bare") == ("bare", [])
        assert await client.receive("pair") == ("pair", [1, b"\x00"])
