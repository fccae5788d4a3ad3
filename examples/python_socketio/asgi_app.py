"""python-socketio's ASGI example (examples/server/asgi/app.py), ported to socketwire.

The original is MIT-licensed (Copyright (c) 2015 Miguel Grinberg). Each handler keeps its
name and body; the python-socketio line it replaces is in a comment where the form changed
(the whole table: docs/topics/migrating-from-python-socketio.md). The page is the Flask
example's (templates/index.html), served by a small ASGI app where the original used
``static_files``. The Socket.IO Admin UI instrumentation has no socketwire counterpart.

Run it: ``uvicorn asgi_app:app --port 5000``, then open http://127.0.0.1:5000/.
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import socketwire

#: Seconds between the background task's events (the original: 10).
BACKGROUND_INTERVAL = 10.0
PAGE = (Path(__file__).parent / "templates" / "index.html").read_bytes()


async def page(scope: dict[str, Any], receive: Any, send: Any) -> None:
    """Answer every other HTTP request with the page (the original's static_files)."""
    if scope["type"] != "http":
        return
    await send(
        {
            "type": "http.response.start",
            "status": 200,
            "headers": [(b"content-type", b"text/html; charset=utf-8")],
        }
    )
    await send({"type": "http.response.body", "body": PAGE})


# sio = socketio.AsyncServer(async_mode='asgi', cors_allowed_origins=[...])
sio = socketwire.Server(cors={"origin": ["http://localhost:5000"]})
# app = socketio.ASGIApp(sio, static_files={'/': 'app.html'})
app = socketwire.ASGIApp(sio, page)
background: asyncio.Task[None] | None = None


async def background_task() -> None:
    """Example of how to send server generated events to clients."""
    count = 0
    while True:
        await asyncio.sleep(BACKGROUND_INTERVAL)  # await sio.sleep(10)
        count += 1
        sio.emit("my_response", {"data": "Server generated event"})  # not awaited


@sio.event("my_event")  # @sio.on('my_event')
async def test_message(socket: socketwire.Socket, message: dict[str, Any]) -> None:
    socket.emit("my_response", {"data": message["data"]})  # room=sid


@sio.event("my_broadcast_event")
async def test_broadcast_message(socket: socketwire.Socket, message: dict[str, Any]) -> None:
    sio.emit("my_response", {"data": message["data"]})


@sio.event
async def join(socket: socketwire.Socket, message: dict[str, Any]) -> None:
    socket.join(message["room"])  # await sio.enter_room(sid, message['room'])
    socket.emit("my_response", {"data": "Entered room: " + message["room"]})


@sio.event
async def leave(socket: socketwire.Socket, message: dict[str, Any]) -> None:
    socket.leave(message["room"])  # await sio.leave_room(sid, message['room'])
    socket.emit("my_response", {"data": "Left room: " + message["room"]})


@sio.event("close room")
async def close(socket: socketwire.Socket, message: dict[str, Any]) -> None:
    sio.to(message["room"]).emit(
        "my_response", {"data": "Room " + message["room"] + " is closing."}
    )
    await sio.in_(message["room"]).sockets_leave(message["room"])  # sio.close_room(room)


@sio.event("my_room_event")
async def send_room_message(socket: socketwire.Socket, message: dict[str, Any]) -> None:
    sio.to(message["room"]).emit("my_response", {"data": message["data"]})


@sio.event("disconnect request")
async def disconnect_request(socket: socketwire.Socket) -> None:
    socket.disconnect()  # await sio.disconnect(sid)


@sio.event("connect")
async def test_connect(socket: socketwire.Socket) -> None:
    global background
    if background is None:
        background = asyncio.create_task(background_task())  # sio.start_background_task
    socket.emit("my_response", {"data": "Connected", "count": 0})


@sio.event("disconnect")
def test_disconnect(socket: socketwire.Socket, reason: str) -> None:
    print("Client disconnected, reason:", reason)
