"""Sans-I/O Engine.IO v4 client session: handshake, heartbeat, upgrade, buffering, close.

This is the protocol logic of engine.io-client 6 (``socket.js``, ``transport.js``,
``transports/polling.js``) without any I/O. The session never touches a socket or a clock:

* the driver calls [`ClientSession.start()`][ClientSession.start], then feeds what its transports
  report (``receive_poll_response``, ``post_done``, ``websocket_opened``,
  ``receive_websocket_message``...) and the application's ``send``/``close`` calls;
* after every call it must run
  [`ClientSession.actions_to_perform()`][ClientSession.actions_to_perform] in order (start a poll,
  POST a payload, open/close/write the WebSocket, stop polling), handle
  [`ClientSession.events_received()`][ClientSession.events_received], and re-arm one timer at
  [`ClientSession.next_deadline()`][ClientSession.next_deadline], calling
  [`ClientSession.handle_timeout()`][ClientSession.handle_timeout] then.

Close reasons are engine.io-client's: ``"transport close"`` (the server closed the
transport), ``"transport error"`` (a failed request or WebSocket, a malformed packet or
handshake, an oversized message, a handshake that never came), ``"ping timeout"`` (no ping
within ``pingInterval + pingTimeout``), ``"forced close"``
([`ClientSession.close()`][ClientSession.close]).
Like engine.io-client, a malformed packet is a ``"transport error"`` (engine.io-parser turns
it into an ``error`` packet, which the client treats as a transport error). A transport error
carries a [`TransportFailure`][TransportFailure] with engine.io-client's messages
(``"xhr poll error"``,
``"xhr post error"``, ``"websocket error"``), or ``"parse error"``, ``"timeout"``...

The events and actions live in
[`socketwire.engineio.client_events`][socketwire.engineio.client_events]; they are re-exported here
so that one import serves a driver.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Sequence
from enum import Enum

from socketwire.engineio.client_events import (
    Action,
    Closed,
    CloseWebSocket,
    Drained,
    Event,
    Handshake,
    MessageReceived,
    Opened,
    OpenWebSocket,
    PacketCreated,
    PacketReceived,
    PingReceived,
    SendWebSocket,
    StartPoll,
    StartPost,
    StopPolling,
    TransportFailure,
    TransportName,
    Upgraded,
    UpgradeFailed,
    Upgrading,
    parse_handshake,
)
from socketwire.engineio.errors import ProtocolError
from socketwire.engineio.packets import Packet, PacketType, decode_packet, encode_packet
from socketwire.engineio.payload import SEPARATOR, decode_payload_bytes, encode_payload
from socketwire.engineio.reasons import CloseReason

__all__ = [
    "DEFAULT_MAX_BUFFERED_BYTES",
    "DEFAULT_MAX_MESSAGE_SIZE",
    "Action",
    "ClientSession",
    "ClientState",
    "CloseWebSocket",
    "Closed",
    "Drained",
    "Event",
    "Handshake",
    "MessageReceived",
    "OpenWebSocket",
    "Opened",
    "PacketCreated",
    "PacketReceived",
    "PingReceived",
    "SendWebSocket",
    "StartPoll",
    "StartPost",
    "StopPolling",
    "TransportFailure",
    "TransportName",
    "UpgradeFailed",
    "Upgraded",
    "Upgrading",
    "parse_handshake",
]

#: Default bound on one incoming message (text measured in UTF-8 bytes).
DEFAULT_MAX_MESSAGE_SIZE = 16 * 1024 * 1024
#: Default bound on the bytes queued for sending and not yet handed to a transport.
DEFAULT_MAX_BUFFERED_BYTES = 16 * 1024 * 1024


class ClientState(Enum):
    """engine.io-client's ``readyState``."""

    OPENING = "opening"
    OPEN = "open"
    CLOSING = "closing"
    CLOSED = "closed"


class _Polling(Enum):
    UNUSED = "unused"
    OPENING = "opening"
    OPEN = "open"
    PAUSING = "pausing"
    CLOSED = "closed"


class _Ws(Enum):
    UNUSED = "unused"
    CONNECTING = "connecting"
    OPEN = "open"
    CLOSED = "closed"


_PING_PROBE = encode_packet(Packet(PacketType.PING, "probe"))
_UPGRADE = encode_packet(Packet(PacketType.UPGRADE))
_CLOSE_PAYLOAD = encode_payload([Packet(PacketType.CLOSE)])


def _utf8_len(text: str) -> int:
    return len(text) if text.isascii() else len(text.encode("utf-8"))


def _message_size(data: str | bytes) -> int:
    return _utf8_len(data) if isinstance(data, str) else len(data)


class ClientSession:
    """One Engine.IO v4 client connection, as engine.io-client's ``Socket``.

    Args:
        transports: transports to use, the first one to connect with (engine.io-client's
            ``transports`` option).
        upgrade: probe the WebSocket after a polling handshake (``upgrade`` option).
        handshake_timeout: seconds from [`start()`][start] to the ``open`` packet (None: no
            limit).
        max_message_size: the largest incoming message accepted; a larger one closes the
            session with ``"transport error"``. Drivers also pass it to their WebSocket.
        max_payload_size: the largest polling response body the driver may read
            (default: twice ``max_message_size``, room for one base64 message).
        max_buffered_bytes: the bound on outgoing bytes waiting for the transport (a POST
            or a WebSocket write still in flight: a server that stops reading). A message
            that would cross it closes the session with ``"transport error"`` (``"send
            buffer full"``) instead of growing memory without end; engine.io-client has
            no such bound.
        try_all_transports: when the first transport fails before the handshake, try the
            next one (engine.io-client's ``tryAllTransports``) instead of closing.
    """

    def __init__(
        self,
        *,
        transports: Sequence[str] = (TransportName.POLLING, TransportName.WEBSOCKET),
        upgrade: bool = True,
        handshake_timeout: float | None = 20.0,
        max_message_size: int = DEFAULT_MAX_MESSAGE_SIZE,
        max_payload_size: int | None = None,
        max_buffered_bytes: int = DEFAULT_MAX_BUFFERED_BYTES,
        try_all_transports: bool = False,
    ) -> None:
        if not transports:
            raise ValueError("no transports")
        self._transports = tuple(TransportName(t) for t in transports)
        self._upgrade = upgrade
        self._try_all_transports = try_all_transports
        self._handshake_timeout = handshake_timeout
        #: Also report [`PacketReceived`][PacketReceived], [`PacketCreated`][PacketCreated] and
        #: [`Drained`][Drained]
        #: (off by default: a driver turns it on when someone listens to them).
        self.verbose_events = False
        self.max_message_size = max_message_size
        self.max_payload_size = (
            2 * max_message_size if max_payload_size is None else max_payload_size
        )
        self._state = ClientState.CLOSED
        self._started = False
        self._transport = self._transports[0]
        self._handshake: Handshake | None = None
        self._polling = _Polling.UNUSED
        self._poll_in_flight = False
        self._post_in_flight = False
        self._ws = _Ws.UNUSED
        #: what the message transport (``_ws``) is: a WebSocket or a WebTransport session
        self._stream_transport = (
            TransportName.WEBTRANSPORT
            if self._transport is TransportName.WEBTRANSPORT
            else TransportName.WEBSOCKET
        )
        self._ws_probe = False  # the WebSocket is an upgrade probe, not the transport yet
        self._probe_pinged = False
        self._ws_busy = False
        self._upgrading = False
        self._close_requested = False
        self._buffer: deque[Packet] = deque()
        self.max_buffered_bytes = max_buffered_bytes
        self._buffered_bytes = 0
        self._handshake_deadline: float | None = None
        self._ping_deadline: float | None = None
        self._actions: list[Action] = []
        self._events: list[Event] = []

    # -- state the driver and the application read -------------------------------------
    @property
    def state(self) -> ClientState:
        """The ready state (``CLOSED`` before [`start()`][start])."""
        return self._state

    @property
    def transport(self) -> TransportName:
        """The transport currently carrying the session."""
        return self._transport

    @property
    def handshake(self) -> Handshake | None:
        """The server's handshake, once received."""
        return self._handshake

    @property
    def sid(self) -> str | None:
        """The session id while the session is open (None before and after)."""
        if self._handshake is None or self._state is ClientState.CLOSED:
            return None
        return self._handshake.sid

    @property
    def buffered_amount(self) -> int:
        """Outgoing bytes queued and not yet handed to a transport."""
        return self._buffered_bytes

    @property
    def writable(self) -> bool:
        """A message sent now leaves at once (engine.io-client's ``transport.writable``):
        open, not upgrading, and no POST or WebSocket write in flight. Socket.IO drops a
        volatile packet when this is False."""
        return (
            self._state is ClientState.OPEN
            and not self._upgrading
            and not self._buffer
            and self._writable()
        )

    def ping_expired(self, now: float) -> bool:
        """The heartbeat deadline passed at ``now`` though [`handle_timeout()`][handle_timeout] was
        not called yet (a throttled or late timer: engine.io-client's ``_hasPingExpired``).

        The caller must then not treat the session as open (Socket.IO buffers its packet
        instead of sending it) and call [`handle_timeout()`][handle_timeout] soon, which closes the
        session with ``"ping timeout"``. False when the session is not open.
        """
        if self._state is not ClientState.OPEN or self._ping_deadline is None:
            return False
        return now > self._ping_deadline

    @property
    def upgrading(self) -> bool:
        """True between the probe's ``3probe`` and the ``upgrade`` packet."""
        return self._upgrading

    def query(self, transport: TransportName) -> dict[str, str]:
        """The Engine.IO query parameters for a request on ``transport``."""
        params = {"EIO": "4", "transport": str(transport)}
        if self._handshake is not None:
            params["sid"] = self._handshake.sid
        return params

    def actions_to_perform(self) -> list[Action]:
        """Return and forget the actions queued since the last call; perform them in order."""
        actions, self._actions = self._actions, []
        return actions

    def events_received(self) -> list[Event]:
        """Return and forget the events queued since the last call."""
        events, self._events = self._events, []
        return events

    def next_deadline(self) -> float | None:
        """When [`handle_timeout()`][handle_timeout] must be called next (same clock as ``now``)."""
        if self._state is ClientState.OPENING:
            return self._handshake_deadline
        if self._state in (ClientState.OPEN, ClientState.CLOSING):
            return self._ping_deadline
        return None

    # -- inputs from the application ---------------------------------------------------
    def start(self, now: float) -> None:
        """Open the first transport. Call once.

        Raises:
            RuntimeError: called twice.
        """
        if self._started:
            raise RuntimeError("session already started")
        self._started = True
        self._state = ClientState.OPENING
        if self._handshake_timeout is not None:
            self._handshake_deadline = now + self._handshake_timeout
        self._open_transport()

    def _open_transport(self) -> None:
        if self._transport is TransportName.POLLING:
            self._polling = _Polling.OPENING
            self._poll()
        else:
            self._ws = _Ws.CONNECTING
            self._actions.append(OpenWebSocket(self._stream_transport))

    def send(self, data: str | bytes) -> bool:
        """Queue a message; False (dropped, as engine.io-client does) once closing."""
        return self._send_packet(Packet(PacketType.MESSAGE, data))

    def close(self) -> None:
        """Close with ``"forced close"``, after buffered messages and a running upgrade."""
        if self._state is ClientState.OPENING:
            self._on_close(CloseReason.FORCED_CLOSE, "closed before the handshake")
        elif self._state is ClientState.OPEN:
            self._state = ClientState.CLOSING
            self._close_requested = True
            self._maybe_finish_close()

    def abort(self, message: str, description: str = "") -> None:
        """Close at once with ``"transport error"`` (the driver gave up: its event queue is
        full, say); buffered messages are dropped. ``message`` and ``description`` go to the
        [`TransportFailure`][TransportFailure]."""
        self._on_error(message, description)

    def handle_timeout(self, now: float) -> None:
        """The clock reached [`next_deadline()`][next_deadline] (a call before it does nothing)."""
        deadline = self.next_deadline()
        if deadline is None or now < deadline:
            return
        if self._state is ClientState.OPENING:
            failure = TransportFailure(
                "timeout", f"no handshake within {self._handshake_timeout} s"
            )
            self._on_close(CloseReason.TRANSPORT_ERROR, "handshake timeout", failure)
        else:
            self._on_close(CloseReason.PING_TIMEOUT, "no ping from the server")

    # -- inputs from the polling driver ------------------------------------------------
    def receive_poll_response(self, body: bytes, now: float) -> None:
        """A polling GET answered 200 with ``body``."""
        if not self._poll_in_flight or self._polling is _Polling.CLOSED:
            return
        self._poll_in_flight = False
        if len(body) > self.max_payload_size:
            self._on_error(
                "xhr poll error", f"polling payload of {len(body)} bytes exceeds max_payload_size"
            )
            return
        try:
            packets = decode_payload_bytes(body)
        except ProtocolError as exc:
            self._on_error("parse error", str(exc))
            return
        for packet in packets:
            if self._polling is _Polling.OPENING:
                if packet.type is not PacketType.OPEN:
                    self._on_error("parse error", "expected an open packet")
                    return
                self._polling = _Polling.OPEN
            if packet.type is PacketType.CLOSE:
                # polling.js onClose(): the server closed, so no close packet goes back.
                self._polling = _Polling.CLOSED
                self._actions.append(StopPolling())
                self._on_close(CloseReason.TRANSPORT_CLOSE, "transport closed by the server")
                return
            self._on_packet(packet, now)
            if self._state is ClientState.CLOSED:
                return
        if self._polling is _Polling.OPEN:
            self._poll()
        else:
            self._maybe_finish_pause()

    def poll_failed(self, description: str) -> None:
        """A polling GET failed (network error, non-200 status, body too large)."""
        if self._poll_in_flight and self._polling is not _Polling.CLOSED:
            self._poll_in_flight = False
            self._on_error("xhr poll error", description)

    def post_done(self) -> None:
        """A POST answered 200."""
        if self._post_in_flight and self._polling is not _Polling.CLOSED:
            self._post_in_flight = False
            self._on_drain()

    def post_failed(self, description: str) -> None:
        """A POST failed."""
        if self._post_in_flight and self._polling is not _Polling.CLOSED:
            self._post_in_flight = False
            self._on_error("xhr post error", description)

    # -- inputs from the WebSocket driver ----------------------------------------------
    def websocket_opened(self) -> None:
        """The WebSocket handshake completed."""
        if self._ws is not _Ws.CONNECTING:
            return
        self._ws = _Ws.OPEN
        if self._ws_probe:
            self._probe_pinged = True
            self._actions.append(SendWebSocket((_PING_PROBE,)))

    def receive_websocket_message(self, data: str | bytes, now: float) -> None:
        """A complete WebSocket message arrived."""
        if self._ws is not _Ws.OPEN:
            return
        # A text message carries one type character before the data.
        size = _message_size(data) - (1 if isinstance(data, str) else 0)
        if size > self.max_message_size:
            self._fail_ws("websocket error", f"message of {size} bytes exceeds max_message_size")
            return
        try:
            packet = decode_packet(data)
        except ProtocolError as exc:
            self._fail_ws("parse error", str(exc))
            return
        if not self._ws_probe:
            if self._state is ClientState.OPENING and packet.type is not PacketType.OPEN:
                self._on_error("parse error", "expected an open packet")
            else:
                self._on_packet(packet, now)
        elif self._probe_pinged:
            # engine.io-client takes the first packet on the probe: "3probe" or failure.
            self._probe_pinged = False
            if packet != Packet(PacketType.PONG, "probe"):
                self._probe_failed("probe error")
                return
            self._upgrading = True
            self._polling = _Polling.PAUSING
            self._events.append(Upgrading(TransportName.WEBSOCKET))
            self._maybe_finish_pause()

    def websocket_drained(self) -> None:
        """The messages of the last [`SendWebSocket`][SendWebSocket] were written."""
        if self._ws_busy:
            self._ws_busy = False
            if not self._ws_probe and self._ws is _Ws.OPEN:
                self._on_drain()

    def websocket_closed(self, description: str) -> None:
        """The WebSocket ended cleanly (close frame or end of stream)."""
        if self._ws in (_Ws.CONNECTING, _Ws.OPEN):
            self._ws = _Ws.CLOSED
            if self._ws_probe:
                self._probe_failed(f"probe error: {description}")
            else:
                self._on_close(CloseReason.TRANSPORT_CLOSE, description)

    def websocket_failed(self, description: str) -> None:
        """The WebSocket could not connect, or failed (protocol error, too big message)."""
        if self._ws in (_Ws.CONNECTING, _Ws.OPEN):
            self._ws = _Ws.CLOSED
            if self._ws_probe:
                self._probe_failed(f"probe error: {description}")
            else:
                self._on_error("websocket error", description)

    # -- internals ---------------------------------------------------------------------
    def _fail_ws(self, message: str, description: str) -> None:
        if self._ws_probe:
            self._probe_failed(f"probe error: {message}: {description}")
        else:
            self._on_error(message, description)

    def _poll(self) -> None:
        self._poll_in_flight = True
        self._actions.append(StartPoll())

    def _on_packet(self, packet: Packet, now: float) -> None:
        if self.verbose_events:
            self._events.append(PacketReceived(packet))
        if packet.type is PacketType.OPEN:
            if self._state is not ClientState.OPENING:
                self._on_error("parse error", "unexpected open packet")
                return
            self._on_handshake(packet.data, now)
        elif packet.type is PacketType.PING:
            self._send_packet(Packet(PacketType.PONG))
            self._events.append(PingReceived())
            self._reset_ping_timeout(now)
        elif packet.type is PacketType.MESSAGE:
            size = _message_size(packet.data)
            if size > self.max_message_size:
                kind = "xhr poll error" if self._transport is TransportName.POLLING else None
                self._on_error(
                    kind or "websocket error", f"message of {size} bytes exceeds max_message_size"
                )
                return
            self._events.append(MessageReceived(packet.data))
        # pong, upgrade, noop (and close over a WebSocket) mean nothing to the client.

    def _on_handshake(self, data: str | bytes, now: float) -> None:
        try:
            if not isinstance(data, str):
                raise ProtocolError("binary open packet")
            handshake = parse_handshake(data, self._transports)
        except ProtocolError as exc:
            self._on_error("parse error", str(exc))
            return
        self._handshake = handshake
        self._state = ClientState.OPEN
        self._handshake_deadline = None
        self._events.append(Opened(handshake))
        self._reset_ping_timeout(now)
        self._flush()
        if self._upgrade and self._transport is TransportName.POLLING:
            # engine.io-client favours WebTransport (it probes WebSocket only 200 ms later);
            # this client probes one: WebTransport when both may be
            for candidate in (TransportName.WEBTRANSPORT, TransportName.WEBSOCKET):
                if candidate in handshake.upgrades:
                    self._stream_transport = candidate
                    self._ws = _Ws.CONNECTING
                    self._ws_probe = True
                    self._actions.append(OpenWebSocket(candidate))
                    break

    def _reset_ping_timeout(self, now: float) -> None:
        assert self._handshake is not None
        self._ping_deadline = (
            now + (self._handshake.ping_interval + self._handshake.ping_timeout) / 1000
        )

    def _send_packet(self, packet: Packet) -> bool:
        if self._state in (ClientState.CLOSING, ClientState.CLOSED) or not self._started:
            return False
        if self.verbose_events:
            self._events.append(PacketCreated(packet))
        self._buffer.append(packet)
        self._buffered_bytes += _message_size(packet.data) + 1
        self._flush()
        # Checked after the flush: the bound is on what waits, not on what leaves at once.
        if self._buffered_bytes > self.max_buffered_bytes:
            self._on_error(
                "send buffer full",
                f"{self._buffered_bytes} bytes waiting for the transport exceed "
                f"max_buffered_bytes ({self.max_buffered_bytes})",
            )
            return False
        return True

    def _writable(self) -> bool:
        if self._transport is TransportName.POLLING:
            return self._polling is _Polling.OPEN and not self._post_in_flight
        return self._ws is _Ws.OPEN and not self._ws_probe and not self._ws_busy

    def _flush(self) -> None:
        if (
            self._state not in (ClientState.OPEN, ClientState.CLOSING)
            or self._upgrading
            or not self._buffer
            or not self._writable()
        ):
            return
        if self._transport is TransportName.POLLING:
            self._post_in_flight = True
            self._actions.append(StartPost(self._take_payload()))
        else:
            self._ws_busy = True
            messages = tuple(encode_packet(p) for p in self._buffer)
            self._buffer.clear()
            self._buffered_bytes = 0
            self._actions.append(SendWebSocket(messages))

    def _take_payload(self) -> str:
        """Pop the packets of the next POST, within the server's ``maxPayload``.

        engine.io-client's ``_getWritablePackets``: the first packet always goes; later ones
        only while the payload stays within ``maxPayload``. Sizes here are the exact UTF-8
        sizes of the encoded packets (engine.io-client approximates binary ones).
        """
        assert self._handshake is not None
        max_payload = self._handshake.max_payload
        encoded: list[str] = []
        size = 0
        while self._buffer:
            item = encode_packet(self._buffer[0], supports_binary=False)
            assert isinstance(item, str)
            size += _utf8_len(item) + (1 if encoded else 0)
            if encoded and max_payload and size > max_payload:
                break
            encoded.append(item)
            popped = self._buffer.popleft()
            self._buffered_bytes -= _message_size(popped.data) + 1
        return SEPARATOR.join(encoded)

    def _on_drain(self) -> None:
        self._flush()
        if self.verbose_events and not self._buffer and self._writable():
            self._events.append(Drained())
        self._maybe_finish_pause()
        self._maybe_finish_close()

    def _maybe_finish_pause(self) -> None:
        # polling.js pause(): wait for the pending GET and the pending POST.
        if (
            self._polling is not _Polling.PAUSING
            or self._poll_in_flight
            or self._post_in_flight
            or self._state is ClientState.CLOSED
        ):
            return
        self._polling = _Polling.CLOSED
        self._actions.append(StopPolling())
        self._transport = self._stream_transport
        self._ws_probe = False
        self._upgrading = False
        self._ws_busy = True
        self._actions.append(SendWebSocket((_UPGRADE,)))
        self._events.append(Upgraded(self._stream_transport))
        self._maybe_finish_close()

    def _probe_failed(self, description: str) -> None:
        if self._ws in (_Ws.CONNECTING, _Ws.OPEN):
            self._actions.append(CloseWebSocket())
        self._ws = _Ws.CLOSED
        self._ws_probe = False
        self._probe_pinged = False
        self._events.append(UpgradeFailed(self._stream_transport, description))
        if self._upgrading:
            # engine.io-client stays paused here until the ping timeout; resume instead.
            self._upgrading = False
            self._polling = _Polling.OPEN
            if not self._poll_in_flight:
                self._poll()
            self._flush()
        self._maybe_finish_close()

    def _maybe_finish_close(self) -> None:
        if (
            self._close_requested
            and self._state is ClientState.CLOSING
            and not self._upgrading
            and not self._buffer
            and not self._post_in_flight
            and not self._ws_busy
        ):
            self._on_close(CloseReason.FORCED_CLOSE, "")

    def _on_error(self, message: str, description: str = "") -> None:
        failure = TransportFailure(message, description)
        if (
            self._try_all_transports
            and self._state is ClientState.OPENING
            and len(self._transports) > 1
        ):
            self._try_next_transport()
            return
        self._on_close(CloseReason.TRANSPORT_ERROR, str(failure), failure)

    def _try_next_transport(self) -> None:
        # engine.io-client's _onError with tryAllTransports: drop the failed transport and
        # open the next one; the handshake deadline is the same for every try.
        if self._polling in (_Polling.OPENING, _Polling.OPEN, _Polling.PAUSING):
            self._actions.append(StopPolling())
            self._polling = _Polling.CLOSED
        if self._ws in (_Ws.CONNECTING, _Ws.OPEN):
            self._actions.append(CloseWebSocket())
        self._ws = _Ws.UNUSED
        self._poll_in_flight = self._post_in_flight = False
        self._transports = self._transports[1:]
        self._transport = self._transports[0]
        self._open_transport()

    def _on_close(
        self, reason: CloseReason, description: str, error: TransportFailure | None = None
    ) -> None:
        if self._state is ClientState.CLOSED:
            return
        if self._polling is _Polling.OPEN and self._state is not ClientState.OPENING:
            # polling.js doClose(): tell the server, so it frees the session at once.
            self._actions.append(StartPost(_CLOSE_PAYLOAD))
        if self._polling in (_Polling.OPENING, _Polling.OPEN, _Polling.PAUSING):
            self._actions.append(StopPolling())
        self._polling = _Polling.CLOSED
        if self._ws in (_Ws.CONNECTING, _Ws.OPEN):
            self._actions.append(CloseWebSocket())
        self._ws = _Ws.CLOSED
        self._state = ClientState.CLOSED
        self._handshake_deadline = self._ping_deadline = None
        self._upgrading = False
        self._buffer.clear()
        self._buffered_bytes = 0
        self._events.append(Closed(reason, description, error))
