"""What the kernel says about a process: CPU time from /proc/PID/stat, RSS from /proc/PID/status."""

from __future__ import annotations

import os
from pathlib import Path

__all__ = [
    "CLK_TCK",
    "core_busy_seconds",
    "cpu_seconds",
    "parse_core_busy_seconds",
    "parse_cpu_seconds",
    "parse_ppid",
    "parse_rss_kib",
    "rss_kib",
    "tree_cpu_seconds",
]

#: Clock ticks per second: the unit of utime and stime in /proc/PID/stat.
CLK_TCK = os.sysconf("SC_CLK_TCK")


def parse_cpu_seconds(stat: str, clk_tck: int = CLK_TCK) -> float:
    """User plus system CPU seconds from the text of /proc/PID/stat (all threads of the process).

    Args:
        stat: the file's content.
        clk_tck: clock ticks per second.

    Returns:
        utime + stime, in seconds.
    """
    # comm (field 2) is in parentheses and may hold spaces or parentheses itself: split after
    # the last ")". What follows starts at field 3 (state); utime and stime are fields 14, 15.
    fields = stat[stat.rindex(")") + 2 :].split()
    return (int(fields[11]) + int(fields[12])) / clk_tck


def parse_rss_kib(status: str) -> int:
    """Resident set size in KiB from the text of /proc/PID/status (its ``VmRSS:`` line).

    Args:
        status: the file's content.

    Returns:
        VmRSS in KiB.

    Raises:
        ValueError: there is no VmRSS line (a zombie process has none).
    """
    for line in status.splitlines():
        if line.startswith("VmRSS:"):
            value, unit = line.split()[1:3]
            if unit != "kB":
                raise ValueError(f"unexpected VmRSS unit {unit!r}")
            return int(value)
    raise ValueError("no VmRSS line in /proc/PID/status")


def cpu_seconds(pid: int) -> float:
    """User plus system CPU seconds used so far by process ``pid``."""
    return parse_cpu_seconds(Path(f"/proc/{pid}/stat").read_text())


def parse_ppid(stat: str) -> int:
    """The parent's pid from the text of /proc/PID/stat (field 4)."""
    return int(stat[stat.rindex(")") + 2 :].split()[1])


def tree_cpu_seconds(pid: int) -> float:
    """CPU seconds of process ``pid`` and of every live process under it (a primary and its
    workers, S7)."""
    stats: dict[int, str] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stats[int(entry.name)] = (entry / "stat").read_text()
            except OSError:
                continue  # ended meanwhile
    children: dict[int, list[int]] = {}
    for child, stat in stats.items():
        children.setdefault(parse_ppid(stat), []).append(child)
    total = cpu_seconds(pid)
    todo = list(children.get(pid, ()))
    while todo:
        child = todo.pop()
        total += parse_cpu_seconds(stats[child])
        todo += children.get(child, ())
    return total


def rss_kib(pid: int) -> int:
    """Resident set size of process ``pid``, in KiB."""
    return parse_rss_kib(Path(f"/proc/{pid}/status").read_text())


def parse_core_busy_seconds(stat: str, core: int, clk_tck: int = CLK_TCK) -> float:
    """Seconds one CPU core spent busy (anything but idle and iowait), from /proc/stat.

    Args:
        stat: the content of /proc/stat.
        core: the CPU number (the ``cpuN`` line).
        clk_tck: clock ticks per second.

    Returns:
        user + nice + system + irq + softirq + steal, in seconds.

    Raises:
        ValueError: there is no line for that core.
    """
    prefix = f"cpu{core} "
    for line in stat.splitlines():
        if line.startswith(prefix):
            # user nice system idle iowait irq softirq steal [guest guest_nice: inside user]
            ticks = [int(x) for x in line.split()[1:9]]
            return (sum(ticks) - ticks[3] - ticks[4]) / clk_tck
    raise ValueError(f"no cpu{core} line in /proc/stat")


def core_busy_seconds(core: int) -> float:
    """Seconds CPU core ``core`` has spent busy since boot, whoever ran on it."""
    return parse_core_busy_seconds(Path("/proc/stat").read_text(), core)
