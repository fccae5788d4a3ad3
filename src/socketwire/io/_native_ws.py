"""The WebSocket half of the native server: one asyncio protocol per upgraded connection.

The native HTTP protocol (`socketwire.io.native`) completes the opening
handshake, then hands the TCP transport to a [`NativeWebSocket`][NativeWebSocket] with
``transport.set_protocol``. Frames are parsed by the ``websockets`` sans-I/O
[`ServerProtocol`][websockets.server.ServerProtocol]; this module only moves bytes between it, the
transport and the application's handler.

A fragmented message is gathered into one buffer, bounded in bytes by the protocol's
``max_size`` and in fragments by [`MAX_FRAGMENTS`][MAX_FRAGMENTS] and
[`MIN_FRAGMENT_AVERAGE`][MIN_FRAGMENT_AVERAGE]: a message of more (or smaller) fragments fails
the connection with 1008, as the ``ws`` library does past its ``maxFragments``, so that empty
or tiny continuation frames cannot grow memory or cost unbounded work per message.

A connection that breaks the protocol is failed as JS engine.io's ``ws`` fails it: a close
frame with the code and an empty reason (see [`NativeServerProtocol`][NativeServerProtocol]).

Two shortcuts keep the common case cheap, with no difference on the wire (see
``docs/topics/performance.md``). Without extensions, complete unfragmented text and binary
frames from the client are unmasked here, and messages are framed here; everything else
(control frames, fragments, oversized or invalid frames, permessage-deflate) goes through the
protocol. The protocol is only ever fed whole frames, so its parser stays at a frame boundary
and can take over at any point: the first frame the shortcut does not handle hands it every
later byte for good.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Iterable
from typing import Final, cast

from websockets.frames import CloseCode, Frame, Opcode
from websockets.protocol import State
from websockets.server import ServerProtocol

try:
    from websockets.speedups import apply_mask
except ImportError:  # a build of websockets without its C extension
    from websockets.utils import apply_mask

from .frames import FIN_BINARY as _FIN_BINARY
from .frames import FIN_TEXT as _FIN_TEXT
from .frames import frame_header as _header
from .frames import frame_message
from .http import WebSocketHandler

__all__ = [
    "CLOSE_TIMEOUT",
    "FREE_FRAGMENTS",
    "MAX_FRAGMENTS",
    "MIN_FRAGMENT_AVERAGE",
    "NativeServerProtocol",
    "NativeWebSocket",
    "WriteBatch",
    "frame_message",
]

logger = logging.getLogger("socketwire.native")

#: Seconds to wait for the peer's closing handshake before dropping the TCP connection.
CLOSE_TIMEOUT: Final = 5.0
#: The most frames one message may come in (the ``ws`` library's ``maxFragments``).
MAX_FRAGMENTS: Final = 16 * 1024
#: Past [`FREE_FRAGMENTS`][FREE_FRAGMENTS] frames, a message's frames must carry this many payload
#: bytes on average (a 1 MB message may still come in 16,384 frames of 64 bytes).
MIN_FRAGMENT_AVERAGE: Final = 64
FREE_FRAGMENTS: Final = 64

_OPEN: Final = State.OPEN
_TEXT: Final = Opcode.TEXT
_BINARY: Final = Opcode.BINARY
_CONT: Final = Opcode.CONT
#: Above this payload size a frame is written as header and payload (no copy).
_JOIN_LIMIT: Final = 16 * 1024
#: The headers of the text and binary frames of fewer than 126 bytes, by first byte and length.
_SMALL_HEADERS: Final = {
    first: tuple(_header(first, length) for length in range(126))
    for first in (_FIN_TEXT, _FIN_BINARY)
}
#: Corked frames are handed to the transport in slices of about this many bytes.
_WRITE_SLICE: Final = 256 * 1024


class NativeServerProtocol(ServerProtocol):
    """websockets' sans-I/O server protocol, failing a connection as the ``ws`` library does.

    On a protocol violation (an unmasked or reserved frame, invalid UTF-8, a message over the
    size limit...) ``ws`` closes with the code alone (``websocket.close(err[kStatusCode])``),
    so JS engine.io's clients see an empty reason; websockets would send its error text. The
    text goes to the ``socketwire.native`` log at DEBUG instead.
    """

    def fail(self, code: CloseCode | int, reason: str = "") -> None:
        """Fail the connection (RFC 6455 section 7.1.7) with ``code`` and no reason."""
        if reason:
            logger.debug("failing a WebSocket connection with %d: %s", code, reason)
        super().fail(code)


class WriteBatch:
    """Hands the broadcast frames a connection gets in one event loop iteration over at once.

    A broadcast writes one pre-built frame to every recipient; several broadcasts handled in the
    same iteration (a burst of events read at once) would cost every recipient one ``send`` system
    call each. [`NativeWebSocket.send_frame()`][NativeWebSocket.send_frame] queues them instead, and
    the batch hands each connection's frames to its transport at the end of the iteration
    (``call_soon``): the shared frame objects themselves (``writelines``, no join), and only while
    the transport takes them (see
    [`NativeWebSocket.buffered_amount`][NativeWebSocket.buffered_amount]). One batch serves every
    connection of one server (one loop).

    Small messages a connection sends on its own (an acknowledgement, an emit to one socket)
    go to the transport at once when they are the first of the iteration; once one has, the
    others of that iteration are corked and flushed with the batch, so that the sends of a
    busy iteration are made back to back rather than between the reads.
    """

    __slots__ = ("_pending", "busy")

    def __init__(self) -> None:
        self._pending: list[NativeWebSocket] = []
        #: A connection has written or corked in this iteration (the flush is scheduled):
        #: the messages other connections send in it are corked too, and go out together.
        self.busy = False

    def add(self, websocket: NativeWebSocket) -> None:
        """Flush ``websocket`` at the end of this iteration (call once until it is flushed)."""
        if not self.busy:
            self.wrote()
        self._pending.append(websocket)

    def wrote(self) -> None:
        """A connection wrote in this iteration (call while not [`busy`][WriteBatch.busy]):
        the flush is scheduled, and what the others write in it waits for it."""
        self.busy = True
        asyncio.get_running_loop().call_soon(self._flush)

    def _flush(self) -> None:
        self.busy = False
        pending = self._pending
        if pending:
            self._pending = []
            NativeWebSocket.flush_corked(pending)


class NativeWebSocket(asyncio.Protocol):
    """One accepted WebSocket connection; the [`WebSocketTransport`][WebSocketTransport] given to
    the app.

    Created by the HTTP protocol once the 101 response is written. Incoming messages are
    dispatched synchronously from [`data_received()`][data_received] to ``handler.on_message``.
    """

    __slots__ = (
        "_app_paused",
        "_batch",
        "_close_timer",
        "_closed",
        "_corked",
        "_corked_size",
        "_eof_pending",
        "_fast",
        "_fragment_count",
        "_fragments",
        "_fragments_text",
        "_handler",
        "_held",
        "_held_frames",
        "_lost_waiter",
        "_max_size",
        "_needed",
        "_on_lost",
        "_open",
        "_protocol",
        "_reading_paused",
        "_transport",
        "_unparsed",
        "_write_paused",
    )

    def __init__(
        self,
        transport: asyncio.Transport,
        protocol: ServerProtocol,
        on_lost: Callable[[NativeWebSocket], None],
        batch: WriteBatch | None = None,
    ) -> None:
        self._transport = transport
        #: without a batch, send_frame writes at once
        self._batch = batch
        #: frames queued by send_frame for the batch's next flush, or while the transport
        #: is over its high-water mark, and anything written after them (one frame, or a
        #: list once there are more: most iterations bring one); their total size
        self._corked: bytes | list[bytes] | None = None
        self._corked_size = 0
        #: close the transport once what is corked has been handed over
        self._eof_pending = False
        self._protocol = protocol
        self._on_lost = on_lost
        self._handler: WebSocketHandler | None = None
        #: the message being gathered from its fragments, and how many came
        self._fragments = bytearray()
        self._fragment_count = 0
        self._fragments_text = False
        self._close_timer: asyncio.TimerHandle | None = None
        self._closed = False
        #: ``protocol.state is OPEN`` (a property), read again after each call that can
        #: change it: the protocol is only driven from here, and every such call is followed
        #: by _flush() (or, in connection_lost, by the update itself)
        self._open = protocol.state is _OPEN
        #: the shortcuts apply (no extension, and the protocol has not taken over)
        self._fast = not protocol.extensions
        self._max_size: int | None = protocol.max_message_size
        #: the start of a frame the shortcut waits to complete (fast mode only), and the
        #: bytes it needs before it can parse further
        self._unparsed: bytearray | None = None
        self._needed = 0
        #: reading paused by the application (pause_reading), by a full write buffer
        #: (pause_writing), and whether the transport is paused
        self._app_paused = False
        self._write_paused = False
        self._reading_paused = False
        #: while the application pauses: bytes received and not parsed yet, and frames
        #: parsed and not dispatched yet (both come before anything received later)
        self._held: bytes | None = None
        self._held_frames: list[Frame] | None = None
        #: done when the connection is lost (made when first asked for)
        self._lost_waiter: asyncio.Future[None] | None = None

    def start(self, handler: WebSocketHandler, pending: bytes) -> None:
        """Set the application's handler, then process bytes that arrived before it existed."""
        self._handler = handler
        if self._closed:
            handler.on_close(self._close_code())
        elif pending:
            self.data_received(pending)

    # asyncio.Protocol callbacks

    def data_received(self, data: bytes) -> None:
        """Feed the frame parser, flush what it wants to send, then dispatch messages."""
        if self._app_paused:
            # Read before the transport paused: it waits, unparsed, for resume_reading.
            held = self._held
            self._held = data if held is None else held + data
            return
        if self._fast:
            data = self._receive_fast(data)
            if not data:
                return
        protocol = self._protocol
        protocol.receive_data(data)
        self._flush()
        # After the handshake (done by the HTTP protocol) the only events are frames.
        events = cast("list[Frame]", protocol.events_received())
        if events and self._handler is not None:
            self._dispatch(events)

    def _dispatch(self, events: list[Frame]) -> None:
        """Deliver the messages of ``events``; the frames left when the application pauses
        wait for resume_reading."""
        for index, frame in enumerate(events):
            if self._app_paused:
                self._held_frames = events[index:]
                return
            opcode = frame.opcode
            if opcode is _TEXT or opcode is _BINARY:
                if frame.fin:
                    self._deliver(frame.data, opcode is _TEXT)
                else:
                    self._fragments = bytearray(frame.data)
                    self._fragment_count = 1
                    self._fragments_text = opcode is _TEXT
            elif opcode is _CONT:
                fragments = self._fragments
                fragments += frame.data
                count = self._fragment_count = self._fragment_count + 1
                if count > MAX_FRAGMENTS or (
                    count > FREE_FRAGMENTS and len(fragments) < count * MIN_FRAGMENT_AVERAGE
                ):
                    # ws answers more than maxFragments with 1008 (a policy violation).
                    self._fragments = bytearray()
                    self._protocol.fail(CloseCode.POLICY_VIOLATION, "too many fragments")
                    self._flush()
                    return
                if frame.fin:
                    self._fragments = bytearray()
                    self._deliver(bytes(fragments), self._fragments_text)

    def eof_received(self) -> bool | None:
        """The peer half-closed: let the protocol see EOF, then close our side."""
        self._hand_over()
        self._protocol.receive_eof()
        self._flush()
        return None

    def connection_lost(self, exc: Exception | None) -> None:
        """Report the end of the connection to the handler, once."""
        self._corked = None
        self._corked_size = 0
        self._held = None
        self._held_frames = None
        if self._close_timer is not None:
            self._close_timer.cancel()
            self._close_timer = None
        self._hand_over()
        self._protocol.receive_eof()
        self._protocol.data_to_send()
        self._open = False
        waiter = self._lost_waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(None)
        if self._closed:
            return
        self._closed = True
        self._on_lost(self)
        handler = self._handler
        if handler is not None:
            try:
                handler.on_close(self._close_code())
            except Exception:
                logger.exception("WebSocket handler on_close failed")

    def lost_future(self) -> asyncio.Future[None]:
        """A future that completes when the connection is lost (add and remove callbacks,
        never cancel it)."""
        waiter = self._lost_waiter
        if waiter is None:
            waiter = self._lost_waiter = asyncio.get_running_loop().create_future()
            if self._closed:
                waiter.set_result(None)
        return waiter

    def pause_writing(self) -> None:
        """The write buffer is over its high-water mark: stop reading from this peer."""
        self._write_paused = True
        self._update_reading()

    def resume_writing(self) -> None:
        """The write buffer drained: hand over what is corked, read again (unless the
        application pauses reading)."""
        self._write_paused = False
        if self._corked is not None:
            self._uncork()
        self._update_reading()

    def _update_reading(self) -> None:
        paused = self._app_paused or self._write_paused
        if paused != self._reading_paused and not self._transport.is_closing():
            self._reading_paused = paused
            if paused:
                self._transport.pause_reading()
            else:
                self._transport.resume_reading()

    # WebSocketTransport

    def send_text(self, data: str) -> None:
        """Queue a text message; ignored once the connection is closing."""
        if self._open:
            protocol = self._protocol
            if protocol.extensions:
                protocol.send_text(data.encode())
                self._write(protocol.data_to_send())
            else:
                self._write_message(_FIN_TEXT, data.encode())

    def send_bytes(self, data: bytes) -> None:
        """Queue a binary message; ignored once the connection is closing."""
        if self._open:
            protocol = self._protocol
            if protocol.extensions:
                protocol.send_binary(data)
                self._write(protocol.data_to_send())
            else:
                self._write_message(_FIN_BINARY, data)

    def send_frame(self, frame: bytes) -> None:
        """Write one pre-built frame (see [`frame_message()`][frame_message]) as is.

        With a [`WriteBatch`][WriteBatch], it reaches the transport at the end of this event
        loop iteration, with the other frames sent to this connection meanwhile; anything else
        written to the connection first flushes them, so the order is kept. While the
        transport is over its high-water mark, frames wait here (the shared objects, not a
        copy) until it drains; [`buffered_amount`][buffered_amount] counts them.
        """
        if self._open:
            corked = self._corked
            if corked is None:
                if self._batch is None and not self._write_paused:
                    self._transport.write(frame)
                    return
                self._corked = frame
                if self._batch is not None:
                    self._batch.add(self)
            elif type(corked) is bytes:
                self._corked = [corked, frame]
            else:
                corked.append(frame)  # type: ignore[union-attr]
            self._corked_size += len(frame)

    @property
    def supports_frames(self) -> bool:
        """Always True: this plumbing owns the transport."""
        return True

    @property
    def compressed(self) -> bool:
        """True when permessage-deflate was negotiated (the only extension offered)."""
        return bool(self._protocol.extensions)

    @property
    def buffered_amount(self) -> int:
        """Bytes queued and not yet written to the socket: corked here, or in the transport."""
        return self._transport.get_write_buffer_size() + self._corked_size

    def pause_reading(self) -> None:
        """Stop reading; no message is delivered until [`resume_reading()`][resume_reading]."""
        if not self._app_paused:
            self._app_paused = True
            self._update_reading()

    def resume_reading(self) -> None:
        """Deliver the frames and bytes that waited, then read again."""
        if not self._app_paused:
            return
        self._app_paused = False
        frames = self._held_frames
        if frames is not None:
            self._held_frames = None
            self._dispatch(frames)
        held = self._held
        if held is not None and not self._app_paused:
            self._held = None
            self.data_received(held)
        if not self._app_paused:
            self._update_reading()

    def close(self, code: int = 1000, reason: str = "") -> None:
        """Start the closing handshake; the TCP connection is dropped if the peer stalls."""
        protocol = self._protocol
        if protocol.state is _OPEN:
            protocol.send_close(code, reason)
            self._flush()

    def abort(self) -> None:
        """Drop the TCP connection at once (server shutdown deadline)."""
        self._corked = None
        self._corked_size = 0
        self._transport.abort()

    # internals

    def _write_message(self, first: int, payload: bytes) -> None:
        # What protocol.send_text/send_binary would write with no extension: one frame.
        length = len(payload)
        if self._corked is None:
            transport = self._transport
            if length < 126:
                # the usual small message: its two-byte header from a table
                frame = _SMALL_HEADERS[first][length] + payload
                batch = self._batch
                if batch is not None and batch.busy:
                    # Under load (several connections answer in one iteration), their
                    # answers go out back to back at its end: the peer's process is woken
                    # once for the lot, not once for each send between two reads.
                    self.send_frame(frame)
                else:
                    transport.write(frame)
                    if batch is not None:
                        batch.wrote()
            elif length <= _JOIN_LIMIT:
                transport.write(_header(first, length) + payload)
            else:
                transport.writelines((_header(first, length), payload))
        elif length <= _JOIN_LIMIT:
            self._write((_header(first, length) + payload,))
        else:
            self._write((_header(first, length), payload))

    def _write(self, chunks: Iterable[bytes]) -> None:
        """Write ``chunks`` after what is corked (behind it while the transport is full);
        an empty chunk closes the transport (SEND_EOF, RFC 6455 7.1.1)."""
        if self._corked is not None:
            self._uncork()
        transport = self._transport
        for chunk in chunks:
            if self._corked is not None:
                if chunk:
                    self._cork(chunk)
                else:
                    self._eof_pending = True
            elif chunk:
                transport.write(chunk)
            else:
                # close() still flushes what the transport holds
                transport.close()

    def _cork(self, chunk: bytes) -> None:
        corked = self._corked
        if corked is None:
            self._corked = chunk
        elif type(corked) is bytes:
            self._corked = [corked, chunk]
        else:
            corked.append(chunk)  # type: ignore[union-attr]
        self._corked_size += len(chunk)

    def _receive_fast(self, data: bytes) -> bytes:
        """Deliver the leading complete, unfragmented, masked data frames of the bytes received.

        Returns:
            The bytes the protocol must parse (from a frame boundary), or ``b""``. When not
            empty, the protocol has taken over for good.
        """
        unparsed = self._unparsed
        if unparsed is not None:
            # The start of a frame is waiting: gather until the frame (or its header) is
            # complete, without re-parsing or copying the whole of it for every chunk.
            unparsed += data
            if len(unparsed) < self._needed:
                return b""
            data = bytes(unparsed)
            self._unparsed = None
        end = len(data)
        pos = 0
        max_size = self._max_size
        while pos < end:
            first = data[pos]
            if first != _FIN_TEXT and first != _FIN_BINARY:
                break  # a control frame, a fragment, a reserved bit: the protocol's
            if end - pos < 2:
                return self._wait(data, pos, 2)
            second = data[pos + 1]
            if second < 0x80:
                break  # unmasked: the protocol fails the connection
            # As the protocol does, check the length before waiting for the mask.
            length = second & 0x7F
            if length < 126:
                start = pos + 2
            elif length == 126:
                start = pos + 4
                if start > end:
                    return self._wait(data, pos, 4)
                length = int.from_bytes(data[pos + 2 : start])
            else:
                start = pos + 10
                if start > end:
                    return self._wait(data, pos, 10)
                length = int.from_bytes(data[pos + 2 : start])
            if max_size is not None and length > max_size:
                break  # the protocol fails the connection with 1009
            start += 4  # the mask
            stop = start + length
            if stop > end:
                return self._wait(data, pos, stop - pos)
            payload = apply_mask(data[start:stop], data[start - 4 : start])
            pos = stop
            if self._handler is not None:
                self._deliver(payload, first == _FIN_TEXT)
            if not self._open:
                break  # closing: the protocol handles what follows, as it would have
            if self._app_paused:
                if pos < end:
                    self._held = data[pos:]  # at most what one read returned
                return b""
        else:
            return b""
        self._fast = False
        return data[pos:]

    def _wait(self, data: bytes, pos: int, needed: int) -> bytes:
        self._unparsed = bytearray(memoryview(data)[pos:])
        self._needed = needed
        return b""

    def _hand_over(self) -> None:
        """Give the protocol the partial frame the shortcut holds (the stream is ending)."""
        self._fast = False
        unparsed = self._unparsed
        if unparsed is not None:
            self._unparsed = None
            self._protocol.receive_data(bytes(unparsed))
            self._protocol.events_received()

    def _deliver(self, data: bytes | bytearray | memoryview, text: bool) -> None:
        handler = self._handler
        assert handler is not None
        message: str | bytes
        if text:
            try:
                message = (data if type(data) is bytes else bytes(data)).decode()
            except UnicodeDecodeError:
                # RFC 6455 section 8.1: invalid UTF-8 in a text message fails the connection.
                self._protocol.fail(CloseCode.INVALID_DATA, "invalid UTF-8")
                self._flush()
                return
        else:
            message = data if isinstance(data, bytes) else bytes(data)
        try:
            handler.on_message(message)
        except Exception:
            logger.exception("WebSocket handler on_message failed")

    @staticmethod
    def flush_corked(websockets: list[NativeWebSocket]) -> None:
        """Hand each connection's corked frames to its transport (what [`WriteBatch`][WriteBatch]
        does at the end of an iteration)."""
        for item in websockets:
            websocket: NativeWebSocket = item
            corked = websocket._corked
            if type(corked) is bytes and not websocket._write_paused:
                # The common case (one frame), _uncork inlined: this loop runs once per
                # recipient of a burst of broadcasts.
                websocket._corked = None
                websocket._corked_size = 0
                transport = websocket._transport
                if not transport.is_closing():
                    transport.write(corked)
            elif corked is not None:
                websocket._uncork()

    def _uncork(self) -> None:
        """Hand what is corked to the transport while it is under its high-water mark.

        The frames go as they are (``writelines``: a broadcast's frame is one object shared
        by every recipient), a slice of about ``_WRITE_SLICE`` bytes at a time, so that a
        transport that copies what it cannot send at once copies a slice, not the burst.
        """
        corked = self._corked
        if corked is None or self._write_paused:
            return
        transport = self._transport
        if transport.is_closing():
            self._corked = None
            self._corked_size = 0
            return
        if type(corked) is bytes:
            self._corked = None
            self._corked_size = 0
            transport.write(corked)
        else:
            frames: list[bytes] = corked  # type: ignore[assignment]
            start, count = 0, len(frames)
            while start < count and not self._write_paused:
                stop, size = start, 0
                while stop < count and size < _WRITE_SLICE:
                    size += len(frames[stop])
                    stop += 1
                self._corked_size -= size
                # pause_writing may be called from here (the transport went over its mark)
                transport.writelines(frames[start:stop])
                start = stop
            if start < count:
                self._corked = frames[start:]
                return
            self._corked = None
            self._corked_size = 0
        if self._eof_pending:
            self._eof_pending = False
            transport.close()

    def _flush(self) -> None:
        protocol = self._protocol
        self._open = protocol.state is _OPEN
        # SEND_EOF (an empty chunk): the server side closes the TCP connection, after what
        # was queued before (RFC 6455 7.1.1).
        self._write(protocol.data_to_send())
        if self._close_timer is None and protocol.close_expected():
            loop = asyncio.get_running_loop()
            self._close_timer = loop.call_later(CLOSE_TIMEOUT, self._transport.abort)

    def _close_code(self) -> int:
        protocol = self._protocol
        if protocol.close_rcvd is not None:
            return protocol.close_rcvd.code
        if protocol.close_sent is not None:
            return protocol.close_sent.code
        return 1006
