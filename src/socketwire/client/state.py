"""Sans-I/O state of one client namespace socket, as socket.io-client's ``Socket``.

[`SocketCore`][SocketCore] holds every protocol decision of a namespace socket: the connection
state, ack ids and pending acks, the send buffer (emits while disconnected), the retry queue
(``retries``: at-least-once delivery, in order), the receive buffer, and connection state
recovery (``pid`` and the last offset). It never touches a socket, a task or a clock.

Recovery offsets: with connection state recovery, the server appends an offset to the
arguments of every event it can replay. The core takes it off before the application sees
the event (handlers get exactly the arguments the server's application sent) and keeps it
for the next CONNECT. socket.io-client leaves it to JavaScript's indifference to extra
arguments (its catch-all listeners see it); Python calls would fail on it. What is an offset
is socket.io-client's rule: with a ``pid``, the last argument of an event without an ack id,
when it is a string. The server appends none to volatile events, and an adapter that does not
store packets appends none at all, but the client cannot tell: such an event whose last
argument is a string loses it (send those with a non-string last argument).

After every call the driver must:

* send [`SocketCore.packets_to_send()`][SocketCore.packets_to_send] through the Manager, in order;
* start and cancel the timers of [`SocketCore.timers()`][SocketCore.timers] (each
  [`StartAckTimer`][StartAckTimer] calls [`SocketCore.ack_timed_out()`][SocketCore.ack_timed_out]
  when it fires);
* handle [`SocketCore.events_received()`][SocketCore.events_received] (application events, in
  order).

Ack callbacks (``callback(error, args)``) are called synchronously from inside the core; they
must only record the outcome (resolve a future), never call back into the core.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from socketwire.client.errors import AckTimeoutError, BufferFullError, DisconnectedError
from socketwire.socketio import RESERVED_EVENTS, Packet, PacketType

__all__ = [
    "AckCallback",
    "CancelAckTimer",
    "ConnectFailed",
    "Connected",
    "Destroyed",
    "DisconnectDescription",
    "Disconnected",
    "EventReceived",
    "EventSent",
    "SocketCore",
    "SocketEvent",
    "StartAckTimer",
    "TimerAction",
]

#: ``callback(error, args)``: ``error`` None and the ack's arguments, or an error and ``[]``.
AckCallback = Callable[[BaseException | None, list[Any]], None]

#: socket.io-client's message when a server answers a v3+ CONNECT without a sid.
V2_SERVER = (
    "It seems you are trying to reach a Socket.IO server in v2.x with a v3.x client, but they "
    "are not compatible (more information here: "
    "https://socket.io/docs/v3/migrating-from-2-x-to-3-0/)"
)


# Events for the application, in order.
@dataclass(frozen=True, slots=True)
class Connected:
    """The namespace is connected (``connect``); [`SocketCore.id`][SocketCore.id] is set."""


@dataclass(frozen=True, slots=True)
class ConnectFailed:
    """A connection attempt failed (``connect_error``): the server refused the namespace
    (the socket is then inactive), or the connection could not be opened (``error``: what
    the Manager reported, a ``TransportError`` say)."""

    message: str
    data: Any = None
    error: BaseException | None = None


@dataclass(frozen=True, slots=True)
class DisconnectDescription:
    """The ``details`` of a ``disconnect`` that came with a description (JS passes
    ``{description, context}``): ``"transport close"`` says how the transport ended."""

    description: str


@dataclass(frozen=True, slots=True)
class Disconnected:
    """The namespace is disconnected (``disconnect``), with socket.io-client's reason.

    ``details`` is JS's second ``disconnect`` argument: a ``TransportError`` for
    ``"transport error"``, the decoder's error for ``"parse error"``, a
    [`DisconnectDescription`][DisconnectDescription] when the connection's end was described,
    else None.
    """

    reason: str
    details: Any = None


@dataclass(frozen=True, slots=True)
class EventReceived:
    """An event from the server: ``args`` is ``[name, *args]``; answer ``ack_id`` if set."""

    args: list[Any]
    ack_id: int | None = None


@dataclass(frozen=True, slots=True)
class EventSent:
    """An event packet left for the server (for catch-all outgoing listeners)."""

    args: list[Any]


@dataclass(frozen=True, slots=True)
class Destroyed:
    """The socket became inactive (server disconnect or refusal): the Manager may close."""


SocketEvent = Connected | ConnectFailed | Disconnected | EventReceived | EventSent | Destroyed


# Timer actions for the driver.
@dataclass(frozen=True, slots=True)
class StartAckTimer:
    """Call [`SocketCore.ack_timed_out()`][SocketCore.ack_timed_out] with ``ack_id`` after
    ``seconds``."""

    ack_id: int
    seconds: float


@dataclass(frozen=True, slots=True)
class CancelAckTimer:
    """The ack ``ack_id`` was settled: its timer is no longer needed."""

    ack_id: int


TimerAction = StartAckTimer | CancelAckTimer


@dataclass(slots=True)
class _Ack:
    callback: AckCallback
    # JS ``fn.withError``: told about a disconnection (emit_with_ack, timed acks).
    with_error: bool
    timed: bool


@dataclass(slots=True)
class _Queued:
    """A packet of the retry queue (JS ``_queue`` entries)."""

    seq: int
    args: list[Any]
    callback: AckCallback | None
    timeout: float | None
    try_count: int = 0
    pending: bool = False


class SocketCore:
    """The protocol state of one namespace socket.

    Args:
        nsp: the namespace (``"/"``, ``"/chat"``).
        retries: resend an unacknowledged packet up to this many times (0: no retry queue).
        ack_timeout: default seconds to wait for an acknowledgement (None: forever).
        max_buffered_packets: bound on the send buffer and on the retry queue; an emit past
            it raises [`BufferFullError`][BufferFullError].
    """

    def __init__(
        self,
        nsp: str,
        *,
        retries: int = 0,
        ack_timeout: float | None = None,
        max_buffered_packets: int = 1000,
    ) -> None:
        if retries < 0 or max_buffered_packets < 1:
            raise ValueError("retries must be >= 0 and max_buffered_packets >= 1")
        self.nsp = nsp
        self.retries = retries
        self.ack_timeout = ack_timeout
        self.max_buffered_packets = max_buffered_packets
        #: The namespace is connected.
        self.connected = False
        #: The socket wants to be connected: it takes part in (re)connections.
        self.active = False
        #: The socket id given by the server while connected.
        self.id: str | None = None
        #: The last connection recovered the previous session (missed events replayed).
        self.recovered = False
        self.pid: str | None = None
        self.last_offset: str | None = None
        self.send_buffer: deque[Packet] = deque()
        self.queue: deque[_Queued] = deque()
        self._receive_buffer: list[EventReceived] = []
        self._ids = 0
        self._queue_seq = 0
        self._acks: dict[int, _Ack] = {}
        self._packets: list[Packet] = []
        self._timers: list[TimerAction] = []
        self._events: list[SocketEvent] = []

    # -- outputs -------------------------------------------------------------------------
    def packets_to_send(self) -> list[Packet]:
        """Return (and forget) the packets to write, in order."""
        packets, self._packets = self._packets, []
        return packets

    def timers(self) -> list[TimerAction]:
        """Return (and forget) the timers to start or cancel, in order."""
        timers, self._timers = self._timers, []
        return timers

    def events_received(self) -> list[SocketEvent]:
        """Return (and forget) the events for the application, in order."""
        events, self._events = self._events, []
        return events

    @property
    def pending_acks(self) -> int:
        """How many acknowledgements are awaited."""
        return len(self._acks)

    # -- the application -----------------------------------------------------------------
    def activate(self) -> None:
        """The application asked to connect: take part in the Manager's connections."""
        self.active = True

    def open(self, auth: Any) -> None:
        """The Manager's connection is open: send CONNECT with ``auth`` (a dict or None).

        After a previous connection with recovery, ``pid`` and ``offset`` go with it.
        """
        data = auth
        if self.pid is not None:
            data = {"pid": self.pid, "offset": self.last_offset, **(auth or {})}
        self._packets.append(Packet(PacketType.CONNECT, self.nsp, data))

    def emit(
        self,
        args: list[Any],
        *,
        callback: AckCallback | None = None,
        volatile: bool = False,
        timeout: float | None = None,
        writable: bool = True,
        transport_alive: bool = True,
    ) -> None:
        """Emit ``args`` (``[name, *args]``), as socket.io-client's ``emit``.

        Args:
            args: the event name and its arguments.
            callback: ask for an acknowledgement and call this with its outcome (an error
                on timeout or disconnection).
            volatile: drop the packet when the transport is not writable.
            timeout: seconds to wait for the acknowledgement (default: ``ack_timeout``).
            writable: whether the transport can take a packet now (for ``volatile``).
            transport_alive: False when the connection's heartbeat expired unnoticed (JS
                ``_hasPingExpired``): the packet is then buffered as if disconnected, and
                goes out on the next connection.

        Raises:
            ValueError: a reserved event name.
            BufferFullError: the send buffer or the retry queue is full.
        """
        if not args or not isinstance(args[0], str):
            raise ValueError("the event name must be a string")
        if args[0] in RESERVED_EVENTS:
            raise ValueError(f"{args[0]!r} is a reserved event name")
        if self.retries and not volatile:
            self._add_to_queue(args, callback, timeout)
            return
        self._emit(
            args, callback, volatile, timeout, writable, with_error=True, alive=transport_alive
        )

    def send_ack(self, ack_id: int, args: list[Any]) -> None:
        """Answer the server's event ``ack_id`` with ``args`` (once; the driver ensures it)."""
        self._packets.append(Packet(PacketType.ACK, self.nsp, args, ack_id))

    def disconnect(self) -> None:
        """The application disconnects the namespace (reason ``"io client disconnect"``)."""
        was_connected = self.connected
        if was_connected:
            self._packets.append(Packet(PacketType.DISCONNECT, self.nsp))
        self._destroy()
        if was_connected:
            self.on_close("io client disconnect")

    # -- the Manager ---------------------------------------------------------------------
    def receive(self, packet: Packet) -> None:
        """Handle a packet of this namespace from the server."""
        if packet.type is PacketType.CONNECT:
            data = packet.data
            if isinstance(data, dict) and isinstance(data.get("sid"), str):
                pid = data.get("pid")
                self._on_connect(data["sid"], pid if isinstance(pid, str) else None)
            else:
                self._events.append(ConnectFailed(V2_SERVER))
        elif packet.type is PacketType.EVENT:
            self._on_event(packet)
        elif packet.type is PacketType.ACK:
            self._on_ack(packet)
        elif packet.type is PacketType.DISCONNECT:
            self._destroy()
            self.on_close("io server disconnect")
        elif packet.type is PacketType.CONNECT_ERROR:
            self._destroy()
            data = packet.data
            if isinstance(data, dict):
                self._events.append(ConnectFailed(str(data.get("message")), data.get("data")))
            else:
                self._events.append(ConnectFailed(str(data)))

    def on_error(self, message: str, error: BaseException | None = None) -> None:
        """The Manager's connection attempt failed (``error``: why, when known):
        ``connect_error`` unless connected."""
        if not self.connected:
            self._events.append(ConnectFailed(message, None, error))

    def on_close(self, reason: str, details: Any = None) -> None:
        """The connection ended (or the namespace was left): ``disconnect`` with ``reason``
        and ``details`` (see [`Disconnected`][Disconnected])."""
        self.connected = False
        self.id = None
        self._events.append(Disconnected(reason, details))
        self._clear_acks()

    def ack_timed_out(self, ack_id: int) -> None:
        """The timer of ack ``ack_id`` fired (a no-op when it was settled meanwhile)."""
        ack = self._acks.pop(ack_id, None)
        if ack is None:
            return
        self.send_buffer = deque(p for p in self.send_buffer if p.id != ack_id)
        ack.callback(AckTimeoutError("operation has timed out"), [])

    # -- internals -----------------------------------------------------------------------
    def _emit(
        self,
        args: list[Any],
        callback: AckCallback | None,
        volatile: bool,
        timeout: float | None,
        writable: bool,
        *,
        with_error: bool,
        alive: bool = True,
    ) -> None:
        discard = volatile and not writable
        connected = self.connected and alive
        buffer = not discard and not connected
        if buffer and len(self.send_buffer) >= self.max_buffered_packets:
            raise BufferFullError(
                f"send buffer of {self.nsp!r} is full ({self.max_buffered_packets} packets)"
            )
        ack_id = None
        if callback is not None:
            ack_id = self._ids
            self._ids += 1
            self._register_ack(ack_id, callback, timeout, with_error)
        packet = Packet(PacketType.EVENT, self.nsp, list(args), ack_id)
        if discard:
            return
        if buffer:
            self.send_buffer.append(packet)
        else:
            self._events.append(EventSent(list(args)))
            self._packets.append(packet)

    def _register_ack(
        self, ack_id: int, callback: AckCallback, timeout: float | None, with_error: bool
    ) -> None:
        if timeout is None:
            timeout = self.ack_timeout
        if timeout is None:
            self._acks[ack_id] = _Ack(callback, with_error, timed=False)
            return
        self._timers.append(StartAckTimer(ack_id, timeout))
        # JS marks every timed ack ``withError``, the retry queue's included.
        self._acks[ack_id] = _Ack(callback, with_error=True, timed=True)

    def _add_to_queue(
        self, args: list[Any], callback: AckCallback | None, timeout: float | None
    ) -> None:
        if len(self.queue) >= self.max_buffered_packets:
            raise BufferFullError(
                f"retry queue of {self.nsp!r} is full ({self.max_buffered_packets} packets)"
            )
        entry = _Queued(self._queue_seq, list(args), callback, timeout)
        self._queue_seq += 1
        self.queue.append(entry)
        self._drain_queue()

    def _queue_callback(self, entry: _Queued) -> AckCallback:
        def done(error: BaseException | None, response: list[Any]) -> None:
            if not self.queue or self.queue[0] is not entry:
                return  # an earlier try of this packet was already acknowledged
            if error is not None:
                if entry.try_count > self.retries:
                    self.queue.popleft()
                    if entry.callback is not None:
                        entry.callback(error, [])
            else:
                self.queue.popleft()
                if entry.callback is not None:
                    entry.callback(None, response)
            entry.pending = False
            self._drain_queue()

        return done

    def _drain_queue(self, force: bool = False) -> None:
        if not self.connected or not self.queue:
            return
        entry = self.queue[0]
        if entry.pending and not force:
            return
        entry.pending = True
        entry.try_count += 1
        self._emit(
            entry.args,
            self._queue_callback(entry),
            False,
            entry.timeout,
            True,
            with_error=False,
        )

    def _on_connect(self, sid: str, pid: str | None) -> None:
        self.id = sid
        self.recovered = pid is not None and self.pid == pid
        self.pid = pid
        self.connected = True
        received, self._receive_buffer = self._receive_buffer, []
        for event in received:
            self._emit_event(event)
        buffered, self.send_buffer = self.send_buffer, deque()
        for packet in buffered:
            self._events.append(EventSent(list(packet.data)))
            self._packets.append(packet)
        self._drain_queue(force=True)
        self._events.append(Connected())

    def _on_event(self, packet: Packet) -> None:
        args = packet.data if isinstance(packet.data, list) else []
        if not args or not isinstance(args[0], str):
            return  # the decoders guarantee a name; a hostile peer gets nothing
        event = EventReceived(list(args), packet.id)
        if self.connected:
            self._emit_event(event)
        else:
            self._receive_buffer.append(event)

    def _emit_event(self, event: EventReceived) -> None:
        # With recovery, the server appends the packet's offset as the last argument (only
        # to events without an ack: in JS the ack function is the last argument then). It is
        # the client's to keep, not the application's: see the module's docstring.
        args = event.args
        if (
            self.pid is not None
            and event.ack_id is None
            and len(args) > 1
            and isinstance(args[-1], str)
        ):
            self.last_offset = args[-1]
            event = EventReceived(args[:-1], None)
        self._events.append(event)

    def _on_ack(self, packet: Packet) -> None:
        if packet.id is None:
            return
        ack = self._acks.pop(packet.id, None)
        if ack is None:
            return  # unknown, or already timed out
        if ack.timed:
            self._timers.append(CancelAckTimer(packet.id))
        ack.callback(None, list(packet.data) if isinstance(packet.data, list) else [])

    def _clear_acks(self) -> None:
        buffered = {p.id for p in self.send_buffer}
        for ack_id in [i for i in self._acks if i not in buffered]:
            ack = self._acks.pop(ack_id)
            if ack.timed:
                self._timers.append(CancelAckTimer(ack_id))
            if ack.with_error:
                ack.callback(DisconnectedError("socket has been disconnected"), [])

    def _destroy(self) -> None:
        if self.active:
            self.active = False
            self._events.append(Destroyed())
