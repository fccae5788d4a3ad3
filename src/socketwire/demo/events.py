"""The chat demo's payload types: what each event carries, in both directions.

TypedDicts, so that the demo runs the same without pydantic (handlers then receive the
plain dicts these describe, and ``socketwire.demo.chat`` checks every value itself);
with pydantic, socketwire validates them before the handlers run, and they make the demo's
AsyncAPI document and TypeScript types (``socketwire asyncapi``, ``socketwire typescript``).
"""

from __future__ import annotations

import sys
from typing import Literal

if sys.version_info >= (3, 12):
    from typing import TypedDict
else:  # pydantic needs typing_extensions' TypedDict before Python 3.12
    from typing_extensions import TypedDict

__all__ = [
    "Failure",
    "Hello",
    "HelloReply",
    "JoinReply",
    "LeaveReply",
    "MessageOut",
    "NicknameReply",
    "Notice",
    "RoomInfo",
    "Say",
    "SayReply",
    "Typing",
    "TypingOut",
]


class Hello(TypedDict, total=False):
    """What the page sends on every connection."""

    nickname: str | None


class RoomInfo(TypedDict):
    """A room people are in, with its member count."""

    name: str
    members: int


class Failure(TypedDict):
    """A request the chat refuses; ``error`` is shown to the user."""

    ok: Literal[False]
    error: str


class HelloReply(TypedDict):
    """The answer to ``hello``."""

    ok: Literal[True]
    nickname: str
    online: int
    rooms: list[RoomInfo]


class NicknameReply(TypedDict):
    """The answer to ``nickname``."""

    ok: Literal[True]
    nickname: str


class MessageOut(TypedDict):
    """One message said in a room (``time``: milliseconds since the epoch)."""

    id: int
    room: str
    nickname: str
    text: str
    time: int


class JoinReply(TypedDict):
    """The answer to ``join``: the room's recent history and member count."""

    ok: Literal[True]
    room: str
    history: list[MessageOut]
    members: int


class LeaveReply(TypedDict):
    """The answer to ``leave``."""

    ok: Literal[True]
    room: str


class Say(TypedDict):
    """A message to say in a room the sender is in."""

    room: str
    text: str


class SayReply(TypedDict):
    """The answer to ``message``: the new message's id."""

    ok: Literal[True]
    id: int


class Typing(TypedDict):
    """The sender started or stopped typing in a room."""

    room: str
    typing: bool


class TypingOut(TypedDict):
    """Someone started or stopped typing in a room."""

    room: str
    nickname: str
    typing: bool


class Notice(TypedDict):
    """Something happened in a room (someone joined, left, was renamed)."""

    room: str
    text: str
    time: int
