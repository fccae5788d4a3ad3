"""A throwaway nginx in front of several servers: round robin, no stickiness, no keep-alive.

Debian's nginx (``make system-deps`` installs it; its own service is never started) runs
from a configuration written into a temporary directory, with ``nginx -p DIR -c CONF -e LOG
-g 'daemon off;'``, on a free 127.0.0.1 port, and is stopped by its PID. Every request goes
to the next server in turn on a new upstream connection, WebSocket upgrades included; a
server that refuses connections is skipped for that request (``proxy_next_upstream``).
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import time
from collections.abc import Iterator, Sequence
from pathlib import Path

__all__ = ["NGINX", "NginxProxy", "NginxProxyError", "find_nginx", "round_robin"]

HOST = "127.0.0.1"
START_TIMEOUT = 10.0
STOP_TIMEOUT = 5.0


class NginxProxyError(RuntimeError):
    """nginx would not start (or stop) in time."""


def find_nginx() -> str | None:
    """The nginx binary (``$NGINX``, then PATH, then /usr/sbin), or None."""
    for candidate in (os.environ.get("NGINX"), shutil.which("nginx"), "/usr/sbin/nginx"):
        if candidate and Path(candidate).is_file() and os.access(candidate, os.X_OK):
            return candidate
    return None


NGINX = find_nginx()

_CONFIG = """\
{user}worker_processes 1;
pid {dir}/nginx.pid;
events {{ worker_connections 1024; }}
http {{
    access_log {dir}/access.log;
    client_body_temp_path {dir}/body;
    proxy_temp_path {dir}/proxy;
    fastcgi_temp_path {dir}/fastcgi;
    uwsgi_temp_path {dir}/uwsgi;
    scgi_temp_path {dir}/scgi;
    # Round robin (nginx's default), no sticky sessions, never a server marked down.
    upstream servers {{
{servers}
    }}
    map $http_upgrade $connection_upgrade {{
        default upgrade;
        ''      close;
    }}
    server {{
        listen {host}:{port};
        location / {{
            proxy_pass http://servers;
            proxy_http_version 1.1;
            # No keep-alive to the servers: each request may land on any of them.
            proxy_set_header Connection $connection_upgrade;
            proxy_set_header Upgrade $http_upgrade;
            proxy_buffering off;
            proxy_read_timeout 60s;
        }}
    }}
}}
"""


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((HOST, 0))
        port: int = sock.getsockname()[1]
        return port


def _accepts(port: int) -> bool:
    try:
        with socket.create_connection((HOST, port), timeout=0.5):
            return True
    except OSError:
        return False


class NginxProxy:
    """One nginx master (and its worker) in front of ``ports``.

    Args:
        binary: The nginx executable.
        ports: The 127.0.0.1 ports of the servers behind it.
        directory: Where its configuration, logs and temporary files go.
    """

    def __init__(self, binary: str, ports: Sequence[int], directory: Path) -> None:
        self.binary = binary
        self.ports = list(ports)
        self.directory = directory
        self.port = 0
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        """``http://127.0.0.1:<port>``."""
        return f"http://{HOST}:{self.port}"

    @property
    def error_log(self) -> Path:
        """nginx's error log."""
        return self.directory / "error.log"

    def start(self) -> None:
        """Write the configuration and start nginx on a free port; wait until it accepts
        connections (retrying once on another port if that one was taken meanwhile).

        Raises:
            NginxProxyError: It exited or did not listen in time.
        """
        self.directory.mkdir(parents=True, exist_ok=True)
        for _ in range(3):
            if self._try_start(_free_port()):
                return
        raise NginxProxyError(f"nginx did not start:\n{self.log()[-2000:]}")

    def _try_start(self, port: int) -> bool:
        self.port = port
        servers = "\n".join(f"        server {HOST}:{p} max_fails=0;" for p in self.ports)
        user = "user root root;\n" if os.geteuid() == 0 else ""
        config = self.directory / "nginx.conf"
        config.write_text(
            _CONFIG.format(user=user, dir=self.directory, servers=servers, host=HOST, port=port)
        )
        argv = [self.binary, "-p", str(self.directory), "-c", str(config)]
        argv += ["-e", str(self.error_log), "-g", "daemon off;"]
        # Its own process group: stop() can reach the worker too, even if the master died.
        self.proc = subprocess.Popen(
            argv,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        deadline = time.monotonic() + START_TIMEOUT
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                break
            if _accepts(port):
                return True
            time.sleep(0.02)
        self.stop()
        return False

    def stop(self) -> None:
        """Stop nginx (SIGTERM to the master's PID: a fast shutdown); kill its process
        group (its worker too) if it lingers."""
        proc, self.proc = self.proc, None
        if proc is None:
            return
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(timeout=STOP_TIMEOUT)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(proc.pid, signal.SIGKILL)
                proc.wait(timeout=STOP_TIMEOUT)

    def log(self) -> str:
        """nginx's error log so far (for failure messages)."""
        try:
            return self.error_log.read_text(errors="replace")
        except OSError:
            return ""


@contextlib.contextmanager
def round_robin(ports: Sequence[int], directory: Path) -> Iterator[NginxProxy]:
    """An nginx round robin in front of ``ports``, stopped on exit."""
    if NGINX is None:
        raise NginxProxyError("nginx is not installed (run `make system-deps`)")
    proxy = NginxProxy(NGINX, ports, directory)
    proxy.start()
    try:
        yield proxy
    finally:
        proxy.stop()
