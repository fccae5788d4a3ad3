"""The cluster adapters' shared bookkeeping, without Redis: pending requests and their
timeout messages, acknowledgement requests, option converters, the recovery log, and the
membership that heartbeats maintain."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from socketwire.adapters.base import BroadcastFlags, BroadcastOptions
from socketwire.adapters.cluster import (
    AckRequests,
    ClusterError,
    ClusterTimeoutError,
    PendingRequests,
    options_from_wire,
    options_to_wire,
)
from socketwire.adapters.cluster_heartbeat import Membership
from socketwire.adapters.redis import RecoveryLog
from socketwire.adapters.wire import WireFlags, WireOptions
from socketwire.socketio import Packet, PacketType


async def test_a_request_resolves_with_every_answer() -> None:
    requests = PendingRequests("socket.io-request#/#")
    future = requests.open("r1", "fetch_sockets", 2, timeout=5)
    assert "r1" in requests
    assert requests.answer("r1", ["a", "b"], "uid1")
    assert not future.done()
    assert requests.answer("r1", ["c"], "uid2")
    assert await future == ["a", "b", "c"]
    assert "r1" not in requests
    assert not requests.answer("r1", ["late"])


async def test_a_timeout_names_what_is_missing() -> None:
    requests = PendingRequests("socket.io#/#")
    future = requests.open("r2", "server_side_emit", 3, timeout=0.05)
    requests.answer("r2", ["pong"], "node-a")
    with pytest.raises(ClusterTimeoutError) as caught:
        await future
    error = caught.value
    assert str(error) == (
        "server_side_emit timed out after 0.05 s: 1 of 3 servers answered, 2 missing; "
        "answered: node-a (request r2 on socket.io#/#)"
    )
    assert error.responses == ["pong"]
    assert error.responders == ["node-a"]
    assert error.expected == 3
    assert isinstance(error, TimeoutError)


async def test_failing_and_closing_requests() -> None:
    requests = PendingRequests("here")
    failed = requests.open("r3", "all_rooms", 1, timeout=5)
    closed = requests.open("r4", "all_rooms", 1, timeout=5)
    requests.fail("r3", ClusterError("no Redis"))
    requests.close()
    with pytest.raises(ClusterError, match="no Redis"):
        await failed
    with pytest.raises(ClusterError, match="adapter closed"):
        await closed


async def test_a_request_by_uid_waits_for_each_known_server_once() -> None:
    """socket.io-adapter's missingUids: one answer per known server, a second answer from
    the same server or one from a stranger does not complete the request."""
    requests = PendingRequests("socket.io#/")
    future = requests.open("r5", "fetch_sockets", 0, timeout=5, uids={"a", "b"})
    requests.answer("r5", ["a1"], "a")
    requests.answer("r5", ["a2"], "a")
    requests.answer("r5", ["x1"], "stranger")
    assert not future.done()
    requests.answer("r5", ["b1"], "b")
    assert await future == ["a1", "a2", "x1", "b1"]


async def test_a_server_that_leaves_is_no_longer_awaited() -> None:
    requests = PendingRequests("socket.io#/")
    both = requests.open("r6", "server_side_emit", 0, timeout=5, uids={"a", "b"})
    counted = requests.open("r7", "server_side_emit", 2, timeout=5)
    requests.answer("r6", ["pong"], "a")
    requests.forget("b")
    assert await both == ["pong"]
    requests.forget("a")
    assert not counted.done()  # a request that counts answers knows no uids
    requests.close()
    with pytest.raises(ClusterError):
        await counted


async def test_a_request_by_uid_names_who_did_not_answer() -> None:
    requests = PendingRequests("socket.io#/")
    future = requests.open("r8", "fetch_sockets", 0, timeout=0.05, uids={"b", "c", "a"})
    requests.answer("r8", [], "a")
    with pytest.raises(ClusterTimeoutError) as caught:
        await future
    assert str(caught.value) == (
        "fetch_sockets timed out after 0.05 s: 1 of 3 servers answered, 2 missing; "
        "answered: a; not answered: b, c (request r8 on socket.io#/)"
    )


def test_membership_by_last_heard() -> None:
    members = Membership(timeout=10)
    members.seen("a", now=100.0)
    members.seen("b", now=105.0)
    assert len(members) == 2
    assert "a" in members
    assert members.uids() == {"a", "b"}
    assert members.expire(now=110.0) == []  # silent for exactly the timeout: still there
    members.seen("a", now=110.5)  # any message refreshes
    assert members.expire(now=115.1) == ["b"]
    assert members.uids() == {"a"}
    assert members.remove("a")
    assert not members.remove("a")
    assert len(members) == 0


async def test_ack_requests_forward_counts_and_acks_until_the_timeout() -> None:
    acks = AckRequests()
    counts: list[int] = []
    answers: list[tuple[str | None, list[Any] | None]] = []
    acks.open(
        "b1", lambda count, _sids: counts.append(count), lambda s, a: answers.append((s, a)), 0.05
    )
    acks.client_count("b1", 2)
    acks.ack("b1", "x")
    acks.ack("other", "ignored")
    assert counts == [2]
    assert answers == [(None, ["x"])]
    # The loop runs timers in deadline order: once a later one fired, the request's has.
    later = asyncio.Event()
    asyncio.get_running_loop().call_later(0.06, later.set)
    await asyncio.wait_for(later.wait(), 2)
    assert "b1" not in acks
    acks.ack("b1", "too late")
    assert answers == [(None, ["x"])]


def test_options_travel_in_milliseconds_and_leave_false_flags_out() -> None:
    opts = BroadcastOptions(
        frozenset({"b", "a"}), frozenset({"x"}), BroadcastFlags(timeout=1.5, compress=False)
    )
    wire = options_to_wire(opts)
    assert wire == WireOptions(("a", "b"), ("x",), WireFlags(compress=False, timeout=1500))
    assert wire.flags.to_wire() == {"compress": False, "timeout": 1500}
    assert options_from_wire(wire) == opts
    volatile = options_to_wire(BroadcastOptions(flags=BroadcastFlags(volatile=True)))
    assert volatile.flags.to_wire() == {"volatile": True}


def _event(*args: Any) -> Packet:
    return Packet(PacketType.EVENT, "/", list(args))


def test_the_recovery_log_replays_what_a_session_missed() -> None:
    log = RecoveryLog(duration=60)
    everyone = BroadcastOptions()
    log.record(_event("a", "abcdef~0"), everyone)
    log.record(_event("b", "abcdef~1"), BroadcastOptions(frozenset({"r"})))
    log.record(_event("c", "abcdef~2"), BroadcastOptions(frozenset({"other"})))
    log.record(_event("d", "abcdef~3"), BroadcastOptions(except_rooms=frozenset({"r"})))
    log.record(_event("e", "zzzzzz~0"), everyone)
    log.record(_event("not-an-offset", "hello"), everyone)  # a peer without offsets
    volatile = BroadcastOptions(flags=BroadcastFlags(volatile=True))
    log.record(_event("volatile", "abcdef~4"), volatile)
    assert log.knows("abcdef~0")
    assert not log.knows("abcdef~4")
    assert not log.knows("nope")
    assert log.missed("abcdef~0", ["sid", "r"]) == [["b", "abcdef~1"], ["e", "zzzzzz~0"]]
    assert log.missed("abcdef~2", ["sid"]) == [["d", "abcdef~3"], ["e", "zzzzzz~0"]]
    assert log.missed("unknown~1", ["sid"]) is None


def test_the_recovery_log_is_bounded() -> None:
    log = RecoveryLog(duration=60, max_len=2)
    for index in range(3):
        log.record(_event("x", f"abcdef~{index}"), BroadcastOptions())
    assert not log.knows("abcdef~0")
    assert log.missed("abcdef~1", ["sid"]) == [["x", "abcdef~2"]]
