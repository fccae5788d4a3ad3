"""socketwire's Socket.IO client against the official Node server (socket.io 4.8.4).

The scenarios are in tests/client_scenarios.py, shared with
tests/integration/test_client_vs_socketwire.py; here they run against
tests/interop/js/sio_server.js (the ``sio_server`` fixture of :mod:`_sio_node`).
"""

from __future__ import annotations

import pytest
from _sio_node import sio_server

from client_scenarios import (
    clients,
    test_auth_callable_is_called_on_each_attempt,
    test_connect_error_carries_the_middleware_data,
    test_emit_after_a_frozen_loop_is_buffered,
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

__all__ = [
    "clients",
    "sio_server",
    "test_auth_callable_is_called_on_each_attempt",
    "test_connect_error_carries_the_middleware_data",
    "test_emit_after_a_frozen_loop_is_buffered",
    "test_managers_are_shared_unless_forced_new",
    "test_namespaces_events_binary_and_acks",
    "test_no_reconnection_after_client_disconnect",
    "test_no_reconnection_after_server_disconnect",
    "test_plain_handler_emits_from_its_worker_thread",
    "test_reconnect_failed_after_the_attempts",
    "test_recovery_after_a_forced_transport_close",
    "test_retries_when_the_server_drops_the_first_ack",
    "test_server_killed_and_restarted",
    "test_slow_plain_handler_does_not_block_heartbeats",
    "test_stray_and_malformed_packets",
    "test_sync_client",
    "test_timeout_ack_and_volatile",
]

pytestmark = pytest.mark.interop
