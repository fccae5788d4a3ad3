"""Our Socket.IO parsers against the real socket.io-parser 4.2 and socket.io-msgpack-parser 3.0.

tests/interop/js/parser_vectors.js runs the JavaScript codecs once per module: it encodes every
packet of ``PACKETS`` (we compare its output with ours, byte for byte), decodes what we encode
(we compare the packets with the originals), and decodes the malformed messages of
``MALFORMED_JSON`` / ``MALFORMED_MSGPACK``: whatever JavaScript refuses, we must refuse too.
"""

from __future__ import annotations

import base64
import json
import shutil
import subprocess
from pathlib import Path
from typing import Any

import msgpack
import pytest

from socketwire.socketio import (
    JsonParser,
    MsgpackParser,
    Packet,
    PacketType,
    ProtocolError,
)

pytestmark = pytest.mark.interop

JS_DIR = Path(__file__).parent / "js"
SCRIPT = JS_DIR / "parser_vectors.js"

C, D, E, A, X = (
    PacketType.CONNECT,
    PacketType.DISCONNECT,
    PacketType.EVENT,
    PacketType.ACK,
    PacketType.CONNECT_ERROR,
)

PACKETS = [
    Packet(C),
    Packet(C, "/admin", {"token": "abc"}),
    Packet(C, "/", {"sid": "abc", "pid": "x"}),
    Packet(C, "/", {}),
    Packet(D),
    Packet(D, "/admin"),
    Packet(E, "/", ["hello", 1, "é", {"a": [True, None, 1.5]}]),
    Packet(E, "/chat", ["msg"], 12),
    Packet(E, "/", ["x"], 0),
    Packet(A, "/", [], 3),
    Packet(A, "/chat", ["ok", {"n": -5}], 2**53 - 1),
    Packet(X, "/", {"message": "Invalid namespace"}),
    Packet(X, "/x", "not authorized"),
    Packet(E, "/", ["upload", b"\x00\x01\x02", {"nested": [b"", b"\xff"]}], 7),
    Packet(A, "/files", [b"abc"], 4),
    Packet(E, "/", ["two", {"b": b"1", "a": [b"2", {"c": b"3"}]}, b"4"]),
    Packet(E, "/", ["big", bytes(range(256)) * 300]),
    # msgpack integer and float widths (notepack picks the smallest, floats are float64).
    # No float >= 2**53: every such double is integral, and notepack writes it as a (wrong)
    # uint64 rather than a float64.
    Packet(
        E,
        "/",
        [
            *("n", 127, 128, 255, 256, 65535, 65536, 2**32 - 1, 2**32, 2**53 - 1),
            *(-1, -32, -33, -128, -129, -32768, -32769, -(2**31), -(2**31) - 1, -(2**53) + 1),
            *(0.5, -0.25, 1.0e-7, 3.14159, 1.5e-300),
        ],
    ),
    # msgpack string widths, and the JSON escapes that JSON.stringify and orjson share.
    Packet(E, "/", ["s", "x" * 31, "x" * 32, "x" * 255, "x" * 256, "x" * 70000]),
    Packet(E, "/", ["u", "😀 ünïcødé", '\x00\x1f\n"\\/\x7f\u2028\u2029', "中文"]),
    # msgpack array and map widths.
    Packet(E, "/", ["c", list(range(15)), list(range(16)), list(range(70000))]),
    Packet(E, "/", ["m", {f"k{i}": i for i in range(15)}, {f"k{i}": i for i in range(16)}]),
    Packet(E, "/ns/deep", ["nested", [[[{"a": [{"b": None}]}]]], False, True, None]),
]

#: Malformed JSON-parser input (socket.io-parser sees the Socket.IO packet, without the
#: Engine.IO "4" prefix): (messages of one connection, whether socket.io-parser accepts them).
#: We refuse all of them; where JavaScript accepts, we are deliberately stricter.
MALFORMED_JSON: list[tuple[list[str | bytes], bool]] = [
    ([""], True),  # JavaScript: Number("") is 0, a CONNECT
    (["7"], False),
    (["a"], False),
    (["2"], True),  # an EVENT without payload
    (["2[]"], False),
    (['2"a"'], False),
    (["2null"], False),
    (["2[1]"], True),  # a number as the event name
    (['2["connect"]'], False),
    (['2["disconnecting",1]'], False),
    (["2{}"], False),
    (["3[]"], True),  # an ACK without id
    (["3{}"], False),
    (["01"], True),  # an ack id on a CONNECT
    (["0[]"], False),
    (['0"x"'], False),
    (["0null"], False),
    (["1{}"], False),
    (["1null"], False),
    (["4"], True),  # a CONNECT_ERROR without payload
    (["4[]"], False),
    (["4null"], False),
    (['2["a"]x'], False),
    (['2["a"'], False),
    (['2abc["a"]'], False),
    (['2 ["a"]'], True),  # JavaScript: Number(" ") == " ", so a space is an ack id digit
    (['29007199254740992["a"]'], True),  # ack id above 2**53 - 1
    (['2999999999999999999999["a"]'], True),
    (['51-["hello",{"_placeholder":true,"num":"splice"}]', b"\x00"], False),
    (['51-["hello",{"_placeholder":true,"num":1}]', b"\x00"], False),
    (['51-["hello",{"_placeholder":true,"num":-1}]', b"\x00"], False),
    (['51-["hello",{"_placeholder":true}]', b"\x00"], False),
    (['51-["hello",{"_placeholder":true,"num":0.5}]', b"\x00"], True),  # JS: buffers[0.5]
    (['51-["hello"]', b"\x00"], True),  # an attachment no placeholder refers to
    (['52-["a",{"_placeholder":true,"num":0}]', b"\x00", b"\x01"], True),
    (['52-["a",{"_placeholder":true,"num":0},{"_placeholder":true,"num":0}]', b"0", b"1"], True),
    (['59999-["a"]'], False),
    (['511-["a"]'], False),
    (['5-["a"]'], False),
    (['50-["a"]'], False),
    (['5a-["a"]'], False),
    (['51["a"]'], False),
    (["52-[]", b"\x00", b"\x01"], False),
    (['61-[{"_placeholder":true,"num":0}]', b"\x00"], True),  # a BINARY_ACK without id
    (['61-[{"_placeholder":true,"num":"x"}]', b"\x00"], False),
    ([b"\x00"], False),
    (['51-["a",{"_placeholder":true,"num":0}]', '2["b"]'], False),
]


def _msgpack(obj: Any) -> bytes:
    packed: bytes = msgpack.packb(obj, use_bin_type=True)
    return packed


#: Malformed msgpack-parser input: (message, whether socket.io-msgpack-parser accepts it).
MALFORMED_MSGPACK: list[tuple[bytes, bool]] = [
    (b"", False),
    (b"\xc1", False),
    (b"\x90", False),
    (_msgpack({"type": 2, "data": ["a"], "nsp": "/"}) + b"\x00", False),
    (_msgpack({"data": ["a"], "nsp": "/"}), False),
    (_msgpack({"type": 5, "data": ["a"], "nsp": "/"}), False),
    (_msgpack({"type": "2", "data": ["a"], "nsp": "/"}), False),
    (_msgpack({"type": 2.5, "data": ["a"], "nsp": "/"}), False),
    (_msgpack({"type": 2, "data": ["a"]}), False),
    (_msgpack({"type": 2, "data": ["a"], "nsp": 1}), False),
    (_msgpack({"type": 2, "data": ["a"], "nsp": "/", "id": "1"}), False),
    (_msgpack({"type": 2, "data": ["a"], "nsp": "/", "id": 1.5}), False),
    (_msgpack({"type": 2, "data": ["a"], "nsp": "/", "id": None}), False),
    (_msgpack({"type": 2, "data": ["a"], "nsp": "/", "id": -1}), True),
    (_msgpack({"type": 2, "data": ["a"], "nsp": "/", "id": 2**53}), True),
    (_msgpack({"type": 2, "data": {}, "nsp": "/"}), False),
    (_msgpack({"type": 2, "data": [], "nsp": "/"}), True),
    (_msgpack({"type": 2, "data": [1], "nsp": "/"}), True),
    (_msgpack({"type": 2, "data": ["connect"], "nsp": "/"}), True),
    (_msgpack({"type": 2, "nsp": "/"}), False),
    (_msgpack({"type": 3, "data": "x", "nsp": "/", "id": 1}), False),
    (_msgpack({"type": 3, "data": [], "nsp": "/"}), True),
    (_msgpack({"type": 0, "data": [], "nsp": "/"}), False),
    (_msgpack({"type": 0, "data": None, "nsp": "/"}), False),
    (_msgpack({"type": 0, "nsp": "/", "id": 1}), True),
    (_msgpack({"type": 1, "data": {}, "nsp": "/"}), False),
    (_msgpack({"type": 4, "nsp": "/"}), False),
    (_msgpack({"type": 4, "data": 1, "nsp": "/"}), False),
    (_msgpack({"type": 2, "data": ["a", {b"k": 1}], "nsp": "/"}), True),  # a bin map key
    (_msgpack({"type": 2, "data": ["a", msgpack.ExtType(5, b"x")], "nsp": "/"}), True),
    (b"\x83\xa4type\x02\xa4data\x91\xa1a\xa3nsp\xa2\xff\xfe", True),  # invalid UTF-8
]


def to_js(value: Any) -> Any:
    """Our data as the script's JSON: bytes become ``{"$bin": base64}``."""
    if isinstance(value, bytes):
        return {"$bin": base64.b64encode(value).decode()}
    if isinstance(value, list):
        return [to_js(item) for item in value]
    if isinstance(value, dict):
        return {key: to_js(item) for key, item in value.items()}
    return value


def from_js(value: Any) -> Any:
    """The script's JSON as our data."""
    if isinstance(value, list):
        return [from_js(item) for item in value]
    if isinstance(value, dict):
        if list(value) == ["$bin"]:
            return base64.b64decode(value["$bin"])
        return {key: from_js(item) for key, item in value.items()}
    return value


def b64(message: str | bytes) -> str:
    assert isinstance(message, bytes)
    return base64.b64encode(message).decode()


def packet_to_js(packet: Packet) -> dict[str, Any]:
    spec: dict[str, Any] = {"type": int(packet.type), "nsp": packet.nsp}
    if packet.data is not None:
        spec["data"] = to_js(packet.data)
    if packet.id is not None:
        spec["id"] = packet.id
    return spec


def packet_from_js(spec: dict[str, Any]) -> Packet:
    return Packet(PacketType(spec["type"]), spec["nsp"], from_js(spec.get("data")), spec.get("id"))


def messages_to_js(messages: list[str | bytes]) -> list[Any]:
    return [m if isinstance(m, str) else to_js(m) for m in messages]


def decode_all(parser: JsonParser | MsgpackParser, messages: list[str | bytes]) -> list[Packet]:
    decoder = parser.decoder()
    packets = []
    for message in messages:
        packet = decoder.feed(message)
        if packet is not None:
            packets.append(packet)
    return packets


@pytest.fixture(scope="module")
def js() -> dict[str, Any]:
    """Run the JavaScript codecs once on every vector."""
    node = shutil.which("node")
    if node is None or not (JS_DIR / "node_modules" / "socket.io-parser").is_dir():
        pytest.fail("node and tests/interop/js/node_modules are required (make npm)")
    json_parser, msgpack_parser = JsonParser(), MsgpackParser()
    request = {
        "encode": [packet_to_js(p) for p in PACKETS],
        "decode_json": [messages_to_js(json_parser.encode(p)) for p in PACKETS]
        + [messages_to_js(m) for m, _ in MALFORMED_JSON],
        "decode_msgpack": [b64(msgpack_parser.encode(p)[0]) for p in PACKETS]
        + [b64(m) for m, _ in MALFORMED_MSGPACK],
    }
    completed = subprocess.run(
        [node, str(SCRIPT)],
        input=json.dumps(request),
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
        cwd=JS_DIR,
    )
    result: dict[str, Any] = json.loads(completed.stdout)
    return result


INDEXES = [pytest.param(i, id=f"{i}-{p.type.name}") for i, p in enumerate(PACKETS)]


@pytest.mark.parametrize("index", INDEXES)
def test_json_encode_matches_js(js: dict[str, Any], index: int) -> None:
    ours = JsonParser().encode(PACKETS[index])
    theirs = [m if isinstance(m, str) else from_js(m) for m in js["json"][index]]
    assert ours == theirs


@pytest.mark.parametrize("index", INDEXES)
def test_msgpack_encode_matches_js(js: dict[str, Any], index: int) -> None:
    ours = MsgpackParser().encode(PACKETS[index])
    assert ours == [base64.b64decode(js["msgpack"][index])]


@pytest.mark.parametrize("index", INDEXES)
def test_js_decodes_ours(js: dict[str, Any], index: int) -> None:
    for results in (js["decode_json"], js["decode_msgpack"]):
        result = results[index]
        assert "error" not in result
        assert [packet_from_js(p) for p in result["packets"]] == [PACKETS[index]]


@pytest.mark.parametrize("index", INDEXES)
def test_we_decode_js(js: dict[str, Any], index: int) -> None:
    json_messages = [m if isinstance(m, str) else from_js(m) for m in js["json"][index]]
    assert decode_all(JsonParser(), json_messages) == [PACKETS[index]]
    msgpack_message = base64.b64decode(js["msgpack"][index])
    assert decode_all(MsgpackParser(), [msgpack_message]) == [PACKETS[index]]


MALFORMED_JSON_IDS = [pytest.param(i, id=repr(m)[:50]) for i, (m, _) in enumerate(MALFORMED_JSON)]
MALFORMED_MSGPACK_IDS = [
    pytest.param(i, id=repr(m)[:50]) for i, (m, _) in enumerate(MALFORMED_MSGPACK)
]


@pytest.mark.parametrize("index", MALFORMED_JSON_IDS)
def test_malformed_json(js: dict[str, Any], index: int) -> None:
    """JavaScript refuses it, or accepts it as the table says; we refuse it either way."""
    messages, js_accepts = MALFORMED_JSON[index]
    result = js["decode_json"][len(PACKETS) + index]
    assert ("error" not in result) is js_accepts, result
    with pytest.raises(ProtocolError):
        decode_all(JsonParser(), messages)


@pytest.mark.parametrize("index", MALFORMED_MSGPACK_IDS)
def test_malformed_msgpack(js: dict[str, Any], index: int) -> None:
    message, js_accepts = MALFORMED_MSGPACK[index]
    result = js["decode_msgpack"][len(PACKETS) + index]
    assert ("error" not in result) is js_accepts, result
    with pytest.raises(ProtocolError):
        decode_all(MsgpackParser(), [message])


def test_js_client_connect_without_auth() -> None:
    """socket.io-client sends ``{type: 0, data: undefined, nsp}``: notepack writes d4 00 00."""
    wire = b"\x83\xa4type\x00\xa4data\xd4\x00\x00\xa3nsp\xa1/"
    assert decode_all(MsgpackParser(), [wire]) == [Packet(C)]
