"""One holder at a time per conversation: a lock in this process, a store lease across processes.

Numbering a conversation's messages and routing them must happen in one place at a time, or
``seq`` order and routing order drift apart. Within a process a lock per key does it. When the
store is shared by several gateway instances (MongoDB), a lease document in the store
(``store.leases``) does it across them: it is renewed while held, so slow routing keeps it, and
it expires when its holder dies, so a ``kill -9`` holds a conversation up for at most ``ttl``.
The embedded store belongs to one process (it locks its file), so there the lock is enough.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from datetime import timedelta

from store import leases
from store.database import Store

log = logging.getLogger("youthdesk.leases")

LEASE_TTL = timedelta(seconds=10)
FIRST_RETRY_SECONDS = 0.01
LONGEST_RETRY_SECONDS = 0.2


class KeyedLocks:
    """One lock per key, held only while someone holds or waits for it (then forgotten)."""

    def __init__(self) -> None:
        self._locks: dict[str, tuple[asyncio.Lock, int]] = {}

    @asynccontextmanager
    async def hold(self, key: str) -> AsyncIterator[None]:
        lock, users = self._locks.get(key) or (asyncio.Lock(), 0)
        self._locks[key] = (lock, users + 1)
        try:
            async with lock:
                yield
        finally:
            lock, users = self._locks[key]
            if users == 1:
                del self._locks[key]
            else:
                self._locks[key] = (lock, users - 1)

    def __len__(self) -> int:
        return len(self._locks)


class ConversationLeases:
    def __init__(self, store: Store, ttl: timedelta = LEASE_TTL, holder: str = leases.PROCESS_HOLDER) -> None:
        self.store = store
        self.ttl = ttl
        self.holder = holder
        self._locks = KeyedLocks()

    @asynccontextmanager
    async def hold(self, name: str, *, unless: Callable[[], Awaitable[bool]] | None = None) -> AsyncIterator[bool]:
        """Hold ``name`` for the block (True), waiting as long as it takes; with ``unless``, stop
        waiting and run the block with False once ``unless()`` says the work is no longer needed."""
        async with self._locks.hold(name):
            if self.store.embedded:
                yield True
                return
            if not await self._take(name, unless):
                yield False
                return
            renewal = asyncio.create_task(self._renew(name), name=f"lease:{name}")
            try:
                yield True
            finally:
                renewal.cancel()
                await asyncio.gather(renewal, return_exceptions=True)
                await leases.give_up(self.store, name, self.holder)

    async def _take(self, name: str, unless: Callable[[], Awaitable[bool]] | None) -> bool:
        retry = FIRST_RETRY_SECONDS
        while not await leases.take(self.store, name, self.ttl, self.holder):
            if unless is not None and await unless():
                return False
            await asyncio.sleep(retry)
            retry = min(retry * 2, LONGEST_RETRY_SECONDS)
        return True

    async def _renew(self, name: str) -> None:
        while True:
            await asyncio.sleep(self.ttl.total_seconds() / 3)
            if not await leases.take(self.store, name, self.ttl, self.holder):
                # Only when the store was unreachable for a whole ttl; the work in hand still finishes.
                log.error("lease %s expired while held: another instance may take it over", name)
