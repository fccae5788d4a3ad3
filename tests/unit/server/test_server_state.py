"""The sans-I/O core of the Socket.IO server: ack ids, pending acks, a connection's
namespaces and its connect timeout, driven here with plain values and a fake ``now``."""

from __future__ import annotations

from typing import Any

import pytest

from socketwire.server.state import (
    AckIds,
    Admission,
    ConnectionState,
    EventBudget,
    Expiry,
    PendingAcks,
)


def test_ack_ids_count_from_zero() -> None:
    ids = AckIds()
    assert [ids.next() for _ in range(4)] == [0, 1, 2, 3]
    assert AckIds().next() == 0  # one sequence per namespace


def test_pending_acks_fail_all_once() -> None:
    acks = PendingAcks()
    calls: list[tuple[int, Any]] = []
    acks[3] = lambda args: calls.append((3, args))
    acks[5] = lambda args: calls.append((5, args))
    settled = acks.pop(3, None)
    assert settled is not None
    settled(["ok"])
    acks.fail_all()
    assert calls == [(3, ["ok"]), (5, None)]
    assert acks == {}
    acks.fail_all()  # nothing left to fail
    assert calls == [(3, ["ok"]), (5, None)]


def test_pending_acks_forget_before_failing() -> None:
    # a handler that registers another ack while failing does not see it failed too
    acks = PendingAcks()
    seen: list[Any] = []

    def handler(args: Any) -> None:
        seen.append(args)
        acks[9] = seen.append

    acks[1] = handler
    acks.fail_all()
    assert seen == [None]
    assert list(acks) == [9]


def connection(**kwargs: Any) -> ConnectionState:
    options = {"now": 100.0, "connect_timeout": 45.0, "max_namespaces": 2, **kwargs}
    return ConnectionState(**options)


def test_admission_table() -> None:
    state = connection()
    assert state.admit("/") is Admission.CONNECT
    assert state.admit("/") is Admission.IGNORE  # already connecting
    assert state.admit("/a") is Admission.CONNECT
    assert state.admit("/b") is Admission.CLOSE  # two connecting: the limit
    state.connect_finished("/", connected=True)
    state.connect_finished("/a", connected=False)  # refused
    assert state.connecting == set()
    assert state.connected == {"/"}
    assert state.admit("/b") is Admission.CONNECT
    assert state.admit("/c") is Admission.CLOSE  # one connected, one connecting
    state.left("/")
    assert state.admit("/c") is Admission.CONNECT


def test_a_refused_namespace_may_ask_again() -> None:
    state = connection()
    assert state.admit("/") is Admission.CONNECT
    state.connect_finished("/", connected=False)
    assert state.admit("/") is Admission.CONNECT


def test_connect_timeout_closes_a_connection_without_namespace() -> None:
    state = connection()
    assert state.next_deadline() == 145.0
    assert state.handle_timeout(144.999) is None  # a timer that fired early
    assert state.next_deadline() == 145.0
    assert state.handle_timeout(145.0) is Expiry.NO_NAMESPACE
    assert state.next_deadline() is None
    assert state.handle_timeout(200.0) is None  # once


def test_connect_timeout_ends_with_the_first_namespace() -> None:
    state = connection()
    state.admit("/")
    assert state.handle_timeout(120.0) is None
    state.connect_finished("/", connected=True)
    assert state.next_deadline() is None
    assert state.handle_timeout(1000.0) is None
    state.left("/")  # leaving later does not restart it, as JS
    assert state.next_deadline() is None


def test_a_connecting_namespace_does_not_stop_the_timeout() -> None:
    # JS closes at the timeout unless a namespace is connected, even while one connects
    state = connection()
    state.admit("/")
    assert state.handle_timeout(145.0) is Expiry.NO_NAMESPACE


@pytest.mark.parametrize("limit", [1, 3])
def test_the_limit_counts_connected_and_connecting(limit: int) -> None:
    state = connection(max_namespaces=limit)
    names = [f"/{i}" for i in range(limit)]
    for name in names:
        assert state.admit(name) is Admission.CONNECT
    assert state.admit("/over") is Admission.CLOSE
    for name in names:
        state.connect_finished(name, connected=True)
    assert state.admit("/over") is Admission.CLOSE


def test_reading_pauses_for_the_first_cause_and_resumes_after_the_last() -> None:
    state = connection()
    state.connect_finished("/", connected=True)
    socket_a, socket_b = object(), object()
    assert state.block(socket_a, 110.0, 20.0) is True  # pause now
    assert state.next_deadline() == 130.0
    assert state.block(socket_b, 115.0, 20.0) is False  # already paused: same deadline
    assert state.next_deadline() == 130.0
    assert state.unblock(socket_a) is False  # b still holds it
    assert state.unblock(socket_a) is False  # not blocking any more: nothing to do
    assert state.unblock(socket_b) is True  # resume now
    assert state.next_deadline() is None
    assert state.block(socket_a, 200.0, 20.0) is True  # a new pause, a new deadline
    assert state.next_deadline() == 220.0


def test_a_connection_paused_too_long_is_closed() -> None:
    state = connection()
    state.admit("/")
    assert state.block("socket", 101.0, 20.0) is True
    assert state.next_deadline() == 121.0  # before the connect timeout (145)
    assert state.handle_timeout(120.9) is None
    assert state.handle_timeout(121.0) is Expiry.STAYED_PAUSED
    assert Expiry.STAYED_PAUSED.value == "event queue full"
    assert state.next_deadline() == 145.0  # the connect timeout is still armed


def test_the_event_budget_pauses_at_the_limit_and_resumes_at_half() -> None:
    budget = EventBudget(4)
    a, b = object(), object()
    assert [budget.started(a) for _ in range(3)] == [False, False, False]
    assert budget.started(b) is True  # the fourth: b pauses
    assert budget.started(b) is False  # already waiting
    assert budget.started(a) is True  # over the limit: a pauses too
    assert budget.finished() is None  # 5 running
    assert budget.finished() is None  # 4
    assert budget.finished() is None  # 3
    assert budget.finished() == {a, b}  # 2: half free, both resume
    assert budget.waiting == set()
    budget.started(a), budget.started(a)
    assert budget.started(b) is True
    budget.forget(b)  # closed meanwhile
    assert budget.finished() is None


def test_a_binary_packet_has_its_deadline_from_its_first_message() -> None:
    state = connection()
    state.connect_finished("/", connected=True)
    state.packet_waiting(110.0, 60.0)
    state.packet_waiting(150.0, 60.0)  # a later attachment: the same deadline
    assert state.next_deadline() == 170.0
    assert state.handle_timeout(169.0) is None
    assert state.handle_timeout(170.0) is Expiry.ATTACHMENTS_MISSING
    assert state.next_deadline() is None
    state.packet_waiting(200.0, 60.0)
    state.packet_complete()
    assert state.next_deadline() is None
