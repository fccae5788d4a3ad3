"""Listener registries whose handlers run in order, off the protocol code path.

The client's protocol code (the Manager, the namespace sockets) never calls application code
directly: it queues a job, and one task per registry runs the jobs in order. A coroutine
handler is awaited; a plain one runs in a worker thread (``asyncio.to_thread``), so a slow
handler of either kind never holds up the event loop and its heartbeats. A handler gets as
many of the event's arguments as it declares
([`socketwire.client.arity`][socketwire.client.arity]), typed or not: the cut comes first.

A namespace socket's registry is *typed*: a handler's signature is read when it is
registered (see ``socketwire.typed.signature``), so a handler whose annotations are enforced
is wrapped, and event arguments that do not validate never reach it (the server gets the
error acknowledgement when it asked for one), and a handler that declares an
[`Ack`][socketwire.Ack] gets its handle (a parameter that takes no event argument). The
socket runs an event's handlers with ``socketwire.handlers.run_event_handlers()``, as the
server does.
"""

from __future__ import annotations

import asyncio
import logging
from collections import deque
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar, overload

from socketwire.client.arity import fit_arguments
from socketwire.handlers import TakesAck, call_handler
from socketwire.socketio import RESERVED_EVENTS
from socketwire.typed.payloads import outgoing_default
from socketwire.typed.signature import prepare

__all__ = ["Handler", "HasListeners", "Listeners", "fit", "logger"]

logger = logging.getLogger("socketwire.client")

H = TypeVar("H", bound=Callable[..., Any])


@dataclass(frozen=True, slots=True)
class Handler:
    """A registered handler: what is called (``call``: the validating wrapper of a typed
    handler, or the handler itself), what the application registered (``original``: its
    arity, and what ``off`` and ``listeners`` know), and whether it runs once."""

    call: Callable[..., Any]
    original: Callable[..., Any]
    once: bool = False


def fit(handler: Handler, args: Sequence[Any]) -> tuple[Any, ...]:
    """The event's ``args`` cut to what ``handler`` declares (its ``Ack``, filled by keyword,
    takes none of them)."""
    call = handler.call
    keyword = call.name if isinstance(call, TakesAck) else None
    return fit_arguments(handler.original, args, keyword=keyword)


class Listeners:
    """Named handlers (``on``/``once``/``off``) and an ordered job queue that runs them.

    Args:
        owner: Named in the log.
        typed: Enforce the annotations of the handlers of events (not of reserved events).
    """

    def __init__(self, owner: str, *, typed: bool = False) -> None:
        self._owner = owner
        self._typed = typed
        self._handlers: dict[str, list[Handler]] = {}
        self._jobs: deque[Callable[[], Awaitable[object]]] = deque()
        self._runner: asyncio.Task[None] | None = None
        self._idle = asyncio.Event()
        self._idle.set()

    @overload
    def on(self, event: str) -> Callable[[H], H]: ...
    @overload
    def on(self, event: str, handler: H) -> H: ...

    def on(self, event: str, handler: H | None = None) -> H | Callable[[H], H]:
        """Register ``handler`` for ``event``; without ``handler``, a decorator."""

        def register(fn: H) -> H:
            self._add(event, fn, once=False)
            return fn

        return register if handler is None else register(handler)

    def once(self, event: str, handler: Callable[..., Any]) -> None:
        """Register ``handler`` for the next ``event`` only."""
        self._add(event, handler, once=True)

    def _add(self, event: str, fn: Callable[..., Any], *, once: bool) -> None:
        call = fn
        if self._typed and event not in RESERVED_EVENTS:
            call = prepare(fn, event=event, check_outgoing=outgoing_default())
        self._handlers.setdefault(event, []).append(Handler(call, fn, once))

    def off(self, event: str, handler: Callable[..., Any] | None = None) -> None:
        """Remove ``handler`` from ``event`` (every handler of ``event`` when None)."""
        if handler is None:
            self._handlers.pop(event, None)
            return
        entries = self._handlers.get(event, [])
        for i, entry in enumerate(entries):
            if entry.original == handler:
                del entries[i]
                return

    def handlers(self, event: str) -> list[Callable[..., Any]]:
        """The handlers of ``event`` as the application registered them, in order."""
        return [entry.original for entry in self._handlers.get(event, ())]

    def take(self, event: str) -> list[Handler]:
        """The handlers an ``event`` happening now calls: the ``once`` ones are removed."""
        entries = self._handlers.get(event)
        if not entries:
            return []
        if any(entry.once for entry in entries):
            self._handlers[event] = [entry for entry in entries if not entry.once]
        return list(entries)

    def emit(self, event: str, *args: Any) -> None:
        """Queue a call of every handler of ``event`` with ``args``."""
        handlers = self.take(event)
        if handlers:

            async def job() -> None:
                await self.call_all(handlers, event, args)

            self.enqueue(job)

    async def call_all(self, handlers: list[Handler], event: str, args: tuple[Any, ...]) -> None:
        """Call ``handlers`` one after the other, each with as many of ``args`` as it
        declares (a failure is logged and stops the chain, as an exception thrown by a JS
        listener would). The handlers of a socket's events go through
        ``socketwire.handlers.run_event_handlers()`` instead, for their acknowledgement."""
        for handler in handlers:
            try:
                await call_handler(handler.call, *fit(handler, args))
            except Exception:
                logger.exception("%r handler on %s failed", event, self._owner)
                break

    def enqueue(self, job: Callable[[], Awaitable[object]]) -> None:
        """Run ``job`` after the jobs already queued."""
        self._jobs.append(job)
        self._idle.clear()
        if self._runner is None:
            self._runner = asyncio.get_running_loop().create_task(
                self._run(), name=f"socketwire-client-handlers:{self._owner}"
            )

    async def _run(self) -> None:
        try:
            while self._jobs:
                job = self._jobs.popleft()
                try:
                    await job()
                except Exception:
                    logger.exception("handler job on %s failed", self._owner)
        finally:
            self._runner = None
            if not self._jobs:
                self._idle.set()

    async def drain(self) -> None:
        """Wait until every queued job has run."""
        while not self._idle.is_set():
            await self._idle.wait()


class HasListeners:
    """``on``/``once``/``off`` of an object whose handlers live in a
    [`Listeners`][Listeners] registry."""

    _listeners: Listeners

    @overload
    def on(self, event: str) -> Callable[[H], H]: ...
    @overload
    def on(self, event: str, handler: H) -> H: ...

    def on(self, event: str, handler: H | None = None) -> H | Callable[[H], H]:
        """Register ``handler`` for ``event``; without ``handler``, a decorator."""
        if handler is None:
            return self._listeners.on(event)
        return self._listeners.on(event, handler)

    @overload
    def once(self, event: str) -> Callable[[H], H]: ...
    @overload
    def once(self, event: str, handler: H) -> H: ...

    def once(self, event: str, handler: H | None = None) -> H | Callable[[H], H]:
        """Register ``handler`` for the next ``event`` only; without ``handler``, a
        decorator."""

        def register(fn: H) -> H:
            self._listeners.once(event, fn)
            return fn

        return register if handler is None else register(handler)

    def off(self, event: str, handler: Callable[..., Any] | None = None) -> None:
        """Remove ``handler`` from ``event`` (every handler of ``event`` when None)."""
        self._listeners.off(event, handler)

    def listeners(self, event: str) -> list[Callable[..., Any]]:
        """The handlers of ``event``, in order."""
        return self._listeners.handlers(event)
