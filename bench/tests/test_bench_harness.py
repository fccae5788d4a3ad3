"""The arithmetic and the reporting of the benchmark harness (no load is run here)."""

# The report under test uses en dashes and multiplication signs.
# ruff: noqa: RUF001

from __future__ import annotations

import json
import sys
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

# bench/ holds scripts side by side, not a package. (No conftest.py here: tests/ imports its
# own conftest by name, and a second one would shadow it.)
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(1, str(Path(__file__).resolve().parents[1] / "servers"))

from environment import skip_reason
from measure import Settings
from procstat import parse_core_busy_seconds, parse_cpu_seconds, parse_rss_kib
from report import (
    add_ratios,
    better_factor,
    render_markdown,
    summarize,
    summarize_contender,
)
from scenarios import BASELINES, CONTENDERS, SCENARIOS, Better
from socketwire_native import make_server

from socketwire.testing import TestClient

# A /proc/PID/stat line whose comm holds a space and a parenthesis, as a thread name may.
STAT = (
    "4242 (node (worker) x) S 1 4242 4242 0 -1 4194304 1000 0 0 0 "
    "250 130 0 0 20 0 11 0 12345 1000000 5000 18446744073709551615"
)


def test_cpu_seconds_are_utime_plus_stime_after_the_last_parenthesis() -> None:
    assert parse_cpu_seconds(STAT, clk_tck=100) == pytest.approx(3.8)


def test_rss_is_read_from_the_vmrss_line() -> None:
    status = "Name:\tpython\nVmPeak:\t  9000 kB\nVmRSS:\t   51234 kB\nThreads:\t1\n"
    assert parse_rss_kib(status) == 51234


def test_rss_of_a_zombie_is_an_error() -> None:
    with pytest.raises(ValueError, match="VmRSS"):
        parse_rss_kib("Name:\tpython\nState:\tZ (zombie)\n")


def test_core_busy_time_leaves_out_idle_and_iowait() -> None:
    stat = (
        "cpu  900 0 90 9000 9 0 9 0 0 0\n"
        "cpu0 100 5 20 5000 7 1 2 3 0 0\n"
        "cpu1 800 0 70 4000 2 0 7 0 0 0\n"
    )
    assert parse_core_busy_seconds(stat, 0, clk_tck=100) == pytest.approx(1.31)
    assert parse_core_busy_seconds(stat, 1, clk_tck=100) == pytest.approx(8.77)
    with pytest.raises(ValueError, match="cpu2"):
        parse_core_busy_seconds(stat, 2)


def test_summary_is_median_min_max() -> None:
    assert summarize([3.0, 1.0, 10.0]) == {"median": 3.0, "min": 1.0, "max": 10.0, "n": 3}


@pytest.mark.parametrize(
    ("value", "baseline", "better", "expected"),
    [
        (200.0, 100.0, Better.HIGHER, 2.0),  # twice the rate
        (50.0, 100.0, Better.LOWER, 2.0),  # half the cost
        (100.0, 50.0, Better.LOWER, 0.5),
        (1.0, 0.0, Better.HIGHER, None),
        (0.0, 1.0, Better.LOWER, None),
    ],
)
def test_ratios_read_as_times_better(
    value: float, baseline: float, better: Better, expected: float | None
) -> None:
    assert better_factor(value, baseline, better) == expected


def _run(
    rate: float, cpu: float, generator: float = 0.5, others: float = 0.02, gen_others: float = 0.0
) -> dict[str, Any]:
    return {
        "round_trips_per_s": rate,
        "p50_ms": 1.0,
        "p99_ms": 2.0,
        "cpu_ms_per_1k": cpu,
        "mb_per_s": 0.1,
        "cpu_ms_per_mb": 1.0,
        "server_cpu_util": 0.9,
        "generator_cpu_util": generator,
        "server_core_others": others,
        "generator_core_others": gen_others,
    }


def _record() -> dict[str, Any]:
    scenario = next(s for s in SCENARIOS if s.key == "S1-50")
    contenders: dict[str, dict[str, Any]] = {
        "socketwire": {"status": "ok", "runs": [_run(300, 10), _run(200, 20), _run(250, 15)]},
        "node": {"status": "ok", "runs": [_run(500, 5, generator=0.95)]},
        "raw": {"status": "ok", "runs": [_run(600, 4, gen_others=0.5)]},
        "psio-uvicorn": {"status": "ok", "runs": [_run(100, 30, others=0.3)]},
        "psio-aiohttp": {"status": "failed", "reason": "server exited | badly", "runs": []},
    }
    for entry in contenders.values():
        if entry["status"] == "ok":
            summarize_contender(scenario, entry)
    add_ratios(scenario, contenders)
    meta = {
        "started": "2026-01-01 00:00 UTC",
        "quick": True,
        "repeats": 3,
        "warmup_s": 0.5,
        "duration_s": 1.5,
        "client": "lite",
        "pinning": {"server": "0", "generator": "1"},
        "host": {"cpu": "test", "nproc": 2, "loadavg": "0.00"},
        "versions": {"python": "3.11"},
        "contenders": {c.key: {"label": c.label} for c in CONTENDERS},
    }
    return {
        "meta": meta,
        "scenarios": [
            {
                "key": "S1-50",
                "title": scenario.title,
                "setup": "50 clients.",
                "contenders": contenders,
            }
        ],
    }


def test_ratios_use_the_medians_against_each_measured_baseline() -> None:
    record = _record()
    socketwire = record["scenarios"][0]["contenders"]["socketwire"]
    assert socketwire["summary"]["round_trips_per_s"]["median"] == 250
    assert socketwire["ratios"]["node"] == {"round_trips_per_s": 0.5, "cpu_ms_per_1k": 5 / 15}
    assert socketwire["ratios"]["psio-uvicorn"] == {"round_trips_per_s": 2.5, "cpu_ms_per_1k": 2.0}
    assert "psio-aiohttp" not in socketwire["ratios"]  # that baseline failed: no ratio


def test_a_saturated_generator_is_flagged() -> None:
    contenders = _record()["scenarios"][0]["contenders"]
    assert contenders["node"]["flags"] == ["generator-bound"]
    assert contenders["socketwire"]["flags"] == []


def test_a_run_disturbed_by_other_processes_is_flagged() -> None:
    contenders = _record()["scenarios"][0]["contenders"]
    assert contenders["psio-uvicorn"]["flags"] == ["noisy"]
    assert contenders["raw"]["flags"] == ["noisy"]  # the generator's core was taken


def test_markdown_shows_ranges_ratios_baselines_and_escaped_failures() -> None:
    markdown = render_markdown(_record())
    rows = {line.split(" | ")[0]: line for line in markdown.splitlines() if line.startswith("| ")}
    socketwire = rows["| socketwire (native)"]
    assert "250 (200–300)" in socketwire
    assert "0.50× / 0.33×" in socketwire
    assert "2.50× / 2.00×" in socketwire
    assert "baseline" in rows["| Node socket.io 4.8"]
    assert "generator-bound" in rows["| Node socket.io 4.8"]
    failed = rows["| python-socketio (aiohttp)"]
    assert "server exited \\| badly" in failed
    header = rows["| server"]
    assert failed.count(" | ") == header.count(" | ")  # the escaped pipe split no cell


def test_every_baseline_and_ratio_metric_exists() -> None:
    keys = {c.key for c in CONTENDERS}
    assert set(BASELINES) <= keys
    for scenario in SCENARIOS:
        metric_keys = {m.key for m in scenario.metrics}
        assert set(scenario.ratio_metrics) <= metric_keys, scenario.key


def test_the_chart_is_drawn(tmp_path: Path) -> None:
    pytest.importorskip("matplotlib")
    from report import draw_chart

    path = tmp_path / "chart.png"
    assert draw_chart(_record(), path)
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def _settings(redis_url: str | None, logs: Path = Path("unused")) -> Settings:
    return Settings(
        python=sys.executable,
        quick=True,
        repeats=1,
        warmup_s=0.5,
        duration_s=1.5,
        scale=1.0,
        client="lite",
        pin=None,
        redis_url=redis_url,
        logs=logs,
    )


def test_the_cluster_scenario_runs_every_socketio_server_but_not_the_floor() -> None:
    s6 = next(s for s in SCENARIOS if s.key == "S6")
    with_redis = _settings("redis://127.0.0.1:1")
    reasons = {c.key: skip_reason(s6, c, with_redis) for c in CONTENDERS}
    assert reasons["raw"] == "does not apply to the raw floor"
    assert {key for key, reason in reasons.items() if reason is None} == {
        "socketwire",
        "socketwire-asgi",
        "psio-uvicorn",
        "psio-aiohttp",
        "node",
    }
    without = skip_reason(s6, CONTENDERS[0], _settings(None))
    assert without is not None
    assert "no Redis" in without
    s2 = next(s for s in SCENARIOS if s.key == "S2")
    assert skip_reason(s2, CONTENDERS[0], _settings(None)) is None


def test_redis_cpu_is_noted_apart_from_the_servers() -> None:
    s6 = next(s for s in SCENARIOS if s.key == "S6")
    run = {
        "deliveries_per_s": 1000.0,
        "cpu_ms_per_1k": 5.0,
        "server_cpu_util": 0.9,
        "generator_cpu_util": 0.5,
        "server_core_others": 0.0,
        "generator_core_others": 0.0,
        "redis_cpu_util": 0.07,
    }
    entry: dict[str, Any] = {"status": "ok", "runs": [run]}
    summarize_contender(s6, entry)
    record = _record()
    record["scenarios"] = [
        {"key": "S6", "title": s6.title, "setup": "2 nodes.", "contenders": {"node": entry}}
    ]
    add_ratios(s6, record["scenarios"][0]["contenders"])
    lines = render_markdown(record).splitlines()
    row = next(line for line in lines if line.startswith("| Node socket.io"))
    assert "CPU 90% / 50%; Redis CPU 7%" in row


def test_the_metrics_variant_runs_s1_and_s2_only() -> None:
    metrics = next(c for c in CONTENDERS if c.key == "socketwire-metrics")
    assert metrics.default
    assert "--metrics" in metrics.command("python3", 1)
    single = _settings(None)
    runs = {s.key for s in SCENARIOS if skip_reason(s, metrics, single) is None}
    # (S1-WT and S1-WS-py compare transports on the plain socketwire server only)
    assert runs == {s.key for s in SCENARIOS if s.key.startswith(("S1", "S2")) and not s.contenders}
    assert runs >= {"S1-1", "S1-50", "S2"}


def test_the_metrics_server_counts() -> None:
    pytest.importorskip("prometheus_client", reason="the metrics extra")
    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "servers"))
    try:
        from socketwire_native import make_server
    finally:
        sys.path.pop(0)
    assert make_server(metrics=True).counters is not None
    assert make_server().counters is None


def _s7(key: str = "S7-fanout") -> Any:
    return next(s for s in SCENARIOS if s.key == key)


def test_s7_compares_workers_with_one_process_and_node_cluster_only() -> None:
    settings = _settings(None)
    for key in ("S7-echo", "S7-fanout"):
        s7 = _s7(key)
        assert s7.quick, "make bench-quick runs S7"
        reasons = {c.key: skip_reason(s7, c, settings) for c in CONTENDERS}
        assert {k for k, reason in reasons.items() if reason is None} == {
            "socketwire-workers",
            "socketwire",
            "node-cluster",
        }
    # the two-worker contenders run nothing else
    workers = [c for c in CONTENDERS if c.workers > 1]
    assert {c.key for c in workers} == {"socketwire-workers", "node-cluster"}
    for scenario in SCENARIOS:
        if not scenario.key.startswith("S7"):
            for contender in workers:
                assert skip_reason(scenario, contender, settings) is not None


def _s7_entry(cpu_ms_per_1k: float, deliveries_per_s: float) -> dict[str, Any]:
    run = {
        "deliveries_per_s": deliveries_per_s,
        "cpu_ms_per_1k": cpu_ms_per_1k,
        "server_cpu_util": 0.95,
        "generator_cpu_util": 0.4,
        "server_core_others": 0.0,
        "generator_core_others": 0.0,
    }
    entry: dict[str, Any] = {"status": "ok", "runs": [run]}
    summarize_contender(_s7(), entry)
    return entry


def test_s7_ratios_are_cpu_per_delivery_against_node_cluster_and_one_process() -> None:
    s7 = _s7()
    contenders = {
        "socketwire-workers": _s7_entry(4.0, 50_000),
        "socketwire": _s7_entry(3.0, 60_000),
        "node-cluster": _s7_entry(8.0, 30_000),
    }
    add_ratios(s7, contenders)
    workers = contenders["socketwire-workers"]["ratios"]
    # a cost: baseline / value
    assert workers["node-cluster"]["cpu_ms_per_1k"] == pytest.approx(2.0)
    assert workers["socketwire"]["cpu_ms_per_1k"] == pytest.approx(0.75)
    assert set(workers) == {"node-cluster", "socketwire"}
    record = _record()
    record["meta"]["contenders"] |= {
        c.key: {"label": c.label, "script": c.script} for c in CONTENDERS
    }
    record["scenarios"] = [
        {"key": s7.key, "title": s7.title, "setup": "200 clients.", "contenders": contenders}
    ]
    markdown = render_markdown(record)
    assert "pinned to one: this is the CPU each operation costs" in markdown
    lines = markdown.splitlines()
    header = next(line for line in lines if line.startswith("| server"))
    assert "vs Node socket.io, @socket.io/sticky + cluster-adapter, 2 workers" in header
    assert "vs socketwire (native)" in header
    row = next(line for line in lines if line.startswith("| socketwire --workers 2"))
    assert "2.00×" in row
    assert "0.75×" in row
    assert row.startswith("| socketwire --workers 2 | 4.00 | 50,000")


def test_the_cpu_of_a_process_tree_sums_its_descendants() -> None:
    import os
    import signal
    import subprocess
    import time

    from procstat import cpu_seconds, parse_ppid, tree_cpu_seconds

    assert parse_ppid(STAT) == 1
    # A parent that waits on a child that burns CPU: the tree has the child's time.
    burn = "import time\nt = time.process_time()\nwhile time.process_time() - t < 0.3: pass\n"
    code = (
        "import subprocess, sys\n"
        f"child = subprocess.Popen([sys.executable, '-c', {burn!r} + 'time.sleep(30)'])\n"
        "print(child.pid, flush=True)\n"
        "child.wait()\n"
    )
    with subprocess.Popen(
        [sys.executable, "-c", code], stdout=subprocess.PIPE, text=True
    ) as parent:
        assert parent.stdout is not None
        child = int(parent.stdout.readline())
        try:
            deadline = time.monotonic() + 10
            while cpu_seconds(child) < 0.3 and time.monotonic() < deadline:
                time.sleep(0.01)
            assert tree_cpu_seconds(parent.pid) >= cpu_seconds(parent.pid) + 0.29
        finally:
            os.kill(child, signal.SIGKILL)
            parent.wait()


def test_the_validated_variant_runs_the_same_server_with_typed_handlers() -> None:
    validated = next(c for c in CONTENDERS if c.key == "socketwire-validated")
    plain = next(c for c in CONTENDERS if c.key == "socketwire")
    assert validated.needs_pydantic
    assert validated.default
    assert validated.command("py", 9) == [*plain.command("py", 9), "--validated"]
    runs = {s.key for s in SCENARIOS if skip_reason(s, validated, _settings(None)) is None}
    # (S1-WT and S1-WS-py compare transports on the plain socketwire server only)
    s1_s2_s5 = ("S1", "S2", "S5")
    assert runs == {s.key for s in SCENARIOS if s.key.startswith(s1_s2_s5) and not s.contenders}


@pytest.mark.parametrize("validated", [False, True])
async def test_the_socketwire_server_answers_alike_typed_or_not(validated: bool) -> None:
    # the benchmark's own application, in memory: the same answers either way, and only
    # the validated one refuses a payload of the wrong type
    sio = make_server(validated=validated)
    async with TestClient(sio) as client:
        assert await client.emit_with_ack("echo", "x" * 32) == "x" * 32
        assert await client.emit_with_ack("echo", b"\x00" * 64) == b"\x00" * 64
        wrong = await client.emit_with_ack("echo", 5)
    if validated:
        assert wrong["error"]["code"] == "REQUEST_VALIDATION_ERROR"
    else:
        assert wrong == 5


# -- S1 over WebTransport against WebSocket (the Python generator) ---------------------------


def test_webtransport_pair_runs_socketwire_only_with_the_python_generator(tmp_path: Path) -> None:
    settings = _settings(None, tmp_path)
    pair = {s.key: s for s in SCENARIOS if s.key in ("S1-WT", "S1-WS-py")}
    assert set(pair) == {"S1-WT", "S1-WS-py"}
    assert [pair["S1-WT"].transport, pair["S1-WS-py"].transport] == ["webtransport", "websocket"]
    for scenario in pair.values():
        assert scenario.generator == "python"
        assert not scenario.quick
        for contender in CONTENDERS:
            reason = skip_reason(scenario, contender, settings)
            if contender.key == "socketwire":
                assert reason is None
            else:
                assert reason is not None
                assert "compares socketwire only" in reason
    # the other scenarios keep the Node generator and every contender
    s1 = next(s for s in SCENARIOS if s.key == "S1-1")
    assert (s1.generator, s1.contenders) == ("node", ())


def test_webtransport_run_gives_the_server_a_certificate_and_the_generator_its_trust(
    tmp_path: Path,
) -> None:
    pytest.importorskip("aioquic", reason="the webtransport extra")
    from measure import LOADGEN, LOADGEN_PY, generator_command, generator_config, server_extra_args

    settings = _settings(None, tmp_path)
    wt = next(s for s in SCENARIOS if s.key == "S1-WT")
    socketwire = next(c for c in CONTENDERS if c.key == "socketwire")
    extra = server_extra_args(wt, settings)
    assert extra[0::2] == ["--webtransport-cert", "--webtransport-key"]
    assert all(Path(p).is_file() for p in extra[1::2])
    config = generator_config(wt, socketwire, settings, [1234])
    assert (config["transport"], config["clients"], config["mode"]) == ("webtransport", 1, "echo")
    command = generator_command(wt, settings, config)
    assert command[:2] == [sys.executable, str(LOADGEN_PY)]
    sent = json.loads(command[2])
    assert sent["ca"] == extra[1]  # the generator trusts the very certificate the server has
    ws = next(s for s in SCENARIOS if s.key == "S1-WS-py")
    assert server_extra_args(ws, settings) == []
    assert "ca" not in json.loads(generator_command(ws, settings, config)[2])
    s1 = next(s for s in SCENARIOS if s.key == "S1-1")
    assert generator_command(s1, settings, config)[:2] == ["node", str(LOADGEN)]


def test_python_generator_percentiles_and_payloads_match_loadgen_js() -> None:
    from loadgen_py import payload_of, percentile

    assert percentile([], 50) is None
    assert percentile([1.0, 2.0, 3.0, 4.0], 50) == 3.0  # loadgen.js: floor(p/100 * n)
    assert percentile([1.0, 2.0, 3.0, 4.0], 99) == 4.0
    assert payload_of({"kind": "text", "bytes": 3}) == "xxx"
    assert payload_of({"kind": "binary", "bytes": 2}) == b"aa"


# -- S4 with 50 clients, with and without keep-alive -----------------------------------------


def _scenario(key: str) -> Any:
    return next(s for s in SCENARIOS if s.key == key)


def test_polling_with_50_clients_is_s4_with_and_without_keep_alive() -> None:
    from measure import generator_config

    s4 = _scenario("S4")
    settings = _settings(None)
    socketwire = next(c for c in CONTENDERS if c.key == "socketwire")
    for key, keep_alive in (("S4-50", True), ("S4-50-nka", False)):
        scenario = _scenario(key)
        assert (scenario.transport, scenario.mode, scenario.clients) == ("polling", s4.mode, 50)
        assert scenario.keep_alive is keep_alive
        assert scenario.ratio_metrics == s4.ratio_metrics
        assert {m.key for m in scenario.metrics} == {m.key for m in s4.metrics}
        assert not scenario.quick, "--quick stays as it is"
        # every server of S4 runs it, the raw polling floor too
        runs = {c.key for c in CONTENDERS if skip_reason(scenario, c, settings) is None}
        assert runs == {c.key for c in CONTENDERS if skip_reason(s4, c, settings) is None}
        assert "raw" in runs
        config = generator_config(scenario, socketwire, settings, [1])
        assert (config["clients"], config["keep_alive"]) == (50, keep_alive)
    assert generator_config(s4, socketwire, settings, [1])["keep_alive"] is True
    # the row: server CPU per 1,000 round trips without keep-alive is the headline
    assert _scenario("S4-50-nka").metrics[0].key == "cpu_ms_per_1k"


def test_the_setup_line_says_when_polling_has_no_keep_alive() -> None:
    from run import setup_line

    assert setup_line(_scenario("S4-50"), 50) == "50 client(s), 32 B text payload, polling."
    assert setup_line(_scenario("S4-50-nka"), 50) == (
        "50 client(s), 32 B text payload, polling, no keep-alive."
    )
    assert setup_line(_scenario("S6"), 1000).endswith("websocket, 2 server nodes.")


def test_polling_counts_the_tcp_connections_of_each_round_trip() -> None:
    from measure import window_metrics

    result = {
        "round_trips": 4000,
        "round_trips_per_s": 800.0,
        "p50_ms": 5.0,
        "p99_ms": 20.0,
        "payload_bytes": 32,
        "mb_per_s": 0.0256,
        "tcp_connects": 8040,
    }
    run = window_metrics(_scenario("S4-50-nka"), result, cpu_ms=2000.0, rss={})
    assert run["cpu_ms_per_1k"] == pytest.approx(500.0)
    assert run["tcp_connects_per_round_trip"] == pytest.approx(2.01)
    assert run["p99_ms"] == 20.0
    # WebSocket echo: no count of connections
    without = {k: v for k, v in result.items() if k != "tcp_connects"}
    assert "tcp_connects_per_round_trip" not in window_metrics(
        _scenario("S1-50"), without, cpu_ms=2000.0, rss={}
    )


def test_a_window_without_a_completed_unit_is_an_error() -> None:
    from measure import RunError, window_metrics

    with pytest.raises(RunError, match="nothing completed"):
        window_metrics(_scenario("S2"), {"deliveries": 0, "deliveries_per_s": 0.0}, 1.0, {})


def _polling_entry(cpu: float, connects: float) -> dict[str, Any]:
    run = _run(900, cpu) | {"tcp_connects_per_round_trip": connects}
    entry: dict[str, Any] = {"status": "ok", "runs": [run]}
    summarize_contender(_scenario("S4-50-nka"), entry)
    return entry


def test_the_no_keep_alive_table_leads_with_cpu_and_notes_the_connections() -> None:
    scenario = _scenario("S4-50-nka")
    contenders = {"socketwire": _polling_entry(400.0, 2.01), "node": _polling_entry(1000.0, 2.0)}
    add_ratios(scenario, contenders)
    assert contenders["socketwire"]["ratios"]["node"]["cpu_ms_per_1k"] == pytest.approx(2.5)
    record = _record()
    record["scenarios"] = [
        {"key": scenario.key, "title": scenario.title, "setup": "50.", "contenders": contenders}
    ]
    lines = render_markdown(record).splitlines()
    header = next(line for line in lines if line.startswith("| server"))
    assert header.startswith("| server | server CPU ms / 1k rt | round trips/s |")
    row = next(line for line in lines if line.startswith("| socketwire (native)"))
    assert row.startswith("| socketwire (native) | 400.0 | 900 |")
    assert "2.01 TCP connections / round trip" in row
    assert "1.00× / 2.50×" in row


# -- delivery latency in the fan-out scenarios ----------------------------------------------


def test_fan_out_reports_delivery_latency_from_the_generator() -> None:
    from measure import window_metrics

    result = {
        "deliveries": 50_000,
        "deliveries_per_s": 10_000.0,
        "rounds_per_s": 50.0,
        "p50_ms": 3.5,
        "p99_ms": 12.25,
    }
    run = window_metrics(_scenario("S2"), result, cpu_ms=250.0, rss={})
    assert run == {
        "deliveries_per_s": 10_000.0,
        "cpu_ms_per_1k": pytest.approx(5.0),
        "delivery_p50_ms": 3.5,
        "delivery_p99_ms": 12.25,
    }
    for key in ("S2", "S6", "S7-fanout"):
        metrics = {m.key for m in _scenario(key).metrics}
        assert {"delivery_p50_ms", "delivery_p99_ms"} <= metrics, key
        assert "delivery latency" in (_scenario(key).note or "").lower(), key
    # p99 beside throughput and CPU as ratios against the baselines (S7 compares CPU only)
    assert "delivery_p99_ms" in _scenario("S2").ratio_metrics
    assert "delivery_p99_ms" in _scenario("S6").ratio_metrics
    assert _scenario("S7-fanout").ratio_metrics == ("cpu_ms_per_1k",)


def _fanout_entry(rate: float, cpu: float, p99: float) -> dict[str, Any]:
    run = {
        "deliveries_per_s": rate,
        "cpu_ms_per_1k": cpu,
        "delivery_p50_ms": p99 / 4,
        "delivery_p99_ms": p99,
        "server_cpu_util": 0.9,
        "generator_cpu_util": 0.5,
        "server_core_others": 0.0,
        "generator_core_others": 0.0,
    }
    entry: dict[str, Any] = {"status": "ok", "runs": [run]}
    summarize_contender(_scenario("S2"), entry)
    return entry


def test_fan_out_table_shows_delivery_latency_and_its_p99_ratio() -> None:
    s2 = _scenario("S2")
    contenders = {
        "socketwire": _fanout_entry(90_000, 4.0, 10.0),
        "node": _fanout_entry(60_000, 8.0, 25.0),
    }
    add_ratios(s2, contenders)
    # a latency is a cost: baseline / value
    assert contenders["socketwire"]["ratios"]["node"] == {
        "deliveries_per_s": pytest.approx(1.5),
        "cpu_ms_per_1k": pytest.approx(2.0),
        "delivery_p99_ms": pytest.approx(2.5),
    }
    record = _record()
    record["scenarios"] = [
        {"key": "S2", "title": s2.title, "setup": "1,000.", "contenders": contenders}
    ]
    markdown = render_markdown(record)
    assert "delivery p99 ms" in markdown.split("Ratio columns:")[1].splitlines()[0]
    lines = markdown.splitlines()
    header = next(line for line in lines if line.startswith("| server"))
    assert "| delivery p50 ms | delivery p99 ms |" in header
    row = next(line for line in lines if line.startswith("| socketwire (native)"))
    assert row.startswith("| socketwire (native) | 90,000 | 4.00 | 2.50 | 10.00 |")
    assert "1.50× / 2.00× / 2.50×" in row


def test_the_chart_has_a_delivery_p99_group(tmp_path: Path) -> None:
    pytest.importorskip("matplotlib")
    from report import draw_chart

    s2 = _scenario("S2")
    contenders = {
        "socketwire": _fanout_entry(90_000, 4.0, 10.0),
        "node": _fanout_entry(60_000, 8.0, 25.0),
    }
    add_ratios(s2, contenders)
    record = _record()
    record["scenarios"].append(
        {"key": "S2", "title": s2.title, "setup": "1,000.", "contenders": contenders}
    )
    assert draw_chart(record, tmp_path / "chart.png")


# -- --baseline: another checkout of socketwire, side by side ------------------------------


def test_a_baseline_checkout_runs_its_own_server_script_on_its_own_source(
    tmp_path: Path,
) -> None:
    from scenarios import baseline_contender

    base = baseline_contender(tmp_path, "abc1234")
    command = base.command("py", 9)
    assert command == [
        "env",
        f"PYTHONPATH={tmp_path / 'src'}",
        "py",
        str(tmp_path / "bench" / "servers" / "socketwire_native.py"),
        "--port",
        "9",
    ]
    assert base.label == "socketwire (native) at abc1234"
    assert base.cluster  # it runs S6 too


def test_a_baseline_checkout_that_cannot_serve_is_not_available(tmp_path: Path) -> None:
    from environment import availability
    from scenarios import baseline_contender

    (tmp_path / "src" / "socketwire").mkdir(parents=True)
    (tmp_path / "src" / "socketwire" / "__init__.py").write_text("raise ImportError('old')\n")
    base = baseline_contender(tmp_path, "abc1234")
    plain = next(c for c in CONTENDERS if c.key == "socketwire")
    reasons = availability(_settings(None, tmp_path), (plain, base))
    assert reasons["socketwire-base"] is not None
    assert "ImportError: old" in reasons["socketwire-base"]
    assert reasons["socketwire"] is None or "socketwire.Server" not in reasons["socketwire"]


def test_the_baseline_is_a_ratio_column_when_the_record_names_it() -> None:
    record = _record()
    scenario = next(s for s in SCENARIOS if s.key == "S1-50")
    contenders = record["scenarios"][0]["contenders"]
    contenders["socketwire-base"] = {"status": "ok", "runs": [_run(200, 20)]}
    summarize_contender(scenario, contenders["socketwire-base"])
    baselines = (*scenario.baselines, "socketwire-base")
    add_ratios(replace(scenario, baselines=baselines), contenders)
    record["scenarios"][0]["baselines"] = list(baselines)
    record["meta"]["contenders"]["socketwire-base"] = {"label": "socketwire (native) at abc1234"}
    markdown = render_markdown(record)
    rows = {line.split(" | ")[0]: line for line in markdown.splitlines() if line.startswith("| ")}
    assert rows["| server"].endswith("vs socketwire (native) at abc1234 | notes |")
    # 250 round trips/s at 15 ms CPU per 1k against 200 at 20: 1.25x and 1.33x better
    assert rows["| socketwire (native)"].split(" | ")[-2] == "1.25× / 1.33×"
    assert "baseline" in rows["| socketwire (native) at abc1234"]


def test_every_ratio_is_also_against_the_raw_floor_where_a_scenario_has_one() -> None:
    for scenario in SCENARIOS:
        assert ("raw" in scenario.baselines) == (scenario.floor is not None), scenario.key
    markdown = render_markdown(_record())
    rows = {line.split(" | ")[0]: line for line in markdown.splitlines() if line.startswith("| ")}
    raw = next(c for c in CONTENDERS if c.key == "raw")
    assert rows["| server"].endswith(f"| vs {raw.label} | notes |")
    # 250 round trips/s at 15 ms CPU per 1k against the floor's 600 at 4 ms
    assert rows["| socketwire (native)"].split(" | ")[-2] == "0.42× / 0.27×"
    assert "baseline" in rows[f"| {raw.label}"]
