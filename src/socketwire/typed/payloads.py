"""Validating and serialising event payloads with pydantic (the optional ``pydantic`` extra).

A [`PayloadChecker`][PayloadChecker] is built once per handler signature (or per declared
event) from its annotations: one pydantic ``TypeAdapter`` per annotated parameter and one
for the return annotation. Without pydantic nothing is built: annotations are then not
enforced (a warning says so once) and every handler is called as it is.

Values go out through [`to_wire()`][to_wire]: models, dataclasses, TypedDicts, enums, dates and
UUIDs become what JSON (or msgpack) can carry, and ``bytes`` stay ``bytes`` (they travel as
binary attachments).
"""

from __future__ import annotations

import dataclasses
import functools
import logging
import os
import sys
from collections.abc import Awaitable, Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any, Final

from socketwire.errors import PayloadError
from socketwire.handlers import Ack, TakesAck, call_handler
from socketwire.typed.signature import (
    EMPTY,
    HandlerSignature,
    PreparedHandler,
    Role,
    Validation,
)

if TYPE_CHECKING:
    from pydantic import TypeAdapter, ValidationError

__all__ = [
    "PayloadChecker",
    "TypedHandler",
    "TypedTakesAck",
    "available",
    "checker_for",
    "outgoing_default",
    "to_wire",
]

logger = logging.getLogger("socketwire.typed")

_REQUEST: Final = PayloadError.REQUEST
_RESPONSE: Final = PayloadError.RESPONSE


#: The handlers whose annotations went unchecked for want of pydantic.
_unchecked: set[str] = set()


@functools.cache
def available() -> bool:
    """True when pydantic (2.x) can be imported."""
    try:
        import pydantic
    except ImportError:
        return False
    return pydantic.VERSION.startswith("2.")


def checker_for(
    signature: HandlerSignature, mode: Validation, *, check_outgoing: bool
) -> PayloadChecker | None:
    """A checker for ``signature``, or None without pydantic (said once per process, at
    the first handler whose annotations go unchecked).

    Raises:
        TypeError: an annotation pydantic cannot validate.
    """
    if not available():
        if not _unchecked:
            logger.warning(
                "pydantic is not installed: handler annotations are not enforced (the first: "
                "%s); install socketwire's 'pydantic' extra",
                signature.name,
            )
        _unchecked.add(signature.name)
        return None
    return PayloadChecker(signature, mode, check_outgoing=check_outgoing)


@functools.lru_cache(maxsize=1024)
def _cached_adapter(annotation: Any) -> TypeAdapter[Any]:
    from pydantic import TypeAdapter

    return TypeAdapter(annotation)


def adapter(annotation: Any, where: str) -> TypeAdapter[Any]:
    """The pydantic ``TypeAdapter`` of ``annotation`` (shared between equal annotations).

    Raises:
        TypeError: pydantic cannot build a validator for it (``where`` says whose).
    """
    from pydantic import PydanticUserError, TypeAdapter
    from pydantic.errors import PydanticSchemaGenerationError

    try:
        try:
            return _cached_adapter(annotation)
        except TypeError:  # unhashable annotation (metadata without __hash__)
            return TypeAdapter(annotation)
    except (PydanticSchemaGenerationError, PydanticUserError) as exc:
        raise TypeError(f"{where}: {exc}") from None


def _issues(exc: ValidationError, prefix: Sequence[int | str]) -> list[dict[str, Any]]:
    return [
        {"path": [*prefix, *error["loc"]], "message": error["msg"], "type": error["type"]}
        for error in exc.errors(include_url=False, include_context=False, include_input=False)
    ]


def _issue(index: int, message: str, kind: str) -> dict[str, Any]:
    return {"path": [index], "message": message, "type": kind}


class PayloadChecker:
    """Checks arguments against a signature's parameters, and an acknowledgement against
    its return annotation.

    For a handler: [`arguments()`][arguments] converts what arrived, [`ack()`][ack] what it returns.
    For a declared server-to-client event: [`outgoing()`][outgoing] what is about to be sent,
    [`answer()`][answer] the acknowledgement that came back.
    """

    def __init__(
        self, signature: HandlerSignature, mode: Validation, *, check_outgoing: bool
    ) -> None:
        where = f"handler {signature.name}"

        def make(annotation: Any, name: str) -> TypeAdapter[Any] | None:
            # Validation.AUTO leaves a handler with builtins only alone (see signature.py);
            # once a handler is checked, every annotated parameter is, builtins included.
            if annotation is EMPTY or annotation is Any or annotation is object:
                return None
            return adapter(annotation, f"{where}, {name}")

        self._context = sum(1 for p in signature.parameters if p.role is Role.CONTEXT)
        arguments = signature.arguments
        self._names = [p.name for p in arguments]
        self._adapters = [make(p.annotation, p.name) for p in arguments]
        self._required = sum(1 for p in arguments if p.required)
        rest = signature.rest
        self._has_rest = rest is not None
        self._rest = make(rest.annotation, "*" + rest.name) if rest is not None else None
        returns = signature.returns
        self._returns = None if returns is EMPTY else make(returns, "return")
        self._check_outgoing = check_outgoing
        from pydantic import ValidationError

        self._invalid = ValidationError

    # -- a handler -----------------------------------------------------------------------

    def arguments(self, event: str, args: Sequence[Any]) -> list[Any]:
        """The event's arguments, converted to the parameters' types.

        Raises:
            PayloadError: ``REQUEST_VALIDATION_ERROR``, with every issue found.
        """
        adapters = self._adapters
        if self._required <= len(args) <= len(adapters):
            # the usual event: no missing or extra argument; the first failure goes the
            # long way, which reports every issue
            try:
                return [
                    value if checker is None else checker.validate_python(value)
                    for checker, value in zip(adapters, args, strict=False)
                ]
            except self._invalid:
                pass
        return self._convert(event, args, _REQUEST, rejected=True)

    def ack(self, event: str, result: Any) -> Any:
        """The handler's return value, ready to be sent as the acknowledgement (validated
        first when outgoing validation is on).

        Raises:
            PayloadError: ``RESPONSE_VALIDATION_ERROR``.
        """
        returns = self._returns
        if returns is None:
            return to_wire(result)
        if self._check_outgoing:
            try:
                result = returns.validate_python(result)
            except self._invalid as exc:
                raise PayloadError(_RESPONSE, event, _issues(exc, []), rejected=True) from None
        return to_wire(returns.dump_python(result, mode="python", by_alias=True, warnings=False))

    # -- a declared server-to-client event ------------------------------------------------

    def outgoing(self, event: str, args: Sequence[Any]) -> list[Any]:
        """Arguments about to be sent, serialised (validated first when outgoing validation
        is on).

        Raises:
            PayloadError: ``REQUEST_VALIDATION_ERROR``.
        """
        if self._check_outgoing:
            args = self._convert(event, args, _REQUEST)
        out = []
        for index, value in enumerate(args):
            checker = self._adapters[index] if index < len(self._adapters) else self._rest
            if checker is not None:
                value = checker.dump_python(value, mode="python", by_alias=True, warnings=False)
            out.append(to_wire(value))
        return out

    def answer(self, event: str, value: Any) -> Any:
        """An acknowledgement received, converted to the declared type.

        Raises:
            PayloadError: ``RESPONSE_VALIDATION_ERROR``.
        """
        returns = self._returns
        if returns is None:
            return value
        from pydantic import ValidationError

        try:
            return returns.validate_python(value)
        except ValidationError as exc:
            raise PayloadError(_RESPONSE, event, _issues(exc, [])) from None

    # -- shared ----------------------------------------------------------------------------

    def _convert(
        self, event: str, args: Sequence[Any], code: str, *, rejected: bool = False
    ) -> list[Any]:
        from pydantic import ValidationError

        adapters = self._adapters
        count = len(args)
        issues: list[dict[str, Any]] = []
        values = list(args)
        for index in range(min(count, len(adapters))):
            checker = adapters[index]
            if checker is not None:
                try:
                    values[index] = checker.validate_python(args[index])
                except ValidationError as exc:
                    issues.extend(_issues(exc, [index]))
        if count > len(adapters):
            if not self._has_rest:
                issues.extend(
                    _issue(index, "Unexpected argument", "unexpected_argument")
                    for index in range(len(adapters), count)
                )
            elif self._rest is not None:
                for index in range(len(adapters), count):
                    try:
                        values[index] = self._rest.validate_python(args[index])
                    except ValidationError as exc:
                        issues.extend(_issues(exc, [index]))
        if count < self._required:
            issues.extend(
                _issue(index, f"Missing argument {self._names[index]!r}", "missing")
                for index in range(count, self._required)
            )
        if issues:
            raise PayloadError(code, event, issues, rejected=rejected)
        return values

    def wrap(
        self, fn: Callable[..., Any], signature: HandlerSignature, event: str
    ) -> TypedHandler | TypedTakesAck:
        """``fn`` behind this checker, for ``event``."""
        ack = signature.ack
        if ack is not None:
            return TypedTakesAck(fn, ack.name, self, event)
        kind = _AsyncTyped if signature.is_async else _SyncTyped
        return kind(fn, self, event, ())


class TypedHandler(PreparedHandler):
    """A handler whose arguments are validated before it runs and whose return value is
    serialised after (built by [`plan_handler()`][socketwire.typed.signature.plan_handler]).

    It compares equal to the handler it wraps, so ``off(event, handler)`` removes it, and
    ``inspect.signature`` sees the handler's own signature.

    Attributes:
        fn: The application's handler.
        event: The event it handles.
    """

    __slots__ = ("__wrapped__", "_checker", "_context", "event", "fn")

    def __init__(
        self,
        fn: Callable[..., Any],
        checker: PayloadChecker,
        event: str,
        context: tuple[Any, ...],
    ) -> None:
        self.fn = fn
        self.__wrapped__ = fn
        self._checker = checker
        self.event = event
        self._context = context

    def bind(self, *context: Any) -> TypedHandler:
        """The same handler with ``context`` passed before the event's arguments."""
        return type(self)(self.fn, self._checker, self.event, context)

    def __eq__(self, other: object) -> bool:
        if isinstance(other, TypedHandler):
            return self.fn == other.fn and self._context == other._context
        return not self._context and bool(self.fn == other)

    def __hash__(self) -> int:
        return hash(self.fn)

    def __repr__(self) -> str:
        return f"<TypedHandler {self.fn!r} event={self.event!r}>"


class _AsyncTyped(TypedHandler):
    __slots__ = ()
    is_coroutine_handler = True

    async def __call__(self, *args: Any) -> Any:
        checker = self._checker
        values = checker.arguments(self.event, args)
        return checker.ack(self.event, await self.fn(*self._context, *values))


class _SyncTyped(TypedHandler):
    __slots__ = ()

    def __call__(self, *args: Any) -> Any:
        checker = self._checker
        values = checker.arguments(self.event, args)
        return checker.ack(self.event, self.fn(*self._context, *values))


class TypedTakesAck(TakesAck):
    """A typed handler with an [`Ack`][socketwire.Ack] parameter: its arguments are validated
    before it runs, and what it sends through the handle is serialised as a return value
    would be (its return value is not the ack).

    Attributes:
        event: The event it handles.
    """

    __slots__ = ("_checker", "event")

    def __init__(
        self,
        fn: Callable[..., Any],
        name: str,
        checker: PayloadChecker,
        event: str,
        context: tuple[Any, ...] = (),
    ) -> None:
        super().__init__(fn, name, context)
        self._checker = checker
        self.event = event

    def call(self, ack: Ack, args: Sequence[Any]) -> Awaitable[Any]:
        """Validate ``args`` (raising ``PayloadError``), then call the handler with them and
        a handle that serialises what it sends."""
        values = self._checker.arguments(self.event, args)
        handle = ack.converting(to_wire)
        return call_handler(self.fn, *self.context, *values, **{self.name: handle})

    def bind(self, *context: Any) -> TypedTakesAck:
        """The same handler with ``context`` passed before the event's arguments."""
        return TypedTakesAck(self.fn, self.name, self._checker, self.event, context)


_SCALARS: Final = frozenset({str, int, float, bool, type(None), bytes, bytearray, memoryview})


def to_wire(value: Any) -> Any:
    """``value`` as JSON (or msgpack) can carry it: models and dataclasses become dicts (by
    alias), enums their values, dates ISO strings, sets lists; ``bytes`` stay ``bytes``.

    A top-level tuple stays a tuple (a handler returning one acknowledges with several
    arguments).
    """
    kind = type(value)
    if kind in _SCALARS:
        return value
    if kind is dict:
        return {
            key if type(key) is str else str(to_wire(key)): to_wire(item)
            for key, item in value.items()
        }
    if kind is list:
        return [to_wire(item) for item in value]
    if kind is tuple:
        return tuple(to_wire(item) for item in value)
    if not available():
        return value
    if hasattr(kind, "__pydantic_serializer__") or dataclasses.is_dataclass(kind):
        dumped = adapter(kind, kind.__name__).dump_python(value, mode="python", by_alias=True)
        return to_wire(dumped)
    if isinstance(value, Mapping):
        return to_wire(dict(value))
    if isinstance(value, list | tuple) and not hasattr(kind, "_fields"):
        return [to_wire(item) for item in value]
    from pydantic_core import to_jsonable_python

    return to_jsonable_python(value)


def outgoing_default() -> bool:
    """Whether outgoing payloads are validated when the application does not say
    (``validate_outgoing=None``): in development and tests, not in production.

    On when the environment variable ``SOCKETWIRE_VALIDATE_OUTGOING`` is ``1`` (off when it
    is ``0``); without it, on under Python's development mode (``python -X dev``,
    ``PYTHONDEVMODE=1``) and while pytest is loaded, off otherwise.
    """
    setting = os.environ.get("SOCKETWIRE_VALIDATE_OUTGOING", "").strip()
    if setting in ("0", "1"):
        return setting == "1"
    return bool(sys.flags.dev_mode) or "pytest" in sys.modules
