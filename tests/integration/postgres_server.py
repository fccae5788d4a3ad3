"""A throwaway PostgreSQL cluster for tests: ``initdb`` in a temporary directory, ``pg_ctl
start`` on a free 127.0.0.1 port, stopped by PID.

The binaries are Debian's (``/usr/lib/postgresql/<version>/bin``, from the ``postgresql``
package that scripts/system-deps.sh installs) or ``$PG_BIN``. PostgreSQL refuses to run as
root: when the tests run as root (as CI does), the cluster belongs to the ``postgres``
system user that the Debian package creates, and its commands run as that user. The Unix
socket lives in the temporary directory too; nothing listens beyond loopback; fsync is off.
Each test gets a database of its own (:meth:`PostgresServer.create_database`), since
LISTEN/NOTIFY channels are per database.
"""

from __future__ import annotations

import contextlib
import glob
import os
import pwd
import shutil
import signal
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Any

from conftest import free_port

__all__ = ["ATTACHMENTS_TABLE", "PG_BIN", "PostgresServer", "PostgresServerError", "find_pg_bin"]

HOST = "127.0.0.1"
START_TIMEOUT = 20.0
STOP_TIMEOUT = 10.0
SUPERUSER = "postgres"

#: The attachment table, as the Node adapter's README gives it.
ATTACHMENTS_TABLE = """
CREATE TABLE IF NOT EXISTS socket_io_attachments (
    id          bigserial UNIQUE,
    created_at  timestamptz DEFAULT NOW(),
    payload     bytea
);
"""


class PostgresServerError(RuntimeError):
    """The cluster would not initialise, start or stop in time."""


def find_pg_bin() -> str | None:
    """The directory holding ``initdb`` and ``pg_ctl`` (``$PG_BIN``, then the newest
    /usr/lib/postgresql/*/bin, then PATH), or None."""
    candidates = [os.environ.get("PG_BIN")]
    versions = glob.glob("/usr/lib/postgresql/*/bin/initdb")
    versions.sort(
        key=lambda path: int(Path(path).parts[-3]) if Path(path).parts[-3].isdigit() else 0
    )
    candidates += [str(Path(path).parent) for path in reversed(versions)]
    on_path = shutil.which("initdb")
    candidates.append(str(Path(on_path).parent) if on_path else None)
    for candidate in candidates:
        if candidate and all(os.access(Path(candidate, b), os.X_OK) for b in ("initdb", "pg_ctl")):
            return candidate
    return None


PG_BIN = find_pg_bin()


def _alive(pid: int) -> bool:
    """Whether ``pid`` runs (a zombie, which nobody may reap here, counts as gone)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    with contextlib.suppress(OSError):
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        return fields[0] != "Z"
    return True


class PostgresServer:
    """One PostgreSQL cluster in a temporary directory.

    Args:
        bin_dir: The directory of ``initdb`` and ``pg_ctl``.
    """

    def __init__(self, bin_dir: str) -> None:
        self.bin_dir = bin_dir
        self.port = free_port()
        self.tmp = Path(tempfile.mkdtemp(prefix="socketwire-pg-"))
        self.data = self.tmp / "data"
        self.pid: int | None = None
        self._run_as: dict[str, Any] = {}
        self._databases = 0
        if os.geteuid() == 0:
            try:
                user = pwd.getpwnam(SUPERUSER)
            except KeyError:
                raise PostgresServerError(
                    f"running as root, and there is no {SUPERUSER!r} user to run PostgreSQL "
                    "as (the Debian postgresql package creates it: run `make system-deps`)"
                ) from None
            os.chown(self.tmp, user.pw_uid, user.pw_gid)
            self._run_as = {"user": user.pw_uid, "group": user.pw_gid, "extra_groups": []}

    def dsn(self, database: str = "postgres") -> str:
        """A DSN for asyncpg and node-pg (TCP, trust authentication)."""
        return f"postgresql://{SUPERUSER}@{HOST}:{self.port}/{database}"

    def _run(self, *argv: str, timeout: float) -> None:
        result = subprocess.run(
            argv,
            stdin=subprocess.DEVNULL,
            capture_output=True,
            timeout=timeout,
            cwd=self.tmp,
            check=False,
            **self._run_as,
        )
        if result.returncode != 0:
            out = (result.stdout + result.stderr).decode(errors="replace")[-2000:]
            raise PostgresServerError(f"{argv[0]} failed ({result.returncode}):\n{out}")

    def start(self) -> None:
        """initdb, then start the server and wait until it accepts connections.

        Raises:
            PostgresServerError: Either step failed or took too long.
        """
        bin_dir = Path(self.bin_dir)
        initdb = [str(bin_dir / "initdb"), "-D", str(self.data), "-A", "trust"]
        initdb += ["-U", SUPERUSER, "-E", "UTF8", "--locale=C", "--no-sync", "--no-instructions"]
        self._run(*initdb, timeout=START_TIMEOUT)
        options = f"-p {self.port} -k {self.tmp} -c listen_addresses={HOST} -c fsync=off"
        options += " -c synchronous_commit=off -c full_page_writes=off"
        pg_ctl = [str(bin_dir / "pg_ctl"), "-D", str(self.data), "-l", str(self.tmp / "log")]
        pg_ctl += ["-w", "-t", str(int(START_TIMEOUT)), "-o", options, "start"]
        try:
            self._run(*pg_ctl, timeout=START_TIMEOUT + 5)
        except PostgresServerError as exc:
            raise PostgresServerError(f"{exc}\n{self.log()[-2000:]}") from None
        self.pid = int((self.data / "postmaster.pid").read_text().split()[0])

    def psql(self, sql: str, database: str = "postgres") -> None:
        """Run ``sql`` with psql (as the superuser, over TCP)."""
        psql = str(Path(self.bin_dir, "psql"))
        self._run(
            psql,
            "-X",
            "-q",
            "-v",
            "ON_ERROR_STOP=1",
            "-d",
            self.dsn(database),
            "-c",
            sql,
            timeout=STOP_TIMEOUT,
        )

    def create_database(self, *, attachments: bool = True) -> str:
        """A new, empty database (with the attachment table unless told not to); its name."""
        self._databases += 1
        name = f"t{self._databases}"
        self.psql(f"CREATE DATABASE {name}")
        if attachments:
            self.psql(ATTACHMENTS_TABLE, name)
        return name

    def stop(self) -> None:
        """Stop the server by PID (fast shutdown, SIGINT; SIGKILL if it lingers), then
        remove the directory."""
        pid, self.pid = self.pid, None
        try:
            if pid is not None and _alive(pid):
                os.kill(pid, signal.SIGINT)
                deadline = time.monotonic() + STOP_TIMEOUT
                while _alive(pid) and time.monotonic() < deadline:
                    time.sleep(0.02)
                if _alive(pid):
                    os.kill(pid, signal.SIGKILL)
                    raise PostgresServerError(f"postgres {pid} did not stop; killed")
        finally:
            shutil.rmtree(self.tmp, ignore_errors=True)

    def log(self) -> str:
        """What the server wrote to its log."""
        try:
            return (self.tmp / "log").read_text(errors="replace")
        except OSError:
            return ""
