"""What a server's events are: the contract its AsyncAPI document and TypeScript types show.

A namespace knows two kinds of events statically (handlers registered with ``socket.on``
inside a connection handler exist only once a socket connects, and are not part of it):

- the events it *receives*, from ``@sio.event`` handlers and class-based namespaces
  ([`NamespaceHandlers`][socketwire.NamespaceHandlers]): their parameters after the socket are the
  event's arguments, their return annotation the acknowledgement;
- the events it *sends*, declared with ``@sio.emits`` on a stub whose parameters are the
  event's arguments and whose return annotation is the acknowledgement the client sends
  back ([`DeclaredEvent`][DeclaredEvent]).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Sequence
from typing import Any

from socketwire.typed.signature import (
    EMPTY,
    HandlerSignature,
    Parameter,
    Validation,
    read_signature,
)

__all__ = ["Contract", "DeclaredEvent", "EventContract", "NamespaceContract"]


@dataclasses.dataclass(frozen=True, slots=True)
class EventContract:
    """One event in one direction.

    Attributes:
        name: The event's name on the wire.
        arguments: Its arguments, in order (their annotations are the payload's types).
        rest: The ``*args`` parameter (its annotation types each further argument), or
            None when the event takes no further arguments.
        ack: The acknowledgement's type; ``EMPTY`` when the event is not acknowledged
            (no return annotation, or ``None``).
        description: The handler's (or stub's) docstring, first paragraph.
    """

    name: str
    arguments: tuple[Parameter, ...]
    rest: Parameter | None
    ack: Any
    description: str | None

    @classmethod
    def from_signature(cls, name: str, signature: HandlerSignature) -> EventContract:
        """The contract a handler's (or stub's) signature declares for event ``name``."""
        returns = signature.returns
        return cls(
            name,
            signature.arguments,
            signature.rest,
            EMPTY if returns is None or returns is type(None) else returns,
            signature.doc,
        )


@dataclasses.dataclass(frozen=True, slots=True)
class NamespaceContract:
    """The events of one namespace.

    Attributes:
        name: The namespace (``"/"``, ``"/chat"``).
        received: The events clients send to the server, by name.
        sent: The events the server sends to clients, by name.
    """

    name: str
    received: tuple[EventContract, ...]
    sent: tuple[EventContract, ...]


@dataclasses.dataclass(frozen=True, slots=True)
class Contract:
    """A server's events, namespace by namespace (what
    [`Server.contract()`][socketwire.Server.contract] returns)."""

    namespaces: tuple[NamespaceContract, ...]


class DeclaredEvent:
    """A server-to-client event declared with a stub (``@sio.emits``).

    Emitting it serialises its arguments (models become dicts) and, when outgoing
    validation is on, checks them first; the acknowledgement that comes back is converted to
    the stub's return annotation.

    Args:
        name: The event's name on the wire.
        stub: A function whose parameters are the event's arguments and whose return
            annotation is the acknowledgement (None: not acknowledged).
        check_outgoing: Validate the arguments before sending them.
    """

    def __init__(self, name: str, stub: Callable[..., Any], *, check_outgoing: bool) -> None:
        self.name = name
        self.signature = read_signature(stub)
        self.contract = EventContract.from_signature(name, self.signature)
        checker = None
        if self.signature.enforces(Validation.STRICT):
            from socketwire.typed import payloads

            checker = payloads.checker_for(
                self.signature, Validation.STRICT, check_outgoing=check_outgoing
            )
        self._checker = checker

    def __repr__(self) -> str:
        return f"<DeclaredEvent {self.name!r}>"

    def outgoing(self, args: Sequence[Any]) -> list[Any]:
        """The arguments to send, serialised (and validated, if asked for).

        Raises:
            PayloadError: ``REQUEST_VALIDATION_ERROR``: nothing was sent.
        """
        if self._checker is None:
            return list(args)
        return self._checker.outgoing(self.name, args)

    def answer(self, value: Any) -> Any:
        """An acknowledgement received for this event, converted to the declared type.

        Raises:
            PayloadError: ``RESPONSE_VALIDATION_ERROR``.
        """
        if self._checker is None:
            return value
        return self._checker.answer(self.name, value)
