"""A small HttpApp and raw-socket HTTP helpers for the plumbing tests (native and ASGI)."""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator

from socketwire.io.http import (
    BodyTimeoutError,
    BodyTooLargeError,
    HttpRequest,
    HttpResponse,
    WebSocketAccept,
    WebSocketHandler,
    WebSocketTransport,
)
from socketwire.io.native import frame_message

__all__ = [
    "BIG_BODY_LIMIT",
    "BODY_LIMIT",
    "FLOOD_MESSAGE",
    "PlumbingApp",
    "RawResponse",
    "open_raw",
    "read_eof",
    "read_response",
    "request_bytes",
]

BODY_LIMIT = 1000
BIG_BODY_LIMIT = 1 << 20
FLOOD_MESSAGE = b"f" * 65536
WAIT = 5.0


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
