"""The contenders (servers) and the scenarios of the benchmark, as data."""

from __future__ import annotations

import enum
from dataclasses import dataclass, replace
from pathlib import Path

__all__ = [
    "BASELINES",
    "CHART_BASELINES",
    "CONTENDERS",
    "SCENARIOS",
    "Better",
    "Contender",
    "Metric",
    "Mode",
    "Protocol",
    "Scenario",
    "baseline_contender",
]

SERVERS = Path(__file__).resolve().parent / "servers"


class Better(enum.Enum):
    """Which way a metric improves."""

    HIGHER = "higher"
    LOWER = "lower"


class Protocol(enum.Enum):
    """What a server speaks, hence which client the generator uses."""

    SOCKETIO = "socketio"
    RAW = "raw"  # the floor: bare WebSocket, or bare HTTP for long-polling


class Mode(enum.Enum):
    """What the load generator does (see loadgen.js)."""

    ECHO = "echo"
    BROADCAST = "broadcast"
    IDLE = "idle"


@dataclass(frozen=True, slots=True)
class Metric:
    """One number a scenario reports.

    Attributes:
        key: its name in the JSON record.
        label: its column header.
        better: which way it improves.
        short: its name on the chart.
        digits: decimals shown in the table.
    """

    key: str
    label: str
    better: Better
    short: str
    digits: int = 0


@dataclass(frozen=True, slots=True)
class Contender:
    """A server under test.

    Attributes:
        key: short name (command line, JSON).
        label: name in the table.
        script: file in bench/servers/ (``.py`` runs on the bench Python, ``.js`` on node).
        polling_script: the script for the long-polling scenarios, when not ``script`` (the
            raw floor's).
        protocol: Socket.IO, or the raw floor (WebSocket, or HTTP for long-polling).
        needs_socketwire: only runs when ``socketwire.Server`` imports.
        needs_pydantic: only runs when pydantic imports (typed handlers).
        cluster: the server takes ``--redis URL`` and joins a cluster (S6).
        args: extra command-line options for the script.
        default: part of a run that names no contenders.
        only: the keys of the scenarios it runs, by prefix (empty: every scenario).
        workers: server processes it runs (more than 1: only in the scenarios that name it,
            S7; its CPU is the sum over its process tree).
        env: environment variables set for the server (``--baseline``: the older tree's
            ``PYTHONPATH``).
    """

    key: str
    label: str
    script: str
    protocol: Protocol
    needs_socketwire: bool = False
    needs_pydantic: bool = False
    cluster: bool = False
    args: tuple[str, ...] = ()
    default: bool = True
    only: tuple[str, ...] = ()
    workers: int = 1
    env: tuple[tuple[str, str], ...] = ()
    polling_script: str | None = None

    def command(self, python: str, port: int, transport: str = "websocket") -> list[str]:
        """The command line that serves ``transport``'s scenarios on ``port``."""
        script = self.script
        if transport == "polling" and self.polling_script is not None:
            script = self.polling_script
        path = str(SERVERS / script)  # an absolute script stays itself
        runner = ["node"] if script.endswith(".js") else [python]
        prefix = ["env", *(f"{name}={value}" for name, value in self.env)] if self.env else []
        return [*prefix, *runner, path, "--port", str(port), *self.args]


def baseline_contender(tree: Path, revision: str) -> Contender:
    """socketwire's native server as another checkout of it has it (``run.py --baseline``).

    The checkout's own ``bench/servers/socketwire_native.py`` on its own ``src/``: a before and
    after of one change, side by side in one run.
    """
    return Contender(
        "socketwire-base",
        f"socketwire (native) at {revision}",
        str(tree / "bench" / "servers" / "socketwire_native.py"),
        Protocol.SOCKETIO,
        needs_socketwire=True,
        cluster=True,
        env=(("PYTHONPATH", str(tree / "src")),),
    )


#: Every contender is also given as a ratio against these, measured in the same run (S7 has
#: its own).
BASELINES: tuple[str, ...] = ("node", "psio-uvicorn", "psio-aiohttp")
#: The chart's panels: the baselines, and the raw floor.
CHART_BASELINES: tuple[str, ...] = (*BASELINES, "raw")


@dataclass(frozen=True, slots=True)
class Scenario:
    """One measured situation.

    Attributes:
        key: short name (``S1-50``).
        title: what it is, for the table.
        mode: what the generator does.
        clients: connections in a full run.
        quick_clients: connections in ``--quick`` mode.
        payload_kind: ``text`` or ``binary``.
        payload_bytes: size of each payload.
        transport: ``websocket`` or ``polling``.
        keep_alive: polling over kept-alive HTTP connections (False: a new TCP connection
            for every request, ``Connection: close``).
        metrics: what it reports, the first being its headline.
        ratio_metrics: keys of the metrics given as ratios against the baselines.
        floor: what the raw floor measures here (None: the floor does not apply).
        nodes: server processes (2 for the cluster scenario).
        quick: part of ``--quick``.
        depth: broadcast rounds in flight (S2, S6): enough to keep a server busy, few enough
            that no contender is measured draining a backlog.
        contenders: when set, only these contenders run it (S7), and the contenders with
            several workers run nothing else.
        baselines: the contenders its ratios are against.
        note: said under its table.
        generator: ``node`` (loadgen.js) or ``python`` (loadgen_py.py: socketwire's own
            client, the one generator that speaks WebTransport here).
    """

    key: str
    title: str
    mode: Mode
    clients: int
    quick_clients: int
    metrics: tuple[Metric, ...]
    ratio_metrics: tuple[str, ...]
    floor: str | None
    payload_kind: str = "text"
    payload_bytes: int = 32
    transport: str = "websocket"
    keep_alive: bool = True
    nodes: int = 1
    quick: bool = False
    depth: int = 4
    contenders: tuple[str, ...] = ()
    baselines: tuple[str, ...] = BASELINES
    note: str | None = None
    generator: str = "node"


_ECHO_METRICS = (
    Metric("round_trips_per_s", "round trips/s", Better.HIGHER, "rt/s"),
    Metric("p50_ms", "p50 ms", Better.LOWER, "p50", 3),
    Metric("p99_ms", "p99 ms", Better.LOWER, "p99", 3),
    Metric("cpu_ms_per_1k", "server CPU ms / 1k rt", Better.LOWER, "CPU/rt", 1),
)
_FANOUT_METRICS = (
    Metric("deliveries_per_s", "deliveries/s", Better.HIGHER, "deliveries/s"),
    Metric("cpu_ms_per_1k", "server CPU ms / 1k deliveries", Better.LOWER, "CPU/delivery", 2),
    # From client 0's `broadcast` event to each client's receipt of that round's `bcast`.
    Metric("delivery_p50_ms", "delivery p50 ms", Better.LOWER, "delivery p50", 2),
    Metric("delivery_p99_ms", "delivery p99 ms", Better.LOWER, "delivery p99", 2),
)
_FANOUT_RATIOS = ("deliveries_per_s", "cpu_ms_per_1k", "delivery_p99_ms")
_ECHO_RATIOS = ("round_trips_per_s", "cpu_ms_per_1k")
_RAW_ECHO = "raw echo: the same bytes a Socket.IO client sends, returned verbatim"

CONTENDERS: tuple[Contender, ...] = (
    Contender(
        "socketwire",
        "socketwire (native)",
        "socketwire_native.py",
        Protocol.SOCKETIO,
        needs_socketwire=True,
        cluster=True,
    ),
    # The same server with typed handlers: what payload validation costs per event (text
    # echo, broadcast, binary echo), beside the same server without.
    Contender(
        "socketwire-validated",
        "socketwire (native, validated handlers)",
        "socketwire_native.py",
        Protocol.SOCKETIO,
        needs_socketwire=True,
        needs_pydantic=True,
        args=("--validated",),
        only=("S1", "S2", "S5"),
    ),
    Contender(
        "socketwire-asgi",
        "socketwire (ASGI, uvicorn)",
        "socketwire_asgi.py",
        Protocol.SOCKETIO,
        needs_socketwire=True,
        cluster=True,
    ),
    Contender(
        "psio-uvicorn",
        "python-socketio (ASGI, uvicorn)",
        "psio_uvicorn.py",
        Protocol.SOCKETIO,
        cluster=True,
    ),
    Contender(
        "psio-aiohttp",
        "python-socketio (aiohttp)",
        "psio_aiohttp.py",
        Protocol.SOCKETIO,
        cluster=True,
    ),
    Contender("node", "Node socket.io 4.8", "node_socketio.js", Protocol.SOCKETIO, cluster=True),
    # The floor: WebSocket framing alone (websockets), or for long-polling the HTTP requests
    # alone (httptools).
    Contender(
        "raw",
        "raw floor (websockets; httptools for polling)",
        "raw_websockets.py",
        Protocol.RAW,
        polling_script="raw_polling.py",
    ),
    # What counting costs: the native server with socketwire.metrics enabled (and scraped by
    # nobody), on the per-event and the fan-out paths, beside the same server without.
    Contender(
        "socketwire-metrics",
        "socketwire (native, metrics on)",
        "socketwire_native.py",
        Protocol.SOCKETIO,
        needs_socketwire=True,
        args=("--metrics",),
        only=("S1", "S2"),
    ),
    # S7 only: the same servers in two worker processes each.
    Contender(
        "socketwire-workers",
        "socketwire --workers 2",
        "socketwire_native.py",
        Protocol.SOCKETIO,
        needs_socketwire=True,
        args=("--workers", "2"),
        only=("S7",),
        workers=2,
    ),
    Contender(
        "node-cluster",
        "Node socket.io, @socket.io/sticky + cluster-adapter, 2 workers",
        "node_cluster.js",
        Protocol.SOCKETIO,
        args=("--workers", "2"),
        only=("S7",),
        workers=2,
    ),
    # Not run by default: the native server on the stdlib loop, to see what uvloop buys.
    Contender(
        "socketwire-stdloop",
        "socketwire (native, stdlib loop)",
        "socketwire_native.py",
        Protocol.SOCKETIO,
        needs_socketwire=True,
        args=("--loop", "asyncio"),
        default=False,
    ),
)


_WORKERS_NOTE = (
    "The machine has 2 cores, and every server (all its processes) is pinned to one: this "
    "is the CPU each operation costs, the price of the hop between workers, not how "
    "throughput scales with workers."
)
_FANOUT_NOTE = (
    "Delivery latency: from the moment client 0 sends a round's `broadcast` event to each "
    "client's receipt of that round's `bcast` (one generator process, one clock), over the "
    "deliveries of the window; with up to 4 rounds outstanding, it includes the wait behind "
    "the earlier ones."
)
_S7 = ("socketwire-workers", "socketwire", "node-cluster")
_S7_BASELINES = ("node-cluster", "socketwire")

# S4, and S4-50 and S4-50-nka below are the same with 50 clients, with and without keep-alive.
_S4 = Scenario(
    "S4",
    "polling echo with ack, 1 client",
    Mode.ECHO,
    clients=1,
    quick_clients=1,
    metrics=_ECHO_METRICS,
    ratio_metrics=_ECHO_RATIOS,
    floor=(
        "raw polling: the same HTTP requests answered by a bare httptools server "
        "(the packets by string operations, no Engine.IO checks)"
    ),
    transport="polling",
)

_SCENARIOS: tuple[Scenario, ...] = (
    Scenario(
        "S1-1",
        "echo with ack, 1 client",
        Mode.ECHO,
        clients=1,
        quick_clients=1,
        metrics=_ECHO_METRICS,
        ratio_metrics=_ECHO_RATIOS,
        floor=_RAW_ECHO,
    ),
    Scenario(
        "S1-50",
        "echo with ack, 50 clients",
        Mode.ECHO,
        clients=50,
        quick_clients=50,
        metrics=_ECHO_METRICS,
        ratio_metrics=_ECHO_RATIOS,
        floor=_RAW_ECHO,
        quick=True,
    ),
    Scenario(
        "S2",
        "broadcast fan-out",
        Mode.BROADCAST,
        clients=1000,
        quick_clients=200,
        metrics=_FANOUT_METRICS,
        ratio_metrics=_FANOUT_RATIOS,
        floor="raw fan-out: the frame a Socket.IO server would send, sent verbatim to all",
        quick=True,
        note=_FANOUT_NOTE,
    ),
    Scenario(
        "S3",
        "idle WebSocket clients",
        Mode.IDLE,
        clients=5000,
        quick_clients=1000,
        metrics=(
            Metric("rss_kib_per_conn", "RSS KiB / connection", Better.LOWER, "RSS/conn", 1),
            Metric("connects_per_s", "connects/s", Better.HIGHER, "connects/s"),
            Metric("cpu_ms_per_1k", "server CPU ms / 1k connects", Better.LOWER, "CPU/connect"),
        ),
        ratio_metrics=("rss_kib_per_conn", "connects_per_s"),
        floor="bare WebSocket connections (no Engine.IO handshake, no ping timer)",
        quick=True,
    ),
    _S4,
    replace(
        _S4, key="S4-50", title="polling echo with ack, 50 clients", clients=50, quick_clients=50
    ),
    replace(
        _S4,
        key="S4-50-nka",
        title="polling echo with ack, 50 clients, no keep-alive",
        clients=50,
        quick_clients=50,
        # the headline: what a new TCP connection for every request costs the server
        metrics=(_ECHO_METRICS[3], *_ECHO_METRICS[:3]),
        keep_alive=False,
        note=(
            "Every HTTP request opens a new TCP connection and asks the server to close it "
            "after its response (`Connection: close`): about 2 connections per round trip."
        ),
    ),
    Scenario(
        "S5",
        "binary 64 KiB echo with ack, 1 client",
        Mode.ECHO,
        clients=1,
        quick_clients=1,
        metrics=(
            Metric("mb_per_s", "MB/s (one way)", Better.HIGHER, "MB/s", 1),
            Metric("p50_ms", "p50 ms", Better.LOWER, "p50", 3),
            Metric("cpu_ms_per_mb", "server CPU ms / MB", Better.LOWER, "CPU/MB", 2),
        ),
        ratio_metrics=("mb_per_s", "cpu_ms_per_mb"),
        floor="raw echo of the 64 KiB binary frame alone (no attachment header packet)",
        payload_kind="binary",
        payload_bytes=64 * 1024,
        quick=True,
    ),
    Scenario(
        "S6",
        "broadcast fan-out through 2 nodes + Redis",
        Mode.BROADCAST,
        clients=1000,
        quick_clients=200,
        metrics=_FANOUT_METRICS,
        ratio_metrics=_FANOUT_RATIOS,
        floor=None,
        nodes=2,
        note=_FANOUT_NOTE,
    ),
    Scenario(
        "S7-echo",
        "S1 (echo with ack, 50 clients) through 2 worker processes",
        Mode.ECHO,
        clients=50,
        quick_clients=50,
        metrics=(_ECHO_METRICS[3], _ECHO_METRICS[0], _ECHO_METRICS[1]),
        ratio_metrics=("cpu_ms_per_1k",),
        floor=None,
        quick=True,
        contenders=_S7,
        baselines=_S7_BASELINES,
        note=_WORKERS_NOTE,
    ),
    Scenario(
        "S7-fanout",
        "S2 (broadcast fan-out) through 2 worker processes",
        Mode.BROADCAST,
        clients=1000,
        quick_clients=200,
        metrics=(_FANOUT_METRICS[1], _FANOUT_METRICS[0], *_FANOUT_METRICS[2:]),
        ratio_metrics=("cpu_ms_per_1k",),
        floor=None,
        quick=True,
        contenders=_S7,
        baselines=_S7_BASELINES,
        note=f"{_WORKERS_NOTE} {_FANOUT_NOTE}",
    ),
    # S1 over WebTransport against S1 over WebSocket, both from the same Python generator
    # (socketwire's client): only socketwire serves WebTransport (Node socket.io needs the
    # native @fails-components/webtransport; python-socketio has none), so these two rows
    # compare the transports, not the servers.
    *(
        Scenario(
            key,
            title,
            Mode.ECHO,
            clients=1,
            quick_clients=1,
            metrics=_ECHO_METRICS,
            ratio_metrics=(),
            floor=None,
            transport=transport,
            generator="python",
            contenders=("socketwire",),
            baselines=(),
        )
        for key, title, transport in (
            (
                "S1-WT",
                "echo with ack over WebTransport, 1 client (Python generator)",
                "webtransport",
            ),
            (
                "S1-WS-py",
                "echo with ack over WebSocket, 1 client (Python generator, S1-WT's reference)",
                "websocket",
            ),
        )
    ),
)

#: Every scenario, each with a ratio against the raw floor too where it has one.
SCENARIOS: tuple[Scenario, ...] = tuple(
    replace(s, baselines=(*s.baselines, "raw")) if s.floor is not None else s for s in _SCENARIOS
)
