"""The Manager: one Engine.IO connection, its namespaces, and reconnection.

This follows socket.io-client's ``Manager`` (``manager.js``) step by step: the same ready
states, the same reconnection state machine (``reconnect`` / ``onclose`` /
``maybeReconnectOnOpen``), the same events and their order. The back-off is
[`Backoff`][socketwire.client.backoff.Backoff] (pure); the namespace sockets keep their protocol
state in [`SocketCore`][socketwire.client.state.SocketCore].

Events (``manager.on(event)``; [`AsyncClient`][socketwire.client.client.AsyncClient] forwards them):
``open()``, ``close(reason, details)``, ``error(error)`` (a
[`TransportError`][socketwire.client.errors.TransportError], or ``ConnectError("timeout")``),
``ping()``, ``reconnect_attempt(attempt)``, ``reconnect(attempt)``,
``reconnect_error(error)``, ``reconnect_failed()``. ``manager.engine`` is the current
Engine.IO connection, with its own events (``upgrade``, ``packet``, ``drain``...: see
[`EngineClient`][socketwire.io.client_transports.EngineClient]); a new one comes with every
connection attempt, so register on it in an ``open`` handler, as in JS.

The reconnection settings can change at run time
([`socketwire.client.settings`][socketwire.client.settings]).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from enum import Enum
from typing import Any

from aiohttp.abc import AbstractCookieJar

from socketwire.client.dispatch import HasListeners, Listeners, logger
from socketwire.client.errors import ConnectError, TransportError
from socketwire.client.options import ManagerOptions, make_parser
from socketwire.client.settings import ReconnectionSettings
from socketwire.client.socket import ClientSocket
from socketwire.client.state import DisconnectDescription
from socketwire.engineio import CloseReason
from socketwire.engineio.client_session import (
    ClientState,
    Closed,
    Event,
    MessageReceived,
    Opened,
    PingReceived,
    TransportName,
    Upgraded,
)
from socketwire.io.client_network import new_cookie_jar
from socketwire.io.client_transports import EngineClient, EngineConnectionError
from socketwire.socketio import Decoder, Packet, ProtocolError
from socketwire.socketio.tracing import TracingDecoder, TracingEncoder

__all__ = ["Manager", "ManagerOptions", "ReadyState", "make_parser"]


class ReadyState(Enum):
    """socket.io-client's ``Manager._readyState``."""

    CLOSED = "closed"
    OPENING = "opening"
    OPEN = "open"


class Manager(ReconnectionSettings, HasListeners):
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
        self._skip_reconnect = False
        self._init_settings(options)
        self._cookie_jar: AbstractCookieJar | None = None
        # JS Socket.priorWebsocketSuccess (per Manager here), for remember_upgrade.
        self._websocket_worked = False
        #: The namespace sockets of this connection, by namespace.
        self.nsps: dict[str, ClientSocket] = {}
        self.ready_state = ReadyState.CLOSED
        #: Increases with every connection attempt: events of older engines are ignored.
        self.generation = 0
        #: The Engine.IO connection of the current attempt (None while closed).
        self.engine: EngineClient | None = None
        self._listeners = Listeners("manager")
        self._decoder: Decoder = self.parser.decoder()
        self._encode: Callable[[Packet], list[str | bytes]] = self.parser.encode
        self._open_callback: Callable[[ConnectError | None], None] | None = None
        self._reconnect_timer: asyncio.TimerHandle | None = None
        self._reconnecting = False
        self._tasks: set[asyncio.Task[Any]] = set()
        self._state = asyncio.Event()
        self.loop: asyncio.AbstractEventLoop | None = None

    def __repr__(self) -> str:
        return f"<Manager {self.url} {self.ready_state.value} nsps={list(self.nsps)}>"

    # -- public (``on``/``off`` for Manager events: HasListeners) ----------------------
    def socket(self, nsp: str, **options: Any) -> ClientSocket:
        """The socket of namespace ``nsp`` (created with ``options`` if new).

        With ``auto_connect`` (the default, as JS ``autoConnect``) it connects at once,
        when it is not active (must then be called on the event loop); otherwise call its
        ``connect()``.
        """
        sock = self.nsps.get(nsp)
        if sock is None:
            sock = ClientSocket(self, nsp, **options)
            self.nsps[nsp] = sock
        if self.options.auto_connect and not sock.active:
            sock.connect()
        return sock

    @property
    def cookie_jar(self) -> AbstractCookieJar:
        """The cookies of this Manager's connections (aiohttp's jar), kept across
        reconnections; a ``DummyCookieJar`` with ``with_credentials=False``. Created on
        first use, on the event loop."""
        if self._cookie_jar is None:
            self._cookie_jar = new_cookie_jar(self.options.with_credentials)
        return self._cookie_jar

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
        if logger.isEnabledFor(logging.DEBUG):
            # read once per connection: with DEBUG off the per-packet path has no check
            name = f"client {self.url}"
            self._decoder = TracingDecoder(self.parser.decoder(), logger, name)
            self._encode = TracingEncoder(self.parser.encode, logger, name)
        else:
            self._decoder = self.parser.decoder()
            self._encode = self.parser.encode
        self._open_callback = callback
        self._spawn(self._connect_engine(engine, generation))
        self._changed()

    async def aclose(self) -> None:
        """Wait until the Engine.IO connections closed so far are released."""
        while self._tasks:
            tasks = list(self._tasks)
            await asyncio.gather(*tasks, return_exceptions=True)
            # Their done callbacks (which discard them) may not have run yet: on Python 3.12+
            # gathering tasks already done returns without yielding, so waiting for the
            # callbacks would spin for ever.
            self._tasks.difference_update(tasks)

    def close(self) -> None:
        """Close the connection and stop reconnecting (JS ``_close``), whatever its sockets
        do; they see ``"forced close"``."""
        self._close()

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
        for message in self._encode(packet):
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
        transports = options.transports
        if options.remember_upgrade and self._websocket_worked and "websocket" in transports:
            # JS rememberUpgrade: straight to the WebSocket that worked last time.
            transports = ("websocket", *(t for t in transports if t != "websocket"))
        try:
            await engine.connect(
                self.url,
                path=options.path,
                transports=transports,
                upgrade=options.upgrade,
                query=options.query,
                headers=options.headers,
                ssl=options.ssl,
                timeout=self.engine_timeout,
                max_message_size=options.max_message_size,
                max_buffered_bytes=options.max_buffered_bytes,
                cookie_jar=self.cookie_jar,
                proxy=options.proxy,
                protocols=options.protocols,
                timestamp_requests=options.timestamp_requests,
                transport_options=options.transport_options,
                try_all_transports=options.try_all_transports,
            )
        except EngineConnectionError as exc:
            if generation == self.generation:
                self._on_open_error(_connect_error(exc.closed))
            return
        except (OSError, ValueError) as exc:
            # ValueError: an option the transports refuse (a bad proxy URL, say).
            if generation == self.generation:
                self._on_open_error(TransportError("transport error", str(exc) or repr(exc)))
            return
        if generation != self.generation:
            await _quietly(engine.close())  # given up on while its handshake was coming

    def _on_engine_event(self, generation: int, event: Event) -> None:
        if generation != self.generation:
            return  # an engine we closed or gave up on
        if isinstance(event, Opened):
            engine = self.engine
            if engine is not None and engine.transport is TransportName.WEBSOCKET:
                self._websocket_worked = True
            if self.ready_state is ReadyState.OPENING:
                transport = engine.transport if engine is not None else None
                logger.info(
                    "connected to %s (engine %s over %s)",
                    self.url,
                    engine.sid if engine is not None else "?",
                    transport.value if transport is not None else "?",
                )
                self._on_open()
        elif isinstance(event, MessageReceived):
            if self.ready_state is ReadyState.OPEN:
                self._on_data(event.data)
        elif isinstance(event, PingReceived):
            self._listeners.emit("ping")
        elif isinstance(event, Upgraded):
            logger.info("connection to %s upgraded to websocket", self.url)
            self._websocket_worked = True
        elif isinstance(event, Closed):
            if event.error is not None:
                self._websocket_worked = False  # as JS on any transport error
            if self.ready_state is ReadyState.OPEN:
                logger.info("connection to %s closed: %s", self.url, event.reason)
                self._on_close(str(event.reason), _details(event))
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

    def _on_open_error(self, error: ConnectError) -> None:
        self._cleanup()
        self.ready_state = ReadyState.CLOSED
        self._release_engine()
        self._listeners.emit("error", error)
        for sock in list(self.nsps.values()):
            if sock.active:
                sock.handle_error(error.message, error)
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
            self._on_close("parse error", exc)
            return
        if packet is None:
            return
        sock = self.nsps.get(packet.nsp)
        if sock is not None and sock.active:
            sock.handle_packet(packet)

    def _on_close(self, reason: str, details: Any = None) -> None:
        self._cleanup()
        self._release_engine()
        self.backoff.reset()
        self.ready_state = ReadyState.CLOSED
        self._listeners.emit("close", reason, details)
        for sock in list(self.nsps.values()):
            if sock.active:
                sock.handle_close(reason, details)
        if self._reconnection and not self._skip_reconnect:
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
        if not self._reconnecting and self._reconnection and self.backoff.attempts == 0:
            self._reconnect()

    def _reconnect(self) -> None:
        if self._reconnecting or self._skip_reconnect:
            return
        if self.backoff.attempts >= self._reconnection_attempts:
            logger.warning(
                "gave up reconnecting to %s after %d attempts", self.url, self.backoff.attempts
            )
            self.backoff.reset()
            self._reconnecting = False
            self._listeners.emit("reconnect_failed")
            return
        delay = self.backoff.duration()
        logger.info(
            "reconnecting to %s in %.2f s (attempt %d)", self.url, delay, self.backoff.attempts
        )
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
            logger.info("reconnected to %s after %d attempt(s)", self.url, attempt)
            self._reconnecting = False
            self.backoff.reset()
            self._listeners.emit("reconnect", attempt)

    def _spawn(self, coro: Any) -> None:
        task: asyncio.Task[Any] = asyncio.get_running_loop().create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)


def _connect_error(closed: Closed) -> ConnectError:
    """The ``connect_error`` of an attempt that ended with ``closed`` (JS's errors)."""
    failure = closed.error
    if failure is not None and failure.message == "timeout":
        return ConnectError("timeout")  # socket.io-client's Error("timeout")
    if failure is not None:
        return TransportError(failure.message, failure.description)
    return TransportError(str(closed.reason), closed.description)


def _details(closed: Closed) -> Any:
    """JS's ``disconnect``/``close`` details for a connection that ended with ``closed``:
    the error of a transport error, the description of a transport close, else None."""
    if closed.error is not None:
        return TransportError(closed.error.message, closed.error.description)
    if closed.reason is CloseReason.TRANSPORT_CLOSE and closed.description:
        return DisconnectDescription(closed.description)
    return None


async def _quietly(awaitable: Any) -> None:
    with contextlib.suppress(Exception):
        await awaitable
    logger.debug("engine released")
