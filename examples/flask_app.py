"""Flask routes (or any WSGI app), with socketwire beside them on one port.

Run it from this directory::

    uvicorn flask_app:app --port 8000

``GET /ping`` is a Flask view, run in a worker thread by a2wsgi (socketwire's ``wsgi``
extra); ``/socket.io/`` is socketwire's. A Socket.IO client at ``http://127.0.0.1:8000`` can
``emit("echo", data, ack)``: the acknowledgement carries ``data`` back.
"""

from __future__ import annotations

from typing import Any

from flask import Flask, jsonify
from flask.typing import ResponseReturnValue

import socketwire

__all__ = ["app", "sio", "web"]

sio = socketwire.Server()
web = Flask(__name__)


@web.get("/ping")
def ping() -> ResponseReturnValue:
    """A plain Flask view."""
    return jsonify(pong="flask")


@sio.on("connection")
async def on_connection(socket: socketwire.Socket) -> None:
    """Answer every ``echo`` with its arguments."""

    @socket.on("echo")
    async def echo(data: Any) -> Any:
        return data


# socketwire answers its path (/socket.io/) and passes everything else to Flask.
app = socketwire.WSGIApp(sio, web)
