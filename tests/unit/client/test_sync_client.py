"""SyncClient without a server: the background loop, errors crossing threads, shutdown."""

from __future__ import annotations

import socket
import threading

import pytest

from socketwire.client import BufferFullError, ConnectError, SyncClient, TransportError


def _dead_url() -> str:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"http://127.0.0.1:{port}"


def _loop_threads() -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name == "socketwire-sync-client"]


def test_errors_cross_back_and_close_stops_the_thread() -> None:
    before = len(_loop_threads())
    with SyncClient(reconnection=False, max_buffered_packets=1) as client:
        assert len(_loop_threads()) == before + 1
        client.emit("buffered")
        with pytest.raises(BufferFullError):
            client.emit("too-many")
        with pytest.raises(ConnectError):
            client.connect(_dead_url(), wait_timeout=5)
        assert not client.connected
        assert client.wait(5)
    assert len(_loop_threads()) == before
    client.close()  # closing twice is harmless


def test_bad_options_fail_in_the_constructor() -> None:
    before = len(_loop_threads())
    with pytest.raises(ValueError, match="parser"):
        SyncClient(parser="xml")
    assert len(_loop_threads()) == before


def test_connect_fails_at_once_without_a_server() -> None:
    # the same fail-fast connect as the async client: no hang, no thread left behind
    before = len(_loop_threads())
    with SyncClient() as client, pytest.raises(TransportError, match="xhr poll error"):
        client.connect(_dead_url())
    assert len(_loop_threads()) == before
