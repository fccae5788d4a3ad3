"""What only the ASGI app does (lifespan, another app for other paths, refusing an upgrade
without the denial extension), under uvicorn in-process over real sockets; what every
plumbing does is in test_plumbing.py."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections.abc import AsyncIterator

import pytest
from _plumbing_helpers import (
    PlumbingApp,
    open_raw,
    read_response,
    request_bytes,
    run_uvicorn,
    ws_url,
)
from websockets.asyncio.client import connect

from conftest import HOST, start_asgi
from socketwire import Server
from socketwire.io.asgi import WS_COMPRESSION_ADVICE, ASGIApp
from socketwire.io.types import Message, Receive, Scope, Send

pytestmark = pytest.mark.integration

WAIT = 5.0


class OtherApp:
    """A plain ASGI app standing in for Starlette/FastAPI; records its lifespan."""

    def __init__(self) -> None:
        self.lifespan: list[str] = []

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            while True:
                message = await receive()
                self.lifespan.append(message["type"])
                if message["type"] == "lifespan.startup":
                    await send({"type": "lifespan.startup.complete"})
                else:
                    await send({"type": "lifespan.shutdown.complete"})
                    return
        elif scope["type"] == "http":
            body = f"other {scope['path']}".encode()
            headers = [(b"content-length", str(len(body)).encode())]
            await send({"type": "http.response.start", "status": 200, "headers": headers})
            await send({"type": "http.response.body", "body": body})
        else:
            await receive()
            await send({"type": "websocket.accept"})
            await send({"type": "websocket.send", "text": "other ws"})
            await send({"type": "websocket.close", "code": 1000})


@pytest.fixture
def plumbing_app() -> PlumbingApp:
    return PlumbingApp()


@pytest.fixture(params=["httptools", "h11"])
async def plumbing_port(
    plumbing_app: PlumbingApp, request: pytest.FixtureRequest
) -> AsyncIterator[int]:
    async with run_uvicorn(ASGIApp(plumbing_app, body_timeout=0.3), request.param) as port:
        yield port


# HTTP


async def test_unowned_path_404_without_other_app(plumbing_port: int) -> None:
    async with open_raw(plumbing_port) as (reader, writer):
        writer.write(request_bytes("GET", "/elsewhere"))
        response = await read_response(reader)
    assert response.status == 404


# WebSocket


async def test_upgrade_refused_without_denial_extension() -> None:
    """Without the extension the refusal is a close before accept (the server answers 403)."""
    sent: list[Message] = []
    messages = [{"type": "websocket.connect"}]

    async def receive() -> Message:
        return messages.pop(0)

    async def send(message: Message) -> None:
        sent.append(message)

    scope: Scope = {"type": "websocket", "path": "/app/refuse", "headers": [], "extensions": {}}
    await ASGIApp(PlumbingApp())(scope, receive, send)
    assert sent == [{"type": "websocket.close", "code": 1008, "reason": ""}]


# pass-through and lifespan


async def test_other_app_gets_other_paths_and_lifespan(plumbing_app: PlumbingApp) -> None:
    other = OtherApp()
    async with run_uvicorn(ASGIApp(plumbing_app, other)) as port:
        assert other.lifespan == ["lifespan.startup"]
        async with open_raw(port) as (reader, writer):
            writer.write(request_bytes("GET", "/elsewhere"))
            response = await read_response(reader)
            assert (response.status, response.body) == (200, b"other /elsewhere")
            writer.write(request_bytes("GET", "/app/info"))
            assert json.loads((await read_response(reader)).body)["path"] == "/app/info"
        async with connect(ws_url(port, "/other-ws")) as ws:
            assert await asyncio.wait_for(ws.recv(), WAIT) == "other ws"
        assert plumbing_app.shutdown_calls == 0
    assert other.lifespan == ["lifespan.startup", "lifespan.shutdown"]
    assert plumbing_app.shutdown_calls == 1


async def test_lifespan_shutdown_calls_http_app_shutdown(plumbing_app: PlumbingApp) -> None:
    async with run_uvicorn(ASGIApp(plumbing_app)) as port, connect(ws_url(port)) as ws:
        await ws.send("still here")
        assert await asyncio.wait_for(ws.recv(), WAIT) == "still here"
        assert plumbing_app.shutdown_calls == 0
    assert plumbing_app.shutdown_calls == 1


async def test_lifespan_falls_back_when_other_app_lacks_it(plumbing_app: PlumbingApp) -> None:
    async def http_only(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            raise RuntimeError("http only")
        await send({"type": "http.response.start", "status": 204, "headers": []})
        await send({"type": "http.response.body", "body": b""})

    async with (
        run_uvicorn(ASGIApp(plumbing_app, http_only)) as port,
        open_raw(port) as (reader, writer),
    ):
        writer.write(request_bytes("GET", "/elsewhere"))
        assert (await read_response(reader)).status == 204
    assert plumbing_app.shutdown_calls == 1


@pytest.mark.parametrize("uvicorn_deflate", [True, False])
async def test_uvicorn_decides_websocket_compression(
    caplog: pytest.LogCaptureFixture, uvicorn_deflate: bool
) -> None:
    # per_message_deflate=False does not reach uvicorn: with its default (on) a client's
    # offer is accepted, and the app warns at startup how to turn it off; with
    # ws_per_message_deflate=False (what the docs and start_asgi pass), it is not.
    caplog.set_level(logging.WARNING, logger="socketwire.asgi")
    sio = Server(serve_client=False)
    async with contextlib.AsyncExitStack() as stack:
        if uvicorn_deflate:
            port = await stack.enter_async_context(run_uvicorn(ASGIApp(sio)))  # its defaults
        else:
            port, stop = await start_asgi(sio)
            stack.push_async_callback(stop)
        stack.push_async_callback(sio.shutdown)
        url = f"ws://{HOST}:{port}/socket.io/?EIO=4&transport=websocket"
        async with connect(url, compression="deflate") as ws:
            assert ws.response is not None
            negotiated = ws.response.headers.get("Sec-WebSocket-Extensions") or ""
            assert negotiated.startswith("permessage-deflate") is uvicorn_deflate
            assert str(await ws.recv()).startswith("0{")
    warnings = [r.getMessage() for r in caplog.records if r.name == "socketwire.asgi"]
    assert warnings == ([WS_COMPRESSION_ADVICE] if uvicorn_deflate else [])
