"""Decoding helpers for msgpack written by notepack.io (socket.io-msgpack-parser, the Node
Redis adapter and emitter). Shared by the msgpack parser and the cluster wire codecs.

notepack.io writes JavaScript ``undefined`` as the fixext 1 value ``d4 00 00`` and typed arrays
as ext type 0. The Python ``msgpack`` library decodes ext type -1 (timestamp) itself, without
calling ``ext_hook``, so callers must look for [`Timestamp`][msgpack.Timestamp] values after
decoding: [`normalize()`][normalize] does, and replaces ``undefined`` at the same time.
"""

from __future__ import annotations

import datetime
import enum
import re
from typing import Any, Final

import msgpack  # type: ignore[import-untyped]  # ships no type information

from .errors import ProtocolError

__all__ = ["BIN_OR_EXT", "UNDEFINED", "Undefined", "js_date", "normalize", "string_keyed_map"]

# Any byte that can start a bin (c4-c6) or ext (c7-c9, d4-d8) value. It may also occur inside
# other values; that only costs the slower, checked path. A timestamp is an ext value, so
# input without these bytes holds none.
BIN_OR_EXT: Final = re.compile(rb"[\xc4-\xc9\xd4-\xd8]")


class Undefined(enum.Enum):
    """The type of [`UNDEFINED`][UNDEFINED]."""

    UNDEFINED = enum.auto()


UNDEFINED: Final = Undefined.UNDEFINED
"""What an ``ext_hook`` returns for notepack's ``undefined``, until [`normalize()`][normalize]."""


def string_keyed_map(pairs: list[tuple[Any, Any]]) -> dict[str, Any]:
    """``object_pairs_hook`` refusing keys that are not strings (notepack writes JS keys).

    Repeated keys: the last wins, as in JavaScript.

    Raises:
        ProtocolError: a key is not a string.
    """
    for key, _ in pairs:
        if type(key) is not str:
            raise ProtocolError("invalid msgpack: map keys must be strings")
    return dict(pairs)


def js_date(timestamp: msgpack.Timestamp) -> str:
    """A msgpack timestamp (a JavaScript ``Date``, as notepack.io 3 writes it) as
    ``JSON.stringify`` writes a ``Date``: ``"2026-12-07T01:02:03.456Z"``."""
    when: datetime.datetime = timestamp.to_datetime()
    millis: int = timestamp.nanoseconds // 1_000_000
    return when.strftime("%Y-%m-%dT%H:%M:%S.") + f"{millis:03d}Z"


def normalize(data: object, *, dates: bool = False) -> None:
    """Replace [`UNDEFINED`][UNDEFINED] by ``None`` inside ``data`` and refuse timestamps, in place.

    ``data`` itself must not be [`UNDEFINED`][UNDEFINED] (the caller decides what a top-level
    ``undefined`` means). Iterative: msgpack nests deeper than Python's recursion limit.

    Args:
        data: The decoded value.
        dates: Replace each timestamp by the string [`js_date()`][js_date] makes of it instead
            of refusing it (a Node server in a Redis cluster sends ``Date`` objects on).

    Raises:
        ProtocolError: ``data`` holds a msgpack timestamp (ext type -1), which no Socket.IO
            peer sends meaningfully (a JavaScript ``Date``), and ``dates`` is False.
    """
    stack = [data]
    while stack:
        node = stack.pop()
        if isinstance(node, list):
            items: Any = enumerate(node)
        elif isinstance(node, dict):
            items = node.items()
        elif isinstance(node, msgpack.Timestamp):
            raise ProtocolError("invalid msgpack: unsupported ext type -1 (timestamp)")
        else:
            continue
        for key, value in list(items):
            if value is UNDEFINED:
                node[key] = None
            elif dates and isinstance(value, msgpack.Timestamp):
                node[key] = js_date(value)
            elif isinstance(value, list | dict | msgpack.Timestamp):
                stack.append(value)
