"""``TestClient``: the real Socket.IO client, for an application's own tests, in memory.

It is a [`AsyncClient`][socketwire.AsyncClient] (the Manager, the Engine.IO client session, the
namespace sockets and their protocol core) whose one transport is a WebSocket in memory
([`socketwire.testing.memory`][socketwire.testing.memory]) to the server's real WebSocket path: the
Engine.IO handshake, ``allow_request``, the middlewares, namespaces, acknowledgements, rooms and
broadcasts all run the server's own code, and the client side is the client users run. No network,
no threads, no reconnection.

For example, with pytest and pytest-asyncio:

```python
async def test_chat() -> None:
    sio = make_server()
    async with TestClient(sio) as alice, TestClient(sio) as bob:
        assert await alice.emit_with_ack("chat", "hi") == "ok"
        assert await bob.receive("chat") == ("chat", ["hi"])
```
"""

from __future__ import annotations

import asyncio
import json
import ssl as ssl_module
from collections.abc import Callable, Mapping
from types import TracebackType
from typing import TYPE_CHECKING, Any, TypeVar, overload

from socketwire.client import AsyncClient, ConnectError
from socketwire.io.client_websocket import WebSocketListener
from socketwire.socketio import Parser
from socketwire.testing.memory import MemoryChannel
from socketwire.testing.socket import DEFAULT_TIMEOUT, ReceivedEvent, TestSocket

if TYPE_CHECKING:
    from socketwire.server.server import Server

__all__ = ["TestClient"]

H = TypeVar("H", bound=Callable[..., Any])


class TestClient:
    """An in-process Socket.IO client of ``sio``, for tests: no network, no threads.

    Args:
        sio: the server under test.
        namespace: the namespace [`connect()`][connect] joins (``"/"``).
        auth: the CONNECT payload (what ``socket.handshake.auth`` shows).
        headers: handshake request headers (``socket.handshake.headers``).
        query: handshake query parameters (``socket.handshake.query``).
        parser: ``"json"``, ``"msgpack"`` or a parser; default: the server's.
        timeout: seconds allowed for the connection (Engine.IO handshake and CONNECT).

    Attributes:
        client: the real client underneath (``reconnection`` off, WebSocket only).
        url: the URL it connects to (only its path and query matter).

    Use it as an async context manager (connects on entry, disconnects on exit), or call
    [`connect()`][connect] and [`disconnect()`][disconnect]. The methods of the main namespace
    ([`emit()`][emit], [`emit_with_ack()`][emit_with_ack], [`receive()`][receive], [`on()`][on]...)
    are those of [`TestSocket`][TestSocket]; [`socket()`][socket] gives other namespaces on the same
    connection.
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
        self.url = "http://testserver"
        self._channel: MemoryChannel | None = None
        self.client = AsyncClient(
            reconnection=False,
            transports=("websocket",),
            upgrade=False,
            path=sio.engine.options.path,
            parser=sio.parser if parser is None else parser,
            timeout=timeout,
            headers=headers,
            query=query,
            force_new=True,
            auto_connect=False,  # a test connects its namespaces with their own connect()
            websocket_factory=self._open_channel,
        )
        self._sockets: dict[str, TestSocket] = {}
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
        """See [`TestSocket.on()`][TestSocket.on]."""
        if handler is None:
            return self.main.on(event)
        return self.main.on(event, handler)

    async def emit(self, event: str, *args: Any) -> None:
        """See [`TestSocket.emit()`][TestSocket.emit]."""
        await self.main.emit(event, *args)

    async def emit_with_ack(
        self,
        event: str,
        *args: Any,
        timeout: float | None = DEFAULT_TIMEOUT,  # noqa: ASYNC109
    ) -> Any:
        """See [`TestSocket.emit_with_ack()`][TestSocket.emit_with_ack]."""
        return await self.main.emit_with_ack(event, *args, timeout=timeout)

    async def receive(
        self,
        event: str | None = None,
        timeout: float = DEFAULT_TIMEOUT,  # noqa: ASYNC109
    ) -> ReceivedEvent:
        """See [`TestSocket.receive()`][TestSocket.receive]."""
        return await self.main.receive(event, timeout)

    async def wait_disconnected(self, timeout: float = DEFAULT_TIMEOUT) -> str:  # noqa: ASYNC109
        """See [`TestSocket.wait_disconnected()`][TestSocket.wait_disconnected]."""
        return await self.main.wait_disconnected(timeout)

    # -- connection ----------------------------------------------------------------------

    def socket(self, namespace: str, *, auth: dict[str, Any] | None = None) -> TestSocket:
        """The socket of ``namespace`` on this connection (``await sock.connect()`` it)."""
        if not namespace.startswith("/"):
            namespace = "/" + namespace
        sock = self._sockets.get(namespace)
        if sock is None:
            client_socket = self.client.socket(namespace)
            client_socket.auth = auth
            sock = self._sockets[namespace] = TestSocket(self, client_socket)
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
        async with asyncio.timeout(self.timeout):
            await self.client.disconnect()
            for sock in self._sockets.values():
                await sock.socket.drain_handlers()

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

    async def sent(self) -> None:
        """Wait until what the client has sent so far was handed to the server (or the
        connection ended)."""
        channel = self._channel
        if channel is None:
            return
        while not channel.ended:
            manager = self.client.io
            engine = manager.engine if manager is not None else None
            if not channel.in_flight and (engine is None or not engine.buffered_amount):
                return
            await channel.wait_changed()

    def explain(self, error: ConnectError) -> ConnectError:
        """``error``, or, when the server refused the WebSocket handshake itself (a 4xx
        answer: ``allow_request``, a bad request), a ``ConnectError`` saying so whose
        ``data`` is the answer's body (JSON decoded when it is)."""
        channel = self._channel
        refusal = channel.refusal if channel is not None else None
        if refusal is None:
            return error
        body = refusal.body.decode("utf-8", "replace")
        try:
            data: Any = json.loads(body)
        except ValueError:
            data = body
        return ConnectError(f"the server refused the connection (HTTP {refusal.status})", data)

    def _open_channel(
        self,
        *,
        url: str,
        listener: WebSocketListener,
        headers: Mapping[str, str],
        ssl: ssl_module.SSLContext | None,
        timeout: float | None,
        max_size: int,
        **network: Any,  # cookies, proxy, subprotocols: nothing to do in memory
    ) -> MemoryChannel:
        self._channel = MemoryChannel(
            self.sio, url=url, listener=listener, headers=headers, max_size=max_size
        )
        return self._channel
