"""How many of an event's arguments a client handler is given: JavaScript's rule.

A JavaScript listener ignores the arguments it does not declare; Python raises
``TypeError`` on them. socketwire's client follows JavaScript: a handler that declares fewer
positional parameters than the event has is called with the first ones only, so a server
that adds an argument to an event (or a ``disconnect`` that now says why, in ``details``)
does not break a client written before. A handler with ``*args`` gets them all. A handler
that declares more parameters than the event has is called with what there is, and fails as
any Python call with missing arguments fails (give those parameters defaults: JavaScript
would pass ``undefined``). python-socketio raises in both cases.
"""

from __future__ import annotations

import contextlib
import inspect
import weakref
from collections.abc import Callable, Sequence
from typing import Any

__all__ = ["fit_arguments", "positional_capacity"]

_POSITIONAL = (inspect.Parameter.POSITIONAL_ONLY, inspect.Parameter.POSITIONAL_OR_KEYWORD)

# handler -> how many positional arguments it takes (None: any number)
_capacity: weakref.WeakKeyDictionary[Any, int | None] = weakref.WeakKeyDictionary()


def positional_capacity(fn: Callable[..., Any]) -> int | None:
    """How many positional arguments ``fn`` accepts; None for any number (``*args``, or a
    callable whose signature Python cannot tell)."""
    try:
        return _capacity[fn]
    except (KeyError, TypeError):
        pass
    try:
        parameters = inspect.signature(fn).parameters.values()
    except (TypeError, ValueError):
        capacity = None  # a builtin without a signature: give it everything
    else:
        if any(p.kind is inspect.Parameter.VAR_POSITIONAL for p in parameters):
            capacity = None
        else:
            capacity = sum(1 for p in parameters if p.kind in _POSITIONAL)
    # not cached when not weakly referenceable (a bound method is, a partial is not)
    with contextlib.suppress(TypeError):
        _capacity[fn] = capacity
    return capacity


def fit_arguments(fn: Callable[..., Any], args: Sequence[Any]) -> tuple[Any, ...]:
    """``args`` cut to what ``fn`` takes (the extra ones are dropped, as JavaScript does)."""
    capacity = positional_capacity(fn)
    if capacity is None or len(args) <= capacity:
        return tuple(args)
    return tuple(args[:capacity])
