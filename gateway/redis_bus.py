"""The event bus across gateway instances: one Redis publish/subscribe channel carries every event.

Each instance publishes its events to the channel and delivers what it reads back from it to its
own subscribers, its own events included. So every instance sees all events in the one order
Redis received them, and as the stream publishes a conversation's message events while it holds
the conversation's numbering, sockets everywhere see them in ``seq`` order. Delivery to local
subscribers is ``EventBus``'s: keyed by conversation and desk, bounded queues, the same cost per
event however many sockets are open; ``local_only`` subscriptions get this instance's events only.

If Redis is unreachable an event still reaches this instance's subscribers (logged). When the
channel's connection breaks, every subscription is cut off as lagged: events were missed, and the
console and widget reconnect and re-read state from the store.
"""

from __future__ import annotations

import asyncio
import json
import logging

import redis.asyncio as redis
from redis.exceptions import RedisError

from contract.models import Event, new_id
from gateway.bus import EventBus

log = logging.getLogger("youthdesk.bus")

CHANNEL = "youthdesk:events"
RECONNECT_SECONDS = 1.0
START_SECONDS = 10.0


class RedisEventBus(EventBus):
    def __init__(self, redis_url: str, channel: str = CHANNEL) -> None:
        super().__init__()
        self.channel = channel
        self.origin = new_id("bus")  # this instance, to recognise its own events coming back
        self._client = redis.from_url(redis_url)
        self._listener: asyncio.Task[None] | None = None
        self._listening = asyncio.Event()

    async def start(self) -> None:
        """Listen to the channel; returns once subscribed, so no event published after it is missed."""
        self._listener = asyncio.create_task(self._listen(), name="bus:redis")
        try:
            await asyncio.wait_for(self._listening.wait(), START_SECONDS)
        except TimeoutError:
            raise RuntimeError(f"event bus: Redis did not answer within {START_SECONDS:.0f} s (REDIS_URL)") from None

    async def publish(self, event: Event) -> None:
        self.published += 1
        payload = json.dumps({"origin": self.origin, "event": event.model_dump(mode="json")}, ensure_ascii=False)
        try:
            await self._client.publish(self.channel, payload)
        except RedisError:
            log.exception("event bus: Redis unreachable; %s reaches this instance only", event.type)
            self._deliver(event, local=True)

    async def instances_listening(self) -> int:
        """The channel's subscribers: one per running instance (1, this one, when Redis cannot say)."""
        try:
            counts = await self._client.pubsub_numsub(self.channel)
        except RedisError:
            log.exception("event bus: Redis unreachable; counting this instance only")
            return 1
        return max(1, int(counts[0][1])) if counts else 1

    async def _listen(self) -> None:
        while True:
            try:
                async with self._client.pubsub() as pubsub:
                    await pubsub.subscribe(self.channel)
                    while (await pubsub.get_message(timeout=None) or {}).get("type") != "subscribe":
                        pass  # Redis confirms the subscription before anything published later
                    self._listening.set()
                    while True:
                        message = await pubsub.get_message(ignore_subscribe_messages=True, timeout=None)
                        if message is not None:
                            self._receive(message["data"])
            except RedisError:
                log.exception("event bus: lost the Redis channel; cutting off subscribers so they re-read state")
                for subscription in list(self._subscriptions):
                    subscription.cut_off()
                await asyncio.sleep(RECONNECT_SECONDS)

    def _receive(self, payload: bytes) -> None:
        try:
            envelope = json.loads(payload)
            event = Event.model_validate(envelope["event"])
        except (ValueError, KeyError, TypeError):
            log.error("event bus: ignored a malformed message on %s", self.channel)
            return
        self._deliver(event, local=envelope.get("origin") == self.origin)

    async def close(self) -> None:
        await super().close()
        if self._listener is not None:
            self._listener.cancel()
            await asyncio.gather(self._listener, return_exceptions=True)
        await self._client.aclose()
