"""Handlers registered once for every socket of a namespace: ``@sio.event`` and class-based
namespaces, the shapes python-socketio users know.

A route is a handler that takes the socket first, then the event's arguments
(``async def chat(socket, message: Message)``). Its signature is read once, at registration
([`plan_handler()`][socketwire.typed.signature.plan_handler]); when a socket connects, each route is
bound to it and registered with ``socket.on``, so an event costs what a handler registered
by hand costs.

Some names are special:

- ``connect(socket[, auth])`` runs *before* the socket is connected, as python-socketio's
  connect handler does: it is a connection middleware (``nsp.use``), and raising
  ``ConnectionRefusedError`` or returning ``False`` refuses the client. A second parameter
  receives the ``auth`` payload, validated like an event's arguments when annotated; a bad
  one refuses the client with ``CONNECT_ERROR {"message", "data": {"code", "event",
  "issues"}}``.
- ``connection(socket)`` runs once the socket is connected, as JS's ``io.on("connection")``
  (a ``connection`` handler of the namespace).
- ``disconnect(socket, reason)`` and ``disconnecting(socket, reason)``: the socket's
  reserved events.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from socketwire.errors import ConnectionRefusedError, PayloadError
from socketwire.handlers import call_handler
from socketwire.typed.contract import EventContract
from socketwire.typed.signature import HandlerPlan, Validation, plan_handler

if TYPE_CHECKING:
    from socketwire.server.namespace import Namespace
    from socketwire.server.operators import BroadcastOperator
    from socketwire.server.socket import Socket

__all__ = ["NamespaceHandlers", "Routes"]

_RESERVED = frozenset({"disconnect", "disconnecting", "error"})


class Routes:
    """The routes of one namespace, and the connection handler that binds them to each
    socket (registered with the first route)."""

    def __init__(self, nsp: Namespace) -> None:
        self._nsp = nsp
        self._plans: dict[str, list[HandlerPlan]] = {}

    def add(self, event: str, fn: Callable[..., Any]) -> None:
        """Register ``fn(socket, *args)`` for ``event`` on every socket that connects.

        Raises:
            TypeError: ``fn`` cannot take a socket and the event's arguments, or has an
                annotation pydantic cannot validate.
        """
        server = self._nsp.server
        if event == "connection":
            self._nsp.on("connection", fn)
            return
        if event == "connect":
            plan = plan_handler(
                fn, event="connect", mode=server.validation, context=1, check_outgoing=False
            )
            self._nsp.use(_connect_middleware(plan))
            return
        plan = plan_handler(
            fn,
            event=event,
            mode=Validation.OFF if event in _RESERVED else server.validation,
            context=1,
            check_outgoing=server.validate_outgoing,
        )
        if not self._plans:
            self._nsp.on("connection", self.bind)
        self._plans.setdefault(event, []).append(plan)

    async def bind(self, socket: Socket) -> None:
        """Register every route on ``socket`` (the namespace's connection handler)."""
        for event, plans in self._plans.items():
            for plan in plans:
                socket.on(event, plan.bind(socket))

    def contracts(self) -> list[EventContract]:
        """The events these routes receive (reserved events left out), by name."""
        return [
            EventContract.from_signature(event, plans[0].signature)
            for event, plans in sorted(self._plans.items())
            if event not in _RESERVED
        ]


def _connect_middleware(plan: HandlerPlan) -> Callable[[Socket], Any]:
    signature = plan.signature
    wants_auth = bool(signature.arguments) or signature.rest is not None

    async def middleware(socket: Socket) -> None:
        args = (socket.handshake.auth,) if wants_auth else ()
        try:
            result = await call_handler(plan.bind(socket), *args)
        except PayloadError as exc:
            if not exc.rejected:
                raise
            error = exc.to_ack()["error"]
            raise ConnectionRefusedError(error["message"], data=error) from None
        if result is False:
            raise ConnectionRefusedError()

    return middleware


class NamespaceHandlers:
    """Class-based handlers of one namespace (python-socketio's ``AsyncNamespace``).

    Each ``on_<event>`` method handles ``event`` with the socket first
    (``async def on_chat(self, socket, message: Message) -> Reply``); ``on_connect`` (before
    the socket connects: it may refuse it), ``on_connection`` (once connected) and
    ``on_disconnect`` are the special routes of ``socketwire.server.routes``. Register an
    instance with [`Server.register_namespace()`][socketwire.Server.register_namespace].
    The name differs from python-socketio's because [`Namespace`][socketwire.Namespace] is
    the namespace itself (``sio.of("/chat")``, JS's ``Namespace``), which ``nsp`` gives
    once registered.

    Args:
        namespace: The namespace's name (``"/"`` by default).
    """

    def __init__(self, namespace: str = "/") -> None:
        self.namespace = namespace if namespace.startswith("/") else "/" + namespace
        #: The namespace, once registered (None before).
        self.nsp: Namespace | None = None

    def handlers(self) -> dict[str, Callable[..., Any]]:
        """The ``on_<event>`` methods, by event name."""
        found: dict[str, Callable[..., Any]] = {}
        for name, _ in inspect.getmembers(type(self), callable):
            if name.startswith("on_") and len(name) > 3:
                found[name[3:]] = getattr(self, name)
        return found

    def _namespace(self) -> Namespace:
        if self.nsp is None:
            raise RuntimeError(f"{type(self).__name__} is not registered with a server yet")
        return self.nsp

    def emit(self, event: str, *args: Any) -> None:
        """Send ``event`` to every socket of the namespace."""
        self._namespace().emit(event, *args)

    def send(self, *args: Any) -> None:
        """Send a ``message`` event to every socket of the namespace."""
        self._namespace().send(*args)

    def to(self, room: str) -> BroadcastOperator:
        """The sockets of the namespace in ``room``."""
        return self._namespace().to(room)

    def except_(self, room: str) -> BroadcastOperator:
        """The sockets of the namespace not in ``room``."""
        return self._namespace().except_(room)
