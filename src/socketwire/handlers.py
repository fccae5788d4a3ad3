"""How application callables are run: coroutines on the loop, plain functions in a thread;
and how an event's handlers answer its acknowledgement (their return value, or an
[`Ack`][Ack] handle they declare).
"""

from __future__ import annotations

import asyncio
import inspect
import logging
import sys
import threading
from collections.abc import Awaitable, Callable, Coroutine, Sequence
from types import FunctionType
from typing import Any, Final

from socketwire.errors import AckAlreadySentError, PayloadError

__all__ = [
    "EAGER_TASKS",
    "Ack",
    "LoopGuard",
    "TakesAck",
    "ack_args",
    "ack_value",
    "call_handler",
    "fire",
    "is_async",
    "run_event_handlers",
    "spawn",
    "start_task",
]

logger = logging.getLogger("socketwire.server")

_background: set[asyncio.Task[Any]] = set()


def spawn(coro: Coroutine[Any, Any, Any]) -> asyncio.Task[Any]:
    """Run ``coro`` as a task that is referenced until done and whose failure is logged."""
    task = asyncio.get_running_loop().create_task(coro)
    _background.add(task)
    task.add_done_callback(_done)
    return task


#: True where [`start_task()`][start_task] runs a task's first step at once (Python 3.12+).
EAGER_TASKS = sys.version_info >= (3, 12)

if sys.version_info >= (3, 12):

    def start_task(
        coro: Coroutine[Any, Any, Any], loop: asyncio.AbstractEventLoop
    ) -> asyncio.Task[Any]:
        """Run ``coro`` in a new task on ``loop`` (running, and this thread's), its first
        step at once: an eager task (Python 3.12+).

        The coroutine runs as in any task (``asyncio.current_task()`` is its task,
        ``asyncio.timeout()`` works, it has its own copy of the context), but up to its first
        suspension it runs inside this call, without a round trip through the loop's ready
        queue; a coroutine that never suspends is done when this returns. A task factory
        the application installed on the loop is used instead, as ``loop.create_task``.
        """
        if loop.get_task_factory() is None:
            return asyncio.Task(coro, loop=loop, eager_start=True)
        return loop.create_task(coro)

else:

    def start_task(
        coro: Coroutine[Any, Any, Any], loop: asyncio.AbstractEventLoop
    ) -> asyncio.Task[Any]:
        """Run ``coro`` in a new task on ``loop`` (``loop.create_task``: Python 3.11 has no
        eager tasks, the first step waits for the loop's next iteration)."""
        return loop.create_task(coro)


def _done(task: asyncio.Task[Any]) -> None:
    _background.discard(task)
    if not task.cancelled() and task.exception() is not None:
        logger.error("background task failed", exc_info=task.exception())


async def call_handler(fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
    """Call an application handler and return its result.

    A coroutine function is awaited on the event loop. A plain function runs in a worker
    thread (``asyncio.to_thread``) so that it can block without stalling the server; if it
    returns an awaitable, that is awaited too.
    """
    if is_async(fn):
        return await fn(*args, **kwargs)
    result = await asyncio.to_thread(fn, *args, **kwargs)
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


# -- acknowledgements --------------------------------------------------------------------


class _Claim:
    """What every handle of one event shares: how to answer, and whether it was."""

    __slots__ = ("answer", "lock", "sent")

    def __init__(self, answer: Callable[[list[Any]], object] | None) -> None:
        self.answer = answer
        self.sent = False
        self.lock = threading.Lock()

    def take(self) -> bool:
        with self.lock:
            if self.sent:
                return False
            self.sent = True
            return True


class Ack:
    """The acknowledgement of one event, for a handler that declares it.

    A handler with a parameter annotated ``Ack`` gets this handle instead of answering with
    its return value (JS listeners get the ack callback the same way):

    ```python
    @socket.on("job")
    async def job(spec: dict, ack: socketwire.Ack) -> None:
        queue.put((spec, ack))  # a worker calls ack(result) later, from any thread
    ```

    Call it once, with the acknowledgement's arguments: ``ack()`` sends none, ``ack(None)``
    one null (JS ``cb(null)``), ``ack(a, b)`` two. It may be called from any task or thread,
    after the handler has returned, or never (the peer's own timeout then decides). Calling
    it when the peer did not ask for an acknowledgement ([`requested`][requested] False), or
    once the connection is gone, sends nothing. A typed handler's handle serialises what it
    sends as its return value would be (models become dicts).

    Raises:
        AckAlreadySentError: on a second call (an event has one acknowledgement).
    """

    __slots__ = ("_claim", "_convert")

    def __init__(self, answer: Callable[[list[Any]], object] | None) -> None:
        """Made by the dispatcher: ``answer(args)`` sends the ACK packet (from any thread);
        None when the peer did not ask for one."""
        self._claim = _Claim(answer)
        self._convert: Callable[[Any], Any] | None = None

    @property
    def requested(self) -> bool:
        """True when the peer asked for an acknowledgement (the event has an ack id)."""
        return self._claim.answer is not None

    @property
    def sent(self) -> bool:
        """True once the handle was called (or the return value answered for it)."""
        return self._claim.sent

    def __call__(self, *args: Any) -> None:
        """Send the acknowledgement with ``args`` (once)."""
        convert = self._convert
        values = list(args) if convert is None else [convert(value) for value in args]
        claim = self._claim
        if not claim.take():
            raise AckAlreadySentError("this event's acknowledgement was already sent")
        if claim.answer is not None:
            claim.answer(values)

    def converting(self, convert: Callable[[Any], Any]) -> Ack:
        """The same acknowledgement (one answer between them), whose arguments go through
        ``convert`` first (what a typed handler's handle does)."""
        view = object.__new__(Ack)
        view._claim = self._claim
        view._convert = convert
        return view

    def settle(self, args: list[Any]) -> None:
        """Send ``args`` unless the handle was already called (the dispatcher answering with
        a return value, or the error acknowledgement; never raises)."""
        claim = self._claim
        if claim.take() and claim.answer is not None:
            claim.answer(args)

    def __repr__(self) -> str:
        state = "sent" if self.sent else "pending" if self.requested else "not requested"
        return f"<Ack {state}>"


class TakesAck:
    """A handler with an [`Ack`][Ack] parameter, as a registry stores it (built where the
    handler's signature is read: [`socketwire.typed.signature`][socketwire.typed.signature]).

    It compares equal to the handler (so ``off(event, handler)`` removes it). Called as a
    plain handler, it gets a handle that sends nothing. A wrapper that does more around such
    a handler (a typed handler's validation) subclasses it and overrides [`call()`][call]:
    [`run_event_handlers()`][run_event_handlers] recognises it by its class.

    Attributes:
        fn: The application's handler.
        name: The name of its ``Ack`` parameter (passed by keyword).
        context: Passed before the event's arguments (the socket, for ``@sio.event``).
    """

    __slots__ = ("context", "fn", "name")
    #: what is_async() reads: __call__ and call() are awaited on the loop
    is_coroutine_handler = True

    def __init__(self, fn: Callable[..., Any], name: str, context: tuple[Any, ...] = ()) -> None:
        self.fn = fn
        self.name = name
        self.context = context

    def call(self, ack: Ack, args: Sequence[Any]) -> Awaitable[Any]:
        """Call the handler with the event's ``args`` and ``ack``, as
        [`call_handler()`][call_handler] does."""
        return call_handler(self.fn, *self.context, *args, **{self.name: ack})

    def bind(self, *context: Any) -> TakesAck:
        """The same handler with ``context`` passed before the event's arguments."""
        return TakesAck(self.fn, self.name, context)

    async def __call__(self, *args: Any) -> Any:
        return await self.call(Ack(None), args)

    def __eq__(self, other: object) -> bool:
        if isinstance(other, TakesAck):
            return bool(self.fn == other.fn) and self.context == other.context
        return not self.context and bool(self.fn == other)

    def __hash__(self) -> int:
        return hash(self.fn)

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.fn!r} ({self.name})>"


#: The first handler answered through its Ack: no return value to send.
_BY_HANDLE: Final = object()

Rejected = Callable[[PayloadError, bool], Awaitable[None]]


async def run_event_handlers(
    handlers: Sequence[Callable[..., Any]],
    args: Sequence[Any],
    answer: Callable[[list[Any]], object] | None,
    failed: Callable[[], None],
    rejected: Rejected,
    fit: Callable[[int, Sequence[Any]], Sequence[Any]] | None = None,
) -> None:
    """Call an event's ``handlers`` in order, then answer its acknowledgement (the one
    dispatcher of the server's sockets, the client's and so the test client's).

    The acknowledgement is the first handler's: its return value (see
    [`ack_args()`][ack_args]), or, when it declares an [`Ack`][Ack] (a
    [`TakesAck`][TakesAck]), whatever it sends through the handle, whenever it does. Every
    handler that declares one gets the same handle (JS passes one callback to every
    listener), so the event is answered once.

    Args:
        handlers: The handlers, as the registry stores them.
        args: The event's arguments.
        answer: Sends an ACK packet with the given arguments; it may be called later, from
            any thread, and must drop the packet once the connection is gone. None when
            the peer asked for no acknowledgement.
        failed: Called inside the ``except`` block when a handler raises (to log it): the
            handlers after it are not called and nothing is answered, as a JS listener
            that throws.
        rejected: Awaited when a typed handler refused the arguments, or its return value
            (a ``PayloadError``), after the error acknowledgement was sent (the second
            argument: True when the peer asked for one); the handlers after it are not
            called.
        fit: ``fit(index, args)``: the arguments the handler at ``index`` gets (the
            client's JavaScript arity rule); all of them when None.
    """
    if fit is None and len(handlers) == 1:
        # The common case, one plain handler answering with its return value: the loop
        # below without its bookkeeping (the handler's, the arity's, the handle's).
        handler = handlers[0]
        if not isinstance(handler, TakesAck) and is_async(handler):
            try:
                value = await handler(*args)
            except PayloadError as exc:
                await _refused(exc, answer, None, failed, rejected)
                return
            except Exception:
                failed()
                return
            if answer is not None:
                answer(ack_args(value))
            return
    ack: Ack | None = None
    first: Any = None
    for index, handler in enumerate(handlers):
        try:
            values = args if fit is None else fit(index, args)
            if isinstance(handler, TakesAck):
                if ack is None:
                    ack = Ack(answer)
                await handler.call(ack, values)
                result: Any = _BY_HANDLE
            elif is_async(handler):
                result = await handler(*values)
            else:
                result = await call_handler(handler, *values)
        except PayloadError as exc:
            await _refused(exc, answer, ack, failed, rejected)
            return
        except Exception:
            failed()
            return
        if index == 0:
            first = result
    if answer is None or first is _BY_HANDLE:
        return
    if ack is None:
        answer(ack_args(first))
    else:
        ack.settle(ack_args(first))


async def _refused(
    exc: PayloadError,
    answer: Callable[[list[Any]], object] | None,
    ack: Ack | None,
    failed: Callable[[], None],
    rejected: Rejected,
) -> None:
    # A handler raised a PayloadError: a typed handler's refusal (answered with the error
    # acknowledgement, then reported), or any other (a failure, as any exception).
    if not exc.rejected:
        failed()
        return
    if answer is not None:
        (answer if ack is None else ack.settle)([exc.to_ack()])
    await rejected(exc, answer is not None)
