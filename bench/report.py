"""From runs to results: medians and ranges, ratios against the baselines, markdown, the chart.

A ratio here is always a "times better" factor, so that above 1 means better than the baseline
whichever way the metric goes: ``value / baseline`` for a rate, ``baseline / value`` for a cost
(latency, CPU time, memory).
"""

# The report is typography for people: en dashes for ranges, multiplication signs for ratios.
# ruff: noqa: RUF001

from __future__ import annotations

import statistics
from pathlib import Path
from typing import Any

from scenarios import CHART_BASELINES, SCENARIOS, Better, Metric, Scenario

__all__ = [
    "add_ratios",
    "better_factor",
    "draw_chart",
    "render_markdown",
    "summarize",
    "summarize_contender",
]

_BY_KEY = {scenario.key: scenario for scenario in SCENARIOS}

#: A generator using this share of its core or more may be what limits the measurement.
GENERATOR_BOUND = 0.85
#: Other processes using this share of either pinned core or more disturb the measurement.
NOISY = 0.10


def summarize(values: list[float]) -> dict[str, float]:
    """Median, min and max of the runs' values of one metric."""
    return {
        "median": statistics.median(values),
        "min": min(values),
        "max": max(values),
        "n": len(values),
    }


def better_factor(value: float, baseline: float, better: Better) -> float | None:
    """How many times better ``value`` is than ``baseline`` (None when undefined).

    Args:
        value: the contender's median.
        baseline: the baseline's median, from the same run.
        better: which way the metric improves.

    Returns:
        ``value / baseline`` for a rate, ``baseline / value`` for a cost.
    """
    numerator, denominator = (value, baseline) if better is Better.HIGHER else (baseline, value)
    if denominator <= 0:
        return None
    return numerator / denominator


def summarize_contender(scenario: Scenario, entry: dict[str, Any]) -> None:
    """Fill ``entry["summary"]`` and ``entry["flags"]`` from ``entry["runs"]`` (in place)."""
    runs = [run for run in entry["runs"] if "error" not in run]
    if not runs:
        return
    entry["summary"] = {
        metric.key: summarize([run[metric.key] for run in runs])
        for metric in scenario.metrics
        if all(run.get(metric.key) is not None for run in runs)
    }
    utils = (
        "server_cpu_util",
        "generator_cpu_util",
        "server_core_others",
        "generator_core_others",
        "redis_cpu_util",
        "tcp_connects_per_round_trip",
    )
    for util in utils:
        if all(run.get(util) is not None for run in runs):
            entry["summary"][util] = summarize([run[util] for run in runs])
    flags = entry.setdefault("flags", [])
    if max(run["generator_cpu_util"] for run in runs) >= GENERATOR_BOUND:
        flags.append("generator-bound")
    if any(
        (run.get(key) or 0.0) >= NOISY
        for run in runs
        for key in ("server_core_others", "generator_core_others")
    ):
        flags.append("noisy")


def add_ratios(scenario: Scenario, contenders: dict[str, dict[str, Any]]) -> None:
    """Give every measured contender its ratios against each measured baseline (in place)."""
    by_key = {metric.key: metric for metric in scenario.metrics}
    for entry in contenders.values():
        ratios: dict[str, dict[str, float | None]] = {}
        for baseline in scenario.baselines:
            base = contenders.get(baseline, {}).get("summary")
            mine = entry.get("summary")
            if not base or not mine:
                continue
            ratios[baseline] = {}
            for key in scenario.ratio_metrics:
                if key in base and key in mine:
                    ratios[baseline][key] = better_factor(
                        mine[key]["median"], base[key]["median"], by_key[key].better
                    )
        entry["ratios"] = ratios


def _escape(text: str) -> str:
    """Make ``text`` safe in a markdown table cell."""
    return " ".join(text.split()).replace("|", "\\|")


def _number(value: float, digits: int) -> str:
    return f"{value:,.{digits}f}"


def _cell(summary: dict[str, Any] | None, metric: Metric) -> str:
    if not summary or metric.key not in summary:
        return "–"
    stats = summary[metric.key]
    median = _number(stats["median"], metric.digits)
    if stats["n"] < 2:
        return median
    low, high = _number(stats["min"], metric.digits), _number(stats["max"], metric.digits)
    return f"{median} ({low}–{high})"


def _ratio_cell(ratios: dict[str, float | None] | None, keys: tuple[str, ...]) -> str:
    if not ratios:
        return "–"
    parts = []
    for key in keys:
        value = ratios.get(key)
        parts.append("–" if value is None else f"{value:.2f}×")
    return " / ".join(parts)


def _notes(entry: dict[str, Any], floor: str | None, is_raw: bool) -> str:
    status = entry["status"]
    if status != "ok":
        return f"**{status}**: {_escape(entry.get('reason', ''))}"
    notes = []
    summary = entry.get("summary", {})
    server = summary.get("server_cpu_util")
    generator = summary.get("generator_cpu_util")
    if server and generator:
        notes.append(f"CPU {server['median']:.0%} / {generator['median']:.0%}")
    redis = summary.get("redis_cpu_util")
    if redis:
        notes.append(f"Redis CPU {redis['median']:.0%}")
    connects = summary.get("tcp_connects_per_round_trip")
    if connects:
        notes.append(f"{connects['median']:.2f} TCP connections / round trip")
    others = [summary.get(key) for key in ("server_core_others", "generator_core_others")]
    if others[0] and others[1]:
        notes.append(f"others {others[0]['median']:.0%} / {others[1]['median']:.0%}")
    flags = entry.get("flags", ())
    notes += [f"⚠ {flag}" for flag in ("generator-bound", "noisy") if flag in flags]
    if is_raw and floor:
        notes.append(f"floor: {floor}")
    return "; ".join(notes)


def render_markdown(record: dict[str, Any]) -> str:
    """The markdown report of a run record (see run.py for its shape)."""
    meta = record["meta"]
    lines = [
        f"# socketwire benchmarks, {meta['started']}",
        "",
        f"{'Quick subset' if meta['quick'] else 'Full run'}: {meta['repeats']} run(s) each, "
        f"{meta['warmup_s']} s warm-up, {meta['duration_s']} s window. "
        "Values are medians, (min–max) over the runs. "
        "Ratios are **times better** than the baseline from the same run "
        "(rate ÷ baseline, or baseline ÷ cost): above 1 is better.",
        "",
        "Notes: **CPU** is the share of its core the server / the generator used in the "
        "window; **others**, the share of the server's / the generator's core that other "
        "processes used (S6: the server is both nodes together; **Redis CPU** is "
        "redis-server's own share, on the server's core, not in the server's CPU or cost). "
        "⚠ **generator-bound**: the generator used 85% of its core or more, "
        "so the server may be faster than its throughput shows (its CPU cost per unit still "
        "holds). ⚠ **noisy**: other processes took 10% or more of a pinned core in some run; "
        "throughput and latency are understated.",
        "",
        f"Host: {meta['host']['cpu']}, {meta['host']['nproc']} cores, "
        f"load average at start {meta['host']['loadavg']}. "
        f"Server pinned to CPU {meta['pinning']['server']}, generator to CPU "
        f"{meta['pinning']['generator']}. Generator clients: {meta['client']}.",
        "",
        "Versions: " + ", ".join(f"{k} {v}" for k, v in meta["versions"].items()) + ".",
        "",
    ]
    labels = {key: entry["label"] for key, entry in meta["contenders"].items()}
    for scenario_record in record["scenarios"]:
        scenario = _BY_KEY[scenario_record["key"]]
        lines.append(f"## {scenario.key}: {scenario_record['title']}")
        lines.append("")
        lines.append(scenario_record["setup"])
        lines.append("")
        if scenario.note:
            lines.append(scenario.note)
            lines.append("")
        ratio_labels = " / ".join(
            next(m.label for m in scenario.metrics if m.key == key)
            for key in scenario.ratio_metrics
        )
        lines.append(f"Ratio columns: times better in {ratio_labels}.")
        lines.append("")
        header = ["server", *[m.label for m in scenario.metrics]]
        baselines = scenario_record.get("baselines", scenario.baselines)
        header += [f"vs {labels[b]}" for b in baselines]
        header.append("notes")
        lines.append("| " + " | ".join(header) + " |")
        lines.append("|" + "---|" * len(header))
        for key, entry in scenario_record["contenders"].items():
            summary = entry.get("summary")
            row = [labels[key], *[_cell(summary, m) for m in scenario.metrics]]
            row += [
                "baseline"
                if b == key and summary
                else _ratio_cell(entry.get("ratios", {}).get(b), scenario.ratio_metrics)
                for b in baselines
            ]
            row.append(_notes(entry, scenario.floor, key == "raw"))
            lines.append("| " + " | ".join(row) + " |")
        lines.append("")
    return "\n".join(lines)


def draw_chart(record: dict[str, Any], path: Path) -> bool:
    """Draw the ratios against each baseline as grouped bars (log scale) into ``path``.

    Returns:
        False when there is nothing to draw.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.ticker import FuncFormatter, LogLocator

    colors = plt.rcParams["axes.prop_cycle"].by_key()["color"]

    labels = {key: entry["label"] for key, entry in record["meta"]["contenders"].items()}
    panels = []
    for baseline in record["meta"].get("baselines", CHART_BASELINES):
        groups: list[str] = []
        bars: dict[str, list[float | None]] = {}
        for scenario_record in record["scenarios"]:
            scenario = _BY_KEY[scenario_record["key"]]
            for key in scenario.ratio_metrics:
                label = next(m.short for m in scenario.metrics if m.key == key)
                groups.append(f"{scenario.key}\n{label}")
                for contender, entry in scenario_record["contenders"].items():
                    if contender == baseline:
                        continue
                    value = entry.get("ratios", {}).get(baseline, {}).get(key)
                    column = bars.setdefault(contender, [])
                    column.extend([None] * (len(groups) - 1 - len(column)))
                    column.append(value)
        bars = {k: v for k, v in bars.items() if any(x is not None for x in v)}
        if bars:
            panels.append((baseline, groups, bars))
    if not panels:
        return False
    fig, axes = plt.subplots(
        len(panels), 1, figsize=(max(8.0, 1.3 * len(panels[0][1]) + 3), 4.2 * len(panels))
    )
    axes_list = list(axes) if len(panels) > 1 else [axes]
    for ax, (baseline, groups, bars) in zip(axes_list, panels, strict=True):
        width = 0.8 / max(1, len(bars))
        for i, (contender, column) in enumerate(bars.items()):
            color = colors[list(labels).index(contender) % len(colors)]
            column = column + [None] * (len(groups) - len(column))
            xs = [g + (i - (len(bars) - 1) / 2) * width for g in range(len(groups))]
            heights = [v if v is not None else float("nan") for v in column]
            ax.bar(xs, heights, width, label=labels[contender], color=color)
        ax.axhline(1.0, color="black", linewidth=0.8)
        ax.set_yscale("log")
        ax.yaxis.set_major_locator(LogLocator(base=10, subs=(1.0, 2.0, 5.0)))
        ax.yaxis.set_major_formatter(FuncFormatter(lambda y, _: f"{y:g}×"))
        ax.yaxis.set_minor_formatter(FuncFormatter(lambda y, _: ""))
        ax.set_xticks(range(len(groups)), groups, fontsize=8)
        ax.set_ylabel("times better (log scale)")
        ax.set_title(f"against {labels[baseline]} (same run; above 1 = better)")
        ax.legend(fontsize=7, loc="best")
        ax.grid(axis="y", which="both", alpha=0.3)
    fig.suptitle(f"socketwire benchmarks, {record['meta']['started']}")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return True
