"""The Engine.IO v4 server on asyncio, as an [`HttpApp`][socketwire.io.http.HttpApp].

A plumbing (native server or ASGI) hands [`EngineServer`][EngineServer] requests; it checks them
with the pure functions of [`socketwire.engineio.requests`][socketwire.engineio.requests] (the
decisions of the JS ``engine.io`` 6 server's ``verify`` and ``handshake``), creates sessions, and
routes each request to its session's [`EngineSocket`][socketwire.io.engine_socket.EngineSocket],
which drives the session's sans-I/O core.

In a cluster whose adapter carries them, requests for sessions other nodes own are forwarded
to their owner ([`forward_through()`][EngineServer.forward_through], see
[`socketwire.io.forwarding`][socketwire.io.forwarding]): only a request whose session is not
here pays for the check.

Hooks, as JS engine.io's (see the server guide): [`EngineServer.on()`][EngineServer.on] for the
``headers`` and ``initial_headers`` events (change the headers of every Engine.IO response),
``flush`` and ``drain``; [`EngineServer.use()`][EngineServer.use] for HTTP middlewares
([`socketwire.io.engine_middlewares`][socketwire.io.engine_middlewares]);
[`EngineServer.generate_id`][EngineServer.generate_id] for custom session ids.

Backpressure: the bytes queued for one client are bounded by
``EngineOptions.max_buffered_bytes`` (16 MiB by default); a client over it is closed with
reason "transport buffer full" (see [`socketwire.io.engine_socket`][socketwire.io.engine_socket]).
"""

from __future__ import annotations

import asyncio
import dataclasses
import inspect
import logging
import re
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, TypeVar, overload

from socketwire.engineio.errors import ProtocolError
from socketwire.engineio.framing import Framing
from socketwire.engineio.http import (
    HttpAnswer,
    HttpErrorCode,
    compress,
    cors_headers,
    error_answer,
    negotiate_encoding,
)
from socketwire.engineio.jsonp import jsonp_index
from socketwire.engineio.options import EngineOptions, Transport
from socketwire.engineio.packets import PacketType, decode_packet
from socketwire.engineio.requests import (
    Refusal,
    allow_request_refusal,
    check_handshake_protocol,
    check_request,
    id_generation_refusal,
    middleware_refusal,
    protocol_revision,
    session_id_of,
)
from socketwire.engineio.server_session import AnswerPoll, ServerSession
from socketwire.engineio.sids import new_node_tag, new_sid, owner_prefix
from socketwire.io.client_emitter import EngineEmitter
from socketwire.io.engine_middlewares import Middleware, MiddlewareError, Middlewares
from socketwire.io.engine_socket import EngineSocket, EngineSocketV3, http_response
from socketwire.io.forwarding import Forwarder
from socketwire.io.http import (
    HttpRequest,
    HttpResponse,
    WebSocketAccept,
    WebSocketHandler,
    WebSocketTransport,
)
from socketwire.io.node_channel import NodeChannel

__all__ = [
    "SERVER_EVENTS",
    "ConnectionErrorEvent",
    "EngineServer",
    "EngineSocket",
    "GenerateId",
    "HeadersListener",
    "ResponseHeaders",
]

logger = logging.getLogger("socketwire.engine")

ConnectionCallback = Callable[["EngineSocket"], None]
CloseCallback = Callable[["EngineSocket", str], None]
ConnectionErrorCallback = Callable[["ConnectionErrorEvent"], None]
Fallback = Callable[[HttpRequest], Awaitable[HttpResponse]]
#: The headers a ``headers`` listener may change: name to value, a list for a header sent
#: several times (``Set-Cookie``), as JS's headers object.
ResponseHeaders = dict[str, str | list[str]]
#: ``listener(headers, request)``, called inline before the response is written.
HeadersListener = Callable[[ResponseHeaders, HttpRequest], None]
#: ``generate_id(request) -> str`` (or an awaitable of it): JS ``engine.generateId``.
GenerateId = Callable[[HttpRequest], str | Awaitable[str]]

#: The events of [`EngineServer.on()`][EngineServer.on], with JS engine.io's names:
SERVER_EVENTS = frozenset(
    {
        "connection",  # (socket) a new session
        "connection_error",  # (error: ConnectionErrorEvent) a refused request
        "headers",  # (headers: ResponseHeaders, request) every Engine.IO response
        "initial_headers",  # (headers, request) the handshake's response, before "headers"
        "flush",  # (socket, packets) as the socket's "flush"
        "drain",  # (socket) as the socket's "drain"
    }
)
_EMITTED = frozenset({"headers", "initial_headers", "flush", "drain"})

L = TypeVar("L", bound=Callable[..., Any])

_TEXT_PLAIN = "text/plain; charset=UTF-8"
_OCTET_STREAM = "application/octet-stream"
#: What a session id from ``generate_id`` may hold: it travels in query strings and cookies.
_VALID_ID = re.compile(r"[A-Za-z0-9_.~:\-]{1,128}")


@dataclass(frozen=True, slots=True)
class ConnectionErrorEvent:
    """A request the server refused (JS ``engine.on("connection_error", err)``).

    Attributes:
        request: the refused request.
        code: the Engine.IO error code; ``message`` and ``context`` as in
            [`Refusal`][socketwire.engineio.requests.Refusal].
    """

    request: HttpRequest
    code: HttpErrorCode
    message: str
    context: Mapping[str, Any] = field(default_factory=dict)


class _Ignore:
    """The handler of a WebSocket that was accepted only to be closed."""

    __slots__ = ()

    def on_message(self, data: str | bytes) -> None:
        pass

    def on_close(self, code: int) -> None:
        pass


class EngineServer:
    """The Engine.IO v4 server (JS ``engine.io`` 6 ``Server``), as an ``HttpApp``.

    For example:

    ```python
    engine = EngineServer(ping_interval=0.3, ping_timeout=0.2)

    @engine.on_connection
    def on_conn(sock: EngineSocket) -> None:
        sock.on_message = sock.send
    ```
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
        # What every EngineSocket is given, bound once (not per session).
        self._forget_socket = self._forget
        self._socket_closed = self._closed
        #: What every new session id starts with: the owner it names when the server runs
        #: in several processes (see `socketwire.engineio.sids`); "" on its own.
        self.sid_prefix = ""
        #: Forwards requests for other nodes' sessions (see
        #: [`forward_through()`][forward_through]); None outside such a cluster.
        self.forwarder: Forwarder | None = None
        self._on_connection: list[ConnectionCallback] = []
        self._on_close: list[CloseCallback] = []
        self._on_connection_error: list[ConnectionErrorCallback] = []
        self._loop: asyncio.AbstractEventLoop | None = None
        #: ``headers``, ``initial_headers``, ``flush`` and ``drain`` listeners
        self._events = EngineEmitter(_EMITTED, log=logger)
        self._middlewares = Middlewares(self.options.max_http_buffer_size)
        #: Makes the id of each new session (JS ``engine.generateId``), from the handshake
        #: request; None: 20 random characters. It may be async. It must return 1 to 128
        #: characters among ``A-Z a-z 0-9 _ . ~ : -``, unused, starting with `sid_prefix`
        #: when there is one; otherwise, or if it raises, the handshake is refused (400,
        #: ``connection_error`` with ``{"name": "ID_GENERATION_ERROR"}``), as JS does.
        self.generate_id: GenerateId | None = None

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

        ``error`` is a [`ConnectionErrorEvent`][ConnectionErrorEvent], as JS ``connection_error``.
        """
        self._on_connection_error.append(callback)
        return callback

    def forward_through(self, channel: NodeChannel) -> None:
        """Forward requests for sessions other nodes own through ``channel``, and answer
        theirs (see [`socketwire.io.forwarding`][socketwire.io.forwarding]).

        From now on the session ids name this node: `sid_prefix` is set to a new node
        tag (worker 0) unless already set. Call [`start()`][start] before serving, or the
        first request starts listening.
        """
        if not self.sid_prefix:
            self.sid_prefix = owner_prefix(0, new_node_tag())
        self.forwarder = Forwarder(channel, self)

    async def start(self) -> None:
        """Listen for the requests other nodes forward here (nothing outside a cluster
        that forwards); raises when the cluster's broker cannot be reached."""
        if self.forwarder is not None:
            await self.forwarder.start()

    @overload
    def on(self, event: str) -> Callable[[L], L]: ...
    @overload
    def on(self, event: str, listener: L) -> L: ...

    def on(self, event: str, listener: L | None = None) -> L | Callable[[L], L]:
        """Call ``listener`` on every ``event`` (JS engine.io's server events; see
        [`SERVER_EVENTS`][SERVER_EVENTS] for names and arguments); without ``listener``, a
        decorator.

        ``headers`` and ``initial_headers`` listeners change the response headers in place,
        before they are written: the handshake's (``initial_headers`` first), every
        polling response carrying packets or answering a POST, and the 101 of every
        WebSocket upgrade. They must be plain functions.

        ```python
        @sio.engine.on("initial_headers")
        def set_cookie(headers: ResponseHeaders, request: HttpRequest) -> None:
            headers["Set-Cookie"] = ["team=blue; Path=/; HttpOnly"]
        ```

        ``flush`` and ``drain`` make every session report its packets (the cost of the
        per-packet events, see [`EngineSocket.on()`][socketwire.io.engine_socket.EngineSocket.on]).

        Raises:
            ValueError: not one of [`SERVER_EVENTS`][SERVER_EVENTS].
        """

        def register(fn: L) -> L:
            if event == "connection":
                self._on_connection.append(fn)
            elif event == "connection_error":
                self._on_connection_error.append(fn)
            else:
                self._events.on(event, fn)
                if event in ("flush", "drain"):
                    for sock in self.clients.values():
                        sock.observe()
            return fn

        return register if listener is None else register(listener)

    def off(self, event: str, listener: Callable[..., Any] | None = None) -> None:
        """Remove ``listener`` from ``event`` (every listener of ``event`` when None)."""
        callbacks: list[Any] | None = (
            self._on_connection
            if event == "connection"
            else self._on_connection_error
            if event == "connection_error"
            else None
        )
        if callbacks is None:
            self._events.off(event, listener)
        elif listener is None:
            callbacks.clear()
        elif listener in callbacks:
            callbacks.remove(listener)

    def use(self, middleware: Middleware, /, **options: Any) -> None:
        """Add an HTTP middleware for Engine.IO requests (JS ``engine.use``).

        It runs on every request the server owns (handshake, polls, POSTs, WebSocket
        upgrades), in the order added, after the CORS preflight and before the request is
        checked. Either a socketwire middleware, ``middleware(request, response)``, or an
        ASGI middleware (a class, or a factory of one argument, the app to wrap, called
        with ``options``): see
        [`socketwire.io.engine_middlewares`][socketwire.io.engine_middlewares].

        ```python
        def security_headers(request: EngineRequest, response: MiddlewareResponse) -> None:
            response.set_header("X-Content-Type-Options", "nosniff")

        sio.engine.use(security_headers)
        sio.engine.use(SessionMiddleware, secret_key="...")  # starlette's
        ```

        Raises:
            TypeError: ``options`` for a socketwire middleware.
        """
        self._middlewares.add(middleware, options)

    @property
    def per_message_deflate(self) -> bool:
        """True when WebSocket compression is wanted (``options.per_message_deflate``)."""
        return self.options.per_message_deflate

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
        # Without an origin callback, spare every polling request a coroutine.
        options = self.options
        headers = self.cors_headers_now(request)
        if headers is None:
            headers = await self.cors_headers(request)
        if options.cors is not None and request.method == "OPTIONS":
            return HttpResponse(204, headers)
        if self._middlewares:
            answer = await self._through_middlewares(request, headers, upgrade=False)
            assert isinstance(answer, HttpResponse)
            return answer
        return await self._serve_http(request, headers)

    def handle_http_now(
        self, request: HttpRequest, body: bytes
    ) -> HttpResponse | asyncio.Future[HttpResponse] | None:
        """A long-polling ``GET`` or ``POST`` (its whole ``body`` read) of an open session of
        this node, answered without a coroutine: the response, or its future while the poll
        waits; None for anything else (answer it with [`handle_http()`][handle_http]).

        The native server's fast path ([`ImmediateHttpApp`][socketwire.io.http.ImmediateHttpApp]):
        the same checks and answers as ``handle_http``, for the requests that need no
        middleware, ``headers`` listener, CORS origin callback, handshake, refusal or
        forwarding.
        """
        method = request.method
        sid = request.query.get("sid")
        if (
            sid is None
            or sid not in self.clients
            or (method != "GET" and method != "POST")
            or self._middlewares
            or self._events.has("headers")
            or not self.owns(request.path)
        ):
            return None
        headers = self.cors_headers_now(request)
        if headers is None:
            return None  # the origin callback may be a coroutine
        sock, refusal = self._check(request, upgrade=False)
        if sock is None or refusal is not None:
            return None
        if method == "POST":
            return sock.post_now(request, body, headers, self.options.max_http_buffer_size)
        watch: Callable[[], asyncio.Future[None]] | None = getattr(
            request, "disconnected_future", None
        )
        if watch is None:
            return None
        answer = sock.start_get()
        if not isinstance(answer, asyncio.Future):
            return self._poll_response(request, answer, headers)
        sock.watch_poll(watch(), answer)
        response: asyncio.Future[HttpResponse] = self.loop.create_future()

        def answered(poll: asyncio.Future[AnswerPoll]) -> None:
            try:
                response.set_result(
                    self._poll_response(
                        request, None if poll.cancelled() else poll.result(), headers
                    )
                )
            except Exception as exc:  # the plumbing answers 500
                response.set_exception(exc)

        answer.add_done_callback(answered)
        return response

    async def _serve_http(
        self, request: HttpRequest, headers: list[tuple[str, str]]
    ) -> HttpResponse:
        sock, refusal = self._check(request, upgrade=False)
        if refusal is None and sock is None:
            refusal = await self._check_handshake(request)
            if refusal is None and self.forwarder is not None and not self.forwarder.listening:
                # Listen before the first session id goes out: it names this node.
                await self.forwarder.ready()
        if refusal is not None:
            if refusal.code is HttpErrorCode.UNKNOWN_SID and self.forwarder is not None:
                owner = self.forwarder.remote_owner(request.query["sid"])
                if owner is not None:
                    forwarded = await self.forwarder.forward_http(owner, request, headers)
                    if forwarded is not None:
                        return forwarded
            return http_response(self._refuse(request, refusal, upgrade=False), headers)
        if sock is None:
            return await self._handshake_polling(request, headers)
        if request.method == "GET":
            return await self._poll(sock, request, headers)
        if request.method == "POST":
            response = await sock.handle_post(request, headers, self.options.max_http_buffer_size)
            if response.status == 200 and self._events.has("headers"):
                # http_response: Content-Type first, then ``headers``, then the POST's own.
                own = [response.headers[0], *response.headers[1 + len(headers) :]]
                response.headers = self._emit_headers(request, headers, own, initial=False)
            return response
        return HttpResponse(500, headers)

    async def handle_websocket(self, request: HttpRequest) -> HttpResponse | WebSocketAccept:
        """Accept or refuse one WebSocket upgrade request."""
        if not self.owns(request.path):
            return HttpResponse(404, [("Content-Type", "text/plain")], b"Not Found")
        headers = await self.cors_headers(request)
        if self._middlewares:
            return await self._through_middlewares(request, headers, upgrade=True)
        return await self._serve_websocket(request, headers)

    async def _serve_websocket(
        self, request: HttpRequest, headers: list[tuple[str, str]]
    ) -> HttpResponse | WebSocketAccept:
        known, refusal = self._check(request, upgrade=True)
        if refusal is None and known is None:
            refusal = await self._check_handshake(request)
            if refusal is None and self.forwarder is not None and not self.forwarder.listening:
                await self.forwarder.ready()
        if refusal is not None:
            if refusal.code is HttpErrorCode.UNKNOWN_SID and self.forwarder is not None:
                owner = self.forwarder.remote_owner(request.query["sid"])
                if owner is not None:
                    forwarded = await self.forwarder.forward_upgrade(owner, request)
                    if forwarded is not None:
                        return forwarded
            return http_response(self._refuse(request, refusal, upgrade=True), [])
        query = request.query
        sid = query.get("sid")
        new_id: str | None = None
        if sid is None and query.get("transport") == "websocket":
            new_id, refusal = await self._session_id(request)
            if refusal is not None:
                return http_response(self._refuse(request, refusal, upgrade=True), [])
        if self._events.has("headers") or self._events.has("initial_headers"):
            headers = self._emit_headers(request, [], headers, initial=sid is None)
        accept_kwargs: dict[str, Any] = {
            "max_message_size": self.options.max_http_buffer_size,
            "compression": self.options.per_message_deflate,
            "headers": headers,
        }
        if query.get("transport") != "websocket":
            # JS onWebSocket: a transport that does not handle upgrades closes at once.
            return WebSocketAccept(attach=_close_at_once, **accept_kwargs)
        if new_id is not None:
            session_id = new_id

            def attach_new(ws: WebSocketTransport) -> WebSocketHandler:
                sock = self._create(request, "websocket", session_id)
                handler = sock.handle_websocket(ws)
                self._connected(sock)
                return handler

            return WebSocketAccept(attach=attach_new, **accept_kwargs)
        assert sid is not None

        base64 = bool(query.get("b64"))

        def attach_probe(ws: WebSocketTransport) -> WebSocketHandler:
            sock = self.clients.get(sid)
            handler = sock.handle_probe(ws, base64=base64) if sock is not None else None
            if handler is None:
                # Closed, already upgraded or upgrading: refuse without disturbing it.
                ws.close()
                return _Ignore()
            return handler

        return WebSocketAccept(attach=attach_probe, **accept_kwargs)

    async def handle_webtransport(
        self, request: HttpRequest, first: str | bytes, stream: WebSocketTransport
    ) -> WebSocketHandler | None:
        """Take a WebTransport session's stream, whose first packet is ``first`` (JS
        ``onWebTransportSession``): an open packet starts a session over it, or, with a
        ``sid``, probes the upgrade of that polling session. None: refused (close it).

        ``allow_request`` decides new sessions, as for the other transports (JS cannot: it
        has no request for them).
        """
        if "webtransport" not in self.options.transports:
            return None
        try:
            packet = decode_packet(first)
        except ProtocolError:
            packet = None
        if packet is None or packet.type is not PacketType.OPEN or not isinstance(packet.data, str):
            logger.debug("invalid WebTransport handshake")
            return None
        if not packet.data:
            if self.options.allow_request is not None:
                refusal = allow_request_refusal(await self.options.allow_request(request))
                if refusal is not None:
                    self._refuse(request, refusal, upgrade=True)
                    return None
            new_id, refusal = await self._session_id(request)
            if refusal is not None:
                self._refuse(request, refusal, upgrade=True)
                return None
            created = self._create(request, "webtransport", new_id)
            handler = created.handle_websocket(stream)
            self._connected(created)
            return handler
        sid = session_id_of(packet.data)
        sock = self.clients.get(sid) if sid is not None else None
        if sock is None:
            logger.debug("invalid WebTransport handshake (sid %r)", sid)
            return None
        # None when closed, already upgraded or upgrading: refused without disturbing it
        return sock.handle_probe(stream, transport="webtransport")

    async def shutdown(self) -> None:
        """Close every session with reason ``"server shutting down"``."""
        for sock in list(self.clients.values()):
            sock.handle_shutdown()
        if self.forwarder is not None:
            await self.forwarder.close()

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
        headers = self.cors_headers_now(request)
        if headers is not None:
            return headers
        cors = self.options.cors
        assert cors is not None
        assert callable(cors.origin)
        answer = cors.origin(request.headers.get("origin"))
        if isinstance(answer, Awaitable):
            answer = await answer
        return (
            cors_headers(cors, request.method, request.headers, callback_result=bool(answer)) or []
        )

    def cors_headers_now(self, request: HttpRequest) -> list[tuple[str, str]] | None:
        """[`cors_headers()`][cors_headers] when no origin callback must be asked: the
        headers, or None when ``options.cors.origin`` is a callback."""
        cors = self.options.cors
        if cors is None:
            return []
        if callable(cors.origin):
            return None
        return cors_headers(cors, request.method, request.headers) or []

    def _check(
        self, request: HttpRequest, *, upgrade: bool
    ) -> tuple[EngineSocket | None, Refusal | None]:
        """[`check_request()`][check_request] for ``request``: the session it names (None for a
        handshake), and the refusal, if any."""
        sid = request.query.get("sid")
        sock = self.clients.get(sid) if sid is not None else None
        refusal = check_request(
            method=request.method,
            query=request.query,
            origin=request.headers.get("origin"),
            upgrade=upgrade,
            transports=self.options.transports,
            session_transport=sock.transport if sock is not None else None,
            session_protocol=sock.protocol if sock is not None else 4,
        )
        return sock, refusal

    async def _check_handshake(self, request: HttpRequest) -> Refusal | None:
        """A handshake passed [`check_request()`][check_request]: ``allow_request``, then the
        protocol revision (in JS's order)."""
        if self.options.allow_request is not None:
            refusal = allow_request_refusal(await self.options.allow_request(request))
            if refusal is not None:
                return refusal
        return check_handshake_protocol(request.query, allow_eio3=self.options.allow_eio3)

    def _refuse(self, request: HttpRequest, refusal: Refusal, *, upgrade: bool) -> HttpAnswer:
        """Tell the ``connection_error`` listeners, then build the refusal."""
        # DEBUG, not INFO: a peer controls how many of these there are
        logger.debug(
            "refused %s %s: %s %s",
            request.method,
            request.raw_path,
            refusal.message,
            refusal.context,
        )
        event = ConnectionErrorEvent(request, refusal.code, refusal.message, refusal.context)
        for callback in self._on_connection_error:
            _call(callback, event)
        return refusal.answer(upgrade=upgrade)

    def _new_sid(self) -> str:
        # 20 URL-safe characters, like JS base64id (the first ones name the owner).
        while True:
            sid = new_sid(self.sid_prefix)
            if sid not in self.clients:
                return sid

    def _create(self, request: HttpRequest, transport: Transport, sid: str) -> EngineSocket:
        query = request.query
        # JS: a WebTransport session is always v4
        protocol = 4 if transport == "webtransport" else protocol_revision(query)
        # JS: a polling transport created with a `j` query is JSONP; `b64` asks for binary
        # as base64 (v3 clients without XHR2, or forced).
        j = query.get("j")
        framing = Framing(
            protocol,
            binary=not query.get("b64"),
            jsonp=jsonp_index(j) if j is not None and transport == "polling" else None,
        )
        framing.websocket_base64 = (
            protocol == 3 and transport == "websocket" and bool(query.get("b64"))
        )
        session = ServerSession(sid, transport, self.options, self.loop_time(), framing=framing)
        kind = EngineSocketV3 if protocol == 3 else EngineSocket
        sock = kind(
            session,
            request,
            loop=self.loop,
            max_buffered_bytes=self.options.max_buffered_bytes,
            forget=self._forget_socket,
            closed=self._socket_closed,
            server_events=self._events,
        )
        if self._events.has("flush") or self._events.has("drain"):
            sock.observe()
        self.clients[session.sid] = sock
        return sock

    # -- hooks: middlewares, session ids, response headers -------------------------------

    async def _through_middlewares(
        self, request: HttpRequest, headers: list[tuple[str, str]], *, upgrade: bool
    ) -> HttpResponse | WebSocketAccept:
        """Run the ``use()`` middlewares, then serve ``request`` (JS ``_applyMiddlewares``
        before ``verify``); a failing middleware refuses it (``MIDDLEWARE_FAILURE``)."""

        async def serve(
            seen: HttpRequest, out: list[tuple[str, str]]
        ) -> HttpResponse | WebSocketAccept:
            if upgrade:
                return await self._serve_websocket(seen, out)
            return await self._serve_http(seen, out)

        try:
            return await self._middlewares.run(request, headers, serve, upgrade=upgrade)
        except MiddlewareError as exc:
            answer = self._refuse(request, middleware_refusal(), upgrade=upgrade)
            return http_response(answer, [] if upgrade else exc.headers)

    async def _session_id(self, request: HttpRequest) -> tuple[str, Refusal | None]:
        """The id of a new session: ``generate_id``'s, checked, or a random one."""
        generate = self.generate_id
        if generate is None:
            return self._new_sid(), None
        try:
            sid = generate(request)
            if inspect.isawaitable(sid):
                sid = await sid
            if not isinstance(sid, str) or _VALID_ID.fullmatch(sid) is None:
                raise ValueError(f"not a valid session id: {sid!r}")
            if sid in self.clients:
                raise ValueError(f"session id {sid!r} is in use")
            if not sid.startswith(self.sid_prefix):
                raise ValueError(f"session id {sid!r} must start with {self.sid_prefix!r}")
        except Exception as exc:
            logger.warning("generate_id failed: %r", exc)
            return "", id_generation_refusal(exc)
        return sid, None

    def _emit_headers(
        self,
        request: HttpRequest,
        shared: list[tuple[str, str]],
        own: list[tuple[str, str]],
        *,
        initial: bool,
    ) -> list[tuple[str, str]]:
        """Let the ``initial_headers`` (``initial``) and ``headers`` listeners change
        ``own`` (JS: the transport's headers object); the response gets ``shared`` (CORS,
        middlewares) but the names the listeners left in ``own``, then ``own``."""
        table: ResponseHeaders = {}
        for name, value in own:
            previous = table.get(name)
            if previous is None:
                table[name] = value
            elif isinstance(previous, str):
                table[name] = [previous, value]
            else:
                previous.append(value)
        if initial:
            self._events.emit("initial_headers", table, request)
        self._events.emit("headers", table, request)
        names = {name.lower() for name in table}
        out = [(name, value) for name, value in shared if name.lower() not in names]
        for name, values in table.items():
            if isinstance(values, str):
                out.append((name, values))
            else:
                out.extend((name, str(item)) for item in values)
        return out

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
        sock.handle_connected()

    async def _handshake_polling(
        self, request: HttpRequest, headers: list[tuple[str, str]]
    ) -> HttpResponse:
        sid, refusal = await self._session_id(request)
        if refusal is not None:
            return http_response(self._refuse(request, refusal, upgrade=False), headers)
        sock = self._create(request, "polling", sid)
        # the open packet is answered at once
        answer = await sock.handle_get(request)
        if not isinstance(answer, AnswerPoll):
            return http_response(error_answer(HttpErrorCode.BAD_REQUEST), headers)
        # JS emits "connection" after the handshake is written: sends queue for next poll.
        self._connected(sock)
        return self._payload_response(request, answer, headers, handshake=sock.sid)

    async def _poll(
        self, sock: EngineSocket, request: HttpRequest, headers: list[tuple[str, str]]
    ) -> HttpResponse:
        return self._poll_response(request, await sock.handle_get(request), headers)

    def _poll_response(
        self,
        request: HttpRequest,
        answer: AnswerPoll | HttpAnswer | None,
        headers: list[tuple[str, str]],
    ) -> HttpResponse:
        # None: the client left before the poll's answer
        if answer is None:
            return HttpResponse(400, headers)
        if isinstance(answer, AnswerPoll):
            return self._payload_response(request, answer, headers)
        return http_response(answer, headers)

    def _payload_response(
        self,
        request: HttpRequest,
        answer: AnswerPoll,
        headers: list[tuple[str, str]],
        *,
        handshake: str | None = None,
    ) -> HttpResponse:
        """A poll's 200 with ``answer``'s payload (``handshake``: the new session's id, for
        the cookie and the ``initial_headers`` listeners)."""
        payload = answer.payload
        if isinstance(payload, str):
            body = payload.encode("utf-8", "surrogatepass")
            own = [("Content-Type", _TEXT_PLAIN)]
        else:
            body = payload
            own = [("Content-Type", _OCTET_STREAM)]
        options = self.options
        cookie = options.cookie_options
        if handshake is not None and cookie is not None:
            own.append(("Set-Cookie", cookie.serialize(handshake)))
        if (
            options.http_compression
            and answer.compress
            and len(body) >= options.compression_threshold
        ):
            encoding = negotiate_encoding(request.headers.get("accept-encoding"))
            if encoding is not None:
                body = compress(body, encoding)
                own.append(("Content-Encoding", encoding))
        user_agent = request.headers.get("user-agent", "")
        if ";MSIE" in user_agent or "Trident/" in user_agent:
            own.append(("X-XSS-Protection", "0"))
        own.append(("cache-control", "no-store"))
        events = self._events
        if events.has("headers") or (handshake is not None and events.has("initial_headers")):
            return HttpResponse(
                200, self._emit_headers(request, headers, own, initial=handshake is not None), body
            )
        return HttpResponse(200, [own[0], *headers, *own[1:]], body)

    def _forget(self, sock: EngineSocket) -> None:
        if self.clients.get(sock.sid) is sock:
            del self.clients[sock.sid]

    def _closed(self, sock: EngineSocket, reason: str) -> None:
        logger.info("engine %s closed: %s", sock.sid, reason)
        for callback in self._on_close:
            _call(callback, sock, reason)


def _call(callback: Callable[..., None], *args: Any) -> None:
    # An application error must not break the server.
    try:
        callback(*args)
    except Exception:
        logger.exception("error in Engine.IO callback %r", callback)


def _close_at_once(ws: WebSocketTransport) -> WebSocketHandler:
    ws.close()
    return _Ignore()
