"""Broadcasting to sets of sockets (JS ``BroadcastOperator`` and ``RemoteSocket``).

An operator is immutable: ``to()``, ``except_()``, ``volatile``... each return a new one, so
one can be kept and reused (``room = sio.to("room")``).
"""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING, Any

from socketwire.adapters.base import (
    Adapter,
    BroadcastFlags,
    BroadcastOptions,
    SocketDetails,
    room_set,
)
from socketwire.errors import AckError, AckTimeoutError
from socketwire.socketio import Packet, PacketType
from socketwire.socketio.packets import check_event_name

if TYPE_CHECKING:
    from socketwire.adapters.types import Handshake
    from socketwire.server.namespace import Namespace

__all__ = ["BroadcastOperator", "RemoteSocket"]


class BroadcastOperator:
    """Targets the sockets in some rooms (all when none), minus those in excluded rooms.

    Obtain one from ``sio.to(...)``, ``namespace.except_(...)``, ``socket.broadcast``...
    """

    def __init__(
        self,
        nsp: Namespace,
        rooms: frozenset[str] = frozenset(),
        except_rooms: frozenset[str] = frozenset(),
        flags: BroadcastFlags | None = None,
    ) -> None:
        self.nsp = nsp
        self.adapter: Adapter = nsp.adapter
        self.rooms = rooms
        self.except_rooms = except_rooms
        self.flags = flags if flags is not None else BroadcastFlags()

    def _with(self, **changes: Any) -> BroadcastOperator:
        return BroadcastOperator(
            self.nsp,
            changes.pop("rooms", self.rooms),
            changes.pop("except_rooms", self.except_rooms),
            dataclasses.replace(self.flags, **changes) if changes else self.flags,
        )

    def to(self, room: str | Iterable[str]) -> BroadcastOperator:
        """Also target the sockets in ``room`` (one name or several)."""
        return self._with(rooms=self.rooms | room_set(room))

    def in_(self, room: str | Iterable[str]) -> BroadcastOperator:
        """Alias of [`to()`][to]."""
        return self.to(room)

    def except_(self, room: str | Iterable[str]) -> BroadcastOperator:
        """Exclude the sockets in ``room`` (one name or several)."""
        return self._with(except_rooms=self.except_rooms | room_set(room))

    def compress(self, compress: bool) -> BroadcastOperator:
        """Ask for (or against) compression of the packets."""
        return self._with(compress=compress)

    @property
    def volatile(self) -> BroadcastOperator:
        """Drop the packet for any connection that cannot take it right now."""
        return self._with(volatile=True)

    @property
    def local(self) -> BroadcastOperator:
        """Only this server's clients (meaningful with a cluster adapter)."""
        return self._with(local=True)

    def timeout(self, seconds: float) -> BroadcastOperator:
        """Give up waiting for acknowledgements after ``seconds`` (see
        [`emit_with_ack()`][emit_with_ack])."""
        return self._with(timeout=seconds)

    def _options(self) -> BroadcastOptions:
        return BroadcastOptions(self.rooms, self.except_rooms, self.flags)

    def emit(self, event: str, *args: Any) -> None:
        """Send ``event`` with ``args`` (JSON-able values, ``bytes`` anywhere) to the targets.

        The packet is encoded once; the same encoded messages go to every recipient. Safe to
        call from a worker thread (it is then handed to the event loop).
        """
        check_event_name(event)
        nsp = self.nsp
        declared = nsp.outgoing_events
        if declared and event in declared:
            args = tuple(declared[event].outgoing(args))
        packet = Packet(PacketType.EVENT, nsp.name, [event, *args])
        nsp.server.loop_guard.call(self.adapter.broadcast, packet, self._options())

    async def emit_with_ack(self, event: str, *args: Any) -> Any:
        """Send ``event`` to the targets and wait for each one's acknowledgement.

        Returns:
            The list of responses, one per client (the first argument each passed to its
            ack callback), in arrival order; a single response (or None) when targeting one
            socket through [`RemoteSocket`][RemoteSocket].

        Raises:
            AckTimeoutError: ``timeout(s)`` elapsed first; ``.responses`` holds what arrived
                and ``.missing`` the ids of the local sockets that did not answer (JS calls
                back with ``(err, responses)``).
            AckError: without a timeout, some target disconnected before answering.

            PayloadError: a declared event (``@sio.emits``): the arguments do not match
                (with outgoing validation on; nothing was sent), or a response does not
                match the declared acknowledgement.

        Without ``timeout(s)`` this waits until every target answered or disconnected.
        """
        check_event_name(event)
        nsp = self.nsp
        declared = nsp.outgoing_events.get(event) if nsp.outgoing_events else None
        if declared is not None:
            args = tuple(declared.outgoing(args))
        single = self.flags.expect_single_response
        ack_id = nsp.next_ack_id()
        packet = Packet(PacketType.EVENT, nsp.name, [event, *args], ack_id)
        loop = asyncio.get_running_loop()
        done: asyncio.Future[None] = loop.create_future()
        responses: list[Any] = []
        responded: set[str] = set()
        gone: list[str] = []
        targeted: list[str] = []
        counts = {"servers": 0, "clients": 0, "expected_servers": -1}

        def check() -> None:
            if (
                not done.done()
                and counts["servers"] == counts["expected_servers"]
                and len(responses) + len(gone) == counts["clients"]
            ):
                done.set_result(None)

        def on_count(count: int, sids: Sequence[str]) -> None:
            counts["clients"] += count
            counts["servers"] += 1
            targeted.extend(sids)
            check()

        def on_ack(sid: str | None, ack_args: list[Any] | None) -> None:
            if done.done():
                return
            if ack_args is None:
                gone.append(sid or "")
            else:
                responses.append(ack_args[0] if ack_args else None)
                if sid is not None:
                    responded.add(sid)
            check()

        self.adapter.broadcast_with_ack(packet, self._options(), on_count, on_ack)
        try:
            counts["expected_servers"] = await self.adapter.server_count()
            check()
            async with asyncio.timeout(self.flags.timeout):
                await done
        except TimeoutError:
            counters = nsp.server.counters
            if counters is not None:
                counters.acks_timed_out += counts["clients"] - len(responses) - len(gone)
            missing = [sid for sid in targeted if sid not in responded]
            raise AckTimeoutError(
                "operation has timed out", responses=responses, missing=missing
            ) from None
        finally:
            # A client that did not answer must not keep the callback (and this frame) alive.
            for sid in targeted:
                socket = nsp.sockets.get(sid)
                if socket is not None:
                    socket.acks.pop(ack_id, None)
        if declared is not None:
            responses = [declared.answer(response) for response in responses]
        if gone:
            raise AckError(
                "some clients disconnected before acknowledging", responses=responses, missing=gone
            )
        if single:
            return responses[0] if responses else None
        return responses

    async def all_sockets(self) -> set[str]:
        """The ids of the sockets in the targeted rooms (``except_`` is ignored, as in JS)."""
        return await self.adapter.sockets(self.rooms)

    async def fetch_sockets(self) -> list[RemoteSocket]:
        """The targeted sockets (on every server), as [`RemoteSocket`][RemoteSocket] handles."""
        details = await self.adapter.fetch_sockets(self._options())
        return [RemoteSocket(self.nsp, d) for d in details]

    async def sockets_join(self, room: str | Iterable[str]) -> None:
        """Make the targeted sockets join ``room`` (one name or several)."""
        await self.adapter.add_sockets(self._options(), sorted(room_set(room)))

    async def sockets_leave(self, room: str | Iterable[str]) -> None:
        """Make the targeted sockets leave ``room`` (one name or several)."""
        await self.adapter.del_sockets(self._options(), sorted(room_set(room)))

    async def disconnect_sockets(self, close: bool = False) -> None:
        """Disconnect the targeted sockets; ``close`` closes their whole connection."""
        await self.adapter.disconnect_sockets(self._options(), close)


class RemoteSocket:
    """A socket returned by ``fetch_sockets()``: on this server or another one.

    Attributes:
        id: The socket id.
        handshake: Its handshake.
        rooms: Its rooms when fetched.
        data: Its ``data`` (the live dict for a local socket, a copy for a remote one).
    """

    def __init__(self, nsp: Namespace, details: SocketDetails) -> None:
        self.id = details.id
        self.handshake: Handshake = details.handshake
        self.rooms = set(details.rooms)
        self.data = details.data
        # expect_single_response: emit_with_ack() resolves like socket.emit_with_ack()
        self._operator = BroadcastOperator(
            nsp, frozenset((self.id,)), flags=BroadcastFlags(expect_single_response=True)
        )

    def timeout(self, seconds: float) -> BroadcastOperator:
        """An operator on this socket that waits at most ``seconds`` for an ack."""
        return self._operator.timeout(seconds)

    def emit(self, event: str, *args: Any) -> None:
        """Send ``event`` to this socket."""
        self._operator.emit(event, *args)

    async def emit_with_ack(self, event: str, *args: Any) -> Any:
        """Send ``event`` and return the socket's acknowledgement (its first argument)."""
        return await self._operator.emit_with_ack(event, *args)

    async def join(self, room: str | Iterable[str]) -> None:
        """Make the socket join ``room``."""
        await self._operator.sockets_join(room)

    async def leave(self, room: str | Iterable[str]) -> None:
        """Make the socket leave ``room``."""
        await self._operator.sockets_leave(room)

    async def disconnect(self, close: bool = False) -> None:
        """Disconnect the socket; ``close`` closes its whole connection."""
        await self._operator.disconnect_sockets(close)
