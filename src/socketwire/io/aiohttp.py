"""Serve an [`HttpApp`][socketwire.io.http.HttpApp] inside an ``aiohttp.web.Application``.

Usage:

```python
app = aiohttp.web.Application()
app.router.add_get("/ping", ping)
socketwire.io.aiohttp.attach(sio, app)
aiohttp.web.run_app(app, handler_cancellation=True)
```

[`attach()`][attach] adds a middleware: requests for the paths the HttpApp owns go to it, the rest
to the application's routes. The app's ``on_shutdown`` closes the sessions.

``handler_cancellation=True`` lets aiohttp cancel a handler whose client left, so a
long-polling GET learns of it at once; without it, the request's ``wait_disconnected``
notices within [`DISCONNECT_CHECK_INTERVAL`][DISCONNECT_CHECK_INTERVAL] seconds.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Mapping
from typing import Final

from aiohttp import WebSocketError, WSMsgType, web
from aiohttp.typedefs import Handler

from .bodies import declared_too_large, read_limited
from .http import (
    BodyTimeoutError,
    BodyTooLargeError,
    ClientDisconnectedError,
    HttpApp,
    HttpResponse,
    WebSocketAccept,
    first_values,
    join_headers,
)
from .queued_ws import QueuedWebSocket, deliver, run_websocket

__all__ = ["DISCONNECT_CHECK_INTERVAL", "AiohttpPlumbing", "attach"]

logger = logging.getLogger("socketwire.aiohttp")

#: Seconds between checks of a waiting request's connection (see the module docstring).
DISCONNECT_CHECK_INTERVAL: Final = 1.0
_SERVER_ERROR: Final = b"Internal Server Error"


def _headers(raw: Mapping[str, str]) -> dict[str, str]:
    return join_headers((name.lower(), value) for name, value in raw.items())


class _AiohttpRequest:
    """An ``aiohttp.web.Request`` seen as an [`HttpRequest`][socketwire.io.http.HttpRequest]."""

    __slots__ = (
        "_body_timeout",
        "_query",
        "_request",
        "close_connection",
        "headers",
        "method",
        "path",
        "raw_path",
        "remote_addr",
        "secure",
    )

    def __init__(self, request: web.BaseRequest, body_timeout: float) -> None:
        self._request = request
        self._body_timeout = body_timeout
        self._query: dict[str, str] | None = None
        self.close_connection = False
        self.method: str = request.method
        self.path: str = request.path
        self.raw_path: str = request.raw_path
        self.headers = _headers(request.headers)
        peer = request.transport.get_extra_info("peername") if request.transport else None
        self.remote_addr = (str(peer[0]), int(peer[1])) if peer else None
        self.secure = request.secure

    @property
    def query(self) -> Mapping[str, str]:
        """Query parameters, first value of each."""
        if self._query is None:
            self._query = first_values(self._request.query_string)
        return self._query

    async def read_body(self, limit: int) -> bytes:
        """Read the whole body (see ``HttpRequest.read_body``)."""
        if declared_too_large(self.headers.get("content-length"), limit):
            self.close_connection = True
            raise BodyTooLargeError
        content = self._request.content

        async def next_chunk() -> bytes | None:
            try:
                chunk = await content.readany()
            except (ConnectionError, asyncio.IncompleteReadError):
                # aiohttp sets ConnectionResetError on the payload when the client left.
                raise ClientDisconnectedError from None
            return chunk or None

        try:
            return await read_limited(next_chunk, limit, self._body_timeout)
        except (BodyTooLargeError, BodyTimeoutError):
            self.close_connection = True
            raise

    async def wait_disconnected(self) -> None:
        """Return when the client closes the connection.

        aiohttp offers no awaitable for this (unless it cancels the handler, see the
        module docstring), so the connection's state is checked at an interval.
        """
        while True:
            transport = self._request.transport
            if transport is None or transport.is_closing():
                return
            await asyncio.sleep(DISCONNECT_CHECK_INTERVAL)


class _AiohttpSink:
    """Sends a queued connection's messages on an aiohttp ``WebSocketResponse``."""

    __slots__ = ("_ws",)

    def __init__(self, ws: web.WebSocketResponse) -> None:
        self._ws = ws

    async def send_text(self, data: str) -> None:
        """Send one text message."""
        await self._ws.send_str(data)

    async def send_bytes(self, data: bytes) -> None:
        """Send one binary message."""
        await self._ws.send_bytes(data)

    async def close(self, code: int, reason: str) -> None:
        """Send the close and wait for the client's (bounded by aiohttp's close timeout)."""
        await self._ws.close(code=code, message=reason.encode())


def _to_aiohttp(response: HttpResponse, *, close: bool = False) -> web.Response:
    result = web.Response(status=response.status, body=response.body)
    for name, value in response.headers:
        result.headers.add(name, value)
    if close:
        # The rest of the body was not read: do not reuse the connection.
        result.force_close()
    return result


class AiohttpPlumbing:
    """Serves ``http_app`` for the requests it owns in an aiohttp application.

    Args:
        http_app: the application (a [`Server`][socketwire.Server], for instance).
        body_timeout: seconds ``read_body`` waits for a complete body.
    """

    def __init__(self, http_app: HttpApp, *, body_timeout: float = 30.0) -> None:
        self.http_app = http_app
        self.body_timeout = body_timeout

    async def dispatch(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        """Route the requests ``http_app`` owns to it; others go on to ``handler``."""
        if not self.http_app.owns(request.path):
            return await handler(request)
        if request.headers.get("upgrade", "").lower() == "websocket":
            return await self.websocket(request)
        return await self.http(request)

    async def http(self, request: web.BaseRequest) -> web.StreamResponse:
        """Answer one plain HTTP request."""
        wrapped = _AiohttpRequest(request, self.body_timeout)
        try:
            response = await self.http_app.handle_http(wrapped)
        except ClientDisconnectedError:
            # Nobody is left to answer: aiohttp drops this response quietly (raising would
            # log an error) and the connection closes.
            return _to_aiohttp(HttpResponse(400), close=True)
        except Exception:
            logger.exception("application failed on %s %s", wrapped.method, wrapped.raw_path)
            response = HttpResponse(500, [("content-type", "text/plain")], _SERVER_ERROR)
        return _to_aiohttp(response, close=wrapped.close_connection)

    async def websocket(self, request: web.BaseRequest) -> web.StreamResponse:
        """Accept or refuse one WebSocket upgrade, then serve the connection until it ends."""
        wrapped = _AiohttpRequest(request, self.body_timeout)
        try:
            decision = await self.http_app.handle_websocket(wrapped)
        except Exception:
            logger.exception("application failed on WebSocket %s", wrapped.raw_path)
            decision = HttpResponse(500, [("content-type", "text/plain")], _SERVER_ERROR)
        if isinstance(decision, HttpResponse):
            # Unlike ASGI, aiohttp can refuse an upgrade with any plain HTTP response.
            return _to_aiohttp(decision)
        return await self._run_websocket(request, decision)

    async def _run_websocket(
        self, request: web.BaseRequest, accept: WebSocketAccept
    ) -> web.WebSocketResponse:
        # aiohttp enforces the size limit while reading frames (bounded memory) and closes
        # with 1009 itself; 0 means no limit.
        ws = web.WebSocketResponse(
            max_msg_size=accept.max_message_size or 0, compress=accept.compression
        )
        for name, value in accept.headers:
            ws.headers.add(name, value)
        await ws.prepare(request)
        transport = QueuedWebSocket()
        try:
            handler = accept.attach(transport)
        except Exception:
            logger.exception("WebSocket attach failed")
            await ws.close(code=1011)
            return ws

        async def read_loop() -> int:
            async for message in ws:
                if message.type is WSMsgType.TEXT or message.type is WSMsgType.BINARY:
                    deliver(transport, handler, message.data, None)
                elif message.type is WSMsgType.ERROR and isinstance(message.data, WebSocketError):
                    # aiohttp closed the connection for a protocol error (1009: too big);
                    # its close_code then tells how the client answered, not why.
                    return int(message.data.code)
                await transport.wait_readable()  # before the next read
            # The iteration ends on a close (either side) or an error; aiohttp has closed.
            return ws.close_code or 1006

        await run_websocket(transport, handler, read_loop, _AiohttpSink(ws))
        if not ws.closed:
            await ws.close()
        return ws

    async def on_shutdown(self, app: web.Application) -> None:
        """The application is stopping: close the sessions (``shutdown`` of the HttpApp)."""
        try:
            await self.http_app.shutdown()
        except Exception:
            logger.exception("app.shutdown() failed")


def attach(http_app: HttpApp, app: web.Application, *, body_timeout: float = 30.0) -> None:
    """Serve ``http_app`` inside ``app``; call before the application starts.

    Args:
        http_app: the application for the paths it owns (a [`Server`][socketwire.Server]).
        app: the aiohttp application; its other routes keep working.
        body_timeout: seconds a request body may take to arrive.
    """
    plumbing = AiohttpPlumbing(http_app, body_timeout=body_timeout)

    @web.middleware
    async def socketwire_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
        return await plumbing.dispatch(request, handler)

    app.middlewares.append(socketwire_middleware)
    app.on_shutdown.append(plumbing.on_shutdown)
