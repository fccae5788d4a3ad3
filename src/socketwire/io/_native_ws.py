"""The WebSocket half of the native server: one asyncio protocol per upgraded connection.

The native HTTP protocol (:mod:`socketwire.io.native`) completes the opening handshake,
then hands the TCP transport to a :class:`NativeWebSocket` with ``transport.set_protocol``.
Frames are parsed by the ``websockets`` sans-I/O :class:`~websockets.server.ServerProtocol`;
this module only moves bytes between it, the transport and the application's handler.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from typing import Final, cast

from websockets.frames import Frame, Opcode
from websockets.protocol import State
from websockets.server import ServerProtocol

from .http import WebSocketHandler

__all__ = ["CLOSE_TIMEOUT", "NativeWebSocket", "frame_message"]

logger = logging.getLogger("socketwire.native")

#: Seconds to wait for the peer's closing handshake before dropping the TCP connection.
CLOSE_TIMEOUT: Final = 5.0

_OPEN: Final = State.OPEN
_TEXT: Final = Opcode.TEXT
_BINARY: Final = Opcode.BINARY
_CONT: Final = Opcode.CONT


def frame_message(data: str | bytes) -> bytes:
    """Build one complete, unmasked, uncompressed server frame holding ``data``.

    ``str`` becomes a text frame, ``bytes`` a binary frame. The result can be written to
    any number of connections with :meth:`NativeWebSocket.send_frame`: server frames are
    not masked (RFC 6455 section 5.1), and an uncompressed message is valid even when
    permessage-deflate was negotiated (RFC 7692 section 6: RSV1 clear means not compressed).
    """
    if isinstance(data, str):
        return Frame(_TEXT, data.encode()).serialize(mask=False)
    return Frame(_BINARY, data).serialize(mask=False)


class NativeWebSocket(asyncio.Protocol):
    """One accepted WebSocket connection; the :class:`WebSocketTransport` given to the app.

    Created by the HTTP protocol once the 101 response is written. Incoming messages are
    dispatched synchronously from :meth:`data_received` to ``handler.on_message``.
    """

    __slots__ = (
        "_close_timer",
        "_closed",
        "_fragments",
        "_fragments_text",
        "_handler",
        "_on_lost",
        "_protocol",
        "_transport",
    )

    def __init__(
        self,
        transport: asyncio.Transport,
        protocol: ServerProtocol,
        on_lost: Callable[[NativeWebSocket], None],
    ) -> None:
        self._transport = transport
        self._protocol = protocol
        self._on_lost = on_lost
        self._handler: WebSocketHandler | None = None
        self._fragments: list[bytes] = []
        self._fragments_text = False
        self._close_timer: asyncio.TimerHandle | None = None
        self._closed = False

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
        protocol = self._protocol
        protocol.receive_data(data)
        self._flush()
        # After the handshake (done by the HTTP protocol) the only events are frames.
        events = cast("list[Frame]", protocol.events_received())
        if events and self._handler is not None:
            for frame in events:
                opcode = frame.opcode
                if opcode is _TEXT or opcode is _BINARY:
                    if frame.fin:
                        self._deliver(frame.data, opcode is _TEXT)
                    else:
                        self._fragments = [bytes(frame.data)]
                        self._fragments_text = opcode is _TEXT
                elif opcode is _CONT:
                    self._fragments.append(bytes(frame.data))
                    if frame.fin:
                        data_ = b"".join(self._fragments)
                        self._fragments = []
                        self._deliver(data_, self._fragments_text)

    def eof_received(self) -> bool | None:
        """The peer half-closed: let the protocol see EOF, then close our side."""
        self._protocol.receive_eof()
        self._flush()
        return None

    def connection_lost(self, exc: Exception | None) -> None:
        """Report the end of the connection to the handler, once."""
        if self._close_timer is not None:
            self._close_timer.cancel()
            self._close_timer = None
        self._protocol.receive_eof()
        self._protocol.data_to_send()
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

    def pause_writing(self) -> None:
        """The write buffer is over its high-water mark: stop reading from this peer."""
        if not self._transport.is_closing():
            self._transport.pause_reading()

    def resume_writing(self) -> None:
        """The write buffer drained: read again."""
        if not self._transport.is_closing():
            self._transport.resume_reading()

    # WebSocketTransport

    def send_text(self, data: str) -> None:
        """Queue a text message; ignored once the connection is closing."""
        protocol = self._protocol
        if protocol.state is _OPEN:
            protocol.send_text(data.encode())
            self._transport.writelines(protocol.data_to_send())

    def send_bytes(self, data: bytes) -> None:
        """Queue a binary message; ignored once the connection is closing."""
        protocol = self._protocol
        if protocol.state is _OPEN:
            protocol.send_binary(data)
            self._transport.writelines(protocol.data_to_send())

    def send_frame(self, frame: bytes) -> None:
        """Write one pre-built frame (see :func:`frame_message`) as is."""
        if self._protocol.state is _OPEN:
            self._transport.write(frame)

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
        """Bytes handed to the transport and not yet written to the socket."""
        return self._transport.get_write_buffer_size()

    def close(self, code: int = 1000, reason: str = "") -> None:
        """Start the closing handshake; the TCP connection is dropped if the peer stalls."""
        protocol = self._protocol
        if protocol.state is _OPEN:
            protocol.send_close(code, reason)
            self._flush()

    def abort(self) -> None:
        """Drop the TCP connection at once (server shutdown deadline)."""
        self._transport.abort()

    # internals

    def _deliver(self, data: bytes | bytearray | memoryview, text: bool) -> None:
        handler = self._handler
        assert handler is not None
        message: str | bytes
        if text:
            try:
                message = bytes(data).decode()
            except UnicodeDecodeError:
                # RFC 6455 section 8.1: invalid UTF-8 in a text message fails the connection.
                self._protocol.fail(1007, "invalid UTF-8")
                self._flush()
                return
        else:
            message = data if isinstance(data, bytes) else bytes(data)
        try:
            handler.on_message(message)
        except Exception:
            logger.exception("WebSocket handler on_message failed")

    def _flush(self) -> None:
        protocol = self._protocol
        transport = self._transport
        for chunk in protocol.data_to_send():
            if chunk:
                transport.write(chunk)
            else:
                # SEND_EOF: the server side closes the TCP connection (RFC 6455 7.1.1);
                # close() still flushes what is buffered.
                transport.close()
        if self._close_timer is None and protocol.close_expected():
            loop = asyncio.get_running_loop()
            self._close_timer = loop.call_later(CLOSE_TIMEOUT, transport.abort)

    def _close_code(self) -> int:
        protocol = self._protocol
        if protocol.close_rcvd is not None:
            return protocol.close_rcvd.code
        if protocol.close_sent is not None:
            return protocol.close_sent.code
        return 1006
