"""A WebSocket in memory, between the real client and a server's real WebSocket path.

The server side is the server's real WebSocket path:
[`HttpApp.handle_websocket>()`][HttpApp.handle_websocket
<socketwire.io.http.HttpApp.handle_websocket>] receives a [`MemoryRequest`][MemoryRequest] and, when
it accepts, attaches a [`MemoryWebSocket`][MemoryWebSocket] (a
[`WebSocketTransport`][socketwire.io.http.WebSocketTransport]). The client side is the real client:
the `EngineClient` of a ``socketwire.AsyncClient``
drives its [`MemoryChannel`][MemoryChannel] as it drives a network WebSocket (a
`WebSocketFactory` builds it).

Every message crosses with ``loop.call_soon``, in order, so neither side runs inside the
other's ``send`` call: the interleaving is a network's, minus the latency.
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from urllib.parse import parse_qsl, urlencode, urlsplit

from socketwire.io.client_websocket import WebSocketListener
from socketwire.io.http import HttpApp, HttpResponse, WebSocketHandler

__all__ = ["MemoryChannel", "MemoryRequest", "MemoryWebSocket"]

#: WebSocket close code of a message over the accepted size (RFC 6455 section 7.4.1).
MESSAGE_TOO_BIG = 1009


@dataclass(slots=True)
class MemoryRequest:
    """The WebSocket handshake request, as a plumbing would hand it to the server.

    Attributes:
        path: the URL path (the server's ``path``).
        query: the query parameters (``EIO``, ``transport`` and the application's).
        headers: the headers by lower-case name.
        remote_addr: the peer's address (``("127.0.0.1", 0)``).
        secure: whether it came over TLS (False).
        method: ``"GET"``.
    """

    path: str
    query: Mapping[str, str]
    headers: Mapping[str, str]
    remote_addr: tuple[str, int] | None = ("127.0.0.1", 0)
    secure: bool = False
    method: str = "GET"
    closed: asyncio.Event = field(default_factory=asyncio.Event)

    @property
    def raw_path(self) -> str:
        """The request target: the path and the query string."""
        return f"{self.path}?{urlencode(dict(self.query))}"

    async def read_body(self, limit: int) -> bytes:
        """An upgrade request has no body."""
        return b""

    async def wait_disconnected(self) -> None:
        """Return once the connection ended."""
        await self.closed.wait()


class MemoryWebSocket:
    """The server's end of a [`MemoryChannel`][MemoryChannel] (a ``WebSocketTransport``).

    Args:
        send: Queues one message for the client.
        close: Closes the connection with a code, after the messages already queued.
        reading: Called with False when the server pauses reading, True when it resumes.
    """

    __slots__ = ("_close", "_reading", "_send")

    def __init__(
        self,
        send: Callable[[str | bytes], None],
        close: Callable[[int], None],
        reading: Callable[[bool], None],
    ) -> None:
        self._send = send
        self._close = close
        self._reading = reading

    def send_text(self, data: str) -> None:
        """Queue a text message for the client."""
        self._send(data)

    def send_bytes(self, data: bytes) -> None:
        """Queue a binary message for the client."""
        self._send(bytes(data))

    def send_frame(self, frame: bytes) -> None:
        """Never called: [`supports_frames`][supports_frames] is False."""
        raise NotImplementedError("a memory WebSocket carries messages, not frames")

    @property
    def supports_frames(self) -> bool:
        """False: the server hands over messages."""
        return False

    @property
    def compressed(self) -> bool:
        """False: nothing is compressed in memory."""
        return False

    @property
    def buffered_amount(self) -> int:
        """0: a message is handed over at once."""
        return 0

    def close(self, code: int = 1000, reason: str = "") -> None:
        """Close after the messages already queued; both ends learn it."""
        self._close(code)

    def pause_reading(self) -> None:
        """Hold the client's messages (the client then buffers what it sends next)."""
        self._reading(False)

    def resume_reading(self) -> None:
        """Deliver the messages held, then take the client's messages again."""
        self._reading(True)


class MemoryChannel:
    """A client WebSocket that reaches an [`HttpApp`][socketwire.io.http.HttpApp] in memory
    (a `WebSocketLike`).

    Args:
        app: The server (a [`Server`][socketwire.Server], or any ``HttpApp``).
        url: The WebSocket URL the client asked for (its path and query reach the server;
            its host becomes the ``host`` header).
        listener: The client session's WebSocket inputs.
        headers: Extra handshake headers.
        max_size: The largest message the client accepts (a larger one fails the
            connection, as the network channel does).

    Attributes:
        request: The handshake request handed to the server.
        refusal: The server's answer when it refused the upgrade (None otherwise).
    """

    def __init__(
        self,
        app: HttpApp,
        *,
        url: str,
        listener: WebSocketListener,
        headers: Mapping[str, str],
        max_size: int,
    ) -> None:
        parts = urlsplit(url)
        self._app = app
        self._listener = listener
        self._max_size = max_size
        self.request = MemoryRequest(
            path=parts.path,
            query=dict(parse_qsl(parts.query)),
            headers={"host": parts.netloc, **{k.lower(): v for k, v in headers.items()}},
        )
        self.refusal: HttpResponse | None = None
        self._loop = asyncio.get_running_loop()
        self._handler: WebSocketHandler | None = None
        self._limit: int | None = None
        self._in_flight = 0
        #: the server paused reading: the rest of the batch being delivered waits
        self._paused = False
        self._held: deque[str | bytes] = deque()
        self._task: asyncio.Task[None] | None = None
        self._ended = asyncio.Event()
        self._changed = asyncio.Event()

    @property
    def ended(self) -> bool:
        """Both ends know the connection is over."""
        return self._ended.is_set()

    @property
    def in_flight(self) -> int:
        """Batches sent and not yet handed to the server."""
        return self._in_flight

    async def wait_changed(self) -> None:
        """Wait until a batch reaches the server, or the connection ends."""
        self._changed.clear()
        await self._changed.wait()

    # -- the client's side (WebSocketLike) -----------------------------------------------

    def open(self) -> None:
        """Start the server's WebSocket path (on the next loop iterations)."""
        self._task = self._loop.create_task(self._open())

    def send(self, messages: tuple[str | bytes, ...]) -> None:
        """Hand ``messages`` to the server, after those already sent."""
        self._in_flight += 1
        self._loop.call_soon(self._to_server, messages)

    def close(self) -> None:
        """Close after the messages already sent, as a closing handshake would."""
        self._loop.call_soon(self._end, 1000, "closed by the client", False)

    async def aclose(self) -> None:
        """Close, and wait until both ends know (and the opening task is over)."""
        self.close()
        task = self._task
        if task is not None and not task.done() and self._handler is None:
            task.cancel()
        await self._ended.wait()
        if task is not None:
            await asyncio.gather(task, return_exceptions=True)

    # -- the server's WebSocket path -----------------------------------------------------

    async def _open(self) -> None:
        try:
            decision = await self._app.handle_websocket(self.request)
        except Exception as exc:
            self._end(1006, f"handshake failed: {exc!r}", True)
            return
        if isinstance(decision, HttpResponse):
            self.refusal = decision
            self._end(1006, f"HTTP {decision.status}", True)
            return
        if self.ended:
            return  # closed while the server was deciding
        self._limit = decision.max_message_size
        self._handler = decision.attach(
            MemoryWebSocket(self._to_client, self._server_close, self._set_reading)
        )
        if self.ended:
            return  # the server closed it at once (attach refused it)
        self._listener.websocket_opened()

    def _to_server(self, messages: tuple[str | bytes, ...]) -> None:
        self._held.extend(messages)
        self._deliver_held()

    def _set_reading(self, reading: bool) -> None:
        self._paused = not reading
        if reading:
            self._deliver_held()

    def _deliver_held(self) -> None:
        # One batch at a time: the client session sends the next after websocket_drained.
        held = self._held
        handler = self._handler
        limit = self._limit
        while held and handler is not None and not self.ended:
            if self._paused:
                return  # the batch is not drained: the client buffers what follows
            message = held.popleft()
            if limit is not None and _size(message) > limit:
                # what a plumbing does: close 1009, the message is not delivered
                self._end(MESSAGE_TOO_BIG, "message too big", False)
                break
            handler.on_message(message)
        held.clear()
        if self._in_flight:
            self._in_flight -= 1
            if not self.ended:
                self._listener.websocket_drained()
        self._changed.set()

    def _to_client(self, data: str | bytes) -> None:
        self._loop.call_soon(self._deliver, data)

    def _deliver(self, data: str | bytes) -> None:
        if self.ended:
            return
        if _size(data) > self._max_size:
            # what the network channel does: the client fails the connection with 1009
            self._end(MESSAGE_TOO_BIG, "message too big", True)
            return
        self._listener.websocket_message(data)

    def _server_close(self, code: int) -> None:
        self._loop.call_soon(self._end, code, "closed by the server", False)

    def _end(self, code: int, description: str, failed: bool) -> None:
        """The WebSocket is over: tell both ends, once."""
        if self.ended:
            return
        self._ended.set()
        self.request.closed.set()
        if failed:
            self._listener.websocket_failed(f"websocket error: {description} ({code})")
        else:
            self._listener.websocket_closed(f"websocket connection closed: {description} ({code})")
        handler, self._handler = self._handler, None
        if handler is not None:
            handler.on_close(code)
        self._changed.set()


def _size(message: str | bytes) -> int:
    return len(message.encode()) if isinstance(message, str) else len(message)
