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

Backpressure: the bytes queued for one client are bounded by
``EngineOptions.max_buffered_bytes`` (16 MiB by default); a client over it is closed with
reason "transport buffer full" (see [`socketwire.io.engine_socket`][socketwire.io.engine_socket]).
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

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
    protocol_revision,
    session_id_of,
)
from socketwire.engineio.server_session import AnswerPoll, ServerSession
from socketwire.engineio.sids import new_node_tag, new_sid, owner_prefix
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

__all__ = ["ConnectionErrorEvent", "EngineServer", "EngineSocket"]

logger = logging.getLogger("socketwire.engine")

ConnectionCallback = Callable[["EngineSocket"], None]
CloseCallback = Callable[["EngineSocket", str], None]
ConnectionErrorCallback = Callable[["ConnectionErrorEvent"], None]
Fallback = Callable[[HttpRequest], Awaitable[HttpResponse]]

_TEXT_PLAIN = "text/plain; charset=UTF-8"
_OCTET_STREAM = "application/octet-stream"


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
        # Without CORS options, spare every polling request a coroutine.
        options = self.options
        headers = await self.cors_headers(request) if options.cors is not None else []
        if options.cors is not None and request.method == "OPTIONS":
            return HttpResponse(204, headers)
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
            return await sock.handle_post(request, headers, options.max_http_buffer_size)
        return HttpResponse(500, headers)

    async def handle_websocket(self, request: HttpRequest) -> HttpResponse | WebSocketAccept:
        """Accept or refuse one WebSocket upgrade request."""
        if not self.owns(request.path):
            return HttpResponse(404, [("Content-Type", "text/plain")], b"Not Found")
        headers = await self.cors_headers(request)
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
        accept_kwargs: dict[str, Any] = {
            "max_message_size": self.options.max_http_buffer_size,
            "compression": self.options.per_message_deflate,
            "headers": headers,
        }
        query = request.query
        sid = query.get("sid")
        if query.get("transport") != "websocket":
            # JS onWebSocket: a transport that does not handle upgrades closes at once.
            return WebSocketAccept(attach=_close_at_once, **accept_kwargs)
        if sid is None:

            def attach_new(ws: WebSocketTransport) -> WebSocketHandler:
                sock = self._create(request, "websocket")
                handler = sock.handle_websocket(ws)
                self._connected(sock)
                return handler

            return WebSocketAccept(attach=attach_new, **accept_kwargs)

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
            created = self._create(request, "webtransport")
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

    def _create(self, request: HttpRequest, transport: Transport) -> EngineSocket:
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
        session = ServerSession(
            self._new_sid(), transport, self.options, self.loop_time(), framing=framing
        )
        kind = EngineSocketV3 if protocol == 3 else EngineSocket
        sock = kind(
            session,
            request,
            loop=self.loop,
            max_buffered_bytes=self.options.max_buffered_bytes,
            forget=self._forget,
            closed=self._closed,
        )
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
        sock.handle_connected()

    async def _handshake_polling(
        self, request: HttpRequest, headers: list[tuple[str, str]]
    ) -> HttpResponse:
        sock = self._create(request, "polling")
        # the open packet is answered at once
        answer = await sock.handle_get(request)
        if not isinstance(answer, AnswerPoll):
            return http_response(error_answer(HttpErrorCode.BAD_REQUEST), headers)
        cookie = self.options.cookie_options
        if cookie is not None:
            headers = [*headers, ("Set-Cookie", cookie.serialize(sock.sid))]
        # JS emits "connection" after the handshake is written: sends queue for next poll.
        self._connected(sock)
        return self._payload_response(request, answer, headers)

    async def _poll(
        self, sock: EngineSocket, request: HttpRequest, headers: list[tuple[str, str]]
    ) -> HttpResponse:
        answer = await sock.handle_get(request)
        if answer is None:
            return HttpResponse(400, headers)
        if isinstance(answer, AnswerPoll):
            return self._payload_response(request, answer, headers)
        return http_response(answer, headers)

    def _payload_response(
        self, request: HttpRequest, answer: AnswerPoll, headers: list[tuple[str, str]]
    ) -> HttpResponse:
        payload = answer.payload
        if isinstance(payload, str):
            body = payload.encode("utf-8", "surrogatepass")
            out = [("Content-Type", _TEXT_PLAIN), *headers]
        else:
            body = payload
            out = [("Content-Type", _OCTET_STREAM), *headers]
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
