"""Queue order, atomic claiming, skills and capacity, auto-assignment."""

from __future__ import annotations

import asyncio
from datetime import timedelta

from contract.handoff import HandoffRequest
from contract.keys import STORE, STREAM
from contract.models import Conversation, Message
from contract.people import Presence
from handoff.queue import queued
from handoff.users import set_presence
from tests.fakes import inbound, wait_for
from tests.handoff_support import conversation, engine, login, start, user


async def test_queue_orders_by_risk_then_waiting_time(start_app) -> None:
    client = await start(start_app)
    eng = engine(client)
    base = eng.now()
    order = []
    # (risk, minutes ago): older low-risk conversations must still wait behind higher risk.
    for risk, minutes in [(0, 30), (2, 5), (1, 20), (2, 15), (0, 40), (3, 1)]:
        eng.now = lambda m=minutes: base - timedelta(minutes=m)
        cid = await conversation(client, risk=risk)
        order.append((risk, minutes, cid))
    eng.now = lambda: base
    expected = [cid for _, _, cid in sorted(order, key=lambda t: (-t[0], -t[1]))]
    # gd is a pull desk; wechat account feeds gd
    assert [i.conversation.id for i in await queued(client.app[STORE], {"gd"})] == expected
    await user(client, "sup-gd", "supervisor", "gd")
    headers = await login(client, "sup-gd")
    response = await client.get("/api/v1/queue?desk=gd", headers=headers)
    assert response.status == 200
    body = await response.json()
    assert [item["id"] for item in body["items"]] == expected
    assert [item["queue_position"] for item in body["items"]] == list(range(1, 7))


async def test_twenty_concurrent_claimers_never_share_a_conversation(start_app) -> None:
    client = await start(start_app)
    ids = [await conversation(client) for _ in range(10)]
    counsellors = [await user(client, f"c{i:02d}", desk="gd", capacity=1) for i in range(20)]
    results = await asyncio.gather(*(engine(client).take_next(c) for c in counsellors))
    taken = [r.id for r in results if r is not None]
    assert sorted(taken) == sorted(ids)  # every conversation taken exactly once
    owners = {}
    for doc in await client.app[STORE].conversations.find({"_id": {"$in": ids}}).to_list(None):
        owners[doc["_id"]] = doc["owner"]
        assert doc["state"] == "assigned"
    assert len(set(owners.values())) == 10  # capacity 1: nobody holds two


async def test_concurrent_claims_of_one_conversation_over_http(start_app) -> None:
    client = await start(start_app)
    cid = await conversation(client)
    headers = [await login(client, (await user(client, f"h{i}", desk="gd")).username) for i in range(20)]
    responses = await asyncio.gather(*(client.post(f"/api/v1/conversations/{cid}/claim", headers=h)
                                       for h in headers))
    statuses = sorted(r.status for r in responses)
    assert statuses.count(200) == 1 and statuses.count(409) == 19


async def test_take_next_respects_skills_and_capacity(start_app) -> None:
    client = await start(start_app)
    legal = await conversation(client, risk=2, category="abuse_home")  # needs "legal"
    plain = await conversation(client, risk=1)
    generalist = await user(client, "gen", desk="gd", skills=["psychological"], capacity=1)
    first = await engine(client).take_next(generalist)
    assert first is not None and first.id == plain  # skips the higher-risk one it lacks the skill for
    assert await engine(client).take_next(generalist) is None
    lawyer = await user(client, "law", desk="gd", skills=["legal"])
    second = await engine(client).take_next(lawyer)
    assert second is not None and second.id == legal


async def test_auto_assign_picks_least_loaded_skilled_online_counsellor(start_app, settings) -> None:
    client = await start(start_app, settings, auto=True)
    a = await user(client, "aa", desk="gd", skills=["psychological"], capacity=2)
    b = await user(client, "bb", desk="gd", skills=["psychological"], capacity=2)
    offline = await user(client, "offline", desk="gd", skills=["psychological"], online=False)
    unskilled = await user(client, "unskilled", desk="gd", skills=[])
    ghost = await user(client, "ghost", desk="gd", skills=["psychological"], online=False)
    await set_presence(client.app[STORE], ghost.id, Presence.ONLINE)  # "online" but no console open
    owners = []
    for _ in range(4):
        cid = await conversation(client, risk=2, category="suicide")
        owners.append((await client.app[STORE].conversations.find_one({"_id": cid}))["owner"])
    assert sorted(owners) == sorted([a.id, a.id, b.id, b.id])  # spread evenly, never past capacity
    assert offline.id not in owners and unskilled.id not in owners and ghost.id not in owners
    waiting = await conversation(client, risk=2, category="suicide")
    assert (await client.app[STORE].conversations.find_one({"_id": waiting}))["state"] == "queued"
    # the offline counsellor comes online: the waiting conversation goes to them
    headers = await login(client, "offline")
    response = await client.put("/api/v1/me/presence", json={"presence": "online"}, headers=headers)
    assert response.status == 200
    assert (await client.app[STORE].conversations.find_one({"_id": waiting}))["owner"] == offline.id


class BrokenRouter:
    async def route(self, conversation: Conversation, message: Message) -> None:
        raise RuntimeError("triage crashed")


async def test_a_routing_failure_queues_the_conversation_at_once(start_app) -> None:
    client = await start(start_app)
    client.app[STREAM].router = BrokenRouter()
    result = await client.app[STREAM].ingest(inbound("救命", user="openid-orphan", msg_id="orphan-1"))

    async def queued_with_bookkeeping() -> bool:
        doc = await client.app[STORE].conversations.find_one({"_id": result.conversation_id})
        return doc["state"] == "queued" and "handoff" in doc

    await wait_for(queued_with_bookkeeping)  # no deadline tick needed: the engine queued it itself
    doc = await client.app[STORE].conversations.find_one({"_id": result.conversation_id})
    assert doc["handoff"]["deadline_due_at"] is not None
    assert doc["handoff"]["reason"] == "routing_failed"
    assert [i.conversation.id for i in await queued(client.app[STORE], {"gd"})] == [result.conversation_id]


async def test_racing_handoff_requests_queue_once(start_app) -> None:
    client = await start(start_app)
    result = await client.app[STREAM].ingest(inbound("我不想活了", user="openid-race", msg_id="race-1"))
    request = HandoffRequest(conversation_id=result.conversation_id, reason="risk", risk_level=3, category="suicide")
    await asyncio.gather(*(engine(client).request_handoff(request) for _ in range(5)))
    assert await client.app[STORE]["alerts"].count_documents({"conversation_id": result.conversation_id}) == 1
    changes = await client.app[STORE].events.count_documents(
        {"conversation_id": result.conversation_id, "type": "conversation.state_changed"})
    assert changes == 1
