"""The JSON parser: the vector table both ways, decoding quirks, limits and malformed input."""

from __future__ import annotations

import re
from typing import Any

import pytest
from socketio_vectors import VECTORS, Vector

from socketwire.socketio import (
    JsonParser,
    MsgpackParser,
    Packet,
    PacketType,
    ProtocolError,
    encode_for_broadcast,
)

E, A = PacketType.EVENT, PacketType.ACK


def feed_all(messages: list[str | bytes], parser: JsonParser | None = None) -> list[Packet]:
    decoder = (parser or JsonParser()).decoder()
    packets = []
    for message in messages:
        packet = decoder.feed(message)
        if packet is not None:
            packets.append(packet)
    assert decoder.awaiting_attachments == 0
    return packets


@pytest.mark.parametrize("vector", VECTORS, ids=lambda v: v.json[0][:40])
def test_encode(vector: Vector) -> None:
    assert JsonParser().encode(vector.packet) == vector.json


@pytest.mark.parametrize("vector", VECTORS, ids=lambda v: v.json[0][:40])
def test_decode(vector: Vector) -> None:
    assert feed_all(vector.json) == [vector.packet]


def test_binary_reassembly_counts_down() -> None:
    decoder = JsonParser().decoder()
    assert (
        decoder.feed('52-/nsp,["a",{"_placeholder":true,"num":1},[{"_placeholder":true,"num":0}]]')
        is None
    )
    assert decoder.awaiting_attachments == 2
    assert decoder.feed(bytearray(b"zero")) is None
    assert decoder.awaiting_attachments == 1
    packet = decoder.feed(memoryview(b"one"))
    assert packet == Packet(E, "/nsp", ["a", b"one", [b"zero"]])
    assert type(packet.data[1]) is bytes
    assert decoder.awaiting_attachments == 0
    # The decoder is ready for the next packet.
    assert decoder.feed('2["b"]') == Packet(E, "/", ["b"])


def test_encode_accepts_bytearray_and_memoryview() -> None:
    buffer = bytearray(b"ab")
    messages = JsonParser().encode(Packet(E, "/", ["x", buffer, memoryview(b"cd")]))
    assert messages == [
        '52-["x",{"_placeholder":true,"num":0},{"_placeholder":true,"num":1}]',
        b"ab",
        b"cd",
    ]
    buffer[0] = 0  # the encoded attachment is a snapshot
    assert messages[1] == b"ab"
    assert all(type(m) is bytes for m in messages[1:])


def test_encode_binary_type_given_by_caller() -> None:
    parser = JsonParser()
    assert parser.encode(Packet(PacketType.BINARY_EVENT, "/", ["x", b"1"])) == [
        '51-["x",{"_placeholder":true,"num":0}]',
        b"1",
    ]
    # Without bytes a packet is plain, whatever the caller asked for the type.
    assert parser.encode(Packet(E, "/", ["x"])) == ['2["x"]']


def test_encode_empty_nsp_is_main() -> None:
    assert JsonParser().encode(Packet(E, "", ["x"])) == ['2["x"]']


def test_encode_refuses_what_json_cannot_carry() -> None:
    parser = JsonParser()
    with pytest.raises(TypeError):
        parser.encode(Packet(E, "/", ["x", {1, 2}]))
    with pytest.raises(TypeError):
        parser.encode(Packet(E, "/", ["x", b"1", {1, 2}]))
    with pytest.raises(TypeError):
        parser.encode(Packet(PacketType.CONNECT, "/", {"a": b"1"}))
    with pytest.raises(TypeError):
        parser.encode(Packet(E, "/", ["x", 2**64]))


@pytest.mark.parametrize("parser", [JsonParser(), MsgpackParser()], ids=["json", "msgpack"])
def test_encode_for_broadcast(parser: JsonParser | MsgpackParser) -> None:
    packet = Packet(E, "/room", ["news", b"\x01", {"n": 1}])
    once = encode_for_broadcast(parser, packet)
    assert isinstance(once, tuple)
    assert list(once) == parser.encode(packet)
    assert all(isinstance(m, str | bytes) for m in once)


@pytest.mark.parametrize(
    ("text", "packet"),
    [
        ("0/custom", Packet(PacketType.CONNECT, "/custom")),
        ("0/custom,", Packet(PacketType.CONNECT, "/custom")),
        ('0/custom,{"a":1}', Packet(PacketType.CONNECT, "/custom", {"a": 1})),
        # The query stays in the name, as socket.io-parser leaves it (the v5 server then
        # finds no such namespace).
        ("0/custom?query=1", Packet(PacketType.CONNECT, "/custom?query=1")),
        ("1/a,", Packet(PacketType.DISCONNECT, "/a")),
        ('2012["a"]', Packet(E, "/", ["a"], 12)),
        ('29007199254740991["a"]', Packet(E, "/", ["a"], 2**53 - 1)),
        ('2["a"] ', Packet(E, "/", ["a"])),
        (
            '2["é😀",{"k":[1.5,-2,null,true]}]',
            Packet(E, "/", ["é😀", {"k": [1.5, -2, None, True]}]),
        ),
        ("0{}", Packet(PacketType.CONNECT, "/", {})),
        ('4"denied"', Packet(PacketType.CONNECT_ERROR, "/", "denied")),
        # A placeholder in a packet without attachments is data, as in socket.io-parser.
        (
            '2["a",{"_placeholder":true,"num":0}]',
            Packet(E, "/", ["a", {"_placeholder": True, "num": 0}]),
        ),
        # Only `_placeholder: true` marks a placeholder.
        (
            '51-["a",{"_placeholder":1,"num":0},{"_placeholder":true,"num":0}]',
            None,
        ),
    ],
)
def test_decode_quirks(text: str, packet: Packet | None) -> None:
    if packet is None:
        decoder = JsonParser().decoder()
        assert decoder.feed(text) is None
        assert decoder.feed(b"!") == Packet(E, "/", ["a", {"_placeholder": 1, "num": 0}, b"!"])
    else:
        assert feed_all([text]) == [packet]


DEEP = "[" * 1100 + "]" * 1100

MALFORMED: list[tuple[list[Any], str]] = [
    ([""], "empty"),
    (["7"], "unknown packet type"),
    (["a"], "unknown packet type"),
    (["-1"], "unknown packet type"),
    (["2"], "EVENT"),
    (["2[]"], "EVENT"),
    (['2"a"'], "EVENT"),
    (["2null"], "invalid payload"),
    (["2[1]"], "EVENT"),
    (['2[["a"]]'], "EVENT"),
    (['2["connect"]'], "reserved"),
    (['2["newListener"]'], "reserved"),
    (["2{}"], "EVENT"),
    (["3[]"], "ack id"),
    (["3{}"], "ACK"),
    (['31"x"'], "ACK"),
    (["31null"], "invalid payload"),
    (["31"], "ACK"),
    (["01"], "ack id"),
    (["01{}"], "ack id"),
    (["11"], "ack id"),
    (['41"x"'], "ack id"),
    (["0[]"], "CONNECT"),
    (['0"x"'], "CONNECT"),
    (["0null"], "invalid payload"),
    (["1{}"], "DISCONNECT"),
    (['1"x"'], "DISCONNECT"),
    (["1/a,[]"], "DISCONNECT"),
    (["4"], "CONNECT_ERROR"),
    (["4[]"], "CONNECT_ERROR"),
    (["4null"], "invalid payload"),
    (["41"], "ack id"),
    (['2abc["a"]'], "invalid payload"),
    (['2-1["a"]'], "invalid payload"),
    (['2 ["a"]'], "invalid payload"),
    (['2\n["a"]'], "invalid payload"),
    (['2\u0661["a"]'], "invalid payload"),  # a non-ASCII digit
    (['29007199254740992["a"]'], "ack id"),
    (['299999999999999999["a"]'], "ack id"),
    (["2" + "9" * 5000 + '["a"]'], "ack id"),
    (['2["a"]x'], "invalid payload"),
    (['2["a"]["b"]'], "invalid payload"),
    (['2["a"'], "invalid payload"),
    (['2["a",]'], "invalid payload"),
    (['2["\ud800"]'], "invalid payload"),
    (['2/\udc80,["a"]'], "UTF-8"),
    ([f'2["a",{DEEP}]'], "invalid payload"),
    # Binary headers.
    (['5-["a"]'], "attachment count"),
    (['5a-["a"]'], "attachment count"),
    (['51["a"]'], "attachment count"),
    (['5\u0661-["a"]'], "attachment count"),
    (['5+1-["a"]'], "attachment count"),
    (['50-["a"]'], "at least one"),
    (['511-["a"]'], "max_attachments=10"),
    (['59999-["a"]'], "max_attachments=10"),
    (["5" + "9" * 5000 + '-["a"]'], "max_attachments=10"),
    (["51-[]"], "EVENT"),
    (['61-[{"_placeholder":true,"num":0}]'], "ack id"),
    (['61-1{"_placeholder":true,"num":0}'], "ACK"),
    # Placeholders, refused before any attachment is awaited.
    (['51-["hello",{"_placeholder":true,"num":"splice"}]'], "placeholder num 'splice'"),
    (['51-["hello",{"_placeholder":true,"num":1}]'], "placeholder num 1"),
    (['51-["hello",{"_placeholder":true,"num":-1}]'], "placeholder num -1"),
    (['51-["hello",{"_placeholder":true,"num":0.0}]'], "placeholder num 0.0"),
    (['51-["hello",{"_placeholder":true,"num":true}]'], "placeholder num True"),
    (['51-["hello",{"_placeholder":true,"num":null}]'], "placeholder num None"),
    (['51-["hello",{"_placeholder":true}]'], "placeholder num None"),
    (['51-["hello",{"x":[{"_placeholder":true,"num":5}]}]'], "placeholder num 5"),
    (['51-["hello"]'], "1 declared, 0 placeholders"),
    (['52-["a",{"_placeholder":true,"num":0}]'], "2 declared, 1 placeholders"),
    (['52-["a",{"_placeholder":true,"num":0},{"_placeholder":true,"num":0}]'], "used twice"),
    # Sequencing.
    ([b"\x00"], "no attachment is expected"),
    (['2["a"]', b"\x00"], "no attachment is expected"),
    (['51-["a",{"_placeholder":true,"num":0}]', '2["b"]'], "waiting for 1"),
    (['52-["a",{"_placeholder":true,"num":0},{"_placeholder":true,"num":1}]', b"", "x"], "1"),
]


@pytest.mark.parametrize(("messages", "match"), MALFORMED, ids=lambda v: repr(v)[:60])
def test_malformed(messages: list[Any], match: str) -> None:
    decoder = JsonParser().decoder()
    for message in messages[:-1]:
        decoder.feed(message)
    with pytest.raises(ProtocolError, match=re.escape(match)):
        decoder.feed(messages[-1])
    # The decoder was reset: it takes a fresh packet.
    assert decoder.awaiting_attachments == 0
    assert decoder.feed('2["ok"]') == Packet(E, "/", ["ok"])


def test_max_attachments_is_configurable() -> None:
    parser = JsonParser(max_attachments=2)
    assert parser.max_attachments == 2
    with pytest.raises(ProtocolError, match="max_attachments=2"):
        parser.decoder().feed('53-["a",{"_placeholder":true,"num":0}]')
    messages = parser.encode(Packet(E, "/", ["a", b"1", b"2"]))
    assert feed_all(messages, parser) == [Packet(E, "/", ["a", b"1", b"2"])]
    with pytest.raises(ProtocolError, match="max_attachments=0"):
        JsonParser(max_attachments=0).decoder().feed(messages[0])
    with pytest.raises(ValueError, match="max_attachments"):
        JsonParser(max_attachments=-1)


def test_feed_refuses_other_types() -> None:
    with pytest.raises(TypeError):
        JsonParser().decoder().feed(1)  # type: ignore[arg-type]


def test_deep_binary_packet_needs_no_recursion() -> None:
    # orjson decodes up to 1024 levels, more than Python's recursion limit: the placeholder
    # walk must not recurse.
    depth = 1000
    text = '51-["deep",' + "[" * depth + '{"_placeholder":true,"num":0}' + "]" * depth + "]"
    decoder = JsonParser().decoder()
    assert decoder.feed(text) is None
    packet = decoder.feed(b"bottom")
    assert packet is not None
    node = packet.data[1]
    for _ in range(depth - 1):
        node = node[0]
    assert node == [b"bottom"]
