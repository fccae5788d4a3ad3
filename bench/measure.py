"""One measured run: start the server(s) and the generator, read /proc around the window."""

from __future__ import annotations

import json
import queue
import socket
import subprocess
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

from procstat import core_busy_seconds, cpu_seconds, rss_kib, tree_cpu_seconds
from scenarios import Contender, Mode, Protocol, Scenario

__all__ = [
    "LOADGEN",
    "LOADGEN_PY",
    "RunError",
    "Settings",
    "generator_command",
    "generator_config",
    "measure",
    "server_extra_args",
    "window_metrics",
]

LOADGEN = Path(__file__).resolve().parent / "loadgen.js"
#: The Python generator (socketwire's client): the one that speaks WebTransport.
LOADGEN_PY = Path(__file__).resolve().parent / "loadgen_py.py"
#: Seconds to let the server settle before reading its RSS (S3).
SETTLE_S = 0.5


class RunError(Exception):
    """One run could not be measured."""


@dataclass(frozen=True, slots=True)
class Settings:
    """What the command line chose."""

    python: str
    quick: bool
    repeats: int
    warmup_s: float
    duration_s: float
    scale: float
    client: str
    pin: tuple[str, str] | None
    redis_url: str | None
    logs: Path
    #: The redis-server run.py started for S6 (its CPU is read beside the servers'), if any.
    redis_pid: int | None = None


# -- processes ---------------------------------------------------------------------------------


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def _wait_listening(port: int, proc: subprocess.Popen[bytes], timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RunError(f"server exited with status {proc.returncode} before listening")
        with socket.socket() as s:
            s.settimeout(0.5)
            if s.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.05)
    raise RunError(f"server not listening on port {port} after {timeout:.0f} s")


def _wait_ready_line(log: Path, proc: subprocess.Popen[bytes], timeout: float) -> None:
    """A server of several workers listens before all of them serve: wait for the line it
    prints once they all do."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RunError(f"server exited with status {proc.returncode} before listening")
        if "listening on" in log.read_text(errors="replace"):
            return
        time.sleep(0.05)
    raise RunError(f"the workers were not all serving after {timeout:.0f} s")


def _stop(proc: subprocess.Popen[Any] | None) -> None:
    if proc is None or proc.poll() is not None:
        return
    proc.terminate()
    try:
        proc.wait(timeout=5)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(timeout=5)


def _reader(stream: IO[str], lines: queue.Queue[str | None]) -> None:
    for line in stream:
        lines.put(line)
    lines.put(None)


def _tail(path: Path, lines: int = 3) -> str:
    try:
        text = path.read_text(errors="replace").strip().splitlines()
    except OSError:
        return ""
    return " / ".join(line.strip() for line in text[-lines:])


# -- one run -----------------------------------------------------------------------------------


def generator_config(
    scenario: Scenario, contender: Contender, settings: Settings, ports: list[int]
) -> dict[str, Any]:
    """The JSON configuration of loadgen.js for one run (see the head of loadgen.js)."""
    clients = scenario.quick_clients if settings.quick else scenario.clients
    clients = max(1, round(clients * settings.scale))
    client = "raw" if contender.protocol is Protocol.RAW else settings.client
    return {
        "mode": scenario.mode.value,
        "urls": [f"http://127.0.0.1:{port}" for port in ports],
        "client": client,
        "transport": scenario.transport,
        "clients": clients,
        "payload": {"kind": scenario.payload_kind, "bytes": scenario.payload_bytes},
        "warmup_s": settings.warmup_s,
        "duration_s": settings.duration_s,
        "depth": scenario.depth,
        "warm_clients": min(20, clients // 10),
        "concurrency": 100,
        "timeout_s": 60,
        "keep_alive": scenario.keep_alive,
    }


def _certificate(logs: Path) -> tuple[Path, Path]:
    """A self-signed certificate and key for the WebTransport scenario, in ``logs``."""
    certfile, keyfile = logs / "webtransport-cert.pem", logs / "webtransport-key.pem"
    if not certfile.exists():
        # on the harness's Python (the bench venv has socketwire and its webtransport extra)
        from socketwire.io.webtransport import write_self_signed_certificate

        logs.mkdir(parents=True, exist_ok=True)
        write_self_signed_certificate(certfile, keyfile, ca=True)
    return certfile, keyfile


def server_extra_args(scenario: Scenario, settings: Settings) -> list[str]:
    """What the server needs beyond its usual options (WebTransport: its certificate)."""
    if scenario.transport != "webtransport":
        return []
    certfile, keyfile = _certificate(settings.logs)
    return ["--webtransport-cert", str(certfile), "--webtransport-key", str(keyfile)]


def generator_command(scenario: Scenario, settings: Settings, config: dict[str, Any]) -> list[str]:
    """The generator's command line (its configuration as JSON, last)."""
    if scenario.generator == "python":
        if scenario.transport == "webtransport":
            config = {**config, "ca": str(_certificate(settings.logs)[0])}
        return [settings.python, str(LOADGEN_PY), json.dumps(config)]
    return ["node", str(LOADGEN), json.dumps(config)]


def measure(
    scenario: Scenario, contender: Contender, settings: Settings, log: Path
) -> dict[str, Any]:
    """Start the server(s) and the generator, measure one window, stop them.

    Returns:
        The run's metrics (the keys of ``scenario.metrics``) and its CPU utilizations.

    Raises:
        RunError: a process failed or timed out.
    """
    pin_server = ["taskset", "-c", settings.pin[0]] if settings.pin else []
    pin_generator = ["taskset", "-c", settings.pin[1]] if settings.pin else []
    ports = [_free_port() for _ in range(scenario.nodes)]
    servers: list[subprocess.Popen[bytes]] = []
    generator: subprocess.Popen[str] | None = None
    with log.open("w") as log_file:
        try:
            for port in ports:
                serve = contender.command(settings.python, port, scenario.transport)
                command = [*pin_server, *serve]
                command += server_extra_args(scenario, settings)
                if scenario.nodes > 1 and settings.redis_url:
                    command += ["--redis", settings.redis_url]
                servers.append(
                    subprocess.Popen(
                        command, stdin=subprocess.DEVNULL, stdout=log_file, stderr=log_file
                    )
                )
            for proc, port in zip(servers, ports, strict=True):
                _wait_listening(port, proc, 30)
                if contender.workers > 1:
                    _wait_ready_line(log, proc, 60)
            config = generator_config(scenario, contender, settings, ports)
            generator = subprocess.Popen(
                [*pin_generator, *generator_command(scenario, settings, config)],
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=log_file,
                text=True,
                bufsize=1,
            )
            cores = (int(settings.pin[0]), int(settings.pin[1])) if settings.pin else None
            redis_pid = settings.redis_pid if scenario.nodes > 1 else None
            tree = contender.workers > 1
            return _drive(scenario, config, servers, generator, cores, redis_pid, tree)
        except RunError as exc:
            raise RunError(f"{exc} [log: {_tail(log)}]") from None
        finally:
            _stop(generator)
            for proc in servers:
                _stop(proc)


def _drive(
    scenario: Scenario,
    config: dict[str, Any],
    servers: list[subprocess.Popen[bytes]],
    generator: subprocess.Popen[str],
    cores: tuple[int, int] | None,
    redis_pid: int | None,
    tree: bool = False,
) -> dict[str, Any]:
    assert generator.stdout is not None
    assert generator.stdin is not None
    lines: queue.Queue[str | None] = queue.Queue()
    threading.Thread(target=_reader, args=(generator.stdout, lines), daemon=True).start()
    deadline = time.monotonic() + config["warmup_s"] + config["duration_s"] + 180

    cpu = tree_cpu_seconds if tree else cpu_seconds

    def server_cpu() -> float:
        try:
            return sum(cpu(proc.pid) for proc in servers)
        except (OSError, ValueError) as exc:
            raise RunError(f"server gone: {exc}") from None

    def server_rss() -> int:
        return sum(rss_kib(proc.pid) for proc in servers)

    def redis_cpu() -> float:
        try:
            return cpu_seconds(redis_pid) if redis_pid else 0.0
        except (OSError, ValueError) as exc:
            raise RunError(f"redis-server gone: {exc}") from None

    # name -> (wall, server CPU, generator CPU, busy time of the server's and generator's
    # cores, Redis CPU)
    marks: dict[str, tuple[float, float, float, float, float, float]] = {}

    def mark(name: str) -> None:
        server_busy = core_busy_seconds(cores[0]) if cores else 0.0
        generator_busy = core_busy_seconds(cores[1]) if cores else 0.0
        marks[name] = (
            time.monotonic(),
            server_cpu(),
            cpu_seconds(generator.pid),
            server_busy,
            generator_busy,
            redis_cpu(),
        )

    result: dict[str, Any] = {}
    rss: dict[str, int] = {}
    while True:
        try:
            line = lines.get(timeout=max(0.0, deadline - time.monotonic()))
        except queue.Empty:
            raise RunError("the generator timed out") from None
        if line is None:
            break
        message = json.loads(line)
        event = message.pop("event")
        if event == "error":
            raise RunError(f"generator: {message['message']}")
        if event == "mark" and message["name"] == "warm":
            time.sleep(SETTLE_S)
            rss["before"] = server_rss()
            mark("start")
            generator.stdin.write("go\n")
            generator.stdin.flush()
        elif event == "idle":
            mark("end")
            time.sleep(SETTLE_S)
            rss["after"] = server_rss()
            result = message
            generator.stdin.write("close\n")
            generator.stdin.flush()
        elif event == "mark":
            mark(message["name"])
        elif event in ("result", "connected"):
            result.update(message)
    if generator.wait(timeout=10) != 0:
        raise RunError(f"generator exited with status {generator.returncode}")
    if "start" not in marks or "end" not in marks:
        raise RunError("the generator ended without a measured window")
    (t0, s0, g0, sc0, gc0, r0), (t1, s1, g1, sc1, gc1, r1) = marks["start"], marks["end"]
    wall = t1 - t0
    cpu_ms = (s1 - s0) * 1000
    run: dict[str, Any] = {
        "server_cpu_util": (s1 - s0) / wall,
        "generator_cpu_util": (g1 - g0) / wall,
        # What else ran on each pinned core: other people's processes on a shared machine.
        # run.py pins its redis-server (S6) to the server's core: it is not "others".
        "server_core_others": (
            max(0.0, (sc1 - sc0) - (s1 - s0) - (r1 - r0)) / wall if cores else None
        ),
        "generator_core_others": max(0.0, (gc1 - gc0) - (g1 - g0)) / wall if cores else None,
        "server_cpu_ms": cpu_ms,
        "wall_s": wall,
        "generator": result,
    }
    if redis_pid:
        # Redis' own CPU, apart: the server CPU (and its cost per delivery) is the nodes' sum.
        run |= {"redis_cpu_util": (r1 - r0) / wall, "redis_cpu_ms": (r1 - r0) * 1000}
    return run | window_metrics(scenario, result, cpu_ms, rss)


def window_metrics(
    scenario: Scenario, result: dict[str, Any], cpu_ms: float, rss: dict[str, int]
) -> dict[str, Any]:
    """The scenario's metrics from the generator's result and the server's CPU in the window.

    Args:
        scenario: what was run.
        result: the generator's ``result`` (or ``idle``) line.
        cpu_ms: the server's CPU milliseconds over the window (every node, every process).
        rss: the server's RSS in KiB ``before`` and ``after`` the connects (S3).

    Raises:
        RunError: nothing completed in the window.
    """
    done = result.get("round_trips", result.get("deliveries", result.get("connects")))
    if not done:
        raise RunError("nothing completed in the measured window (a stalled server?)")
    run: dict[str, Any]
    if scenario.mode is Mode.ECHO:
        trips = result["round_trips"]
        megabytes = trips * result["payload_bytes"] / 1e6
        run = {
            "round_trips_per_s": result["round_trips_per_s"],
            "p50_ms": result["p50_ms"],
            "p99_ms": result["p99_ms"],
            "mb_per_s": result["mb_per_s"],
            "cpu_ms_per_1k": cpu_ms / (trips / 1000) if trips else None,
            "cpu_ms_per_mb": cpu_ms / megabytes if megabytes else None,
        }
        if "tcp_connects" in result:
            # polling: how many TCP connections each round trip opened (0 with keep-alive, about
            # 2 without: its POST, and the GET that received its acknowledgement)
            run["tcp_connects_per_round_trip"] = result["tcp_connects"] / trips
    elif scenario.mode is Mode.BROADCAST:
        deliveries = result["deliveries"]
        run = {
            "deliveries_per_s": result["deliveries_per_s"],
            "cpu_ms_per_1k": cpu_ms / (deliveries / 1000) if deliveries else None,
            # from client 0's `broadcast` event to each client's receipt of the round
            "delivery_p50_ms": result.get("p50_ms"),
            "delivery_p99_ms": result.get("p99_ms"),
        }
    else:
        connects = result["connects"]
        run = {
            "rss_kib_per_conn": (rss["after"] - rss["before"]) / connects,
            "connects_per_s": result["connects_per_s"],
            "cpu_ms_per_1k": cpu_ms / (connects / 1000),
            "rss_kib_before": rss["before"],
            "rss_kib_after": rss["after"],
        }
    return run
