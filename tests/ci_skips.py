"""A pytest plugin: while ``CI`` is set, a skipped test fails the run.

A test skips when something it needs is missing (npm packages, redis-server, Chromium,
playwright). On a developer's machine that is a convenience; on CI it would hide a missing
install step, so there the skip is reported as a failure that keeps its reason. Expected
failures (``xfail``) are left alone. Loaded for every run by ``-p ci_skips`` in pyproject.
"""

from __future__ import annotations

import os
from collections.abc import Generator
from typing import Any

import pytest

__all__ = ["in_ci"]


def in_ci() -> bool:
    """True when the ``CI`` environment variable is set to something other than false."""
    return os.environ.get("CI", "").strip().lower() not in ("", "0", "false", "no")


def _fail_skip(report: pytest.CollectReport | pytest.TestReport) -> None:
    if not report.skipped or hasattr(report, "wasxfail") or not in_ci():
        return
    longrepr: Any = report.longrepr
    reason = longrepr[2] if isinstance(longrepr, tuple) else str(longrepr)
    reason = reason.removeprefix("Skipped: ")
    report.outcome = "failed"
    report.longrepr = f"skipped while CI is set, which fails the run: {reason}"


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Generator[None]:
    """Turn a test's skip into a failure under CI."""
    outcome: Any = yield
    _fail_skip(outcome.get_result())


@pytest.hookimpl(hookwrapper=True)
def pytest_make_collect_report(collector: pytest.Collector) -> Generator[None]:
    """Turn a module-level skip (``allow_module_level=True``) into a failure under CI."""
    outcome: Any = yield
    _fail_skip(outcome.get_result())
