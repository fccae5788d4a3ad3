"""Reading a handler's signature, once, at registration: the one place that does.

Every registry of application handlers (a server socket's ``on``, ``@sio.event`` and
class-based namespaces, the client's ``on``) hands its handler to
[`plan_handler()`][plan_handler] or [`prepare()`][prepare], which read the signature once
and decide how the handler is called:

- as it is, when nothing in its annotations is worth enforcing (no annotation, or only the
  builtins a JSON decoder already produces: ``str``, ``int``, ``float``, ``bool``, ``None``,
  ``list``, ``dict``, ``Any``, and ``list``/``dict``/unions of them), so an untyped handler
  costs nothing more per event;
- through a validating wrapper otherwise (pydantic models, dataclasses, TypedDicts,
  ``bytes``, ``Literal``, ``Annotated`` constraints, ``datetime``...), which converts the
  event's arguments before the handler runs and serialises its return value (the ack);
- with its acknowledgement handle, when a parameter is annotated
  [`Ack`][socketwire.Ack]: a ``socketwire.handlers.TakesAck`` (validating too,
  when its annotations are enforced), whose return value is then not the ack.

String annotations (``from __future__ import annotations``) are resolved with
``typing.get_type_hints()`` at registration; a name that cannot be resolved there (a type
imported only under ``TYPE_CHECKING``, a class local to a function) leaves its parameter
unchecked, with a warning in the log (an unresolvable ``Ack``, ``x.Ack``, counts as the
handle by its name).

The parameters of a handler have roles ([`Role`][Role]): a *context* argument the registry
passes itself (the socket, for ``@sio.event`` handlers), the event's *arguments*, the *rest*
(``*args``), the *ack* handle, and *options* (keyword-only parameters with defaults,
``**kwargs``) that the wire never fills. A new role (a parameter the dispatcher fills from
something else than the event's arguments) is added here, in ``_role()``, and consumed by
the caller that [`plan_handler()`][plan_handler] builds.
"""

from __future__ import annotations

import dataclasses
import enum
import functools
import inspect
import logging
import re
import types
import typing
import weakref
from collections.abc import Callable, Mapping
from typing import Any, Final

from socketwire.handlers import Ack, TakesAck, is_async

__all__ = [
    "EMPTY",
    "HandlerPlan",
    "HandlerSignature",
    "Parameter",
    "PreparedHandler",
    "Role",
    "Validation",
    "is_json_native",
    "plan_handler",
    "prepare",
    "read_signature",
]

logger = logging.getLogger("socketwire.typed")

#: No annotation (or one that could not be resolved).
EMPTY: Final[Any] = inspect.Parameter.empty


class Validation(enum.Enum):
    """Which handlers have their arguments validated (``Server(validation=...)``)."""

    #: handlers with an annotation a JSON decoder does not already satisfy (the default)
    AUTO = "auto"
    #: every annotated handler, builtins (``str``, ``int``...) included
    STRICT = "strict"
    #: none, even with pydantic installed
    OFF = "off"


class Role(enum.Enum):
    """Where a parameter's value comes from when the handler is called."""

    #: passed by the registry before the event's arguments (the socket of ``@sio.event``)
    CONTEXT = "context"
    #: one of the event's arguments, by position
    ARGUMENT = "argument"
    #: ``*args``: the event's remaining arguments
    REST = "rest"
    #: never filled from the wire (keyword-only with a default, ``**kwargs``)
    OPTION = "option"
    #: the event's acknowledgement handle (annotated [`Ack`][socketwire.Ack]), by keyword
    ACK = "ack"


@dataclasses.dataclass(frozen=True, slots=True)
class Parameter:
    """One parameter of a handler.

    Attributes:
        name: Its name.
        role: Where its value comes from.
        annotation: The resolved annotation, or ``EMPTY``.
        required: False when it has a default.
    """

    name: str
    role: Role
    annotation: Any
    required: bool


@dataclasses.dataclass(frozen=True, slots=True)
class HandlerSignature:
    """What a handler declares: its parameters, its return annotation, its docstring.

    Attributes:
        name: The handler's ``__name__`` (``@sio.event`` uses it as the event name).
        parameters: Every parameter, in order.
        returns: The return annotation (the ack, unless the handler takes an
            [`Ack`][socketwire.Ack]), or ``EMPTY``.
        doc: The first paragraph of its docstring, or None.
        is_async: True for a coroutine function (awaited on the loop).
    """

    name: str
    parameters: tuple[Parameter, ...]
    returns: Any
    doc: str | None
    is_async: bool

    @property
    def arguments(self) -> tuple[Parameter, ...]:
        """The parameters filled from the event's arguments, in order."""
        return tuple(p for p in self.parameters if p.role is Role.ARGUMENT)

    @property
    def rest(self) -> Parameter | None:
        """The ``*args`` parameter, if any."""
        return next((p for p in self.parameters if p.role is Role.REST), None)

    @property
    def ack(self) -> Parameter | None:
        """The [`Ack`][socketwire.Ack] parameter, if any (its return value is then no ack)."""
        return next((p for p in self.parameters if p.role is Role.ACK), None)

    def enforces(self, mode: Validation) -> bool:
        """True when, under ``mode``, some annotation is worth checking at run time."""
        if mode is Validation.OFF:
            return False
        annotations = [
            p.annotation for p in self.parameters if p.role in (Role.ARGUMENT, Role.REST)
        ]
        if self.ack is None:
            annotations.append(self.returns)
        if mode is Validation.STRICT:
            return any(a is not EMPTY and a is not Any and a is not object for a in annotations)
        return any(a is not EMPTY and not is_json_native(a) for a in annotations)


# Annotations a JSON decoder already satisfies (as objects, and as the strings
# `from __future__ import annotations` leaves), under Validation.AUTO.
_NATIVE_TYPES: Final = frozenset({str, int, float, bool, type(None), None, list, dict, object})
_NATIVE_NAMES: Final = frozenset(
    {"str", "int", "float", "bool", "None", "list", "dict", "object", "Any", "typing.Any"}
)
#: A string annotation that names the handle (``Ack``, ``socketwire.Ack``, ``sw.Ack``).
_ACK_NAME: Final = re.compile(r"(?:[A-Za-z_]\w*\.)*Ack")


def _may_take_ack(annotations: Mapping[str, Any]) -> bool:
    """Cheap: could one of these (raw) annotations be [`Ack`][socketwire.Ack]?"""
    return any(
        value is Ack or (isinstance(value, str) and "Ack" in value)
        for key, value in annotations.items()
        if key != "return"
    )


def is_json_native(annotation: Any) -> bool:
    """True for ``str``, ``int``, ``float``, ``bool``, ``None``, ``list``, ``dict``, ``Any``,
    ``object``, and ``list[...]``, ``dict[str, ...]`` and unions made only of them."""
    if annotation is Any or annotation in _NATIVE_TYPES:
        return True
    origin = typing.get_origin(annotation)
    if origin is None:
        return False
    if origin is typing.Union or origin is types.UnionType:
        return all(is_json_native(a) for a in typing.get_args(annotation))
    if origin is list:
        return all(is_json_native(a) for a in typing.get_args(annotation))
    if origin is dict:
        args = typing.get_args(annotation)
        return not args or (args[0] is str and is_json_native(args[1]))
    return False


def _unwrap(fn: Callable[..., Any]) -> tuple[Callable[..., Any], int]:
    """The function whose signature describes ``fn``, and how many of its leading positional
    parameters are already bound (a method's ``self``, a partial's arguments)."""
    if inspect.ismethod(fn):
        return fn.__func__, 1
    if isinstance(fn, functools.partial):
        inner, bound = _unwrap(fn.func)
        return inner, bound + len(fn.args)
    if not inspect.isfunction(fn) and not inspect.isbuiltin(fn):
        call = getattr(type(fn), "__call__", None)  # noqa: B004 - the method itself
        if inspect.isfunction(call):
            return call, 1
    return fn, 0


def _annotations(target: Callable[..., Any]) -> dict[str, Any]:
    """``target``'s annotations, resolved; unresolvable ones are left out (and logged)."""
    try:
        return typing.get_type_hints(target, include_extras=True)
    except Exception:
        pass
    # Resolve one at a time: the names that do resolve are still enforced.
    raw: dict[str, Any] = dict(getattr(target, "__annotations__", None) or {})
    namespace = dict(getattr(target, "__globals__", None) or {})
    resolved: dict[str, Any] = {}
    for name, value in raw.items():
        try:
            hints = typing.get_type_hints(
                _Holder({name: value}), globalns=namespace, include_extras=True
            )
        except Exception as exc:
            if isinstance(value, str) and _ACK_NAME.fullmatch(value.strip()):
                resolved[name] = Ack  # the handle, imported where the module cannot see
                continue
            logger.warning(
                "the annotation %r of %s(%s) cannot be resolved (%s): it is not enforced",
                value,
                getattr(target, "__qualname__", target),
                name,
                exc,
            )
            continue
        resolved[name] = hints[name]
    return resolved


class _Holder:
    """An object with only ``__annotations__``, for resolving one annotation at a time."""

    def __init__(self, annotations: dict[str, Any]) -> None:
        self.__annotations__ = annotations


def _role(parameter: inspect.Parameter, annotation: Any, context_left: int) -> Role:
    if annotation is Ack:
        if parameter.kind not in (
            inspect.Parameter.POSITIONAL_OR_KEYWORD,
            inspect.Parameter.KEYWORD_ONLY,
        ):
            raise TypeError(f"the Ack parameter {parameter.name!r} must take a keyword")
        return Role.ACK
    if parameter.kind is inspect.Parameter.VAR_POSITIONAL:
        return Role.REST
    if parameter.kind in (inspect.Parameter.KEYWORD_ONLY, inspect.Parameter.VAR_KEYWORD):
        return Role.OPTION
    if context_left > 0:
        return Role.CONTEXT
    return Role.ARGUMENT


def read_signature(fn: Callable[..., Any], *, context: int = 0) -> HandlerSignature:
    """Read ``fn``'s signature (slow: call it at registration, never per event).

    Args:
        fn: A function, coroutine function, bound method, ``functools.partial`` or callable
            object.
        context: How many leading positional parameters the registry fills itself (1 for
            the socket of ``@sio.event`` handlers and ``on_<event>`` methods).

    Raises:
        TypeError: a keyword-only parameter without a default (the wire cannot fill it), or
            fewer positional parameters than ``context``.
    """
    target, bound = _unwrap(fn)
    try:
        signature = inspect.signature(target)
    except (TypeError, ValueError):
        # a builtin without a signature: any arguments, nothing to check
        return HandlerSignature(
            getattr(fn, "__name__", type(fn).__name__),
            (Parameter("args", Role.REST, EMPTY, False),),
            EMPTY,
            None,
            is_async(fn),
        )
    hints = _annotations(target) if getattr(target, "__annotations__", None) else {}
    parameters: list[Parameter] = []
    skip = bound
    context_left = context
    for parameter in signature.parameters.values():
        positional = parameter.kind in (
            inspect.Parameter.POSITIONAL_ONLY,
            inspect.Parameter.POSITIONAL_OR_KEYWORD,
        )
        if skip and positional:
            skip -= 1
            continue
        annotation = hints.get(parameter.name, EMPTY)
        try:
            role = _role(parameter, annotation, context_left)
        except TypeError as exc:
            raise TypeError(f"{_describe(fn)}: {exc}") from None
        if role is Role.CONTEXT:
            context_left -= 1
        required = parameter.default is inspect.Parameter.empty and role in (
            Role.CONTEXT,
            Role.ARGUMENT,
        )
        if (
            parameter.kind is inspect.Parameter.KEYWORD_ONLY
            and parameter.default is inspect.Parameter.empty
            and role is not Role.ACK
        ):
            raise TypeError(
                f"{_describe(fn)}: the keyword-only parameter {parameter.name!r} has no "
                "default, and an event's arguments are positional"
            )
        parameters.append(Parameter(parameter.name, role, annotation, required))
    if context_left > 0 and not any(p.role is Role.REST for p in parameters):
        raise TypeError(f"{_describe(fn)}: expected a first parameter for the socket")
    acks = [p.name for p in parameters if p.role is Role.ACK]
    if len(acks) > 1:
        raise TypeError(f"{_describe(fn)}: one parameter may be an Ack, not {', '.join(acks)}")
    if acks:
        after = parameters[[p.name for p in parameters].index(acks[0]) + 1 :]
        if any(p.role is Role.ARGUMENT for p in after):
            # a positional argument after it would be filled by the event before it
            raise TypeError(f"{_describe(fn)}: the Ack parameter must follow the arguments")
    doc = inspect.getdoc(target)
    return HandlerSignature(
        getattr(target, "__name__", type(fn).__name__),
        tuple(parameters),
        hints.get("return", EMPTY),
        doc.split("\n\n", 1)[0].strip() if doc else None,
        is_async(fn),
    )


def _describe(fn: Callable[..., Any]) -> str:
    target, _ = _unwrap(fn)
    return f"handler {getattr(target, '__qualname__', repr(fn))}"


@dataclasses.dataclass(frozen=True, slots=True, eq=False)
class HandlerPlan:
    """How a handler is called: read once, bound to each socket (or used as is).

    Attributes:
        fn: The application's handler.
        signature: What it declares.
        call: What the registry calls with ``(*context, *event_arguments)``: ``fn`` itself
            when nothing is enforced, else a validating wrapper (a
            [`TypedHandler`][socketwire.typed.payloads.TypedHandler]); for a handler with an
            [`Ack`][socketwire.Ack], a ``socketwire.handlers.TakesAck`` (the
            dispatcher passes the handle), validating too when something is enforced.
    """

    fn: Callable[..., Any]
    signature: HandlerSignature
    call: Callable[..., Any]

    def bind(self, *context: Any) -> Callable[..., Any]:
        """The callable a registry stores for one socket: ``call`` with ``context`` first."""
        if not context:
            return self.call
        if isinstance(self.call, PreparedHandler | TakesAck):
            return self.call.bind(*context)
        bound = _Bound(self.call, *context)
        bound.is_coroutine_handler = self.signature.is_async
        return bound


class PreparedHandler:
    """The base of the callables [`plan_handler()`][plan_handler] builds:
    [`prepare()`][prepare] leaves them alone, and ``is_coroutine_handler`` tells
    ``is_async()`` at once whether they are awaited (it is asked on every event)."""

    __slots__ = ()
    is_coroutine_handler: bool = False

    def bind(self, *context: Any) -> PreparedHandler:
        """The same handler with ``context`` passed before the event's arguments."""
        raise NotImplementedError


class _Bound(functools.partial[Any]):
    """A handler that is called as it is, bound to its context (the socket of a route)."""

    is_coroutine_handler: bool


# The signature and payload checker of a function's code, for the many closures of one
# `def` inside a connection handler: (annotations seen, context, mode, outgoing) -> plan parts.
_plans: weakref.WeakKeyDictionary[Any, tuple[Any, HandlerSignature, Any]] = (
    weakref.WeakKeyDictionary()
)


def plan_handler(
    fn: Callable[..., Any],
    *,
    event: str,
    mode: Validation = Validation.AUTO,
    context: int = 0,
    check_outgoing: bool = False,
) -> HandlerPlan:
    """Read ``fn``'s signature and build how it is called.

    Args:
        fn: The handler.
        event: The event it handles (named in the errors it reports).
        mode: Which annotations are enforced.
        context: Leading parameters the registry fills (see [`read_signature()`][read_signature]).
        check_outgoing: Validate the return value (the ack) against the return annotation
            before it is sent (it is always serialised: models become dicts).

    Raises:
        TypeError: the handler's signature cannot take an event's arguments, or an
            annotation is one pydantic cannot validate.
    """
    target, bound = _unwrap(fn)
    code = getattr(target, "__code__", None)
    annotations = dict(getattr(target, "__annotations__", None) or {})
    key = (annotations, bound, context, mode, check_outgoing)
    cached = _plans.get(code) if code is not None else None
    if cached is not None and cached[0] == key:
        signature, checker = cached[1], cached[2]
    else:
        signature = read_signature(fn, context=context)
        checker = None
        if signature.enforces(mode):
            from socketwire.typed import payloads

            checker = payloads.checker_for(signature, mode, check_outgoing=check_outgoing)
        if code is not None:
            _plans[code] = (key, signature, checker)
    if checker is not None:
        return HandlerPlan(fn, signature, checker.wrap(fn, signature, event))
    ack = signature.ack
    if ack is not None:
        return HandlerPlan(fn, signature, TakesAck(fn, ack.name))
    return HandlerPlan(fn, signature, fn)


def prepare(
    fn: Callable[..., Any],
    *,
    event: str,
    mode: Validation = Validation.AUTO,
    check_outgoing: bool = False,
) -> Callable[..., Any]:
    """The callable a registry stores for ``fn`` (``socket.on(event, fn)``): ``fn`` itself
    unless its annotations are enforced or it takes an [`Ack`][socketwire.Ack]. Cheap for
    handlers without annotations.

    Raises:
        TypeError: see [`plan_handler()`][plan_handler]; also an ``Ack`` parameter that cannot
            be passed by keyword, or two of them.
    """
    annotations: dict[str, Any] | None
    if type(fn) is types.FunctionType:
        # the usual handler: no unwrapping, and most have no annotations
        annotations = fn.__annotations__
        if not annotations:
            return fn
    elif isinstance(fn, PreparedHandler | _Bound | TakesAck):
        return fn
    else:
        target, _ = _unwrap(fn)
        annotations = getattr(target, "__annotations__", None)
        if not annotations:
            return fn
    if mode is Validation.OFF and not _may_take_ack(annotations):
        return fn
    if mode is Validation.AUTO and all(
        (value in _NATIVE_NAMES if isinstance(value, str) else is_json_native(value))
        for value in annotations.values()
    ):
        return fn
    return plan_handler(fn, event=event, mode=mode, check_outgoing=check_outgoing).call
