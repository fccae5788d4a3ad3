"""The native server's long-polling fast path (``ImmediateHttpApp.handle_http_now``): a ``GET``
or ``POST`` of an open session, its body complete, is answered without a task, with the same
bytes as the task path; everything else still takes the task path."""

from __future__ import annotations

import asyncio
import json
import re
from collections.abc import AsyncIterator
from typing import Any

import pytest
from _plumbing_helpers import RawResponse, open_raw, read_response, request_bytes

from conftest import count_calls, wait_until
from socketwire import Server, Socket
from socketwire.io._native_http import HttpConnection
from socketwire.io.engine import EngineServer
from socketwire.io.native import NativeServer

pytestmark = pytest.mark.integration

PATH = "/socket.io/?EIO=4&transport=polling"
TEXT = {"Content-Type": "text/plain;charset=UTF-8"}


@pytest.fixture
async def served() -> AsyncIterator[tuple[Server, NativeServer, list[str]]]:
    sio = Server()
    closed: list[str] = []

    @sio.on("connection")
    async def on_connection(socket: Socket) -> None:
        async def echo(*args: Any) -> Any:
            return args[0]

        async def on_disconnect(reason: str, *_: Any) -> None:
            closed.append(reason)

        socket.on("echo", echo)
        socket.on("disconnect", on_disconnect)

    server = NativeServer(sio, "127.0.0.1", 0)
    await server.start()
    try:
        yield sio, server, closed
    finally:
        await server.close(timeout=2.0)


def normalized(response: RawResponse) -> tuple[int, dict[str, str], str]:
    """A response with its session ids replaced (the only part that differs between runs)."""
    body = re.sub(r'"sid":"[^"]+"', '"sid":"*"', response.body.decode())
    headers = {k: v for k, v in response.headers.items() if k != "date"}
    if "content-length" in headers:
        headers["content-length"] = "*"  # the session ids' lengths are random
    return response.status, headers, body


def poll_waiting(sio: Server) -> bool:
    """A session's long-poll GET waits for something to send."""
    return any(sock._poll is not None for sock in sio.engine.clients.values())


async def conversation(sio: Server, port: int) -> list[tuple[int, dict[str, str], str]]:
    """Handshake, connect, an echo answered to a waiting GET, a poll answered at once."""
    transcript = []
    async with open_raw(port) as (gr, gw), open_raw(port) as (pr, pw):

        async def get() -> RawResponse:
            gw.write(request_bytes("GET", target))
            return await read_response(gr)

        async def post(body: str) -> RawResponse:
            pw.write(request_bytes("POST", target, body=body.encode(), headers=TEXT))
            return await read_response(pr)

        gw.write(request_bytes("GET", PATH))
        opened = await read_response(gr)
        transcript.append(normalized(opened))
        target = f"{PATH}&sid={json.loads(opened.body[1:])['sid']}"
        transcript.append(normalized(await post("40")))
        transcript.append(normalized(await get()))  # the CONNECT packet, at once
        waiting = asyncio.ensure_future(get())  # nothing to send yet: it waits
        await wait_until(lambda: poll_waiting(sio), "a waiting poll")
        transcript.append(normalized(await post('420["echo","hi"]\x1e421["echo",2]')))
        transcript.append(normalized(await waiting))  # the first answer ends the poll
        transcript.append(normalized(await get()))  # the second, at once
        transcript.append(normalized(await post("1")))  # the client closes
        transcript.append(normalized(await get()))  # a poll of a closed session
    return transcript


async def test_an_open_sessions_polls_are_answered_without_a_task_and_as_the_task_path_answers(
    served: tuple[Server, NativeServer, list[str]], monkeypatch: pytest.MonkeyPatch
) -> None:
    sio, server, closed = served
    tasks = count_calls(monkeypatch, HttpConnection, "_run")
    fast = await conversation(sio, server.port)
    assert len(tasks) == 2  # the handshake, and the poll of the closed session (a refusal)
    assert [status for status, _, _ in fast] == [200, 200, 200, 200, 200, 200, 200, 400]
    assert [body for _, _, body in fast[3:7]] == ["ok", '430["hi"]', "431[2]", "ok"]
    await wait_until(lambda: closed == ["transport close"], "the disconnect")

    # The same conversation with the fast path turned off: the same answers, all from tasks.
    monkeypatch.setattr(server, "app_now", None)
    tasks.clear()
    slow = await conversation(sio, server.port)
    assert len(tasks) == 8
    assert slow == fast


async def test_a_body_that_comes_after_its_head_takes_the_task_path(
    served: tuple[Server, NativeServer, list[str]], monkeypatch: pytest.MonkeyPatch
) -> None:
    _, server, _ = served
    async with open_raw(server.port) as (reader, writer):
        writer.write(request_bytes("GET", PATH))
        sid = json.loads((await read_response(reader)).body[1:])["sid"]
        tasks = count_calls(monkeypatch, HttpConnection, "_run")
        request = request_bytes("POST", f"{PATH}&sid={sid}", body=b"40", headers=TEXT)
        writer.write(request[:-2])  # the head and nothing of the body
        await writer.drain()
        await wait_until(lambda: len(tasks) == 1, "the task")  # started, waiting for its body
        writer.write(request[-2:])
        response = await read_response(reader)
        assert (response.status, response.body) == (200, b"ok")
        # then a complete one takes the fast path
        writer.write(request_bytes("GET", f"{PATH}&sid={sid}"))
        assert (await read_response(reader)).body.startswith(b"40{")
        assert len(tasks) == 1


async def test_the_fast_path_failing_answers_500_and_the_connection_goes_on(
    served: tuple[Server, NativeServer, list[str]],
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    sio, server, _ = served
    async with open_raw(server.port) as (gr, gw), open_raw(server.port) as (pr, pw):
        gw.write(request_bytes("GET", PATH))
        target = f"{PATH}&sid={json.loads((await read_response(gr)).body[1:])['sid']}"

        def broken(*_: Any) -> Any:
            raise RuntimeError("broken")

        # raised at once
        monkeypatch.setattr(EngineServer, "_poll_response", broken)
        pw.write(request_bytes("POST", target, body=b"40", headers=TEXT))
        assert (await read_response(pr)).body == b"ok"  # a POST does not build a poll response
        gw.write(request_bytes("GET", target))
        failed = await read_response(gr)
        assert (failed.status, failed.body) == (500, b"Internal Server Error")
        # raised while a poll waited: its future fails
        gw.write(request_bytes("GET", target))
        await wait_until(lambda: poll_waiting(sio), "a waiting poll")
        pw.write(request_bytes("POST", target, body=b'420["echo",1]', headers=TEXT))
        assert (await read_response(pr)).body == b"ok"
        failed = await read_response(gr)
        assert (failed.status, failed.body) == (500, b"Internal Server Error")
    assert sum("application failed on GET" in r.getMessage() for r in caplog.records) == 2


async def test_a_client_that_leaves_a_waiting_poll_ends_its_session(
    served: tuple[Server, NativeServer, list[str]], monkeypatch: pytest.MonkeyPatch
) -> None:
    sio, server, closed = served
    tasks = count_calls(monkeypatch, HttpConnection, "_run")
    async with open_raw(server.port) as (pr, pw):
        pw.write(request_bytes("GET", PATH))
        target = f"{PATH}&sid={json.loads((await read_response(pr)).body[1:])['sid']}"
        pw.write(request_bytes("POST", target, body=b"40", headers=TEXT))
        assert (await read_response(pr)).body == b"ok"
        async with open_raw(server.port) as (gr, gw):
            gw.write(request_bytes("GET", target))
            assert (await read_response(gr)).body.startswith(b"40{")
            gw.write(request_bytes("GET", target))  # waits: nothing to send
            await wait_until(lambda: poll_waiting(sio), "a waiting poll")
        # JS: "poll connection closed prematurely" is a transport error
        await wait_until(lambda: closed == ["transport error"], "the disconnect")
    assert len(tasks) == 1  # the handshake
