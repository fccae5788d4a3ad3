"""The messages of request forwarding between nodes (socketwire.engineio.forwarding)."""

from __future__ import annotations

from typing import Any

import msgpack  # type: ignore[import-untyped]
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from socketwire.engineio.forwarding import (
    MAX_HEADERS,
    SOURCE,
    Forward,
    ForwardType,
    ForwardWireError,
    HttpAnswerMessage,
    HttpRequestMessage,
    TunnelClose,
    TunnelData,
    TunnelFlow,
    UpgradeAnswer,
    decode_forward,
    encode_forward,
)

LIMIT = 1 << 20
OPENER = "Babcd"
OWNER = "Awxyz"
REQUEST = HttpRequestMessage(
    "POST",
    "/socket.io/?EIO=4&transport=polling&sid=Awxyz0123456789abcde",
    (("content-type", "text/plain;charset=UTF-8"), ("origin", "http://a.example")),
    b'42["chat","hi"]',
    ("127.0.0.1", 51000),
    False,
)

# (message, what goes on the wire: the msgpack map, decoded)
TABLE: list[tuple[Forward, dict[str, Any]]] = [
    (
        Forward(ForwardType.REQUEST, OPENER, OWNER, 7, REQUEST),
        {
            "_source": "socketwire",
            "type": 0,
            "senderId": OPENER,
            "recipientId": OWNER,
            "requestId": 7,
            "data": {
                "method": "POST",
                "target": REQUEST.target,
                "headers": [list(pair) for pair in REQUEST.headers],
                "body": b'42["chat","hi"]',
                "remoteAddress": ["127.0.0.1", 51000],
                "secure": False,
            },
        },
    ),
    (
        Forward(
            ForwardType.RESPONSE,
            OWNER,
            OPENER,
            7,
            HttpAnswerMessage(200, (("Content-Type", "text/html"),), b"ok"),
        ),
        {
            "_source": "socketwire",
            "type": 1,
            "senderId": OWNER,
            "recipientId": OPENER,
            "requestId": 7,
            "data": {"status": 200, "headers": [["Content-Type", "text/html"]], "body": b"ok"},
        },
    ),
    (
        Forward(ForwardType.ABORT, OPENER, OWNER, 8),
        {
            "_source": "socketwire",
            "type": 2,
            "senderId": OPENER,
            "recipientId": OWNER,
            "requestId": 8,
            "data": {},
        },
    ),
    (
        Forward(
            ForwardType.UPGRADE,
            OPENER,
            OWNER,
            9,
            HttpRequestMessage("GET", "/socket.io/?EIO=4&transport=websocket&sid=x", ()),
        ),
        {
            "_source": "socketwire",
            "type": 3,
            "senderId": OPENER,
            "recipientId": OWNER,
            "requestId": 9,
            "data": {
                "method": "GET",
                "target": "/socket.io/?EIO=4&transport=websocket&sid=x",
                "headers": [],
                "body": b"",
                "remoteAddress": None,
                "secure": False,
            },
        },
    ),
    (
        Forward(ForwardType.UPGRADE_RESPONSE, OWNER, OPENER, 9, UpgradeAnswer(True)),
        {
            "_source": "socketwire",
            "type": 4,
            "senderId": OWNER,
            "recipientId": OPENER,
            "requestId": 9,
            "data": {"accepted": True, "status": 101, "headers": [], "body": b""},
        },
    ),
    (
        Forward(ForwardType.CLIENT_MESSAGE, OPENER, OWNER, 9, TunnelData("2probe")),
        {
            "_source": "socketwire",
            "type": 5,
            "senderId": OPENER,
            "recipientId": OWNER,
            "requestId": 9,
            "data": {"data": "2probe"},
        },
    ),
    (
        Forward(ForwardType.SERVER_MESSAGE, OWNER, OPENER, 9, TunnelData(b"\x01\x02")),
        {
            "_source": "socketwire",
            "type": 6,
            "senderId": OWNER,
            "recipientId": OPENER,
            "requestId": 9,
            "data": {"data": b"\x01\x02"},
        },
    ),
    (
        Forward(ForwardType.CLIENT_CLOSE, OPENER, OWNER, 9, TunnelClose(1001)),
        {
            "_source": "socketwire",
            "type": 7,
            "senderId": OPENER,
            "recipientId": OWNER,
            "requestId": 9,
            "data": {"code": 1001, "reason": ""},
        },
    ),
    (
        Forward(ForwardType.SERVER_CLOSE, OWNER, OPENER, 9, TunnelClose(1000, "bye")),
        {
            "_source": "socketwire",
            "type": 8,
            "senderId": OWNER,
            "recipientId": OPENER,
            "requestId": 9,
            "data": {"code": 1000, "reason": "bye"},
        },
    ),
    (
        Forward(ForwardType.FLOW, OWNER, OPENER, 9, TunnelFlow(True)),
        {
            "_source": "socketwire",
            "type": 9,
            "senderId": OWNER,
            "recipientId": OPENER,
            "requestId": 9,
            "data": {"paused": True},
        },
    ),
]


@pytest.mark.parametrize(("message", "wire"), TABLE, ids=[m.type.name for m, _ in TABLE])
def test_each_message_on_the_wire(message: Forward, wire: dict[str, Any]) -> None:
    data = encode_forward(message)
    assert msgpack.unpackb(data, raw=False) == wire
    assert decode_forward(data, max_size=LIMIT) == message
    # what a peer packs the same way reads the same
    assert decode_forward(msgpack.packb(wire, use_bin_type=True), max_size=LIMIT) == message


def test_every_type_is_in_the_table() -> None:
    assert {message.type for message, _ in TABLE} == set(ForwardType)


def test_a_body_that_is_not_the_types_is_not_encoded() -> None:
    with pytest.raises(ForwardWireError, match="REQUEST carries HttpRequestMessage"):
        encode_forward(Forward(ForwardType.REQUEST, OPENER, OWNER, 1, TunnelData("x")))


def test_a_message_over_the_limit_is_refused_before_it_is_read() -> None:
    data = encode_forward(
        Forward(ForwardType.CLIENT_MESSAGE, OPENER, OWNER, 1, TunnelData("x" * 100))
    )
    assert decode_forward(data, max_size=len(data)).body == TunnelData("x" * 100)
    with pytest.raises(ForwardWireError, match="limit"):
        decode_forward(data, max_size=len(data) - 1)


def _envelope(**changes: Any) -> bytes:
    wire = dict(TABLE[0][1])
    for key, value in changes.items():
        if value is _DROP:
            wire.pop(key)
        else:
            wire[key] = value
    packed: bytes = msgpack.packb(wire, use_bin_type=True)
    return packed


def _data(**changes: Any) -> bytes:
    data = dict(TABLE[0][1]["data"])
    for key, value in changes.items():
        if value is _DROP:
            data.pop(key)
        else:
            data[key] = value
    return _envelope(data=data)


_DROP = object()


@pytest.mark.parametrize(
    ("data", "match"),
    [
        (b"", "not msgpack"),
        (b"\xc1", "not msgpack"),
        (b"\x92\x01", "not msgpack"),
        (msgpack.packb([1, 2]), "not a socketwire"),
        (msgpack.packb("text"), "not a socketwire"),
        (_envelope(_source="_eio"), "not a socketwire"),  # @socket.io/cluster-engine's
        (_envelope(_source=_DROP), "not a socketwire"),
        (_envelope(type=99), "unknown message type"),
        (_envelope(type="0"), "type is not an integer"),
        (_envelope(type=True), "type is not an integer"),
        (_envelope(senderId="Ab"), "not a node id"),
        (_envelope(senderId="Ab/cd"), "not a node id"),
        (_envelope(recipientId=None), "not a node id"),
        (_envelope(requestId=-1), "out of range"),
        (_envelope(requestId=2**53), "out of range"),
        (_envelope(requestId=1.5), "requestId is not an integer"),
        (_envelope(data=[1]), "data is not a map"),
        (_data(method=1), "method is not a string"),
        (_data(target="socket.io/"), "not a request target"),
        (_data(target=_DROP), "target is not a string"),
        (_data(body="text"), "body is not binary"),
        (_data(secure=1), "secure is not a boolean"),
        (_data(remoteAddress=["127.0.0.1"]), "remoteAddress"),
        (_data(remoteAddress=["127.0.0.1", "80"]), "remoteAddress"),
        (_data(headers={"a": "b"}), "headers are not a list"),
        (_data(headers=[["a", "b"]] * (MAX_HEADERS + 1)), "headers are not a list"),
        (_data(headers=[["a"]]), "not a header line"),
        (_data(headers=[["a", 1]]), "not a header line"),
        (_data(headers=[["x-a", "b\r\nx-evil: 1"]]), "not a header line"),
        (_data(headers=[["x:a", "b"]]), "not a header line"),
        (_data(headers=[["", "b"]]), "not a header line"),
    ],
)
def test_what_is_not_a_message_is_refused(data: bytes, match: str) -> None:
    with pytest.raises(ForwardWireError, match=match):
        decode_forward(data, max_size=LIMIT)


@pytest.mark.parametrize(
    ("kind", "data", "match"),
    [
        (ForwardType.RESPONSE, {"status": 99, "headers": [], "body": b""}, "not an HTTP status"),
        (ForwardType.RESPONSE, {"status": 600, "headers": [], "body": b""}, "not an HTTP status"),
        (ForwardType.RESPONSE, {"status": 200, "headers": [], "body": None}, "body"),
        (
            ForwardType.UPGRADE_RESPONSE,
            {"accepted": 1, "status": 101, "headers": [], "body": b""},
            "accepted",
        ),
        (ForwardType.CLIENT_MESSAGE, {"data": 5}, "text or binary"),
        (ForwardType.SERVER_MESSAGE, {}, "text or binary"),
        (ForwardType.CLIENT_CLOSE, {"code": 5000, "reason": ""}, "not a close code"),
        (ForwardType.SERVER_CLOSE, {"code": 1000, "reason": 1}, "reason"),
        (ForwardType.FLOW, {"paused": "yes"}, "paused"),
    ],
)
def test_a_body_with_a_wrong_field_is_refused(
    kind: ForwardType, data: dict[str, Any], match: str
) -> None:
    raw = _envelope(type=int(kind), data=data)
    with pytest.raises(ForwardWireError, match=match):
        decode_forward(raw, max_size=LIMIT)


#: Generating nested values is slow on a busy machine; the examples are what matters.
FUZZ = settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@FUZZ
@given(st.binary(max_size=512))
def test_any_bytes_decode_or_are_refused(data: bytes) -> None:
    try:
        message = decode_forward(data, max_size=LIMIT)
    except ForwardWireError:
        return
    assert isinstance(message, Forward)


_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**63), max_value=2**64 - 1)
    | st.text(max_size=8)
    | st.binary(max_size=8),
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=6), inner, max_size=3)
    ),
    max_leaves=10,
)


@FUZZ
@given(
    st.sampled_from(list(ForwardType)),
    st.dictionaries(
        st.sampled_from(
            [
                "method",
                "target",
                "headers",
                "body",
                "remoteAddress",
                "secure",
                "status",
                "accepted",
                "data",
                "code",
                "reason",
                "paused",
            ]
        ),
        _values,
    ),
)
def test_any_data_of_a_known_type_decodes_or_is_refused(
    kind: ForwardType, data: dict[str, Any]
) -> None:
    raw = _envelope(type=int(kind), data=data)
    try:
        message = decode_forward(raw, max_size=LIMIT)
    except ForwardWireError:
        return
    assert message.type is kind
    assert decode_forward(encode_forward(message), max_size=LIMIT) == message


def test_source_is_socketwires() -> None:
    assert SOURCE == "socketwire"
