"""The WebSocket transport of the Engine.IO client, on the ``websockets`` asyncio client.

One [`WebSocketChannel`][WebSocketChannel] per WebSocket, with two tasks: the reader (connects, then
reports every message) and the writer (writes the session's batches in order, then reports
that the batch is written, which is the session's backpressure signal). Results go back
through a [`WebSocketListener`][WebSocketListener].
"""

from __future__ import annotations

import asyncio
import contextlib
import ssl as ssl_module
from collections import deque
from collections.abc import Mapping, Sequence
from typing import Any, Protocol

from aiohttp.abc import AbstractCookieJar
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed, ConnectionClosedError
from websockets.typing import Subprotocol

from socketwire.io.client_network import cookie_header, store_cookies

__all__ = ["WebSocketChannel", "WebSocketFactory", "WebSocketLike", "WebSocketListener"]

# Close codes we send when the server breaks the WebSocket protocol or our size limit.
_OUR_ERROR_CODES = frozenset({1002, 1007, 1009})
# Seconds allowed for the closing handshake when no timeout is set.
_GOODBYE = 10.0


class WebSocketListener(Protocol):
    """Receives what the WebSocket channel observed (the session's WebSocket inputs)."""

    def websocket_opened(self) -> None:
        """The opening handshake completed."""

    def websocket_message(self, data: str | bytes) -> None:
        """A message arrived."""

    def websocket_drained(self) -> None:
        """One batch given to [`WebSocketChannel.send()`][WebSocketChannel.send] was written."""

    def websocket_closed(self, description: str) -> None:
        """The connection ended normally or was lost."""

    def websocket_failed(self, description: str) -> None:
        """The connection could not be opened, or broke the protocol or a limit."""


class WebSocketLike(Protocol):
    """One WebSocket of an Engine.IO client session: what the session's driver
    (`EngineClient`) asks of it. Results go to its
    [`WebSocketListener`][WebSocketListener]."""

    def open(self) -> None:
        """Start connecting."""

    def send(self, messages: tuple[str | bytes, ...]) -> None:
        """Write ``messages`` after those already queued (one batch: ``websocket_drained``
        follows once it is written)."""

    def close(self) -> None:
        """Close after the queued messages are written."""

    async def aclose(self) -> None:
        """Close and wait until the connection is released."""


class WebSocketFactory(Protocol):
    """Builds the WebSocket of a session: [`WebSocketChannel`][WebSocketChannel] (a network
    connection) by default; ``socketwire.testing`` gives one that reaches a server in memory."""

    def __call__(
        self,
        *,
        url: str,
        listener: WebSocketListener,
        headers: Mapping[str, str],
        ssl: ssl_module.SSLContext | None,
        timeout: float | None,
        max_size: int,
        cookie_jar: AbstractCookieJar,
        proxy: str | None,
        protocols: Sequence[str],
    ) -> WebSocketLike:
        """A WebSocket to ``url`` (not opened yet); see [`WebSocketChannel`][WebSocketChannel]."""
        ...


_CLOSE = object()


class WebSocketChannel:
    """One WebSocket connection for an Engine.IO session.

    Args:
        url: the ``ws://`` or ``wss://`` URL, query included.
        listener: receives the results.
        headers: extra handshake headers.
        ssl: TLS context for wss (None: default verification).
        timeout: seconds for the opening handshake (None: no limit).
        max_size: the largest message accepted (a larger one fails the connection, 1009).
        cookie_jar: its cookies go with the handshake, which may set more (see
            [`socketwire.io.client_network`][socketwire.io.client_network]).
        proxy: the proxy URL, tunnelled through with ``CONNECT`` (None: direct).
        protocols: the subprotocols to offer (``Sec-WebSocket-Protocol``).
    """

    def __init__(
        self,
        *,
        url: str,
        listener: WebSocketListener,
        headers: Mapping[str, str],
        ssl: ssl_module.SSLContext | None,
        timeout: float | None,
        max_size: int,
        cookie_jar: AbstractCookieJar,
        proxy: str | None = None,
        protocols: Sequence[str] = (),
    ) -> None:
        self._url = url
        self._listener = listener
        self._headers = dict(headers)
        self._ssl = ssl
        self._timeout = timeout
        self._max_size = max_size
        self._cookie_jar = cookie_jar
        self._proxy = proxy
        self._protocols = [Subprotocol(p) for p in protocols] or None
        self._outgoing: deque[tuple[str | bytes, ...] | object] = deque()
        self._wake_writer = asyncio.Event()
        self._reader: asyncio.Task[None] | None = None
        self._writer: asyncio.Task[None] | None = None
        self._ws: ClientConnection | None = None

    def open(self) -> None:
        """Start connecting."""
        self._reader = asyncio.get_running_loop().create_task(self._read_loop())

    def send(self, messages: tuple[str | bytes, ...]) -> None:
        """Write ``messages`` after those already queued."""
        self._outgoing.append(messages)
        self._wake_writer.set()

    def close(self) -> None:
        """Close after the queued messages are written."""
        self._outgoing.append(_CLOSE)
        self._wake_writer.set()

    async def aclose(self) -> None:
        """Close and wait until both tasks ended (the closing handshake is bounded)."""
        self.close()
        reader = self._reader
        if reader is None:
            return
        # The reader ends when the connection does; if it never opened, stop connecting.
        if self._ws is None:
            reader.cancel()
        # A server that stops reading could block a write forever: bound the goodbye.
        done, _ = await asyncio.wait([reader], timeout=2 * (self._timeout or _GOODBYE))
        if not done:
            reader.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await reader

    async def _read_loop(self) -> None:
        # websockets wants ssl only for wss (True: default verification).
        tls: dict[str, Any] = {"ssl": self._ssl or True} if self._url.startswith("wss:") else {}
        headers = dict(self._headers)
        cookies = cookie_header(self._cookie_jar, self._url)
        if cookies:
            # After the application's own Cookie header, as engine.io-client does.
            mine = next((k for k in headers if k.lower() == "cookie"), None)
            headers["Cookie"] = f"{headers.pop(mine)}; {cookies}" if mine else cookies
        try:
            ws = await connect(
                self._url,
                additional_headers=headers,
                **tls,
                open_timeout=self._timeout,
                close_timeout=self._timeout or _GOODBYE,
                max_size=self._max_size,
                subprotocols=self._protocols,
                # Engine.IO has its own heartbeat; the proxy is resolved by client_network.
                ping_interval=None,
                proxy=self._proxy,
            )
        except Exception as exc:
            # Whatever stops the connection (refused, TLS, bad handshake, bad option) is a
            # transport error for the session; nothing may escape this task unreported.
            self._listener.websocket_failed(_describe(exc))
            return
        if ws.response is not None:
            store_cookies(self._cookie_jar, self._url, ws.response.headers.get_all("Set-Cookie"))
        self._ws = ws
        self._writer = asyncio.get_running_loop().create_task(self._write_loop(ws))
        self._listener.websocket_opened()
        try:
            async for message in ws:
                self._listener.websocket_message(message)
        except ConnectionClosedError as exc:
            if exc.rcvd is None and exc.sent is not None and exc.sent.code in _OUR_ERROR_CODES:
                self._listener.websocket_failed(str(exc))
            else:
                self._listener.websocket_closed(f"websocket connection closed: {exc}")
        else:
            self._listener.websocket_closed("websocket connection closed")
        finally:
            self._writer.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._writer
            await ws.close()

    async def _write_loop(self, ws: ClientConnection) -> None:
        while True:
            while not self._outgoing:
                self._wake_writer.clear()
                await self._wake_writer.wait()
            item = self._outgoing.popleft()
            if not isinstance(item, tuple):
                await ws.close()
                return
            try:
                for message in item:
                    await ws.send(message)
            except ConnectionClosed:
                return  # the reader reports the end
            self._listener.websocket_drained()


def _describe(exc: BaseException) -> str:
    if isinstance(exc, TimeoutError):
        return "timeout"
    return str(exc) or type(exc).__name__
