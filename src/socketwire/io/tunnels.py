"""A WebSocket relayed between two nodes: the upgrade of a session another node owns.

When a WebSocket upgrade reaches a node (the *opener*) for a session another node (the
*owner*) owns, the owner's Engine.IO server decides, as for any upgrade
(`socketwire.io.forwarding`). Once it accepts, the opener completes the handshake with
the client and the two ends of this module relay the messages through the cluster's
channel, in order, for the WebSocket's life:

- [`TunnelRelay`][TunnelRelay] (opener): the handler of the client's real WebSocket. Each
  message the client sends goes to the owner (`CLIENT_MESSAGE`); each one the owner
  sends is written to the client (`SERVER_MESSAGE`); closing either way is passed on.
- [`RemoteWebSocket`][RemoteWebSocket] (owner): a
  [`WebSocketTransport`][socketwire.io.http.WebSocketTransport] the owner's session writes
  to, as to a local WebSocket (it takes messages, not pre-built frames).

Bounds and backpressure, each way:

- client to owner: the opener stops reading the client while more than ``window`` bytes
  it relayed have not left for the broker yet, and while the owner's application pauses
  reading (`FLOW`: the owner holds at most ``max_held`` bytes that were already on
  their way, and closes the tunnel over that);
- owner to client: the owner's session counts what is not yet published as buffered (its
  ``max_buffered_bytes`` applies); the opener closes the client's WebSocket (1008) when the
  client does not take what it writes (over ``max_buffered`` bytes), and holds at most
  that much for a WebSocket not yet open.
"""

from __future__ import annotations

import asyncio
import logging
from collections import deque
from collections.abc import Callable
from typing import Protocol

from socketwire.engineio.forwarding import ForwardBody, ForwardType, TunnelClose, TunnelData
from socketwire.engineio.forwarding import TunnelFlow as Flow
from socketwire.io.http import WebSocketHandler, WebSocketTransport

__all__ = ["RemoteWebSocket", "TunnelHost", "TunnelRelay"]

logger = logging.getLogger("socketwire.forwarding")

#: The close code for a tunnel that broke (its other end or the broker is gone).
BROKEN = 1011
#: The close code for a client that does not take what is written to it.
TOO_SLOW = 1008


class TunnelHost(Protocol):
    """What a tunnel's end needs of its node's forwarder."""

    def send(
        self,
        peer: str,
        kind: ForwardType,
        rid: int,
        body: ForwardBody | None,
        done: Callable[[int | None], None] | None = None,
    ) -> bool:
        """Publish a message to ``peer`` (``done``: receivers, or None when not sent)."""

    def forget_relay(self, rid: int) -> None:
        """The opener's end ``rid`` ended."""

    def forget_tunnel(self, peer: str, rid: int) -> None:
        """The owner's end ``(peer, rid)`` ended."""


def _size(data: str | bytes) -> int:
    return len(data)


class RemoteWebSocket:
    """The owner's end of a tunnel: a WebSocket whose client is on node ``peer``.

    Args:
        host: The owner's forwarder.
        peer: The opener's id.
        rid: The tunnel's number (the opener's request id).
        max_held: Bytes held while the application pauses reading; over it the tunnel
            closes (1009).
    """

    def __init__(self, host: TunnelHost, peer: str, rid: int, *, max_held: int) -> None:
        self._host = host
        self.peer = peer
        self.rid = rid
        self._max_held = max_held
        self._handler: WebSocketHandler | None = None
        self._unsent = 0
        self._paused = False
        self._held: deque[str | bytes] = deque()
        self._held_bytes = 0
        self._closed = False
        self._reported = False

    # -- WebSocketTransport --------------------------------------------------------------

    @property
    def supports_frames(self) -> bool:
        """False: a tunnel carries messages."""
        return False

    @property
    def compressed(self) -> bool:
        """False (the opener's WebSocket compresses, if it negotiated it)."""
        return False

    @property
    def buffered_amount(self) -> int:
        """Bytes sent by the session and not yet handed to the broker."""
        return self._unsent

    def send_text(self, data: str) -> None:
        """Relay a text message to the client."""
        self._send(data)

    def send_bytes(self, data: bytes) -> None:
        """Relay a binary message to the client."""
        self._send(bytes(data))

    def send_frame(self, frame: bytes) -> None:
        """Not supported: [`supports_frames`][supports_frames] is False."""
        raise NotImplementedError("a tunnel carries messages, not frames")

    def close(self, code: int = 1000, reason: str = "") -> None:
        """Close the client's WebSocket; the handler's ``on_close`` follows."""
        if self._closed:
            return
        self._end()
        self._host.send(self.peer, ForwardType.SERVER_CLOSE, self.rid, TunnelClose(code, reason))
        asyncio.get_running_loop().call_soon(self._report, code)

    def pause_reading(self) -> None:
        """Deliver nothing more until `resume_reading()`; the opener stops reading."""
        if self._paused or self._closed:
            return
        self._paused = True
        self._host.send(self.peer, ForwardType.FLOW, self.rid, Flow(True))

    def resume_reading(self) -> None:
        """Deliver what was held, then let the opener read again."""
        if not self._paused:
            return
        self._paused = False
        while self._held and not self._paused and not self._closed:
            self._deliver(self._held.popleft())
        if self._paused or self._closed:
            return
        self._held_bytes = 0
        self._host.send(self.peer, ForwardType.FLOW, self.rid, Flow(False))

    # -- driven by the forwarder ---------------------------------------------------------

    def bind(self, handler: WebSocketHandler) -> None:
        """The session's handler for this WebSocket (once attached)."""
        self._handler = handler
        if self._closed:
            self._report(BROKEN)
            return
        while self._held and not self._paused and not self._closed:
            self._deliver(self._held.popleft())

    def client_message(self, data: str | bytes) -> None:
        """A message from the client."""
        if self._closed:
            return
        if self._paused or self._handler is None:
            self._held.append(data)
            self._held_bytes += _size(data)
            if self._held_bytes > self._max_held:
                logger.warning(
                    "tunnel %s/%d: %d bytes held while paused: closing",
                    self.peer,
                    self.rid,
                    self._held_bytes,
                )
                self.close(1009, "message buffer full")
            return
        self._deliver(data)

    def client_closed(self, code: int) -> None:
        """The client's WebSocket closed with ``code``."""
        if self._closed:
            return
        self._end()
        self._report(code)

    def opener_gone(self) -> None:
        """The opener's node is gone: the connection is lost."""
        self.client_closed(1006)

    # -- internals -----------------------------------------------------------------------

    def _deliver(self, data: str | bytes) -> None:
        handler = self._handler
        if handler is not None:
            self._held_bytes = max(0, self._held_bytes - _size(data))
            handler.on_message(data)

    def _send(self, data: str | bytes) -> None:
        if self._closed:
            return
        size = _size(data)
        self._unsent += size

        def done(receivers: int | None) -> None:
            self._unsent -= size
            if not receivers:
                # Not sent (the broker refused it), or nobody listens: the opener is gone.
                self.opener_gone()

        self._host.send(self.peer, ForwardType.SERVER_MESSAGE, self.rid, TunnelData(data), done)

    def _end(self) -> None:
        self._closed = True
        self._held.clear()
        self._held_bytes = 0
        self._host.forget_tunnel(self.peer, self.rid)

    def _report(self, code: int) -> None:
        if self._reported or self._handler is None:
            return
        self._reported = True
        self._handler.on_close(code)


class TunnelRelay:
    """The opener's end of a tunnel: the client's WebSocket, relayed to node ``owner``.

    Args:
        host: The opener's forwarder.
        owner: The owner's id.
        rid: The tunnel's number (this node's request id).
        max_buffered: Bytes the client may leave unread (and that may wait for the
            WebSocket to open) before the tunnel closes.
        window: Bytes relayed to the owner and not yet handed to the broker before reading
            the client pauses.
    """

    def __init__(
        self, host: TunnelHost, owner: str, rid: int, *, max_buffered: int, window: int
    ) -> None:
        self._host = host
        self.owner = owner
        self.rid = rid
        self._max_buffered = max_buffered
        self._window = window
        self._ws: WebSocketTransport | None = None
        self._early: deque[str | bytes] = deque()
        self._early_bytes = 0
        #: the owner's close, arrived before the WebSocket opened
        self._owner_close: tuple[int, str] | None = None
        #: nothing more goes to the owner
        self._ended = False
        self._owner_paused = False
        self._unsent = 0
        self._reading_paused = False
        self._timer: asyncio.TimerHandle | None = None

    def expect_attach(self, timeout: float) -> None:
        """The owner accepted: the plumbing must attach the WebSocket within ``timeout``
        seconds (else the handshake failed, and the owner is told)."""
        self._timer = asyncio.get_running_loop().call_later(timeout, self._not_attached)

    def attach(self, ws: WebSocketTransport) -> WebSocketHandler:
        """The client's WebSocket is open (the ``attach`` of the upgrade's acceptance)."""
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        self._ws = ws
        while self._early:
            self._write(ws, self._early.popleft())
        self._early_bytes = 0
        if self._owner_close is not None:
            ws.close(*self._owner_close)
        elif self._ended:
            ws.close(BROKEN)
        else:
            self._update_reading()
        return self

    # -- WebSocketHandler (the client's WebSocket) ----------------------------------------

    def on_message(self, data: str | bytes) -> None:
        """The client sent a message: relay it to the owner."""
        if self._ended:
            return
        size = _size(data)
        self._unsent += size

        def done(receivers: int | None) -> None:
            self._unsent -= size
            if not receivers:
                self.owner_gone(BROKEN)
            else:
                self._update_reading()

        self._host.send(self.owner, ForwardType.CLIENT_MESSAGE, self.rid, TunnelData(data), done)
        self._update_reading()

    def on_close(self, code: int) -> None:
        """The client's WebSocket closed: tell the owner (unless it closed it)."""
        if self._ended:
            return
        self._end()
        self._host.send(self.owner, ForwardType.CLIENT_CLOSE, self.rid, TunnelClose(code))

    # -- driven by the forwarder ---------------------------------------------------------

    def server_message(self, data: str | bytes) -> None:
        """The owner sent a message for the client."""
        if self._ended:
            return
        ws = self._ws
        if ws is None:
            self._early.append(data)
            self._early_bytes += _size(data)
            if self._early_bytes > self._max_buffered:
                self._too_slow(None)
            return
        self._write(ws, data)
        if ws.buffered_amount > self._max_buffered:
            self._too_slow(ws)

    def server_closed(self, code: int, reason: str) -> None:
        """The owner closed the WebSocket."""
        if self._ended:
            return
        self._end()
        if self._ws is not None:
            self._ws.close(code, reason)
        else:
            self._owner_close = (code, reason)

    def flow(self, paused: bool) -> None:
        """The owner's application paused (or resumed) reading."""
        self._owner_paused = paused
        self._update_reading()

    def owner_gone(self, code: int) -> None:
        """The owner's node is gone (or this node closes): close the client's WebSocket."""
        if self._ended:
            return
        self._end()
        if self._ws is not None:
            self._ws.close(code)

    # -- internals -----------------------------------------------------------------------

    @staticmethod
    def _write(ws: WebSocketTransport, data: str | bytes) -> None:
        if isinstance(data, str):
            ws.send_text(data)
        else:
            ws.send_bytes(data)

    def _too_slow(self, ws: WebSocketTransport | None) -> None:
        logger.warning("tunnel to %s/%d: the client does not read: closing", self.owner, self.rid)
        self._end()
        self._host.send(self.owner, ForwardType.CLIENT_CLOSE, self.rid, TunnelClose(TOO_SLOW))
        if ws is not None:
            ws.close(TOO_SLOW)
        else:
            self._owner_close = (TOO_SLOW, "")

    def _not_attached(self) -> None:
        self._timer = None
        if self._ws is None and not self._ended:
            self._end()
            self._host.send(self.owner, ForwardType.CLIENT_CLOSE, self.rid, TunnelClose(1006))

    def _update_reading(self) -> None:
        ws = self._ws
        if ws is None or self._ended:
            return
        if self._reading_paused:
            pause = self._owner_paused or self._unsent > self._window // 2
        else:
            pause = self._owner_paused or self._unsent > self._window
        if pause != self._reading_paused:
            self._reading_paused = pause
            if pause:
                ws.pause_reading()
            else:
                ws.resume_reading()

    def _end(self) -> None:
        self._ended = True
        self._early.clear()
        self._early_bytes = 0
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        if self._reading_paused and self._ws is not None:
            # Read again, so that the closing handshake completes (what arrives now is
            # dropped).
            self._reading_paused = False
            self._ws.resume_reading()
        self._host.forget_relay(self.rid)
