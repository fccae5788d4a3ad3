"""Back-off delays: socket.io-client's backo2 formula, jitter, bounds, reset."""

from __future__ import annotations

import math

import pytest

from socketwire.client.backoff import Backoff


def test_doubles_without_jitter_and_stops_at_max() -> None:
    backoff = Backoff(min=1.0, max=5.0)
    assert [backoff.duration() for _ in range(5)] == [1.0, 2.0, 4.0, 5.0, 5.0]
    assert backoff.attempts == 5


def test_reset_starts_again() -> None:
    backoff = Backoff(min=0.5, max=10.0)
    backoff.duration()
    backoff.duration()
    backoff.reset()
    assert backoff.attempts == 0
    assert backoff.duration() == 0.5


@pytest.mark.parametrize(
    ("rand", "expected"),
    [
        # floor(rand * 10) even: subtract floor(rand * jitter * ms)
        (0.0, 1000),
        (0.25, 1000 - math.floor(0.25 * 0.5 * 1000)),
        # floor(rand * 10) odd: add it
        (0.15, 1000 + math.floor(0.15 * 0.5 * 1000)),
        (0.99, 1000 + math.floor(0.99 * 0.5 * 1000)),
    ],
)
def test_jitter_as_backo2(rand: float, expected: int) -> None:
    backoff = Backoff(min=1.0, max=5.0, jitter=0.5, random=lambda: rand)
    assert backoff.duration() == expected / 1000


def test_jitter_is_bounded_by_max() -> None:
    backoff = Backoff(min=4.0, max=5.0, jitter=1.0, random=lambda: 0.99)
    assert backoff.duration() == 5.0


def test_delays_truncate_to_milliseconds() -> None:
    backoff = Backoff(min=0.0015, max=1.0)
    assert backoff.duration() == 0.001
    assert backoff.duration() == 0.003


@pytest.mark.parametrize("jitter", [0, -1, 1.5])
def test_out_of_range_jitter_is_ignored(jitter: float) -> None:
    backoff = Backoff(min=1.0, max=5.0, jitter=jitter, random=lambda: 0.99)
    assert backoff.duration() == 1.0


def test_huge_attempt_counts_stay_at_max() -> None:
    backoff = Backoff(min=1.0, max=5.0, jitter=0.5)
    backoff.attempts = 10**6
    assert backoff.duration() <= 5.0


def test_random_delays_stay_within_jitter() -> None:
    backoff = Backoff(min=1.0, max=100.0, jitter=0.5)
    for attempt in range(5):
        base = 2**attempt
        assert base * 0.5 <= backoff.duration() <= base * 1.5


def test_rejects_nonsense() -> None:
    with pytest.raises(ValueError, match="back-off"):
        Backoff(min=-1)
