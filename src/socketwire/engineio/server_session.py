"""The server side of one Engine.IO v4 session, sans I/O (JS engine.io 6 ``Socket``).

The I/O layer feeds what arrives (a poll, a POST body, a WebSocket message, a closed connection, the
passing of time) into one [`ServerSession`][ServerSession], and after each call must drain
[`ServerSession.take_outputs()`][ServerSession.take_outputs] and act on every output in order:

- [`AnswerPoll`][AnswerPoll]: answer the pending polling GET with this payload (200, text).
- [`SendWebSocket`][SendWebSocket] / [`SendProbe`][SendProbe]: write a message to the session's
  WebSocket, or to the WebSocket probing an upgrade.
- [`CloseWebSocket`][CloseWebSocket]: close the session's WebSocket (or the probe).
- [`MessageReceived`][MessageReceived], [`Upgrading`][Upgrading], [`Upgraded`][Upgraded],
  [`Closed`][Closed]: tell the application.
- An [`Observation`][Observation]: only from a session being observed (see
  [`socketwire.engineio.observed`][socketwire.engineio.observed]); tell its listeners.

Then it must (re)arm one timer for [`ServerSession.next_deadline()`][ServerSession.next_deadline]
and call [`ServerSession.handle_timeout()`][ServerSession.handle_timeout] when it passes. The
session starts no timer itself.

Outgoing packets are queued in WebSocket form (``str`` or raw ``bytes``): on WebSocket they
are written as they are, and a poll joins them into one payload. A packet encoded once can
thus be queued on many sessions ([`ServerSession.send_encoded()`][ServerSession.send_encoded]).

A WebTransport session (``"webtransport"``) is driven as a WebSocket one: its stream
carries the same messages, each framed by
[`socketwire.engineio.stream`][socketwire.engineio.stream], which the I/O layer's stream
object applies (the ``*WebSocket`` outputs mean "the session's message transport").
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from enum import Enum, StrEnum

from socketwire.engineio.errors import ProtocolError
from socketwire.engineio.framing import Framing
from socketwire.engineio.http import HttpAnswer, bad_request_empty
from socketwire.engineio.options import EngineOptions, Transport
from socketwire.engineio.packets import Packet, PacketType, encode_packet
from socketwire.engineio.reasons import CloseReason

__all__ = [
    "CLOSE_TIMEOUT",
    "UPGRADE_CHECK_INTERVAL",
    "AnswerPoll",
    "CloseWebSocket",
    "Closed",
    "MessageReceived",
    "Observation",
    "Output",
    "ReadyState",
    "SendProbe",
    "SendWebSocket",
    "ServerSession",
    "Upgraded",
    "Upgrading",
    "max_payload_packets",
]

#: Seconds a polling session closed by the server waits for the poll that carries its
#: close packet (JS ``Polling.closeTimeout``).
CLOSE_TIMEOUT = 30.0
#: Seconds between the noops that end a pending poll while an upgrade waits for its ``5``
#: (JS ``Socket._maybeUpgrade``: ``setInterval(check, 100)`` from the ``2probe`` on).
UPGRADE_CHECK_INTERVAL = 0.1

_PING = encode_packet(Packet(PacketType.PING))
_PONG = "3"
_NOOP = "6"
_CLOSE = "1"
_PONG_PROBE = "3probe"


class ReadyState(StrEnum):
    """The session's state, with the JS ``readyState`` names."""

    OPENING = "opening"
    OPEN = "open"
    CLOSING = "closing"
    CLOSED = "closed"


#: For the per-message paths: an enum attribute lookup costs more than the test itself.
_OPEN = ReadyState.OPEN


class _Probe(Enum):
    NONE = 0
    #: A WebSocket with this sid is attached; ``2probe`` not yet received.
    ATTACHED = 1
    #: ``3probe`` sent; waiting for ``5``. Every
    #: [`UPGRADE_CHECK_INTERVAL`][UPGRADE_CHECK_INTERVAL] a pending poll gets a noop.
    PROBED = 2


@dataclass(frozen=True, slots=True)
class AnswerPoll:
    """Answer the pending polling GET (200, ``text/plain; charset=UTF-8``) with ``payload``
    (bytes: a v3 binary payload, ``application/octet-stream``).

    ``compress``: HTTP compression may be applied (JS: some packet of the payload was sent
    with ``compress`` true, the default).
    """

    payload: str | bytes
    compress: bool = True


@dataclass(frozen=True, slots=True)
class SendWebSocket:
    """Write one message (text or binary) to the session's WebSocket.

    ``compress``: permessage-deflate may be applied (the default). ``frame``: the message
    already framed by the I/O layer (a broadcast framed once), opaque to the core: write it
    instead of framing ``data`` when the WebSocket allows.
    """

    data: str | bytes
    compress: bool = True
    frame: bytes | None = None


@dataclass(frozen=True, slots=True)
class SendProbe:
    """Write one message to the WebSocket that is probing an upgrade."""

    data: str


@dataclass(frozen=True, slots=True)
class CloseWebSocket:
    """Close the session's WebSocket (``probe=False``) or the probing one (``probe=True``)."""

    probe: bool


@dataclass(frozen=True, slots=True)
class MessageReceived:
    """The client sent a message."""

    data: str | bytes


@dataclass(frozen=True, slots=True)
class Upgrading:
    """The probing WebSocket sent ``2probe`` and got ``3probe``: the client is moving to it
    (JS socket ``upgrading`` event)."""


@dataclass(frozen=True, slots=True)
class Upgraded:
    """The session now runs on the probing WebSocket, which becomes its WebSocket."""


@dataclass(frozen=True, slots=True)
class Closed:
    """The session ended; the I/O layer forgets it. Always the last output."""

    reason: CloseReason


class Observation:
    """The base of the outputs only an observed session produces (its packets, flushes and
    heartbeats: see [`socketwire.engineio.observed`][socketwire.engineio.observed])."""

    __slots__ = ()


Output = (
    AnswerPoll
    | SendWebSocket
    | SendProbe
    | CloseWebSocket
    | MessageReceived
    | Upgrading
    | Upgraded
    | Closed
    | Observation
)


def max_payload_packets(max_http_buffer_size: int) -> int:
    """The most packets accepted in one POST payload.

    A payload is already bounded by ``max_http_buffer_size`` bytes; this bound stops a
    payload of one-character packets from costing one object per two bytes. Four bytes a
    packet is below any real message (Socket.IO's smallest event, ``42["a"]``, is 8).
    """
    return max(1024, max_http_buffer_size // 4)


def _too_large(data: str | bytes, limit: int) -> bool:
    # A str has at most 4 UTF-8 bytes a character: encode only when it could be too large.
    if isinstance(data, str) and len(data) * 4 > limit:
        return len(data.encode("utf-8", "surrogatepass")) > limit
    return len(data) > limit


class ServerSession:
    """One Engine.IO v4 session on the server.

    Create it when a handshake is accepted: the open packet (and the configured initial
    packet) is queued at once, and on WebSocket written at once.
    """

    __slots__ = (
        "_close_deadline",
        "_framing",
        "_get_pending",
        "_next_ping",
        "_noop_deadline",
        "_options",
        "_outputs",
        "_pong_deadline",
        "_post_binary",
        "_post_pending",
        "_probe",
        "_probe_base64",
        "_probe_transport",
        "_queue",
        "_queue_compress",
        "_queued_bytes",
        "_reading_paused",
        "_refreshed",
        "_upgrade_deadline",
        "sid",
        "state",
        "transport",
        "upgraded",
    )

    def __init__(
        self,
        sid: str,
        transport: Transport,
        options: EngineOptions,
        now: float,
        *,
        framing: Framing | None = None,
    ) -> None:
        """Open the session.

        Args:
            sid: the session id (unique, unguessable).
            transport: the transport of the handshake request.
            options: the server's options (shared, read only).
            now: the current time, in seconds, on the clock of every later ``now``.
            framing: the protocol revision and client abilities of the handshake (default:
                v4).
        """
        self._framing = framing if framing is not None else Framing()
        self.sid = sid
        self.transport: Transport = transport
        self.state = ReadyState.OPEN
        self.upgraded = False
        self._options = options
        self._outputs: list[Output] = []
        self._queue: list[str | bytes] = []
        #: the ``compress`` option of each queued message (JS ``packet.options.compress``)
        self._queue_compress: list[bool] = []
        self._queued_bytes = 0
        self._get_pending = False
        self._post_pending = False
        self._post_binary = False
        self._probe = _Probe.NONE
        self._probe_base64 = False
        self._probe_transport: Transport = "websocket"
        self._upgrade_deadline: float | None = None
        #: while probed: when a pending poll next gets a noop (JS's upgrade check)
        self._noop_deadline: float | None = None
        self._close_deadline: float | None = None
        self._pong_deadline: float | None = None
        self._refreshed = False
        #: the I/O layer stopped reading (see pause_reading): the pong deadline waits
        self._reading_paused = False
        self._next_ping: float | None = now + options.ping_interval
        if self._framing.protocol == 3:
            # v3: the client pings; it must within ping_interval + ping_timeout, each time
            # (JS resetPingTimeout). No packet but a ping refreshes it.
            self._next_ping = None
            self._pong_deadline = now + options.ping_interval + options.ping_timeout
            self._refreshed = True
        handshake = {
            "sid": sid,
            "upgrades": options.upgrades(transport),
            "pingInterval": round(options.ping_interval * 1000),
            "pingTimeout": round(options.ping_timeout * 1000),
            "maxPayload": options.max_http_buffer_size,
        }
        # The handshake is exempt from the buffer bound: it always reaches the client.
        self._send("0" + json.dumps(handshake, separators=(",", ":")), bounded=False)
        initial = options.initial_packet
        if initial is not None:
            self._send("4" + initial if isinstance(initial, str) else initial, bounded=False)

    # -- what the I/O layer reads -------------------------------------------------------

    def take_outputs(self) -> list[Output]:
        """Return and forget the outputs produced so far; act on each, in order."""
        outputs = self._outputs
        if outputs:
            self._outputs = []
        return outputs

    @property
    def protocol(self) -> int:
        """The Engine.IO protocol revision of the session (4, or 3 for ``EIO=3``)."""
        return self._framing.protocol

    @property
    def writable(self) -> bool:
        """True when a packet sent now leaves at once (WebSocket, or a poll is pending)."""
        return self.state is ReadyState.OPEN and (self.transport != "polling" or self._get_pending)

    @property
    def writes_through(self) -> bool:
        """True when a message sent now would be the only output, a
        [`SendWebSocket`][SendWebSocket].

        The I/O layer may then write it to the WebSocket itself instead of calling
        [`send_message()`][send_message] or [`send_encoded()`][send_encoded]: the session's state is
        the same either way (on WebSocket nothing is queued, and sending moves no deadline).
        """
        return (
            self.state is _OPEN
            and self.transport != "polling"
            and not self._outputs
            and not self._framing.websocket_base64
        )

    @property
    def closed(self) -> bool:
        """True once the session has ended (a [`Closed`][Closed] output was produced)."""
        return self.state is ReadyState.CLOSED

    @property
    def upgrading(self) -> bool:
        """True while a WebSocket is probing an upgrade."""
        return self._probe is not _Probe.NONE

    @property
    def buffered_amount(self) -> int:
        """Bytes queued for the next poll (not counting what the transport holds)."""
        return self._queued_bytes

    def next_deadline(self) -> float | None:
        """The earliest time [`handle_timeout()`][handle_timeout] must be called, or None."""
        # Called after every input by the I/O layer: no allocation on this path.
        best = self._next_ping
        pong = None if self._reading_paused else self._pong_deadline
        for deadline in (pong, self._upgrade_deadline, self._noop_deadline, self._close_deadline):
            if deadline is not None and (best is None or deadline < best):
                best = deadline
        return best

    # -- time ---------------------------------------------------------------------------

    def handle_timeout(self, now: float) -> None:
        """Act on every deadline that has passed (call it early: it does nothing)."""
        if self.state is ReadyState.CLOSED:
            return
        pong = self._pong_deadline
        if pong is not None and now >= pong and not self._reading_paused:
            self._close(CloseReason.PING_TIMEOUT)
            return
        if self._close_deadline is not None and now >= self._close_deadline:
            self._close(CloseReason.FORCED_CLOSE)
            return
        if self._upgrade_deadline is not None and now >= self._upgrade_deadline:
            self._end_probe()
        noop = self._noop_deadline
        if noop is not None and now >= noop:
            # JS's check: a writable poll gets a noop, so that the client can pause polling
            # and send "5"; and again every interval while the upgrade waits.
            self._noop_deadline = now + UPGRADE_CHECK_INTERVAL
            if self._get_pending:
                self._answer([_NOOP])
        if self._next_ping is not None and now >= self._next_ping:
            # engine.io 6: the server pings, then waits ping_timeout for the pong. While
            # closing, the ping is not sent but the deadline is armed (JS sendPacket drops
            # it, resetPingTimeout does not).
            self._next_ping = None
            self._refreshed = False
            self._pong_deadline = now + self._options.ping_timeout
            self._send(_PING)

    # -- the application ----------------------------------------------------------------

    def send_message(self, data: str | bytes, *, compress: bool = True) -> None:
        """Send a message packet (text or binary); dropped once the session is closing.

        Args:
            data: the message.
            compress: allow compression of what carries it (JS ``options.compress``).
        """
        message = "4" + data if isinstance(data, str) else self._framing.binary_message(data)
        self._send(message, compress=compress)

    def send_encoded(
        self, message: str | bytes, *, compress: bool = True, frame: bytes | None = None
    ) -> None:
        """Send a packet already encoded for a WebSocket (see `encode_packet()`).

        This is the broadcast path: the caller encodes a packet once for many sessions.

        Args:
            message: the encoded packet (``"4..."`` text, or raw bytes).
            compress: allow compression of what carries it (JS ``options.compress``).
            frame: the packet already framed by the I/O layer, passed through untouched in
                [`SendWebSocket`][SendWebSocket] (dropped when the packet waits for a poll).
        """
        self._send(message, compress=compress, frame=frame)

    def close(self, now: float, reason: CloseReason = CloseReason.FORCED_CLOSE) -> None:
        """Close the session from the server side.

        ``FORCED_CLOSE`` (the application) is orderly, as JS ``socket.close()``: over polling
        with no poll pending, the queued packets and a close packet wait for the next poll
        (at most [`CLOSE_TIMEOUT`][CLOSE_TIMEOUT]). Any other reason (server shutdown) closes now.
        While the session waits, its heartbeat goes on as in JS (no ping is sent, but the
        pong deadline is armed on schedule): a client that has gone is closed with "ping
        timeout" as early as it would have been had the session stayed open.
        """
        if self.state is not ReadyState.OPEN:
            if self.state is ReadyState.CLOSING and reason is not CloseReason.FORCED_CLOSE:
                self._close(reason)
            return
        if (
            reason is CloseReason.FORCED_CLOSE
            and self.transport == "polling"
            and not self._get_pending
        ):
            self.state = ReadyState.CLOSING
            self._close_deadline = now + CLOSE_TIMEOUT
            if self._probe is not _Probe.NONE:
                self._end_probe()
            return
        self._close(reason)

    # -- flow control -------------------------------------------------------------------

    def pause_reading(self) -> None:
        """The I/O layer stopped reading from the client (the application's backpressure).

        The client's pong cannot be read meanwhile, so the pong deadline is not enforced
        until [`resume_reading()`][resume_reading]; the application bounds how long it
        pauses. Pings are still sent, and every other deadline still applies.
        """
        self._reading_paused = True

    def resume_reading(self, now: float) -> None:
        """The I/O layer reads from the client again: a pong still awaited gets at least
        ``ping_timeout`` from ``now`` (it may be among the bytes not read yet)."""
        if not self._reading_paused:
            return
        self._reading_paused = False
        pong = self._pong_deadline
        if pong is not None:
            self._pong_deadline = max(pong, now + self._options.ping_timeout)

    # -- polling ------------------------------------------------------------------------

    def receive_get(self, now: float) -> HttpAnswer | None:
        """A polling GET arrived.

        Returns:
            None: this GET is now the pending poll; wait for an [`AnswerPoll`][AnswerPoll] output
            (it may already be among the outputs). An [`HttpAnswer`][HttpAnswer]: answer this GET
            with it at once (the pending poll, if any, is answered through the outputs).
        """
        if self.state is ReadyState.CLOSED:
            return bad_request_empty()
        if self._get_pending:
            # JS: "overlap from client" is a transport error; the first poll gets the close
            # packet (its transport is still writable) and the second a bare 400.
            self._close(CloseReason.TRANSPORT_ERROR)
            return bad_request_empty()
        self._get_pending = True
        if self.state is ReadyState.CLOSING:
            self._flush_poll(closing=True)
            self._close(CloseReason.FORCED_CLOSE)
        elif self._queue:
            self._flush_poll()
        # While probed, an empty poll waits for the next upgrade check (handle_timeout).
        return None

    def poll_aborted(self) -> None:
        """The client closed the connection of the pending GET before it was answered."""
        if self._get_pending:
            self._get_pending = False
            # JS: "poll connection closed prematurely".
            self._close(CloseReason.TRANSPORT_ERROR)

    def receive_post_start(self, *, binary: bool) -> HttpAnswer | None:
        """A polling POST arrived; call before reading its body.

        Args:
            binary: the Content-Type is ``application/octet-stream`` (refused on v4; a
                binary payload on v3).

        Returns:
            None: read the body (limit ``max_http_buffer_size``), then call
            [`receive_post()`][receive_post] (or [`post_aborted()`][post_aborted]). An
            [`HttpAnswer`][HttpAnswer]: answer it at once and do not read the body.
        """
        if self.state is ReadyState.CLOSED:
            return bad_request_empty()
        if self._post_pending or (binary and self._framing.protocol == 4):
            # JS: "data request overlap from client" / "invalid content".
            self._close(CloseReason.TRANSPORT_ERROR)
            return bad_request_empty()
        self._post_pending = True
        self._post_binary = binary
        return None

    def post_aborted(self, *, disconnected: bool) -> None:
        """Reading the POST body failed: too large (413, session kept) or client gone."""
        self._post_pending = False
        if disconnected:
            # JS: "data request connection closed prematurely".
            self._close(CloseReason.TRANSPORT_ERROR)

    def receive_post(self, body: bytes, now: float) -> HttpAnswer:
        """The whole POST body arrived; returns the answer (``ok``, or 400)."""
        self._post_pending = False
        if self.state is ReadyState.CLOSED:
            return bad_request_empty()
        if len(body) > self._options.max_http_buffer_size:
            # The I/O layer bounds its read; this keeps the limit true for any driver.
            return HttpAnswer(413)
        try:
            packets = self._framing.decode_post(
                body,
                binary=self._post_binary,
                max_packets=max_payload_packets(self._options.max_http_buffer_size),
            )
        except ProtocolError:
            self._close(CloseReason.PARSE_ERROR)
            return bad_request_empty()
        for packet in packets:
            if self.closed:
                break
            if packet.type is PacketType.CLOSE:
                # JS Polling.onData: a close packet closes the transport.
                self._close(CloseReason.TRANSPORT_CLOSE)
                break
            self._on_packet(packet, now)
        return HttpAnswer(200, b"ok", "text/html")

    # -- WebSocket ----------------------------------------------------------------------

    def receive_websocket(self, data: str | bytes, now: float) -> None:
        """A message arrived on the session's WebSocket."""
        if self.state is ReadyState.CLOSED:
            return
        if _too_large(data, self._options.max_http_buffer_size):
            # JS: the ws library fails the connection ("Max payload size exceeded"), which
            # engine.io reports as a transport error.
            self._close(CloseReason.TRANSPORT_ERROR)
            return
        try:
            packet = self._framing.decode(data)
        except ProtocolError:
            self._close(CloseReason.PARSE_ERROR)
            return
        # A close packet on WebSocket is ignored, as JS does: the WebSocket close follows.
        self._on_packet(packet, now)

    def take_websocket_message(self, data: str | bytes) -> str | bytes | None:
        """The shortcut for the common WebSocket message: a MESSAGE packet that changes
        nothing in the session, with no output pending.

        Returns:
            Its data, for the I/O layer to hand to the application itself (what the
            [`MessageReceived`][MessageReceived] of [`receive_websocket()`][receive_websocket] would
            carry). None: the session did not take ``data``; pass it to
            [`receive_websocket()`][receive_websocket].
        """
        # Not while a pong is awaited (v4): the first packet then moves the pong deadline.
        if (
            self.state is _OPEN
            and (self._pong_deadline is None or self._refreshed)
            and not self._outputs
        ):
            if isinstance(data, str):
                limit = self._options.max_http_buffer_size
                # (a message of at most limit / 4 characters is never too large: no call)
                if data[:1] == "4" and (len(data) * 4 <= limit or not _too_large(data, limit)):
                    return data[1:]
            elif not _too_large(data, self._options.max_http_buffer_size):
                if self._framing.protocol == 4:
                    # A binary WebSocket message is a MESSAGE packet (no type byte).
                    return bytes(data)
                if data[:1] == b"\x04":
                    # v3 keeps the type byte
                    return bytes(data[1:])
        return None

    def websocket_closed(self, *, error: bool = False) -> None:
        """The session's WebSocket ended.

        Args:
            error: it ended on a protocol error (invalid frame, invalid UTF-8, a message
                over the size limit): "transport error", as the JS server reports the
                ``ws`` error event that precedes the close; otherwise "transport close".
        """
        if self.state is not ReadyState.CLOSED:
            reason = CloseReason.TRANSPORT_ERROR if error else CloseReason.TRANSPORT_CLOSE
            self._close(reason, websocket_open=False)

    def start_probe(
        self, now: float, *, base64: bool = False, transport: Transport = "websocket"
    ) -> bool:
        """A WebSocket (or a WebTransport stream) with this session's sid was accepted: may
        it probe an upgrade?

        Args:
            now: the current time.
            base64: v3: the WebSocket's query has ``b64`` (binary goes to it as base64).
            transport: the probing transport, ``"websocket"`` or ``"webtransport"``.

        Returns:
            True: it is the probe; feed its messages to [`receive_probe()`][receive_probe]. False:
            the session is not on polling, is closing, or is already upgrading; close the new
            WebSocket (the session is not disturbed).
        """
        if (
            self.state is not ReadyState.OPEN
            or self.transport != "polling"
            or self._probe is not _Probe.NONE
        ):
            return False
        self._probe = _Probe.ATTACHED
        self._probe_transport = transport
        self._probe_base64 = base64 and self._framing.protocol == 3
        self._upgrade_deadline = now + self._options.upgrade_timeout
        return True

    def receive_probe(self, data: str | bytes, now: float) -> None:
        """A message arrived on the probing WebSocket (JS ``Socket._maybeUpgrade``)."""
        if self._probe is _Probe.NONE or self.state is ReadyState.CLOSED:
            return
        try:
            packet = self._framing.decode(data)
        except ProtocolError:
            self._end_probe()
            return
        if packet.type is PacketType.PING and packet.data == "probe":
            self._outputs.append(SendProbe(_PONG_PROBE))
            self._outputs.append(Upgrading())
            self._probe = _Probe.PROBED
            # The first noop comes one interval later, not now (JS starts its interval).
            self._noop_deadline = now + UPGRADE_CHECK_INTERVAL
        elif packet.type is PacketType.UPGRADE:
            self._complete_upgrade()
        else:
            self._end_probe()

    def probe_closed(self) -> None:
        """The probing WebSocket ended before the upgrade completed."""
        if self._probe is not _Probe.NONE:
            self._probe = _Probe.NONE
            self._upgrade_deadline = self._noop_deadline = None

    # -- internals ----------------------------------------------------------------------

    def _on_packet(self, packet: Packet, now: float) -> None:
        if self.state is not ReadyState.OPEN:
            return
        kind = packet.type
        if self._pong_deadline is not None and not self._refreshed and kind is not PacketType.PONG:
            # JS 6.6: any packet while waiting for the pong proves the client alive once.
            self._pong_deadline = now + self._options.ping_timeout
            self._refreshed = True
        if kind is PacketType.MESSAGE:
            self._outputs.append(MessageReceived(packet.data))
        elif kind is PacketType.PONG:
            if self._framing.protocol == 3:
                # v3 heartbeats go client to server: "invalid heartbeat direction".
                self._close(CloseReason.TRANSPORT_ERROR)
                return
            self._pong_deadline = None
            self._next_ping = now + self._options.ping_interval
        elif kind is PacketType.PING:
            if self._framing.protocol == 4:
                # v4 heartbeats go server to client: "invalid heartbeat direction".
                self._close(CloseReason.TRANSPORT_ERROR)
                return
            options = self._options
            self._pong_deadline = now + options.ping_interval + options.ping_timeout
            self._send(_PONG)
        # open, upgrade and noop from the client carry nothing on the main transport.

    def _send(
        self,
        message: str | bytes,
        *,
        bounded: bool = True,
        compress: bool = True,
        frame: bytes | None = None,
    ) -> None:
        if self.state is not ReadyState.OPEN:
            return
        if self.transport != "polling":
            if self._framing.websocket_base64 and not isinstance(message, str):
                message, frame = self._framing.to_websocket(message), None
            self._outputs.append(SendWebSocket(message, compress, frame))
            return
        self._queue.append(message)
        self._queue_compress.append(compress)
        # Binary travels as base64 in a payload: 4 chars for 3 bytes.
        self._queued_bytes += len(message) if isinstance(message, str) else len(message) * 4 // 3
        if self._get_pending:
            self._flush_poll()
        elif bounded and self._queued_bytes > self._options.max_buffered_bytes:
            self._close(CloseReason.BUFFER_FULL)

    def _flush_poll(self, *, closing: bool = False) -> None:
        """Answer the pending poll with what is queued (``closing``: and a close packet)."""
        queue = self._queue
        if closing:
            tail = [*queue, _CLOSE] if queue else [_NOOP, _CLOSE]
            # only control packets: compress stays allowed (JS never compresses so little)
            compress = not self._queue_compress or any(self._queue_compress)
        else:
            tail = queue
            # JS Polling.send: the response may be compressed if any of its packets may.
            compress = any(self._queue_compress)
        self._clear_queue()
        self._answer(tail, compress)

    def _clear_queue(self) -> None:
        self._queue = []
        self._queue_compress = []
        self._queued_bytes = 0

    def _answer(self, messages: Sequence[str | bytes], compress: bool = True) -> None:
        self._get_pending = False
        self._outputs.append(AnswerPoll(self._framing.payload(messages), compress))

    def _end_probe(self) -> None:
        if self._probe is not _Probe.NONE:
            self._probe = _Probe.NONE
            self._upgrade_deadline = self._noop_deadline = None
            self._outputs.append(CloseWebSocket(probe=True))

    def _complete_upgrade(self) -> None:
        self._probe = _Probe.NONE
        self._upgrade_deadline = self._noop_deadline = None
        self.transport = self._probe_transport
        self.upgraded = True
        self._framing.websocket_base64 = self._probe_base64
        if self._get_pending:
            # JS closes the discarded polling transport, which ends a pending poll with a
            # close packet. (A conforming client paused polling before sending "5".)
            self._answer([_CLOSE])
        self._outputs.append(Upgraded())
        queue, flags = self._queue, self._queue_compress
        self._clear_queue()
        to_websocket = self._framing.to_websocket
        self._outputs.extend(
            SendWebSocket(to_websocket(m), c) for m, c in zip(queue, flags, strict=True)
        )

    def _close(self, reason: CloseReason, *, websocket_open: bool = True) -> None:
        if self.state is ReadyState.CLOSED:
            return
        self.state = ReadyState.CLOSED
        self._next_ping = self._pong_deadline = None
        self._upgrade_deadline = self._noop_deadline = self._close_deadline = None
        if self._probe is not _Probe.NONE:
            self._probe = _Probe.NONE
            self._outputs.append(CloseWebSocket(probe=True))
        if self.transport == "polling":
            if self._get_pending:
                # The client's close packet closes the transport itself and JS
                # Polling.onClose ends the poll with a noop; any other close goes through
                # Polling.doClose, which sends the close packet.
                self._answer([_NOOP if reason is CloseReason.TRANSPORT_CLOSE else _CLOSE])
        elif websocket_open:
            self._outputs.append(CloseWebSocket(probe=False))
        self._clear_queue()
        self._outputs.append(Closed(reason))
