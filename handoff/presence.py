"""Presence follows the console: whoever closes their last console tab goes ``away``.

A counsellor who shuts the browser without signing out would otherwise stay ``online`` until the
session idles out, and auto-assignment would keep handing them youths nobody answers. A short
grace period lets a page reload or a network blip reconnect without any change. With several
gateway instances a counsellor's tabs may sit on different instances, so each instance also
writes its count of the user's consoles to Redis (``SharedConsoleCounts``), and a user goes away
only when no instance has one open.
"""

from __future__ import annotations

import asyncio
import logging
from collections import Counter

import redis.asyncio as redis

from contract.models import new_id
from contract.people import Presence
from handoff.assignment import Assignment
from handoff.users import get_user, set_presence

log = logging.getLogger("youthdesk.handoff")

KEY_PREFIX = "youthdesk:console"
INSTANCE_TTL_SECONDS = 30  # a killed instance's consoles stop counting this long after its last heartbeat


class SharedConsoleCounts:
    """Per user a Redis hash: one field per instance, its number of open consoles. An instance's
    fields count only while its heartbeat key lives, so the consoles of a killed one do not keep
    their users ``online`` for ever."""

    def __init__(self, redis_url: str) -> None:
        self._client = redis.from_url(redis_url)
        self.instance = new_id("gw")
        self._heartbeat: asyncio.Task[None] | None = None

    def _alive_key(self, instance: str) -> str:
        return f"{KEY_PREFIX}:alive:{instance}"

    async def start(self) -> None:
        await self._client.set(self._alive_key(self.instance), 1, ex=INSTANCE_TTL_SECONDS)
        self._heartbeat = asyncio.create_task(self._beat(), name="presence:heartbeat")

    async def _beat(self) -> None:
        while True:
            await asyncio.sleep(INSTANCE_TTL_SECONDS / 3)
            try:
                await self._client.set(self._alive_key(self.instance), 1, ex=INSTANCE_TTL_SECONDS)
            except redis.RedisError:
                log.exception("presence: Redis heartbeat failed")

    async def record(self, user_id: str, open_here: int) -> None:
        key = f"{KEY_PREFIX}:{user_id}"
        if open_here:
            await self._client.hset(key, self.instance, open_here)
        else:
            await self._client.hdel(key, self.instance)

    async def open_elsewhere(self, user_id: str) -> int:
        """Consoles of ``user_id`` open on other live instances."""
        counts = {field.decode(): int(value)
                  for field, value in (await self._client.hgetall(f"{KEY_PREFIX}:{user_id}")).items()}
        counts.pop(self.instance, None)
        if not counts:
            return 0
        alive = await self._client.mget([self._alive_key(instance) for instance in counts])
        return sum(count for count, beat in zip(counts.values(), alive, strict=True) if beat is not None)

    async def close(self) -> None:
        if self._heartbeat is not None:
            self._heartbeat.cancel()
            await asyncio.gather(self._heartbeat, return_exceptions=True)
        try:
            await self._client.delete(self._alive_key(self.instance))
        except redis.RedisError:
            log.warning("presence: Redis gone at shutdown; this instance's consoles expire with its heartbeat")
        await self._client.aclose()


class ConsolePresence:
    def __init__(self, assignment: Assignment, grace_seconds: float, shared: SharedConsoleCounts | None = None) -> None:
        self.assignment = assignment
        self.grace_seconds = grace_seconds
        self.shared = shared
        self._open: Counter[str] = Counter()
        self._pending: dict[str, asyncio.Task[None]] = {}

    async def connected(self, user_id: str) -> None:
        self._open[user_id] += 1
        pending = self._pending.pop(user_id, None)
        if pending is not None:
            pending.cancel()
        await self._share(user_id)

    async def disconnected(self, user_id: str) -> None:
        self._open[user_id] -= 1
        if self._open[user_id] <= 0:
            del self._open[user_id]
            self._pending[user_id] = asyncio.create_task(self._away_unless_back(user_id))
        await self._share(user_id)

    async def _share(self, user_id: str) -> None:
        if self.shared is None:
            return
        try:
            await self.shared.record(user_id, self._open[user_id])
        except redis.RedisError:
            log.exception("presence: could not share console count of %s", user_id)

    async def _open_elsewhere(self, user_id: str) -> int:
        if self.shared is None:
            return 0
        try:
            return await self.shared.open_elsewhere(user_id)
        except redis.RedisError:
            log.exception("presence: Redis unreachable; judging %s by this instance's consoles", user_id)
            return 0

    async def _away_unless_back(self, user_id: str) -> None:
        await asyncio.sleep(self.grace_seconds)
        self._pending.pop(user_id, None)
        if self._open[user_id] or await self._open_elsewhere(user_id):
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
        if self.shared is not None:
            await self.shared.close()
