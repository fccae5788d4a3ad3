"""python-socketio's Flask example (examples/server/wsgi/app.py), ported to socketwire.

The original (MIT License, Copyright (c) 2015 Miguel Grinberg) serves a Flask app and a
python-socketio server on one port through ``socketio.WSGIApp``. Here the Flask app is
unchanged and ``socketwire.WSGIApp`` puts it beside the Socket.IO server: Flask's routes
run in worker threads (a2wsgi, the ``wsgi`` extra), Socket.IO on the event loop. Each
handler keeps its name and body; the python-socketio line it replaces is in a comment where
the form changed (the whole table: docs/topics/migrating-from-python-socketio.md).

Run it with an ASGI server: ``uvicorn flask_app:app --port 5000``, then open
http://127.0.0.1:5000/. (The original's Socket.IO Admin UI instrumentation and its choice of
async modes have no socketwire counterpart and are left out.)
"""

from __future__ import annotations

import asyncio
from typing import Any

from flask import Flask, render_template

import socketwire

#: Seconds between the background task's events (the original: 10).
BACKGROUND_INTERVAL = 10.0

# sio = socketio.Server(async_mode=..., cors_allowed_origins=[...])
sio = socketwire.Server(cors={"origin": ["http://localhost:5000"]})

flask_app = Flask(__name__)
flask_app.config["SECRET_KEY"] = "secret!"
# app.wsgi_app = socketio.WSGIApp(sio, app.wsgi_app)
app = socketwire.WSGIApp(sio, flask_app)
background: asyncio.Task[None] | None = None


async def background_task() -> None:
    """Example of how to send server generated events to clients."""
    count = 0
    while True:
        await asyncio.sleep(BACKGROUND_INTERVAL)  # sio.sleep(10)
        count += 1
        sio.emit("my_response", {"data": "Server generated event"})


@flask_app.route("/")
def index() -> str:
    return render_template("index.html")


@sio.event
def my_event(socket: socketwire.Socket, message: dict[str, Any]) -> None:
    # sio.emit('my_response', {'data': message['data']}, room=sid)
    socket.emit("my_response", {"data": message["data"]})


@sio.event
def my_broadcast_event(socket: socketwire.Socket, message: dict[str, Any]) -> None:
    sio.emit("my_response", {"data": message["data"]})


@sio.event
def join(socket: socketwire.Socket, message: dict[str, Any]) -> None:
    socket.join(message["room"])  # sio.enter_room(sid, message['room'])
    socket.emit("my_response", {"data": "Entered room: " + message["room"]})


@sio.event
def leave(socket: socketwire.Socket, message: dict[str, Any]) -> None:
    socket.leave(message["room"])  # sio.leave_room(sid, message['room'])
    socket.emit("my_response", {"data": "Left room: " + message["room"]})


@sio.event
async def close_room(socket: socketwire.Socket, message: dict[str, Any]) -> None:
    # async: sockets_leave is awaited (python-socketio's close_room is not)
    sio.to(message["room"]).emit(
        "my_response", {"data": "Room " + message["room"] + " is closing."}
    )
    await sio.in_(message["room"]).sockets_leave(message["room"])  # sio.close_room(room)


@sio.event
def my_room_event(socket: socketwire.Socket, message: dict[str, Any]) -> None:
    sio.to(message["room"]).emit("my_response", {"data": message["data"]})


@sio.event
def disconnect_request(socket: socketwire.Socket) -> None:
    socket.disconnect()  # sio.disconnect(sid)


@sio.event
async def connect(socket: socketwire.Socket) -> None:
    # The original starts its background thread from the "/" route; a task needs the loop,
    # which a Flask view (in a worker thread) does not run on, so it starts here.
    global background
    if background is None:
        background = asyncio.create_task(background_task())
    socket.emit("my_response", {"data": "Connected", "count": 0})


@sio.event
def disconnect(socket: socketwire.Socket, reason: str) -> None:
    print("Client disconnected, reason:", reason)
