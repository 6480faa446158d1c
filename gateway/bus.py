"""In-process publish/subscribe for stream events.

Subscribers get their own bounded queue. A subscriber that falls too far behind is cut off
(``lagged``) rather than slowing publishers or growing memory without bound; the console and
widget reconnect and re-read state from the API. ``gateway.redis_bus`` carries the same
subscriptions across gateway instances.

A subscription opened ``local_only`` (a worker that acts on events) sees only the events this
instance published, so with several instances an event is acted on once, where it happened;
the sockets' subscriptions see the events of every instance.

A subscription either sees every event (its filter, if any, decides), or is *keyed*: it sees
only the events of the conversations it ``follow``s (and of the desks it was keyed on), its
filter still deciding among those. Publishing looks keyed subscriptions up by the event's
conversation and desk, so an event costs one filter call per unkeyed subscription plus one per
interested keyed one, however many widget sockets are open.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Callable, Iterable

from contract.models import Event

log = logging.getLogger("youthdesk.bus")

EventFilter = Callable[[Event], bool]
_Key = tuple[str, str]  # ("conversation", id) or ("desk", id)


class Subscription:
    def __init__(self, bus: EventBus, accept: EventFilter | None, maxsize: int, keys: set[_Key] | None,
                 local_only: bool) -> None:
        self._bus = bus
        self.local_only = local_only
        self._accept = accept
        self._queue: asyncio.Queue[Event | None] = asyncio.Queue(maxsize=maxsize)
        self._keys = keys  # None: sees every event
        self.lagged = False
        self.closed = False

    @property
    def keyed(self) -> bool:
        return self._keys is not None

    def follow(self, conversation_id: str) -> None:
        """From now on also receive the events of ``conversation_id`` (a no-op for an unkeyed one)."""
        if self._keys is None or self.closed:
            return
        key = ("conversation", conversation_id)
        if key not in self._keys:
            self._keys.add(key)
            self._bus._index(self, key)

    def _offer(self, event: Event) -> None:
        if self.lagged or (self._accept is not None and not self._accept(event)):
            return
        try:
            self._queue.put_nowait(event)
        except asyncio.QueueFull:
            log.warning("bus subscriber lagged behind; closing it")
            self.cut_off()

    def cut_off(self) -> None:
        """Close it as ``lagged``: it missed events, so its reader must re-read state."""
        self.lagged = True
        self._bus._unsubscribe(self)
        if self._queue.full():
            self._queue.get_nowait()  # make room for the end marker
        self._queue.put_nowait(None)

    async def get(self) -> Event | None:
        """The next event, or None once the subscription is closed."""
        return await self._queue.get()

    def take_queued(self, limit: int) -> list[Event | None]:
        """Up to ``limit`` events already queued, taken at once (a None, last: the subscription is closed)."""
        taken: list[Event | None] = []
        while len(taken) < limit and not self._queue.empty():
            taken.append(self._queue.get_nowait())
        return taken

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
        self._subscriptions: set[Subscription] = set()  # all open ones
        self._everything: set[Subscription] = set()  # the unkeyed ones
        self._by_key: dict[_Key, set[Subscription]] = {}
        self.published = 0

    def subscribe(self, accept: EventFilter | None = None, *, maxsize: int = 1000,
                  conversations: Iterable[str] | None = None, desks: Iterable[str] | None = None,
                  local_only: bool = False) -> Subscription:
        """A new subscription; keyed when ``conversations`` or ``desks`` is given (even empty)."""
        keyed = conversations is not None or desks is not None
        subscription = Subscription(self, accept, maxsize, set() if keyed else None, local_only)
        self._subscriptions.add(subscription)
        if not keyed:
            self._everything.add(subscription)
            return subscription
        for desk in desks or ():
            subscription._keys.add(("desk", desk))  # type: ignore[union-attr]
            self._index(subscription, ("desk", desk))
        for conversation_id in conversations or ():
            subscription.follow(conversation_id)
        return subscription

    @property
    def subscriber_count(self) -> int:
        return len(self._subscriptions)

    def _index(self, subscription: Subscription, key: _Key) -> None:
        self._by_key.setdefault(key, set()).add(subscription)

    def _unsubscribe(self, subscription: Subscription) -> None:
        subscription.closed = True
        self._subscriptions.discard(subscription)
        self._everything.discard(subscription)
        for key in subscription._keys or ():
            subscriptions = self._by_key.get(key)
            if subscriptions is not None:
                subscriptions.discard(subscription)
                if not subscriptions:
                    del self._by_key[key]

    def _interested(self, event: Event) -> list[Subscription]:
        targets = list(self._everything)
        if self._by_key:
            keyed: dict[Subscription, None] = {}
            keys = [("conversation", event.conversation_id), *(("desk", desk) for desk in event.desks)]
            for key in keys:
                if key[1] is not None:
                    keyed.update(dict.fromkeys(self._by_key.get(key, ())))  # type: ignore[arg-type]
            targets.extend(keyed)
        return targets

    async def publish(self, event: Event) -> None:
        self.published += 1
        self._deliver(event, local=True)

    async def instances_listening(self) -> int:
        """How many gateway instances hear what this one publishes, itself included."""
        return 1

    def _deliver(self, event: Event, *, local: bool) -> None:
        """Hand ``event`` to its subscribers; ``local``: it was published by this instance."""
        for subscription in self._interested(event):
            if local or not subscription.local_only:
                subscription._offer(event)

    async def close(self) -> None:
        for subscription in list(self._subscriptions):
            subscription.close()
