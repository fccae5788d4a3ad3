"""Run the programs under examples/ as server processes, for tests/integration/test_examples.py.

Each server runs in a process group of its own (``start_new_session``), so stopping it stops
the workers it spawned too (granian runs the app in a worker process).
"""

from __future__ import annotations

import contextlib
import os
import re
import signal
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from conftest import HOST, free_port

__all__ = ["EXAMPLES", "EXAMPLES_DIR", "Example", "ExampleServer", "start_example"]

EXAMPLES_DIR = Path(__file__).resolve().parents[2] / "examples"
#: Bound on a server's start (imports, workers) and on its stop.
START_WAIT = 20.0
STOP_WAIT = 10.0

_BIN = Path(sys.executable).parent


@dataclass(frozen=True, slots=True)
class Example:
    """How to run one example.

    ``argv(port)`` builds the command line; ``announces`` finds the bound port in the
    server's output when it is started on port 0. Without it (granian does not print the
    port it bound), a port that was free a moment ago is given instead.
    """

    name: str
    argv: Callable[[int], list[str]]
    pong: str
    announces: re.Pattern[str] | None


def _uvicorn(target: str) -> Callable[[int], list[str]]:
    return lambda port: [
        sys.executable,
        "-m",
        "uvicorn",
        target,
        "--host",
        HOST,
        "--port",
        str(port),
        "--log-level",
        "info",
        # as the examples' per_message_deflate (off): uvicorn's own default is on
        "--ws-per-message-deflate",
        "false",
    ]


_UVICORN_PORT = re.compile(r"Uvicorn running on http://127\.0\.0\.1:(\d+)")

EXAMPLES: dict[str, Example] = {
    example.name: example
    for example in (
        Example("fastapi", _uvicorn("fastapi_app:app"), "fastapi", _UVICORN_PORT),
        Example("starlette", _uvicorn("starlette_app:app"), "starlette", _UVICORN_PORT),
        Example("flask", _uvicorn("flask_app:app"), "flask", _UVICORN_PORT),
        Example("django", _uvicorn("django_project.asgi:app"), "django", _UVICORN_PORT),
        Example("asgi-uvicorn", _uvicorn("asgi_app:app"), "asgi", _UVICORN_PORT),
        Example(
            "asgi-hypercorn",
            lambda port: [
                sys.executable,
                "-m",
                "hypercorn",
                "--bind",
                f"{HOST}:{port}",
                "asgi_app:app",
            ],
            "asgi",
            re.compile(r"Running on http://127\.0\.0\.1:(\d+)"),
        ),
        Example(
            "asgi-granian",
            lambda port: [
                str(_BIN / "granian"),
                "--interface",
                "asgi",
                "--host",
                HOST,
                "--port",
                str(port),
                "--workers",
                "1",
                "asgi_app:app",
            ],
            "asgi",
            None,
        ),
        Example(
            "aiohttp",
            lambda port: [sys.executable, "aiohttp_app.py", "--port", str(port)],
            "aiohttp",
            re.compile(r"listening on http://127\.0\.0\.1:(\d+)"),
        ),
    )
}


@dataclass
class ExampleServer:
    """A running example: its process, its port, and what it printed."""

    spec: Example
    proc: subprocess.Popen[str]
    port: int = 0
    lines: list[str] = field(default_factory=list)
    changed: threading.Condition = field(default_factory=threading.Condition)

    @property
    def url(self) -> str:
        """``http://127.0.0.1:<port>``."""
        return f"http://{HOST}:{self.port}"

    def output(self) -> str:
        """The server's output so far (stdout and stderr), for failure messages."""
        with self.changed:
            return "".join(self.lines[-60:])

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            with self.changed:
                self.lines.append(line)
                self.changed.notify_all()
        with self.changed:
            self.changed.notify_all()

    def _wait_port(self, pattern: re.Pattern[str], deadline: float) -> int:
        with self.changed:
            while True:
                for line in self.lines:
                    if match := pattern.search(line):
                        return int(match.group(1))
                remaining = deadline - time.monotonic()
                if self.proc.poll() is not None or remaining <= 0:
                    pytest.fail(f"{self.spec.name} did not announce its port:\n{self.output()}")
                self.changed.wait(remaining)

    def _wait_ready(self, deadline: float) -> None:
        # Nothing signals that the server answers (granian prints before its worker is up):
        # ask its route until it answers, within the bound.
        while True:
            try:
                with urllib.request.urlopen(f"{self.url}/ping", timeout=2) as response:
                    if response.status == 200:
                        return
            except (OSError, urllib.error.URLError):
                pass
            if self.proc.poll() is not None or time.monotonic() > deadline:
                pytest.fail(f"{self.spec.name} did not answer /ping:\n{self.output()}")
            time.sleep(0.05)

    def stop(self) -> bool:
        """Stop the process group: SIGTERM, then SIGKILL past :data:`STOP_WAIT`.

        Returns:
            True when SIGKILL was needed (the server did not shut down gracefully).
        """
        killed = False
        if self.proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(STOP_WAIT)
            except subprocess.TimeoutExpired:
                killed = True
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(STOP_WAIT)
        # Workers of the group that outlived their parent.
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.proc.pid, signal.SIGKILL)
        return killed


@contextlib.contextmanager
def start_example(spec: Example) -> Iterator[ExampleServer]:
    """Start ``spec`` in examples/, wait until it answers ``/ping``, stop it on exit."""
    port = 0 if spec.announces is not None else free_port()
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    proc = subprocess.Popen(
        spec.argv(port),
        cwd=EXAMPLES_DIR,
        env=env,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )
    server = ExampleServer(spec, proc, port)
    reader = threading.Thread(target=server._read, name=f"output:{spec.name}", daemon=True)
    reader.start()
    try:
        deadline = time.monotonic() + START_WAIT
        if spec.announces is not None:
            server.port = server._wait_port(spec.announces, deadline)
        server._wait_ready(deadline)
        yield server
    finally:
        killed = server.stop()
        # The group is gone, so the pipe is at EOF and the reader ends.
        reader.join(STOP_WAIT)
        if proc.stdout is not None:
            proc.stdout.close()
    if killed:
        pytest.fail(f"{spec.name} ignored SIGTERM for {STOP_WAIT} s:\n{server.output()}")
