"""``SyncClient``: a blocking facade over [`AsyncClient`][socketwire.client.client.AsyncClient].

An event loop runs in a background thread; every method hands its work to that loop and
waits for the result. There is no protocol logic here: features, options and behaviour are
the async client's.

Handlers registered with [`SyncClient.on()`][SyncClient.on] run as the async client runs them: a
plain function in a worker thread (it may block, and may call this client's methods), a coroutine
function on the background loop (it must not call this client's blocking methods: use
``client.aio``, the async client, there).

For example:

```python
with socketwire.SyncClient() as client:
    client.on("news", print)
    client.connect("http://127.0.0.1:3000")
    print(client.timeout(5).emit_with_ack("hello", 1))
```
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable, Coroutine, Iterable, Mapping, Sequence
from types import TracebackType
from typing import Any, TypeVar, overload

from socketwire.client.client import AsyncClient
from socketwire.client.socket import Auth, ClientSocket, SocketEmitter

__all__ = ["LoopThread", "SyncClient", "SyncEmitter", "SyncSocket"]

T = TypeVar("T")
H = TypeVar("H", bound=Callable[..., Any])
_UNSET: Any = object()


class LoopThread:
    """An event loop running in a daemon thread (the engine of the blocking facades)."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self._thread = threading.Thread(
            target=self._run, name="socketwire-sync-client", daemon=True
        )
        self._thread.start()

    def _run(self) -> None:
        asyncio.set_event_loop(self.loop)
        self.loop.run_forever()

    def run(self, coro: Coroutine[Any, Any, T], timeout: float | None = None) -> T:
        """Run ``coro`` on the loop and wait for its result."""
        if threading.get_ident() == self._thread.ident:
            coro.close()
            raise RuntimeError(
                "a blocking SyncClient method was called on its own event loop (from a "
                "coroutine handler): use the async client (client.aio) there"
            )
        future = asyncio.run_coroutine_threadsafe(coro, self.loop)
        try:
            return future.result(timeout)
        except TimeoutError:
            future.cancel()
            raise

    def call(self, fn: Callable[[], T]) -> T:
        """Run the plain callable ``fn`` on the loop and wait for its result."""

        async def wrapper() -> T:
            return fn()

        return self.run(wrapper())

    def close_with(self, last: Callable[[], Coroutine[Any, Any, Any]]) -> None:
        """Run ``last()`` on the loop (a facade's disconnect), then stop it; nothing once
        stopped (what the blocking facades' ``close()`` does)."""
        if self.loop.is_closed():
            return
        try:
            self.run(last())
        finally:
            self.stop()

    def stop(self) -> None:
        """Stop the loop and its thread (after cancelling what still runs on it)."""
        if self.loop.is_closed():
            return

        async def cancel_rest() -> None:
            current = asyncio.current_task()
            tasks = [t for t in asyncio.all_tasks() if t is not current]
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            await self.loop.shutdown_default_executor()

        if threading.get_ident() != self._thread.ident:
            asyncio.run_coroutine_threadsafe(cancel_rest(), self.loop).result()
            self.loop.call_soon_threadsafe(self.loop.stop)
            self._thread.join()
            self.loop.close()


class _SyncEmitting:
    _loop: LoopThread
    _target: ClientSocket | SocketEmitter

    def emit(self, event: str, *args: Any) -> None:
        """See [`ClientSocket.emit()`][socketwire.client.socket.ClientSocket.emit]."""
        target = self._target
        self._loop.call(lambda: target.emit(event, *args))

    def send(self, *args: Any) -> None:
        """Emit a ``"message"`` event."""
        self.emit("message", *args)

    def emit_with_ack(self, event: str, *args: Any) -> Any:
        """See [`ClientSocket.emit_with_ack()`][socketwire.client.socket.ClientSocket.emit_with_ack]
        (blocking)."""
        return self._loop.run(self._target.emit_with_ack(event, *args))

    def timeout(self, seconds: float) -> SyncEmitter:
        """See [`ClientSocket.timeout()`][socketwire.client.socket.ClientSocket.timeout]."""
        return SyncEmitter(self._loop, self._target.timeout(seconds))

    @property
    def volatile(self) -> SyncEmitter:
        """See [`ClientSocket.volatile`][socketwire.client.socket.ClientSocket.volatile]."""
        return SyncEmitter(self._loop, self._target.volatile)


class _SyncView:
    """What [`SyncSocket`][SyncSocket] and [`SyncClient`][SyncClient] forward to asyncio."""

    _loop: LoopThread
    aio: ClientSocket | AsyncClient

    @property
    def connected(self) -> bool:
        """The namespace is connected (a client: every namespace given to ``connect``)."""
        return self.aio.connected

    @property
    def id(self) -> str | None:
        """The socket id while connected (a client: its main namespace's)."""
        return self.aio.id

    @property
    def recovered(self) -> bool:
        """The last connection recovered the previous session (a client: main namespace)."""
        return self.aio.recovered

    @overload
    def on(self, event: str) -> Callable[[H], H]: ...
    @overload
    def on(self, event: str, handler: H) -> H: ...

    def on(self, event: str, handler: H | None = None) -> H | Callable[[H], H]:
        """See [`ClientSocket.on()`][socketwire.client.socket.ClientSocket.on] (``AsyncClient.on``:
        client)."""

        def register(fn: H) -> H:
            self._loop.call(lambda: self.aio.on(event, fn))
            return fn

        return register if handler is None else register(handler)

    @overload
    def once(self, event: str) -> Callable[[H], H]: ...
    @overload
    def once(self, event: str, handler: H) -> H: ...

    def once(self, event: str, handler: H | None = None) -> H | Callable[[H], H]:
        """See [`ClientSocket.once()`][socketwire.client.socket.ClientSocket.once]
        (``AsyncClient.once``)."""

        def register(fn: H) -> H:
            self._loop.call(lambda: self.aio.once(event, fn))
            return fn

        return register if handler is None else register(handler)

    def off(self, event: str, handler: Callable[..., Any] | None = None) -> None:
        """See [`ClientSocket.off()`][socketwire.client.socket.ClientSocket.off]
        (``AsyncClient.off``: client)."""
        self._loop.call(lambda: self.aio.off(event, handler))

    def listeners(self, event: str) -> list[Callable[..., Any]]:
        """See [`ClientSocket.listeners()`][socketwire.client.socket.ClientSocket.listeners]."""
        return self._loop.call(lambda: self.aio.listeners(event))

    def on_any(self, listener: Callable[..., Any]) -> None:
        """See [`ClientSocket.on_any()`][socketwire.client.socket.ClientSocket.on_any] (main
        namespace on a client)."""
        self._loop.call(lambda: self.aio.on_any(listener))

    def prepend_any(self, listener: Callable[..., Any]) -> None:
        """See [`ClientSocket.prepend_any()`][socketwire.client.socket.ClientSocket.prepend_any]."""
        self._loop.call(lambda: self.aio.prepend_any(listener))

    def off_any(self, listener: Callable[..., Any] | None = None) -> None:
        """See [`ClientSocket.off_any()`][socketwire.client.socket.ClientSocket.off_any]."""
        self._loop.call(lambda: self.aio.off_any(listener))

    def listeners_any(self) -> list[Callable[..., Any]]:
        """See
        [`ClientSocket.listeners_any()`][socketwire.client.socket.ClientSocket.listeners_any]."""
        return self._loop.call(self.aio.listeners_any)

    def on_any_outgoing(self, listener: Callable[..., Any]) -> None:
        """See
        [`ClientSocket.on_any_outgoing()`][socketwire.client.socket.ClientSocket.on_any_outgoing]
        (main namespace)."""
        self._loop.call(lambda: self.aio.on_any_outgoing(listener))

    def prepend_any_outgoing(self, listener: Callable[..., Any]) -> None:
        """See
        [`ClientSocket.prepend_any_outgoing()`][socketwire.client.socket.ClientSocket.prepend_any_outgoing]."""
        self._loop.call(lambda: self.aio.prepend_any_outgoing(listener))

    def off_any_outgoing(self, listener: Callable[..., Any] | None = None) -> None:
        """See
        [`ClientSocket.off_any_outgoing()`][socketwire.client.socket.ClientSocket.off_any_outgoing]."""
        self._loop.call(lambda: self.aio.off_any_outgoing(listener))

    def listeners_any_outgoing(self) -> list[Callable[..., Any]]:
        """See
        [`ClientSocket.listeners_any_outgoing()`][socketwire.client.socket.ClientSocket.listeners_any_outgoing]."""
        return self._loop.call(self.aio.listeners_any_outgoing)


class SyncEmitter(_SyncEmitting):
    """A blocking socket with emit flags set."""

    def __init__(self, loop: LoopThread, target: SocketEmitter) -> None:
        self._loop = loop
        self._target = target


class SyncSocket(_SyncView, _SyncEmitting):
    """The blocking view of one namespace socket ([`SyncClient.socket()`][SyncClient.socket])."""

    aio: ClientSocket

    def __init__(self, loop: LoopThread, sock: ClientSocket) -> None:
        self._loop = loop
        self._target = sock
        #: The async socket.
        self.aio = sock

    def connect(self) -> None:
        """Connect this namespace over the client's connection (returns at once)."""
        self._loop.call(self.aio.connect)

    def disconnect(self) -> None:
        """Leave this namespace."""
        self._loop.call(self.aio.disconnect)


class SyncClient(_SyncView, _SyncEmitting):
    """A blocking Socket.IO client: [`AsyncClient`][socketwire.client.client.AsyncClient] run on an
    event loop in a background thread.

    Takes the async client's options. Call [`close()`][close] (or use ``with``) to stop the
    background thread.
    """

    aio: AsyncClient

    def __init__(self, **options: Any) -> None:
        self._loop = LoopThread()

        async def create() -> AsyncClient:
            return AsyncClient(**options)

        try:
            #: The async client (use it from coroutine handlers).
            self.aio = self._loop.run(create())
        except BaseException:
            self._loop.stop()
            raise
        self._target = self.aio.main
        self._sockets: dict[str, SyncSocket] = {}

    def __enter__(self) -> SyncClient:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def socket(self, nsp: str = "/") -> SyncSocket:
        """The blocking view of namespace ``nsp``."""
        sock = self._sockets.get(nsp)
        if sock is None:
            sock = SyncSocket(self._loop, self._loop.call(lambda: self.aio.socket(nsp)))
            self._sockets[nsp] = sock
        return sock

    def connect(
        self,
        url: str,
        *,
        namespaces: Iterable[str] | None = None,
        auth: Auth = _UNSET,
        transports: Sequence[str] | None = None,
        headers: Mapping[str, str] | None = None,
        wait: bool = True,
        wait_timeout: float | None = None,
        retry: bool = False,
    ) -> None:
        """See [`AsyncClient.connect()`][socketwire.client.client.AsyncClient.connect] (blocking):
        raises at
        the first failed attempt unless ``retry``."""
        extra: dict[str, Any] = {} if auth is _UNSET else {"auth": auth}
        self._loop.run(
            self.aio.connect(
                url,
                namespaces=namespaces,
                transports=transports,
                headers=headers,
                wait=wait,
                wait_timeout=wait_timeout,
                retry=retry,
                **extra,
            )
        )

    def wait(self, timeout: float | None = None) -> bool:
        """Block until the client is done (see ``AsyncClient.wait``); False on timeout."""
        try:
            self._loop.run(self.aio.wait(), timeout)
        except TimeoutError:
            return False
        return True

    def disconnect(self) -> None:
        """See [`AsyncClient.disconnect()`][socketwire.client.client.AsyncClient.disconnect]
        (blocking)."""
        self._loop.run(self.aio.disconnect())

    def close(self) -> None:
        """Disconnect and stop the background event loop."""
        self._loop.close_with(self.aio.disconnect)
