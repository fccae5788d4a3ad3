"""What a new user meets first: `make help`, `make serve`, the wheel, and the lock files.

- `make serve PORT=... HOST=...` installs only the runtime dependencies (into .venv-serve)
  and serves the demo with the browser client;
- the wheel `make dist` builds carries the official browser client and its license: installed
  into an empty venv, its `socketwire serve` serves the demo and `/socket.io/socket.io.js`
  with no npm and no checkout;
- every lock file pins every package with hashes and names no index;
- under CI a skipped test fails the run (tests/ci_skips.py).
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import shutil
import signal
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from conftest import JS_DIR, free_port, http_request
from integration._processes import run_process, serve_process
from socketwire.client import AsyncClient

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]
NPM_DIST = JS_DIR / "node_modules" / "socket.io-client" / "dist"
# Installs and builds take seconds with a warm cache, much longer with a cold one.
INSTALL = 300.0


def _uv() -> str:
    """The project's pinned installer (`make install` puts it in .tools/)."""
    for candidate in (os.environ.get("UV"), str(ROOT / ".tools" / "bin" / "uv"), "uv"):
        if candidate and shutil.which(candidate):
            return candidate
    pytest.skip("uv is not installed (`make install` installs the pinned one into .tools/)")


def _make_env() -> dict[str, str]:
    # a make running these tests must not pass its jobserver or flags to the inner make
    env = {k: v for k, v in os.environ.items() if k not in ("MAKEFLAGS", "MAKELEVEL", "MFLAGS")}
    env.pop("VIRTUAL_ENV", None)
    return env


def test_make_help_lists_the_targets_in_one_screen() -> None:
    import subprocess

    out = subprocess.run(
        ["make", "--no-print-directory", "help"],
        cwd=ROOT,
        env=_make_env(),
        capture_output=True,
        text=True,
        timeout=30,
        check=True,
    ).stdout
    lines = out.splitlines()
    assert len(lines) <= 24
    targets = {line.split()[0] for line in lines[1:]}
    assert {"serve", "test", "dist", "lock", "lock-upgrade", "install", "help"} <= targets
    assert "PORT=3000" in lines[0]


@pytest.fixture
async def make_serve() -> AsyncIterator[tuple[asyncio.subprocess.Process, int]]:
    """`make serve PORT=<free> HOST=127.0.0.1` in its own process group, stopped by SIGINT."""
    port = free_port()
    proc = await asyncio.create_subprocess_exec(
        "make",
        "--no-print-directory",
        "serve",
        f"PORT={port}",
        "HOST=127.0.0.1",
        cwd=ROOT,
        env={**_make_env(), "PYTHONUNBUFFERED": "1"},
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
        start_new_session=True,
    )
    try:
        yield proc, port
    finally:
        if proc.returncode is None:
            os.killpg(proc.pid, signal.SIGINT)
            try:
                async with asyncio.timeout(10):
                    await proc.wait()
            except TimeoutError:
                os.killpg(proc.pid, signal.SIGKILL)
                await proc.wait()


async def test_make_serve_installs_only_the_runtime_and_takes_port(
    make_serve: tuple[asyncio.subprocess.Process, int],
) -> None:
    proc, port = make_serve
    assert proc.stdout is not None
    output: list[str] = []

    async def listening() -> None:
        while line := (await proc.stdout.readline()).decode():  # type: ignore[union-attr]
            output.append(line)
            if f"listening on http://127.0.0.1:{port}/" in line:
                return
        pytest.fail(f"make serve exited: {''.join(output)}")

    async with asyncio.timeout(INSTALL):
        await listening()
    page = await http_request(port, "GET", "/")
    bundle = await http_request(port, "GET", "/socket.io/socket.io.min.js")
    assert page.status == 200
    assert "<title>socketwire chat</title>" in page.text
    assert bundle.status == 200
    assert bundle.body == (NPM_DIST / "socket.io.min.js").read_bytes()

    # only what serving needs: the locked runtime packages, the package itself, and uvloop
    status, out, err = await run_process(
        "-c",
        "import importlib.metadata as m; print(sorted(d.metadata['Name'].lower() "
        "for d in m.distributions()))",
        program=[str(ROOT / ".venv-serve" / "bin" / "python")],
    )
    assert status == 0, err
    installed = {_normal(name) for name in json.loads(out.replace("'", '"'))}
    locked = _locked(ROOT / "requirements" / "runtime.txt")
    assert "socketwire" in installed
    assert installed - {"socketwire", "pip", "setuptools"} <= locked
    assert {"pytest", "mypy", "playwright", "django"}.isdisjoint(installed)


def _normal(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def _locked(path: Path) -> set[str]:
    return {
        _normal(match.group(1))
        for match in re.finditer(r"^([A-Za-z0-9_.-]+)==", path.read_text(), re.MULTILINE)
    }


def test_every_lock_file_pins_with_hashes_and_names_no_index() -> None:
    files = [*sorted((ROOT / "requirements").glob("*.txt")), ROOT / "bench/requirements-peers.txt"]
    assert {p.name for p in files} >= {"bootstrap.txt", "runtime.txt", "dev.txt", "min.txt"}
    for path in files:
        text = path.read_text()
        pins = re.findall(
            r"^([A-Za-z0-9_.-]+)==\S+(?: ;[^\\\n]*)? \\\n\s+--hash=sha256:", text, re.M
        )
        entries = re.findall(r"^[A-Za-z0-9_.-]+[=<>~!]", text, re.MULTILINE)
        assert pins, path
        assert len(pins) == len(entries), f"{path}: an entry without an exact pin and hashes"
        assert "--index-url" not in text
        assert "://" not in text, f"{path} names an address"
    # the test tools of the lowest-versions run are those of the development lock
    dev = (ROOT / "requirements" / "dev.txt").read_text()
    for pin in re.findall(r"^\S+==\S+$", (ROOT / "requirements/min-tools.in").read_text(), re.M):
        assert re.search(rf"^{re.escape(pin)} ", dev, re.MULTILINE), pin


async def test_the_wheel_serves_the_demo_and_the_browser_client_from_an_empty_venv(
    tmp_path: Path,
) -> None:
    uv = _uv()
    out_dir = tmp_path / "dist"
    status, _, err = await run_process(
        "build",
        "--quiet",
        "--build-constraint",
        str(ROOT / "requirements" / "build.txt"),
        "--require-hashes",
        "--out-dir",
        str(out_dir),
        str(ROOT),
        program=[uv],
        limit=INSTALL,
    )
    assert status == 0, err
    (wheel,) = out_dir.glob("socketwire-*.whl")
    (sdist,) = out_dir.glob("socketwire-*.tar.gz")  # the wheel was built from it
    assert sdist.stat().st_size > 0

    venv = tmp_path / "venv"
    status, _, err = await run_process(
        "venv", "--quiet", "--python", sys.executable, str(venv), program=[uv]
    )
    assert status == 0, err
    status, _, err = await run_process(
        "pip",
        "install",
        "--quiet",
        "--python",
        str(venv / "bin" / "python"),
        "--constraint",
        str(ROOT / "requirements" / "runtime.txt"),
        str(wheel),
        program=[uv],
        limit=INSTALL,
    )
    assert status == 0, err

    # run from an empty directory, with no hint where a bundle is: only the wheel's copy
    env = {"SOCKETWIRE_CLIENT_DIST": ""}
    cwd = tmp_path / "elsewhere"
    cwd.mkdir()
    async with serve_process(program=[str(venv / "bin" / "socketwire")], cwd=cwd, env=env) as srv:
        page = await http_request(srv.port, "GET", "/")
        assert page.status == 200
        assert "<title>socketwire chat</title>" in page.text
        for name in ("socket.io.js", "socket.io.min.js", "socket.io.msgpack.min.js"):
            bundle = await http_request(srv.port, "GET", f"/socket.io/{name}")
            assert bundle.status == 200, name
            assert bundle.body == (NPM_DIST / name).read_bytes()
            assert bundle.header("etag") == '"4.8.4"'
        client = AsyncClient(reconnection=False)
        await client.connect(srv.url, auth={"nickname": "wheel"}, wait_timeout=10)
        try:
            hello = await client.timeout(5).emit_with_ack("hello", {})
            assert hello["nickname"] == "wheel"
        finally:
            await client.disconnect()
        assert await srv.stop() == 0
    out = "".join(srv.stdout)
    site = venv / "lib"
    assert re.search(rf"serving socket.io-client 4.8.4 from {re.escape(str(site))}\S*", out), out

    # the wheel records what it ships, with the license texts
    status, out, err = await run_process(
        "-c",
        "import json, pathlib, socketwire; d = pathlib.Path(socketwire.__file__).parent; "
        "print(json.dumps([json.loads((d / '_assets/ASSETS.json').read_text()), "
        "(d / '_assets/socket.io-client/LICENSE').read_text()]))",
        program=[str(venv / "bin" / "python")],
        cwd=cwd,
    )
    assert status == 0, err
    manifest, license_text = json.loads(out)
    assert manifest["socket.io-client"]["version"] == "4.8.4"
    assert set(manifest["socket.io-client"]["files"]) >= {"dist/socket.io.min.js"}
    assert "MIT" in license_text or "Permission is hereby granted" in license_text


def test_a_skip_fails_the_run_under_ci(tmp_path: Path) -> None:
    import subprocess

    (tmp_path / "test_skips.py").write_text(
        "import pytest\n"
        "def test_needs_something():\n"
        "    pytest.skip('something is missing')\n"
        "@pytest.mark.xfail(reason='known', strict=True)\n"
        "def test_known_bug():\n"
        "    raise AssertionError\n"
    )
    (tmp_path / "test_module_skip.py").write_text(
        "import pytest\npytest.skip('no browser', allow_module_level=True)\n"
    )

    FLAGS = ["-p", "no:cacheprovider", "--continue-on-collection-errors"]

    def run(ci: str) -> subprocess.CompletedProcess[str]:
        env = {**os.environ, "CI": ci, "PYTHONPATH": str(ROOT / "tests")}
        return subprocess.run(
            [sys.executable, "-m", "pytest", "-p", "ci_skips", "-q", *FLAGS],
            cwd=tmp_path,
            env=env,
            capture_output=True,
            text=True,
            timeout=60,
        )

    local = run("")
    assert local.returncode == 0, local.stdout
    assert "2 skipped, 1 xfailed" in local.stdout
    ci = run("true")
    assert ci.returncode == 1, ci.stdout
    assert "skipped while CI is set, which fails the run: something is missing" in ci.stdout
    assert "skipped while CI is set, which fails the run: no browser" in ci.stdout
    assert "1 xfailed" in ci.stdout
