"""``socketwire serve`` and other commands as subprocesses, with bounded waits.

Servers listen on ``--port 0`` (a free port the OS picks) and the helpers read the port from
the "listening on" line.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
import sys
from collections.abc import AsyncIterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import pytest

__all__ = ["START", "STOP", "Running", "run_process", "serve_process"]

# Starting Python and importing the package can be slow on a busy machine.
START = 20.0
STOP = 10.0
LISTENING = re.compile(r"listening on http://127\.0\.0\.1:(\d+)/")
#: ``python -m socketwire`` in the interpreter running the tests.
THIS_PYTHON = (sys.executable, "-m", "socketwire")


@dataclass
class Running:
    """A ``socketwire serve`` process that printed its "listening" line."""

    proc: asyncio.subprocess.Process
    port: int
    stdout: list[str] = field(default_factory=list)
    stderr: list[str] = field(default_factory=list)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    async def stop(self, sig: int = 2) -> int:
        """Send ``sig`` (SIGINT by default) and return the exit status (bounded)."""
        self.proc.send_signal(sig)
        async with asyncio.timeout(STOP):
            return await self.proc.wait()


def _environ(env: Mapping[str, str]) -> dict[str, str]:
    return {**os.environ, "PYTHONUNBUFFERED": "1", **env}


async def _pump(stream: asyncio.StreamReader, into: list[str]) -> None:
    while line := await stream.readline():
        into.append(line.decode())


@contextlib.asynccontextmanager
async def serve_process(
    *args: str,
    program: Sequence[str] = THIS_PYTHON,
    cwd: Path | None = None,
    env: Mapping[str, str] = {},
) -> AsyncIterator[Running]:
    """Start ``<program> serve --port 0 *args`` and wait until it listens."""
    proc = await asyncio.create_subprocess_exec(
        *program,
        "serve",
        "--port",
        "0",
        *args,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        cwd=cwd,
        env=_environ(env),
    )
    assert proc.stdout is not None
    assert proc.stderr is not None
    running = Running(proc, 0)
    pumps = [
        asyncio.create_task(_pump(proc.stdout, running.stdout)),
        asyncio.create_task(_pump(proc.stderr, running.stderr)),
    ]
    try:
        async with asyncio.timeout(START):
            while True:
                match = LISTENING.search("".join(running.stdout))
                if match:
                    running.port = int(match.group(1))
                    break
                if proc.returncode is not None:
                    pytest.fail(f"exited with {proc.returncode}: {''.join(running.stderr)}")
                await asyncio.sleep(0.02)
        yield running
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()
        async with asyncio.timeout(STOP):
            await asyncio.gather(*pumps)


async def run_process(
    *args: str,
    program: Sequence[str] = THIS_PYTHON,
    cwd: Path | None = None,
    env: Mapping[str, str] = {},
    limit: float = START,
) -> tuple[int, str, str]:
    """Run ``<program> *args`` to completion (bounded); returns (status, stdout, stderr)."""
    proc = await asyncio.create_subprocess_exec(
        *program,
        *args,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        cwd=cwd,
        env=_environ(env),
    )
    try:
        async with asyncio.timeout(limit):
            out, err = await proc.communicate()
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()
    assert proc.returncode is not None
    return proc.returncode, out.decode(), err.decode()
