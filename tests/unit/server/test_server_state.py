"""The sans-I/O core of the Socket.IO server: ack ids, pending acks, a connection's
namespaces and its connect timeout, driven here with plain values and a fake ``now``."""

from __future__ import annotations

from typing import Any

import pytest

from socketwire.server.state import AckIds, Admission, ConnectionState, PendingAcks


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
    assert state.handle_timeout(144.999) is False  # a timer that fired early
    assert state.next_deadline() == 145.0
    assert state.handle_timeout(145.0) is True
    assert state.next_deadline() is None
    assert state.handle_timeout(200.0) is False  # once


def test_connect_timeout_ends_with_the_first_namespace() -> None:
    state = connection()
    state.admit("/")
    assert state.handle_timeout(120.0) is False
    state.connect_finished("/", connected=True)
    assert state.next_deadline() is None
    assert state.handle_timeout(1000.0) is False
    state.left("/")  # leaving later does not restart it, as JS
    assert state.next_deadline() is None


def test_a_connecting_namespace_does_not_stop_the_timeout() -> None:
    # JS closes at the timeout unless a namespace is connected, even while one connects
    state = connection()
    state.admit("/")
    assert state.handle_timeout(145.0) is True


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
