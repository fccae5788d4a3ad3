"""python-socketio's official examples, ported to socketwire (examples/python_socketio/),
against socketwire's client and python-socketio's own AsyncClient: the same scenario with
both. The ported clients run against the ported servers, and the Flask example's page runs
in headless Chromium, its Flask route and its Socket.IO events on one port.

Each test loads a fresh copy of the example module (its globals are the example's state)
and serves its ``app`` under uvicorn in this event loop.
"""

from __future__ import annotations

import asyncio
import importlib.util
import itertools
import sys
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
import socketio

from conftest import WAIT, http_request, start_uvicorn, wait_until
from socketwire import AsyncClient

pytestmark = pytest.mark.integration

EXAMPLES = Path(__file__).resolve().parents[2] / "examples" / "python_socketio"
_count = itertools.count()


def load(name: str) -> ModuleType:
    """A fresh copy of ``examples/python_socketio/<name>.py``."""
    unique = f"ported_{name}_{next(_count)}"
    spec = importlib.util.spec_from_file_location(unique, EXAMPLES / f"{name}.py")
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[unique] = module  # Flask finds its templates through it
    spec.loader.exec_module(module)
    return module


@pytest.fixture
async def serve() -> AsyncIterator[Callable[[ModuleType], Awaitable[str]]]:
    """``await serve(module) -> url``: the module's ``app`` under uvicorn, until teardown."""
    stops: list[tuple[ModuleType, Callable[[], Awaitable[None]]]] = []

    async def start(module: ModuleType) -> str:
        port, stop = await start_uvicorn(module.app)
        stops.append((module, stop))
        return f"http://127.0.0.1:{port}"

    yield start
    for module, stop in reversed(stops):
        background = getattr(module, "background", None)
        if background is not None:
            background.cancel()
        await stop()


class Peer:
    """One client of either library, collecting ``my_response`` events."""

    def __init__(self, kind: str) -> None:
        self.kind = kind
        self.responses: asyncio.Queue[Any] = asyncio.Queue()
        self.disconnected: asyncio.Queue[str] = asyncio.Queue()
        if kind == "socketwire":
            self.client: Any = AsyncClient(reconnection=False)
        else:
            self.client = socketio.AsyncClient(reconnection=False)
        self.client.on("my_response", self._response)
        self.client.on("disconnect", self._disconnect)

    async def _response(self, message: Any) -> None:
        await self.responses.put(message["data"])

    async def _disconnect(self, reason: Any = None) -> None:
        await self.disconnected.put(str(reason))

    async def connect(self, url: str, transports: list[str]) -> None:
        await self.client.connect(url, transports=transports, wait_timeout=WAIT)

    async def emit(self, event: str, data: Any = None) -> None:
        args = () if data is None else (data,)
        if self.kind == "socketwire":
            self.client.emit(event, *args)
        else:
            await self.client.emit(event, *args)

    async def next(self) -> Any:
        return await asyncio.wait_for(self.responses.get(), WAIT)

    async def close(self) -> None:
        await self.client.disconnect()


@pytest.fixture
async def peers() -> AsyncIterator[Callable[[str], Peer]]:
    made: list[Peer] = []

    def make(kind: str) -> Peer:
        peer = Peer(kind)
        made.append(peer)
        return peer

    yield make
    for peer in made:
        await peer.close()


# (example, the names of its "close room" and "disconnect request" events)
SERVERS = [
    pytest.param("asgi_app", "close room", "disconnect request", id="asgi_app"),
    pytest.param("asgi_app_classes", "close room", "disconnect request", id="classes"),
    pytest.param("flask_app", "close_room", "disconnect_request", id="flask_app"),
]
CLIENTS = [
    pytest.param("socketwire", ["polling", "websocket"], id="socketwire"),
    pytest.param("python-socketio", ["polling", "websocket"], id="python-socketio"),
    pytest.param("python-socketio", ["websocket"], id="python-socketio-websocket"),
]


@pytest.mark.parametrize(("example", "close_room", "disconnect_request"), SERVERS)
@pytest.mark.parametrize(("kind", "transports"), CLIENTS)
async def test_the_ported_server_with_either_client(
    serve: Any,
    peers: Any,
    example: str,
    close_room: str,
    disconnect_request: str,
    kind: str,
    transports: list[str],
) -> None:
    module = load(example)
    module.BACKGROUND_INTERVAL = 3600.0  # not during this scenario
    url = await serve(module)
    alice, bob = peers(kind), peers(kind)

    await alice.connect(url, transports)
    assert await alice.next() == "Connected"
    await alice.emit("my_event", {"data": "hi"})
    assert await alice.next() == "hi"

    await bob.connect(url, transports)
    assert await bob.next() == "Connected"
    await alice.emit("my_broadcast_event", {"data": "everyone"})
    assert await alice.next() == "everyone"
    assert await bob.next() == "everyone"

    await bob.emit("join", {"room": "r"})
    assert await bob.next() == "Entered room: r"
    await alice.emit("my_room_event", {"room": "r", "data": "to r"})
    assert await bob.next() == "to r"
    await alice.emit(close_room, {"room": "r"})
    assert await bob.next() == "Room r is closing."
    # the room is closed: what is sent to it now reaches nobody
    await alice.emit("my_room_event", {"room": "r", "data": "after closing"})
    await alice.emit("my_event", {"data": "sync"})
    assert await alice.next() == "sync"  # alice's events ran in order: the room emit is done
    await bob.emit("my_event", {"data": "marker"})
    assert await bob.next() == "marker"
    assert alice.responses.empty()

    await bob.emit(disconnect_request)
    # each library's name for it (socket.io-client's, and python-socketio's)
    expected = "io server disconnect" if kind == "socketwire" else "server disconnect"
    assert await asyncio.wait_for(bob.disconnected.get(), WAIT) == expected


async def test_the_background_task(serve: Any, peers: Any) -> None:
    module = load("asgi_app")
    module.BACKGROUND_INTERVAL = 0.05
    url = await serve(module)
    peer = peers("python-socketio")
    await peer.connect(url, ["websocket"])
    assert await peer.next() == "Connected"
    assert await peer.next() == "Server generated event"


async def test_fiddle_with_the_ported_client_and_python_socketio(
    serve: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    url = await serve(load("fiddle"))
    client_module = load("fiddle_client")
    client = client_module.client
    await client.connect(url, auth={"token": "my-token"}, wait_timeout=WAIT)
    printed = ""

    def saw_hello() -> bool:
        nonlocal printed
        printed += capsys.readouterr().out
        return "1 2 {'hello': 'you'}" in printed

    await wait_until(saw_hello, "the ported client to print hello's arguments")
    assert "connected to server" in printed
    assert "connected auth={'token': 'my-token'}" in printed
    await client.disconnect()

    # python-socketio's client, as its own fiddle_client.py uses it
    sio = socketio.AsyncClient(reconnection=False)
    hello: asyncio.Future[tuple[Any, ...]] = asyncio.get_running_loop().create_future()

    @sio.event
    def hello_(*args: Any) -> None:  # renamed below: `hello` is the future
        hello.set_result(args)

    sio.on("hello", hello_)
    await sio.connect(url, auth={"token": "my-token"}, wait_timeout=WAIT)
    try:
        assert await asyncio.wait_for(hello, WAIT) == (1, 2, {"hello": "you"})
    finally:
        await sio.disconnect()


async def test_latency_with_the_ported_client_and_python_socketio(serve: Any) -> None:
    url = await serve(load("latency"))
    client_module = load("latency_client")
    client_module.PAUSE = 0.01
    await asyncio.wait_for(client_module.main(url, pings=3), WAIT)
    assert len(client_module.latencies) == 3

    sio = socketio.AsyncClient(reconnection=False)
    pongs: asyncio.Queue[None] = asyncio.Queue()
    sio.on("pong_from_server", lambda: pongs.put_nowait(None))
    await sio.connect(url, transports=["websocket"], wait_timeout=WAIT)
    try:
        for _ in range(3):
            await sio.emit("ping_from_client")
            await asyncio.wait_for(pongs.get(), WAIT)
    finally:
        await sio.disconnect()


async def test_flask_routes_and_events_share_one_port(serve: Any) -> None:
    module = load("flask_app")
    url = await serve(module)
    port = int(url.rsplit(":", 1)[1])
    page = await http_request(port, "GET", "/")
    assert page.status == 200
    assert page.header("content-type") == "text/html; charset=utf-8"
    assert "a ported python-socketio example" in page.text
    missing = await http_request(port, "GET", "/nowhere")
    assert missing.status == 404
    assert "<title>404 Not Found</title>" in missing.text  # Flask's own answer
