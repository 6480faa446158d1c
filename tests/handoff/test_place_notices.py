"""Place notices. With no spell between passes (the tests' settings): one read per desk change, bursts
coalesced, only changed places told, each change told once by whichever gateway instance records it
(what was told is in the store). Under a spell (``handoff.place_notice_seconds``): a queue change reads
nothing however long the queue, the changes of a spell are worked out together at its end, and every
youth ends up told their right place once, by event and (where the channel cannot show it live) by text."""

from __future__ import annotations

import asyncio
from datetime import timedelta

import pytest

from contract.keys import STORE, STREAM
from handoff import place_notices as place_notices_module
from handoff.assignment import Assignment
from tests.fakes import CountingReads, wait_for
from tests.handoff.test_hours import BudgetedChannel
from tests.handoff_support import AnotherRequest, conversation, engine, start

SPELL = 0.5


async def _position_events(client, action) -> list[tuple[str, int | None]]:  # type: ignore[no-untyped-def]
    subscription = client.app[STREAM].bus.subscribe(lambda e: e.type == "queue.position")
    await action()
    subscription.close()
    return [(event.conversation_id, event.data["position"]) async for event in subscription]


async def test_a_burst_of_queue_changes_recomputes_a_desk_at_most_twice(start_app, monkeypatch) -> None:
    client = await start(start_app)
    for _ in range(5):
        await conversation(client)
    reads: list[set[str]] = []
    real_entries = place_notices_module.queue_entries

    async def counted(store, desks):  # type: ignore[no-untyped-def]
        reads.append(desks)
        await asyncio.sleep(0)  # let the other changes of the burst arrive while this one reads
        return await real_entries(store, desks)

    monkeypatch.setattr(place_notices_module, "queue_entries", counted)
    desk = (await client.app[STORE].conversations.find_one({}))["desk"]
    await asyncio.gather(*(engine(client).assignment.places.queue_changed(desk) for _ in range(10)))
    await wait_for(lambda: len(reads) == 2)
    await asyncio.sleep(0.1)
    assert reads == [{desk}, {desk}]  # the first change, then one more pass for the nine during it


async def test_only_youths_whose_position_changed_are_told(start_app) -> None:
    client = await start(start_app)
    first = await conversation(client)
    second = await conversation(client)
    desk = (await client.app[STORE].conversations.find_one({"_id": first}))["desk"]
    assignment = engine(client).assignment

    nothing_changed = await _position_events(client, lambda: assignment.places.queue_changed(desk))
    assert nothing_changed == []

    at_risk: list[str] = []

    async def a_youth_at_risk_arrives() -> None:
        at_risk.append(await conversation(client, risk=2))

    told = await _position_events(client, a_youth_at_risk_arrives)
    assert (first, 2) in told and (second, 3) in told  # both moved down behind the youth at risk
    assert [position for cid, position in told if cid == at_risk[0]] == [None]  # never a place, told once
    assert await _position_events(client, lambda: assignment.places.queue_changed(desk)) == []


async def test_two_gateways_tell_each_change_of_place_once_and_skip_none(start_app) -> None:
    client = await start(start_app)
    first = await conversation(client)
    second = await conversation(client)
    store = client.app[STORE]
    desk = (await store.conversations.find_one({"_id": first}))["desk"]
    gateway_a = engine(client).assignment
    gateway_b = Assignment(gateway_a.context)  # another instance on the same store and bus

    # A told both their places when they queued: B has nothing to add.
    assert await _position_events(client, lambda: gateway_b.places.queue_changed(desk)) == []

    at_risk: list[str] = []

    async def a_youth_at_risk_arrives() -> None:  # through A
        at_risk.append(await conversation(client, risk=2))

    assert (first, 2) in await _position_events(client, a_youth_at_risk_arrives)

    async def b_sees_the_youth_at_risk_taken() -> None:
        await store.conversations.update_one({"_id": at_risk[0]}, {"$set": {"state": "assigned", "owner": "u"}})
        await gateway_b.places.queue_changed(desk)

    assert await _position_events(client, b_sees_the_youth_at_risk_taken) == [(first, 1), (second, 2)]

    async def another_youth_at_risk_arrives() -> None:  # through A, which last told the first "2" itself
        await conversation(client, risk=2)

    told = await _position_events(client, another_youth_at_risk_arrives)
    assert (first, 2) in told and (second, 3) in told  # A does not skip them for having said "2" before


def _with_spell(settings):  # type: ignore[no-untyped-def]
    return settings.model_copy(update={"handoff": settings.handoff.model_copy(update={"place_notice_seconds": SPELL})})


async def _clone_queue(client, waiting: int) -> str:  # type: ignore[no-untyped-def]
    """``waiting`` youths below risk 2 in one desk's queue, each having waited a little less; returns the desk."""
    store = client.app[STORE]
    template = await store.conversations.find_one({"_id": await conversation(client)})
    since = template["handoff"]["waiting_since"]
    await store.conversations.insert_many([
        {**template, "_id": f"cv-queued-{n}", "contact_id": f"ct-queued-{n}",
         "handoff": {**template["handoff"], "waiting_since": since + timedelta(milliseconds=n + 1)}}
        for n in range(waiting - 1)])
    await asyncio.sleep(SPELL)  # the template's own change is a spell ago: the desk is quiet
    return template["desk"]


@pytest.mark.parametrize("waiting", [20, 500])
async def test_a_queue_change_within_the_spell_reads_nothing_however_long_the_queue(start_app, settings,
                                                                                   monkeypatch, waiting: int) -> None:
    client = await start(start_app, _with_spell(settings))
    desk = await _clone_queue(client, waiting)
    places = engine(client).assignment.places
    readings: list[int] = []
    real_entries = place_notices_module.queue_entries

    async def counted(store, desks):  # type: ignore[no-untyped-def]
        entries = await real_entries(store, desks)
        readings.append(len(entries))
        return entries

    monkeypatch.setattr(place_notices_module, "queue_entries", counted)
    await places.queue_changed(desk)  # the first change after a quiet spell: worked out at once
    assert readings == [waiting]
    reads = CountingReads(client.app[STORE].conversations)
    for _ in range(50):
        await places.queue_changed(desk)
    assert reads.find_documents == 0 and readings == [waiting]  # fifty changes, nothing read
    await wait_for(lambda: len(readings) == 2, timeout=SPELL + 5)
    await asyncio.sleep(SPELL)
    assert readings == [waiting, waiting]  # one more reading for all fifty, at the end of the spell


async def test_after_the_spell_each_youth_is_told_their_final_place_once(start_app, settings) -> None:
    client = await start(start_app, _with_spell(settings), channel_classes=[BudgetedChannel])
    told: list[tuple[str, int | None]] = []
    subscription = client.app[STREAM].bus.subscribe(lambda e: e.type == "queue.position")
    first = await conversation(client)  # told at once: the desk was quiet
    second = await conversation(client)  # within the spell: told at its end
    at_risk = await conversation(client, risk=2)  # moves both down before anyone heard of the second
    await asyncio.sleep(SPELL * 2)
    subscription.close()
    told = [(event.conversation_id, event.data["position"]) async for event in subscription]
    assert told == [(first, 1), (at_risk, None), (first, 2), (second, 3)]

    channel = BudgetedChannel.instances[-1]
    await wait_for(lambda: sum("预计等待" in m.text for m in channel.sent) == 2)
    notices = {m.conversation_id: m.text for m in channel.sent if "预计等待" in m.text}
    assert "前面还有0位" in notices[first] and "前面还有2位" in notices[second]  # the place worked out for each


async def test_stopping_cancels_a_pass_waiting_for_the_end_of_its_spell(start_app, settings, monkeypatch) -> None:
    client = await start(start_app, _with_spell(settings))
    desk = await _clone_queue(client, 3)
    places = engine(client).assignment.places
    readings: list[set[str]] = []
    real_entries = place_notices_module.queue_entries

    async def counted(store, desks):  # type: ignore[no-untyped-def]
        readings.append(desks)
        return await real_entries(store, desks)

    monkeypatch.setattr(place_notices_module, "queue_entries", counted)
    await places.queue_changed(desk)
    await places.queue_changed(desk)  # waits for the end of the spell
    await places.stop()
    await asyncio.sleep(SPELL * 2)
    assert readings == [{desk}]


async def test_a_pass_gives_the_loop_back_between_the_youths_it_tells(start_app) -> None:
    """A pass at the end of a busy spell tells hundreds of youths their first place: the webhooks come in
    between them, not after the last (the embedded store's reads and writes never wait on anything)."""
    client = await start(start_app)
    desk = await _clone_queue(client, 60)
    async with AnotherRequest() as other:
        told = await _position_events(client, lambda: engine(client).assignment.places.queue_changed(desk))
    assert len(told) >= 59  # the 59 cloned youths hear their first place
    assert other.turns >= len(told)  # the loop was given back after each youth told


async def test_a_pass_gives_the_loop_back_between_reading_the_queue_recording_the_places_and_telling(
        start_app, monkeypatch) -> None:
    """With ~500 waiting, the read and the record together held the loop 46-74 ms in one block."""
    client = await start(start_app)
    desk = await _clone_queue(client, 20)
    steps: list[str] = []
    real_entries, real_record = place_notices_module.queue_entries, place_notices_module.queue_places.record_told

    async def reading(store, desks):  # type: ignore[no-untyped-def]
        entries = await real_entries(store, desks)
        steps.append("read")
        return entries

    async def recording(*args):  # type: ignore[no-untyped-def]
        told_before = await real_record(*args)
        steps.append("recorded")
        return told_before

    monkeypatch.setattr(place_notices_module, "queue_entries", reading)
    monkeypatch.setattr(place_notices_module.queue_places, "record_told", recording)
    async with AnotherRequest(steps):
        told = await _position_events(client, lambda: engine(client).assignment.places.queue_changed(desk))
    assert len(told) >= 19
    assert steps[:4] == ["read", "turn", "recorded", "turn"]
