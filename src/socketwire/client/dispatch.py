"""Listener registries whose handlers run in order, off the protocol code path.

The client's protocol code (the Manager, the namespace sockets) never calls application code
directly: it queues a job, and one task per registry runs the jobs in order. A coroutine
handler is awaited; a plain one runs in a worker thread (``asyncio.to_thread``), so a slow
handler of either kind never holds up the event loop and its heartbeats.

A namespace socket's registry is *typed*: a handler whose annotations are enforced (see
``socketwire.typed.signature``) is wrapped when registered, and event arguments that do not
validate never reach it: the server gets the error acknowledgement when it asked for one,
and the event is logged at INFO.
"""

from __future__ import annotations

import asyncio
import logging
from collections import deque
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar, overload

from socketwire.errors import PayloadError
from socketwire.handlers import call_handler
from socketwire.socketio import RESERVED_EVENTS
from socketwire.typed.payloads import outgoing_default
from socketwire.typed.signature import prepare

__all__ = ["HasListeners", "Listeners", "logger"]

logger = logging.getLogger("socketwire.client")

H = TypeVar("H", bound=Callable[..., Any])


class Listeners:
    """Named handlers (``on``/``off``) and an ordered job queue that runs them.

    Args:
        owner: Named in the log.
        typed: Enforce the annotations of the handlers of events (not of reserved events).
    """

    def __init__(self, owner: str, *, typed: bool = False) -> None:
        self._owner = owner
        self._typed = typed
        self._handlers: dict[str, list[Callable[..., Any]]] = {}
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
            stored: Callable[..., Any] = fn
            if self._typed and event not in RESERVED_EVENTS:
                stored = prepare(fn, event=event, check_outgoing=outgoing_default())
            self._handlers.setdefault(event, []).append(stored)
            return fn

        return register if handler is None else register(handler)

    def off(self, event: str, handler: Callable[..., Any] | None = None) -> None:
        """Remove ``handler`` from ``event`` (every handler of ``event`` when None)."""
        if handler is None:
            self._handlers.pop(event, None)
        elif handler in self._handlers.get(event, ()):
            self._handlers[event].remove(handler)

    def handlers(self, event: str) -> list[Callable[..., Any]]:
        """A copy of the handlers of ``event``."""
        return list(self._handlers.get(event, ()))

    def emit(self, event: str, *args: Any) -> None:
        """Queue a call of every handler of ``event`` with ``args``."""
        handlers = self.handlers(event)
        if handlers:

            async def job() -> None:
                await self.call_all(handlers, event, args)

            self.enqueue(job)

    async def call_all(
        self, handlers: list[Callable[..., Any]], event: str, args: tuple[Any, ...]
    ) -> list[Any]:
        """Call ``handlers`` one after the other; return their results (a failure is logged
        and stops the chain, as an exception thrown by a JS listener would)."""
        results = []
        for handler in handlers:
            try:
                results.append(await call_handler(handler, *args))
            except PayloadError as exc:
                if not exc.rejected:
                    logger.exception("%r handler on %s failed", event, self._owner)
                elif exc.code == PayloadError.REQUEST:
                    logger.info("invalid arguments received on %s: %s", self._owner, exc)
                    results.append(exc.to_ack())  # the acknowledgement, if one was asked for
                else:
                    logger.error("%r handler on %s returned: %s", event, self._owner, exc)
                    results.append(exc.to_ack())
                break
            except Exception:
                logger.exception("%r handler on %s failed", event, self._owner)
                break
        return results

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
    """``on``/``off`` of an object whose handlers live in a [`Listeners`][Listeners] registry."""

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

    def off(self, event: str, handler: Callable[..., Any] | None = None) -> None:
        """Remove ``handler`` from ``event`` (every handler of ``event`` when None)."""
        self._listeners.off(event, handler)
