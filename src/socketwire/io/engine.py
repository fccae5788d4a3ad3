"""The Engine.IO v4 server on asyncio: drives one sans-I/O session per client.

:class:`EngineServer` is an :class:`~socketwire.io.http.HttpApp`: a plumbing (native server
or ASGI) hands it requests; it validates them as the JS ``engine.io`` 6 server does, feeds
each session's core (:class:`~socketwire.engineio.server_session.ServerSession`) and acts
on its outputs. Each session has at most one ``loop.call_at`` timer, rescheduled from the
core's next deadline: an idle session owns no task.

Backpressure: the bytes queued for one client (waiting for a poll, or written to its
WebSocket and not yet taken by the OS) are bounded by ``EngineOptions.max_buffered_bytes``
(16 MiB by default); a client over it is closed with reason "transport buffer full".
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
import secrets
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Final

from socketwire.engineio.http import (
    HttpAnswer,
    HttpErrorCode,
    compress,
    cors_headers,
    error_answer,
    error_message,
    has_invalid_header_char,
    negotiate_encoding,
    upgrade_error_answer,
)
from socketwire.engineio.options import EngineOptions, Transport
from socketwire.engineio.packets import SharedMessage
from socketwire.engineio.reasons import CloseReason
from socketwire.engineio.server_session import (
    AnswerPoll,
    Closed,
    CloseWebSocket,
    MessageReceived,
    SendProbe,
    SendWebSocket,
    ServerSession,
    Upgraded,
)
from socketwire.io.frames import frame_message
from socketwire.io.http import (
    BodyTimeoutError,
    BodyTooLargeError,
    ClientDisconnectedError,
    HttpRequest,
    HttpResponse,
    WebSocketAccept,
    WebSocketHandler,
    WebSocketTransport,
)

__all__ = ["ConnectionErrorEvent", "EngineServer", "EngineSocket"]

logger = logging.getLogger("socketwire.engine")

# Close codes that mean the connection failed on a protocol error (RFC 6455 section 7.4.1):
# invalid frame, unacceptable or inconsistent data, policy, message too big, internal error.
# JS engine.io sees the ws "error" event first and closes with "transport error".
_PROTOCOL_ERROR_CODES: Final = frozenset({1002, 1003, 1007, 1008, 1009, 1011})

ConnectionCallback = Callable[["EngineSocket"], None]
CloseCallback = Callable[["EngineSocket", str], None]
ConnectionErrorCallback = Callable[["ConnectionErrorEvent"], None]
Fallback = Callable[[HttpRequest], Awaitable[HttpResponse]]

_TEXT_PLAIN = "text/plain; charset=UTF-8"


@dataclass(frozen=True, slots=True)
class ConnectionErrorEvent:
    """A request the server refused (JS ``engine.on("connection_error", err)``).

    Attributes:
        request: the refused request.
        code: the Engine.IO error code (``0`` unknown transport ... ``5`` unsupported
            protocol version).
        message: its message (``"Session ID unknown"``...), or the ``allow_request`` one.
        context: details, with the JS names (``{"sid": ...}``, ``{"name":
            "TRANSPORT_MISMATCH", "transport": ..., "previousTransport": ...}``...).
    """

    request: HttpRequest
    code: HttpErrorCode
    message: str
    context: Mapping[str, Any] = field(default_factory=dict)


class EngineSocket:
    """One Engine.IO session as the application sees it.

    Set ``on_message`` (``(data: str | bytes) -> None``), ``on_close`` (``(reason: str) ->
    None``) and ``on_upgrade`` (``() -> None``) in the connection callback. Callbacks run on
    the event loop and must not block.
    """

    __slots__ = (
        "_poll",
        "_probe_ws",
        "_processing",
        "_server",
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

    def __init__(self, server: EngineServer, session: ServerSession, request: HttpRequest) -> None:
        """Wrap a new session (the server does this; applications never do)."""
        self._server = server
        self._session = session
        self.request = request
        self.on_message: Callable[[str | bytes], None] | None = None
        self.on_close: Callable[[str], None] | None = None
        self.on_upgrade: Callable[[], None] | None = None
        self._ws: WebSocketTransport | None = None
        #: ``_ws`` takes pre-built frames and does not compress (see :meth:`_set_ws`)
        self._ws_frames = False
        self._probe_ws: WebSocketTransport | None = None
        self._poll: asyncio.Future[AnswerPoll] | None = None
        self._timer: asyncio.TimerHandle | None = None
        self._timer_at: float | None = None
        self._processing = False

    # -- public -------------------------------------------------------------------------

    @property
    def sid(self) -> str:
        """The session id."""
        return self._session.sid

    @property
    def transport(self) -> Transport:
        """``"polling"`` or ``"websocket"`` (after an upgrade, or from the start)."""
        return self._session.transport

    @property
    def protocol(self) -> int:
        """The Engine.IO protocol revision (always 4)."""
        return 4

    @property
    def ready_state(self) -> str:
        """``"opening"``, ``"open"``, ``"closing"`` or ``"closed"``."""
        return self._session.state.value

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

        The broadcast path: encode once with :func:`~socketwire.engineio.encode_packet`,
        wrap it in a :class:`SharedMessage`, then call this on every recipient; recipients
        on the native WebSocket plumbing share one frame. ``compress`` as in :meth:`send`.
        """
        ws = self._ws
        if ws is not None and not self._processing and self._session.writes_through:
            # The broadcast loop's hot path: straight to the WebSocket (see :meth:`send`).
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

    def close(self) -> None:
        """Close the session (reason ``"forced close"``); queued packets are sent first."""
        self._session.close(self._server.loop_time())
        self._process()

    # -- driving the core ---------------------------------------------------------------

    def _shares_frames(self, compress: bool) -> bool:
        # A connection with permessage-deflate compresses what it frames itself, so it
        # takes the shared (uncompressed) frame only when compression is not wanted.
        ws = self._ws
        return (
            ws is not None
            and ws.supports_frames
            and not (compress and ws.compressed)
            and self._session.transport == "websocket"
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
            if self.on_message is not None:
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
            logger.info("engine %s upgraded to websocket", self.sid)
            self._set_ws(self._probe_ws)
            self._probe_ws = None
            if self.on_upgrade is not None:
                _call(self.on_upgrade)
        elif isinstance(out, Closed):
            self._server._forget(self)
            if self.on_close is not None:
                _call(self.on_close, out.reason.value)
            self._server._closed(self, out.reason.value)

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
        if ws is not None and ws.buffered_amount > self._server.options.max_buffered_bytes:
            self._session.close(self._server.loop_time(), CloseReason.BUFFER_FULL)
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
            self._timer = self._server.loop.call_at(deadline, self._on_timer)

    def _on_timer(self) -> None:
        self._timer = None
        self._timer_at = None
        self._session.handle_timeout(self._server.loop_time())
        self._process()

    # -- WebSocket events (from _WsHandler) --------------------------------------------

    def _ws_message(self, transport: WebSocketTransport, data: str | bytes) -> None:
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
            self._session.receive_websocket(data, self._server.loop_time())
        elif transport is self._probe_ws:
            self._session.receive_probe(data, self._server.loop_time())
        else:
            return
        self._process()

    def _ws_closed(self, transport: WebSocketTransport, code: int) -> None:
        if transport is self._ws:
            self._set_ws(None)
            self._session.websocket_closed(error=code in _PROTOCOL_ERROR_CODES)
        elif transport is self._probe_ws:
            self._probe_ws = None
            self._session.probe_closed()
        else:
            return
        self._process()


class _WsHandler:
    """Routes one WebSocket's events to its session (as main transport or probe)."""

    __slots__ = ("_sock", "_transport")

    def __init__(self, sock: EngineSocket, transport: WebSocketTransport) -> None:
        self._sock = sock
        self._transport = transport

    def on_message(self, data: str | bytes) -> None:
        self._sock._ws_message(self._transport, data)

    def on_close(self, code: int) -> None:
        self._sock._ws_closed(self._transport, code)


class _Ignore:
    """The handler of a WebSocket that was accepted only to be closed."""

    __slots__ = ()

    def on_message(self, data: str | bytes) -> None:
        pass

    def on_close(self, code: int) -> None:
        pass


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


def _refusal(result: bool | tuple[bool, str]) -> tuple[bool, str | None]:
    """Normalise an ``allow_request`` result to ``(allowed, message)``."""
    if isinstance(result, tuple):
        allowed, message = result
        return bool(allowed), message or None
    return bool(result), None


class EngineServer:
    """The Engine.IO v4 server (JS ``engine.io`` 6 ``Server``), as an ``HttpApp``.

    Example::

        engine = EngineServer(ping_interval=0.3, ping_timeout=0.2)

        @engine.on_connection
        def on_conn(sock: EngineSocket) -> None:
            sock.on_message = sock.send
    """

    def __init__(
        self,
        options: EngineOptions | None = None,
        *,
        fallback: Fallback | None = None,
        **kwargs: Any,
    ) -> None:
        """Create the server.

        Args:
            options: the options; keyword arguments override them (or build them alone).
            fallback: answers HTTP requests for paths this server does not own (else 404).
        """
        base = options if options is not None else EngineOptions()
        self.options = dataclasses.replace(base, **kwargs) if kwargs else base
        self.fallback = fallback
        self.clients: dict[str, EngineSocket] = {}
        self._on_connection: list[ConnectionCallback] = []
        self._on_close: list[CloseCallback] = []
        self._on_connection_error: list[ConnectionErrorCallback] = []
        self._loop: asyncio.AbstractEventLoop | None = None

    # -- application hooks --------------------------------------------------------------

    def on_connection(self, callback: ConnectionCallback) -> ConnectionCallback:
        """Register ``callback(sock)`` for every new session (usable as a decorator)."""
        self._on_connection.append(callback)
        return callback

    def on_close(self, callback: CloseCallback) -> CloseCallback:
        """Register ``callback(sock, reason)`` for every session that ends (a decorator)."""
        self._on_close.append(callback)
        return callback

    def on_connection_error(self, callback: ConnectionErrorCallback) -> ConnectionErrorCallback:
        """Register ``callback(error)`` for every refused request (a decorator).

        ``error`` is a :class:`ConnectionErrorEvent`, as JS ``connection_error``.
        """
        self._on_connection_error.append(callback)
        return callback

    @property
    def clients_count(self) -> int:
        """The number of live sessions."""
        return len(self.clients)

    @property
    def polling_clients_count(self) -> int:
        """The number of live sessions currently on HTTP long-polling."""
        return sum(1 for s in self.clients.values() if s.transport == "polling")

    # -- HttpApp ------------------------------------------------------------------------

    def owns(self, path: str) -> bool:
        """True for paths under ``options.path`` (a prefix match, as JS ``attach``)."""
        return path.startswith(self.options.path)

    async def handle_http(self, request: HttpRequest) -> HttpResponse:
        """Answer one plain HTTP request (polling, CORS preflight, or errors)."""
        if not self.owns(request.path):
            if self.fallback is not None:
                return await self.fallback(request)
            return HttpResponse(404, [("Content-Type", "text/plain")], b"Not Found")
        # Without CORS options, spare every polling request a coroutine.
        headers = await self.cors_headers(request) if self.options.cors is not None else []
        if self.options.cors is not None and request.method == "OPTIONS":
            return HttpResponse(204, headers)
        error = await self._verify(request, upgrade=False)
        if error is not None:
            return _response(self._refuse(error, upgrade=False), headers)
        sid = request.query.get("sid")
        if sid is None:
            return await self._handshake_polling(request, headers)
        sock = self.clients[sid]
        if request.method == "GET":
            return await self._poll(sock, request, headers)
        if request.method == "POST":
            return await self._post(sock, request, headers)
        return HttpResponse(500, headers)

    async def handle_websocket(self, request: HttpRequest) -> HttpResponse | WebSocketAccept:
        """Accept or refuse one WebSocket upgrade request."""
        if not self.owns(request.path):
            return HttpResponse(404, [("Content-Type", "text/plain")], b"Not Found")
        headers = await self.cors_headers(request)
        error = await self._verify(request, upgrade=True)
        if error is not None:
            return _response(self._refuse(error, upgrade=True), [])
        sid = request.query.get("sid")
        accept_kwargs: dict[str, Any] = {
            "max_message_size": self.options.max_http_buffer_size,
            "compression": self.options.per_message_deflate,
            "headers": headers,
        }
        if request.query.get("transport") != "websocket":
            # JS onWebSocket: a transport that does not handle upgrades closes at once.
            return WebSocketAccept(attach=_close_at_once, **accept_kwargs)
        if sid is None:

            def attach_new(ws: WebSocketTransport) -> WebSocketHandler:
                return self._open_websocket_session(request, ws)

            return WebSocketAccept(attach=attach_new, **accept_kwargs)

        def attach_probe(ws: WebSocketTransport) -> WebSocketHandler:
            sock = self.clients.get(sid)
            if sock is None or not sock._session.start_probe(self.loop_time()):
                # Closed, already upgraded or upgrading: refuse without disturbing it.
                ws.close()
                return _Ignore()
            sock._probe_ws = ws
            sock._rearm()
            return _WsHandler(sock, ws)

        return WebSocketAccept(attach=attach_probe, **accept_kwargs)

    async def shutdown(self) -> None:
        """Close every session with reason ``"server shutting down"``."""
        now = self.loop_time()
        for sock in list(self.clients.values()):
            sock._session.close(now, CloseReason.SERVER_SHUTTING_DOWN)
            sock._process()

    # -- internals ----------------------------------------------------------------------

    @property
    def loop(self) -> asyncio.AbstractEventLoop:
        """The event loop this server runs on (the one of its first request)."""
        if self._loop is None:
            self._loop = asyncio.get_running_loop()
        return self._loop

    def loop_time(self) -> float:
        """The clock every session's ``now`` comes from."""
        loop = self._loop
        return (loop if loop is not None else self.loop).time()

    async def cors_headers(self, request: HttpRequest) -> list[tuple[str, str]]:
        """The CORS headers of the answer to ``request`` (none without ``options.cors``)."""
        cors = self.options.cors
        if cors is None:
            return []
        result: bool | None = None
        if callable(cors.origin):
            answer = cors.origin(request.headers.get("origin"))
            if isinstance(answer, Awaitable):
                answer = await answer
            result = bool(answer)
        return cors_headers(cors, request.method, request.headers, callback_result=result) or []

    async def _verify(self, request: HttpRequest, *, upgrade: bool) -> ConnectionErrorEvent | None:
        """JS ``Server.verify`` then the handshake's protocol check; None when valid."""

        def error(
            code: HttpErrorCode, text: str | None = None, **context: Any
        ) -> ConnectionErrorEvent:
            return ConnectionErrorEvent(request, code, text or error_message(code), context)

        query = request.query
        transport = query.get("transport")
        if transport not in self.options.transports:
            return error(HttpErrorCode.UNKNOWN_TRANSPORT, transport=transport)
        origin = request.headers.get("origin")
        if has_invalid_header_char(origin):
            return error(HttpErrorCode.BAD_REQUEST, name="INVALID_ORIGIN", origin=origin)
        sid = query.get("sid")
        if sid is not None:
            sock = self.clients.get(sid)
            if sock is None:
                return error(HttpErrorCode.UNKNOWN_SID, sid=sid)
            if not upgrade and sock.transport != transport:
                return error(
                    HttpErrorCode.BAD_REQUEST,
                    name="TRANSPORT_MISMATCH",
                    transport=transport,
                    previousTransport=sock.transport,
                )
            if query.get("EIO") != "4":
                return error(
                    HttpErrorCode.BAD_REQUEST,
                    name="PROTOCOL_MISMATCH",
                    protocol=query.get("EIO"),
                    previousProtocol=4,
                )
            return None
        if request.method != "GET":
            return error(HttpErrorCode.BAD_HANDSHAKE_METHOD, method=request.method)
        if transport == "websocket" and not upgrade:
            return error(HttpErrorCode.BAD_REQUEST, name="TRANSPORT_HANDSHAKE_ERROR")
        if self.options.allow_request is not None:
            allowed, message = _refusal(await self.options.allow_request(request))
            if not allowed:
                return error(HttpErrorCode.FORBIDDEN, message, message=message)
        if query.get("EIO") != "4":
            return error(HttpErrorCode.UNSUPPORTED_PROTOCOL_VERSION, protocol=query.get("EIO"))
        return None

    def _refuse(self, error: ConnectionErrorEvent, *, upgrade: bool) -> HttpAnswer:
        """Tell the ``connection_error`` listeners, then build the refusal."""
        # DEBUG, not INFO: a peer controls how many of these there are
        logger.debug(
            "refused %s %s: %s %s",
            error.request.method,
            error.request.raw_path,
            error.message,
            error.context,
        )
        for callback in self._on_connection_error:
            _call(callback, error)
        message = error.context.get("message") if error.code is HttpErrorCode.FORBIDDEN else None
        abort = upgrade_error_answer if upgrade else error_answer
        return abort(error.code, message)

    def _new_sid(self) -> str:
        # 15 random bytes, 20 URL-safe characters, like JS base64id.
        while True:
            sid = secrets.token_urlsafe(15)
            if sid not in self.clients:
                return sid

    def _create(self, request: HttpRequest, transport: Transport) -> EngineSocket:
        session = ServerSession(self._new_sid(), transport, self.options, self.loop_time())
        sock = EngineSocket(self, session, request)
        self.clients[session.sid] = sock
        return sock

    def _connected(self, sock: EngineSocket) -> None:
        if logger.isEnabledFor(logging.INFO):
            remote = sock.request.remote_addr
            logger.info(
                "engine %s opened over %s from %s",
                sock.sid,
                sock.transport,
                f"{remote[0]}:{remote[1]}" if remote else "an unknown address",
            )
        for callback in self._on_connection:
            _call(callback, sock)
        sock._process()

    async def _handshake_polling(
        self, request: HttpRequest, headers: list[tuple[str, str]]
    ) -> HttpResponse:
        sock = self._create(request, "polling")
        sock._session.receive_get(self.loop_time())
        poll: asyncio.Future[AnswerPoll] = self.loop.create_future()
        sock._poll = poll
        sock._process()
        if not poll.done():  # the open packet is answered at once; this cannot happen
            return _response(error_answer(HttpErrorCode.BAD_REQUEST), headers)
        answer = poll.result()
        cookie = self.options.cookie_options
        if cookie is not None:
            headers = [*headers, ("Set-Cookie", cookie.serialize(sock.sid))]
        # JS emits "connection" after the handshake is written: sends queue for next poll.
        self._connected(sock)
        return self._payload_response(request, answer, headers)

    def _open_websocket_session(
        self, request: HttpRequest, ws: WebSocketTransport
    ) -> WebSocketHandler:
        sock = self._create(request, "websocket")
        sock._set_ws(ws)
        sock._process()
        self._connected(sock)
        return _WsHandler(sock, ws)

    async def _poll(
        self, sock: EngineSocket, request: HttpRequest, headers: list[tuple[str, str]]
    ) -> HttpResponse:
        session = sock._session
        error = session.receive_get(self.loop_time())
        if error is not None:
            sock._process()
            return _response(error, headers)
        poll: asyncio.Future[AnswerPoll] = self.loop.create_future()
        sock._poll = poll
        sock._process()
        if not poll.done():
            await _wait_poll(sock, request, poll)
            if poll.cancelled():
                return HttpResponse(400, headers)
        return self._payload_response(request, poll.result(), headers)

    async def _post(
        self, sock: EngineSocket, request: HttpRequest, headers: list[tuple[str, str]]
    ) -> HttpResponse:
        session = sock._session
        binary = request.headers.get("content-type") == "application/octet-stream"
        error = session.receive_post_start(binary=binary)
        if error is not None:
            sock._process()
            return _response(error, headers)
        try:
            body = await request.read_body(self.options.max_http_buffer_size)
        except BodyTooLargeError:
            session.post_aborted(disconnected=False)
            return HttpResponse(413, headers)
        except (ClientDisconnectedError, BodyTimeoutError):
            session.post_aborted(disconnected=True)
            sock._process()
            return HttpResponse(400, headers)
        except BaseException:
            session.post_aborted(disconnected=True)
            sock._process()
            raise
        answer = session.receive_post(body, self.loop_time())
        sock._process()
        return _response(answer, [*headers, ("cache-control", "no-store")])

    def _payload_response(
        self, request: HttpRequest, answer: AnswerPoll, headers: list[tuple[str, str]]
    ) -> HttpResponse:
        body = answer.payload.encode()
        out = [("Content-Type", _TEXT_PLAIN), *headers]
        options = self.options
        if (
            options.http_compression
            and answer.compress
            and len(body) >= options.compression_threshold
        ):
            encoding = negotiate_encoding(request.headers.get("accept-encoding"))
            if encoding is not None:
                body = compress(body, encoding)
                out.append(("Content-Encoding", encoding))
        user_agent = request.headers.get("user-agent", "")
        if ";MSIE" in user_agent or "Trident/" in user_agent:
            out.append(("X-XSS-Protection", "0"))
        out.append(("cache-control", "no-store"))
        return HttpResponse(200, out, body)

    def _forget(self, sock: EngineSocket) -> None:
        if self.clients.get(sock.sid) is sock:
            del self.clients[sock.sid]
        if sock._timer is not None:
            sock._timer.cancel()
            sock._timer = None
            sock._timer_at = None

    def _closed(self, sock: EngineSocket, reason: str) -> None:
        logger.info("engine %s closed: %s", sock.sid, reason)
        for callback in self._on_close:
            _call(callback, sock, reason)


async def _wait_poll(
    sock: EngineSocket, request: HttpRequest, poll: asyncio.Future[AnswerPoll]
) -> None:
    """Wait for ``poll``'s answer; cancel it if the client leaves first (or we are cancelled).

    A request that offers ``disconnected_future()`` (the native server's: one future per
    connection, shared, never to be cancelled here) is watched with a callback; any other is
    watched by a task running its ``wait_disconnected()``. A long-poll GET is waiting most of
    the time, so this spares it a task, a shield and an ``asyncio.wait`` per request.
    """

    def abort() -> None:
        # JS: the GET's connection closed before its answer ("poll connection closed
        # prematurely"); the session decides what that means.
        if sock._poll is poll:
            sock._poll = None
        poll.cancel()
        sock._session.poll_aborted()
        sock._process()

    def on_disconnected(_: object) -> None:
        if not poll.done():
            abort()

    # The optional WatchableRequest capability (socketwire.io.http).
    watch: Callable[[], asyncio.Future[None]] | None = getattr(request, "disconnected_future", None)
    disconnected = (
        watch() if watch is not None else asyncio.ensure_future(request.wait_disconnected())
    )
    disconnected.add_done_callback(on_disconnected)
    try:
        await poll
    except asyncio.CancelledError:
        # Ours (the request's task was cancelled) or abort()'s (the client left, and poll is
        # then cancelled while this task is not): only the first goes on.
        if not poll.cancelled() or _task_cancelling():
            raise
    finally:
        if not poll.done() or (poll.cancelled() and sock._poll is poll):
            abort()
        disconnected.remove_done_callback(on_disconnected)
        if watch is None:
            disconnected.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await disconnected


def _task_cancelling() -> bool:
    task = asyncio.current_task()
    return task is not None and task.cancelling() > 0


def _close_at_once(ws: WebSocketTransport) -> WebSocketHandler:
    ws.close()
    return _Ignore()


def _response(answer: HttpAnswer, headers: list[tuple[str, str]]) -> HttpResponse:
    out = list(headers)
    if answer.content_type is not None:
        out.insert(0, ("Content-Type", answer.content_type))
    return HttpResponse(answer.status, out, answer.body)
