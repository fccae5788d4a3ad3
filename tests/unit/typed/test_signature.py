"""Reading handler signatures once: which handlers are wrapped, and how they are called."""

from __future__ import annotations

import asyncio
import functools
import logging
import subprocess
import sys
import textwrap
from typing import TYPE_CHECKING, Any

import pytest
from pydantic import BaseModel

from socketwire.errors import PayloadError
from socketwire.handlers import is_async
from socketwire.typed import signature as sig
from socketwire.typed.payloads import TypedHandler
from socketwire.typed.signature import (
    EMPTY,
    Role,
    Validation,
    is_json_native,
    plan_handler,
    prepare,
    read_signature,
)

if TYPE_CHECKING:
    from decimal import Decimal  # only for the type checker: cannot be resolved at run time


class Message(BaseModel):
    text: str
    count: int = 0


class Opaque:
    """Nothing pydantic knows how to validate."""


if sys.version_info < (3, 12):
    from typing import TypedDict

    class Point(TypedDict):  # typing's, which pydantic refuses before 3.12
        x: int


async def untyped(a, b):  # type: ignore[no-untyped-def]
    return a


async def builtins_only(text: str, count: int, data: dict[str, Any] | None = None) -> str:
    return text


async def typed(message: Message, count: int = 1) -> Message:
    return Message(text=message.text * count)


def test_untyped_and_builtin_handlers_are_stored_as_they_are() -> None:
    assert prepare(untyped, event="e") is untyped
    assert prepare(builtins_only, event="e") is builtins_only
    assert prepare(typed, event="e", mode=Validation.OFF) is typed


def test_strict_wraps_builtin_annotations_too() -> None:
    wrapped = prepare(builtins_only, event="e", mode=Validation.STRICT)
    assert isinstance(wrapped, TypedHandler)
    with pytest.raises(PayloadError) as caught:
        asyncio.run(wrapped(1, "x"))
    assert [issue["path"] for issue in caught.value.issues] == [[0], [1]]
    # and an untyped one still is not
    assert prepare(untyped, event="e", mode=Validation.STRICT) is untyped


def test_json_native_rule() -> None:
    for native in (str, int, float, bool, None, type(None), list, dict, Any, object):
        assert is_json_native(native), native
    for native in (list[int], dict[str, Any], str | None, list[dict[str, int | None]]):
        assert is_json_native(native), native
    for typed_ in (bytes, Message, tuple[int, int], dict[int, str], set[str]):
        assert not is_json_native(typed_), typed_


def test_string_annotations_are_resolved_at_registration() -> None:
    # this module uses `from __future__ import annotations`: every annotation is a string
    assert typed.__annotations__["message"] == "Message"
    signature = read_signature(typed)
    assert [p.annotation for p in signature.arguments] == [Message, int]
    assert signature.returns is Message
    wrapped = prepare(typed, event="e")
    assert isinstance(wrapped, TypedHandler)
    assert asyncio.run(wrapped({"text": "ab"}, "2")) == {"text": "abab", "count": 0}


def test_an_unresolvable_annotation_is_not_enforced_and_logged(
    caplog: pytest.LogCaptureFixture,
) -> None:
    async def handler(amount: Decimal, message: Message) -> None:
        pass

    with caplog.at_level(logging.WARNING, logger="socketwire.typed"):
        signature = read_signature(handler)
    assert [p.annotation for p in signature.arguments] == [EMPTY, Message]
    assert "cannot be resolved" in caplog.text
    assert "amount" in caplog.text


def test_roles_of_methods_partials_and_callable_objects() -> None:
    class Handlers:
        async def on_chat(self, socket: object, message: Message, *rest: int) -> None:
            pass

        async def __call__(self, message: Message) -> None:
            pass

    bound = read_signature(Handlers().on_chat, context=1)
    assert [(p.name, p.role) for p in bound.parameters] == [
        ("socket", Role.CONTEXT),
        ("message", Role.ARGUMENT),
        ("rest", Role.REST),
    ]
    assert bound.rest is not None
    assert bound.rest.annotation is int
    partial = read_signature(functools.partial(typed, Message(text="x")))
    assert [p.name for p in partial.arguments] == ["count"]
    call = read_signature(Handlers())
    assert [p.name for p in call.arguments] == ["message"]
    assert call.is_async


def test_a_keyword_only_parameter_without_default_is_refused() -> None:
    async def handler(message: Message, *, flag: bool) -> None:
        pass

    with pytest.raises(TypeError, match="keyword-only parameter 'flag'"):
        read_signature(handler)


def test_a_route_needs_a_socket_parameter() -> None:
    async def handler() -> None:
        pass

    with pytest.raises(TypeError, match="first parameter for the socket"):
        read_signature(handler, context=1)


def test_an_annotation_pydantic_cannot_validate_fails_at_registration() -> None:
    async def handler(value: Opaque) -> None:
        pass

    with pytest.raises(TypeError, match="handler handler, value"):
        prepare(handler, event="e")


def test_typing_typeddict_fails_at_registration_with_the_fix_before_312() -> None:
    async def handler(point: Point) -> None:
        pass

    if sys.version_info >= (3, 12):
        assert prepare(handler, event="e") == handler  # pydantic takes typing.TypedDict
        return
    with pytest.raises(TypeError, match=r"typing_extensions\.TypedDict"):
        prepare(handler, event="e")


def test_typed_handlers_compare_equal_to_their_function_and_stay_async() -> None:
    wrapped = prepare(typed, event="e")
    assert wrapped == typed
    assert typed in [wrapped]  # what off(event, handler) relies on
    assert hash(wrapped) == hash(typed)
    assert is_async(wrapped)

    def plain(message: Message) -> None:
        pass

    assert not is_async(prepare(plain, event="e"))


def test_closures_of_one_def_share_their_checker() -> None:
    def make() -> Any:
        async def handler(message: Message) -> None:
            pass

        return handler

    first, second = make(), make()
    plan_a = plan_handler(first, event="e")
    plan_b = plan_handler(second, event="e")
    assert plan_a.call is not plan_b.call
    assert plan_a.call._checker is plan_b.call._checker  # type: ignore[attr-defined]


def test_bound_plans_pass_the_context_first() -> None:
    seen: list[Any] = []

    async def route(socket: str, message: Message) -> None:
        seen.append((socket, message))

    async def plain_route(socket: str, value: int) -> None:
        seen.append((socket, value))

    typed_call = plan_handler(route, event="e", context=1).bind("sock")
    plain_call = plan_handler(plain_route, event="e", context=1).bind("sock")
    assert is_async(typed_call)
    assert is_async(plain_call)
    # a bound route is not prepared a second time by socket.on
    assert prepare(typed_call, event="e") is typed_call
    assert prepare(plain_call, event="e") is plain_call
    asyncio.run(typed_call({"text": "hi"}))
    asyncio.run(plain_call(3))
    assert seen == [("sock", Message(text="hi")), ("sock", 3)]


def test_the_plan_cache_does_not_keep_handlers_alive() -> None:
    def make() -> Any:
        async def handler(message: Message) -> None:
            pass

        return handler

    plan_handler(make(), event="e")
    assert all(hasattr(code, "co_name") for code in sig._plans)


def test_without_pydantic_annotations_are_not_enforced_and_nothing_breaks() -> None:
    # A fresh interpreter where pydantic cannot be imported: the typed handler is called
    # with the raw payload, and the server and the test client work.
    script = textwrap.dedent(
        """
        import asyncio, dataclasses, logging, sys
        sys.modules["pydantic"] = None  # import pydantic -> ImportError
        logging.basicConfig(level=logging.WARNING, format="%(name)s %(message)s")
        import socketwire
        from socketwire.testing import TestClient

        @dataclasses.dataclass
        class Point:
            x: int

        sio = socketwire.Server(serve_client=False)

        @sio.event
        async def move(socket, point: Point) -> Point:
            return point

        @sio.event
        async def stay(socket, point: Point) -> None:
            pass

        async def main():
            async with TestClient(sio) as client:
                print(await client.emit_with_ack("move", {"x": "1"}))

        asyncio.run(main())
        """
    )
    result = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=60, check=False
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "{'x': '1'}"
    assert result.stderr.count("pydantic is not installed") == 1
    assert "handler annotations are not enforced (the first: move)" in result.stderr
