"""Tasks, not just alerts: outreach for a silent youth at risk, referral and follow-up dates, reminders,
and the worklist (我的待办), authorised by role and desk."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from contract.keys import SETTINGS, STORE, STREAM
from handoff import cases
from handoff.tasks import open_task
from handoff.web.keys import DEADLINES, TASKS
from tests.fakes import wait_for
from tests.handoff_support import conversation, engine, login, start, user

START = datetime(2026, 11, 28, 4, 0, tzinfo=UTC)


async def test_a_silent_youth_at_risk_becomes_an_outreach_task_for_the_owner(start_app) -> None:
    client = await start(start_app)
    clock = {"now": START}
    engine(client).now = lambda: clock["now"]
    owner = await user(client, "owner-gd", desk="gd")
    await user(client, "sup-gd", "supervisor", "gd")
    cid = await conversation(client, risk=2, category="suicide")
    await engine(client).claim(cid, owner)
    # The counsellor answered, so no reply deadline can offer the conversation back (and take its owner)
    # while the outreach alert becomes a task: the youth simply went quiet.
    await engine(client).reply(cid, owner, "我在，你慢慢说")
    settings = client.app[SETTINGS].handoff
    clock["now"] += timedelta(minutes=settings.outreach_after_minutes + 1)
    await client.app[DEADLINES].tick()

    async def task():  # type: ignore[no-untyped-def]
        return await client.app[STORE]["tasks"].find_one({"conversation_id": cid, "kind": "outreach"})

    await wait_for(task)
    found = await task()
    assert found["assignee"] == owner.id and found["state"] == "open"
    assert found["due_at"].replace(tzinfo=UTC) == clock["now"] + timedelta(minutes=settings.outreach_task_due_minutes)

    headers = await login(client, "owner-gd")
    mine = await (await client.get("/api/v1/tasks", headers=headers)).json()
    assert [t["id"] for t in mine["items"]] == [found["_id"]]
    other = await login(client, "sup-gd")
    assert (await client.get("/api/v1/tasks?scope=desk", headers=other)).status == 200
    done = await client.post(f"/api/v1/tasks/{found['_id']}/complete", headers=headers,
                             json={"outcome": "已联系上，青少年安全，约好明天再聊"})
    assert done.status == 200 and (await done.json())["state"] == "done"
    assert (await (await client.get("/api/v1/tasks", headers=headers)).json())["items"] == []
    again = await client.post(f"/api/v1/tasks/{found['_id']}/complete", headers=headers, json={"outcome": "x"})
    assert again.status == 409


async def test_referral_and_follow_up_dates_become_tasks_with_one_reminder(start_app) -> None:
    client = await start(start_app)
    clock = {"now": START}
    engine(client).now = lambda: clock["now"]
    owner = await user(client, "owner-gd", desk="gd")
    cid = await conversation(client, risk=2, category="abuse_home")
    await engine(client).claim(cid, owner)
    store, settings = client.app[STORE], client.app[SETTINGS]
    case = await cases.get_case_for_conversation(store, cid)
    assert case is not None
    agency = settings.cases.agencies[0].code
    await cases.add_referral(store, settings, case.id, agency=agency, by=owner.id, due_at=START + timedelta(days=2))
    await cases.add_followup(store, case.id, title="回访青少年", due_at=START + timedelta(days=3), by=owner.id)
    reminders = client.app[STREAM].bus.subscribe(lambda e: e.type == "task.reminder")
    watcher = client.app[TASKS]

    await watcher.tick()
    assert await store["tasks"].count_documents({}) == 0  # nothing due yet
    clock["now"] = START + timedelta(days=3) - timedelta(minutes=settings.handoff.task_reminder_minutes)
    await watcher.tick()
    await watcher.tick()  # a second tick (or instance) adds nothing
    tasks = await store["tasks"].find({}).sort("due_at", 1).to_list(None)
    assert [t["kind"] for t in tasks] == ["referral_follow_up", "case_follow_up"]
    assert all(t["assignee"] == owner.id and t["case_id"] == case.id for t in tasks)
    reminders.close()
    reminded = [event.data["task"]["kind"] async for event in reminders]
    assert sorted(reminded) == ["case_follow_up", "referral_follow_up"]  # once each


async def test_tasks_are_scoped_by_role_and_desk(start_app) -> None:
    client = await start(start_app)
    owner = await user(client, "owner-gd", desk="gd")
    colleague = await user(client, "colleague-gd", desk="gd")
    await user(client, "counsellor-sz", desk="sz")
    await user(client, "sup-gd", "supervisor", "gd")
    cid = await conversation(client, risk=2)
    await engine(client).claim(cid, owner)
    task = await _open_task_for(client, cid, owner.id)
    outsider = await login(client, "counsellor-sz")
    assert (await client.post(f"/api/v1/tasks/{task}/complete", headers=outsider, json={"outcome": "x"})).status == 403
    assert (await client.get("/api/v1/tasks?scope=desk", headers=outsider)).status == 403
    assert task not in await (await client.get("/api/v1/tasks", headers=outsider)).text()
    peer = await login(client, "colleague-gd")
    assert (await client.post(f"/api/v1/tasks/{task}/complete", headers=peer, json={"outcome": "x"})).status == 403
    supervisor = await login(client, "sup-gd")
    moved = await client.post(f"/api/v1/tasks/{task}/assign", headers=supervisor, json={"user_id": colleague.id})
    assert moved.status == 200 and (await moved.json())["assignee"] == colleague.id
    assert (await client.post(f"/api/v1/tasks/{task}/complete", headers=peer, json={"outcome": "已回访"})).status == 200


async def _open_task_for(client, conversation_id: str, assignee: str) -> str:  # type: ignore[no-untyped-def]
    context = engine(client).context
    conversation = await client.app[STREAM].get_conversation(conversation_id)
    task = await open_task(context, kind="outreach", title="主动联系", desk=conversation.desk,
                           due_at=context.now() + timedelta(hours=1), conversation_id=conversation_id,
                           assignee=assignee)
    assert task is not None
    return task.id
