"""Client scenarios of the socket.io-client API surface, shared by the Node and socketwire
suites (see tests/client_scenarios.py for the scenario server and the helpers).

Connecting (fail fast, or ``retry``), listeners (``once``, catch-alls), the engine's events,
the options socket.io-client has (``try_all_transports``, ``remember_upgrade``,
``timestamp_requests``, ``transport_options``, ``protocols``, ``auto_connect``), the
reconnection settings at run time and JS's reading of 0, handler arity, and the pull-style
``SimpleClient`` and its blocking twin.
"""

from __future__ import annotations

import asyncio
import logging
import math
import threading
from typing import Any

import pytest

from client_scenarios import (
    BINARY,
    MODES,
    WAIT,
    Recorder,
    ServerFactory,
    connect,
    listen,
    messages,
    options,
    to_js,
)
from socketwire.client import (
    AsyncClient,
    ConnectError,
    DisconnectedError,
    ReadyState,
    SimpleClient,
    SyncClient,
    SyncSimpleClient,
    TransportError,
)
from socketwire.engineio.packets import Packet, PacketType

__all__ = [
    "test_auth_the_parser_cannot_encode_fails_the_connect",
    "test_auto_connect",
    "test_connect_fails_at_once_with_the_transport_error",
    "test_connect_with_retry_waits_for_the_server",
    "test_engine_events",
    "test_handler_arity_follows_javascript",
    "test_once_and_catch_all_listeners",
    "test_reconnection_attempts_zero_means_no_limit",
    "test_reconnection_settings_change_at_run_time",
    "test_remember_upgrade",
    "test_request_options",
    "test_simple_client",
    "test_simple_client_bounds_its_queue",
    "test_sync_client_listeners",
    "test_sync_simple_client",
    "test_try_all_transports",
]


# ---------------------------------------------------------------------------------------
# Connecting


async def test_auth_the_parser_cannot_encode_fails_the_connect(
    sio_server: ServerFactory, clients: list[AsyncClient]
) -> None:
    # A JSON CONNECT cannot carry bytes: connect() says so instead of waiting in vain.
    server = await sio_server()
    client = AsyncClient(reconnection=False)
    clients.append(client)
    with pytest.raises(ConnectError, match=r"the auth cannot be sent: .*bytes"):
        await client.connect(server.url, auth={"token": b"\x01"}, wait_timeout=WAIT)
    # the connection is healthy: the same client connects with auth it can send
    await client.connect(server.url, auth={"token": "x01"}, wait_timeout=WAIT)
    assert client.connected
    connection = await server.d.expect("connection")
    assert connection["auth"] == {"token": "x01"}
    assert len(server.d.seen("connection")) == 1  # only the one that could be sent


@pytest.mark.parametrize("mode", list(MODES))
async def test_connect_fails_at_once_with_the_transport_error(
    sio_server: ServerFactory, clients: list[AsyncClient], mode: str
) -> None:
    # A server that refuses the client's first transport: the first attempt is the answer.
    refused = "polling" if mode != "websocket" else "websocket"
    other = "websocket" if refused == "polling" else "polling"
    server = await sio_server(options={"transports": [other]})
    rec = Recorder()
    client = AsyncClient(reconnection_delay=0.05, **options(mode))
    clients.append(client)
    listen(client, rec, "connect_error", "error", "reconnect_attempt")
    with pytest.raises(TransportError) as caught:
        await client.connect(server.url, wait_timeout=WAIT)
    error = caught.value
    assert isinstance(error, ConnectError)
    assert isinstance(error, ConnectionError)  # what python-socketio users catch
    assert error.type == "TransportError"
    assert error.message == ("xhr poll error" if refused == "polling" else "websocket error")
    assert "400" in error.description  # "Transport unknown"
    assert str(error).startswith(f"{error.message}: ")
    # nothing keeps trying in the background
    assert client.io is not None
    assert not client.io.reconnecting
    assert client.io.ready_state is ReadyState.CLOSED
    assert not client.main.active
    (reported,) = await rec.expect("connect_error")
    assert reported is error
    [manager_error] = await rec.expect("error")
    assert isinstance(manager_error, TransportError)
    assert rec.count("reconnect_attempt") == 0
    assert not server.d.seen("connection")


async def test_connect_with_retry_waits_for_the_server(
    sio_server: ServerFactory, clients: list[AsyncClient], caplog: pytest.LogCaptureFixture
) -> None:
    server = await sio_server()
    await server.kill()  # its port is known and nothing listens there
    rec = Recorder()
    client = AsyncClient(reconnection_delay=0.05, reconnection_delay_max=0.1)
    clients.append(client)
    listen(client, rec, "connect_error", "connect")
    caplog.set_level(logging.WARNING, logger="socketwire.client")
    connecting = asyncio.create_task(client.connect(server.url, retry=True, wait_timeout=20))
    for _ in range(3):
        [error] = await rec.expect("connect_error")
        assert isinstance(error, TransportError)
    warnings = [r for r in caplog.records if r.name == "socketwire.client"]
    assert len(warnings) >= 3
    assert all(r.levelno == logging.WARNING for r in warnings)
    assert "connect_error on " + server.url in warnings[0].getMessage()
    assert "(retrying)" in warnings[0].getMessage()
    assert not connecting.done()
    await server.restart()
    await asyncio.wait_for(connecting, WAIT)
    await rec.expect("connect")
    assert client.connected
    await server.d.expect("connection")


# ---------------------------------------------------------------------------------------
# Listeners


async def test_once_and_catch_all_listeners(
    sio_server: ServerFactory, clients: list[AsyncClient]
) -> None:
    server = await sio_server()
    rec = Recorder()
    client = AsyncClient(reconnection_delay=0.05, randomization_factor=0)
    clients.append(client)
    first = client.once("tick", rec.handler("once"))
    every = client.on("tick", rec.handler("every"))
    assert client.listeners("tick") == [first, every]

    def incoming_a(event: str, *args: Any) -> None:
        rec.record("in-a", event, *args)

    def incoming_b(event: str, *args: Any) -> None:
        rec.record("in-b", event, *args)

    def outgoing_a(event: str, *args: Any) -> None:
        rec.record("out-a", event, *args)

    def outgoing_b(event: str, *args: Any) -> None:
        rec.record("out-b", event, *args)

    client.on_any(incoming_a)
    client.prepend_any(incoming_b)
    assert client.listeners_any() == [incoming_b, incoming_a]
    client.on_any_outgoing(outgoing_a)
    client.prepend_any_outgoing(outgoing_b)
    assert client.listeners_any_outgoing() == [outgoing_b, outgoing_a]
    client.once("reconnect", rec.handler("reconnect-once"))  # a Manager event, before connect
    listen(client, rec, "reconnect", "connect")
    await client.connect(server.url, wait_timeout=WAIT)
    await server.d.expect("connection")

    for n in (1, 2):
        await server.command("emit", nsp="/", to=client.id, event="tick", args=[n])
        assert await rec.expect("every") == (n,)
    assert rec.all("once") == [(1,)]
    assert client.listeners("tick") == [every]
    # the catch-alls, prepended one first
    names = [name for name, _ in rec.items if name.startswith("in-")]
    assert names == ["in-b", "in-a", "in-b", "in-a"]
    client.off_any(incoming_b)
    assert client.listeners_any() == [incoming_a]

    client.emit("hello", 1)
    await messages(server, 1, name="hello")
    assert rec.all("out-b") == [("hello", 1)]
    assert rec.all("out-a") == [("hello", 1)]
    client.off_any_outgoing()
    assert client.listeners_any_outgoing() == []

    await rec.expect("connect")
    for _ in range(2):  # two reconnections: the once handler sees the first only
        await server.command("close_transport", nsp="/", to=client.id)
        await rec.expect("reconnect")
        await rec.expect("connect")
        await server.d.expect("connection")
    assert rec.all("reconnect-once") == [(1,)]


async def test_engine_events(sio_server: ServerFactory, clients: list[AsyncClient]) -> None:
    server = await sio_server()
    rec = Recorder()
    client = AsyncClient(reconnection=False)  # polling, upgraded to WebSocket
    clients.append(client)
    await client.connect(server.url, wait=False)
    assert client.io is not None
    engine = client.io.engine  # the engine of this attempt, there from the start
    assert engine is not None
    for name in ("open", "packet", "packetCreate", "drain", "upgrading", "upgrade", "close"):
        engine.on(name, rec.handler(name))
    await client.main.wait_connected()
    await server.d.expect("upgrade")
    await rec.expect("upgrade")
    assert await rec.expect("upgrading") == ("websocket",)
    assert rec.all("upgrade") == [("websocket",)]
    await rec.expect("open")
    [opened] = await rec.expect("packet")
    assert opened.type is PacketType.OPEN  # the handshake
    [created] = await rec.expect("packetCreate")
    assert created == Packet(PacketType.MESSAGE, "0")  # Socket.IO's CONNECT
    await rec.expect("drain")
    assert await client.timeout(WAIT).emit_with_ack("echo", 7) == 7
    sent = [p for (p,) in rec.all("packetCreate") if p.type is PacketType.MESSAGE]
    assert sent[-1].data == '20["echo",7]'  # the event, with ack id 0
    received = [p for (p,) in rec.all("packet") if p.type is PacketType.MESSAGE]
    assert "30[7]" in [p.data for p in received]  # its ack
    await client.disconnect()
    reason, _ = await rec.expect("close")
    assert reason == "forced close"


# ---------------------------------------------------------------------------------------
# Options


async def test_try_all_transports(sio_server: ServerFactory, clients: list[AsyncClient]) -> None:
    server = await sio_server(options={"transports": ["websocket"]})
    client = AsyncClient(try_all_transports=True, reconnection=False)
    clients.append(client)
    await client.connect(server.url, wait_timeout=WAIT)  # polling refused, then WebSocket
    connection = await server.d.expect("connection")
    assert connection["transport"] == "websocket"
    assert client.io is not None
    assert client.io.engine is not None
    assert client.io.engine.transport == "websocket"


@pytest.mark.parametrize("remember", [True, False])
async def test_remember_upgrade(
    sio_server: ServerFactory, clients: list[AsyncClient], remember: bool
) -> None:
    server = await sio_server()
    rec = Recorder()
    client = AsyncClient(remember_upgrade=remember, reconnection_delay=0.05, randomization_factor=0)
    clients.append(client)
    listen(client, rec, "reconnect")
    await client.connect(server.url, wait_timeout=WAIT)
    assert (await server.d.expect("connection"))["handshake_transport"] == "polling"
    await server.d.expect("upgrade")
    await server.command("close_transport", nsp="/", to=client.id)
    await rec.expect("reconnect")
    again = await server.d.expect("connection")
    # with remember_upgrade, straight to the WebSocket that worked
    assert again["handshake_transport"] == ("websocket" if remember else "polling")


@pytest.mark.parametrize("mode", ["polling", "websocket"])
async def test_request_options(
    sio_server: ServerFactory, clients: list[AsyncClient], mode: str
) -> None:
    server = await sio_server()
    websocket = mode == "websocket"

    async def handshake(**kw: Any) -> dict[str, Any]:
        client = await connect(clients, server, reconnection=False, **options(mode, **kw))
        event = await server.d.expect("connection")
        await client.disconnect()
        return event

    # timestamp_requests: polling stamps by default, the WebSocket only when asked
    default = await handshake()
    assert ("t" in default["query_keys"]) is not websocket
    stamped = await handshake(timestamp_requests=True)
    assert "t" in stamped["query_keys"]
    unstamped = await handshake(timestamp_requests=False)
    assert "t" not in unstamped["query_keys"]
    # transport_options: headers and query of one transport only
    only_ws = {"websocket": {"headers": {"x-only-ws": "1"}, "query": {"wsq": "1"}}}
    event = await handshake(transport_options=only_ws)
    assert ("x-only-ws" in event["headers"]) is websocket
    assert ("wsq" in event["query_keys"]) is websocket
    if websocket:  # protocols: the subprotocols offered on the WebSocket
        event = await handshake(protocols=["chat-v1", "chat-v2"])
        assert event["headers"]["sec-websocket-protocol"] == "chat-v1, chat-v2"


async def test_auto_connect(sio_server: ServerFactory, clients: list[AsyncClient]) -> None:
    server = await sio_server()
    client = await connect(clients, server)
    await server.d.expect("connection", nsp="/")
    chat = client.socket("/chat")  # joins at once, as io.socket() in JS
    chat.connect()  # already connecting: no second CONNECT
    await asyncio.wait_for(chat.wait_connected(), WAIT)
    await server.d.expect("connection", nsp="/chat")
    assert await chat.timeout(WAIT).emit_with_ack("echo", 1) == 1
    assert len(server.d.seen("connection", nsp="/chat")) == 1
    manual = await connect(clients, server, force_new=True, auto_connect=False)
    other = manual.socket("/other")
    assert not other.active
    other.connect()
    await asyncio.wait_for(other.wait_connected(), WAIT)
    assert (await server.d.expect("connection", nsp="/other"))["id"] == other.id


async def test_reconnection_settings_change_at_run_time(
    sio_server: ServerFactory, clients: list[AsyncClient]
) -> None:
    server = await sio_server()
    rec = Recorder()
    client = await connect(clients, server, reconnection_delay=0.05, randomization_factor=0)
    listen(client, rec, "disconnect", "reconnect_attempt")
    manager = client.io
    assert manager is not None
    manager.reconnection_delay = 0.2  # as manager.reconnectionDelay(200) in JS
    manager.reconnection_delay_max = 0.4
    manager.randomization_factor = 0.25
    manager.reconnection_attempts = 7
    assert (manager.backoff.min, manager.backoff.max, manager.backoff.jitter) == (0.2, 0.4, 0.25)
    assert manager.reconnection_attempts == 7
    with pytest.raises(ValueError, match="reconnection_delay"):
        manager.reconnection_delay = -1
    manager.reconnection = False  # as manager.reconnection(false)
    await server.command("close_transport", nsp="/", to=client.id)
    assert (await rec.expect("disconnect"))[0] == "transport close"
    await asyncio.wait_for(client.wait(), WAIT)  # no reconnection is coming
    assert not manager.reconnecting
    assert rec.count("reconnect_attempt") == 0


async def test_reconnection_attempts_zero_means_no_limit(
    sio_server: ServerFactory, clients: list[AsyncClient]
) -> None:
    # socket.io-client reads reconnectionAttempts with `|| Infinity`, reconnectionDelay
    # with `|| 1000`: 0 is the default, not "never" or "at once".
    server = await sio_server()
    rec = Recorder()
    client = AsyncClient(
        reconnection_attempts=0,
        reconnection_delay=0.02,
        reconnection_delay_max=0.02,
        randomization_factor=0,
    )
    clients.append(client)
    listen(client, rec, "reconnect_attempt", "reconnect_failed", "reconnect")
    await client.connect(server.url, wait_timeout=WAIT)
    assert client.io is not None
    assert client.io.reconnection_attempts == math.inf
    await server.kill()
    for n in (1, 2, 3, 4):
        assert await rec.expect("reconnect_attempt") == (n,)
    await server.restart()
    await rec.expect("reconnect")
    assert rec.count("reconnect_failed") == 0


# ---------------------------------------------------------------------------------------
# Handlers


async def test_handler_arity_follows_javascript(
    sio_server: ServerFactory, clients: list[AsyncClient], caplog: pytest.LogCaptureFixture
) -> None:
    server = await sio_server()
    rec = Recorder()
    client = await connect(clients, server)
    await server.d.expect("connection")

    @client.on("three")
    async def first_only(a: int) -> None:  # declares fewer: gets the first ones, as in JS
        rec.record("first_only", a)

    @client.on("three")
    def all_of_them(*args: Any) -> None:
        rec.record("all", *args)

    @client.on("three")
    async def with_default(a: int, b: int, c: int, d: int = 4) -> None:
        rec.record("with_default", a, b, c, d)

    @client.on("three")
    async def keyword_only(a: int, *, flag: bool = True) -> None:
        rec.record("keyword_only", a, flag)

    @client.on("ask")
    async def answer(question: str) -> str:  # the ack, from a handler declaring less
        return question.upper()

    @client.on("two")
    async def too_many(a: int, b: int, c: int) -> None:  # declares more: a TypeError
        rec.record("too_many", a, b, c)

    @client.on("after")
    async def after() -> None:
        rec.record("after")

    await server.command("emit", nsp="/", to=client.id, event="three", args=[1, 2, 3])
    assert await rec.expect("first_only") == (1,)
    assert await rec.expect("all") == (1, 2, 3)
    assert await rec.expect("with_default") == (1, 2, 3, 4)
    assert await rec.expect("keyword_only") == (1, True)
    await server.command(
        "emit", nsp="/", to=client.id, event="ask", args=["why", "extra", 1], ref=1
    )
    assert (await server.d.expect("client_ack", ref=1))["args"] == ["WHY"]
    with caplog.at_level(logging.ERROR, logger="socketwire.client"):
        await server.command("emit", nsp="/", to=client.id, event="two", args=[1, 2])
        await server.command("emit", nsp="/", to=client.id, event="after", args=[])
        await rec.expect("after")  # the failure is logged, the next events go on
    assert rec.count("too_many") == 0
    assert any(
        "'two' handler" in r.getMessage() and r.exc_info and r.exc_info[0] is TypeError
        for r in caplog.records
    )


# ---------------------------------------------------------------------------------------
# SimpleClient and the sync facades


async def test_simple_client(sio_server: ServerFactory) -> None:
    server = await sio_server()
    async with SimpleClient(reconnection=False) as client:
        await client.connect(server.url)
        connection = await server.d.expect("connection")
        assert client.id == connection["id"]
        assert client.sid == client.id
        assert client.connected
        assert client.transport in ("polling", "websocket")
        await client.emit("hello", 1, BINARY)
        [message] = await messages(server, 1, name="hello")
        assert message["acked"] is False
        assert await client.call("echo", "x", 2, timeout=WAIT) == ("x", 2)
        for n in range(3):
            await server.command(
                "emit", nsp="/", to=client.id, event="news", args=to_js([n, BINARY])
            )
        for n in range(3):  # kept in order until asked for
            assert await client.receive(timeout=WAIT) == ("news", [n, BINARY])
        with pytest.raises(TimeoutError):
            await client.receive(timeout=0.1)
        await server.command("emit", nsp="/", to=client.id, event="last", args=[])
        await server.command("disconnect", nsp="/", to=client.id)
        name, args = await client.receive(timeout=WAIT)  # what came before the end
        assert (name, args) == ("last", [])
        with pytest.raises(DisconnectedError):
            await client.receive(timeout=WAIT)
        assert not client.connected


async def test_simple_client_bounds_its_queue(sio_server: ServerFactory) -> None:
    server = await sio_server()
    async with SimpleClient(max_queued_events=2, reconnection=False) as client:
        await client.connect(server.url)
        await server.d.expect("connection")
        for n in range(3):  # one more than it keeps: the client leaves
            await server.command("emit", nsp="/", to=client.id, event="n", args=[n])
        disconnected = await server.d.expect("disconnect")
        assert disconnected["reason"] == "client namespace disconnect"
        assert await client.receive(timeout=WAIT) == ("n", [0])
        assert await client.receive(timeout=WAIT) == ("n", [1])
        with pytest.raises(DisconnectedError, match="receive queue full"):
            await client.receive(timeout=WAIT)


async def test_sync_simple_client(sio_server: ServerFactory) -> None:
    server = await sio_server()

    def script() -> tuple[Any, ...]:
        with SyncSimpleClient(reconnection=False) as client:
            client.connect(server.url)
            reply = client.call("echo", b"\x01", timeout=WAIT)
            client.emit("ready")
            event = client.receive(timeout=WAIT)
            with pytest.raises(TimeoutError):
                client.receive(timeout=0.1)
            return reply, event, client.connected

    task = asyncio.create_task(asyncio.to_thread(script))
    [message] = await messages(server, 1, name="ready")
    await server.command("emit", nsp="/", to=message["id"], event="go", args=[1])
    reply, event, connected = await asyncio.wait_for(task, WAIT)
    assert reply == b"\x01"
    assert event == ("go", [1])
    assert connected


async def test_sync_client_listeners(sio_server: ServerFactory) -> None:
    server = await sio_server()
    got: list[tuple[Any, ...]] = []
    done = threading.Event()

    def run() -> None:
        with SyncClient(reconnection=False) as client:

            def any_listener(event: str, *args: Any) -> None:
                got.append(("any", event, *args))

            def first(event: str, *args: Any) -> None:
                got.append(("first", event, *args))

            client.on_any(any_listener)
            client.prepend_any(first)
            assert client.listeners_any() == [first, any_listener]
            client.once("tick", lambda n: got.append(("once", n)))
            client.on_any_outgoing(lambda event, *args: got.append(("out", event)))
            client.prepend_any_outgoing(lambda event, *args: got.append(("out-first", event)))
            assert len(client.listeners_any_outgoing()) == 2
            client.on("tick", lambda n: done.set() if n == 2 else None)
            client.connect(server.url, wait_timeout=WAIT)
            client.emit("ready")
            assert done.wait(WAIT)
            client.off_any(first)
            client.off_any_outgoing()
            assert client.listeners_any() == [any_listener]
            assert client.listeners_any_outgoing() == []

    task = asyncio.create_task(asyncio.to_thread(run))
    [message] = await messages(server, 1, name="ready")
    for n in (1, 2):
        await server.command("emit", nsp="/", to=message["id"], event="tick", args=[n])
    await asyncio.wait_for(task, WAIT)
    assert ("once", 1) in got
    assert ("once", 2) not in got
    assert got.index(("first", "tick", 1)) < got.index(("any", "tick", 1))
    assert got.index(("out-first", "ready")) < got.index(("out", "ready"))
