"""socketwire's Engine.IO client against the official ``engine.io`` server (6.6.12).

Each test runs tests/interop/js/eio_server.js (echoes every message, takes commands on
stdin) and drives :class:`socketwire.io.client_transports.EngineClient` against it.
"""

from __future__ import annotations

import asyncio
import base64
import shutil
import socket
import ssl
import subprocess
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any, TypeVar

import pytest

from conftest import NodeDriver, NodeFactory
from socketwire.engineio import CloseReason
from socketwire.engineio.client_session import (
    Closed,
    Event,
    MessageReceived,
    Opened,
    PingReceived,
    TransportName,
    Upgraded,
)
from socketwire.io.client_transports import EngineClient, EngineConnectionError

pytestmark = pytest.mark.interop

WAIT = 5.0
BINARY = bytes(range(256)) * 2
E = TypeVar("E", bound=Event)


class Recorder:
    """Collects a client's events; :meth:`expect` consumes them in order of arrival."""

    def __init__(self) -> None:
        self.events: list[Event] = []
        self._consumed: set[int] = set()
        self._changed = asyncio.Event()

    def __call__(self, event: Event) -> None:
        self.events.append(event)
        self._changed.set()

    async def expect(self, kind: type[E], within: float = WAIT) -> E:
        """Wait for, and consume, the first unconsumed event of type ``kind``."""
        async with asyncio.timeout(within):
            while True:
                for i, event in enumerate(self.events):
                    if i not in self._consumed and isinstance(event, kind):
                        self._consumed.add(i)
                        return event
                self._changed.clear()
                await self._changed.wait()

    def of(self, kind: type[E]) -> list[E]:
        """Every event of type ``kind`` so far."""
        return [e for e in self.events if isinstance(e, kind)]


ClientFactory = Callable[..., Awaitable[tuple[EngineClient, Recorder]]]


@pytest.fixture
async def connect() -> AsyncIterator[ClientFactory]:
    """``await connect(url, **options)`` -> connected client and its recorder; closed after."""
    clients: list[EngineClient] = []

    async def make(url: str, **options: Any) -> tuple[EngineClient, Recorder]:
        recorder = Recorder()
        client = EngineClient(on_event=recorder)
        clients.append(client)
        await client.connect(url, **options)
        return client, recorder

    yield make
    for client in clients:
        if client.state is not client.state.CLOSED:
            await asyncio.wait_for(client.close(), WAIT)
        await asyncio.wait_for(client.wait_closed(), WAIT)


async def start_server(node: NodeFactory, **options: Any) -> tuple[NodeDriver, str]:
    """Start eio_server.js with engine.io ``options``; return it and its URL."""
    server = await node("eio_server.js", {"options": options})
    listening = await server.expect("listening")
    return server, f"http://127.0.0.1:{listening['port']}"


async def exchange(client: EngineClient, recorder: Recorder, server: NodeDriver) -> None:
    """Text and binary both ways: echoes, then messages the server sends on its own."""
    client.send("hello é 🎉")
    client.send(BINARY)
    assert (await recorder.expect(MessageReceived)).data == "hello é 🎉"
    assert (await recorder.expect(MessageReceived)).data == BINARY
    await server.expect("message", binary=False, data="hello é 🎉")
    await server.expect("message", binary=True, data=base64.b64encode(BINARY).decode())
    await server.command("send", data="from server")
    await server.command("send", binary=base64.b64encode(b"\x00\xff").decode())
    assert (await recorder.expect(MessageReceived)).data == "from server"
    assert (await recorder.expect(MessageReceived)).data == b"\x00\xff"


async def test_polling_only(node: NodeFactory, connect: ClientFactory) -> None:
    server, url = await start_server(node, pingInterval=300, pingTimeout=1000)
    client, recorder = await connect(
        url + "/ignored/path?from=url",
        transports=["polling"],
        query={"extra": "1"},
        headers={"X-Socketwire-Test": "yes"},
    )
    opened = await recorder.expect(Opened)
    assert opened.handshake.sid == client.sid
    assert opened.handshake.upgrades == ()  # the server offers websocket; we do not use it
    assert (opened.handshake.ping_interval, opened.handshake.ping_timeout) == (300, 1000)
    connection = await server.expect("connection", sid=client.sid, transport="polling")
    assert connection["query"]["from"] == "url"
    assert connection["query"]["extra"] == "1"
    assert connection["query"]["EIO"] == "4"
    assert connection["header"] == "yes"
    await exchange(client, recorder, server)
    # The heartbeat works: pings come and are answered (the server would close otherwise).
    await recorder.expect(PingReceived)
    await recorder.expect(PingReceived)
    assert client.transport is TransportName.POLLING
    assert not server.seen("close")


async def test_websocket_only(node: NodeFactory, connect: ClientFactory) -> None:
    server, url = await start_server(node, pingInterval=300, pingTimeout=1000)
    client, recorder = await connect(
        url.replace("http:", "ws:"),
        transports=["websocket"],
        headers={"X-Socketwire-Test": "ws"},
    )
    connection = await server.expect("connection", sid=client.sid, transport="websocket")
    assert connection["header"] == "ws"
    await exchange(client, recorder, server)
    await recorder.expect(PingReceived)
    await recorder.expect(PingReceived)
    assert client.transport is TransportName.WEBSOCKET


async def test_upgrade_keeps_every_message_in_order(
    node: NodeFactory, connect: ClientFactory
) -> None:
    server, url = await start_server(node, pingInterval=300, pingTimeout=1000)
    client, recorder = await connect(url)
    assert client.transport is TransportName.POLLING
    # Messages sent before, during and after the upgrade all arrive, in order.
    for i in range(30):
        client.send(f"m{i}")
        await asyncio.sleep(0)  # spread them over the upgrade's steps
    await recorder.expect(Upgraded)
    await server.expect("upgrade", sid=client.sid, transport="websocket")
    for i in range(30, 40):
        client.send(f"m{i}")
    echoed = [(await recorder.expect(MessageReceived)).data for _ in range(40)]
    assert echoed == [f"m{i}" for i in range(40)]
    assert client.transport is TransportName.WEBSOCKET
    await exchange(client, recorder, server)
    await recorder.expect(PingReceived)


async def test_polling_posts_respect_max_payload(node: NodeFactory, connect: ClientFactory) -> None:
    # The server answers 413 (and closes) to a POST body over maxHttpBufferSize: the
    # client must split its buffer into several POSTs.
    server, url = await start_server(node, maxHttpBufferSize=1000)
    client, recorder = await connect(url, transports=["polling"])
    assert (await recorder.expect(Opened)).handshake.max_payload == 1000
    messages = [f"{i:03d}" + "x" * 296 for i in range(12)]
    for message in messages:
        client.send(message)
    received = [(await recorder.expect(MessageReceived)).data for _ in messages]
    assert received == messages
    assert not server.seen("close")


async def test_server_that_stops_pinging_is_detected(
    node: NodeFactory, connect: ClientFactory
) -> None:
    for transports in (["polling"], ["websocket"]):
        server, url = await start_server(node, pingInterval=200, pingTimeout=300)
        _client, recorder = await connect(url, transports=transports)
        await recorder.expect(PingReceived)
        await server.command("stop_pinging")
        stopped = time.monotonic()
        closed = await recorder.expect(Closed, within=WAIT)
        elapsed = time.monotonic() - stopped
        assert closed.reason is CloseReason.PING_TIMEOUT
        # The last ping came at most pingInterval (0.2 s) before the command; the deadline
        # is pingInterval + pingTimeout (0.5 s) after it. 1 s of slack for a busy machine.
        assert 0.5 - 0.2 - 0.1 <= elapsed <= 0.5 + 1.0, elapsed


async def test_server_initiated_close(node: NodeFactory, connect: ClientFactory) -> None:
    for transports in (["polling"], ["websocket"]):
        server, url = await start_server(node)
        client, recorder = await connect(url, transports=transports)
        await server.command("close")
        closed = await recorder.expect(Closed)
        assert closed.reason is CloseReason.TRANSPORT_CLOSE
        assert await asyncio.wait_for(client.wait_closed(), WAIT) == closed
        assert client.sid is None
        await server.expect("close", reason="forced close")


async def test_client_close(node: NodeFactory, connect: ClientFactory) -> None:
    for transports in (["polling"], ["websocket"], ["polling", "websocket"]):
        server, url = await start_server(node)
        client, recorder = await connect(url, transports=transports)
        if len(transports) == 2:
            await recorder.expect(Upgraded)
        sid = client.sid
        client.send("last words")
        closed = await asyncio.wait_for(client.close(), WAIT)
        assert closed == Closed(CloseReason.FORCED_CLOSE, "")
        # The buffered message went out before the close, and the server saw the close.
        await server.expect("message", sid=sid, data="last words")
        await server.expect("close", sid=sid, reason="transport close")
        assert client.send("too late") is False


async def test_oversized_message_from_server(node: NodeFactory, connect: ClientFactory) -> None:
    for transports in (["polling"], ["websocket"]):
        server, url = await start_server(node)
        _client, recorder = await connect(url, transports=transports, max_message_size=1000)
        await server.command("send", data="y" * 1000)
        assert (await recorder.expect(MessageReceived)).data == "y" * 1000
        await server.command("send", data="z" * 5000)
        closed = await recorder.expect(Closed)
        assert closed.reason is CloseReason.TRANSPORT_ERROR
        assert not recorder.of(MessageReceived)[1:]
        await server.expect("close")


@pytest.mark.parametrize("transports", [["polling"], ["websocket"]])
async def test_connection_refused(transports: list[str]) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    # Nothing listens on the port now: the connection is refused at once.
    client = EngineClient()
    with pytest.raises(EngineConnectionError) as info:
        await asyncio.wait_for(
            client.connect(f"http://127.0.0.1:{port}", transports=transports), WAIT
        )
    assert info.value.closed.reason is CloseReason.TRANSPORT_ERROR
    events = [event async for event in client]
    assert events == [info.value.closed]
    await asyncio.wait_for(client.wait_closed(), WAIT)


@pytest.fixture
def certificate(tmp_path: Path) -> tuple[Path, Path]:
    """A self-signed certificate for 127.0.0.1: (key file, certificate file)."""
    openssl = shutil.which("openssl")
    if openssl is None:
        pytest.skip("openssl is missing")
    key, cert = tmp_path / "key.pem", tmp_path / "cert.pem"
    subprocess.run(
        [openssl, "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
         "-keyout", str(key), "-out", str(cert), "-subj", "/CN=127.0.0.1",
         "-addext", "subjectAltName=IP:127.0.0.1"],
        check=True,
        capture_output=True,
        timeout=60,
    )  # fmt: skip
    return key, cert


async def test_tls_polling_then_websocket(
    node: NodeFactory, connect: ClientFactory, certificate: tuple[Path, Path]
) -> None:
    key, cert = certificate
    server = await node("eio_server.js", {"tls": {"key": str(key), "cert": str(cert)}})
    port = (await server.expect("listening"))["port"]
    trusted = ssl.create_default_context(cafile=str(cert))
    client, recorder = await connect(f"https://127.0.0.1:{port}", ssl=trusted)
    await recorder.expect(Upgraded)
    await server.expect("upgrade", sid=client.sid, transport="websocket")
    await exchange(client, recorder, server)
    # The same server, without trusting its certificate: refused by both transports.
    for transports in (["polling"], ["websocket"]):
        untrusting = EngineClient()
        with pytest.raises(EngineConnectionError, match="CERTIFICATE_VERIFY_FAILED"):
            await asyncio.wait_for(
                untrusting.connect(f"wss://127.0.0.1:{port}", transports=transports), WAIT
            )
        await asyncio.wait_for(untrusting.wait_closed(), WAIT)
