"""The narrow interface between HTTP/WebSocket plumbing and the applications it serves.

Two plumbings implement it: the native server (`socketwire.io.native`) and
the ASGI app (`socketwire.io.asgi`). Two kinds of application use it: the
Engine.IO server (`socketwire.io.engine`) and, later, static-file hooks.
Nothing here knows about Engine.IO; nothing in an application knows which plumbing drives it.

Flow for a plain HTTP request:

```text
plumbing parses the request head -> HttpRequest
response = await app.handle_http(request)       # may await request.read_body(limit)
plumbing writes response (status, headers, body) and keeps the connection alive
```

Flow for a WebSocket upgrade request (``Upgrade: websocket``):

```text
decision = await app.handle_websocket(request)   # HttpResponse rejects, WebSocketAccept accepts
if HttpResponse: plumbing answers it as plain HTTP and does not upgrade
else: plumbing completes the handshake, builds a WebSocketTransport ``ws`` and calls
      handler = decision.attach(ws)
      then, for every message: handler.on_message(str | bytes)
      and once, when the connection ends for any reason: handler.on_close(code)
```
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Protocol
from urllib.parse import parse_qsl

__all__ = [
    "BodyTimeoutError",
    "BodyTooLargeError",
    "ClientDisconnectedError",
    "HttpApp",
    "HttpRequest",
    "HttpResponse",
    "ImmediateHttpApp",
    "WatchableRequest",
    "WebSocketAccept",
    "WebSocketHandler",
    "WebSocketTransport",
    "first_values",
    "join_headers",
]


def first_values(query_string: str) -> dict[str, str]:
    """The parameters of ``query_string`` (percent-decoded), the first value of each, as
    [`HttpRequest.query`][HttpRequest.query] holds them."""
    query: dict[str, str] = {}
    for key, value in parse_qsl(query_string, keep_blank_values=True):
        query.setdefault(key, value)
    return query


def join_headers(lines: Iterable[tuple[str, str]]) -> dict[str, str]:
    """Header lines ``(lower-case name, value)`` as [`HttpRequest.headers`][HttpRequest.headers]
    holds them: a repeated header's values joined by ``", "``."""
    headers: dict[str, str] = {}
    for name, value in lines:
        previous = headers.get(name)
        headers[name] = value if previous is None else f"{previous}, {value}"
    return headers


class BodyTooLargeError(Exception):
    """The request body is longer than the limit given to
    `HttpRequest.read_body()`."""


class BodyTimeoutError(Exception):
    """The request body did not arrive in full within the plumbing's body timeout."""


class ClientDisconnectedError(Exception):
    """The client closed the connection before the request was answered."""


class HttpRequest(Protocol):
    """One HTTP request, as the plumbing parsed it.

    ``headers`` maps lower-case header names to values (repeated headers joined by ``", "``).
    ``query`` maps each query parameter to its first value.
    """

    @property
    def method(self) -> str:
        """The request method in upper case (``GET``, ``POST``...)."""

    @property
    def path(self) -> str:
        """The URL path, percent-decoded, without the query string."""

    @property
    def raw_path(self) -> str:
        """The request target as sent: path and query string (``/socket.io/?EIO=4``)."""

    @property
    def query(self) -> Mapping[str, str]:
        """Query parameters, first value of each."""

    @property
    def headers(self) -> Mapping[str, str]:
        """Request headers by lower-case name."""

    @property
    def remote_addr(self) -> tuple[str, int] | None:
        """The peer's address, when known."""

    @property
    def secure(self) -> bool:
        """True when the request came over TLS."""

    async def read_body(self, limit: int) -> bytes:
        """Read the whole body.

        Raises:
            BodyTooLargeError: the body (or its Content-Length) exceeds ``limit`` bytes;
                the caller should answer 413.
            BodyTimeoutError: the body did not finish in time; the plumbing closes the
                connection after the caller's response.
            ClientDisconnectedError: the client went away.
        """

    async def wait_disconnected(self) -> None:
        """Return when the client closes the connection (for long-polling GETs)."""


class WatchableRequest(HttpRequest, Protocol):
    """An optional capability: a request whose disconnection is a future to watch.

    A plumbing that already holds such a future per connection (the native server) offers it, and
    the engine watches a waiting long-poll GET with a callback instead of a task running
    [`HttpRequest.wait_disconnected()`][HttpRequest.wait_disconnected]. The engine looks the method
    up with ``getattr(request, "disconnected_future", None)``; plumbings without it lose nothing but
    that saving.
    """

    def disconnected_future(self) -> asyncio.Future[None]:
        """The future done when the client closes the connection; never cancel it."""


@dataclass(slots=True)
class HttpResponse:
    """A complete HTTP response. ``headers`` must not include Content-Length."""

    status: int
    headers: list[tuple[str, str]] = field(default_factory=list)
    body: bytes = b""


class WebSocketTransport(Protocol):
    """Writes to one accepted WebSocket connection. Every method returns at once."""

    def send_text(self, data: str) -> None:
        """Queue a text message."""

    def send_bytes(self, data: bytes) -> None:
        """Queue a binary message."""

    def send_frame(self, frame: bytes) -> None:
        """Queue bytes that are already one complete, unmasked WebSocket frame.

        Used to write one pre-framed broadcast to many connections. A plumbing that cannot
        write raw frames (ASGI) never receives this call: see [`supports_frames`][supports_frames].
        """

    @property
    def supports_frames(self) -> bool:
        """True when [`send_frame()`][send_frame] may be used."""

    @property
    def compressed(self) -> bool:
        """True when permessage-deflate was negotiated and this plumbing applies it.

        Read only when [`supports_frames`][supports_frames] is True: a frame written with
        [`send_frame()`][send_frame] is then sent uncompressed (RSV1 clear, RFC 7692 section 6),
        while [`send_text()`][send_text] and [`send_bytes()`][send_bytes] compress.
        """

    @property
    def buffered_amount(self) -> int:
        """Bytes queued for this connection and not yet handed to the OS."""

    def close(self, code: int = 1000, reason: str = "") -> None:
        """Start the closing handshake; [`WebSocketHandler.on_close()`][WebSocketHandler.on_close]
        follows."""

    def pause_reading(self) -> None:
        """Stop reading from the peer (the application's backpressure).

        Once this returns, [`WebSocketHandler.on_message()`][WebSocketHandler.on_message] is
        not called again until [`resume_reading()`][resume_reading]: what was already read
        waits in the plumbing. Closing and the end of the connection are still reported.
        """

    def resume_reading(self) -> None:
        """Deliver what waited, then read from the peer again (unless paused meanwhile)."""


class WebSocketHandler(Protocol):
    """Receives what arrives on one accepted WebSocket connection."""

    def on_message(self, data: str | bytes) -> None:
        """A complete message arrived (text as ``str``, binary as ``bytes``)."""

    def on_close(self, code: int) -> None:
        """The connection ended (closing handshake, error, or lost TCP); called once."""


@dataclass(slots=True)
class WebSocketAccept:
    """The application accepts the upgrade; the plumbing calls ``attach`` once it is open.

    ``max_message_size``: a larger incoming message closes the connection with 1009.
    ``compression``: offer permessage-deflate to the client.
    ``headers``: extra headers for the 101 response (cookies, for instance).
    """

    attach: Callable[[WebSocketTransport], WebSocketHandler]
    max_message_size: int | None = None
    compression: bool = False
    headers: list[tuple[str, str]] = field(default_factory=list)


class HttpApp(Protocol):
    """What a plumbing serves."""

    def owns(self, path: str) -> bool:
        """True when this app answers ``path``; the ASGI app passes other paths through."""

    async def handle_http(self, request: HttpRequest) -> HttpResponse:
        """Answer one plain HTTP request."""

    async def handle_websocket(self, request: HttpRequest) -> HttpResponse | WebSocketAccept:
        """Accept or refuse one WebSocket upgrade request."""

    async def shutdown(self) -> None:
        """The server is stopping: close sessions (reason "server shutting down")."""


class ImmediateHttpApp(HttpApp, Protocol):
    """An optional capability: an app that can answer a request without a coroutine.

    The native server asks it first for a request whose body is complete (a long-polling
    ``GET`` or ``POST`` that names an open session is the common case), and answers without a
    task when it can. The plumbing looks the method up with
    ``getattr(app, "handle_http_now", None)``; an app without it is served as before.
    """

    def handle_http_now(
        self, request: HttpRequest, body: bytes
    ) -> HttpResponse | asyncio.Future[HttpResponse] | None:
        """The response to ``request`` (its whole body: ``body``) now, a future of it (a
        long-poll that waits), or None: answer it with [`handle_http()`][HttpApp.handle_http]
        instead.

        Called only once the request's body is complete; it does not block, and raises only
        on a bug (the plumbing answers 500). The plumbing writes the future's response when it
        is done, unless the connection is gone; the app completes it whatever happens
        (the client leaving included)."""


HttpHandler = Callable[[HttpRequest], Awaitable[HttpResponse]]
