"""Response-time rules: warning, breach → supervisor alert, then the conversation goes back to the queue."""

from __future__ import annotations

from datetime import timedelta

from contract.handoff_config import DeadlineConfig, HandoffConfig
from contract.keys import STORE, STREAM
from handoff.web.keys import DEADLINES
from store import messages
from tests.fakes import CountingReads, ExaminedDocuments, inbound, wait_for
from tests.handoff_support import AnotherRequest, conversation, engine, login, start, user


async def test_breach_notifies_supervisor_then_requeues(start_app) -> None:
    client = await start(start_app)
    eng, watcher = engine(client), client.app[DEADLINES]
    await user(client, "sup-gd", "supervisor", "gd")
    counsellor = await user(client, "c-gd", desk="gd")
    cid = await conversation(client, risk=1)
    rule = eng.settings.handoff.deadline(1)
    base = eng.now()
    await eng.claim(cid, counsellor)
    seen = []
    subscription = eng.stream.bus.subscribe(lambda e: e.type.startswith(("deadline.", "conversation.state")))

    async def at(seconds: float) -> dict:
        eng.now = lambda: base + timedelta(seconds=seconds)
        await watcher.tick()
        return await client.app[STORE].conversations.find_one({"_id": cid})

    assert (await at(rule.first_response_seconds * 0.5))["handoff"]["deadline_state"] == "ok"
    assert (await at(rule.first_response_seconds * 0.85))["handoff"]["deadline_state"] == "warning"
    doc = await at(rule.first_response_seconds + 1)
    assert doc["handoff"]["deadline_state"] == "breached" and doc["state"] == "assigned"
    alerts = await client.app[STORE]["alerts"].find({"conversation_id": cid}).to_list(None)
    assert [a["type"] for a in alerts] == ["deadline_breached"] and len(alerts[0]["recipients"]) == 1
    doc = await at(rule.first_response_seconds + rule.requeue_after_seconds + 1)
    assert doc["state"] == "queued" and doc["owner"] is None
    assert doc["handoff"]["transfers"][-1]["from_user"] == counsellor.id
    subscription.close()
    async for event in subscription:
        seen.append(event.type)
    assert seen.index("deadline.warning") < seen.index("deadline.breached") < len(seen) - 1
    assert seen[-1] == "conversation.state_changed"


async def test_reply_deadline_starts_with_youth_message_and_ends_with_reply(start_app) -> None:
    client = await start(start_app)
    eng = engine(client)
    counsellor = await user(client, "c-gd", desk="gd")
    cid = await conversation(client, youth="openid-reply")
    await eng.claim(cid, counsellor)
    headers = await login(client, "c-gd")
    response = await client.post(f"/api/v1/conversations/{cid}/messages", json={"text": "你好，我在"}, headers=headers)
    assert response.status == 201
    doc = await client.app[STORE].conversations.find_one({"_id": cid})
    assert doc["handoff"]["deadline_due_at"] is None and doc["handoff"]["first_responded_at"] is not None
    await client.app[STREAM].ingest(inbound("还在吗", user="openid-reply", msg_id="reply-2"))

    async def reply_deadline_running() -> bool:
        doc = await client.app[STORE].conversations.find_one({"_id": cid})
        return doc["handoff"]["deadline_due_at"] is not None

    await wait_for(reply_deadline_running)
    summary = await (await client.get(f"/api/v1/conversations/{cid}", headers=headers)).json()
    assert summary["reply_due_at"] is not None and summary["first_response_due_at"] is None


async def test_background_tick_with_tiny_deadlines(start_app, settings) -> None:
    tiny = DeadlineConfig(first_response_seconds=1, reply_seconds=1, requeue_after_seconds=1)
    handoff = HandoffConfig(deadlines={str(level): tiny for level in range(4)}, tick_seconds=0.05)
    client = await start(start_app, settings.model_copy(update={"handoff": handoff}))
    counsellor = await user(client, "c-gd", desk="gd")
    cid = await conversation(client, risk=2)
    await engine(client).claim(cid, counsellor)

    async def requeued() -> bool:
        doc = await client.app[STORE].conversations.find_one({"_id": cid})
        return doc["state"] == "queued"

    await wait_for(requeued, timeout=6)
    assert await client.app[STORE]["alerts"].count_documents({"conversation_id": cid,
                                                              "type": "deadline_breached"}) == 1


async def test_a_tick_with_500_conversations_with_a_human_reads_only_the_due_ones(start_app) -> None:
    client = await start(start_app)
    eng, store = engine(client), client.app[STORE]
    await user(client, "sup-gd", "supervisor", "gd")
    counsellor = await user(client, "c-gd", desk="gd")
    template = await store.conversations.find_one({"_id": await conversation(client, risk=1)})
    now = eng.now()
    later, past = now + timedelta(hours=2), now - timedelta(seconds=5)
    clones = []
    for n in range(500):
        due = past if n % 100 == 0 else later  # 5 of 500 are past their deadline
        clones.append({**template, "_id": f"cv-bulk-{n}", "state": "assigned", "owner": counsellor.id,
                       "handoff": {**template["handoff"], "deadline_started_at": now - timedelta(minutes=10),
                                   "deadline_due_at": due, "deadline_state": "ok", "last_youth_at": now}})
    await store.conversations.insert_many(clones)
    await store.conversations.delete_one({"_id": template["_id"]})
    await client.app[DEADLINES].stop()  # the test ticks by hand; a background tick would count twice
    reads = CountingReads(store.conversations)
    examined = ExaminedDocuments(store.conversations)

    await client.app[DEADLINES].tick()

    assert reads.find_documents == 5  # the five due ones, not the 500 with a human
    # Nor did the store look at the others: its indexes answer the due read's ranges and branches. Each
    # breach then moves the deadline state by id and state, which looks at that one document only, past the
    # indexes (store.durable's _named_document).
    assert examined.count == 5
    breached = await store.conversations.count_documents({"handoff.deadline_state": "breached"})
    assert breached == 5
    alerts = await store["alerts"].count_documents({"type": "deadline_breached"})
    assert alerts == 5


async def test_a_youth_message_routed_after_the_reply_to_it_starts_no_reply_deadline(start_app) -> None:
    """Under load routing runs behind intake: the counsellor may answer a message before it is routed."""
    client = await start(start_app)
    eng, store = engine(client), client.app[STORE]
    counsellor = await user(client, "c-gd", desk="gd")
    cid = await conversation(client, youth="openid-late")
    await eng.claim(cid, counsellor)
    await eng.reply(cid, counsellor, "你好，我在")
    await client.app[STREAM].ingest(inbound("还在吗", user="openid-late", msg_id="late-1"))

    async def deadline_due() -> object:
        return (await store.conversations.find_one({"_id": cid}))["handoff"]["deadline_due_at"]

    await wait_for(deadline_due)
    await eng.reply(cid, counsellor, "在的，慢慢说")
    assert await deadline_due() is None
    late = [m for m in await messages.history(store, cid) if m.text == "还在吗"][0]
    conversation_now = await client.app[STREAM].get_conversation(cid)
    await eng.youth_wrote(conversation_now, late)  # routed again, e.g. after a restart
    assert await deadline_due() is None

    await client.app[STREAM].ingest(inbound("我想再说说", user="openid-late", msg_id="late-2"))
    await wait_for(deadline_due)


async def test_a_tick_gives_the_loop_back_between_its_parts(start_app, monkeypatch) -> None:
    """On the embedded store nothing in a tick waits: with ~500 waiting one held the loop 10-41 ms."""
    client = await start(start_app)
    watcher = client.app[DEADLINES]
    await conversation(client, risk=2)
    steps: list[str] = []

    def recorded(name, real):  # type: ignore[no-untyped-def]
        async def part(*args, **kwargs):  # type: ignore[no-untyped-def]
            result = await real(*args, **kwargs)
            steps.append(name)
            return result
        return part

    monkeypatch.setattr(watcher.overflow, "tick", recorded("overflow", watcher.overflow.tick))
    leave_messages = watcher.leave_messages
    monkeypatch.setattr(leave_messages, "check_all", recorded("leave messages", leave_messages.check_all))
    monkeypatch.setattr(watcher.alert_escalation, "tick", recorded("alerts", watcher.alert_escalation.tick))
    async with AnotherRequest(steps):
        await watcher.tick()
    parts = [step for step in steps if step != "turn"]
    assert parts == ["overflow", "leave messages", "alerts"]
    between = [steps[steps.index(a) + 1:steps.index(b)] for a, b in zip(parts, parts[1:], strict=False)]
    assert all("turn" in steps_between for steps_between in between)
    assert "turn" in steps[:steps.index("overflow")]  # after the deadlines' own read and checks too
