"""The close frame that answers each WebSocket protocol violation, byte for byte against the
official ``engine.io`` server (6.6.12, through ``ws``).

``ws`` fails a connection that breaks the protocol with ``websocket.close(code)``: a close
frame with the code and an empty reason, then the end of the TCP connection. Each violation
below is sent by a raw client to tests/interop/js/eio_server.js once (a module fixture) and to
socketwire, whose close frame must be the same bytes.

Under ASGI the ASGI server (uvicorn here) parses the frames and answers most violations itself
(uvicorn puts the ``websockets`` library's error text in the reason): there the close code must
be Node's, and the bytes too where socketwire decides, the message size limit. Fragments are
gathered by uvicorn without a count limit, so the fragment-count cases run on the native server
only (docs/topics/security-and-limits.md).

A limit below 126 bytes would also refuse control frames over it (``websockets`` applies it to
every frame, ``ws`` to messages only): these cases use 1000.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import shutil
import subprocess
from dataclasses import dataclass

import pytest

from conftest import JS_DIR, WAIT, EngineFactory, RawWebSocket
from raw_ws import masked

pytestmark = pytest.mark.interop

LIMIT = 1000
#: The ``ws`` library's default ``maxFragments``.
WS_MAX_FRAGMENTS = 16 * 1024
#: For the fragment-count cases: messages of more than 16,384 fragments of 64 bytes fit.
BIG_LIMIT = 2_000_000

TEXT, BINARY, CONT, CLOSE, PING = 0x1, 0x2, 0x0, 0x8, 0x9


def unmasked(opcode: int, payload: bytes) -> bytes:
    """A frame without the mask every client frame must have (RFC 6455 section 5.1)."""
    return bytes((0x80 | opcode, len(payload))) + payload


def reserved(bits: int, opcode: int, payload: bytes) -> bytes:
    """A masked frame with RSV bits set, although no extension was negotiated."""
    frame = masked(opcode, payload)
    return bytes((frame[0] | bits,)) + frame[1:]


def code(value: int) -> bytes:
    """A close frame's status code."""
    return value.to_bytes(2, "big")


@dataclass(frozen=True)
class Violation:
    """What the client sends after the handshake, and what it breaks."""

    data: bytes
    #: the server's limit on one message
    limit: int = LIMIT
    #: the ASGI server gathers fragments itself, with no count limit
    asgi: bool = True
    #: under ASGI, socketwire (not the ASGI server) answers it: the bytes must match too
    asgi_bytes: bool = False


VIOLATIONS: dict[str, Violation] = {
    # 1009: a message over the limit (ws maxPayload, engine.io maxHttpBufferSize)
    "text over the limit": Violation(masked(TEXT, b"4" + b"x" * LIMIT), asgi_bytes=True),
    "binary over the limit": Violation(masked(BINARY, b"x" * (LIMIT + 1)), asgi_bytes=True),
    "fragments over the limit": Violation(
        masked(TEXT, b"4" + b"x" * 600, fin=False) + masked(CONT, b"y" * 600), asgi_bytes=True
    ),
    "a length of 2**63 - 1": Violation(bytes((0x81, 0xFF)) + (2**63 - 1).to_bytes(8, "big")),
    # 1007: invalid UTF-8
    "invalid UTF-8": Violation(masked(TEXT, b"4\xff\xfe")),
    "invalid UTF-8 across fragments": Violation(
        masked(TEXT, b"4\xe2", fin=False) + masked(CONT, b"\x28\xa1")
    ),
    "invalid UTF-8 in a close reason": Violation(masked(CLOSE, code(1000) + b"\xff")),
    # 1002: broken frames
    "unmasked frame": Violation(unmasked(TEXT, b"4hi")),
    "reserved opcode 3": Violation(masked(0x3, b"hi")),
    "reserved opcode 11": Violation(masked(0xB, b"hi")),
    "RSV1 without an extension": Violation(reserved(0x40, TEXT, b"4hi")),
    "RSV2": Violation(reserved(0x20, TEXT, b"4hi")),
    "RSV3": Violation(reserved(0x10, TEXT, b"4hi")),
    "control frame over 125 bytes": Violation(masked(PING, b"p" * 126)),
    "fragmented control frame": Violation(masked(PING, b"p", fin=False)),
    "continuation without a start": Violation(masked(CONT, b"hi")),
    "new message inside a fragmented one": Violation(
        masked(TEXT, b"4a", fin=False) + masked(TEXT, b"4b")
    ),
    "close code 999": Violation(masked(CLOSE, code(999))),
    "close code 1005": Violation(masked(CLOSE, code(1005))),
    "close payload of one byte": Violation(masked(CLOSE, b"\x03")),
    # 1008: more fragments than ws's maxFragments (socketwire stops tiny ones sooner, with
    # the same close frame)
    "more fragments than maxFragments": Violation(
        masked(TEXT, b"4" + b"x" * 63, fin=False)
        + masked(CONT, b"x" * 64, fin=False) * WS_MAX_FRAGMENTS,
        limit=BIG_LIMIT,
        asgi=False,
    ),
    "empty fragments": Violation(
        masked(TEXT, b"4", fin=False) + masked(CONT, b"", fin=False) * WS_MAX_FRAGMENTS,
        limit=BIG_LIMIT,
        asgi=False,
    ),
    # not violations: the client closes, the server echoes its close frame
    "close with a reason": Violation(masked(CLOSE, code(1000) + b"bye")),
    "close without a code": Violation(masked(CLOSE, b"")),
}


async def close_frame(port: int, path: str, data: bytes) -> bytes:
    """Open an Engine.IO WebSocket, send ``data``, return the server's close frame as is."""
    ws, response = await RawWebSocket.connect(port, f"{path}?EIO=4&transport=websocket")
    async with ws:
        assert response.status == 101, response
        opcode, payload = await ws.recv_frame()
        assert (opcode, payload[:1]) == (TEXT, b"0"), payload  # the open packet
        ws.send_raw(data)
        with contextlib.suppress(ConnectionError):  # the server may close before it all went
            await ws.writer.drain()
        async with asyncio.timeout(WAIT):
            while True:
                head = await ws.reader.readexactly(2)
                assert head[1] < 126, head  # nothing long comes back here
                frame = head + await ws.reader.readexactly(head[1])
                if frame[0] & 0x0F == CLOSE:
                    return frame


async def node_close_frames() -> dict[str, bytes]:
    node = shutil.which("node")
    if node is None or not (JS_DIR / "node_modules" / "engine.io").is_dir():
        pytest.fail("node and tests/interop/js/node_modules are required (make npm)")
    frames: dict[str, bytes] = {}
    for limit in sorted({v.limit for v in VIOLATIONS.values()}):
        args = {"options": {"maxHttpBufferSize": limit, "transports": ["websocket"]}}
        proc = await asyncio.create_subprocess_exec(
            node,
            str(JS_DIR / "eio_server.js"),
            json.dumps(args),
            cwd=JS_DIR,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
        )
        assert proc.stdin is not None
        assert proc.stdout is not None
        try:
            async with asyncio.timeout(WAIT):
                listening = json.loads(await proc.stdout.readline())
            for name, violation in VIOLATIONS.items():
                if violation.limit == limit:
                    frames[name] = await close_frame(
                        listening["port"], "/engine.io/", violation.data
                    )
        finally:
            proc.stdin.close()
            try:
                await asyncio.wait_for(proc.wait(), WAIT)
            except TimeoutError:
                proc.kill()
                await proc.wait()
    return frames


@pytest.fixture(scope="module")
def node_frames() -> dict[str, bytes]:
    """The close frame Node's engine.io sends for every violation (run once)."""
    return asyncio.run(node_close_frames())


def test_node_answers_with_the_code_and_no_reason(node_frames: dict[str, bytes]) -> None:
    """What the cases stand on: ws's close frames (2 bytes of code, no reason)."""
    expected = {
        1009: ["text over the limit", "binary over the limit", "fragments over the limit"],
        1007: ["invalid UTF-8", "invalid UTF-8 across fragments"],
        1002: ["unmasked frame", "reserved opcode 3", "close code 999"],
        1008: ["more fragments than maxFragments", "empty fragments"],
    }
    for status, names in expected.items():
        for name in names:
            assert node_frames[name] == b"\x88\x02" + code(status), name
    assert node_frames["close without a code"] == b"\x88\x00"


CASES = [
    pytest.param(name, plumbing, id=f"{plumbing}-{name}")
    for plumbing in ("native", "asgi")
    for name, violation in VIOLATIONS.items()
    if plumbing == "native" or violation.asgi
]


@pytest.mark.parametrize(("name", "plumbing"), CASES)
async def test_close_frame_is_nodes(
    name: str, plumbing: str, engine_factory: EngineFactory, node_frames: dict[str, bytes]
) -> None:
    violation = VIOLATIONS[name]
    server = await engine_factory(max_http_buffer_size=violation.limit)
    frame = await close_frame(server.port, server.path, violation.data)
    expected = node_frames[name]
    if plumbing == "native" or violation.asgi_bytes:
        assert frame == expected
    else:
        # the ASGI server's own answer: Node's code, its own reason
        assert frame[2:4] == expected[2:4], (frame, expected)
    await server.wait_no_clients()
