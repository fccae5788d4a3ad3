"""The aiohttp integration (in-process aiohttp server, real sockets), with a small HttpApp.

The same cases as tests/integration/test_asgi_plumbing.py, so both plumbings are held to
one behaviour; where aiohttp differs (it can refuse an upgrade with any response, it owns
the WebSocket size limit) the test says so.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections.abc import AsyncIterator

import pytest
from _plumbing_helpers import (
    BODY_LIMIT,
    PlumbingApp,
    open_raw,
    read_response,
    request_bytes,
)
from aiohttp import web
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed, InvalidStatus

from socketwire.io.aiohttp import attach
from socketwire.io.http import HttpRequest, HttpResponse

pytestmark = pytest.mark.integration

WAIT = 5.0


async def elsewhere(request: web.Request) -> web.Response:
    """An ordinary aiohttp route beside the HttpApp."""
    return web.Response(text=f"other {request.path}")


class RecordingApp(PlumbingApp):
    """PlumbingApp that also records the end of ``/app/wait`` and ``/app/echo`` requests,
    however they end."""

    def __init__(self) -> None:
        super().__init__()
        self.wait_ended = asyncio.Event()
        self.echo_ended = asyncio.Event()

    async def handle_http(self, request: HttpRequest) -> HttpResponse:
        try:
            return await super().handle_http(request)
        finally:
            if request.path == "/app/wait":
                self.wait_ended.set()
            elif request.path == "/app/echo":
                self.echo_ended.set()


@contextlib.asynccontextmanager
async def run_aiohttp(app: PlumbingApp, *, handler_cancellation: bool = True) -> AsyncIterator[int]:
    """Serve ``app`` (and a route at /elsewhere) with aiohttp on a free port; yields it."""
    application = web.Application()
    application.router.add_get("/elsewhere", elsewhere)
    attach(app, application, body_timeout=0.3)
    runner = web.AppRunner(application, handler_cancellation=handler_cancellation)
    await runner.setup()
    try:
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        yield int(runner.addresses[0][1])
    finally:
        await asyncio.wait_for(runner.cleanup(), WAIT * 2)


@pytest.fixture
def plumbing_app() -> PlumbingApp:
    return PlumbingApp()


@pytest.fixture
async def plumbing_port(plumbing_app: PlumbingApp) -> AsyncIterator[int]:
    async with run_aiohttp(plumbing_app) as port:
        yield port


def ws_url(port: int, path: str = "/app/ws") -> str:
    return f"ws://127.0.0.1:{port}{path}"


# HTTP


async def test_request_fields(plumbing_port: int) -> None:
    async with open_raw(plumbing_port) as (reader, writer):
        writer.write(request_bytes("GET", "/app/info?EIO=4&EIO=3&sp=a%20b"))
        response = await read_response(reader)
    info = json.loads(response.body)
    assert info["method"] == "GET"
    assert info["path"] == "/app/info"
    assert info["raw_path"] == "/app/info?EIO=4&EIO=3&sp=a%20b"
    assert info["query"] == {"EIO": "4", "sp": "a b"}
    assert info["host"] == "127.0.0.1"
    assert info["secure"] is False
    assert info["remote"][0] == "127.0.0.1"


async def test_keep_alive_and_pipelining(plumbing_port: int) -> None:
    async with open_raw(plumbing_port) as (reader, writer):
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


async def test_expect_100_continue_and_chunked(plumbing_port: int) -> None:
    async with open_raw(plumbing_port) as (reader, writer):
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


async def test_content_length_over_limit_413_and_close(plumbing_port: int) -> None:
    async with open_raw(plumbing_port) as (reader, writer):
        writer.write(
            b"POST /app/echo HTTP/1.1\r\nHost: x\r\nContent-Length: %d\r\n\r\n" % (BODY_LIMIT + 1)
        )
        response = await read_response(reader)
        assert response.status == 413
        # aiohttp closes after its lingering close (discarding what the client still sends)
        # rather than at once as the ASGI and native plumbings do.
        assert response.headers["connection"] == "close"


async def test_chunked_body_over_limit_413(plumbing_port: int) -> None:
    chunk = b"x" * 600
    async with open_raw(plumbing_port) as (reader, writer):
        writer.write(b"POST /app/echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n")
        writer.write(b"%x\r\n%s\r\n%x\r\n%s\r\n" % (len(chunk), chunk, len(chunk), chunk))
        response = await read_response(reader)
        assert response.status == 413
        assert response.headers["connection"] == "close"


async def test_body_timeout_answers_then_closes(
    plumbing_port: int, plumbing_app: PlumbingApp
) -> None:
    async with open_raw(plumbing_port) as (reader, writer):
        writer.write(b"POST /app/echo HTTP/1.1\r\nHost: x\r\nContent-Length: 10\r\n\r\nabc")
        response = await read_response(reader)
        assert response.status == 408
        assert plumbing_app.body_errors == ["timeout"]
        assert response.headers["connection"] == "close"


async def test_app_exception_500_and_keeps_serving(
    plumbing_port: int, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.ERROR, logger="socketwire.aiohttp"):
        async with open_raw(plumbing_port) as (reader, writer):
            writer.write(request_bytes("GET", "/app/boom"))
            assert (await read_response(reader)).status == 500
            writer.write(request_bytes("GET", "/app/info"))
            assert (await read_response(reader)).status == 200
    assert any("boom" in str(record.exc_info) for record in caplog.records)


@pytest.mark.parametrize("handler_cancellation", [True, False])
async def test_client_disconnect_ends_a_waiting_request(handler_cancellation: bool) -> None:
    """With handler cancellation the wait is cancelled; without, the periodic check returns."""
    app = RecordingApp()
    async with run_aiohttp(app, handler_cancellation=handler_cancellation) as port:
        async with open_raw(port) as (_reader, writer):
            writer.write(request_bytes("GET", "/app/wait"))
            await asyncio.wait_for(app.waiting.wait(), WAIT)
        await asyncio.wait_for(app.wait_ended.wait(), WAIT)
        # wait_disconnected() returned (rather than being cancelled) only without it.
        assert app.disconnected.is_set() is not handler_cancellation


async def test_client_leaving_mid_body_is_not_an_error(caplog: pytest.LogCaptureFixture) -> None:
    """ClientDisconnectedError out of the app: no response to write, nothing logged."""
    app = RecordingApp()
    with caplog.at_level(logging.ERROR):
        async with run_aiohttp(app, handler_cancellation=False) as port:
            async with open_raw(port) as (_reader, writer):
                writer.write(b"POST /app/echo HTTP/1.1\r\nHost: x\r\nContent-Length: 10\r\n\r\nab")
                await asyncio.wait_for(app.reading_body.wait(), WAIT)
            await asyncio.wait_for(app.echo_ended.wait(), WAIT)
            # It ended on the disconnection, not on the body timeout.
            assert app.body_errors == []
            async with open_raw(port) as (reader, writer):
                writer.write(request_bytes("GET", "/app/info"))
                assert (await read_response(reader)).status == 200
    assert [record.getMessage() for record in caplog.records] == []


async def test_other_routes_and_unowned_404(plumbing_port: int) -> None:
    async with open_raw(plumbing_port) as (reader, writer):
        writer.write(request_bytes("GET", "/elsewhere"))
        response = await read_response(reader)
        assert (response.status, response.body) == (200, b"other /elsewhere")
        writer.write(request_bytes("GET", "/nowhere"))
        assert (await read_response(reader)).status == 404


# WebSocket


async def test_websocket_echo_text_and_binary(plumbing_port: int) -> None:
    async with connect(ws_url(plumbing_port)) as ws:
        assert ws.response is not None
        assert ws.response.headers["X-Plumbing"] == "yes"
        await ws.send("héllo")
        assert await asyncio.wait_for(ws.recv(), WAIT) == "héllo"
        await ws.send(b"\x00\x01\xff")
        assert await asyncio.wait_for(ws.recv(), WAIT) == b"\x00\x01\xff"
        await ws.send("info")
        info = json.loads(await asyncio.wait_for(ws.recv(), WAIT))
        assert info["supports_frames"] is False
        assert info["compressed"] is False


@pytest.mark.parametrize(("path", "negotiated"), [("/app/ws", False), ("/app/ws?compress", True)])
async def test_compression_follows_the_accept(
    plumbing_port: int, path: str, negotiated: bool
) -> None:
    async with connect(ws_url(plumbing_port, path)) as ws:
        assert ws.response is not None
        extensions = ws.response.headers.get("Sec-WebSocket-Extensions") or ""
        assert ("permessage-deflate" in extensions) is negotiated
        await ws.send("z" * 500)
        assert await asyncio.wait_for(ws.recv(), WAIT) == "z" * 500


async def test_websocket_message_too_big_closes_1009(
    plumbing_port: int, plumbing_app: PlumbingApp
) -> None:
    async with connect(ws_url(plumbing_port)) as ws:
        await ws.send("x" * 1025)
        with pytest.raises(ConnectionClosed) as info:
            await asyncio.wait_for(ws.recv(), WAIT)
    assert info.value.rcvd is not None
    assert info.value.rcvd.code == 1009
    await asyncio.wait_for(plumbing_app.ws_closed.wait(), WAIT)
    assert plumbing_app.close_codes == [1009]


async def test_server_close_from_app_reaches_client(
    plumbing_port: int, plumbing_app: PlumbingApp
) -> None:
    async with connect(ws_url(plumbing_port)) as ws:
        await ws.send("close")
        with pytest.raises(ConnectionClosed) as info:
            await asyncio.wait_for(ws.recv(), WAIT)
    assert info.value.rcvd is not None
    assert (info.value.rcvd.code, info.value.rcvd.reason) == (4000, "bye")
    await asyncio.wait_for(plumbing_app.ws_closed.wait(), WAIT)
    assert plumbing_app.close_codes == [4000]


async def test_client_close_calls_on_close(plumbing_port: int, plumbing_app: PlumbingApp) -> None:
    async with connect(ws_url(plumbing_port)) as ws:
        await ws.close(code=4321)
    await asyncio.wait_for(plumbing_app.ws_closed.wait(), WAIT)
    assert plumbing_app.close_codes == [4321]


async def test_upgrade_refused_with_its_response(plumbing_port: int) -> None:
    with pytest.raises(InvalidStatus) as info:
        async with connect(ws_url(plumbing_port, "/app/refuse")):
            pass
    assert info.value.response.status_code == 403
    assert info.value.response.body == b'{"error":"no"}'


# shutdown


async def test_shutdown_closes_open_websocket(plumbing_app: PlumbingApp) -> None:
    async with run_aiohttp(plumbing_app) as port:
        ws = await connect(ws_url(port))
        await ws.send("before stop")
        assert await asyncio.wait_for(ws.recv(), WAIT) == "before stop"
        assert plumbing_app.shutdown_calls == 0
    try:
        await asyncio.wait_for(plumbing_app.ws_closed.wait(), WAIT)
        assert plumbing_app.close_codes == [1001]
        with pytest.raises(ConnectionClosed) as info:
            await asyncio.wait_for(ws.recv(), WAIT)
        assert info.value.rcvd is not None
        assert info.value.rcvd.code == 1001
    finally:
        await ws.close()
    assert plumbing_app.shutdown_calls == 1
