"""Handing a TCP connection to another worker (socketwire.io.handoff), over real sockets."""

from __future__ import annotations

import asyncio
import socket
from pathlib import Path

import pytest

from socketwire.engineio.sids import new_sid, owner_prefix
from socketwire.io.handoff import CHUNK, MAX_HANDED, Handoff, HandoffReceiver, request_sid


@pytest.mark.parametrize(
    ("line", "sid"),
    [
        (b"GET /socket.io/?EIO=4&transport=polling&sid=abc HTTP/1.1", "abc"),
        (b"POST /socket.io/?sid=xyz&EIO=4 HTTP/1.1", "xyz"),
        (b"GET /socket.io/?EIO=4&transport=polling HTTP/1.1", None),
        (b"GET /socket.io/?EIO=4&nosid=abc HTTP/1.1", None),
        (b"GET /?sid=abc#frag HTTP/1.1", "abc"),
        (b"GET / HTTP/1.1", None),
        (b"garbage", None),
    ],
)
def test_request_sid(line: bytes, sid: str | None) -> None:
    assert request_sid(line) == sid


def test_owner_is_another_worker_only() -> None:
    handoff = Handoff(0, ["/a", "/b"])
    mine = new_sid(owner_prefix(0, "node"))
    theirs = new_sid(owner_prefix(1, "node"))
    beyond = new_sid(owner_prefix(5, "node"))
    assert handoff.owner(f"GET /s/?sid={theirs} HTTP/1.1".encode()) == 1
    assert handoff.owner(f"GET /s/?sid={mine} HTTP/1.1".encode()) is None
    assert handoff.owner(f"GET /s/?sid={beyond} HTTP/1.1".encode()) is None
    assert handoff.owner(b"GET /s/?EIO=4 HTTP/1.1") is None


def test_another_nodes_session_is_not_handed_to_a_worker_here() -> None:
    handoff = Handoff(0, ["/a", "/b"], node="here")
    assert handoff.owner(f"GET /s/?sid={new_sid(owner_prefix(1, 'here'))} HTTP/1.1".encode()) == 1
    other = new_sid(owner_prefix(1, "else"))
    assert handoff.owner(f"GET /s/?sid={other} HTTP/1.1".encode()) is None


@pytest.mark.parametrize("size", [10, CHUNK - 1, CHUNK, 3 * CHUNK + 7])
async def test_a_connection_and_its_bytes_move(tmp_path: Path, size: int) -> None:
    adopted: asyncio.Queue[tuple[socket.socket, bytes]] = asyncio.Queue()
    path = str(tmp_path / "w1.sock")
    receiver = HandoffReceiver(path, lambda sock, data: adopted.put_nowait((sock, data)))
    receiver.start()
    sender = Handoff(0, [str(tmp_path / "w0.sock"), path])
    ours, peer = socket.socketpair()
    try:
        data = bytes(i % 251 for i in range(size))
        # Sending blocks while the receiver (on this loop) has not read: send from a thread.
        loop = asyncio.get_running_loop()
        assert await loop.run_in_executor(None, sender.send, 1, ours.fileno(), data)
        ours.close()  # the sender's descriptor goes; the connection stays
        moved, received = await asyncio.wait_for(adopted.get(), 5)
        assert received == data
        with moved:
            moved.setblocking(True)
            moved.sendall(b"answer")
            assert peer.recv(16) == b"answer"
        assert sender.stats.sent == 1
    finally:
        sender.close()
        receiver.close()
        peer.close()


async def test_an_absent_owner_fails_and_the_caller_keeps_the_connection(tmp_path: Path) -> None:
    sender = Handoff(0, [str(tmp_path / "w0.sock"), str(tmp_path / "gone.sock")])
    ours, peer = socket.socketpair()
    with ours, peer:
        assert not sender.send(1, ours.fileno(), b"GET / HTTP/1.1\r\n")
        assert sender.stats.failed == 1
        ours.sendall(b"still ours")
        assert peer.recv(16) == b"still ours"


async def test_more_than_the_bound_is_dropped(tmp_path: Path) -> None:
    adopted: list[bytes] = []
    path = str(tmp_path / "w1.sock")
    receiver = HandoffReceiver(path, lambda sock, data: (adopted.append(data), sock.close()))
    receiver.start()
    sender = Handoff(0, ["", path])
    ours, peer = socket.socketpair()
    try:
        loop = asyncio.get_running_loop()
        # Sending blocks while the receiver reads on this loop: send from a thread.
        await loop.run_in_executor(None, sender.send, 1, ours.fileno(), b"x" * (MAX_HANDED + CHUNK))
        assert await loop.run_in_executor(None, sender.send, 1, ours.fileno(), b"small")
        for _ in range(100):
            if adopted:
                break
            await asyncio.sleep(0.01)
        assert adopted == [b"small"]
    finally:
        sender.close()
        receiver.close()
        ours.close()
        peer.close()
