"""A throwaway redis-server for the cluster scenario (S6): a free 127.0.0.1 port, stopped by PID."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import time
from pathlib import Path

__all__ = ["RedisProcess", "find_redis_server"]

#: Bound on waiting for the server to answer PING, and to exit.
START_TIMEOUT = 10.0
STOP_TIMEOUT = 5.0


def find_redis_server() -> str | None:
    """The redis-server binary (``$REDIS_SERVER``, then PATH, then /usr/bin), or None."""
    for candidate in (
        os.environ.get("REDIS_SERVER"),
        shutil.which("redis-server"),
        "/usr/bin/redis-server",
    ):
        if candidate and Path(candidate).is_file() and os.access(candidate, os.X_OK):
            return candidate
    return None


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def _ping(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.5) as sock:
            sock.sendall(b"*1\r\n$4\r\nPING\r\n")
            return sock.recv(64).startswith(b"+PONG")
    except OSError:
        return False


class RedisProcess:
    """One redis-server, persisting nothing, listening on loopback only.

    Args:
        binary: the redis-server executable.
        log: where its output goes.
        pin: ``taskset`` CPU list to pin it to, or None.
    """

    def __init__(self, binary: str, log: Path, pin: str | None = None) -> None:
        self.binary = binary
        self.log = log
        self.pin = pin
        self.port = 0
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        """``redis://127.0.0.1:<port>``."""
        return f"redis://127.0.0.1:{self.port}"

    @property
    def pid(self) -> int:
        """Its process id (of redis-server itself: ``taskset`` execs it)."""
        if self.proc is None:
            raise RuntimeError("redis-server is not running")
        return self.proc.pid

    def start(self) -> None:
        """Start it and wait until it answers PING.

        Raises:
            RuntimeError: it exited or did not answer within :data:`START_TIMEOUT`.
        """
        self.port = _free_port()
        command = [self.binary, "--port", str(self.port), "--bind", "127.0.0.1", "--save", ""]
        command += ["--appendonly", "no", "--protected-mode", "yes", "--daemonize", "no"]
        if self.pin is not None:
            command = ["taskset", "-c", self.pin, *command]
        with self.log.open("wb") as log:
            self.proc = subprocess.Popen(
                command, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT
            )
        deadline = time.monotonic() + START_TIMEOUT
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                break
            if _ping(self.port):
                return
            time.sleep(0.02)
        self.stop()
        tail = self.log.read_text(errors="replace").strip().splitlines()[-3:]
        raise RuntimeError(f"redis-server did not start on port {self.port}: {' / '.join(tail)}")

    def stop(self) -> None:
        """Stop it (SIGTERM to its PID, SIGKILL if it lingers)."""
        proc, self.proc = self.proc, None
        if proc is None or proc.poll() is not None:
            return
        proc.terminate()
        try:
            proc.wait(timeout=STOP_TIMEOUT)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=STOP_TIMEOUT)
