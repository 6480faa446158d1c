"""In-process publish/subscribe for stream events.

Subscribers get their own bounded queue. A subscriber that falls too far behind is cut off
(``lagged``) rather than slowing publishers or growing memory without bound; the console and
widget reconnect and re-read state from the API. A Redis-backed bus only needs ``publish``
and ``subscribe`` with the same meaning.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Callable

from contract.models import Event

log = logging.getLogger("youthdesk.bus")

EventFilter = Callable[[Event], bool]


class Subscription:
    def __init__(self, bus: EventBus, accept: EventFilter | None, maxsize: int) -> None:
        self._bus = bus
        self._accept = accept
        self._queue: asyncio.Queue[Event | None] = asyncio.Queue(maxsize=maxsize)
        self.lagged = False

    def _offer(self, event: Event) -> None:
        if self.lagged or (self._accept is not None and not self._accept(event)):
            return
        try:
            self._queue.put_nowait(event)
        except asyncio.QueueFull:
            self.lagged = True
            log.warning("bus subscriber lagged behind; closing it")
            self._bus._unsubscribe(self)
            self._queue.get_nowait()  # make room for the end marker
            self._queue.put_nowait(None)

    async def get(self) -> Event | None:
        """The next event, or None once the subscription is closed."""
        return await self._queue.get()

    def close(self) -> None:
        self._bus._unsubscribe(self)
        if not self._queue.full():
            self._queue.put_nowait(None)

    def __aiter__(self) -> AsyncIterator[Event]:
        return self._iterate()

    async def _iterate(self) -> AsyncIterator[Event]:
        while (event := await self.get()) is not None:
            yield event


class EventBus:
    def __init__(self) -> None:
        self._subscriptions: set[Subscription] = set()
        self.published = 0

    def subscribe(self, accept: EventFilter | None = None, *, maxsize: int = 1000) -> Subscription:
        subscription = Subscription(self, accept, maxsize)
        self._subscriptions.add(subscription)
        return subscription

    def _unsubscribe(self, subscription: Subscription) -> None:
        self._subscriptions.discard(subscription)

    async def publish(self, event: Event) -> None:
        self.published += 1
        for subscription in list(self._subscriptions):
            subscription._offer(event)

    async def close(self) -> None:
        for subscription in list(self._subscriptions):
            subscription.close()
