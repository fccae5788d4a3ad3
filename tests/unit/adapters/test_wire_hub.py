"""The frames between a worker and its primary (socketwire.adapters.wire.hub)."""

from __future__ import annotations

import struct

import pytest

from socketwire.adapters.wire import WireError
from socketwire.adapters.wire.hub import (
    MAX_FRAME,
    Count,
    Counted,
    Deliver,
    Hello,
    HubFrame,
    HubReader,
    Join,
    Leave,
    Publish,
    Published,
    Ready,
    Respond,
    Restored,
    RestoreSession,
    StoreSession,
    encode_frame,
)
from socketwire.adapters.wire.values import pack

FRAMES: list[HubFrame] = [
    Hello(1, 4242),
    Ready(1),
    Join("/chat", "0123456789abcdef"),
    Leave("/chat", "0123456789abcdef"),
    Publish("/", "0123456789abcdef", b"\x93\x01\x02\xc4\x01\x00", 7, 120.0),
    Publish("/", "0123456789abcdef", b"msg"),
    Respond("/", "fedcba9876543210", b"answer"),
    Deliver(b"msg", "1a2b-3"),
    Deliver(b"msg"),
    Published(7, "1a2b-3"),
    Count(8, "/"),
    Counted(8, 2),
    StoreSession("pid", b"session", 120.0),
    RestoreSession(9, "/", "pid", "1a2b-3"),
    Restored(9, b"session", (("1a2b-4", b"m1"), ("1a2b-5", b"m2"))),
    Restored(9, None),
]


@pytest.mark.parametrize("frame", FRAMES, ids=lambda f: type(f).__name__)
def test_frames_round_trip_whole_and_byte_by_byte(frame: HubFrame) -> None:
    data = encode_frame(frame)
    assert HubReader().feed(data) == [frame]
    reader = HubReader()
    found: list[HubFrame] = []
    for byte in data:
        found += reader.feed(bytes((byte,)))
    assert found == [frame]


def test_several_frames_in_one_read_and_a_partial_one_left() -> None:
    data = b"".join(encode_frame(f) for f in FRAMES)
    reader = HubReader()
    assert reader.feed(data + encode_frame(Ready(3))[:5]) == FRAMES
    assert reader.feed(encode_frame(Ready(3))[5:]) == [Ready(3)]


def test_a_frame_over_the_limit_is_refused_from_its_length() -> None:
    with pytest.raises(WireError, match="over"):
        HubReader().feed(struct.pack(">I", MAX_FRAME + 1))
    assert HubReader().feed(struct.pack(">I", MAX_FRAME)) == []  # waits for the body


def test_encoding_a_frame_over_the_limit_fails() -> None:
    with pytest.raises(WireError, match="over"):
        encode_frame(Publish("/", "u", b"x" * (MAX_FRAME + 1)))


@pytest.mark.parametrize(
    "value",
    [
        [],
        {"type": 1},
        [99, 1],
        ["1", 1, 2],
        [1, 1],  # HELLO without its pid
        [1, "one", 2],
        [5, "/", "u", "not bytes", 0, 0.0],
        [13, 1, None, "not a list"],
        [13, 1, None, [["offset"]]],
    ],
)
def test_malformed_frames_are_wire_errors(value: object) -> None:
    body = pack(value)
    with pytest.raises(WireError):
        HubReader().feed(struct.pack(">I", len(body)) + body)


def test_not_msgpack_is_a_wire_error() -> None:
    with pytest.raises(WireError):
        HubReader().feed(struct.pack(">I", 1) + b"\xc1")
