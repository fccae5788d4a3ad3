"""What every cluster adapter shares: errors, option converters and request bookkeeping.

A cluster adapter asks the other servers something (``fetch_sockets``, ``all_rooms``, a server-side
emit with ack) and waits for one answer per server; or it broadcasts a packet whose clients must
acknowledge, and counts first the clients each server reached, then their acknowledgements.
[`PendingRequests`][PendingRequests] and [`AckRequests`][AckRequests] hold that state for all the
adapters (classic, sharded and streams), so it lives once.

A request that not every server answers in time fails with
[`ClusterTimeoutError`][ClusterTimeoutError], whose message names the operation, how many servers
answered out of how many, and which ones did (when the format says who answered).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

from socketwire.adapters.base import (
    AckCallback,
    BroadcastFlags,
    BroadcastOptions,
    ClientCountCallback,
    ServerSideAck,
    SocketDetails,
)
from socketwire.adapters.types import Handshake
from socketwire.adapters.wire import WireFlags, WireHandshake, WireOptions, WireSocket
from socketwire.errors import SocketwireError

__all__ = [
    "AckRequests",
    "ClusterError",
    "ClusterTimeoutError",
    "ClusterUnavailableError",
    "InFlight",
    "PendingRequests",
    "details_from_wire",
    "details_to_wire",
    "options_from_wire",
    "options_to_wire",
    "settle_server_side_ack",
]

logger = logging.getLogger("socketwire.adapters")


class ClusterError(SocketwireError):
    """The base of the errors a cluster adapter raises."""


class ClusterUnavailableError(ClusterError):
    """The cluster's broker (Redis) cannot be reached: nothing was sent.

    Raised synchronously by a broadcast while the adapter knows its connection is down,
    so that an application never believes a packet went out when it did not.
    """


class ClusterTimeoutError(ClusterError, TimeoutError):
    """Not every server answered a request in time.

    Attributes:
        operation: What was asked (``"fetch_sockets"``, ``"all_rooms"``...).
        expected: How many answers were awaited.
        responses: The answers that arrived.
        responders: The uids of the servers that answered (empty when the format does not
            say who answers, as with the classic adapter).
    """

    def __init__(
        self,
        message: str,
        *,
        operation: str,
        expected: int,
        responses: list[Any],
        responders: list[str],
    ) -> None:
        super().__init__(message)
        self.operation = operation
        self.expected = expected
        self.responses = responses
        self.responders = responders


# -- converters between the server's options and the wire's -------------------------------


def options_to_wire(opts: BroadcastOptions) -> WireOptions:
    """The wire form of ``opts``: rooms sorted (stable bytes), timeout in milliseconds, and
    false flags left out, as JS leaves unset flags out (a packet is recoverable only when
    ``volatile`` is absent)."""
    flags = opts.flags
    return WireOptions(
        rooms=tuple(sorted(opts.rooms)),
        except_=tuple(sorted(opts.except_rooms)),
        flags=WireFlags(
            volatile=True if flags.volatile else None,
            compress=flags.compress,
            timeout=None if flags.timeout is None else round(flags.timeout * 1000),
            expect_single_response=True if flags.expect_single_response else None,
        ),
    )


def options_from_wire(opts: WireOptions) -> BroadcastOptions:
    """The server's form of wire options (``local`` is never honoured from another node)."""
    flags = opts.flags
    return BroadcastOptions(
        frozenset(opts.rooms),
        frozenset(opts.except_),
        BroadcastFlags(
            volatile=bool(flags.volatile),
            compress=flags.compress,
            timeout=None if flags.timeout is None else flags.timeout / 1000,
            expect_single_response=bool(flags.expect_single_response),
        ),
    )


def details_to_wire(details: SocketDetails) -> WireSocket:
    """A local socket as a ``fetchSockets`` response carries it."""
    shake = details.handshake
    return WireSocket(
        id=details.id,
        handshake=WireHandshake(
            headers=dict(shake.headers),
            time=shake.time,
            address=shake.address,
            xdomain=shake.xdomain,
            secure=shake.secure,
            issued=shake.issued,
            url=shake.url,
            query=dict(shake.query),
            auth=dict(shake.auth),
        ),
        rooms=tuple(details.rooms),
        data=details.data,
    )


def details_from_wire(socket: WireSocket) -> SocketDetails:
    """A remote socket from a ``fetchSockets`` response (``data`` that is not a map, which
    a JS peer may set, becomes ``{"value": data}`` so that it is not lost)."""
    shake = socket.handshake
    data = socket.data
    if data is None:
        data = {}
    elif not isinstance(data, dict):
        data = {"value": data}
    return SocketDetails(
        socket.id,
        Handshake(
            headers=shake.headers,
            time=shake.time,
            address=shake.address,
            xdomain=shake.xdomain,
            secure=shake.secure,
            issued=shake.issued,
            url=shake.url,
            query=shake.query,
            auth=shake.auth,
        ),
        set(socket.rooms),
        data,
    )


# -- requests awaiting one answer per server ----------------------------------------------


@dataclass(eq=False)
class _Pending:
    operation: str
    expected: int
    future: asyncio.Future[list[Any]]
    timer: asyncio.TimerHandle | None = None
    responses: list[Any] = field(default_factory=list)
    responders: list[str] = field(default_factory=list)
    answers: int = 0
    #: The servers yet to answer, when answers are awaited from known servers by uid.
    missing: set[str] | None = None

    def complete(self) -> bool:
        if self.missing is not None:
            return not self.missing
        return self.answers >= self.expected

    def missing_count(self) -> int:
        if self.missing is not None:
            return len(self.missing)
        return self.expected - self.answers


class PendingRequests:
    """Requests waiting for one answer from each of ``expected`` servers.

    Args:
        where: Named in timeout messages (e.g. the request channel), to help find the
            server that did not answer.
    """

    def __init__(self, where: str) -> None:
        self.where = where
        self._pending: dict[str, _Pending] = {}

    def __contains__(self, request_id: object) -> bool:
        return request_id in self._pending

    def open(
        self,
        request_id: str,
        operation: str,
        expected: int,
        timeout: float,
        uids: Iterable[str] | None = None,
    ) -> asyncio.Future[list[Any]]:
        """Start waiting for ``expected`` answers to ``request_id``; with ``uids``, for one
        answer from each of those servers instead (socket.io-adapter's ``missingUids``: a
        server that leaves meanwhile is no longer awaited, see [`forget()`][forget]).

        Returns:
            A future resolved with the answers (each answer's items when answers are lists, see
            [`answer()`][answer]), or failed with [`ClusterTimeoutError`][ClusterTimeoutError] after
            ``timeout`` seconds. You must publish the request after calling this (an answer may come
            back before ``publish`` returns).
        """
        loop = asyncio.get_running_loop()
        pending = _Pending(operation, expected, loop.create_future())
        if uids is not None:
            pending.missing = set(uids)
            pending.expected = len(pending.missing)
        pending.timer = loop.call_later(timeout, self._expire, request_id, timeout)
        self._pending[request_id] = pending
        return pending.future

    async def ask(
        self,
        request_id: str,
        operation: str,
        expected: int,
        timeout: float,  # noqa: ASYNC109 - the request's bound, in its error message
        publish: Callable[[], None],
        uids: Iterable[str] | None = None,
    ) -> list[Any]:
        """Open ``request_id`` (see [`open()`][open]), call ``publish`` to send the request, and
        return the answers.

        Raises:
            ClusterTimeoutError: Not every server answered within ``timeout`` seconds.
            ClusterError: ``publish`` refused the request (or its publish failed later, if
                it reports that through [`fail()`][fail]).
        """
        future = self.open(request_id, operation, expected, timeout, uids)
        try:
            publish()
        except ClusterError as exc:
            self.fail(request_id, exc)
        return await future

    def answer(self, request_id: str, items: list[Any], responder: str | None = None) -> bool:
        """Record one server's answer (its ``items`` are added to the result).

        Returns:
            Whether ``request_id`` was pending (answers to other servers' requests, or too
            late, are ignored).
        """
        pending = self._pending.get(request_id)
        if pending is None:
            return False
        pending.answers += 1
        pending.responses.extend(items)
        if responder is not None:
            pending.responders.append(responder)
            if pending.missing is not None:
                pending.missing.discard(responder)
        if pending.complete():
            self._finish(request_id, None)
        return True

    def forget(self, uid: str) -> None:
        """Server ``uid`` left: stop awaiting its answers (requests opened with ``uids``
        complete when nobody else is missing)."""
        for request_id, pending in list(self._pending.items()):
            if pending.missing is not None and uid in pending.missing:
                pending.missing.discard(uid)
                if pending.complete():
                    self._finish(request_id, None)

    def fail(self, request_id: str, error: BaseException) -> None:
        """Fail ``request_id`` at once (its request could not be sent)."""
        if request_id in self._pending:
            self._finish(request_id, error)

    def _expire(self, request_id: str, timeout: float) -> None:
        pending = self._pending.get(request_id)
        if pending is None:
            return
        who = f"; answered: {', '.join(pending.responders)}" if pending.responders else ""
        if pending.missing:
            who += f"; not answered: {', '.join(sorted(pending.missing))}"
        error = ClusterTimeoutError(
            f"{pending.operation} timed out after {timeout:g} s: {pending.answers} of "
            f"{pending.expected} servers answered, {pending.missing_count()} "
            f"missing{who} (request {request_id} on {self.where})",
            operation=pending.operation,
            expected=pending.expected,
            responses=list(pending.responses),
            responders=list(pending.responders),
        )
        self._finish(request_id, error)

    def _finish(self, request_id: str, error: BaseException | None) -> None:
        pending = self._pending.pop(request_id)
        if pending.timer is not None:
            pending.timer.cancel()
        if pending.future.done():
            return
        if error is None:
            pending.future.set_result(pending.responses)
        else:
            pending.future.set_exception(error)

    def close(self) -> None:
        """Fail every pending request: the adapter is closing."""
        for request_id in list(self._pending):
            self._finish(request_id, ClusterError(f"adapter closed ({self.where})"))


@dataclass(frozen=True, slots=True)
class _AckRequest:
    client_count: ClientCountCallback
    ack: AckCallback
    timer: asyncio.TimerHandle | None


class AckRequests:
    """Broadcasts with acknowledgement this server sent: the other servers report a client
    count each, then one acknowledgement per client, until ``flags.timeout`` (JS keeps
    them as long, then forgets them)."""

    #: How long to keep a request without a timeout (JS would keep it forever).
    DEFAULT_KEEP = 60.0

    def __init__(self) -> None:
        self._requests: dict[str, _AckRequest] = {}

    def __contains__(self, request_id: object) -> bool:
        return request_id in self._requests

    def open(
        self,
        request_id: str,
        client_count: ClientCountCallback,
        ack: AckCallback,
        timeout: float | None,
    ) -> None:
        """Remember ``request_id`` for ``timeout`` seconds."""
        loop = asyncio.get_running_loop()
        keep = self.DEFAULT_KEEP if timeout is None else timeout
        timer = loop.call_later(keep, self._requests.pop, request_id, None)
        self._requests[request_id] = _AckRequest(client_count, ack, timer)

    def client_count(self, request_id: str, count: int) -> None:
        """One remote server reached ``count`` clients."""
        request = self._requests.get(request_id)
        if request is not None:
            _safely(request.client_count, count, ())

    def ack(self, request_id: str, value: Any) -> None:
        """One remote client acknowledged with ``value``."""
        request = self._requests.get(request_id)
        if request is not None:
            _safely(request.ack, None, [value])

    def close(self) -> None:
        """Forget every request."""
        for request in self._requests.values():
            if request.timer is not None:
                request.timer.cancel()
        self._requests.clear()


async def settle_server_side_ack(ack: ServerSideAck, answers: Awaitable[list[Any]]) -> None:
    """Await the other servers' ``answers`` to a server-side emit and pass them to ``ack``.

    ``ack(None, responses)`` on success; on a timeout, the error and the answers that came;
    on another cluster failure, the error and no answers.
    """
    try:
        responses = await answers
    except ClusterTimeoutError as exc:
        ack(exc, exc.responses)
        return
    except ClusterError as exc:
        ack(exc, [])
        return
    ack(None, responses)


def _safely(callback: Callable[..., None], *args: Any) -> None:
    try:
        callback(*args)
    except Exception:
        logger.exception("acknowledgement callback failed")


class InFlight:
    """Tasks an adapter must let finish before it closes (sessions being stored while the
    server shuts down: "server shutting down" is a recoverable reason)."""

    def __init__(self) -> None:
        self._tasks: set[asyncio.Task[Any]] = set()

    @contextlib.contextmanager
    def track(self) -> Iterator[None]:
        """Mark the current task as in flight for the duration of the block."""
        task = asyncio.current_task()
        if task is not None:
            self._tasks.add(task)
        try:
            yield
        finally:
            if task is not None:
                self._tasks.discard(task)

    async def drain(self, timeout: float) -> None:  # noqa: ASYNC109 - a shutdown budget
        """Let tasks spawned just before start, then wait (at most ``timeout``) for all."""
        await asyncio.sleep(0)
        current = asyncio.current_task()
        tasks = [task for task in self._tasks if task is not current]
        if tasks:
            await asyncio.wait(tasks, timeout=timeout)
