"""An AsyncAPI 3.0 document from a server's contract.

The mapping (see docs/topics/asyncapi.md):

- each namespace is a *channel* whose ``address`` is the namespace's name (``"/"`` has the
  key ``root``);
- each event is a *message* whose ``name`` is the event's name on the wire, and whose
  ``payload`` is the event's argument list: an array whose items are the arguments' schemas
  in order (``minItems``: the required ones; ``additionalItems``: ``*args``, else false);
- an event the server receives is an operation with ``action: receive``; one it sends,
  ``action: send``; an acknowledged event has a ``reply`` whose message is the
  acknowledgement's argument list. The acknowledgement of a received event may instead be
  the error acknowledgement ``[{"error": {...}}]`` (``oneOf``): the ``SocketwireError``
  schema, its ``event`` fixed to the event's name;
- models, dataclasses, TypedDicts and enums are ``components.schemas``, referenced by the
  payloads.
"""

from __future__ import annotations

import re
from typing import Any

from socketwire.typed.contract import Contract
from socketwire.typed.schemas import EventSchemas, contract_schemas, error_schema, unique_name

__all__ = ["ASYNCAPI_VERSION", "ERROR_SCHEMA", "asyncapi_document", "channel_key"]

ASYNCAPI_VERSION = "3.0.0"
#: The name of the error acknowledgement's schema in ``components.schemas`` (a model of the
#: application's by this name would be shadowed).
ERROR_SCHEMA = "SocketwireError"
_REF = "#/components/schemas/"
_KEY = re.compile(r"[^A-Za-z0-9_\-]")


def channel_key(namespace: str) -> str:
    """The key of a namespace's channel: ``root`` for ``"/"``, else the name without its
    slash (characters AsyncAPI refuses in keys become ``_``)."""
    return "root" if namespace == "/" else _KEY.sub("_", namespace.strip("/")) or "root"


def _arguments(schemas: list[dict[str, Any]], required: int, rest: Any) -> dict[str, Any]:
    payload: dict[str, Any] = {"type": "array", "items": schemas, "minItems": required}
    if rest is None:
        payload["maxItems"] = len(schemas)
        payload["additionalItems"] = False
    elif rest:
        payload["additionalItems"] = rest
    return payload


def asyncapi_document(
    contract: Contract,
    *,
    title: str = "socketwire server",
    version: str = "1.0.0",
    description: str | None = None,
    path: str = "/socket.io/",
) -> dict[str, Any]:
    """The AsyncAPI 3.0 document describing ``contract`` (a JSON-able dict; needs pydantic).

    Args:
        contract: The events ([`Server.contract()`][socketwire.Server.contract]).
        title: ``info.title``.
        version: ``info.version``: the version of *your* API.
        description: ``info.description``.
        path: The Socket.IO path, recorded as ``x-socketio.path``.
    """
    generated = contract_schemas(contract, ref_prefix=_REF)
    info: dict[str, Any] = {"title": title, "version": version}
    if description:
        info["description"] = description
    channels: dict[str, Any] = {}
    operations: dict[str, Any] = {}
    messages: dict[str, Any] = {}
    channel_keys: set[str] = set()
    message_keys: set[str] = set()
    operation_keys: set[str] = set()
    for namespace, events in generated.namespaces:
        channel = unique_name(channel_key(namespace), channel_keys)
        channel_ref = {"$ref": f"#/channels/{channel}"}
        channel_messages: dict[str, Any] = {}
        for event in events:
            side = "client" if event.direction == "received" else "server"
            key = unique_name(f"{channel}.{side}.{_KEY.sub('_', event.event.name)}", message_keys)
            local = key.split(".", 1)[1].replace(".", "-")
            messages[key] = _message(event)
            channel_messages[local] = {"$ref": f"#/components/messages/{key}"}
            operation: dict[str, Any] = {
                "action": "receive" if event.direction == "received" else "send",
                "channel": channel_ref,
                "messages": [{"$ref": f"#/channels/{channel}/messages/{local}"}],
            }
            if event.event.description:
                operation["summary"] = event.event.description
            if event.ack is not None:
                ack_key = f"{key}.ack"
                messages[ack_key] = _ack_message(event)
                channel_messages[f"{local}-ack"] = {"$ref": f"#/components/messages/{ack_key}"}
                operation["reply"] = {
                    "channel": channel_ref,
                    "messages": [{"$ref": f"#/channels/{channel}/messages/{local}-ack"}],
                }
            verb = "receive" if event.direction == "received" else "send"
            operations[
                unique_name(f"{channel}_{verb}_{_KEY.sub('_', event.event.name)}", operation_keys)
            ] = operation
        channels[channel] = {
            "address": namespace,
            "title": f"Namespace {namespace}",
            "messages": channel_messages,
        }
    schemas = dict(sorted(generated.definitions.items()))
    if any(
        event.direction == "received" and event.ack is not None
        for _, events in generated.namespaces
        for event in events
    ):
        schemas[ERROR_SCHEMA] = error_schema()
    return {
        "asyncapi": ASYNCAPI_VERSION,
        "info": info,
        "defaultContentType": "application/json",
        "channels": channels,
        "operations": operations,
        "components": {"schemas": schemas, "messages": messages},
        "x-socketio": {"path": path, "protocol": 5},
    }


def _message(event: EventSchemas) -> dict[str, Any]:
    arguments = list(event.arguments)
    for index, name in enumerate(event.names):
        arguments[index] = {"title": name, **arguments[index]}
    message: dict[str, Any] = {
        "name": event.event.name,
        "title": event.event.name,
        "payload": _arguments(arguments, event.required, event.rest),
    }
    if event.event.description:
        message["summary"] = event.event.description
    return message


def _ack_message(event: EventSchemas) -> dict[str, Any]:
    ack = list(event.ack or ())
    payload = _arguments(ack, len(ack), None)
    if event.direction == "received":
        # socketwire's error acknowledgement, its "event" fixed to this event's name
        this_event = {
            "properties": {"error": {"properties": {"event": {"const": event.event.name}}}}
        }
        failure = _arguments([{"allOf": [{"$ref": _REF + ERROR_SCHEMA}, this_event]}], 1, None)
        payload = {"oneOf": [payload, failure]}
    return {
        "name": f"{event.event.name} (acknowledgement)",
        "title": f"Acknowledgement of {event.event.name}",
        "payload": payload,
    }
