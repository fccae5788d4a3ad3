"""Every module of the package imports on its own, in a fresh interpreter.

An import cycle can hide behind the order in which another module happens to import things
(an eager ``__init__`` did hide one); importing each module first, alone, shows it. The
layers themselves are checked by import-linter (``make lint``).
"""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[2] / "src"


def modules() -> list[str]:
    """Every module and package under ``src/socketwire`` (``__main__`` would run the CLI)."""
    found = []
    for path in sorted((SRC / "socketwire").rglob("*.py")):
        parts = list(path.relative_to(SRC).with_suffix("").parts)
        if parts[-1] == "__main__":
            continue
        if parts[-1] == "__init__":
            parts.pop()
        found.append(".".join(parts))
    return found


async def import_alone(module: str, limit: asyncio.Semaphore) -> tuple[str, int, str]:
    async with limit:
        process = await asyncio.create_subprocess_exec(
            sys.executable,
            "-c",
            f"import {module}",
            stdout=asyncio.subprocess.DEVNULL,
            stderr=asyncio.subprocess.PIPE,
        )
        _, stderr = await process.communicate()
        assert process.returncode is not None
        return module, process.returncode, stderr.decode(errors="replace")


@pytest.mark.timeout(300)
async def test_every_module_imports_on_its_own() -> None:
    names = modules()
    assert "socketwire.adapters.redis" in names
    assert "socketwire.engineio.packets" in names
    limit = asyncio.Semaphore(os.cpu_count() or 2)
    results = await asyncio.gather(*(import_alone(name, limit) for name in names))
    failed = {name: error.strip().splitlines()[-1] for name, code, error in results if code}
    assert failed == {}


def test_importing_a_core_loads_no_io_library() -> None:
    code = (
        "import sys, socketwire.engineio, socketwire.socketio\n"
        "heavy = {'asyncio', 'aiohttp', 'websockets', 'httptools', 'redis', 'uvloop'}\n"
        "print(sorted(heavy & set(sys.modules)))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
