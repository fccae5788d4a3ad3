"""A client's connection to one namespace (socket.io-client's ``Socket``), on asyncio.

The protocol state is [`SocketCore`][socketwire.client.state.SocketCore]'s; this class registers
handlers, turns emits into core calls, runs the core's ack timers with ``loop.call_later``
and hands its packets to the [`Manager`][socketwire.client.manager.Manager].

Handlers
    ``socket.on("event", handler)`` (or ``@socket.on("event")``), ``socket.once(...)`` for
    the next one only. A coroutine function is awaited; a plain function runs in a worker
    thread. Handlers of one socket run one after the other, in the order of the events
    (``connect`` first). A handler gets as many of the event's arguments as it declares, as
    in JavaScript ([`socketwire.client.arity`][socketwire.client.arity]). When the server asked
    for an
    acknowledgement, the first handler's return value is the ack: ``None`` sends no
    argument, a ``tuple`` sends its items as separate arguments (``(None,)`` one null),
    anything else is sent as one argument; or a handler declares a parameter annotated
    [`Ack`][socketwire.Ack] and answers through it, when and where it likes (as the server
    API).

Reserved events
    ``connect()``; ``connect_error(error)``: a
    [`ConnectError`][socketwire.client.errors.ConnectError]
    whose ``message`` and ``data`` are the server's (a middleware's refusal), or a
    [`TransportError`][socketwire.client.errors.TransportError] (the connection failed), or
    ``ConnectError("timeout")``; ``disconnect(reason, details)`` with socket.io-client's
    reasons (``"io server disconnect"``, ``"io client disconnect"``, ``"transport close"``,
    ``"transport error"``, ``"ping timeout"``, ``"parse error"``, ``"forced close"``) and
    JS's details (see [`Disconnected`][socketwire.client.state.Disconnected]). A ``connect_error``
    that no ``connect()`` call raises (a retry follows, or nobody waits) is also logged at
    WARNING on the ``socketwire.client`` logger.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import functools
import threading
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, NamedTuple, TypeVar

from socketwire.client.ack_timers import AckTimers
from socketwire.client.arity import fit_arguments
from socketwire.client.dispatch import HasListeners, Listeners, fit, logger
from socketwire.client.errors import ConnectError
from socketwire.client.state import (
    Connected,
    ConnectFailed,
    Destroyed,
    Disconnected,
    EventReceived,
    EventSent,
    SocketCore,
)
from socketwire.errors import PayloadError
from socketwire.handlers import ack_value, call_handler, fire, run_event_handlers
from socketwire.socketio import PacketType

if TYPE_CHECKING:
    from socketwire.client.manager import Manager

__all__ = ["Auth", "ClientSocket", "SocketEmitter"]

T = TypeVar("T")

#: A dict sent with CONNECT, or a callable returning one (or an awaitable of one), called on
#: every connection attempt.
Auth = dict[str, Any] | Callable[[], Any] | None


@dataclass(frozen=True, slots=True)
class _Flags:
    volatile: bool = False
    timeout: float | None = None


_Settle = Callable[[BaseException | None, list[Any]], None]


class _SocketImpl(NamedTuple):
    """What a socket's emitters (the socket itself, ``socket.volatile``...) call on it."""

    call_on_loop: Callable[[Callable[[], Any]], Any]
    emit: Callable[[list[Any], _Flags, _Settle | None], None]


class _Emitting:
    """The emit methods of [`ClientSocket`][ClientSocket] and [`SocketEmitter`][SocketEmitter]."""

    _impl: _SocketImpl
    _flags: _Flags

    def emit(self, event: str, *args: Any) -> None:
        """Send ``event`` with ``args`` (JSON-able values, ``bytes`` anywhere).

        While the namespace is disconnected the packet waits in the send buffer and leaves
        on the next connection, in order. With ``retries`` it goes through the retry queue
        (acknowledged, resent until acknowledged). Safe to call from a worker thread.

        Raises:
            BufferFullError: the send buffer (or retry queue) is full.
            ValueError: ``event`` is a reserved name.
        """
        impl = self._impl
        impl.call_on_loop(lambda: impl.emit([event, *args], self._flags, None))

    def send(self, *args: Any) -> None:
        """Emit a ``"message"`` event (socket.io-client's ``send``)."""
        self.emit("message", *args)

    async def emit_with_ack(self, event: str, *args: Any) -> Any:
        """Send ``event`` and return the server's acknowledgement.

        Returns:
            None when the server acked with no argument, the argument, or a tuple of them.

        Raises:
            AckTimeoutError: ``timeout(seconds)`` (or ``ack_timeout``) elapsed first.
            DisconnectedError: the connection ended while the ack was awaited (never with
                ``retries``: the packet is resent on the next connection instead).
            BufferFullError: the send buffer (or retry queue) is full.
        """
        future: asyncio.Future[Any] = asyncio.get_running_loop().create_future()

        def settle(error: BaseException | None, args: list[Any]) -> None:
            if future.done():
                return
            if error is not None:
                future.set_exception(error)
            else:
                future.set_result(ack_value(args))

        self._impl.emit([event, *args], self._flags, settle)
        return await future

    @property
    def volatile(self) -> SocketEmitter:
        """Drop the next packet if the transport cannot take it now (never buffered)."""
        return SocketEmitter(self._impl, _Flags(True, self._flags.timeout))

    def timeout(self, seconds: float) -> SocketEmitter:
        """Wait at most ``seconds`` for the ack (then [`AckTimeoutError`][AckTimeoutError])."""
        return SocketEmitter(self._impl, _Flags(self._flags.volatile, seconds))


class SocketEmitter(_Emitting):
    """A socket with emit flags set (``socket.volatile``, ``socket.timeout(5)``).

    Obtained from a socket, never built by an application.
    """

    def __init__(self, impl: _SocketImpl, flags: _Flags) -> None:
        self._impl = impl
        self._flags = flags


class ClientSocket(HasListeners, _Emitting):
    """One namespace of a client, multiplexed with the others over its Manager's connection.

    Get it from [`AsyncClient.socket()`][socketwire.AsyncClient.socket] (or ``Manager.socket``).
    """

    def __init__(
        self,
        manager: Manager | None,
        nsp: str,
        *,
        auth: Auth = None,
        retries: int = 0,
        ack_timeout: float | None = None,
        max_buffered_packets: int = 1000,
    ) -> None:
        self._impl = _SocketImpl(self._call_on_loop, self._emit)
        self._flags = _Flags()
        #: The Manager carrying this namespace (None until the client connects).
        self.manager = manager
        self.nsp = nsp
        #: Sent with every CONNECT; a callable is called on each attempt.
        self.auth: Auth = auth
        self._core = SocketCore(
            nsp,
            retries=retries,
            ack_timeout=ack_timeout,
            max_buffered_packets=max_buffered_packets,
        )
        self._listeners = Listeners(f"client socket {nsp}", typed=True)
        self._any: list[Callable[..., Any]] = []
        self._any_outgoing: list[Callable[..., Any]] = []
        self._ack_timers = AckTimers(self._core, self._flush)
        self._changed = asyncio.Event()
        #: The last ``connect_error`` (None once connected).
        self.connect_error: ConnectError | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: int | None = None
        # wait_connected() calls under way, by their ``retry``: they raise errors they see.
        self._waiters = {True: 0, False: 0}
        # Why the connection last ended, and how many times the namespace connected (for a
        # connect() that waited through either).
        self._lost: ConnectError | None = None
        self._connections = 0
        # The Manager's generation (its connection) this socket's CONNECT was sent on.
        self._connect_sent_on = -1

    def __repr__(self) -> str:
        return f"<ClientSocket {self.nsp} id={self.id} connected={self.connected}>"

    # -- state -------------------------------------------------------------------------
    @property
    def connected(self) -> bool:
        """The namespace is connected."""
        return self._core.connected

    @property
    def disconnected(self) -> bool:
        """The namespace is not connected."""
        return not self._core.connected

    @property
    def active(self) -> bool:
        """The socket takes part in (re)connections: not disconnected by either side."""
        return self._core.active

    @property
    def id(self) -> str | None:
        """The socket id given by the server while connected."""
        return self._core.id

    @property
    def recovered(self) -> bool:
        """The last connection recovered the previous session (connection state recovery)."""
        return self._core.recovered

    @property
    def send_buffer_size(self) -> int:
        """Packets waiting for a connection (send buffer and retry queue)."""
        return len(self._core.send_buffer) + len(self._core.queue)

    # -- listeners (``on``/``off``: HasListeners) ---------------------------------------
    def on_any(self, listener: Callable[..., Any]) -> None:
        """Call ``listener(event, *args)`` for every incoming event, before its handlers."""
        self._any.append(listener)

    def prepend_any(self, listener: Callable[..., Any]) -> None:
        """Like [`on_any()`][on_any], before the listeners already added."""
        self._any.insert(0, listener)

    def off_any(self, listener: Callable[..., Any] | None = None) -> None:
        """Remove ``listener`` (every catch-all listener when None)."""
        _remove(self._any, listener)

    def listeners_any(self) -> list[Callable[..., Any]]:
        """The catch-all listeners, in order."""
        return list(self._any)

    def on_any_outgoing(self, listener: Callable[..., Any]) -> None:
        """Call ``listener(event, *args)`` for every event packet as it is sent.

        Called on the event loop when the packet leaves (a buffered emit: on connection); a
        plain listener must not block, an async one runs as a task.
        """
        self._any_outgoing.append(listener)

    def prepend_any_outgoing(self, listener: Callable[..., Any]) -> None:
        """Like [`on_any_outgoing()`][on_any_outgoing], before the listeners already added."""
        self._any_outgoing.insert(0, listener)

    def off_any_outgoing(self, listener: Callable[..., Any] | None = None) -> None:
        """Remove ``listener`` (every outgoing catch-all listener when None)."""
        _remove(self._any_outgoing, listener)

    def listeners_any_outgoing(self) -> list[Callable[..., Any]]:
        """The outgoing catch-all listeners, in order."""
        return list(self._any_outgoing)

    # -- connection --------------------------------------------------------------------
    def connect(self) -> None:
        """Take part in the Manager's connection (opening it if needed) and connect.

        Returns at once; wait for ``connect`` / ``connect_error``
        ([`wait_connected()`][wait_connected]). Must be called on the event loop.
        """
        if self.manager is None:
            raise RuntimeError("this socket has no Manager yet: connect the client first")
        self._bind_loop()
        if self._core.connected:
            return
        if self._core.active and self._connect_sent_on == self.manager.generation:
            return  # its CONNECT already went on this connection (auto_connect, say)
        self._core.activate()
        self._changed.set()
        self.manager.handle_connecting(self)

    def disconnect(self) -> None:
        """Leave the namespace (``"io client disconnect"``); no reconnection follows.

        When no other socket of the Manager is active, its connection closes.
        """
        self._call_on_loop(self._disconnect)

    def _disconnect(self) -> None:
        self._core.disconnect()
        self._flush()

    async def wait_connected(self, *, retry: bool = True) -> None:
        """Wait until connected.

        Args:
            retry: wait through failed attempts while the Manager retries; False: raise the
                first ``connect_error`` that comes.

        Raises:
            ConnectError: the server refused the namespace (the socket became inactive), or
                the connection attempt failed, or the connection ended before the namespace
                was connected, and no reconnection is coming (or ``retry`` is False): a
                [`TransportError`][TransportError] when the connection failed.
        """
        self._waiters[retry] += 1
        lost_before, connections_before = self._lost, self._connections
        try:
            while True:
                # connected, or it was and lost it before this task ran: reconnection's turn
                if self.connected or self._connections != connections_before:
                    return
                error = self.connect_error
                if error is None and self._lost is not lost_before:
                    error = self._lost  # the connection ended before CONNECT was answered
                retrying = retry and self.manager is not None and self.manager.will_retry
                if error is not None and (not self.active or not retrying):
                    raise error
                if not self.active and error is None:
                    raise ConnectError("the socket was disconnected")
                self._changed.clear()
                await self._changed.wait()
        finally:
            self._waiters[retry] -= 1

    async def wait_inactive(self) -> None:
        """Wait until the socket is no longer active (disconnected by either side)."""
        while self.active:
            self._changed.clear()
            await self._changed.wait()

    async def drain_handlers(self) -> None:
        """Wait until every queued handler call has run."""
        await self._listeners.drain()

    # -- called by the Manager (not by applications) -----------------------------------
    def handle_open(self) -> None:
        """The connection is open: send CONNECT (with ``auth``, resolved if callable)."""
        if self.manager is not None:
            self._connect_sent_on = self.manager.generation
        auth = self.auth
        if not callable(auth):
            self._core.open(auth)
            self._flush()
            return
        try:
            result = auth()
        except Exception as exc:
            logger.exception("auth callable of %s failed", self.nsp)
            self._core.on_error(f"auth callable failed: {exc!r}")
            self._flush()
            return
        if not asyncio.iscoroutine(result) and not isinstance(result, Awaitable):
            self._core.open(result)
            self._flush()
            return
        manager = self.manager
        assert manager is not None
        generation = manager.generation

        async def resolve() -> None:
            data: Any = None
            error: Exception | None = None
            try:
                data = await result
            except Exception as exc:
                logger.exception("auth callable of %s failed", self.nsp)
                error = exc
            # Act only on the connection it was computed for.
            if manager.generation != generation or not self.active:
                return
            if error is not None:
                self._core.on_error(f"auth callable failed: {error!r}")
            else:
                self._core.open(data)
            self._flush()

        # Not behind the handlers: a slow handler must not delay the CONNECT.
        manager.spawn(resolve())

    def handle_packet(self, packet: Any) -> None:
        """A packet of this namespace arrived."""
        self._core.receive(packet)
        self._flush()

    def handle_error(self, message: str, error: BaseException | None = None) -> None:
        """The connection could not be opened (``message`` says why, ``error`` is the
        Manager's ``TransportError`` when there is one)."""
        self._core.on_error(message, error)
        self._flush()

    def handle_close(self, reason: str, details: Any = None) -> None:
        """The connection closed for ``reason`` (``details``: JS's ``disconnect`` details)."""
        self._core.on_close(reason, details)
        self._flush()

    # -- internals ---------------------------------------------------------------------
    def _emit(
        self,
        args: list[Any],
        flags: _Flags,
        callback: Callable[[BaseException | None, list[Any]], None] | None = None,
    ) -> None:
        manager = self.manager
        self._core.emit(
            args,
            callback=callback,
            volatile=flags.volatile,
            timeout=flags.timeout,
            writable=manager is not None and manager.writable,
            # JS emit(): `this.connected && !engine._hasPingExpired()`; asked only when
            # connected, as the check closes an expired connection.
            transport_alive=not self._core.connected
            or (manager is not None and not manager.ping_expired()),
        )
        self._flush()

    def _flush(self) -> None:
        core = self._core
        manager = self.manager
        for packet in core.packets_to_send():
            if manager is None:
                continue
            try:
                manager.send_packet(packet)
            except (TypeError, ValueError) as exc:
                if packet.type is not PacketType.CONNECT:
                    raise  # to emit()'s caller
                # auth the parser cannot encode (bytes in a JSON CONNECT, say): the
                # connection attempt fails with a connect_error that says why
                core.on_error(f"the auth cannot be sent: {exc}")
        self._ack_timers.apply(core.timers())
        for event in core.events_received():
            self._changed.set()
            if isinstance(event, EventReceived):
                self._listeners.enqueue(functools.partial(self._handle_event, event))
            elif isinstance(event, EventSent):
                for listener in list(self._any_outgoing):
                    fire(listener, *event.args)
            elif isinstance(event, Connected):
                self._connections += 1
                self.connect_error = None
                logger.info(
                    "socket %s connected to %s%s%s",
                    self.id,
                    manager.url if manager is not None else "?",
                    self.nsp,
                    " (recovered)" if self.recovered else "",
                )
                self._listeners.emit("connect")
            elif isinstance(event, ConnectFailed):
                error = event.error
                if not isinstance(error, ConnectError):
                    error = ConnectError(event.message, event.data)
                self.connect_error = error
                # Whether a retry follows is known once the Manager is done with the failure.
                asyncio.get_running_loop().call_soon(
                    self._log_connect_error, error, self._waiters[False], self._waiters[True]
                )
                self._listeners.emit("connect_error", error)
            elif isinstance(event, Disconnected):
                logger.info(
                    "socket of %s%s disconnected: %s",
                    manager.url if manager is not None else "?",
                    self.nsp,
                    event.reason,
                )
                details = event.details
                if isinstance(details, ConnectError):
                    self._lost = details
                else:
                    self._lost = ConnectError(event.reason)
                    if isinstance(details, BaseException):
                        self._lost.__cause__ = details
                self._listeners.emit("disconnect", event.reason, details)
            elif isinstance(event, Destroyed) and manager is not None:
                manager.handle_destroyed(self)
        if manager is not None:
            manager.notify_changed()

    def _log_connect_error(self, error: ConnectError, raising: int, patient: int) -> None:
        # Never silent: raised by a waiting connect(), else logged. ``raising`` and
        # ``patient`` count the connect() calls waiting when it happened, by their retry.
        manager = self.manager
        retrying = manager is not None and manager.will_retry and self.active
        if raising or (patient and not retrying):
            return  # a waiting connect() raises it
        url = manager.url if manager is not None else "?"
        logger.warning(
            "connect_error on %s%s: %s%s",
            url,
            self.nsp,
            error,
            " (retrying)" if retrying else "",
        )

    async def _handle_event(self, event: EventReceived) -> None:
        name, *args = event.args
        for listener in list(self._any):
            try:
                await call_handler(listener, *fit_arguments(listener, [name, *args]))
            except Exception:
                logger.exception("catch-all listener on %s failed", self.nsp)
        handlers = self._listeners.take(name)
        if not handlers:
            return
        ack_id = event.ack_id
        await run_event_handlers(
            [handler.call for handler in handlers],
            args,
            None if ack_id is None else functools.partial(self._answer, ack_id),
            lambda: logger.exception("%r handler on %s failed", name, self.nsp),
            self._rejected,
            lambda index, values: fit(handlers[index], values),
        )

    def _answer(self, ack_id: int, args: list[Any]) -> None:
        # From the dispatcher, or from an Ack handle in any task or thread, at any time.
        def send() -> None:
            if self._core.connected:
                self._core.send_ack(ack_id, args)
                self._flush()

        self._call_on_loop(send)

    async def _rejected(self, exc: PayloadError, answered: bool) -> None:
        # A typed handler refused the server's arguments, or its own acknowledgement; the
        # server got the error acknowledgement if it asked for one.
        if exc.code == PayloadError.REQUEST:
            logger.info("invalid arguments received on %s: %s", self.nsp, exc)
        else:
            logger.error("a handler on %s returned: %s", self.nsp, exc)

    def _bind_loop(self) -> None:
        if self._loop is None:
            self._loop = asyncio.get_running_loop()
            self._thread = threading.get_ident()

    def _call_on_loop(self, fn: Callable[[], T]) -> T:
        """Run ``fn`` on the socket's loop: at once on its thread, else handed over and
        waited for (a plain handler in a worker thread may emit)."""
        if self._loop is None or threading.get_ident() == self._thread:
            return fn()
        done: concurrent.futures.Future[T] = concurrent.futures.Future()

        def run() -> None:
            try:
                done.set_result(fn())
            except BaseException as exc:
                done.set_exception(exc)

        self._loop.call_soon_threadsafe(run)
        return done.result()


def _remove(listeners: list[Callable[..., Any]], listener: Callable[..., Any] | None) -> None:
    if listener is None:
        listeners.clear()
    elif listener in listeners:
        listeners.remove(listener)
