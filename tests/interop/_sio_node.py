"""The official socket.io 4.8 server (tests/interop/js/sio_server.js) for client tests.

``sio_server`` starts the scenario server on 127.0.0.1 (a free port); see
:class:`client_scenarios.ScenarioServer` for killing it (SIGKILL, as a crash) and starting
it again on the same port.
"""

from __future__ import annotations

import shutil
from collections.abc import AsyncIterator

import pytest

# The scenarios' asserts explain themselves only when pytest rewrites them.
pytest.register_assert_rewrite(
    "client_scenarios", "client_scenarios_api", "client_scenarios_network"
)

from client_scenarios import ServerFactory, scenario_servers  # noqa: E402
from conftest import JS_DIR  # noqa: E402

__all__ = ["sio_server"]


@pytest.fixture
async def sio_server() -> AsyncIterator[ServerFactory]:
    """``await sio_server(parser="json", recovery=False, options={...}) -> ScenarioServer``,
    running the official Node server."""
    node_bin = shutil.which("node")
    if node_bin is None or not (JS_DIR / "node_modules").is_dir():
        pytest.skip("node or tests/interop/js/node_modules is missing (run `make npm`)")
    async for factory in scenario_servers(
        [node_bin, str(JS_DIR / "sio_server.js")], JS_DIR, "sio_server.js"
    ):
        yield factory
