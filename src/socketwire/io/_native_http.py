"""The HTTP/1.1 half of the native server: one asyncio protocol per TCP connection.

[`HttpConnection`][HttpConnection] parses requests with ``httptools``, queues them (pipelining) and
answers them in order, one at a time, each in its own task. A WebSocket upgrade that the
application accepts hands the transport over to a [`NativeWebSocket`][._native_ws.NativeWebSocket].
"""

from __future__ import annotations

import asyncio
import http
import logging
import os
from collections import deque
from collections.abc import Mapping
from functools import partial
from typing import TYPE_CHECKING, Final, cast
from urllib.parse import parse_qsl, unquote

import httptools
from websockets.datastructures import Headers
from websockets.extensions.permessage_deflate import ServerPerMessageDeflateFactory
from websockets.http11 import Request as WsRequest
from websockets.protocol import State

from ._native_ws import NativeServerProtocol, NativeWebSocket
from .http import (
    BodyTimeoutError,
    BodyTooLargeError,
    ClientDisconnectedError,
    HttpResponse,
    WebSocketAccept,
)

if TYPE_CHECKING:
    from .native import NativeServer

__all__ = ["BODY_HIGH_WATER", "LINGER_TIMEOUT", "MAX_PIPELINE", "HttpConnection"]

logger = logging.getLogger("socketwire.native")

#: Parsed requests waiting behind the one being answered before we stop reading.
MAX_PIPELINE: Final = 16
#: Unread body bytes buffered for a request before we stop reading.
BODY_HIGH_WATER: Final = 64 * 1024
#: Seconds we keep reading (and dropping) a body we refused before closing the connection.
LINGER_TIMEOUT: Final = 2.0

_REASONS: Final = {status.value: status.phrase.encode() for status in http.HTTPStatus}
_NO_BODY_STATUSES: Final = frozenset({204, 304})
#: Encoded, checked response header lines by (name, value): most are the same on every
#: response (content type, cache control, CORS). Bounded: values such as cookies vary.
_HEADER_LINES: Final[dict[tuple[str, str], bytes]] = {}
_HEADER_LINES_MAX: Final = 256
#: Request header names as received, to their lower-case text; and the values of the
#: headers in [`_SHARED_VALUES`][_SHARED_VALUES], decoded: every request brings the same few,
#: and the engine keeps each session's handshake headers, so thousands of connections share
#: one string of each instead of a copy each. Bounded: names and values are the client's.
_HEADER_NAMES: Final[dict[bytes, str]] = {}
_HEADER_VALUES: Final[dict[bytes, str]] = {}
_HEADER_TEXT_MAX: Final = 256
#: Headers whose values repeat from client to client (not keys, cookies or tokens).
_SHARED_VALUES: Final = frozenset(
    {
        "accept",
        "accept-encoding",
        "accept-language",
        "cache-control",
        "connection",
        "content-type",
        "host",
        "origin",
        "pragma",
        "sec-fetch-dest",
        "sec-fetch-mode",
        "sec-fetch-site",
        "sec-websocket-extensions",
        "sec-websocket-version",
        "upgrade",
        "user-agent",
    }
)


class _HeadersTooLarge(Exception):
    """Raised from a parser callback when the request head exceeds the size limit."""


class _NativeRequest:
    """One parsed request; implements [`HttpRequest`][socketwire.io.http.HttpRequest].

    A WebSocket upgrade's request outlives its HTTP connection (the engine keeps the
    handshake request of every session): once the transport belongs to the
    [`NativeWebSocket`][._native_ws.NativeWebSocket], [`detach()`][detach] drops the
    connection (its parser and buffers), and the request's disconnection is the WebSocket's.
    """

    __slots__ = (
        "_query",
        "body",
        "complete",
        "conn",
        "content_length",
        "continue_sent",
        "error_status",
        "expect_continue",
        "headers",
        "keep_alive",
        "limit",
        "method",
        "path",
        "query_string",
        "raw_path",
        "remote_addr",
        "secure",
        "upgrade",
        "waiter",
        "websocket",
    )

    def __init__(self, conn: HttpConnection, error_status: int = 0) -> None:
        #: the HTTP connection; None once detached (upgraded to ``websocket``)
        self.conn: HttpConnection | None = conn
        self.websocket: NativeWebSocket | None = None
        self.method = ""
        self.path = ""
        self.raw_path = ""
        self.query_string = ""
        self._query: dict[str, str] | None = None
        self.headers: dict[str, str] = {}
        self.remote_addr = conn.remote_addr
        self.secure = conn.secure
        self.body = bytearray()
        self.complete = False
        self.content_length: int | None = None
        self.expect_continue = False
        self.continue_sent = False
        self.keep_alive = False
        self.upgrade = False
        self.error_status = error_status
        self.limit: int | None = None
        self.waiter: asyncio.Future[None] | None = None

    @property
    def query(self) -> Mapping[str, str]:
        """Query parameters, first value of each."""
        query = self._query
        if query is None:
            query = self._query = {}
            text = self.query_string
            if "%" in text or "+" in text:
                for key, value in parse_qsl(text, keep_blank_values=True):
                    query.setdefault(key, value)
            else:
                # What parse_qsl(keep_blank_values=True) does when there is nothing to
                # unquote, at a third of the cost (every polling request asks).
                for field in text.split("&"):
                    if field:
                        key, _, value = field.partition("=")
                        query.setdefault(key, value)
        return query

    async def read_body(self, limit: int) -> bytes:
        """Read the whole body (see
        [`HttpRequest.read_body()`][socketwire.io.http.HttpRequest.read_body])."""
        conn = self.conn
        if conn is None:
            # Upgraded: no more of the body can arrive on an HTTP connection.
            if len(self.body) > limit:
                raise BodyTooLargeError
            if not self.complete:
                raise ClientDisconnectedError
            return bytes(self.body)
        if (self.content_length is not None and self.content_length > limit) or len(
            self.body
        ) > limit:
            conn.abandon_body(self)
            raise BodyTooLargeError
        if not self.complete:
            if conn.lost:
                raise ClientDisconnectedError
            if self.expect_continue and not self.continue_sent and not self.body:
                self.continue_sent = True
                conn.write(b"HTTP/1.1 100 Continue\r\n\r\n")
            self.limit = limit
            waiter = self.waiter = conn.loop.create_future()
            conn.update_reading()
            try:
                async with asyncio.timeout(conn.server.body_timeout):
                    await waiter
            except TimeoutError:
                conn.abandon_body(self)
                raise BodyTimeoutError from None
            finally:
                self.waiter = None
                self.limit = None
        return bytes(self.body)

    async def wait_disconnected(self) -> None:
        """Return when the client closes the connection (the WebSocket, once upgraded)."""
        waiter = self.disconnected_future()
        if not waiter.done():
            await asyncio.shield(waiter)

    def disconnected_future(self) -> asyncio.Future[None]:
        """The connection's future that completes when the client closes it.

        Shared by every request of the connection: add and remove callbacks, never cancel
        it. The engine watches long-polling GETs with it instead of a task per request.
        """
        if self.conn is not None:
            return self.conn.lost_future()
        assert self.websocket is not None  # detach() sets it
        return self.websocket.lost_future()

    def detach(self, websocket: NativeWebSocket) -> None:
        """The connection is ``websocket``'s now: forget the HTTP connection."""
        self.conn = None
        self.websocket = websocket


class HttpConnection(asyncio.Protocol):
    """HTTP/1.1 on one TCP connection: parse, queue, answer in order."""

    __slots__ = (
        "_current",
        "_discarding",
        "_header_bytes",
        "_idle_since",
        "_initial",
        "_keepalive_timer",
        "_lost_waiter",
        "_parser",
        "_parsing",
        "_peek",
        "_pending",
        "_reading_paused",
        "_stopped_parsing",
        "_task",
        "_upgrade_buffer",
        "_url",
        "_write_paused",
        "closing",
        "loop",
        "lost",
        "must_close",
        "remote_addr",
        "secure",
        "server",
        "transport",
    )

    def __init__(self, server: NativeServer, initial: bytes = b"") -> None:
        self.server = server
        #: what another worker read from this connection before handing it over
        self._initial = initial
        #: the start of a request, held until its request line is complete (workers only)
        self._peek = b""
        self.loop = asyncio.get_running_loop()
        self.transport: asyncio.Transport | None = None
        self.remote_addr: tuple[str, int] | None = None
        self.secure = server.ssl is not None
        self._parser = httptools.HttpRequestParser(self)
        self._parsing: _NativeRequest | None = None
        self._pending: deque[_NativeRequest] = deque()
        self._current: _NativeRequest | None = None
        self._url = b""
        self._header_bytes = 0
        self._keepalive_timer: asyncio.TimerHandle | None = None
        #: loop time since which no request is being answered; None while one is
        self._idle_since: float | None = None
        self._lost_waiter: asyncio.Future[None] | None = None
        self._reading_paused = False
        self._write_paused = False
        self._stopped_parsing = False
        self._discarding = False
        self._task: asyncio.Task[None] | None = None
        self._upgrade_buffer = bytearray()
        self.lost = False
        self.must_close = False
        self.closing = False

    # asyncio.Protocol callbacks

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        """Remember the transport and start the idle timer."""
        # uvloop's transports implement asyncio.Transport without subclassing it.
        self.transport = cast(asyncio.Transport, transport)
        peer = transport.get_extra_info("peername")
        if isinstance(peer, tuple) and len(peer) >= 2:
            self.remote_addr = (str(peer[0]), int(peer[1]))
        self.server.connections.add(self)
        self._idle_since = self.loop.time()
        self._arm_keepalive()
        if self._initial:
            initial, self._initial = self._initial, b""
            self.data_received(initial)

    def data_received(self, data: bytes) -> None:
        """Feed the parser; completed heads are queued and answered in order."""
        if self._discarding:
            return
        if self.server.handoff is not None and self._at_boundary():
            # A worker: the request may belong to a session another worker owns.
            data = self._peek + data
            self._peek = b""
            end = data.find(b"\r\n")
            if end < 0:
                if len(data) <= self.server.max_header_size:
                    self._peek = data
                    return
            elif self._hand_off(data, end):
                return
        if self._stopped_parsing:
            # After an upgrade request: keep the bytes for the WebSocket (reading is paused,
            # so this holds at most what one read returned).
            self._upgrade_buffer += data
            self.update_reading()
            return
        try:
            self._parser.feed_data(data)
        except httptools.HttpParserUpgrade as exc:
            offset = exc.args[0]
            self._stopped_parsing = True
            self._upgrade_buffer += data[offset:]
        except httptools.HttpParserCallbackError as exc:
            status = 431 if isinstance(exc.__context__, _HeadersTooLarge) else 400
            self._parse_failed(status)
        except httptools.HttpParserError:
            self._parse_failed(400)
        if self._current is None and self._pending:
            # Started after the read, not at the end of the head: a body that came with its
            # head is complete by now, and the app may answer such a request without a task.
            self._start_next()
        self.update_reading()

    def _at_boundary(self) -> bool:
        # Nothing of a next request has been parsed: the bytes start a request line.
        parsing = self._parsing
        return (
            self._current is None
            and not self._pending
            and not self._stopped_parsing
            and (parsing is None or parsing.complete)
        )

    def _hand_off(self, data: bytes, line_end: int) -> bool:
        """Hand the connection to the worker owning the session of the request line in
        ``data`` (see `handoff`); False: it stays here."""
        handoff = self.server.handoff
        transport = self.transport
        assert handoff is not None
        worker = handoff.owner(data[:line_end])
        if worker is None or transport is None or transport.get_write_buffer_size():
            return False
        sock = transport.get_extra_info("socket")
        if sock is None:
            return False
        transport.pause_reading()
        fd = os.dup(sock.fileno())
        try:
            sent = handoff.send(worker, fd, data)
        finally:
            os.close(fd)
        if not sent:
            transport.resume_reading()
            return False
        # The other worker holds the connection now: close our descriptor only (no FIN).
        self._discarding = True
        transport.close()
        return True

    def connection_lost(self, exc: Exception | None) -> None:
        """Wake everything that waits on this connection."""
        self.lost = True
        self.server.forget(self)
        if self._keepalive_timer is not None:
            self._keepalive_timer.cancel()
            self._keepalive_timer = None
        for request in (self._parsing, self._current):
            if request is not None and request.waiter is not None and not request.waiter.done():
                request.waiter.set_exception(ClientDisconnectedError())
        if self._lost_waiter is not None and not self._lost_waiter.done():
            self._lost_waiter.set_result(None)

    def pause_writing(self) -> None:
        """The peer reads slower than we write: stop reading its requests."""
        self._write_paused = True
        self.update_reading()

    def resume_writing(self) -> None:
        """The write buffer drained."""
        self._write_paused = False
        self.update_reading()

    # httptools callbacks

    def on_message_begin(self) -> None:
        """A new request starts."""
        self._parsing = _NativeRequest(self)
        self._url = b""
        self._header_bytes = 0

    def on_url(self, url: bytes) -> None:
        """A piece of the request target."""
        self._url += url
        self._header_bytes += len(url)
        if self._header_bytes > self.server.max_header_size:
            raise _HeadersTooLarge

    def on_header(self, name: bytes, value: bytes) -> None:
        """One complete header line."""
        # the head's size, counted inline (a call per header line costs more than this)
        self._header_bytes += len(name) + len(value) + 4
        if self._header_bytes > self.server.max_header_size:
            raise _HeadersTooLarge
        request = self._parsing
        assert request is not None
        key = _HEADER_NAMES.get(name)
        if key is None:
            key = name.decode("latin-1").lower()
            if len(_HEADER_NAMES) < _HEADER_TEXT_MAX:
                _HEADER_NAMES[name] = key
        if key in _SHARED_VALUES:
            text = _HEADER_VALUES.get(value)
            if text is None:
                text = value.decode("latin-1")
                if len(_HEADER_VALUES) < _HEADER_TEXT_MAX:
                    _HEADER_VALUES[value] = text
        else:
            text = value.decode("latin-1")
        headers = request.headers
        previous = headers.get(key)
        headers[key] = text if previous is None else f"{previous}, {text}"

    def on_headers_complete(self) -> None:
        """The head is complete: queue the request."""
        # The idle timer also bounds how long a request head may take to arrive. It is not
        # cancelled here: when it fires during a request it does nothing, and _finish arms it
        # again if needed (a timer per request costs more than that).
        self._idle_since = None
        request = self._parsing
        assert request is not None
        parser = self._parser
        request.method = parser.get_method().decode("ascii")
        raw_path = self._url.decode("latin-1")
        request.raw_path = raw_path
        path, _, query = raw_path.partition("?")
        path = path.partition("#")[0]
        request.path = unquote(path) if "%" in path else path
        request.query_string = query.partition("#")[0]
        request.keep_alive = parser.should_keep_alive()
        headers = request.headers
        length = headers.get("content-length")
        if length is not None:
            # httptools already rejected a malformed Content-Length.
            request.content_length = int(length)
        if headers.get("expect", "").lower() == "100-continue":
            request.expect_continue = True
        if parser.should_upgrade():
            request.upgrade = True
        self._pending.append(request)  # data_received starts it once the read is parsed

    def on_body(self, body: bytes) -> None:
        """A piece of the current request's body."""
        request = self._parsing
        assert request is not None
        if request.error_status:
            return  # abandoned: the connection closes after the response
        request.body += body
        limit = request.limit
        if limit is not None and len(request.body) > limit:
            waiter = request.waiter
            self.abandon_body(request)
            if waiter is not None and not waiter.done():
                waiter.set_exception(BodyTooLargeError())

    def on_message_complete(self) -> None:
        """The current request's body is complete."""
        request = self._parsing
        assert request is not None
        request.complete = True
        waiter = request.waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(None)

    # helpers used by _NativeRequest

    def write(self, data: bytes) -> None:
        """Write to the transport unless the connection is gone."""
        if not self.lost and self.transport is not None:
            self.transport.write(data)

    def lost_future(self) -> asyncio.Future[None]:
        """A future (one per connection) that completes when the connection is lost."""
        waiter = self._lost_waiter
        if waiter is None:
            waiter = self._lost_waiter = self.loop.create_future()
            if self.lost:
                waiter.set_result(None)
        return waiter

    def abandon_body(self, request: _NativeRequest) -> None:
        """Stop collecting ``request``'s body; close the connection after its response."""
        # error_status is otherwise only set on error pseudo-requests, which have no body.
        request.error_status = -1
        request.body = bytearray()
        self.must_close = True
        if not self._stopped_parsing:
            self._stopped_parsing = True
        self.update_reading()

    def update_reading(self) -> None:
        """Pause reading while anything would otherwise buffer without bound."""
        transport = self.transport
        if transport is None or self.lost or self._discarding:
            return
        parsing = self._parsing
        pause = (
            self._write_paused
            or self._stopped_parsing
            or len(self._pending) >= MAX_PIPELINE
            or (
                parsing is not None
                and parsing.limit is None
                and not parsing.complete
                and len(parsing.body) >= BODY_HIGH_WATER
            )
        )
        if pause != self._reading_paused:
            self._reading_paused = pause
            if pause:
                transport.pause_reading()
            else:
                transport.resume_reading()

    # request processing

    def _parse_failed(self, status: int) -> None:
        # Requests queued before the bad one are still answered, in order; the last
        # response (the error's, or the broken request's own) closes the connection.
        self._stopped_parsing = True
        parsing = self._parsing
        if (
            parsing is not None
            and not parsing.complete
            and (parsing is self._current or parsing in self._pending)
        ):
            # The head was fine but the body is broken: that request's reader fails
            # and its own response is the last one.
            waiter = parsing.waiter
            parsing.error_status = -1
            if waiter is not None and not waiter.done():
                waiter.set_exception(ClientDisconnectedError())
            return
        self._pending.append(_NativeRequest(self, error_status=status))
        if self._current is None:
            self._start_next()

    def _start_next(self) -> None:
        request = self._pending.popleft()
        self._current = request
        if request.error_status > 0:
            body = http.HTTPStatus(request.error_status).phrase.encode()
            self._respond(request, HttpResponse(request.error_status, [], body))
            return
        now = self.server.app_now
        if now is not None and request.complete and not request.upgrade:
            try:
                answer = now(request, bytes(request.body))
            except Exception:
                logger.exception("application failed on %s %s", request.method, request.raw_path)
                answer = HttpResponse(500, [], b"Internal Server Error")
            if isinstance(answer, HttpResponse):
                self._respond(request, answer)
                return
            if answer is not None:
                answer.add_done_callback(partial(self._answered, request))
                return
        # Hold a strong reference: the loop keeps only weak ones to tasks.
        self._task = self.loop.create_task(self._run(request))

    def _answered(self, request: _NativeRequest, answer: asyncio.Future[HttpResponse]) -> None:
        # The app's future of an immediate answer (a long-poll that waited) is done.
        if self.lost:
            return
        if answer.cancelled() or answer.exception() is not None:
            if not answer.cancelled():
                logger.error(
                    "application failed on %s %s",
                    request.method,
                    request.raw_path,
                    exc_info=answer.exception(),
                )
            self._respond(request, HttpResponse(500, [], b"Internal Server Error"))
        else:
            self._respond(request, answer.result())

    async def _run(self, request: _NativeRequest) -> None:
        app = self.server.app
        response: HttpResponse
        try:
            if request.upgrade:
                upgrade = request.headers.get("upgrade", "").lower()
                if upgrade == "websocket" and request.method == "GET":
                    decision = await app.handle_websocket(request)
                    if isinstance(decision, WebSocketAccept):
                        self._accept_websocket(request, decision)
                        return
                    response = decision
                else:
                    response = await app.handle_http(request)
                # The parser stopped at the upgrade: nothing more can follow on this connection.
                self.must_close = True
            else:
                response = await app.handle_http(request)
        except ClientDisconnectedError:
            if self.lost:
                return
            logger.exception("application failed on %s %s", request.method, request.raw_path)
            response = HttpResponse(500, [], b"Internal Server Error")
        except Exception:
            logger.exception("application failed on %s %s", request.method, request.raw_path)
            response = HttpResponse(500, [], b"Internal Server Error")
        if self.lost:
            return
        self._respond(request, response)

    def _respond(self, request: _NativeRequest, response: HttpResponse) -> None:
        """Write ``request``'s response, then go on with the next request."""
        try:
            self._write_response(request, response)
        except Exception:
            logger.exception("invalid response to %s %s", request.method, request.raw_path)
            self._write_response(request, HttpResponse(500, [], b"Internal Server Error"))
        self._finish(request)

    def _write_response(self, request: _NativeRequest, response: HttpResponse) -> None:
        status = response.status
        body = response.body
        keep_alive = (
            request.keep_alive
            and not self.must_close
            and not self.closing
            and (request.complete or request.upgrade)
            and request.error_status == 0
        )
        reason = _REASONS.get(status, b"Unknown")
        parts = [b"HTTP/1.1 %d %s\r\n" % (status, reason)]
        lines = _HEADER_LINES
        for header in response.headers:
            line = lines.get(header) if type(header) is tuple else None
            if line is None:
                name, value = header
                if "\r" in value or "\n" in value or "\r" in name or "\n" in name or ":" in name:
                    raise ValueError(f"invalid response header {name!r}")
                line = f"{name}: {value}\r\n".encode("latin-1")
                if type(header) is tuple and len(lines) < _HEADER_LINES_MAX:
                    lines[header] = line
            parts.append(line)
        if status in _NO_BODY_STATUSES or status < 200:
            body = b""
        else:
            parts.append(b"Content-Length: %d\r\n" % len(body))
        if not keep_alive:
            parts.append(b"Connection: close\r\n")
            self.must_close = True
        elif request.headers.get("connection", "").lower() == "keep-alive":
            # HTTP/1.0 client that asked for keep-alive.
            parts.append(b"Connection: keep-alive\r\n")
        parts.append(b"\r\n")
        if body and request.method != "HEAD":
            parts.append(body)
        self.write(b"".join(parts))

    def _finish(self, request: _NativeRequest) -> None:
        self._current = None
        self._task = None
        if self.must_close:
            self._close_after(request)
            return
        if self._pending:
            self._start_next()
        else:
            self._idle_since = self.loop.time()
            self._arm_keepalive()
        self.update_reading()

    def _close_after(self, request: _NativeRequest) -> None:
        transport = self.transport
        if transport is None:
            return
        if (request.complete and request.error_status <= 0) or not transport.can_write_eof():
            transport.close()
            return
        # The client may still be sending what we refused (a body over the limit, garbage):
        # closing with unread data makes the kernel send RST, which can destroy the response
        # before the client reads it. Half-close instead, drop what still arrives, and close
        # when the client does (eof_received) or after LINGER_TIMEOUT.
        transport.write_eof()
        self._discarding = True
        if self._reading_paused:
            self._reading_paused = False
            transport.resume_reading()
        if self._keepalive_timer is not None:
            self._keepalive_timer.cancel()
        self._keepalive_timer = self.loop.call_later(LINGER_TIMEOUT, transport.close)

    def _arm_keepalive(self) -> None:
        if self._keepalive_timer is None:
            self._keepalive_timer = self.loop.call_later(
                self.server.keepalive_timeout, self._keepalive_expired
            )

    def _keepalive_expired(self) -> None:
        self._keepalive_timer = None
        idle_since = self._idle_since
        if idle_since is None:
            return  # a request is being answered; _finish arms the timer again
        remaining = idle_since + self.server.keepalive_timeout - self.loop.time()
        if remaining > 0:
            # Armed during an earlier idle period: wait for the rest of this one.
            self._keepalive_timer = self.loop.call_later(remaining, self._keepalive_expired)
            return
        if self._current is None and not self._pending and self.transport is not None:
            self.transport.close()

    def _accept_websocket(self, request: _NativeRequest, accept: WebSocketAccept) -> None:
        transport = self.transport
        if self.lost or transport is None:
            return
        extensions = [ServerPerMessageDeflateFactory()] if accept.compression else None
        protocol = NativeServerProtocol(
            state=State.OPEN, extensions=extensions, max_size=accept.max_message_size
        )
        ws_request = WsRequest(request.raw_path, Headers(request.headers))
        response = protocol.accept(ws_request)
        if response.status_code != 101:
            self.must_close = True
            self.write(response.serialize())
            transport.close()
            return
        for name, value in accept.headers:
            response.headers[name] = value
        if self._keepalive_timer is not None:
            self._keepalive_timer.cancel()
            self._keepalive_timer = None
        server = self.server
        websocket = NativeWebSocket(
            transport, protocol, server.forget_websocket, server.write_batch
        )
        server.connections.discard(self)
        server.websockets.add(websocket)
        self._current = None
        # The application may keep the request for the session's life: it must not keep
        # this connection (its parser, buffers and this task) alive with it.
        request.detach(websocket)
        self._task = None
        transport.set_protocol(websocket)
        transport.write(response.serialize())
        pending = bytes(self._upgrade_buffer)
        self._upgrade_buffer = bytearray()
        if self._reading_paused and not self._write_paused:
            transport.resume_reading()
        try:
            handler = accept.attach(websocket)
        except Exception:
            logger.exception("WebSocket attach failed on %s", request.raw_path)
            websocket.close(1011)
            return
        websocket.start(handler, pending)

    def shutdown(self) -> None:
        """Server shutdown: close now when idle, else after the response in progress."""
        self.closing = True
        if self._current is None and not self._pending and self.transport is not None:
            self.transport.close()

    def abort(self) -> None:
        """Drop the TCP connection at once."""
        if self.transport is not None:
            self.transport.abort()
