"""The chat demo's bookkeeping (socketwire.demo.chat): cleaning input and every bound."""

from __future__ import annotations

import pytest

from socketwire.demo.chat import (
    DEFAULT_ROOM,
    MAX_HISTORY,
    MAX_NICKNAME,
    MAX_ROOMS,
    MAX_ROOMS_PER_SOCKET,
    MAX_TEXT,
    ChatError,
    ChatState,
    clean_nickname,
    clean_room,
    clean_text,
)


@pytest.mark.parametrize(
    ("raw", "clean"),
    [
        ("  alice  ", "alice"),
        ("a\u202eb\x00c", "abc"),  # bidi override and NUL removed
        ("two   words\tand\nlines", "two words and lines"),
        ("x" * 40, "x" * MAX_NICKNAME),
    ],
)
def test_nicknames_are_cleaned(raw: str, clean: str) -> None:
    assert clean_nickname(raw) == clean


@pytest.mark.parametrize("raw", ["", "   ", "\u200b", 42, None])
def test_unusable_nicknames_are_refused(raw: object) -> None:
    with pytest.raises(ChatError):
        clean_nickname(raw)


@pytest.mark.parametrize("raw", ["lobby", "Games 2", "café", "rock'n'roll", "a-b_c.d"])
def test_room_names(raw: str) -> None:
    assert clean_room(raw) == raw


@pytest.mark.parametrize("raw", ["", " ", "-x", "a/b", "<b>", "x" * 33, ["lobby"]])
def test_bad_room_names(raw: object) -> None:
    with pytest.raises(ChatError):
        clean_room(raw)


def test_texts() -> None:
    assert clean_text("  hi\n there ") == "hi\n there"
    assert clean_text("x" * MAX_TEXT) == "x" * MAX_TEXT
    for bad in ("", "  ", "x" * (MAX_TEXT + 1), {"text": "hi"}):
        with pytest.raises(ChatError):
            clean_text(bad)


def test_connect_falls_back_to_a_guest_name() -> None:
    state = ChatState()
    assert state.connect("s1", "bob") == "bob"
    assert state.connect("s2", "").startswith("guest-")
    assert state.connect("s3", {"not": "text"}).startswith("guest-")


def test_history_is_kept_per_room_and_bounded() -> None:
    state = ChatState()
    state.connect("a", "alice")
    state.join("a", "lobby")
    state.join("a", "other")
    for i in range(MAX_HISTORY + 5):
        state.say("a", "lobby", f"m{i}", now_ms=i)
    state.say("a", "other", "elsewhere", now_ms=0)
    state.connect("b", "bob")
    _, history = state.join("b", "lobby")
    assert len(history) == MAX_HISTORY
    assert history[0].text == "m5"
    assert history[-1].text == f"m{MAX_HISTORY + 4}"
    assert all(m.room == "lobby" for m in history)
    assert [m.id for m in history] == sorted(m.id for m in history)


def test_saying_needs_membership() -> None:
    state = ChatState()
    state.connect("a", "alice")
    with pytest.raises(ChatError, match="join the room"):
        state.say("a", "lobby", "hi", now_ms=0)
    state.join("a", "lobby")
    state.leave("a", "lobby")
    with pytest.raises(ChatError):
        state.say("a", "lobby", "hi", now_ms=0)


def test_rooms_per_socket_are_bounded() -> None:
    state = ChatState()
    state.connect("a", "alice")
    for i in range(MAX_ROOMS_PER_SOCKET):
        state.join("a", f"r{i}")
    state.join("a", "r0")  # joining again is fine
    with pytest.raises(ChatError, match="at most"):
        state.join("a", "one more")


def test_rooms_are_bounded_forgetting_empty_ones_first() -> None:
    state = ChatState()
    for i in range(MAX_ROOMS):
        sid = f"s{i}"
        state.connect(sid, sid)
        state.join(sid, f"r{i}")
        state.say(sid, f"r{i}", "hello", now_ms=0)
    for sid in ("s0", "s1", "s2"):
        state.disconnect(sid)  # r0, r1, r2 are empty now, r0 the least recently used
    state.connect("late", "late")
    state.join("late", "fresh")  # r0 is forgotten to make room
    _, history = state.join("late", "r0")  # r1 is forgotten; r0 starts over
    assert history == []
    _, kept = state.join("late", "r2")  # an empty room is remembered while there is room
    assert [m.text for m in kept] == ["hello"]
    state.connect("other", "other")
    with pytest.raises(ChatError, match="too many rooms"):
        state.join("other", "r1")  # r1 was forgotten and no empty room is left


def test_no_new_room_when_every_room_is_occupied() -> None:
    state = ChatState()
    for i in range(MAX_ROOMS):
        state.connect(f"s{i}", "x")
        state.join(f"s{i}", f"r{i}")
    state.connect("new", "new")
    with pytest.raises(ChatError, match="too many rooms"):
        state.join("new", "fresh")
    state.join("new", "r5")  # an existing room is still fine


def test_room_list_counts_members_and_always_has_the_default_room() -> None:
    state = ChatState()
    assert state.room_list() == [{"name": DEFAULT_ROOM, "members": 0}]
    state.connect("a", "alice")
    state.connect("b", "bob")
    state.join("a", "games")
    state.join("b", "games")
    state.join("a", DEFAULT_ROOM)
    assert state.room_list() == [
        {"name": "games", "members": 2},
        {"name": DEFAULT_ROOM, "members": 1},
    ]
    assert state.disconnect("a") == ("alice", ["games", DEFAULT_ROOM])
    assert state.room_list() == [
        {"name": "games", "members": 1},
        {"name": DEFAULT_ROOM, "members": 0},
    ]


def test_rename() -> None:
    state = ChatState()
    state.connect("a", "alice")
    assert state.rename("a", " Alice ") == ("alice", "Alice")
    with pytest.raises(ChatError):
        state.rename("a", "")
    assert state.nicknames["a"] == "Alice"
