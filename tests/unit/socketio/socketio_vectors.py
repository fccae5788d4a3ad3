"""Wire vectors shared by the socketio unit tests.

Every wire value below was produced by the real socket.io-parser 4.2.7 and
socket.io-msgpack-parser 3.0.2 (tests/interop/js/parser_vectors.js); they are literals so that
the unit tests need no Node.
"""

from __future__ import annotations

from typing import NamedTuple

from socketwire.socketio import Packet, PacketType

__all__ = ["VECTORS", "Vector"]

C, D, E, A, X = (
    PacketType.CONNECT,
    PacketType.DISCONNECT,
    PacketType.EVENT,
    PacketType.ACK,
    PacketType.CONNECT_ERROR,
)


class Vector(NamedTuple):
    """A packet, its JSON-parser messages and its msgpack-parser message (hex)."""

    packet: Packet
    json: list[str | bytes]
    msgpack: str


VECTORS = [
    Vector(Packet(C), ["0"], "82a47479706500a36e7370a12f"),
    Vector(
        Packet(C, "/admin", {"token": "abc"}),
        ['0/admin,{"token":"abc"}'],
        "83a47479706500a46461746181a5746f6b656ea3616263a36e7370a62f61646d696e",
    ),
    Vector(Packet(D, "/admin"), ["1/admin,"], "82a47479706501a36e7370a62f61646d696e"),
    Vector(
        Packet(E, "/", ["hello", 1, "é", {"a": [True, None, 1.5]}]),
        ['2["hello",1,"é",{"a":[true,null,1.5]}]'],
        "83a47479706502a46461746194a568656c6c6f01a2c3a981a16193c3c0cb3ff8000000000000a36e7370a12f",
    ),
    Vector(
        Packet(E, "/chat", ["msg"], 12),
        ['2/chat,12["msg"]'],
        "84a47479706502a46461746191a36d7367a36e7370a52f63686174a269640c",
    ),
    Vector(Packet(A, "/", [], 3), ["33[]"], "84a47479706503a46461746190a36e7370a12fa2696403"),
    Vector(
        Packet(X, "/", {"message": "Invalid namespace"}),
        ['4{"message":"Invalid namespace"}'],
        "83a47479706504a46461746181a76d657373616765b1496e76616c6964206e616d657370616365"
        "a36e7370a12f",
    ),
    Vector(
        Packet(X, "/x", "not authorized"),
        ['4/x,"not authorized"'],
        "83a47479706504a464617461ae6e6f7420617574686f72697a6564a36e7370a22f78",
    ),
    Vector(
        Packet(E, "/", ["upload", b"\x00\x01\x02", {"nested": [b"", b"\xff"]}], 7),
        [
            '53-7["upload",{"_placeholder":true,"num":0},'
            '{"nested":[{"_placeholder":true,"num":1},{"_placeholder":true,"num":2}]}]',
            b"\x00\x01\x02",
            b"",
            b"\xff",
        ],
        "84a47479706502a46461746193a675706c6f6164c40300010281a66e657374656492c400c401ff"
        "a36e7370a12fa2696407",
    ),
    Vector(
        Packet(A, "/files", [b"abc"], 4),
        ['61-/files,4[{"_placeholder":true,"num":0}]', b"abc"],
        "84a47479706503a46461746191c403616263a36e7370a62f66696c6573a2696404",
    ),
    Vector(
        Packet(E, "/", ["n", 200, -33, 70000, 2**32, -(2**31) - 1, 0.5]),
        ['2["n",200,-33,70000,4294967296,-2147483649,0.5]'],
        "83a47479706502a46461746197a16eccc8d0dfce00011170cf0000000100000000d3ffffffff7fffffff"
        "cb3fe0000000000000a36e7370a12f",
    ),
]
