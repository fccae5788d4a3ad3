"""Memory held by one idle WebSocket connection on socketwire's native server, by layer.

What the benchmark's S3 measures as RSS per connection, taken apart in process. The real
application of ``bench/servers/socketwire_native.py`` on the native server's real objects:
each connection sends the official client's opening handshake (``GET
/socket.io/?EIO=4&transport=websocket`` with its upgrade headers) and a masked ``40`` frame
(CONNECT to ``/``), and is idle once the server's ``40{"sid":...}`` has been written. Two ways:

``inproc`` (the default)
    No sockets: each connection is a [`HttpConnection`][socketwire.io._native_http.HttpConnection]
    over a fake transport (which takes ``set_protocol`` at the upgrade, as uvloop's does), fed
    the raw bytes. Deterministic; it leaves out what the event loop's transport costs.

``--loopback``
    The native server on a loopback port in this process (uvloop), the clients in a child
    process speaking the same bytes over real sockets: the loop's transports are counted too.

``tracemalloc`` records every allocation made while ``--clients`` connections open (after
``--warm`` connections that warm caches and interned values); what is still allocated once
they are idle, divided by the number of connections, is the cost of one. Each allocation is
charged to the layer of the innermost frame of its traceback that belongs to socketwire,
``websockets`` or the application (``--by line`` lists the lines instead). ``--by type``
counts the new objects the garbage collector tracks, and the untracked ones they refer to,
with ``sys.getsizeof`` (per connection, by type). ``--rss`` measures the process's resident
set instead (no tracemalloc, whose own tables would inflate it): noisy, and it includes the
allocator's slack.

Examples::

    .venv/bin/python bench/profile/idle_memory.py
    .venv/bin/python bench/profile/idle_memory.py --by line --top 40
    .venv/bin/python bench/profile/idle_memory.py --by type
    .venv/bin/python bench/profile/idle_memory.py --loopback --clients 2000
    .venv/bin/python bench/profile/idle_memory.py --loopback --rss --clients 5000
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import collections
import gc
import json
import os
import subprocess
import sys
import tracemalloc
from pathlib import Path
from typing import Any

__all__ = ["main"]

BENCH = Path(__file__).resolve().parent.parent
APP = BENCH / "servers" / "socketwire_native.py"

#: The official client's opening handshake (socket.io-client 4.8 in Node, through ``ws``).
UPGRADE = (
    "GET /socket.io/?EIO=4&transport=websocket HTTP/1.1\r\n"
    "Sec-WebSocket-Version: 13\r\n"
    "Sec-WebSocket-Key: {key}\r\n"
    "Connection: Upgrade\r\n"
    "Upgrade: websocket\r\n"
    "Sec-WebSocket-Extensions: permessage-deflate; client_max_window_bits\r\n"
    "Host: 127.0.0.1:{port}\r\n"
    "\r\n"
)
#: ``40``, masked (as a client sends it), with a fixed mask.
CONNECT_FRAME = bytes([0x81, 0x82, 1, 2, 3, 4, ord("4") ^ 1, ord("0") ^ 2])

#: Layers, by the path of the innermost frame that is ours (first match wins).
LAYERS = (
    ("socketwire/io/_native_http.py", "http: HttpConnection, handshake"),
    ("socketwire/io/_native_ws.py", "websocket: NativeWebSocket"),
    ("/websockets/", "websockets: ServerProtocol"),
    ("socketwire/io/engine", "engine.io: EngineSocket, routing"),
    ("socketwire/engineio/", "engine.io: ServerSession (core)"),
    ("socketwire/server/client.py", "socket.io: Client"),
    ("socketwire/server/socket.py", "socket.io: Socket"),
    ("socketwire/server/handshake.py", "socket.io: Socket"),
    ("socketwire/server/", "socket.io: namespace, server"),
    ("socketwire/socketio/", "socket.io: parser"),
    ("socketwire/typed/", "socket.io: handler registration"),
    ("socketwire/adapters/", "socket.io: adapter (rooms)"),
    ("socketwire/", "socketwire: other"),
    ("servers/socketwire_native.py", "application: its handlers"),
)


def _key(index: int) -> str:
    return base64.b64encode(index.to_bytes(16, "big")).decode()


def _layer(trace: tracemalloc.Traceback) -> str:
    for frame in reversed(trace):  # innermost first
        name = frame.filename.replace(os.sep, "/")
        for part, layer in LAYERS:
            if part in name:
                return layer
    return "other (asyncio, uvloop, stdlib)"


# -- inproc ----------------------------------------------------------------------------------


class _Transport:
    """What the native server uses of an asyncio transport; remembers what it writes."""

    def __init__(self, written: asyncio.Event) -> None:
        self.protocol: Any = None
        self.frames = 0
        self._written = written

    def write(self, data: bytes) -> None:
        self.frames += 1
        self._written.set()

    def writelines(self, chunks: Any) -> None:
        for chunk in chunks:
            self.write(chunk)

    def set_protocol(self, protocol: Any) -> None:
        self.protocol = protocol

    def get_extra_info(self, name: str, default: Any = None) -> Any:
        return ("127.0.0.1", 1) if name == "peername" else default

    def get_write_buffer_size(self) -> int:
        return 0

    def is_closing(self) -> bool:
        return False

    def can_write_eof(self) -> bool:
        return True

    def pause_reading(self) -> None:
        pass

    def resume_reading(self) -> None:
        pass

    def close(self) -> None:
        pass

    def abort(self) -> None:
        pass


async def _open_inproc(server: Any, index: int, keep: list[Any], written: asyncio.Event) -> None:
    from socketwire.io._native_http import HttpConnection

    transport = _Transport(written)
    conn = HttpConnection(server)
    conn.connection_made(transport)  # type: ignore[arg-type]
    conn.data_received(UPGRADE.format(key=_key(index), port=1).encode())
    # the 101 response and the open packet, then the CONNECT's answer
    while transport.frames < 2:
        written.clear()
        await asyncio.wait_for(written.wait(), 10)
    transport.protocol.data_received(CONNECT_FRAME)
    while transport.frames < 3:
        written.clear()
        await asyncio.wait_for(written.wait(), 10)
    keep.append(transport)


async def _inproc(args: argparse.Namespace) -> dict[str, Any]:
    sys.path.insert(0, str(APP.parent))
    from socketwire_native import make_server  # type: ignore[import-not-found]

    from socketwire.io.native import NativeServer

    app = make_server()
    server = NativeServer(app)
    keep: list[Any] = []
    # one event for all the fake transports (the connections open one at a time), so that
    # the harness holds as little as it can per connection: its transport objects
    written = asyncio.Event()

    async def open_many(start: int, count: int) -> None:
        for index in range(start, start + count):
            await _open_inproc(server, index, keep, written)

    return await _measure(args, open_many, lambda: len(app.of("/").sockets))


# -- loopback --------------------------------------------------------------------------------

#: The child process that holds the client side of the connections (blocking sockets).
CLIENTS = """
import socket, sys
port, start, count = (int(a) for a in sys.argv[1:4])
upgrade, frame = sys.argv[4].encode().decode("unicode_escape"), bytes.fromhex(sys.argv[5])
held = []
def read_until(s, marker):
    data = b""
    while marker not in data:
        chunk = s.recv(4096)
        if not chunk:
            raise SystemExit("closed")
        data += chunk
    return data
for i in range(start, start + count):
    s = socket.create_connection(("127.0.0.1", port))
    key = __import__("base64").b64encode(i.to_bytes(16, "big")).decode()
    s.sendall(upgrade.format(key=key, port=port).encode())
    read_until(s, b'"maxPayload"')
    s.sendall(frame)
    read_until(s, b'40{"sid"')
    held.append(s)
print("ready", flush=True)
sys.stdin.readline()
"""


async def _loopback(args: argparse.Namespace) -> dict[str, Any]:
    sys.path.insert(0, str(APP.parent))
    from _common import raise_nofile  # type: ignore[import-not-found]
    from socketwire_native import make_server

    from socketwire.io.native import NativeServer

    raise_nofile()
    app = make_server()
    server = NativeServer(app, "127.0.0.1", 0, backlog=4096)
    await server.start()
    port = server.sockets[0].getsockname()[1]
    children: list[asyncio.subprocess.Process] = []

    async def open_many(start: int, count: int) -> None:
        child = await asyncio.create_subprocess_exec(
            sys.executable,
            "-c",
            CLIENTS,
            str(port),
            str(start),
            str(count),
            UPGRADE.encode("unicode_escape").decode(),
            CONNECT_FRAME.hex(),
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
        )
        children.append(child)
        assert child.stdout is not None
        line = await asyncio.wait_for(child.stdout.readline(), 300)
        if line.strip() != b"ready":
            raise SystemExit("the clients failed")

    try:
        return await _measure(args, open_many, lambda: len(app.of("/").sockets))
    finally:
        for child in children:
            assert child.stdin is not None
            child.stdin.write(b"\n")
            await child.wait()
        await server.close(timeout=1.0)


# -- measuring -------------------------------------------------------------------------------


def _rss() -> int:
    pages = int(Path("/proc/self/statm").read_text().split()[1])
    return pages * os.sysconf("SC_PAGE_SIZE")


def _tracked() -> dict[int, object]:
    return {id(o): o for o in gc.get_objects()}


def _by_type(before: dict[int, object], clients: int) -> list[tuple[str, int, int]]:
    """New objects since ``before``: tracked ones, and the untracked ones they refer to."""
    seen: set[int] = set(before)
    sizes: collections.Counter[str] = collections.Counter()
    counts: collections.Counter[str] = collections.Counter()
    # the measurement's own objects (this set and its ids, the list) are left out
    seen.update((id(before), id(seen), id(sizes), id(counts)))
    new = [o for o in gc.get_objects() if id(o) not in seen]
    seen.add(id(new))
    seen.update(id(o) for o in new)
    for obj in new:
        name = type(obj).__qualname__
        sizes[name] += sys.getsizeof(obj)
        counts[name] += 1
        for ref in gc.get_referents(obj):
            if id(ref) not in seen and not gc.is_tracked(ref) and not isinstance(ref, type):
                seen.add(id(ref))
                ref_name = type(ref).__qualname__
                sizes[ref_name] += sys.getsizeof(ref)
                counts[ref_name] += 1
    return [(name, size // clients, counts[name]) for name, size in sizes.most_common()]


async def _measure(args: argparse.Namespace, open_many: Any, connected: Any) -> dict[str, Any]:
    await open_many(0, args.warm)
    gc.collect()
    if args.rss:
        rss0 = _rss()
    elif args.by == "type":
        before = _tracked()
    else:
        tracemalloc.start(args.frames)
    await open_many(args.warm, args.clients)
    for _ in range(3):
        await asyncio.sleep(0)
    gc.collect()
    if connected() != args.warm + args.clients:
        raise SystemExit(f"{connected()} sockets connected, expected {args.warm + args.clients}")
    result: dict[str, Any] = {"mode": "loopback" if args.loopback else "inproc"}
    result["clients"] = args.clients
    if args.rss:
        result["rss_per_connection"] = round((_rss() - rss0) / args.clients)
        return result
    if args.by == "type":
        rows = _by_type(before, args.clients)
        result["bytes_per_connection"] = sum(size for _, size, _ in rows)
        result["by_type"] = [
            {"type": name, "bytes": size, "objects": count}
            for name, size, count in rows[: args.top]
        ]
        return result
    snapshot = tracemalloc.take_snapshot()
    tracemalloc.stop()
    groups: collections.Counter[str] = collections.Counter()
    for trace in snapshot.traces:
        if args.by == "layer":
            key = _layer(trace.traceback)
        else:
            frame = trace.traceback[-1]  # the innermost
            key = f"{frame.filename.split('site-packages/')[-1]}:{frame.lineno}"
        groups[key] += trace.size
    total = sum(groups.values())
    result["bytes_per_connection"] = round(total / args.clients)
    result[f"by_{args.by}"] = {
        key: round(size / args.clients) for key, size in groups.most_common(args.top)
    }
    return result


def main() -> None:
    """Parse the command line, measure, print the figures as JSON."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--clients", type=int, default=1000, help="connections measured")
    parser.add_argument("--warm", type=int, default=100, help="connections opened first")
    parser.add_argument("--loopback", action="store_true", help="real sockets, a child process")
    parser.add_argument("--by", choices=("layer", "line", "type"), default="layer")
    parser.add_argument("--top", type=int, default=30, help="rows of --by line and type")
    parser.add_argument("--frames", type=int, default=40, help="tracemalloc frames kept")
    parser.add_argument("--rss", action="store_true", help="resident set size instead")
    args = parser.parse_args()
    import uvloop

    run = _loopback if args.loopback else _inproc
    print(json.dumps(uvloop.run(run(args)), indent=2))


if __name__ == "__main__":
    main()
