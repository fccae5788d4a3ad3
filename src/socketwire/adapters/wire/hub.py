"""The frames between a worker process and its primary (``socketwire serve --workers N``).

The workers of one machine form a cluster through their primary, the role
``@socket.io/cluster-adapter``'s ``setupPrimary()`` plays for Node: each worker's adapters
publish ClusterAdapter messages (`.cluster`) to the primary, which hands them to the
other workers' adapters of the same namespace, answers who is there, assigns the offsets of
recoverable broadcasts and keeps what connection state recovery needs. Only socketwire
processes speak it (Python to Python), so it is socketwire's own format, but typed and
never pickled:

- a frame is a 4-byte big-endian length, then msgpack of ``[type, *fields]``;
- a ClusterAdapter message travels inside a frame as the bytes the streams adapter
  publishes (msgpack of the whole envelope, binary-safe: `.StreamsCodec`), so the
  primary forwards it without decoding it.

`HubReader` splits a byte stream into frames (sans-I/O): feed it what was read, take
the frames. A frame over `MAX_FRAME` bytes, or one that is not a known frame, is a
`WireError`: the connection is closed.
"""

from __future__ import annotations

import enum
import struct
from dataclasses import dataclass
from typing import Any, Final, TypeAlias

from .errors import WireError
from .values import pack, unpack_msgpack

__all__ = [
    "MAX_FRAME",
    "Count",
    "Counted",
    "Deliver",
    "FrameType",
    "Hello",
    "HubFrame",
    "HubReader",
    "Join",
    "Leave",
    "Publish",
    "Published",
    "Ready",
    "Respond",
    "RestoreSession",
    "Restored",
    "StoreSession",
    "encode_frame",
]

#: The largest frame accepted (a broadcast carries at most ``max_http_buffer_size`` of
#: application data, 1 MB by default).
MAX_FRAME: Final = 64 * 1024 * 1024
_LENGTH: Final = struct.Struct(">I")


class FrameType(enum.IntEnum):
    """The first element of every frame."""

    HELLO = 1
    READY = 2
    JOIN = 3
    LEAVE = 4
    PUBLISH = 5
    RESPOND = 6
    DELIVER = 7
    PUBLISHED = 8
    COUNT = 9
    COUNTED = 10
    STORE_SESSION = 11
    RESTORE_SESSION = 12
    RESTORED = 13


@dataclass(frozen=True, slots=True)
class Hello:
    """Worker to primary, first: who is on this connection."""

    worker: int
    pid: int


@dataclass(frozen=True, slots=True)
class Ready:
    """Worker to primary: it listens and its adapters have started."""

    worker: int


@dataclass(frozen=True, slots=True)
class Join:
    """Worker to primary: the adapter ``uid`` serves namespace ``nsp`` here."""

    nsp: str
    uid: str


@dataclass(frozen=True, slots=True)
class Leave:
    """Worker to primary: the adapter ``uid`` of ``nsp`` closed."""

    nsp: str
    uid: str


@dataclass(frozen=True, slots=True)
class Publish:
    """Worker to primary: ``message`` for the other workers' adapters of ``nsp``.

    ``token`` (not 0) asks for a `Published` answer with the message's offset;
    ``keep`` (seconds, not 0) asks the primary to keep it that long for connection state
    recovery.
    """

    nsp: str
    uid: str
    message: bytes
    token: int = 0
    keep: float = 0.0


@dataclass(frozen=True, slots=True)
class Respond:
    """Worker to primary: ``message`` for the adapter ``to`` of ``nsp`` only."""

    nsp: str
    to: str
    message: bytes


@dataclass(frozen=True, slots=True)
class Deliver:
    """Primary to worker: a message from another worker (``offset``: "" or its offset)."""

    message: bytes
    offset: str = ""


@dataclass(frozen=True, slots=True)
class Published:
    """Primary to worker: the offset of the `Publish` with ``token``."""

    token: int
    offset: str


@dataclass(frozen=True, slots=True)
class Count:
    """Worker to primary: how many workers serve ``nsp``?"""

    token: int
    nsp: str


@dataclass(frozen=True, slots=True)
class Counted:
    """Primary to worker: the answer to `Count` ``token``."""

    token: int
    count: int


@dataclass(frozen=True, slots=True)
class StoreSession:
    """Worker to primary: keep a disconnected socket's session for ``ttl`` seconds."""

    pid: str
    session: bytes
    ttl: float


@dataclass(frozen=True, slots=True)
class RestoreSession:
    """Worker to primary: take session ``pid`` out, with what ``nsp`` broadcast after
    ``offset``."""

    token: int
    nsp: str
    pid: str
    offset: str


@dataclass(frozen=True, slots=True)
class Restored:
    """Primary to worker: the session (None: unknown, or its offset is gone) and the
    broadcasts after the offset, as ``(offset, message)``."""

    token: int
    session: bytes | None
    missed: tuple[tuple[str, bytes], ...] = ()


HubFrame: TypeAlias = (
    Hello
    | Ready
    | Join
    | Leave
    | Publish
    | Respond
    | Deliver
    | Published
    | Count
    | Counted
    | StoreSession
    | RestoreSession
    | Restored
)

_TYPES: Final[dict[type[Any], FrameType]] = {
    Hello: FrameType.HELLO,
    Ready: FrameType.READY,
    Join: FrameType.JOIN,
    Leave: FrameType.LEAVE,
    Publish: FrameType.PUBLISH,
    Respond: FrameType.RESPOND,
    Deliver: FrameType.DELIVER,
    Published: FrameType.PUBLISHED,
    Count: FrameType.COUNT,
    Counted: FrameType.COUNTED,
    StoreSession: FrameType.STORE_SESSION,
    RestoreSession: FrameType.RESTORE_SESSION,
    Restored: FrameType.RESTORED,
}


def encode_frame(frame: HubFrame) -> bytes:
    """The bytes of ``frame``, length prefix included.

    Raises:
        WireError: The frame is over `MAX_FRAME` bytes.
    """
    if isinstance(frame, Restored):
        fields: list[Any] = [frame.token, frame.session, [list(m) for m in frame.missed]]
    else:
        fields = [getattr(frame, name) for name in frame.__slots__]
    body = pack([_TYPES[type(frame)], *fields])
    if len(body) > MAX_FRAME:
        raise WireError(f"a hub frame of {len(body)} bytes is over {MAX_FRAME}")
    return _LENGTH.pack(len(body)) + body


def _str(value: Any) -> str:
    if not isinstance(value, str):
        raise WireError(f"expected a string, got {type(value).__name__}")
    return value


def _int(value: Any) -> int:
    if type(value) is not int:
        raise WireError(f"expected an integer, got {type(value).__name__}")
    return value


def _bytes(value: Any) -> bytes:
    if not isinstance(value, bytes):
        raise WireError(f"expected bytes, got {type(value).__name__}")
    return value


def _float(value: Any) -> float:
    if type(value) not in (int, float):
        raise WireError(f"expected a number, got {type(value).__name__}")
    return float(value)


def decode_frame(body: bytes) -> HubFrame:
    """The frame in ``body`` (without its length prefix).

    Raises:
        WireError: Not msgpack, or not a known frame with fields of the right types.
    """
    value = unpack_msgpack(body)
    if not isinstance(value, list) or not value:
        raise WireError("a hub frame is a non-empty array")
    try:
        kind = FrameType(_int(value[0]))
    except ValueError:
        raise WireError(f"unknown hub frame type {value[0]!r}") from None
    f = value[1:]
    arity = {
        FrameType.HELLO: 2,
        FrameType.READY: 1,
        FrameType.JOIN: 2,
        FrameType.LEAVE: 2,
        FrameType.PUBLISH: 5,
        FrameType.RESPOND: 3,
        FrameType.DELIVER: 2,
        FrameType.PUBLISHED: 2,
        FrameType.COUNT: 2,
        FrameType.COUNTED: 2,
        FrameType.STORE_SESSION: 3,
        FrameType.RESTORE_SESSION: 4,
        FrameType.RESTORED: 3,
    }[kind]
    if len(f) != arity:
        raise WireError(f"hub frame {kind.name} has {len(f)} fields, not {arity}")
    if kind is FrameType.HELLO:
        return Hello(_int(f[0]), _int(f[1]))
    if kind is FrameType.READY:
        return Ready(_int(f[0]))
    if kind is FrameType.JOIN:
        return Join(_str(f[0]), _str(f[1]))
    if kind is FrameType.LEAVE:
        return Leave(_str(f[0]), _str(f[1]))
    if kind is FrameType.PUBLISH:
        return Publish(_str(f[0]), _str(f[1]), _bytes(f[2]), _int(f[3]), _float(f[4]))
    if kind is FrameType.RESPOND:
        return Respond(_str(f[0]), _str(f[1]), _bytes(f[2]))
    if kind is FrameType.DELIVER:
        return Deliver(_bytes(f[0]), _str(f[1]))
    if kind is FrameType.PUBLISHED:
        return Published(_int(f[0]), _str(f[1]))
    if kind is FrameType.COUNT:
        return Count(_int(f[0]), _str(f[1]))
    if kind is FrameType.COUNTED:
        return Counted(_int(f[0]), _int(f[1]))
    if kind is FrameType.STORE_SESSION:
        return StoreSession(_str(f[0]), _bytes(f[1]), _float(f[2]))
    if kind is FrameType.RESTORE_SESSION:
        return RestoreSession(_int(f[0]), _str(f[1]), _str(f[2]), _str(f[3]))
    session = None if f[1] is None else _bytes(f[1])
    if not isinstance(f[2], list):
        raise WireError("RESTORED's missed messages are an array")
    missed: list[tuple[str, bytes]] = []
    for item in f[2]:
        if not isinstance(item, list) or len(item) != 2:
            raise WireError("a missed message is [offset, message]")
        missed.append((_str(item[0]), _bytes(item[1])))
    return Restored(_int(f[0]), session, tuple(missed))


class HubReader:
    """Splits the bytes read from a hub connection into frames (sans-I/O)."""

    __slots__ = ("_buffer",)

    def __init__(self) -> None:
        self._buffer = bytearray()

    def feed(self, data: bytes) -> list[HubFrame]:
        """Add ``data``; return the frames it completed, in order.

        Raises:
            WireError: A frame is over `MAX_FRAME` or malformed (the stream is then
                unusable: close the connection).
        """
        buffer = self._buffer
        buffer += data
        frames: list[HubFrame] = []
        start = 0
        size = len(buffer)
        while size - start >= 4:
            (length,) = _LENGTH.unpack_from(buffer, start)
            if length > MAX_FRAME:
                raise WireError(f"a hub frame of {length} bytes is over {MAX_FRAME}")
            end = start + 4 + length
            if end > size:
                break
            frames.append(decode_frame(bytes(buffer[start + 4 : end])))
            start = end
        if start:
            del buffer[:start]
        return frames
