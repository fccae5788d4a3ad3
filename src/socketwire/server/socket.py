"""One client's connection to one namespace (JS ``Socket``).

Handlers
    ``socket.on("event", handler)`` (or ``@socket.on("event")``). The handler is called with
    the event's arguments. A coroutine function is awaited; a plain function runs in a worker
    thread. When the client asked for an acknowledgement, the handler's return value is sent
    as the ack: ``None`` sends no argument, a ``tuple`` sends its items as separate
    arguments (``(None,)`` sends one null), anything else is sent as one argument. A handler
    with a parameter annotated [`Ack`][socketwire.Ack] gets the acknowledgement as a handle
    instead, to call once, later, from anywhere, or never; its return value is then not an
    ack.

    Events of one socket are handled in order: the next handler starts when the previous one
    has returned (the ``connection`` handlers run first). Acknowledgements from the client
    are processed at once, so a handler may ``await socket.emit_with_ack(...)``. With
    ``Server(concurrent_events=True)`` each event runs in its own task once the
    ``connection`` handlers have returned.

    Bounds: while ``Server(max_pending_events=...)`` events of the socket wait (or run, with
    ``concurrent_events``), the connection stops reading until half of them are handled.
    When the socket disconnects, the events still waiting are dropped (JS ignores events
    that come after the disconnection too); the ``disconnect`` handlers run once.

Typed handlers
    A handler's annotations may declare the event's payload (pydantic models, dataclasses,
    TypedDicts, ``bytes``, ``Annotated`` constraints...): with the ``pydantic`` extra
    installed, the arguments are validated and converted before the handler runs, and the
    return value is serialised (see ``socketwire.typed.signature`` for which handlers are
    checked). Arguments that do not validate never reach the handler: the client gets the
    error acknowledgement ``{"error": {"code": "REQUEST_VALIDATION_ERROR", "event",
    "message", "issues"}}`` when it asked for one, else the ``error`` handlers get the
    ``PayloadError``; it is logged at INFO.

Reserved events
    ``disconnecting(reason)`` (``socket.rooms`` still lists the rooms), ``disconnect(reason)``
    and ``error(exception)`` (a per-packet middleware rejected an event, or a typed handler
    its arguments). Their handlers are kept apart from the others: an event the client sends
    named ``error`` reaches the catch-all listeners and middlewares only (JS would call the
    error handlers with the client's arguments; the parser refuses the other two names, as
    socket.io-parser).
"""

from __future__ import annotations

import asyncio
import dataclasses
import functools
import inspect
import logging
import secrets
from collections import deque
from collections.abc import Awaitable, Callable, Iterable
from typing import TYPE_CHECKING, Any, NamedTuple, TypeVar, overload

from socketwire.adapters.base import BroadcastFlags, BroadcastOptions, room_set
from socketwire.adapters.types import EncodedPacket, Handshake, Session
from socketwire.errors import AckTimeoutError, DisconnectedError, PayloadError
from socketwire.handlers import (
    LoopGuard,
    TakesAck,
    ack_value,
    call_handler,
    fire,
    run_event_handlers,
    spawn,
    start_task,
)
from socketwire.server.handshake import build_handshake
from socketwire.server.operators import BroadcastOperator
from socketwire.server.recovery import RECOVERABLE_REASONS
from socketwire.server.state import PendingAcks
from socketwire.socketio import Packet, PacketType, v4
from socketwire.socketio.packets import check_event_name
from socketwire.typed.signature import PreparedHandler, prepare

if TYPE_CHECKING:
    from socketwire.io.http import HttpRequest
    from socketwire.server.client import Client, EngineSocketLike
    from socketwire.server.namespace import Namespace
    from socketwire.typed.contract import DeclaredEvent

__all__ = ["Socket", "SocketEmitter", "generate_id"]

logger = logging.getLogger("socketwire.server")

H = TypeVar("H", bound=Callable[..., Any])
_RESERVED_HANDLERS = frozenset({"disconnecting", "disconnect", "error"})
_NO_FLAGS = BroadcastFlags()
# Module constants: enum attribute lookups are slow on the per-packet path.
_EVENT = PacketType.EVENT
_ACK = PacketType.ACK
_DISCONNECT = PacketType.DISCONNECT


def generate_id() -> str:
    """A random 20-character URL-safe id (JS ``base64id.generateId()``: 15 random bytes)."""
    return secrets.token_urlsafe(15)


class _SocketImpl(NamedTuple):
    """What a socket's emitters (the socket itself, ``socket.volatile``...) call on it."""

    guard: LoopGuard
    send_event: Callable[[str, list[Any], BroadcastFlags, int | None], None]
    emit_with_ack: Callable[[str, list[Any], BroadcastFlags], Awaitable[Any]]
    operator: Callable[[BroadcastFlags], BroadcastOperator]
    #: the namespace's declared server-to-client events (usually empty)
    declared: dict[str, DeclaredEvent]


class _Emitting:
    """Emit methods shared by [`Socket`][Socket] and [`SocketEmitter`][SocketEmitter] (flags
    differ)."""

    __slots__ = ()

    _impl: _SocketImpl
    _flags: BroadcastFlags

    def emit(self, event: str, *args: Any) -> None:
        """Send ``event`` with ``args`` (JSON-able values, ``bytes`` anywhere) to this client.

        The packet is queued at once and written in order with the socket's other packets;
        the call does not wait for the client. Safe to call from a worker thread (plain
        handlers): it is handed to the event loop. Chain a modifier first for a variant:
        ``socket.volatile.emit(...)``, ``socket.compress(False).emit(...)``, or
        [`emit_with_ack()`][emit_with_ack] to wait for the client's answer.

        ```python
        socket.emit("news", {"title": "hello"}, b"\x00\x01")
        ```

        Args:
            event: The event name (not one of the reserved ones, such as ``"connect"``).
            *args: The event's arguments.
        """
        check_event_name(event)
        impl = self._impl
        declared = impl.declared
        payload = declared[event].outgoing(args) if declared and event in declared else list(args)
        impl.guard.call(impl.send_event, event, payload, self._flags, None)

    def send(self, *args: Any) -> None:
        """Send a ``message`` event."""
        self.emit("message", *args)

    def write(self, *args: Any) -> None:
        """Alias of [`send()`][send] (JS ``socket.write``)."""
        self.emit("message", *args)

    async def emit_with_ack(self, event: str, *args: Any) -> Any:
        """Send ``event`` and return the client's acknowledgement.

        ```python
        reply = await socket.timeout(5).emit_with_ack("question", 42)
        ```

        Without [`timeout()`][timeout] it waits until the client answers or disconnects.

        Returns:
            None when the client acked with no argument, the argument, or a tuple of them.

        Raises:
            AckTimeoutError: set with ``timeout(seconds)``, elapsed first.
            DisconnectedError: the socket disconnected first.
            PayloadError: a declared event (``@sio.emits``): the arguments do not match
                (with outgoing validation on; nothing was sent), or the acknowledgement
                does not match the declared type.
        """
        check_event_name(event)
        impl = self._impl
        declared = impl.declared.get(event) if impl.declared else None
        if declared is None:
            return await impl.emit_with_ack(event, list(args), self._flags)
        answer = await impl.emit_with_ack(event, declared.outgoing(args), self._flags)
        return declared.answer(answer)

    @property
    def broadcast(self) -> BroadcastOperator:
        """Every socket of the namespace but this one."""
        return self._impl.operator(self._flags)

    def to(self, room: str | Iterable[str]) -> BroadcastOperator:
        """The sockets in ``room`` (or in any of several rooms), except this one.

        ```python
        socket.to("game-1").emit("move", move)          # everyone else in the room
        socket.to(["a", "b"]).except_("muted").emit(...)  # chained, as in JS
        ```
        """
        return self.broadcast.to(room)

    def in_(self, room: str | Iterable[str]) -> BroadcastOperator:
        """Alias of [`to()`][to]."""
        return self.to(room)

    def except_(self, room: str | Iterable[str]) -> BroadcastOperator:
        """Every socket but this one and those in ``room``."""
        return self.broadcast.except_(room)

    @property
    def local(self) -> BroadcastOperator:
        """Like [`broadcast`][broadcast], on this server only."""
        return self.broadcast.local

    @property
    def volatile(self) -> SocketEmitter:
        """Drop the next packet if the connection cannot take it right now."""
        return SocketEmitter(self._impl, dataclasses.replace(self._flags, volatile=True))

    def compress(self, compress: bool) -> SocketEmitter:
        """Ask for (or against) compression of the packet."""
        return SocketEmitter(self._impl, dataclasses.replace(self._flags, compress=compress))

    def timeout(self, seconds: float) -> SocketEmitter:
        """Wait at most ``seconds`` for the ack (then [`AckTimeoutError`][AckTimeoutError])."""
        return SocketEmitter(self._impl, dataclasses.replace(self._flags, timeout=seconds))


class SocketEmitter(_Emitting):
    """A socket with emit flags set (``socket.volatile``, ``socket.timeout(5)``...).

    Obtained from a socket, never built by an application.
    """

    __slots__ = ("_flags", "_impl")

    def __init__(self, impl: _SocketImpl, flags: BroadcastFlags) -> None:
        self._impl = impl
        self._flags = flags


class Socket(_Emitting):
    """A client connected to a namespace.

    Attributes:
        id: The socket id (not the Engine.IO id, which is sensitive).
        nsp: The namespace.
        handshake: What the server knew about the client when it connected.
        data: Free-form application data (kept across a recovered reconnection).
        recovered: True when connection state recovery restored this socket's session.
        connected: True until the socket disconnects.

    Applications may set attributes of their own on a socket, as JS code does (``__dict__``,
    made by the first one).
    """

    # Thousands of idle sockets: the per-socket state in slots, containers made when first
    # needed (see bench/profile/idle_memory.py).
    __slots__ = (
        "__dict__",
        "__weakref__",
        "_any",
        "_any_outgoing",
        "_closing_rooms",
        "_ended",
        "_flags",
        "_full",
        "_guard",
        "_handlers",
        "_impl",
        "_jobs",
        "_joinable",
        "_max_pending",
        "_middlewares",
        "_on_event_done",
        "_on_removed",
        "_once_events",
        "_ready",
        "_reserved",
        "_runner",
        "_running",
        "_tasks",
        "acks",
        "adapter",
        "client",
        "connected",
        "data",
        "deliver",
        "handshake",
        "id",
        "nsp",
        "pid",
        "recovered",
        "server",
    )

    def __init__(
        self,
        nsp: Namespace,
        client: Client,
        auth: dict[str, Any],
        previous_session: Session | None = None,
        *,
        on_removed: Callable[[Socket], None],
    ) -> None:
        self.nsp = nsp
        self.client = client
        self.server = nsp.server
        self.adapter = nsp.adapter
        self._guard = self.server.loop_guard
        self._impl = _SocketImpl(
            self._guard,
            self._send_event,
            self._emit_with_ack,
            self._operator,
            nsp.outgoing_events,
        )
        self._flags = _NO_FLAGS
        self._on_removed = on_removed
        self.recovered = False
        self.connected = False
        # True once refused or disconnected. Until then an event emitted while not yet
        # connected (by a middleware) is written at once, as JS does; the client holds it
        # until its CONNECT arrives.
        self._ended = False
        self.data: dict[str, Any] = {}
        self.pid: str | None = None
        counters = self.server.counters
        #: The acknowledgements this socket waits for (see LocalSocket.acks).
        self.acks = PendingAcks() if counters is None else counters.pending_acks()
        self._handlers: dict[str, list[Callable[..., Any]]] = {}
        #: handlers of the reserved events, which the client's events never reach
        self._reserved: dict[str, list[Callable[..., Any]]] = {}
        #: catch-all listeners, in and out (made by the first of each)
        self._any: list[Callable[..., Any]] | None = None
        self._any_outgoing: list[Callable[..., Any]] | None = None
        #: events with a handler registered by once() (made by the first)
        self._once_events: set[str] | None = None
        # What an adapter calls per recipient of a broadcast (LocalSocket.deliver): the
        # connection's writer itself while no outgoing listener needs notifying, so that
        # the fan-out loop costs one call per recipient.
        self.deliver: Callable[[EncodedPacket, bool, bool | None], None] = client.write
        #: per-packet middlewares (made by the first)
        self._middlewares: list[Callable[..., Any]] | None = None
        #: what runs in order: an EVENT packet, or another job (connection handlers...);
        #: made when a job comes, dropped when the runner has taken them all
        self._jobs: deque[Packet | Callable[[], Awaitable[None]]] | None = None
        #: _run_jobs is running (set before its task starts: an eager one may be done before
        #: start_task returns)
        self._running = False
        #: its task while it waits (the loop keeps only weak references to tasks)
        self._runner: asyncio.Task[None] | None = None
        self._max_pending = self.server.max_pending_events
        #: max_pending_events reached: the connection does not read until half are handled
        self._full = False
        #: the running handlers of concurrent_events (made by the first one)
        self._tasks: set[asyncio.Task[None]] | None = None
        self._on_event_done: Callable[[asyncio.Task[None]], None] | None = None
        self._closing_rooms: set[str] | None = None
        self._joinable = True
        #: the connection handlers have run (events may then run concurrently, if allowed)
        self._ready = False
        if previous_session is not None:
            self.id = previous_session.sid
            self.pid = previous_session.pid
            self.join(previous_session.rooms)
            self.data = previous_session.data
            for data in previous_session.missed_packets:
                # replayed before the CONNECT packet, as JS does
                self.client.write_packet(Packet(PacketType.EVENT, nsp.name, data))
            self.recovered = True
        else:
            # v4 (socket.io 2.x): the client computes the id from the Engine.IO one
            self.id = v4.socket_id(nsp.name, client.id) if client.legacy else generate_id()
            if self.server.connection_state_recovery is not None:
                self.pid = generate_id()
        self.handshake: Handshake = build_handshake(client.request, auth)

    def __repr__(self) -> str:
        return f"<Socket {self.id} nsp={self.nsp.name!r} connected={self.connected}>"

    # -- properties --------------------------------------------------------------------------

    @property
    def disconnected(self) -> bool:
        """True once the socket has disconnected."""
        return not self.connected

    @property
    def conn(self) -> EngineSocketLike:
        """The underlying Engine.IO connection."""
        return self.client.conn

    @property
    def request(self) -> HttpRequest:
        """The request that opened the Engine.IO connection (JS ``socket.request``).

        Its ``headers``, ``query``, ``remote_addr``... as the plumbing read them; with
        Engine.IO middlewares (``sio.engine.use``), the request they saw, with what they
        left in its ``state`` and ``scope`` (see
        [`EngineRequest`][socketwire.io.engine_middlewares.EngineRequest]).
        """
        return self.client.request

    @property
    def rooms(self) -> set[str]:
        """The rooms this socket is in (its own id included); a copy."""
        if self._closing_rooms is not None:
            return set(self._closing_rooms)
        return set(self.adapter.socket_rooms(self.id) or ())

    # -- listeners ---------------------------------------------------------------------------

    @overload
    def on(self, event: str) -> Callable[[H], H]: ...
    @overload
    def on(self, event: str, handler: H) -> H: ...

    def on(self, event: str, handler: H | None = None) -> H | Callable[[H], H]:
        """Register ``handler`` for ``event``; without ``handler``, a decorator.

        The handler is called with the event's arguments. A coroutine function runs on the
        event loop; a plain function runs in a worker thread, so it may block. Events of one
        socket are handled one after the other unless the server has
        ``concurrent_events=True``. When the client asked for an acknowledgement, the
        handler's return value is sent as the ack (a tuple sends several arguments, None
        sends none); an exception is logged and the ack is not sent.

        ```python
        @socket.on("chat")
        async def chat(text: str) -> str:
            socket.broadcast.emit("chat", text)
            return "ok"
        ```

        A handler that declares a parameter annotated [`Ack`][socketwire.Ack] (by keyword,
        so anywhere but ``*args``) receives the acknowledgement as a handle and answers
        through it, when it likes, from any task or thread, or never; its return value is
        then not an ack. Handlers of one event share the acknowledgement: it is the first
        handler's, and is sent once.

        ```python
        @socket.on("render")
        async def render(page: str, ack: socketwire.Ack) -> None:
            jobs.put_nowait((page, ack))  # a worker calls ack(url) when it is done
        ```

        The reserved events ``disconnecting`` and ``disconnect`` (with the reason) and
        ``error`` (with the exception) are registered the same way.

        The handler's signature is read here, once (see
        [`socketwire.typed.signature`][socketwire.typed.signature]): a handler whose
        annotations are enforced is wrapped so that its arguments are validated and
        converted before it runs, and one that declares an ``Ack`` gets its handle.

        Raises:
            TypeError: an annotation pydantic cannot validate, an ``Ack`` parameter that
                cannot be passed by keyword, or two of them.
        """

        reserved = event in _RESERVED_HANDLERS
        handlers = self._reserved if reserved else self._handlers

        def register(fn: H) -> H:
            stored: Callable[..., Any] = fn
            if not reserved:
                server = self.server
                stored = prepare(
                    fn,
                    event=event,
                    mode=server.validation,
                    check_outgoing=server.validate_outgoing,
                )
            handlers.setdefault(event, []).append(stored)
            return fn

        return register if handler is None else register(handler)

    @overload
    def once(self, event: str) -> Callable[[H], H]: ...
    @overload
    def once(self, event: str, handler: H) -> H: ...

    def once(self, event: str, handler: H | None = None) -> H | Callable[[H], H]:
        """Like [`on()`][on], for the next ``event`` only (JS ``socket.once``): the handler
        is removed as that event is dispatched, before it runs."""

        def register(fn: H) -> H:
            handlers = self._reserved if event in _RESERVED_HANDLERS else self._handlers
            self.on(event, fn)
            stored = handlers[event].pop()
            handlers[event].append(_Once(stored, fn))
            if self._once_events is None:
                self._once_events = set()
            self._once_events.add(event)
            return fn

        return register if handler is None else register(handler)

    def off(self, event: str, handler: Callable[..., Any] | None = None) -> None:
        """Remove ``handler`` from ``event`` (all handlers of ``event`` when None)."""
        handlers = self._reserved if event in _RESERVED_HANDLERS else self._handlers
        if handler is None:
            handlers.pop(event, None)
            return
        entries = handlers.get(event, [])
        for i, entry in enumerate(entries):
            if entry == handler or (isinstance(entry, _Once) and entry.original == handler):
                del entries[i]
                return

    def listeners(self, event: str) -> list[Callable[..., Any]]:
        """The handlers of ``event`` as they were registered (JS ``socket.listeners``), in
        order; a copy."""
        handlers = self._reserved if event in _RESERVED_HANDLERS else self._handlers
        return [_registered(entry) for entry in handlers.get(event, ())]

    def _take_once(self, handlers: dict[str, list[Callable[..., Any]]], event: str) -> None:
        """``event`` is being dispatched: forget its ``once`` handlers (the caller holds a
        copy of the list)."""
        entries = handlers.get(event)
        if entries:
            entries[:] = [entry for entry in entries if not isinstance(entry, _Once)]
        if (
            not any(
                isinstance(entry, _Once)
                for table in (self._handlers, self._reserved)
                for entry in table.get(event, ())
            )
            and self._once_events is not None
        ):
            self._once_events.discard(event)

    def on_any(self, listener: Callable[..., Any]) -> None:
        """Call ``listener(event, *args)`` for every incoming event, before its handlers."""
        self._any = _added(self._any, listener)

    def prepend_any(self, listener: Callable[..., Any]) -> None:
        """Like [`on_any()`][on_any], called before the listeners already added."""
        self._any = _added(self._any, listener, first=True)

    def off_any(self, listener: Callable[..., Any] | None = None) -> None:
        """Remove a catch-all listener (all of them when None)."""
        _remove(self._any, listener)

    def listeners_any(self) -> list[Callable[..., Any]]:
        """The catch-all listeners (JS ``socket.listenersAny()``), in order; a copy."""
        return list(self._any or ())

    def listeners_any_outgoing(self) -> list[Callable[..., Any]]:
        """The outgoing catch-all listeners (JS ``socket.listenersAnyOutgoing()``), in
        order; a copy."""
        return list(self._any_outgoing or ())

    def on_any_outgoing(self, listener: Callable[..., Any]) -> None:
        """Call ``listener(event, *args)`` for every event sent to this client.

        Called inline as the packet is sent: a plain listener must not block (a coroutine
        function is run as a task).
        """
        self._any_outgoing = _added(self._any_outgoing, listener)
        self._choose_deliver()

    def prepend_any_outgoing(self, listener: Callable[..., Any]) -> None:
        """Like [`on_any_outgoing()`][on_any_outgoing], before the listeners already added."""
        self._any_outgoing = _added(self._any_outgoing, listener, first=True)
        self._choose_deliver()

    def off_any_outgoing(self, listener: Callable[..., Any] | None = None) -> None:
        """Remove an outgoing catch-all listener (all of them when None)."""
        _remove(self._any_outgoing, listener)
        self._choose_deliver()

    def _choose_deliver(self) -> None:
        self.deliver = self._deliver_notifying if self._any_outgoing else self.client.write

    def _deliver_notifying(
        self, encoded: EncodedPacket, volatile: bool, compress: bool | None
    ) -> None:
        self._notify_outgoing(encoded.packet)
        self.client.write(encoded, volatile, compress)

    def use(self, middleware: Callable[..., Any]) -> None:
        """Run ``middleware(event, args)`` on every incoming event before its handlers.

        It may change ``args`` (a list) in place; raising rejects the event, which is then
        reported to this socket's ``error`` handlers (nothing is sent to the client, as JS).
        """
        self._middlewares = _added(self._middlewares, middleware)

    # -- rooms -------------------------------------------------------------------------------

    def join(self, rooms: str | Iterable[str]) -> None:
        """Join one room or several (no effect once disconnected).

        Rooms exist while they have members; every socket is in the room named by its own
        id. In a cluster, the adapter tells the other servers, so broadcasts to the room
        reach this socket from anywhere.
        """
        rooms = room_set(rooms)
        self._guard.call(self._join, rooms)

    def _join(self, rooms: frozenset[str]) -> None:
        if self._joinable:
            self.adapter.add_all(self.id, rooms)

    def leave(self, room: str) -> None:
        """Leave ``room``."""
        self._guard.call(self.adapter.del_, self.id, room)

    def leave_all(self) -> None:
        """Leave every room (the socket's own room too)."""
        self._guard.call(self.adapter.del_all, self.id)

    # -- sending -----------------------------------------------------------------------------

    def _operator(self, flags: BroadcastFlags) -> BroadcastOperator:
        return BroadcastOperator(self.nsp, frozenset(), frozenset((self.id,)), flags)

    def _send_event(
        self, event: str, args: list[Any], flags: BroadcastFlags, ack_id: int | None
    ) -> None:
        recovery = self.server.connection_state_recovery is not None
        if not self.connected and (self._ended or recovery):
            # Before CONNECT with recovery on, JS routes the packet to the socket's own room,
            # which it has not joined yet: the packet is lost there too.
            return
        packet = Packet(PacketType.EVENT, self.nsp.name, [event, *args], ack_id)
        if recovery:
            # through the adapter, which stores the packet and appends its offset
            self.adapter.broadcast(packet, BroadcastOptions(frozenset((self.id,)), flags=flags))
        else:
            self._notify_outgoing(packet)
            self.client.write_packet(packet, volatile=flags.volatile, compress=flags.compress)

    async def _emit_with_ack(self, event: str, args: list[Any], flags: BroadcastFlags) -> Any:
        if not self.connected:
            raise DisconnectedError(f"socket {self.id} is disconnected")
        future: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        ack_id = self.nsp.next_ack_id()

        def on_ack(answer: list[Any] | None) -> None:
            if future.done():
                return
            if answer is None:
                future.set_exception(DisconnectedError(f"socket {self.id} disconnected"))
            else:
                future.set_result(ack_value(answer))

        self.acks[ack_id] = on_ack
        try:
            self._send_event(event, args, flags, ack_id)
            async with asyncio.timeout(flags.timeout):
                return await future
        except TimeoutError:
            counters = self.server.counters
            if counters is not None:
                counters.acks_timed_out += 1
            raise AckTimeoutError("operation has timed out", missing=[self.id]) from None
        finally:
            self.acks.pop(ack_id, None)

    def _notify_outgoing(self, packet: Packet) -> None:
        if not self._any_outgoing:
            return
        for listener in list(self._any_outgoing):
            fire(listener, *packet.data)

    def _packet(self, packet: Packet) -> None:
        self.client.write_packet(packet)

    # -- driven by the server (its connection and namespace), not by applications -----------

    def handle_connect(self, handlers: list[Callable[..., Any]]) -> None:
        """The middlewares let the socket in: send CONNECT, then run ``handlers`` (the
        namespace's ``connection`` handlers) before any event handler."""
        self.connected = True
        logger.info(
            "socket %s connected to %s (engine %s, %s%s)",
            self.id,
            self.nsp.name,
            self.client.id,
            self.client.conn.transport,
            ", recovered" if self.recovered else "",
        )
        self.join(self.id)
        data: dict[str, Any] | None
        if self.client.legacy:
            data = None  # v4: a CONNECT has no payload
        elif self.pid is None:
            data = {"sid": self.id}
        else:
            data = {"sid": self.id, "pid": self.pid}
        # the CONNECT packet and the connection's bookkeeping come before any user code runs
        self._packet(Packet(PacketType.CONNECT, self.nsp.name, data))
        self.client.socket_connected(self)
        self._enqueue(lambda: self._run_connection(handlers))

    def handle_refusal(self, data: dict[str, Any] | None) -> None:
        """The socket will not connect: forget it, and send ``CONNECT_ERROR`` with ``data``
        unless it is None (the connection closed while the middlewares ran)."""
        self._cleanup()
        if data is not None:
            logger.info("socket to %s refused (engine %s): %s", self.nsp.name, self.client.id, data)
            self._ended = True
            payload = v4.connect_error_payload(data) if self.client.legacy else data
            self._packet(Packet(PacketType.CONNECT_ERROR, self.nsp.name, payload))

    def handle_packet(self, packet: Packet) -> None:
        """A packet of this socket's namespace arrived (not CONNECT or CONNECT_ERROR)."""
        kind = packet.type
        if kind is _EVENT:
            if self._ready and self.server.concurrent_events:
                self._spawn_event(packet)
            elif not self._running and not self._jobs:
                # Idle: the event runs now, with no queue. On Python 3.12+ in an eager task:
                # a handler that answers at once has run, and sent its acknowledgement, when
                # this returns (handlers.start_task).
                self._running = True
                task = start_task(self._run_jobs(packet), asyncio.get_running_loop())
                if self._running:
                    self._runner = task
            else:
                # The packet itself is the job (no closure per event); see _run_jobs.
                self._enqueue(packet)
                if len(self._jobs or ()) >= self._max_pending and not self._full:
                    self._fill()
        elif kind is _ACK:
            # an ack id we do not wait for (timed out, or made up) is ignored, as JS
            callback = self.acks.pop(packet.id, None) if packet.id is not None else None
            if callback is not None:
                callback(list(packet.data or ()))
        elif kind is _DISCONNECT:
            self.handle_close("client namespace disconnect")

    def handle_error(self, exc: Exception) -> None:
        """The connection broke the protocol: tell the ``error`` handlers (it closes next)."""
        self._enqueue(lambda: self._emit_reserved("error", exc))

    def handle_close(self, reason: str) -> None:
        """Disconnect for ``reason`` (a JS reason string); idempotent."""
        if not self.connected:
            self._ended = True  # closed while its middlewares ran: nothing more to send
            return
        rooms = self.rooms
        if (
            self.server.connection_state_recovery is not None
            and self.pid is not None
            and reason in RECOVERABLE_REASONS
        ):
            session = Session(self.id, self.pid, sorted(rooms), self.data)
            spawn(self.adapter.persist_session(session))
        self.connected = False
        logger.info("socket %s disconnected from %s: %s", self.id, self.nsp.name, reason)
        self._ended = True
        jobs = self._jobs
        if jobs:
            # The events still waiting are dropped; other jobs (error handlers) still run.
            kept = [job for job in jobs if not isinstance(job, Packet)]
            jobs.clear()
            jobs.extend(kept)
        if self._full:
            self._drained()
        self._cleanup()
        self.client.remove(self)
        self.acks.fail_all()
        self._closing_rooms = rooms
        self._enqueue(lambda: self._run_disconnect(reason))

    async def _run_connection(self, handlers: list[Callable[..., Any]]) -> None:
        try:
            for handler in handlers:
                try:
                    await call_handler(handler, self)
                except Exception:
                    self._failed("connection handler failed for %s", self)
        finally:
            self._ready = True

    async def _dispatch(self, event: str, args: list[Any], ack_id: int | None) -> None:
        # The empty checks skip copying the (usually empty) lists on every event.
        if self._any:
            for listener in list(self._any):
                try:
                    result = listener(event, *args)
                    if inspect.isawaitable(result):
                        await result
                except Exception:
                    self._failed("catch-all listener on %s failed", self)
        if self._middlewares:
            for middleware in list(self._middlewares):
                try:
                    await call_handler(middleware, event, args)
                except Exception as exc:
                    await self._emit_reserved("error", exc)
                    return
        handlers = self._handlers.get(event)
        if not handlers:
            return
        current = list(handlers)
        if self._once_events and event in self._once_events:
            self._take_once(self._handlers, event)
            # the dispatcher sees what on() stored (a handler taking an Ack is recognised)
            current = [entry.call if isinstance(entry, _Once) else entry for entry in current]
        await run_event_handlers(
            current,
            args,
            # from the dispatcher, or from an Ack handle in any task or thread, at any time
            None if ack_id is None else functools.partial(self._guard.call, self._send_ack, ack_id),
            lambda: self._failed("handler of %r on %s failed", event, self),
            self._reject,
        )

    def _send_ack(self, ack_id: int, args: list[Any]) -> None:
        if self.connected:
            self.client.write_packet(Packet(_ACK, self.nsp.name, args, ack_id))

    async def _reject(self, exc: PayloadError, answered: bool) -> None:
        # A typed handler's wrapper refused the event's arguments (the handler did not run)
        # or the acknowledgement the handler returned; the dispatcher sent the error
        # acknowledgement if the client asked for one.
        if exc.code == PayloadError.REQUEST:
            logger.info("socket %s sent invalid arguments: %s", self.id, exc)
        else:
            logger.error("handler on %s returned an invalid acknowledgement: %s", self, exc)
        if not answered and exc.code == PayloadError.REQUEST:
            await self._emit_reserved("error", exc)

    async def _emit_reserved(self, event: str, *args: Any) -> None:
        current = list(self._reserved.get(event, ()))
        if self._once_events and event in self._once_events:
            self._take_once(self._reserved, event)
        for handler in current:
            try:
                await call_handler(handler.call if isinstance(handler, _Once) else handler, *args)
            except Exception:
                self._failed("%r handler on %s failed", event, self)

    def _failed(self, message: str, *args: Any) -> None:
        """An application handler raised: log it with its traceback, and count it."""
        logger.exception(message, *args)
        counters = self.server.counters
        if counters is not None:
            counters.handler_errors += 1

    def _enqueue(self, job: Packet | Callable[[], Awaitable[None]]) -> None:
        # Connection, disconnect and error handlers start on the loop's next iteration, after
        # the bookkeeping of whoever queued them (only events start eagerly, when idle).
        jobs = self._jobs
        if jobs is None:
            jobs = self._jobs = deque()
        jobs.append(job)
        if not self._running:
            self._running = True
            first = jobs.popleft()
            self._runner = asyncio.get_running_loop().create_task(self._run_jobs(first))

    async def _run_jobs(self, job: Packet | Callable[[], Awaitable[None]]) -> None:
        # Runs ``job``, then the jobs queued meanwhile; ``_jobs`` holds only the waiting ones.
        try:
            while True:
                try:
                    if isinstance(job, Packet):
                        data = job.data
                        await self._dispatch(data[0], data[1:], job.id)
                    else:
                        await job()
                except Exception:
                    self._failed("handler on %s failed", self)
                jobs = self._jobs
                if not jobs:
                    return
                job = jobs.popleft()
                if self._full and len(jobs) <= self._max_pending >> 1:
                    self._drained()
        finally:
            self._running = False
            self._runner = None
            # an idle socket holds no queue (a cancelled runner leaves its jobs to the next)
            if self._jobs is not None and not self._jobs:
                self._jobs = None

    def _spawn_event(self, packet: Packet) -> None:
        # concurrent_events: a task per event, bounded per socket and per server
        data = packet.data
        task = start_task(self._dispatch(data[0], data[1:], packet.id), asyncio.get_running_loop())
        tasks = self._tasks
        done = self._on_event_done
        if tasks is None or done is None:
            tasks = self._tasks = set()
            done = self._on_event_done = self._event_done  # bound once, not per event
        tasks.add(task)
        task.add_done_callback(done)
        self.client.event_started()
        if len(tasks) >= self._max_pending and not self._full:
            self._fill()

    def _event_done(self, task: asyncio.Task[None]) -> None:
        tasks = self._tasks
        assert tasks is not None
        tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            logger.error("handler on %s failed", self, exc_info=task.exception())
        if self._full and len(tasks) <= self._max_pending >> 1:
            self._drained()
        self.client.event_finished()

    def _fill(self) -> None:
        self._full = True
        self.client.block(self)

    def _drained(self) -> None:
        self._full = False
        self.client.unblock(self)

    @property
    def pending_events(self) -> int:
        """Events received and not yet handled: waiting their turn, or running in tasks of
        their own (``concurrent_events``); at most ``Server(max_pending_events=...)``."""
        jobs = sum(1 for job in self._jobs or () if isinstance(job, Packet))
        return jobs + len(self._tasks or ())

    async def _run_disconnect(self, reason: str) -> None:
        try:
            await self._emit_reserved("disconnecting", reason)
        finally:
            self._closing_rooms = None
        await self._emit_reserved("disconnect", reason)

    def _cleanup(self) -> None:
        self.adapter.del_all(self.id)
        self._on_removed(self)
        self._joinable = False

    def disconnect(self, close: bool = False) -> None:
        """Disconnect from the namespace ("server namespace disconnect").

        Args:
            close: Also close the underlying connection (every namespace of the client).
        """
        self._guard.call(self._disconnect, close)

    def _disconnect(self, close: bool) -> None:
        if not self.connected:
            return
        if close:
            self.client.disconnect()
        else:
            self._packet(Packet(PacketType.DISCONNECT, self.nsp.name))
            self.handle_close("server namespace disconnect")


class _Once:
    """A handler registered with [`Socket.once()`][Socket.once]: the dispatch removes it from
    its event's handlers as the event fires, and calls what [`Socket.on()`][Socket.on]
    stored (``call``)."""

    __slots__ = ("call", "original")

    def __init__(self, call: Callable[..., Any], original: Callable[..., Any]) -> None:
        self.call = call
        self.original = original

    def __call__(self, *args: Any) -> Any:
        return self.call(*args)


def _registered(entry: Callable[..., Any]) -> Callable[..., Any]:
    """The application's handler behind what [`Socket.on()`][Socket.on] stored."""
    if isinstance(entry, _Once):
        return entry.original
    if isinstance(entry, TakesAck | PreparedHandler):
        fn: Callable[..., Any] = getattr(entry, "fn", entry)
        return fn
    return entry


def _added(
    listeners: list[Callable[..., Any]] | None, listener: Callable[..., Any], *, first: bool = False
) -> list[Callable[..., Any]]:
    """``listeners`` with ``listener`` added (last, or ``first``); a new list for None."""
    if listeners is None:
        return [listener]
    if first:
        listeners.insert(0, listener)
    else:
        listeners.append(listener)
    return listeners


def _remove(
    listeners: list[Callable[..., Any]] | None, listener: Callable[..., Any] | None
) -> None:
    if listeners is None:
        return
    if listener is None:
        listeners.clear()
    elif listener in listeners:
        listeners.remove(listener)
