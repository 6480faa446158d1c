"""Presence follows the console: whoever closes their last console tab goes ``away``.

A counsellor who shuts the browser without signing out would otherwise stay ``online`` until the
session idles out, and auto-assignment would keep handing them youths nobody answers. A short
grace period lets a page reload or a network blip reconnect without any change. Counts are per
gateway process (the console's WebSocket lives on one instance).
"""

from __future__ import annotations

import asyncio
import logging
from collections import Counter

from contract.people import Presence
from handoff.assignment import Assignment
from handoff.users import get_user, set_presence

log = logging.getLogger("youthdesk.handoff")


class ConsolePresence:
    def __init__(self, assignment: Assignment, grace_seconds: float) -> None:
        self.assignment = assignment
        self.grace_seconds = grace_seconds
        self._open: Counter[str] = Counter()
        self._pending: dict[str, asyncio.Task[None]] = {}

    def connected(self, user_id: str) -> None:
        self._open[user_id] += 1
        pending = self._pending.pop(user_id, None)
        if pending is not None:
            pending.cancel()

    def disconnected(self, user_id: str) -> None:
        self._open[user_id] -= 1
        if self._open[user_id] <= 0:
            del self._open[user_id]
            self._pending[user_id] = asyncio.create_task(self._away_unless_back(user_id))

    async def _away_unless_back(self, user_id: str) -> None:
        await asyncio.sleep(self.grace_seconds)
        self._pending.pop(user_id, None)
        if self._open[user_id]:
            return
        store = self.assignment.context.store
        user = await get_user(store, user_id)
        if user is None or user.presence != Presence.ONLINE:
            return
        updated = await set_presence(store, user_id, Presence.AWAY) or user
        log.info("%s closed the console: presence away", user.username)
        await self.assignment.presence_changed(updated)

    async def close(self) -> None:
        tasks = list(self._pending.values())
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
