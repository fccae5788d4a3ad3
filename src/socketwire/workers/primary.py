"""The primary process of ``socketwire serve --workers N``: it starts, watches and stops them.

The primary binds nothing it serves: it reserves the port (a bound, not listening,
``SO_REUSEPORT`` socket, which also resolves ``--port 0``), starts N workers that each
listen on it with ``SO_REUSEPORT`` (the kernel spreads new connections over them), relays
their cluster messages (`.hub`), starts a new worker when one dies, and stops them all
on SIGTERM or SIGINT. Workers run in their own session, so a terminal's Ctrl-C reaches the
primary only, which stops them in order.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import logging
import shutil
import signal
import socket
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass, field

from socketwire.engineio.sids import MAX_WORKERS, new_node_tag
from socketwire.workers.hub import HubServer
from socketwire.workers.worker import WorkerConfig

__all__ = ["Primary"]

logger = logging.getLogger("socketwire.workers")

#: Seconds a worker may take to serve after it starts (importing the app included).
START_TIMEOUT = 60.0
#: Seconds the workers have to stop gracefully before they are killed.
STOP_TIMEOUT = 10.0
#: A worker that dies sooner than this after it started is restarted with growing delays.
_QUICK_DEATH = 5.0
_RESTART_DELAY_MIN = 0.1
_RESTART_DELAY_MAX = 5.0
#: This many quick deaths in a row of one worker, and the primary gives up.
_MAX_QUICK_DEATHS = 5
_IN_USE = frozenset({errno.EADDRINUSE, 10048})


@dataclass
class _Worker:
    index: int
    proc: asyncio.subprocess.Process | None = None
    started_at: float = 0.0
    ready: bool = False
    ever_ready: bool = False
    quick_deaths: int = 0
    waiter: asyncio.Task[None] | None = None
    restarts: int = field(default=0)


class Primary:
    """Runs ``command`` (a ``socketwire serve`` command line) as ``workers`` processes.

    Args:
        command: The worker's command line, without ``--host``, ``--port`` and
            ``--worker`` (the primary adds them).
        workers: How many worker processes.
        host: The address they share.
        port: The port they share (0: one the OS picks).
        what: What is served, for the log lines.
    """

    def __init__(
        self, command: Sequence[str], workers: int, host: str, port: int, what: str
    ) -> None:
        if not 1 <= workers <= MAX_WORKERS:
            raise ValueError(f"--workers must be between 1 and {MAX_WORKERS}, not {workers}")
        self.command = list(command)
        self.count = workers
        self.host = host
        self.port = port
        self.what = what
        self.workers = [_Worker(i) for i in range(workers)]
        self._stopping = False
        self._changed = asyncio.Event()
        self._failed: int | None = None
        self._config: list[WorkerConfig] = []

    async def run(self) -> int:
        """Serve until SIGINT or SIGTERM; the exit status (0 after a clean stop)."""
        try:
            reserved = _reserve(self.host, self.port)
        except OSError as exc:
            reason = (
                "the address is already in use (another program listens there: stop it, or "
                "choose another port with --port)"
                if exc.errno in _IN_USE
                else exc.strerror or str(exc)
            )
            where = f"{self.host}:{self.port}"
            print(f"socketwire: cannot listen on {where}: {reason}", file=sys.stderr)
            return 1
        self.port = reserved.getsockname()[1]
        directory = tempfile.mkdtemp(prefix="socketwire-")
        node = new_node_tag()
        self._config = [WorkerConfig(i, self.count, directory, node) for i in range(self.count)]
        hub = HubServer(self._config[0].hub, on_ready=self._on_ready)
        loop = asyncio.get_running_loop()
        stop = asyncio.Event()
        signals = (signal.SIGINT, signal.SIGTERM)
        try:
            await hub.start()
            for sig in signals:
                with contextlib.suppress(NotImplementedError):
                    loop.add_signal_handler(sig, stop.set)
            print(f"socketwire: serving {self.what} with {self.count} workers", flush=True)
            for worker in self.workers:
                await self._spawn(worker)
            status = await self._wait_ready(stop)
            if status is None:
                print(
                    f"socketwire: listening on {_url(self.host, self.port)} (Ctrl-C to stop)",
                    flush=True,
                )
                status = await self._supervise(stop)
        finally:
            for sig in signals:
                with contextlib.suppress(NotImplementedError):
                    loop.remove_signal_handler(sig)
            print("socketwire: shutting down", flush=True)
            await self._stop_all()
            await hub.close()
            reserved.close()
            shutil.rmtree(directory, ignore_errors=True)
        print("socketwire: stopped", flush=True)
        return status

    # -- workers --------------------------------------------------------------------------

    async def _spawn(self, worker: _Worker) -> None:
        config = self._config[worker.index]
        args = [
            *self.command,
            "--host",
            self.host,
            "--port",
            str(self.port),
            "--worker",
            config.to_json(),
        ]
        worker.ready = False
        worker.started_at = time.monotonic()
        worker.proc = await asyncio.create_subprocess_exec(*args, start_new_session=True)
        worker.waiter = asyncio.create_task(self._watch(worker, worker.proc))

    async def _watch(self, worker: _Worker, proc: asyncio.subprocess.Process) -> None:
        status = await proc.wait()
        if self._stopping or worker.proc is not proc:
            return
        worker.ready = False
        if not worker.ever_ready and status == 2:
            # The app cannot be loaded (a usage error): every worker would fail the same.
            print(f"socketwire: worker {worker.index} could not load the app", file=sys.stderr)
            self._failed = 2
            self._changed.set()
            return
        quick = time.monotonic() - worker.started_at < _QUICK_DEATH
        worker.quick_deaths = worker.quick_deaths + 1 if quick else 0
        if worker.quick_deaths >= _MAX_QUICK_DEATHS:
            print(
                f"socketwire: worker {worker.index} died {worker.quick_deaths} times in a row "
                "right after starting; giving up",
                file=sys.stderr,
            )
            self._failed = 1
            self._changed.set()
            return
        how = f"signal {-status}" if status < 0 else f"status {status}"
        print(
            f"socketwire: worker {worker.index} (pid {proc.pid}) exited with {how}; "
            "starting a new one",
            file=sys.stderr,
            flush=True,
        )
        delay = (
            min(_RESTART_DELAY_MIN * 2 ** (worker.quick_deaths - 1), _RESTART_DELAY_MAX)
            if quick
            else 0.0
        )
        await asyncio.sleep(delay)
        if self._stopping:
            return
        worker.restarts += 1
        await self._spawn(worker)

    def _on_ready(self, index: int) -> None:
        if 0 <= index < self.count:
            worker = self.workers[index]
            worker.ready = worker.ever_ready = True
            self._changed.set()

    async def _wait_ready(self, stop: asyncio.Event) -> int | None:
        """Wait until every worker serves; an exit status if it must stop instead."""
        deadline = time.monotonic() + START_TIMEOUT
        while not all(w.ready for w in self.workers):
            if self._failed is not None:
                return self._failed
            if stop.is_set():
                return 0
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                print(
                    f"socketwire: the workers did not start within {START_TIMEOUT:g} s",
                    file=sys.stderr,
                )
                return 1
            self._changed.clear()
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(min(remaining, 0.5)):
                    await _first(self._changed.wait(), stop.wait())
        return None

    async def _supervise(self, stop: asyncio.Event) -> int:
        while not stop.is_set():
            if self._failed is not None:
                return self._failed
            self._changed.clear()
            await _first(self._changed.wait(), stop.wait())
        return 0

    async def _stop_all(self) -> None:
        self._stopping = True
        running = [w.proc for w in self.workers if w.proc is not None]
        for proc in running:
            if proc.returncode is None:
                with contextlib.suppress(ProcessLookupError):
                    proc.send_signal(signal.SIGTERM)
        try:
            async with asyncio.timeout(STOP_TIMEOUT):
                for proc in running:
                    await proc.wait()
        except TimeoutError:
            for proc in running:
                if proc.returncode is None:
                    logger.warning("worker pid %d did not stop in time: killed", proc.pid)
                    with contextlib.suppress(ProcessLookupError):
                        proc.kill()
            for proc in running:
                await proc.wait()
        for worker in self.workers:
            if worker.waiter is not None:
                worker.waiter.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await worker.waiter


async def _first(*aws: object) -> None:
    tasks = [asyncio.ensure_future(aw) for aw in aws]  # type: ignore[call-overload]
    try:
        await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for task in tasks:
            task.cancel()


def _reserve(host: str, port: int) -> socket.socket:
    """A bound, not listening, SO_REUSEPORT socket: the workers' port, held for them."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
        sock.bind((host, port))
    except OSError:
        sock.close()
        raise
    return sock


def _url(host: str, port: int) -> str:
    return f"http://[{host}]:{port}/" if ":" in host else f"http://{host}:{port}/"
