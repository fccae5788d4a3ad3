"""Reconnection back-off, as socket.io-client's ``contrib/backo2.js`` (pure, no clock).

The delay before attempt ``n`` (counting from 0) is ``min * factor**n``; with a jitter
``j`` in ``(0, 1]`` it moves by up to ``j`` times itself, down or up (one random draw picks
both the size and the direction, exactly as backo2), and it never exceeds ``max``. Like the
JS code the computation is made in whole milliseconds.
"""

from __future__ import annotations

import math
import random as random_module
from collections.abc import Callable

__all__ = ["Backoff"]

# 2.0 ** 1000 still fits a float; past it the delay is at its maximum anyway.
_MAX_EXPONENT = 1000


class Backoff:
    """Exponential back-off with jitter.

    Args:
        min: the first delay, in seconds (socket.io-client's ``reconnectionDelay``).
        max: the largest delay, in seconds (``reconnectionDelayMax``).
        factor: the growth factor between attempts.
        jitter: the randomization factor (``randomizationFactor``); a value outside
            ``(0, 1]`` disables jitter, as in backo2.
        random: a source of floats in ``[0, 1)`` (tests pass a fixed one).
    """

    def __init__(
        self,
        *,
        min: float = 0.1,
        max: float = 10.0,
        factor: float = 2.0,
        jitter: float = 0.0,
        random: Callable[[], float] = random_module.random,
    ) -> None:
        if min < 0 or max < 0 or factor < 1:
            raise ValueError("back-off needs min >= 0, max >= 0 and factor >= 1")
        self.min = min
        self.max = max
        self.factor = factor
        self.jitter = jitter
        self.attempts = 0
        self._random = random

    @property
    def jitter(self) -> float:
        """The randomization factor (0: none); setting a value outside ``(0, 1]`` sets 0."""
        return self._jitter

    @jitter.setter
    def jitter(self, value: float) -> None:
        self._jitter = value if 0 < value <= 1 else 0.0

    def duration(self) -> float:
        """Return the delay before the next attempt, in seconds, and count the attempt."""
        exponent = min(self.attempts, _MAX_EXPONENT)
        self.attempts += 1
        ms = self.min * 1000 * self.factor**exponent
        if self.jitter:
            rand = self._random()
            deviation = math.floor(rand * self.jitter * ms)
            # backo2 takes the direction from the first decimal digit of the same draw.
            ms = ms - deviation if math.floor(rand * 10) & 1 == 0 else ms + deviation
        return int(min(ms, self.max * 1000)) / 1000

    def reset(self) -> None:
        """Start again from the first delay (after a successful connection)."""
        self.attempts = 0
