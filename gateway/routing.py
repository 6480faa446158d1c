"""The routing backlog: conversations with stored, unrouted messages, and the bounded pool that routes them.

A webhook only stores a message and answers; routing (triage, handoff) happens here, later, by at
most ``workers`` tasks at once, so a burst of messages cannot turn into a burst of concurrent routing
that starves the webhooks of the event loop. The store stays the truth: a message is unrouted until
it is marked processed, and after a crash ``ConversationStream.resume`` fills this backlog again
from the store. What the backlog adds is the order in which conversations get a worker:

- the most urgent first (the conversation's known risk level, or a risk pre-score of its new text,
  whichever is higher), so a level-3 message does not wait behind a queue of ordinary ones;
- otherwise first come, first served (the moment the conversation started waiting);
- one worker per conversation at a time, so its messages are routed in stored order; messages that
  arrive while it is being routed bring it back into the backlog afterwards.
"""

from __future__ import annotations

import asyncio
import heapq
import itertools
import logging
from collections.abc import Awaitable, Callable

log = logging.getLogger("youthdesk.routing")


class RoutingBacklog:
    """Runs ``route(conversation_id)`` for each conversation added, by at most ``workers`` tasks at once.

    Workers are started when work arrives and end when the backlog is empty, so an idle process
    holds no routing task and a test that stops the app leaves none behind.
    """

    def __init__(self, route: Callable[[str], Awaitable[None]], *, workers: int) -> None:
        if workers < 1:
            raise ValueError("the routing backlog needs at least one worker")
        self._route = route
        self._limit = workers
        self._heap: list[tuple[int, int, str]] = []  # (-urgency, ticket, conversation id); stale entries skipped
        self._waiting: dict[str, tuple[int, int]] = {}  # conversation id -> (urgency, ticket) of its live entry
        self._busy: set[str] = set()
        self._again: dict[str, int] = {}  # busy conversations that got new messages: urgency to come back with
        self._tickets = itertools.count()
        self._workers: set[asyncio.Task[None]] = set()
        self._working = 0  # workers that have not yet found the backlog empty (a finished task is not
        # discarded from ``_workers`` at once: its done callback runs a loop iteration later)

    def add(self, conversation_id: str, urgency: int = 0) -> None:
        """The conversation has unrouted messages; ``urgency`` (0-3) moves it ahead of less urgent ones."""
        if conversation_id in self._busy:
            self._again[conversation_id] = max(urgency, self._again.get(conversation_id, 0))
            return
        waiting = self._waiting.get(conversation_id)
        if waiting is not None:
            if urgency <= waiting[0]:
                return
            ticket = waiting[1]  # more urgent now, but still ahead of equally urgent later arrivals
        else:
            ticket = next(self._tickets)
        self._waiting[conversation_id] = (urgency, ticket)
        heapq.heappush(self._heap, (-urgency, ticket, conversation_id))
        if self._working < self._limit:
            self._working += 1
            worker = asyncio.create_task(self._work(), name="routing-worker")
            self._workers.add(worker)
            worker.add_done_callback(self._workers.discard)

    def _next(self) -> str | None:
        while self._heap:
            urgency, ticket, conversation_id = heapq.heappop(self._heap)
            if self._waiting.get(conversation_id) == (-urgency, ticket):
                del self._waiting[conversation_id]
                self._busy.add(conversation_id)
                return conversation_id
        return None

    async def _work(self) -> None:
        try:
            while (conversation_id := self._next()) is not None:
                try:
                    await self._route(conversation_id)
                except Exception:  # noqa: BLE001 - the messages stay unprocessed; the next add or resume retries
                    log.exception("routing conversation %s failed; its messages stay in the stored backlog",
                                  conversation_id)
                finally:
                    self._busy.discard(conversation_id)
                    if (urgency := self._again.pop(conversation_id, None)) is not None:
                        self.add(conversation_id, urgency)
                # Let the webhooks waiting on the event loop answer before the next conversation.
                await asyncio.sleep(0)
        finally:
            self._working -= 1

    def __contains__(self, conversation_id: object) -> bool:
        return conversation_id in self._waiting or conversation_id in self._busy

    def __len__(self) -> int:
        """Conversations waiting for a worker or being routed."""
        return len(self._waiting) + len(self._busy)

    @property
    def workers(self) -> int:
        return self._working

    async def stop(self) -> None:
        """Forget what waits and cancel the routing in progress (at shutdown, once the grace period is
        over): the store still holds those messages as unrouted, and ``resume`` routes them after the
        restart, so nothing routes on against a store that is closing."""
        self._heap.clear()
        self._waiting.clear()
        self._again.clear()
        workers = list(self._workers)
        for worker in workers:
            worker.cancel()
        await asyncio.gather(*workers, return_exceptions=True)

    async def idle(self, timeout: float) -> bool:
        """Wait until nothing waits or is being routed; False if that took longer than ``timeout``."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while self._workers:
            remaining = deadline - loop.time()
            if remaining <= 0:
                return False
            await asyncio.wait(list(self._workers), timeout=remaining)
        return True
