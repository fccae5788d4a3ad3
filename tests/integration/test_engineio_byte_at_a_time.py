"""Engine.IO input split at every byte, and followed by trailing data, over both plumbings.

The Engine.IO decoders take whole messages (a polling body, a WebSocket message); what can
arrive a byte at a time is the transport underneath. These tests write a polling POST and
WebSocket frames one byte per TCP write, and a POST followed by the next pipelined request
in the same write, and check the server decodes exactly what a whole write gives.
"""

from __future__ import annotations

import asyncio
import base64

import pytest

from conftest import HOST, WAIT, EngineHarness, RawWebSocket, build_request, read_response

pytestmark = pytest.mark.integration

# One payload holding every kind of packet the client may POST: text (with a multibyte
# character cut across writes), binary as base64, and an empty message.
PAYLOAD = "4héllo\x1eb" + base64.b64encode(b"\x00\x01\xff").decode() + "\x1e4"
MESSAGES: list[str | bytes] = ["héllo", b"\x00\x01\xff", ""]


async def _write_bytewise(writer: asyncio.StreamWriter, data: bytes) -> None:
    # One write and one drain per byte: the server sees each byte in its own read as long
    # as the loop runs between writes (TCP_NODELAY is the asyncio default on loopback).
    for i in range(len(data)):
        writer.write(data[i : i + 1])
        await writer.drain()
        await asyncio.sleep(0)


async def test_polling_post_one_byte_at_a_time(engine_server: EngineHarness) -> None:
    sid, _, _ = await engine_server.handshake()
    record = await engine_server.wait_session(sid)
    request = build_request(
        "POST",
        engine_server.target(sid=sid),
        engine_server.port,
        {"Content-Type": "text/plain;charset=UTF-8"},
        PAYLOAD,
    )
    reader, writer = await asyncio.open_connection(HOST, engine_server.port)
    try:
        async with asyncio.timeout(WAIT):
            await _write_bytewise(writer, request)
            response = await read_response(reader)
    finally:
        writer.close()
    assert response.status == 200
    assert response.body == b"ok"
    assert await engine_server.wait_message(record, len(MESSAGES)) == MESSAGES


async def test_post_with_trailing_pipelined_request(engine_server: EngineHarness) -> None:
    sid, _, _ = await engine_server.handshake()
    record = await engine_server.wait_session(sid)
    headers = {"Content-Type": "text/plain;charset=UTF-8", "Connection": "keep-alive"}
    first = build_request(
        "POST", engine_server.target(sid=sid), engine_server.port, headers, PAYLOAD
    )
    second = build_request(
        "POST", engine_server.target(sid=sid), engine_server.port, headers, "4next"
    )
    reader, writer = await asyncio.open_connection(HOST, engine_server.port)
    try:
        async with asyncio.timeout(WAIT):
            # The second request is trailing data after the first body: it must be left
            # for the next request, not read as part of the first payload.
            writer.write(first + second)
            await writer.drain()
            answers = [await read_response(reader), await read_response(reader)]
    finally:
        writer.close()
    assert [(a.status, a.body) for a in answers] == [(200, b"ok"), (200, b"ok")]
    assert await engine_server.wait_message(record, 4) == [*MESSAGES, "next"]


async def test_websocket_frames_one_byte_at_a_time(engine_server: EngineHarness) -> None:
    ws, response = await RawWebSocket.connect(engine_server.port, engine_server.target("websocket"))
    async with ws:
        assert response.status == 101
        opcode, opened = await ws.recv_frame()
        assert (opcode, opened[:1]) == (0x1, b"0")
        record = await engine_server.next_session()
        # Capture the exact frames RawWebSocket would write, then dribble them out.
        frames = bytearray()
        real_write = ws.writer.write
        ws.writer.write = frames.extend  # type: ignore[method-assign,assignment]
        try:
            ws.send_frame(0x1, "4héllo".encode())
            ws.send_frame(0x2, b"\x00\x01\xff")  # EIO v4: a binary message is sent raw
            ws.send_frame(0x1, b"4" + b"x" * 300)  # the 16-bit length form
        finally:
            ws.writer.write = real_write  # type: ignore[method-assign]
        async with asyncio.timeout(WAIT):
            await _write_bytewise(ws.writer, bytes(frames))
        got = await engine_server.wait_message(record, 3)
    assert got == ["héllo", b"\x00\x01\xff", "x" * 300]
