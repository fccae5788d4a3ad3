"""python-socketio's "fiddle" server (examples/server/asgi/fiddle.py, MIT License,
Copyright (c) 2015 Miguel Grinberg), ported to socketwire; fiddle_client.py is its client.

Run it: ``uvicorn fiddle:app --port 5000``.
"""

from __future__ import annotations

from typing import Any

import socketwire

sio = socketwire.Server()
app = socketwire.ASGIApp(sio)


@sio.event
async def connect(socket: socketwire.Socket, auth: Any) -> None:  # (sid, environ, auth)
    print(f"connected auth={auth} sid={socket.id}")
    # await sio.emit('hello', (1, 2, {'hello': 'you'}), to=sid): a tuple is several
    # arguments there; here they are given as such
    socket.emit("hello", 1, 2, {"hello": "you"})


@sio.event
def disconnect(socket: socketwire.Socket, reason: str) -> None:
    print("disconnected", socket.id, reason)
