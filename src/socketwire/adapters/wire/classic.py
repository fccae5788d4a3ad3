"""The wire format of ``@socket.io/redis-adapter`` 8.x with classic pub/sub.

Three kinds of channel, three kinds of message (see [`naming`][.naming] for the names):

- broadcast channels (``socket.io#<nsp>#`` and ``socket.io#<nsp>#<room>#``): msgpack of
  ``[uid, packet, opts]`` ([`ClassicBroadcast`][ClassicBroadcast]);
- the request channel: a map whose ``type`` is a [`RequestType`][RequestType]; JSON, except
  ``BROADCAST`` (type 7), which is msgpack;
- the response channels: a map matched to its request by ``requestId``; JSON, except
  ``BROADCAST_ACK`` (type 9), which is msgpack. Responses to ``SOCKETS``, ``ALL_ROOMS`` and
  ``REMOTE_FETCH`` carry no ``type``: they are told apart by their keys.

Decoders accept JSON or msgpack for any request or response, told apart by the first byte
(``{`` is JSON) exactly as the Node adapter does. Encoders write what Node writes, keys in
Node's order. JSON cannot carry bytes: a Node peer turns a ``Buffer`` into
``{"type": "Buffer", "data": [...]}``, and so do we ([`dumps_json()`][.dumps_json]).

Not supported (refused with [`WireError`][WireError]): the single-socket ``REMOTE_JOIN``,
``REMOTE_LEAVE`` and ``REMOTE_DISCONNECT`` requests of adapters before 7.0 (no ``opts``),
and their ``{requestId}`` responses.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from typing import Any, Final, TypeAlias

from socketwire.socketio.packets import Packet

from .common import WireOptions, WireSocket, packet_from_wire, packet_to_wire
from .errors import WireError
from .values import (
    dumps_json,
    expect_map,
    get_bool,
    get_count,
    get_event,
    get_list,
    get_opt_str,
    get_rooms,
    get_str,
    loads_json,
    pack,
    starts_like_json,
    unpack_notepack,
)

__all__ = [
    "AllRoomsRequest",
    "AllRoomsResponse",
    "BroadcastAckRequest",
    "BroadcastAckResponse",
    "BroadcastClientCountResponse",
    "ClassicBroadcast",
    "ClassicCodec",
    "ClassicMessage",
    "ClassicRequest",
    "ClassicResponse",
    "FetchSocketsRequest",
    "FetchSocketsResponse",
    "RemoteDisconnectRequest",
    "RemoteJoinRequest",
    "RemoteLeaveRequest",
    "RequestType",
    "ServerSideEmitRequest",
    "ServerSideEmitResponse",
    "SocketsRequest",
    "SocketsResponse",
]


class RequestType(enum.IntEnum):
    """The ``type`` of a request or typed response (``RequestType`` in the adapter)."""

    SOCKETS = 0
    ALL_ROOMS = 1
    REMOTE_JOIN = 2
    REMOTE_LEAVE = 3
    REMOTE_DISCONNECT = 4
    REMOTE_FETCH = 5
    SERVER_SIDE_EMIT = 6
    BROADCAST = 7
    BROADCAST_CLIENT_COUNT = 8
    BROADCAST_ACK = 9


# -- broadcast channel ----------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ClassicBroadcast:
    """A broadcast without acknowledgement: ``[uid, packet, opts]``.

    Attributes:
        uid: The publishing node (``"emitter"`` from ``@socket.io/redis-emitter``). A node
            drops its own messages.
        packet: The packet; a missing ``nsp`` reads as ``"/"``, as in the Node adapter.
        opts: Target rooms, excepted rooms and flags.
    """

    uid: str
    packet: Packet
    opts: WireOptions


# -- requests -------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class SocketsRequest:
    """``SOCKETS`` (0): the ids of the sockets in ``rooms`` (sent by adapters before 8.0)."""

    uid: str
    request_id: str
    rooms: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class AllRoomsRequest:
    """``ALL_ROOMS`` (1): every room of every node; each other node answers."""

    uid: str
    request_id: str


@dataclass(frozen=True, slots=True)
class RemoteJoinRequest:
    """``REMOTE_JOIN`` (2): the targeted sockets join ``rooms``; applied by every node,
    the sender included. ``uid`` is None when it comes from the emitter."""

    uid: str | None
    opts: WireOptions
    rooms: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class RemoteLeaveRequest:
    """``REMOTE_LEAVE`` (3): the targeted sockets leave ``rooms``; as
    [`RemoteJoinRequest`][RemoteJoinRequest]."""

    uid: str | None
    opts: WireOptions
    rooms: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class RemoteDisconnectRequest:
    """``REMOTE_DISCONNECT`` (4): disconnect the targeted sockets (``close``: their whole
    connection); applied by every node, the sender included."""

    uid: str | None
    opts: WireOptions
    close: bool = False


@dataclass(frozen=True, slots=True)
class FetchSocketsRequest:
    """``REMOTE_FETCH`` (5): details of the targeted sockets; each other node answers.

    Node sends ``opts`` without flags.
    """

    uid: str
    request_id: str
    opts: WireOptions


@dataclass(frozen=True, slots=True)
class ServerSideEmitRequest:
    """``SERVER_SIDE_EMIT`` (6): ``data`` is ``[event, *args]``; with ``request_id``, each
    other node answers with its handler's first ack argument."""

    uid: str
    data: list[Any]
    request_id: str | None = None


@dataclass(frozen=True, slots=True)
class BroadcastAckRequest:
    """``BROADCAST`` (7), msgpack: a broadcast whose clients must acknowledge.

    Every node, the sender included, answers with a client count, then one ack per client.
    ``opts.flags.timeout`` bounds the wait.
    """

    uid: str
    request_id: str
    packet: Packet
    opts: WireOptions


# -- responses ------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class SocketsResponse:
    """The answer to ``SOCKETS``: ``{requestId, sockets: [sid, ...]}``.

    An empty ``sockets`` array decodes as [`FetchSocketsResponse`][FetchSocketsResponse] (the two
    cannot be told apart; adapters since 8.0 only ask ``REMOTE_FETCH``).
    """

    request_id: str
    sockets: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class AllRoomsResponse:
    """The answer to ``ALL_ROOMS``: ``{requestId, rooms}``."""

    request_id: str
    rooms: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class FetchSocketsResponse:
    """The answer to ``REMOTE_FETCH``: ``{requestId, sockets: [{id, handshake, rooms, data}]}``."""

    request_id: str
    sockets: tuple[WireSocket, ...]


@dataclass(frozen=True, slots=True)
class ServerSideEmitResponse:
    """The answer to a ``SERVER_SIDE_EMIT`` with ack: ``{type: 6, requestId, data}``."""

    request_id: str
    data: Any = None


@dataclass(frozen=True, slots=True)
class BroadcastClientCountResponse:
    """``BROADCAST_CLIENT_COUNT`` (8): how many clients one node sent the packet to."""

    request_id: str
    client_count: int


@dataclass(frozen=True, slots=True)
class BroadcastAckResponse:
    """``BROADCAST_ACK`` (9), msgpack: one client's acknowledgement (its first argument)."""

    request_id: str
    packet: Any = None


ClassicRequest: TypeAlias = (
    SocketsRequest
    | AllRoomsRequest
    | RemoteJoinRequest
    | RemoteLeaveRequest
    | RemoteDisconnectRequest
    | FetchSocketsRequest
    | ServerSideEmitRequest
    | BroadcastAckRequest
)
ClassicResponse: TypeAlias = (
    SocketsResponse
    | AllRoomsResponse
    | FetchSocketsResponse
    | ServerSideEmitResponse
    | BroadcastClientCountResponse
    | BroadcastAckResponse
)
ClassicMessage: TypeAlias = ClassicBroadcast | ClassicRequest | ClassicResponse

_UNSUPPORTED_LEGACY: Final = (
    "the single-socket form (no opts) of adapters before 7.0 is not supported"
)


class ClassicCodec:
    """Encodes and decodes every message of the classic Redis adapter. Stateless.

    Decoding needs to know the channel the message came from (a request and a response of type 6
    look alike): use [`decode_broadcast()`][decode_broadcast], [`decode_request()`][decode_request]
    or [`decode_response()`][decode_response]. All raise [`WireError`][WireError] for anything
    malformed or unknown.
    """

    __slots__ = ()

    # -- encoding ---------------------------------------------------------------------------

    def encode(self, message: ClassicMessage) -> bytes:
        """Encode a message as the Node adapter would publish it.

        Raises:
            WireError: The message holds something its encoding cannot carry.
        """
        if isinstance(message, ClassicBroadcast):
            opts = message.opts.to_wire()
            return pack([message.uid, packet_to_wire(message.packet), opts])
        if isinstance(message, BroadcastAckRequest):
            return pack(
                {
                    "uid": message.uid,
                    "requestId": message.request_id,
                    "type": RequestType.BROADCAST.value,
                    "packet": packet_to_wire(message.packet),
                    "opts": message.opts.to_wire(),
                }
            )
        if isinstance(message, BroadcastAckResponse):
            return pack(
                {
                    "type": RequestType.BROADCAST_ACK.value,
                    "requestId": message.request_id,
                    "packet": message.packet,
                }
            )
        return dumps_json(_json_object(message))

    # -- decoding ---------------------------------------------------------------------------

    def decode_broadcast(self, raw: bytes) -> ClassicBroadcast:
        """Decode a message from a broadcast channel.

        Raises:
            WireError: Not msgpack of ``[uid: str, packet, opts]``.
        """
        value = unpack_notepack(raw)
        if not isinstance(value, list) or len(value) != 3:
            raise WireError("invalid broadcast: expected [uid, packet, opts]")
        uid, packet, opts = value
        if not isinstance(uid, str):
            raise WireError(f"invalid broadcast uid: {uid!r:.80}")
        return ClassicBroadcast(uid, packet_from_wire(packet, "/"), WireOptions.from_wire(opts))

    def decode_request(self, raw: bytes) -> ClassicRequest:
        """Decode a message from the request channel.

        Raises:
            WireError: Malformed, of an unknown type, or a response type.
        """
        obj = _load(raw, "request")
        code = obj.get("type")
        where = f"request (type {code!r:.20})"
        if type(code) is not int:  # bool is an int subclass: True must not read as 1
            raise WireError(f"invalid {where}: no integer type")
        if code == RequestType.SOCKETS:
            return SocketsRequest(
                get_str(obj, "uid", where),
                get_str(obj, "requestId", where),
                get_rooms(obj, "rooms", where),
            )
        if code == RequestType.ALL_ROOMS:
            return AllRoomsRequest(get_str(obj, "uid", where), get_str(obj, "requestId", where))
        if code in (RequestType.REMOTE_JOIN, RequestType.REMOTE_LEAVE):
            if "opts" not in obj:
                raise WireError(f"invalid {where}: {_UNSUPPORTED_LEGACY}")
            cls = RemoteJoinRequest if code == RequestType.REMOTE_JOIN else RemoteLeaveRequest
            get_list(obj, "rooms", where)
            return cls(
                get_opt_str(obj, "uid", where),
                WireOptions.from_wire(obj["opts"], f"{where}.opts"),
                get_rooms(obj, "rooms", where),
            )
        if code == RequestType.REMOTE_DISCONNECT:
            if "opts" not in obj:
                raise WireError(f"invalid {where}: {_UNSUPPORTED_LEGACY}")
            return RemoteDisconnectRequest(
                get_opt_str(obj, "uid", where),
                WireOptions.from_wire(obj["opts"], f"{where}.opts"),
                # JS tests `close` for truth; the emitter always sends a boolean.
                False if obj.get("close") is None else get_bool(obj, "close", where),
            )
        if code == RequestType.REMOTE_FETCH:
            return FetchSocketsRequest(
                get_str(obj, "uid", where),
                get_str(obj, "requestId", where),
                WireOptions.from_wire(obj.get("opts"), f"{where}.opts"),
            )
        if code == RequestType.SERVER_SIDE_EMIT:
            return ServerSideEmitRequest(
                get_str(obj, "uid", where),
                get_event(obj, "data", where),
                get_opt_str(obj, "requestId", where),
            )
        if code == RequestType.BROADCAST:
            return BroadcastAckRequest(
                get_str(obj, "uid", where),
                get_str(obj, "requestId", where),
                packet_from_wire(obj.get("packet"), "/", f"{where}.packet"),
                WireOptions.from_wire(obj.get("opts"), f"{where}.opts"),
            )
        raise WireError(f"unknown request type {code!r:.80}")

    def decode_response(self, raw: bytes) -> ClassicResponse:
        """Decode a message from a response channel.

        Raises:
            WireError: Malformed, or matching no known response.
        """
        obj = _load(raw, "response")
        where = "response"
        request_id = get_str(obj, "requestId", where)
        if "type" in obj:
            code = obj["type"]
            if type(code) is not int:
                raise WireError(f"invalid response type {code!r:.80}")
            if code == RequestType.SERVER_SIDE_EMIT:
                return ServerSideEmitResponse(request_id, obj.get("data"))
            if code == RequestType.BROADCAST_CLIENT_COUNT:
                return BroadcastClientCountResponse(
                    request_id, get_count(obj, "clientCount", where)
                )
            if code == RequestType.BROADCAST_ACK:
                return BroadcastAckResponse(request_id, obj.get("packet"))
            raise WireError(f"unknown response type {code!r:.80}")
        if "rooms" in obj:
            return AllRoomsResponse(request_id, get_rooms(obj, "rooms", where))
        if "sockets" in obj:
            sockets = get_list(obj, "sockets", where)
            if sockets and all(isinstance(sid, str) for sid in sockets):
                return SocketsResponse(request_id, tuple(sockets))
            return FetchSocketsResponse(
                request_id,
                tuple(
                    WireSocket.from_wire(item, f"{where}.sockets[{index}]")
                    for index, item in enumerate(sockets)
                ),
            )
        raise WireError(f"invalid response: {_UNSUPPORTED_LEGACY} (no rooms, sockets or type)")


def _load(raw: bytes, where: str) -> dict[str, Any]:
    value = loads_json(raw) if starts_like_json(raw) else unpack_notepack(raw)
    return expect_map(value, where)


def _json_object(message: ClassicMessage) -> dict[str, Any]:
    # Key order as the adapter's JSON.stringify calls build them.
    if isinstance(message, SocketsRequest):
        return {
            "uid": message.uid,
            "requestId": message.request_id,
            "type": RequestType.SOCKETS.value,
            "rooms": list(message.rooms),
        }
    if isinstance(message, AllRoomsRequest):
        return {
            "uid": message.uid,
            "requestId": message.request_id,
            "type": RequestType.ALL_ROOMS.value,
        }
    if isinstance(message, RemoteJoinRequest | RemoteLeaveRequest | RemoteDisconnectRequest):
        return _remote_control(message, with_uid=message.uid is not None)
    if isinstance(message, FetchSocketsRequest):
        return {
            "uid": message.uid,
            "requestId": message.request_id,
            "type": RequestType.REMOTE_FETCH.value,
            "opts": message.opts.to_wire(with_flags=False),
        }
    if isinstance(message, ServerSideEmitRequest):
        obj: dict[str, Any] = {"uid": message.uid}
        if message.request_id is not None:
            obj["requestId"] = message.request_id
        obj["type"] = RequestType.SERVER_SIDE_EMIT.value
        obj["data"] = message.data
        return obj
    if isinstance(message, SocketsResponse):
        return {"requestId": message.request_id, "sockets": list(message.sockets)}
    if isinstance(message, AllRoomsResponse):
        return {"requestId": message.request_id, "rooms": list(message.rooms)}
    if isinstance(message, FetchSocketsResponse):
        return {
            "requestId": message.request_id,
            "sockets": [socket.to_wire() for socket in message.sockets],
        }
    if isinstance(message, ServerSideEmitResponse):
        return {
            "type": RequestType.SERVER_SIDE_EMIT.value,
            "requestId": message.request_id,
            "data": message.data,
        }
    if isinstance(message, BroadcastClientCountResponse):
        return {
            "type": RequestType.BROADCAST_CLIENT_COUNT.value,
            "requestId": message.request_id,
            "clientCount": message.client_count,
        }
    raise WireError(f"not a classic adapter message: {type(message).__name__}")


def _remote_control(
    message: RemoteJoinRequest | RemoteLeaveRequest | RemoteDisconnectRequest, *, with_uid: bool
) -> dict[str, Any]:
    obj: dict[str, Any] = {"uid": message.uid} if with_uid else {}
    if isinstance(message, RemoteDisconnectRequest):
        obj["type"] = RequestType.REMOTE_DISCONNECT.value
        obj["opts"] = message.opts.to_wire(with_flags=False)
        obj["close"] = message.close
        return obj
    code = (
        RequestType.REMOTE_JOIN
        if isinstance(message, RemoteJoinRequest)
        else RequestType.REMOTE_LEAVE
    )
    obj["type"] = code.value
    obj["opts"] = message.opts.to_wire(with_flags=False)
    obj["rooms"] = list(message.rooms)
    return obj
