"""One Engine.IO session on asyncio: the driver of its sans-I/O core.

[`EngineSocket`][EngineSocket] feeds one
[`ServerSession`][socketwire.engineio.server_session.ServerSession] what its transports receive,
with the loop's clock as ``now``, acts on the core's outputs in order, and keeps at most one
``loop.call_at`` timer on the core's next deadline: an idle session owns no task.
[`EngineServer`][socketwire.io.engine.EngineServer] routes requests to it.

Events: besides the ``on_message``, ``on_close`` and ``on_upgrade`` callbacks (one each,
which the Socket.IO server uses), any number of listeners may follow JS engine.io's socket
events with [`EngineSocket.on()`][EngineSocket.on] (see [`SOCKET_EVENTS`][SOCKET_EVENTS]). The
per-packet ones (``packet``, ``packet_create``, ``flush``, ``drain``, ``heartbeat``) cost
nothing until the first listener of one of them is added: the session is then observed
([`socketwire.engineio.observed`][socketwire.engineio.observed]) and its packets stop taking
the WebSocket shortcuts.

Backpressure: the bytes queued for one client (waiting for a poll, or written to its
WebSocket and not yet taken by the OS) are bounded by ``EngineOptions.max_buffered_bytes``;
a client over it is closed with reason "transport buffer full". The other way, the
application may stop taking a client's messages for a while
([`EngineSocket.pause_reading()`][EngineSocket.pause_reading]): its WebSocket stops reading
and its POSTs wait.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import deque
from collections.abc import Callable
from typing import Any, Final, TypeVar, overload

from socketwire.engineio.http import HttpAnswer
from socketwire.engineio.observed import (
    Drained,
    Flushed,
    Heartbeat,
    PacketCreated,
    PacketReceived,
    observe,
)
from socketwire.engineio.options import Transport
from socketwire.engineio.packets import SharedMessage
from socketwire.engineio.reasons import CloseReason
from socketwire.engineio.server_session import (
    AnswerPoll,
    Closed,
    CloseWebSocket,
    MessageReceived,
    Observation,
    SendProbe,
    SendWebSocket,
    ServerSession,
    Upgraded,
    Upgrading,
)
from socketwire.engineio.v3 import MESSAGE_BYTE
from socketwire.io.client_emitter import EngineEmitter
from socketwire.io.frames import frame_message
from socketwire.io.http import (
    BodyTimeoutError,
    BodyTooLargeError,
    ClientDisconnectedError,
    HttpRequest,
    HttpResponse,
    WebSocketHandler,
    WebSocketTransport,
)

__all__ = ["OBSERVED_EVENTS", "SOCKET_EVENTS", "EngineSocket", "EngineSocketV3", "http_response"]

logger = logging.getLogger("socketwire.engine")

#: The events of [`EngineSocket.on()`][EngineSocket.on], with JS engine.io's names in snake
#: case (``packetCreate`` is accepted too) and arguments:
SOCKET_EVENTS: Final = frozenset(
    {
        "upgrading",  # (transport name) the probe answered: the client moves to it
        "upgrade",  # (transport name) the session moved to the WebSocket
        "packet",  # (packet: engineio Packet) every packet received while open
        "packet_create",  # (packet) every packet queued for the client (message, ping)
        "flush",  # (packets: list of Packet) handed to the transport now
        "drain",  # () what was flushed is written
        "heartbeat",  # () the client answered a ping
        "close",  # (reason) the session ended
    }
)
#: The events that make the session report every packet (see the module docstring).
OBSERVED_EVENTS: Final = frozenset({"packet", "packet_create", "flush", "drain", "heartbeat"})
_ALIASES: Final = {"packetCreate": "packet_create"}

L = TypeVar("L", bound=Callable[..., Any])

# Close codes that mean the connection failed on a protocol error (RFC 6455 section 7.4.1):
# invalid frame, unacceptable or inconsistent data, policy, message too big, internal error.
# JS engine.io sees the ws "error" event first and closes with "transport error".
_PROTOCOL_ERROR_CODES: Final = frozenset({1002, 1003, 1007, 1008, 1009, 1011})


class EngineSocket:
    """One Engine.IO session as the application sees it.

    Set ``on_message`` (``(data: str | bytes) -> None``), ``on_close`` (``(reason: str) ->
    None``) and ``on_upgrade`` (``() -> None``) in the connection callback. Callbacks run on
    the event loop and must not block.
    """

    __slots__ = (
        "_closed",
        "_events",
        "_forget",
        "_held",
        "_loop",
        "_max_buffered",
        "_paused",
        "_poll",
        "_probe_ws",
        "_processing",
        "_readable",
        "_server_events",
        "_session",
        "_timer",
        "_timer_at",
        "_ws",
        "_ws_frames",
        "on_close",
        "on_message",
        "on_upgrade",
        "request",
    )

    def __init__(
        self,
        session: ServerSession,
        request: HttpRequest,
        *,
        loop: asyncio.AbstractEventLoop,
        max_buffered_bytes: int,
        forget: Callable[[EngineSocket], None],
        closed: Callable[[EngineSocket, str], None],
        server_events: EngineEmitter | None = None,
    ) -> None:
        """Wrap a new session (the server does this; applications never do).

        Args:
            session: The session's sans-I/O core.
            request: The handshake request.
            loop: The loop whose clock is the session's ``now`` and whose timers it uses.
            max_buffered_bytes: Close the session when its WebSocket holds more unsent.
            forget: Called when the session closes, before ``on_close``.
            closed: Called with the reason when the session closes, after ``on_close``.
            server_events: The server's listeners of ``flush`` and ``drain`` (called with
                this socket first), if any.
        """
        self._session = session
        self._loop = loop
        self._max_buffered = max_buffered_bytes
        self._forget = forget
        self._closed = closed
        self.request = request
        self.on_message: Callable[[str | bytes], None] | None = None
        self.on_close: Callable[[str], None] | None = None
        self.on_upgrade: Callable[[], None] | None = None
        self._ws: WebSocketTransport | None = None
        #: ``_ws`` takes pre-built frames and does not compress (see [`_set_ws()`][_set_ws])
        self._ws_frames = False
        self._probe_ws: WebSocketTransport | None = None
        self._poll: asyncio.Future[AnswerPoll] | None = None
        self._timer: asyncio.TimerHandle | None = None
        self._timer_at: float | None = None
        self._processing = False
        #: reading paused by the application (pause_reading)
        self._paused = False
        #: messages that arrived in a POST while paused, delivered on resume_reading
        self._held: deque[str | bytes] | None = None
        #: done when reading resumes (or the session ends): POSTs wait for it
        self._readable: asyncio.Future[None] | None = None
        #: this socket's event listeners (made by the first one)
        self._events: EngineEmitter | None = None
        self._server_events = server_events

    # -- public -------------------------------------------------------------------------

    @property
    def sid(self) -> str:
        """The session id."""
        return self._session.sid

    @property
    def transport(self) -> Transport:
        """``"polling"``, ``"websocket"`` or ``"webtransport"`` (after an upgrade, or from
        the start)."""
        return self._session.transport

    @property
    def protocol(self) -> int:
        """The Engine.IO protocol revision: 4, or 3 (a socket.io 2.x client)."""
        return self._session.protocol

    @property
    def ready_state(self) -> str:
        """``"opening"``, ``"open"``, ``"closing"`` or ``"closed"``."""
        return self._session.state.value

    @property
    def upgrading(self) -> bool:
        """True while a transport upgrade is under way (JS ``socket.upgrading``)."""
        return self._session.upgrading

    @property
    def upgraded(self) -> bool:
        """True once the session moved from polling to another transport (JS
        ``socket.upgraded``)."""
        return self._session.upgraded

    @property
    def writable(self) -> bool:
        """True when a packet sent now leaves at once (JS ``transport.writable``).

        Over polling: a poll is pending. Over WebSocket: the plumbing holds nothing unsent
        (JS: the previous write's callback has fired), so volatile packets are dropped for
        a client that does not keep up.
        """
        if not self._session.writable:
            return False
        ws = self._ws
        return ws is None or ws.buffered_amount == 0

    @property
    def buffered_amount(self) -> int:
        """Bytes queued for this client and not yet handed to the OS."""
        amount = self._session.buffered_amount
        if self._ws is not None:
            amount += self._ws.buffered_amount
        return amount

    def send(self, data: str | bytes, *, compress: bool = True) -> None:
        """Send a message (text or binary); ignored once the session is closing.

        Args:
            data: the message.
            compress: False asks that it not be compressed: a polling response holding only
                such packets skips HTTP compression (as JS), and on the native WebSocket
                plumbing with permessage-deflate it goes out as an uncompressed message
                (RFC 7692 section 6). Behind ASGI the ASGI server decides.
        """
        ws = self._ws
        if ws is not None and not self._processing and self._session.writes_through:
            # The hot path (an ack, an emit): what the core's one SendWebSocket would say.
            message = "4" + data if isinstance(data, str) else bytes(data)
            if not self._ws_frames:
                self._write_websocket(ws, message, compress, None)
            elif isinstance(message, str):
                ws.send_text(message)
            else:
                ws.send_bytes(message)
            self._check_buffer()
            return
        self._session.send_message(data, compress=compress)
        self._process()

    def send_encoded(self, message: str | bytes | SharedMessage, *, compress: bool = True) -> None:
        """Send a packet already encoded for a WebSocket (``4...`` text, or raw bytes).

        The broadcast path: encode once with `encode_packet()`,
        wrap it in a `SharedMessage`, then call this on every recipient; recipients
        on the native WebSocket plumbing share one frame. ``compress`` as in [`send()`][send].
        """
        ws = self._ws
        if ws is not None and not self._processing and self._session.writes_through:
            # The broadcast loop's hot path: straight to the WebSocket (see [`send()`][send]).
            if isinstance(message, SharedMessage):
                if self._ws_frames:
                    frame = message.frame
                    if frame is None:
                        frame = message.frame = frame_message(message.data)
                    ws.send_frame(frame)
                else:
                    frame = _frame_of(message) if self._shares_frames(compress) else None
                    self._write_websocket(ws, message.data, compress, frame)
            else:
                self._write_websocket(ws, message, compress, None)
            self._check_buffer()
            return
        if isinstance(message, SharedMessage):
            data = message.data
            frame = _frame_of(message) if self._shares_frames(compress) else None
            self._session.send_encoded(data, compress=compress, frame=frame)
        else:
            self._session.send_encoded(message, compress=compress)
        self._process()

    def write(self, data: str | bytes, *, compress: bool = True) -> None:
        """Alias of [`send()`][send] (JS ``socket.write``)."""
        self.send(data, compress=compress)

    def close(self) -> None:
        """Close the session (reason ``"forced close"``); queued packets are sent first."""
        self._session.close(self._loop.time())
        self._process()

    # -- events -------------------------------------------------------------------------

    @overload
    def on(self, event: str) -> Callable[[L], L]: ...
    @overload
    def on(self, event: str, listener: L) -> L: ...

    def on(self, event: str, listener: L | None = None) -> L | Callable[[L], L]:
        """Call ``listener`` on every ``event`` (JS engine.io socket events, see
        [`SOCKET_EVENTS`][SOCKET_EVENTS] for their names and arguments); without
        ``listener``, a decorator.

        Listeners run inline on the event loop, as JS calls them: a plain one must not block,
        a coroutine function runs as a task; one that raises is logged. Listening to a
        per-packet event ([`OBSERVED_EVENTS`][OBSERVED_EVENTS]) makes every packet of this
        session take the reporting path from now on.

        ```python
        sock.on("heartbeat", lambda: print("pong from", sock.sid))
        ```

        Raises:
            ValueError: not one of [`SOCKET_EVENTS`][SOCKET_EVENTS].
        """

        def register(fn: L) -> L:
            self._listeners().on(event, fn)
            self._maybe_observe(event)
            return fn

        return register if listener is None else register(listener)

    def once(self, event: str, listener: Callable[..., Any]) -> None:
        """Like [`on()`][on], for the next ``event`` only."""
        self._listeners().once(event, listener)
        self._maybe_observe(event)

    def off(self, event: str, listener: Callable[..., Any] | None = None) -> None:
        """Remove ``listener`` from ``event`` (every listener of ``event`` when None).

        The session stays observed: it does not go back to the shortcuts.
        """
        if self._events is not None:
            self._events.off(event, listener)

    def listeners(self, event: str) -> list[Callable[..., Any]]:
        """The listeners of ``event``, in order."""
        return self._events.listeners(event) if self._events is not None else []

    def observe(self) -> None:
        """Report every packet from now on, as if a per-packet event had a listener (the
        server does this for its own ``flush`` and ``drain`` listeners)."""
        observe(self._session)

    def _listeners(self) -> EngineEmitter:
        events = self._events
        if events is None:
            events = self._events = EngineEmitter(SOCKET_EVENTS, _ALIASES, log=logger)
        return events

    def _maybe_observe(self, event: str) -> None:
        if _ALIASES.get(event, event) in OBSERVED_EVENTS:
            observe(self._session)

    def _emit(self, event: str, *args: Any) -> None:
        events = self._events
        if events is not None:
            events.emit(event, *args)

    def _report(self, out: Observation) -> None:
        """Tell the listeners what an observed session reported."""
        if isinstance(out, PacketReceived):
            self._emit("packet", out.packet)
        elif isinstance(out, PacketCreated):
            self._emit("packet_create", out.packet)
        elif isinstance(out, Flushed):
            self._emit("flush", list(out.packets))
            if self._server_events is not None:
                self._server_events.emit("flush", self, list(out.packets))
        elif isinstance(out, Drained):
            self._emit("drain")
            if self._server_events is not None:
                self._server_events.emit("drain", self)
        elif isinstance(out, Heartbeat):
            self._emit("heartbeat")

    @property
    def reading_paused(self) -> bool:
        """True between [`pause_reading()`][pause_reading] and
        [`resume_reading()`][resume_reading]."""
        return self._paused

    def pause_reading(self) -> None:
        """Stop taking messages from the client: the application's backpressure.

        Once this returns, ``on_message`` is not called until
        [`resume_reading()`][resume_reading]: a WebSocket stops reading (what it already read
        waits), the rest of a POST payload being delivered waits, and the next POST waits
        before its body is read. Pings are
        still sent; the pong deadline waits for reading to resume, so the caller must bound
        the pause (the Socket.IO server does: ``Server(pending_events_timeout=...)``).
        """
        if self._paused or self._session.closed:
            return
        self._paused = True
        self._session.pause_reading()
        if self._ws is not None:
            self._ws.pause_reading()
        self._rearm()

    def resume_reading(self) -> None:
        """Deliver what waited, then take the client's messages again (see
        [`pause_reading()`][pause_reading]); ``on_message`` may pause again meanwhile."""
        if not self._paused:
            return
        self._paused = False
        held = self._held
        while held and not self._paused:
            message = held.popleft()
            if self.on_message is not None:
                _call(self.on_message, message)
        if self._paused:
            return
        self._held = None
        self._session.resume_reading(self._loop.time())
        if self._ws is not None:
            self._ws.resume_reading()
        if not self._paused:
            self._release_readers()
        self._rearm()

    def _release_readers(self) -> None:
        readable, self._readable = self._readable, None
        if readable is not None and not readable.done():
            readable.set_result(None)

    # -- driven by the Engine.IO server, not by applications ------------------------------

    def handle_connected(self) -> None:
        """The server's connection callbacks have run: act on what they queued."""
        self._process()

    def handle_websocket(self, ws: WebSocketTransport) -> WebSocketHandler:
        """The session opened over ``ws`` (a WebSocket handshake): its handler."""
        self._set_ws(ws)
        self._process()
        return _WsHandler(self, ws)

    def handle_probe(
        self, ws: WebSocketTransport, *, base64: bool = False, transport: Transport = "websocket"
    ) -> WebSocketHandler | None:
        """A WebSocket (or a WebTransport stream: ``transport``) arrived to upgrade this
        polling session: its handler, or None when the session is closed, already upgraded
        or upgrading (close ``ws`` then). ``base64``: its query has ``b64`` (a v3 client
        wants binary as base64 on it)."""
        if not self._session.start_probe(self._loop.time(), base64=base64, transport=transport):
            return None
        self._probe_ws = ws
        self._rearm()
        return _WsHandler(self, ws)

    def handle_shutdown(self) -> None:
        """The server is shutting down: close ("server shutting down")."""
        self._session.close(self._loop.time(), CloseReason.SERVER_SHUTTING_DOWN)
        self._process()

    async def handle_get(self, request: HttpRequest) -> AnswerPoll | HttpAnswer | None:
        """A polling GET: its payload once there is one, or the core's refusal; None when
        the client left first (answer 400)."""
        answer = self.start_get()
        if isinstance(answer, asyncio.Future):
            await self._wait_poll(request, answer)
            if answer.cancelled():
                return None
            return answer.result()
        return answer

    def start_get(self) -> AnswerPoll | HttpAnswer | asyncio.Future[AnswerPoll]:
        """A polling GET arrived: its answer now (a payload, or the core's refusal), or the
        future of its payload (the pending poll; watch it with
        [`watch_poll()`][watch_poll] or the like)."""
        error = self._session.receive_get(self._loop.time())
        if error is not None:
            self._process()
            return error
        poll: asyncio.Future[AnswerPoll] = self._loop.create_future()
        self._poll = poll
        self._process()
        return poll.result() if poll.done() else poll

    def watch_poll(
        self, disconnected: asyncio.Future[None], poll: asyncio.Future[AnswerPoll]
    ) -> None:
        """Abort the pending ``poll`` if the client leaves before its answer: when
        ``disconnected`` (a [`WatchableRequest`][socketwire.io.http.WatchableRequest]'s
        future) is done first."""

        def on_disconnected(_: object) -> None:
            if not poll.done():
                self._abort_poll(poll)

        disconnected.add_done_callback(on_disconnected)
        poll.add_done_callback(lambda _: disconnected.remove_done_callback(on_disconnected))

    def _abort_poll(self, poll: asyncio.Future[AnswerPoll]) -> None:
        # JS: the GET's connection closed before its answer ("poll connection closed
        # prematurely"); the session decides what that means.
        if self._poll is poll:
            self._poll = None
        poll.cancel()
        self._session.poll_aborted()
        self._process()

    async def handle_post(
        self, request: HttpRequest, headers: list[tuple[str, str]], max_body: int
    ) -> HttpResponse:
        """A polling POST: read its body (at most ``max_body`` bytes), feed the session."""
        error = self._start_post(request, headers)
        if error is not None:
            return error
        session = self._session
        if self._paused:
            # The application's backpressure: the body stays unread (the plumbing stops
            # reading the connection) until the session is readable again, or ends.
            readable = self._readable
            if readable is None:
                readable = self._readable = self._loop.create_future()
            await asyncio.shield(readable)
        try:
            body = await request.read_body(max_body)
        except BodyTooLargeError:
            session.post_aborted(disconnected=False)
            return HttpResponse(413, headers)
        except (ClientDisconnectedError, BodyTimeoutError):
            session.post_aborted(disconnected=True)
            self._process()
            return HttpResponse(400, headers)
        except BaseException:
            session.post_aborted(disconnected=True)
            self._process()
            raise
        return self._finish_post(body, headers)

    def post_now(
        self, request: HttpRequest, body: bytes, headers: list[tuple[str, str]], max_body: int
    ) -> HttpResponse | None:
        """A polling POST whose whole ``body`` arrived, answered now; None when it must go
        through ``handle_post()`` (over ``max_body``, or the session is paused)."""
        if self._paused or len(body) > max_body:
            return None
        error = self._start_post(request, headers)
        if error is not None:
            return error
        return self._finish_post(body, headers)

    def _start_post(
        self, request: HttpRequest, headers: list[tuple[str, str]]
    ) -> HttpResponse | None:
        # Before the body is read: the core's refusal, if any.
        binary = request.headers.get("content-type") == "application/octet-stream"
        error = self._session.receive_post_start(binary=binary)
        if error is not None:
            self._process()
            return http_response(error, headers)
        return None

    def _finish_post(self, body: bytes, headers: list[tuple[str, str]]) -> HttpResponse:
        answer = self._session.receive_post(body, self._loop.time())
        self._process()
        return http_response(answer, [*headers, ("cache-control", "no-store")])

    # -- driving the core ---------------------------------------------------------------

    def _shares_frames(self, compress: bool) -> bool:
        # A connection with permessage-deflate compresses what it frames itself, so it
        # takes the shared (uncompressed) frame only when compression is not wanted.
        ws = self._ws
        return (
            ws is not None
            and ws.supports_frames
            and not (compress and ws.compressed)
            and self._session.transport != "polling"
        )

    def _process(self) -> None:
        # Callbacks may send or close: the outer call keeps draining, so outputs are acted
        # on strictly in the order the core produced them.
        if self._processing:
            return
        self._processing = True
        try:
            session = self._session
            while outputs := session.take_outputs():
                for out in outputs:
                    self._act(out)
            if not session.closed:
                self._check_buffer()
        finally:
            self._processing = False
        self._rearm()

    def _set_ws(self, ws: WebSocketTransport | None) -> None:
        self._ws = ws
        # Read once: neither changes after the opening handshake.
        self._ws_frames = ws is not None and ws.supports_frames and not ws.compressed

    def _act(self, out: object) -> None:
        if isinstance(out, SendWebSocket):
            ws = self._ws
            if ws is not None:
                self._write_websocket(ws, out.data, out.compress, out.frame)
        elif isinstance(out, MessageReceived):
            if self._paused:
                # the rest of a POST payload (a WebSocket delivers nothing while paused)
                if self._held is None:
                    self._held = deque()
                self._held.append(out.data)
            elif self.on_message is not None:
                _call(self.on_message, out.data)
        elif isinstance(out, AnswerPoll):
            poll, self._poll = self._poll, None
            if poll is not None and not poll.done():
                poll.set_result(out)
        elif isinstance(out, SendProbe):
            if self._probe_ws is not None:
                self._probe_ws.send_text(out.data)
        elif isinstance(out, CloseWebSocket):
            if out.probe:
                probe, self._probe_ws = self._probe_ws, None
                if probe is not None:
                    probe.close()
            elif self._ws is not None:
                self._ws.close()
        elif isinstance(out, Upgraded):
            logger.info("engine %s upgraded to %s", self.sid, self.transport)
            self._set_ws(self._probe_ws)
            self._probe_ws = None
            if self._paused and self._ws is not None:
                self._ws.pause_reading()
            if self.on_upgrade is not None:
                _call(self.on_upgrade)
            self._emit("upgrade", "websocket")
        elif isinstance(out, Upgrading):
            self._emit("upgrading", "websocket")
        elif isinstance(out, Observation):
            self._report(out)
        elif isinstance(out, Closed):
            self._held = None
            if self._paused:
                # Read again so that the closing handshake completes; what arrives now is
                # dropped by the closed session.
                self._paused = False
                if self._ws is not None:
                    self._ws.resume_reading()
            self._release_readers()
            if self._timer is not None:
                self._timer.cancel()
                self._timer = None
                self._timer_at = None
            self._forget(self)
            if self.on_close is not None:
                _call(self.on_close, out.reason.value)
            self._emit("close", out.reason.value)
            self._closed(self, out.reason.value)

    @staticmethod
    def _write_websocket(
        ws: WebSocketTransport, data: str | bytes, compress: bool, frame: bytes | None
    ) -> None:
        # The frame travelled through the core with its packet, so it is written in the
        # session's order; the plumbing's buffer accounts for it like any message.
        if ws.supports_frames:
            if ws.compressed:
                if not compress:
                    # RFC 7692 section 6: a message with RSV1 clear is not compressed.
                    ws.send_frame(frame if frame is not None else frame_message(data))
                    return
            elif frame is not None:
                ws.send_frame(frame)
                return
        if isinstance(data, str):
            ws.send_text(data)
        else:
            ws.send_bytes(data)

    def _check_buffer(self) -> None:
        ws = self._ws
        if ws is not None and ws.buffered_amount > self._max_buffered:
            self._session.close(self._loop.time(), CloseReason.BUFFER_FULL)
            while outputs := self._session.take_outputs():
                for out in outputs:
                    self._act(out)

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
        self._session.handle_timeout(self._loop.time())
        self._process()

    # -- WebSocket events (from _WsHandler) --------------------------------------------

    def handle_ws_message(self, transport: WebSocketTransport, data: str | bytes) -> None:
        """A message arrived on ``transport`` (the session's WebSocket, or its probe)."""
        if transport is self._ws:
            if not self._processing:
                message = self._session.take_websocket_message(data)
                if message is not None:
                    # Nothing else to act on (see take_websocket_message): no _process.
                    on_message = self.on_message
                    if on_message is not None:
                        try:
                            on_message(message)
                        except Exception:  # as _call: the state machine must not break
                            logger.exception("error in Engine.IO callback %r", on_message)
                    return
            self._session.receive_websocket(data, self._loop.time())
        elif transport is self._probe_ws:
            self._session.receive_probe(data, self._loop.time())
        else:
            return
        self._process()

    def handle_ws_closed(self, transport: WebSocketTransport, code: int) -> None:
        """``transport`` (the session's WebSocket, or its probe) closed with ``code``."""
        if transport is self._ws:
            self._set_ws(None)
            self._session.websocket_closed(error=code in _PROTOCOL_ERROR_CODES)
        elif transport is self._probe_ws:
            self._probe_ws = None
            self._session.probe_closed()
        else:
            return
        self._process()

    async def _wait_poll(self, request: HttpRequest, poll: asyncio.Future[AnswerPoll]) -> None:
        """Wait for ``poll``'s answer; cancel it if the client leaves first (or we are cancelled).

        A request that offers ``disconnected_future()`` (the native server's: one future per
        connection, shared, never to be cancelled here) is watched with a callback; any other is
        watched by a task running its ``wait_disconnected()``. A long-poll GET is waiting most of
        the time, so this spares it a task, a shield and an ``asyncio.wait`` per request.
        """

        # The optional WatchableRequest capability (socketwire.io.http).
        watch: Callable[[], asyncio.Future[None]] | None = getattr(
            request, "disconnected_future", None
        )
        disconnected = (
            watch() if watch is not None else asyncio.ensure_future(request.wait_disconnected())
        )
        self.watch_poll(disconnected, poll)
        try:
            await poll
        except asyncio.CancelledError:
            # Ours (the request's task was cancelled) or abort()'s (the client left, and poll is
            # then cancelled while this task is not): only the first goes on.
            if not poll.cancelled() or _task_cancelling():
                raise
        finally:
            if not poll.done() or (poll.cancelled() and self._poll is poll):
                self._abort_poll(poll)
            if watch is None:
                disconnected.cancel()
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await disconnected


class EngineSocketV3(EngineSocket):
    """An Engine.IO v3 session (``allow_eio3``; socket.io-client 2.x).

    The same driver: only a binary message differs, which keeps its type byte in v3.
    A broadcast's shared messages are swapped for their v3 twins
    ([`eio3()`][socketwire.engineio.packets.SharedMessage.eio3]), built once per broadcast.
    """

    __slots__ = ()

    def send(self, data: str | bytes, *, compress: bool = True) -> None:
        """Send a message (text or binary); see [`EngineSocket.send()`][EngineSocket.send]."""
        if isinstance(data, str):
            super().send(data, compress=compress)
        else:
            super().send_encoded(MESSAGE_BYTE + bytes(data), compress=compress)

    def send_encoded(self, message: str | bytes | SharedMessage, *, compress: bool = True) -> None:
        """Send a packet encoded for a v4 WebSocket (``4...`` text, raw bytes, or a
        [`SharedMessage`][SharedMessage]) to this v3 session."""
        if isinstance(message, SharedMessage):
            message = message.eio3()
        elif not isinstance(message, str):
            message = MESSAGE_BYTE + bytes(message)
        super().send_encoded(message, compress=compress)


class _WsHandler:
    """Routes one WebSocket's events to its session (as main transport or probe)."""

    __slots__ = ("_socket", "_transport")

    def __init__(self, socket: EngineSocket, transport: WebSocketTransport) -> None:
        self._socket = socket
        self._transport = transport

    def on_message(self, data: str | bytes) -> None:
        self._socket.handle_ws_message(self._transport, data)

    def on_close(self, code: int) -> None:
        self._socket.handle_ws_closed(self._transport, code)


def _frame_of(message: SharedMessage) -> bytes:
    """The WebSocket frame of a broadcast message, built once for all its recipients."""
    frame = message.frame
    if frame is None:
        frame = message.frame = frame_message(message.data)
    return frame


def _call(callback: Callable[..., None], *args: Any) -> None:
    # An application error must not break the session's state machine.
    try:
        callback(*args)
    except Exception:
        logger.exception("error in Engine.IO callback %r", callback)


def http_response(answer: HttpAnswer, headers: list[tuple[str, str]]) -> HttpResponse:
    """The response for an answer the core decided, with ``headers`` after its
    Content-Type."""
    out = list(headers)
    if answer.content_type is not None:
        out.insert(0, ("Content-Type", answer.content_type))
    return HttpResponse(answer.status, out, answer.body)


def _task_cancelling() -> bool:
    task = asyncio.current_task()
    return task is not None and task.cancelling() > 0
