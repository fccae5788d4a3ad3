"""The messages of socket.io-adapter's ``ClusterAdapter``, shared by two formats.

Every message is an envelope ``{type, data, uid, nsp}`` (keys in the order Node writes them;
``data`` is absent for heartbeats and ``ADAPTER_CLOSE``). The sharded Redis adapter and the Redis
streams adapter carry the same envelopes, each with its own codec ([`sharded`][.sharded],
[`streams`][.streams]). This module maps envelopes to typed messages and back:
[`to_envelope()`][to_envelope] and [`from_envelope()`][from_envelope].

Node writes the broadcast packet before the in-memory adapter sets its ``nsp``, so packets
here have no ``nsp`` on the wire; decoding fills it from the envelope.
"""

from __future__ import annotations

import dataclasses
import enum
from dataclasses import dataclass
from typing import Any, Final, TypeAlias

from socketwire.socketio.packets import Packet

from .common import WireOptions, WireSocket, packet_from_wire, packet_to_wire
from .errors import WireError
from .values import (
    expect_map,
    get_bool,
    get_count,
    get_event,
    get_list,
    get_map,
    get_opt_str,
    get_rooms,
    get_str,
)

__all__ = [
    "MAY_CONTAIN_BINARY",
    "AdapterClose",
    "BroadcastAck",
    "BroadcastClientCount",
    "ClusterBroadcast",
    "ClusterMessage",
    "DisconnectSockets",
    "FetchSockets",
    "FetchSocketsResponse",
    "Heartbeat",
    "InitialHeartbeat",
    "MessageType",
    "ServerSideEmit",
    "ServerSideEmitResponse",
    "SocketsJoin",
    "SocketsLeave",
    "envelope_data",
    "from_envelope",
    "message_type",
    "read_message",
    "to_envelope",
]


class MessageType(enum.IntEnum):
    """The ``type`` of a cluster message (``MessageType`` in socket.io-adapter)."""

    INITIAL_HEARTBEAT = 1
    HEARTBEAT = 2
    BROADCAST = 3
    SOCKETS_JOIN = 4
    SOCKETS_LEAVE = 5
    DISCONNECT_SOCKETS = 6
    FETCH_SOCKETS = 7
    FETCH_SOCKETS_RESPONSE = 8
    SERVER_SIDE_EMIT = 9
    SERVER_SIDE_EMIT_RESPONSE = 10
    BROADCAST_CLIENT_COUNT = 11
    BROADCAST_ACK = 12
    ADAPTER_CLOSE = 13


#: Types whose ``data`` may hold binary: only these switch to msgpack when it does.
MAY_CONTAIN_BINARY: Final = frozenset(
    {
        MessageType.BROADCAST,
        MessageType.BROADCAST_ACK,
        MessageType.FETCH_SOCKETS_RESPONSE,
        MessageType.SERVER_SIDE_EMIT,
        MessageType.SERVER_SIDE_EMIT_RESPONSE,
    }
)


@dataclass(frozen=True, slots=True)
class InitialHeartbeat:
    """A node started (``ClusterAdapterWithHeartbeat``); the others answer with a heartbeat."""

    uid: str
    nsp: str


@dataclass(frozen=True, slots=True)
class Heartbeat:
    """A node is alive (sent when it published nothing for a while)."""

    uid: str
    nsp: str


@dataclass(frozen=True, slots=True)
class AdapterClose:
    """A node's adapter closed; the others forget it at once."""

    uid: str
    nsp: str


@dataclass(frozen=True, slots=True)
class ClusterBroadcast:
    """``BROADCAST``: a packet for the targeted sockets of every node.

    With ``request_id``, clients must acknowledge: each node answers with
    [`BroadcastClientCount`][BroadcastClientCount] and one [`BroadcastAck`][BroadcastAck] per
    client.
    """

    uid: str
    nsp: str
    packet: Packet
    opts: WireOptions
    request_id: str | None = None


@dataclass(frozen=True, slots=True)
class SocketsJoin:
    """``SOCKETS_JOIN``: the targeted sockets join ``rooms``."""

    uid: str
    nsp: str
    opts: WireOptions
    rooms: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class SocketsLeave:
    """``SOCKETS_LEAVE``: the targeted sockets leave ``rooms``."""

    uid: str
    nsp: str
    opts: WireOptions
    rooms: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class DisconnectSockets:
    """``DISCONNECT_SOCKETS``: disconnect the targeted sockets (``close``: whole connection)."""

    uid: str
    nsp: str
    opts: WireOptions
    close: bool = False


@dataclass(frozen=True, slots=True)
class FetchSockets:
    """``FETCH_SOCKETS``: every other node answers with
    [`FetchSocketsResponse`][FetchSocketsResponse]."""

    uid: str
    nsp: str
    opts: WireOptions
    request_id: str


@dataclass(frozen=True, slots=True)
class FetchSocketsResponse:
    """``FETCH_SOCKETS_RESPONSE``: one node's matching sockets."""

    uid: str
    nsp: str
    request_id: str
    sockets: tuple[WireSocket, ...]


@dataclass(frozen=True, slots=True)
class ServerSideEmit:
    """``SERVER_SIDE_EMIT``: ``packet`` is ``[event, *args]``; with ``request_id``, each other
    node answers with [`ServerSideEmitResponse`][ServerSideEmitResponse]."""

    uid: str
    nsp: str
    packet: list[Any]
    request_id: str | None = None


@dataclass(frozen=True, slots=True)
class ServerSideEmitResponse:
    """``SERVER_SIDE_EMIT_RESPONSE``: one node's handler's first ack argument."""

    uid: str
    nsp: str
    request_id: str
    packet: Any = None


@dataclass(frozen=True, slots=True)
class BroadcastClientCount:
    """``BROADCAST_CLIENT_COUNT``: how many clients one node sent an acked broadcast to."""

    uid: str
    nsp: str
    request_id: str
    client_count: int


@dataclass(frozen=True, slots=True)
class BroadcastAck:
    """``BROADCAST_ACK``: one client's acknowledgement (its first argument)."""

    uid: str
    nsp: str
    request_id: str
    packet: Any = None


ClusterMessage: TypeAlias = (
    InitialHeartbeat
    | Heartbeat
    | AdapterClose
    | ClusterBroadcast
    | SocketsJoin
    | SocketsLeave
    | DisconnectSockets
    | FetchSockets
    | FetchSocketsResponse
    | ServerSideEmit
    | ServerSideEmitResponse
    | BroadcastClientCount
    | BroadcastAck
)

_NO_DATA: Final[dict[type, MessageType]] = {
    InitialHeartbeat: MessageType.INITIAL_HEARTBEAT,
    Heartbeat: MessageType.HEARTBEAT,
    AdapterClose: MessageType.ADAPTER_CLOSE,
}


def message_type(message: ClusterMessage) -> MessageType:
    """The [`MessageType`][MessageType] of ``message``.

    Raises:
        WireError: ``message`` is not a cluster message.
    """
    code = _TYPE_OF.get(type(message))
    if code is None:
        raise WireError(f"not a cluster message: {type(message).__name__}")
    return code


def to_envelope(message: ClusterMessage) -> dict[str, Any]:
    """The plain envelope ``{type, data, uid, nsp}`` of ``message``, as Node builds it."""
    code = message_type(message)
    envelope: dict[str, Any] = {"type": code.value}
    data = envelope_data(message)
    if data is not None:
        envelope["data"] = data
    envelope["uid"] = message.uid
    envelope["nsp"] = message.nsp
    return envelope


def envelope_data(message: ClusterMessage) -> dict[str, Any] | None:
    """The ``data`` object of ``message`` (None for heartbeats and ``ADAPTER_CLOSE``)."""
    if isinstance(message, InitialHeartbeat | Heartbeat | AdapterClose):
        return None
    if isinstance(message, ClusterBroadcast):
        packet = packet_to_wire(message.packet, nsp=False)
        if message.request_id is None:
            return {"packet": packet, "opts": message.opts.to_wire()}
        return {"packet": packet, "requestId": message.request_id, "opts": message.opts.to_wire()}
    if isinstance(message, SocketsJoin | SocketsLeave):
        return {"opts": message.opts.to_wire(), "rooms": list(message.rooms)}
    if isinstance(message, DisconnectSockets):
        return {"opts": message.opts.to_wire(), "close": message.close}
    if isinstance(message, FetchSockets):
        return {"opts": message.opts.to_wire(), "requestId": message.request_id}
    if isinstance(message, FetchSocketsResponse):
        return {
            "requestId": message.request_id,
            "sockets": [socket.to_wire() for socket in message.sockets],
        }
    if isinstance(message, ServerSideEmit):
        if message.request_id is None:
            return {"packet": message.packet}
        return {"requestId": message.request_id, "packet": message.packet}
    if isinstance(message, ServerSideEmitResponse | BroadcastAck):
        return {"requestId": message.request_id, "packet": message.packet}
    if isinstance(message, BroadcastClientCount):
        return {"requestId": message.request_id, "clientCount": message.client_count}
    raise WireError(f"not a cluster message: {type(message).__name__}")


def from_envelope(value: object) -> ClusterMessage:
    """Read a decoded envelope into its typed message.

    Raises:
        WireError: Not a map, an unknown type, or a field missing or of the wrong type.
    """
    obj = expect_map(value, "message")
    code = obj.get("type")
    if type(code) is not int or code not in _VALID_TYPES:
        raise WireError(f"unknown cluster message type {code!r:.80}")
    return read_message(MessageType(code), obj.get("uid"), obj.get("nsp"), obj.get("data"))


_VALID_TYPES: Final = frozenset(t.value for t in MessageType)


def read_message(code: MessageType, uid: object, nsp: object, data: object) -> ClusterMessage:
    """Build the typed message of type ``code`` from its decoded parts.

    Raises:
        WireError: ``uid`` or ``nsp`` not a string, or ``data`` of the wrong shape.
    """
    where = f"message (type {code.value})"
    if not isinstance(uid, str):
        raise WireError(f"invalid {where}.uid: {uid!r:.80}")
    if not isinstance(nsp, str):
        raise WireError(f"invalid {where}.nsp: {nsp!r:.80}")
    if code is MessageType.INITIAL_HEARTBEAT:
        return InitialHeartbeat(uid, nsp)
    if code is MessageType.HEARTBEAT:
        return Heartbeat(uid, nsp)
    if code is MessageType.ADAPTER_CLOSE:
        return AdapterClose(uid, nsp)
    where += ".data"
    obj = expect_map(data, where)
    if code is MessageType.BROADCAST:
        packet = packet_from_wire(obj.get("packet"), nsp, f"{where}.packet")
        if packet.nsp != nsp:
            # The receiving in-memory adapter sets packet.nsp to its own namespace: the
            # envelope's is the one that counts.
            packet = dataclasses.replace(packet, nsp=nsp)
        return ClusterBroadcast(
            uid,
            nsp,
            packet,
            WireOptions.from_wire(obj.get("opts"), f"{where}.opts"),
            get_opt_str(obj, "requestId", where),
        )
    if code is MessageType.SOCKETS_JOIN or code is MessageType.SOCKETS_LEAVE:
        cls = SocketsJoin if code is MessageType.SOCKETS_JOIN else SocketsLeave
        get_list(obj, "rooms", where)
        return cls(
            uid,
            nsp,
            WireOptions.from_wire(get_map(obj, "opts", where), f"{where}.opts"),
            get_rooms(obj, "rooms", where),
        )
    if code is MessageType.DISCONNECT_SOCKETS:
        return DisconnectSockets(
            uid,
            nsp,
            WireOptions.from_wire(get_map(obj, "opts", where), f"{where}.opts"),
            False if obj.get("close") is None else get_bool(obj, "close", where),
        )
    if code is MessageType.FETCH_SOCKETS:
        return FetchSockets(
            uid,
            nsp,
            WireOptions.from_wire(get_map(obj, "opts", where), f"{where}.opts"),
            get_str(obj, "requestId", where),
        )
    if code is MessageType.FETCH_SOCKETS_RESPONSE:
        sockets = get_list(obj, "sockets", where)
        return FetchSocketsResponse(
            uid,
            nsp,
            get_str(obj, "requestId", where),
            tuple(
                WireSocket.from_wire(item, f"{where}.sockets[{index}]")
                for index, item in enumerate(sockets)
            ),
        )
    if code is MessageType.SERVER_SIDE_EMIT:
        return ServerSideEmit(
            uid, nsp, get_event(obj, "packet", where), get_opt_str(obj, "requestId", where)
        )
    if code is MessageType.SERVER_SIDE_EMIT_RESPONSE:
        return ServerSideEmitResponse(uid, nsp, get_str(obj, "requestId", where), obj.get("packet"))
    if code is MessageType.BROADCAST_CLIENT_COUNT:
        return BroadcastClientCount(
            uid, nsp, get_str(obj, "requestId", where), get_count(obj, "clientCount", where)
        )
    # The only type left: from_envelope checked the code against MessageType.
    return BroadcastAck(uid, nsp, get_str(obj, "requestId", where), obj.get("packet"))


_TYPE_OF: Final[dict[type, MessageType]] = {
    **_NO_DATA,
    ClusterBroadcast: MessageType.BROADCAST,
    SocketsJoin: MessageType.SOCKETS_JOIN,
    SocketsLeave: MessageType.SOCKETS_LEAVE,
    DisconnectSockets: MessageType.DISCONNECT_SOCKETS,
    FetchSockets: MessageType.FETCH_SOCKETS,
    FetchSocketsResponse: MessageType.FETCH_SOCKETS_RESPONSE,
    ServerSideEmit: MessageType.SERVER_SIDE_EMIT,
    ServerSideEmitResponse: MessageType.SERVER_SIDE_EMIT_RESPONSE,
    BroadcastClientCount: MessageType.BROADCAST_CLIENT_COUNT,
    BroadcastAck: MessageType.BROADCAST_ACK,
}
