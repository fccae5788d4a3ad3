"""What this machine has: which contenders can run, versions, the host, pinning, file limits."""

from __future__ import annotations

import contextlib
import json
import os
import platform
import resource
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

from measure import Settings
from scenarios import CONTENDERS, Contender, Protocol, Scenario

__all__ = ["availability", "host", "pinning", "raise_nofile", "skip_reason", "versions"]

BENCH = Path(__file__).resolve().parent
PYTHON_PEERS = (
    "python-socketio",
    "python-engineio",
    "uvicorn",
    "aiohttp",
    "websockets",
    "uvloop",
    "redis",
)
NODE_PEERS = ("socket.io", "socket.io-client", "ws", "@socket.io/redis-adapter", "redis")


def _python_ok(python: str, code: str, env: tuple[tuple[str, str], ...] = ()) -> str | None:
    """None when ``code`` runs cleanly on ``python`` (with ``env`` added to the environment),
    else the last line of its error."""
    proc = subprocess.run(
        [python, "-c", code],
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, **dict(env)} if env else None,
    )
    if proc.returncode == 0:
        return None
    lines = proc.stderr.strip().splitlines() or [f"exit status {proc.returncode}"]
    return lines[-1][:200]


_SOCKETWIRE_WORKS = (
    "import socketwire\n"
    "from socketwire.io.native import NativeServer\n"
    "from socketwire.io.asgi import ASGIApp\n"
    "socketwire.Server()\n"
)


def availability(
    settings: Settings, contenders: tuple[Contender, ...] = CONTENDERS
) -> dict[str, str | None]:
    """Why each contender cannot run (None when it can)."""
    socketwire = _python_ok(settings.python, _SOCKETWIRE_WORKS)
    peers = _python_ok(settings.python, "import socketio, uvicorn, aiohttp, websockets, uvloop")
    typed = _python_ok(settings.python, "import pydantic")
    node = None
    if shutil.which("node") is None:
        node = "node is not installed"
    elif not (BENCH / "node_modules" / "socket.io").is_dir():
        node = "bench/node_modules missing: run bench/setup.sh"
    reasons: dict[str, str | None] = {}
    for contender in contenders:
        broken = socketwire
        if contender.env and contender.needs_socketwire:
            broken = _python_ok(settings.python, _SOCKETWIRE_WORKS, contender.env)
        if contender.needs_socketwire and broken:
            reasons[contender.key] = f"not available: socketwire.Server does not work ({broken})"
        elif contender.needs_pydantic and typed:
            reasons[contender.key] = f"not available: {typed} (run bench/setup.sh)"
        elif contender.script.endswith(".js"):
            reasons[contender.key] = node
        elif peers:
            reasons[contender.key] = f"not available: {peers} (run bench/setup.sh)"
        else:
            reasons[contender.key] = node  # every run needs the Node generator
    return reasons


def skip_reason(scenario: Scenario, contender: Contender, settings: Settings) -> str | None:
    """Why ``contender`` does not run ``scenario`` (None when it does)."""
    if scenario.contenders and contender.key not in scenario.contenders:
        return f"{scenario.key} compares {', '.join(scenario.contenders)} only"
    if contender.protocol is Protocol.RAW and scenario.floor is None:
        return "does not apply to the raw floor"
    if contender.only and not scenario.key.startswith(contender.only):
        return f"runs only {', '.join(contender.only)}"
    if scenario.transport == "webtransport":
        missing = _python_ok(settings.python, "import aioquic")
        if missing:
            return f"no WebTransport: {missing} (the webtransport extra: bench/setup.sh)"
    if scenario.nodes > 1:
        if not contender.cluster:
            return f"bench/servers/{contender.script} has no --redis (cluster) support"
        if not settings.redis_url:
            return "cluster scenario: no Redis (redis-server not found; or pass --redis-url)"
    return None


def versions(python: str) -> dict[str, str]:
    """The versions of Python, Node and every peer package, as the servers will see them."""
    code = (
        "import importlib.metadata as m, json, sys\n"
        "names = sys.argv[1:]\n"
        "import platform\n"
        "out = {'python': platform.python_version()}\n"
        "for n in names:\n"
        "    try: out[n] = m.version(n)\n"
        "    except m.PackageNotFoundError: out[n] = 'missing'\n"
        "print(json.dumps(out))\n"
    )
    # The servers' Python (--python), which may not be the one running the harness.
    versions = {"python": "unknown"}
    with contextlib.suppress(subprocess.SubprocessError, ValueError, OSError):
        proc = subprocess.run(
            [python, "-c", code, "socketwire", *PYTHON_PEERS],
            capture_output=True,
            text=True,
            timeout=60,
        )
        versions |= json.loads(proc.stdout)
    with contextlib.suppress(subprocess.SubprocessError, OSError):
        node = subprocess.run(["node", "--version"], capture_output=True, text=True, timeout=10)
        versions["node"] = node.stdout.strip()
    for name in NODE_PEERS:
        with contextlib.suppress(OSError, ValueError, KeyError):
            package = json.loads((BENCH / "node_modules" / name / "package.json").read_text())
            versions[f"{name} (npm)"] = package["version"]
    return versions


def host() -> dict[str, Any]:
    """The CPU model, core count, kernel and load average (how busy the machine was)."""
    cpu = platform.processor() or platform.machine()
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    return {
        "cpu": cpu,
        "nproc": os.cpu_count(),
        "kernel": platform.release(),
        "loadavg": " ".join(f"{x:.2f}" for x in os.getloadavg()),
    }


def pinning(no_pin: bool) -> tuple[str, str] | None:
    """The CPUs for the server and the generator, or None when processes are not pinned."""
    if no_pin:
        return None
    if shutil.which("taskset") is None:
        print("warning: taskset not found: processes are not pinned", file=sys.stderr)
        return None
    cpus = sorted(os.sched_getaffinity(0))
    if len(cpus) < 2:
        print("warning: fewer than 2 CPUs: processes are not pinned", file=sys.stderr)
        return None
    return str(cpus[0]), str(cpus[1])


def raise_nofile() -> None:
    """Raise the open-file soft limit to the hard one; warn when S3 may not fit."""
    # The generator inherits this limit: S3 holds thousands of sockets in it.
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft != hard:
        with contextlib.suppress(ValueError, OSError):
            resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    soft, _ = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < 12_000:
        print(f"warning: open-file limit {soft}: S3 with 5,000 clients may fail", file=sys.stderr)
