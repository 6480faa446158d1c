"""留言 whenever nobody can answer: offered while the desk is open, a worklist task with a due time,
an optional callback number (masked, sealed), and never instead of a human for a youth at risk."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from contract.handoff import HandoffRequest
from contract.keys import SETTINGS, STORE, STREAM
from handoff.leave_message import callback_number, due_words, mask_numbers
from handoff.replies import AT_RISK_ACKNOWLEDGED, CALLBACK_INVITE
from handoff.web.keys import DEADLINES
from store.fields import SEALED_PREFIX
from tests.fakes import RecordingChannel, inbound, wait_for
from tests.handoff_support import conversation, engine, login, start, user

START = datetime(2026, 11, 28, 4, 0, tzinfo=UTC)  # 12:00 in Beijing: the demo desks are open


async def _waited_past_the_window(client, cid: str | None = None, *, risk: int = 0) -> tuple[str, dict]:  # type: ignore[no-untyped-def]
    clock = {"now": START}
    engine(client).now = lambda: clock["now"]
    cid = cid or await conversation(client, risk=risk, category="suicide" if risk else None, youth="openid-lm")
    window = client.app[SETTINGS].desk("gd").leave_message.offer_after_seconds
    clock["now"] += timedelta(seconds=window + 1)
    await client.app[DEADLINES].tick()
    return cid, clock


async def _sent_texts(cid: str) -> list[str]:
    return [m.text for m in RecordingChannel.instances[-1].sent if m.conversation_id == cid]


async def test_nobody_free_within_the_window_offers_a_message_and_a_task_with_a_due_time(start_app) -> None:
    client = await start(start_app)
    await user(client, "busy-gd", desk="gd", capacity=1)  # online, but nobody takes the conversation
    cid, clock = await _waited_past_the_window(client)
    doc = await client.app[STORE].conversations.find_one({"_id": cid})
    assert doc["state"] == "queued" and doc["handoff"]["leave_message"]  # still in the queue: first free takes it
    assert doc["handoff"]["deadline_due_at"] is None  # the task carries the due time now
    task = await client.app[STORE]["tasks"].find_one({"conversation_id": cid, "kind": "leave_message"})
    reply_within = client.app[SETTINGS].desk("gd").leave_message.reply_within_minutes
    assert task["_id"] == doc["handoff"]["message_task"] and task["state"] == "open"
    assert task["due_at"].replace(tzinfo=UTC) == clock["now"] + timedelta(minutes=reply_within)
    await wait_for(lambda: RecordingChannel.instances[-1].sent)
    [offer] = await _sent_texts(cid)
    due = due_words(task["due_at"].replace(tzinfo=UTC), clock["now"])
    assert "你可以直接在这里留言" in offer and f"老师会在{due}前回复你" in offer
    assert "110" in offer
    await client.app[DEADLINES].tick()  # a second tick offers nothing more
    assert await client.app[STORE]["tasks"].count_documents({"conversation_id": cid}) == 1
    headers = await login(client, "busy-gd")
    mine = await (await client.get("/api/v1/tasks", headers=headers)).json()
    assert [(t["kind"], t["title"]) for t in mine["items"]] == [("leave_message", "回复留言")]


async def test_a_callback_number_is_sealed_masked_in_the_worklist_and_read_whole_only_through_an_audited_call(
        start_app) -> None:
    client = await start(start_app)
    await user(client, "busy-gd", desk="gd")
    cid, _ = await _waited_past_the_window(client)
    await client.app[STREAM].ingest(inbound("可以打我电话 138 1234-5678", user="openid-lm", msg_id="lm-2"))

    async def has_number():  # type: ignore[no-untyped-def]
        task = await client.app[STORE]["tasks"].find_one({"conversation_id": cid})
        return task if task.get("callback_contact") else None

    await wait_for(has_number)
    stored = await has_number()
    assert stored["callback_contact"].startswith(SEALED_PREFIX) and "5678" not in stored["callback_contact"]
    headers = await login(client, "busy-gd")
    [item] = (await (await client.get("/api/v1/tasks", headers=headers)).json())["items"]
    assert item["callback_contact"] == "138****5678"
    [queued] = (await (await client.get("/api/v1/queue", headers=headers)).json())["items"]
    assert "5678" in queued["last_message_preview"] and "1234" not in queued["last_message_preview"]
    whole = await client.get(f"/api/v1/tasks/{item['id']}/callback-contact", headers=headers)
    assert (await whole.json())["callback_contact"] == "13812345678"
    assert await client.app[STORE]["audit"].count_documents({"action": "task.callback_contact"}) == 1
    await wait_for(lambda: any("138****5678" in t for t in
                               [m.text for m in RecordingChannel.instances[-1].sent if m.conversation_id == cid]))
    await user(client, "c-sz", desk="sz")
    refused = await client.get(f"/api/v1/tasks/{item['id']}/callback-contact", headers=await login(client, "c-sz"))
    assert refused.status == 403


async def test_a_youth_at_risk_is_never_offered_a_message_instead_of_a_human(start_app) -> None:
    client = await start(start_app)
    await user(client, "busy-gd", desk="gd")
    cid, _ = await _waited_past_the_window(client, risk=2)
    doc = await client.app[STORE].conversations.find_one({"_id": cid})
    assert not doc["handoff"]["leave_message"] and doc["handoff"]["message_task"] is None
    assert await client.app[STORE]["tasks"].count_documents({"kind": "leave_message"}) == 0
    assert not any("留言" in text for text in await _sent_texts(cid))


async def test_an_offered_message_that_shows_risk_goes_back_to_a_human_at_once(start_app) -> None:
    client = await start(start_app)
    await user(client, "busy-gd", desk="gd")
    cid, _ = await _waited_past_the_window(client)
    await engine(client).request_handoff(HandoffRequest(conversation_id=cid, reason="risk", risk_level=2,
                                                        category="self_harm", cues=["测试"]))
    doc = await client.app[STORE].conversations.find_one({"_id": cid})
    assert not doc["handoff"]["leave_message"] and doc["handoff"]["deadline_due_at"] is not None
    task = await client.app[STORE]["tasks"].find_one({"_id": doc["handoff"]["message_task"]})
    assert task["state"] == "done" and "风险" in task["outcome"]
    await wait_for(lambda: AT_RISK_ACKNOWLEDGED in [m.text for m in RecordingChannel.instances[-1].sent])


async def test_after_hours_messages_get_the_callback_invitation_and_a_task_due_after_opening(start_app,
                                                                                            settings) -> None:
    desks = [d.model_copy(update={"hours": "08:00-22:00"}) if d.id == "gd" else d for d in settings.desks]
    client = await start(start_app, settings.model_copy(update={"desks": desks}))
    engine(client).now = lambda: datetime(2026, 11, 28, 15, 30, tzinfo=UTC)  # 23:30 in Beijing
    cid = await conversation(client)
    task = await client.app[STORE]["tasks"].find_one({"conversation_id": cid, "kind": "leave_message"})
    reply_within = client.app[SETTINGS].desk("gd").leave_message.reply_within_minutes
    opens = datetime(2026, 11, 29, 0, 0, tzinfo=UTC)  # 08:00 in Beijing
    assert task["due_at"].replace(tzinfo=UTC) == opens + timedelta(minutes=reply_within)
    await wait_for(lambda: RecordingChannel.instances[-1].sent)
    [notice] = await _sent_texts(cid)
    assert notice.startswith("现在不是值班时间") and notice.endswith(CALLBACK_INVITE)


@pytest.mark.parametrize(("text", "number"), [
    ("13812345678", "13812345678"), ("电话：138 1234 5678", "13812345678"), ("１３８１２３４５６７８", "13812345678"),
    ("座机 020-87654321 找我妈", "02087654321"), ("考了135分", None), ("学号20261128", None),
    ("138123456789", None), ("", None),
])
def test_callback_numbers_are_found_in_what_youths_write(text: str, number: str | None) -> None:
    assert callback_number(text) == number


def test_numbers_in_previews_are_masked() -> None:
    assert mask_numbers("打我电话 138 1234 5678，晚上都在") == "打我电话 138****5678，晚上都在"
    assert mask_numbers("座机020-87654321") == "座机020****4321"
    assert mask_numbers("考了135分") == "考了135分"


def test_due_times_read_as_a_youth_would_read_them() -> None:
    now = datetime(2026, 11, 28, 4, 0, tzinfo=UTC)
    assert due_words(now + timedelta(hours=4), now) == "今天16:00"
    assert due_words(now + timedelta(hours=20), now) == "明天08:00"
    assert due_words(now + timedelta(days=3), now) == "12月1日12:00"
