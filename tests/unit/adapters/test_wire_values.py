"""The shared msgpack/JSON helpers and the common value types."""

from __future__ import annotations

import math

import pytest

from socketwire.adapters.wire import WireError, WireFlags, WireHandshake, WireOptions
from socketwire.adapters.wire.common import WireSocket, packet_from_wire, packet_to_wire
from socketwire.adapters.wire.values import (
    dumps_json,
    has_binary,
    loads_json,
    pack,
    starts_like_json,
    unpack_msgpack,
    unpack_notepack,
)
from socketwire.socketio import Packet, PacketType


def test_json_is_written_as_json_stringify() -> None:
    # Compact, raw UTF-8 (U+2028 included), control characters escaped, bytes as a Buffer.
    assert dumps_json({"x": "\u2028/\x01é😀", "b": b"\x01"}) == (
        '{"x":"\u2028/\\u0001é😀","b":{"type":"Buffer","data":[1]}}'.encode()
    )
    with pytest.raises(WireError):
        dumps_json({"x": "\ud800"})
    with pytest.raises(WireError):
        loads_json(b'{"x":')
    with pytest.raises(WireError):
        loads_json(1)  # type: ignore[arg-type]


def test_notepack_specifics() -> None:
    assert unpack_notepack(b"\xd4\x00\x00") is None  # a bare undefined
    assert unpack_notepack(b"\x92\xd4\x00\x00\x01") == [None, 1]
    assert unpack_notepack(b"\x81\xa1k\xd4\x00\x00") == {"k": None}
    assert unpack_notepack(b"\xc7\x02\x00\x05\x06") == b"\x05\x06"  # a typed array
    with pytest.raises(WireError):
        unpack_notepack(b"\xd4\x01\x00")
    with pytest.raises(WireError):
        unpack_notepack("text")  # type: ignore[arg-type]
    # @msgpack/msgpack has no undefined: ext values are refused there.
    with pytest.raises(WireError):
        unpack_msgpack(b"\xd4\x00\x00")
    assert unpack_msgpack(b"\xc0") is None


def test_pack_refusals() -> None:
    assert pack({"b": bytearray(b"\x01")}) == b"\x81\xa1b\xc4\x01\x01"
    with pytest.raises(WireError):
        pack(2**64)
    with pytest.raises(WireError):
        pack({1j})


def test_helpers() -> None:
    assert starts_like_json(b"{}")
    assert starts_like_json("{")
    assert not starts_like_json(b"")
    assert not starts_like_json(b"\x83")
    assert has_binary([1, {"a": (2, memoryview(b"x"))}])
    assert not has_binary([1, {"a": "b"}])


def test_flags() -> None:
    flags = WireFlags(
        volatile=True, compress=False, local=True, timeout=5, expect_single_response=True
    )
    assert flags.to_wire() == {
        "volatile": True,
        "compress": False,
        "local": True,
        "timeout": 5,
        "expectSingleResponse": True,
    }
    assert WireFlags.from_wire(flags.to_wire()) == flags
    assert WireFlags.from_wire(None) == WireFlags()
    assert WireFlags.from_wire({"timeout": 1.5}).timeout == 1.5
    for bad in ({"timeout": True}, {"compress": "no"}, [], {"timeout": -5}, {"timeout": math.nan}):
        with pytest.raises(WireError):
            WireFlags.from_wire(bad)


def test_options() -> None:
    opts = WireOptions(rooms=("a",), except_=("b",))
    assert opts.to_wire() == {"rooms": ["a"], "except": ["b"], "flags": {}}
    assert opts.to_wire(with_flags=False) == {"rooms": ["a"], "except": ["b"]}
    assert WireOptions.from_wire({}) == WireOptions()


def test_packets() -> None:
    packet = Packet(PacketType.EVENT, "/x", ["e"], 3)
    assert packet_to_wire(packet) == {"type": 2, "data": ["e"], "nsp": "/x", "id": 3}
    assert packet_to_wire(packet, nsp=False) == {"type": 2, "data": ["e"], "id": 3}
    assert packet_from_wire({"type": 5, "data": ["e", b""]}, "/") == Packet(
        PacketType.EVENT, "/", ["e", b""]
    )
    assert packet_from_wire({"type": 1, "nsp": "/a"}, "/") == Packet(PacketType.DISCONNECT, "/a")
    for bad in (
        {"type": 7},
        {"type": 3, "data": []},  # an ACK needs an id
        {"type": 1, "data": 1},
        {"type": 2, "data": ["e"], "id": "1"},
        {"type": 2, "data": ["e"], "nsp": None, "id": 2**53},
    ):
        with pytest.raises(WireError):
            packet_from_wire(bad, "/")


HANDSHAKE = {
    "headers": {"host": "h", "set-cookie": ["a", "b"]},
    "time": "t",
    "address": "::1",
    "xdomain": True,
    "secure": False,
    "issued": 1.0,
    "url": "/",
    "query": {"EIO": "4"},
    "auth": {"token": 1},
    "extra": "ignored",
}


def test_handshake() -> None:
    handshake = WireHandshake.from_wire(HANDSHAKE)
    assert handshake.issued == 1
    assert handshake.headers["set-cookie"] == ["a", "b"]
    assert WireHandshake.from_wire({**HANDSHAKE, "auth": None, "address": None}).auth == {}
    for key, bad in [
        ("time", 1),
        ("issued", 1.5),
        ("issued", "1"),
        ("headers", []),
        ("xdomain", 1),
        ("address", 1),
        ("auth", []),
    ]:
        with pytest.raises(WireError):
            WireHandshake.from_wire({**HANDSHAKE, key: bad})
    missing = dict(HANDSHAKE)
    del missing["url"]
    with pytest.raises(WireError):
        WireHandshake.from_wire(missing)


def test_socket() -> None:
    socket = WireSocket.from_wire({"id": "s", "handshake": HANDSHAKE, "rooms": ["s"], "data": 1})
    assert (socket.id, socket.rooms, socket.data) == ("s", ("s",), 1)
    with pytest.raises(WireError):
        WireSocket.from_wire({"id": "s", "handshake": HANDSHAKE, "data": 1})


# notepack.io 3.0.1 (the Redis adapters' and the emitter's) encoding Dates: a timestamp
NOTEPACK_DATE = bytes.fromhex("91d7ff6cb808006b16058b")  # [Date.UTC(2026, 11, 7, 1, 2, 3, 456)]
NOTEPACK_DATE_IN_MAP = bytes.fromhex("81a174d7ff003d090080000000")  # {t: 2038-01-19T03:14:08.001Z}
NOTEPACK_DATE_BEFORE_EPOCH = bytes.fromhex("91c70cff3b8b87c0ffffffffffffffff")  # [new Date(-1)]


def test_notepack_dates_read_as_json_stringify_writes_them() -> None:
    # what a Node server sends its clients (the admin UI's event times, for one)
    assert unpack_notepack(NOTEPACK_DATE) == ["2026-12-07T01:02:03.456Z"]
    assert unpack_notepack(NOTEPACK_DATE_IN_MAP) == {"t": "2038-01-19T03:14:08.001Z"}
    assert unpack_notepack(NOTEPACK_DATE_BEFORE_EPOCH) == ["1969-12-31T23:59:59.999Z"]
    assert unpack_notepack(NOTEPACK_DATE[1:]) == "2026-12-07T01:02:03.456Z"
    # @msgpack/msgpack's decoder (the streams adapter) still refuses them
    with pytest.raises(WireError, match="timestamp"):
        unpack_msgpack(NOTEPACK_DATE)
