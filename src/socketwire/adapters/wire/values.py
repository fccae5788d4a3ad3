"""Serialisation helpers shared by the inter-node codecs: msgpack, JSON, and field checks.

Two msgpack libraries are on the Node side, and both write what ``msgpack.packb`` writes for
the values Python has (smallest integer widths, float64, ``str 8`` strings, ``bin`` for
bytes), so one [`pack()`][pack] serves both. They differ when decoding what Node wrote:

- notepack.io 3 (``@socket.io/redis-adapter``, classic and sharded, and the emitter) writes JS
  ``undefined`` as ``d4 00 00``, typed arrays as ext type 0 and a ``Date`` as a timestamp (ext
  type -1). [`unpack_notepack()`][unpack_notepack] reads them as the Socket.IO msgpack parser does
  (it reuses that parser's helpers): ``undefined`` becomes ``None``, ext 0 becomes ``bytes``; and
  a ``Date`` becomes the string ``JSON.stringify`` makes of it, which is what a Node server sends
  its clients (the admin UI's event times, for one).
- @msgpack/msgpack (``@socket.io/redis-streams-adapter``) writes ``undefined`` as nil and a ``Date``
  as the timestamp ext type -1. [`unpack_msgpack()`][unpack_msgpack] refuses every ext type.

JSON is written as ``JSON.stringify`` writes it: compact, UTF-8, and ``bytes`` as a Node
``Buffer`` serialises itself (``{"type": "Buffer", "data": [...]}``), which is what a Node
peer sends when binary data meets a JSON-only message.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Final

import msgpack  # type: ignore[import-untyped]  # ships no type information
import orjson

# The Socket.IO msgpack parser already handles notepack's quirks; one implementation of them.
from socketwire.socketio.errors import ProtocolError
from socketwire.socketio.notepack import (
    BIN_OR_EXT,
    UNDEFINED,
    js_date,
    normalize,
    string_keyed_map,
)

from .errors import WireError

__all__ = [
    "dumps_json",
    "expect_map",
    "get_bool",
    "get_count",
    "get_event",
    "get_int",
    "get_list",
    "get_map",
    "get_opt_str",
    "get_rooms",
    "get_str",
    "has_binary",
    "loads_json",
    "pack",
    "starts_like_json",
    "unpack_msgpack",
    "unpack_notepack",
]

_JSON_OPEN: Final = 0x7B  # "{": how every Node adapter tells JSON from msgpack


def pack(value: object) -> bytes:
    """Encode ``value`` as msgpack, as notepack.io and @msgpack/msgpack would.

    Raises:
        WireError: ``value`` holds something msgpack cannot carry.
    """
    try:
        packed: bytes = msgpack.packb(value, use_bin_type=True)
    except (TypeError, ValueError, OverflowError) as exc:
        raise WireError(f"cannot encode as msgpack: {exc}") from None
    return packed


def unpack_notepack(raw: bytes) -> object:
    """Decode msgpack written by notepack.io (JS ``undefined`` and typed arrays included).

    Raises:
        WireError: Not exactly one msgpack value, a map key that is not a string, or an ext
            type other than 0.
    """

    def ext_hook(code: int, data: bytes) -> object:
        if code != 0:
            raise WireError(f"invalid msgpack: unsupported ext type {code}")
        return UNDEFINED if data == b"\x00" else data

    value = _unpack(raw, ext_hook, dates=True)
    if isinstance(value, msgpack.Timestamp):
        return js_date(value)
    return None if value is UNDEFINED else value


def unpack_msgpack(raw: bytes) -> object:
    """Decode msgpack written by @msgpack/msgpack (no ext types accepted).

    Raises:
        WireError: Not exactly one msgpack value, a map key that is not a string, or any ext
            value (a JS ``Date`` included).
    """

    def ext_hook(code: int, data: bytes) -> object:
        raise WireError(f"invalid msgpack: unsupported ext type {code}")

    return _unpack(raw, ext_hook)


def _unpack(raw: bytes, ext_hook: Any, *, dates: bool = False) -> object:
    if not isinstance(raw, bytes | bytearray | memoryview):
        raise WireError(f"expected bytes, got {type(raw).__name__}")
    data = bytes(raw)
    try:
        if BIN_OR_EXT.search(data) is None:
            # No bin or ext byte anywhere: every key decodes as str (see the msgpack parser).
            return msgpack.unpackb(data, raw=False)
        value = msgpack.unpackb(
            data, raw=False, ext_hook=ext_hook, object_pairs_hook=string_keyed_map
        )
        # Replaces undefined by None; refuses timestamps (ext -1), which msgpack decodes
        # itself, bypassing ext_hook, unless ``dates``: no Node peer means anything by one but
        # a JS Date.
        if not (dates and isinstance(value, msgpack.Timestamp)):
            normalize(value, dates=dates)
    except WireError:
        raise
    except ProtocolError as exc:
        raise WireError(str(exc)) from None
    except (ValueError, TypeError) as exc:
        # msgpack's FormatError, StackError, ExtraData, truncation, UnicodeDecodeError.
        raise WireError(f"invalid msgpack: {exc}") from None
    return value


def _buffer_json(value: object) -> object:
    if isinstance(value, bytes | bytearray | memoryview):
        # What Buffer.prototype.toJSON gives JSON.stringify.
        return {"type": "Buffer", "data": list(bytes(value))}
    raise TypeError(f"{type(value).__name__} is not JSON serialisable")


def dumps_json(value: object) -> bytes:
    """Encode ``value`` as ``JSON.stringify`` would (bytes as a Node ``Buffer`` object).

    Raises:
        WireError: ``value`` holds something JSON cannot carry (non-string keys, integers
            beyond 64 bits, lone surrogates).
    """
    try:
        return orjson.dumps(value, default=_buffer_json)
    except (TypeError, orjson.JSONEncodeError) as exc:
        raise WireError(f"cannot encode as JSON: {exc}") from None


def loads_json(raw: bytes | str) -> object:
    """Decode one JSON document.

    Raises:
        WireError: Not valid JSON (or not valid UTF-8).
    """
    if not isinstance(raw, bytes | bytearray | memoryview | str):
        raise WireError(f"expected bytes or str, got {type(raw).__name__}")
    try:
        return orjson.loads(bytes(raw) if isinstance(raw, memoryview) else raw)
    except orjson.JSONDecodeError as exc:
        raise WireError(f"invalid JSON: {exc}") from None


def starts_like_json(raw: bytes | str) -> bool:
    """Whether ``raw`` starts with ``{``: the Node adapters' test for JSON over msgpack."""
    if isinstance(raw, str):
        return raw[:1] == "{"
    return len(raw) > 0 and raw[0] == _JSON_OPEN


def has_binary(value: object) -> bool:
    """Whether ``bytes`` occur anywhere in ``value`` (the adapters' ``hasBinary``)."""
    stack = [value]
    while stack:
        node = stack.pop()
        if isinstance(node, bytes | bytearray | memoryview):
            return True
        if isinstance(node, list | tuple):
            stack.extend(node)
        elif isinstance(node, dict):
            stack.extend(node.values())
    return False


# -- reading decoded fields ----------------------------------------------------------------


def expect_map(value: object, where: str) -> dict[str, Any]:
    """``value`` if it is a map (with string keys, as decoding guarantees), else raise."""
    if not isinstance(value, dict):
        raise WireError(f"invalid {where}: expected a map, got {type(value).__name__}")
    return value


def get_map(obj: Mapping[str, Any], key: str, where: str) -> dict[str, Any]:
    """The map at ``obj[key]``; raise if missing or not a map."""
    return expect_map(obj.get(key), f"{where}.{key}")


def get_str(obj: Mapping[str, Any], key: str, where: str) -> str:
    """The string at ``obj[key]``; raise if missing or not a string."""
    value = obj.get(key)
    if not isinstance(value, str):
        raise WireError(f"invalid {where}.{key}: expected a string, got {value!r:.80}")
    return value


def get_opt_str(obj: Mapping[str, Any], key: str, where: str) -> str | None:
    """The string at ``obj[key]``, or None when missing or null (JS ``undefined``)."""
    if obj.get(key) is None:
        return None
    return get_str(obj, key, where)


def get_int(obj: Mapping[str, Any], key: str, where: str) -> int:
    """The integer at ``obj[key]`` (not a bool); raise otherwise."""
    value = obj.get(key)
    if type(value) is not int:
        raise WireError(f"invalid {where}.{key}: expected an integer, got {value!r:.80}")
    return value


def get_bool(obj: Mapping[str, Any], key: str, where: str) -> bool:
    """The boolean at ``obj[key]``; raise otherwise."""
    value = obj.get(key)
    if not isinstance(value, bool):
        raise WireError(f"invalid {where}.{key}: expected a boolean, got {value!r:.80}")
    return value


def get_list(obj: Mapping[str, Any], key: str, where: str) -> list[Any]:
    """The array at ``obj[key]``; raise if missing or not an array."""
    value = obj.get(key)
    if not isinstance(value, list):
        raise WireError(f"invalid {where}.{key}: expected an array, got {value!r:.80}")
    return value


def get_rooms(obj: Mapping[str, Any], key: str, where: str) -> tuple[str, ...]:
    """The room names at ``obj[key]`` (a missing key is no rooms).

    JS lets an application use a number as a room; it travels as a JSON number, and the
    Node adapter matches it against the string form (``hasRoom``). Integers are therefore
    read as their decimal string; anything else but a string is refused.
    """
    value = obj.get(key)
    if value is None:
        return ()
    if not isinstance(value, list):
        raise WireError(f"invalid {where}.{key}: expected an array, got {value!r:.80}")
    rooms: list[str] = []
    for room in value:
        if isinstance(room, str):
            rooms.append(room)
        elif type(room) is int:
            rooms.append(str(room))
        else:
            raise WireError(f"invalid {where}.{key}: room {room!r:.80} is not a string")
    return tuple(rooms)


def get_count(obj: Mapping[str, Any], key: str, where: str) -> int:
    """The non-negative integer at ``obj[key]``; raise otherwise."""
    value = get_int(obj, key, where)
    if value < 0:
        raise WireError(f"invalid {where}.{key}: {value} is negative")
    return value


def get_event(obj: Mapping[str, Any], key: str, where: str) -> list[Any]:
    """The ``[event, *args]`` array at ``obj[key]``: non-empty, with a string event name."""
    value = get_list(obj, key, where)
    if not value or not isinstance(value[0], str):
        raise WireError(f"invalid {where}.{key}: expected [event: str, *args]")
    return value
