"""The msgpack parser: the vector table both ways, notepack quirks and malformed input."""

from __future__ import annotations

import re

import msgpack
import pytest
from socketio_vectors import VECTORS, Vector

from socketwire.socketio import MsgpackParser, Packet, PacketType, ProtocolError

C, E, A = PacketType.CONNECT, PacketType.EVENT, PacketType.ACK


def pack(obj: object) -> bytes:
    packed: bytes = msgpack.packb(obj, use_bin_type=True)
    return packed


def decode(message: str | bytes) -> Packet | None:
    return MsgpackParser().decoder().feed(message)


@pytest.mark.parametrize("vector", VECTORS, ids=lambda v: v.json[0][:40])
def test_encode(vector: Vector) -> None:
    assert MsgpackParser().encode(vector.packet) == [bytes.fromhex(vector.msgpack)]


@pytest.mark.parametrize("vector", VECTORS, ids=lambda v: v.json[0][:40])
def test_decode(vector: Vector) -> None:
    decoder = MsgpackParser().decoder()
    assert decoder.feed(bytes.fromhex(vector.msgpack)) == vector.packet
    assert decoder.awaiting_attachments == 0


def test_binary_types_are_plain_on_the_wire() -> None:
    parser = MsgpackParser()
    binary = parser.encode(Packet(PacketType.BINARY_EVENT, "/", ["x", b"1"]))
    assert binary == parser.encode(Packet(E, "/", ["x", b"1"]))
    assert binary == [pack({"type": 2, "data": ["x", b"1"], "nsp": "/"})]
    ack = parser.encode(Packet(PacketType.BINARY_ACK, "/", [b"1"], 5))
    assert ack == [pack({"type": 3, "data": [b"1"], "nsp": "/", "id": 5})]


def test_encode_accepts_bytearray_and_memoryview() -> None:
    messages = MsgpackParser().encode(Packet(E, "/", ["x", bytearray(b"ab"), memoryview(b"c")]))
    assert decode(messages[0]) == Packet(E, "/", ["x", b"ab", b"c"])


def test_encode_refuses_what_msgpack_cannot_carry() -> None:
    parser = MsgpackParser()
    with pytest.raises(TypeError):
        parser.encode(Packet(E, "/", ["x", {1, 2}]))
    with pytest.raises(TypeError):
        parser.encode(Packet(E, "/", ["x", 2**64]))
    nested: list[object] = []
    for _ in range(3000):
        nested = [nested]
    with pytest.raises(TypeError):
        parser.encode(Packet(E, "/", ["x", nested]))


def test_bytes_anywhere() -> None:
    packet = Packet(C, "/", {"token": b"\x00secret"})
    assert decode(MsgpackParser().encode(packet)[0]) == packet


# notepack writes JavaScript `undefined` as fixext 1, type 0: d4 00 00.
UNDEFINED = b"\xd4\x00\x00"


def test_undefined_data_and_id_are_absent() -> None:
    # socket.io-client's CONNECT without auth: {type: 0, data: undefined, nsp: "/"}.
    assert decode(b"\x83\xa4type\x00\xa4data" + UNDEFINED + b"\xa3nsp\xa1/") == Packet(C)
    wire = b"\x84\xa4type\x02\xa4data\x91\xa1x\xa3nsp\xa1/\xa2id" + UNDEFINED
    assert decode(wire) == Packet(E, "/", ["x"])


def test_undefined_inside_data_is_none() -> None:
    # ["x", undefined, {a: undefined, b: [undefined]}]
    data = b"\x93\xa1x" + UNDEFINED + b"\x82\xa1a" + UNDEFINED + b"\xa1b\x91" + UNDEFINED
    wire = b"\x83\xa4type\x02\xa4data" + data + b"\xa3nsp\xa1/"
    assert decode(wire) == Packet(E, "/", ["x", None, {"a": None, "b": [None]}])


def test_ext_zero_is_an_array_buffer() -> None:
    # notepack (Node) writes typed arrays that are not Buffers as ext 8, type 0.
    wire = b"\x83\xa4type\x02\xa4data\x92\xa1x\xc7\x03\x00abc\xa3nsp\xa1/"
    assert decode(wire) == Packet(E, "/", ["x", b"abc"])


def test_decoder_state_does_not_leak_between_messages() -> None:
    decoder = MsgpackParser().decoder()
    assert decoder.feed(b"\x83\xa4type\x00\xa4data" + UNDEFINED + b"\xa3nsp\xa1/") == Packet(C)
    assert decoder.feed(pack({"type": 2, "data": ["x", None], "nsp": "/"})) == Packet(
        E, "/", ["x", None]
    )


MALFORMED: list[tuple[str | bytes, str]] = [
    ("2", "text message"),
    (b"", "invalid msgpack"),
    (b"\xc1", "invalid msgpack"),
    (b"\x92\xc0", "invalid msgpack"),
    (pack({"type": 2, "data": ["a"], "nsp": "/"}) + b"\x00", "invalid msgpack"),
    (b"\x91" * 2000 + b"\xc0", "invalid msgpack"),
    (b"\x90", "not a map"),
    (pack("x"), "not a map"),
    (pack({"data": ["a"], "nsp": "/"}), "invalid packet type None"),
    (pack({"type": 5, "data": ["a"], "nsp": "/"}), "invalid packet type 5"),
    (pack({"type": 6, "data": ["a"], "nsp": "/", "id": 1}), "invalid packet type 6"),
    (pack({"type": -1, "data": ["a"], "nsp": "/"}), "invalid packet type -1"),
    (pack({"type": "2", "data": ["a"], "nsp": "/"}), "invalid packet type '2'"),
    (pack({"type": 2.0, "data": ["a"], "nsp": "/"}), "invalid packet type 2.0"),
    (pack({"type": True, "data": ["a"], "nsp": "/"}), "invalid packet type True"),
    (pack({"type": 2, "data": ["a"]}), "invalid namespace"),
    (pack({"type": 2, "data": ["a"], "nsp": None}), "invalid namespace"),
    (pack({"type": 2, "data": ["a"], "nsp": b"/"}), "invalid namespace"),
    (pack({"type": 2, "data": ["a"], "nsp": "/", "id": "1"}), "invalid ack id"),
    (pack({"type": 2, "data": ["a"], "nsp": "/", "id": 1.0}), "invalid ack id"),
    (pack({"type": 2, "data": ["a"], "nsp": "/", "id": None}), "invalid ack id"),
    (pack({"type": 2, "data": ["a"], "nsp": "/", "id": -1}), "invalid ack id"),
    (pack({"type": 2, "data": ["a"], "nsp": "/", "id": 2**53}), "invalid ack id"),
    (pack({"type": 2, "data": ["a"], "nsp": "/", "id": True}), "invalid ack id"),
    (pack({"type": 2, "nsp": "/"}), "EVENT"),
    (pack({"type": 2, "data": [], "nsp": "/"}), "EVENT"),
    (pack({"type": 2, "data": [1], "nsp": "/"}), "EVENT"),
    (pack({"type": 2, "data": [b"a"], "nsp": "/"}), "EVENT"),
    (pack({"type": 2, "data": {}, "nsp": "/"}), "EVENT"),
    (pack({"type": 2, "data": ["disconnect"], "nsp": "/"}), "reserved"),
    (pack({"type": 3, "data": "x", "nsp": "/", "id": 1}), "ACK"),
    (pack({"type": 3, "data": [], "nsp": "/"}), "ack id"),
    (pack({"type": 0, "data": [], "nsp": "/"}), "CONNECT"),
    (pack({"type": 0, "data": None, "nsp": "/"}), "CONNECT"),
    (pack({"type": 0, "nsp": "/", "id": 1}), "ack id"),
    (pack({"type": 1, "data": {}, "nsp": "/"}), "DISCONNECT"),
    (pack({"type": 1, "data": None, "nsp": "/"}), "DISCONNECT"),
    (pack({"type": 4, "nsp": "/"}), "CONNECT_ERROR"),
    (pack({"type": 4, "data": 1, "nsp": "/"}), "CONNECT_ERROR"),
    (pack({"type": 2, "data": ["a", {b"k": 1}], "nsp": "/"}), "map keys must be strings"),
    (pack({b"type": 2, "data": ["a"], "nsp": "/"}), "map keys must be strings"),
    (pack({"type": 2, "data": ["a", {1: 1}], "nsp": "/"}), "invalid msgpack"),
    (pack({"type": 2, "data": ["a", msgpack.ExtType(5, b"x")], "nsp": "/"}), "ext type 5"),
    (b"\x83\xa4type\x02\xa4data\x91\xa1a\xa3nsp\xa2\xff\xfe", "invalid msgpack"),
]


@pytest.mark.parametrize(("message", "match"), MALFORMED, ids=lambda v: repr(v)[:50])
def test_malformed(message: str | bytes, match: str) -> None:
    decoder = MsgpackParser().decoder()
    with pytest.raises(ProtocolError, match=re.escape(match)):
        decoder.feed(message)
    assert decoder.awaiting_attachments == 0
    assert decoder.feed(pack({"type": 2, "data": ["ok"], "nsp": "/"})) == Packet(E, "/", ["ok"])


def test_feed_refuses_other_types() -> None:
    with pytest.raises(TypeError):
        MsgpackParser().decoder().feed(1)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    "data",
    [
        msgpack.Timestamp(1, 0),
        ["ev", msgpack.Timestamp(1, 0)],
        ["ev", {"when": [msgpack.Timestamp(1, 0)]}],
        ["ev", b"\x00bin", msgpack.Timestamp(1, 0)],
    ],
)
def test_timestamp_ext_is_refused(data: object) -> None:
    # msgpack decodes ext -1 itself, past ext_hook: it must still never reach a handler.
    wire = msgpack.packb({"type": 2, "data": data, "nsp": "/"}, use_bin_type=True)
    with pytest.raises(ProtocolError, match="timestamp"):
        MsgpackParser().decoder().feed(wire)
