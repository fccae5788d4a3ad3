"""``SimpleClient``: a pull-style client for scripts and tests (python-socketio's API).

Where [`AsyncClient`][socketwire.client.client.AsyncClient] calls handlers as events arrive, a
simple client keeps them in order until [`SimpleClient.receive()`][SimpleClient.receive] asks
for the next one:

```python
async with socketwire.SimpleClient() as client:
    await client.connect("http://127.0.0.1:8000")
    await client.emit("chat", "hello")
    print(await client.call("chat", "hi"))  # the server's ack
    name, args = await client.receive(timeout=5)
```

[`SyncSimpleClient`][SyncSimpleClient] is the same for code without asyncio (a blocking
facade, as [`SyncClient`][socketwire.client.sync.SyncClient]). Both connect one namespace; the
underlying client is ``.client`` (its handlers, reconnection, every option).
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Mapping, Sequence
from types import TracebackType
from typing import Any, NamedTuple

from socketwire.client.client import AsyncClient
from socketwire.client.errors import DisconnectedError
from socketwire.client.socket import Auth
from socketwire.client.sync import LoopThread

__all__ = ["ReceivedEvent", "SimpleClient", "SyncSimpleClient"]

_UNSET: Any = object()


class ReceivedEvent(NamedTuple):
    """An event the server sent: its ``name`` and ``args`` (the offset of connection state
    recovery removed)."""

    name: str
    args: list[Any]


class SimpleClient:
    """A Socket.IO client whose events are pulled with [`receive()`][receive].

    Args:
        max_queued_events: the most events kept for [`receive()`][receive]; one more disconnects
            the client (``receive`` returns the events kept, then raises), so a script that
            stops reading cannot grow memory without bound.
        **options: the options of [`AsyncClient`][socketwire.AsyncClient].

    Events the server sends with an acknowledgement request are queued too but not
    answered; register a handler for those on ``client`` (``client.client.on(...)``).
    """

    def __init__(self, *, max_queued_events: int = 1000, **options: Any) -> None:
        if max_queued_events < 1:
            raise ValueError("max_queued_events must be >= 1")
        #: The underlying [`AsyncClient`][socketwire.AsyncClient].
        self.client = AsyncClient(**options)
        self.namespace = "/"
        self._max = max_queued_events
        self._events: deque[ReceivedEvent] = deque()
        self._changed = asyncio.Event()
        self._overflow: str | None = None
        self._closing: asyncio.Task[None] | None = None

    def __repr__(self) -> str:
        return f"<SimpleClient {self.namespace} id={self.id} queued={len(self._events)}>"

    @property
    def id(self) -> str | None:
        """The socket id while connected (python-socketio's ``sid``)."""
        return self.client.socket(self.namespace).id

    sid = id

    @property
    def connected(self) -> bool:
        """The namespace is connected."""
        return self.client.socket(self.namespace).connected

    @property
    def transport(self) -> str | None:
        """``"polling"`` or ``"websocket"`` while connected."""
        manager = self.client.io
        engine = manager.engine if manager is not None else None
        transport = engine.transport if engine is not None else None
        return str(transport) if transport is not None and self.connected else None

    async def connect(
        self,
        url: str,
        *,
        namespace: str = "/",
        auth: Auth = _UNSET,
        transports: Sequence[str] | None = None,
        headers: Mapping[str, str] | None = None,
        wait_timeout: float | None = 5.0,
        retry: bool = False,
    ) -> None:
        """Connect ``namespace``; see
        [`AsyncClient.connect()`][socketwire.client.client.AsyncClient.connect].

        Raises:
            ConnectError: the connection failed or was refused (a ``TransportError`` when
                the server could not be reached), or ``wait_timeout`` elapsed.
        """
        self.namespace = namespace
        sock = self.client.socket(namespace)
        if self._record not in sock.listeners_any():
            sock.on_any(self._record)
            sock.on("disconnect", self._woken)
            self.client.on("reconnect_failed", self._woken)
        extra: dict[str, Any] = {} if auth is _UNSET else {"auth": auth}
        await self.client.connect(
            url,
            namespaces=[namespace],
            transports=transports,
            headers=headers,
            wait_timeout=wait_timeout,
            retry=retry,
            **extra,
        )

    async def emit(self, event: str, *args: Any) -> None:
        """Send ``event`` with ``args`` (buffered while reconnecting, as the client's)."""
        self.client.socket(self.namespace).emit(event, *args)

    async def call(self, event: str, *args: Any, timeout: float | None = 60.0) -> Any:  # noqa: ASYNC109
        """Send ``event`` and return the server's acknowledgement.

        Raises:
            AckTimeoutError: no acknowledgement within ``timeout`` seconds (None: no limit).
            DisconnectedError: the connection ended first.
        """
        sock = self.client.socket(self.namespace)
        if timeout is None:
            return await sock.emit_with_ack(event, *args)
        return await sock.timeout(timeout).emit_with_ack(event, *args)

    async def receive(self, timeout: float | None = None) -> ReceivedEvent:  # noqa: ASYNC109
        """Return the next event from the server, waiting for it if needed.

        Events received while nobody was asking are kept (up to ``max_queued_events``) and
        returned first, in order. While the client reconnects, ``receive`` waits.

        Raises:
            TimeoutError: no event within ``timeout`` seconds (None: no limit).
            DisconnectedError: the client is disconnected for good (by either side, or the
                reconnection attempts ran out, or the queue overflowed) and every event
                received before was returned.
        """
        async with asyncio.timeout(timeout):
            while not self._events:
                if self._overflow is not None:
                    raise DisconnectedError(self._overflow)
                if self._done():
                    raise DisconnectedError("the client is disconnected")
                self._changed.clear()
                await self._changed.wait()
        return self._events.popleft()

    async def disconnect(self) -> None:
        """Leave the namespace and close the connection."""
        await self.client.disconnect()
        if self._closing is not None:
            await self._closing

    async def __aenter__(self) -> SimpleClient:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.disconnect()

    # -- internals ---------------------------------------------------------------------
    async def _record(self, event: str, *args: Any) -> None:
        if self._overflow is not None:
            return
        if len(self._events) >= self._max:
            self._overflow = f"receive queue full: {self._max} events not read"
            self._closing = asyncio.get_running_loop().create_task(self.client.disconnect())
        else:
            self._events.append(ReceivedEvent(event, list(args)))
        self._changed.set()

    async def _woken(self, *args: Any) -> None:
        self._changed.set()

    def _done(self) -> bool:
        sock = self.client.socket(self.namespace)
        if not sock.active:
            return True
        manager = self.client.io
        return manager is not None and not sock.connected and not manager.reconnecting


class SyncSimpleClient:
    """The blocking [`SimpleClient`][SimpleClient]: it runs on an event loop in a background thread.

    Takes the same arguments. Call [`close()`][close] (or use ``with``) to stop the thread.
    """

    def __init__(self, *, max_queued_events: int = 1000, **options: Any) -> None:
        self._loop = LoopThread()

        async def create() -> SimpleClient:
            return SimpleClient(max_queued_events=max_queued_events, **options)

        try:
            #: The async [`SimpleClient`][SimpleClient] (use it from coroutine handlers).
            self.aio = self._loop.run(create())
        except BaseException:
            self._loop.stop()
            raise

    @property
    def id(self) -> str | None:
        """The socket id while connected."""
        return self.aio.id

    sid = id

    @property
    def connected(self) -> bool:
        """The namespace is connected."""
        return self.aio.connected

    @property
    def transport(self) -> str | None:
        """``"polling"`` or ``"websocket"`` while connected."""
        return self.aio.transport

    def connect(
        self,
        url: str,
        *,
        namespace: str = "/",
        auth: Auth = _UNSET,
        transports: Sequence[str] | None = None,
        headers: Mapping[str, str] | None = None,
        wait_timeout: float | None = 5.0,
        retry: bool = False,
    ) -> None:
        """See [`SimpleClient.connect()`][SimpleClient.connect] (blocking)."""
        extra: dict[str, Any] = {} if auth is _UNSET else {"auth": auth}
        self._loop.run(
            self.aio.connect(
                url,
                namespace=namespace,
                transports=transports,
                headers=headers,
                wait_timeout=wait_timeout,
                retry=retry,
                **extra,
            )
        )

    def emit(self, event: str, *args: Any) -> None:
        """See [`SimpleClient.emit()`][SimpleClient.emit]."""
        self._loop.run(self.aio.emit(event, *args))

    def call(self, event: str, *args: Any, timeout: float | None = 60.0) -> Any:
        """See [`SimpleClient.call()`][SimpleClient.call] (blocking)."""
        return self._loop.run(self.aio.call(event, *args, timeout=timeout))

    def receive(self, timeout: float | None = None) -> ReceivedEvent:
        """See [`SimpleClient.receive()`][SimpleClient.receive] (blocking)."""
        return self._loop.run(self.aio.receive(timeout))

    def disconnect(self) -> None:
        """See [`SimpleClient.disconnect()`][SimpleClient.disconnect] (blocking)."""
        self._loop.run(self.aio.disconnect())

    def close(self) -> None:
        """Disconnect and stop the background event loop."""
        self._loop.close_with(self.aio.disconnect)

    def __enter__(self) -> SyncSimpleClient:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()
