"""``TestSocket``: one namespace of a :class:`~socketwire.testing.TestClient`.

Its protocol state is the client's own :class:`~socketwire.client.state.SocketCore` (CONNECT,
acks, buffering, recovery offsets); this class drives it on asyncio and records what the
server sends, for a test to wait on and assert.
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, NamedTuple, TypeVar, overload

from socketwire.client.ack_timers import AckTimers
from socketwire.client.errors import ConnectError
from socketwire.client.state import (
    Connected,
    ConnectFailed,
    Destroyed,
    Disconnected,
    EventReceived,
    SocketCore,
)
from socketwire.handlers import ack_args, ack_value, call_handler, spawn
from socketwire.socketio import Packet

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
    """One namespace of a :class:`TestClient` (multiplexed over its connection).

    Attributes:
        namespace: the namespace name.
        received: every event received, in order (``receive`` does not remove them).
        connect_error: the server's refusal, if the last connection attempt was refused.
        disconnect_reason: the reason of the last disconnection (socket.io-client's
            reasons: ``"io server disconnect"``, ``"io client disconnect"``,
            ``"transport close"``...), None while connected.
    """

    __test__ = False  # not a test class, whatever pytest thinks of the name

    def __init__(self, client: TestClient, namespace: str, auth: dict[str, Any] | None) -> None:
        """Create the socket (use :meth:`TestClient.socket`)."""
        self._client = client
        self.namespace = namespace
        self.auth = auth
        self._core = SocketCore(namespace)
        self.received: list[ReceivedEvent] = []
        self._unread: deque[ReceivedEvent] = deque()
        self._handlers: dict[str, Callable[..., Any]] = {}
        self._ack_timers = AckTimers(self._core, self._flush)
        self._changed = asyncio.Event()
        self.connect_error: ConnectError | None = None
        self.disconnect_reason: str | None = None

    def __repr__(self) -> str:
        return f"<TestSocket {self.namespace} id={self.id} connected={self.connected}>"

    @property
    def id(self) -> str | None:
        """The socket id the server gave, while connected."""
        return self._core.id

    @property
    def connected(self) -> bool:
        """The namespace is connected."""
        return self._core.connected

    @property
    def recovered(self) -> bool:
        """The last connection recovered the previous session (connection state recovery)."""
        return self._core.recovered

    # -- handlers ------------------------------------------------------------------------

    @overload
    def on(self, event: str) -> Callable[[H], H]: ...
    @overload
    def on(self, event: str, handler: H) -> H: ...

    def on(self, event: str, handler: H | None = None) -> H | Callable[[H], H]:
        """Answer the server's ``event``: ``handler(*args)``'s return value is the ack.

        Needed only for events the server emits with an acknowledgement; every event is
        recorded in :attr:`received` either way. Usable as a decorator.
        """

        def register(fn: H) -> H:
            self._handlers[event] = fn
            return fn

        return register if handler is None else register(handler)

    # -- connection ----------------------------------------------------------------------

    async def connect(self, timeout: float = DEFAULT_TIMEOUT) -> None:  # noqa: ASYNC109
        """Connect the namespace (opening the client's connection if needed).

        Raises:
            ConnectError: the server refused (``message`` and ``data`` are the server's:
                a middleware's :class:`socketwire.ConnectionRefusedError`).
            TimeoutError: no answer within ``timeout`` seconds.
        """
        if self.connected:
            return
        self.connect_error = None
        self._core.activate()
        self._client._socket_connecting(self)
        await self._wait(
            lambda: self.connected or self.connect_error is not None, timeout, "CONNECT"
        )
        if self.connect_error is not None:
            raise self.connect_error

    async def disconnect(self) -> None:
        """Leave the namespace (the server sees ``"client namespace disconnect"``)."""
        self._core.disconnect()
        self._flush()
        await self._client._link_sent()

    async def wait_disconnected(self, timeout: float = DEFAULT_TIMEOUT) -> str:  # noqa: ASYNC109
        """Wait until the namespace is disconnected; return the reason.

        Raises:
            TimeoutError: still connected after ``timeout`` seconds.
        """
        await self._wait(lambda: not self.connected, timeout, "disconnection")
        return self.disconnect_reason or ""

    # -- events --------------------------------------------------------------------------

    async def emit(self, event: str, *args: Any) -> None:
        """Send ``event`` with ``args`` (JSON-able values, ``bytes`` anywhere).

        Returns once the server has received the packet (its handlers run after).
        While disconnected the packet is buffered, as socket.io-client does.

        Raises:
            ValueError: ``event`` is a reserved name.
        """
        self._core.emit([event, *args])
        self._flush()
        await self._client._link_sent()

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
            socketwire.AckTimeoutError: no ack within ``timeout`` seconds (None: no limit).
            socketwire.DisconnectedError: the connection ended first.
        """
        future: asyncio.Future[Any] = asyncio.get_running_loop().create_future()

        def settle(error: BaseException | None, ack: list[Any]) -> None:
            if future.done():
                return
            if error is not None:
                future.set_exception(error)
            else:
                future.set_result(ack_value(ack))

        self._core.emit([event, *args], callback=settle, timeout=timeout)
        self._flush()
        return await future

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

    # -- driven by the client ------------------------------------------------------------

    def _on_open(self) -> None:
        self._core.open(self.auth)
        self._flush()

    def _on_packet(self, packet: Packet) -> None:
        self._core.receive(packet)
        self._flush()

    def _on_error(self, message: str, data: Any = None) -> None:
        if self._core.connected or not self._core.active:
            return
        self._core.on_error(message)
        self._flush()
        if data is not None:
            self.connect_error = ConnectError(message, data)
            self._changed.set()

    def _on_close(self, reason: str) -> None:
        if self._core.connected:
            self._core.on_close(reason)
            self._flush()
        else:
            # the connection ended while this namespace was connecting
            self._on_error(reason)

    def _flush(self) -> None:
        core = self._core
        for packet in core.packets_to_send():
            self._client._send_packet(packet)
        self._ack_timers.apply(core.timers())
        for item in core.events_received():
            if isinstance(item, EventReceived):
                self._on_event(item)
            elif isinstance(item, Connected):
                self.connect_error = None
                self.disconnect_reason = None
            elif isinstance(item, ConnectFailed):
                self.connect_error = ConnectError(item.message, item.data)
            elif isinstance(item, Disconnected):
                self.disconnect_reason = item.reason
            elif isinstance(item, Destroyed):
                self._client._socket_destroyed()
        self._changed.set()

    def _on_event(self, item: EventReceived) -> None:
        name, *args = item.args
        received = ReceivedEvent(name, args)
        self.received.append(received)
        self._unread.append(received)
        handler = self._handlers.get(name)
        if item.ack_id is not None and handler is not None:
            spawn(self._answer(handler, args, item.ack_id))

    async def _answer(self, handler: Callable[..., Any], args: list[Any], ack_id: int) -> None:
        result = await call_handler(handler, *args)
        if self._core.connected:
            self._core.send_ack(ack_id, ack_args(result))
            self._flush()

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
