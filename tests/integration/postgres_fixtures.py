"""pytest fixtures for tests that need a real PostgreSQL.

Import them into a test module: ``from integration.postgres_fixtures import postgres_db,
postgres_server``.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from .postgres_server import PG_BIN, PostgresServer

__all__ = ["postgres_db", "postgres_server"]


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
