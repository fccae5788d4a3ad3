"""The ASGI app's startup warning about WebSocket compression, which the ASGI server decides.

Driven through the ASGI interface itself (lifespan and websocket scopes), no server.
"""

from __future__ import annotations

import logging
from typing import Any

import pytest

from socketwire import Server
from socketwire.io.asgi import WS_COMPRESSION_ADVICE, ASGIApp


async def start_up(app: ASGIApp) -> list[dict[str, Any]]:
    """Run one lifespan: startup then shutdown; returns what the app sent."""
    incoming = [{"type": "lifespan.startup"}, {"type": "lifespan.shutdown"}]
    sent: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        return incoming.pop(0)

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    await app({"type": "lifespan", "asgi": {"version": "3.0"}}, receive, send)
    return sent


def warnings_of(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]


@pytest.mark.parametrize(
    ("deflate", "ws_compression", "warned"),
    [
        (False, None, True),  # the default: unknown server setting, compression unwanted
        (False, False, False),  # told: the server does not compress either
        (False, True, False),  # told: the server compresses, knowingly
        (True, None, False),  # compression wanted: whatever the server does is wanted too
    ],
)
async def test_startup_warning(
    caplog: pytest.LogCaptureFixture, deflate: bool, ws_compression: bool | None, warned: bool
) -> None:
    caplog.set_level(logging.WARNING, logger="socketwire.asgi")
    app = ASGIApp(
        Server(per_message_deflate=deflate, serve_client=False), ws_compression=ws_compression
    )
    sent = await start_up(app)
    assert [m["type"] for m in sent] == ["lifespan.startup.complete", "lifespan.shutdown.complete"]
    assert warnings_of(caplog) == ([WS_COMPRESSION_ADVICE] if warned else [])
    await start_up(app)  # once per app
    assert len(warnings_of(caplog)) == (1 if warned else 0)


async def test_the_warning_names_each_servers_switch() -> None:
    for switch in ("--ws-per-message-deflate false", "hypercorn", "granian"):
        assert switch in WS_COMPRESSION_ADVICE


async def test_without_lifespan_the_first_websocket_warns(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.WARNING, logger="socketwire.asgi")
    app = ASGIApp(Server(serve_client=False))
    sent: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        return {"type": "websocket.disconnect", "code": 1000}

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    scope = {"type": "websocket", "path": "/socket.io/", "query_string": b"EIO=4"}
    await app(scope, receive, send)
    assert warnings_of(caplog) == [WS_COMPRESSION_ADVICE]
