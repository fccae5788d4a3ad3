"""Namespaces (JS ``Namespace`` and ``ParentNamespace``).

A namespace has its connection middlewares (``use``), its ``connection`` handlers, its
sockets and its adapter (rooms). A parent namespace (``sio.of(regex)`` or
``sio.of(callable)``) creates a child namespace for each matching name a client connects
to; children share the parent's middlewares and handlers, including those added later.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, Any, TypeVar, overload

from socketwire.adapters.base import RESERVED_NAMESPACE_EVENTS, BroadcastOptions
from socketwire.adapters.memory import MemoryAdapter
from socketwire.adapters.types import EncodedPacket, RecoveryOptions
from socketwire.errors import ConnectionRefusedError
from socketwire.handlers import call_handler, spawn
from socketwire.server.operators import BroadcastOperator, RemoteSocket
from socketwire.server.routes import Routes
from socketwire.server.socket import Socket
from socketwire.server.state import AckIds
from socketwire.socketio import Packet, encode_for_broadcast
from socketwire.typed.contract import DeclaredEvent, NamespaceContract

if TYPE_CHECKING:
    from socketwire.adapters.base import Adapter
    from socketwire.server.client import Client
    from socketwire.server.server import Server

__all__ = ["Namespace", "ParentNamespace"]

logger = logging.getLogger("socketwire.server")

H = TypeVar("H", bound=Callable[..., Any])


class Namespace:
    """A Socket.IO namespace: ``sio.of("/chat")``; the main one is ``sio.sockets``.

    Attributes:
        name: The namespace name (``"/"``, ``"/chat"``...).
        server: The server.
        sockets: The connected sockets by id.
        adapter: The adapter holding its rooms.
    """

    def __init__(self, server: Server, name: str) -> None:
        self.server = server
        self.name = name
        self.sockets: dict[str, Socket] = {}
        #: what every Socket is given, bound once (not per socket)
        self._socket_removed = self._remove
        self._pre_connect: dict[str, Socket] = {}
        self._middlewares: list[Callable[..., Any]] = []
        self._listeners: dict[str, list[Callable[..., Any]]] = {}
        # A child's parent's middlewares and listeners (the live objects: those added later
        # count too), which run before its own.
        self._parent_middlewares: list[Callable[..., Any]] = []
        self._parent_listeners: dict[str, list[Callable[..., Any]]] = {}
        self._ack_ids = AckIds()
        #: The server-to-client events declared with [`emits()`][emits], by name.
        self.outgoing_events: dict[str, DeclaredEvent] = {}
        self._routes = Routes(self)
        self.adapter: Adapter = self._make_adapter()

    def _make_adapter(self) -> Adapter:
        return self.server.adapter_factory(self)

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.name!r} sockets={len(self.sockets)}>"

    # -- what its adapter may use (socketwire.adapters.base.AdapterNamespace) ---------------

    @property
    def connection_state_recovery(self) -> RecoveryOptions | None:
        """The server's connection state recovery options (None: off)."""
        return self.server.connection_state_recovery

    def encode(self, packet: Packet) -> EncodedPacket:
        """Encode ``packet`` once, with the server's parser, for many recipients."""
        return EncodedPacket(packet, encode_for_broadcast(self.server.parser, packet))

    def next_ack_id(self) -> int:
        """A new ack id (shared by the sockets' emits and the broadcasts, as JS
        ``nsp._ids``)."""
        return self._ack_ids.next()

    # -- registration ------------------------------------------------------------------------

    def use(self, middleware: Callable[..., Any]) -> None:
        """Run ``middleware(socket)`` before a socket connects; raise to refuse it.

        Raise [`ConnectionRefusedError`][socketwire.ConnectionRefusedError] (``message`` and
        ``data``) to send ``CONNECT_ERROR {"message", "data"}``; any other exception sends its text
        as the message. A coroutine function is awaited; a plain function runs in a thread.
        """
        self._middlewares.append(middleware)

    @overload
    def on(self, event: str) -> Callable[[H], H]: ...
    @overload
    def on(self, event: str, handler: H) -> H: ...

    def on(self, event: str, handler: H | None = None) -> H | Callable[[H], H]:
        """Register ``handler`` for ``event``; without ``handler``, a decorator.

        ``connection`` (or ``connect``): ``handler(socket)`` for every new socket. It runs
        before the socket's event handlers, so it can register them.
        ``new_namespace``: ``handler(namespace)`` (main namespace only).
        Any other name: a server-side event from another server of the cluster.
        """

        def register(fn: H) -> H:
            key = "connection" if event == "connect" else event
            self._listeners.setdefault(key, []).append(fn)
            return fn

        return register if handler is None else register(handler)

    @overload
    def event(self, handler: H, *, name: str | None = None) -> H: ...
    @overload
    def event(self, handler: str | None = None, *, name: str | None = None) -> Callable[[H], H]: ...

    def event(
        self, handler: H | str | None = None, *, name: str | None = None
    ) -> H | Callable[[H], H]:
        """Register ``handler(socket, *args)`` on every socket that connects, for the event
        named after the function (python-socketio's ``@sio.event``); ``@nsp.event("name")``
        or ``name=`` names it otherwise.

        ``connect(socket[, auth])`` is a connection middleware (it may refuse the client);
        ``disconnect(socket, reason)`` a disconnect handler; see
        ``socketwire.server.routes``. The handler's annotations are enforced as those of
        ``socket.on`` handlers are, and the events it handles are part of [`contract()`][contract].

        Raises:
            TypeError: the handler cannot take a socket and the event's arguments, or has
                an annotation pydantic cannot validate.
        """
        return _named(handler, name, lambda event, fn: self._routes.add(event, fn))

    @overload
    def emits(self, stub: H, *, name: str | None = None) -> H: ...
    @overload
    def emits(self, stub: str | None = None, *, name: str | None = None) -> Callable[[H], H]: ...

    def emits(
        self, stub: H | str | None = None, *, name: str | None = None
    ) -> H | Callable[[H], H]:
        """Declare a server-to-client event: ``stub``'s parameters are its arguments, its
        return annotation the acknowledgement clients send back (``None``: none), its name
        the event's (or ``@nsp.emits("name")``), its docstring the description.

        Emitting the event then serialises its arguments (models become dicts) and, with
        outgoing validation on (``Server(validate_outgoing=...)``), validates them first;
        ``emit_with_ack`` converts the acknowledgement to the declared type. The stub is
        returned unchanged and never called.
        """

        def declare(event: str, fn: Callable[..., Any]) -> None:
            self.outgoing_events[event] = DeclaredEvent(
                event, fn, check_outgoing=self.server.validate_outgoing
            )

        return _named(stub, name, declare)

    def contract(self) -> NamespaceContract:
        """The events of this namespace: those its ``@event`` handlers (and class-based
        handlers) receive, and those declared with [`emits()`][emits]."""
        return NamespaceContract(
            self.name,
            tuple(self._routes.contracts()),
            tuple(d.contract for _, d in sorted(self.outgoing_events.items())),
        )

    def _all_middlewares(self) -> list[Callable[..., Any]]:
        return [*self._parent_middlewares, *self._middlewares]

    def _all_listeners(self, event: str) -> list[Callable[..., Any]]:
        return [*self._parent_listeners.get(event, ()), *self._listeners.get(event, ())]

    # -- connection --------------------------------------------------------------------------

    async def handle_connect(self, client: Client, auth: dict[str, Any]) -> Socket | None:
        """A client asks to connect (its CONNECT packet, with ``auth``): create its socket,
        run the middlewares, then connect it or refuse it. Called by the connection."""
        socket = await self._create_socket(client, auth)
        self._pre_connect[socket.id] = socket
        recovery = self.server.connection_state_recovery
        error: Exception | None = None
        if not (recovery is not None and recovery.skip_middlewares and socket.recovered):
            for middleware in self._all_middlewares():
                try:
                    await call_handler(middleware, socket)
                except Exception as exc:
                    error = exc
                    break
        if not client.is_open:
            socket.handle_refusal(None)
            return None
        if error is not None:
            socket.handle_refusal(_connect_error_data(error))
            return None
        self._pre_connect.pop(socket.id, None)
        self.sockets[socket.id] = socket
        socket.handle_connect(self._all_listeners("connection"))
        return socket

    async def _create_socket(self, client: Client, auth: dict[str, Any]) -> Socket:
        pid, offset = auth.get("pid"), auth.get("offset")
        session = None
        if (
            self.server.connection_state_recovery is not None
            and isinstance(pid, str)
            and isinstance(offset, str)
        ):
            try:
                session = await self.adapter.restore_session(pid, offset)
            except Exception:
                logger.exception("restoring session %s failed", pid)
        return Socket(self, client, auth, session, on_removed=self._socket_removed)

    def _remove(self, socket: Socket) -> None:
        if self.sockets.pop(socket.id, None) is None:
            self._pre_connect.pop(socket.id, None)

    # -- broadcasting ------------------------------------------------------------------------

    def _operator(self) -> BroadcastOperator:
        return BroadcastOperator(self)

    def to(self, room: str | Iterable[str]) -> BroadcastOperator:
        """The sockets in ``room`` (one name or several)."""
        return self._operator().to(room)

    def in_(self, room: str | Iterable[str]) -> BroadcastOperator:
        """Alias of [`to()`][to]."""
        return self._operator().to(room)

    def except_(self, room: str | Iterable[str]) -> BroadcastOperator:
        """Every socket but those in ``room``."""
        return self._operator().except_(room)

    def compress(self, compress: bool) -> BroadcastOperator:
        """Every socket, asking for (or against) compression."""
        return self._operator().compress(compress)

    @property
    def volatile(self) -> BroadcastOperator:
        """Every socket, dropping the packet where it cannot be sent right now."""
        return self._operator().volatile

    @property
    def local(self) -> BroadcastOperator:
        """Every socket of this server."""
        return self._operator().local

    def timeout(self, seconds: float) -> BroadcastOperator:
        """Every socket, waiting at most ``seconds`` for acknowledgements."""
        return self._operator().timeout(seconds)

    def emit(self, event: str, *args: Any) -> None:
        """Send ``event`` to every socket of the namespace."""
        self._operator().emit(event, *args)

    def send(self, *args: Any) -> None:
        """Send a ``message`` event."""
        self.emit("message", *args)

    def write(self, *args: Any) -> None:
        """Alias of [`send()`][send] (JS ``namespace.write``)."""
        self.emit("message", *args)

    async def emit_with_ack(self, event: str, *args: Any) -> Any:
        """Send ``event`` to every socket and collect the acknowledgements; see
        [`BroadcastOperator.emit_with_ack()`][BroadcastOperator.emit_with_ack]."""
        return await self._operator().emit_with_ack(event, *args)

    async def all_sockets(self) -> set[str]:
        """The ids of every socket."""
        return await self._operator().all_sockets()

    async def fetch_sockets(self) -> list[RemoteSocket]:
        """Every socket, as [`RemoteSocket`][RemoteSocket] handles."""
        return await self._operator().fetch_sockets()

    async def sockets_join(self, room: str | Iterable[str]) -> None:
        """Make every socket join ``room``."""
        await self._operator().sockets_join(room)

    async def sockets_leave(self, room: str | Iterable[str]) -> None:
        """Make every socket leave ``room``."""
        await self._operator().sockets_leave(room)

    async def disconnect_sockets(self, close: bool = False) -> None:
        """Disconnect every socket; ``close`` closes their connections."""
        await self._operator().disconnect_sockets(close)

    # -- server-side events ------------------------------------------------------------------

    async def server_side_emit(self, event: str, *args: Any) -> None:
        """Send ``event`` to the other servers of the cluster (nothing on a single server)."""
        if event in RESERVED_NAMESPACE_EVENTS:
            raise ValueError(f'"{event}" is a reserved event name')
        await self.adapter.server_side_emit([event, *args])

    async def server_side_emit_with_ack(self, event: str, *args: Any) -> list[Any]:
        """Send ``event`` to the other servers and return their responses ([] when alone)."""
        if event in RESERVED_NAMESPACE_EVENTS:
            raise ValueError(f'"{event}" is a reserved event name')
        future: asyncio.Future[list[Any]] = asyncio.get_running_loop().create_future()

        def ack(error: Exception | None, responses: list[Any]) -> None:
            if future.done():
                return
            if error is not None:
                future.set_exception(error)
            else:
                future.set_result(responses)

        await self.adapter.server_side_emit([event, *args], ack)
        return await future

    def handle_server_side_emit(
        self, packet: list[Any], reply: Callable[[Any], None] | None = None
    ) -> None:
        """Hand ``[event, *args]`` from another server to this namespace's listeners (what a
        cluster adapter calls).

        The listeners are called with ``args``; when the sender wants a response
        (``reply``), the first listener's return value is it (JS listeners call a callback
        instead).
        """
        listeners = self._all_listeners(packet[0])
        if listeners:
            spawn(_run_server_side(listeners, packet[1:], reply))

    def handle_new_namespace(self, nsp: Namespace) -> None:
        """Call this namespace's ``new_namespace`` listeners with ``nsp`` (the server does,
        on its main namespace)."""
        for listener in self._all_listeners("new_namespace"):
            spawn(call_handler(listener, nsp))


def _named(
    target: H | str | None, name: str | None, register: Callable[[str, H], None]
) -> H | Callable[[H], H]:
    # `@deco`, `@deco("name")`, `@deco(name=...)` and `deco(fn, name=...)`: the event is the
    # name given, else the function's
    if isinstance(target, str):
        name, target = target, None

    def decorate(fn: H) -> H:
        register(name or fn.__name__, fn)
        return fn

    return decorate if target is None else decorate(target)


async def _run_server_side(
    listeners: list[Callable[..., Any]], args: list[Any], ack: Callable[[Any], None] | None
) -> None:
    for index, listener in enumerate(listeners):
        try:
            result = await call_handler(listener, *args)
        except Exception:
            logger.exception("server-side event listener failed")
            continue
        if index == 0 and ack is not None:
            ack(result)


def _connect_error_data(error: Exception) -> dict[str, Any]:
    if isinstance(error, ConnectionRefusedError):
        data: dict[str, Any] = {"message": error.message}
        if error.data is not None:
            data["data"] = error.data
        return data
    return {"message": str(error)}


class _ParentBroadcastAdapter(MemoryAdapter):
    """A parent namespace has no sockets; its broadcasts go to each child (JS
    ``ParentBroadcastAdapter``)."""

    def broadcast(self, packet: Packet, opts: BroadcastOptions) -> None:
        """Broadcast ``packet`` in every child namespace."""
        nsp = self.nsp
        assert isinstance(nsp, ParentNamespace)
        for child in list(nsp.children):
            child.adapter.broadcast(packet, opts)


class ParentNamespace(Namespace):
    """The namespace behind ``sio.of(regex)`` / ``sio.of(callable)``: a template whose
    children are the namespaces created on demand.

    Args:
        server: The server.
        on_child: Called with each child created (the server registers it).
        on_child_removed: Called with a child removed when empty
            (``cleanup_empty_child_namespaces``).
    """

    _count = itertools.count()

    def __init__(
        self,
        server: Server,
        *,
        on_child: Callable[[Namespace], None],
        on_child_removed: Callable[[Namespace], None],
    ) -> None:
        self.children: set[Namespace] = set()
        self._on_child = on_child
        self._on_child_removed = on_child_removed
        super().__init__(server, f"/_{next(ParentNamespace._count)}")

    def _make_adapter(self) -> Adapter:
        return _ParentBroadcastAdapter(self)

    def emit(self, event: str, *args: Any) -> None:
        """Send ``event`` to every socket of every child namespace."""
        for child in list(self.children):
            child.emit(event, *args)

    async def fetch_sockets(self) -> list[RemoteSocket]:
        """Not supported on parent namespaces (as JS): raises RuntimeError."""
        raise RuntimeError("fetch_sockets() is not supported on parent namespaces")

    def create_child(self, name: str) -> Namespace:
        """Create the child namespace ``name`` (JS ``createChild``): it shares this
        namespace's middlewares and listeners, including those added later."""
        child = _ChildNamespace(
            self.server,
            name,
            middlewares=self._middlewares,
            listeners=self._listeners,
            outgoing_events=self.outgoing_events,
            on_empty=self._child_empty,
        )
        self.children.add(child)
        self._on_child(child)
        return child

    def _child_empty(self, child: Namespace) -> None:
        self.children.discard(child)
        self._on_child_removed(child)


class _ChildNamespace(Namespace):
    """A namespace created by a parent; removed when empty if the server says so."""

    def __init__(
        self,
        server: Server,
        name: str,
        *,
        middlewares: list[Callable[..., Any]],
        listeners: dict[str, list[Callable[..., Any]]],
        outgoing_events: dict[str, DeclaredEvent],
        on_empty: Callable[[Namespace], None],
    ) -> None:
        super().__init__(server, name)
        self._parent_middlewares = middlewares
        self._parent_listeners = listeners
        # the parent's declarations, live (a child declares nothing of its own)
        self.outgoing_events = outgoing_events
        self._on_empty = on_empty

    def _remove(self, socket: Socket) -> None:
        super()._remove(socket)
        if (
            self.server.cleanup_empty_child_namespaces
            and not self.sockets
            and not self._pre_connect
        ):
            spawn(self.adapter.close())
            self._on_empty(self)
