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
from socketwire.server.socket import Socket
from socketwire.socketio import Packet, encode_for_broadcast

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

    def __init__(self, server: Server, name: str, parent: ParentNamespace | None = None) -> None:
        self.server = server
        self.name = name
        self.sockets: dict[str, Socket] = {}
        self._pre_connect: dict[str, Socket] = {}
        self._parent = parent
        self._middlewares: list[Callable[..., Any]] = []
        self._listeners: dict[str, list[Callable[..., Any]]] = {}
        self._ids = itertools.count()
        self.adapter: Adapter = self._make_adapter()
        self._adapter_started = False
        server._start_adapter(self)

    def _make_adapter(self) -> Adapter:
        return self.server._adapter_factory(self)

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
        return next(self._ids)

    # -- registration ------------------------------------------------------------------------

    def use(self, middleware: Callable[..., Any]) -> None:
        """Run ``middleware(socket)`` before a socket connects; raise to refuse it.

        Raise :class:`socketwire.ConnectionRefusedError` (``message`` and ``data``) to send
        ``CONNECT_ERROR {"message", "data"}``; any other exception sends its text as the
        message. A coroutine function is awaited; a plain function runs in a thread.
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

    def _all_middlewares(self) -> list[Callable[..., Any]]:
        if self._parent is None:
            return list(self._middlewares)
        return [*self._parent._middlewares, *self._middlewares]

    def _all_listeners(self, event: str) -> list[Callable[..., Any]]:
        own = self._listeners.get(event, [])
        if self._parent is None:
            return list(own)
        return [*self._parent._listeners.get(event, []), *own]

    # -- connection --------------------------------------------------------------------------

    async def _add(self, client: Client, auth: dict[str, Any]) -> Socket | None:
        """Create a socket for ``client``, run the middlewares and connect it (or refuse)."""
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
        if not client._open:
            socket._cleanup()
            return None
        if error is not None:
            socket._cleanup()
            socket._connect_error(_connect_error_data(error))
            return None
        self._do_connect(socket, client)
        return socket

    async def _create_socket(self, client: Client, auth: dict[str, Any]) -> Socket:
        pid, offset = auth.get("pid"), auth.get("offset")
        if (
            self.server.connection_state_recovery is not None
            and isinstance(pid, str)
            and isinstance(offset, str)
        ):
            try:
                session = await self.adapter.restore_session(pid, offset)
            except Exception:
                logger.exception("restoring session %s failed", pid)
                session = None
            if session is not None:
                return Socket(self, client, auth, session)
        return Socket(self, client, auth)

    def _do_connect(self, socket: Socket, client: Client) -> None:
        self._pre_connect.pop(socket.id, None)
        self.sockets[socket.id] = socket
        # the CONNECT packet and the client's bookkeeping come before any user code runs
        socket._on_connect()
        client._on_socket_connected(socket)
        handlers = self._all_listeners("connection")
        socket._enqueue(lambda: _run_connection(handlers, socket))

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
        """Alias of :meth:`to`."""
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

    async def emit_with_ack(self, event: str, *args: Any) -> Any:
        """Send ``event`` to every socket and collect the acknowledgements; see
        :meth:`BroadcastOperator.emit_with_ack`."""
        return await self._operator().emit_with_ack(event, *args)

    async def all_sockets(self) -> set[str]:
        """The ids of every socket."""
        return await self._operator().all_sockets()

    async def fetch_sockets(self) -> list[RemoteSocket]:
        """Every socket, as :class:`RemoteSocket` handles."""
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

    def _emit_local(self, event: str, *args: Any) -> None:
        for listener in self._all_listeners(event):
            spawn(call_handler(listener, *args))


async def _run_connection(handlers: list[Callable[..., Any]], socket: Socket) -> None:
    try:
        for handler in handlers:
            try:
                await call_handler(handler, socket)
            except Exception:
                logger.exception("connection handler failed for %s", socket)
    finally:
        socket._ready = True


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
    children are the namespaces created on demand."""

    _count = itertools.count()

    def __init__(self, server: Server) -> None:
        self.children: set[Namespace] = set()
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

    def _create_child(self, name: str) -> Namespace:
        child = _ChildNamespace(self.server, name, self)
        self.children.add(child)
        self.server._nsps[name] = child
        self.server.sockets._emit_local("new_namespace", child)
        return child


class _ChildNamespace(Namespace):
    """A namespace created by a parent; removed when empty if the server says so."""

    def _remove(self, socket: Socket) -> None:
        super()._remove(socket)
        parent = self._parent
        if (
            self.server.cleanup_empty_child_namespaces
            and parent is not None
            and not self.sockets
            and not self._pre_connect
        ):
            spawn(self.adapter.close())
            if self.server._nsps.get(self.name) is self:
                del self.server._nsps[self.name]
            parent.children.discard(self)
