"""The PostgreSQL adapter's wire format: notifications, attachment headers and rows.

Every vector below was captured from two Node servers running ``@socket.io/postgres-adapter``
0.5.0 (socket.io 4.8.4, pg 8.23.1, @msgpack/msgpack 2.8.0) on PostgreSQL 15: the payloads as
LISTEN received them, and the attachment rows as ``SELECT payload`` returned them.
"""

from __future__ import annotations

import contextlib
from typing import Any

import msgpack  # type: ignore[import-untyped]
import pytest
from hypothesis import given
from hypothesis import strategies as st
from wire_strategies import messages
from wire_strategies import values as any_values

from socketwire.adapters.wire import WireError, WireFlags, WireHandshake, WireOptions, WireSocket
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
    message_type,
)
from socketwire.adapters.wire.postgres import (
    Attachment,
    AttachmentHeader,
    Notification,
    PostgresCodec,
    channel_name,
    check_table_name,
)
from socketwire.socketio import Packet, PacketType

CODEC = PostgresCodec()
EVENT = PacketType.EVENT
A = "ff6e07d569bb62f5"  # node A's uid in the capture
B = "795ad979fa4e0034"  # node B's


def _event(*data: Any) -> Packet:
    return Packet(EVENT, "/", list(data))


_HANDSHAKE = WireHandshake(
    headers={
        "sec-websocket-version": "13",
        "sec-websocket-key": "bEr4BcDz5z3l4y7qwQpMRw==",
        "connection": "Upgrade",
        "upgrade": "websocket",
        "sec-websocket-extensions": "permessage-deflate; client_max_window_bits",
        "host": "127.0.0.1:40387",
    },
    time="Sun Dec 06 2026 23:37:33 GMT+0000 (Coordinated Universal Time)",
    address="127.0.0.1",
    xdomain=False,
    secure=False,
    issued=1796600253010,
    url="/socket.io/?EIO=4&transport=websocket",
    query={"EIO": "4", "transport": "websocket"},
    auth={"rooms": ["red"], "data": {"name": "b1"}},
)

#: (message, the notification payload Node sent for it)
NOTIFICATIONS: list[tuple[ClusterMessage, str]] = [
    (InitialHeartbeat(A, "/"), '{"type":1,"uid":"ff6e07d569bb62f5","nsp":"/"}'),
    (Heartbeat(A, "/"), '{"type":2,"uid":"ff6e07d569bb62f5","nsp":"/"}'),
    (
        ClusterBroadcast(A, "/", _event("news", "é🎉", {"n": 1, "l": [True, None]}), WireOptions()),
        '{"type":3,"data":{"packet":{"type":2,"data":["news","é🎉",{"n":1,"l":[true,null]}]},'
        '"opts":{"rooms":[],"except":[],"flags":{}}},"uid":"ff6e07d569bb62f5","nsp":"/"}',
    ),
    (
        ClusterBroadcast(
            A, "/", _event("hello", "red only"), WireOptions(rooms=("red",), except_=("blue",))
        ),
        '{"type":3,"data":{"packet":{"type":2,"data":["hello","red only"]},'
        '"opts":{"rooms":["red"],"except":["blue"],"flags":{}}},'
        '"uid":"ff6e07d569bb62f5","nsp":"/"}',
    ),
    (
        ClusterBroadcast(A, "/", _event("v", 1), WireOptions(flags=WireFlags(volatile=True))),
        '{"type":3,"data":{"packet":{"type":2,"data":["v",1]},'
        '"opts":{"rooms":[],"except":[],"flags":{"volatile":true}}},'
        '"uid":"ff6e07d569bb62f5","nsp":"/"}',
    ),
    (
        ClusterBroadcast(A, "/", _event("c", 1), WireOptions(flags=WireFlags(compress=False))),
        '{"type":3,"data":{"packet":{"type":2,"data":["c",1]},'
        '"opts":{"rooms":[],"except":[],"flags":{"compress":false}}},'
        '"uid":"ff6e07d569bb62f5","nsp":"/"}',
    ),
    (
        ClusterBroadcast(
            A,
            "/",
            _event("ask", 1),
            WireOptions(flags=WireFlags(timeout=2000)),
            "4a055a27736ce964",
        ),
        '{"type":3,"data":{"packet":{"type":2,"data":["ask",1]},"requestId":"4a055a27736ce964",'
        '"opts":{"rooms":[],"except":[],"flags":{"timeout":2000}}},'
        '"uid":"ff6e07d569bb62f5","nsp":"/"}',
    ),
    (
        SocketsJoin(A, "/", WireOptions(rooms=("red",)), ("green",)),
        '{"type":4,"data":{"opts":{"rooms":["red"],"except":[],"flags":{}},"rooms":["green"]},'
        '"uid":"ff6e07d569bb62f5","nsp":"/"}',
    ),
    (
        SocketsLeave(A, "/", WireOptions(rooms=("red",)), ("green",)),
        '{"type":5,"data":{"opts":{"rooms":["red"],"except":[],"flags":{}},"rooms":["green"]},'
        '"uid":"ff6e07d569bb62f5","nsp":"/"}',
    ),
    (
        DisconnectSockets(A, "/", WireOptions(rooms=("nobody",)), False),
        '{"type":6,"data":{"opts":{"rooms":["nobody"],"except":[],"flags":{}},"close":false},'
        '"uid":"ff6e07d569bb62f5","nsp":"/"}',
    ),
    (
        FetchSockets(A, "/", WireOptions(), "916214b7f1b56da6"),
        '{"type":7,"data":{"opts":{"rooms":[],"except":[],"flags":{}},'
        '"requestId":"916214b7f1b56da6"},"uid":"ff6e07d569bb62f5","nsp":"/"}',
    ),
    (
        FetchSocketsResponse(
            B,
            "/",
            "916214b7f1b56da6",
            (
                WireSocket(
                    "54FKY3GxNYNwoF4cAAAA",
                    _HANDSHAKE,
                    ("54FKY3GxNYNwoF4cAAAA", "red"),
                    {"name": "b1"},
                ),
            ),
        ),
        '{"type":8,"data":{"requestId":"916214b7f1b56da6","sockets":[{"id":"54FKY3GxNYNwoF4cAAAA",'
        '"handshake":{"headers":{"sec-websocket-version":"13",'
        '"sec-websocket-key":"bEr4BcDz5z3l4y7qwQpMRw==","connection":"Upgrade",'
        '"upgrade":"websocket","sec-websocket-extensions":'
        '"permessage-deflate; client_max_window_bits","host":"127.0.0.1:40387"},'
        '"time":"Sun Dec 06 2026 23:37:33 GMT+0000 (Coordinated Universal Time)",'
        '"address":"127.0.0.1","xdomain":false,"secure":false,"issued":1796600253010,'
        '"url":"/socket.io/?EIO=4&transport=websocket",'
        '"query":{"EIO":"4","transport":"websocket"},'
        '"auth":{"rooms":["red"],"data":{"name":"b1"}}},'
        '"rooms":["54FKY3GxNYNwoF4cAAAA","red"],"data":{"name":"b1"}}]},'
        '"uid":"795ad979fa4e0034","nsp":"/"}',
    ),
    (
        ServerSideEmit(A, "/", ["note", {"k": [1]}]),
        '{"type":9,"data":{"packet":["note",{"k":[1]}]},"uid":"ff6e07d569bb62f5","nsp":"/"}',
    ),
    (
        ServerSideEmit(A, "/", ["sse", 1], "83d930151465de8c"),
        '{"type":9,"data":{"requestId":"83d930151465de8c","packet":["sse",1]},'
        '"uid":"ff6e07d569bb62f5","nsp":"/"}',
    ),
    (
        ServerSideEmitResponse(B, "/", "83d930151465de8c", {"node": "B", "args": [1]}),
        '{"type":10,"data":{"requestId":"83d930151465de8c","packet":{"node":"B","args":[1]}},'
        '"uid":"795ad979fa4e0034","nsp":"/"}',
    ),
    (
        BroadcastClientCount(B, "/", "4a055a27736ce964", 1),
        '{"type":11,"data":{"requestId":"4a055a27736ce964","clientCount":1},'
        '"uid":"795ad979fa4e0034","nsp":"/"}',
    ),
    (
        BroadcastAck(B, "/", "4a055a27736ce964", "answer"),
        '{"type":12,"data":{"requestId":"4a055a27736ce964","packet":"answer"},'
        '"uid":"795ad979fa4e0034","nsp":"/"}',
    ),
    (AdapterClose(B, "/"), '{"type":13,"uid":"795ad979fa4e0034","nsp":"/"}'),
]

_BIG_HEAD = bytes.fromhex(
    "84a47479706503a46461746182a67061636b657482a47479706502a46461746192a3626967da2328"
)
_TAIL_A = bytes.fromhex(
    "a46f70747383a5726f6f6d7390a665786365707490a5666c61677380"
    "a3756964b066663665303764353639626236326635a36e7370a12f"
)

#: (message, the header Node notified, the attachment row it inserted)
ATTACHMENTS: list[tuple[ClusterMessage, str, bytes]] = [
    (
        # io.emit("bin", Buffer.from([1, 2, 3])): binary, so an attachment whatever its size
        ClusterBroadcast(A, "/", _event("bin", b"\x01\x02\x03"), WireOptions()),
        '{"uid":"ff6e07d569bb62f5","type":3,"attachmentId":"1"}',
        bytes.fromhex(
            "84a47479706503a46461746182a67061636b657482a47479706502a46461746192a362696ec403010203"
        )
        + _TAIL_A,
    ),
    (
        # io.emit("big", "x".repeat(9000)): over the NOTIFY limit
        ClusterBroadcast(A, "/", _event("big", "x" * 9000), WireOptions()),
        '{"uid":"ff6e07d569bb62f5","type":3,"attachmentId":"2"}',
        _BIG_HEAD + b"x" * 9000 + _TAIL_A,
    ),
    (
        # serverSideEmit("binsse", Buffer.from([9]))
        ServerSideEmit(B, "/", ["binsse", b"\x09"]),
        '{"uid":"795ad979fa4e0034","type":9,"attachmentId":"3"}',
        bytes.fromhex(
            "84a47479706509a46461746181a67061636b657492a662696e737365c40109"
            "a3756964b037393561643937396661346530303334a36e7370a12f"
        ),
    ),
]


@pytest.mark.parametrize(("message", "payload"), NOTIFICATIONS)
def test_notification_vectors(message: ClusterMessage, payload: str) -> None:
    assert CODEC.encode(message) == Notification(payload)
    assert CODEC.decode_notification(payload) == message
    assert CODEC.decode_notification(payload.encode()) == message


def test_every_type_has_a_vector() -> None:
    assert {message_type(m) for m, _ in NOTIFICATIONS} == set(MessageType)


@pytest.mark.parametrize(("message", "header", "row"), ATTACHMENTS)
def test_attachment_vectors(message: ClusterMessage, header: str, row: bytes) -> None:
    encoded = CODEC.encode(message)
    assert isinstance(encoded, Attachment)
    assert encoded.row == row
    row_id = header.rsplit('"', 2)[1]
    # node-pg returns the bigserial id as a string; asyncpg as an int: same header either way
    assert encoded.header(row_id) == header
    assert encoded.header(int(row_id)) == header
    decoded = CODEC.decode_notification(header)
    assert decoded == AttachmentHeader(message.uid, message_type(message).value, int(row_id))
    assert CODEC.decode_attachment(row) == message


def test_the_notify_limit_counts_utf8_bytes_and_is_never_reached() -> None:
    """PostgreSQL refuses 8000 bytes; Node's ``> 8000`` loses an 8000-byte message."""

    def broadcast(text: str) -> ClusterMessage:
        return ClusterBroadcast(A, "/", _event(text), WireOptions())

    overhead = len(CODEC.encode(broadcast("")).payload.encode())  # type: ignore[union-attr]
    fits = CODEC.encode(broadcast("x" * (7999 - overhead)))
    assert isinstance(fits, Notification)
    assert len(fits.payload.encode()) == 7999
    assert isinstance(CODEC.encode(broadcast("x" * (8000 - overhead))), Attachment)
    # 3000 characters, 6000 bytes of UTF-8 plus the envelope: under the limit
    assert isinstance(CODEC.encode(broadcast("é" * 3000)), Notification)
    # 4000 characters but 8000 bytes: an attachment
    assert isinstance(CODEC.encode(broadcast("é" * 4000)), Attachment)


def test_a_lower_threshold_and_invalid_thresholds() -> None:
    small = PostgresCodec(payload_threshold=100)
    message = ClusterBroadcast(A, "/", _event("x" * 100), WireOptions())
    assert isinstance(small.encode(message), Attachment)
    assert isinstance(CODEC.encode(message), Notification)
    for bad in (0, -1, 8001):
        with pytest.raises(ValueError, match="payload_threshold"):
            PostgresCodec(payload_threshold=bad)


@pytest.mark.parametrize(
    "message",
    [
        # Node would write these as JSON with {"type":"Buffer","data":[...]}: bytes here
        # stay bytes, through the table, whatever the type.
        FetchSocketsResponse(
            A, "/", "r", (WireSocket("s", _HANDSHAKE, ("s",), {"avatar": b"\x89PNG"}),)
        ),
        ServerSideEmitResponse(A, "/", "r", b"\x00"),
        BroadcastAck(A, "/", "r", [b"\xff"]),
    ],
)
def test_binary_in_any_message_goes_through_the_table(message: ClusterMessage) -> None:
    encoded = CODEC.encode(message)
    assert isinstance(encoded, Attachment)
    assert CODEC.decode_attachment(encoded.row) == message


def test_a_buffer_as_node_writes_it_in_json_is_a_plain_object() -> None:
    payload = (
        '{"type":10,"data":{"requestId":"r","packet":{"type":"Buffer","data":[7,8,9]}},'
        '"uid":"795ad979fa4e0034","nsp":"/"}'
    )
    assert CODEC.decode_notification(payload) == ServerSideEmitResponse(
        B, "/", "r", {"type": "Buffer", "data": [7, 8, 9]}
    )


def test_headers_take_a_string_or_a_number_and_nothing_else() -> None:
    assert CODEC.decode_notification('{"uid":"u","type":3,"attachmentId":12}') == (
        AttachmentHeader("u", 3, 12)
    )
    assert CODEC.decode_notification('{"uid":"u","attachmentId":"9223372036854775807"}') == (
        AttachmentHeader("u", None, 2**63 - 1)
    )
    # A falsy attachmentId is no header (as Node tells them apart): an envelope, then
    assert CODEC.decode_notification(
        '{"type":2,"uid":"u","nsp":"/","attachmentId":0}'
    ) == Heartbeat("u", "/")


@pytest.mark.parametrize(
    "payload",
    [
        "",
        "not json",
        "[1,2]",
        '"text"',
        "null",
        "{}",
        '{"type":99,"uid":"u","nsp":"/"}',
        '{"type":3,"uid":"u","nsp":"/"}',
        '{"type":3,"uid":"u","nsp":"/","data":{"packet":{"type":2,"data":[]},"opts":{}}}',
        '{"type":1,"uid":5,"nsp":"/"}',
        '{"type":11,"uid":"u","nsp":"/","data":{"requestId":"r","clientCount":-1}}',
        '{"uid":"u","type":3,"attachmentId":"1; DROP TABLE x"}',
        '{"uid":"u","type":3,"attachmentId":"01"}',
        '{"uid":"u","type":3,"attachmentId":-1}',
        '{"uid":"u","type":3,"attachmentId":1.5}',
        '{"uid":"u","type":3,"attachmentId":"9223372036854775808"}',
        '{"uid":"u","type":3,"attachmentId":[1]}',
        '{"uid":"u","type":3,"attachmentId":true}',
        '{"uid":7,"type":3,"attachmentId":"1"}',
        '{"uid":"u","type":"3","attachmentId":"1"}',
    ],
)
def test_malformed_notifications(payload: str) -> None:
    with pytest.raises(WireError):
        CODEC.decode_notification(payload)


_DATE = msgpack.Timestamp(1)


@pytest.mark.parametrize(
    "row",
    [
        b"",
        b"\xc1",
        msgpack.packb([1, 2]),
        msgpack.packb({"type": 3, "uid": "u", "nsp": "/"}),
        msgpack.packb({"type": 2, "uid": "u", "nsp": "/"}) + b"\x00",  # trailing bytes
        # a JS Date (the timestamp ext type) somewhere in the message
        msgpack.packb(
            {"type": 10, "uid": "u", "nsp": "/", "data": {"requestId": "r", "packet": _DATE}}
        ),
        b'{"type":2,"uid":"u","nsp":"/"}',  # JSON is not what a row holds
    ],
)
def test_malformed_rows(row: bytes) -> None:
    with pytest.raises(WireError):
        CODEC.decode_attachment(row)


def test_channel_names() -> None:
    assert channel_name("/") == "socket.io#/"
    assert channel_name("/Admin", "my-app") == "my-app#/Admin"
    # "socket.io#" leaves a namespace name 53 bytes
    assert len(channel_name("/" + "n" * 52).encode()) == 63
    with pytest.raises(WireError, match="64 bytes; PostgreSQL allows 63"):
        channel_name("/" + "n" * 53)
    with pytest.raises(WireError, match="65 bytes"):
        channel_name("/" + "é" * 27)  # 28 characters, 55 bytes


def test_table_names_are_identifiers() -> None:
    assert check_table_name("socket_io_attachments") == "socket_io_attachments"
    assert check_table_name("app.Attachments$1") == "app.Attachments$1"
    for bad in ("", "a b", 'x"; DROP TABLE y; --', "a.b.c", "1abc", "a-b", "t;"):
        with pytest.raises(ValueError, match="invalid attachment table name"):
            check_table_name(bad)


def _through(codec: PostgresCodec, message: ClusterMessage) -> ClusterMessage:
    encoded = codec.encode(message)
    if isinstance(encoded, Attachment):
        header = codec.decode_notification(encoded.header(42))
        assert header == AttachmentHeader(message.uid, message_type(message).value, 42)
        return codec.decode_attachment(encoded.row)
    assert len(encoded.payload.encode()) < codec.payload_threshold
    decoded = codec.decode_notification(encoded.payload)
    assert not isinstance(decoded, AttachmentHeader)
    return decoded


@given(messages(any_values), st.sampled_from([CODEC, PostgresCodec(payload_threshold=64)]))
def test_round_trip(message: ClusterMessage, codec: PostgresCodec) -> None:
    assert _through(codec, message) == message


@given(st.text(max_size=64) | st.binary(max_size=64))
def test_arbitrary_input_never_escapes_as_other_errors(wire: str | bytes) -> None:
    with contextlib.suppress(WireError):
        CODEC.decode_notification(wire)
    if isinstance(wire, bytes):
        with contextlib.suppress(WireError):
            CODEC.decode_attachment(wire)
