"""Engine.IO v3 on the wire: the same raw requests to socketwire (``allow_eio3``) and to
the official engine.io 6.6 (``allowEIO3``, tests/interop/js/eio_server.js), answers compared.

Both servers echo every message. The requests are what socket.io-client 2.x sends: polling
with binary payloads (XHR2), with ``b64=1``, and JSONP (``j=``: a script answer and a
``d=`` form POST), and the client's pings. Then bad input: where engine.io is lenient
(base64 garbage) or answers a malformed body with "ok" before closing, socketwire refuses
the body with a 400; both end the session with "parse error" and forget it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

import pytest

from conftest import EngineFactory, EngineHarness, HttpResult, NodeDriver, NodeFactory, http_request

pytestmark = pytest.mark.interop

PATH = "/engine.io/"
OPTIONS = {"pingInterval": 5000, "pingTimeout": 5000}
FORM = {"Content-Type": "application/x-www-form-urlencoded"}
OCTETS = {"Content-Type": "application/octet-stream"}
TEXT = {"Content-Type": "text/plain;charset=UTF-8"}


@dataclass
class Answer:
    """What a server answered, with its session id replaced by ``SID``."""

    status: int
    content_type: str | None
    body: bytes


class Target:
    """One server under test: its port, and how to learn how its sessions ended."""

    def __init__(self, port: int, closed: Any) -> None:
        self.port = port
        self.closed = closed
        self.sid = ""

    async def send(
        self, method: str, query: str, headers: dict[str, str] | None = None, body: bytes = b""
    ) -> Answer:
        target = PATH + "?" + query.replace("{sid}", self.sid)
        response: HttpResult = await http_request(self.port, method, target, headers, body)
        if not self.sid and response.status == 200:
            found = re.search(rb'"sid\\?":\\?"([^"\\]+)', response.body)
            if found:
                self.sid = found.group(1).decode()
        body = response.body.replace(self.sid.encode(), b"SID") if self.sid else response.body
        return Answer(response.status, response.header("content-type"), body)


@pytest.fixture
async def targets(
    engine_factory: EngineFactory, node: NodeFactory
) -> tuple[Target, Target, EngineHarness, NodeDriver]:
    """(socketwire, engine.io): two echo servers with v3 on and the same heartbeat."""
    harness = await engine_factory(allow_eio3=True, ping_interval=5.0, ping_timeout=5.0)
    driver = await node("eio_server.js", {"options": {**OPTIONS, "allowEIO3": True}})
    port = (await driver.expect("listening"))["port"]

    async def ours(sid: str) -> str:
        return await harness.wait_closed(harness.session(sid))

    async def theirs(sid: str) -> str:
        return str((await driver.expect("close", sid=sid))["reason"])

    return Target(harness.port, ours), Target(port, theirs), harness, driver


async def both(targets: tuple[Target, Target, Any, Any], *step: Any) -> Answer:
    """Send one request to both servers; they must answer alike."""
    ours, theirs = targets[0], targets[1]
    a = await ours.send(*step)
    b = await theirs.send(*step)
    assert a == b, step
    return a


async def test_polling_with_binary_payloads(targets: Any) -> None:
    # XHR2: no b64; a binary POST, and the echo comes back as a binary payload
    opened = await both(targets, "GET", "EIO=3&transport=polling")
    assert opened.body.startswith(b'116:0{"sid":"SID","upgrades":["websocket"]')
    assert (
        await both(
            targets,
            "POST",
            "EIO=3&transport=polling&sid={sid}",
            OCTETS,
            b"\x01\x04\xff\x04\x00\x01\x02\x00\x02\xff4a",
        )
    ).body == b"ok"
    echo = await both(targets, "GET", "EIO=3&transport=polling&sid={sid}")
    assert echo.content_type == "application/octet-stream"
    assert echo.body == b"\x01\x04\xff\x04\x00\x01\x02\x00\x02\xff4a"
    # a ping gets a pong; text counts UTF-16 units (4€😀 is 4)
    await both(targets, "POST", "EIO=3&transport=polling&sid={sid}", TEXT, "1:24:4€😀".encode())
    pong = await both(targets, "GET", "EIO=3&transport=polling&sid={sid}")
    assert pong.body.decode() == "1:34:4€😀"


async def test_polling_with_base64(targets: Any) -> None:
    await both(targets, "GET", "EIO=3&transport=polling&b64=1")
    await both(targets, "POST", "EIO=3&transport=polling&b64=1&sid={sid}", TEXT, b"6:b4AAEC")
    echo = await both(targets, "GET", "EIO=3&transport=polling&b64=1&sid={sid}")
    assert (echo.content_type, echo.body) == ("text/plain; charset=UTF-8", b"6:b4AAEC")


async def test_jsonp(targets: Any) -> None:
    opened = await both(targets, "GET", "EIO=3&transport=polling&j=3&b64=1")
    assert opened.body.startswith(b'___eio[3]("116:0{\\"sid\\":\\"SID\\"')
    assert opened.body.endswith(b'");')
    # a form POST; \\n in the form is an escaped newline, as the client writes it
    payload = '5:4a\\nb"6:b4AAEC'
    body = ("d=" + quote(payload)).encode()
    assert (
        await both(targets, "POST", "EIO=3&transport=polling&j=3&sid={sid}", FORM, body)
    ).body == b"ok"
    echo = await both(targets, "GET", "EIO=3&transport=polling&j=3&sid={sid}")
    assert echo.body == b'___eio[3]("5:4a\\nb\\"6:b4AAEC");'
    # no d: ignored, still "ok"
    assert (
        await both(targets, "POST", "EIO=3&transport=polling&j=3&sid={sid}", FORM, b"x=1")
    ).body == b"ok"


async def test_v3_refused_without_allow_eio3(
    engine_factory: EngineFactory, node: NodeFactory
) -> None:
    harness = await engine_factory()
    driver = await node("eio_server.js", {"options": OPTIONS})
    port = (await driver.expect("listening"))["port"]
    for query in ("EIO=3&transport=polling", "transport=polling"):
        a = await Target(harness.port, None).send("GET", query)
        b = await Target(port, None).send("GET", query)
        assert (
            a
            == b
            == Answer(
                400, "application/json", b'{"code":5,"message":"Unsupported protocol version"}'
            )
        )


@pytest.mark.parametrize(
    ("body", "headers", "lenient"),
    [
        (b"5:4a", TEXT, False),  # a length past the end
        (b"x:4a", TEXT, False),  # not a length
        (b"2:4a3:4", TEXT, False),  # the second item is short
        (b"2:9x", TEXT, False),  # an unknown packet type
        (b"\x00\x0a\xff4a", OCTETS, False),  # a length "digit" over 9
        # engine.io does not check that a binary payload is as long as it says: it delivers
        # what it finds; socketwire refuses it
        (b"\x00\x05\xff4a", OCTETS, True),
    ],
)
async def test_malformed_payloads_end_the_session(
    targets: Any, body: bytes, headers: dict[str, str], lenient: bool
) -> None:
    ours, theirs, _, driver = targets
    for target in (ours, theirs):
        await target.send("GET", "EIO=3&transport=polling")
        answer = await target.send("POST", "EIO=3&transport=polling&sid={sid}", headers, body)
        if target is theirs and lenient:
            # engine.io took a message out of it, and the session goes on
            assert (answer.status, answer.body) == (200, b"ok")
            assert (await driver.expect("message", sid=target.sid))["data"] == "a"
            continue
        # engine.io answers "ok", then closes; socketwire refuses the body
        assert (answer.status, answer.body) == ((200, b"ok") if target is theirs else (400, b""))
        assert await target.closed(target.sid) == "parse error"
        gone = await target.send("GET", "EIO=3&transport=polling&sid={sid}")
        assert gone == Answer(400, "application/json", b'{"code":1,"message":"Session ID unknown"}')


async def test_base64_garbage(targets: Any) -> None:
    # engine.io decodes base64 leniently ("b4!!!!" is an empty buffer) and echoes it;
    # socketwire refuses the payload: a clean close with "parse error"
    ours, theirs = targets[0], targets[1]
    await theirs.send("GET", "EIO=3&transport=polling&b64=1")
    await theirs.send("POST", "EIO=3&transport=polling&b64=1&sid={sid}", TEXT, b"6:b4!!!!")
    assert (await theirs.send("GET", "EIO=3&transport=polling&b64=1&sid={sid}")).body == b"2:b4"
    await ours.send("GET", "EIO=3&transport=polling&b64=1")
    answer = await ours.send("POST", "EIO=3&transport=polling&b64=1&sid={sid}", TEXT, b"6:b4!!!!")
    assert answer.status == 400
    assert await ours.closed(ours.sid) == "parse error"


async def test_client_heartbeat_missing_times_out(
    engine_factory: EngineFactory, node: NodeFactory
) -> None:
    # v3: the client must ping within pingInterval + pingTimeout, or the session ends
    harness = await engine_factory(allow_eio3=True, ping_interval=0.2, ping_timeout=0.2)
    driver = await node(
        "eio_server.js", {"options": {"pingInterval": 200, "pingTimeout": 200, "allowEIO3": True}}
    )
    port = (await driver.expect("listening"))["port"]
    ours, theirs = Target(harness.port, None), Target(port, None)
    await ours.send("GET", "EIO=3&transport=polling")
    await theirs.send("GET", "EIO=3&transport=polling")
    assert await harness.wait_closed(harness.session(ours.sid)) == "ping timeout"
    assert (await driver.expect("close", sid=theirs.sid))["reason"] == "ping timeout"
