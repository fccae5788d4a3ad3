"""What only the aiohttp integration does (routes beside the HttpApp, negotiated compression,
handler cancellation), in an in-process aiohttp server over real sockets; what every
plumbing does is in test_plumbing.py."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator

import pytest
from _plumbing_helpers import (
    PlumbingApp,
    open_raw,
    read_response,
    request_bytes,
    run_aiohttp,
    ws_url,
)
from websockets.asyncio.client import connect

from socketwire.io.http import HttpRequest, HttpResponse

pytestmark = pytest.mark.integration

WAIT = 5.0


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


@pytest.fixture
def plumbing_app() -> PlumbingApp:
    return PlumbingApp()


@pytest.fixture
async def plumbing_port(plumbing_app: PlumbingApp) -> AsyncIterator[int]:
    async with run_aiohttp(plumbing_app) as port:
        yield port


# HTTP


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


# shutdown
