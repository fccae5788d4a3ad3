"""``TestClient``: a Socket.IO client for an application's own tests, without a network.

It connects to a :class:`socketwire.Server` through the server's real WebSocket path (see
:mod:`socketwire.testing.memory`), so the Engine.IO handshake, ``allow_request``, the
middlewares, namespaces, acknowledgements, rooms and broadcasts all run the server's own
code. Its side speaks the real protocol too: the sans-I/O Engine.IO client session, the
server's parser, and the client's namespace state (:class:`~socketwire.client.state.SocketCore`).

Example (pytest with pytest-asyncio)::

    async def test_chat() -> None:
        sio = make_server()
        async with TestClient(sio) as alice, TestClient(sio) as bob:
            assert await alice.emit_with_ack("chat", "hi") == "ok"
            assert await bob.receive("chat") == ("chat", ["hi"])
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable, Mapping
from types import TracebackType
from typing import TYPE_CHECKING, Any, TypeVar, overload

from socketwire.engineio.client_session import (
    ClientState,
    Closed,
    Event,
    MessageReceived,
    Opened,
)
from socketwire.socketio import JsonParser, MsgpackParser, Packet, Parser, ProtocolError
from socketwire.testing.memory import MemoryLink, MemoryRequest
from socketwire.testing.socket import DEFAULT_TIMEOUT, ReceivedEvent, TestSocket

if TYPE_CHECKING:
    from socketwire.server.server import Server

__all__ = ["TestClient"]

H = TypeVar("H", bound=Callable[..., Any])


class TestClient:
    """An in-process Socket.IO client of ``sio``, for tests: no network, no threads.

    Args:
        sio: the server under test.
        namespace: the namespace :meth:`connect` joins (``"/"``).
        auth: the CONNECT payload (what ``socket.handshake.auth`` shows).
        headers: handshake request headers (``socket.handshake.headers``).
        query: handshake query parameters (``socket.handshake.query``).
        parser: ``"json"``, ``"msgpack"`` or a parser; default: the server's.
        timeout: seconds allowed for the connection (Engine.IO handshake and CONNECT).

    Use it as an async context manager (connects on entry, disconnects on exit), or call
    :meth:`connect` and :meth:`disconnect`. The methods of the main namespace
    (:meth:`emit`, :meth:`emit_with_ack`, :meth:`receive`, :meth:`on`...) are those of
    :class:`TestSocket`; :meth:`socket` gives other namespaces on the same connection.
    """

    __test__ = False  # not a test class, whatever pytest thinks of the name

    def __init__(
        self,
        sio: Server,
        namespace: str = "/",
        *,
        auth: dict[str, Any] | None = None,
        headers: Mapping[str, str] | None = None,
        query: Mapping[str, str] | None = None,
        parser: str | Parser | None = None,
        timeout: float = DEFAULT_TIMEOUT,
    ) -> None:
        self.sio = sio
        self.timeout = timeout
        if parser is None:
            self.parser: Parser = sio.parser
        elif parser == "json":
            self.parser = JsonParser()
        elif parser == "msgpack":
            self.parser = MsgpackParser()
        elif isinstance(parser, str):
            raise ValueError(f"unknown parser {parser!r} (use 'json', 'msgpack' or a Parser)")
        else:
            self.parser = parser
        self._headers = {"host": "testserver", **{k.lower(): v for k, v in (headers or {}).items()}}
        self._query = dict(query or {})
        self._sockets: dict[str, TestSocket] = {}
        self._link: MemoryLink | None = None
        self._decoder = self.parser.decoder()
        self._opened = False
        #: The main namespace's socket.
        self.main = self.socket(namespace, auth=auth)

    def __repr__(self) -> str:
        return f"<TestClient {self.main.namespace} id={self.id} connected={self.connected}>"

    # -- the main namespace --------------------------------------------------------------

    @property
    def id(self) -> str | None:
        """The main namespace's socket id, while connected."""
        return self.main.id

    @property
    def connected(self) -> bool:
        """The main namespace is connected."""
        return self.main.connected

    @property
    def recovered(self) -> bool:
        """The main namespace recovered its session on the last connection."""
        return self.main.recovered

    @property
    def received(self) -> list[ReceivedEvent]:
        """Every event received on the main namespace, in order."""
        return self.main.received

    @property
    def disconnect_reason(self) -> str | None:
        """Why the main namespace was last disconnected (None while connected)."""
        return self.main.disconnect_reason

    @overload
    def on(self, event: str) -> Callable[[H], H]: ...
    @overload
    def on(self, event: str, handler: H) -> H: ...

    def on(self, event: str, handler: H | None = None) -> H | Callable[[H], H]:
        """See :meth:`TestSocket.on`."""
        if handler is None:
            return self.main.on(event)
        return self.main.on(event, handler)

    async def emit(self, event: str, *args: Any) -> None:
        """See :meth:`TestSocket.emit`."""
        await self.main.emit(event, *args)

    async def emit_with_ack(
        self,
        event: str,
        *args: Any,
        timeout: float | None = DEFAULT_TIMEOUT,  # noqa: ASYNC109
    ) -> Any:
        """See :meth:`TestSocket.emit_with_ack`."""
        return await self.main.emit_with_ack(event, *args, timeout=timeout)

    async def receive(
        self,
        event: str | None = None,
        timeout: float = DEFAULT_TIMEOUT,  # noqa: ASYNC109
    ) -> ReceivedEvent:
        """See :meth:`TestSocket.receive`."""
        return await self.main.receive(event, timeout)

    async def wait_disconnected(self, timeout: float = DEFAULT_TIMEOUT) -> str:  # noqa: ASYNC109
        """See :meth:`TestSocket.wait_disconnected`."""
        return await self.main.wait_disconnected(timeout)

    # -- connection ----------------------------------------------------------------------

    def socket(self, namespace: str, *, auth: dict[str, Any] | None = None) -> TestSocket:
        """The socket of ``namespace`` on this connection (``await sock.connect()`` it)."""
        if not namespace.startswith("/"):
            namespace = "/" + namespace
        sock = self._sockets.get(namespace)
        if sock is None:
            sock = self._sockets[namespace] = TestSocket(self, namespace, auth)
        return sock

    async def connect(self) -> TestClient:
        """Connect the main namespace; returns the client.

        Raises:
            socketwire.ConnectError: the server refused the connection or the namespace
                (``data`` holds the middleware's data, or the HTTP refusal).
            TimeoutError: no answer within ``timeout`` seconds.
        """
        await self.main.connect(self.timeout)
        return self

    async def disconnect(self) -> None:
        """Leave every namespace and close the connection; returns once the server knows."""
        for sock in self._sockets.values():
            sock._core.disconnect()
            sock._flush()
            sock._ack_timers.cancel_all()
        link = self._link
        if link is not None:
            link.close()
            try:
                async with asyncio.timeout(self.timeout):
                    await link.wait_ended()
            finally:
                await link.aclose()

    async def __aenter__(self) -> TestClient:
        try:
            return await self.connect()
        except BaseException:
            await self.disconnect()
            raise

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.disconnect()

    # -- the connection, for the sockets -------------------------------------------------

    def _socket_connecting(self, sock: TestSocket) -> None:
        link = self._link
        if link is None or link.state is ClientState.CLOSED:
            self._open()
        elif self._opened:
            sock._on_open()

    def _open(self) -> None:
        engine_path = self.sio.engine.options.path
        request = MemoryRequest(
            path=engine_path,
            query={**self._query, "EIO": "4", "transport": "websocket"},
            headers=self._headers,
        )
        self._opened = False
        self._decoder = self.parser.decoder()
        self._link = MemoryLink(
            self.sio, request, self._on_engine_event, handshake_timeout=self.timeout
        )
        self._link.start()

    def _send_packet(self, packet: Packet) -> None:
        link = self._link
        if link is None or not self._opened:
            return
        for message in self.parser.encode(packet):
            link.send(message)

    async def _link_sent(self) -> None:
        if self._link is not None:
            await self._link.wait_sent()

    def _socket_destroyed(self) -> None:
        # as socket.io-client's Manager: the connection closes with its last active socket
        if self._link is not None and not any(s._core.active for s in self._sockets.values()):
            self._link.close()

    def _on_engine_event(self, event: Event) -> None:
        if isinstance(event, Opened):
            self._opened = True
            for sock in list(self._sockets.values()):
                if sock._core.active:
                    sock._on_open()
        elif isinstance(event, MessageReceived):
            try:
                packet = self._decoder.feed(event.data)
            except ProtocolError:
                self._closed("parse error")
                return
            target = self._sockets.get(packet.nsp) if packet is not None else None
            if target is not None and packet is not None:
                target._on_packet(packet)
        elif isinstance(event, Closed):
            if self._opened:
                self._closed(str(event.reason))
            else:
                self._refused(f"{event.reason}: {event.description}")

    def _closed(self, reason: str) -> None:
        self._opened = False
        if self._link is not None:
            self._link.close()
        for sock in list(self._sockets.values()):
            sock._on_close(reason)

    def _refused(self, message: str) -> None:
        data: Any = None
        refusal = self._link.refusal if self._link is not None else None
        if refusal is not None:
            message = f"the server refused the connection (HTTP {refusal.status})"
            body = refusal.body.decode("utf-8", "replace")
            try:
                data = json.loads(body)
            except ValueError:
                data = body
        for sock in list(self._sockets.values()):
            sock._on_error(message, data)
