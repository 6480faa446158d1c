"""What a youth at risk reads: a person is coming (never a wait or a place), the right crisis reply for
the category, somewhere to turn after hours, and the youth's own words in the queue preview."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from bot.replies import CRISIS_REPLIES, GENERAL, RUNAWAY, SEXUAL_ASSAULT, SUICIDE, VIOLENCE, crisis_reply
from contract.handoff import HandoffRequest
from contract.keys import STORE, STREAM
from contract.models import SenderKind
from handoff.leave_message import RAISED_OUTCOME
from handoff.queue import load
from handoff.replies import AT_RISK_ACKNOWLEDGED, AT_RISK_NOBODY_ON_DUTY, CONNECTING_NOW
from handoff.views import summary
from tests.handoff_support import conversation, engine, start, user

NIGHT = datetime(2026, 11, 28, 17, 0, tzinfo=UTC)  # 01:00 in UTC+8
MORNING = datetime(2026, 11, 29, 0, 0, tzinfo=UTC)  # 08:00 in UTC+8


def _all_desks_office_hours(settings):  # type: ignore[no-untyped-def]
    return settings.model_copy(update={"desks": [d.model_copy(update={"hours": "08:00-22:00"})
                                                 for d in settings.desks]})


def _gd_office_hours(settings):  # type: ignore[no-untyped-def]
    return settings.model_copy(update={"desks": [d.model_copy(update={"hours": "08:00-22:00"}) if d.id == "gd"
                                                 else d for d in settings.desks]})


async def _texts_to(client, conversation_id: str) -> list[str]:  # type: ignore[no-untyped-def]
    """What the youth was sent (private notes excluded), in order."""
    return [m.text for m in await client.app[STREAM].history(conversation_id) if m.direction == "out"]


@pytest.mark.parametrize(("level", "expected"), [(2, AT_RISK_ACKNOWLEDGED), (3, CONNECTING_NOW)])
async def test_a_youth_at_risk_hears_at_once_that_a_person_is_coming(start_app, level: int, expected: str) -> None:
    client = await start(start_app)
    subscription = client.app[STREAM].bus.subscribe(lambda e: e.type == "queue.position")
    await conversation(client)  # someone already waiting
    cid = await conversation(client, risk=level, category="suicide")
    subscription.close()
    told = await _texts_to(client, cid)
    assert told == [expected]  # on a platform without a reply budget too, and once
    assert not any("分钟" in text or "前面还有" in text for text in told)
    assert "110" in expected and "120" in expected
    ours = [event.data async for event in subscription if event.conversation_id == cid]
    assert ours and all(d["position"] is None and d["expected_wait_seconds"] is None and d["urgent"] for d in ours)


async def test_after_hours_level_2_goes_to_a_staffed_desk_above(start_app, settings) -> None:
    client = await start(start_app, _gd_office_hours(settings))
    engine(client).now = lambda: NIGHT
    cid = await conversation(client, risk=2, category="abuse_home")
    doc = await client.app[STORE].conversations.find_one({"_id": cid})
    assert doc["desk"] == "gd-regional" and not doc["handoff"]["leave_message"]
    assert await _texts_to(client, cid) == [AT_RISK_ACKNOWLEDGED]  # no "现在不是值班时间", no contradiction


async def test_after_hours_with_nobody_on_duty_gives_guidance_and_a_morning_outreach_task(
        start_app, settings) -> None:
    client = await start(start_app, _all_desks_office_hours(settings))
    engine(client).now = lambda: NIGHT
    cid = await conversation(client, risk=2, category="suicide")
    doc = await client.app[STORE].conversations.find_one({"_id": cid})
    assert doc["state"] == "queued" and doc["handoff"]["leave_message"] and doc["desk"] == "gd"
    told = await _texts_to(client, cid)
    assert told == [AT_RISK_NOBODY_ON_DUTY]
    assert all(number in AT_RISK_NOBODY_ON_DUTY for number in ("12356", "110", "120"))
    task = await client.app[STORE]["tasks"].find_one({"conversation_id": cid})
    assert task["kind"] == "outreach" and task["state"] == "open" and task["desk"] == "gd"
    assert task["due_at"].replace(tzinfo=UTC) == MORNING  # the first shift's opening


async def test_level_1_after_hours_still_gets_the_desk_message(start_app, settings) -> None:
    client = await start(start_app, _all_desks_office_hours(settings))
    engine(client).now = lambda: NIGHT
    cid = await conversation(client, risk=1)
    assert any("现在不是值班时间" in text for text in await _texts_to(client, cid))
    # An ordinary 留言: the shift answers it from the worklist; no outreach as for a youth at risk.
    kinds = [task["kind"] async for task in client.app[STORE]["tasks"].find({"conversation_id": cid})]
    assert kinds == ["leave_message"]


def test_crisis_replies_by_category_follow_crisis_line_practice() -> None:
    assert crisis_reply("suicide") == SUICIDE and "你是不是在想自杀" in SUICIDE and "你现在安全吗" in SUICIDE
    assert "放远" in SUICIDE  # distance from the means
    assert crisis_reply("abuse_home") == VIOLENCE and "安全的地方" in VIOLENCE and "110" in VIOLENCE
    assert crisis_reply("sexual_abuse") == SEXUAL_ASSAULT
    assert SEXUAL_ASSAULT.index("不是你的错") < SEXUAL_ASSAULT.index("医院") and "72小时" in SEXUAL_ASSAULT
    assert crisis_reply("runaway") == RUNAWAY and "救助保护机构" in RUNAWAY and "安全" in RUNAWAY
    assert crisis_reply("no_such_category") == GENERAL and crisis_reply(None) == GENERAL
    for text in [*CRISIS_REPLIES.values(), GENERAL, AT_RISK_ACKNOWLEDGED, CONNECTING_NOW, AT_RISK_NOBODY_ON_DUTY]:
        assert "挂断" not in text and "电话" not in text  # chats, not calls
        assert "分钟" not in text and "前面还有" not in text


async def test_queue_preview_shows_the_youths_own_words(start_app) -> None:
    client = await start(start_app)
    counsellor = await user(client, "c-gd", desk="gd")
    cid = await conversation(client, risk=3, category="suicide")
    youth_words = [m.text for m in await client.app[STREAM].history(cid) if m.sender == "youth"][-1]
    await client.app[STREAM].send(cid, SUICIDE, sender=SenderKind.BOT)
    handed = await load(client.app[STORE], cid)
    assert handed is not None
    assert (await summary(engine(client), handed, counsellor))["last_message_preview"] == youth_words


async def test_a_waiting_youth_whose_risk_shows_later_hears_a_person_is_coming(start_app) -> None:
    client = await start(start_app)
    cid = await conversation(client)
    conversation_doc = await client.app[STORE].conversations.find_one({"_id": cid})
    await engine(client).request_handoff(HandoffRequest(conversation_id=cid, reason="risk", risk_level=2,
                                                        category="suicide", cues=["不想活了"]))
    await engine(client).request_handoff(HandoffRequest(conversation_id=cid, reason="risk", risk_level=3,
                                                        category="suicide", cues=["今晚"]))
    assert conversation_doc["state"] == "queued"
    assert await _texts_to(client, cid) == [AT_RISK_ACKNOWLEDGED]  # once per handoff, not again at level 3


async def test_a_waiting_message_raised_to_level_2_after_hours_goes_to_a_staffed_desk_above(start_app,
                                                                                            settings) -> None:
    client = await start(start_app, _gd_office_hours(settings))
    engine(client).now = lambda: NIGHT
    cid = await conversation(client, risk=1)
    assert (await client.app[STORE].conversations.find_one({"_id": cid}))["handoff"]["leave_message"]
    await engine(client).request_handoff(HandoffRequest(conversation_id=cid, reason="risk", risk_level=2,
                                                        category="suicide", cues=["不想活了"]))
    doc = await client.app[STORE].conversations.find_one({"_id": cid})
    assert doc["desk"] == "gd-regional" and not doc["handoff"]["leave_message"]
    due = doc["handoff"]["deadline_due_at"].replace(tzinfo=UTC)  # level 2's first-response clock, running
    assert (due - NIGHT).total_seconds() == engine(client).settings.handoff.deadline(2).first_response_seconds
    assert (await _texts_to(client, cid))[-1] == AT_RISK_ACKNOWLEDGED


async def test_a_waiting_message_raised_to_level_2_with_nobody_on_duty_gets_guidance_and_a_task(start_app,
                                                                                              settings) -> None:
    client = await start(start_app, _all_desks_office_hours(settings))
    engine(client).now = lambda: NIGHT
    cid = await conversation(client)
    before = await _texts_to(client, cid)
    await engine(client).set_risk(cid, 2, "suicide", by=None, reason="detector: 不想活了")
    await engine(client).set_risk(cid, 3, "suicide", by=None, reason="detector: 今晚")
    doc = await client.app[STORE].conversations.find_one({"_id": cid})
    assert doc["desk"] == "gd" and doc["handoff"]["leave_message"]
    assert await _texts_to(client, cid) == [*before, AT_RISK_NOBODY_ON_DUTY]  # once, not again at level 3
    tasks = await client.app[STORE]["tasks"].find({"conversation_id": cid}).to_list(None)
    open_tasks = [(t["kind"], t["due_at"].replace(tzinfo=UTC)) for t in tasks if t["state"] == "open"]
    assert open_tasks == [("outreach", MORNING)]
    # The 留言 left at level 1 is not answered as an ordinary message any more: the outreach task is the one.
    assert [t["outcome"] for t in tasks if t["kind"] == "leave_message"] == [RAISED_OUTCOME]
