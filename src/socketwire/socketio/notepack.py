"""Decoding helpers for msgpack written by notepack.io (socket.io-msgpack-parser, the Node
Redis adapter and emitter). Shared by the msgpack parser and the cluster wire codecs.

notepack.io writes JavaScript ``undefined`` as the fixext 1 value ``d4 00 00`` and typed arrays
as ext type 0. The Python ``msgpack`` library decodes ext type -1 (timestamp) itself, without
calling ``ext_hook``, so callers must look for [`Timestamp`][msgpack.Timestamp] values after
decoding: [`normalize()`][normalize] does, and replaces ``undefined`` at the same time.
"""

from __future__ import annotations

import enum
import re
from typing import Any, Final

import msgpack  # type: ignore[import-untyped]  # ships no type information

from .errors import ProtocolError

__all__ = ["BIN_OR_EXT", "UNDEFINED", "Undefined", "normalize", "string_keyed_map"]

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


def normalize(data: object) -> None:
    """Replace [`UNDEFINED`][UNDEFINED] by ``None`` inside ``data`` and refuse timestamps, in place.

    ``data`` itself must not be [`UNDEFINED`][UNDEFINED] (the caller decides what a top-level
    ``undefined`` means). Iterative: msgpack nests deeper than Python's recursion limit.

    Raises:
        ProtocolError: ``data`` holds a msgpack timestamp (ext type -1), which no Socket.IO
            peer sends meaningfully (a JavaScript ``Date``).
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
            elif isinstance(value, list | dict | msgpack.Timestamp):
                stack.append(value)
