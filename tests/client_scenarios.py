"""Client scenarios shared by the Node and the socketwire server suites.

Each ``test_*`` function here is one scenario of :class:`socketwire.client.AsyncClient` (or
``SyncClient``) against a scenario server: a process that records what it sees as JSON
events on stdout and takes commands on stdin (the protocol is in the header of
tests/interop/js/sio_server.js; tests/integration/sio_server.py speaks it for socketwire's
own Server). A test module imports these functions and provides the ``sio_server`` fixture,
``await sio_server(parser="json", recovery=False, options={...}) -> ScenarioServer``:

* tests/interop/test_client_vs_node.py: the official socket.io 4.8.4 server;
* tests/integration/test_client_vs_socketwire.py: ``socketwire.Server`` (native plumbing,
  and the ASGI app under uvicorn for a subset).

So every scenario has one implementation, and a difference between the servers shows as a
test that passes in one suite and fails in the other.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import threading
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from pathlib import Path
from typing import Any

import pytest

from conftest import NodeDriver, from_js, to_js
from socketwire import Ack
from socketwire.client import (
    AckTimeoutError,
    AsyncClient,
    BufferFullError,
    ConnectError,
    DisconnectDescription,
    ReadyState,
    SyncClient,
    TransportError,
)
from socketwire.socketio import ProtocolError

__all__ = [
    "MODES",
    "Recorder",
    "ScenarioServer",
    "ServerFactory",
    "clients",
    "from_js",
    "scenario_servers",
    "test_auth_callable_is_called_on_each_attempt",
    "test_connect_error_carries_the_middleware_data",
    "test_emit_after_a_frozen_loop_is_buffered",
    "test_handler_with_an_ack_answers_later_or_never",
    "test_managers_are_shared_unless_forced_new",
    "test_namespaces_events_binary_and_acks",
    "test_no_reconnection_after_client_disconnect",
    "test_no_reconnection_after_server_disconnect",
    "test_plain_handler_emits_from_its_worker_thread",
    "test_reconnect_failed_after_the_attempts",
    "test_recovery_after_a_forced_transport_close",
    "test_retries_when_the_server_drops_the_first_ack",
    "test_server_killed_and_restarted",
    "test_slow_plain_handler_does_not_block_heartbeats",
    "test_stray_and_malformed_packets",
    "test_sync_client",
    "test_timeout_ack_and_volatile",
    "to_js",
]

HOST = "127.0.0.1"
WAIT = 5.0
BINARY = bytes(range(256))

#: (transports, upgrade) by mode
MODES: dict[str, tuple[list[str], bool]] = {
    "polling": (["polling"], False),
    "websocket": (["websocket"], False),
    "upgrade": (["polling", "websocket"], True),
}


# ---------------------------------------------------------------------------------------
# The scenario server process


class ScenarioServer:
    """One scenario server process (and its successors after :meth:`restart`).

    Args:
        argv: the command, without the JSON arguments (appended).
        cwd: its working directory.
        args: the JSON arguments (``port`` is managed here).
        name: for failure messages.
    """

    def __init__(self, argv: Sequence[str], cwd: Path, args: dict[str, Any], name: str) -> None:
        self._argv = list(argv)
        self._cwd = cwd
        self.args = dict(args)
        self.name = name
        self.port = 0
        self.driver: NodeDriver | None = None
        self._generation = 0

    @property
    def url(self) -> str:
        """``http://127.0.0.1:<port>``."""
        return f"http://{HOST}:{self.port}"

    @property
    def d(self) -> NodeDriver:
        """The running driver (events and commands)."""
        assert self.driver is not None, "the server is not running"
        return self.driver

    async def start(self) -> None:
        """Start the server (on :attr:`port` when set) and wait until it listens."""
        proc = await asyncio.create_subprocess_exec(
            *self._argv,
            json.dumps({**self.args, "port": self.port}),
            cwd=str(self._cwd),
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
        )
        self._generation += 1
        self.driver = NodeDriver(proc, f"{self.name}#{self._generation}")
        listening = await self.driver.expect("listening")
        self.port = int(listening["port"])

    async def command(self, cmd: str, **fields: Any) -> None:
        """Run a command on the server and wait until it is done."""
        await self.d.command(cmd, **fields)

    async def kill(self) -> None:
        """Kill the server process (SIGKILL: connections drop without a close)."""
        driver = self.d
        driver.proc.kill()
        await asyncio.wait_for(driver.proc.wait(), WAIT)
        await asyncio.wait_for(asyncio.gather(driver._reader, driver._err_reader), WAIT)
        self.driver = None

    async def restart(self) -> None:
        """Start a new server process on the same port."""
        assert self.driver is None, "kill() first"
        await self.start()

    async def stop(self) -> int | None:
        """Stop the running server, if any; its exit code."""
        if self.driver is None:
            return None
        code = await self.driver.stop()
        self.driver = None
        return code


ServerFactory = Callable[..., Awaitable[ScenarioServer]]


async def scenario_servers(
    argv: Sequence[str], cwd: Path, name: str, **fixed: Any
) -> AsyncIterator[ServerFactory]:
    """The body of a ``sio_server`` fixture: ``await factory(**args) -> ScenarioServer``
    for the command ``argv`` (``fixed`` is added to every server's arguments).

    Every server is stopped at teardown; teardown fails if one did not exit cleanly.
    """
    servers: list[ScenarioServer] = []

    async def start(**args: Any) -> ScenarioServer:
        server = ScenarioServer(argv, cwd, {**fixed, **args}, name)
        servers.append(server)
        await server.start()
        return server

    yield start

    problems = []
    for server in servers:
        driver = server.driver
        code = await server.stop()
        if code not in (None, 0):
            assert driver is not None
            problems.append(f"{driver.name} exited with {code}\n{driver.describe()}")
    if problems:
        pytest.fail("\n".join(problems))


# ---------------------------------------------------------------------------------------
# Client-side helpers


class Recorder:
    """Records ``(event, args)`` from client handlers; :meth:`expect` consumes in order."""

    def __init__(self) -> None:
        self.items: list[tuple[str, tuple[Any, ...]]] = []
        self._consumed: set[int] = set()
        self._changed = asyncio.Event()
        self._loop = asyncio.get_running_loop()

    def record(self, event: str, *args: Any) -> None:
        """Record from the loop or from a worker thread (plain handlers)."""
        if threading.get_ident() == threading.main_thread().ident or self._in_loop():
            self._add(event, args)
        else:
            self._loop.call_soon_threadsafe(self._add, event, args)

    def _in_loop(self) -> bool:
        try:
            return asyncio.get_running_loop() is self._loop
        except RuntimeError:
            return False

    def _add(self, event: str, args: tuple[Any, ...]) -> None:
        self.items.append((event, args))
        self._changed.set()

    def handler(self, event: str) -> Any:
        """A plain handler recording ``event``."""

        def handle(*args: Any) -> None:
            self.record(event, *args)

        return handle

    def count(self, event: str) -> int:
        """How many ``event`` so far (consumed or not)."""
        return sum(1 for name, _ in self.items if name == event)

    def all(self, event: str) -> list[tuple[Any, ...]]:
        """The arguments of every ``event`` so far."""
        return [args for name, args in self.items if name == event]

    async def expect(self, event: str, within: float = WAIT) -> tuple[Any, ...]:
        """Wait for, and consume, the first unconsumed ``event``; its arguments."""
        try:
            async with asyncio.timeout(within):
                while True:
                    for i, (name, args) in enumerate(self.items):
                        if i not in self._consumed and name == event:
                            self._consumed.add(i)
                            return args
                    self._changed.clear()
                    await self._changed.wait()
        except TimeoutError:
            pytest.fail(f"no {event!r} within {within} s; recorded: {self.items}")


def listen(client: AsyncClient, recorder: Recorder, *events: str) -> None:
    """Record these client (or Manager) events."""
    for event in events:
        client.on(event, recorder.handler(event))


def options(mode: str, **extra: Any) -> dict[str, Any]:
    """AsyncClient options for a transport mode."""
    transports, upgrade = MODES[mode]
    return {"transports": transports, "upgrade": upgrade, **extra}


@pytest.fixture
async def clients() -> AsyncIterator[list[AsyncClient]]:
    """Clients registered here are disconnected at teardown."""
    made: list[AsyncClient] = []
    yield made
    for client in made:
        await asyncio.wait_for(client.disconnect(), WAIT)


async def connect(
    made: list[AsyncClient], server: ScenarioServer, namespaces: list[str] | None = None, **kw: Any
) -> AsyncClient:
    """A connected client (registered for teardown), with option ``kw``."""
    client = AsyncClient(**kw)
    made.append(client)
    await client.connect(server.url, namespaces=namespaces or ["/"], wait_timeout=WAIT)
    return client


async def messages(server: ScenarioServer, count: int, **fields: Any) -> list[dict[str, Any]]:
    """Wait for ``count`` "message" events matching ``fields``; return them in order."""
    return [await server.d.expect("message", **fields) for _ in range(count)]


# ---------------------------------------------------------------------------------------
# Events, acks, namespaces


@pytest.mark.parametrize("parser", ["json", "msgpack"])
@pytest.mark.parametrize("mode", list(MODES))
async def test_namespaces_events_binary_and_acks(
    sio_server: ServerFactory, clients: list[AsyncClient], mode: str, parser: str
) -> None:
    server = await sio_server(parser=parser)
    rec = Recorder()
    client = AsyncClient(parser=parser, **options(mode))
    clients.append(client)
    chat = client.socket("/chat")

    @client.on("question")
    async def question(*args: Any) -> Any:
        rec.record("question", *args)
        return ("answer", BINARY)

    @chat.on("news")
    def news(*args: Any) -> None:  # a plain handler (worker thread)
        rec.record("news", *args)

    client.on_any(lambda event, *args: rec.record("any", event, *args))
    client.on_any_outgoing(lambda event, *args: rec.record("out", event, *args))
    await client.connect(server.url, namespaces=["/", "/chat"], wait_timeout=WAIT)
    assert client.connected
    assert chat.connected
    first = await server.d.expect("connection")
    second = await server.d.expect("connection")
    assert {first["nsp"], second["nsp"]} == {"/", "/chat"}
    assert first["engine"] == second["engine"]  # one Engine.IO connection for both
    assert {first["id"], second["id"]} == {client.id, chat.id}
    if mode == "upgrade":
        await server.d.expect("upgrade", engine=first["engine"], transport="websocket")

    # client -> server, binary inside, acks
    payload = [1, "two", BINARY, {"nested": [b"\x00\xff", None, True]}]
    reply = await asyncio.wait_for(client.emit_with_ack("echo", *payload), WAIT)
    assert reply == tuple(payload)
    [message] = await messages(server, 1, nsp="/", name="echo")
    assert from_js(message["args"]) == payload
    assert message["acked"] is True
    assert await rec.expect("out") == ("echo", *payload)
    chat.emit("plain", b"bytes-only")
    [message] = await messages(server, 1, nsp="/chat", name="plain")
    assert from_js(message["args"]) == [b"bytes-only"]
    assert message["acked"] is False
    assert await chat.timeout(WAIT).emit_with_ack("solo") is None

    # server -> client, with an ack answered by the handler's return value
    await server.command(
        "emit", nsp="/", to=client.id, event="question", args=to_js([BINARY, 42]), ref=1
    )
    assert await rec.expect("any") == ("question", BINARY, 42)
    assert await rec.expect("question") == (BINARY, 42)
    answer = await server.d.expect("client_ack", ref=1)
    assert from_js(answer["args"]) == ["answer", BINARY]
    await server.command("emit", nsp="/chat", to=chat.id, event="news", args=to_js([{"b": b"1"}]))
    assert await rec.expect("news") == ({"b": b"1"},)
    assert rec.count("any") == 1  # catch-all of "/" only

    await client.disconnect()
    reasons = {(await server.d.expect("disconnect"))["reason"] for _ in range(2)}
    assert reasons == {"client namespace disconnect"}


@pytest.mark.parametrize("mode", ["polling", "websocket"])
async def test_handler_with_an_ack_answers_later_or_never(
    sio_server: ServerFactory, clients: list[AsyncClient], mode: str
) -> None:
    server = await sio_server()
    client = await connect(clients, server, **options(mode))
    handled: list[str] = []

    @client.on("question")
    async def question(how: str, ack: Ack) -> str:
        handled.append(how)
        if how == "task":
            asyncio.get_running_loop().call_later(0.01, ack, "from a task")
        elif how == "thread":
            threading.Thread(target=ack, args=("from a thread",)).start()
        elif how == "now":
            ack("now")
        return "a return value is not the ack"  # and "never" is never answered

    await server.command("emit", to=client.id, event="question", args=["never"], ref=1, timeout=300)
    for ref, how in enumerate(["task", "thread", "now"], start=2):
        await server.command("emit", to=client.id, event="question", args=[how], ref=ref)
    # the later questions were handled while "never" waited for its answer
    for ref, answer in enumerate(["from a task", "from a thread", "now"], start=2):
        assert (await server.d.expect("client_ack", ref=ref))["args"] == [answer]
    assert (await server.d.expect("client_ack", ref=1))["error"] == "operation has timed out"
    assert handled == ["never", "task", "thread", "now"]


@pytest.mark.parametrize("mode", list(MODES))
async def test_timeout_ack_and_volatile(
    sio_server: ServerFactory, clients: list[AsyncClient], mode: str
) -> None:
    server = await sio_server()
    client = await connect(clients, server, **options(mode))
    await server.command("drop_acks", count=1)
    started = time.monotonic()
    with pytest.raises(AckTimeoutError):
        await client.timeout(0.3).emit_with_ack("unanswered", 1)
    assert time.monotonic() - started >= 0.3
    await server.d.expect("dropped_ack", name="unanswered")
    # the next ack is answered again
    assert await client.timeout(WAIT).emit_with_ack("answered", 2) == 2
    # volatile emits go out while the transport is writable
    client.volatile.emit("fleeting", "v")
    [message] = await messages(server, 1, name="fleeting")
    assert message["args"] == ["v"]
    # ... and are dropped while it is busy (a POST or a WebSocket write in flight), as JS
    client.emit("busy", 3)
    client.volatile.emit("dropped-while-busy")
    assert await client.timeout(WAIT).emit_with_ack("after", 4) == 4
    names = [m["name"] for m in server.d.seen("message")]
    assert names[-3:] == ["fleeting", "busy", "after"]


@pytest.mark.parametrize("mode", list(MODES))
async def test_connect_error_carries_the_middleware_data(
    sio_server: ServerFactory, clients: list[AsyncClient], mode: str
) -> None:
    server = await sio_server()
    rec = Recorder()
    client = AsyncClient(reconnection_delay=0.05, **options(mode))
    clients.append(client)
    refused = client.socket("/refuse")
    refused.on("connect_error", rec.handler("connect_error"))
    listen(client, rec, "reconnect_attempt")
    with pytest.raises(ConnectError) as caught:
        await client.connect(
            server.url, namespaces=["/refuse"], auth={"user": "x"}, wait_timeout=WAIT
        )
    assert caught.value.message == "refused"
    assert caught.value.data == {"reason": "not allowed", "auth": {"user": "x"}}
    [error] = await rec.expect("connect_error")
    assert isinstance(error, ConnectError)
    assert error.data == caught.value.data
    assert not refused.active
    assert client.io is not None
    assert not client.io.reconnecting  # a refusal is final: no reconnection
    assert rec.count("reconnect_attempt") == 0
    assert not server.d.seen("connection")


@pytest.mark.parametrize("kind", ["plain", "async"])
async def test_auth_callable_is_called_on_each_attempt(
    sio_server: ServerFactory, clients: list[AsyncClient], kind: str
) -> None:
    server = await sio_server()
    counter = itertools.count(1)

    def plain_auth() -> dict[str, Any]:
        return {"attempt": next(counter)}

    async def async_auth() -> dict[str, Any]:
        return {"attempt": next(counter)}

    rec = Recorder()
    client = AsyncClient(
        reconnection_delay=0.05,
        randomization_factor=0,
        auth=plain_auth if kind == "plain" else async_auth,
    )
    clients.append(client)
    listen(client, rec, "connect", "reconnect")
    await client.connect(f"{server.url}/?room=r1", wait_timeout=WAIT)
    first = await server.d.expect("connection")
    assert first["auth"] == {"attempt": 1}
    assert first["query"] == {"room": "r1"}  # the URL's query goes to the server
    await server.command("close_transport", nsp="/")
    await rec.expect("reconnect")
    again = await server.d.expect("connection")
    assert again["auth"] == {"attempt": 2}
    assert again["query"] == {"room": "r1"}


async def test_managers_are_shared_unless_forced_new(
    sio_server: ServerFactory, clients: list[AsyncClient]
) -> None:
    server = await sio_server()
    one = await connect(clients, server, ["/"])
    two = await connect(clients, server, ["/chat"])
    three = await connect(clients, server, ["/"])  # "/" is taken in the shared Manager
    four = await connect(clients, server, ["/chat"], force_new=True)
    assert one.io is two.io
    assert three.io is not one.io
    assert four.io is not one.io
    engines = {}
    for _ in range(4):
        event = await server.d.expect("connection")
        engines[event["id"]] = event["engine"]
    assert engines[one.id] == engines[two.socket("/chat").id]
    assert engines[three.id] != engines[one.id]
    assert engines[four.socket("/chat").id] != engines[one.id]
    # leaving one namespace keeps the shared connection open for the other
    await one.disconnect()
    assert two.connected
    assert await two.socket("/chat").timeout(WAIT).emit_with_ack("still", 1) == 1


# ---------------------------------------------------------------------------------------
# Reconnection and buffering


@pytest.mark.parametrize("parser", ["json", "msgpack"])
@pytest.mark.parametrize("mode", list(MODES))
async def test_server_killed_and_restarted(
    sio_server: ServerFactory, clients: list[AsyncClient], mode: str, parser: str
) -> None:
    server = await sio_server(parser=parser)
    rec = Recorder()
    client = AsyncClient(
        parser=parser,
        reconnection_delay=0.1,
        reconnection_delay_max=0.2,
        max_buffered_packets=5,
        **options(mode),
    )
    clients.append(client)
    listen(client, rec, "connect", "disconnect", "reconnect_attempt", "reconnect")
    await client.connect(server.url, wait_timeout=WAIT)
    await rec.expect("connect")
    if mode == "upgrade":
        await server.d.expect("upgrade")
    await server.kill()
    reason, details = await rec.expect("disconnect")
    assert reason in ("transport close", "transport error")
    if reason == "transport error":  # JS's details: the TransportError
        assert isinstance(details, TransportError)
        assert details.message in ("xhr poll error", "xhr post error", "websocket error")
    else:
        assert details is None or isinstance(details, DisconnectDescription)
    assert not client.connected
    for i in range(5):
        client.emit("buffered", i, bytes([i]))
    client.volatile.emit("volatile-dropped")
    with pytest.raises(BufferFullError):
        client.emit("one-too-many")
    await server.restart()
    [attempt] = await rec.expect("reconnect", within=10)
    assert attempt >= 1
    assert rec.count("reconnect_attempt") >= 1
    await rec.expect("connect")
    received = await messages(server, 5)
    assert [from_js(m["args"]) for m in received] == [[i, bytes([i])] for i in range(5)]
    # once each, nothing else (the volatile and the rejected emits never arrive)
    assert await client.timeout(WAIT).emit_with_ack("marker") is None
    assert [m["name"] for m in server.d.seen("message")] == ["buffered"] * 5 + ["marker"]


async def test_reconnect_failed_after_the_attempts(
    sio_server: ServerFactory, clients: list[AsyncClient]
) -> None:
    server = await sio_server()
    rec = Recorder()
    client = AsyncClient(reconnection_delay=0.05, reconnection_attempts=2)
    clients.append(client)
    listen(client, rec, "reconnect_attempt", "reconnect_error", "reconnect_failed", "disconnect")
    await client.connect(server.url, wait_timeout=WAIT)
    await server.kill()
    await rec.expect("disconnect")
    assert await rec.expect("reconnect_attempt") == (1,)
    [error] = await rec.expect("reconnect_error")
    assert isinstance(error, ConnectError)
    assert await rec.expect("reconnect_attempt") == (2,)
    await rec.expect("reconnect_error")
    await rec.expect("reconnect_failed")
    await asyncio.wait_for(client.wait(), WAIT)
    assert client.io is not None
    assert not client.io.reconnecting
    assert rec.count("reconnect_attempt") == 2


@pytest.mark.parametrize("mode", list(MODES))
async def test_no_reconnection_after_client_disconnect(
    sio_server: ServerFactory, clients: list[AsyncClient], mode: str
) -> None:
    server = await sio_server()
    rec = Recorder()
    client = await connect(clients, server, reconnection_delay=0.05, **options(mode))
    listen(client, rec, "disconnect", "reconnect_attempt")
    waiter = asyncio.create_task(client.wait())
    await client.disconnect()
    assert await rec.expect("disconnect") == ("io client disconnect", None)
    await asyncio.wait_for(waiter, WAIT)
    assert client.io is not None
    assert client.io.ready_state is ReadyState.CLOSED
    assert not client.io.reconnecting
    assert (await server.d.expect("disconnect"))["reason"] == "client namespace disconnect"
    assert rec.count("reconnect_attempt") == 0


@pytest.mark.parametrize("mode", list(MODES))
async def test_no_reconnection_after_server_disconnect(
    sio_server: ServerFactory, clients: list[AsyncClient], mode: str
) -> None:
    server = await sio_server()
    rec = Recorder()
    client = await connect(clients, server, reconnection_delay=0.05, **options(mode))
    listen(client, rec, "disconnect", "reconnect_attempt")
    await server.command("disconnect", nsp="/")
    assert await rec.expect("disconnect") == ("io server disconnect", None)
    await asyncio.wait_for(client.wait(), WAIT)
    assert client.io is not None
    assert client.io.ready_state is ReadyState.CLOSED  # no namespace left: connection closed
    assert not client.io.reconnecting
    assert not client.main.active
    assert rec.count("reconnect_attempt") == 0


# ---------------------------------------------------------------------------------------
# Retries and recovery


@pytest.mark.parametrize("parser", ["json", "msgpack"])
@pytest.mark.parametrize("mode", list(MODES))
async def test_retries_when_the_server_drops_the_first_ack(
    sio_server: ServerFactory, clients: list[AsyncClient], mode: str, parser: str
) -> None:
    server = await sio_server(parser=parser)
    client = await connect(
        clients, server, parser=parser, retries=3, ack_timeout=0.3, **options(mode)
    )
    await server.command("drop_acks", count=1)

    async def second() -> None:
        client.emit("second", 2)

    # Tasks start in the order they were created: the emits are queued in this order.
    first = asyncio.create_task(client.emit_with_ack("first", 1))
    asyncio.create_task(second())  # noqa: RUF006 - done within the same loop iteration
    third = asyncio.create_task(client.emit_with_ack("third", b"\x03"))
    assert await asyncio.wait_for(first, WAIT) == 1
    assert await asyncio.wait_for(third, WAIT) == b"\x03"
    await server.d.expect("dropped_ack", name="first")
    received = await messages(server, 4)
    # at least once, in order: the first packet twice (its first ack was dropped)
    assert [m["name"] for m in received] == ["first", "first", "second", "third"]
    assert all(m["acked"] for m in received)


@pytest.mark.parametrize("parser", ["json", "msgpack"])
@pytest.mark.parametrize("mode", list(MODES))
async def test_recovery_after_a_forced_transport_close(
    sio_server: ServerFactory, clients: list[AsyncClient], mode: str, parser: str
) -> None:
    server = await sio_server(recovery=True, parser=parser)
    rec = Recorder()
    client = AsyncClient(
        reconnection_delay=0.3, randomization_factor=0, parser=parser, **options(mode)
    )
    clients.append(client)

    # Handlers that take exactly the arguments the server's application sent: the offset
    # the server appends for recovery never reaches them (nor the catch-all, with *args).
    @client.on("tick")
    async def tick(number: int) -> None:
        rec.record("tick", number)

    @client.on("news")
    def news(headline: str, body: Any) -> None:  # a plain handler, in a worker thread
        rec.record("news", headline, body)

    @client.on("bare")
    async def bare() -> None:
        rec.record("bare")

    @client.on("disconnect")
    async def disconnected(reason: str) -> None:
        rec.record("disconnect", reason)

    client.on_any(lambda event, *args: rec.record("any", event, *args))
    listen(client, rec, "connect")
    await client.connect(server.url, wait_timeout=WAIT)
    await rec.expect("connect")
    first = await server.d.expect("connection")
    assert not client.recovered
    if mode == "upgrade":
        await server.d.expect("upgrade")
    await server.command("emit", nsp="/", event="tick", args=[1])
    assert await rec.expect("tick") == (1,)
    assert await rec.expect("any") == ("tick", 1)
    # to one socket, a string last (what an offset looks like) and binary: all delivered
    await server.command(
        "emit", nsp="/", to=client.id, event="news", args=to_js(["headline", BINARY])
    )
    assert await rec.expect("news") == ("headline", BINARY)
    assert await rec.expect("any") == ("news", "headline", BINARY)
    await server.command("emit", nsp="/", event="bare", args=[])
    assert await rec.expect("bare") == ()
    assert await rec.expect("any") == ("bare",)
    await server.command("close_transport", nsp="/", to=client.id)
    assert await rec.expect("disconnect") == ("transport close",)
    await server.d.expect("disconnect", id=first["id"])
    await server.command("emit", nsp="/", event="tick", args=[2])
    await server.command("emit", nsp="/", event="news", args=["missed", "second string"])
    await rec.expect("connect")
    # the offsets kept by the client brought the session back, with what it missed
    again = await server.d.expect("connection")
    assert again["recovered"] is True
    assert again["id"] == first["id"]
    assert client.recovered
    assert client.id == first["id"]
    assert await rec.expect("tick") == (2,)
    assert await rec.expect("news") == ("missed", "second string")
    await server.command("emit", nsp="/", event="tick", args=[4])
    assert await rec.expect("tick") == (4,)
    assert rec.all("tick") == [(1,), (2,), (4,)]  # each once
    assert [args for args in rec.all("any") if args[0] == "tick"] == [
        ("tick", 1),
        ("tick", 2),
        ("tick", 4),
    ]


# ---------------------------------------------------------------------------------------
# Handlers and the sync client


@pytest.mark.parametrize("mode", ["polling", "websocket"])
async def test_emit_after_a_frozen_loop_is_buffered(
    sio_server: ServerFactory, clients: list[AsyncClient], mode: str
) -> None:
    # A loop that was blocked past the heartbeat deadline (a suspended laptop, in JS's
    # words) has not run its ping timer yet: JS's _hasPingExpired() makes the emit buffer
    # its packet for the next connection instead of writing it to a dead transport.
    server = await sio_server(options={"pingInterval": 200, "pingTimeout": 200})
    rec = Recorder()
    client = await connect(
        clients, server, reconnection_delay=0.05, randomization_factor=0, **options(mode)
    )
    listen(client, rec, "disconnect", "reconnect")
    assert await client.timeout(WAIT).emit_with_ack("before", 1) == 1
    time.sleep(1.0)  # noqa: ASYNC251 - the scenario itself: the loop is frozen
    client.emit("after-freeze", 2)
    assert client.main.send_buffer_size == 1
    assert await rec.expect("disconnect") == ("ping timeout", None)
    await rec.expect("reconnect")
    [message] = await messages(server, 1, name="after-freeze")
    assert message["args"] == [2]
    assert await client.timeout(WAIT).emit_with_ack("marker") is None
    names = [m["name"] for m in server.d.seen("message")]
    assert names.count("after-freeze") == 1


@pytest.mark.parametrize("mode", list(MODES))
async def test_slow_plain_handler_does_not_block_heartbeats(
    sio_server: ServerFactory, clients: list[AsyncClient], mode: str
) -> None:
    server = await sio_server(options={"pingInterval": 100, "pingTimeout": 200})
    rec = Recorder()
    client = await connect(clients, server, reconnection=False, **options(mode))
    listen(client, rec, "disconnect")
    ping_count = 0

    def on_ping() -> None:
        nonlocal ping_count
        ping_count += 1

    client.on("ping", on_ping)

    @client.on("slow")
    def slow(seconds: float) -> str:
        time.sleep(seconds)  # blocks its worker thread, not the loop
        return "done"

    await server.command("emit", nsp="/", to=client.id, event="slow", args=[1.0], ref=7)
    answer = await server.d.expect("client_ack", ref=7)
    assert answer["args"] == ["done"]
    assert client.connected
    assert rec.count("disconnect") == 0
    assert not server.d.seen("disconnect")
    assert ping_count >= 5  # about ten pings came and were answered meanwhile


@pytest.mark.parametrize("mode", list(MODES))
async def test_sync_client(sio_server: ServerFactory, mode: str) -> None:
    server = await sio_server()
    got: list[tuple[Any, ...]] = []
    arrived = threading.Event()

    def build() -> SyncClient:
        client = SyncClient(reconnection=False, **options(mode))

        @client.on("hello")
        def hello(*args: Any) -> str:
            got.append(args)
            arrived.set()
            return "hi"

        client.connect(server.url, namespaces=["/", "/chat"], wait_timeout=WAIT)
        return client

    client = await asyncio.to_thread(build)
    try:
        assert client.connected
        reply = await asyncio.to_thread(client.timeout(WAIT).emit_with_ack, "echo", b"\x01", 2)
        assert reply == (b"\x01", 2)
        chat = client.socket("/chat")
        await asyncio.to_thread(chat.emit, "in-chat", 3)
        [message] = await messages(server, 1, nsp="/chat", name="in-chat")
        assert message["args"] == [3]
        await server.command("emit", nsp="/", to=client.id, event="hello", args=[1], ref=2)
        assert (await server.d.expect("client_ack", ref=2))["args"] == ["hi"]
        assert await asyncio.to_thread(arrived.wait, WAIT)
        assert got == [(1,)]
        await asyncio.to_thread(client.disconnect)
        assert await asyncio.to_thread(client.wait, WAIT)
        assert not client.connected
    finally:
        await asyncio.to_thread(client.close)


async def test_plain_handler_emits_from_its_worker_thread(
    sio_server: ServerFactory, clients: list[AsyncClient]
) -> None:
    server = await sio_server()
    client = await connect(clients, server)
    threads: list[bool] = []

    @client.on("ping-me")
    def ping_me(value: int) -> None:
        threads.append(threading.current_thread() is threading.main_thread())
        client.emit("pong", value + 1)  # handed over to the event loop

    await server.command("emit", nsp="/", to=client.id, event="ping-me", args=[41])
    [message] = await messages(server, 1, name="pong")
    assert message["args"] == [42]
    assert threads == [False]


@pytest.mark.parametrize("mode", list(MODES))
async def test_stray_and_malformed_packets(
    sio_server: ServerFactory, clients: list[AsyncClient], mode: str
) -> None:
    server = await sio_server()
    rec = Recorder()
    client = AsyncClient(reconnection_delay=0.05, randomization_factor=0, **options(mode))
    clients.append(client)
    listen(client, rec, "connect", "disconnect", "reconnect", "stray")
    await client.connect(server.url, wait_timeout=WAIT)
    await rec.expect("connect")
    # An ack nobody waits for, an event of a namespace the client did not join: ignored.
    await server.command("raw", nsp="/", to=client.id, data='3/,99["late"]')
    await server.command("raw", nsp="/", to=client.id, data='2/elsewhere,["stray"]')
    assert await client.timeout(WAIT).emit_with_ack("still-fine", 1) == 1
    assert client.connected
    # A malformed packet: the connection is dropped ("parse error"), then comes back.
    await server.command("raw", nsp="/", to=client.id, data="2[not json")
    reason, details = await rec.expect("disconnect")
    assert reason == "parse error"
    assert isinstance(details, ProtocolError)  # JS's details: the decoder's error
    await rec.expect("reconnect")
    await rec.expect("connect")
    assert await client.timeout(WAIT).emit_with_ack("back", 2) == 2
    assert rec.count("stray") == 0
