"""The test-only crash points: armed only in env=test, exactly at the n-th pass, by os._exit."""

from __future__ import annotations

import subprocess
import sys

import pytest

from contract import crash_points
from contract.config import ConfigError


@pytest.fixture(autouse=True)
def _disarmed():
    yield
    crash_points.arm("test", "")


@pytest.mark.parametrize("env", ["demo", "development", "production"])
def test_outside_the_test_environment_the_variable_stops_start_up(env: str) -> None:
    with pytest.raises(ConfigError, match="crash tests only"):
        crash_points.arm(env, "routing.finished")
    assert crash_points.arm(env, "") is None  # unset: nothing happens anywhere


@pytest.mark.parametrize("spec", ["routing", "routing.finished:0", "routing.finished:x", "delivery.sent:-1", ":3"])
def test_a_wrong_spec_is_refused_with_the_stages(spec: str) -> None:
    with pytest.raises(ConfigError, match="expected one of webhook.answered"):
        crash_points.arm("test", spec)


def test_unarmed_or_other_stages_are_no_ops() -> None:
    crash_points.reached("routing.finished")
    assert crash_points.arm("test", "delivery.sent:2") == "delivery.sent"
    crash_points.reached("routing.finished")  # another stage: nothing
    crash_points.reached("delivery.sent")  # the first of two: nothing yet


def test_the_process_ends_at_the_nth_pass_without_running_finally_blocks() -> None:
    program = ("from contract import crash_points\n"
               "crash_points.arm('test', 'case.opened:3')\n"
               "for n in range(1, 6):\n"
               "    try:\n"
               "        print('pass', n, flush=True)\n"
               "        crash_points.reached('case.opened')\n"
               "    finally:\n"
               "        print('finally', n, flush=True)\n")
    done = subprocess.run([sys.executable, "-c", program], capture_output=True, text=True, timeout=30, check=False)  # noqa: S603
    assert done.returncode == crash_points.EXIT_CODE
    assert done.stdout.split("\n") == ["pass 1", "finally 1", "pass 2", "finally 2", "pass 3", ""]
    assert "crash point case.opened reached" in done.stderr
