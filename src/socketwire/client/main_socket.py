"""The methods an [`AsyncClient`][socketwire.AsyncClient] takes from its main namespace ``"/"``.

``client.on("chat", ...)``, ``client.emit(...)``, ``client.on_any(...)``... act on the
socket of ``"/"`` (``client.main``), as ``io()`` returns the main namespace's socket in
JavaScript. ``on``/``once``/``off`` of a Manager event ([`MANAGER_EVENTS`][MANAGER_EVENTS]) act
on the
client's Manager instead, now and for every Manager the client uses later.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any, TypeVar, overload

if TYPE_CHECKING:
    from socketwire.client.manager import Manager
    from socketwire.client.socket import ClientSocket, SocketEmitter

__all__ = ["MANAGER_EVENTS", "MainSocketMethods"]

H = TypeVar("H", bound=Callable[..., Any])

#: Events that belong to the Manager (socket.io-client: ``socket.io.on(...)``).
MANAGER_EVENTS = frozenset(
    {
        "open",
        "close",
        "error",
        "ping",
        "reconnect_attempt",
        "reconnect",
        "reconnect_error",
        "reconnect_failed",
    }
)


class MainSocketMethods:
    """Listener and emit methods forwarded to ``self.main`` (a mixin of ``AsyncClient``)."""

    io: Manager | None
    # Manager event handlers registered on the client: (event, handler, once).
    _manager_handlers: list[tuple[str, Callable[..., Any], bool]]

    @property
    def main(self) -> ClientSocket:
        """The socket of the main namespace ``"/"``."""
        raise NotImplementedError

    # -- listeners ---------------------------------------------------------------------
    @overload
    def on(self, event: str) -> Callable[[H], H]: ...
    @overload
    def on(self, event: str, handler: H) -> H: ...

    def on(self, event: str, handler: H | None = None) -> H | Callable[[H], H]:
        """Register ``handler`` for an event of ``"/"``, or for a Manager event.

        Without ``handler``, a decorator.
        """

        def register(fn: H) -> H:
            self._register(event, fn, once=False)
            return fn

        return register if handler is None else register(handler)

    @overload
    def once(self, event: str) -> Callable[[H], H]: ...
    @overload
    def once(self, event: str, handler: H) -> H: ...

    def once(self, event: str, handler: H | None = None) -> H | Callable[[H], H]:
        """Like [`on()`][on], for the next ``event`` only."""

        def register(fn: H) -> H:
            self._register(event, fn, once=True)
            return fn

        return register if handler is None else register(handler)

    def _register(self, event: str, fn: Callable[..., Any], *, once: bool) -> None:
        if event not in MANAGER_EVENTS:
            if once:
                self.main.once(event, fn)
            else:
                self.main.on(event, fn)
        elif self.io is not None:
            if once:
                self.io.once(event, fn)
            else:
                self.io.on(event, fn)
                self._manager_handlers.append((event, fn, False))
        else:
            self._manager_handlers.append((event, fn, once))

    def off(self, event: str, handler: Callable[..., Any] | None = None) -> None:
        """Remove ``handler`` from ``event`` (every handler of ``event`` when None)."""
        if event in MANAGER_EVENTS:
            self._manager_handlers = [
                entry
                for entry in self._manager_handlers
                if entry[0] != event or (handler is not None and entry[1] != handler)
            ]
            if self.io is not None:
                self.io.off(event, handler)
        else:
            self.main.off(event, handler)

    def listeners(self, event: str) -> list[Callable[..., Any]]:
        """The handlers of ``event`` (of ``"/"``, or of the Manager for a Manager event)."""
        if event not in MANAGER_EVENTS:
            return self.main.listeners(event)
        if self.io is not None:
            return self.io.listeners(event)
        return [fn for e, fn, _ in self._manager_handlers if e == event]

    def on_any(self, listener: Callable[..., Any]) -> None:
        """See [`ClientSocket.on_any()`][ClientSocket.on_any] (main namespace)."""
        self.main.on_any(listener)

    def prepend_any(self, listener: Callable[..., Any]) -> None:
        """See [`ClientSocket.prepend_any()`][ClientSocket.prepend_any] (main namespace)."""
        self.main.prepend_any(listener)

    def off_any(self, listener: Callable[..., Any] | None = None) -> None:
        """See [`ClientSocket.off_any()`][ClientSocket.off_any] (main namespace)."""
        self.main.off_any(listener)

    def listeners_any(self) -> list[Callable[..., Any]]:
        """See [`ClientSocket.listeners_any()`][ClientSocket.listeners_any] (main namespace)."""
        return self.main.listeners_any()

    def on_any_outgoing(self, listener: Callable[..., Any]) -> None:
        """See [`ClientSocket.on_any_outgoing()`][ClientSocket.on_any_outgoing] (main namespace)."""
        self.main.on_any_outgoing(listener)

    def prepend_any_outgoing(self, listener: Callable[..., Any]) -> None:
        """See [`ClientSocket.prepend_any_outgoing()`][ClientSocket.prepend_any_outgoing]
        (main namespace)."""
        self.main.prepend_any_outgoing(listener)

    def off_any_outgoing(self, listener: Callable[..., Any] | None = None) -> None:
        """See [`ClientSocket.off_any_outgoing()`][ClientSocket.off_any_outgoing] (main
        namespace)."""
        self.main.off_any_outgoing(listener)

    def listeners_any_outgoing(self) -> list[Callable[..., Any]]:
        """See [`ClientSocket.listeners_any_outgoing()`][ClientSocket.listeners_any_outgoing]
        (main namespace)."""
        return self.main.listeners_any_outgoing()

    # -- emitting ----------------------------------------------------------------------
    def emit(self, event: str, *args: Any) -> None:
        """See [`ClientSocket.emit()`][ClientSocket.emit] (main namespace)."""
        self.main.emit(event, *args)

    def send(self, *args: Any) -> None:
        """See [`ClientSocket.send()`][ClientSocket.send] (main namespace)."""
        self.main.send(*args)

    async def emit_with_ack(self, event: str, *args: Any) -> Any:
        """See [`ClientSocket.emit_with_ack()`][ClientSocket.emit_with_ack] (main namespace)."""
        return await self.main.emit_with_ack(event, *args)

    def timeout(self, seconds: float) -> SocketEmitter:
        """See [`ClientSocket.timeout()`][ClientSocket.timeout] (main namespace)."""
        return self.main.timeout(seconds)

    @property
    def volatile(self) -> SocketEmitter:
        """See [`ClientSocket.volatile`][ClientSocket.volatile] (main namespace)."""
        return self.main.volatile
