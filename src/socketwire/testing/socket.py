"""``TestSocket``: one namespace of a [`TestClient`][socketwire.testing.TestClient].

It is the real client's namespace socket (a [`ClientSocket`][socketwire.client.ClientSocket], with
its protocol core, acks, buffering and recovery offsets), plus what a test needs on top:
every event the server sent, recorded in order for a test to wait on and assert, and
awaitable emits.
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, NamedTuple, TypeVar, overload

from socketwire.client import ClientSocket, ConnectError

if TYPE_CHECKING:
    from socketwire.testing.client import TestClient

__all__ = ["DEFAULT_TIMEOUT", "ReceivedEvent", "TestSocket"]


#: Seconds every wait of the test client allows by default.
DEFAULT_TIMEOUT = 5.0

H = TypeVar("H", bound=Callable[..., Any])


class ReceivedEvent(NamedTuple):
    """An event the server sent: ``name`` and ``args`` (compares equal to a tuple)."""

    name: str
    args: list[Any]


class TestSocket:
    """One namespace of a [`TestClient`][TestClient] (multiplexed over its connection).

    Attributes:
        namespace: the namespace name.
        socket: the real client's socket of this namespace.
        received: every event received, in order (``receive`` does not remove them).
        disconnect_reason: the reason of the last disconnection (socket.io-client's
            reasons: ``"io server disconnect"``, ``"io client disconnect"``,
            ``"transport close"``...), None while connected.
    """

    __test__ = False  # not a test class, whatever pytest thinks of the name

    def __init__(self, client: TestClient, socket: ClientSocket) -> None:
        """Wrap ``socket`` (use [`TestClient.socket()`][TestClient.socket])."""
        self._client = client
        self.socket = socket
        self.namespace = socket.nsp
        self.received: list[ReceivedEvent] = []
        self.disconnect_reason: str | None = None
        self._unread: deque[ReceivedEvent] = deque()
        self._changed = asyncio.Event()
        socket.prepend_any(self._record)
        socket.on("disconnect", self._on_disconnect)

    def __repr__(self) -> str:
        return f"<TestSocket {self.namespace} id={self.id} connected={self.connected}>"

    @property
    def id(self) -> str | None:
        """The socket id the server gave, while connected."""
        return self.socket.id

    @property
    def connected(self) -> bool:
        """The namespace is connected."""
        return self.socket.connected

    @property
    def recovered(self) -> bool:
        """The last connection recovered the previous session (connection state recovery)."""
        return self.socket.recovered

    @property
    def connect_error(self) -> ConnectError | None:
        """The server's refusal, if the last connection attempt was refused."""
        return self.socket.connect_error

    # -- handlers ------------------------------------------------------------------------

    @overload
    def on(self, event: str) -> Callable[[H], H]: ...
    @overload
    def on(self, event: str, handler: H) -> H: ...

    def on(self, event: str, handler: H | None = None) -> H | Callable[[H], H]:
        """Answer the server's ``event``: ``handler(*args)``'s return value is the ack.

        Needed only for events the server emits with an acknowledgement; every event is
        recorded in `received` either way. Usable as a decorator.
        """
        if handler is None:
            return self.socket.on(event)
        return self.socket.on(event, handler)

    # -- connection ----------------------------------------------------------------------

    async def connect(self, timeout: float = DEFAULT_TIMEOUT) -> None:  # noqa: ASYNC109
        """Connect the namespace (opening the connection if needed).

        Raises:
            socketwire.ConnectError: the server refused the connection or the namespace
                (``data`` holds the middleware's data, or the HTTP refusal's body).
            TimeoutError: no answer within ``timeout`` seconds.
        """
        if self.connected:
            return
        self.disconnect_reason = None
        client = self._client.client
        if client.io is None:
            await client.connect(self._client.url, namespaces=[self.namespace], wait=False)
        else:
            self.socket.connect()
        try:
            async with asyncio.timeout(timeout):
                await self.socket.wait_connected()
        except TimeoutError:
            raise TimeoutError(f"{self!r}: not connected within {timeout} s") from None
        except ConnectError as exc:
            raise self._client.explain(exc) from None

    async def disconnect(self) -> None:
        """Leave the namespace (the connection stays for the others); returns once the
        server has the DISCONNECT packet."""
        self.socket.disconnect()
        await self._client.sent()
        await self.socket.drain_handlers()

    async def wait_disconnected(self, timeout: float = DEFAULT_TIMEOUT) -> str:  # noqa: ASYNC109
        """Wait until the namespace is disconnected; return the reason."""
        await self._wait(lambda: self.disconnect_reason is not None, timeout, "disconnection")
        assert self.disconnect_reason is not None
        return self.disconnect_reason

    # -- events --------------------------------------------------------------------------

    async def emit(self, event: str, *args: Any) -> None:
        """Send ``event``; returns once the server has received it.

        Raises:
            ValueError: ``event`` is a reserved name.
        """
        self.socket.emit(event, *args)
        await self._client.sent()

    async def emit_with_ack(
        self,
        event: str,
        *args: Any,
        timeout: float | None = DEFAULT_TIMEOUT,  # noqa: ASYNC109
    ) -> Any:
        """Send ``event`` and return the server's acknowledgement.

        Returns:
            None when the server acked with no argument, the argument, or a tuple of them.

        Raises:
            socketwire.AckTimeoutError: no acknowledgement within ``timeout`` seconds.
        """
        emitter = self.socket if timeout is None else self.socket.timeout(timeout)
        return await emitter.emit_with_ack(event, *args)

    async def receive(
        self,
        event: str | None = None,
        timeout: float = DEFAULT_TIMEOUT,  # noqa: ASYNC109
    ) -> ReceivedEvent:
        """Return the next event not returned yet (the next named ``event``, if given).

        Events of other names stay for later calls.

        Raises:
            TimeoutError: none arrived within ``timeout`` seconds.
        """

        def find() -> ReceivedEvent | None:
            for item in self._unread:
                if event is None or item.name == event:
                    return item
            return None

        what = "event" if event is None else f"event {event!r}"
        await self._wait(lambda: find() is not None, timeout, what)
        item = find()
        assert item is not None
        self._unread.remove(item)
        return item

    # -- listeners on the real socket ----------------------------------------------------

    async def _record(self, name: str, *args: Any) -> None:
        received = ReceivedEvent(name, list(args))
        self.received.append(received)
        self._unread.append(received)
        self._changed.set()

    async def _on_disconnect(self, reason: str, *_: Any) -> None:
        self.disconnect_reason = reason
        self._changed.set()

    async def _wait(
        self,
        predicate: Callable[[], bool],
        timeout: float,  # noqa: ASYNC109 (a test's bound, in its error message)
        what: str,
    ) -> None:
        try:
            async with asyncio.timeout(timeout):
                while not predicate():
                    self._changed.clear()
                    await self._changed.wait()
        except TimeoutError:
            raise TimeoutError(f"{self!r}: no {what} within {timeout} s") from None
