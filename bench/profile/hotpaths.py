"""Server CPU per 1,000 operations on socketwire's hot paths, and profiles of them.

Two ways to drive the real server (``bench/servers/socketwire_native.py``'s application):

``loopback`` (the default)
    The native server in its own process (uvloop) on a free loopback port, loaded by
    ``bench/loadgen.js`` (the ``lite`` client) for an echo-with-ack scenario (``echo``, S1-like)
    or a broadcast fan-out (``fanout``, S2-like). The server's utime + stime is read from
    ``/proc/PID/stat`` at the generator's ``start`` and ``end`` marks and divided by the work
    done in the window: CPU ms per 1,000 round trips (echo) or deliveries (fan-out). CPU time
    is what the server itself spent, so it is much less sensitive to a busy machine than
    throughput. ``--profile FILE`` runs the server under ``py-spy record`` (sampling all of
    its life, warm-up and connects included) and prints the top functions by own time.
    ``--server asgi`` drives socketwire's ASGI app under uvicorn instead (``--uvicorn-ws``
    picks uvicorn's WebSocket implementation), ``--server psio-uvicorn`` python-socketio.

``inproc``
    The same application with no sockets: each connection is a
    :class:`~socketwire.io._native_ws.NativeWebSocket` over a fake transport that counts the
    bytes written, and client frames (masked, as a browser sends them) are fed to
    ``data_received``. It runs a fixed number of operations, so it is deterministic enough for
    instruction counts: run it twice under ``valgrind --tool=callgrind`` with different
    ``--ops`` and divide the difference of the totals by the difference of the operations
    (``--callgrind`` does exactly that). It measures socketwire's Python path only: no kernel,
    no uvloop I/O.

``--transport polling`` (echo only)
    The same echo over Engine.IO long-polling (S4-like): loopback with the lite polling
    client; in process, raw HTTP fed to the native server's
    :class:`~socketwire.io._native_http.HttpConnection` over fake transports, one kept-alive
    ``GET`` and one ``POST`` connection per client, as a browser uses them.

Examples::

    .venv/bin/python bench/profile/hotpaths.py echo --clients 50 --duration 3
    .venv/bin/python bench/profile/hotpaths.py fanout --clients 200 --profile /tmp/fanout
    .venv/bin/python bench/profile/hotpaths.py echo --inproc --ops 20000
    .venv/bin/python bench/profile/hotpaths.py fanout --inproc --callgrind

py-spy is a profiling tool, not a dependency of socketwire (``pip install py-spy``).
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import json
import os
import re
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

__all__ = ["main"]

BENCH = Path(__file__).resolve().parent.parent
#: Rounds run before the in-process measurement, whatever ``--ops`` is: ``--callgrind``
#: takes the difference of two runs as the cost of the difference of their ``--ops``.
_WARM_ROUNDS = 50
LOADGEN = BENCH / "loadgen.js"
#: The servers ``loopback`` drives (``--server``): bench/servers/ scripts.
SERVERS = {
    "native": BENCH / "servers" / "socketwire_native.py",
    "asgi": BENCH / "servers" / "socketwire_asgi.py",
    "psio-uvicorn": BENCH / "servers" / "psio_uvicorn.py",
}
CLK_TCK = os.sysconf("SC_CLK_TCK")


# -- loopback --------------------------------------------------------------------------------


def _cpu_seconds(pid: int) -> float:
    stat = Path(f"/proc/{pid}/stat").read_text()
    fields = stat[stat.rindex(")") + 2 :].split()
    return (int(fields[11]) + int(fields[12])) / CLK_TCK


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def _wait_listening(port: int, proc: subprocess.Popen[bytes], timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise SystemExit(f"server exited with status {proc.returncode}")
        with socket.socket() as s:
            if s.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.05)
    raise SystemExit("server did not listen in time")


def _server_pid(proc: subprocess.Popen[bytes], profiled: bool) -> int:
    if not profiled:
        return proc.pid
    # py-spy record runs the server as its child.
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        children = Path(f"/proc/{proc.pid}/task/{proc.pid}/children").read_text().split()
        if children:
            return int(children[0])
        time.sleep(0.05)
    raise SystemExit("py-spy started no server")


def _pin(core: int) -> list[str]:
    return ["taskset", "-c", str(core)] if (os.cpu_count() or 1) > 1 else []


def run_loopback(args: argparse.Namespace) -> dict[str, Any]:
    """One measured window against the native server; returns the figures."""
    port = _free_port()
    server_cmd = [sys.executable, str(SERVERS[args.server]), "--port", str(port)]
    server_cmd += ["--loop", args.loop, "--uvicorn-ws", args.uvicorn_ws]
    profiled = args.profile is not None
    if profiled:
        server_cmd = [
            str(Path(sys.executable).parent / "py-spy"),
            "record",
            "--rate",
            str(args.rate),
            "--format",
            "raw",
            "--output",
            f"{args.profile}.txt",
            "--",
            *server_cmd,
        ]
    server = subprocess.Popen(
        [*_pin(0), *server_cmd],
        stdout=subprocess.DEVNULL,
        stderr=None if profiled else subprocess.DEVNULL,
    )
    generator = None
    try:
        _wait_listening(port, server)
        pid = _server_pid(server, profiled)
        config = {
            "mode": "echo" if args.scenario == "echo" else "broadcast",
            "urls": [f"http://127.0.0.1:{port}"],
            "client": "lite",
            "transport": args.transport,
            "clients": args.clients,
            "payload": {"kind": "text", "bytes": 32},
            "warmup_s": args.warmup,
            "duration_s": args.duration,
            "depth": 4,
            "warm_clients": 0,
            "concurrency": 100,
            "timeout_s": 60,
        }
        generator = subprocess.Popen(
            [*_pin(1), "node", str(LOADGEN), json.dumps(config)],
            stdout=subprocess.PIPE,
            text=True,
        )
        assert generator.stdout is not None
        marks: dict[str, tuple[float, float]] = {}
        result: dict[str, Any] = {}
        for line in generator.stdout:
            message = json.loads(line)
            event = message.pop("event")
            if event == "mark":
                marks[message["name"]] = (time.monotonic(), _cpu_seconds(pid))
            elif event == "result":
                result = message
            elif event == "error":
                raise SystemExit(f"generator: {message['message']}")
        generator.wait(10)
    finally:
        if generator is not None and generator.poll() is None:
            generator.kill()
            generator.wait()
        if profiled:
            os.kill(_server_pid(server, True), signal.SIGTERM)
        else:
            server.send_signal(signal.SIGTERM)
        try:
            server.wait(30)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()
    (t0, c0), (t1, c1) = marks["start"], marks["end"]
    ops = result["round_trips"] if args.scenario == "echo" else result["deliveries"]
    cpu_ms = (c1 - c0) * 1000
    return {
        "scenario": args.scenario,
        "clients": args.clients,
        "ops": ops,
        "ops_per_s": ops / (t1 - t0),
        "server_cpu_util": (c1 - c0) / (t1 - t0),
        "cpu_ms_per_1000": cpu_ms / ops * 1000,
    }


def top_of_profile(path: Path, count: int = 25) -> str:
    """The functions with the most own samples, and the most inclusive ones, in a py-spy
    ``raw`` (collapsed stacks) file; samples taken while importing (start-up) are left out."""
    own: collections.Counter[str] = collections.Counter()
    inclusive: collections.Counter[str] = collections.Counter()
    total = 0
    for line in path.read_text().splitlines():
        stack, _, n = line.rpartition(" ")
        if "_find_and_load" in stack:
            continue
        samples = int(n)
        total += samples
        frames = [re.sub(r":\d+\)$", ")", f) for f in stack.split(";")]
        own[frames[-1]] += samples
        for frame in set(frames):
            inclusive[frame] += samples
    lines = [f"{total} samples", "own time:"]
    lines += [f"  {n / total:6.1%}  {f}" for f, n in own.most_common(count)]
    lines.append("inclusive time:")
    lines += [f"  {n / total:6.1%}  {f}" for f, n in inclusive.most_common(count)]
    return "\n".join(lines)


# -- inproc ----------------------------------------------------------------------------------


class _Writes:
    """Counts the writes of every fake transport; wakes the driver after an expected number."""

    def __init__(self) -> None:
        self.count = 0
        self.target = -1
        self.reached = asyncio.Event()

    def expect(self, writes: int) -> asyncio.Event:
        self.reached.clear()
        self.target = self.count + writes
        return self.reached

    def add(self) -> None:
        self.count += 1
        if self.count == self.target:
            self.reached.set()


class _Transport:
    """The least an asyncio transport must do for NativeWebSocket: count what is written."""

    def __init__(self, writes: _Writes) -> None:
        self.shared = writes
        self.writes = 0

    def write(self, data: bytes) -> None:
        self.writes += 1
        self.shared.add()

    def writelines(self, chunks: Any) -> None:
        for chunk in chunks:
            self.write(chunk)

    def get_write_buffer_size(self) -> int:
        return 0

    def is_closing(self) -> bool:
        return False

    def close(self) -> None:
        pass

    def abort(self) -> None:
        pass

    def pause_reading(self) -> None:
        pass

    def resume_reading(self) -> None:
        pass


def _client_frame(text: str) -> bytes:
    from websockets.frames import Frame, Opcode

    return Frame(Opcode.TEXT, text.encode()).serialize(mask=True)


async def _inproc(args: argparse.Namespace) -> dict[str, Any]:
    sys.path.insert(0, str(BENCH / "servers"))
    from socketwire_native import make_server  # type: ignore[import-not-found]
    from websockets.protocol import State
    from websockets.server import ServerProtocol

    from socketwire.io._native_ws import NativeWebSocket

    try:
        from socketwire.io._native_ws import WriteBatch
    except ImportError:  # measuring a version from before write batching
        WriteBatch = None  # type: ignore[assignment,misc]

    app = make_server()
    engine = app.engine
    sockets: list[tuple[NativeWebSocket, _Transport]] = []
    writes = _Writes()
    batch = WriteBatch() if WriteBatch is not None else None  # as the native server's

    class _Req:
        method = "GET"
        path = "/socket.io/"
        raw_path = "/socket.io/?EIO=4&transport=websocket"
        query = {"EIO": "4", "transport": "websocket"}
        headers: dict[str, str] = {}
        remote_addr = ("127.0.0.1", 1)
        secure = False

        async def read_body(self, limit: int) -> bytes:
            return b""

        async def wait_disconnected(self) -> None:
            await asyncio.Event().wait()

    for _ in range(args.clients):
        decision = await engine.handle_websocket(_Req())
        transport = _Transport(writes)
        # The opening handshake is the HTTP plumbing's business; start OPEN, as it does.
        protocol = ServerProtocol(state=State.OPEN, max_size=decision.max_message_size)
        ws = NativeWebSocket(
            transport,  # type: ignore[arg-type]
            protocol,
            lambda _ws: None,
            *((batch,) if batch is not None else ()),
        )
        ws.start(decision.attach(ws), b"")
        ws.data_received(_client_frame("40"))
        sockets.append((ws, transport))
    # The open packet is written at once, the CONNECT answer once the namespace is joined.
    connected = writes.expect(2 * args.clients - writes.count)
    await asyncio.wait_for(connected.wait(), 30)
    payload = json.dumps("x" * 32)
    done = 0

    if args.scenario == "echo":
        frames = [_client_frame(f'421{i}["echo",{payload}]') for i in range(10)]

        async def one_round(r: int) -> None:
            acked = writes.expect(len(sockets))  # one acknowledgement each
            for ws, _ in sockets:
                ws.data_received(frames[r % 10])
            await acked.wait()

        rounds = max(1, args.ops // args.clients)
        per_round = args.clients
    else:
        frame = _client_frame(f'42["broadcast",{payload}]')
        controller = sockets[0][0]

        async def one_round(r: int) -> None:
            delivered = writes.expect(len(sockets))  # the sender gets the broadcast too
            controller.data_received(frame)
            await delivered.wait()

        rounds = max(1, args.ops // args.clients)
        per_round = args.clients
    for r in range(_WARM_ROUNDS):  # the same in every run: --callgrind subtracts two runs
        await one_round(r)
    cpu0 = time.process_time()
    for r in range(rounds):
        await one_round(r)
    cpu = time.process_time() - cpu0
    done = rounds * per_round
    return {
        "scenario": args.scenario,
        "clients": args.clients,
        "ops": done,
        "cpu_ms_per_1000": cpu * 1000 / done * 1000,
    }


class _HttpTransport(_Transport):
    """A fake transport for the HTTP plumbing: keeps what is written."""

    def __init__(self, writes: _Writes) -> None:
        super().__init__(writes)
        self.data: list[bytes] = []

    def write(self, data: bytes) -> None:
        self.data.append(data)
        super().write(data)

    def get_extra_info(self, name: str, default: Any = None) -> Any:
        return ("127.0.0.1", 1) if name == "peername" else default

    def can_write_eof(self) -> bool:
        return True


async def _inproc_polling(args: argparse.Namespace) -> dict[str, Any]:
    """Echo with ack over long-polling: two kept-alive connections (GET and POST) per client,
    as the lite polling client (a browser) uses, through the native server's HTTP plumbing."""
    sys.path.insert(0, str(BENCH / "servers"))
    from socketwire_native import make_server

    from socketwire.io._native_http import HttpConnection
    from socketwire.io.native import NativeServer

    server = NativeServer(make_server())
    writes = _Writes()
    head = "Host: 127.0.0.1:1\r\nConnection: keep-alive\r\n"

    def get(path: str) -> bytes:
        return f"GET {path} HTTP/1.1\r\n{head}\r\n".encode()

    def post(path: str, body: str) -> bytes:
        data = body.encode()
        return (
            f"POST {path} HTTP/1.1\r\n{head}Content-Type: text/plain;charset=UTF-8\r\n"
            f"Content-Length: {len(data)}\r\n\r\n"
        ).encode() + data

    async def answer(conn: HttpConnection, transport: _HttpTransport, request: bytes) -> bytes:
        done = writes.expect(1)
        conn.data_received(request)
        await asyncio.wait_for(done.wait(), 120)  # valgrind is slow
        return transport.data[-1].partition(b"\r\n\r\n")[2]

    clients = []
    for _ in range(args.clients):
        pair = []
        for _ in range(2):
            transport = _HttpTransport(writes)
            conn = HttpConnection(server)
            conn.connection_made(transport)  # type: ignore[arg-type]
            pair.append((conn, transport))
        (gconn, gtr), (pconn, ptr) = pair
        opened = await answer(gconn, gtr, get("/socket.io/?EIO=4&transport=polling"))
        sid = json.loads(opened[1:])["sid"]
        path = f"/socket.io/?EIO=4&transport=polling&sid={sid}"
        assert await answer(pconn, ptr, post(path, "40")) == b"ok"
        assert (await answer(gconn, gtr, get(path))).startswith(b"40")
        clients.append((gconn, pconn, get(path), path))
    payload = json.dumps("x" * 32)
    posts = [[post(c[3], f'42{i}["echo",{payload}]') for i in range(10)] for c in clients]

    async def one_round(r: int) -> None:
        acked = writes.expect(2 * len(clients))  # the POST's "ok", the GET's acknowledgement
        for (gconn, pconn, poll, _), bodies in zip(clients, posts, strict=True):
            gconn.data_received(poll)
            pconn.data_received(bodies[r % 10])
        await acked.wait()

    rounds = max(1, args.ops // args.clients)
    for r in range(_WARM_ROUNDS):  # the same in every run: --callgrind subtracts two runs
        await one_round(r)
    cpu0 = time.process_time()
    for r in range(rounds):
        await one_round(r)
    cpu = time.process_time() - cpu0
    done = rounds * len(clients)
    assert b"43" in clients[0][0].transport.data[-1]  # type: ignore[union-attr]
    return {
        "scenario": "echo-polling",
        "clients": args.clients,
        "ops": done,
        "cpu_ms_per_1000": cpu * 1000 / done * 1000,
    }


def run_inproc(args: argparse.Namespace) -> dict[str, Any]:
    """A fixed number of operations through the application, no sockets."""
    import uvloop

    if args.transport == "polling":
        if args.scenario != "echo":
            raise SystemExit("--transport polling: echo only")
        return uvloop.run(_inproc_polling(args))
    return uvloop.run(_inproc(args))


def run_callgrind(args: argparse.Namespace) -> dict[str, Any]:
    """Instructions per operation of the in-process run: two runs, the difference."""
    totals = []
    ops_list = []
    for ops in (args.ops, 2 * args.ops):
        with tempfile.TemporaryDirectory() as tmp:
            out = Path(tmp) / "callgrind.out"
            cmd = [
                "valgrind",
                "--tool=callgrind",
                f"--callgrind-out-file={out}",
                sys.executable,
                __file__,
                args.scenario,
                "--inproc",
                "--clients",
                str(args.clients),
                "--transport",
                args.transport,
                "--ops",
                str(ops),
            ]
            done = subprocess.run(cmd, capture_output=True, text=True, check=True)
            summary = re.search(r"Collected : (\d+)", done.stderr)
            if summary is None:
                raise SystemExit(done.stderr[-2000:])
            totals.append(int(summary.group(1)))
            ops_list.append(json.loads(done.stdout.strip().splitlines()[-1])["ops"])
    per_op = (totals[1] - totals[0]) / (ops_list[1] - ops_list[0])
    return {
        "scenario": args.scenario,
        "clients": args.clients,
        "ops": ops_list,
        "instructions": totals,
        "instructions_per_op": round(per_op),
    }


def main() -> None:
    """Parse the command line and run what it asks."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("scenario", choices=("echo", "fanout"))
    parser.add_argument("--clients", type=int, help="default: 50 (echo), 200 (fanout)")
    parser.add_argument("--warmup", type=float, default=1.0)
    parser.add_argument("--duration", type=float, default=3.0)
    parser.add_argument("--loop", choices=("uvloop", "asyncio"), default="uvloop")
    parser.add_argument(
        "--server",
        choices=tuple(SERVERS),
        default="native",
        help="loopback: socketwire's native server, its ASGI app under uvicorn, or "
        "python-socketio under uvicorn",
    )
    parser.add_argument(
        "--uvicorn-ws",
        default="auto",
        help="loopback, ASGI servers: uvicorn's WebSocket implementation",
    )
    parser.add_argument(
        "--transport", choices=("websocket", "polling"), default="websocket", help="loopback"
    )
    parser.add_argument("--repeats", type=int, default=1)
    parser.add_argument("--profile", help="py-spy the server; FILE.txt gets the raw stacks")
    parser.add_argument("--rate", type=int, default=250, help="py-spy samples per second")
    parser.add_argument("--inproc", action="store_true", help="no sockets, a fixed --ops")
    parser.add_argument("--ops", type=int, default=20000)
    parser.add_argument("--callgrind", action="store_true", help="instructions per op (inproc)")
    args = parser.parse_args()
    if args.clients is None:
        args.clients = 50 if args.scenario == "echo" else 200
    for _ in range(args.repeats):
        if args.callgrind:
            print(json.dumps(run_callgrind(args)))
        elif args.inproc:
            print(json.dumps(run_inproc(args)))
        else:
            print(json.dumps(run_loopback(args)), flush=True)
            if args.profile:
                print(top_of_profile(Path(f"{args.profile}.txt")))


if __name__ == "__main__":
    main()
