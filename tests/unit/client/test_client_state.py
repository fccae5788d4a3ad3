"""The sans-I/O namespace socket: packets out, events, acks, buffers, retries, recovery."""

from __future__ import annotations

from typing import Any

import pytest

from socketwire.client.errors import AckTimeoutError, BufferFullError, DisconnectedError
from socketwire.client.state import (
    V2_SERVER,
    CancelAckTimer,
    Connected,
    ConnectFailed,
    Destroyed,
    Disconnected,
    EventReceived,
    EventSent,
    SocketCore,
    StartAckTimer,
)
from socketwire.socketio import Packet, PacketType

EVENT, ACK, CONNECT = PacketType.EVENT, PacketType.ACK, PacketType.CONNECT


class Acks:
    """Records ack outcomes by name."""

    def __init__(self) -> None:
        self.results: list[tuple[str, Any]] = []

    def __call__(self, name: str) -> Any:
        def callback(error: BaseException | None, args: list[Any]) -> None:
            self.results.append((name, error if error is not None else args))

        return callback


def connected(nsp: str = "/", sid: str = "sid1", pid: str | None = None, **kw: Any) -> SocketCore:
    core = SocketCore(nsp, **kw)
    core.activate()
    core.open(None)
    assert core.packets_to_send() == [Packet(CONNECT, nsp, None)]
    core.receive(Packet(CONNECT, nsp, {"sid": sid, **({"pid": pid} if pid else {})}))
    assert core.events_received()[-1] == Connected()
    return core


def test_connect_sends_auth_and_sets_id() -> None:
    core = SocketCore("/chat")
    core.activate()
    core.open({"token": "t"})
    assert core.packets_to_send() == [Packet(CONNECT, "/chat", {"token": "t"})]
    core.receive(Packet(CONNECT, "/chat", {"sid": "abc"}))
    assert core.connected
    assert core.id == "abc"
    assert core.events_received() == [Connected()]


def test_connect_without_sid_is_a_v2_server() -> None:
    core = SocketCore("/")
    core.receive(Packet(CONNECT, "/", None))
    assert core.events_received() == [ConnectFailed(V2_SERVER)]


def test_connect_error_carries_data_and_deactivates() -> None:
    core = SocketCore("/")
    core.activate()
    core.receive(Packet(PacketType.CONNECT_ERROR, "/", {"message": "refused", "data": {"why": 1}}))
    assert core.events_received() == [Destroyed(), ConnectFailed("refused", {"why": 1})]
    assert not core.active


def test_ack_ids_count_up_and_acks_resolve() -> None:
    core = connected()
    acks = Acks()
    core.emit(["a", 1], callback=acks("a"))
    core.emit(["b"], callback=acks("b"))
    core.emit(["c"])
    assert core.packets_to_send() == [
        Packet(EVENT, "/", ["a", 1], 0),
        Packet(EVENT, "/", ["b"], 1),
        Packet(EVENT, "/", ["c"], None),
    ]
    assert core.events_received() == [EventSent(["a", 1]), EventSent(["b"]), EventSent(["c"])]
    core.receive(Packet(ACK, "/", ["y"], 1))
    core.receive(Packet(ACK, "/", [b"x", 2], 0))
    core.receive(Packet(ACK, "/", ["again"], 0))  # a second ack for one id is ignored
    assert acks.results == [("b", ["y"]), ("a", [b"x", 2])]
    assert core.pending_acks == 0


def test_reserved_names_are_refused() -> None:
    core = connected()
    with pytest.raises(ValueError, match="reserved"):
        core.emit(["disconnect"])


def test_emits_while_disconnected_are_buffered_then_sent_in_order() -> None:
    core = SocketCore("/", max_buffered_packets=3)
    core.activate()
    acks = Acks()
    core.emit(["one"])
    core.emit(["two"], callback=acks("two"))
    core.emit(["three"])
    assert core.packets_to_send() == []
    with pytest.raises(BufferFullError, match="full"):
        core.emit(["four"])
    core.open(None)
    core.receive(Packet(CONNECT, "/", {"sid": "s"}))
    assert core.packets_to_send() == [
        Packet(CONNECT, "/", None),
        Packet(EVENT, "/", ["one"]),
        Packet(EVENT, "/", ["two"], 0),
        Packet(EVENT, "/", ["three"]),
    ]
    assert core.events_received() == [
        EventSent(["one"]),
        EventSent(["two"]),
        EventSent(["three"]),
        Connected(),
    ]


def test_buffer_full_does_not_register_an_ack() -> None:
    core = SocketCore("/", max_buffered_packets=1)
    core.emit(["one"])
    with pytest.raises(BufferFullError):
        core.emit(["two"], callback=Acks()("two"))
    assert core.pending_acks == 0


def test_volatile_emits_are_dropped_when_not_writable() -> None:
    core = connected()
    core.emit(["v"], volatile=True, writable=False)
    assert core.packets_to_send() == []
    core.emit(["v"], volatile=True, writable=True)
    assert core.packets_to_send() == [Packet(EVENT, "/", ["v"])]
    disconnected = SocketCore("/")
    disconnected.emit(["v"], volatile=True, writable=False)
    assert not disconnected.send_buffer


def test_timeout_starts_and_cancels_a_timer() -> None:
    core = connected(ack_timeout=2.0)
    acks = Acks()
    core.emit(["a"], callback=acks("a"))
    core.emit(["b"], callback=acks("b"), timeout=0.5)
    assert core.timers() == [StartAckTimer(0, 2.0), StartAckTimer(1, 0.5)]
    core.receive(Packet(ACK, "/", [], 0))
    assert core.timers() == [CancelAckTimer(0)]
    core.ack_timed_out(1)
    core.ack_timed_out(0)  # settled already: nothing
    assert acks.results[0] == ("a", [])
    name, error = acks.results[1]
    assert name == "b"
    assert isinstance(error, AckTimeoutError)
    assert len(acks.results) == 2


def test_timed_out_ack_leaves_the_send_buffer() -> None:
    core = SocketCore("/")
    acks = Acks()
    core.emit(["a"], callback=acks("a"), timeout=1.0)
    assert len(core.send_buffer) == 1
    core.ack_timed_out(0)
    assert not core.send_buffer


def test_disconnect_fails_pending_acks_but_not_buffered_ones() -> None:
    core = connected()
    acks = Acks()
    core.emit(["sent"], callback=acks("sent"))
    core.on_close("transport close")
    core.emit(["buffered"], callback=acks("buffered"))
    events = core.events_received()
    assert Disconnected("transport close") in events
    assert core.id is None
    [(name, error)] = acks.results
    assert name == "sent"
    assert isinstance(error, DisconnectedError)
    assert core.pending_acks == 1


def test_incoming_events_and_acks() -> None:
    core = connected()
    core.receive(Packet(EVENT, "/", ["news", {"a": 1}], 7))
    core.receive(Packet(EVENT, "/", ["plain"]))
    assert core.events_received() == [
        EventReceived(["news", {"a": 1}], 7),
        EventReceived(["plain"], None),
    ]
    core.send_ack(7, ["ok"])
    assert core.packets_to_send() == [Packet(ACK, "/", ["ok"], 7)]


def test_events_before_connect_wait_for_it() -> None:
    core = SocketCore("/")
    core.receive(Packet(EVENT, "/", ["early"]))
    assert core.events_received() == []
    core.receive(Packet(CONNECT, "/", {"sid": "s"}))
    assert core.events_received() == [EventReceived(["early"]), Connected()]


def test_server_disconnect_and_client_disconnect() -> None:
    core = connected()
    core.receive(Packet(PacketType.DISCONNECT, "/"))
    assert core.events_received() == [Destroyed(), Disconnected("io server disconnect")]
    assert not core.active
    other = connected()
    other.disconnect()
    assert other.packets_to_send() == [Packet(PacketType.DISCONNECT, "/")]
    assert other.events_received() == [Destroyed(), Disconnected("io client disconnect")]


def test_retry_queue_sends_one_at_a_time_in_order() -> None:
    core = connected(retries=2)
    acks = Acks()
    core.emit(["first"], callback=acks("first"))
    core.emit(["second"])
    core.emit(["third"], callback=acks("third"))
    # Every queued packet asks for an ack; only the head is in flight.
    assert core.packets_to_send() == [Packet(EVENT, "/", ["first"], 0)]
    core.receive(Packet(ACK, "/", ["r1"], 0))
    assert core.packets_to_send() == [Packet(EVENT, "/", ["second"], 1)]
    core.receive(Packet(ACK, "/", [], 1))
    assert core.packets_to_send() == [Packet(EVENT, "/", ["third"], 2)]
    core.receive(Packet(ACK, "/", ["r3"], 2))
    assert acks.results == [("first", ["r1"]), ("third", ["r3"])]
    assert not core.queue


def test_retry_resends_after_a_timeout_then_gives_up() -> None:
    core = connected(retries=1, ack_timeout=1.0)
    acks = Acks()
    core.emit(["x"], callback=acks("x"))
    core.emit(["y"], callback=acks("y"))
    assert core.packets_to_send() == [Packet(EVENT, "/", ["x"], 0)]
    core.ack_timed_out(0)  # try 1 lost: resend
    assert core.packets_to_send() == [Packet(EVENT, "/", ["x"], 1)]
    core.ack_timed_out(1)  # try 2 lost: retries exhausted, give up and go on
    assert core.packets_to_send() == [Packet(EVENT, "/", ["y"], 2)]
    [(name, error)] = acks.results
    assert name == "x"
    assert isinstance(error, AckTimeoutError)
    core.receive(Packet(ACK, "/", ["late"], 0))  # a late ack of an abandoned try
    core.receive(Packet(ACK, "/", ["ok"], 2))
    assert acks.results[1] == ("y", ["ok"])


def test_retry_queue_survives_reconnection() -> None:
    core = connected(retries=3)
    acks = Acks()
    core.emit(["a"], callback=acks("a"))
    core.emit(["b"], callback=acks("b"))
    core.packets_to_send()
    core.on_close("transport close")
    assert acks.results == []  # queued packets are not failed by a disconnection
    core.open(None)
    core.receive(Packet(CONNECT, "/", {"sid": "s2"}))
    assert core.packets_to_send() == [Packet(CONNECT, "/", None), Packet(EVENT, "/", ["a"], 1)]
    core.receive(Packet(ACK, "/", [1], 1))
    assert core.packets_to_send() == [Packet(EVENT, "/", ["b"], 2)]


def test_retry_queue_bound() -> None:
    core = SocketCore("/", retries=1, max_buffered_packets=2)
    core.emit(["a"])
    core.emit(["b"])
    with pytest.raises(BufferFullError, match="retry queue"):
        core.emit(["c"])


def test_volatile_skips_the_retry_queue() -> None:
    core = connected(retries=1)
    core.emit(["v"], volatile=True)
    assert core.packets_to_send() == [Packet(EVENT, "/", ["v"])]


def test_recovery_sends_pid_and_last_offset() -> None:
    core = connected(pid="p1")
    assert not core.recovered
    core.receive(Packet(EVENT, "/", ["ev", 1, "offset-1"]))
    core.receive(Packet(EVENT, "/", ["ev", 2, "offset-2"]))
    core.receive(Packet(EVENT, "/", ["with-ack", "not-an-offset"], 3))
    core.on_close("transport close")
    core.open({"token": "t"})
    assert core.packets_to_send() == [
        Packet(CONNECT, "/", {"pid": "p1", "offset": "offset-2", "token": "t"})
    ]
    core.receive(Packet(CONNECT, "/", {"sid": "s2", "pid": "p1"}))
    assert core.recovered
    core.on_close("transport close")
    core.receive(Packet(CONNECT, "/", {"sid": "s3", "pid": "other"}))
    assert not core.recovered


@pytest.mark.parametrize(
    ("pid", "packet", "delivered", "offset"),
    [
        # with recovery: the last string of an event without ack id is the offset
        ("p1", Packet(EVENT, "/", ["news", "headline", "o-1"]), ["news", "headline"], "o-1"),
        ("p1", Packet(EVENT, "/", ["news", b"\x00", "o-2"]), ["news", b"\x00"], "o-2"),
        ("p1", Packet(EVENT, "/", ["bare", "o-3"]), ["bare"], "o-3"),
        # never the event name, nor a non-string, nor an event that asks for an ack
        ("p1", Packet(EVENT, "/", ["bare"]), ["bare"], None),
        ("p1", Packet(EVENT, "/", ["n", 1]), ["n", 1], None),
        ("p1", Packet(EVENT, "/", ["ask", "x"], 4), ["ask", "x"], None),
        # without recovery (no pid), nothing is an offset
        (None, Packet(EVENT, "/", ["news", "headline"]), ["news", "headline"], None),
    ],
)
def test_the_recovery_offset_is_stripped_and_kept(
    pid: str | None, packet: Packet, delivered: list[Any], offset: str | None
) -> None:
    core = connected(pid=pid)
    core.receive(packet)
    assert core.events_received() == [EventReceived(delivered, packet.id)]
    assert core.last_offset == offset


def test_events_buffered_before_connect_lose_their_offset_too() -> None:
    # a recovered session's missed packets arrive before its CONNECT answer
    core = SocketCore("/")
    core.activate()
    core.open(None)
    core.packets_to_send()
    core.receive(Packet(EVENT, "/", ["missed", "text", "o-9"]))
    assert core.events_received() == []
    core.receive(Packet(CONNECT, "/", {"sid": "s", "pid": "p"}))
    assert core.events_received()[0] == EventReceived(["missed", "text"])
    assert core.last_offset == "o-9"


def test_an_expired_heartbeat_buffers_instead_of_sending() -> None:
    # JS emit(): `connected && !engine._hasPingExpired()`; otherwise the packet is buffered
    # and leaves on the next connection.
    core = connected()
    core.emit(["late", 1], transport_alive=False)
    assert core.packets_to_send() == []
    assert list(core.send_buffer) == [Packet(EVENT, "/", ["late", 1])]
    core.emit(["volatile"], volatile=True, writable=True, transport_alive=False)
    # as JS: the transport is writable, so not discarded; not "connected", so buffered
    assert len(core.send_buffer) == 2
    core.emit(["now"], transport_alive=True)
    assert core.packets_to_send() == [Packet(EVENT, "/", ["now"])]
    assert len(core.send_buffer) == 2
    core.on_close("ping timeout")
    core.open(None)
    core.packets_to_send()
    core.receive(Packet(CONNECT, "/", {"sid": "sid2"}))
    # the next connection sends them, once, in order
    assert core.packets_to_send() == [
        Packet(EVENT, "/", ["late", 1]),
        Packet(EVENT, "/", ["volatile"]),
    ]
