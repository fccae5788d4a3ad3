"""Typed events seen from JavaScript: the official client gets the error acknowledgement, the
TypeScript types compile (and a wrong payload does not) with `tsc`, and the AsyncAPI
document validates against the official AsyncAPI 3.0 JSON Schema from `@asyncapi/specs`.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import jsonschema
import pytest
from _sio_helpers import Connected, client_args, open_socket, serve_fixture
from pydantic import BaseModel, Field

from conftest import JS_DIR, http_request
from socketwire import PayloadError, Server, Socket
from socketwire.demo import create_app
from socketwire.demo.app import Chat
from socketwire.typed.typescript import typescript_module

pytestmark = pytest.mark.interop
assert serve_fixture  # the "serve" fixture, imported for pytest to find

SPEC = JS_DIR / "node_modules" / "@asyncapi" / "specs" / "schemas" / "3.0.0.json"
TSC = JS_DIR / "node_modules" / "typescript" / "bin" / "tsc"


class Say(BaseModel):
    room: str
    text: str = Field(min_length=1)


def typed_server(parser: str | None, **options: Any) -> tuple[Server, list[Any], Connected]:
    sio = Server(parser=parser, serve_client=False, **options)
    said: list[Any] = []
    connected = Connected()
    sio.on("connection", connected)

    @sio.event
    async def say(socket: Socket, message: Say, times: int = 1) -> dict[str, Any]:
        said.append((message, times))
        return {"text": message.text * times}

    @sio.on("connection")
    async def on_connection(socket: Socket) -> None:
        @socket.on("upload")
        async def upload(data: bytes) -> int:
            return len(data)

    return sio, said, connected


@pytest.mark.parametrize(
    ("mode", "parser"), [("websocket", None), ("polling", "msgpack"), ("upgrade", None)]
)
async def test_the_js_client_sees_the_error_acknowledgement(
    serve: Any, node: Any, mode: str, parser: str | None
) -> None:
    sio, said, _ = typed_server(parser)
    running = await serve(sio)
    driver = await node("sio_client.js", client_args(running, mode, parser))
    await open_socket(driver, "a")

    # a good payload: converted ("2" -> 2), answered
    await driver.command("emit", name="a", ev="say", args=[{"room": "r", "text": "ab"}, "2"], ref=1)
    ack = await driver.expect("ack_response", name="a", ref=1)
    assert ack["args"] == [{"text": "abab"}]

    # a bad one never reaches the handler; the callback gets one error object
    await driver.command("emit", name="a", ev="say", args=[{"room": 5, "text": ""}], ref=2)
    ack = await driver.expect("ack_response", name="a", ref=2)
    [error] = ack["args"]
    assert error == {
        "error": {
            "code": "REQUEST_VALIDATION_ERROR",
            "event": "say",
            "message": "invalid arguments for event 'say'",
            "issues": [
                {
                    "path": [0, "room"],
                    "message": "Input should be a valid string",
                    "type": "string_type",
                },
                {
                    "path": [0, "text"],
                    "message": "String should have at least 1 character",
                    "type": "string_too_short",
                },
            ],
        }
    }
    # binary arrives as bytes; a string is not a binary attachment but pydantic converts it
    await driver.command("emit", name="a", ev="upload", args=[{"$bin": "AAEC"}], ref=3)
    assert (await driver.expect("ack_response", name="a", ref=3))["args"] == [3]
    await driver.command("emit", name="a", ev="upload", args=[[1, 2]], ref=4)
    ack = await driver.expect("ack_response", name="a", ref=4)
    assert ack["args"][0]["error"]["issues"][0]["type"] == "bytes_type"
    assert said == [(Say(room="r", text="ab"), 2)]


def _tsc(workdir: Path, files: dict[str, str]) -> subprocess.CompletedProcess[str]:
    node_bin = shutil.which("node")
    if node_bin is None or not TSC.is_file():
        pytest.skip("node or typescript in tests/interop/js/node_modules is missing")
    for name, text in files.items():
        (workdir / name).write_text(text, encoding="utf-8")
    config = {
        "compilerOptions": {
            "strict": True,
            "noEmit": True,
            "target": "es2022",
            "module": "esnext",
            "moduleResolution": "bundler",
            "lib": ["es2022", "dom"],
            "types": [],
            "skipLibCheck": True,
            "paths": {"*": [str(JS_DIR / "node_modules" / "*")]},
        },
        "files": sorted(name for name in files if name.endswith(".ts")),
    }
    (workdir / "tsconfig.json").write_text(json.dumps(config), encoding="utf-8")
    return subprocess.run(
        [node_bin, str(TSC), "-p", str(workdir / "tsconfig.json")],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


CLIENT = """\
import { io, Socket } from "socket.io-client";
import {
  ClientToServerEvents,
  ServerToClientEvents,
  isSocketwireError,
} from "./events";

const socket: Socket<ServerToClientEvents, ClientToServerEvents> = io("http://127.0.0.1:9");

socket.emit("message", { room: "lobby", text: "hi" }, (reply) => {
  if (isSocketwireError(reply)) {
    const code: "REQUEST_VALIDATION_ERROR" | "RESPONSE_VALIDATION_ERROR" = reply.error.code;
    console.log(code, reply.error.event);
  } else if (reply.ok) {
    const id: number = reply.id;
    console.log(id);
  } else {
    const why: string = reply.error;
    console.log(why);
  }
});
socket.emit("hello", undefined, (reply) => console.log(reply));
socket.emit("typing", { room: "lobby", typing: true });
socket.on("message", (message) => {
  const text: string = message.text;
  const time: number = message.time;
  console.log(text, time);
});
socket.on("rooms", (rooms) => rooms.map((room) => room.name.toUpperCase()));

export async function join(): Promise<void> {
  const reply = await socket.timeout(1000).emitWithAck("join", "lobby");
  if (!isSocketwireError(reply) && reply.ok) console.log(reply.history.length);
}

// @ts-expect-error: the text must be a string
socket.emit("message", { room: "lobby", text: 5 }, () => {});
// @ts-expect-error: no such event
socket.emit("shout", "hi");
// @ts-expect-error: join's argument is a room name
socket.emit("join", { room: "lobby" }, () => {});
// @ts-expect-error: typing sends no acknowledgement callback
socket.emit("typing", { room: "lobby", typing: true }, () => {});
"""

WRONG = """\
import { io, Socket } from "socket.io-client";
import { ClientToServerEvents, ServerToClientEvents } from "./events";

const socket: Socket<ServerToClientEvents, ClientToServerEvents> = io("http://127.0.0.1:9");
socket.emit("message", { room: "lobby", txt: "a typo" }, () => {});
"""


def test_typescript_types_compile_and_refuse_a_wrong_payload(tmp_path: Path) -> None:
    events = typescript_module(create_app(serve_client=False).contract(), source="demo")
    good = _tsc(tmp_path, {"events.ts": events, "client.ts": CLIENT})
    assert good.returncode == 0, good.stdout + good.stderr

    wrong_dir = tmp_path / "wrong"
    wrong_dir.mkdir()
    wrong = _tsc(wrong_dir, {"events.ts": events, "client.ts": WRONG})
    assert wrong.returncode != 0
    assert "client.ts(5," in wrong.stdout, wrong.stdout
    assert "'txt' does not exist in type 'Say'" in wrong.stdout, wrong.stdout


def _asyncapi_schema() -> dict[str, Any]:
    if not SPEC.is_file():
        pytest.skip("@asyncapi/specs is missing from tests/interop/js/node_modules")
    schema: dict[str, Any] = json.loads(SPEC.read_text(encoding="utf-8"))
    return schema


def test_the_demo_asyncapi_document_is_valid_and_complete() -> None:
    document = create_app(serve_client=False).asyncapi()
    jsonschema.validate(document, _asyncapi_schema())

    channel = document["channels"]["root"]
    assert channel["address"] == "/"
    received = {name[3:] for name in dir(Chat) if name.startswith("on_")}
    received -= {"connection", "disconnect"}
    operations = document["operations"]
    assert {op.removeprefix("root_receive_") for op in operations if "_receive_" in op} == (
        received
    )
    assert {op.removeprefix("root_send_") for op in operations if "_send_" in op} == {
        "message",
        "notice",
        "online",
        "rooms",
        "typing",
    }
    # every message a channel lists, and every schema a payload references, exists
    messages = document["components"]["messages"]
    for ref in channel["messages"].values():
        assert ref["$ref"].removeprefix("#/components/messages/") in messages
    schemas = document["components"]["schemas"]
    text = json.dumps(document)
    for name in schemas:
        assert f'"#/components/schemas/{name}"' in text
    for ref in {part.split('"')[0] for part in text.split('"$ref": "#/components/schemas/')[1:]}:
        assert ref in schemas
    join = messages["root.client.join"]
    assert join["name"] == "join"
    assert join["payload"]["items"] == [{"title": "room", "type": "string"}]
    ack = messages["root.client.join.ack"]["payload"]["oneOf"]
    assert ack[0]["items"][0]["anyOf"] == [
        {"$ref": "#/components/schemas/JoinReply"},
        {"$ref": "#/components/schemas/Failure"},
    ]
    assert ack[1]["items"] == [
        {
            "allOf": [
                {"$ref": "#/components/schemas/SocketwireError"},
                {"properties": {"error": {"properties": {"event": {"const": "join"}}}}},
            ]
        }
    ]
    # the error acknowledgements a server really sends match that schema
    issues = [{"path": [0], "message": "Field required", "type": "missing"}]
    request = PayloadError(PayloadError.REQUEST, "join", issues).to_ack()
    response = PayloadError(PayloadError.RESPONSE, "join", issues).to_ack()
    resolver = {
        "$ref": "#/components/schemas/SocketwireError",
        "components": document["components"],
    }
    jsonschema.validate(request, resolver)
    jsonschema.validate(response, resolver)
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate({"error": {"code": "OTHER"}}, resolver)


def test_a_document_the_schema_refuses_is_refused() -> None:
    # the validation above can fail: a document without its channels' addresses is invalid
    document = create_app(serve_client=False).asyncapi()
    document["channels"]["root"]["address"] = 5
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(document, _asyncapi_schema())


async def test_the_document_is_served_at_its_path(serve: Any) -> None:
    sio, _, _ = typed_server(None, asyncapi_path="/api/asyncapi.json")
    running = await serve(sio)
    response = await http_request(running.port, "GET", "/api/asyncapi.json")
    assert response.status == 200
    assert response.header("content-type") == "application/json"
    document = response.json()
    jsonschema.validate(document, _asyncapi_schema())
    assert document == json.loads(json.dumps(sio.asyncapi()))
    assert (await http_request(running.port, "POST", "/api/asyncapi.json")).status == 405
    assert (await http_request(running.port, "GET", "/asyncapi.json")).status == 404
    off, _, _ = typed_server(None)
    running_off = await serve(off)
    assert (await http_request(running_off.port, "GET", "/api/asyncapi.json")).status == 404


def test_the_docs_page_shows_the_demo_document_as_generated() -> None:
    # docs/topics/asyncapi.md renders the demo's document: it is the current one, and valid
    # (pydantic's schemas change a little between versions: this runs on the locked one)
    page = Path(__file__).resolve().parents[2] / "docs" / "topics" / "asyncapi.md"
    text = page.read_text(encoding="utf-8")
    match = re.search(r"keeps it current -->\n```json\n(.*?)\n```", text, re.DOTALL)
    assert match is not None, "the document's code block is missing"
    shown = json.loads(match.group(1))
    assert shown == json.loads(json.dumps(create_app(serve_client=False).asyncapi()))
    # it is what `socketwire asyncapi` prints: indented by two, in the same order
    assert match.group(1) == json.dumps(shown, indent=2, ensure_ascii=False)
    jsonschema.validate(shown, _asyncapi_schema())
