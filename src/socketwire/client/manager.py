"""The Manager: one Engine.IO connection, its namespaces, and reconnection.

This follows socket.io-client's ``Manager`` (``manager.js``) step by step: the same ready
states, the same reconnection state machine (``reconnect`` / ``onclose`` /
``maybeReconnectOnOpen``), the same events and their order. The back-off is
[`Backoff`][socketwire.client.backoff.Backoff] (pure); the namespace sockets keep their protocol
state in [`SocketCore`][socketwire.client.state.SocketCore].

Events (``manager.on(event)``; [`AsyncClient`][socketwire.client.client.AsyncClient] forwards them):
``open()``, ``close(reason, description)``, ``error(error)``, ``ping()``,
``reconnect_attempt(attempt)``, ``reconnect(attempt)``, ``reconnect_error(error)``,
``reconnect_failed()``.
"""

from __future__ import annotations

import asyncio
import contextlib
import math
import ssl as ssl_module
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from enum import Enum
from typing import Any

from socketwire.client.backoff import Backoff
from socketwire.client.dispatch import HasListeners, Listeners, logger
from socketwire.client.errors import ConnectError
from socketwire.client.socket import ClientSocket
from socketwire.engineio.client_session import (
    DEFAULT_MAX_BUFFERED_BYTES,
    DEFAULT_MAX_MESSAGE_SIZE,
    ClientState,
    Closed,
    Event,
    MessageReceived,
    Opened,
    PingReceived,
)
from socketwire.io.client_transports import EngineClient, EngineConnectionError
from socketwire.io.client_websocket import WebSocketFactory
from socketwire.socketio import Decoder, JsonParser, MsgpackParser, Packet, Parser, ProtocolError

__all__ = ["Manager", "ManagerOptions", "ReadyState", "make_parser"]


class ReadyState(Enum):
    """socket.io-client's ``Manager._readyState``."""

    CLOSED = "closed"
    OPENING = "opening"
    OPEN = "open"


def make_parser(parser: str | Parser | None) -> Parser:
    """The parser for ``None``/``"json"`` (default), ``"msgpack"``, or a parser object."""
    if parser is None or parser == "json":
        return JsonParser()
    if parser == "msgpack":
        return MsgpackParser()
    if isinstance(parser, str):
        raise ValueError(f"unknown parser {parser!r}: use 'json' or 'msgpack'")
    return parser


@dataclass(frozen=True, slots=True)
class ManagerOptions:
    """Options of a Manager (socket.io-client's ``ManagerOptions``, seconds for times).

    Attributes:
        path: the Socket.IO endpoint path.
        transports: transports to use, the first one to connect with.
        upgrade: probe the WebSocket after a polling handshake.
        query: extra query parameters of every request.
        headers: extra headers of every request and of the WebSocket handshake.
        ssl: TLS context for https/wss.
        timeout: seconds for the Engine.IO connection (``timeout``).
        reconnection: reconnect after an unexpected disconnection.
        reconnection_attempts: attempts before ``reconnect_failed`` (``math.inf``: no end).
        reconnection_delay: the first delay, in seconds.
        reconnection_delay_max: the largest delay, in seconds.
        randomization_factor: the jitter of the delays, in ``[0, 1]``.
        parser: ``"json"`` (default) or ``"msgpack"``, or a parser object.
        max_message_size: the largest message accepted from the server, in bytes (a larger
            one drops the connection with ``"transport error"``).
        max_buffered_bytes: the bound on outgoing bytes waiting for the transport (a server
            that stops reading); crossing it drops the connection (``"transport error"``).
        websocket_factory: builds each WebSocket connection (None: over the network;
            ``socketwire.testing`` passes one that reaches a server in memory).
    """

    path: str = "/socket.io"
    transports: tuple[str, ...] = ("polling", "websocket")
    upgrade: bool = True
    query: Mapping[str, str] = field(default_factory=dict)
    headers: Mapping[str, str] = field(default_factory=dict)
    ssl: ssl_module.SSLContext | None = None
    timeout: float = 20.0
    reconnection: bool = True
    reconnection_attempts: float = math.inf
    reconnection_delay: float = 1.0
    reconnection_delay_max: float = 5.0
    randomization_factor: float = 0.5
    parser: str | Parser | None = None
    max_message_size: int = DEFAULT_MAX_MESSAGE_SIZE
    max_buffered_bytes: int = DEFAULT_MAX_BUFFERED_BYTES
    websocket_factory: WebSocketFactory | None = None


class Manager(HasListeners):
    """One Engine.IO connection shared by the namespace sockets of one server.

    Args:
        url: the server's ``http(s)://`` or ``ws(s)://`` origin (its path is not used).
        options: see [`ManagerOptions`][ManagerOptions].

    Must be used on one event loop; its methods are not thread-safe.
    """

    def __init__(self, url: str, options: ManagerOptions | None = None) -> None:
        self.url = url
        self.options = options = options or ManagerOptions()
        self.parser = make_parser(options.parser)
        self.backoff = Backoff(
            min=options.reconnection_delay,
            max=options.reconnection_delay_max,
            jitter=options.randomization_factor,
        )
        #: The namespace sockets of this connection, by namespace.
        self.nsps: dict[str, ClientSocket] = {}
        self.ready_state = ReadyState.CLOSED
        #: Increases with every connection attempt: events of older engines are ignored.
        self.generation = 0
        self.engine: EngineClient | None = None
        self._listeners = Listeners("manager")
        self._decoder: Decoder = self.parser.decoder()
        self._open_callback: Callable[[ConnectError | None], None] | None = None
        self._reconnect_timer: asyncio.TimerHandle | None = None
        self._reconnecting = False
        self._skip_reconnect = False
        self._tasks: set[asyncio.Task[Any]] = set()
        self._state = asyncio.Event()
        self.loop: asyncio.AbstractEventLoop | None = None

    def __repr__(self) -> str:
        return f"<Manager {self.url} {self.ready_state.value} nsps={list(self.nsps)}>"

    # -- public (``on``/``off`` for Manager events: HasListeners) ----------------------
    def socket(self, nsp: str, **options: Any) -> ClientSocket:
        """The socket of namespace ``nsp`` (created with ``options`` if new), not connected."""
        sock = self.nsps.get(nsp)
        if sock is None:
            sock = ClientSocket(self, nsp, **options)
            self.nsps[nsp] = sock
        return sock

    @property
    def reconnecting(self) -> bool:
        """A reconnection is scheduled or under way."""
        return self._reconnecting

    @property
    def will_retry(self) -> bool:
        """Another connection attempt is coming without the application's help."""
        return self._reconnecting and not self._skip_reconnect

    @property
    def writable(self) -> bool:
        """A packet sent now leaves at once (JS ``engine.transport.writable``): a volatile
        emit is dropped otherwise (during a POST or a WebSocket write, say)."""
        engine = self.engine
        return self.ready_state is ReadyState.OPEN and engine is not None and engine.writable

    def ping_expired(self) -> bool:
        """The heartbeat deadline passed unnoticed (JS ``engine._hasPingExpired()``): the
        connection closes with ``"ping timeout"`` next, so a packet must be buffered, not
        sent. True also when there is no engine."""
        engine = self.engine
        return engine is None or engine.ping_expired()

    def open(self, callback: Callable[[ConnectError | None], None] | None = None) -> None:
        """Open the connection unless it is opening or open (JS ``open``).

        ``callback(error)`` is called once: with None when the connection opened, with the
        error when it failed. Without a callback a failure may start a reconnection.
        """
        if self.ready_state is not ReadyState.CLOSED:
            return
        self.loop = asyncio.get_running_loop()
        self.generation += 1
        generation = self.generation
        engine = EngineClient(
            on_event=lambda event: self._on_engine_event(generation, event),
            websocket_factory=self.options.websocket_factory,
        )
        self.engine = engine
        self.ready_state = ReadyState.OPENING
        self._skip_reconnect = False
        self._decoder = self.parser.decoder()
        self._open_callback = callback
        self._spawn(self._connect_engine(engine, generation))
        self._changed()

    async def aclose(self) -> None:
        """Wait until the Engine.IO connections closed so far are released."""
        while self._tasks:
            await asyncio.gather(*list(self._tasks), return_exceptions=True)

    def close(self) -> None:
        """Close the connection and stop reconnecting (JS ``_close``), whatever its sockets
        do; they see ``"forced close"``."""
        self._close()

    def handlers(self, event: str) -> list[Callable[..., Any]]:
        """A copy of the handlers of the Manager event ``event``."""
        return self._listeners.handlers(event)

    # -- called by the sockets (not by applications) -----------------------------------
    def handle_connecting(self, sock: ClientSocket) -> None:
        """``sock`` wants to connect: open the connection unless a reconnection will, and
        connect it now if the connection is open (JS ``Socket.connect``)."""
        if not self._reconnecting:
            self.open()
        if self.ready_state is ReadyState.OPEN:
            sock.handle_open()

    def handle_destroyed(self, sock: ClientSocket) -> None:
        """``sock`` became inactive: close the connection with the last active socket."""
        if any(s.active for s in self.nsps.values()):
            return
        self._close()

    def send_packet(self, packet: Packet) -> None:
        """Encode ``packet`` and send it (dropped unless the connection is open)."""
        engine = self.engine
        if engine is None or self.ready_state is not ReadyState.OPEN:
            return
        for message in self.parser.encode(packet):
            engine.send(message)

    def spawn(self, coro: Any) -> None:
        """Run ``coro`` as a task that [`aclose()`][aclose] waits for."""
        self._spawn(coro)

    def notify_changed(self) -> None:
        """Wake [`wait_changed()`][wait_changed] (a socket's state changed)."""
        self._changed()

    def _changed(self) -> None:
        self._state.set()

    async def wait_changed(self) -> None:
        """Wait for the next change of state of the Manager or one of its sockets."""
        self._state.clear()
        await self._state.wait()

    # -- the connection ----------------------------------------------------------------
    async def _connect_engine(self, engine: EngineClient, generation: int) -> None:
        options = self.options
        if generation != self.generation:
            return  # given up before it started
        try:
            await engine.connect(
                self.url,
                path=options.path,
                transports=options.transports,
                upgrade=options.upgrade,
                query=options.query,
                headers=options.headers,
                ssl=options.ssl,
                timeout=options.timeout,
                max_message_size=options.max_message_size,
                max_buffered_bytes=options.max_buffered_bytes,
            )
        except EngineConnectionError as exc:
            if generation == self.generation:
                self._on_open_error(_describe(exc))
            return
        except OSError as exc:
            if generation == self.generation:
                self._on_open_error(str(exc) or type(exc).__name__)
            return
        if generation != self.generation:
            await _quietly(engine.close())  # given up on while its handshake was coming

    def _on_engine_event(self, generation: int, event: Event) -> None:
        if generation != self.generation:
            return  # an engine we closed or gave up on
        if isinstance(event, Opened):
            if self.ready_state is ReadyState.OPENING:
                self._on_open()
        elif isinstance(event, MessageReceived):
            if self.ready_state is ReadyState.OPEN:
                self._on_data(event.data)
        elif isinstance(event, PingReceived):
            self._listeners.emit("ping")
        elif isinstance(event, Closed) and self.ready_state is ReadyState.OPEN:
            self._on_close(str(event.reason), event.description)
        # A Closed event while opening: connect() raises, _connect_engine reports it.

    def _on_open(self) -> None:
        self._cleanup()
        self.ready_state = ReadyState.OPEN
        self._listeners.emit("open")
        for sock in list(self.nsps.values()):
            if sock.active:
                sock.handle_open()
        callback, self._open_callback = self._open_callback, None
        if callback is not None:
            callback(None)
        self._changed()

    def _on_open_error(self, message: str) -> None:
        self._cleanup()
        self.ready_state = ReadyState.CLOSED
        self._release_engine()
        error = ConnectError(message)
        self._listeners.emit("error", error)
        for sock in list(self.nsps.values()):
            if sock.active:
                sock.handle_error(message)
        callback, self._open_callback = self._open_callback, None
        if callback is not None:
            callback(error)
        else:
            self._maybe_reconnect_on_open()
        self._changed()

    def _on_data(self, data: str | bytes) -> None:
        try:
            packet = self._decoder.feed(data)
        except ProtocolError as exc:
            self._on_close("parse error", str(exc))
            return
        if packet is None:
            return
        sock = self.nsps.get(packet.nsp)
        if sock is not None and sock.active:
            sock.handle_packet(packet)

    def _on_close(self, reason: str, description: str = "") -> None:
        self._cleanup()
        self._release_engine()
        self.backoff.reset()
        self.ready_state = ReadyState.CLOSED
        self._listeners.emit("close", reason, description)
        for sock in list(self.nsps.values()):
            if sock.active:
                sock.handle_close(reason, description)
        if self.options.reconnection and not self._skip_reconnect:
            self._reconnect()
        self._changed()

    def _close(self) -> None:
        # JS _close(): every socket left, or the application closed the Manager.
        self._skip_reconnect = True
        self._reconnecting = False
        self._on_close("forced close")

    def _release_engine(self) -> None:
        engine, self.engine = self.engine, None
        # Events of the released engine are stale from now on.
        self.generation += 1
        if engine is None:
            return
        if engine.state is ClientState.CLOSED:
            if engine.sid is not None:
                self._spawn(_quietly(engine.wait_closed()))
        else:
            # Closes after the packets already queued (a DISCONNECT, for one).
            self._spawn(_quietly(engine.close()))

    def _cleanup(self) -> None:
        if self._reconnect_timer is not None:
            self._reconnect_timer.cancel()
            self._reconnect_timer = None
        self._decoder.reset()

    # -- reconnection (JS reconnect / onreconnect / maybeReconnectOnOpen) ---------------
    def _maybe_reconnect_on_open(self) -> None:
        if not self._reconnecting and self.options.reconnection and self.backoff.attempts == 0:
            self._reconnect()

    def _reconnect(self) -> None:
        if self._reconnecting or self._skip_reconnect:
            return
        if self.backoff.attempts >= self.options.reconnection_attempts:
            self.backoff.reset()
            self._reconnecting = False
            self._listeners.emit("reconnect_failed")
            return
        delay = self.backoff.duration()
        self._reconnecting = True
        self._reconnect_timer = asyncio.get_running_loop().call_later(
            delay, self._on_reconnect_timer
        )

    def _on_reconnect_timer(self) -> None:
        self._reconnect_timer = None
        if self._skip_reconnect:
            return
        self._listeners.emit("reconnect_attempt", self.backoff.attempts)
        self.open(self._on_reconnect_result)

    def _on_reconnect_result(self, error: ConnectError | None) -> None:
        if error is not None:
            self._reconnecting = False
            self._reconnect()
            self._listeners.emit("reconnect_error", error)
        else:
            attempt = self.backoff.attempts
            self._reconnecting = False
            self.backoff.reset()
            self._listeners.emit("reconnect", attempt)

    def _spawn(self, coro: Any) -> None:
        task: asyncio.Task[Any] = asyncio.get_running_loop().create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)


def _describe(exc: EngineConnectionError) -> str:
    closed = exc.closed
    if closed.description == "handshake timeout":
        return "timeout"  # socket.io-client's message for a connection that timed out
    return f"{closed.reason}: {closed.description}" if closed.description else str(closed.reason)


async def _quietly(awaitable: Any) -> None:
    with contextlib.suppress(Exception):
        await awaitable
    logger.debug("engine released")
