"""The native WebSocket's shortcuts against websockets' own protocol, byte for byte.

:class:`NativeWebSocket` unmasks simple client frames and frames outgoing messages itself
when no extension is negotiated. Every stream below is fed to it three ways (whole, one byte
at a time, in random chunks) and to a reference connection that goes through the protocol
only; the messages delivered, the bytes written and the close code must be the same.

The reference is fed one frame per read. Fed several frames in one read, the protocol-only
path parses them all before delivering the first message, so a handler that closes the
connection, or an invalid text message (1007), takes effect only after the later frames of
that read were parsed (their messages were even delivered). The shortcut acts on each message
before it parses the next, which is what the reference does when frames come in separate reads.
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import Callable
from typing import Any

import pytest
from websockets.frames import Frame, Opcode
from websockets.protocol import State

from socketwire.io._native_ws import (
    FREE_FRAGMENTS,
    MAX_FRAGMENTS,
    MIN_FRAGMENT_AVERAGE,
    NativeServerProtocol,
    NativeWebSocket,
    WriteBatch,
    frame_message,
)

MAX_SIZE = 100_000


class FakeTransport:
    """Records what the connection writes; never applies backpressure."""

    def __init__(self) -> None:
        self.out = bytearray()
        self.writes = 0
        #: the objects handed over by writelines (to check that frames are shared)
        self.handed: list[bytes] = []
        self.closed = False
        self.aborted = False

    def write(self, data: bytes) -> None:
        assert not self.closed
        self.out += data
        self.writes += 1

    def writelines(self, chunks: Any) -> None:
        chunks = list(chunks)
        self.handed.extend(chunks)
        assert not self.closed
        self.out += b"".join(chunks)
        self.writes += 1

    def get_write_buffer_size(self) -> int:
        return 0

    def is_closing(self) -> bool:
        return self.closed

    def close(self) -> None:
        self.closed = True

    def abort(self) -> None:
        self.aborted = True

    def pause_reading(self) -> None:
        pass

    def resume_reading(self) -> None:
        pass


class Recorder:
    """The application's handler: records messages, closes on ``"close-me"``."""

    def __init__(self, ws: NativeWebSocket) -> None:
        self.ws = ws
        self.messages: list[str | bytes] = []
        self.codes: list[int] = []

    def on_message(self, data: str | bytes) -> None:
        self.messages.append(data)
        if data == "close-me":
            self.ws.close(4000, "bye")

    def on_close(self, code: int) -> None:
        self.codes.append(code)


def connect(
    *, shortcut: bool, batch: WriteBatch | None = None
) -> tuple[NativeWebSocket, FakeTransport, Recorder]:
    transport = FakeTransport()
    protocol = NativeServerProtocol(state=State.OPEN, max_size=MAX_SIZE)
    ws = NativeWebSocket(transport, protocol, lambda _ws: None, batch)  # type: ignore[arg-type]
    if not shortcut:
        ws._fast = False  # the reference: every byte through the protocol
    handler = Recorder(ws)
    ws.start(handler, b"")
    return ws, transport, handler


def frame(opcode: Opcode, data: bytes, *, fin: bool = True) -> bytes:
    return Frame(opcode, data, fin).serialize(mask=True)


TEXT, BINARY, CONT = Opcode.TEXT, Opcode.BINARY, Opcode.CONT
PING, CLOSE = Opcode.PING, Opcode.CLOSE
CLOSE_1000 = frame(CLOSE, (1000).to_bytes(2, "big") + b"done")

STREAMS: dict[str, list[bytes]] = {
    "small text and binary": [frame(TEXT, b'42["a"]'), frame(BINARY, b"\x00\x01\x02")],
    "empty messages": [frame(TEXT, b""), frame(BINARY, b"")],
    "16-bit lengths": [frame(TEXT, b"x" * 126), frame(BINARY, b"y" * 65535)],
    "64-bit length": [frame(BINARY, bytes(range(256)) * 300)],
    "ping in the middle": [frame(TEXT, b"one"), frame(PING, b"hi"), frame(TEXT, b"two")],
    "fragmented": [frame(TEXT, b"fra", fin=False), frame(CONT, b"gment"), frame(TEXT, b"after")],
    "client close": [frame(TEXT, b"last"), CLOSE_1000, frame(TEXT, b"ignored")],
    "server closes in a handler": [frame(TEXT, b"close-me"), frame(TEXT, b"late"), CLOSE_1000],
    "unmasked": [frame(TEXT, b"ok"), Frame(TEXT, b"bad").serialize(mask=False)],
    "reserved bit": [frame(TEXT, b"ok"), bytes([0x81 | 0x20]) + frame(TEXT, b"bad")[1:]],
    "too big": [frame(TEXT, b"ok"), frame(BINARY, b"z" * (MAX_SIZE + 1))],
    "too big, header only": [frame(TEXT, b"ok"), b"\x82\xff" + (2**40).to_bytes(8, "big")],
    "invalid utf-8": [frame(TEXT, b"ok"), frame(TEXT, b"\xff\xfe"), frame(TEXT, b"never")],
    "unknown opcode": [frame(TEXT, b"ok"), b"\x83\x80abcd"],
}

Split = Callable[[bytes], list[bytes]]


def whole(data: bytes) -> list[bytes]:
    return [data]


def bytewise(data: bytes) -> list[bytes]:
    return [data[i : i + 1] for i in range(len(data))]


def random_chunks(data: bytes) -> list[bytes]:
    rng = random.Random(len(data))
    chunks, pos = [], 0
    while pos < len(data):
        size = rng.choice((1, 2, 3, 5, 7, 64, 1000, 70000))
        chunks.append(data[pos : pos + size])
        pos += size
    return chunks


def run(chunks: list[bytes], *, shortcut: bool, eof: bool) -> tuple[Any, ...]:
    ws, transport, handler = connect(shortcut=shortcut)
    for chunk in chunks:
        if transport.closed:
            break
        ws.data_received(chunk)
    if eof:
        ws.eof_received()
    ws.connection_lost(None)
    return handler.messages, bytes(transport.out), handler.codes, transport.closed


@pytest.mark.parametrize("name", sorted(STREAMS))
@pytest.mark.parametrize("split", [whole, bytewise, random_chunks], ids=lambda f: f.__name__)
async def test_shortcut_matches_the_protocol(name: str, split: Split) -> None:
    frames = STREAMS[name]
    expected = run(frames, shortcut=False, eof=False)
    assert run(split(b"".join(frames)), shortcut=True, eof=False) == expected
    assert expected[0]  # every stream delivers at least its first message


@pytest.mark.parametrize("cut", [1, 3, 6, 7, 9, 20])
async def test_stream_ending_inside_a_frame(cut: int) -> None:
    # The shortcut holds the partial frame; at EOF the protocol must see it, as it would have.
    stream = frame(TEXT, b"first") + frame(TEXT, b"z" * 300)
    truncated = stream[: len(frame(TEXT, b"first")) + cut]
    expected = run([truncated], shortcut=False, eof=True)
    for split in (whole, bytewise):
        assert run(split(truncated), shortcut=True, eof=True) == expected
    assert expected[0] == ["first"]
    assert expected[2] == [1006]


@pytest.mark.parametrize("size", [0, 1, 125, 126, 65535, 65536, 70000])
async def test_sent_frames_match_the_protocol(size: int) -> None:
    ws, transport, _ = connect(shortcut=True)
    text = "é" * (size // 2) + "a" * (size % 2)
    data = bytes(range(256)) * (size // 256) + b"\x07" * (size % 256)
    ws.send_text(text)
    ws.send_bytes(data)
    reference = NativeServerProtocol(state=State.OPEN)
    reference.send_text(text.encode())
    reference.send_binary(data)
    assert bytes(transport.out) == b"".join(reference.data_to_send())
    assert frame_message(text) + frame_message(data) == bytes(transport.out)


async def test_batched_frames_are_joined_at_the_end_of_the_iteration() -> None:
    batch = WriteBatch()
    (ws1, t1, _), (ws2, t2, _) = (
        connect(shortcut=True, batch=batch),
        connect(shortcut=True, batch=batch),
    )
    a, b = frame_message("a"), frame_message(b"b")
    ws1.send_frame(a)
    ws2.send_frame(a)
    ws1.send_frame(b)
    assert t1.writes == t2.writes == 0
    await asyncio.sleep(0)
    assert (bytes(t1.out), t1.writes) == (a + b, 1)
    assert (bytes(t2.out), t2.writes) == (a, 1)
    assert t1.handed[0] is a  # the shared frame itself, not a copy
    ws1.send_frame(b)  # a new iteration, a new batch
    await asyncio.sleep(0)
    assert (bytes(t1.out), t1.writes) == (a + b + b, 2)


async def test_small_messages_after_the_first_of_an_iteration_wait_for_the_batch() -> None:
    batch = WriteBatch()
    (ws1, t1, _), (ws2, t2, _) = (
        connect(shortcut=True, batch=batch),
        connect(shortcut=True, batch=batch),
    )
    ws1.send_text("a")  # the first of the iteration: at once
    assert (bytes(t1.out), t1.writes) == (frame_message("a"), 1)
    ws2.send_text("b")  # the next ones wait, counted as buffered
    ws1.send_bytes(b"c")
    assert (t2.writes, ws2.buffered_amount) == (0, len(frame_message("b")))
    assert t1.writes == 1
    await asyncio.sleep(0)
    assert (bytes(t1.out), t1.writes) == (frame_message("a") + frame_message(b"c"), 2)
    assert (bytes(t2.out), ws2.buffered_amount) == (frame_message("b"), 0)
    ws2.send_text("d")  # a new iteration: at once again
    assert bytes(t2.out) == frame_message("b") + frame_message("d")
    big = "x" * 200  # not a small message: written at once, behind what is corked
    ws1.send_text("e")
    ws2.send_text(big)
    ws1.close(1000)
    assert bytes(t2.out).endswith(frame_message(big))
    assert bytes(t1.out).endswith(frame_message("e") + b"\x88\x02\x03\xe8")
    await asyncio.sleep(0)


async def test_batched_frames_keep_their_order_with_other_writes() -> None:
    ws, transport, _ = connect(shortcut=True, batch=WriteBatch())
    ws.send_frame(frame_message("one"))
    ws.send_text("two")
    ws.send_frame(frame_message("three"))
    ws.send_bytes(b"four")
    ws.send_frame(frame_message("five"))
    ws.close(1000)
    await asyncio.sleep(0)
    messages: list[str | bytes] = ["one", "two", "three", b"four", "five"]
    expected = b"".join(frame_message(m) for m in messages)
    assert bytes(transport.out).startswith(expected)
    assert transport.out[len(expected)] == 0x88  # then the close frame
    ws.send_frame(frame_message("late"))  # closing: dropped
    await asyncio.sleep(0)
    assert transport.out[len(expected)] == 0x88
    assert bytes(transport.out).count(b"late") == 0


async def test_batched_frames_of_a_lost_connection_are_dropped() -> None:
    ws, transport, handler = connect(shortcut=True, batch=WriteBatch())
    ws.send_frame(frame_message("never"))
    ws.connection_lost(None)
    await asyncio.sleep(0)
    assert transport.writes == 0
    assert handler.codes == [1006]


class PausingRecorder(Recorder):
    """Pauses reading after every message, as an application that cannot keep up."""

    def on_message(self, data: str | bytes) -> None:
        super().on_message(data)
        self.ws.pause_reading()


def run_paused(chunks: list[bytes], *, shortcut: bool) -> tuple[Any, ...]:
    """Feed ``chunks`` to a connection that pauses after each message; resume until done."""
    ws, transport, _ = connect(shortcut=shortcut)
    handler = PausingRecorder(ws)
    ws._handler = handler
    for chunk in chunks:
        if transport.closed:
            break
        ws.data_received(chunk)
        while ws._app_paused:
            delivered = len(handler.messages)
            ws.resume_reading()
            if len(handler.messages) == delivered:
                break  # nothing was waiting: the next chunk brings more
    ws.connection_lost(None)
    return handler.messages, bytes(transport.out), handler.codes, transport.closed


@pytest.mark.parametrize("name", sorted(STREAMS))
@pytest.mark.parametrize("split", [whole, random_chunks], ids=lambda f: f.__name__)
@pytest.mark.parametrize("shortcut", [True, False])
async def test_pausing_after_each_message_delivers_the_same(
    name: str, split: Split, shortcut: bool
) -> None:
    # What waits while paused (bytes not parsed, frames not dispatched) comes out on resume,
    # in order: the same messages, bytes written and close codes as without pausing.
    chunks = split(b"".join(STREAMS[name]))
    assert run_paused(chunks, shortcut=shortcut) == run(chunks, shortcut=shortcut, eof=False)


async def test_no_message_is_delivered_while_paused() -> None:
    ws, _, handler = connect(shortcut=True)
    ws.pause_reading()
    ws.data_received(frame(TEXT, b"a") + frame(TEXT, b"b"))
    ws.data_received(frame(TEXT, b"c", fin=False) + frame(CONT, b"d"))
    assert handler.messages == []
    ws.resume_reading()
    assert handler.messages == ["a", "b", "cd"]


def fragmented(count: int, size: int) -> bytes:
    """One text message in ``count`` frames of ``size`` bytes each."""
    frames = [frame(TEXT, b"a" * size, fin=count == 1)]
    frames += [frame(CONT, b"a" * size, fin=i == count - 1) for i in range(1, count)]
    return b"".join(frames)


@pytest.mark.parametrize(
    ("count", "size", "delivered"),
    [
        (FREE_FRAGMENTS, 0, True),  # tiny fragments are free up to 64
        (FREE_FRAGMENTS + 1, 0, False),
        (1000, MIN_FRAGMENT_AVERAGE, True),
        (1000, MIN_FRAGMENT_AVERAGE - 1, False),
        (MAX_FRAGMENTS, 6, False),  # 16,384 frames averaging 6 bytes
        (MAX_FRAGMENTS, MIN_FRAGMENT_AVERAGE // 16, False),
    ],
)
async def test_fragments_per_message_are_bounded(count: int, size: int, delivered: bool) -> None:
    ws, transport, handler = connect(shortcut=True)
    ws.data_received(fragmented(count, size))
    if delivered:
        assert handler.messages == ["a" * (count * size)]
        assert not transport.closed
    else:
        assert handler.messages == []
        # a close frame with 1008 and no reason (ws past maxFragments), and nothing
        # gathered is kept
        assert bytes(transport.out)[:4] == b"\x88\x02\x03\xf0"
        assert ws._fragments == bytearray()


async def test_fragment_count_cap_holds_for_large_fragments() -> None:
    protocol = NativeServerProtocol(state=State.OPEN, max_size=None)
    transport = FakeTransport()
    ws = NativeWebSocket(transport, protocol, lambda _ws: None)  # type: ignore[arg-type]
    handler = Recorder(ws)
    ws.start(handler, b"")
    ws.data_received(fragmented(MAX_FRAGMENTS, 100))
    assert handler.messages == [("a" * 100) * MAX_FRAGMENTS]
    ws.data_received(fragmented(MAX_FRAGMENTS + 1, 100))
    assert len(handler.messages) == 1
    assert bytes(transport.out)[:4] == b"\x88\x02" + (1008).to_bytes(2, "big")


class SlowTransport(FakeTransport):
    """A transport with a write buffer and a high-water mark, like asyncio's: it keeps what
    it is given until ``drain()``, and pauses its protocol above ``high`` bytes."""

    def __init__(self, high: int) -> None:
        super().__init__()
        self.high = high
        self.buffered = 0
        self.protocol: NativeWebSocket | None = None
        self.paused = False

    def write(self, data: bytes) -> None:
        super().write(data)
        self._grow(len(data))

    def writelines(self, chunks: Any) -> None:
        chunks = list(chunks)
        super().writelines(chunks)
        self._grow(sum(len(c) for c in chunks))

    def _grow(self, size: int) -> None:
        self.buffered += size
        if self.buffered > self.high and not self.paused and self.protocol is not None:
            self.paused = True
            self.protocol.pause_writing()

    def get_write_buffer_size(self) -> int:
        return self.buffered

    def drain(self) -> None:
        """The peer read everything: the buffer empties, the protocol resumes."""
        self.buffered = 0
        if self.paused and self.protocol is not None:
            self.paused = False
            self.protocol.resume_writing()


def slow_connection(high: int) -> tuple[NativeWebSocket, SlowTransport]:
    transport = SlowTransport(high)
    protocol = NativeServerProtocol(state=State.OPEN, max_size=MAX_SIZE)
    ws = NativeWebSocket(transport, protocol, lambda _ws: None, WriteBatch())  # type: ignore[arg-type]
    transport.protocol = ws
    ws.start(Recorder(ws), b"")
    return ws, transport


async def test_corked_frames_wait_for_a_full_transport_and_count_as_buffered() -> None:
    ws, transport = slow_connection(high=64 * 1024)
    frames = [frame_message(bytes([n]) * 10_000) for n in range(100)]  # 1 MB
    for f in frames:
        ws.send_frame(f)
    # counted at once, before the batch hands them over
    assert ws.buffered_amount == sum(len(f) for f in frames)
    await asyncio.sleep(0)
    # The transport took one slice and went over its mark; the rest waits, uncopied.
    assert transport.paused
    assert 64 * 1024 < transport.buffered <= 256 * 1024 + len(frames[0])
    assert ws.buffered_amount == sum(len(f) for f in frames)
    taken = len(transport.handed)
    assert all(h is f for h, f in zip(transport.handed, frames[:taken], strict=True))
    ws.send_text("after")  # waits behind the frames
    ws.close(1000)  # and the close frame behind it, then the TCP close
    assert not transport.closed
    while transport.paused:
        transport.drain()
    expected = b"".join(frames) + frame_message("after")
    assert bytes(transport.out).startswith(expected)
    assert transport.out[len(expected)] == 0x88
    assert ws.buffered_amount == transport.buffered
