"""bench/profile/idle_memory.py on a few connections: it opens them and charges what they hold."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

SCRIPT = Path(__file__).resolve().parents[1] / "profile" / "idle_memory.py"


def _run(*args: str) -> dict[str, object]:
    done = subprocess.run(
        [sys.executable, str(SCRIPT), "--clients", "20", "--warm", "5", *args],
        capture_output=True,
        text=True,
        check=True,
        timeout=120,
    )
    result: dict[str, object] = json.loads(done.stdout)
    return result


def test_in_process_by_layer() -> None:
    result = _run()
    assert result["mode"] == "inproc"
    assert result["clients"] == 20
    layers = result["by_layer"]
    assert isinstance(layers, dict)
    total = result["bytes_per_connection"]
    assert isinstance(total, int)
    assert total > 1000  # a connection costs something
    # every layer of the stack holds something of an idle connection
    for layer in (
        "http: HttpConnection, handshake",
        "socket.io: Socket",
        "engine.io: ServerSession (core)",
    ):
        assert layers[layer] > 0
    assert abs(sum(layers.values()) - total) <= len(layers)


def test_by_type_counts_the_sockets() -> None:
    result = _run("--by", "type", "--top", "100")
    rows = result["by_type"]
    assert isinstance(rows, list)
    counts = {row["type"]: row["objects"] for row in rows}
    assert counts["Socket"] == 20
    assert counts["NativeWebSocket"] == 20
