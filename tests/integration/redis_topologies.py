"""Throwaway Redis topologies for tests: a Redis Cluster of 3 masters, and a master with a
replica watched by Sentinel. Every process runs on free 127.0.0.1 ports in a temporary
directory and is stopped by PID; every wait is bounded."""

from __future__ import annotations

import contextlib
import shutil
import socket
import subprocess
import tempfile
import time
from pathlib import Path

from .redis_server import HOST, REDIS_SERVER, RedisServer, RedisServerError, free_port

__all__ = [
    "REDIS_CLI",
    "REDIS_SENTINEL",
    "RedisClusterSetup",
    "SentinelProcess",
    "SentinelSetup",
    "command",
]

REDIS_CLI = shutil.which("redis-cli") or (
    "/usr/bin/redis-cli" if Path("/usr/bin/redis-cli").exists() else None
)
REDIS_SENTINEL = shutil.which("redis-sentinel") or (
    "/usr/bin/redis-sentinel" if Path("/usr/bin/redis-sentinel").exists() else None
)
#: Bound on a topology becoming ready (cluster slots agreed, a failover done).
READY_TIMEOUT = 20.0


def _encode(*args: str) -> bytes:
    out = [f"*{len(args)}\r\n".encode()]
    for arg in args:
        data = arg.encode()
        out.append(b"$%d\r\n%s\r\n" % (len(data), data))
    return b"".join(out)


def _read_reply(sock: socket.socket) -> bytes:
    """The raw bytes of one reply (enough for the small replies these helpers read)."""
    data = b""
    sock.settimeout(2)
    while True:
        chunk = sock.recv(65536)
        if not chunk:
            return data
        data += chunk
        if data.endswith(b"\r\n"):
            return data


def command(port: int, *args: str) -> bytes:
    """Send one command to 127.0.0.1:``port``; its raw reply (b"" when unreachable)."""
    try:
        with socket.create_connection((HOST, port), timeout=2) as sock:
            sock.sendall(_encode(*args))
            return _read_reply(sock)
    except OSError:
        return b""


def _wait(what: str, predicate: object, timeout: float = READY_TIMEOUT) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():  # type: ignore[operator]
            return
        time.sleep(0.05)
    raise RedisServerError(f"timed out after {timeout} s waiting for {what}")


class RedisClusterSetup:
    """A Redis Cluster of ``masters`` redis-server processes in cluster mode, no replicas."""

    def __init__(self, masters: int = 3) -> None:
        if REDIS_SERVER is None or REDIS_CLI is None:
            raise RedisServerError("redis-server and redis-cli are needed")
        self._dir = tempfile.TemporaryDirectory(prefix="socketwire-cluster-")
        self.nodes: list[RedisServer] = []
        for _ in range(masters):
            port, bus = free_port(), free_port()
            workdir = Path(self._dir.name) / str(port)
            workdir.mkdir()
            args = ["--cluster-enabled", "yes", "--cluster-config-file", "nodes.conf"]
            args += ["--cluster-port", str(bus), "--cluster-node-timeout", "2000"]
            self.nodes.append(RedisServer(REDIS_SERVER, port, args, cwd=str(workdir)))

    @property
    def ports(self) -> list[int]:
        """The client ports of the masters."""
        return [node.port for node in self.nodes]

    @property
    def url(self) -> str:
        """``redis://`` of the first node (redis-py discovers the others)."""
        return f"redis://{HOST}:{self.nodes[0].port}"

    def start(self) -> None:
        """Start the nodes, create the cluster, and wait until every node says it is ok."""
        for node in self.nodes:
            node.start()
        assert REDIS_CLI is not None
        addresses = [f"{HOST}:{port}" for port in self.ports]
        created = subprocess.run(
            [
                REDIS_CLI,
                "--cluster",
                "create",
                *addresses,
                "--cluster-replicas",
                "0",
                "--cluster-yes",
            ],
            capture_output=True,
            timeout=READY_TIMEOUT,
            check=False,
        )
        if created.returncode != 0:
            raise RedisServerError(f"redis-cli --cluster create failed: {created.stdout!r}")

        def ready() -> bool:
            return all(
                b"cluster_state:ok" in command(port, "CLUSTER", "INFO") for port in self.ports
            )

        _wait("cluster_state:ok on every node", ready)

    def stop(self) -> None:
        """Stop every node (by PID) and remove the directory."""
        for node in self.nodes:
            with contextlib.suppress(RedisServerError):
                node.stop()
        self._dir.cleanup()


class SentinelProcess(RedisServer):
    """One redis-sentinel process, with its own (rewritable) config file."""

    def __init__(self, binary: str, conf: Path) -> None:
        super().__init__(binary, cwd=str(conf.parent))
        self.conf = conf

    def argv(self) -> list[str]:
        """``redis-sentinel <conf> --port P --bind 127.0.0.1``."""
        return [self.binary, str(self.conf), "--port", str(self.port), "--bind", HOST]


class SentinelSetup:
    """A master, a replica, and one Sentinel (quorum 1) watching them as ``name``."""

    def __init__(self, name: str = "mymaster") -> None:
        if REDIS_SERVER is None or REDIS_SENTINEL is None:
            raise RedisServerError("redis-server and redis-sentinel are needed")
        self.name = name
        self._dir = tempfile.TemporaryDirectory(prefix="socketwire-sentinel-")
        self.master = RedisServer(REDIS_SERVER)
        replica_args = ["--replicaof", HOST, str(self.master.port)]
        self.replica = RedisServer(REDIS_SERVER, extra_args=replica_args)
        conf = Path(self._dir.name) / "sentinel.conf"
        conf.write_text(
            f"sentinel monitor {name} {HOST} {self.master.port} 1\n"
            f"sentinel down-after-milliseconds {name} 500\n"
            f"sentinel failover-timeout {name} 4000\n"
            f"sentinel parallel-syncs {name} 1\n"
        )
        self.sentinel = SentinelProcess(REDIS_SENTINEL, conf)

    @property
    def sentinels(self) -> list[tuple[str, int]]:
        """The Sentinel addresses, as redis-py's ``Sentinel`` takes them."""
        return [(HOST, self.sentinel.port)]

    def master_port(self) -> int | None:
        """The port of the master Sentinel currently names (None if it names none)."""
        reply = command(self.sentinel.port, "SENTINEL", "GET-MASTER-ADDR-BY-NAME", self.name)
        parts = reply.split(b"\r\n")
        # *2 $9 127.0.0.1 $5 <port>
        return int(parts[4]) if len(parts) >= 5 and parts[4].isdigit() else None

    def start(self) -> None:
        """Start the master, the replica (in sync) and the Sentinel (aware of the replica)."""
        self.master.start()
        self.replica.start()
        _wait(
            "the replica in sync",
            lambda: b"master_link_status:up" in command(self.replica.port, "INFO", "replication"),
        )
        self.sentinel.start()
        _wait(
            "Sentinel to see the replica",
            lambda: (
                b"num-slaves" in command(self.sentinel.port, "SENTINEL", "MASTER", self.name)
                and str(self.replica.port).encode()
                in command(self.sentinel.port, "SENTINEL", "REPLICAS", self.name)
            ),
        )

    def failover(self) -> int:
        """Kill the master (SIGKILL, a crash); wait until Sentinel promoted the replica and it
        accepts writes. Returns the new master's port."""
        self.master.kill()
        expected = self.replica.port

        def promoted() -> bool:
            return self.master_port() == expected and b"role:master" in command(
                expected, "INFO", "replication"
            )

        _wait("Sentinel to promote the replica", promoted)
        return expected

    def stop(self) -> None:
        """Stop every process (by PID) and remove the directory."""
        for process in (self.sentinel, self.replica, self.master):
            with contextlib.suppress(RedisServerError):
                process.stop()
        self._dir.cleanup()
