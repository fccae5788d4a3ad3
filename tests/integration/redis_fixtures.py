"""pytest fixtures for tests that need a real Redis.

Load with ``pytest_plugins = ["integration.redis_fixtures"]`` in tests/conftest.py.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from .redis_server import REDIS_SERVER, RedisServer

__all__ = ["redis_server"]


@pytest.fixture
def redis_server() -> Iterator[RedisServer]:
    """A fresh redis-server on a free 127.0.0.1 port, stopped (by PID) after the test.

    Skips the test only when no redis-server binary exists (``make system-deps`` installs
    one).
    """
    if REDIS_SERVER is None:
        pytest.skip("redis-server is not installed (run `make system-deps`)")
    server = RedisServer(REDIS_SERVER)
    server.start()
    try:
        yield server
    finally:
        server.stop()
