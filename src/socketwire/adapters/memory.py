"""The in-memory adapter (the default): the room index of one server, as JS ``Adapter``.

[`SessionAwareMemoryAdapter`][SessionAwareMemoryAdapter] adds connection state recovery (JS
``SessionAwareAdapter``): it keeps the sessions of disconnected sockets and the recoverable
packets broadcast since, for ``max_disconnection_duration`` seconds.
"""

from __future__ import annotations

import dataclasses
import itertools
import time
from collections import deque
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from socketwire.adapters.base import (
    AckCallback,
    AckHandler,
    Adapter,
    AdapterNamespace,
    BroadcastOptions,
    ClientCountCallback,
    LocalSocket,
    SocketDetails,
)
from socketwire.adapters.types import Session
from socketwire.socketio import Packet, PacketType

__all__ = ["MemoryAdapter", "SessionAwareMemoryAdapter", "reaches_rooms"]


class MemoryAdapter(Adapter):
    """Rooms and broadcasts for the sockets of one namespace on this server."""

    def __init__(self, nsp: AdapterNamespace) -> None:
        super().__init__(nsp)
        #: room -> ids of the sockets in it
        self.rooms: dict[str, set[str]] = {}
        #: socket id -> its rooms
        self.sids: dict[str, set[str]] = {}

    def add_all(self, sid: str, rooms: Iterable[str]) -> None:
        """Add socket ``sid`` to ``rooms``, emitting ``create-room`` and ``join-room``."""
        own = self.sids.setdefault(sid, set())
        for room in rooms:
            own.add(room)
            members = self.rooms.get(room)
            if members is None:
                members = self.rooms[room] = set()
                self.emit("create-room", room)
            if sid not in members:
                members.add(sid)
                self.emit("join-room", room, sid)

    def del_(self, sid: str, room: str) -> None:
        """Remove socket ``sid`` from ``room``, emitting ``leave-room``/``delete-room``."""
        own = self.sids.get(sid)
        if own is not None:
            own.discard(room)
        self._del(room, sid)

    def _del(self, room: str, sid: str) -> None:
        members = self.rooms.get(room)
        if members is None:
            return
        if sid in members:
            members.discard(sid)
            self.emit("leave-room", room, sid)
        if not members:
            del self.rooms[room]
            self.emit("delete-room", room)

    def del_all(self, sid: str) -> None:
        """Remove socket ``sid`` from all its rooms."""
        own = self.sids.pop(sid, None)
        if own is None:
            return
        for room in own:
            self._del(room, sid)

    def socket_rooms(self, sid: str) -> set[str] | None:
        """The rooms of socket ``sid``, or None when it is in none."""
        return self.sids.get(sid)

    async def sockets(self, rooms: frozenset[str]) -> set[str]:
        """The ids of the local sockets in any of ``rooms`` (all when empty)."""
        return {s.id for s in self.targets(BroadcastOptions(rooms=rooms))}

    def broadcast(self, packet: Packet, opts: BroadcastOptions) -> None:
        """Encode ``packet`` once and deliver it to every targeted socket."""
        packet = dataclasses.replace(packet, nsp=self.nsp.name)
        # One encoding for every recipient: the same str/bytes objects go to each connection.
        encoded = self.nsp.encode(packet)
        flags = opts.flags
        volatile = flags.volatile
        compress = flags.compress
        # The fan-out loop: one call per recipient, nothing built per recipient.
        for socket in self.targets(opts):
            socket.deliver(encoded, volatile, compress)

    def broadcast_with_ack(
        self,
        packet: Packet,
        opts: BroadcastOptions,
        client_count_callback: ClientCountCallback,
        ack: AckCallback,
    ) -> None:
        """Encode ``packet`` once, register ``ack`` on each target, then deliver it."""
        ack_id = packet.id
        if ack_id is None:
            raise ValueError("broadcast_with_ack needs a packet with an ack id")
        packet = dataclasses.replace(packet, nsp=self.nsp.name)
        encoded = self.nsp.encode(packet)
        flags = opts.flags
        sids: list[str] = []
        for socket in self.targets(opts):
            sids.append(socket.id)
            socket.acks[ack_id] = _bind_sid(ack, socket.id)
            socket.deliver(encoded, flags.volatile, flags.compress)
        client_count_callback(len(sids), sids)

    async def fetch_sockets(self, opts: BroadcastOptions) -> list[SocketDetails]:
        """The targeted local sockets."""
        return [SocketDetails(s.id, s.handshake, set(s.rooms), s.data) for s in self.targets(opts)]

    async def add_sockets(self, opts: BroadcastOptions, rooms: Sequence[str]) -> None:
        """Make the targeted local sockets join ``rooms``."""
        for socket in self.targets(opts):
            socket.join(list(rooms))

    async def del_sockets(self, opts: BroadcastOptions, rooms: Sequence[str]) -> None:
        """Make the targeted local sockets leave ``rooms``."""
        for socket in self.targets(opts):
            for room in rooms:
                socket.leave(room)

    async def disconnect_sockets(self, opts: BroadcastOptions, close: bool) -> None:
        """Disconnect the targeted local sockets."""
        for socket in self.targets(opts):
            socket.disconnect(close)

    def targets(self, opts: BroadcastOptions) -> list[LocalSocket]:
        """The connected local sockets in any of ``opts.rooms`` and none of ``except_rooms``.

        A list, not a generator: the callers write to engine sockets, which may close and
        change the room index while we iterate.
        """
        except_sids: set[str] = set()
        for room in opts.except_rooms:
            except_sids.update(self.rooms.get(room, ()))
        connected = self.nsp.sockets
        found: list[LocalSocket] = []
        if opts.rooms:
            seen: set[str] = set()
            for room in opts.rooms:
                for sid in self.rooms.get(room, ()):
                    if sid in seen or sid in except_sids:
                        continue
                    socket = connected.get(sid)
                    if socket is not None:
                        seen.add(sid)
                        found.append(socket)
        else:
            for sid in self.sids:
                if sid in except_sids:
                    continue
                socket = connected.get(sid)
                if socket is not None:
                    found.append(socket)
        return found


def _bind_sid(ack: AckCallback, sid: str) -> AckHandler:
    def on_ack(args: list[Any] | None) -> None:
        ack(sid, args)

    return on_ack


@dataclass(frozen=True, slots=True)
class _StoredPacket:
    id: str
    opts: BroadcastOptions
    data: list[Any]
    emitted_at: float


class SessionAwareMemoryAdapter(MemoryAdapter):
    """The in-memory adapter with connection state recovery (JS ``SessionAwareAdapter``).

    Every recoverable packet (an EVENT without ack id, not volatile) gets an offset appended
    as its last argument and is kept for ``max_disconnection_duration`` seconds, so that a
    client that comes back can be sent what it missed.
    """

    def __init__(
        self, nsp: AdapterNamespace, *, clock: Callable[[], float] = time.monotonic
    ) -> None:
        super().__init__(nsp)
        options = nsp.connection_state_recovery
        self.max_disconnection_duration = (
            options.max_disconnection_duration if options is not None else 120.0
        )
        self._clock = clock
        self.sessions: dict[str, Session] = {}
        self.packets: deque[_StoredPacket] = deque()
        self._offsets = itertools.count()
        self._prefix = format(int(time.time() * 1000), "x")

    def _prune(self, now: float) -> None:
        # JS prunes from a 60 s interval timer; we prune as we go, which bounds the memory the
        # same way without a timer.
        threshold = now - self.max_disconnection_duration
        while self.packets and self.packets[0].emitted_at < threshold:
            self.packets.popleft()
        for pid in [p for p, s in self.sessions.items() if s.disconnected_at < threshold]:
            del self.sessions[pid]

    async def persist_session(self, session: Session) -> None:
        """Keep ``session`` for ``max_disconnection_duration`` seconds."""
        now = self._clock()
        self._prune(now)
        session.disconnected_at = now
        self.sessions[session.pid] = session

    async def restore_session(self, pid: str, offset: str) -> Session | None:
        """The session ``pid`` with the packets it missed after ``offset``, or None."""
        now = self._clock()
        self._prune(now)
        session = self.sessions.pop(pid, None)
        if session is None:
            return None
        index = next((i for i, p in enumerate(self.packets) if p.id == offset), None)
        if index is None:
            # the offset is too old (or unknown): the client must start afresh
            return None
        missed = [
            p.data
            for p in itertools.islice(self.packets, index + 1, None)
            if reaches_rooms(session.rooms, p.opts)
        ]
        return dataclasses.replace(session, missed_packets=missed)

    def broadcast(self, packet: Packet, opts: BroadcastOptions) -> None:
        """Store a recoverable packet with an offset appended, then broadcast it."""
        if packet.type == PacketType.EVENT and packet.id is None and not opts.flags.volatile:
            now = self._clock()
            self._prune(now)
            offset = f"{self._prefix}.{next(self._offsets)}"
            data = [*packet.data, offset]
            packet = dataclasses.replace(packet, data=data)
            self.packets.append(_StoredPacket(offset, opts, data, now))
        super().broadcast(packet, opts)


def reaches_rooms(session_rooms: Sequence[str], opts: BroadcastOptions) -> bool:
    """Whether a broadcast with ``opts`` reaches a socket in ``session_rooms`` (what a
    recovered session is sent again)."""
    included = not opts.rooms or any(room in opts.rooms for room in session_rooms)
    return included and not any(room in opts.except_rooms for room in session_rooms)
