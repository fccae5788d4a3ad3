"""A throwaway ``redis-server`` for tests: started on a free 127.0.0.1 port, stopped by PID.

Nothing is persisted (``--save "" --appendonly no``), nothing listens beyond loopback, and
every wait is bounded. :meth:`RedisServer.kill` and :meth:`RedisServer.start` on the same
object bring the server back on the same port, for "Redis died and came back" tests.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from pathlib import Path
from typing import IO

__all__ = [
    "HOST",
    "REDIS_SERVER",
    "RedisServer",
    "RedisServerError",
    "find_redis_server",
    "free_port",
]

HOST = "127.0.0.1"
#: Bound on waiting for the server to answer PING, or to exit.
START_TIMEOUT = 10.0
STOP_TIMEOUT = 5.0


class RedisServerError(RuntimeError):
    """redis-server would not start (or stop) in time."""


def find_redis_server() -> str | None:
    """The redis-server binary (``$REDIS_SERVER``, then PATH, then /usr/bin), or None."""
    candidates = [os.environ.get("REDIS_SERVER"), shutil.which("redis-server")]
    candidates.append("/usr/bin/redis-server")
    for candidate in candidates:
        if candidate and Path(candidate).is_file() and os.access(candidate, os.X_OK):
            return candidate
    return None


REDIS_SERVER = find_redis_server()


def free_port() -> int:
    """A TCP port on 127.0.0.1 that was free a moment ago."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((HOST, 0))
        port: int = sock.getsockname()[1]
        return port


def _ping(port: int) -> bool:
    try:
        with socket.create_connection((HOST, port), timeout=0.5) as sock:
            sock.sendall(b"*1\r\n$4\r\nPING\r\n")
            return sock.recv(64).startswith(b"+PONG")
    except OSError:
        return False


class RedisServer:
    """One redis-server process.

    Args:
        binary: The redis-server executable.
        port: The port to listen on (a free one is picked when None).
        extra_args: More command-line options (cluster mode, replication, sentinel mode).
        cwd: The directory it runs in (where cluster and sentinel write their config, and a
            replica its copy of the master's data); when None, a temporary one for each run,
            removed once the process exited: nothing is written into the test's directory.
    """

    def __init__(
        self,
        binary: str,
        port: int | None = None,
        extra_args: list[str] | None = None,
        cwd: str | None = None,
    ) -> None:
        self.binary = binary
        self.extra_args = list(extra_args or [])
        self.cwd = cwd
        self._run_dir: str | None = None
        self._fixed_port = port is not None
        self.port = port if port is not None else free_port()
        self.proc: subprocess.Popen[bytes] | None = None
        self._logfile: IO[bytes] | None = None
        self._log = b""

    @property
    def url(self) -> str:
        """``redis://127.0.0.1:<port>``, for redis-py and node-redis."""
        return f"redis://{HOST}:{self.port}"

    @property
    def pid(self) -> int | None:
        """The process id while running."""
        return self.proc.pid if self.proc is not None and self.proc.poll() is None else None

    @property
    def running(self) -> bool:
        """Whether the process is alive."""
        return self.pid is not None

    def start(self) -> None:
        """Start the server and wait until it answers PING (at most :data:`START_TIMEOUT`).

        The first start retries on another free port if the picked one was taken meanwhile;
        later starts (after :meth:`stop` or :meth:`kill`) keep the port.

        Raises:
            RedisServerError: It exited or did not answer in time.
        """
        if self.running:
            raise RedisServerError("already running")
        attempts = 1 if self._fixed_port else 3
        for attempt in range(attempts):
            if self._try_start():
                self._fixed_port = True  # restarts keep this port
                return
            if attempt + 1 < attempts:
                self.port = free_port()
        raise RedisServerError(
            f"redis-server did not start on port {self.port}:\n"
            + self._log.decode(errors="replace")[-2000:]
        )

    def argv(self) -> list[str]:
        """The command line (a subclass may start another kind of process)."""
        argv = [self.binary, *self.extra_args, "--port", str(self.port), "--bind", HOST]
        argv += ["--save", "", "--appendonly", "no", "--protected-mode", "yes"]
        return [*argv, "--daemonize", "no"]

    def _try_start(self) -> bool:
        argv = self.argv()
        # A file, not a pipe: nobody reads the log while the server runs, and a full pipe
        # would block the server.
        self._logfile = tempfile.TemporaryFile()  # noqa: SIM115 - closed in _reap()
        if self.cwd is None:
            self._run_dir = tempfile.mkdtemp(prefix="socketwire-redis-")
        self.proc = subprocess.Popen(
            argv,
            stdin=subprocess.DEVNULL,
            stdout=self._logfile,
            stderr=subprocess.STDOUT,
            cwd=self.cwd or self._run_dir,
        )
        deadline = time.monotonic() + START_TIMEOUT
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                break
            if _ping(self.port):
                return True
            time.sleep(0.02)
        self._reap()
        return False

    def _reap(self) -> None:
        proc, self.proc = self.proc, None
        if proc is None:
            return
        if proc.poll() is None:
            proc.kill()
        try:
            proc.wait(timeout=STOP_TIMEOUT)
        except subprocess.TimeoutExpired as exc:
            raise RedisServerError(f"redis-server {proc.pid} did not exit") from exc
        if self._logfile is not None:
            self._logfile.seek(0)
            self._log += self._logfile.read()
            self._logfile.close()
            self._logfile = None
        if self._run_dir is not None:
            shutil.rmtree(self._run_dir, ignore_errors=True)
            self._run_dir = None

    def stop(self) -> None:
        """Stop the server gracefully (SIGTERM to its PID), killing it if it lingers."""
        proc = self.proc
        if proc is None:
            return
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            with contextlib.suppress(subprocess.TimeoutExpired):
                proc.wait(timeout=STOP_TIMEOUT)
        self._reap()

    def kill(self) -> None:
        """Kill the server abruptly (SIGKILL to its PID), as a crash would."""
        proc = self.proc
        if proc is not None and proc.poll() is None:
            proc.send_signal(signal.SIGKILL)
        self._reap()

    def restart(self) -> None:
        """Stop, then start again on the same port."""
        self.stop()
        self.start()

    async def astart(self) -> None:
        """:meth:`start` without blocking the event loop."""
        await asyncio.to_thread(self.start)

    async def astop(self) -> None:
        """:meth:`stop` without blocking the event loop."""
        await asyncio.to_thread(self.stop)

    async def arestart(self) -> None:
        """:meth:`restart` without blocking the event loop."""
        await asyncio.to_thread(self.restart)

    def log(self) -> str:
        """What the server printed in its past runs (for failure messages)."""
        return self._log.decode(errors="replace")
