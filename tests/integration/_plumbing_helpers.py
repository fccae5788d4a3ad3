"""A small HttpApp, the plumbings that serve it, and raw-socket HTTP helpers for the
plumbing tests (native, ASGI under uvicorn, aiohttp)."""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator

import uvicorn
from aiohttp import web

from socketwire.io.aiohttp import attach
from socketwire.io.asgi import ASGIApp
from socketwire.io.http import (
    BodyTimeoutError,
    BodyTooLargeError,
    HttpRequest,
    HttpResponse,
    WebSocketAccept,
    WebSocketHandler,
    WebSocketTransport,
)
from socketwire.io.native import NativeServer, frame_message

__all__ = [
    "BIG_BODY_LIMIT",
    "BODY_LIMIT",
    "BODY_TIMEOUT",
    "FLOOD_MESSAGE",
    "PLUMBINGS",
    "PlumbingApp",
    "RawResponse",
    "open_raw",
    "read_eof",
    "read_response",
    "request_bytes",
    "run_aiohttp",
    "run_uvicorn",
    "serve",
    "ws_url",
]

BODY_LIMIT = 1000
BIG_BODY_LIMIT = 1 << 20
FLOOD_MESSAGE = b"f" * 65536
WAIT = 5.0
#: Seconds a plumbing lets a request body take (small, for the timeout tests).
BODY_TIMEOUT = 0.3
#: Every plumbing, by name: the native server, the ASGI app under uvicorn with each of its
#: HTTP parsers, the aiohttp integration.
PLUMBINGS = ("native", "asgi-httptools", "asgi-h11", "aiohttp")


class _EchoHandler:
    """Echoes every message; a few text commands exercise the transport."""

    def __init__(self, app: PlumbingApp, ws: WebSocketTransport) -> None:
        self.app = app
        self.ws = ws

    def on_message(self, data: str | bytes) -> None:
        if data == "close":
            self.ws.close(4000, "bye")
        elif isinstance(data, str) and data.startswith("frame:"):
            self.ws.send_frame(frame_message(data[len("frame:") :]))
            self.ws.send_frame(frame_message(data[len("frame:") :].encode()))
        elif isinstance(data, str) and data.startswith("flood:"):
            for _ in range(int(data[len("flood:") :])):
                self.ws.send_bytes(FLOOD_MESSAGE)
            self.app.flood_buffered.append(self.ws.buffered_amount)
        elif data == "info":
            self.ws.send_text(
                json.dumps(
                    {
                        "supports_frames": self.ws.supports_frames,
                        "compressed": self.ws.compressed,
                        "buffered": self.ws.buffered_amount,
                    }
                )
            )
        elif isinstance(data, str):
            self.ws.send_text(data)
        else:
            self.ws.send_bytes(data)

    def on_close(self, code: int) -> None:
        self.app.close_codes.append(code)
        self.app.ws_closed.set()
        self.app.transports.remove(self.ws)


class PlumbingApp:
    """Routes under ``/app``; records what the plumbing did to it."""

    def __init__(self, *, max_message_size: int | None = 1024) -> None:
        self.max_message_size = max_message_size
        self.shutdown_calls = 0
        self.close_codes: list[int] = []
        self.ws_closed = asyncio.Event()
        self.disconnected = asyncio.Event()
        self.waiting = asyncio.Event()
        self.reading_body = asyncio.Event()
        self.shutdown_started = asyncio.Event()
        self.transports: list[WebSocketTransport] = []
        self.body_errors: list[str] = []
        self.flood_buffered: list[int] = []
        self.loop: asyncio.AbstractEventLoop | None = None

    def owns(self, path: str) -> bool:
        return path.startswith("/app")

    async def handle_http(self, request: HttpRequest) -> HttpResponse:
        path = request.path
        if path == "/app/echo":
            self.reading_body.set()
            try:
                body = await request.read_body(BODY_LIMIT)
            except BodyTooLargeError:
                self.body_errors.append("too large")
                return HttpResponse(413, [], b"too large")
            except BodyTimeoutError:
                self.body_errors.append("timeout")
                return HttpResponse(408, [], b"timeout")
            return HttpResponse(200, [("Content-Type", "application/octet-stream")], body)
        if path == "/app/loop":
            self.loop = asyncio.get_running_loop()
            return HttpResponse(200, [], type(self.loop).__module__.encode())
        if path == "/app/bigecho":
            return HttpResponse(200, [], await request.read_body(BIG_BODY_LIMIT))
        if path == "/app/info":
            info = {
                "method": request.method,
                "path": request.path,
                "raw_path": request.raw_path,
                "query": dict(request.query),
                "host": request.headers.get("host"),
                "secure": request.secure,
                "remote": list(request.remote_addr) if request.remote_addr else None,
            }
            return HttpResponse(
                200, [("Content-Type", "application/json")], json.dumps(info).encode()
            )
        if path == "/app/boom":
            raise RuntimeError("boom (expected by the test)")
        if path == "/app/wait":
            self.waiting.set()
            await request.wait_disconnected()
            self.disconnected.set()
            return HttpResponse(200, [], b"late")
        return HttpResponse(404, [], b"no such route")

    async def handle_websocket(self, request: HttpRequest) -> HttpResponse | WebSocketAccept:
        if request.path == "/app/refuse":
            return HttpResponse(403, [("Content-Type", "application/json")], b'{"error":"no"}')

        def attach(ws: WebSocketTransport) -> WebSocketHandler:
            self.transports.append(ws)
            return _EchoHandler(self, ws)

        return WebSocketAccept(
            attach=attach,
            max_message_size=self.max_message_size,
            compression="compress" in request.query,
            headers=[("X-Plumbing", "yes")],
        )

    async def shutdown(self) -> None:
        self.shutdown_calls += 1
        self.shutdown_started.set()
        for ws in list(self.transports):
            ws.close(1001, "server shutting down")


class RawResponse:
    """One parsed HTTP response."""

    def __init__(self, status: int, headers: dict[str, str], body: bytes) -> None:
        self.status = status
        self.headers = headers
        self.body = body


def request_bytes(
    method: str, target: str, *, body: bytes | None = None, headers: dict[str, str] | None = None
) -> bytes:
    """Serialize one HTTP/1.1 request (Content-Length added for a body)."""
    lines = [f"{method} {target} HTTP/1.1", "Host: 127.0.0.1"]
    for name, value in (headers or {}).items():
        lines.append(f"{name}: {value}")
    if body is not None:
        lines.append(f"Content-Length: {len(body)}")
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + (body or b"")


@contextlib.asynccontextmanager
async def open_raw(port: int) -> AsyncIterator[tuple[asyncio.StreamReader, asyncio.StreamWriter]]:
    """A raw TCP connection to the server."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        yield reader, writer
    finally:
        writer.close()
        with contextlib.suppress(OSError):
            await writer.wait_closed()


async def read_response(reader: asyncio.StreamReader, *, head: bool = False) -> RawResponse:
    """Read one response (status line, headers, Content-Length body)."""
    async with asyncio.timeout(WAIT):
        raw_head = await reader.readuntil(b"\r\n\r\n")
        lines = raw_head.decode("latin-1").split("\r\n")
        status = int(lines[0].split(" ", 2)[1])
        headers: dict[str, str] = {}
        for line in lines[1:]:
            if line:
                name, _, value = line.partition(":")
                headers[name.strip().lower()] = value.strip()
        length = int(headers.get("content-length", "0"))
        body = b"" if head else await reader.readexactly(length)
    return RawResponse(status, headers, body)


async def read_eof(reader: asyncio.StreamReader) -> bytes:
    """Read until the server closes the connection (bounded)."""
    async with asyncio.timeout(WAIT):
        return await reader.read()


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


async def elsewhere(request: web.Request) -> web.Response:
    """An ordinary aiohttp route beside the HttpApp."""
    return web.Response(text=f"other {request.path}")


@contextlib.asynccontextmanager
async def run_aiohttp(app: PlumbingApp, *, handler_cancellation: bool = True) -> AsyncIterator[int]:
    """Serve ``app`` (and a route at /elsewhere) with aiohttp on a free port; yields it."""
    application = web.Application()
    application.router.add_get("/elsewhere", elsewhere)
    attach(app, application, body_timeout=BODY_TIMEOUT)
    runner = web.AppRunner(application, handler_cancellation=handler_cancellation)
    await runner.setup()
    try:
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        yield int(runner.addresses[0][1])
    finally:
        await asyncio.wait_for(runner.cleanup(), WAIT * 2)


@contextlib.asynccontextmanager
async def serve(plumbing: str, app: PlumbingApp) -> AsyncIterator[int]:
    """Serve ``app`` with ``plumbing`` (one of :data:`PLUMBINGS`) on a free port; yields it."""
    if plumbing == "native":
        server = NativeServer(app, "127.0.0.1", 0, body_timeout=BODY_TIMEOUT)
        await server.start()
        try:
            yield int(server.port)
        finally:
            await server.close(timeout=2.0)
    elif plumbing.startswith("asgi-"):
        asgi = ASGIApp(app, body_timeout=BODY_TIMEOUT)
        async with run_uvicorn(asgi, plumbing.removeprefix("asgi-")) as port:
            yield port
    elif plumbing == "aiohttp":
        async with run_aiohttp(app) as port:
            yield port
    else:
        raise ValueError(f"unknown plumbing {plumbing!r}")


def ws_url(port: int, path: str = "/app/ws") -> str:
    """The URL of the app's WebSocket route (or ``path``) on ``port``."""
    return f"ws://127.0.0.1:{port}{path}"
