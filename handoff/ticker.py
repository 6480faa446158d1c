"""A background loop that calls ``tick`` at an interval until it is stopped.

The engine's watchers (deadlines, appointment reminders, work orders, early warning) all run this
way: a failing tick is logged loudly and the next one runs anyway. A watcher that names a ``lease``
ticks on one gateway instance at a time; another instance takes over when that one stops.
"""

from __future__ import annotations

import asyncio
import logging
from typing import ClassVar

from handoff.context import HandoffContext
from store import leases

log = logging.getLogger("youthdesk.handoff")


class Ticker:
    name: ClassVar[str]  # for the asyncio task and the log line of a failed tick
    lease: ClassVar[str | None] = None

    def __init__(self, context: HandoffContext) -> None:
        self.context = context
        self._task: asyncio.Task[None] | None = None

    def interval(self) -> float:
        return self.context.settings.handoff.tick_seconds

    async def tick(self) -> object:
        raise NotImplementedError

    async def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name=f"handoff:{self.name}")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)

    async def _run(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            started = loop.time()
            try:
                if self.lease is None or await leases.take_for_worker(self.context.store, self.lease,
                                                                      self.interval()):
                    await self.tick()
            except Exception:  # noqa: BLE001 - keep ticking; the failure is logged loudly
                log.exception("%s failed", self.name)
            # Ticks start every interval, not an interval after the last one ended: under load a slow
            # tick would otherwise stretch the period, and with it how late a level-3 overflow can be.
            await asyncio.sleep(max(0.0, started + self.interval() - loop.time()))
