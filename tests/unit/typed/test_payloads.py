"""Validating and serialising payloads: conversions, the error shape, to_wire."""

from __future__ import annotations

import asyncio
import dataclasses
import datetime
import enum
import uuid
from typing import Annotated, Any, Literal

import pytest
from pydantic import BaseModel, Field
from typing_extensions import TypedDict

from socketwire.errors import PayloadError
from socketwire.typed.payloads import TypedHandler, outgoing_default, to_wire
from socketwire.typed.signature import Validation, prepare


class Color(enum.Enum):
    RED = "red"


class Upload(BaseModel):
    name: str = Field(alias="fileName")
    data: bytes
    at: datetime.datetime


@dataclasses.dataclass
class Point:
    x: int
    y: int


class Say(TypedDict):
    room: str
    text: str


def call(fn: Any, *args: Any, validate_outgoing: bool = False) -> Any:
    wrapped = prepare(fn, event="ev", check_outgoing=validate_outgoing)
    assert isinstance(wrapped, TypedHandler)
    return asyncio.run(wrapped(*args))


def test_models_dataclasses_typeddicts_and_constraints_are_converted() -> None:
    seen: list[Any] = []

    async def handler(
        point: Point,
        say: Say,
        count: Annotated[int, Field(gt=0)],
        mode: Literal["a", "b"] = "a",
        *tags: str,
    ) -> None:
        seen.append((point, say, count, mode, tags))

    call(handler, {"x": "1", "y": 2}, {"room": "r", "text": "t"}, "3", "b", "x", "y")
    assert seen == [(Point(1, 2), {"room": "r", "text": "t"}, 3, "b", ("x", "y"))]


def test_bytes_and_aliases() -> None:
    seen: list[Upload] = []

    async def handler(upload: Upload, raw: bytes) -> Upload:
        seen.append(upload)
        return upload

    at = "2026-01-02T03:04:05Z"
    result = call(handler, {"fileName": "a.bin", "data": b"\x00\xff", "at": at}, b"\x01")
    assert seen[0].name == "a.bin"
    assert seen[0].data == b"\x00\xff"
    # the ack keeps bytes as bytes (a binary attachment) and uses the alias
    assert result == {"fileName": "a.bin", "data": b"\x00\xff", "at": "2026-01-02T03:04:05Z"}


def test_every_issue_is_reported_with_its_path() -> None:
    async def handler(point: Point, count: Annotated[int, Field(gt=0)]) -> None:
        raise AssertionError("never called with bad data")

    with pytest.raises(PayloadError) as caught:
        call(handler, {"x": "no"}, 0, "extra")
    error = caught.value
    assert error.code == "REQUEST_VALIDATION_ERROR"
    assert error.event == "ev"
    assert error.rejected
    assert [(i["path"], i["type"]) for i in error.issues] == [
        ([0, "x"], "int_parsing"),
        ([0, "y"], "missing"),
        ([1], "greater_than"),
        ([2], "unexpected_argument"),
    ]
    ack = error.to_ack()
    assert set(ack) == {"error"}
    assert ack["error"]["code"] == "REQUEST_VALIDATION_ERROR"
    assert ack["error"]["event"] == "ev"
    assert ack["error"]["issues"] == error.issues
    # no input echoed back, no documentation URLs, no pydantic context
    assert all(set(issue) == {"path", "message", "type"} for issue in error.issues)


def test_missing_arguments() -> None:
    async def handler(point: Point, say: Say, extra: int = 0) -> None:
        pass

    with pytest.raises(PayloadError) as caught:
        call(handler, {"x": 1, "y": 2})
    assert caught.value.issues == [
        {"path": [1], "message": "Missing argument 'say'", "type": "missing"}
    ]


def test_the_ack_is_validated_only_when_asked() -> None:
    async def handler(point: Point) -> Point:
        return {"x": "oops"}  # type: ignore[return-value]

    # off: serialised as it is (no pydantic warning either)
    assert call(handler, {"x": 1, "y": 2}) == {"x": "oops"}
    with pytest.raises(PayloadError) as caught:
        call(handler, {"x": 1, "y": 2}, validate_outgoing=True)
    assert caught.value.code == "RESPONSE_VALIDATION_ERROR"
    assert caught.value.rejected
    # the peer is not told why: that is the server's own bug
    assert caught.value.to_ack() == {
        "error": {
            "code": "RESPONSE_VALIDATION_ERROR",
            "event": "ev",
            "message": "invalid acknowledgement for event 'ev'",
        }
    }


def test_a_tuple_return_is_several_ack_arguments() -> None:
    async def handler(point: Point) -> tuple[Point, Color]:
        return point, Color.RED

    assert call(handler, {"x": 1, "y": 2}, validate_outgoing=True) == ({"x": 1, "y": 2}, "red")


def test_a_plain_handler_is_wrapped_as_plain() -> None:
    def handler(point: Point) -> int:
        return point.x

    wrapped = prepare(handler, event="ev")
    assert isinstance(wrapped, TypedHandler)
    assert wrapped({"x": 4, "y": 0}) == 4


def test_to_wire() -> None:
    when = datetime.datetime(2026, 1, 2, tzinfo=datetime.UTC)
    ident = uuid.UUID(int=1)
    value = {
        "point": Point(1, 2),
        "list": [Color.RED, {1, 2}],
        "nested": {"when": when, "id": ident, "raw": b"\x00"},
        7: "non-string key",
    }
    assert to_wire(value) == {
        "point": {"x": 1, "y": 2},
        "list": ["red", [1, 2]],
        "nested": {"when": "2026-01-02T00:00:00Z", "id": str(ident), "raw": b"\x00"},
        "7": "non-string key",
    }
    assert to_wire(("a", Point(0, 0))) == ("a", {"x": 0, "y": 0})
    for scalar in ("s", 1, 1.5, True, None, b"b"):
        assert to_wire(scalar) is scalar


def test_strict_mode_checks_builtins() -> None:
    async def handler(text: str) -> None:
        pass

    wrapped = prepare(handler, event="ev", mode=Validation.STRICT)
    assert isinstance(wrapped, TypedHandler)
    with pytest.raises(PayloadError):
        asyncio.run(wrapped(5))


def test_outgoing_default(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SOCKETWIRE_VALIDATE_OUTGOING", "0")
    assert outgoing_default() is False
    monkeypatch.setenv("SOCKETWIRE_VALIDATE_OUTGOING", "1")
    assert outgoing_default() is True
    monkeypatch.delenv("SOCKETWIRE_VALIDATE_OUTGOING")
    assert outgoing_default() is True  # pytest is loaded


def test_the_error_ack_lists_at_most_twenty_issues() -> None:
    async def handler(numbers: list[Annotated[int, Field(ge=0)]]) -> None:
        raise AssertionError("never called with bad data")

    with pytest.raises(PayloadError) as caught:
        call(handler, ["x"] * 1000)
    assert len(caught.value.issues) == 1000  # all of them, for the server's own use
    ack = caught.value.to_ack()["error"]
    assert [issue["path"] for issue in ack["issues"]] == [[0, i] for i in range(20)]
    assert ack["message"] == "invalid arguments for event 'ev' (1000 issues, the first 20 listed)"
    exactly = PayloadError(PayloadError.REQUEST, "ev", caught.value.issues[:20]).to_ack()
    assert exactly["error"]["message"] == "invalid arguments for event 'ev'"
