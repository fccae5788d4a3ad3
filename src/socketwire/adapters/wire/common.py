"""Values that several inter-node formats carry: broadcast options, packets, socket details.

Each type mirrors a JS object of the Node adapters field for field, with ``to_wire()`` giving
the plain value (key order as Node writes it) and ``from_wire()`` checking and reading one.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, Final

from socketwire.socketio.errors import ProtocolError
from socketwire.socketio.packets import Packet, PacketType
from socketwire.socketio.validation import ABSENT, check_ack_id, check_packet

from .errors import WireError
from .values import expect_map, get_bool, get_map, get_rooms, get_str

__all__ = [
    "WireFlags",
    "WireHandshake",
    "WireOptions",
    "WireSession",
    "WireSocket",
    "packet_from_wire",
    "packet_to_wire",
]

# socket.io writes plain EVENT/ACK types into inter-node packets; older versions may have
# written the binary variants, which mean the same once the data holds bytes inline.
_PLAIN_TYPE: Final = {5: PacketType.EVENT, 6: PacketType.ACK}


def _opt_bool(obj: dict[str, Any], key: str, where: str) -> bool | None:
    return None if obj.get(key) is None else get_bool(obj, key, where)


@dataclass(frozen=True, slots=True)
class WireFlags:
    """The ``flags`` of a broadcast, as the JS ``BroadcastFlags`` object.

    ``None`` means the key is absent, which the Node side tells from ``false``: a packet is
    recoverable only when ``volatile`` is absent (``flags.volatile === undefined``). Keys
    this type does not know are dropped when decoding, as the Node adapters ignore them.

    Attributes:
        volatile: The packet may be dropped for a client that cannot take it now.
        compress: Ask the transport to compress.
        local: Only the sending node's clients (never published; decoded for completeness).
        timeout: Milliseconds to wait for client acknowledgements (broadcast with ack).
        expect_single_response: ``RemoteSocket.emitWithAck``: resolve with one response.
    """

    volatile: bool | None = None
    compress: bool | None = None
    local: bool | None = None
    timeout: float | None = None
    expect_single_response: bool | None = None

    def to_wire(self) -> dict[str, Any]:
        """The JS object, with absent flags left out."""
        out: dict[str, Any] = {}
        if self.volatile is not None:
            out["volatile"] = self.volatile
        if self.compress is not None:
            out["compress"] = self.compress
        if self.local is not None:
            out["local"] = self.local
        if self.timeout is not None:
            out["timeout"] = self.timeout
        if self.expect_single_response is not None:
            out["expectSingleResponse"] = self.expect_single_response
        return out

    @classmethod
    def from_wire(cls, value: object, where: str = "flags") -> WireFlags:
        """Read a decoded ``flags`` object (``None``: no flags).

        Raises:
            WireError: Not a map, or a known flag of the wrong type.
        """
        if value is None:
            return cls()
        obj = expect_map(value, where)
        timeout = obj.get("timeout")
        if timeout is not None and (
            isinstance(timeout, bool)
            or not isinstance(timeout, int | float)
            or not 0 <= timeout < math.inf  # NaN fails too
        ):
            raise WireError(f"invalid {where}.timeout: {timeout!r:.80}")
        return cls(
            volatile=_opt_bool(obj, "volatile", where),
            compress=_opt_bool(obj, "compress", where),
            local=_opt_bool(obj, "local", where),
            timeout=timeout,
            expect_single_response=_opt_bool(obj, "expectSingleResponse", where),
        )


@dataclass(frozen=True, slots=True)
class WireOptions:
    """Which sockets an operation targets (JS ``BroadcastOptions``, with arrays for sets).

    Attributes:
        rooms: Sockets in any of these rooms (every socket when empty). Order is kept: a
            broadcast to exactly one room is published on that room's channel.
        except_: Minus the sockets in any of these rooms (JS key ``except``).
        flags: The broadcast flags (only broadcasts carry them on the classic format).
    """

    rooms: tuple[str, ...] = ()
    except_: tuple[str, ...] = ()
    flags: WireFlags = field(default_factory=WireFlags)

    def to_wire(self, *, with_flags: bool = True) -> dict[str, Any]:
        """The JS object ``{rooms, except, flags}`` (``flags`` left out if not wanted)."""
        out: dict[str, Any] = {"rooms": list(self.rooms), "except": list(self.except_)}
        if with_flags:
            out["flags"] = self.flags.to_wire()
        return out

    @classmethod
    def from_wire(cls, value: object, where: str = "opts") -> WireOptions:
        """Read a decoded options object; missing arrays are empty, missing flags none.

        Raises:
            WireError: Not a map, rooms that are not strings, or bad flags.
        """
        obj = expect_map(value, where)
        return cls(
            rooms=get_rooms(obj, "rooms", where),
            except_=get_rooms(obj, "except", where),
            flags=WireFlags.from_wire(obj.get("flags"), f"{where}.flags"),
        )


def packet_to_wire(packet: Packet, *, nsp: bool = True) -> dict[str, Any]:
    """The JS packet object ``{type, data, nsp, id}`` carried between nodes.

    Args:
        packet: The packet; ``bytes`` stay inline (msgpack ``bin``).
        nsp: Write ``nsp``. The classic adapter sets it before publishing; the
            ClusterAdapter publishes before the in-memory adapter sets it, so Node leaves it
            out there and the receiver uses the envelope's namespace.
    """
    out: dict[str, Any] = {"type": int(packet.type)}
    if packet.data is not None:
        out["data"] = packet.data
    if nsp:
        out["nsp"] = packet.nsp
    if packet.id is not None:
        out["id"] = packet.id
    return out


def packet_from_wire(value: object, default_nsp: str, where: str = "packet") -> Packet:
    """Read a carried packet; a missing ``nsp`` is ``default_nsp``.

    Raises:
        WireError: Not a map, an unknown type, a bad id, or data of the wrong shape for the
            type (the same checks as the Socket.IO parsers).
    """
    obj = expect_map(value, where)
    code = obj.get("type")
    if type(code) is not int or not 0 <= code <= 6:
        raise WireError(f"invalid {where}.type: {code!r:.80}")
    packet_type = _PLAIN_TYPE.get(code, PacketType(code))
    nsp = obj.get("nsp")
    if nsp is None:
        nsp = default_nsp
    elif not isinstance(nsp, str):
        raise WireError(f"invalid {where}.nsp: {nsp!r:.80}")
    data = obj.get("data", ABSENT)
    raw_id = obj.get("id")
    try:
        ack_id = None if raw_id is None else check_ack_id(raw_id)
        check_packet(packet_type, data, ack_id)
    except ProtocolError as exc:
        raise WireError(f"invalid {where}: {exc}") from None
    return Packet(packet_type, nsp, None if data is ABSENT else data, ack_id)


@dataclass(frozen=True, slots=True)
class WireHandshake:
    """A socket's handshake as ``fetchSockets`` carries it (JS ``socket.handshake``).

    Attributes:
        headers: The handshake request's headers (lower-case names; a value is a string or,
            for ``set-cookie``, a list).
        time: The creation date as a JS ``Date`` string.
        address: The client's IP address (None if the server did not know it).
        xdomain: Whether the request had an ``Origin`` header.
        secure: Whether it came over TLS.
        issued: The creation time in milliseconds since the epoch.
        url: The request target.
        query: The query parameters.
        auth: The CONNECT packet's auth payload.
    """

    headers: dict[str, Any]
    time: str
    address: str | None
    xdomain: bool
    secure: bool
    issued: int
    url: str
    query: dict[str, Any]
    auth: dict[str, Any] = field(default_factory=dict)

    def to_wire(self) -> dict[str, Any]:
        """The JS object, keys in socket.io's order."""
        return {
            "headers": self.headers,
            "time": self.time,
            "address": self.address,
            "xdomain": self.xdomain,
            "secure": self.secure,
            "issued": self.issued,
            "url": self.url,
            "query": self.query,
            "auth": self.auth,
        }

    @classmethod
    def from_wire(cls, value: object, where: str = "handshake") -> WireHandshake:
        """Read a decoded handshake object (unknown keys are ignored).

        Raises:
            WireError: A missing key or one of the wrong type.
        """
        obj = expect_map(value, where)
        address = obj.get("address")
        if address is not None and not isinstance(address, str):
            raise WireError(f"invalid {where}.address: {address!r:.80}")
        issued = obj.get("issued")
        if isinstance(issued, float) and issued.is_integer():
            issued = int(issued)
        if type(issued) is not int:
            raise WireError(f"invalid {where}.issued: {issued!r:.80}")
        auth = obj.get("auth")
        return cls(
            headers=get_map(obj, "headers", where),
            time=get_str(obj, "time", where),
            address=address,
            xdomain=get_bool(obj, "xdomain", where),
            secure=get_bool(obj, "secure", where),
            issued=issued,
            url=get_str(obj, "url", where),
            query=get_map(obj, "query", where),
            auth={} if auth is None else expect_map(auth, f"{where}.auth"),
        )


@dataclass(frozen=True, slots=True)
class WireSocket:
    """One socket in a ``fetchSockets`` response: ``{id, handshake, rooms, data}``."""

    id: str
    handshake: WireHandshake
    rooms: tuple[str, ...]
    data: Any = None

    def to_wire(self) -> dict[str, Any]:
        """The JS object."""
        return {
            "id": self.id,
            "handshake": self.handshake.to_wire(),
            "rooms": list(self.rooms),
            "data": self.data,
        }

    @classmethod
    def from_wire(cls, value: object, where: str = "socket") -> WireSocket:
        """Read one decoded socket.

        Raises:
            WireError: A missing or ill-typed field.
        """
        obj = expect_map(value, where)
        if not isinstance(obj.get("rooms"), list):
            raise WireError(f"invalid {where}.rooms: expected an array")
        return cls(
            id=get_str(obj, "id", where),
            handshake=WireHandshake.from_wire(obj.get("handshake"), f"{where}.handshake"),
            rooms=get_rooms(obj, "rooms", where),
            data=obj.get("data"),
        )


@dataclass(frozen=True, slots=True)
class WireSession:
    """A disconnected socket's session as the streams adapter stores it in Redis.

    Attributes:
        sid: The socket id, reused on recovery.
        pid: The private session id (the Redis key is ``<prefix><pid>``).
        rooms: The socket's rooms, its own id included.
        data: The socket's ``data``.
    """

    sid: str
    pid: str
    rooms: tuple[str, ...]
    data: Any = None

    def to_wire(self) -> dict[str, Any]:
        """The JS object ``{sid, pid, rooms, data}``."""
        return {"sid": self.sid, "pid": self.pid, "rooms": list(self.rooms), "data": self.data}

    @classmethod
    def from_wire(cls, value: object, where: str = "session") -> WireSession:
        """Read a decoded session (extra keys such as ``missedPackets`` are ignored).

        Raises:
            WireError: A missing or ill-typed field.
        """
        obj = expect_map(value, where)
        if not isinstance(obj.get("rooms"), list):
            raise WireError(f"invalid {where}.rooms: expected an array")
        return cls(
            sid=get_str(obj, "sid", where),
            pid=get_str(obj, "pid", where),
            rooms=get_rooms(obj, "rooms", where),
            data=obj.get("data"),
        )
