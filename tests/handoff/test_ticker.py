"""Watchers tick at a fixed rate: a slow tick does not stretch the period (a level-3 overflow waits on it)."""

from __future__ import annotations

import asyncio
from types import SimpleNamespace

import pytest

from handoff import ticker
from handoff.ticker import Ticker

INTERVAL = 0.3
TICK_TAKES = 0.1


class _SlowTicker(Ticker):
    name = "slow"

    def __init__(self) -> None:
        super().__init__(SimpleNamespace(settings=SimpleNamespace(handoff=SimpleNamespace(tick_seconds=INTERVAL))))
        self.ticks = 0

    async def tick(self) -> None:
        self.ticks += 1
        await real_sleep(TICK_TAKES)


real_sleep = asyncio.sleep


async def test_the_wait_after_a_slow_tick_is_what_is_left_of_the_interval(monkeypatch: pytest.MonkeyPatch) -> None:
    waits: list[float] = []

    async def recording_sleep(seconds: float) -> None:
        waits.append(seconds)
        if len(waits) == 3:
            raise asyncio.CancelledError
        await real_sleep(0)

    monkeypatch.setattr(ticker.asyncio, "sleep", recording_sleep)
    watcher = _SlowTicker()
    with pytest.raises(asyncio.CancelledError):
        await watcher._run()
    assert watcher.ticks == 3
    assert all(wait <= INTERVAL - TICK_TAKES + 1e-6 for wait in waits), waits  # not the whole interval again


async def test_a_tick_longer_than_the_interval_is_followed_at_once(monkeypatch: pytest.MonkeyPatch) -> None:
    waits: list[float] = []

    async def recording_sleep(seconds: float) -> None:
        waits.append(seconds)
        raise asyncio.CancelledError

    monkeypatch.setattr(ticker.asyncio, "sleep", recording_sleep)
    monkeypatch.setattr(_SlowTicker, "interval", lambda self: TICK_TAKES / 2)
    with pytest.raises(asyncio.CancelledError):
        await _SlowTicker()._run()
    assert waits == [0.0]
