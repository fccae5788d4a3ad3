"""pytest fixtures for tests that need a real PostgreSQL.

Import them into a test module: ``from integration.postgres_fixtures import postgres_db,
postgres_server``. :class:`NotifyCapture` watches (and speaks on) a database's channels.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from .cluster_nodes import WAIT
from .postgres_server import PG_BIN, PostgresServer

__all__ = ["NotifyCapture", "postgres_db", "postgres_server"]


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[PostgresServer]:
    """A PostgreSQL cluster in a temporary directory on a free 127.0.0.1 port, stopped (by
    PID) at the end of the session.

    Skips only when PostgreSQL is not installed (``make system-deps`` installs it) or the
    asyncpg driver is missing (the ``postgres`` extra; ``dev`` has it).
    """
    pytest.importorskip("asyncpg", reason="asyncpg is not installed (pip install -e '.[dev]')")
    if PG_BIN is None:
        pytest.skip("PostgreSQL is not installed (run `make system-deps`)")
    server = PostgresServer(PG_BIN)
    try:
        server.start()
        yield server
    finally:
        server.stop()


@pytest.fixture
def postgres_db(postgres_server: PostgresServer) -> str:
    """The DSN of a fresh database with the attachment table (notification channels are
    per database, so tests do not hear each other)."""
    return postgres_server.dsn(postgres_server.create_database())


class NotifyCapture:
    """Everything notified on some channels of a database, in order, as a third party
    LISTENing there sees it (its own asyncpg connection)."""

    def __init__(self, connection: Any) -> None:
        self.connection = connection
        self.payloads: list[tuple[str, str]] = []
        self._changed = asyncio.Event()

    @classmethod
    async def open(cls, dsn: str, *channels: str) -> NotifyCapture:
        """LISTEN on ``channels``."""
        import asyncpg  # type: ignore[import-untyped]

        capture = cls(await asyncpg.connect(dsn))
        for channel in channels:
            await capture.connection.add_listener(channel, capture._on_notify)
        return capture

    def _on_notify(self, _conn: Any, _pid: int, channel: str, payload: str) -> None:
        self.payloads.append((channel, payload))
        self._changed.set()

    def decoded(self) -> list[dict[str, Any]]:
        """The payloads that are JSON objects, decoded."""
        found = []
        for _channel, payload in self.payloads:
            with contextlib.suppress(ValueError):
                value = json.loads(payload)
                if isinstance(value, dict):
                    found.append(value)
        return found

    async def wait(self, check: Callable[[list[dict[str, Any]]], bool], what: str) -> None:
        """Wait (at most WAIT) until ``check(self.decoded())``; fail the test otherwise."""
        deadline = time.monotonic() + WAIT
        while not check(self.decoded()):
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                pytest.fail(f"timed out waiting for {what}; got {self.payloads[-20:]}")
            self._changed.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._changed.wait(), remaining)

    async def notify(self, channel: str, payload: str) -> None:
        """Notify ``payload`` on ``channel`` (as a foreign node would)."""
        await self.connection.execute("SELECT pg_notify($1, $2)", channel, payload)

    async def close(self) -> None:
        """Close the connection."""
        await self.connection.close()
