"""The classic Redis adapter's codec (and the emitter's): wire vectors, round trips, refusals.

The msgpack vectors were produced by notepack.io 2.2 (the Node adapter's encoder) from the
JS objects shown; the JSON ones are what the adapter's ``JSON.stringify`` calls write.
"""

from __future__ import annotations

import contextlib
import dataclasses
from typing import Any

import msgpack  # type: ignore[import-untyped]
import pytest
from hypothesis import given
from hypothesis import strategies as st
from wire_strategies import events, ids, json_values, options, packets, rooms, sockets, values

from socketwire.adapters.wire import ClassicCodec, EmitterCodec, WireError, WireFlags, WireOptions
from socketwire.adapters.wire.classic import (
    AllRoomsRequest,
    AllRoomsResponse,
    BroadcastAckRequest,
    BroadcastAckResponse,
    BroadcastClientCountResponse,
    ClassicBroadcast,
    ClassicMessage,
    FetchSocketsRequest,
    FetchSocketsResponse,
    RemoteDisconnectRequest,
    RemoteJoinRequest,
    RemoteLeaveRequest,
    ServerSideEmitRequest,
    ServerSideEmitResponse,
    SocketsRequest,
    SocketsResponse,
)
from socketwire.adapters.wire.common import WireHandshake, WireSocket
from socketwire.socketio import Packet, PacketType

CODEC = ClassicCodec()
EMITTER = EmitterCodec()
EVENT = PacketType.EVENT
HANDSHAKE = WireHandshake(
    headers={"host": "h"},
    time="t",
    address="127.0.0.1",
    xdomain=False,
    secure=True,
    issued=1,
    url="/socket.io/?EIO=4",
    query={"EIO": "4"},
    auth={},
)
HANDSHAKE_JSON = (
    '{"headers":{"host":"h"},"time":"t","address":"127.0.0.1","xdomain":false,'
    '"secure":true,"issued":1,"url":"/socket.io/?EIO=4","query":{"EIO":"4"},"auth":{}}'
)

BROADCASTS: list[tuple[ClassicBroadcast, str]] = [
    (
        # ["HlSHzr",{"type":2,"data":["broadcast-except",3],"nsp":"/"},
        #  {"rooms":["room1"],"except":["room2"],"flags":{}}]
        ClassicBroadcast(
            "HlSHzr",
            Packet(EVENT, "/", ["broadcast-except", 3]),
            WireOptions(rooms=("room1",), except_=("room2",)),
        ),
        "93a6486c53487a7283a47479706502a46461746192b062726f6164636173742d65786365707403a36e7370"
        "a12f83a5726f6f6d7391a5726f6f6d31a665786365707491a5726f6f6d32a5666c61677380",
    ),
    (
        # ["abcdef",{"type":2,"data":["b",Buffer<01 02>],"nsp":"/chat"},
        #  {"rooms":[],"except":[],"flags":{"volatile":true}}]
        ClassicBroadcast(
            "abcdef",
            Packet(EVENT, "/chat", ["b", b"\x01\x02"]),
            WireOptions(flags=WireFlags(volatile=True)),
        ),
        "93a661626364656683a47479706502a46461746192a162c4020102a36e7370a52f6368617483a5726f6f6d"
        "7390a665786365707490a5666c61677381a8766f6c6174696c65c3",
    ),
]

REQUESTS: list[tuple[ClassicMessage, bytes]] = [
    (
        SocketsRequest("abcdef", "RQ0001", ("r",)),
        b'{"uid":"abcdef","requestId":"RQ0001","type":0,"rooms":["r"]}',
    ),
    (AllRoomsRequest("abcdef", "RQ0001"), b'{"uid":"abcdef","requestId":"RQ0001","type":1}'),
    (
        RemoteJoinRequest("abcdef", WireOptions(rooms=("a",), except_=("b",)), ("c",)),
        b'{"uid":"abcdef","type":2,"opts":{"rooms":["a"],"except":["b"]},"rooms":["c"]}',
    ),
    (
        RemoteLeaveRequest("abcdef", WireOptions(), ("c", "d")),
        b'{"uid":"abcdef","type":3,"opts":{"rooms":[],"except":[]},"rooms":["c","d"]}',
    ),
    (
        RemoteDisconnectRequest("abcdef", WireOptions(rooms=("a",)), True),
        b'{"uid":"abcdef","type":4,"opts":{"rooms":["a"],"except":[]},"close":true}',
    ),
    (
        FetchSocketsRequest("abcdef", "RQ0001", WireOptions(rooms=("room1",))),
        b'{"uid":"abcdef","requestId":"RQ0001","type":5,"opts":{"rooms":["room1"],"except":[]}}',
    ),
    (
        ServerSideEmitRequest("abcdef", ["hello", 1, {"k": "v"}]),
        b'{"uid":"abcdef","type":6,"data":["hello",1,{"k":"v"}]}',
    ),
    (
        ServerSideEmitRequest("abcdef", ["q"], "RQ0001"),
        b'{"uid":"abcdef","requestId":"RQ0001","type":6,"data":["q"]}',
    ),
    (
        # {uid:"abcdef",requestId:"RQ0001",type:7,packet:{type:2,data:["ask"],nsp:"/"},
        #  opts:{rooms:[],except:[],flags:{timeout:1000}}}
        BroadcastAckRequest(
            "abcdef",
            "RQ0001",
            Packet(EVENT, "/", ["ask"]),
            WireOptions(flags=WireFlags(timeout=1000)),
        ),
        bytes.fromhex(
            "85a3756964a6616263646566a9726571756573744964a6525130303031a47479706507a67061636b65"
            "7483a47479706502a46461746191a361736ba36e7370a12fa46f70747383a5726f6f6d7390a6657863"
            "65707490a5666c61677381a774696d656f7574cd03e8"
        ),
    ),
]

RESPONSES: list[tuple[ClassicMessage, bytes]] = [
    (SocketsResponse("RQ0001", ("s1", "s2")), b'{"requestId":"RQ0001","sockets":["s1","s2"]}'),
    (AllRoomsResponse("RQ0001", ("r", "s1")), b'{"requestId":"RQ0001","rooms":["r","s1"]}'),
    (
        FetchSocketsResponse("RQ0001", (WireSocket("s1", HANDSHAKE, ("s1", "r"), {"n": 1}),)),
        b'{"requestId":"RQ0001","sockets":[{"id":"s1","handshake":'
        + HANDSHAKE_JSON.encode()
        + b',"rooms":["s1","r"],"data":{"n":1}}]}',
    ),
    (FetchSocketsResponse("RQ0001", ()), b'{"requestId":"RQ0001","sockets":[]}'),
    (
        ServerSideEmitResponse("RQ0001", {"a": [1]}),
        b'{"type":6,"requestId":"RQ0001","data":{"a":[1]}}',
    ),
    (
        BroadcastClientCountResponse("RQ0001", 2),
        b'{"type":8,"requestId":"RQ0001","clientCount":2}',
    ),
    (
        # {type:9,requestId:"RQ0001",packet:"ok"}
        BroadcastAckResponse("RQ0001", "ok"),
        bytes.fromhex("83a47479706509a9726571756573744964a6525130303031a67061636b6574a26f6b"),
    ),
]


@pytest.mark.parametrize(("message", "wire"), BROADCASTS)
def test_broadcast_vectors(message: ClassicBroadcast, wire: str) -> None:
    assert CODEC.encode(message) == bytes.fromhex(wire)
    assert CODEC.decode_broadcast(bytes.fromhex(wire)) == message


@pytest.mark.parametrize(("message", "wire"), REQUESTS)
def test_request_vectors(message: ClassicMessage, wire: bytes) -> None:
    assert CODEC.encode(message) == wire
    assert CODEC.decode_request(wire) == message


@pytest.mark.parametrize(("message", "wire"), RESPONSES)
def test_response_vectors(message: ClassicMessage, wire: bytes) -> None:
    assert CODEC.encode(message) == wire
    assert CODEC.decode_response(wire) == message


def test_emitter_vectors() -> None:
    # ["emitter",{type:2,data:["e",1],nsp:"/"},{rooms:["r"],flags:{},except:["x"]}]
    broadcast = ClassicBroadcast(
        "emitter", Packet(EVENT, "/", ["e", 1]), WireOptions(rooms=("r",), except_=("x",))
    )
    wire = bytes.fromhex(
        "93a7656d697474657283a47479706502a46461746192a16501a36e7370a12f83a5726f6f6d7391a172a566"
        "6c61677380a665786365707491a178"
    )
    assert EMITTER.encode(broadcast) == wire
    assert CODEC.decode_broadcast(wire) == broadcast
    assert CODEC.encode(broadcast) != wire  # the adapter orders opts differently
    join = RemoteJoinRequest(None, WireOptions(rooms=("a",)), ("b",))
    assert EMITTER.encode(join) == b'{"type":2,"opts":{"rooms":["a"],"except":[]},"rooms":["b"]}'
    disconnect = RemoteDisconnectRequest(None, WireOptions(), False)
    assert EMITTER.encode(disconnect) == b'{"type":4,"opts":{"rooms":[],"except":[]},"close":false}'
    sse = ServerSideEmitRequest("emitter", ["x"])
    assert EMITTER.encode(sse) == b'{"uid":"emitter","type":6,"data":["x"]}'


@pytest.mark.parametrize(
    "message",
    [
        ClassicBroadcast("abcdef", Packet(EVENT, "/", ["x"]), WireOptions()),
        ServerSideEmitRequest("emitter", ["x"], "RQ0001"),
        ServerSideEmitRequest("abcdef", ["x"]),
        RemoteJoinRequest("abcdef", WireOptions(), ("r",)),
        AllRoomsRequest("emitter", "RQ0001"),
    ],
)
def test_emitter_refuses_what_it_never_sends(message: Any) -> None:
    with pytest.raises(WireError):
        EMITTER.encode(message)


def test_notepack_undefined_and_typed_arrays() -> None:
    # ["u",{type:2,data:["e",undefined,new Uint8Array([5,6])],nsp:"/"},{...}]
    wire = bytes.fromhex(
        "93a17583a47479706502a46461746193a165d40000c702000506a36e7370a12f83a5726f6f6d7390a66578"
        "6365707490a5666c61677380"
    )
    decoded = CODEC.decode_broadcast(wire)
    assert decoded.packet.data == ["e", None, b"\x05\x06"]
    # {type:9,requestId:"RQ0001",packet:undefined}: a client acked without arguments.
    wire = bytes.fromhex("83a47479706509a9726571756573744964a6525130303031a67061636b6574d40000")
    assert CODEC.decode_response(wire) == BroadcastAckResponse("RQ0001", None)


def test_json_and_msgpack_are_both_accepted() -> None:
    # A Node receiver looks at the first byte only; so do we.
    request = AllRoomsRequest("abcdef", "RQ0001")
    as_msgpack = mp({"uid": "abcdef", "requestId": "RQ0001", "type": 1})
    assert CODEC.decode_request(as_msgpack) == request
    ack = b'{"type":9,"requestId":"RQ0001","packet":[1]}'
    assert CODEC.decode_response(ack) == BroadcastAckResponse("RQ0001", [1])


def test_missing_packet_namespace_is_the_main_one() -> None:
    wire = CODEC.encode(ClassicBroadcast("u", Packet(EVENT, "/", ["x"]), WireOptions()))
    without_nsp = wire.replace(b"\x83\xa4type", b"\x82\xa4type").replace(b"\xa3nsp\xa1/", b"")
    assert CODEC.decode_broadcast(without_nsp).packet.nsp == "/"


def test_bytes_in_json_messages_travel_as_node_buffers() -> None:
    message = ServerSideEmitRequest("abcdef", ["ev", b"\x01\x02"])
    assert CODEC.encode(message) == (
        b'{"uid":"abcdef","type":6,"data":["ev",{"type":"Buffer","data":[1,2]}]}'
    )


def test_numeric_rooms_read_as_strings() -> None:
    wire = b'{"uid":"abcdef","type":2,"opts":{"rooms":[1],"except":[]},"rooms":[2,"x"]}'
    assert CODEC.decode_request(wire) == RemoteJoinRequest(
        "abcdef", WireOptions(rooms=("1",)), ("2", "x")
    )


def test_unknown_flags_are_ignored() -> None:
    wire = CODEC.encode(ClassicBroadcast("u", Packet(EVENT, "/", ["x"]), WireOptions()))
    with_unknown = wire.replace(b"\xa5flags\x80", b"\xa5flags\x81\xa6binary\xc3")
    assert CODEC.decode_broadcast(with_unknown).opts.flags == WireFlags()


def mp(value: Any) -> bytes:
    """msgpack, for building malformed input."""
    packed: bytes = msgpack.packb(value, use_bin_type=True)
    return packed


P = {"type": 2, "data": ["e"], "nsp": "/"}
MALFORMED_BROADCASTS = [
    b"",
    b"\xc1",  # a byte msgpack never uses
    mp(["u", P, {}]) + b"\x00",  # trailing data
    mp(["u", P, {}])[:-1],  # truncated
    mp(["u", P]),
    mp([1, P, {}]),
    mp({"uid": "u"}),
    mp(["u", {**P, "type": 9}, {}]),
    mp(["u", {**P, "type": "2"}, {}]),
    mp(["u", {**P, "data": ["connect"]}, {}]),
    mp(["u", {**P, "data": []}, {}]),
    mp(["u", {**P, "nsp": 1}, {}]),
    mp(["u", {**P, "id": 1.5}, {}]),
    mp(["u", P, []]),
    mp(["u", P, {"rooms": "x"}]),
    mp(["u", P, {"rooms": [None]}]),
    mp(["u", P, {"rooms": [1.5]}]),
    mp(["u", P, {"except": [True]}]),
    mp(["u", P, {"flags": {"timeout": "x"}}]),
    mp(["u", P, {"flags": {"timeout": -1}}]),
    mp(["u", P, {"flags": {"volatile": 1}}]),
    mp(["u", P, {"flags": []}]),
    mp(["u", {**P, "data": ["e", msgpack.ExtType(1, b"x")]}, {}]),
    # (a timestamp is a JS Date, read as a string: see test_wire_values)
    bytes.fromhex("93a17581c40174c380"),  # a binary map key
    mp(["u", {**P, "data": ["e", {1: 2}]}, {}]),  # an integer map key
    mp(["u", {**P, "data": ["e", b"\xff"]}, {}]).replace(b"\xc4\x01\xff", b"\xa1\xff"),
    b'["u",{"type":2,"data":["e"],"nsp":"/"},{}]',  # JSON is not a broadcast encoding
]


@pytest.mark.parametrize("wire", MALFORMED_BROADCASTS)
def test_malformed_broadcasts(wire: bytes) -> None:
    with pytest.raises(WireError):
        CODEC.decode_broadcast(wire)


MALFORMED_REQUESTS = [
    b"{",
    b"[1]",
    b'{"uid":"u","type":"1","requestId":"r"}',
    b'{"uid":"u","type":true,"requestId":"r"}',
    b'{"uid":"u","type":42}',
    b'{"uid":"u","type":8,"requestId":"r","clientCount":1}',  # a response type
    b'{"uid":"u","type":1}',  # no requestId
    b'{"uid":1,"type":1,"requestId":"r"}',
    b'{"uid":"u","type":2,"sid":"s","room":"r","requestId":"x"}',  # before 7.0
    b'{"uid":"u","type":2,"opts":{"rooms":[],"except":[]}}',  # no rooms
    b'{"uid":"u","type":2,"opts":[],"rooms":[]}',
    b'{"uid":"u","type":4,"opts":{},"close":"yes"}',
    b'{"uid":"u","type":4,"sid":"s","close":true}',
    b'{"uid":"u","type":5,"requestId":"r","opts":{"rooms":[{}]}}',
    b'{"uid":"u","type":6,"data":[]}',
    b'{"uid":"u","type":6,"data":[1]}',
    b'{"uid":"u","type":6,"data":"x"}',
    b'{"uid":"u","type":6,"data":["x"],"requestId":5}',
    b'{"uid":"u","requestId":"r","type":7,"packet":{"type":2,"data":"x"},"opts":{}}',
    b'{"uid":"u","requestId":"r","type":7,"packet":{"type":2,"data":["x"],"id":-1},"opts":{}}',
    b'{"uid":"u","requestId":"r","type":7,"packet":{"type":2,"data":["x"]}}',  # no opts
    b"\xff\xfe",
]


@pytest.mark.parametrize("wire", MALFORMED_REQUESTS)
def test_malformed_requests(wire: bytes) -> None:
    with pytest.raises(WireError):
        CODEC.decode_request(wire)


MALFORMED_RESPONSES = [
    b"{}",
    b'{"requestId":"r"}',  # the {requestId} answers of adapters before 7.0
    b'{"requestId":1,"rooms":[]}',
    b'{"requestId":"r","type":7}',
    b'{"requestId":"r","type":8,"clientCount":-1}',
    b'{"requestId":"r","type":8,"clientCount":1.5}',
    b'{"requestId":"r","type":8}',
    b'{"requestId":"r","sockets":[{"id":"s"}]}',
    b'{"requestId":"r","sockets":["s",{}]}',
    b'{"requestId":"r","sockets":{}}',
    b'{"requestId":"r","rooms":"r"}',
    b'{"requestId":"r","sockets":[{"id":"s","handshake":'
    + HANDSHAKE_JSON.encode()
    + b',"rooms":"s","data":null}]}',
]


@pytest.mark.parametrize("wire", MALFORMED_RESPONSES)
def test_malformed_responses(wire: bytes) -> None:
    with pytest.raises(WireError):
        CODEC.decode_response(wire)


def test_encoding_what_cannot_be_carried() -> None:
    with pytest.raises(WireError):
        CODEC.encode(ServerSideEmitRequest("u", ["x", object()]))
    with pytest.raises(WireError):
        CODEC.encode(ClassicBroadcast("u", Packet(EVENT, "/", ["x", 2**70]), WireOptions()))
    with pytest.raises(WireError):
        CODEC.encode(ServerSideEmitRequest("u", ["x", {1: 2}]))
    with pytest.raises(WireError):
        CODEC.encode("not a message")  # type: ignore[arg-type]


# -- round trips ----------------------------------------------------------------------------

request_ids = ids
requests = st.one_of(
    st.builds(SocketsRequest, ids, request_ids, rooms),
    st.builds(AllRoomsRequest, ids, request_ids),
    st.builds(RemoteJoinRequest, st.none() | ids, options, rooms),
    st.builds(RemoteLeaveRequest, st.none() | ids, options, rooms),
    st.builds(RemoteDisconnectRequest, st.none() | ids, options, st.booleans()),
    st.builds(FetchSocketsRequest, ids, request_ids, options),
    st.builds(ServerSideEmitRequest, ids, events(json_values), st.none() | request_ids),
    st.builds(BroadcastAckRequest, ids, request_ids, packets("/x"), options),
)
responses = st.one_of(
    st.builds(SocketsResponse, request_ids, st.lists(ids, min_size=1, max_size=3).map(tuple)),
    st.builds(AllRoomsResponse, request_ids, rooms),
    st.builds(
        FetchSocketsResponse,
        request_ids,
        st.lists(sockets(json_values), max_size=2).map(tuple),
    ),
    st.builds(ServerSideEmitResponse, request_ids, json_values),
    st.builds(BroadcastClientCountResponse, request_ids, st.integers(0, 2**31)),
    st.builds(BroadcastAckResponse, request_ids, values),
)


def _as_received(message: Any) -> Any:
    # Only broadcasts carry flags in this format: the other requests leave them out.
    if isinstance(
        message,
        RemoteJoinRequest | RemoteLeaveRequest | RemoteDisconnectRequest | FetchSocketsRequest,
    ):
        return dataclasses.replace(
            message, opts=WireOptions(message.opts.rooms, message.opts.except_)
        )
    return message


@given(st.builds(ClassicBroadcast, ids, packets("/nsp"), options))
def test_broadcast_round_trip(message: ClassicBroadcast) -> None:
    assert CODEC.decode_broadcast(CODEC.encode(message)) == message


@given(requests)
def test_request_round_trip(message: Any) -> None:
    assert CODEC.decode_request(CODEC.encode(message)) == _as_received(message)


@given(responses)
def test_response_round_trip(message: Any) -> None:
    assert CODEC.decode_response(CODEC.encode(message)) == message


@given(st.binary(max_size=64))
def test_arbitrary_bytes_never_escape_as_other_errors(wire: bytes) -> None:
    # Anything at all: a message or WireError, never another exception.
    for decode in (CODEC.decode_broadcast, CODEC.decode_request, CODEC.decode_response):
        with contextlib.suppress(WireError):
            decode(wire)
