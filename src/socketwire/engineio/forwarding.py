"""The messages that carry a request to the node owning its session, sans I/O.

Behind a load balancer with no stickiness, a polling GET or POST, or a WebSocket upgrade,
may reach a node that does not own the session its ``sid`` names. That node (the
*opener*) reads the owner from the sid (`socketwire.engineio.sids.owner_of`) and
sends the request to it through the cluster's pub/sub (`socketwire.io.forwarding`);
the owner answers it as if it had received it, and the opener relays the answer. A
WebSocket upgrade becomes a *tunnel*: the opener keeps the client's WebSocket and relays its
messages both ways.

The design is ``@socket.io/cluster-engine``'s ``RedisEngine`` (socket.io's monorepo,
packages/socket.io-cluster-engine): msgpack maps with ``senderId``, ``recipientId``,
``requestId``, ``type`` and ``data``, marked with ``_source``, published on a channel per
node (``<prefix>#<node id>#``, prefix ``engine.io``). It differs where socketwire's
session ids allow it, so the two do not interoperate:

- cluster-engine's ids do not name their node, so it asks every node who owns a session
  (``ACQUIRE_LOCK`` on the shared channel) and the owner answers; here the opener sends the
  request straight to the owner's channel, and a publish that no one receives means the
  owner is gone.
- cluster-engine moves Engine.IO packets (``PACKET``, ``DRAIN``) and rebuilds the polling
  transport on the opener; here the whole HTTP request (method, target, headers, body)
  travels and the owner's own Engine.IO server answers it, so every check and answer is the
  owner's, byte for byte.
- cluster-engine hands a session that upgrades within 300 ms of its handshake over to the
  node holding the WebSocket (delaying the ``connection`` event that long); socketwire never
  moves a session: the tunnel lasts as long as the WebSocket.
- ``_source`` is ``"socketwire"`` (cluster-engine: ``"_eio"``), node ids are the 5
  characters of `socketwire.engineio.sids.owner_prefix` (cluster-engine: 6 hex digits),
  and the message types are socketwire's (`ForwardType`).

`encode_forward()` and `decode_forward()` are the one codec. A message that is not
one of ours, too large, or malformed is a `ForwardWireError`: the receiver drops it.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from typing import Any, Final, TypeAlias

import msgpack  # type: ignore[import-untyped]  # ships no type information

from socketwire.engineio.sids import is_owner

__all__ = [
    "MAX_HEADERS",
    "SOURCE",
    "Forward",
    "ForwardBody",
    "ForwardType",
    "ForwardWireError",
    "HttpAnswerMessage",
    "HttpRequestMessage",
    "TunnelClose",
    "TunnelData",
    "TunnelFlow",
    "UpgradeAnswer",
    "decode_forward",
    "encode_forward",
]

#: The ``_source`` of socketwire's messages.
SOURCE: Final = "socketwire"
#: The most header lines a forwarded request or answer may carry.
MAX_HEADERS: Final = 256
#: Request ids are JSON-safe integers, as cluster-engine's counters.
_MAX_ID: Final = 2**53


class ForwardWireError(ValueError):
    """A forwarding message is not ours, too large, or malformed: drop it."""


class ForwardType(enum.IntEnum):
    """The ``type`` of a message, and which way it goes."""

    #: Opener to owner: a polling request (`HttpRequestMessage`).
    REQUEST = 0
    #: Owner to opener: its answer (`HttpAnswerMessage`).
    RESPONSE = 1
    #: Opener to owner: the client left before the answer (no data).
    ABORT = 2
    #: Opener to owner: a WebSocket upgrade (`HttpRequestMessage`, no body).
    UPGRADE = 3
    #: Owner to opener: accepted or refused (`UpgradeAnswer`).
    UPGRADE_RESPONSE = 4
    #: Opener to owner: a message the client sent on the tunnel (`TunnelData`).
    CLIENT_MESSAGE = 5
    #: Owner to opener: a message for the client (`TunnelData`).
    SERVER_MESSAGE = 6
    #: Opener to owner: the client's WebSocket closed (`TunnelClose`).
    CLIENT_CLOSE = 7
    #: Owner to opener: close the client's WebSocket (`TunnelClose`).
    SERVER_CLOSE = 8
    #: Owner to opener: stop or resume reading the client (`TunnelFlow`).
    FLOW = 9


@dataclass(frozen=True, slots=True)
class HttpRequestMessage:
    """A request as the opener received it.

    Attributes:
        method: The HTTP method.
        target: The request target (path and query string, as sent).
        headers: The header lines that matter to the owner (no hop-by-hop ones), names in
            lower case.
        body: The whole body (a POST's; empty otherwise).
        remote: The client's address, if known.
        secure: Whether the client came over TLS.
    """

    method: str
    target: str
    headers: tuple[tuple[str, str], ...]
    body: bytes = b""
    remote: tuple[str, int] | None = None
    secure: bool = False


@dataclass(frozen=True, slots=True)
class HttpAnswerMessage:
    """The owner's answer to a `HttpRequestMessage`."""

    status: int
    headers: tuple[tuple[str, str], ...]
    body: bytes = b""


@dataclass(frozen=True, slots=True)
class UpgradeAnswer:
    """The owner's answer to an upgrade: ``accepted`` (``headers`` go on the 101), or
    refused with the HTTP answer to send instead."""

    accepted: bool
    status: int = 101
    headers: tuple[tuple[str, str], ...] = ()
    body: bytes = b""


@dataclass(frozen=True, slots=True)
class TunnelData:
    """One WebSocket message (text or binary)."""

    data: str | bytes


@dataclass(frozen=True, slots=True)
class TunnelClose:
    """A WebSocket closed (or is to be closed) with ``code`` and ``reason``."""

    code: int
    reason: str = ""


@dataclass(frozen=True, slots=True)
class TunnelFlow:
    """The owner's application pauses (or resumes) reading the client."""

    paused: bool


@dataclass(frozen=True, slots=True)
class _Empty:
    """The data of an `ForwardType.ABORT`."""


ForwardBody: TypeAlias = (
    HttpRequestMessage
    | HttpAnswerMessage
    | UpgradeAnswer
    | TunnelData
    | TunnelClose
    | TunnelFlow
    | _Empty
)

_BODIES: Final[dict[ForwardType, type]] = {
    ForwardType.REQUEST: HttpRequestMessage,
    ForwardType.RESPONSE: HttpAnswerMessage,
    ForwardType.ABORT: _Empty,
    ForwardType.UPGRADE: HttpRequestMessage,
    ForwardType.UPGRADE_RESPONSE: UpgradeAnswer,
    ForwardType.CLIENT_MESSAGE: TunnelData,
    ForwardType.SERVER_MESSAGE: TunnelData,
    ForwardType.CLIENT_CLOSE: TunnelClose,
    ForwardType.SERVER_CLOSE: TunnelClose,
    ForwardType.FLOW: TunnelFlow,
}


@dataclass(frozen=True, slots=True)
class Forward:
    """One message between two nodes.

    Attributes:
        type: What it is (see `ForwardType`: the type also says which way it goes).
        sender: The sending node's id (``senderId``).
        recipient: The receiving node's id (``recipientId``).
        request_id: The opener's number for the request or tunnel (``requestId``).
        body: The ``data``: the dataclass `ForwardType` names (`ABORT`: no data, the
            default).
    """

    type: ForwardType
    sender: str
    recipient: str
    request_id: int
    body: ForwardBody = _Empty()


def encode_forward(message: Forward) -> bytes:
    """The bytes of ``message`` (a msgpack map).

    Raises:
        ForwardWireError: The body is not the one its type carries.
    """
    if not isinstance(message.body, _BODIES[message.type]):
        raise ForwardWireError(
            f"a {message.type.name} carries {_BODIES[message.type].__name__}, "
            f"not {type(message.body).__name__}"
        )
    envelope = {
        "_source": SOURCE,
        "type": int(message.type),
        "senderId": message.sender,
        "recipientId": message.recipient,
        "requestId": message.request_id,
        "data": _data(message.body),
    }
    packed: bytes = msgpack.packb(envelope, use_bin_type=True)
    return packed


def _data(body: ForwardBody) -> dict[str, Any]:
    if isinstance(body, HttpRequestMessage):
        return {
            "method": body.method,
            "target": body.target,
            "headers": [list(pair) for pair in body.headers],
            "body": body.body,
            "remoteAddress": list(body.remote) if body.remote is not None else None,
            "secure": body.secure,
        }
    if isinstance(body, HttpAnswerMessage):
        return {
            "status": body.status,
            "headers": [list(pair) for pair in body.headers],
            "body": body.body,
        }
    if isinstance(body, UpgradeAnswer):
        return {
            "accepted": body.accepted,
            "status": body.status,
            "headers": [list(pair) for pair in body.headers],
            "body": body.body,
        }
    if isinstance(body, TunnelData):
        return {"data": body.data}
    if isinstance(body, TunnelClose):
        return {"code": body.code, "reason": body.reason}
    if isinstance(body, TunnelFlow):
        return {"paused": body.paused}
    return {}


def decode_forward(data: bytes, *, max_size: int) -> Forward:
    """Read one message (checking every field).

    Args:
        data: What was published.
        max_size: The largest message accepted, in bytes.

    Raises:
        ForwardWireError: Too large, not msgpack, not ours, or malformed.
    """
    if len(data) > max_size:
        raise ForwardWireError(f"a message of {len(data)} bytes (the limit is {max_size})")
    try:
        envelope = msgpack.unpackb(data, raw=False, use_list=True)
    except (ValueError, TypeError) as exc:  # msgpack's errors on garbage are ValueErrors
        raise ForwardWireError(f"not msgpack: {exc!r}") from exc
    if not isinstance(envelope, dict) or envelope.get("_source") != SOURCE:
        raise ForwardWireError("not a socketwire forwarding message")
    number = _int(envelope.get("type"), "type")
    try:
        kind = ForwardType(number)
    except ValueError as exc:
        raise ForwardWireError(f"unknown message type {number}") from exc
    sender = envelope.get("senderId")
    recipient = envelope.get("recipientId")
    if not isinstance(sender, str) or not is_owner(sender):
        raise ForwardWireError(f"not a node id: {sender!r}")
    if not isinstance(recipient, str) or not is_owner(recipient):
        raise ForwardWireError(f"not a node id: {recipient!r}")
    request_id = _int(envelope.get("requestId"), "requestId")
    if not 0 <= request_id < _MAX_ID:
        raise ForwardWireError(f"requestId out of range: {request_id}")
    fields = envelope.get("data")
    if not isinstance(fields, dict):
        raise ForwardWireError("data is not a map")
    return Forward(kind, sender, recipient, request_id, _body(kind, fields))


def _body(kind: ForwardType, fields: dict[Any, Any]) -> ForwardBody:
    body_type = _BODIES[kind]
    if body_type is HttpRequestMessage:
        remote = fields.get("remoteAddress")
        address: tuple[str, int] | None = None
        if remote is not None:
            if (
                not isinstance(remote, list)
                or len(remote) != 2
                or not isinstance(remote[0], str)
                or type(remote[1]) is not int
            ):
                raise ForwardWireError(f"remoteAddress is not [host, port]: {remote!r}")
            address = (remote[0], remote[1])
        target = _str(fields.get("target"), "target")
        if not target.startswith("/"):
            raise ForwardWireError(f"not a request target: {target!r}")
        return HttpRequestMessage(
            _str(fields.get("method"), "method"),
            target,
            _headers(fields.get("headers")),
            _bytes(fields.get("body"), "body"),
            address,
            _bool(fields.get("secure"), "secure"),
        )
    if body_type is HttpAnswerMessage:
        return HttpAnswerMessage(
            _status(fields.get("status")),
            _headers(fields.get("headers")),
            _bytes(fields.get("body"), "body"),
        )
    if body_type is UpgradeAnswer:
        return UpgradeAnswer(
            _bool(fields.get("accepted"), "accepted"),
            _status(fields.get("status")),
            _headers(fields.get("headers")),
            _bytes(fields.get("body"), "body"),
        )
    if body_type is TunnelData:
        value = fields.get("data")
        if not isinstance(value, str | bytes):
            raise ForwardWireError(f"a WebSocket message is text or binary, not {value!r:.50}")
        return TunnelData(value)
    if body_type is TunnelClose:
        code = _int(fields.get("code"), "code")
        if not 0 <= code <= 4999:
            raise ForwardWireError(f"not a close code: {code}")
        return TunnelClose(code, _str(fields.get("reason"), "reason"))
    if body_type is TunnelFlow:
        return TunnelFlow(_bool(fields.get("paused"), "paused"))
    return _Empty()


def _int(value: Any, name: str) -> int:
    if type(value) is not int:
        raise ForwardWireError(f"{name} is not an integer: {value!r:.50}")
    return value


def _str(value: Any, name: str) -> str:
    if not isinstance(value, str):
        raise ForwardWireError(f"{name} is not a string: {value!r:.50}")
    return value


def _bool(value: Any, name: str) -> bool:
    if not isinstance(value, bool):
        raise ForwardWireError(f"{name} is not a boolean: {value!r:.50}")
    return value


def _bytes(value: Any, name: str) -> bytes:
    if not isinstance(value, bytes):
        raise ForwardWireError(f"{name} is not binary: {value!r:.50}")
    return value


def _status(value: Any) -> int:
    status = _int(value, "status")
    if not 100 <= status <= 599:
        raise ForwardWireError(f"not an HTTP status: {status}")
    return status


def _headers(value: Any) -> tuple[tuple[str, str], ...]:
    if not isinstance(value, list) or len(value) > MAX_HEADERS:
        raise ForwardWireError(f"headers are not a list of at most {MAX_HEADERS} pairs")
    pairs = []
    for pair in value:
        if (
            not isinstance(pair, list)
            or len(pair) != 2
            or not isinstance(pair[0], str)
            or not isinstance(pair[1], str)
        ):
            raise ForwardWireError(f"not a header line: {pair!r:.80}")
        name, text = pair
        if any(char in name or char in text for char in "\r\n\0") or ":" in name or not name:
            raise ForwardWireError(f"not a header line: {pair!r:.80}")
        pairs.append((name, text))
    return tuple(pairs)
