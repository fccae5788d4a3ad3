"""The ASGI example (asgi_app.py) as a class-based namespace: python-socketio's
``socketio.AsyncNamespace`` is ``socketwire.NamespaceHandlers``, ``on_<event>`` methods take
the socket where python-socketio's take the ``sid``, and ``sio.register_namespace`` is the
same call. Event names that are not identifiers ("close room") need ``@sio.event("...")``.

Run it: ``uvicorn asgi_app_classes:app --port 5000``.
"""

from __future__ import annotations

from typing import Any

import socketwire

sio = socketwire.Server()
app = socketwire.ASGIApp(sio)


class Example(socketwire.NamespaceHandlers):  # socketio.AsyncNamespace
    async def on_connect(self, socket: socketwire.Socket) -> None:  # (self, sid, environ)
        socket.emit("my_response", {"data": "Connected", "count": 0})

    async def on_my_event(self, socket: socketwire.Socket, message: dict[str, Any]) -> None:
        socket.emit("my_response", {"data": message["data"]})  # await self.emit(..., room=sid)

    async def on_my_broadcast_event(
        self, socket: socketwire.Socket, message: dict[str, Any]
    ) -> None:
        self.emit("my_response", {"data": message["data"]})  # await self.emit(...)

    async def on_join(self, socket: socketwire.Socket, message: dict[str, Any]) -> None:
        socket.join(message["room"])  # await self.enter_room(sid, message['room'])
        socket.emit("my_response", {"data": "Entered room: " + message["room"]})

    async def on_leave(self, socket: socketwire.Socket, message: dict[str, Any]) -> None:
        socket.leave(message["room"])  # await self.leave_room(sid, message['room'])
        socket.emit("my_response", {"data": "Left room: " + message["room"]})

    async def on_my_room_event(self, socket: socketwire.Socket, message: dict[str, Any]) -> None:
        self.to(message["room"]).emit("my_response", {"data": message["data"]})

    async def on_disconnect(self, socket: socketwire.Socket, reason: str) -> None:
        print("Client disconnected, reason:", reason)


sio.register_namespace(Example("/"))  # sio.register_namespace(Example('/'))


@sio.event("close room")
async def close(socket: socketwire.Socket, message: dict[str, Any]) -> None:
    sio.to(message["room"]).emit(
        "my_response", {"data": "Room " + message["room"] + " is closing."}
    )
    await sio.in_(message["room"]).sockets_leave(message["room"])


@sio.event("disconnect request")
async def disconnect_request(socket: socketwire.Socket) -> None:
    socket.disconnect()
