"""A throwaway RabbitMQ for tests: Debian's ``rabbitmq-server`` started in a temporary
directory on free 127.0.0.1 ports, stopped by PID.

Everything the node writes (its database, logs, Erlang cookie, feature flags) goes to the
temporary directory, and the Debian package's own service and configuration are not used:
``/etc/rabbitmq/rabbitmq-env.conf`` is replaced by an empty file, no plugin is enabled.
Erlang's port mapper (epmd) is started by this module first, in the foreground on
127.0.0.1 and a free port (``ERL_EPMD_ADDRESS``, ``ERL_EPMD_PORT``), so that the node uses it
rather than starting a daemon of its own, and it is stopped by PID with the node (epmd also
listens on ::1, loopback too: it always does). The node listens for AMQP and for Erlang
distribution (``RABBITMQ_DIST_PORT``) on 127.0.0.1 only. The node is ready when it answers
the AMQP protocol header with ``Connection.Start`` (bounded by :data:`START_TIMEOUT`).
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import IO

import pytest

from conftest import free_port

__all__ = [
    "RABBITMQ_SERVER",
    "RabbitServer",
    "RabbitServerError",
    "find_rabbitmq_server",
    "rabbitmq_server",
]

HOST = "127.0.0.1"
#: Bound on the node booting (an Erlang VM and the broker's boot steps, on a loaded machine).
START_TIMEOUT = 90.0
STOP_TIMEOUT = 20.0
#: Erlang's distribution (the node's, and rabbitmqctl's) on loopback only.
_LOOPBACK_DIST = "-kernel inet_dist_use_interface {127,0,0,1}"
#: The AMQP 0-9-1 protocol header a client opens with.
_PROTOCOL_HEADER = b"AMQP\x00\x00\x09\x01"


class RabbitServerError(RuntimeError):
    """rabbitmq-server would not start (or stop) in time."""


def find_rabbitmq_server() -> tuple[str, str] | None:
    """The ``rabbitmq-server`` script and the ``epmd`` binary, or None.

    The script is the package's own (``/usr/lib/rabbitmq/bin``), not the ``/usr/sbin``
    wrapper, which would switch to the ``rabbitmq`` user and its home directory;
    ``$RABBITMQ_SERVER`` overrides it.
    """
    scripts = [os.environ.get("RABBITMQ_SERVER"), "/usr/lib/rabbitmq/bin/rabbitmq-server"]
    script = next((s for s in scripts if s and os.access(s, os.X_OK)), None)
    epmds = [shutil.which("epmd"), *sorted(Path("/usr/lib/erlang").glob("erts-*/bin/epmd"))]
    epmd = next((str(e) for e in epmds if e and os.access(e, os.X_OK)), None)
    if script is None or epmd is None:
        return None
    return script, epmd


RABBITMQ_SERVER = find_rabbitmq_server()


def _answers_amqp(port: int) -> bool:
    """Whether the broker on ``port`` answers the protocol header with a method frame
    (``Connection.Start``): it accepts AMQP connections."""
    try:
        with socket.create_connection((HOST, port), timeout=1.0) as sock:
            sock.sendall(_PROTOCOL_HEADER)
            # frame type 1 (method), channel 0, then class 10 method 10 after the size
            head = sock.recv(11)
            return len(head) == 11 and head[0] == 1 and head[7:11] == b"\x00\x0a\x00\x0a"
    except OSError:
        return False


def _stop(proc: subprocess.Popen[bytes], sig: int) -> None:
    """Signal ``proc``'s process group (its PID: it leads a session of its own), then kill
    the group if it lingers."""
    if proc.poll() is None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, sig)
        with contextlib.suppress(subprocess.TimeoutExpired):
            proc.wait(timeout=STOP_TIMEOUT)
    # The Erlang VM's helpers (erl_child_setup, inet_gethost) are in the same group.
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGKILL)
    with contextlib.suppress(subprocess.TimeoutExpired):
        proc.wait(timeout=STOP_TIMEOUT)


class RabbitServer:
    """One RabbitMQ node (and its epmd) in a temporary directory.

    Args:
        script: The ``rabbitmq-server`` script.
        epmd: The ``epmd`` binary.
    """

    def __init__(self, script: str, epmd: str) -> None:
        self.script = script
        self.epmd = epmd
        self.port = free_port()
        self.tmp = Path(tempfile.mkdtemp(prefix="socketwire-rabbitmq-"))
        self.nodename = f"socketwire{self.port}@localhost"
        self.node: subprocess.Popen[bytes] | None = None
        self._env: dict[str, str] = {}
        self.epmd_proc: subprocess.Popen[bytes] | None = None
        self._log: IO[bytes] | None = None

    @property
    def url(self) -> str:
        """``amqp://guest:guest@127.0.0.1:<port>//`` (the default user may log in from
        loopback; ``//`` is the default virtual host ``/``, as python-socketio writes it)."""
        return f"amqp://guest:guest@{HOST}:{self.port}//"

    def _environ(self, epmd_port: int) -> dict[str, str]:
        tmp = self.tmp
        (tmp / "rabbitmq-env.conf").write_text("")
        (tmp / "enabled_plugins").write_text("[].\n")
        (tmp / "rabbitmq.conf").write_text("")
        keep = ("PATH", "LANG", "LC_ALL", "TMPDIR")
        env = {name: os.environ[name] for name in keep if name in os.environ}
        env.update(
            {
                "HOME": str(tmp),  # the Erlang cookie
                "RABBITMQ_CONF_ENV_FILE": str(tmp / "rabbitmq-env.conf"),
                "RABBITMQ_CONFIG_FILE": str(tmp / "rabbitmq.conf"),
                "RABBITMQ_ENABLED_PLUGINS_FILE": str(tmp / "enabled_plugins"),
                "RABBITMQ_MNESIA_BASE": str(tmp / "mnesia"),
                "RABBITMQ_LOG_BASE": str(tmp / "log"),
                "RABBITMQ_LOGS": "-",  # to the log file below
                "RABBITMQ_NODENAME": self.nodename,
                "RABBITMQ_NODE_IP_ADDRESS": HOST,
                "RABBITMQ_NODE_PORT": str(self.port),
                "RABBITMQ_DIST_PORT": str(free_port()),
                # Erlang distribution listens on every interface unless told
                "RABBITMQ_SERVER_ADDITIONAL_ERL_ARGS": _LOOPBACK_DIST,
                "RABBITMQ_CTL_ERL_ARGS": _LOOPBACK_DIST,
                "ERL_EPMD_ADDRESS": HOST,
                "ERL_EPMD_PORT": str(epmd_port),
            }
        )
        return env

    def start(self) -> None:
        """Start epmd, then the node, and wait until it accepts AMQP connections.

        Raises:
            RabbitServerError: It exited or did not answer in time.
        """
        epmd_port = free_port()
        env = self._env = self._environ(epmd_port)
        self._log = (self.tmp / "node.log").open("wb")
        self.epmd_proc = subprocess.Popen(
            [self.epmd, "-address", HOST, "-port", str(epmd_port)],
            stdin=subprocess.DEVNULL,
            stdout=self._log,
            stderr=subprocess.STDOUT,
            env=env,
            start_new_session=True,
        )
        self.node = subprocess.Popen(
            [self.script],
            stdin=subprocess.DEVNULL,
            stdout=self._log,
            stderr=subprocess.STDOUT,
            cwd=self.tmp,
            env=env,
            start_new_session=True,
        )
        deadline = time.monotonic() + START_TIMEOUT
        while time.monotonic() < deadline:
            if self.node.poll() is not None:
                break
            if _answers_amqp(self.port):
                return
            time.sleep(0.2)
        log = self.log()[-3000:]
        self.stop()
        raise RabbitServerError(f"rabbitmq-server did not start on port {self.port}:\n{log}")

    def stop(self) -> None:
        """Stop the node (SIGTERM to its PID's group, SIGKILL if it lingers), then epmd,
        then remove the directory."""
        try:
            node, self.node = self.node, None
            if node is not None:
                _stop(node, signal.SIGTERM)
            epmd, self.epmd_proc = self.epmd_proc, None
            if epmd is not None:
                _stop(epmd, signal.SIGTERM)
        finally:
            if self._log is not None:
                self._log.close()
                self._log = None
            shutil.rmtree(self.tmp, ignore_errors=True)

    def close_connections(self) -> None:
        """Close every client connection (``rabbitmqctl close_all_connections``), as a
        broker that restarts or drops its clients does.

        Raises:
            RabbitServerError: rabbitmqctl failed.
        """
        ctl = str(Path(self.script).with_name("rabbitmqctl"))
        argv = [ctl, "-n", self.nodename, "close_all_connections", "socketwire test"]
        result = subprocess.run(
            argv, env=self._env, cwd=self.tmp, capture_output=True, timeout=60, check=False
        )
        if result.returncode != 0:
            out = (result.stdout + result.stderr).decode(errors="replace")[-2000:]
            raise RabbitServerError(f"rabbitmqctl failed ({result.returncode}):\n{out}")

    def log(self) -> str:
        """What the node and epmd printed."""
        try:
            return (self.tmp / "node.log").read_text(errors="replace")
        except OSError:
            return ""


@pytest.fixture(scope="session")
def rabbitmq_server() -> Iterator[RabbitServer]:
    """A RabbitMQ node in a temporary directory on a free 127.0.0.1 port, stopped (by PID,
    with its epmd) at the end of the session.

    Skips only when RabbitMQ is not installed (``make system-deps`` installs it) or aio-pika
    is missing (the ``amqp`` extra; ``dev`` has it).
    """
    pytest.importorskip("aio_pika", reason="aio-pika is not installed (pip install -e '.[dev]')")
    if RABBITMQ_SERVER is None:
        pytest.skip("rabbitmq-server is not installed (run `make system-deps`)")
    server = RabbitServer(*RABBITMQ_SERVER)
    try:
        server.start()
        yield server
    finally:
        server.stop()
