"""A WebSocket transport for plumbings whose send is a coroutine (ASGI, aiohttp).

[`WebSocketTransport`][socketwire.io.http.WebSocketTransport] methods return at once, so messages go
through a queue that a writer task drains into a [`WebSocketSink`][WebSocketSink].
[`run_websocket()`][run_websocket] runs that writer beside the plumbing's reader and ends the
connection the same way under every such plumbing: whichever side finishes first decides the close
code, both tasks are stopped, and the handler's ``on_close`` is called exactly once.
"""

from __future__ import annotations

import asyncio
import logging
from collections import deque
from collections.abc import Awaitable, Callable
from typing import Protocol

from .http import WebSocketHandler

__all__ = ["QueuedWebSocket", "WebSocketSink", "deliver", "run_websocket"]

logger = logging.getLogger("socketwire.io")


class WebSocketSink(Protocol):
    """Where the writer task sends: the plumbing's own WebSocket calls."""

    async def send_text(self, data: str) -> None:
        """Send one text message."""

    async def send_bytes(self, data: bytes) -> None:
        """Send one binary message."""

    async def close(self, code: int, reason: str) -> None:
        """Start the closing handshake."""


class QueuedWebSocket:
    """A queued connection's [`WebSocketTransport`][socketwire.io.http.WebSocketTransport]."""

    __slots__ = ("_buffered", "_closing", "_held", "_paused", "_queue", "_readable", "_wakeup")

    def __init__(self) -> None:
        # Items: str, bytes, or a (code, reason) close request, which is always last.
        self._queue: deque[str | bytes | tuple[int, str]] = deque()
        self._wakeup = asyncio.Event()
        self._buffered = 0
        self._closing = False
        #: reading paused by the application, and the event the read loop waits on
        self._paused = False
        self._readable = asyncio.Event()
        self._readable.set()
        #: messages received while paused, with their handler, delivered on resume
        self._held: deque[tuple[WebSocketHandler, str | bytes]] = deque()

    def send_text(self, data: str) -> None:
        """Queue a text message."""
        if not self._closing:
            self._queue.append(data)
            self._buffered += len(data)
            self._wakeup.set()

    def send_bytes(self, data: bytes) -> None:
        """Queue a binary message."""
        if not self._closing:
            self._queue.append(data)
            self._buffered += len(data)
            self._wakeup.set()

    def send_frame(self, frame: bytes) -> None:
        """Not available: the server, not this plumbing, frames messages."""
        raise RuntimeError("this plumbing cannot send raw WebSocket frames")

    @property
    def supports_frames(self) -> bool:
        """Always False: the server framework owns the socket."""
        return False

    @property
    def compressed(self) -> bool:
        """False: the framework negotiates compression; never read, as frames are off."""
        return False

    @property
    def buffered_amount(self) -> int:
        """Bytes (characters for text) queued and not yet given to the sink."""
        return self._buffered

    @property
    def closing(self) -> bool:
        """True once [`close()`][close] was called."""
        return self._closing

    def pause_reading(self) -> None:
        """Stop reading: the plumbing's read loop waits (see [`wait_readable()`][wait_readable])."""
        self._paused = True
        self._readable.clear()

    def resume_reading(self) -> None:
        """Deliver the messages that waited, then let the read loop go on."""
        self._paused = False
        held = self._held
        while held and not self._paused and not self._closing:
            handler, data = held.popleft()
            _on_message(handler, data)
        if self._closing:
            held.clear()
        if not self._paused:
            self._readable.set()

    def hand_over(self, handler: WebSocketHandler, data: str | bytes) -> None:
        """Deliver one received message, or hold it while reading is paused (paused by
        another task while the read loop waited for this message)."""
        if self._paused:
            self._held.append((handler, data))
        else:
            _on_message(handler, data)

    async def wait_readable(self) -> None:
        """Return when reading is not paused; the read loop calls it before each read.

        The plumbing's own flow control then stops reading the socket once its small queue
        is full (uvicorn: ``ws_max_queue`` messages; aiohttp: its reader's limit).
        """
        if not self._readable.is_set():
            await self._readable.wait()

    def close(self, code: int = 1000, reason: str = "") -> None:
        """Queue a close after the pending messages."""
        if not self._closing:
            self._closing = True
            self._queue.append((code, reason))
            self._wakeup.set()

    async def write_loop(self, sink: WebSocketSink) -> int:
        """Drain the queue into ``sink``; returns the close code once a close was sent."""
        queue = self._queue
        while True:
            await self._wakeup.wait()
            self._wakeup.clear()
            while queue:
                item = queue.popleft()
                if isinstance(item, str):
                    self._buffered -= len(item)
                    await sink.send_text(item)
                elif isinstance(item, bytes):
                    self._buffered -= len(item)
                    await sink.send_bytes(item)
                else:
                    code, reason = item
                    await sink.close(code, reason)
                    return code


def deliver(
    transport: QueuedWebSocket,
    handler: WebSocketHandler,
    data: str | bytes,
    max_size: int | None,
) -> None:
    """Hand one received message to ``handler``.

    Messages arriving after a close was queued are dropped; one longer than ``max_size``
    closes the connection with 1009 (RFC 6455 section 7.4.1) and an empty reason, as JS
    engine.io's ``ws`` does, instead of being delivered;
    one arriving while reading is paused waits for
    [`QueuedWebSocket.resume_reading()`][QueuedWebSocket.resume_reading]. The read loop must
    call [`QueuedWebSocket.wait_readable()`][QueuedWebSocket.wait_readable] before each read.
    """
    if transport.closing:
        return
    if max_size is not None and _payload_size(data, max_size) > max_size:
        transport.close(1009)
        return
    transport.hand_over(handler, data)


def _on_message(handler: WebSocketHandler, data: str | bytes) -> None:
    try:
        handler.on_message(data)
    except Exception:
        logger.exception("WebSocket handler on_message failed")


def _payload_size(data: str | bytes, max_size: int) -> int:
    # The limit counts the frame's payload bytes (as ws maxPayload and the native server),
    # not characters; a str of n characters is at most 4n UTF-8 bytes, so most skip encoding.
    if isinstance(data, bytes) or len(data) * 4 <= max_size:
        return len(data)
    return len(data.encode())


async def run_websocket(
    transport: QueuedWebSocket,
    handler: WebSocketHandler,
    read_loop: Callable[[], Awaitable[int]],
    sink: WebSocketSink,
) -> None:
    """Run the plumbing's ``read_loop`` and the writer until either ends; then ``on_close``.

    ``read_loop`` returns the close code the client sent (or the plumbing's code for a lost
    connection). The writer ending means a close was sent: its code wins.
    """
    reader = asyncio.ensure_future(read_loop())
    writer = asyncio.ensure_future(transport.write_loop(sink))
    try:
        await asyncio.wait({reader, writer}, return_when=asyncio.FIRST_COMPLETED)
    finally:
        # Runs on cancellation too (server shutdown, or a framework cancelling the handler
        # of a dropped connection, which may come just after a loop finished): on_close is
        # always called, once, with the code of the loop that finished, if one did.
        code = _close_code(writer, reader)
        for task in (reader, writer):
            task.cancel()
        try:
            handler.on_close(code)
        except Exception:
            logger.exception("WebSocket handler on_close failed")
        # Leave no task behind.
        await asyncio.wait({reader, writer})


def _close_code(*tasks: asyncio.Future[int]) -> int:
    """The result of the first task that returned one; 1006 (abnormal closure) if none did."""
    for task in tasks:
        if task.done() and not task.cancelled():
            if task.exception() is None:
                return task.result()
            logger.debug("WebSocket loop ended", exc_info=task.exception())
    return 1006
