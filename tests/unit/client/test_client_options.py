"""Manager options read as socket.io-client reads them; the settings changed at run time."""

from __future__ import annotations

import math
from typing import Any

import pytest

from socketwire.client import AsyncClient, Manager, ManagerOptions


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        # JS: opts.reconnectionAttempts || Infinity
        ({"reconnection_attempts": 0}, {"reconnection_attempts": math.inf}),
        ({"reconnection_attempts": None}, {"reconnection_attempts": math.inf}),
        ({"reconnection_attempts": 3}, {"reconnection_attempts": 3}),
        # JS: opts.reconnectionDelay || 1000, opts.reconnectionDelayMax || 5000
        ({"reconnection_delay": 0}, {"reconnection_delay": 1.0}),
        ({"reconnection_delay": None}, {"reconnection_delay": 1.0}),
        ({"reconnection_delay": 0.2}, {"reconnection_delay": 0.2}),
        ({"reconnection_delay_max": 0}, {"reconnection_delay_max": 5.0}),
        # JS: opts.randomizationFactor ?? 0.5 (0 stays 0)
        ({"randomization_factor": None}, {"randomization_factor": 0.5}),
        ({"randomization_factor": 0}, {"randomization_factor": 0}),
        # JS: null == opts.timeout ? 20000 : opts.timeout; false: no timer
        ({"timeout": None}, {"timeout": 20.0}),
        ({"timeout": False}, {"timeout": math.inf}),
        ({"timeout": 0}, {"timeout": 0}),
    ],
)
def test_options_read_as_socket_io_client(given: dict[str, Any], expected: dict[str, Any]) -> None:
    options = ManagerOptions(**given)
    for name, value in expected.items():
        assert getattr(options, name) == value


@pytest.mark.parametrize(
    "given",
    [
        {"reconnection_delay": -1},
        {"timeout": -0.5},
        {"reconnection_attempts": -2},
        {"transports": ()},
        {"proxy": "socks5://127.0.0.1:1080"},
        {"transport_options": {"carrier-pigeon": {}}},
        {"transport_options": {"websocket": {"extraHeaders": {}}}},
    ],
)
def test_bad_options(given: dict[str, Any]) -> None:
    with pytest.raises(ValueError):  # noqa: PT011 - the message names the option
        ManagerOptions(**given)
    with pytest.raises(ValueError):  # noqa: PT011
        AsyncClient(**given)


def test_settings_change_at_run_time() -> None:
    manager = Manager("http://127.0.0.1:1", ManagerOptions(reconnection_delay=0))
    assert manager.reconnection_delay == 1.0  # the constructor's reading
    assert manager.timeout == 20.0
    manager.reconnection_delay = 0  # a setter takes the value as it is, as JS's
    manager.reconnection_delay_max = 2
    manager.randomization_factor = 0.3
    manager.reconnection_attempts = 0
    manager.timeout = math.inf
    assert (manager.backoff.min, manager.backoff.max, manager.backoff.jitter) == (0, 2, 0.3)
    assert manager.reconnection_attempts == 0
    assert manager.engine_timeout is None
    manager.randomization_factor = 7  # outside (0, 1]: no jitter, as backo2
    assert manager.randomization_factor == 0
    for name in ("reconnection_delay", "reconnection_delay_max", "timeout"):
        with pytest.raises(ValueError, match=name):
            setattr(manager, name, -1)
    assert manager.reconnection
    manager.reconnection = False
    assert not manager.reconnection
    assert not manager.will_retry
