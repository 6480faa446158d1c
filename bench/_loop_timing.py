"""Bench-only: how long each event-loop callback of a server process holds the loop, by task.

``python -m bench webhook_production`` turns it on in the gateway's process when ``BENCH_LOOP_TIMING=1``:
it wraps ``asyncio.Handle._run`` (every callback the loop runs: a task's step, a transport's read, a timer)
and adds a few microseconds to each, so the latencies of such a run are not the bench's figures. What it
answers is where the loop's time goes during a burst: the busy share of each second, and which callbacks
held the loop long enough for the webhooks behind them to notice.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections import defaultdict
from pathlib import Path
from statistics import median
from typing import Any

LONG_SECONDS = 0.02  # a callback this long is named and counted one by one

_busy: defaultdict[int, float] = defaultdict(float)  # whole second (time.time()) -> seconds of callbacks
_long: list[tuple[float, float, str]] = []  # (started, seconds, task or callback name)


def _name(handle: asyncio.Handle) -> str:
    callback = handle._callback  # type: ignore[attr-defined]
    owner = getattr(callback, "__self__", None)
    if isinstance(owner, asyncio.Task):  # a task's step or wake-up: named after its coroutine
        return getattr(owner.get_coro(), "__qualname__", owner.get_name())
    return getattr(callback, "__qualname__", type(callback).__name__)


def install() -> None:
    """Time every callback of this process's event loops from now on."""
    run = asyncio.events.Handle._run

    def timed(handle: asyncio.Handle) -> None:
        started, wall = time.perf_counter(), time.time()
        try:
            run(handle)
        finally:
            seconds = time.perf_counter() - started
            _busy[int(wall)] += seconds
            if seconds >= LONG_SECONDS:
                _long.append((wall, seconds, _name(handle)))

    asyncio.events.Handle._run = timed  # type: ignore[method-assign]


def save(path: Path) -> None:
    path.write_text(json.dumps({"busy": _busy, "long": _long}), encoding="utf-8")


def describe(path: Path, started: float, ended: float) -> str:
    """The loop between two ``time.time()`` readings: its median busy share per second and its long callbacks."""
    saved: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    seconds = [saved["busy"].get(str(second), 0.0) for second in range(int(started) + 1, int(ended))]
    long = [(took, name) for at, took, name in saved["long"] if started <= at < ended]
    by_name: defaultdict[str, list[float]] = defaultdict(list)
    for took, name in long:
        by_name[name].append(took)
    named = ", ".join(f"{name} {len(took)}× (max {1000 * max(took):.0f} ms)"
                      for name, took in sorted(by_name.items(), key=lambda item: -len(item[1])))
    busy = f"{100 * median(seconds):.0f} %" if seconds else "n/a"
    return (f"loop busy (median of each whole second) {busy}; callbacks ≥ {1000 * LONG_SECONDS:.0f} ms: "
            f"{len(long)}" + (f" — {named}" if named else ""))
