"""The ClusterAdapter envelopes and their two codecs (sharded pub/sub, Redis streams).

msgpack vectors: notepack.io 2.2 for the sharded adapter, @msgpack/msgpack 2.8 for the
streams adapter, each from the JS object shown.
"""

from __future__ import annotations

import base64
import contextlib
from typing import Any

import msgpack  # type: ignore[import-untyped]
import pytest
from hypothesis import given
from hypothesis import strategies as st
from wire_strategies import json_values, messages, sessions
from wire_strategies import values as any_values

from socketwire.adapters.wire import (
    ShardedCodec,
    StreamsCodec,
    WireError,
    WireFlags,
    WireOptions,
    WireSession,
    is_ephemeral,
)
from socketwire.adapters.wire.cluster import (
    AdapterClose,
    BroadcastAck,
    BroadcastClientCount,
    ClusterBroadcast,
    ClusterMessage,
    DisconnectSockets,
    FetchSockets,
    FetchSocketsResponse,
    Heartbeat,
    InitialHeartbeat,
    MessageType,
    ServerSideEmit,
    ServerSideEmitResponse,
    SocketsJoin,
    SocketsLeave,
    from_envelope,
    message_type,
)
from socketwire.socketio import Packet, PacketType

SHARDED = ShardedCodec()
STREAMS = StreamsCodec()
EVENT = PacketType.EVENT
UID = "0123456789abcdef"
RID = "fedcba9876543210"

JSON_VECTORS: list[tuple[ClusterMessage, bytes]] = [
    (InitialHeartbeat(UID, "/"), b'{"type":1,"uid":"0123456789abcdef","nsp":"/"}'),
    (Heartbeat(UID, "/"), b'{"type":2,"uid":"0123456789abcdef","nsp":"/"}'),
    (AdapterClose(UID, "/a"), b'{"type":13,"uid":"0123456789abcdef","nsp":"/a"}'),
    (
        ClusterBroadcast(UID, "/", Packet(EVENT, "/", ["e", 1]), WireOptions(rooms=("r",))),
        b'{"type":3,"data":{"packet":{"type":2,"data":["e",1]},'
        b'"opts":{"rooms":["r"],"except":[],"flags":{}}},"uid":"0123456789abcdef","nsp":"/"}',
    ),
    (
        ClusterBroadcast(
            UID, "/", Packet(EVENT, "/", ["e"]), WireOptions(flags=WireFlags(timeout=5)), RID
        ),
        b'{"type":3,"data":{"packet":{"type":2,"data":["e"]},"requestId":"fedcba9876543210",'
        b'"opts":{"rooms":[],"except":[],"flags":{"timeout":5}}},'
        b'"uid":"0123456789abcdef","nsp":"/"}',
    ),
    (
        SocketsJoin(UID, "/", WireOptions(except_=("x",)), ("a", "b")),
        b'{"type":4,"data":{"opts":{"rooms":[],"except":["x"],"flags":{}},"rooms":["a","b"]},'
        b'"uid":"0123456789abcdef","nsp":"/"}',
    ),
    (
        SocketsLeave(UID, "/", WireOptions(), ("a",)),
        b'{"type":5,"data":{"opts":{"rooms":[],"except":[],"flags":{}},"rooms":["a"]},'
        b'"uid":"0123456789abcdef","nsp":"/"}',
    ),
    (
        DisconnectSockets(UID, "/", WireOptions(), True),
        b'{"type":6,"data":{"opts":{"rooms":[],"except":[],"flags":{}},"close":true},'
        b'"uid":"0123456789abcdef","nsp":"/"}',
    ),
    (
        FetchSockets(UID, "/", WireOptions(rooms=("r",)), RID),
        b'{"type":7,"data":{"opts":{"rooms":["r"],"except":[],"flags":{}},'
        b'"requestId":"fedcba9876543210"},"uid":"0123456789abcdef","nsp":"/"}',
    ),
    (
        FetchSocketsResponse(UID, "/", RID, ()),
        b'{"type":8,"data":{"requestId":"fedcba9876543210","sockets":[]},'
        b'"uid":"0123456789abcdef","nsp":"/"}',
    ),
    (
        ServerSideEmit(UID, "/", ["e", {"k": None}]),
        b'{"type":9,"data":{"packet":["e",{"k":null}]},"uid":"0123456789abcdef","nsp":"/"}',
    ),
    (
        ServerSideEmit(UID, "/", ["e"], RID),
        b'{"type":9,"data":{"requestId":"fedcba9876543210","packet":["e"]},'
        b'"uid":"0123456789abcdef","nsp":"/"}',
    ),
    (
        ServerSideEmitResponse(UID, "/", RID, "pong"),
        b'{"type":10,"data":{"requestId":"fedcba9876543210","packet":"pong"},'
        b'"uid":"0123456789abcdef","nsp":"/"}',
    ),
    (
        BroadcastClientCount(UID, "/", RID, 3),
        b'{"type":11,"data":{"requestId":"fedcba9876543210","clientCount":3},'
        b'"uid":"0123456789abcdef","nsp":"/"}',
    ),
    (
        BroadcastAck(UID, "/", RID, [1]),
        b'{"type":12,"data":{"requestId":"fedcba9876543210","packet":[1]},'
        b'"uid":"0123456789abcdef","nsp":"/"}',
    ),
]


@pytest.mark.parametrize(("message", "wire"), JSON_VECTORS)
def test_sharded_json_vectors(message: ClusterMessage, wire: bytes) -> None:
    assert SHARDED.encode(message) == wire
    assert SHARDED.decode(wire) == message


def test_sharded_msgpack_when_binary() -> None:
    # {type:3,data:{packet:{type:2,data:["b",Buffer<09>]},opts:{rooms:[],except:[],flags:{}}},
    #  uid:"0123456789abcdef",nsp:"/"}
    wire = bytes.fromhex(
        "84a47479706503a46461746182a67061636b657482a47479706502a46461746192a162c40109a46f707473"
        "83a5726f6f6d7390a665786365707490a5666c61677380a3756964b0303132333435363738396162636465"
        "66a36e7370a12f"
    )
    message = ClusterBroadcast(UID, "/", Packet(EVENT, "/", ["b", b"\x09"]), WireOptions())
    assert SHARDED.encode(message) == wire
    assert SHARDED.decode(wire) == message


def test_sharded_binary_only_switches_types_that_may_carry_it() -> None:
    # Join/leave/disconnect carry no binary in Node; a room name never is bytes. Fetch
    # responses, emits and acks do switch.
    for message in (
        FetchSocketsResponse(UID, "/", RID, ()),
        ServerSideEmit(UID, "/", ["e", b"\x00"]),
        ServerSideEmitResponse(UID, "/", RID, b"\x00"),
        BroadcastAck(UID, "/", RID, {"b": b""}),
    ):
        wire = SHARDED.encode(message)
        assert (wire[:1] == b"{") is not isinstance(
            message, ServerSideEmit | ServerSideEmitResponse | BroadcastAck
        )
        assert SHARDED.decode(wire) == message


def test_packet_namespace_comes_from_the_envelope() -> None:
    wire = b'{"type":3,"data":{"packet":{"type":2,"data":["e"]},"opts":{}},"uid":"u","nsp":"/x"}'
    decoded = SHARDED.decode(wire)
    assert isinstance(decoded, ClusterBroadcast)
    assert decoded.packet == Packet(EVENT, "/x", ["e"])
    assert decoded.opts == WireOptions()
    # A packet naming another namespace still belongs to the envelope's (Node overwrites it).
    other = wire.replace(b'"data":["e"]}', b'"data":["e"],"nsp":"/y"}')
    decoded = SHARDED.decode(other)
    assert isinstance(decoded, ClusterBroadcast)
    assert decoded.packet.nsp == "/x"


# -- streams --------------------------------------------------------------------------------

ENTRY_VECTORS: list[tuple[ClusterMessage, dict[str, str]]] = [
    (
        ClusterBroadcast(UID, "/", Packet(EVENT, "/", ["e"]), WireOptions()),
        {
            "uid": UID,
            "nsp": "/",
            "type": "3",
            "data": '{"packet":{"type":2,"data":["e"]},"opts":{"rooms":[],"except":[],"flags":{}}}',
        },
    ),
    (
        # data: base64 of @msgpack/msgpack {packet:{type:2,data:["b",Buffer<01>]},opts:{...}}
        ClusterBroadcast(UID, "/", Packet(EVENT, "/", ["b", b"\x01"]), WireOptions()),
        {
            "uid": UID,
            "nsp": "/",
            "type": "3",
            "data": "gqZwYWNrZXSCpHR5cGUCpGRhdGGSoWLEAQGkb3B0c4Olcm9vbXOQpmV4Y2VwdJClZmxhZ3OA",
        },
    ),
    (
        SocketsJoin(UID, "/a", WireOptions(rooms=("r",)), ("j",)),
        {
            "uid": UID,
            "nsp": "/a",
            "type": "4",
            "data": '{"opts":{"rooms":["r"],"except":[],"flags":{}},"rooms":["j"]}',
        },
    ),
    (
        DisconnectSockets(UID, "/", WireOptions(), False),
        {
            "uid": UID,
            "nsp": "/",
            "type": "6",
            "data": '{"opts":{"rooms":[],"except":[],"flags":{}},"close":false}',
        },
    ),
    (Heartbeat(UID, "/"), {"uid": UID, "nsp": "/", "type": "2"}),
]


@pytest.mark.parametrize(("message", "fields"), ENTRY_VECTORS)
def test_stream_entry_vectors(message: ClusterMessage, fields: dict[str, str]) -> None:
    assert STREAMS.encode_entry(message) == fields
    assert STREAMS.decode_entry(fields) == message
    # redis-py without decode_responses hands back bytes.
    assert STREAMS.decode_entry({k.encode(): v.encode() for k, v in fields.items()}) == message


def test_only_plaintext_keeps_binary_in_json() -> None:
    message = ClusterBroadcast(UID, "/", Packet(EVENT, "/", ["b", b"\x01"]), WireOptions())
    fields = StreamsCodec(only_plaintext=True).encode_entry(message)
    assert fields["data"] == (
        '{"packet":{"type":2,"data":["b",{"type":"Buffer","data":[1]}]},'
        '"opts":{"rooms":[],"except":[],"flags":{}}}'
    )


PUBSUB_VECTORS: list[tuple[ClusterMessage, str]] = [
    (
        # {type:7,data:{opts:{rooms:["r"],except:[],flags:{}},requestId:RID},uid:UID,nsp:"/"}
        FetchSockets(UID, "/", WireOptions(rooms=("r",)), RID),
        "84a47479706507a46461746182a46f70747383a5726f6f6d7391a172a665786365707490a5666c616773"
        "80a9726571756573744964b066656463626139383736353433323130a3756964b03031323334353637383961"
        "6263646566a36e7370a12f",
    ),
    (
        # {type:12,data:{requestId:RID,packet:undefined},uid:UID,nsp:"/"}: undefined is nil
        BroadcastAck(UID, "/", RID, None),
        "84a4747970650ca46461746182a9726571756573744964b066656463626139383736353433323130a67061"
        "636b6574c0a3756964b030313233343536373839616263646566a36e7370a12f",
    ),
]


@pytest.mark.parametrize(("message", "wire"), PUBSUB_VECTORS)
def test_stream_pubsub_vectors(message: ClusterMessage, wire: str) -> None:
    assert STREAMS.encode_pubsub(message) == bytes.fromhex(wire)
    assert STREAMS.decode_pubsub(bytes.fromhex(wire)) == message


def test_session_vector() -> None:
    # base64(@msgpack/msgpack {sid:"s1",pid:"p1",rooms:["s1","r"],data:{n:1}})
    raw = "hKNzaWSiczGjcGlkonAxpXJvb21zkqJzMaFypGRhdGGBoW4B"
    session = WireSession("s1", "p1", ("s1", "r"), {"n": 1})
    assert STREAMS.encode_session(session) == raw
    assert STREAMS.decode_session(raw) == session
    assert STREAMS.decode_session(raw.encode()) == session


def test_ephemeral_messages() -> None:
    packet = Packet(EVENT, "/", ["e"])
    assert is_ephemeral(ClusterBroadcast(UID, "/", packet, WireOptions(), RID))
    assert not is_ephemeral(ClusterBroadcast(UID, "/", packet, WireOptions()))
    assert is_ephemeral(ServerSideEmit(UID, "/", ["e"]))
    assert is_ephemeral(FetchSockets(UID, "/", WireOptions(), RID))
    assert not is_ephemeral(SocketsJoin(UID, "/", WireOptions(), ()))
    with pytest.raises(WireError, match="ephemeral"):
        STREAMS.encode_entry(ServerSideEmit(UID, "/", ["e"]))


MALFORMED_ENVELOPES: list[Any] = [
    [],
    {"type": 3, "uid": "u", "nsp": "/"},  # no data
    {"type": 0, "uid": "u", "nsp": "/"},
    {"type": 14, "uid": "u", "nsp": "/"},
    {"type": "3", "uid": "u", "nsp": "/", "data": {}},
    {"type": True, "uid": "u", "nsp": "/"},
    {"type": 1, "nsp": "/"},
    {"type": 1, "uid": "u"},
    {"type": 1, "uid": "u", "nsp": 5},
    {"type": 3, "uid": "u", "nsp": "/", "data": {"packet": {"type": 2, "data": ["e"]}}},
    {"type": 3, "uid": "u", "nsp": "/", "data": {"packet": {"type": 2}, "opts": {}}},
    {"type": 3, "uid": "u", "nsp": "/", "data": {"packet": [2], "opts": {}}},
    {"type": 4, "uid": "u", "nsp": "/", "data": {"opts": {}, "rooms": "r"}},
    {"type": 4, "uid": "u", "nsp": "/", "data": {"rooms": []}},
    {"type": 6, "uid": "u", "nsp": "/", "data": {"opts": {}, "close": 1}},
    {"type": 7, "uid": "u", "nsp": "/", "data": {"opts": {}}},
    {"type": 8, "uid": "u", "nsp": "/", "data": {"requestId": "r"}},
    {"type": 8, "uid": "u", "nsp": "/", "data": {"requestId": "r", "sockets": [1]}},
    {"type": 9, "uid": "u", "nsp": "/", "data": {"packet": []}},
    {"type": 9, "uid": "u", "nsp": "/", "data": {"packet": ["e"], "requestId": 1}},
    {"type": 10, "uid": "u", "nsp": "/", "data": {"packet": 1}},
    {"type": 11, "uid": "u", "nsp": "/", "data": {"requestId": "r", "clientCount": "1"}},
    {"type": 12, "uid": "u", "nsp": "/", "data": []},
]


@pytest.mark.parametrize("envelope", MALFORMED_ENVELOPES)
def test_malformed_envelopes(envelope: Any) -> None:
    with pytest.raises(WireError):
        from_envelope(envelope)
    with pytest.raises(WireError):
        SHARDED.decode(msgpack.packb(envelope))
    with pytest.raises(WireError):
        STREAMS.decode_pubsub(msgpack.packb(envelope))


MALFORMED_ENTRIES: list[dict[str, str]] = [
    {"uid": "u", "nsp": "/"},
    {"uid": "u", "nsp": "/", "type": "x"},
    {"uid": "u", "nsp": "/", "type": "3x"},
    {"uid": "u", "nsp": "/", "type": "99"},
    {"uid": "u", "nsp": "/", "type": "-3"},
    {"uid": "u", "type": "2"},
    {"nsp": "/", "type": "2"},
    {"uid": "u", "nsp": "/", "type": "3"},
    {"uid": "u", "nsp": "/", "type": "3", "data": "{"},
    {"uid": "u", "nsp": "/", "type": "3", "data": "not base64!"},
    {"uid": "u", "nsp": "/", "type": "3", "data": base64.b64encode(b"\xc1").decode()},
    {"uid": "u", "nsp": "/", "type": "3", "data": base64.b64encode(msgpack.packb([1])).decode()},
]


@pytest.mark.parametrize("fields", MALFORMED_ENTRIES)
def test_malformed_entries(fields: dict[str, str]) -> None:
    with pytest.raises(WireError):
        STREAMS.decode_entry(fields)


def test_malformed_entry_bytes() -> None:
    with pytest.raises(WireError):
        STREAMS.decode_entry({b"uid": b"\xff", b"nsp": b"/", b"type": b"2"})


@pytest.mark.parametrize(
    "raw", ["", "!!", base64.b64encode(b"\x91\x01").decode(), base64.b64encode(b"\x80").decode()]
)
def test_malformed_sessions(raw: str) -> None:
    with pytest.raises(WireError):
        STREAMS.decode_session(raw)


def test_streams_msgpack_refuses_ext_types() -> None:
    # notepack's undefined (d4 00 00) means nothing to @msgpack/msgpack: refused.
    envelope = msgpack.packb(
        {"type": 12, "data": {"requestId": "r", "packet": 0}, "uid": "u", "nsp": "/"}
    )
    with pytest.raises(WireError):
        STREAMS.decode_pubsub(envelope.replace(b"\xa6packet\x00", b"\xa6packet\xd4\x00\x00"))
    assert SHARDED.decode(envelope.replace(b"\xa6packet\x00", b"\xa6packet\xd4\x00\x00")) == (
        BroadcastAck("u", "/", "r", None)
    )


def test_message_type_of_a_stranger() -> None:
    with pytest.raises(WireError):
        message_type("x")  # type: ignore[arg-type]
    with pytest.raises(WireError):
        SHARDED.encode(object())  # type: ignore[arg-type]


# -- round trips ----------------------------------------------------------------------------


@given(messages(any_values))
def test_sharded_round_trip(message: ClusterMessage) -> None:
    assert SHARDED.decode(SHARDED.encode(message)) == message


@given(messages(any_values))
def test_streams_round_trip(message: ClusterMessage) -> None:
    assert STREAMS.decode_pubsub(STREAMS.encode_pubsub(message)) == message
    if not is_ephemeral(message):
        assert STREAMS.decode_entry(STREAMS.encode_entry(message)) == message


@given(messages(json_values))
def test_plaintext_entries_round_trip(message: ClusterMessage) -> None:
    if not is_ephemeral(message):
        codec = StreamsCodec(only_plaintext=True)
        assert codec.decode_entry(codec.encode_entry(message)) == message


@given(sessions)
def test_session_round_trip(session: WireSession) -> None:
    assert STREAMS.decode_session(STREAMS.encode_session(session)) == session


@given(st.binary(max_size=64))
def test_arbitrary_bytes_never_escape_as_other_errors(wire: bytes) -> None:
    # Anything at all: a message or WireError, never another exception.
    for decode in (SHARDED.decode, STREAMS.decode_pubsub, STREAMS.decode_session):
        with contextlib.suppress(WireError):
            decode(wire)


def test_every_type_has_a_message() -> None:
    codes = {message_type(m) for m, _ in JSON_VECTORS}
    assert codes == set(MessageType)
