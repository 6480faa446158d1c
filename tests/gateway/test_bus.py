"""The event bus: keyed subscriptions see only their conversations' (and desks') events, unkeyed ones all."""

from __future__ import annotations

import asyncio

from contract.models import Event
from gateway.bus import EventBus


def _event(conversation_id: str | None = None, desk: str | None = None, type: str = "message.created") -> Event:  # noqa: A002
    return Event(type=type, conversation_id=conversation_id, desk=desk)


def _drain(subscription) -> list[Event]:
    events = []
    while not subscription._queue.empty():
        events.append(subscription._queue.get_nowait())
    return events


async def test_a_keyed_subscription_receives_only_what_it_follows_and_its_filter_accepts() -> None:
    bus = EventBus()
    widget = bus.subscribe(lambda e: e.type != "typing", conversations=())
    everything = bus.subscribe()
    await bus.publish(_event("c1"))
    widget.follow("c1")
    widget.follow("c1")  # twice: still one copy of each event
    for event in (_event("c1"), _event("c2"), _event("c1", type="typing"), _event(None, desk="d1")):
        await bus.publish(event)
    assert [(e.conversation_id, e.type) for e in _drain(widget)] == [("c1", "message.created")]
    assert len(_drain(everything)) == 5


async def test_publishing_touches_only_interested_keyed_subscriptions() -> None:
    bus = EventBus()
    calls = []
    sockets = [bus.subscribe(lambda e, n=n: calls.append(n) or True, conversations=[f"c{n}"]) for n in range(1000)]
    await bus.publish(_event("c7"))
    assert calls == [7]
    assert [len(_drain(s)) for s in sockets[6:9]] == [0, 1, 0]


async def test_desk_keys_and_conversation_keys_deliver_an_event_once() -> None:
    bus = EventBus()
    console = bus.subscribe(desks=["d1"], conversations=["c1"])
    await bus.publish(_event("c1", desk="d1"))
    await bus.publish(_event("c2", desk="d1"))
    await bus.publish(_event("c1", desk="d2"))
    await bus.publish(_event("c3", desk="d3"))
    assert [(e.conversation_id, e.desk) for e in _drain(console)] == [("c1", "d1"), ("c2", "d1"), ("c1", "d2")]


async def test_a_lagging_keyed_subscription_is_cut_off_and_forgotten() -> None:
    bus = EventBus()
    slow = bus.subscribe(conversations=["c1"], maxsize=2)
    for _ in range(3):
        await bus.publish(_event("c1"))
    assert slow.lagged
    assert bus._by_key == {} and bus.subscriber_count == 0
    assert len([e async for e in slow]) == 1  # what fitted, then the end marker
    slow.follow("c2")  # a closed subscription follows nothing more
    assert bus._by_key == {}


async def test_close_ends_every_subscription_keyed_or_not() -> None:
    bus = EventBus()
    keyed, unkeyed, idle = bus.subscribe(conversations=["c1"]), bus.subscribe(), bus.subscribe(conversations=())
    await bus.close()
    results = await asyncio.wait_for(asyncio.gather(keyed.get(), unkeyed.get(), idle.get()), 1)
    assert results == [None, None, None]
    assert bus.subscriber_count == 0
