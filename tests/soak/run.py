"""``make soak``: thousands of connections against one server for ten minutes, with the
attacks of docs/topics/security-and-limits.md mixed in; prints a summary table.

The server (tests/soak/server.py) runs in a process of its own, so the resident set sampled
from /proc is the server's alone. This process plays every client:

- idle WebSocket clients and idle long-polling clients, which only answer the heartbeat;
- chatty clients: an event with an acknowledgement every 1 to 3 s, a room broadcast for
  one event in ten;
- readers of a 256 KB broadcast sent twice a second to the "big" room, and slow consumers
  that join that room and never read (the server must close them: "transport buffer full");
- attacks, each on a timer: an event flood at a slow handler ("event queue full"), a flood
  of empty continuation frames (1008), a handshake flood of polling sessions never used
  (gone by the heartbeat), a binary packet whose attachment never comes ("parse error").

At the end every client leaves, and the server must be back to zero sessions, sockets and
queued events, with as many tasks as before the load. Exit status 0 when it is and no
well-behaved client was dropped, 1 otherwise.

Usage: python tests/soak/run.py [--duration 600] [--idle 2000] [--plumbing native|asgi]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import platform
import random
import resource
import socket
import statistics
import sys
import time
from collections import Counter
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # tests/, for raw_ws
from raw_ws import UPGRADE, flood_fragments, masked, read_frame

HOST = "127.0.0.1"
PATH = "/socket.io/"
SERVER = Path(__file__).with_name("server.py")
MiB = 1024 * 1024


@dataclass
class Sample:
    """One reading of the server: elapsed seconds, and its /stats."""

    at: float
    rss: int
    sessions: int
    clients: int
    sockets: int
    tasks: int
    queued: int
    paused: int


@dataclass
class Tally:
    """What the clients did and saw."""

    counts: Counter[str] = field(default_factory=Counter)
    dropped: Counter[str] = field(default_factory=Counter)
    peak: Counter[str] = field(default_factory=Counter)
    live: Counter[str] = field(default_factory=Counter)

    def add(self, name: str, n: int = 1) -> None:
        self.counts[name] += n

    def enter(self, kind: str) -> None:
        self.live[kind] += 1
        self.peak[kind] = max(self.peak[kind], self.live[kind])

    def leave(self, kind: str) -> None:
        self.live[kind] -= 1


# -- plumbing: HTTP and WebSocket by hand --------------------------------------------------


async def http(port: int, method: str, target: str, body: bytes = b"") -> tuple[int, bytes]:
    """One request on a new connection; (status, body)."""
    reader, writer = await asyncio.open_connection(HOST, port)
    try:
        head = f"{method} {target} HTTP/1.1\r\nHost: {HOST}\r\nConnection: close\r\n"
        if method == "POST":
            head += f"Content-Type: text/plain;charset=UTF-8\r\nContent-Length: {len(body)}\r\n"
        writer.write(head.encode() + b"\r\n" + body)
        data = await reader.read()
    finally:
        writer.close()
        with contextlib.suppress(OSError):
            await writer.wait_closed()
    head_bytes, _, payload = data.partition(b"\r\n\r\n")
    status = int(head_bytes.split(b" ", 2)[1]) if head_bytes else 0
    return status, payload


async def raw_sio(
    port: int, rcvbuf: int | None = None
) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    """A hand-made Engine.IO WebSocket connected to "/" (its CONNECT answered)."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    if rcvbuf is not None:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
    sock.setblocking(False)
    await asyncio.get_running_loop().sock_connect(sock, (HOST, port))
    reader, writer = await asyncio.open_connection(sock=sock)
    writer.write(UPGRADE)
    await reader.readuntil(b"\r\n\r\n")
    writer.write(masked(0x1, b"40"))
    while not (await read_frame(reader))[1].startswith(b"40"):
        pass
    return reader, writer


async def ws_sio(port: int) -> ClientConnection:
    """A websockets client connected to "/" (its CONNECT answered)."""
    ws = await connect(
        f"ws://{HOST}:{port}{PATH}?EIO=4&transport=websocket",
        compression=None,
        ping_interval=None,
        max_size=None,
        open_timeout=60,
        close_timeout=5,
    )
    first = await ws.recv()
    assert str(first).startswith("0"), first
    await ws.send("40")
    while True:
        answer = await ws.recv()
        if str(answer).startswith("40"):
            return ws
        if answer == "2":
            await ws.send("3")


# -- well-behaved clients ------------------------------------------------------------------


class Clients:
    """Every client, and the event that tells them to leave."""

    def __init__(self, port: int, tally: Tally) -> None:
        self.port = port
        self.tally = tally
        self.leaving = asyncio.Event()
        self.tasks: set[asyncio.Task[None]] = set()

    def start(self, coro: Awaitable[None]) -> None:
        task = asyncio.ensure_future(coro)
        self.tasks.add(task)
        task.add_done_callback(self.tasks.discard)

    async def _receive(
        self, kind: str, ws: ClientConnection, on_message: Callable[[str | bytes], None]
    ) -> None:
        """Answer pings, hand other messages over, until told to leave (then close)."""
        self.tally.enter(kind)
        leaving = asyncio.ensure_future(self.leaving.wait())
        try:
            while True:
                receiving = asyncio.ensure_future(ws.recv())
                done, _ = await asyncio.wait(
                    {receiving, leaving}, return_when=asyncio.FIRST_COMPLETED
                )
                if leaving in done:
                    receiving.cancel()
                    with contextlib.suppress(BaseException):
                        await receiving
                    await ws.close()
                    return
                message = receiving.result()
                if message == "2":
                    await ws.send("3")
                else:
                    on_message(message)
        except ConnectionClosed as exc:
            self.tally.dropped[f"{kind}: {exc.rcvd.code if exc.rcvd else 'no close frame'}"] += 1
        finally:
            leaving.cancel()
            self.tally.leave(kind)

    async def idle_ws(self) -> None:
        ws = await ws_sio(self.port)
        await self._receive("idle WebSocket", ws, lambda _m: None)

    async def chatty(self) -> None:
        ws = await ws_sio(self.port)
        await ws.send('42["join","chat"]')
        tally = self.tally

        def on_message(message: str | bytes) -> None:
            if isinstance(message, str) and message.startswith("43"):
                tally.add("chat acks")
            elif isinstance(message, str) and message.startswith('42["chat"'):
                tally.add("chat broadcasts received")

        async def talk() -> None:
            n = 0
            with contextlib.suppress(ConnectionClosed):
                while not self.leaving.is_set():
                    await asyncio.sleep(random.uniform(1, 3))
                    n += 1
                    await ws.send(f'42{n}["chat",{n},"hello {n}"]')
                    tally.add("chat events sent")

        talker = asyncio.ensure_future(talk())
        try:
            await self._receive("chatty", ws, on_message)
        finally:
            talker.cancel()

    async def big_reader(self) -> None:
        ws = await ws_sio(self.port)
        await ws.send('42["join","big"]')

        def on_message(message: str | bytes) -> None:
            if isinstance(message, str) and message.startswith('42["big"'):
                self.tally.add("big broadcasts read")

        await self._receive("big-room reader", ws, on_message)

    async def idle_polling(self) -> None:
        port, tally = self.port, self.tally
        status, body = await http(port, "GET", f"{PATH}?EIO=4&transport=polling")
        assert status == 200, (status, body)
        sid = json.loads(body[1:])["sid"]
        target = f"{PATH}?EIO=4&transport=polling&sid={sid}"
        await http(port, "POST", target, b"40")
        tally.enter("idle polling")
        try:
            while not self.leaving.is_set():
                poll = asyncio.ensure_future(http(port, "GET", target))
                leaving = asyncio.ensure_future(self.leaving.wait())
                await asyncio.wait({poll, leaving}, return_when=asyncio.FIRST_COMPLETED)
                leaving.cancel()
                if not poll.done():
                    # Leaving: the close packet ends the session, and the pending poll.
                    await http(port, "POST", target, b"1")
                    await poll
                    return
                status, body = poll.result()
                packets = body.split(b"\x1e")
                if status != 200 or b"1" in packets:
                    tally.dropped[f"idle polling: {status} {body[:20]!r}"] += 1
                    return
                if b"2" in packets:
                    await http(port, "POST", target, b"3")
        finally:
            tally.leave("idle polling")


# -- clients that cross a bound ------------------------------------------------------------


async def slow_consumer(port: int, tally: Tally, lifetime: float) -> None:
    """Join the "big" room and never read (a small receive buffer, so it fills soon)."""
    reader, writer = await raw_sio(port, rcvbuf=64 * 1024)
    writer.write(masked(0x1, b'42["join","big"]'))
    tally.add("slow consumers")
    tally.enter("slow consumer")
    try:
        await asyncio.sleep(lifetime)
    finally:
        tally.leave("slow consumer")
        writer.transport.abort()
    assert reader is not None


async def event_flood(port: int, tally: Tally) -> None:
    """20,000 events at a handler that takes 0.5 s each, all written at once."""
    reader, writer = await raw_sio(port)
    writer.write(masked(0x1, b'42["slow"]') * 20_000)
    tally.add("event floods")
    try:
        async with asyncio.timeout(60):
            while await reader.read(65536):
                pass
        tally.add("event floods closed by the server")
    except (TimeoutError, OSError):
        pass
    finally:
        writer.transport.abort()


async def handshake_flood(port: int, tally: Tally, count: int) -> None:
    """``count`` polling handshakes that never poll again."""
    results = await asyncio.gather(
        *(http(port, "GET", f"{PATH}?EIO=4&transport=polling") for _ in range(count)),
        return_exceptions=True,
    )
    tally.add("unused polling sessions opened", sum(1 for r in results if isinstance(r, tuple)))


async def partial_binary(port: int, tally: Tally) -> None:
    """A binary event declaring two attachments, of which one (512 KB) is sent."""
    ws = await ws_sio(port)
    tally.add("partial binary packets")
    await ws.send('452-["bin",{"_placeholder":true,"num":0},{"_placeholder":true,"num":1}]')
    await ws.send(b"\x00" * 512 * 1024)
    try:
        async with asyncio.timeout(30):
            while True:
                if await ws.recv() == "2":
                    await ws.send("3")
    except ConnectionClosed:
        tally.add("partial binary packets closed by the server")
    except TimeoutError:
        await ws.close()


async def every(seconds: float, action: Callable[[], Awaitable[None]], stop: asyncio.Event) -> None:
    """Run ``action`` every ``seconds`` (without waiting for it) until ``stop``."""
    running: set[asyncio.Task[None]] = set()
    while not stop.is_set():
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(seconds):
                await stop.wait()
        if stop.is_set():
            break
        task = asyncio.ensure_future(action())
        running.add(task)
        task.add_done_callback(running.discard)
    for task in running:
        task.cancel()
    await asyncio.gather(*running, return_exceptions=True)


# -- the run ---------------------------------------------------------------------------------


async def stats(port: int) -> dict[str, Any]:
    status, body = await http(port, "GET", "/stats")
    assert status == 200, (status, body)
    result: dict[str, Any] = json.loads(body)
    return result


async def sample(port: int, started: float) -> Sample:
    s = await stats(port)
    return Sample(
        time.monotonic() - started,
        s["rss"],
        s["sessions"],
        s["clients"],
        s["sockets"],
        s["tasks"],
        s["queued_events"],
        s["paused"],
    )


async def ramp(start: Callable[[], Awaitable[None]], clients: Clients, count: int) -> None:
    """Start ``count`` clients, 100 at a time."""
    for first in range(0, count, 100):
        batch = [asyncio.ensure_future(start()) for _ in range(min(100, count - first))]
        for task in batch:
            clients.tasks.add(task)
            task.add_done_callback(clients.tasks.discard)
        await asyncio.sleep(0.2)


async def run(args: argparse.Namespace) -> int:
    _, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    server = await asyncio.create_subprocess_exec(
        sys.executable,
        str(SERVER),
        "--plumbing",
        args.plumbing,
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
        preexec_fn=lambda: resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard)),
    )
    assert server.stdout is not None
    assert server.stdin is not None
    line = (await asyncio.wait_for(server.stdout.readline(), 30)).decode()
    port = int(line.split()[1])
    started = time.monotonic()
    tally = Tally()
    samples = [await sample(port, started)]
    baseline = samples[0]
    print(
        f"server pid {server.pid} on port {port} ({args.plumbing}); {args.duration} s", flush=True
    )

    clients = Clients(port, tally)
    await ramp(clients.idle_ws, clients, args.idle)
    await ramp(clients.idle_polling, clients, args.polling)
    await ramp(clients.chatty, clients, args.chatty)
    await ramp(clients.big_reader, clients, args.readers)
    await asyncio.sleep(2)
    samples.append(loaded := await sample(port, started))
    print(f"loaded: {loaded}", flush=True)

    stop = asyncio.Event()
    codes: Counter[str] = Counter()

    async def fragments() -> None:
        tally.add("fragment floods")
        code, _ = await asyncio.to_thread(flood_fragments, port, 200_000)
        codes[str(code)] += 1

    attacks = [
        every(5, lambda: slow_consumer(port, tally, 30), stop),
        every(20, lambda: event_flood(port, tally), stop),
        every(30, fragments, stop),
        every(30, lambda: handshake_flood(port, tally, 200), stop),
        every(30, lambda: partial_binary(port, tally), stop),
    ]
    attacking = asyncio.gather(*attacks)
    deadline = started + args.duration
    while (left := deadline - time.monotonic()) > 0:
        await asyncio.sleep(min(10, left))
        samples.append(s := await sample(port, started))
        print(
            f"{s.at:6.0f} s  rss {s.rss / MiB:7.1f} MiB  sessions {s.sessions:5d}  sockets "
            f"{s.sockets:5d}  tasks {s.tasks:5d}  queued {s.queued:4d}  paused {s.paused:3d}",
            flush=True,
        )
    stop.set()
    await attacking
    live_before_leaving = dict(tally.live)
    clients.leaving.set()
    await asyncio.gather(*clients.tasks, return_exceptions=True)
    # Unused polling sessions end by the heartbeat (20 s), the rest at once.
    settle_until = time.monotonic() + 60
    while True:
        end = await sample(port, started)
        if (end.sessions, end.sockets, end.queued) == (0, 0, 0) and end.tasks <= baseline.tasks:
            break
        if time.monotonic() > settle_until:
            break
        await asyncio.sleep(1)
    samples.append(end)
    final = await stats(port)
    server.stdin.close()
    await asyncio.wait_for(server.wait(), 30)

    clean = (end.sessions, end.clients, end.sockets, end.queued) == (0, 0, 0, 0) and (
        end.tasks <= baseline.tasks
    )
    ok = clean and not tally.dropped
    print_table(args, tally, codes, samples, baseline, loaded, end, final, live_before_leaving)
    print("\nresult:", "PASS" if ok else "FAIL")
    return 0 if ok else 1


def print_table(
    args: argparse.Namespace,
    tally: Tally,
    codes: Counter[str],
    samples: list[Sample],
    baseline: Sample,
    loaded: Sample,
    end: Sample,
    final: dict[str, Any],
    live: dict[str, int],
) -> None:
    c, closes, disconnects = tally.counts, final["close_reasons"], final["disconnect_reasons"]
    during = [s.rss for s in samples[1:-1]] or [loaded.rss]
    python = platform.python_version()
    print(f"\n## Soak: {args.duration:.0f} s, {args.plumbing} plumbing, Python {python}")
    print("\n| what | count |\n| --- | --- |")
    for kind in ("idle WebSocket", "idle polling", "chatty", "big-room reader"):
        counts = f"{tally.peak[kind]} / {live.get(kind, 0)}"
        print(f"| {kind} clients (most at once / at the end) | {counts} |")
    print(f"| chat events sent / acknowledged | {c['chat events sent']} / {c['chat acks']} |")
    print(f"| chat broadcasts received | {c['chat broadcasts received']} |")
    print(f"| 256 KB broadcasts read by the big-room readers | {c['big broadcasts read']} |")
    dropped = sum(tally.dropped.values())
    print(f"| well-behaved clients dropped | {dropped} {dict(tally.dropped) or ''} |")
    print("\n| bound crossed | times | outcome (server side) |\n| --- | --- | --- |")
    print(
        f"| slow consumers (never read a 512 KB/s room) | {c['slow consumers']} | "
        f"`transport buffer full` {closes.get('transport buffer full', 0)} |"
    )
    print(
        f"| event floods (20,000 events at a 0.5 s handler) | {c['event floods']} | "
        f"`event queue full` {disconnects.get('event queue full', 0)}, closed "
        f"{c['event floods closed by the server']} |"
    )
    print(
        f"| empty continuation frames (up to 200,000 a message) | {c['fragment floods']} | "
        f"close codes {dict(codes)} |"
    )
    print(
        f"| unused polling sessions (handshake floods) | {c['unused polling sessions opened']} | "
        f"`ping timeout` {closes.get('ping timeout', 0)} (all sessions, every kind) |"
    )
    print(
        f"| binary packets missing an attachment | {c['partial binary packets']} | "
        f"`parse error` {disconnects.get('parse error', 0)}, closed "
        f"{c['partial binary packets closed by the server']} |"
    )
    print("\n| server | start | loaded | during (median / max) | end |")
    print("| --- | --- | --- | --- | --- |")
    print(
        f"| RSS (MiB) | {baseline.rss / MiB:.1f} | {loaded.rss / MiB:.1f} | "
        f"{statistics.median(during) / MiB:.1f} / {max(during) / MiB:.1f} | {end.rss / MiB:.1f} |"
    )
    for name in ("sessions", "clients", "sockets", "tasks", "queued", "paused"):
        values = [getattr(s, name) for s in samples[1:-1]] or [getattr(loaded, name)]
        print(
            f"| {name} | {getattr(baseline, name)} | {getattr(loaded, name)} | "
            f"{statistics.median(values):.0f} / {max(values)} | {getattr(end, name)} |"
        )
    print("\n| minute | RSS (MiB) | sessions | sockets | tasks |\n| --- | --- | --- | --- | --- |")
    shown = set()
    for s in samples:
        minute = int(s.at // 60)
        if minute not in shown:
            shown.add(minute)
            print(f"| {minute} | {s.rss / MiB:.1f} | {s.sessions} | {s.sockets} | {s.tasks} |")
    print(f"\nengine close reasons: {closes}\nsocket disconnect reasons: {disconnects}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--duration", type=float, default=600)
    parser.add_argument("--idle", type=int, default=2000, help="idle WebSocket clients")
    parser.add_argument("--polling", type=int, default=100, help="idle long-polling clients")
    parser.add_argument("--chatty", type=int, default=200)
    parser.add_argument("--readers", type=int, default=10, help="readers of the big room")
    parser.add_argument("--plumbing", choices=("native", "asgi"), default="native")
    args = parser.parse_args()
    os.environ.setdefault("PYTHONUNBUFFERED", "1")
    sys.exit(asyncio.run(run(args)))


if __name__ == "__main__":
    main()
