"""Prints what the fuzz suite tried: inputs per target and how many targets crashed."""

from __future__ import annotations

import pytest

from tests.fuzz import TRIED


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    if not TRIED:
        return
    crashed = [report.nodeid for report in terminalreporter.stats.get("failed", []) if "tests/fuzz/" in report.nodeid]
    terminalreporter.write_sep("-", "fuzz")
    for target, count in sorted(TRIED.items()):
        terminalreporter.write_line(f"{target:<36} {count:>6} inputs")
    terminalreporter.write_line(f"{'total':<36} {sum(TRIED.values()):>6} inputs, {len(crashed)} crashing targets")
