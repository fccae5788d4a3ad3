"""socketwire's Socket.IO client against Socket.IO servers that misbehave.

The servers are small and scripted: socketwire's own Engine.IO server (so the Engine.IO
layer is sound) whose Socket.IO side sends crafted packets, or raw TCP servers for what an
Engine.IO server would not do (never answer, stop reading). Every case ends in a clean
error or a reconnection, within a bound, with the client's buffers bounded.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import json
import time
from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import asynccontextmanager
from typing import Any

import pytest

from socketwire.client import (
    AsyncClient,
    BufferFullError,
    ConnectError,
    ReadyState,
    TransportError,
)
from socketwire.engineio import CloseReason
from socketwire.engineio.client_session import Closed, MessageReceived
from socketwire.io.client_transports import EngineClient
from socketwire.io.engine import EngineServer, EngineSocket
from socketwire.io.native import NativeServer
from socketwire.socketio import ProtocolError

pytestmark = pytest.mark.integration

HOST = "127.0.0.1"
WAIT = 5.0
GOOD: list[str | bytes] = [
    '0{"sid":"good"}'
]  # Socket.IO packets (the server adds the Engine.IO "4")

#: The Socket.IO messages a scripted server sends for the client's n-th CONNECT (0-based).
Replies = Callable[[int], Sequence[str | bytes]]


class Scripted:
    """An Engine.IO server whose Socket.IO side answers each CONNECT with a script."""

    def __init__(self, replies: Replies) -> None:
        self.replies = replies
        self.connects = 0
        self.received: list[str | bytes] = []
        self.closes: list[str] = []
        self.changed = asyncio.Event()

    def on_connection(self, conn: EngineSocket) -> None:
        """The engine's connection callback."""

        def on_message(data: str | bytes) -> None:
            self.received.append(data)
            if isinstance(data, str) and data.startswith("0"):
                attempt = self.connects
                self.connects += 1
                for message in self.replies(attempt):
                    conn.send(message)
            self.changed.set()

        def on_close(reason: str) -> None:
            self.closes.append(reason)
            self.changed.set()

        conn.on_message = on_message
        conn.on_close = on_close

    async def until(self, predicate: Callable[[], bool], what: str) -> None:
        """Wait (bounded) until ``predicate()``."""
        try:
            async with asyncio.timeout(WAIT):
                while not predicate():
                    self.changed.clear()
                    await self.changed.wait()
        except TimeoutError:
            pytest.fail(f"server: no {what} within {WAIT} s")


@asynccontextmanager
async def scripted(replies: Replies, **engine_options: Any) -> AsyncIterator[tuple[str, Scripted]]:
    """Serve a :class:`Scripted` server on 127.0.0.1; yields its URL and the script."""
    script = Scripted(replies)
    engine = EngineServer(path="/socket.io/", **engine_options)
    engine.on_connection(script.on_connection)
    server = NativeServer(engine, host=HOST, port=0)
    await server.start()
    try:
        yield f"http://{HOST}:{server.port}", script
    finally:
        await server.close()


class Events:
    """Client-side events, recorded in order, waited for with a bound."""

    def __init__(self, client: AsyncClient, *names: str) -> None:
        self.items: list[tuple[str, tuple[Any, ...]]] = []
        self._changed = asyncio.Event()
        for name in names:
            client.on(name, self._recorder(name))

    def _recorder(self, name: str) -> Callable[..., Any]:
        async def record(*args: Any) -> None:
            self.items.append((name, args))
            self._changed.set()

        return record

    def all(self, name: str) -> list[tuple[Any, ...]]:
        """The arguments of every ``name`` so far."""
        return [args for event, args in self.items if event == name]

    async def expect(self, name: str, count: int = 1) -> tuple[Any, ...]:
        """Wait until ``name`` happened ``count`` times; the arguments of the last one."""
        try:
            async with asyncio.timeout(WAIT):
                while len(self.all(name)) < count:
                    self._changed.clear()
                    await self._changed.wait()
        except TimeoutError:
            pytest.fail(f"client: no {name!r} (x{count}) within {WAIT} s; got {self.items}")
        return self.all(name)[count - 1]


@pytest.fixture
async def clients() -> AsyncIterator[list[AsyncClient]]:
    """Clients registered here are disconnected at teardown (bounded)."""
    made: list[AsyncClient] = []
    yield made
    for client in made:
        await asyncio.wait_for(client.disconnect(), WAIT)


def new_client(made: list[AsyncClient], **options: Any) -> AsyncClient:
    """A client that reconnects fast, registered for teardown."""
    options = {"reconnection_delay": 0.05, "randomization_factor": 0, **options}
    client = AsyncClient(force_new=True, **options)
    made.append(client)
    return client


TRANSPORTS = {"polling": ["polling"], "websocket": ["websocket"]}


# ---------------------------------------------------------------------------------------
# Malformed packets and attachment bombs: "parse error", then a reconnection


PLACEHOLDER = '{"_placeholder":true,"num":0}'
MALFORMED: dict[str, list[str | bytes]] = {
    "bad json": ["2[not json"],
    "unknown type": ["9"],
    "event not an array": ['2{"a":1}'],
    "event without a name": ["2[]"],
    "reserved event name": ['2["connect"]'],
    "garbage after the payload": ['2["x"]]'],
    "binary count missing": [f'5-["x",{PLACEHOLDER}]'],
    "attachment bomb": [f'59999999999-["x",{PLACEHOLDER}]'],
    "too many attachments": [f'511-["x",{PLACEHOLDER}]'],
    "attachment that never completes": [f'51-["x",{PLACEHOLDER}]', '2["next"]'],
    "stray attachment": [b"\x00\x01"],
    "ack id too long": ["3" + "9" * 40 + '["x"]'],
}


@pytest.mark.parametrize("transport", list(TRANSPORTS))
@pytest.mark.parametrize("name", list(MALFORMED))
async def test_malformed_packet_is_a_parse_error_then_a_reconnection(
    clients: list[AsyncClient], name: str, transport: str
) -> None:
    def replies(attempt: int) -> list[str | bytes]:
        # The first connection gets the bad packet right after CONNECT; the next is fine.
        return [f'0{{"sid":"s{attempt}"}}', *MALFORMED[name]] if attempt == 0 else GOOD

    async with scripted(replies) as (url, server):
        client = new_client(clients, transports=TRANSPORTS[transport])
        events = Events(client, "connect", "disconnect", "reconnect", "next", "x")
        await client.connect(url, wait_timeout=WAIT)
        reason, details = await events.expect("disconnect")
        assert reason == "parse error"
        assert isinstance(details, ProtocolError)  # JS's details: the decoder's error
        await events.expect("reconnect")
        await events.expect("connect", 2)
        assert client.connected
        assert client.id == "good"
        assert server.connects == 2
        assert events.all("x") == []  # nothing of the bad packet reached a handler
        assert events.all("next") == []


async def test_oversized_message_is_refused_by_the_client_limit(
    clients: list[AsyncClient],
) -> None:
    big = '2["big","' + "x" * 5000 + '"]'

    def replies(attempt: int) -> list[str | bytes]:
        return ['0{"sid":"first"}', big] if attempt == 0 else GOOD

    for transport in TRANSPORTS.values():
        async with scripted(replies) as (url, _):
            client = new_client(clients, transports=transport, max_message_size=1000)
            events = Events(client, "connect", "disconnect", "big")
            await client.connect(url, wait_timeout=WAIT)
            reason, details = await events.expect("disconnect")
            assert reason == "transport error"
            assert isinstance(details, TransportError)
            # the polling body's bound (twice max_message_size) or the message's
            assert details.message in ("xhr poll error", "websocket error")
            assert "bytes" in details.description
            await events.expect("connect", 2)
            assert client.id == "good"
            assert events.all("big") == []
            await client.disconnect()


async def test_oversized_attachment_is_refused(clients: list[AsyncClient]) -> None:
    def replies(attempt: int) -> list[str | bytes]:
        if attempt:
            return GOOD
        return ['0{"sid":"first"}', f'51-["blob",{PLACEHOLDER}]', bytes(4000)]

    async with scripted(replies) as (url, _):
        client = new_client(clients, transports=["websocket"], max_message_size=1000)
        events = Events(client, "connect", "disconnect", "blob")
        await client.connect(url, wait_timeout=WAIT)
        reason, details = await events.expect("disconnect")
        assert reason == "transport error"
        assert isinstance(details, TransportError)
        assert details.message == "websocket error"
        await events.expect("connect", 2)
        assert events.all("blob") == []


# ---------------------------------------------------------------------------------------
# CONNECT_ERROR with odd data

CONNECT_ERRORS: dict[str, tuple[str, str | None, Any]] = {
    # name: (the reply, the ConnectError message or None for a parse error, unused)
    "a string": ('4"just text"', "just text", None),
    "a list": ("4[1,2]", None, None),  # socket.io-parser: isObject() is false for arrays
    "a number as message": ('4{"message":5}', "5", None),
    "no message": ('4{"nomessage":true}', "None", None),
    "deep data": ('4{"message":"no","data":{"deep":[1,[2,{"x":null}]]}}', "no", None),
    "no payload": ("4", None, None),
    "a bare number": ("45", None, None),
}


@pytest.mark.parametrize("name", list(CONNECT_ERRORS))
async def test_connect_error_with_odd_data(clients: list[AsyncClient], name: str) -> None:
    reply, message, _ = CONNECT_ERRORS[name]

    def replies(attempt: int) -> list[str | bytes]:
        return [reply] if attempt == 0 else GOOD

    async with scripted(replies) as (url, server):
        client = new_client(clients)
        events = Events(client, "connect", "connect_error", "disconnect", "reconnect_attempt")
        started = time.monotonic()
        if message is not None:
            # a refusal: connect() fails at once, and no reconnection follows
            with pytest.raises(ConnectError) as caught:
                await client.connect(url, wait_timeout=WAIT)
            assert caught.value.message == message
            if name == "deep data":
                assert caught.value.data == {"deep": [1, [2, {"x": None}]]}
            assert time.monotonic() - started < WAIT
            assert not client.main.active
            assert client.io is not None
            assert not client.io.reconnecting
            assert server.connects == 1
        else:
            # not a valid CONNECT_ERROR (socket.io-parser refuses it too): a parse error and
            # the connection is dropped: connect() raises, as after any failed attempt ...
            with pytest.raises(ConnectError, match="parse error") as caught:
                await client.connect(url, wait_timeout=WAIT)
            assert isinstance(caught.value.__cause__, ProtocolError)
            assert events.all("reconnect_attempt") == []
            # ... and with retry the next attempt succeeds
            await client.connect(url, wait_timeout=WAIT, retry=True)
            assert client.id == "good"
            assert server.connects == 2


# ---------------------------------------------------------------------------------------
# Handshakes that never come


@asynccontextmanager
async def silent_server() -> AsyncIterator[tuple[str, list[int]]]:
    """Accepts TCP connections, reads, never answers; yields its URL and accept count."""
    accepted: list[int] = []
    writers: list[asyncio.StreamWriter] = []

    async def silent(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        accepted.append(1)
        writers.append(writer)
        await reader.read()

    server = await asyncio.start_server(silent, HOST, 0)
    try:
        yield f"http://{HOST}:{server.sockets[0].getsockname()[1]}", accepted
    finally:
        server.close()
        for writer in writers:
            writer.close()
        await server.wait_closed()


@pytest.mark.parametrize("transport", list(TRANSPORTS))
async def test_engine_handshake_that_never_comes(
    clients: list[AsyncClient], transport: str
) -> None:
    async with silent_server() as (url, accepted):
        client = new_client(
            clients, transports=TRANSPORTS[transport], timeout=0.3, reconnection_attempts=2
        )
        events = Events(client, "reconnect_attempt", "reconnect_error", "reconnect_failed")
        # by default the first attempt that times out is the answer
        with pytest.raises(ConnectError) as caught:
            await client.connect(url, wait_timeout=WAIT)
        assert caught.value.message == "timeout"  # socket.io-client's Error("timeout")
        assert len(accepted) == 1
        assert events.all("reconnect_attempt") == []
        # with retry, the attempts go on until reconnection_attempts ran out
        accepted.clear()
        started = time.monotonic()
        with pytest.raises(ConnectError):
            await client.connect(url, wait_timeout=WAIT, retry=True)
        elapsed = time.monotonic() - started
        assert 0.9 <= elapsed < WAIT  # three attempts of 0.3 s each, then it gives up
        await events.expect("reconnect_failed")
        assert len(events.all("reconnect_attempt")) == 2
        assert len(accepted) == 3
        assert client.io is not None
        assert client.io.ready_state is ReadyState.CLOSED
        assert not client.io.reconnecting


async def test_connect_reply_that_never_comes(clients: list[AsyncClient]) -> None:
    async with scripted(lambda attempt: []) as (url, server):
        client = new_client(clients)
        started = time.monotonic()
        with pytest.raises(ConnectError, match=r"not connected within 0\.5 s"):
            await client.connect(url, wait_timeout=0.5)
        assert time.monotonic() - started < WAIT
        # the client gave up: its connection is closed on both sides
        await server.until(lambda: len(server.closes) == 1, "close")
        assert client.io is not None
        assert client.io.ready_state is ReadyState.CLOSED
        assert not client.main.active


# ---------------------------------------------------------------------------------------
# A server that stops reading: the client's outgoing memory stays bounded

_WS_GUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"
_OPEN = "0" + json.dumps(
    {"sid": "s", "upgrades": [], "pingInterval": 60000, "pingTimeout": 60000, "maxPayload": 10**6}
)


def _text_frame(text: str) -> bytes:
    data = text.encode()
    assert len(data) < 126
    return bytes([0x81, len(data)]) + data


@asynccontextmanager
async def deaf_websocket_server() -> AsyncIterator[tuple[str, list[int]]]:
    """Accepts WebSocket connections, sends the Engine.IO open and Socket.IO CONNECT
    packets, then never reads again (the TCP window fills up)."""
    accepted: list[int] = []
    writers: list[asyncio.StreamWriter] = []

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        accepted.append(1)
        writers.append(writer)
        head = (await reader.readuntil(b"\r\n\r\n")).decode("latin-1")
        key = next(
            line.split(":", 1)[1].strip()
            for line in head.split("\r\n")
            if line.lower().startswith("sec-websocket-key:")
        )
        accept = base64.b64encode(hashlib.sha1((key + _WS_GUID).encode()).digest()).decode()
        writer.write(
            b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n"
            b"Connection: Upgrade\r\nSec-WebSocket-Accept: " + accept.encode() + b"\r\n\r\n"
        )
        writer.write(_text_frame(_OPEN) + _text_frame('40{"sid":"deaf"}'))
        transport = writer.transport
        assert isinstance(transport, asyncio.ReadTransport)
        transport.pause_reading()  # and never again

    server = await asyncio.start_server(handle, HOST, 0)
    try:
        yield f"http://{HOST}:{server.sockets[0].getsockname()[1]}", accepted
    finally:
        server.close()
        for writer in writers:
            writer.transport.abort()
        await server.wait_closed()


async def test_server_that_stops_reading(clients: list[AsyncClient]) -> None:
    limit = 256 * 1024
    async with deaf_websocket_server() as (url, accepted):
        client = new_client(
            clients,
            transports=["websocket"],
            reconnection=False,
            max_buffered_bytes=limit,
            max_buffered_packets=10,
        )
        events = Events(client, "connect", "disconnect", "close")
        await client.connect(url, wait_timeout=WAIT)
        assert client.id == "deaf"
        engine = client.io.engine if client.io is not None else None
        assert engine is not None
        payload = "x" * 32 * 1024
        most = 0
        refused = False
        # Without a bound this would queue 256 MB; the kernel takes a few MB at most.
        for _ in range(8000):
            try:
                client.emit("flood", payload)
            except BufferFullError:
                refused = True
                break
            most = max(most, engine.buffered_amount)
            await asyncio.sleep(0)  # let the writer hand what it can to the kernel
        assert refused, "the client kept accepting emits"
        assert most <= limit
        assert (await events.expect("disconnect"))[0] == "transport error"
        reason, details = await events.expect("close")  # the Manager's event
        assert reason == "transport error"
        assert isinstance(details, TransportError)
        assert details.message == "send buffer full"
        assert client.main.send_buffer_size == 10  # then the send buffer's own bound
        assert len(accepted) == 1


async def test_events_not_read_by_the_application_are_bounded() -> None:
    # The Engine.IO client on its own, iterated over (no on_event): an application that
    # stops reading gets its connection dropped, not an endless queue.
    flood: list[str | bytes] = [f"2{i}" for i in range(50)]
    async with scripted(lambda attempt: flood) as (url, server):
        engine = EngineClient(max_queued_events=20)
        await asyncio.wait_for(
            engine.connect(url, path="/socket.io/", transports=["websocket"]), WAIT
        )
        engine.send("0")  # looks like a CONNECT: the script answers with the flood
        # Nobody reads: the bound closes the session (else this wait fails).
        await asyncio.wait_for(engine.wait_closed(), WAIT)
        events: list[object] = []
        async with asyncio.timeout(WAIT):
            async for event in engine:  # read only now
                events.append(event)
        closed = events[-1]
        assert isinstance(closed, Closed)
        assert closed.reason is CloseReason.TRANSPORT_ERROR
        assert closed.description == "event queue full: 20 events not read"
        assert len(events) <= 21
        assert 0 < len([e for e in events if isinstance(e, MessageReceived)]) < 50
        await server.until(lambda: len(server.closes) == 1, "close")


@asynccontextmanager
async def deaf_polling_server() -> AsyncIterator[str]:
    """A polling server that opens a session, connects "/", then never answers a POST (nor
    a poll) again; yields its URL."""
    writers: list[asyncio.StreamWriter] = []
    gets = 0
    posts = 0

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        nonlocal gets, posts
        writers.append(writer)
        try:
            while True:
                head = (await reader.readuntil(b"\r\n\r\n")).decode("latin-1")
                length = 0
                for line in head.split("\r\n")[1:]:
                    key, _, value = line.partition(":")
                    if key.strip().lower() == "content-length":
                        length = int(value)
                await reader.readexactly(length)
                if head.startswith("POST"):
                    posts += 1
                    body = b"ok" if posts == 1 else None  # the CONNECT only
                else:
                    gets += 1
                    body = {1: _OPEN.encode(), 2: b'40{"sid":"deaf"}'}.get(gets)
                if body is None:
                    await reader.read()  # hold the request until the client leaves
                    return
                writer.write(
                    b"HTTP/1.1 200 OK\r\nContent-Type: text/plain; charset=UTF-8\r\n"
                    + f"Content-Length: {len(body)}\r\n\r\n".encode()
                    + body
                )
                await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            writer.close()

    server = await asyncio.start_server(handle, HOST, 0)
    try:
        yield f"http://{HOST}:{server.sockets[0].getsockname()[1]}"
    finally:
        server.close()
        for writer in writers:
            writer.close()
        await server.wait_closed()


async def test_polling_server_that_stops_answering_posts(clients: list[AsyncClient]) -> None:
    limit = 256 * 1024
    async with deaf_polling_server() as url:
        client = new_client(
            clients,
            transports=["polling"],
            reconnection=False,
            max_buffered_bytes=limit,
            max_buffered_packets=10,
        )
        events = Events(client, "disconnect", "close")
        await client.connect(url, wait_timeout=WAIT)
        assert client.id == "deaf"
        payload = "x" * 32 * 1024
        refused = False
        for _ in range(1000):  # 32 MB without a bound
            try:
                client.emit("flood", payload)
            except BufferFullError:
                refused = True
                break
            await asyncio.sleep(0)
        assert refused, "the client kept accepting emits"
        assert (await events.expect("disconnect"))[0] == "transport error"
        reason, details = await events.expect("close")
        assert reason == "transport error"
        assert isinstance(details, TransportError)
        assert details.message == "send buffer full"
