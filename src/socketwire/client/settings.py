"""The reconnection settings a Manager lets the application change while it runs.

socket.io-client has ``manager.reconnection(false)``, ``manager.reconnectionDelay(500)``...;
these are their Python properties. A new value applies from the next attempt on. As in JS,
a value set here is taken as it is (``reconnection_attempts = 0`` means no attempt), unlike
the constructor's options (see [`socketwire.client.options`][socketwire.client.options]).
"""

from __future__ import annotations

import math

from socketwire.client.backoff import Backoff
from socketwire.client.options import ManagerOptions

__all__ = ["ReconnectionSettings"]


class ReconnectionSettings:
    """The runtime settings of a Manager (a mixin over its back-off)."""

    backoff: Backoff
    _skip_reconnect: bool

    def _init_settings(self, options: ManagerOptions) -> None:
        assert options.reconnection_delay is not None
        assert options.reconnection_delay_max is not None
        assert options.randomization_factor is not None
        assert options.reconnection_attempts is not None
        self.backoff = Backoff(
            min=options.reconnection_delay,
            max=options.reconnection_delay_max,
            jitter=options.randomization_factor,
        )
        self._reconnection = options.reconnection
        self._reconnection_attempts = options.reconnection_attempts
        self._timeout = options.timeout if options.timeout is not None else 20.0

    @property
    def reconnection(self) -> bool:
        """Reconnect after an unexpected disconnection (JS ``manager.reconnection()``).

        Setting False also stops a reconnection under way, as in JS.
        """
        return self._reconnection

    @reconnection.setter
    def reconnection(self, value: bool) -> None:
        self._reconnection = bool(value)
        if not value:
            self._skip_reconnect = True

    @property
    def reconnection_attempts(self) -> float:
        """Attempts before ``reconnect_failed`` (``math.inf``: no end)."""
        return self._reconnection_attempts

    @reconnection_attempts.setter
    def reconnection_attempts(self, value: float) -> None:
        self._reconnection_attempts = _non_negative("reconnection_attempts", value)

    @property
    def reconnection_delay(self) -> float:
        """The first delay before reconnecting, in seconds."""
        return self.backoff.min

    @reconnection_delay.setter
    def reconnection_delay(self, value: float) -> None:
        self.backoff.min = _non_negative("reconnection_delay", value)

    @property
    def reconnection_delay_max(self) -> float:
        """The largest delay before reconnecting, in seconds."""
        return self.backoff.max

    @reconnection_delay_max.setter
    def reconnection_delay_max(self, value: float) -> None:
        self.backoff.max = _non_negative("reconnection_delay_max", value)

    @property
    def randomization_factor(self) -> float:
        """The jitter of the delays, in ``[0, 1]`` (another value turns jitter off)."""
        return self.backoff.jitter

    @randomization_factor.setter
    def randomization_factor(self, value: float) -> None:
        self.backoff.jitter = value

    @property
    def timeout(self) -> float:
        """Seconds allowed for each connection attempt (``math.inf``: no limit)."""
        return self._timeout

    @timeout.setter
    def timeout(self, value: float) -> None:
        self._timeout = _non_negative("timeout", value)

    @property
    def engine_timeout(self) -> float | None:
        """[`timeout`][timeout] for the Engine.IO client (None: no limit)."""
        return None if math.isinf(self._timeout) else self._timeout


def _non_negative(name: str, value: float) -> float:
    if value is None or value < 0:
        raise ValueError(f"{name} must be >= 0, got {value!r}")
    return value
