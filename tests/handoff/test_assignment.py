"""Queue position notices: one read per desk change, bursts coalesced, only changed positions told, and
each change told once by whichever gateway instance records it (what was told is in the store)."""

from __future__ import annotations

import asyncio

from contract.keys import STORE, STREAM
from handoff import assignment as assignment_module
from handoff.assignment import Assignment
from tests.handoff_support import conversation, engine, start


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
    real_entries = assignment_module.queue_entries

    async def counted(store, desks):  # type: ignore[no-untyped-def]
        reads.append(desks)
        await asyncio.sleep(0)  # let the other changes of the burst arrive while this one reads
        return await real_entries(store, desks)

    monkeypatch.setattr(assignment_module, "queue_entries", counted)
    desk = (await client.app[STORE].conversations.find_one({}))["desk"]
    await asyncio.gather(*(engine(client).assignment.publish_positions(desk) for _ in range(10)))
    assert reads == [{desk}, {desk}]  # the first change, then one more pass for the nine during it


async def test_only_youths_whose_position_changed_are_told(start_app) -> None:
    client = await start(start_app)
    first = await conversation(client)
    second = await conversation(client)
    desk = (await client.app[STORE].conversations.find_one({"_id": first}))["desk"]
    assignment = engine(client).assignment

    nothing_changed = await _position_events(client, lambda: assignment.publish_positions(desk))
    assert nothing_changed == []

    at_risk: list[str] = []

    async def a_youth_at_risk_arrives() -> None:
        at_risk.append(await conversation(client, risk=2))

    told = await _position_events(client, a_youth_at_risk_arrives)
    assert (first, 2) in told and (second, 3) in told  # both moved down behind the youth at risk
    assert [position for cid, position in told if cid == at_risk[0]] == [None]  # never a place, told once
    assert await _position_events(client, lambda: assignment.publish_positions(desk)) == []


async def test_two_gateways_tell_each_change_of_place_once_and_skip_none(start_app) -> None:
    client = await start(start_app)
    first = await conversation(client)
    second = await conversation(client)
    store = client.app[STORE]
    desk = (await store.conversations.find_one({"_id": first}))["desk"]
    gateway_a = engine(client).assignment
    gateway_b = Assignment(gateway_a.context)  # another instance on the same store and bus

    # A told both their places when they queued: B has nothing to add.
    assert await _position_events(client, lambda: gateway_b.publish_positions(desk)) == []

    at_risk: list[str] = []

    async def a_youth_at_risk_arrives() -> None:  # through A
        at_risk.append(await conversation(client, risk=2))

    assert (first, 2) in await _position_events(client, a_youth_at_risk_arrives)

    async def b_sees_the_youth_at_risk_taken() -> None:
        await store.conversations.update_one({"_id": at_risk[0]}, {"$set": {"state": "assigned", "owner": "u"}})
        await gateway_b.publish_positions(desk)

    assert await _position_events(client, b_sees_the_youth_at_risk_taken) == [(first, 1), (second, 2)]

    async def another_youth_at_risk_arrives() -> None:  # through A, which last told the first "2" itself
        await conversation(client, risk=2)

    told = await _position_events(client, another_youth_at_risk_arrives)
    assert (first, 2) in told and (second, 3) in told  # A does not skip them for having said "2" before
