"""Appointment reminders: sent a day ahead on the engine's clock, once, even after a restart or by two
workers at once; never for a cancelled appointment or one booked too close to its time."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

from aiohttp.test_utils import TestClient

from contract.config import Settings
from contract.keys import STORE
from handoff import appointments
from handoff.appointments import AppointmentReminders, when_text
from handoff.cases import get_case_for_conversation
from handoff.users import get_user_by_username
from handoff.web.keys import APPOINTMENT_REMINDERS, ENGINE
from tests.handoff_support import conversation, fed_to_shenzhen, start, user

NOW = datetime(2026, 12, 7, 2, 0, tzinfo=UTC)


def test_times_read_in_beijing() -> None:
    # 16:30 UTC on Sunday is half past midnight on Monday in Beijing.
    starts = datetime(2026, 12, 6, 16, 30, tzinfo=UTC)
    assert when_text(starts, starts + timedelta(hours=1)) == "2026年12月7日（周一）00:30–01:30"


async def _booked(start_app, settings: Settings, starts_in: timedelta):  # type: ignore[no-untyped-def]
    client = await start(start_app, fed_to_shenzhen(settings))
    await client.app[APPOINTMENT_REMINDERS].stop()  # the test ticks by hand
    context = client.app[ENGINE].context
    context.now = lambda: NOW
    lin = await user(client, "lin", desk="sz")
    boss = await user(client, "wang", role="supervisor", desk="gd")
    conversation_id = await conversation(client)
    await client.app[ENGINE].claim(conversation_id, lin)
    case = await get_case_for_conversation(client.app[STORE], conversation_id)
    assert case is not None
    slot = await appointments.create_slot(context, boss, desk="sz", starts_at=NOW + starts_in,
                                          ends_at=NOW + starts_in + timedelta(hours=1), place="深圳团市委",
                                          counsellor="lin", capacity=2)
    lin = await get_user_by_username(client.app[STORE], "lin")
    booked = await appointments.book(context, lin, case, slot.id)
    return client, context, lin, case, booked


async def _reminders(client: TestClient, conversation_id: str) -> int:
    history = await client.app[ENGINE].context.stream.history(conversation_id)
    return sum("面询提醒" in message.text for message in history)


async def test_a_reminder_goes_out_a_day_ahead_once_even_after_a_restart(start_app, settings: Settings) -> None:  # type: ignore[no-untyped-def]
    client, context, _, case, booked = await _booked(start_app, settings, timedelta(days=3))
    worker = AppointmentReminders(context)
    context.now = lambda: NOW + timedelta(days=2) - timedelta(minutes=1)
    assert await worker.tick() == 0
    context.now = lambda: NOW + timedelta(days=2)
    # Two workers (two instances, or a tick racing a restart) at the same moment: one reminder.
    assert sorted(await asyncio.gather(worker.tick(), AppointmentReminders(context).tick())) == [0, 1]
    assert await _reminders(client, case.conversation_id) == 1
    restarted = AppointmentReminders(context)  # after a restart: the claim is in the store
    context.now = lambda: NOW + timedelta(days=2, hours=5)
    assert await restarted.tick() == 0
    assert await _reminders(client, case.conversation_id) == 1
    stored = await client.app[STORE]["appointments"].find_one({"_id": booked.id})
    assert stored["reminder_message_id"] is not None
    timeline = await appointments.timeline(context, case)
    assert [entry.text.split("：")[0] for entry in timeline] == ["预约面询", "已提醒面询"]


async def test_no_reminder_when_cancelled_or_booked_within_a_day(start_app, settings: Settings) -> None:  # type: ignore[no-untyped-def]
    client, context, lin, case, booked = await _booked(start_app, settings, timedelta(hours=5))
    assert booked.remind_at is None  # the confirmation is reminder enough
    context.now = lambda: NOW + timedelta(hours=4)
    assert await AppointmentReminders(context).tick() == 0

    slot = await appointments.create_slot(context, await get_user_by_username(client.app[STORE], "wang"),
                                          desk="sz", starts_at=NOW + timedelta(days=4),
                                          ends_at=NOW + timedelta(days=4, hours=1), place="深圳团市委",
                                          counsellor="lin", capacity=1)
    later = await appointments.book(context, lin, case, slot.id)
    await appointments.record_outcome(context, lin, case, later.id, "cancelled", "")
    context.now = lambda: NOW + timedelta(days=3, hours=1)
    assert await AppointmentReminders(context).tick() == 0
    assert await _reminders(client, case.conversation_id) == 0
