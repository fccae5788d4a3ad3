"""What python-socketio 5.x's Redis manager publishes (``AsyncRedisManager``,
``AsyncPubSubManager``): JSON objects on one channel (``socketio`` by default).

Every message names its sender's ``host_id`` (a random hex uuid per server) and its
``method``:

- ``emit`` (``event``, ``data``, ``binary``, ``namespace``, ``room``, ``skip_sid``,
  ``callback``): send ``event`` to the clients in ``room`` (a name, a list, or null: every
  client of the namespace) but ``skip_sid`` (a socket id or a list); ``callback``
  ``[room, namespace, id]`` asks each client's acknowledgement back;
- ``callback`` (``sid``, ``namespace``, ``id``, ``args``): for the server named by
  ``host_id`` only: call its callback ``id`` with ``args``;
- ``disconnect`` (``sid``, ``namespace``): disconnect socket ``sid`` from the namespace;
- ``enter_room``, ``leave_room`` (``sid``, ``room``, ``namespace``): socket ``sid`` joins or
  leaves ``room``;
- ``close_room`` (``room``, ``namespace``): every socket of ``room`` leaves it.

``data`` is the list of the event's arguments; when one holds binary (``binary`` true) it is
``[args with {"_placeholder": true, "num": n} in place of each bytes value, base64 of
attachment 0, ...]``, as python-socketio's ``Packet.deconstruct_binary`` makes it. Messages
are ``json.dumps`` of these dicts, key order included.

python-socketio pickled these messages before 5.14 (2025). A pickled message (a payload starting
with the pickle protocol byte ``0x80``) is refused with [`PickledMessageError`][PickledMessageError]
and never unpickled; anything else that is not such a JSON object is a
``WireError``.
"""

from __future__ import annotations

import base64
import binascii
import json
from dataclasses import dataclass
from typing import Any, Final, TypeAlias

from .errors import WireError

__all__ = [
    "DEFAULT_CHANNEL",
    "PickledMessageError",
    "PsCallback",
    "PsCloseRoom",
    "PsDisconnect",
    "PsEmit",
    "PsEnterRoom",
    "PsLeaveRoom",
    "PsMessage",
    "PythonSocketioCodec",
]

#: python-socketio's default channel.
DEFAULT_CHANNEL: Final = "socketio"
_PICKLE_PROTOCOL: Final = 0x80


class PickledMessageError(WireError):
    """A pickled message (python-socketio before 5.14): refused, never unpickled."""


@dataclass(frozen=True, slots=True)
class PsEmit:
    """``emit``: send ``event`` with ``args`` to the clients in ``room`` but ``skip_sid``.

    Attributes:
        room: A room, several, or None (every client of the namespace).
        skip_sid: A socket id, several, or None.
        callback: ``(room, namespace, id)``: each client's acknowledgement goes back to
            ``host_id`` as a [`PsCallback`][PsCallback] with that ``id``.
    """

    host_id: str
    event: str
    args: list[Any]
    namespace: str
    room: str | list[str] | None = None
    skip_sid: str | list[str] | None = None
    callback: tuple[str, str, int] | None = None


@dataclass(frozen=True, slots=True)
class PsCallback:
    """``callback``: the acknowledgement of socket ``sid`` for callback ``id`` of server
    ``host_id`` (the one that asked for it)."""

    host_id: str
    sid: str
    namespace: str
    id: int
    args: list[Any]


@dataclass(frozen=True, slots=True)
class PsDisconnect:
    """``disconnect``: socket ``sid`` leaves the namespace (whichever server holds it)."""

    host_id: str
    sid: str
    namespace: str


@dataclass(frozen=True, slots=True)
class PsEnterRoom:
    """``enter_room``: socket ``sid`` joins ``room``."""

    host_id: str
    sid: str
    room: str
    namespace: str


@dataclass(frozen=True, slots=True)
class PsLeaveRoom:
    """``leave_room``: socket ``sid`` leaves ``room``."""

    host_id: str
    sid: str
    room: str
    namespace: str


@dataclass(frozen=True, slots=True)
class PsCloseRoom:
    """``close_room``: every socket of ``room`` leaves it."""

    host_id: str
    room: str
    namespace: str


PsMessage: TypeAlias = PsEmit | PsCallback | PsDisconnect | PsEnterRoom | PsLeaveRoom | PsCloseRoom


def _has_binary(value: Any) -> bool:
    if isinstance(value, bytes | bytearray):
        return True
    if isinstance(value, list | tuple):
        return any(_has_binary(item) for item in value)
    if isinstance(value, dict):
        return any(_has_binary(item) for item in value.values())
    return False


def _deconstruct(value: Any, attachments: list[bytes]) -> Any:
    """python-socketio's ``Packet.deconstruct_binary``."""
    if isinstance(value, bytes | bytearray):
        attachments.append(bytes(value))
        return {"_placeholder": True, "num": len(attachments) - 1}
    if isinstance(value, list | tuple):
        return [_deconstruct(item, attachments) for item in value]
    if isinstance(value, dict):
        return {key: _deconstruct(item, attachments) for key, item in value.items()}
    return value


def _reconstruct(value: Any, attachments: list[bytes]) -> Any:
    """python-socketio's ``Packet.reconstruct_binary``."""
    if isinstance(value, list):
        return [_reconstruct(item, attachments) for item in value]
    if isinstance(value, dict):
        if value.get("_placeholder") and "num" in value:
            num = value["num"]
            if not isinstance(num, int) or isinstance(num, bool) or not 0 <= num < len(attachments):
                raise WireError(f"binary placeholder {num!r} out of range")
            return attachments[num]
        return {key: _reconstruct(item, attachments) for key, item in value.items()}
    return value


def _str(obj: dict[str, Any], key: str) -> str:
    value = obj.get(key)
    if not isinstance(value, str):
        raise WireError(f"{key!r} must be a string, not {type(value).__name__}")
    return value


def _names(obj: dict[str, Any], key: str) -> str | list[str] | None:
    value = obj.get(key)
    if value is None or isinstance(value, str):
        return value
    if isinstance(value, list) and all(isinstance(item, str) for item in value):
        return list(value)
    raise WireError(f"{key!r} must be a string, a list of strings or null")


class PythonSocketioCodec:
    """Encodes and decodes python-socketio's Redis manager messages. Stateless."""

    def encode(self, message: PsMessage) -> bytes:
        """``json.dumps`` of the message, as python-socketio publishes it.

        Raises:
            WireError: a value JSON cannot carry.
        """
        try:
            return json.dumps(self._body(message)).encode()
        except (TypeError, ValueError, RecursionError) as exc:
            raise WireError(f"cannot encode {type(message).__name__}: {exc}") from exc

    @staticmethod
    def _body(message: PsMessage) -> dict[str, Any]:
        body: dict[str, Any]
        if isinstance(message, PsEmit):
            data: list[Any] = list(message.args)
            binary = _has_binary(data)
            if binary:
                attachments: list[bytes] = []
                shell = _deconstruct(data, attachments)
                data = [shell, *(base64.b64encode(item).decode() for item in attachments)]
            body = {
                "method": "emit",
                "event": message.event,
                "data": data,
                "binary": binary,
                "namespace": message.namespace,
                "room": message.room,
                "skip_sid": message.skip_sid,
                "callback": list(message.callback) if message.callback is not None else None,
                "host_id": message.host_id,
            }
        elif isinstance(message, PsCallback):
            body = {
                "method": "callback",
                "host_id": message.host_id,
                "sid": message.sid,
                "namespace": message.namespace,
                "id": message.id,
                "args": message.args,
            }
        elif isinstance(message, PsDisconnect):
            body = {
                "method": "disconnect",
                "sid": message.sid,
                "namespace": message.namespace,
                "host_id": message.host_id,
            }
        elif isinstance(message, PsEnterRoom | PsLeaveRoom):
            body = {
                "method": "enter_room" if isinstance(message, PsEnterRoom) else "leave_room",
                "sid": message.sid,
                "room": message.room,
                "namespace": message.namespace,
                "host_id": message.host_id,
            }
        else:
            body = {
                "method": "close_room",
                "room": message.room,
                "namespace": message.namespace,
                "host_id": message.host_id,
            }
        return body

    def decode(self, payload: bytes) -> PsMessage:
        """The message in ``payload``.

        Raises:
            PickledMessageError: a pickled message (refused, never unpickled).
            WireError: anything else that is not one of the messages above.
        """
        if payload[:1] == bytes((_PICKLE_PROTOCOL,)):
            raise PickledMessageError("a pickled python-socketio message (refused)")
        try:
            obj = json.loads(payload)
        except (ValueError, RecursionError) as exc:
            raise WireError(f"not JSON: {exc}") from exc
        if not isinstance(obj, dict):
            raise WireError("not a JSON object")
        method = obj.get("method")
        host_id = _str(obj, "host_id")
        namespace = obj.get("namespace") or "/"
        if not isinstance(namespace, str):
            raise WireError("'namespace' must be a string")
        if method == "emit":
            return self._emit(obj, host_id, namespace)
        if method == "callback":
            ident = obj.get("id")
            args = obj.get("args")
            if not isinstance(ident, int) or isinstance(ident, bool) or not isinstance(args, list):
                raise WireError("a callback needs an integer 'id' and a list 'args'")
            return PsCallback(host_id, _str(obj, "sid"), namespace, ident, args)
        if method == "disconnect":
            return PsDisconnect(host_id, _str(obj, "sid"), namespace)
        if method == "enter_room":
            return PsEnterRoom(host_id, _str(obj, "sid"), _str(obj, "room"), namespace)
        if method == "leave_room":
            return PsLeaveRoom(host_id, _str(obj, "sid"), _str(obj, "room"), namespace)
        if method == "close_room":
            return PsCloseRoom(host_id, _str(obj, "room"), namespace)
        raise WireError(f"unknown method {method!r}")

    @staticmethod
    def _emit(obj: dict[str, Any], host_id: str, namespace: str) -> PsEmit:
        event = _str(obj, "event")
        data = obj.get("data")
        if not isinstance(data, list):
            raise WireError("'data' must be a list")
        if obj.get("binary"):
            if not data:
                raise WireError("binary 'data' without its arguments")
            try:
                attachments = [base64.b64decode(item, validate=True) for item in data[1:]]
            except (TypeError, binascii.Error) as exc:
                raise WireError(f"an attachment is not base64: {exc}") from exc
            try:
                args = _reconstruct(data[0], attachments)
            except RecursionError as exc:
                raise WireError("binary 'data' nested too deeply") from exc
            if not isinstance(args, list):
                raise WireError("binary 'data' must start with the list of arguments")
        else:
            args = data
        callback = obj.get("callback")
        parsed: tuple[str, str, int] | None = None
        if callback is not None:
            if (
                not isinstance(callback, list)
                or len(callback) != 3
                or not isinstance(callback[0], str)
                or not isinstance(callback[1], str)
                or not isinstance(callback[2], int)
                or isinstance(callback[2], bool)
            ):
                raise WireError("'callback' must be [room, namespace, id]")
            parsed = (callback[0], callback[1], callback[2])
        return PsEmit(
            host_id,
            event,
            args,
            namespace,
            _names(obj, "room"),
            _names(obj, "skip_sid"),
            parsed,
        )
