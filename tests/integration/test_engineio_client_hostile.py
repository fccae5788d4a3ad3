"""socketwire's Engine.IO client against raw servers that misbehave.

A silent TCP server, HTTP servers that answer polling requests with malformed, oversized,
endless or refused payloads, and WebSocket servers that send garbage: every case ends in a
clean :class:`Closed` event (or :class:`EngineConnectionError` from ``connect``), within a
bound, with every connection released.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager

import pytest
from websockets.asyncio.server import ServerConnection, serve

from socketwire.engineio import CloseReason
from socketwire.engineio.client_session import Closed, MessageReceived
from socketwire.io.client_transports import EngineClient, EngineConnectionError

pytestmark = pytest.mark.integration

WAIT = 5.0
OPEN = "0" + json.dumps(
    {"sid": "s1", "upgrades": [], "pingInterval": 10000, "pingTimeout": 5000, "maxPayload": 1000}
)

#: Answers one request: (method, target, body) -> (status, body), or None to say nothing.
Responder = Callable[[str, str, bytes], Awaitable[tuple[int, bytes] | None]]


@asynccontextmanager
async def http_server(
    respond: Responder, writers: list[asyncio.StreamWriter] | None = None
) -> AsyncIterator[str]:
    """A minimal HTTP/1.1 keep-alive server on 127.0.0.1; yields its base URL.

    ``writers`` (if given) receives one entry per accepted TCP connection.
    """
    writers = [] if writers is None else writers

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writers.append(writer)
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                lines = head.decode("latin-1").split("\r\n")
                method, target, _ = lines[0].split(" ", 2)
                length = 0
                for line in lines[1:]:
                    key, _, value = line.partition(":")
                    if key.strip().lower() == "content-length":
                        length = int(value)
                body = await reader.readexactly(length)
                answer = await respond(method, target, body)
                if answer is None:
                    await reader.read()  # say nothing until the client leaves
                    return
                status, payload = answer
                writer.write(
                    f"HTTP/1.1 {status} X\r\nContent-Type: text/plain; charset=UTF-8\r\n"
                    f"Content-Length: {len(payload)}\r\n\r\n".encode()
                    + payload
                )
                await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            writer.close()

    server = await asyncio.start_server(handle, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.close()
        for writer in writers:
            writer.close()
        await server.wait_closed()


def polling_script(*bodies: bytes) -> Responder:
    """GETs get the open packet, then ``bodies`` one by one, then wait; POSTs get "ok"."""
    queue = [OPEN.encode(), *bodies]

    async def respond(method: str, target: str, body: bytes) -> tuple[int, bytes] | None:
        if method == "POST":
            return 200, b"ok"
        if queue:
            return 200, queue.pop(0)
        await asyncio.sleep(WAIT * 4)  # a long-poll with nothing to say; the test ends first
        return 200, b"6"

    return respond


async def run_until_closed(url: str, **options: object) -> tuple[list[object], Closed]:
    """Connect, collect events until Closed; return them and the Closed event."""
    events: list[object] = []
    client = EngineClient(on_event=events.append)
    await asyncio.wait_for(client.connect(url, **options), WAIT)  # type: ignore[arg-type]
    closed = await asyncio.wait_for(client.wait_closed(), WAIT)
    return events, closed


async def test_handshake_that_never_comes() -> None:
    accepted = asyncio.Event()
    writers: list[asyncio.StreamWriter] = []

    async def silent(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writers.append(writer)
        accepted.set()
        await reader.read()  # accept, read, never answer

    server = await asyncio.start_server(silent, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    try:
        for transports in (["polling"], ["websocket"]):
            accepted.clear()
            client = EngineClient()
            started = time.monotonic()
            with pytest.raises(EngineConnectionError) as info:
                await asyncio.wait_for(
                    client.connect(f"http://127.0.0.1:{port}", transports=transports, timeout=0.5),
                    WAIT,
                )
            assert accepted.is_set()
            assert 0.4 <= time.monotonic() - started < 0.5 + 2.0
            assert info.value.closed.reason is CloseReason.TRANSPORT_ERROR
            assert "timeout" in info.value.closed.description
            await asyncio.wait_for(client.wait_closed(), WAIT)
    finally:
        server.close()
        for writer in writers:
            writer.close()
        await server.wait_closed()


@pytest.mark.parametrize(
    ("first_body", "description"),
    [
        (b"9", "parse error"),
        (b"4hello", "parse error: expected an open packet"),
        (b'0{"sid": 1}', "parse error: handshake"),
        (b"0" + json.dumps({"sid": "s", "pingInterval": "1"}).encode(), "parse error"),
        (b"\xff\xfe", "parse error"),
    ],
)
async def test_malformed_handshake(first_body: bytes, description: str) -> None:
    async def respond(method: str, target: str, body: bytes) -> tuple[int, bytes] | None:
        return 200, first_body

    async with http_server(respond) as url:
        client = EngineClient()
        with pytest.raises(EngineConnectionError) as info:
            await asyncio.wait_for(client.connect(url, transports=["polling"]), WAIT)
        assert info.value.closed.reason is CloseReason.TRANSPORT_ERROR
        assert info.value.closed.description.startswith(description)
        await asyncio.wait_for(client.wait_closed(), WAIT)


@pytest.mark.parametrize("bad_body", [b"4ok\x1e7nope", b"b@@@", b"", b"\xc3\x28", OPEN.encode()])
async def test_malformed_payload_after_handshake(bad_body: bytes) -> None:
    posts: list[bytes] = []
    script = polling_script(b"4fine", bad_body)

    async def respond(method: str, target: str, body: bytes) -> tuple[int, bytes] | None:
        if method == "POST":
            posts.append(body)
        return await script(method, target, body)

    async with http_server(respond) as url:
        events, closed = await run_until_closed(url, transports=["polling"])
    assert MessageReceived("fine") in events
    # All or nothing: no message from the malformed payload is delivered.
    assert MessageReceived("ok") not in events
    assert closed.reason is CloseReason.TRANSPORT_ERROR
    assert closed.description.startswith("parse error")
    assert posts == [b"1"]  # the client told the server it is leaving


async def test_polling_reuses_its_connections() -> None:
    # HTTP/1.1 keep-alive: one connection for the GETs and one for the POSTs, however
    # many requests the session makes.
    connections: list[asyncio.StreamWriter] = []
    requests: list[str] = []
    bodies = [b"4m%d" % i for i in range(10)]
    script = polling_script(*bodies)

    async def respond(method: str, target: str, body: bytes) -> tuple[int, bytes] | None:
        requests.append(method)
        return await script(method, target, body)

    async with http_server(respond, connections) as url:
        received: list[object] = []
        done = asyncio.Event()

        def on_event(event: object) -> None:
            received.append(event)
            if isinstance(event, MessageReceived):
                client.send(event.data)  # echo: a POST per message, more or less
            if event == MessageReceived("m9"):
                done.set()

        client = EngineClient(on_event=on_event)
        await asyncio.wait_for(client.connect(url, transports=["polling"]), WAIT)
        await asyncio.wait_for(done.wait(), WAIT)
        await asyncio.wait_for(client.close(), WAIT)
    assert requests.count("GET") >= 11
    assert requests.count("POST") >= 2
    assert len(connections) <= 2


async def test_error_status_is_a_transport_error() -> None:
    async def respond(method: str, target: str, body: bytes) -> tuple[int, bytes] | None:
        if "sid=" not in target:
            return 200, OPEN.encode()
        return 400, b'{"code":1,"message":"Session ID unknown"}'

    async with http_server(respond) as url:
        _, closed = await run_until_closed(url, transports=["polling"])
    assert closed.reason is CloseReason.TRANSPORT_ERROR
    assert closed.description.startswith("xhr poll error: HTTP 400")
    assert closed.error is not None
    assert closed.error.message == "xhr poll error"  # engine.io-client's words
    assert "Session ID unknown" in closed.description


async def test_oversized_poll_body_is_refused() -> None:
    async with http_server(polling_script(b"4" + b"x" * 5000)) as url:
        events, closed = await run_until_closed(url, transports=["polling"], max_message_size=1000)
    assert closed.reason is CloseReason.TRANSPORT_ERROR
    assert "over 2000 bytes" in closed.description
    assert not [e for e in events if isinstance(e, MessageReceived)]


async def test_endless_poll_body_is_cut_off() -> None:
    # A chunked response that never ends: the client stops reading at its limit.
    sent = 0
    writers: list[asyncio.StreamWriter] = []

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        nonlocal sent
        writers.append(writer)
        await reader.readuntil(b"\r\n\r\n")
        writer.write(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n")
        writer.write(b"%x\r\n%s\r\n" % (len(OPEN), OPEN.encode()))
        try:
            chunk = b"x" * 4096
            while sent < 100_000_000:  # a bound for the test itself
                writer.write(b"%x\r\n%s\r\n" % (len(chunk), chunk))
                sent += len(chunk)
                await writer.drain()
        except ConnectionError:
            pass
        finally:
            writer.close()

    server = await asyncio.start_server(handle, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    try:
        client = EngineClient()
        with pytest.raises(EngineConnectionError) as info:
            await asyncio.wait_for(
                client.connect(
                    f"http://127.0.0.1:{port}", transports=["polling"], max_message_size=10_000
                ),
                WAIT,
            )
        assert "over 20000 bytes" in info.value.closed.description
        await asyncio.wait_for(client.wait_closed(), WAIT)
        assert sent < 10_000_000  # it stopped long before the test's own bound
    finally:
        server.close()
        for writer in writers:
            writer.close()
        await server.wait_closed()


@asynccontextmanager
async def ws_server(
    behave: Callable[[ServerConnection], Awaitable[None]],
) -> AsyncIterator[str]:
    """A WebSocket server on 127.0.0.1 running ``behave`` per connection; yields its URL."""
    async with serve(behave, "127.0.0.1", 0, max_size=None) as server:
        port = next(iter(server.sockets)).getsockname()[1]
        yield f"ws://127.0.0.1:{port}"


@pytest.mark.parametrize(
    ("messages", "description"),
    [
        (["9"], "parse error"),
        (["4before open"], "parse error: expected an open packet"),
        ([b"\x00binary open"], "parse error: expected an open packet"),
        ([OPEN, "4fine", "x"], "parse error"),
        ([OPEN, "4fine", "b!"], "parse error"),
        ([OPEN, "4fine", OPEN], "parse error: unexpected open packet"),
        ([OPEN, "4fine", "4" + "y" * 2000], "websocket error"),
    ],
)
async def test_hostile_websocket(messages: list[str | bytes], description: str) -> None:
    async def behave(ws: ServerConnection) -> None:
        for message in messages:
            await ws.send(message)
        await ws.wait_closed()

    async with ws_server(behave) as url:
        events: list[object] = []
        client = EngineClient(on_event=events.append)
        try:
            await asyncio.wait_for(
                client.connect(url, transports=["websocket"], max_message_size=1000), WAIT
            )
        except EngineConnectionError as exc:
            closed = exc.closed
            assert messages[0] != OPEN
        else:
            closed = await asyncio.wait_for(client.wait_closed(), WAIT)
            assert events[1] == MessageReceived("fine")
        await asyncio.wait_for(client.wait_closed(), WAIT)
    assert closed.reason is CloseReason.TRANSPORT_ERROR
    assert closed.description.startswith(description)
    assert events[-1] == closed


async def test_websocket_dropped_by_the_server() -> None:
    async def behave(ws: ServerConnection) -> None:
        await ws.send(OPEN)
        await ws.close(1001, "going away")

    async with ws_server(behave) as url:
        _, closed = await run_until_closed(url, transports=["websocket"])
    assert closed.reason is CloseReason.TRANSPORT_CLOSE


async def test_a_failing_handler_does_not_kill_the_transport() -> None:
    async def behave(ws: ServerConnection) -> None:
        await ws.send(OPEN)
        await ws.send("4a")
        await ws.send("4b")
        await ws.wait_closed()

    loop = asyncio.get_running_loop()
    reported: list[dict[str, object]] = []
    loop.set_exception_handler(lambda _loop, context: reported.append(context))
    received: list[object] = []
    got_b = asyncio.Event()

    def handler(event: object) -> None:
        received.append(event)
        if event == MessageReceived("a"):
            raise RuntimeError("handler bug")
        if event == MessageReceived("b"):
            got_b.set()

    try:
        async with ws_server(behave) as url:
            client = EngineClient(on_event=handler)
            await asyncio.wait_for(client.connect(url, transports=["websocket"]), WAIT)
            await asyncio.wait_for(got_b.wait(), WAIT)
            await asyncio.wait_for(client.close(), WAIT)
    finally:
        loop.set_exception_handler(None)
    assert [str(c.get("exception")) for c in reported] == ["handler bug"]
    assert received[-1] == Closed(CloseReason.FORCED_CLOSE, "")


async def test_api_misuse() -> None:
    client = EngineClient()
    with pytest.raises(RuntimeError):
        client.send("x")
    with pytest.raises(RuntimeError):
        await client.close()
    with pytest.raises(ValueError, match="unsupported URL"):
        await client.connect("ftp://127.0.0.1:1")
    with pytest.raises(ValueError, match="pigeon"):
        await client.connect("http://127.0.0.1:1", transports=["pigeon"])
