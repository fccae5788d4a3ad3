"""Sans-I/O state of the Socket.IO server: ack ids, pending acks, each connection's namespaces,
its connect timeout and the pauses of its reading, and the server's bound on running event
handlers (the client's counterpart is [`socketwire.client.state`][socketwire.client.state]).

Nothing here touches a socket, a task or a clock: the current time is an argument, and the
timeouts are deadlines ([`ConnectionState.next_deadline()`][ConnectionState.next_deadline]) that
the asyncio driver ([`socketwire.server.client`][socketwire.server.client]) waits for with
``loop.call_at``. The driver must:

* ask [`ConnectionState.admit()`][ConnectionState.admit] what to do with every CONNECT packet for a
  namespace the connection has not joined, and report the outcome with
  [`ConnectionState.connect_finished()`][ConnectionState.connect_finished];
* report a namespace left with [`ConnectionState.left()`][ConnectionState.left];
* pause reading from the connection when [`ConnectionState.block()`][ConnectionState.block] says
  so, and resume when [`ConnectionState.unblock()`][ConnectionState.unblock] does;
* report a binary packet waiting for its attachments with
  [`ConnectionState.packet_waiting()`][ConnectionState.packet_waiting], and complete with
  [`ConnectionState.packet_complete()`][ConnectionState.packet_complete];
* call [`ConnectionState.handle_timeout()`][ConnectionState.handle_timeout] when the deadline
  passes, close the connection with the reason it returns, and wait again for
  [`ConnectionState.next_deadline()`][ConnectionState.next_deadline] if it is still set (a timer
  may fire early).

A socket's pending acks are a [`PendingAcks`][PendingAcks] mapping the driver reads and writes
directly on the hot path.
"""

from __future__ import annotations

import enum

from socketwire.adapters.base import AckHandler

__all__ = ["AckIds", "Admission", "ConnectionState", "EventBudget", "Expiry", "PendingAcks"]


class AckIds:
    """The ack ids of one namespace (JS ``nsp._ids``): its sockets' emits and its
    broadcasts draw from one sequence, 0, 1, 2..."""

    __slots__ = ("_next",)

    def __init__(self) -> None:
        self._next = 0

    def next(self) -> int:
        """A new ack id."""
        ack_id = self._next
        self._next = ack_id + 1
        return ack_id


class PendingAcks(dict[int, AckHandler]):
    """The acknowledgements one socket waits for: ack id to handler.

    A handler is called once: with the client's ack arguments (``handler(args)``), or with
    None when the socket disconnects first ([`fail_all()`][fail_all]). The driver registers a
    handler by setting ``acks[ack_id]`` before it sends the packet, and settles an incoming
    ACK with ``acks.pop(ack_id, None)``: an ack id nobody waits for (timed out, or made up
    by the client) is ignored, as JS does.
    """

    __slots__ = ()

    def fail_all(self) -> None:
        """The socket disconnected: call every handler with None, and forget them all."""
        handlers = list(self.values())
        self.clear()
        for handler in handlers:
            handler(None)


class Admission(enum.Enum):
    """What to do with a CONNECT packet for a namespace the connection has not joined."""

    #: Connect the namespace (then report
    #: [`ConnectionState.connect_finished()`][ConnectionState.connect_finished]).
    CONNECT = "connect"
    #: Drop it: the namespace is already connecting (socket.io-client sends a second
    #: CONNECT when ``connect()`` is called twice before the first completes; JS would
    #: build a second socket).
    IGNORE = "ignore"
    #: Close the connection ("forced server close"): it would exceed
    #: ``max_namespaces`` (a bound JS does not have).
    CLOSE = "close"


class Expiry(enum.Enum):
    """A deadline of a connection that passed; the value is the reason its sockets see."""

    #: No namespace joined within ``connect_timeout`` (JS closes it too).
    NO_NAMESPACE = "forced server close"
    #: Reading stayed paused (too many events waiting) for ``pending_events_timeout``.
    STAYED_PAUSED = "event queue full"
    #: A binary packet did not receive all its attachments within ``attachment_timeout``
    #: (it pins what it received meanwhile; JS waits for ever).
    ATTACHMENTS_MISSING = "parse error"


class ConnectionState:
    """The namespaces of one Engine.IO connection, and its connect timeout (JS ``Client``).

    A connection that has joined no namespace ``connect_timeout`` seconds after it opened is
    closed, as JS does; one connected, or connecting, to ``max_namespaces`` namespaces at
    once cannot ask for another (each costs the server a socket).

    Args:
        now: The current time (the driver's clock).
        connect_timeout: Seconds the connection may stay without a namespace.
        max_namespaces: The bound on namespaces connected or connecting at once.
    """

    __slots__ = (
        "attachment_deadline",
        "blocked",
        "connect_deadline",
        "connected",
        "connecting",
        "max_namespaces",
        "pause_deadline",
    )

    def __init__(self, *, now: float, connect_timeout: float, max_namespaces: int) -> None:
        self.max_namespaces = max_namespaces
        #: The namespaces whose CONNECT is being handled (middlewares running).
        self.connecting: set[str] = set()
        #: The namespaces connected.
        self.connected: set[str] = set()
        #: When to close the connection if it has joined no namespace (None once it has).
        self.connect_deadline: float | None = now + connect_timeout
        #: Why reading is paused (a socket holding too many events, the server's budget);
        #: made at the first pause.
        self.blocked: set[object] | None = None
        #: When to close the connection if reading is still paused (None: not paused).
        self.pause_deadline: float | None = None
        #: When to close the connection if the binary packet being received still waits
        #: for attachments (None: no packet waits).
        self.attachment_deadline: float | None = None

    def admit(self, nsp: str) -> Admission:
        """Decide on a CONNECT packet for ``nsp``, which the connection has not joined."""
        if nsp in self.connecting:
            return Admission.IGNORE
        if len(self.connected) + len(self.connecting) >= self.max_namespaces:
            return Admission.CLOSE
        self.connecting.add(nsp)
        return Admission.CONNECT

    def connect_finished(self, nsp: str, *, connected: bool) -> None:
        """The CONNECT for ``nsp`` was handled: ``connected``, or refused."""
        self.connecting.discard(nsp)
        if connected:
            self.connected.add(nsp)
            self.connect_deadline = None

    def left(self, nsp: str) -> None:
        """The connection's socket of ``nsp`` disconnected."""
        self.connected.discard(nsp)

    def block(self, cause: object, now: float, timeout: float) -> bool:
        """Reading must stop for ``cause`` until [`unblock()`][unblock] (the same ``cause``).

        Returns:
            True when reading was not paused already: pause it now. The connection is closed
                ([`Expiry.STAYED_PAUSED`][Expiry.STAYED_PAUSED]) if it is still paused ``timeout``
                seconds later.
        """
        blocked = self.blocked
        if blocked is None:
            blocked = self.blocked = set()
        first = not blocked
        blocked.add(cause)
        if first:
            self.pause_deadline = now + timeout
        return first

    def unblock(self, cause: object) -> bool:
        """``cause`` no longer stops reading.

        Returns:
            True when nothing else does: resume reading now.
        """
        blocked = self.blocked
        if not blocked or cause not in blocked:
            return False
        blocked.discard(cause)
        if blocked:
            return False
        self.pause_deadline = None
        return True

    def packet_waiting(self, now: float, timeout: float) -> None:
        """A binary packet waits for its attachments: it has ``timeout`` seconds from its
        first message (later calls for the same packet keep that deadline)."""
        if self.attachment_deadline is None:
            self.attachment_deadline = now + timeout

    def packet_complete(self) -> None:
        """The binary packet received all its attachments (or was dropped)."""
        self.attachment_deadline = None

    def next_deadline(self) -> float | None:
        """When [`handle_timeout()`][handle_timeout] must be called next (None: never)."""
        best = self.connect_deadline
        for deadline in (self.pause_deadline, self.attachment_deadline):
            if deadline is not None and (best is None or deadline < best):
                best = deadline
        return best

    def handle_timeout(self, now: float) -> Expiry | None:
        """A deadline may have passed.

        Returns:
            Why the connection must be closed now, or None.
        """
        pause = self.pause_deadline
        if pause is not None and now >= pause:
            self.pause_deadline = None
            return Expiry.STAYED_PAUSED
        attachments = self.attachment_deadline
        if attachments is not None and now >= attachments:
            self.attachment_deadline = None
            return Expiry.ATTACHMENTS_MISSING
        deadline = self.connect_deadline
        if deadline is None or now < deadline:
            return None
        self.connect_deadline = None
        return None if self.connected else Expiry.NO_NAMESPACE


class EventBudget:
    """The server's bound on event handlers running at once (``concurrent_events``).

    The driver reports each handler started and finished. A connection that starts one at
    the bound pauses ([`started()`][started] returns True) and is among those
    [`finished()`][finished] returns, to resume, once half of the budget is free again.

    Args:
        limit: The most handlers running at once.
    """

    __slots__ = ("limit", "running", "waiting")

    def __init__(self, limit: int) -> None:
        self.limit = limit
        #: Handlers running.
        self.running = 0
        #: The connections paused for the budget.
        self.waiting: set[object] = set()

    def started(self, connection: object) -> bool:
        """A handler of ``connection`` started; True when ``connection`` must pause now."""
        self.running += 1
        if self.running >= self.limit and connection not in self.waiting:
            self.waiting.add(connection)
            return True
        return False

    def finished(self) -> set[object] | None:
        """A handler returned; the connections to resume now, if any."""
        self.running -= 1
        if self.waiting and self.running <= self.limit // 2:
            waiting, self.waiting = self.waiting, set()
            return waiting
        return None

    def forget(self, connection: object) -> None:
        """``connection`` closed: it waits no more."""
        self.waiting.discard(connection)
