"""The command line's --workers and socketwire.run, short of starting processes."""

from __future__ import annotations

import pytest

import socketwire
from socketwire.cli import _parser, _worker_command, main
from socketwire.workers.worker import WorkerConfig


def test_run_with_several_workers_needs_the_app_as_an_import_string() -> None:
    with pytest.raises(ValueError, match="module:attribute"):
        socketwire.run(socketwire.Server(serve_client=False), workers=2)


@pytest.mark.parametrize("count", ["0", "-1", "two"])
def test_a_bad_number_of_workers_is_a_usage_error(
    count: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as exc:
        main(["serve", "--workers", count])
    assert exc.value.code == 2
    assert "worker" in capsys.readouterr().err


def test_more_workers_than_a_sid_can_name_is_refused(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["serve", "--workers", "65"]) == 2
    assert "between 1 and 64" in capsys.readouterr().err


def test_a_worker_config_that_is_not_one_is_refused(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["serve", "--worker", '{"index": 0}']) == 2
    assert "not a worker configuration" in capsys.readouterr().err
    assert main(["serve", "--worker", WorkerConfig(70, 71, "/tmp", "abcd").to_json()]) == 2


def test_each_worker_serves_what_the_primary_was_asked_to_serve() -> None:
    args = _parser().parse_args(
        [
            "serve",
            "--workers",
            "3",
            "--redis",
            "redis://h:1",
            "--cors-origin",
            "a",
            "--cors-origin",
            "b",
        ]
    )
    command = _worker_command(args)
    assert command[1:4] == ["-m", "socketwire", "serve"]
    assert "--workers" not in command
    assert command[command.index("--redis") + 1] == "redis://h:1"
    assert [command[i + 1] for i, a in enumerate(command) if a == "--cors-origin"] == ["a", "b"]
    config = WorkerConfig(2, 3, "/tmp/x", "abcd")
    assert WorkerConfig.from_json(config.to_json()) == config
