"""Out-of-hours messages (留言), queue position for the youth, closed reply windows."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import ClassVar

from contract.channel import QueueNotice, ReplyPolicy
from contract.keys import STORE, STREAM
from contract.models import Event
from handoff.replies import AT_RISK_ACKNOWLEDGED
from handoff.web.keys import DEADLINES
from tests.fakes import RecordingChannel, wait_for
from tests.handoff_support import conversation, engine, start, user


class BudgetedChannel(RecordingChannel):
    reply_policy: ClassVar[ReplyPolicy | None] = ReplyPolicy(window=timedelta(hours=48), max_messages=5)
    queue_notice: ClassVar[QueueNotice] = "text"


def _office_hours(settings):  # type: ignore[no-untyped-def]
    desks = [d.model_copy(update={"hours": "08:00-22:00", "assignment": "auto"}) if d.id == "gd" else d
             for d in settings.desks]
    return settings.model_copy(update={"desks": desks})


async def test_after_hours_message_is_queued_for_next_shift(start_app, settings) -> None:
    client = await start(start_app, _office_hours(settings))
    eng = engine(client)
    night = datetime(2026, 11, 28, 15, 30, tzinfo=UTC)  # 23:30 in UTC+8
    eng.now = lambda: night
    counsellor = await user(client, "c-gd", desk="gd")
    cid = await conversation(client)
    doc = await client.app[STORE].conversations.find_one({"_id": cid})
    assert doc["state"] == "queued" and doc["owner"] is None and doc["handoff"]["leave_message"]
    assert doc["handoff"]["deadline_due_at"] is None  # no clock runs while the desk is closed
    channel = RecordingChannel.instances[-1]
    await wait_for(lambda: any("现在不是值班时间" in m.text for m in channel.sent))
    morning = datetime(2026, 11, 29, 0, 5, tzinfo=UTC)  # 08:05 in UTC+8
    eng.now = lambda: morning
    await client.app[DEADLINES].tick()
    doc = await client.app[STORE].conversations.find_one({"_id": cid})
    assert doc["handoff"]["deadline_due_at"] is not None
    assert doc["state"] == "assigned" and doc["owner"] == counsellor.id  # the shift's auto-assignment took it


async def test_youth_learns_position_once_by_text_and_on_every_change_by_event(start_app) -> None:
    client = await start(start_app, channel_classes=[BudgetedChannel])
    positions: list[tuple[str, int, int]] = []
    subscription = client.app[STREAM].bus.subscribe(lambda e: e.type == "queue.position")
    first = await conversation(client)
    second = await conversation(client)
    third = await conversation(client, risk=2)  # jumps ahead of both
    subscription.close()
    async for event in subscription:
        positions.append((event.conversation_id, event.data["position"], event.data["expected_wait_seconds"]))
    assert (second, 2, 1200) in positions
    assert (first, 2, 1200) in positions  # re-published after the jump
    # A youth at risk is never told a place or a wait, only that a counsellor is coming.
    assert (third, None, None) in positions
    assert all(position is None for cid, position, _ in positions if cid == third)
    channel = BudgetedChannel.instances[-1]
    await wait_for(lambda: len(channel.sent) >= 3)
    notices = [m for m in channel.sent if "预计等待" in m.text]
    assert len(notices) == 2  # one per handoff, never more
    assert {m.conversation_id for m in notices} == {first, second}
    told_at_risk = [m.text for m in channel.sent if m.conversation_id == third]
    assert told_at_risk == [AT_RISK_ACKNOWLEDGED]


async def test_closed_reply_window_alerts_supervisors(start_app) -> None:
    client = await start(start_app)
    supervisor = await user(client, "sup-gd", "supervisor", "gd")
    cid = await conversation(client)
    await client.app[STREAM].record_event(Event(type="conversation.window_closed", conversation_id=cid, desk="gd",
                                                data={"reason": "48h window expired"}))

    async def alerted() -> bool:
        doc = await client.app[STORE]["alerts"].find_one({"conversation_id": cid, "type": "window_closed"})
        return doc is not None and doc["recipients"] == [supervisor.id]

    await wait_for(alerted)


async def test_level3_out_of_hours_goes_to_the_nearest_staffed_desk_above(start_app, settings) -> None:
    client = await start(start_app, _office_hours(settings))
    eng = engine(client)
    eng.now = lambda: datetime(2026, 11, 28, 17, 0, tzinfo=UTC)  # 01:00 in UTC+8: gd is closed
    regional = await user(client, "sup-regional", "supervisor", "gd-regional")
    cid = await conversation(client, risk=3, category="suicide")
    doc = await client.app[STORE].conversations.find_one({"_id": cid})
    assert doc["desk"] == "gd-regional" and not doc["handoff"]["leave_message"]
    assert doc["handoff"]["deadline_due_at"] is not None
    assert doc["handoff"]["transfers"][0]["from_desk"] == "gd"
    alert = await client.app[STORE]["alerts"].find_one({"conversation_id": cid})
    assert alert["desk"] == "gd-regional" and alert["recipients"] == [regional.id]
    channel = RecordingChannel.instances[-1]
    assert not any("现在不是值班时间" in m.text for m in channel.sent)


async def test_waiting_message_raised_to_level3_moves_to_a_staffed_desk(start_app, settings) -> None:
    client = await start(start_app, _office_hours(settings))
    eng = engine(client)
    eng.now = lambda: datetime(2026, 11, 28, 17, 0, tzinfo=UTC)  # 01:00 in UTC+8: gd is closed
    cid = await conversation(client, risk=1)
    assert (await client.app[STORE].conversations.find_one({"_id": cid}))["handoff"]["leave_message"]
    await eng.set_risk(cid, 3, "suicide", by=None, reason="detector")
    doc = await client.app[STORE].conversations.find_one({"_id": cid})
    assert doc["desk"] == "gd-regional" and doc["handoff"]["deadline_due_at"] is not None
    assert await client.app[STORE]["alerts"].count_documents({"conversation_id": cid, "desk": "gd-regional"}) == 1
