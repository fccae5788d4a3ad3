"""The ASGI app under uvicorn (in-process, real sockets), with a small HttpApp."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections.abc import AsyncIterator

import pytest
import uvicorn
from _plumbing_helpers import (
    BODY_LIMIT,
    PlumbingApp,
    open_raw,
    read_eof,
    read_response,
    request_bytes,
)
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed, InvalidStatus

from socketwire.io.asgi import ASGIApp
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


@contextlib.asynccontextmanager
async def run_uvicorn(app: ASGIApp, http: str = "httptools") -> AsyncIterator[int]:
    """Serve ``app`` with uvicorn on a free port; yields the port."""
    config = uvicorn.Config(
        app,
        host="127.0.0.1",
        port=0,
        lifespan="on",
        log_level="warning",
        http=http,
        ws="websockets-sansio",
    )
    server = uvicorn.Server(config)
    task = asyncio.ensure_future(server.serve())
    try:
        async with asyncio.timeout(WAIT):
            while not server.started:
                if task.done():
                    task.result()
                await asyncio.sleep(0.01)
        yield server.servers[0].sockets[0].getsockname()[1]
    finally:
        server.should_exit = True
        await asyncio.wait_for(task, WAIT * 2)


@pytest.fixture
def plumbing_app() -> PlumbingApp:
    return PlumbingApp()


@pytest.fixture(params=["httptools", "h11"])
async def plumbing_port(
    plumbing_app: PlumbingApp, request: pytest.FixtureRequest
) -> AsyncIterator[int]:
    async with run_uvicorn(ASGIApp(plumbing_app, body_timeout=0.3), request.param) as port:
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
        assert response.headers["connection"] == "close"
        assert await read_eof(reader) == b""


async def test_413_reaches_a_client_still_sending_its_body(plumbing_port: int) -> None:
    body = b"x" * (4 << 20)
    async with open_raw(plumbing_port) as (reader, writer):
        writer.write(request_bytes("POST", "/app/echo", body=body))
        response = await read_response(reader)
        assert response.status == 413


async def test_chunked_body_over_limit_413(plumbing_port: int) -> None:
    chunk = b"x" * 600
    async with open_raw(plumbing_port) as (reader, writer):
        writer.write(b"POST /app/echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n")
        writer.write(b"%x\r\n%s\r\n%x\r\n%s\r\n" % (len(chunk), chunk, len(chunk), chunk))
        response = await read_response(reader)
        assert response.status == 413
        assert await read_eof(reader) == b""


async def test_body_timeout_answers_then_closes(
    plumbing_port: int, plumbing_app: PlumbingApp
) -> None:
    async with open_raw(plumbing_port) as (reader, writer):
        writer.write(b"POST /app/echo HTTP/1.1\r\nHost: x\r\nContent-Length: 10\r\n\r\nabc")
        response = await read_response(reader)
        assert response.status == 408
        assert plumbing_app.body_errors == ["timeout"]
        assert await read_eof(reader) == b""


async def test_app_exception_500_and_keeps_serving(
    plumbing_port: int, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.ERROR, logger="socketwire.asgi"):
        async with open_raw(plumbing_port) as (reader, writer):
            writer.write(request_bytes("GET", "/app/boom"))
            assert (await read_response(reader)).status == 500
            writer.write(request_bytes("GET", "/app/info"))
            assert (await read_response(reader)).status == 200
    assert any("boom" in str(record.exc_info) for record in caplog.records)


async def test_client_disconnect_wakes_wait_disconnected(
    plumbing_port: int, plumbing_app: PlumbingApp
) -> None:
    async with open_raw(plumbing_port) as (_reader, writer):
        writer.write(request_bytes("GET", "/app/wait"))
        await asyncio.wait_for(plumbing_app.waiting.wait(), WAIT)
    await asyncio.wait_for(plumbing_app.disconnected.wait(), WAIT)


async def test_unowned_path_404_without_other_app(plumbing_port: int) -> None:
    async with open_raw(plumbing_port) as (reader, writer):
        writer.write(request_bytes("GET", "/elsewhere"))
        response = await read_response(reader)
    assert response.status == 404


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


async def test_upgrade_refused_with_denial_response(plumbing_port: int) -> None:
    with pytest.raises(InvalidStatus) as info:
        async with connect(ws_url(plumbing_port, "/app/refuse")):
            pass
    assert info.value.response.status_code == 403
    assert info.value.response.body == b'{"error":"no"}'


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


async def test_server_stop_with_open_websocket_calls_on_close(plumbing_app: PlumbingApp) -> None:
    async with run_uvicorn(ASGIApp(plumbing_app)) as port:
        ws = await connect(ws_url(port))
        await ws.send("before stop")
        assert await asyncio.wait_for(ws.recv(), WAIT) == "before stop"
    try:
        await asyncio.wait_for(plumbing_app.ws_closed.wait(), WAIT)
        assert len(plumbing_app.close_codes) == 1
        with pytest.raises(ConnectionClosed):
            await asyncio.wait_for(ws.recv(), WAIT)
    finally:
        await ws.close()
    assert plumbing_app.shutdown_calls == 1
