"""The embedded demo: a chat on the main namespace and an echo namespace, with its page.

Protocol of the chat (``"/"``); every request is acknowledged with ``{"ok": true, ...}``
or ``{"ok": false, "error": "..."}``:

- ``hello {nickname}`` -> ``{nickname, online, rooms}``: sent by the page on every
  connection, before it (re)joins its rooms.
- ``nickname name`` -> ``{nickname}``; the rooms of the sender get a ``notice``.
- ``join room`` -> ``{room, history, members}``; ``leave room`` -> ``{room}``.
- ``message {room, text}`` -> ``{id}``; the room gets ``message {id, room, nickname, text,
  time}`` (the sender included).
- ``typing {room, typing}``: the others in the room get ``typing {room, nickname, typing}``
  (volatile: a lost one is harmless).

The server also sends ``online count`` (sockets on ``"/"``), ``rooms [{name, members}]``
and ``notice {room, text, time}``.

``"/echo"`` sends every event back to its sender, and acknowledges it with the same
arguments when asked.
"""

from __future__ import annotations

import contextlib
import os
import time
from typing import Any

from socketwire.demo.chat import ChatError, ChatState
from socketwire.demo.pages import DemoPages
from socketwire.server import Server, Socket
from socketwire.socketio.packets import RESERVED_EVENTS

__all__ = ["MAX_ECHO_EVENTS", "create_app"]

#: Distinct event names ``/echo`` answers per socket (each needs a handler; keep it bounded).
MAX_ECHO_EVENTS = 32
# Socket.IO rooms of the chat are prefixed: a socket's own id is a room too, and a user
# must not be able to join another user's private room by naming it.
_ROOM_PREFIX = "chat:"


def _now_ms() -> int:
    return int(time.time() * 1000)


def _failure(exc: ChatError) -> dict[str, Any]:
    return {"ok": False, "error": str(exc)}


def create_app(
    *,
    path: str = "/socket.io/",
    parser: str = "json",
    serve_client_dir: str | os.PathLike[str] | None = None,
    serve_client: bool = True,
    **server_options: Any,
) -> Server:
    """Build the demo: a [`Server`][socketwire.Server] that also serves the chat page at ``/``.

    Args:
        path: The Socket.IO path.
        parser: ``"json"`` or ``"msgpack"`` (the page then loads the msgpack bundle).
        serve_client_dir: Where the browser client dist is (see [`Server`][socketwire.Server]).
        serve_client: Serve the browser client (the page needs it, from here or elsewhere).
        **server_options: More [`Server`][socketwire.Server] options (``cors``...).
    """
    sio = Server(
        path=path,
        parser=parser,
        serve_client=serve_client,
        serve_client_dir=serve_client_dir,
        **server_options,
    )
    sio.engine.fallback = DemoPages(path=sio.engine.options.path, parser=parser)
    _chat(sio, ChatState())
    _echo(sio)
    return sio


def _chat(sio: Server, state: ChatState) -> None:
    def broadcast_counts() -> None:
        sio.emit("online", len(sio.sockets.sockets))
        sio.emit("rooms", state.room_list())

    def notice(room: str, text: str) -> None:
        sio.to(_ROOM_PREFIX + room).emit("notice", {"room": room, "text": text, "time": _now_ms()})

    @sio.on("connection")
    async def on_connection(socket: Socket) -> None:
        nickname = socket.handshake.auth.get("nickname")
        state.connect(socket.id, nickname)
        broadcast_counts()

        @socket.on("hello")
        async def hello(data: Any = None) -> dict[str, Any]:
            wanted = data.get("nickname") if isinstance(data, dict) else None
            if wanted is not None:
                # an unusable name keeps the one given at connection
                with contextlib.suppress(ChatError):
                    state.rename(socket.id, wanted)
            return {
                "ok": True,
                "nickname": state.nicknames[socket.id],
                "online": len(sio.sockets.sockets),
                "rooms": state.room_list(),
            }

        @socket.on("nickname")
        async def nickname_(name: Any = None) -> dict[str, Any]:
            try:
                old, new = state.rename(socket.id, name)
            except ChatError as exc:
                return _failure(exc)
            if old != new:
                for room in state.rooms_of(socket.id):
                    notice(room, f"{old} is now {new}")
            return {"ok": True, "nickname": new}

        @socket.on("join")
        async def join(room: Any = None) -> dict[str, Any]:
            try:
                name, history = state.join(socket.id, room)
            except ChatError as exc:
                return _failure(exc)
            if _ROOM_PREFIX + name not in socket.rooms:
                notice(name, f"{state.nicknames[socket.id]} joined")
                socket.join(_ROOM_PREFIX + name)
                sio.emit("rooms", state.room_list())
            members = next(r["members"] for r in state.room_list() if r["name"] == name)
            return {
                "ok": True,
                "room": name,
                "history": [message.to_json() for message in history],
                "members": members,
            }

        @socket.on("leave")
        async def leave(room: Any = None) -> dict[str, Any]:
            if not isinstance(room, str) or not state.leave(socket.id, room):
                return {"ok": False, "error": "you are not in that room"}
            socket.leave(_ROOM_PREFIX + room)
            notice(room, f"{state.nicknames[socket.id]} left")
            sio.emit("rooms", state.room_list())
            return {"ok": True, "room": room}

        @socket.on("message")
        async def message(data: Any = None) -> dict[str, Any]:
            if not isinstance(data, dict):
                return {"ok": False, "error": "expected {room, text}"}
            try:
                said = state.say(socket.id, data.get("room"), data.get("text"), _now_ms())
            except ChatError as exc:
                return _failure(exc)
            sio.to(_ROOM_PREFIX + said.room).emit("message", said.to_json())
            return {"ok": True, "id": said.id}

        @socket.on("typing")
        async def typing(data: Any = None) -> None:
            if not isinstance(data, dict):
                return
            room = data.get("room")
            if isinstance(room, str) and state.is_member(socket.id, room):
                socket.to(_ROOM_PREFIX + room).volatile.emit(
                    "typing",
                    {
                        "room": room,
                        "nickname": state.nicknames[socket.id],
                        "typing": bool(data.get("typing")),
                    },
                )

        @socket.on("disconnect")
        async def disconnect(_reason: str) -> None:
            nickname, rooms = state.disconnect(socket.id)
            for room in rooms:
                sio.to(_ROOM_PREFIX + room).emit(
                    "typing", {"room": room, "nickname": nickname, "typing": False}
                )
                notice(room, f"{nickname} left")
            broadcast_counts()


def _echo(sio: Server) -> None:
    echo = sio.of("/echo")

    @echo.on("connection")
    async def on_connection(socket: Socket) -> None:
        answered: set[str] = set()

        def handler_for(event: str) -> Any:
            # handlers are not told the event name: bind it, one handler per event
            async def send_back(*args: Any) -> tuple[Any, ...]:
                socket.emit(event, *args)
                return args  # the acknowledgement, when the client asked for one

            return send_back

        async def register(event: str, _args: list[Any]) -> None:
            # A per-packet middleware runs before the handlers are looked up, so a handler
            # added here answers this very event.
            if event in answered or event in RESERVED_EVENTS:
                return
            if len(answered) >= MAX_ECHO_EVENTS:
                return
            answered.add(event)
            socket.on(event, handler_for(event))

        socket.use(register)
