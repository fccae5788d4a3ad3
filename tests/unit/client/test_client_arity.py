"""A client handler gets as many of an event's arguments as it declares (JavaScript's rule)."""

from __future__ import annotations

import functools
from typing import Any

import pytest

from socketwire.client.arity import fit_arguments, positional_capacity


def one(a: Any) -> None:
    """One positional parameter."""


def two_with_default(a: Any, b: Any = 0) -> None:
    """Two, the second optional."""


def star(a: Any, *rest: Any) -> None:
    """Any number."""


def keyword_only(a: Any, *, flag: bool = False) -> None:
    """One positional, one keyword-only (never filled by an event)."""


def nothing() -> None:
    """None."""


class Handler:
    """A callable object and a method."""

    def __call__(self, a: Any, b: Any) -> None:
        """Two."""

    def method(self, a: Any) -> None:
        """One (self is bound)."""


@pytest.mark.parametrize(
    ("fn", "capacity"),
    [
        (one, 1),
        (two_with_default, 2),
        (star, None),
        (keyword_only, 1),
        (nothing, 0),
        (lambda *args: None, None),
        (lambda a, b: None, 2),
        (Handler(), 2),
        (Handler().method, 1),
        (functools.partial(two_with_default, 1), 1),
        (print, None),  # a builtin: *args
    ],
)
def test_positional_capacity(fn: Any, capacity: int | None) -> None:
    assert positional_capacity(fn) == capacity
    assert positional_capacity(fn) == capacity  # and again, from the cache where cached


def test_extra_arguments_are_dropped_missing_ones_are_not_invented() -> None:
    args = ["a", "b", "c"]
    assert fit_arguments(one, args) == ("a",)
    assert fit_arguments(two_with_default, args) == ("a", "b")
    assert fit_arguments(star, args) == ("a", "b", "c")
    assert fit_arguments(nothing, args) == ()
    assert fit_arguments(two_with_default, ["a"]) == ("a",)  # the default applies
    with pytest.raises(TypeError):
        Handler()(*fit_arguments(Handler(), ["a"]))  # too few: Python's error, as asked
