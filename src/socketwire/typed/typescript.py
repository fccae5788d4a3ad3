"""TypeScript event maps from a server's contract, for socket.io-client's generics.

``io<ServerToClientEvents, ClientToServerEvents>(url)`` then checks every ``emit`` and
``on`` of a frontend against the Python server at compile time. The module written has:

- the named types (models, dataclasses, TypedDicts, enums) as interfaces and type aliases;
- ``SocketwireError<E>``, the error acknowledgement of event ``E``, and the type guard
  ``isSocketwireError``;
- per namespace, ``ClientToServerEvents`` and ``ServerToClientEvents`` (prefixed with the
  namespace's name in PascalCase for other namespaces than ``"/"``: ``ChatClientToServerEvents``
  for ``"/chat"``). An acknowledged event ends with its callback: for an event the server
  receives, ``(response: Reply | SocketwireError<"event">) => void``.

Types follow the JSON Schemas pydantic generates (``socketwire.typed.schemas``): what
clients send as pydantic validates it, what they receive as pydantic serialises it;
``bytes`` is ``Binary`` (``ArrayBuffer | ArrayBufferView``).
"""

from __future__ import annotations

import json
import re
from typing import Any

from socketwire.errors import PayloadError
from socketwire.typed.contract import Contract
from socketwire.typed.schemas import EventSchemas, contract_schemas, unique_name

__all__ = ["namespace_prefix", "typescript_module"]

_REF = "#/definitions/"
_IDENTIFIER = re.compile(r"^[A-Za-z_$][A-Za-z0-9_$]*$")

_PRELUDE = f"""\
/** Binary data: a Buffer, ArrayBuffer or typed array when sent; an ArrayBuffer (in a
 * browser) or a Buffer (in Node) when received. */
export type Binary = ArrayBuffer | ArrayBufferView;

/** One problem with an event's arguments. */
export interface SocketwireIssue {{
  /** The argument's index, then the keys and indexes into it. */
  path: (string | number)[];
  message: string;
  /** pydantic's error type, such as "missing" or "string_type". */
  type: string;
}}

/** The acknowledgement of event E when its arguments (or the server's answer) were
 * invalid: the handler did not run (or its answer was refused). */
export interface SocketwireError<E extends string = string> {{
  error:
    | {{
        code: "{PayloadError.REQUEST}";
        event: E;
        message: string;
        issues: SocketwireIssue[];
      }}
    | {{ code: "{PayloadError.RESPONSE}"; event: E; message: string }};
}}

/** True when an acknowledgement is a SocketwireError rather than the event's answer. */
export function isSocketwireError(value: unknown): value is SocketwireError {{
  if (typeof value !== "object" || value === null || !("error" in value)) return false;
  const error: unknown = (value as {{ error: unknown }}).error;
  if (typeof error !== "object" || error === null || !("code" in error)) return false;
  const code: unknown = (error as {{ code: unknown }}).code;
  return code === "{PayloadError.REQUEST}" || code === "{PayloadError.RESPONSE}";
}}
"""


def namespace_prefix(namespace: str) -> str:
    """The PascalCase prefix of a namespace's interfaces: ``""`` for ``"/"``, ``"Chat"``
    for ``"/chat"``, ``"AdminPanel"`` for ``"/admin-panel"``."""
    words = re.split(r"[^A-Za-z0-9]+", namespace)
    prefix = "".join(word[:1].upper() + word[1:] for word in words if word)
    if prefix[:1].isdigit():
        prefix = "Ns" + prefix
    return prefix


def _name(definition: str) -> str:
    name = re.sub(r"[^A-Za-z0-9_$]", "_", definition)
    return name if _IDENTIFIER.match(name) else "_" + name


def _key(name: str) -> str:
    return name if _IDENTIFIER.match(name) else json.dumps(name)


def _literal(value: Any) -> str:
    return json.dumps(value)


def _comment(text: str | None, indent: str) -> str:
    if not text:
        return ""
    lines = text.replace("*/", "*\\/").strip().splitlines()
    if len(lines) == 1:
        return f"{indent}/** {lines[0]} */\n"
    body = "".join(f"{indent} * {line}".rstrip() + "\n" for line in lines)
    return f"{indent}/**\n{body}{indent} */\n"


def _union(parts: list[str]) -> str:
    unique = list(dict.fromkeys(parts))
    if "any" in unique:
        return "any"
    return " | ".join(f"({p})" if "=>" in p else p for p in unique) or "never"


def to_typescript(schema: Any, indent: str = "") -> str:
    """The TypeScript type of a JSON Schema (the subset pydantic generates)."""
    if schema is True or schema == {}:
        return "any"
    if schema is False:
        return "never"
    if "$ref" in schema:
        return _name(str(schema["$ref"]).rsplit("/", 1)[-1])
    if "const" in schema:
        return _literal(schema["const"])
    if "enum" in schema:
        return _union([_literal(v) for v in schema["enum"]])
    for combinator in ("anyOf", "oneOf"):
        if combinator in schema:
            return _union([to_typescript(s, indent) for s in schema[combinator]])
    if "allOf" in schema:
        parts = [to_typescript(s, indent) for s in schema["allOf"]]
        return parts[0] if len(parts) == 1 else " & ".join(f"({p})" for p in parts)
    kind = schema.get("type")
    if isinstance(kind, list):
        return _union([to_typescript({**schema, "type": k}, indent) for k in kind])
    if kind == "string":
        return "Binary" if schema.get("format") == "binary" else "string"
    if kind in ("integer", "number"):
        return "number"
    if kind == "boolean":
        return "boolean"
    if kind == "null":
        return "null"
    if kind == "array":
        return _array(schema, indent)
    if kind == "object" or "properties" in schema:
        return _object(schema, indent)
    return "any"


def _array(schema: dict[str, Any], indent: str) -> str:
    prefix = schema.get("prefixItems")
    if prefix is not None:
        items = [to_typescript(s, indent) for s in prefix]
        minimum = schema.get("minItems", len(items))
        parts = [t if i < minimum else f"{t}?" for i, t in enumerate(items)]
        extra = schema.get("items", False)
        if extra is not False and schema.get("maxItems") != len(items):
            parts.append(f"...{_element(to_typescript(extra, indent))}[]")
        return f"[{', '.join(parts)}]"
    return f"{_element(to_typescript(schema.get('items', {}), indent))}[]"


def _element(text: str) -> str:
    return f"({text})" if (" | " in text or " & " in text or "=>" in text) else text


def _object(schema: dict[str, Any], indent: str) -> str:
    properties: dict[str, Any] = schema.get("properties", {})
    additional = schema.get("additionalProperties")
    if not properties:
        if additional is False:
            return "Record<string, never>"
        value = "any" if additional in (None, True) else to_typescript(additional, indent)
        return f"Record<string, {value}>"
    required = set(schema.get("required", ()))
    inner = indent + "  "
    lines = ["{"]
    for name, sub in properties.items():
        comment = _comment(sub.get("description"), inner) if isinstance(sub, dict) else ""
        optional = "" if name in required else "?"
        lines.append(f"{comment}{inner}{_key(name)}{optional}: {to_typescript(sub, inner)};")
    if additional not in (None, False):
        value = "any" if additional is True else to_typescript(additional, inner)
        lines.append(f"{inner}[key: string]: {value};")
    lines.append(f"{indent}}}")
    return "\n".join(lines)


def _definition(name: str, schema: dict[str, Any]) -> str:
    comment = _comment(schema.get("description"), "")
    body = to_typescript(schema, "")
    if body.startswith("{"):
        return f"{comment}export interface {_name(name)} {body}\n"
    return f"{comment}export type {_name(name)} = {body};\n"


def _parameter_name(name: str, taken: set[str]) -> str:
    return unique_name(name if _IDENTIFIER.match(name) else "arg", taken, "")


def _signature(event: EventSchemas) -> str:
    taken = {"callback"}
    callback = _callback(event)
    parts = []
    for index, (name, schema) in enumerate(zip(event.names, event.arguments, strict=True)):
        ts = to_typescript(schema, "  ")
        label = _parameter_name(name, taken)
        if index < event.required:
            parts.append(f"{label}: {ts}")
        elif callback is None and event.rest is None:
            parts.append(f"{label}?: {ts}")
        else:
            # an optional argument before the callback: pass undefined to leave it out
            parts.append(f"{label}: {_union([ts, 'undefined'])}")
    if event.rest is not None:
        rest = _element(to_typescript(event.rest, "  "))
        if callback is None:
            parts.append(f"...rest: {rest}[]")
        else:
            labelled = ", ".join([*parts, f"...rest: {rest}[]", f"callback: {callback}"])
            return f"(...args: [{labelled}]) => void"
    if callback is not None:
        parts.append(f"callback: {callback}")
    return f"({', '.join(parts)}) => void"


def _callback(event: EventSchemas) -> str | None:
    if event.ack is None:
        return None
    types = [to_typescript(schema, "  ") for schema in event.ack]
    if event.direction == "received":
        error = f"SocketwireError<{_literal(event.event.name)}>"
        if len(types) == 1:
            return f"(response: {_union([types[0], error])}) => void"
        return f"(...response: [{', '.join(types)}] | [{error}]) => void"
    if len(types) == 1:
        return f"(response: {types[0]}) => void"
    return f"(...response: [{', '.join(types)}]) => void"


def _events(name: str, events: list[EventSchemas]) -> str:
    lines = [f"export interface {name} {{"]
    for event in events:
        lines.append(_comment(event.event.description, "  ").rstrip("\n"))
        lines.append(f"  {_key(event.event.name)}: {_signature(event)};")
    lines.append("}")
    return "\n".join(line for line in lines if line) + "\n"


def typescript_module(contract: Contract, *, source: str | None = None) -> str:
    """The TypeScript module describing ``contract`` (needs pydantic).

    Args:
        contract: The events ([`Server.contract()`][socketwire.Server.contract]).
        source: What it was generated from, named in the header (``module:app``).
    """
    generated = contract_schemas(contract, ref_prefix=_REF)
    origin = f" from {source}" if source else ""
    out = [
        f"// The Socket.IO events of a socketwire server, written by `socketwire typescript`"
        f"{origin}.\n// Do not edit: generate it again when the server's events change.\n"
        "// Use: io<ServerToClientEvents, ClientToServerEvents>(url) from socket.io-client.\n",
        _PRELUDE,
    ]
    for name, schema in sorted(generated.definitions.items()):
        out.append(_definition(name, schema))
    for namespace, events in generated.namespaces:
        prefix = namespace_prefix(namespace)
        received = [e for e in events if e.direction == "received"]
        sent = [e for e in events if e.direction == "sent"]
        out.append(f"// Namespace {namespace}\n")
        out.append(_events(f"{prefix}ClientToServerEvents", received))
        out.append(_events(f"{prefix}ServerToClientEvents", sent))
    return "\n".join(out)
