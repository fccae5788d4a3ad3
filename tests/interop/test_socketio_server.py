"""socketwire.Server against the official socket.io-client 4.8.4 (Node).

Every scenario runs over long-polling, WebSocket and polling-then-upgrade, with the default
parser and socket.io-msgpack-parser, served by the native server (and a subset by the ASGI
app under uvicorn).
"""

from __future__ import annotations

import asyncio
import json
import re
from typing import Any

import pytest
from _sio_helpers import Connected, client_args, open_socket, serve_fixture

from conftest import count_calls, from_js, http_request, to_js, wait_until
from socketwire import AckTimeoutError, ConnectionRefusedError, Server, Socket
from socketwire.io._native_http import HttpConnection
from socketwire.io._native_ws import WriteBatch
from socketwire.io.engine import EngineServer

pytestmark = pytest.mark.interop
assert serve_fixture  # the "serve" fixture, imported for pytest to find

MATRIX = [
    pytest.param(mode, parser, id=f"{mode}-{parser or 'json'}")
    for mode in ("polling", "websocket", "upgrade")
    for parser in (None, "msgpack")
]


#: the events scenario also runs behind the ASGI app under uvicorn
EVENTS_MATRIX = [
    *(pytest.param("native", *p.values, id=f"native-{p.id}") for p in MATRIX),
    pytest.param("asgi", "polling", None, id="asgi-polling-json"),
    pytest.param("asgi", "websocket", "msgpack", id="asgi-websocket-msgpack"),
    pytest.param("asgi", "upgrade", None, id="asgi-upgrade-json"),
]


async def _maybe_upgrade(driver: Any, mode: str) -> None:
    if mode == "upgrade":
        await driver.expect("upgrade", transport="websocket")


@pytest.mark.parametrize(("kind", "mode", "parser"), EVENTS_MATRIX)
async def test_events_binary_and_acks_both_ways(
    serve: Any, node: Any, kind: str, mode: str, parser: str | None
) -> None:
    sio = Server(parser=parser)
    connected = Connected()
    received: asyncio.Queue[Any] = asyncio.Queue()

    @sio.on("connection")
    async def on_connection(socket: Socket) -> None:
        await connected(socket)

        @socket.on("chat")
        async def chat(*args: Any) -> Any:
            await received.put(args)
            return ("got", b"\x01\x02", {"n": len(args)})

    running = await serve(sio, kind)
    driver = await node("sio_client.js", client_args(running, mode, parser))
    event = await open_socket(driver, "a", auth={"token": "abc"})
    [socket] = await connected.wait()
    assert event["id"] == socket.id
    assert socket.handshake.auth == {"token": "abc"}
    await _maybe_upgrade(driver, mode)

    # client -> server, with binary and an ack
    payload = ["hi", b"\x00\xffbin", {"nested": [1, b"\x07"]}]
    await driver.command("emit", name="a", ev="chat", args=to_js(payload), ref=1)
    assert list(await asyncio.wait_for(received.get(), 5)) == payload
    ack = await driver.expect("ack_response", name="a", ref=1)
    assert from_js(ack["args"]) == ["got", b"\x01\x02", {"n": 3}]

    # server -> client, with binary
    socket.emit("hello", 1, b"\x00bin", {"a": 1})
    event = await driver.expect("ev", name="a", ev="hello")
    assert from_js(event["args"]) == [1, b"\x00bin", {"a": 1}]
    assert event["acked"] is False

    # server -> client with an ack
    await driver.command("reply", name="a", ev="question", args=to_js(["answer", b"\x09"]))
    assert await socket.timeout(5).emit_with_ack("question", 42) == ("answer", b"\x09")
    await driver.expect("ev", name="a", ev="question", acked=True)

    # the client does not answer: timeout
    with pytest.raises(AckTimeoutError):
        await socket.timeout(0.2).emit_with_ack("unanswered")
    assert socket.acks == {}


@pytest.mark.parametrize(("mode", "parser"), MATRIX)
async def test_namespaces_static_dynamic_and_refusals(
    serve: Any, node: Any, mode: str, parser: str | None
) -> None:
    sio = Server(parser=parser)
    chat = sio.of("/chat")
    dyn = sio.of(re.compile(r"^/dyn-\d+$"))
    chat_connected = Connected()
    dyn_connected = Connected()
    chat.on("connection", chat_connected)
    dyn.on("connection", dyn_connected)

    async def guard(socket: Socket) -> None:
        if socket.handshake.auth.get("token") != "ok":
            raise ConnectionRefusedError("unauthorized", data={"reason": "bad token"})

    dyn.use(guard)
    running = await serve(sio)
    driver = await node("sio_client.js", client_args(running, mode, parser))
    await open_socket(driver, "chat", "/chat")
    await _maybe_upgrade(driver, mode)
    [chat_socket] = await chat_connected.wait()
    error = await open_socket(driver, "bad", "/dyn-1", {"token": "no"}, expect="connect_error")
    assert error["message"] == "unauthorized"
    assert error["data"] == {"reason": "bad token"}
    event = await open_socket(driver, "good", "/dyn-2", {"token": "ok"})
    [dyn_socket] = await dyn_connected.wait()
    assert dyn_socket.nsp.name == "/dyn-2"
    assert dyn_socket.id == event["id"]
    error = await open_socket(driver, "none", "/nowhere", expect="connect_error")
    assert error["message"] == "Invalid namespace"

    dyn.emit("to-children", "x")
    chat.emit("to-chat", "y")
    assert (await driver.expect("ev", name="good", ev="to-children"))["args"] == ["x"]
    assert (await driver.expect("ev", name="chat", ev="to-chat"))["args"] == ["y"]
    assert chat_socket.connected
    assert not driver.seen("ev", name="chat", ev="to-children")


@pytest.mark.parametrize(("mode", "parser"), MATRIX)
async def test_rooms_broadcast_volatile_and_broadcast_acks(
    serve: Any, node: Any, mode: str, parser: str | None
) -> None:
    sio = Server(parser=parser)
    connected = Connected()
    sio.on("connection", connected)
    running = await serve(sio)
    drivers = [await node("sio_client.js", client_args(running, mode, parser)) for _ in range(3)]
    for driver in drivers:
        await open_socket(driver, "s")
        await _maybe_upgrade(driver, mode)
    sockets = await connected.wait(3)
    by_id = {s.id: s for s in sockets}
    ids = [d.seen("connect", name="s")[0]["id"] for d in drivers]
    k = [by_id[i] for i in ids]
    k[0].join(["red", "blue"])
    k[1].join("red")
    k[2].join("blue")

    sio.to("red").except_("blue").emit("only-1", b"\x01")
    assert from_js((await drivers[1].expect("ev", ev="only-1"))["args"]) == [b"\x01"]
    k[2].to("blue").emit("from-2")
    await drivers[0].expect("ev", ev="from-2")
    sio.volatile.emit("vol", 1)
    sio.emit("marker")
    for driver in drivers:
        await driver.expect("ev", ev="marker")
    if mode != "polling":
        # a WebSocket is writable: the volatile packet goes out (over polling it is dropped
        # unless a GET happens to be pending, as JS)
        for driver in drivers:
            assert driver.seen("ev", ev="vol")
    assert not drivers[0].seen("ev", ev="only-1")
    assert not drivers[2].seen("ev", ev="only-1")
    assert not drivers[2].seen("ev", ev="from-2")
    assert not drivers[1].seen("ev", ev="from-2")

    # broadcast with acks: two answer, one does not
    await drivers[0].command("reply", name="s", ev="poll", args=["yes"])
    await drivers[1].command("reply", name="s", ev="poll", args=to_js([{"vote": b"\x02"}]))
    with pytest.raises(AckTimeoutError) as info:
        await sio.timeout(0.5).emit_with_ack("poll")
    responses = info.value.responses
    assert sorted(map(repr, responses)) == sorted(map(repr, ["yes", {"vote": b"\x02"}]))
    assert info.value.missing == [k[2].id]
    await drivers[2].command("reply", name="s", ev="poll", args=[3])
    replies = await sio.in_(["red", "blue"]).timeout(5).emit_with_ack("poll")
    assert len(replies) == 3
    assert 3 in replies
    for socket in k:
        assert socket.acks == {}


@pytest.mark.parametrize(("mode", "parser"), MATRIX)
async def test_disconnect_reasons(serve: Any, node: Any, mode: str, parser: str | None) -> None:
    sio = Server(parser=parser)
    connected = Connected()
    reasons: asyncio.Queue[tuple[str, str]] = asyncio.Queue()

    @sio.on("connection")
    async def on_connection(socket: Socket) -> None:
        @socket.on("disconnect")
        async def on_disconnect(reason: str) -> None:
            await reasons.put((socket.id, reason))

        await connected(socket)

    running = await serve(sio)
    driver = await node("sio_client.js", client_args(running, mode, parser))
    await open_socket(driver, "a")
    await _maybe_upgrade(driver, mode)
    [first] = await connected.wait(1)
    await driver.command("disconnect", name="a")
    assert await asyncio.wait_for(reasons.get(), 5) == (first.id, "client namespace disconnect")

    await driver.command("connect", name="a")
    [_, second] = await connected.wait(2)
    second.disconnect()
    assert await asyncio.wait_for(reasons.get(), 5) == (second.id, "server namespace disconnect")
    await driver.expect("disconnect", name="a", reason="io server disconnect")

    await driver.command("connect", name="a")
    [_, _, third] = await connected.wait(3)
    await driver.command("engine_close")
    assert await asyncio.wait_for(reasons.get(), 5) == (third.id, "transport close")
    assert sio.sockets.sockets == {}


@pytest.mark.parametrize("kind", ["native", "asgi"])
@pytest.mark.parametrize("mode", ["polling", "websocket", "upgrade"])
async def test_catch_all_middleware_and_server_disconnect_close(
    serve: Any, node: Any, kind: str, mode: str
) -> None:
    sio = Server()
    connected = Connected()
    sio.on("connection", connected)
    running = await serve(sio, kind)
    driver = await node("sio_client.js", client_args(running, mode, None))
    await open_socket(driver, "a")
    await _maybe_upgrade(driver, mode)
    [socket] = await connected.wait()
    incoming: list[Any] = []
    outgoing: list[Any] = []
    errors: list[Exception] = []
    socket.on_any(lambda *a: incoming.append(a))
    socket.on_any_outgoing(lambda *a: outgoing.append(a))
    socket.on("error", lambda exc: errors.append(exc))

    async def deny(event: str, args: list[Any]) -> None:
        if event == "denied":
            raise PermissionError("denied")

    socket.use(deny)
    got: asyncio.Queue[Any] = asyncio.Queue()

    @socket.on("allowed")
    async def allowed(value: int) -> int:
        await got.put(value)
        return value + 1

    await driver.command("emit", name="a", ev="denied", args=[1], ref=1)
    await driver.command("emit", name="a", ev="allowed", args=[41], ref=2)
    assert await asyncio.wait_for(got.get(), 5) == 41
    assert (await driver.expect("ack_response", ref=2))["args"] == [42]
    assert not driver.seen("ack_response", ref=1)
    assert [type(e) for e in errors] == [PermissionError]
    assert incoming == [("denied", 1), ("allowed", 41)]
    socket.emit("out", 1)
    await driver.expect("ev", ev="out")
    assert outgoing == [("out", 1)]

    socket.disconnect(close=True)
    await driver.expect("disconnect", name="a", reason="io server disconnect")
    await wait_until(lambda: sio.clients_count == 0, "the connection to close")


@pytest.mark.parametrize("mode", ["polling", "websocket"])
async def test_client_timeout_ack_and_fetch_sockets(serve: Any, node: Any, mode: str) -> None:
    sio = Server()
    connected = Connected()
    sio.on("connection", connected)
    running = await serve(sio)
    driver = await node("sio_client.js", client_args(running, mode, None))
    await open_socket(driver, "a")
    [socket] = await connected.wait()
    slow_done = asyncio.Event()

    @socket.on("slow")
    async def slow() -> str:
        await slow_done.wait()
        return "late"

    # the JS client's own timeout() on an ack the server answers too late
    await driver.command("emit", name="a", ev="slow", ref=1, timeout=100)
    response = await driver.expect("ack_response", ref=1)
    assert response["error"] == "operation has timed out"
    slow_done.set()

    socket.join("vip")
    socket.data["user"] = "ann"
    [remote] = await sio.in_("vip").fetch_sockets()
    assert remote.id == socket.id
    assert remote.data == {"user": "ann"}
    await driver.command("reply", name="a", ev="ping-remote", args=["pong"])
    assert await remote.timeout(5).emit_with_ack("ping-remote") == "pong"
    await sio.in_("vip").disconnect_sockets()
    await driver.expect("disconnect", name="a", reason="io server disconnect")


@pytest.mark.parametrize(("mode", "parser"), MATRIX)
async def test_connection_state_recovery(
    serve: Any, node: Any, mode: str, parser: str | None
) -> None:
    sio = Server(parser=parser, connection_state_recovery=True)
    connected = Connected()
    sio.on("connection", connected)
    running = await serve(sio)
    driver = await node("sio_client.js", client_args(running, mode, parser))
    first_event = await open_socket(driver, "a")
    assert first_event["recovered"] is False
    await _maybe_upgrade(driver, mode)
    [socket] = await connected.wait()
    socket.join("room")
    socket.data["n"] = 1
    socket.emit("before", 1)
    await driver.expect("ev", name="a", ev="before")

    await driver.command("engine_close")
    await driver.expect("disconnect", name="a")
    # emitted while the client is away
    sio.to("room").emit("missed", b"\x05")
    sio.emit("missed-too", 2)
    await driver.command("connect", name="a")
    event = await driver.expect("connect", name="a")
    assert event["recovered"] is True
    assert event["id"] == socket.id
    missed = await driver.expect("ev", name="a", ev="missed")
    assert from_js(missed["args"])[0] == b"\x05"
    await driver.expect("ev", name="a", ev="missed-too")
    [_, again] = await connected.wait(2)
    assert again.recovered
    assert again.rooms == {socket.id, "room"}
    assert again.data == {"n": 1}


async def test_slow_client_over_its_buffer_is_closed(serve: Any) -> None:
    """A polling client that stops polling is closed once its queue passes the bound."""
    sio = Server(max_buffered_bytes=64 * 1024)
    connected = Connected()
    reasons: asyncio.Queue[str] = asyncio.Queue()

    @sio.on("connection")
    async def on_connection(socket: Socket) -> None:
        @socket.on("disconnect")
        async def on_disconnect(reason: str) -> None:
            await reasons.put(reason)

        await connected(socket)

    running = await serve(sio)
    base = "/socket.io/?EIO=4&transport=polling"
    handshake = await http_request(running.port, "GET", base)
    sid = json.loads(handshake.text[1:])["sid"]
    target = f"{base}&sid={sid}"
    assert (await http_request(running.port, "POST", target, body="40")).status == 200
    first = await http_request(running.port, "GET", target)
    assert first.text.startswith("40{")
    [socket] = await connected.wait()
    for _ in range(10):  # 10 x 10 KB, never polled
        socket.emit("blob", "x" * 10_000)
    assert await asyncio.wait_for(reasons.get(), 5) == "transport buffer full"
    assert sio.sockets.sockets == {}


async def test_acks_of_many_clients_answered_in_one_iteration_arrive_in_order(
    serve: Any, node: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Acknowledgements several connections write in one loop iteration are corked behind the
    first and written at its end: every official client gets each of its own, in order."""
    corked = count_calls(monkeypatch, WriteBatch, "add")
    sio = Server()
    connected = Connected()
    gate = asyncio.Event()
    waiting: list[str] = []

    @sio.on("connection")
    async def on_connection(socket: Socket) -> None:
        @socket.on("echo")
        async def echo(value: str) -> str:
            if not gate.is_set():
                waiting.append(socket.id)
                await gate.wait()  # every socket's first event answers in the same iteration
            return f"ack:{value}"

        await connected(socket)

    running = await serve(sio)
    clients, per_client = 6, 20
    drivers = [
        await node("sio_client.js", client_args(running, "websocket", None)) for _ in range(clients)
    ]
    for driver in drivers:
        await open_socket(driver, "a")
    await connected.wait(clients)
    for number, driver in enumerate(drivers):
        for ref in range(1, per_client + 1):
            await driver.command("emit", name="a", ev="echo", args=[f"{number}-{ref}"], ref=ref)
    await wait_until(lambda: len(waiting) == clients)
    assert corked == []  # nothing was answered yet
    gate.set()
    for number, driver in enumerate(drivers):
        for ref in range(1, per_client + 1):
            ack = await driver.expect("ack_response", name="a", ref=ref)
            assert ack["args"] == [f"ack:{number}-{ref}"]
        refs = [e["ref"] for e in driver.events if e["event"] == "ack_response"]
        assert refs == list(range(1, per_client + 1))
    # the first answer of the iteration went at once; at least the other sockets' first
    # answers waited for the batch
    assert len(corked) >= clients - 1


async def test_an_official_polling_client_is_answered_by_the_fast_path(
    serve: Any, node: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The native server answers the long-polling requests of an open session without a
    # task (EngineServer.handle_http_now): every GET after the handshake, as
    # socket.io-client makes them, takes the fast path, and every acknowledgement arrives.
    tasks = count_calls(monkeypatch, HttpConnection, "_run")
    fast = count_calls(monkeypatch, EngineServer, "handle_http_now")
    sio = Server()
    connected = Connected()

    @sio.on("connection")
    async def on_connection(socket: Socket) -> None:
        @socket.on("echo")
        async def echo(value: Any) -> Any:
            return value

        await connected(socket)

    running = await serve(sio)
    driver = await node("sio_client.js", client_args(running, "polling", None))
    await open_socket(driver, "a")
    await connected.wait(1)
    for ref in range(1, 21):
        value = {"bytes": to_js(b"\x00\x01")} if ref % 5 == 0 else f"v{ref}"
        await driver.command("emit", name="a", ev="echo", args=[value], ref=ref)
        ack = await driver.expect("ack_response", name="a", ref=ref)
        assert ack["args"] == [value]
    gets_in_tasks = [r for _, r in tasks if r.method == "GET" and "sid=" in r.raw_path]
    assert gets_in_tasks == []
    assert sum(1 for _, request, _ in fast if request.method == "GET") >= 20


@pytest.mark.parametrize("mode", ["polling", "websocket"])
async def test_events_emitted_by_a_middleware_arrive_after_connect(
    serve: Any, node: Any, mode: str
) -> None:
    # JS writes an event emitted before CONNECT at once; socket.io-client holds it until its
    # CONNECT arrives. A refused socket's held events are never delivered.
    sio = Server()

    async def greet(socket: Socket) -> None:
        socket.emit("welcome", socket.handshake.auth.get("who"))
        if socket.handshake.auth.get("who") == "mallory":
            raise ConnectionRefusedError("no")

    sio.use(greet)
    running = await serve(sio)
    driver = await node("sio_client.js", client_args(running, mode, None))
    await open_socket(driver, "a", "/", {"who": "alice"})
    # socket.io-client delivers what it held when its CONNECT arrives (emitBuffered() runs
    # just before its "connect" event), so the event is seen, and only once connected.
    welcome = await driver.expect("ev", name="a", ev="welcome")
    assert welcome["args"] == ["alice"]
    # The refused socket's welcome precedes its CONNECT_ERROR on the wire: had the client
    # delivered it, it would be printed by now. socket.io-client drops it, never connected.
    other = await node("sio_client.js", client_args(running, mode, None))  # its own Manager
    await open_socket(other, "m", "/", {"who": "mallory"}, expect="connect_error")
    assert not other.seen("ev", name="m")
