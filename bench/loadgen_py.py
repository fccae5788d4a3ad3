"""The Python load generator of bench/: socketwire's own client, for the scenarios the
Node generator cannot run (S1-WT: WebTransport, which Node's socket.io-client reaches only
through the native @fails-components/webtransport), and their WebSocket reference (S1-WS-py).

    python loadgen_py.py '<config JSON>'

It speaks loadgen.js's protocol (see its head, and bench/README.md "Generator protocol"),
for the echo mode only: ``connected``, ``mark start``, ``mark end``, ``result``, or
``error``. The configuration is loadgen.js's, plus ``ca``: the PEM certificate to trust
for WebTransport (the server's self-signed one).
"""

from __future__ import annotations

import asyncio
import json
import ssl
import sys
import time
from typing import Any

import socketwire


def emit(event: str, **fields: Any) -> None:
    """One JSON line on stdout."""
    sys.stdout.write(json.dumps({"event": event, **fields}) + "\n")
    sys.stdout.flush()


def percentile(sorted_values: list[float], p: float) -> float | None:
    """The ``p``-th percentile of sorted values, as loadgen.js computes it."""
    if not sorted_values:
        return None
    index = min(len(sorted_values) - 1, int(p / 100 * len(sorted_values)))
    return sorted_values[index]


def payload_of(spec: dict[str, Any]) -> str | bytes:
    """The echoed payload: ``bytes`` times ``a`` (binary) or ``x`` (text)."""
    size = int(spec["bytes"])
    return b"a" * size if spec["kind"] == "binary" else "x" * size


async def run(config: dict[str, Any]) -> dict[str, Any]:
    """Connect the clients, echo in a closed loop, measure one window."""
    if config["mode"] != "echo":
        raise ValueError(f"loadgen_py.py runs the echo mode only, not {config['mode']!r}")
    context = ssl.create_default_context(cafile=config["ca"]) if config.get("ca") else None
    clients = []
    started = time.perf_counter()
    for index in range(int(config["clients"])):
        client = socketwire.AsyncClient(
            transports=[config["transport"]], ssl=context, reconnection=False
        )
        await client.connect(config["urls"][index % len(config["urls"])])
        clients.append(client)
    emit("connected", clients=len(clients), connect_s=time.perf_counter() - started)
    payload = payload_of(config["payload"])
    payload_bytes = len(payload) if isinstance(payload, bytes) else len(payload.encode())
    timeout = float(config.get("timeout_s", 60))
    state = {"measuring": False, "stopped": False, "count": 0}
    latencies: list[float] = []

    async def loop(client: socketwire.AsyncClient) -> None:
        while not state["stopped"]:
            sent = time.perf_counter()
            answer = await client.timeout(timeout).emit_with_ack("echo", payload)
            if answer != payload:
                raise RuntimeError("the echo differs from what was sent")
            if state["measuring"]:
                state["count"] += 1
                latencies.append(time.perf_counter() - sent)

    tasks = [asyncio.ensure_future(loop(c)) for c in clients]
    await asyncio.sleep(float(config["warmup_s"]))
    state["measuring"], state["count"] = True, 0
    latencies.clear()
    emit("mark", name="start")
    window_start = time.perf_counter()
    await asyncio.sleep(float(config["duration_s"]))
    elapsed = time.perf_counter() - window_start
    emit("mark", name="end")
    state["measuring"], state["stopped"] = False, True
    count = int(state["count"])
    await asyncio.gather(*tasks)
    for client in clients:
        await client.disconnect()
    ordered = sorted(latencies)
    p50, p99 = percentile(ordered, 50), percentile(ordered, 99)
    return {
        "round_trips": count,
        "elapsed_s": elapsed,
        "round_trips_per_s": count / elapsed,
        "p50_ms": p50 * 1000 if p50 is not None else None,
        "p99_ms": p99 * 1000 if p99 is not None else None,
        "payload_bytes": payload_bytes,
        "mb_per_s": count * payload_bytes / elapsed / 1e6,
    }


def main() -> None:
    """Run the configuration given as the first argument."""
    config = json.loads(sys.argv[1])
    try:
        result = asyncio.run(run(config))
    except Exception as exc:
        emit("error", message=f"{type(exc).__name__}: {exc}")
        sys.exit(1)
    emit("result", **result)


if __name__ == "__main__":
    main()
