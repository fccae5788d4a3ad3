"""The plumbing contract (socketwire.io.http), one suite over every plumbing.

Each test serves a small HttpApp (see _plumbing_helpers) with the native server, the ASGI
app under uvicorn (httptools and h11 parsers) and the aiohttp integration, over real
sockets, so every plumbing is held to one behaviour. Where a plumbing differs, the test says
how; what only one plumbing has lives in test_<plumbing>_plumbing.py.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import AsyncIterator
from dataclasses import dataclass

import pytest
from _plumbing_helpers import (
    BODY_LIMIT,
    PLUMBINGS,
    PlumbingApp,
    open_raw,
    read_eof,
    read_response,
    request_bytes,
    serve,
    ws_url,
)
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed, InvalidStatus

pytestmark = pytest.mark.integration

WAIT = 5.0
#: The plumbings that close a connection as soon as they refused its request; aiohttp
#: closes after its lingering close (discarding what the client still sends) instead, and
#: says so with ``Connection: close``.
CLOSE_AT_ONCE = ("native", "asgi-httptools", "asgi-h11")
#: The logger each plumbing reports an application's exception to.
LOGGERS = {
    "native": "socketwire.native",
    "asgi-httptools": "socketwire.asgi",
    "asgi-h11": "socketwire.asgi",
    "aiohttp": "socketwire.aiohttp",
}


@dataclass
class Served:
    """A PlumbingApp served by one plumbing."""

    plumbing: str
    port: int
    app: PlumbingApp

    async def assert_closes(
        self, reader: asyncio.StreamReader, response_headers: dict[str, str]
    ) -> None:
        """The plumbing ends the connection after a refused request."""
        if self.plumbing in CLOSE_AT_ONCE:
            assert await read_eof(reader) == b""
        else:
            assert response_headers["connection"] == "close"


@pytest.fixture(params=PLUMBINGS)
async def served(request: pytest.FixtureRequest) -> AsyncIterator[Served]:
    app = PlumbingApp()
    async with serve(request.param, app) as port:
        yield Served(request.param, port, app)


# HTTP


async def test_request_fields(served: Served) -> None:
    async with open_raw(served.port) as (reader, writer):
        writer.write(request_bytes("GET", "/app/info?EIO=4&transport=polling&EIO=3&sp=a%20b"))
        response = await read_response(reader)
    assert response.status == 200
    info = json.loads(response.body)
    assert info["method"] == "GET"
    assert info["path"] == "/app/info"
    assert info["raw_path"] == "/app/info?EIO=4&transport=polling&EIO=3&sp=a%20b"
    assert info["query"] == {"EIO": "4", "transport": "polling", "sp": "a b"}
    assert info["host"] == "127.0.0.1"
    assert info["secure"] is False
    assert info["remote"][0] == "127.0.0.1"


async def test_keep_alive_and_pipelining(served: Served) -> None:
    async with open_raw(served.port) as (reader, writer):
        writer.write(request_bytes("POST", "/app/echo", body=b"one"))
        first = await read_response(reader)
        writer.write(
            request_bytes("POST", "/app/echo", body=b"two")
            + request_bytes("POST", "/app/echo", body=b"three")
        )
        second = await read_response(reader)
        third = await read_response(reader)
    assert [first.body, second.body, third.body] == [b"one", b"two", b"three"]
    assert first.headers["content-length"] == "3"


async def test_expect_100_continue_and_chunked(served: Served) -> None:
    async with open_raw(served.port) as (reader, writer):
        writer.write(
            b"POST /app/echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n"
            b"Expect: 100-continue\r\n\r\n"
        )
        async with asyncio.timeout(WAIT):
            interim = await reader.readuntil(b"\r\n\r\n")
        assert interim.startswith(b"HTTP/1.1 100 Continue\r\n")
        writer.write(b"5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n")
        response = await read_response(reader)
    assert (response.status, response.body) == (200, b"hello world")


async def test_content_length_over_limit_413_and_close(served: Served) -> None:
    async with open_raw(served.port) as (reader, writer):
        # Only the head is sent: the server must answer from Content-Length alone.
        writer.write(
            b"POST /app/echo HTTP/1.1\r\nHost: x\r\nContent-Length: %d\r\n\r\n" % (BODY_LIMIT + 1)
        )
        response = await read_response(reader)
        assert response.status == 413
        assert response.headers["connection"] == "close"
        await served.assert_closes(reader, response.headers)


@pytest.mark.parametrize("served", CLOSE_AT_ONCE, indirect=True)
async def test_413_reaches_a_client_still_sending_its_body(served: Served) -> None:
    # The server refuses from Content-Length and closes while megabytes are still in flight:
    # it must not reset the connection before the client has read the 413.
    body = b"x" * (4 << 20)
    async with open_raw(served.port) as (reader, writer):
        writer.write(request_bytes("POST", "/app/echo", body=body))
        response = await read_response(reader)
        assert response.status == 413
        if served.plumbing == "native":
            # (uvicorn may reset the connection after the 413 while the body still comes)
            assert await read_eof(reader) == b""


async def test_chunked_body_over_limit_413_and_close(served: Served) -> None:
    chunk = b"x" * 600
    async with open_raw(served.port) as (reader, writer):
        writer.write(b"POST /app/echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n")
        writer.write(b"%x\r\n%s\r\n%x\r\n%s\r\n" % (len(chunk), chunk, len(chunk), chunk))
        response = await read_response(reader)
        assert response.status == 413
        await served.assert_closes(reader, response.headers)


async def test_body_timeout_answers_then_closes(served: Served) -> None:
    async with open_raw(served.port) as (reader, writer):
        writer.write(b"POST /app/echo HTTP/1.1\r\nHost: x\r\nContent-Length: 10\r\n\r\nabc")
        response = await read_response(reader)
        assert response.status == 408
        assert served.app.body_errors == ["timeout"]
        await served.assert_closes(reader, response.headers)


async def test_app_exception_500_and_keeps_serving(
    served: Served, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.ERROR, logger=LOGGERS[served.plumbing]):
        async with open_raw(served.port) as (reader, writer):
            writer.write(request_bytes("GET", "/app/boom"))
            assert (await read_response(reader)).status == 500
            writer.write(request_bytes("GET", "/app/info"))
            assert (await read_response(reader)).status == 200
    assert any("boom" in str(record.exc_info) for record in caplog.records)
    async with open_raw(served.port) as (reader, writer):
        writer.write(request_bytes("GET", "/app/info"))
        assert (await read_response(reader)).status == 200


@pytest.mark.parametrize("served", CLOSE_AT_ONCE, indirect=True)
async def test_client_disconnect_wakes_wait_disconnected(served: Served) -> None:
    # (aiohttp: see test_aiohttp_plumbing.py, which also covers its handler cancellation)
    async with open_raw(served.port) as (_reader, writer):
        writer.write(request_bytes("GET", "/app/wait"))
        await asyncio.wait_for(served.app.waiting.wait(), WAIT)
    await asyncio.wait_for(served.app.disconnected.wait(), WAIT)


# WebSocket


async def test_websocket_echo_text_and_binary(served: Served) -> None:
    async with connect(ws_url(served.port)) as ws:
        assert ws.response is not None
        assert ws.response.headers["X-Plumbing"] == "yes"
        await ws.send("héllo")
        assert await asyncio.wait_for(ws.recv(), WAIT) == "héllo"
        await ws.send(b"\x00\x01\xff")
        assert await asyncio.wait_for(ws.recv(), WAIT) == b"\x00\x01\xff"
        await ws.send("info")
        info = json.loads(await asyncio.wait_for(ws.recv(), WAIT))
        # only the native server owns its transport, and so takes pre-built frames
        assert info["supports_frames"] is (served.plumbing == "native")
        assert info["compressed"] is False


async def test_websocket_message_too_big_closes_1009(served: Served) -> None:
    async with connect(ws_url(served.port)) as ws:
        await ws.send("x" * 1025)
        with pytest.raises(ConnectionClosed) as info:
            await asyncio.wait_for(ws.recv(), WAIT)
    assert info.value.rcvd is not None
    assert info.value.rcvd.code == 1009
    await asyncio.wait_for(served.app.ws_closed.wait(), WAIT)
    assert served.app.close_codes == [1009]


async def test_server_close_from_app_reaches_client(served: Served) -> None:
    async with connect(ws_url(served.port)) as ws:
        await ws.send("close")
        with pytest.raises(ConnectionClosed) as info:
            await asyncio.wait_for(ws.recv(), WAIT)
    assert info.value.rcvd is not None
    assert (info.value.rcvd.code, info.value.rcvd.reason) == (4000, "bye")
    await asyncio.wait_for(served.app.ws_closed.wait(), WAIT)
    assert served.app.close_codes == [4000]


async def test_client_close_calls_on_close(served: Served) -> None:
    async with connect(ws_url(served.port)) as ws:
        await ws.close(code=4321)
    await asyncio.wait_for(served.app.ws_closed.wait(), WAIT)
    assert served.app.close_codes == [4321]


async def test_upgrade_refused_with_its_response(served: Served) -> None:
    with pytest.raises(InvalidStatus) as info:
        async with connect(ws_url(served.port, "/app/refuse")):
            pass
    assert info.value.response.status_code == 403
    assert info.value.response.body == b'{"error":"no"}'


@pytest.mark.parametrize("plumbing", PLUMBINGS)
async def test_stopping_closes_an_open_websocket(plumbing: str) -> None:
    app = PlumbingApp()
    async with serve(plumbing, app) as port:
        ws = await connect(ws_url(port))
        await ws.send("before stop")
        assert await asyncio.wait_for(ws.recv(), WAIT) == "before stop"
        assert app.shutdown_calls == 0
    try:
        await asyncio.wait_for(app.ws_closed.wait(), WAIT)
        assert len(app.close_codes) == 1
        with pytest.raises(ConnectionClosed):
            await asyncio.wait_for(ws.recv(), WAIT)
    finally:
        await ws.close()
    assert app.shutdown_calls == 1
