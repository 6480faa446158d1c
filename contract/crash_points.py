"""Test-only crash points: end the process with ``os._exit`` at a named stage of the pipeline.

A crash test starts ``youthdesk serve`` with ``YOUTHDESK_CRASH_AT=<stage>[:<n>]`` and the process
dies the n-th time (default: the first) it reaches that stage, exactly there, instead of hoping
that a random ``kill -9`` lands in the right place. ``os._exit`` runs no ``finally`` block, flush
or shutdown hook, as ``kill -9`` would not. Armed only when ``service.env`` is ``test``; set in
any other environment the variable stops start-up, so production can never carry one.
"""

from __future__ import annotations

import os
import sys

from contract.config import ConfigError

VARIABLE = "YOUTHDESK_CRASH_AT"
EXIT_CODE = 137  # what a shell reports for a process killed by SIGKILL

STAGES = (
    "webhook.answered",  # a channel webhook's 2xx answer was written to the socket
    "routing.finished",  # routed, with every effect of it stored, but not yet marked processed
    "delivery.sent",  # the platform accepted a reply; its "sent" status is not stored yet
    "case.opened",  # a handed-off conversation's case is stored; the conversation is not queued yet
    "alert.raised",  # a level-3 alert is stored; the conversation is not yet marked as alerted
)

_armed: dict[str, int] = {}  # stage -> how many more times it is passed before the crash


def arm(env: str, spec: str) -> str | None:
    """Arm the crash point ``spec`` names (``""``: none); returns the stage armed."""
    _armed.clear()
    if not spec:
        return None
    if env != "test":
        raise ConfigError(f"{VARIABLE} is for crash tests only (service.env = test), not {env!r}")
    stage, _, count = spec.partition(":")
    if stage not in STAGES or not (count or "1").isdigit() or int(count or "1") < 1:
        raise ConfigError(f"{VARIABLE}={spec!r}: expected one of {', '.join(STAGES)}, optionally ':<n>' (n >= 1)")
    _armed[stage] = int(count or "1")
    return stage


def reached(stage: str) -> None:
    """Mark ``stage``: a no-op unless a crash test armed it."""
    if stage not in _armed:
        return
    _armed[stage] -= 1
    if _armed[stage] == 0:
        sys.stderr.write(f"crash point {stage} reached: exiting now ({VARIABLE})\n")
        sys.stderr.flush()
        os._exit(EXIT_CODE)
