"""An Engine.IO connection in memory: the server's own WebSocket path, no socket.

The server side is the server's real WebSocket path: :meth:`HttpApp.handle_websocket
<socketwire.io.http.HttpApp.handle_websocket>` receives a :class:`MemoryRequest` and, when
it accepts, attaches a :class:`MemoryWebSocket` (a
:class:`~socketwire.io.http.WebSocketTransport`). The client side is the sans-I/O
:class:`~socketwire.engineio.client_session.ClientSession`, driven by :class:`MemoryLink`
exactly as :class:`~socketwire.io.client_transports.EngineClient` drives it over a network.

Every message crosses with ``loop.call_soon``, in order, so neither side runs inside the
other's ``send`` call: the interleaving is a network's, minus the latency.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from urllib.parse import urlencode

from socketwire.engineio.client_session import (
    ClientSession,
    ClientState,
    CloseWebSocket,
    Event,
    OpenWebSocket,
    SendWebSocket,
    TransportName,
)
from socketwire.io.http import HttpApp, HttpResponse, WebSocketHandler

__all__ = ["MemoryLink", "MemoryRequest", "MemoryWebSocket"]

#: WebSocket close code of a message over the accepted ``max_message_size`` (RFC 6455 7.4.1).
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
    _closed: asyncio.Event = field(default_factory=asyncio.Event)

    @property
    def raw_path(self) -> str:
        """The request target: the path and the query string."""
        return f"{self.path}?{urlencode(dict(self.query))}"

    async def read_body(self, limit: int) -> bytes:
        """An upgrade request has no body."""
        return b""

    async def wait_disconnected(self) -> None:
        """Return once the connection ended."""
        await self._closed.wait()


class MemoryWebSocket:
    """The server's end of a :class:`MemoryLink` (a ``WebSocketTransport``)."""

    __slots__ = ("_link",)

    def __init__(self, link: MemoryLink) -> None:
        """Wrap the link (the link does this)."""
        self._link = link

    def send_text(self, data: str) -> None:
        """Queue a text message for the client."""
        self._link._to_client(data)

    def send_bytes(self, data: bytes) -> None:
        """Queue a binary message for the client."""
        self._link._to_client(bytes(data))

    def send_frame(self, frame: bytes) -> None:
        """Never called: :attr:`supports_frames` is False."""
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
        self._link._loop.call_soon(self._link._end, code, "closed by the server")


class MemoryLink:
    """One Engine.IO connection from an in-memory client to an :class:`HttpApp`.

    Args:
        app: the server (a :class:`socketwire.Server`, or any ``HttpApp``).
        request: the handshake request.
        on_event: called with each client session event (``Opened``, ``MessageReceived``,
            ``Closed``...), on the loop, in order.
        handshake_timeout: seconds allowed for the Engine.IO handshake.

    Call :meth:`start` on the event loop; then :meth:`send` and :meth:`close`.
    """

    def __init__(
        self,
        app: HttpApp,
        request: MemoryRequest,
        on_event: Callable[[Event], None],
        *,
        handshake_timeout: float = 5.0,
    ) -> None:
        self._app = app
        self.request = request
        self._on_event = on_event
        self._session = ClientSession(
            transports=(TransportName.WEBSOCKET,),
            upgrade=False,
            handshake_timeout=handshake_timeout,
        )
        self._loop = asyncio.get_running_loop()
        self._handler: WebSocketHandler | None = None
        self._max_message_size: int | None = None
        self._timer: asyncio.TimerHandle | None = None
        self._timer_at: float | None = None
        self._pumping = False
        self._in_flight = 0
        self._task: asyncio.Task[None] | None = None
        self._ended = asyncio.Event()
        self._changed = asyncio.Event()
        #: The server's answer when it refused the upgrade (None otherwise).
        self.refusal: HttpResponse | None = None

    @property
    def state(self) -> ClientState:
        """The client session's ready state."""
        return self._session.state

    @property
    def ended(self) -> bool:
        """Both ends know the connection is over (the server's handler was told)."""
        return self._ended.is_set()

    def start(self) -> None:
        """Open the connection: the server's WebSocket path runs on the next iterations."""
        self._feed(lambda s, now: s.start(now))

    def send(self, data: str | bytes) -> bool:
        """Send one Engine.IO message; False once the session is closing (dropped)."""
        sent = self._session.send(data)
        self._pump()
        return sent

    def close(self) -> None:
        """Close the session after the messages already sent ("forced close")."""
        self._feed(lambda s, now: s.close())

    async def wait_sent(self) -> None:
        """Wait until every message sent so far was handed to the server (or the end)."""
        while (self._in_flight or self._session.buffered_amount) and not self.ended:
            self._changed.clear()
            await self._changed.wait()

    async def wait_ended(self) -> None:
        """Wait until the connection is over on both ends."""
        await self._ended.wait()

    async def aclose(self) -> None:
        """End the connection at once and release the timer and the opening task."""
        self._session.abort("test client closed")
        self._pump()
        self._end(1000, "test client closed")
        task = self._task
        if task is not None and not task.done():
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)

    # -- the client session ---------------------------------------------------------------

    def _feed(self, call: Callable[[ClientSession, float], None]) -> None:
        call(self._session, self._loop.time())
        self._pump()

    def _pump(self) -> None:
        # A callback may send or close: the outer call keeps draining, in the core's order.
        if self._pumping:
            return
        self._pumping = True
        try:
            session = self._session
            while True:
                actions = session.actions_to_perform()
                events = session.events_received()
                if not actions and not events:
                    break
                for action in actions:
                    self._perform(action)
                for event in events:
                    self._on_event(event)
        finally:
            self._pumping = False
        self._rearm()
        self._changed.set()

    def _perform(self, action: object) -> None:
        if isinstance(action, OpenWebSocket):
            self._task = self._loop.create_task(self._open())
        elif isinstance(action, SendWebSocket):
            self._in_flight += 1
            self._loop.call_soon(self._to_server, action.messages)
        elif isinstance(action, CloseWebSocket):
            # after the messages already queued, as a closing handshake would be
            self._loop.call_soon(self._end, 1000, "closed by the client")
        # StartPoll, StartPost, StopPolling: never asked of a WebSocket-only session.

    def _rearm(self) -> None:
        deadline = self._session.next_deadline()
        if deadline == self._timer_at:
            return
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        self._timer_at = deadline
        if deadline is not None:
            self._timer = self._loop.call_at(deadline, self._on_timer)

    def _on_timer(self) -> None:
        self._timer = None
        self._timer_at = None
        self._feed(lambda s, now: s.handle_timeout(now))

    # -- the server's WebSocket path ------------------------------------------------------

    async def _open(self) -> None:
        try:
            decision = await self._app.handle_websocket(self.request)
        except Exception as exc:
            description = f"handshake failed: {exc!r}"
            self._feed(lambda s, now: s.websocket_failed(description))
            self._end(1006, description)
            return
        if isinstance(decision, HttpResponse):
            self.refusal = decision
            self._feed(lambda s, now: s.websocket_failed(f"HTTP {decision.status}"))
            self._end(1006, f"HTTP {decision.status}")
            return
        if self.ended:
            return  # closed while the server was deciding
        self._max_message_size = decision.max_message_size
        self._handler = decision.attach(MemoryWebSocket(self))
        if self.ended:
            return  # the server closed it at once (attach refused it)
        self._feed(lambda s, now: s.websocket_opened())

    def _to_server(self, messages: tuple[str | bytes, ...]) -> None:
        self._in_flight -= 1
        handler = self._handler
        if handler is not None and not self.ended:
            limit = self._max_message_size
            for message in messages:
                size = len(message.encode()) if isinstance(message, str) else len(message)
                if limit is not None and size > limit:
                    # what the plumbing does: close 1009, the message is not delivered
                    self._end(MESSAGE_TOO_BIG, "message too big")
                    break
                handler.on_message(message)
                if self.ended:
                    break
        self._feed(lambda s, now: s.websocket_drained())

    def _to_client(self, data: str | bytes) -> None:
        self._loop.call_soon(self._deliver, data)

    def _deliver(self, data: str | bytes) -> None:
        if not self.ended:
            self._feed(lambda s, now: s.receive_websocket_message(data, now))

    def _end(self, code: int, description: str) -> None:
        """The WebSocket is closed: tell both ends, once."""
        if self.ended:
            return
        self._ended.set()
        self.request._closed.set()
        self._feed(lambda s, now: s.websocket_closed(f"{description} ({code})"))
        handler, self._handler = self._handler, None
        if handler is not None:
            handler.on_close(code)
        self._changed.set()
