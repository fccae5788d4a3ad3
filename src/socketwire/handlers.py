"""How application callables are run: coroutines on the loop, plain functions in a thread."""

from __future__ import annotations

import asyncio
import inspect
import logging
import threading
from collections.abc import Callable, Coroutine
from types import FunctionType
from typing import Any

__all__ = ["LoopGuard", "ack_args", "ack_value", "call_handler", "fire", "is_async", "spawn"]

logger = logging.getLogger("socketwire.server")

_background: set[asyncio.Task[Any]] = set()


def spawn(coro: Coroutine[Any, Any, Any]) -> asyncio.Task[Any]:
    """Run ``coro`` as a task that is referenced until done and whose failure is logged."""
    task = asyncio.get_running_loop().create_task(coro)
    _background.add(task)
    task.add_done_callback(_done)
    return task


def _done(task: asyncio.Task[Any]) -> None:
    _background.discard(task)
    if not task.cancelled() and task.exception() is not None:
        logger.error("background task failed", exc_info=task.exception())


async def call_handler(fn: Callable[..., Any], *args: Any) -> Any:
    """Call an application handler and return its result.

    A coroutine function is awaited on the event loop. A plain function runs in a worker
    thread (``asyncio.to_thread``) so that it can block without stalling the server; if it
    returns an awaitable, that is awaited too.
    """
    if is_async(fn):
        return await fn(*args)
    result = await asyncio.to_thread(fn, *args)
    if inspect.isawaitable(result):
        return await result
    return result


def is_async(fn: Callable[..., Any]) -> bool:
    """True when [`call_handler()`][call_handler] awaits ``fn(...)`` on the loop (no worker thread).

    Callers on a hot path may then ``await fn(...)`` themselves and save a coroutine.
    """
    if type(fn) is FunctionType:
        # The usual handler, checked on every event: what inspect finds, without its
        # unwrapping of methods and partials (a function is neither).
        return bool(fn.__code__.co_flags & inspect.CO_COROUTINE)
    # A wrapper that knows (socketwire.typed's prepared handlers) says so, for the same reason.
    known = getattr(fn, "is_coroutine_handler", None)
    if known is not None:
        return bool(known)
    # an object whose __call__ is a coroutine function counts too
    return inspect.iscoroutinefunction(fn) or inspect.iscoroutinefunction(
        getattr(fn, "__call__", None)  # noqa: B004 - we want the method, not callable()
    )


def fire(fn: Callable[..., Any], *args: Any) -> None:
    """Call a listener inline; if it returns an awaitable, run that as a task.

    Used for listeners JS calls synchronously (catch-all outgoing listeners): a plain one
    must not block.
    """
    try:
        result = fn(*args)
    except Exception:
        logger.exception("listener %r failed", fn)
        return
    if inspect.isawaitable(result):

        async def wait() -> None:
            await result

        spawn(wait())


class LoopGuard:
    """Remembers the server's event loop so that sync API calls from worker threads (plain
    handlers run in threads) are handed over to it instead of touching sockets concurrently.
    """

    def __init__(self) -> None:
        self.loop: asyncio.AbstractEventLoop | None = None
        self.thread_id: int | None = None

    def bind(self) -> None:
        """Record the running loop (called on the loop, when the first connection arrives)."""
        if self.loop is None:
            self.loop = asyncio.get_running_loop()
            self.thread_id = threading.get_ident()

    def call(self, fn: Callable[..., Any], *args: Any) -> bool:
        """Run ``fn(*args)`` now when on the loop's thread (returns True); otherwise schedule
        it on the loop and return False."""
        if self.loop is None or threading.get_ident() == self.thread_id:
            fn(*args)
            return True
        self.loop.call_soon_threadsafe(fn, *args)
        return False


def ack_args(result: Any) -> list[Any]:
    """The ack arguments a handler's return value stands for: none for None, a tuple's items,
    else the value itself (the one rule for the server, the client and the test client)."""
    if result is None:
        return []
    if isinstance(result, tuple):
        return list(result)
    return [result]


def ack_value(args: list[Any]) -> Any:
    """What an awaited ack returns: None for no argument, the argument, or a tuple of them."""
    if not args:
        return None
    if len(args) == 1:
        return args[0]
    return tuple(args)
