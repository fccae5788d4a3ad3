"""How many of an event's arguments a client handler is given: JavaScript's rule.

A JavaScript listener ignores the arguments it does not declare; Python raises
``TypeError`` on them. socketwire's client follows JavaScript: a handler that declares fewer
positional parameters than the event has is called with the first ones only, so a server
that adds an argument to an event (or a ``disconnect`` that now says why, in ``details``)
does not break a client written before. A handler with ``*args`` gets them all. A handler
that declares more parameters than the event has is called with what there is, and fails as
any Python call with missing arguments fails (give those parameters defaults: JavaScript
would pass ``undefined``). python-socketio raises in both cases. An
[`Ack`][socketwire.Ack] parameter is passed by keyword and takes none of the event's
arguments.
"""

from __future__ import annotations

import contextlib
import inspect
import weakref
from collections.abc import Callable, Sequence
from typing import Any

__all__ = ["fit_arguments", "positional_capacity"]

_POSITIONAL = (inspect.Parameter.POSITIONAL_ONLY, inspect.Parameter.POSITIONAL_OR_KEYWORD)

# handler -> how many positional arguments it takes (None: any number), and the names of
# its positional parameters (for one the caller passes by keyword)
_shapes: weakref.WeakKeyDictionary[Any, tuple[int | None, frozenset[str]]] = (
    weakref.WeakKeyDictionary()
)


def _shape(fn: Callable[..., Any]) -> tuple[int | None, frozenset[str]]:
    try:
        return _shapes[fn]
    except (KeyError, TypeError):
        pass
    try:
        parameters = list(inspect.signature(fn).parameters.values())
    except (TypeError, ValueError):
        shape: tuple[int | None, frozenset[str]] = (None, frozenset())  # a builtin: everything
    else:
        names = frozenset(p.name for p in parameters if p.kind in _POSITIONAL)
        rest = any(p.kind is inspect.Parameter.VAR_POSITIONAL for p in parameters)
        shape = (None if rest else len(names), names)
    # not cached when not weakly referenceable (a bound method is, a partial is not)
    with contextlib.suppress(TypeError):
        _shapes[fn] = shape
    return shape


def positional_capacity(fn: Callable[..., Any]) -> int | None:
    """How many positional arguments ``fn`` accepts; None for any number (``*args``, or a
    callable whose signature Python cannot tell)."""
    return _shape(fn)[0]


def fit_arguments(
    fn: Callable[..., Any], args: Sequence[Any], *, keyword: str | None = None
) -> tuple[Any, ...]:
    """``args`` cut to what ``fn`` takes (the extra ones are dropped, as JavaScript does).

    Args:
        fn: The handler.
        args: The event's arguments.
        keyword: A parameter the caller passes by keyword (the ``Ack`` handle, which comes
            after the event's arguments): it takes none of ``args``.
    """
    capacity, names = _shape(fn)
    if capacity is not None and keyword is not None and keyword in names:
        capacity -= 1
    if capacity is None or len(args) <= capacity:
        return tuple(args)
    return tuple(args[:capacity])
