"""The Redis test service itself: starts on a free port, answers, restarts, stops by PID."""

from __future__ import annotations

import os
import socket

import pytest

from integration.redis_fixtures import redis_server  # noqa: F401  (fixture)
from integration.redis_server import RedisServer

pytestmark = pytest.mark.integration


def _answers(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=1) as sock:
            sock.sendall(b"*1\r\n$4\r\nPING\r\n")
            return sock.recv(16) == b"+PONG\r\n"
    except OSError:
        return False


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # A zombie still "exists": the helper reaps, so a reaped pid raises above.
    return True


def test_serves_on_loopback_without_persistence(redis_server: RedisServer) -> None:  # noqa: F811
    assert redis_server.url == f"redis://127.0.0.1:{redis_server.port}"
    assert _answers(redis_server.port)
    with socket.create_connection(("127.0.0.1", redis_server.port), timeout=1) as sock:
        sock.sendall(b"*3\r\n$6\r\nCONFIG\r\n$3\r\nGET\r\n$4\r\nsave\r\n")
        reply = sock.recv(256)
    assert reply == b"*2\r\n$4\r\nsave\r\n$0\r\n\r\n"


def test_kill_and_start_keep_the_port(redis_server: RedisServer) -> None:  # noqa: F811
    port, pid = redis_server.port, redis_server.pid
    assert pid is not None
    redis_server.kill()
    assert not _alive(pid)
    assert not _answers(port)
    redis_server.start()
    assert redis_server.port == port
    assert redis_server.pid not in (None, pid)
    assert _answers(port)


async def test_async_restart(redis_server: RedisServer) -> None:  # noqa: F811
    port, pid = redis_server.port, redis_server.pid
    await redis_server.arestart()
    assert (redis_server.port, _answers(port)) == (port, True)
    assert redis_server.pid != pid


def test_stop_ends_the_process(redis_server: RedisServer) -> None:  # noqa: F811
    pid = redis_server.pid
    assert pid is not None
    redis_server.stop()
    assert not redis_server.running
    assert not _alive(pid)
    assert not _answers(redis_server.port)
    redis_server.stop()  # idempotent


def test_start_twice_is_refused(redis_server: RedisServer) -> None:  # noqa: F811
    with pytest.raises(RuntimeError, match="already running"):
        redis_server.start()
