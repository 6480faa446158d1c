"""The Redis event bus on a real local redis-server: two instances, one order, workers act once."""

from __future__ import annotations

import asyncio

import pytest

from contract.models import Event
from gateway.redis_bus import RedisEventBus

pytestmark = pytest.mark.redis


async def _next(subscription) -> Event:  # type: ignore[no-untyped-def]
    event = await asyncio.wait_for(subscription.get(), 5)
    assert event is not None
    return event


async def test_events_of_both_instances_reach_keyed_sockets_everywhere_in_one_order(redis_url: str) -> None:
    first, second = RedisEventBus(redis_url), RedisEventBus(redis_url)
    await first.start()
    await second.start()
    try:
        sockets = [bus.subscribe(conversations=["c1"]) for bus in (first, second)]
        unrelated = second.subscribe(conversations=["c2"])
        for n in range(20):
            bus = first if n % 2 else second
            await bus.publish(Event(type="message.created", conversation_id="c1", data={"seq": n}))
        for socket in sockets:
            assert [(await _next(socket)).data["seq"] for _ in range(20)] == list(range(20))
        assert unrelated._queue.empty()
    finally:
        await first.close()
        await second.close()


async def test_a_local_only_subscription_sees_only_its_own_instance_s_events(redis_url: str) -> None:
    first, second = RedisEventBus(redis_url), RedisEventBus(redis_url)
    await first.start()
    await second.start()
    try:
        worker = first.subscribe(lambda e: e.type == "alert.raised", local_only=True)
        console = first.subscribe()
        await second.publish(Event(type="alert.raised", conversation_id="c1", data={"from": "second"}))
        await first.publish(Event(type="alert.raised", conversation_id="c1", data={"from": "first"}))
        assert [(await _next(console)).data["from"] for _ in range(2)] == ["second", "first"]
        assert (await _next(worker)).data["from"] == "first"
        assert worker._queue.empty()
    finally:
        await first.close()
        await second.close()


async def test_a_malformed_message_on_the_channel_is_ignored(redis_url: str) -> None:
    import redis.asyncio as redis

    bus = RedisEventBus(redis_url)
    await bus.start()
    client = redis.from_url(redis_url)
    try:
        everything = bus.subscribe()
        for junk in (b"not json", b'{"origin": "x"}', b'{"event": {"type": 5}}', b"[]"):
            await client.publish("youthdesk:events", junk)
        await bus.publish(Event(type="ok"))
        assert (await _next(everything)).type == "ok"
    finally:
        await client.aclose()
        await bus.close()
