"""socketwire's Socket.IO client against socketwire's own Server.

The scenarios are in tests/client_scenarios.py, shared with
tests/interop/test_client_vs_node.py (the official Node server); here they run against
tests/integration/sio_server.py, which serves ``socketwire.Server`` in a process of its own
(so it can be killed and restarted on the same port, as the Node one) and speaks the same
command protocol. Every scenario runs on the native plumbing; those in :data:`ASGI` also
run with the ASGI app under uvicorn.
"""

from __future__ import annotations

import sys
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

# The scenarios' asserts explain themselves only when pytest rewrites them.
pytest.register_assert_rewrite(
    "client_scenarios", "client_scenarios_api", "client_scenarios_network"
)

from client_scenarios import (  # noqa: E402
    ServerFactory,
    clients,
    scenario_servers,
    test_auth_callable_is_called_on_each_attempt,
    test_connect_error_carries_the_middleware_data,
    test_emit_after_a_frozen_loop_is_buffered,
    test_handler_with_an_ack_answers_later_or_never,
    test_managers_are_shared_unless_forced_new,
    test_namespaces_events_binary_and_acks,
    test_no_reconnection_after_client_disconnect,
    test_no_reconnection_after_server_disconnect,
    test_plain_handler_emits_from_its_worker_thread,
    test_reconnect_failed_after_the_attempts,
    test_recovery_after_a_forced_transport_close,
    test_retries_when_the_server_drops_the_first_ack,
    test_server_killed_and_restarted,
    test_slow_plain_handler_does_not_block_heartbeats,
    test_stray_and_malformed_packets,
    test_sync_client,
    test_timeout_ack_and_volatile,
)
from client_scenarios_api import (  # noqa: E402
    test_auth_the_parser_cannot_encode_fails_the_connect,
    test_auto_connect,
    test_connect_fails_at_once_with_the_transport_error,
    test_connect_with_retry_waits_for_the_server,
    test_engine_events,
    test_handler_arity_follows_javascript,
    test_once_and_catch_all_listeners,
    test_reconnection_attempts_zero_means_no_limit,
    test_reconnection_settings_change_at_run_time,
    test_remember_upgrade,
    test_request_options,
    test_simple_client,
    test_simple_client_bounds_its_queue,
    test_sync_client_listeners,
    test_sync_simple_client,
    test_try_all_transports,
)
from client_scenarios_network import (  # noqa: E402
    test_cookies_pin_the_session_behind_a_balancer,
    test_proxy_from_the_environment,
    test_through_an_http_proxy,
    test_tls_with_a_private_certificate_authority,
)

__all__ = [
    "clients",
    "pytest_generate_tests",
    "sio_server",
    "test_auth_callable_is_called_on_each_attempt",
    "test_auth_the_parser_cannot_encode_fails_the_connect",
    "test_auto_connect",
    "test_connect_error_carries_the_middleware_data",
    "test_connect_fails_at_once_with_the_transport_error",
    "test_connect_with_retry_waits_for_the_server",
    "test_cookies_pin_the_session_behind_a_balancer",
    "test_emit_after_a_frozen_loop_is_buffered",
    "test_engine_events",
    "test_handler_arity_follows_javascript",
    "test_handler_with_an_ack_answers_later_or_never",
    "test_managers_are_shared_unless_forced_new",
    "test_namespaces_events_binary_and_acks",
    "test_no_reconnection_after_client_disconnect",
    "test_no_reconnection_after_server_disconnect",
    "test_once_and_catch_all_listeners",
    "test_plain_handler_emits_from_its_worker_thread",
    "test_proxy_from_the_environment",
    "test_reconnect_failed_after_the_attempts",
    "test_reconnection_attempts_zero_means_no_limit",
    "test_reconnection_settings_change_at_run_time",
    "test_recovery_after_a_forced_transport_close",
    "test_remember_upgrade",
    "test_request_options",
    "test_retries_when_the_server_drops_the_first_ack",
    "test_server_killed_and_restarted",
    "test_simple_client",
    "test_simple_client_bounds_its_queue",
    "test_slow_plain_handler_does_not_block_heartbeats",
    "test_stray_and_malformed_packets",
    "test_sync_client",
    "test_sync_client_listeners",
    "test_sync_simple_client",
    "test_through_an_http_proxy",
    "test_timeout_ack_and_volatile",
    "test_tls_with_a_private_certificate_authority",
    "test_try_all_transports",
]

pytestmark = pytest.mark.integration

SERVER = Path(__file__).parent / "sio_server.py"

#: The scenarios also run with the ASGI app under uvicorn.
ASGI = frozenset(
    {
        "test_namespaces_events_binary_and_acks",
        "test_server_killed_and_restarted",
        "test_recovery_after_a_forced_transport_close",
        "test_retries_when_the_server_drops_the_first_ack",
        "test_sync_client",
    }
)


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    """Run each scenario on the native plumbing, and those in :data:`ASGI` under uvicorn."""
    if "sw_plumbing" in metafunc.fixturenames:
        kinds = ["native", "asgi"] if metafunc.function.__name__ in ASGI else ["native"]
        metafunc.parametrize("sw_plumbing", kinds)


@pytest.fixture
async def sio_server(sw_plumbing: str) -> AsyncIterator[ServerFactory]:
    """``await sio_server(parser="json", recovery=False, options={...}) -> ScenarioServer``,
    running socketwire's Server on ``sw_plumbing``."""
    async for factory in scenario_servers(
        [sys.executable, str(SERVER)],
        SERVER.parent,
        f"sio_server.py[{sw_plumbing}]",
        plumbing=sw_plumbing,
    ):
        yield factory
