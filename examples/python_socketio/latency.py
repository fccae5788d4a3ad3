"""python-socketio's "latency" server (examples/server/asgi/latency.py, MIT License,
Copyright (c) 2015 Miguel Grinberg), ported to socketwire; latency_client.py measures.

Run it: ``uvicorn latency:app --port 5000``.
"""

from __future__ import annotations

import socketwire

sio = socketwire.Server()
app = socketwire.ASGIApp(sio)


@sio.event
async def ping_from_client(socket: socketwire.Socket) -> None:
    socket.emit("pong_from_server")  # await sio.emit('pong_from_server', room=sid)
