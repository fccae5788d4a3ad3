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

The chat is a class-based namespace (``Chat``) whose annotations
(``socketwire.demo.events``) are its contract: with pydantic installed, payloads are
validated before the handlers run (a wrong type gets the ``REQUEST_VALIDATION_ERROR``
acknowledgement), and the AsyncAPI document is served at ``/asyncapi.json``;
``socketwire asyncapi`` and ``socketwire typescript`` print it and its TypeScript types.
"""

from __future__ import annotations

import contextlib
import os
import time
from typing import Any

from socketwire.demo.chat import ChatError, ChatMessage, ChatState
from socketwire.demo.events import (
    Failure,
    Hello,
    HelloReply,
    JoinReply,
    LeaveReply,
    MessageOut,
    NicknameReply,
    Notice,
    RoomInfo,
    Say,
    SayReply,
    Typing,
    TypingOut,
)
from socketwire.demo.pages import DemoPages
from socketwire.server import NamespaceHandlers, Server, Socket
from socketwire.socketio.packets import RESERVED_EVENTS
from socketwire.typed.payloads import available as pydantic_available

__all__ = ["ASYNCAPI_INFO", "MAX_ECHO_EVENTS", "Chat", "create_app"]

#: The ``info`` of the demo's AsyncAPI document.
ASYNCAPI_INFO = {
    "title": "socketwire chat demo",
    "version": "1.0.0",
    "description": "The chat that `socketwire serve` runs without an app: nicknames, rooms "
    "with their recent history, a typing indicator and the number of people online.",
}

#: Distinct event names ``/echo`` answers per socket (each needs a handler; keep it bounded).
MAX_ECHO_EVENTS = 32
# Socket.IO rooms of the chat are prefixed: a socket's own id is a room too, and a user
# must not be able to join another user's private room by naming it.
_ROOM_PREFIX = "chat:"


def _now_ms() -> int:
    return int(time.time() * 1000)


def _failure(exc: ChatError) -> Failure:
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
    if pydantic_available():
        server_options.setdefault("asyncapi_path", "/asyncapi.json")
    server_options.setdefault("asyncapi_info", ASYNCAPI_INFO)
    sio = Server(
        path=path,
        parser=parser,
        serve_client=serve_client,
        serve_client_dir=serve_client_dir,
        **server_options,
    )
    sio.engine.fallback = DemoPages(path=sio.engine.options.path, parser=parser)
    sio.register_namespace(Chat(sio, ChatState()))
    _declare(sio)
    _echo(sio)
    return sio


class Chat(NamespaceHandlers):
    """The chat on ``"/"``: one ``on_<event>`` method per event (see the module's doc)."""

    def __init__(self, sio: Server, state: ChatState) -> None:
        super().__init__("/")
        self.sio = sio
        self.state = state

    def _broadcast_counts(self) -> None:
        self.sio.emit("online", len(self.sio.sockets.sockets))
        self.sio.emit("rooms", self.state.room_list())

    def _notice(self, room: str, text: str) -> None:
        notice: Notice = {"room": room, "text": text, "time": _now_ms()}
        self.to(_ROOM_PREFIX + room).emit("notice", notice)

    async def on_connection(self, socket: Socket) -> None:
        self.state.connect(socket.id, socket.handshake.auth.get("nickname"))
        self._broadcast_counts()

    async def on_hello(self, socket: Socket, data: Hello | None = None) -> HelloReply:
        """Sent by the page on every connection, before it (re)joins its rooms."""
        wanted = data.get("nickname") if isinstance(data, dict) else None
        if wanted is not None:
            # an unusable name keeps the one given at connection
            with contextlib.suppress(ChatError):
                self.state.rename(socket.id, wanted)
        return {
            "ok": True,
            "nickname": self.state.nicknames[socket.id],
            "online": len(self.sio.sockets.sockets),
            "rooms": self.state.room_list(),
        }

    async def on_nickname(self, socket: Socket, name: str) -> NicknameReply | Failure:
        """Change one's nickname; the rooms one is in get a notice."""
        try:
            old, new = self.state.rename(socket.id, name)
        except ChatError as exc:
            return _failure(exc)
        if old != new:
            for room in self.state.rooms_of(socket.id):
                self._notice(room, f"{old} is now {new}")
        return {"ok": True, "nickname": new}

    async def on_join(self, socket: Socket, room: str) -> JoinReply | Failure:
        """Join a room (created if needed); the answer has its recent history."""
        try:
            name, history = self.state.join(socket.id, room)
        except ChatError as exc:
            return _failure(exc)
        if _ROOM_PREFIX + name not in socket.rooms:
            self._notice(name, f"{self.state.nicknames[socket.id]} joined")
            socket.join(_ROOM_PREFIX + name)
            self.sio.emit("rooms", self.state.room_list())
        members = next(r["members"] for r in self.state.room_list() if r["name"] == name)
        return {
            "ok": True,
            "room": name,
            "history": [_message_out(message) for message in history],
            "members": members,
        }

    async def on_leave(self, socket: Socket, room: str) -> LeaveReply | Failure:
        """Leave a room."""
        if not isinstance(room, str) or not self.state.leave(socket.id, room):
            return {"ok": False, "error": "you are not in that room"}
        socket.leave(_ROOM_PREFIX + room)
        self._notice(room, f"{self.state.nicknames[socket.id]} left")
        self.sio.emit("rooms", self.state.room_list())
        return {"ok": True, "room": room}

    async def on_message(self, socket: Socket, data: Say) -> SayReply | Failure:
        """Say something in a room one is in; the room (sender included) gets ``message``."""
        if not isinstance(data, dict):
            return {"ok": False, "error": "expected {room, text}"}
        try:
            said = self.state.say(socket.id, data.get("room"), data.get("text"), _now_ms())
        except ChatError as exc:
            return _failure(exc)
        self.to(_ROOM_PREFIX + said.room).emit("message", _message_out(said))
        return {"ok": True, "id": said.id}

    async def on_typing(self, socket: Socket, data: Typing) -> None:
        """Started or stopped typing; the others in the room get ``typing`` (volatile)."""
        if not isinstance(data, dict):
            return
        room = data.get("room")
        if isinstance(room, str) and self.state.is_member(socket.id, room):
            typing: TypingOut = {
                "room": room,
                "nickname": self.state.nicknames[socket.id],
                "typing": bool(data.get("typing")),
            }
            socket.to(_ROOM_PREFIX + room).volatile.emit("typing", typing)

    async def on_disconnect(self, socket: Socket, _reason: str) -> None:
        nickname, rooms = self.state.disconnect(socket.id)
        for room in rooms:
            stopped: TypingOut = {"room": room, "nickname": nickname, "typing": False}
            self.to(_ROOM_PREFIX + room).emit("typing", stopped)
            self._notice(room, f"{nickname} left")
        self._broadcast_counts()


def _message_out(message: ChatMessage) -> MessageOut:
    return {
        "id": message.id,
        "room": message.room,
        "nickname": message.nickname,
        "text": message.text,
        "time": message.time,
    }


def _declare(sio: Server) -> None:
    """The events the chat sends (its contract's server-to-client half)."""

    @sio.emits
    def online(count: int) -> None:
        """How many sockets are connected to the chat (on this server)."""

    @sio.emits
    def rooms(rooms: list[RoomInfo]) -> None:
        """The rooms people are in, when that changes."""

    @sio.emits
    def notice(notice: Notice) -> None:
        """Something happened in a room one is in."""

    @sio.emits
    def message(message: MessageOut) -> None:
        """A message said in a room one is in (one's own too)."""

    @sio.emits
    def typing(typing: TypingOut) -> None:
        """Someone in a room one is in started or stopped typing (volatile)."""


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
