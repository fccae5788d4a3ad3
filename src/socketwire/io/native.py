"""The native server: asyncio + httptools for HTTP/1.1, websockets' sans-I/O protocol for frames.

One [`HttpConnection`][._native_http.HttpConnection] (an [`Protocol`][asyncio.Protocol]) per TCP
connection parses requests and answers them in order; a WebSocket upgrade the application accepts
swaps the transport over to a [`NativeWebSocket`][._native_ws.NativeWebSocket]. This module holds
the listening server and its graceful shutdown.

Usage:

```python
server = NativeServer(app, "127.0.0.1", 8000)
await server.start()
await server.serve_forever()      # until close() is called
```
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
import ssl as ssl_module
from collections.abc import Callable
from typing import TYPE_CHECKING

from socketwire.handlers import spawn

from ._native_http import HttpConnection
from ._native_ws import NativeWebSocket, WriteBatch, frame_message
from .handoff import Handoff
from .http import HttpApp, HttpRequest, HttpResponse

if TYPE_CHECKING:
    from .webtransport import WebTransportOptions, WebTransportServer

__all__ = ["NativeServer", "NativeWebSocket", "frame_message", "install_uvloop"]

logger = logging.getLogger("socketwire.native")


def install_uvloop() -> bool:
    """Make uvloop the event loop policy when it is installed.

    Returns:
        True when uvloop is now the policy; False when it is not installed.
    """
    try:
        import uvloop
    except ImportError:
        return False
    asyncio.set_event_loop_policy(uvloop.EventLoopPolicy())
    return True


def _loop_factory(use_uvloop: bool | None) -> Callable[[], asyncio.AbstractEventLoop] | None:
    if use_uvloop is False:
        return None
    try:
        import uvloop
    except ImportError:
        if use_uvloop:
            raise
        return None
    return uvloop.new_event_loop


class NativeServer:
    """The embedded HTTP/1.1 + WebSocket server for an [`HttpApp`][socketwire.io.http.HttpApp].

    Args:
        app: the application to serve.
        host: address to bind.
        port: port to bind; 0 picks a free one (see `port` after [`start()`][start]).
        ssl: TLS context; requests then report ``secure``.
        backlog: listen backlog.
        body_timeout: seconds `HttpRequest.read_body()` waits for a
            complete body.
        keepalive_timeout: seconds an idle keep-alive connection stays open.
        max_header_size: limit on the request line plus headers; over it, 431.
        use_uvloop: for [`run()`][run]: True requires uvloop, False never uses it, None uses
            it when installed.
        reuse_port: bind with ``SO_REUSEPORT``, so that several worker processes share the
            port (the kernel spreads new connections over them).
        handoff: a worker's `Handoff`: a request for a session
            another worker owns moves, with its connection, to that worker (not with
            ``ssl``: TLS state cannot move).
        webtransport: also accept WebTransport sessions (HTTP/3, QUIC) on UDP, on the same
            port number (the ``webtransport`` extra; the app must have
            ``handle_webtransport``, as [`socketwire.Server`][socketwire.Server] does, with
            ``"webtransport"`` among its transports).
    """

    def __init__(
        self,
        app: HttpApp,
        host: str = "127.0.0.1",
        port: int = 0,
        *,
        ssl: ssl_module.SSLContext | None = None,
        backlog: int = 2048,
        body_timeout: float = 30.0,
        keepalive_timeout: float = 75.0,
        max_header_size: int = 16 * 1024,
        use_uvloop: bool | None = None,
        reuse_port: bool = False,
        handoff: Handoff | None = None,
        webtransport: WebTransportOptions | None = None,
    ) -> None:
        if handoff is not None and ssl is not None:
            raise ValueError("a connection cannot be handed to another worker under TLS")
        self.app = app
        #: the app's ImmediateHttpApp capability, if it has it (socketwire.io.http)
        self.app_now: (
            Callable[[HttpRequest, bytes], HttpResponse | asyncio.Future[HttpResponse] | None]
            | None
        ) = getattr(app, "handle_http_now", None)
        self.host = host
        self.port = port
        self.ssl = ssl
        self.backlog = backlog
        self.body_timeout = body_timeout
        self.keepalive_timeout = keepalive_timeout
        self.max_header_size = max_header_size
        self.use_uvloop = use_uvloop
        self.reuse_port = reuse_port
        self.handoff = handoff
        self.webtransport = webtransport
        #: the WebTransport listener, once started
        self.webtransport_server: WebTransportServer | None = None
        self.connections: set[HttpConnection] = set()
        self.websockets: set[NativeWebSocket] = set()
        #: joins each WebSocket's broadcast frames of one loop iteration into one write
        self.write_batch = WriteBatch()
        #: what every NativeWebSocket is given as ``on_lost``, bound once
        self.forget_websocket: Callable[[NativeWebSocket], None] = self.forget
        self._server: asyncio.Server | None = None
        self._closed = asyncio.Event()
        self._drained = asyncio.Event()
        self._closing = False

    @property
    def sockets(self) -> tuple[socket.socket, ...]:
        """The listening sockets (empty before [`start()`][start])."""
        return self._server.sockets if self._server is not None else ()

    def forget(self, connection: HttpConnection | NativeWebSocket) -> None:
        """Called by a connection that ended."""
        if isinstance(connection, NativeWebSocket):
            self.websockets.discard(connection)
        else:
            self.connections.discard(connection)
        if self._closing and not self.connections and not self.websockets:
            self._drained.set()

    async def start(self) -> None:
        """Bind and start accepting connections; `port` then holds the bound port."""
        loop = asyncio.get_running_loop()
        self._server = await loop.create_server(
            lambda: HttpConnection(self),
            self.host,
            self.port,
            ssl=self.ssl,
            backlog=self.backlog,
            reuse_port=self.reuse_port or None,
        )
        self.port = self._server.sockets[0].getsockname()[1]
        if self.webtransport is not None:
            from .webtransport import WebTransportServer

            listener = WebTransportServer(
                self.app,  # type: ignore[arg-type]  # checked by the listener's first use
                self.host,
                self.port,
                self.webtransport,
            )
            try:
                await listener.start()
            except BaseException:
                self._server.close()
                raise
            self.webtransport_server = listener

    def adopt(self, sock: socket.socket, data: bytes) -> None:
        """Serve a connection another worker accepted, from the bytes it already read
        (``data``: the start of a request)."""
        if self._closing:
            sock.close()
            return
        if self.handoff is not None:
            self.handoff.stats.received += 1
        loop = asyncio.get_running_loop()

        async def serve() -> None:
            try:
                await loop.connect_accepted_socket(lambda: HttpConnection(self, data), sock)
            except OSError as exc:
                logger.debug("a handed-over connection was already gone: %s", exc)
                sock.close()

        spawn(serve())

    async def serve_forever(self) -> None:
        """Wait until [`close()`][close] completes (call [`start()`][start] first)."""
        await self._closed.wait()

    async def close(self, timeout: float = 5.0) -> None:  # noqa: ASYNC109 (a shutdown budget)
        """Shut down gracefully.

        Stops accepting, awaits ``app.shutdown()``, closes idle keep-alive connections and
        WebSockets the app left open (1001), then waits up to ``timeout`` seconds for the
        rest to finish before dropping them.
        """
        if self._closing:
            await self._closed.wait()
            return
        self._closing = True
        if self._server is not None:
            self._server.close()
        try:
            async with asyncio.timeout(timeout):
                await self.app.shutdown()
        except TimeoutError:
            logger.warning("app.shutdown() did not finish in %.1f s", timeout)
        except Exception:
            logger.exception("app.shutdown() failed")
        if self.webtransport_server is not None:
            await self.webtransport_server.close()
        for connection in list(self.connections):
            connection.shutdown()
        for websocket in list(self.websockets):
            websocket.close(1001, "server shutting down")
        if self.connections or self.websockets:
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(timeout):
                    await self._drained.wait()
        for connection in list(self.connections):
            connection.abort()
        for websocket in list(self.websockets):
            websocket.abort()
        if self._server is not None:
            with contextlib.suppress(Exception):
                await self._server.wait_closed()
        self._closed.set()

    def run(self) -> None:
        """Run the server in a new event loop until interrupted (Ctrl-C closes gracefully)."""

        async def main() -> None:
            await self.start()
            try:
                await self.serve_forever()
            finally:
                if not self._closed.is_set():
                    await self.close()

        factory = _loop_factory(self.use_uvloop)
        with asyncio.Runner(loop_factory=factory) as runner, contextlib.suppress(KeyboardInterrupt):
            runner.run(main())
