#!/usr/bin/env python3
"""Run the side-by-side benchmarks: socketwire against python-socketio, Node socket.io, raw WS.

For every (scenario, contender, repeat) it starts the server pinned to one core and the Node
load generator (loadgen.js) pinned to the other, reads the server's CPU time from
/proc/PID/stat around the generator's measured window (and RSS from /proc/PID/status for the
idle scenario), then stops both. It writes bench/results/<UTC timestamp>.json (every run),
.md (medians, min-max, ratios against the baselines measured in the same run) and .png.

    bench/.peers/venv/bin/python bench/run.py            # full run (make bench)
    bench/.peers/venv/bin/python bench/run.py --quick    # about a minute (make bench-quick)
    ... --scenarios S1-50,S2 --contenders node,psio-uvicorn --repeats 1 --duration 2

Run bench/setup.sh first. See bench/README.md for what each number means.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from environment import availability, host, pinning, raise_nofile, skip_reason, versions
from measure import RunError, Settings, generator_config, measure
from redisproc import RedisProcess, find_redis_server
from report import add_ratios, draw_chart, render_markdown, summarize_contender
from scenarios import (
    CHART_BASELINES,
    CONTENDERS,
    SCENARIOS,
    Contender,
    Scenario,
    baseline_contender,
)

__all__ = ["main", "setup_line"]

BENCH = Path(__file__).resolve().parent


def _parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--quick", action="store_true", help="the one-minute subset")
    parser.add_argument("--scenarios", help="comma-separated keys (default: all, or the quick set)")
    parser.add_argument("--contenders", help="comma-separated keys (default: all)")
    parser.add_argument("--repeats", type=int, help="runs of each pair (default 3, quick 1)")
    parser.add_argument("--warmup", type=float, help="seconds before each window (2; quick 0.5)")
    parser.add_argument("--duration", type=float, help="seconds of each window (5; quick 1.5)")
    parser.add_argument("--scale", type=float, default=1.0, help="multiply client counts")
    parser.add_argument(
        "--client",
        choices=("lite", "sio"),
        default="lite",
        help="generator client for WebSocket scenarios: lite (bare ws + minimal Engine.IO/"
        "Socket.IO framing, default) or sio (the official socket.io-client)",
    )
    parser.add_argument("--python", default=sys.executable, help="Python for the servers")
    parser.add_argument("--no-pin", action="store_true", help="do not use taskset")
    parser.add_argument(
        "--redis-url",
        help="Redis for S6 (default: run.py starts its own redis-server on a free port)",
    )
    parser.add_argument(
        "--baseline",
        type=Path,
        metavar="TREE",
        help="also run socketwire's native server from another checkout (e.g. a git worktree "
        "of an older commit) as the contender socketwire-base, a baseline of every ratio",
    )
    parser.add_argument("--out", type=Path, default=BENCH / "results")
    parser.add_argument("--no-chart", action="store_true")
    return parser.parse_args(argv)


def _headline(scenario: Scenario, run: dict[str, Any]) -> str:
    parts = []
    for metric in scenario.metrics[:2]:
        value = run.get(metric.key)
        if value is not None:
            parts.append(f"{value:,.{metric.digits}f} {metric.label}")
    parts.append(
        f"server {run['server_cpu_util']:.0%} CPU, generator {run['generator_cpu_util']:.0%}"
    )
    if run["server_core_others"] is not None:
        parts.append(f"others on the server's core {run['server_core_others']:.0%}")
    return ", ".join(parts)


def setup_line(scenario: Scenario, clients: int) -> str:
    """What a scenario's table says it ran: clients, payload, transport, nodes."""
    return (
        f"{clients:,} client(s), {scenario.payload_bytes:,} B "
        f"{scenario.payload_kind} payload, {scenario.transport}"
        + ("" if scenario.keep_alive else ", no keep-alive")
        + (f", {scenario.nodes} server nodes" if scenario.nodes > 1 else "")
        + "."
    )


def main(argv: list[str] | None = None) -> int:
    """Run the benchmarks chosen on the command line and write the results."""
    args = _parse_args(argv)
    started = datetime.now(UTC)
    stamp = started.strftime("%Y%m%dT%H%M%SZ")
    args.out.mkdir(parents=True, exist_ok=True)
    settings = Settings(
        python=args.python,
        quick=args.quick,
        repeats=args.repeats or (1 if args.quick else 3),
        warmup_s=args.warmup if args.warmup is not None else (0.5 if args.quick else 2.0),
        duration_s=args.duration or (1.5 if args.quick else 5.0),
        scale=args.scale,
        client=args.client,
        pin=pinning(args.no_pin),
        redis_url=args.redis_url,
        logs=args.out / f"{stamp}-logs",
    )
    settings.logs.mkdir()
    raise_nofile()
    wanted = args.scenarios.split(",") if args.scenarios else None
    scenarios = [
        s for s in SCENARIOS if (s.key in wanted if wanted else (s.quick or not args.quick))
    ]
    wanted_contenders = args.contenders.split(",") if args.contenders else None
    known = CONTENDERS
    if args.baseline:
        base = baseline_contender(args.baseline.resolve(), _revision(args.baseline))
        known = (*CONTENDERS, base)
        wanted_contenders = wanted_contenders and [*wanted_contenders, base.key]
        scenarios = [replace(s, baselines=(*s.baselines, base.key)) for s in scenarios]
    contenders = [
        c for c in known if (c.key in wanted_contenders if wanted_contenders else c.default)
    ]
    unknown = set(wanted or ()) - {s.key for s in SCENARIOS}
    unknown |= set(wanted_contenders or ()) - {c.key for c in known}
    if unknown:
        print(f"unknown scenario or contender: {', '.join(sorted(unknown))}", file=sys.stderr)
        return 2

    redis = None
    if not settings.redis_url and any(s.nodes > 1 for s in scenarios):
        redis = _start_redis(settings)
        if redis is not None:
            settings = replace(settings, redis_url=redis.url, redis_pid=redis.pid)
    try:
        return _run(args, settings, scenarios, (known, contenders), started, stamp)
    finally:
        if redis is not None:
            redis.stop()


def _start_redis(settings: Settings) -> RedisProcess | None:
    """Start the redis-server of the cluster scenario (S6), pinned to the servers' core."""
    binary = find_redis_server()
    if binary is None:
        print("warning: redis-server not found: S6 is skipped", file=sys.stderr)
        return None
    pin = settings.pin[0] if settings.pin else None
    redis = RedisProcess(binary, settings.logs / "redis-server.log", pin)
    try:
        redis.start()
    except RuntimeError as exc:
        print(f"warning: {exc}: S6 is skipped", file=sys.stderr)
        return None
    print(f"started {binary} on {redis.url} (pid {redis.pid})", file=sys.stderr)
    return redis


def _redis_version(settings: Settings) -> str | None:
    binary = find_redis_server()
    if not settings.redis_pid or binary is None:
        return None
    try:
        out = subprocess.run([binary, "--version"], capture_output=True, text=True, timeout=10)
    except (OSError, subprocess.SubprocessError):
        return None
    # "Redis server v=7.0.15 sha=... malloc=jemalloc-5.3.0 bits=64 build=..."
    words = [w for w in out.stdout.split() if w.startswith("v=")]
    return words[0][2:] if words else None


def _revision(tree: Path) -> str:
    """The short commit of a checkout (its path when it is not a git checkout)."""
    try:
        out = subprocess.run(
            ["git", "-C", str(tree), "rev-parse", "--short", "HEAD"],
            capture_output=True,
            text=True,
            timeout=10,
            check=True,
        )
    except (OSError, subprocess.SubprocessError):
        return str(tree)
    return out.stdout.strip()


def _run(
    args: argparse.Namespace,
    settings: Settings,
    scenarios: list[Scenario],
    known_and_chosen: tuple[tuple[Contender, ...], list[Contender]],
    started: datetime,
    stamp: str,
) -> int:
    known, contenders = known_and_chosen
    print("checking contenders...", file=sys.stderr)
    reasons = availability(settings, known)
    for key, reason in reasons.items():
        if reason and any(c.key == key for c in contenders):
            print(f"  {key}: {reason}", file=sys.stderr)
    record: dict[str, Any] = {
        "meta": {
            "started": started.strftime("%Y-%m-%d %H:%M UTC"),
            "quick": settings.quick,
            "repeats": settings.repeats,
            "warmup_s": settings.warmup_s,
            "duration_s": settings.duration_s,
            "scale": settings.scale,
            "client": settings.client,
            "pinning": {
                "server": settings.pin[0] if settings.pin else "none",
                "generator": settings.pin[1] if settings.pin else "none",
            },
            "host": host(),
            "versions": versions(settings.python)
            | ({"redis-server": v} if (v := _redis_version(settings)) else {}),
            "contenders": {c.key: {"label": c.label, "script": c.script} for c in known},
            # the chart's panels
            "baselines": [*CHART_BASELINES, *(["socketwire-base"] if args.baseline else [])],
        },
        "scenarios": [],
    }
    plan: list[tuple[Scenario, Contender, dict[str, Any]]] = []
    for scenario in scenarios:
        config = generator_config(scenario, CONTENDERS[0], settings, [0])
        scenario_record: dict[str, Any] = {
            "key": scenario.key,
            "title": scenario.title,
            "setup": setup_line(scenario, config["clients"]),
            "baselines": list(scenario.baselines),
            "contenders": {},
        }
        for contender in contenders:
            reason = reasons[contender.key] or skip_reason(scenario, contender, settings)
            entry: dict[str, Any] = {"status": "ok", "runs": []}
            if reason:
                entry |= {"status": "skipped", "reason": reason}
            else:
                plan.append((scenario, contender, entry))
            scenario_record["contenders"][contender.key] = entry
        record["scenarios"].append(scenario_record)

    total = len(plan) * settings.repeats
    done = 0
    for repeat in range(settings.repeats):
        # Rounds outermost: drift on a shared machine spreads over every contender alike.
        for scenario, contender, entry in plan:
            done += 1
            prefix = (
                f"[{done}/{total}] {scenario.key} {contender.key} "
                f"run {repeat + 1}/{settings.repeats}"
            )
            if entry["status"] == "failed":
                print(f"{prefix}: skipped after an earlier failure", file=sys.stderr)
                continue
            print(f"{prefix} ...", end=" ", file=sys.stderr, flush=True)
            log = settings.logs / f"{scenario.key}-{contender.key}-{repeat + 1}.log"
            try:
                run = measure(scenario, contender, settings, log)
            except RunError as exc:
                entry["runs"].append({"error": str(exc)})
                entry |= {"status": "failed", "reason": str(exc)[:300]}
                print(f"FAILED: {exc}", file=sys.stderr)
                continue
            entry["runs"].append(run)
            print(_headline(scenario, run), file=sys.stderr)

    by_key = {s.key: s for s in scenarios}
    for scenario_record in record["scenarios"]:
        scenario = by_key[scenario_record["key"]]
        for entry in scenario_record["contenders"].values():
            if entry["status"] == "ok":
                summarize_contender(scenario, entry)
        add_ratios(scenario, scenario_record["contenders"])

    base = args.out / stamp
    base.with_suffix(".json").write_text(json.dumps(record, indent=2) + "\n")
    markdown = render_markdown(record)
    base.with_suffix(".md").write_text(markdown + "\n")
    print(markdown)
    written = [base.with_suffix(".json"), base.with_suffix(".md")]
    if not args.no_chart:
        try:
            if draw_chart(record, base.with_suffix(".png")):
                written.append(base.with_suffix(".png"))
            else:
                print("no ratios to chart", file=sys.stderr)
        except ImportError:
            print("matplotlib missing: no chart (run bench/setup.sh)", file=sys.stderr)
    print("wrote " + ", ".join(str(p) for p in written), file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
