"""The README's server and client snippets, run together: the README cannot rot."""

from __future__ import annotations

import asyncio
import contextlib
import io
import re
import socket
import subprocess
import sys
from pathlib import Path
from typing import Any

from socketwire.io.native import NativeServer

README = Path(__file__).resolve().parents[2] / "README.md"
README_PORT = "8000"


def snippets() -> list[str]:
    """The README's Python code blocks, in order."""
    return re.findall(r"```python\n(.*?)```", README.read_text(encoding="utf-8"), re.DOTALL)


def run_module(source: str, name: str) -> dict[str, Any]:
    """Execute a snippet as a module named ``name`` (so its ``__main__`` block is skipped)."""
    namespace: dict[str, Any] = {"__name__": name}
    exec(compile(source, f"README.md:{name}", "exec"), namespace)
    return namespace


def test_readme_has_a_server_and_a_client() -> None:
    server, client = snippets()[:2]
    assert "socketwire.Server(" in server
    assert f'"127.0.0.1", {README_PORT}' in server
    assert "AsyncClient(" in client
    assert f"http://127.0.0.1:{README_PORT}" in client
    # about ten lines each, as promised
    for code in (server, client):
        assert len([line for line in code.splitlines() if line.strip()]) <= 15


async def test_readme_client_talks_to_readme_server() -> None:
    server_code, client_code = snippets()[:2]
    server_ns = run_module(server_code, "readme_server")
    plumbing = NativeServer(server_ns["sio"], "127.0.0.1", 0)
    await plumbing.start()
    try:
        client_code = client_code.replace(f"127.0.0.1:{README_PORT}", f"127.0.0.1:{plumbing.port}")
        client_ns = run_module(client_code, "readme_client")
        out = io.StringIO()
        with contextlib.redirect_stdout(out):
            await client_ns["main"]()
        assert out.getvalue() == "ok\n"
    finally:
        await plumbing.close()


async def test_readme_client_says_when_there_is_no_server() -> None:
    client_code = snippets()[1]
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]  # free, and nothing will listen there
    client_code = client_code.replace(f"127.0.0.1:{README_PORT}", f"127.0.0.1:{port}")
    client_ns = run_module(client_code, "readme_client")
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        await asyncio.wait_for(client_ns["main"](), 10)  # at once, not forever
    assert out.getvalue().startswith("cannot connect: xhr poll error: Cannot connect to host")


def test_testing_howto_example_passes(tmp_path: Path) -> None:
    """The pytest example of docs/howto/testing.md, run by pytest as a user would."""
    howto = README.parent / "docs" / "howto" / "testing.md"
    text = howto.read_text(encoding="utf-8")
    config = re.findall(r"```toml\n(.*?)```", text, re.DOTALL)[0]
    code = re.findall(r"```python\n(.*?)```", text, re.DOTALL)[0]
    (tmp_path / "pyproject.toml").write_text(config, encoding="utf-8")
    (tmp_path / "test_chat.py").write_text(code, encoding="utf-8")
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            "-q",
            "-p",
            "no:cacheprovider",
            "-W",
            "error",
            "--rootdir",
            str(tmp_path),
            str(tmp_path / "test_chat.py"),
        ],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=100,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "3 passed" in result.stdout


def test_readme_links_point_at_files_that_exist() -> None:
    text = README.read_text()
    links = [target for target in re.findall(r"\]\(([^)#\s]+)", text) if "://" not in target]
    assert links, "the README links into docs/"
    missing = [target for target in links if not (README.parent / target).exists()]
    assert missing == []
