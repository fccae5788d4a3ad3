"""The chat demo's state: nicknames, rooms, and each room's recent messages.

Pure bookkeeping (no sockets, no clock: times are arguments), so the rules are plain to read and
test. [`socketwire.demo.app`][socketwire.demo.app] wires it to a [`Server`][socketwire.Server].

Everything a client can make grow is bounded: text and name lengths, rooms per socket,
rooms remembered, and messages kept per room (the history a newcomer is shown, from this
server process's memory only).
"""

from __future__ import annotations

import itertools
import re
import secrets
import unicodedata
from collections import OrderedDict, deque
from dataclasses import dataclass
from typing import Any

from socketwire.demo.events import RoomInfo

__all__ = [
    "DEFAULT_ROOM",
    "MAX_HISTORY",
    "MAX_NICKNAME",
    "MAX_ROOMS",
    "MAX_ROOMS_PER_SOCKET",
    "MAX_ROOM_NAME",
    "MAX_TEXT",
    "ChatError",
    "ChatMessage",
    "ChatState",
    "clean_nickname",
    "clean_room",
    "clean_text",
]

DEFAULT_ROOM = "lobby"
MAX_HISTORY = 100
MAX_ROOMS = 100
MAX_ROOMS_PER_SOCKET = 10
MAX_NICKNAME = 24
MAX_ROOM_NAME = 32
MAX_TEXT = 1000
_ROOM_NAME = re.compile(r"[\w][\w .'-]*", re.UNICODE)


class ChatError(Exception):
    """A request the chat refuses; the message is shown to the user."""


def _printable(text: str) -> str:
    # Control and format characters (bidi overrides...) would garble other users' screens.
    return "".join(ch for ch in text if unicodedata.category(ch)[0] != "C" or ch == "\n")


def clean_nickname(value: Any) -> str:
    """A nickname from user input: printable, single-spaced, at most 24 characters.

    Raises:
        ChatError: nothing is left.
    """
    if not isinstance(value, str):
        raise ChatError("a nickname must be text")
    # whitespace (tabs, newlines) becomes single spaces before other controls are dropped
    name = _printable(" ".join(value.split()))[:MAX_NICKNAME].strip()
    if not name:
        raise ChatError("a nickname cannot be empty")
    return name


def clean_room(value: Any) -> str:
    """A room name from user input: letters, digits, space, ``.'-_``, at most 32 characters.

    Raises:
        ChatError: the name is empty or has other characters.
    """
    if not isinstance(value, str):
        raise ChatError("a room name must be text")
    name = " ".join(value.split())
    if not name or len(name) > MAX_ROOM_NAME or not _ROOM_NAME.fullmatch(name):
        raise ChatError(
            f"a room name has 1 to {MAX_ROOM_NAME} letters, digits, spaces or .'-_ "
            "and starts with a letter or digit"
        )
    return name


def clean_text(value: Any) -> str:
    """A message text from user input: printable, trimmed, at most 1000 characters.

    Raises:
        ChatError: the text is empty or too long.
    """
    if not isinstance(value, str):
        raise ChatError("a message must be text")
    text = _printable(value).strip()
    if not text:
        raise ChatError("a message cannot be empty")
    if len(text) > MAX_TEXT:
        raise ChatError(f"a message has at most {MAX_TEXT} characters")
    return text


def guest_name() -> str:
    """A nickname for someone who did not choose one."""
    return f"guest-{secrets.randbelow(10000):04d}"


@dataclass(frozen=True, slots=True)
class ChatMessage:
    """One message said in a room.

    Attributes:
        id: Increasing number, unique in this process.
        room: The room's name.
        nickname: The author's nickname when they said it.
        text: What they said.
        time: When, in milliseconds since the epoch.
    """

    id: int
    room: str
    nickname: str
    text: str
    time: int

    def to_json(self) -> dict[str, Any]:
        """The message as sent to browsers."""
        return {
            "id": self.id,
            "room": self.room,
            "nickname": self.nickname,
            "text": self.text,
            "time": self.time,
        }


class ChatState:
    """Who is where, under which name, and what was said recently.

    Rooms are kept in least-recently-used order; past [`MAX_ROOMS`][MAX_ROOMS], the least recently
    used room that nobody is in is forgotten with its history.
    """

    def __init__(self) -> None:
        self.nicknames: dict[str, str] = {}
        self._members: dict[str, set[str]] = {}
        self._history: OrderedDict[str, deque[ChatMessage]] = OrderedDict()
        self._joined: dict[str, set[str]] = {}
        self._ids = itertools.count(1)

    def connect(self, sid: str, nickname: Any) -> str:
        """Register socket ``sid``; returns its nickname (a guest name if ``nickname`` is
        unusable)."""
        try:
            name = clean_nickname(nickname)
        except ChatError:
            name = guest_name()
        self.nicknames[sid] = name
        self._joined.setdefault(sid, set())
        return name

    def rename(self, sid: str, nickname: Any) -> tuple[str, str]:
        """Change the nickname of ``sid``; returns ``(old, new)``.

        Raises:
            ChatError: the nickname is unusable.
        """
        name = clean_nickname(nickname)
        old = self.nicknames.get(sid, name)
        self.nicknames[sid] = name
        return old, name

    def rooms_of(self, sid: str) -> list[str]:
        """The rooms ``sid`` is in, sorted."""
        return sorted(self._joined.get(sid, ()))

    def is_member(self, sid: str, room: str) -> bool:
        """True when ``sid`` is in ``room``."""
        return room in self._joined.get(sid, ())

    def join(self, sid: str, room: Any) -> tuple[str, list[ChatMessage]]:
        """Put ``sid`` in ``room``; returns the clean room name and its history.

        Raises:
            ChatError: a bad name, or too many rooms (for this socket or in all).
        """
        name = clean_room(room)
        joined = self._joined.setdefault(sid, set())
        if name not in joined and len(joined) >= MAX_ROOMS_PER_SOCKET:
            raise ChatError(f"you can be in at most {MAX_ROOMS_PER_SOCKET} rooms at once")
        if name not in self._history:
            self._make_room(name)
        self._history.move_to_end(name)
        joined.add(name)
        self._members.setdefault(name, set()).add(sid)
        return name, list(self._history[name])

    def _make_room(self, name: str) -> None:
        if len(self._history) >= MAX_ROOMS:
            for candidate in self._history:
                if not self._members.get(candidate):
                    del self._history[candidate]
                    self._members.pop(candidate, None)
                    break
            else:
                raise ChatError("there are too many rooms on this server; join an existing one")
        self._history[name] = deque(maxlen=MAX_HISTORY)

    def leave(self, sid: str, room: str) -> bool:
        """Take ``sid`` out of ``room``; False when it was not there."""
        joined = self._joined.get(sid)
        if joined is None or room not in joined:
            return False
        joined.discard(room)
        members = self._members.get(room)
        if members is not None:
            members.discard(sid)
        return True

    def disconnect(self, sid: str) -> tuple[str, list[str]]:
        """Forget ``sid``; returns its nickname and the rooms it was in."""
        rooms = self.rooms_of(sid)
        for room in rooms:
            self.leave(sid, room)
        self._joined.pop(sid, None)
        return self.nicknames.pop(sid, "someone"), rooms

    def say(self, sid: str, room: Any, text: Any, now_ms: int) -> ChatMessage:
        """Record what ``sid`` says in ``room`` at ``now_ms``; returns the message.

        Raises:
            ChatError: not in the room, or a bad text.
        """
        if not isinstance(room, str) or not self.is_member(sid, room):
            raise ChatError("join the room before writing in it")
        message = ChatMessage(
            next(self._ids), room, self.nicknames.get(sid, "someone"), clean_text(text), now_ms
        )
        self._history[room].append(message)
        self._history.move_to_end(room)
        return message

    def room_list(self) -> list[RoomInfo]:
        """Rooms people are in (and the default room), with member counts, by name."""
        rooms = {name: len(sids) for name, sids in self._members.items() if sids}
        rooms.setdefault(DEFAULT_ROOM, 0)
        return [{"name": name, "members": rooms[name]} for name in sorted(rooms)]
