"""Serve an [`HttpApp`][socketwire.io.http.HttpApp] behind ASGI 3 (uvicorn, hypercorn, granian...).

Usage:

```python
app = ASGIApp(engine_server, other_app=starlette_app)   # then: uvicorn module:app
```

Paths the HttpApp owns go to it; everything else goes to ``other_app`` (404 without one).

WebSocket compression (permessage-deflate) is negotiated by the ASGI server, not by the
application: ``per_message_deflate=False`` cannot turn it off. Unless told what the ASGI
server does (``ASGIApp(..., ws_compression=...)``), the app logs once, at startup (or at
its first WebSocket), how to turn it off: see ``WS_COMPRESSION_ADVICE``.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Final
from urllib.parse import quote

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
from .types import ASGIApp as ASGI3App
from .types import Message, Receive, Scope, Send

__all__ = ["WS_COMPRESSION_ADVICE", "ASGIApp"]

logger = logging.getLogger("socketwire.asgi")

_NOT_FOUND: Final = HttpResponse(404, [("content-type", "text/plain")], b"Not Found")
_SERVER_ERROR: Final = b"Internal Server Error"

#: The startup warning of an app that wants no WebSocket compression, behind an ASGI server
#: whose setting it does not know.
WS_COMPRESSION_ADVICE: Final = (
    "per_message_deflate=False does not reach the ASGI server, which negotiates WebSocket "
    "compression itself (a zlib context per connection, and behaviour that differs from "
    "the JS server's). Turn it off there: uvicorn --ws-per-message-deflate false (or "
    "uvicorn.Config(ws_per_message_deflate=False)); hypercorn has no setting and accepts "
    "any client's offer; granian never compresses. Then pass ASGIApp(..., "
    "ws_compression=False) to silence this warning."
)


def _headers(scope: Scope) -> dict[str, str]:
    return join_headers(
        (name.decode("latin-1").lower(), value.decode("latin-1"))
        for name, value in scope.get("headers", ())
    )


class _AsgiRequest:
    """An HTTP or WebSocket scope seen as an [`HttpRequest`][socketwire.io.http.HttpRequest]."""

    __slots__ = (
        "_body_timeout",
        "_disconnected",
        "_query",
        "_query_string",
        "_receive",
        "close_connection",
        "headers",
        "method",
        "path",
        "raw_path",
        "remote_addr",
        "scope",
        "secure",
    )

    def __init__(self, scope: Scope, receive: Receive, body_timeout: float) -> None:
        #: the ASGI scope (what ASGI middlewares around the app left in it, too)
        self.scope = scope
        self._receive = receive
        self._body_timeout = body_timeout
        self._disconnected = False
        self.close_connection = False
        self.method: str = scope.get("method", "GET")
        self.path: str = scope["path"]
        query_string: str = scope.get("query_string", b"").decode("latin-1")
        self._query_string = query_string
        self._query: dict[str, str] | None = None
        raw: bytes | None = scope.get("raw_path")
        target = raw.decode("latin-1") if raw else quote(self.path)
        self.raw_path = f"{target}?{query_string}" if query_string else target
        self.headers = _headers(scope)
        client = scope.get("client")
        self.remote_addr = (str(client[0]), int(client[1])) if client else None
        self.secure = scope.get("scheme") in ("https", "wss")

    @property
    def query(self) -> Mapping[str, str]:
        """Query parameters, first value of each."""
        if self._query is None:
            self._query = first_values(self._query_string)
        return self._query

    async def read_body(self, limit: int) -> bytes:
        """Read the whole body from ``receive()`` (see ``HttpRequest.read_body``)."""
        if declared_too_large(self.headers.get("content-length"), limit):
            self.close_connection = True
            raise BodyTooLargeError
        if self._disconnected:
            raise ClientDisconnectedError
        more = True

        async def next_chunk() -> bytes | None:
            nonlocal more
            if not more:
                return None
            message = await self._receive()
            if message["type"] == "http.disconnect":
                self._disconnected = True
                raise ClientDisconnectedError
            more = bool(message.get("more_body", False))
            chunk: bytes = message.get("body", b"")
            return chunk

        try:
            return await read_limited(next_chunk, limit, self._body_timeout)
        except (BodyTooLargeError, BodyTimeoutError):
            self.close_connection = True
            raise

    async def wait_disconnected(self) -> None:
        """Return when the client goes away (unread body chunks are discarded)."""
        while not self._disconnected:
            message = await self._receive()
            if message["type"] in ("http.disconnect", "websocket.disconnect"):
                self._disconnected = True


class _AsgiSink:
    """Sends a queued connection's messages as ASGI ``websocket.*`` events."""

    __slots__ = ("_send",)

    def __init__(self, send: Send) -> None:
        self._send = send

    async def send_text(self, data: str) -> None:
        """Send one text message."""
        await self._send({"type": "websocket.send", "text": data})

    async def send_bytes(self, data: bytes) -> None:
        """Send one binary message."""
        await self._send({"type": "websocket.send", "bytes": data})

    async def close(self, code: int, reason: str) -> None:
        """Send the close."""
        await self._send({"type": "websocket.close", "code": code, "reason": reason})


class ASGIApp:
    """An ASGI 3 application serving ``http_app`` and passing other paths to ``other_app``.

    Args:
        http_app: the application for the paths it owns.
        other_app: an ASGI 3 application for everything else (and lifespan events).
        body_timeout: seconds ``read_body`` waits for a complete body.
        ws_compression: whether the ASGI server negotiates WebSocket compression (it
            decides, not ``per_message_deflate``). None (unknown): when ``http_app`` wants
            none, a warning at startup says how to turn it off
            (``WS_COMPRESSION_ADVICE`` in this module).
    """

    def __init__(
        self,
        http_app: HttpApp,
        other_app: ASGI3App | None = None,
        *,
        body_timeout: float = 30.0,
        ws_compression: bool | None = None,
    ) -> None:
        self.http_app = http_app
        self.other_app = other_app
        self.body_timeout = body_timeout
        self.ws_compression = ws_compression
        self._advised = False

    def _advise_compression(self) -> None:
        """Log ``WS_COMPRESSION_ADVICE`` once, if it applies."""
        if self._advised:
            return
        self._advised = True
        wanted = getattr(self.http_app, "per_message_deflate", None)
        if self.ws_compression is None and wanted is False:
            logger.warning(WS_COMPRESSION_ADVICE)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Dispatch one ASGI connection."""
        kind = scope["type"]
        if kind == "lifespan":
            await self._lifespan(scope, receive, send)
        elif kind in ("http", "websocket") and self.http_app.owns(scope["path"]):
            if kind == "http":
                await self._http(scope, receive, send)
            else:
                await self._websocket(scope, receive, send)
        elif self.other_app is not None:
            await self.other_app(scope, receive, send)
        elif kind == "http":
            await self._send_response(send, _NOT_FOUND)
        elif kind == "websocket":
            await receive()  # websocket.connect
            await send({"type": "websocket.close", "code": 1000, "reason": ""})

    async def _http(self, scope: Scope, receive: Receive, send: Send) -> None:
        request = _AsgiRequest(scope, receive, self.body_timeout)
        try:
            response = await self.http_app.handle_http(request)
        except ClientDisconnectedError:
            return
        except Exception:
            logger.exception("application failed on %s %s", request.method, request.raw_path)
            response = HttpResponse(500, [("content-type", "text/plain")], _SERVER_ERROR)
        await self._send_response(send, response, close=request.close_connection)

    @staticmethod
    async def _send_response(send: Send, response: HttpResponse, *, close: bool = False) -> None:
        headers = [
            (name.lower().encode("latin-1"), value.encode("latin-1"))
            for name, value in response.headers
        ]
        headers.append((b"content-length", str(len(response.body)).encode()))
        if close:
            # The rest of the body was not read: ask the server not to reuse the connection.
            headers.append((b"connection", b"close"))
        await send({"type": "http.response.start", "status": response.status, "headers": headers})
        await send({"type": "http.response.body", "body": response.body})

    async def _websocket(self, scope: Scope, receive: Receive, send: Send) -> None:
        self._advise_compression()  # for ASGI servers run without lifespan events
        message = await receive()
        if message["type"] != "websocket.connect":
            return
        request = _AsgiRequest(scope, receive, self.body_timeout)
        try:
            decision = await self.http_app.handle_websocket(request)
        except Exception:
            logger.exception("application failed on WebSocket %s", request.raw_path)
            decision = HttpResponse(500, [("content-type", "text/plain")], _SERVER_ERROR)
        if isinstance(decision, HttpResponse):
            await self._refuse(scope, send, decision)
            return
        await self._run_websocket(receive, send, decision)

    @staticmethod
    async def _refuse(scope: Scope, send: Send, response: HttpResponse) -> None:
        if "websocket.http.response" in scope.get("extensions", {}):
            headers = [
                (name.lower().encode("latin-1"), value.encode("latin-1"))
                for name, value in response.headers
            ]
            headers.append((b"content-length", str(len(response.body)).encode()))
            await send(
                {
                    "type": "websocket.http.response.start",
                    "status": response.status,
                    "headers": headers,
                }
            )
            await send({"type": "websocket.http.response.body", "body": response.body})
        else:
            await send({"type": "websocket.close", "code": 1008, "reason": ""})

    async def _run_websocket(self, receive: Receive, send: Send, accept: WebSocketAccept) -> None:
        headers = [
            (name.lower().encode("latin-1"), value.encode("latin-1"))
            for name, value in accept.headers
        ]
        await send({"type": "websocket.accept", "headers": headers})
        transport = QueuedWebSocket()
        try:
            handler = accept.attach(transport)
        except Exception:
            logger.exception("WebSocket attach failed")
            await send({"type": "websocket.close", "code": 1011, "reason": ""})
            return

        async def read_loop() -> int:
            while True:
                await transport.wait_readable()
                message = await receive()
                kind = message["type"]
                if kind == "websocket.disconnect":
                    code: int = message.get("code", 1005)
                    return code
                if kind == "websocket.receive":
                    text: str | None = message.get("text")
                    data: str | bytes = text if text is not None else message.get("bytes") or b""
                    deliver(transport, handler, data, accept.max_message_size)

        await run_websocket(transport, handler, read_loop, _AsgiSink(send))

    async def _lifespan(self, scope: Scope, receive: Receive, send: Send) -> None:
        self._advise_compression()
        shutdown_done = False

        async def shutdown() -> None:
            nonlocal shutdown_done
            if not shutdown_done:
                shutdown_done = True
                try:
                    await self.http_app.shutdown()
                except Exception:
                    logger.exception("app.shutdown() failed")

        if self.other_app is not None:
            started = False

            async def wrapped_receive() -> Message:
                nonlocal started
                message = await receive()
                if message["type"] == "lifespan.startup":
                    started = True
                elif message["type"] == "lifespan.shutdown":
                    await shutdown()
                return message

            try:
                await self.other_app(scope, wrapped_receive, send)
                return
            except Exception:
                if started:
                    raise
                # The wrapped app does not speak lifespan: answer it ourselves.
                logger.debug("other_app does not support lifespan", exc_info=True)
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                await shutdown()
                await send({"type": "lifespan.shutdown.complete"})
                return
