"""The acknowledgement handle (socketwire.Ack): which handlers declare it (read with the rest
of the signature, in socketwire.typed.signature), what a call sends, and how an event's
handlers answer (the one rule for the server, the client and the test client, in
socketwire.handlers)."""

from __future__ import annotations

import asyncio
import functools
import threading
from typing import Any

import pytest

import socketwire
import socketwire as sw
from socketwire import Ack, AckAlreadySentError
from socketwire.errors import PayloadError
from socketwire.handlers import TakesAck, run_event_handlers
from socketwire.typed.signature import Role, Validation, prepare, read_signature


def ack_parameter(fn: Any, mode: Validation = Validation.AUTO) -> str | None:
    """The name of the handle a registry passes ``fn`` (None: it gets none)."""
    stored = prepare(fn, event="e", mode=mode)
    return stored.name if isinstance(stored, TakesAck) else None


# -- which handlers declare an Ack --------------------------------------------------------


def positional(data: Any, ack: Ack) -> None:
    """The usual place: after the event's arguments."""


def keyword_only(*args: Any, ack: Ack) -> None:
    """Any number of arguments, then the handle."""


def dotted(data: Any, done: socketwire.Ack) -> None:
    """Annotated through the package."""


def aliased(data: Any, reply: sw.Ack) -> None:
    """Through an alias of the package."""


async def coroutine(ack: Ack) -> None:
    """No argument at all."""


def plain(data: Any, ack: Any) -> None:
    """Annotated, but not Ack."""


def bare(data, ack):  # type: ignore[no-untyped-def]
    """Not annotated."""


class Handlers:
    """A method and a callable object."""

    def method(self, data: Any, ack: Ack) -> None:
        """A method: self is bound."""

    def __call__(self, data: Any, ack: Ack) -> None:
        """A callable object."""


@pytest.mark.parametrize(
    ("fn", "name"),
    [
        (positional, "ack"),
        (keyword_only, "ack"),
        (dotted, "done"),
        (aliased, "reply"),
        (coroutine, "ack"),
        (plain, None),
        (bare, None),
        (Handlers().method, "ack"),
        (Handlers(), "ack"),
        (functools.partial(positional, 1), "ack"),
        (print, None),  # a builtin: no signature to read
        (lambda data: None, None),
    ],
)
def test_ack_parameter(fn: Any, name: str | None) -> None:
    assert ack_parameter(fn) == name
    assert ack_parameter(fn) == name  # and again, from the cache where cached
    assert ack_parameter(fn, Validation.OFF) == name  # found with validation off too
    assert ack_parameter(fn, Validation.STRICT) == name


def test_the_handle_has_a_role_of_its_own() -> None:
    signature = read_signature(positional)
    assert [(p.name, p.role) for p in signature.parameters] == [
        ("data", Role.ARGUMENT),
        ("ack", Role.ACK),
    ]
    assert signature.ack is not None
    assert [p.name for p in signature.arguments] == ["data"]  # not an event argument
    assert read_signature(keyword_only).ack is not None  # keyword-only needs no default


def test_an_annotation_that_cannot_be_resolved_counts_by_its_name() -> None:
    import socketwire as local_sw  # a name the module's globals do not have

    def handler(data: Any, ack: local_sw.Ack) -> None: ...

    assert ack_parameter(handler) == "ack"

    def other(data: Any, ack: Unknown) -> None: ...  # type: ignore[name-defined]  # noqa: F821

    assert ack_parameter(other) is None


def test_an_ack_parameter_must_take_a_keyword() -> None:
    def positional_only(ack: Ack, /) -> None: ...

    def two(a: Ack, b: Ack) -> None: ...

    def before_an_argument(ack: Ack, data: Any) -> None: ...

    with pytest.raises(TypeError, match="keyword"):
        ack_parameter(positional_only)
    with pytest.raises(TypeError, match="one parameter"):
        ack_parameter(two)
    with pytest.raises(TypeError, match="follow the arguments"):
        ack_parameter(before_an_argument)


def test_prepare_wraps_only_handlers_that_take_an_ack() -> None:
    assert prepare(plain, event="e") is plain
    wrapped = prepare(positional, event="e")
    assert isinstance(wrapped, TakesAck)
    assert wrapped == positional  # so off(event, handler) finds it
    assert hash(wrapped) == hash(positional)
    assert [wrapped].count(positional) == 1


# -- the handle ----------------------------------------------------------------------------


def test_a_call_sends_its_arguments_once() -> None:
    sent: list[list[Any]] = []
    ack = Ack(sent.append)
    assert ack.requested
    assert not ack.sent
    ack(None)
    assert sent == [[None]]  # JS cb(null): one null, not "no argument"
    assert ack.sent
    with pytest.raises(AckAlreadySentError):
        ack()
    ack.settle(["ignored"])  # the dispatcher's return value never overrides it
    assert sent == [[None]]


@pytest.mark.parametrize(("args", "wire"), [((), []), ((None,), [None]), ((1, "a"), [1, "a"])])
def test_what_a_call_sends(args: tuple[Any, ...], wire: list[Any]) -> None:
    sent: list[list[Any]] = []
    Ack(sent.append)(*args)
    assert sent == [wire]


def test_not_requested_sends_nothing_but_is_still_once() -> None:
    ack = Ack(None)
    assert not ack.requested
    ack("x")
    with pytest.raises(AckAlreadySentError):
        ack("x")


def test_threads_racing_send_once() -> None:
    sent: list[list[Any]] = []
    ack = Ack(sent.append)
    errors: list[BaseException] = []
    start = threading.Barrier(8)

    def call(n: int) -> None:
        start.wait()
        try:
            ack(n)
        except AckAlreadySentError as exc:
            errors.append(exc)

    threads = [threading.Thread(target=call, args=(n,)) for n in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(sent) == 1
    assert len(errors) == 7


# -- an event's handlers ---------------------------------------------------------------------


class Answers:
    """What the dispatcher sent, and the failures and refusals it reported."""

    def __init__(self) -> None:
        self.sent: list[list[Any]] = []
        self.failures = 0
        self.rejected: list[tuple[PayloadError, bool]] = []

    def answer(self, args: list[Any]) -> None:
        self.sent.append(args)

    def failed(self) -> None:
        self.failures += 1

    async def reject(self, exc: PayloadError, answered: bool) -> None:
        self.rejected.append((exc, answered))


async def run(handlers: list[Any], args: list[Any], *, requested: bool = True) -> Answers:
    answers = Answers()
    await run_event_handlers(
        [prepare(h, event="e") for h in handlers],
        args,
        answers.answer if requested else None,
        answers.failed,
        answers.reject,
    )
    return answers


@pytest.mark.parametrize(
    ("returned", "wire"),
    [(None, []), ((None,), [None]), ((1, 2), [1, 2]), ([1, 2], [[1, 2]]), ("x", ["x"])],
)
async def test_the_first_return_value_is_the_ack(returned: Any, wire: list[Any]) -> None:
    async def first(_: Any) -> Any:
        return returned

    async def second(_: Any) -> Any:
        return "not this one"

    assert (await run([first, second], ["arg"])).sent == [wire]
    assert (await run([first], ["arg"], requested=False)).sent == []


async def test_a_handler_with_an_ack_answers_later_and_its_return_is_no_ack() -> None:
    kept: list[Ack] = []

    async def later(data: Any, ack: Ack) -> str:
        kept.append(ack)
        return "not an ack"

    answers = await run([later], ["data"])
    assert answers.sent == []  # the handler returned; nothing answered yet
    kept[0]("done")
    assert answers.sent == [["done"]]


async def test_a_plain_handler_with_an_ack_runs_in_a_thread() -> None:
    threads: list[int] = []

    def blocking(data: Any, ack: Ack) -> None:
        threads.append(threading.get_ident())
        ack(data * 2)

    answers = await run([blocking], [21])
    assert answers.sent == [[42]]
    assert threads != [threading.get_ident()]


async def test_handlers_share_one_handle_and_one_answer() -> None:
    kept: list[Ack] = []

    async def returns(_: Any) -> str:
        return "returned"

    async def defers(_: Any, ack: Ack) -> None:
        kept.append(ack)

    # the first handler's return value answers; the second's handle is then spent
    answers = await run([returns, defers], [1])
    assert answers.sent == [["returned"]]
    with pytest.raises(AckAlreadySentError):
        kept[0]("late")
    # the second handler answered first: the return value is not sent
    kept.clear()

    async def answers_now(_: Any, ack: Ack) -> None:
        ack("now")

    answers = await run([returns, answers_now], [1])
    assert answers.sent == [["now"]]
    # the first handler takes the ack: nothing is answered for it
    answers = await run([defers, returns], [1])
    assert answers.sent == []
    kept[-1]("deferred")
    assert answers.sent == [["deferred"]]


async def test_a_failing_handler_stops_the_chain_and_answers_nothing() -> None:
    calls: list[str] = []

    async def fails(_: Any, ack: Ack) -> None:
        calls.append("fails")
        raise RuntimeError("boom")

    async def after(_: Any) -> str:
        calls.append("after")
        return "never"

    answers = await run([fails, after], [1])
    assert (answers.sent, answers.failures, calls) == ([], 1, ["fails"])


async def test_a_handle_called_from_another_task_and_another_thread() -> None:
    kept: list[Ack] = []

    async def keep(ack: Ack) -> None:
        kept.append(ack)

    first = await run([keep], [])
    second = await run([keep], [])

    async def later() -> None:
        kept[0]("from a task")

    await asyncio.create_task(later())
    await asyncio.to_thread(kept[1], "from a thread")
    assert first.sent == [["from a task"]]
    assert second.sent == [["from a thread"]]
