"""The WebTransport stream framing against the real engine.io-parser 5 (its
createPacketEncoderStream and createPacketDecoderStream, tests/interop/js/stream_vectors.js):
the same bytes for the same packets, and what it refuses, we refuse."""

from __future__ import annotations

import base64
import json
import shutil
import subprocess
from typing import Any

import pytest

from conftest import JS_DIR
from socketwire.engineio.errors import ProtocolError
from socketwire.engineio.stream import StreamDecoder, encode_stream_packet

pytestmark = pytest.mark.interop

PACKETS: list[dict[str, Any]] = [
    {"type": "message", "data": "hello"},
    {"type": "message", "data": "é😀" * 50},
    {"type": "ping"},
    {"type": "open", "data": '{"sid":"abc"}'},
    {"type": "message", "bin": base64.b64encode(bytes(range(256)) * 300).decode()},
    {"type": "message", "bin": "AAEC"},
]
TYPES = {"open": "0", "close": "1", "ping": "2", "pong": "3", "message": "4"}
MAX = 1000
BAD = [b"\x00", b"\x80", b"\x7e\x04\x00" + b"a" * 1024, b"\x02\xff\xfe"]


def websocket_form(packet: dict[str, Any]) -> str | bytes:
    if "bin" in packet:
        return base64.b64decode(packet["bin"])
    return TYPES[packet["type"]] + packet.get("data", "")


def test_same_bytes_as_engine_io_parser() -> None:
    node = shutil.which("node")
    if node is None or not (JS_DIR / "node_modules").is_dir():
        pytest.skip("node or tests/interop/js/node_modules is missing (run `make npm`)")
    ours = [encode_stream_packet(websocket_form(p)) for p in PACKETS]
    request = {
        "encode": PACKETS,
        "decode": [base64.b64encode(b"".join(ours)).decode()]
        + [base64.b64encode(b).decode() for b in BAD],
        "max": MAX,
    }
    result = json.loads(
        subprocess.run(
            [node, str(JS_DIR / "stream_vectors.js")],
            input=json.dumps(request),
            capture_output=True,
            text=True,
            check=True,
            cwd=JS_DIR,
            timeout=60,
        ).stdout
    )
    assert [base64.b64decode(b) for b in result["encode"]] == ours
    # our bytes decode, in JS, to the packets (big ones over JS's max are refused there)
    decoded = result["decode"][0]
    assert decoded[:4] == PACKETS[:4]
    # every malformed stream: JS reports an error packet, we raise
    for wire, theirs in zip(BAD, result["decode"][1:], strict=True):
        assert theirs, wire
        assert theirs[-1]["type"] == "error", wire
        with pytest.raises(ProtocolError):
            StreamDecoder(MAX).feed(wire)
