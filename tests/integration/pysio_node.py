"""A python-socketio 5.x server node for the mixed-cluster tests, run in a subprocess:
``AsyncServer`` with ``AsyncRedisManager`` (or ``AsyncAioPikaManager``) on uvicorn, driven
over stdin/stdout.

Usage: ``python pysio_node.py '<json args>'`` with ``{"redis": url, "channel": name}``, or
``{"amqp": url, "channel": name}`` for RabbitMQ.

Output, one JSON object per line: ``{"event": "listening", "port": n}``, then
``{"event": "connect", "sid", "name"}`` (a client connected; it joined the rooms of its auth
``rooms``), ``{"event": "disconnect", "sid", "reason"}``, ``{"event": "callback", "ref",
"args"}`` (an acknowledgement for an ``emit`` with ``ref``), ``{"event": "ack", "id"}`` (a
command ran), ``{"event": "fatal", "message"}``.

Input, one JSON command per line (``id`` echoed in the ``ack``):
``{"cmd": "emit", "ev", "args", "to", "skip_sid", "ref"}`` (``ref``: ask the acknowledgement),
``{"cmd": "enter_room" | "leave_room", "sid", "room"}``, ``{"cmd": "close_room", "room"}``,
``{"cmd": "disconnect", "sid"}``, ``{"cmd": "exit"}``. Binary values are ``{"$bin": base64}``
both ways. Clients' ``ask`` events are answered ``"pysio-<name>"``.
"""

from __future__ import annotations

import asyncio
import json
import socket
import sys
from typing import Any

import socketio
import uvicorn

# the scenario server's value codec (this script runs from its directory)
from sio_server import from_json, to_json


def out(**fields: Any) -> None:
    sys.stdout.write(json.dumps(fields) + "\n")
    sys.stdout.flush()


async def main(args: dict[str, Any]) -> None:
    channel = args.get("channel", "socketio")
    if "amqp" in args:
        manager = socketio.AsyncAioPikaManager(args["amqp"], channel=channel)
    else:
        manager = socketio.AsyncRedisManager(args["redis"], channel=channel)
    sio = socketio.AsyncServer(async_mode="asgi", client_manager=manager, logger=False)
    names: dict[str, str] = {}

    @sio.event
    async def connect(sid: str, environ: dict[str, Any], auth: dict[str, Any] | None) -> None:
        auth = auth or {}
        names[sid] = auth.get("name", "")
        for room in auth.get("rooms", []):
            await sio.enter_room(sid, room)
        out(event="connect", sid=sid, name=names[sid])

    @sio.event
    async def disconnect(sid: str, reason: Any = None) -> None:
        out(event="disconnect", sid=sid, reason=str(reason))

    @sio.on("ask")
    async def ask(sid: str, *data: Any) -> str:
        return f"pysio-{names.get(sid, '')}"

    # python-socketio subscribes when its first client connects: do it now, as a server
    # with clients would have.
    sio.manager_initialized = True
    sio.manager.initialize()
    config = uvicorn.Config(socketio.ASGIApp(sio), log_level="error", lifespan="off")
    server = uvicorn.Server(config)
    # Our own listening socket: connections wait in its backlog until uvicorn accepts them.
    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    listener.bind(("127.0.0.1", 0))
    listener.listen(128)
    serving = asyncio.create_task(server.serve(sockets=[listener]))
    out(event="listening", port=listener.getsockname()[1])

    loop = asyncio.get_running_loop()
    reader = asyncio.StreamReader()
    await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), sys.stdin)
    while line := await reader.readline():
        if not line.strip():
            continue
        command = json.loads(line)
        cmd = command["cmd"]
        if cmd == "exit":
            break
        if cmd == "emit":
            data = tuple(from_json(command.get("args", [])))
            callback = None
            if command.get("ref") is not None:
                ref = command["ref"]

                def callback(*reply: Any, ref: Any = ref) -> None:
                    out(event="callback", ref=ref, args=to_json(list(reply)))

            await sio.emit(
                command["ev"],
                data,
                to=command.get("to"),
                skip_sid=command.get("skip_sid"),
                callback=callback,
            )
        elif cmd == "enter_room":
            await sio.enter_room(command["sid"], command["room"])
        elif cmd == "leave_room":
            await sio.leave_room(command["sid"], command["room"])
        elif cmd == "close_room":
            await sio.close_room(command["room"])
        elif cmd == "disconnect":
            await sio.disconnect(command["sid"])
        else:
            out(event="fatal", message=f"unknown command {cmd}")
            continue
        out(event="ack", id=command.get("id"))
    server.should_exit = True
    await serving


if __name__ == "__main__":
    asyncio.run(main(json.loads(sys.argv[1])))
