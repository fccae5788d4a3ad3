"""JSON Schemas of a contract's payloads, from pydantic, for the AsyncAPI and TypeScript
writers.

Every schema of one contract is generated in one pass
(``pydantic.TypeAdapter.json_schemas``), so that a model used by several events is defined
once, under ``definitions``, and referenced as ``{ref_prefix}{Name}``. What the server
receives is described as pydantic validates it (``mode="validation"``), what it sends as
pydantic serialises it (``mode="serialization"``).
"""

from __future__ import annotations

import dataclasses
import typing
from collections.abc import Hashable
from typing import Any, Literal

from socketwire.errors import PayloadError
from socketwire.typed.contract import Contract, EventContract
from socketwire.typed.signature import EMPTY

__all__ = [
    "ContractSchemas",
    "EventSchemas",
    "ack_types",
    "contract_schemas",
    "error_schema",
    "unique_name",
]

Direction = Literal["received", "sent"]


@dataclasses.dataclass(frozen=True, slots=True)
class EventSchemas:
    """The schemas of one event.

    Attributes:
        event: Its contract.
        direction: ``"received"`` (client to server) or ``"sent"``.
        arguments: One schema per argument, in order.
        names: The arguments' parameter names.
        required: How many leading arguments are required.
        rest: The schema of further arguments (``*args``); None when there are none.
        ack: One schema per acknowledgement argument; None when not acknowledged.
    """

    event: EventContract
    direction: Direction
    arguments: tuple[dict[str, Any], ...]
    names: tuple[str, ...]
    required: int
    rest: dict[str, Any] | None
    ack: tuple[dict[str, Any], ...] | None


@dataclasses.dataclass(frozen=True, slots=True)
class ContractSchemas:
    """Every event's schemas, namespace by namespace, and the shared definitions.

    Attributes:
        namespaces: ``(namespace name, events)`` in the contract's order; received events
            first, then sent ones.
        definitions: The named schemas (models, dataclasses, TypedDicts, enums) the event
            schemas reference.
    """

    namespaces: tuple[tuple[str, tuple[EventSchemas, ...]], ...]
    definitions: dict[str, dict[str, Any]]


def ack_types(ack: Any) -> list[Any]:
    """The types of an acknowledgement's arguments: a fixed ``tuple[A, B]`` stands for
    several (a handler returning a tuple acknowledges with its items), anything else for
    one."""
    if typing.get_origin(ack) is tuple:
        args = typing.get_args(ack)
        if args and Ellipsis not in args and args != ((),):
            return list(args)
    return [ack]


def contract_schemas(contract: Contract, *, ref_prefix: str) -> ContractSchemas:
    """Generate the JSON Schemas of ``contract`` (needs pydantic).

    Args:
        contract: The events.
        ref_prefix: What each ``$ref`` to a definition starts with
            (``"#/components/schemas/"``).
    """
    from pydantic import PydanticUserError, TypeAdapter

    from socketwire.typed.payloads import adapter

    inputs: list[tuple[Hashable, Literal["validation", "serialization"], TypeAdapter[Any]]] = []

    def add(key: Hashable, annotation: Any, mode: Literal["validation", "serialization"]) -> None:
        if annotation is not EMPTY:
            inputs.append((key, mode, adapter(annotation, f"event {key[2]!r}")))  # type: ignore[index]

    for nsp in contract.namespaces:
        for direction, events in (("received", nsp.received), ("sent", nsp.sent)):
            incoming: Literal["validation", "serialization"] = (
                "validation" if direction == "received" else "serialization"
            )
            outgoing: Literal["validation", "serialization"] = (
                "serialization" if direction == "received" else "validation"
            )
            for event in events:
                base = (nsp.name, direction, event.name)
                for index, parameter in enumerate(event.arguments):
                    add((*base, "arg", index), parameter.annotation, incoming)
                if event.rest is not None:
                    add((*base, "rest", 0), event.rest.annotation, incoming)
                if event.ack is not EMPTY:
                    for index, annotation in enumerate(ack_types(event.ack)):
                        add((*base, "ack", index), annotation, outgoing)
    found: dict[Any, dict[str, Any]] = {}
    definitions: dict[str, dict[str, Any]] = {}
    if inputs:
        try:
            by_key, defs = TypeAdapter.json_schemas(inputs, ref_template=ref_prefix + "{model}")
        except PydanticUserError as exc:  # a type pydantic validates but cannot describe
            raise TypeError(f"a payload type has no JSON Schema: {exc}") from None
        found = {key: schema for (key, _mode), schema in by_key.items()}
        definitions = dict(defs.get("$defs", {}))

    def schema(key: tuple[Any, ...]) -> dict[str, Any]:
        return found.get(key, {})

    namespaces = []
    for nsp in contract.namespaces:
        described = []
        for direction, events in (("received", nsp.received), ("sent", nsp.sent)):
            for event in events:
                base = (nsp.name, direction, event.name)
                described.append(
                    EventSchemas(
                        event,
                        direction,  # type: ignore[arg-type]
                        tuple(schema((*base, "arg", i)) for i in range(len(event.arguments))),
                        tuple(p.name for p in event.arguments),
                        sum(1 for p in event.arguments if p.required),
                        None if event.rest is None else schema((*base, "rest", 0)),
                        None
                        if event.ack is EMPTY
                        else tuple(
                            schema((*base, "ack", i)) for i in range(len(ack_types(event.ack)))
                        ),
                    )
                )
        namespaces.append((nsp.name, tuple(described)))
    return ContractSchemas(tuple(namespaces), definitions)


def error_schema() -> dict[str, Any]:
    """The JSON Schema of the error acknowledgement
    (``to_ack()``)."""
    common = {"event": {"type": "string"}, "message": {"type": "string"}}
    issue = {
        "type": "object",
        "properties": {
            "path": {"type": "array", "items": {"type": ["string", "integer"]}},
            "message": {"type": "string"},
            "type": {"type": "string"},
        },
        "required": ["path", "message", "type"],
    }
    return {
        "title": "SocketwireError",
        "description": "The acknowledgement of an event whose arguments (or whose answer) "
        "did not validate: the handler did not run (or its answer was refused).",
        "type": "object",
        "properties": {
            "error": {
                "oneOf": [
                    {
                        "type": "object",
                        "properties": {
                            "code": {"const": PayloadError.REQUEST},
                            **common,
                            "issues": {"type": "array", "items": issue},
                        },
                        "required": ["code", "event", "message", "issues"],
                    },
                    {
                        "type": "object",
                        "properties": {"code": {"const": PayloadError.RESPONSE}, **common},
                        "required": ["code", "event", "message"],
                    },
                ]
            }
        },
        "required": ["error"],
    }


def unique_name(name: str, taken: set[str], separator: str = "_") -> str:
    """``name``, or ``name`` + separator + 2, 3... if taken; the result is added to
    ``taken``."""
    candidate, count = name, 1
    while candidate in taken:
        count += 1
        candidate = f"{name}{separator}{count}"
    taken.add(candidate)
    return candidate
