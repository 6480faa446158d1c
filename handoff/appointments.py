"""In-person appointments (面询/商谈): slots at city desks, booking from a case, notices to the youth.

A supervisor opens slots at a city desk (time, place, counsellor, capacity). A counsellor books a
seat for a case they may change, only at their own desk; a supervisor at any desk they oversee. The
confirmation, the reminder and a cancellation reach the youth on their own channel through the
stream's outbox (stored, retried, visible in the transcript like any reply). The reminder is claimed
in the store before it is sent, so it goes out once even across restarts and instances. Everything
checks before it writes: a refused booking leaves no seat taken and no message queued.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Literal

from contract.appointments import Appointment, AppointmentStatus, Slot
from contract.cases import Case
from contract.handoff import PHONE_CALL_EVENTS
from contract.models import Event, SenderKind
from contract.people import Role, User
from handoff.access import ensure_desk_access, require_role, visible_desks
from handoff.context import HandoffContext
from handoff.desks import CHINA
from handoff.errors import Conflict, Invalid, NotFound, NotPermitted
from handoff.ticker import Ticker
from handoff.users import get_user_by_username
from store import appointments as stored
from store import messages

REMINDER_LEAD = timedelta(hours=24)  # a day ahead: time to rearrange school or work, or to cancel
SHORTEST, LONGEST = timedelta(minutes=15), timedelta(hours=8)
FURTHEST_AHEAD = timedelta(days=180)
WEEKDAYS = "一二三四五六日"


def when_text(starts_at: datetime, ends_at: datetime) -> str:
    """``2026年12月8日（周二）15:00–16:00`` in Beijing time, as the youth reads it."""
    start, end = starts_at.astimezone(CHINA), ends_at.astimezone(CHINA)
    return (f"{start.year}年{start.month}月{start.day}日（周{WEEKDAYS[start.weekday()]}）"
            f"{start:%H:%M}–{end:%H:%M}")


def confirmation_text(appointment: Appointment) -> str:
    return (f"【12355面询预约】你好，你的当面咨询已经约好了。\n"
            f"时间：{when_text(appointment.starts_at, appointment.ends_at)}（北京时间）\n"
            f"地点：{appointment.place}\n接待老师：{appointment.counsellor_name}\n"
            "请提前10分钟到达。如需改期或取消，直接在这里回复我们就可以。")


def reminder_text(appointment: Appointment) -> str:
    return (f"【12355面询提醒】提醒你：你的当面咨询在{when_text(appointment.starts_at, appointment.ends_at)}"
            f"（北京时间），地点：{appointment.place}。我们等你。如果来不了，直接在这里回复我们就可以。")


def cancellation_text(appointment: Appointment) -> str:
    return (f"【12355面询预约】你在{when_text(appointment.starts_at, appointment.ends_at)}（北京时间）的当面咨询"
            "已取消。需要重新约时间的话，随时在这里告诉我们。")


async def create_slot(context: HandoffContext, user: User, *, desk: str, starts_at: datetime, ends_at: datetime,
                      place: str, counsellor: str, capacity: int) -> Slot:
    require_role(user, Role.SUPERVISOR, Role.ADMIN)
    settings, now = context.settings, context.now()
    try:
        desk_config = settings.desk(desk)
    except KeyError:
        raise Invalid("desk: unknown desk") from None
    ensure_desk_access(user, desk, settings)
    if desk_config.level != "municipal":
        raise Invalid("desk: appointments are held at city desks")
    if starts_at <= now:
        raise Invalid("starts_at: must be in the future")
    if starts_at - now > FURTHEST_AHEAD:
        raise Invalid("starts_at: at most 180 days ahead")
    if not SHORTEST <= ends_at - starts_at <= LONGEST:
        raise Invalid("ends_at: a slot lasts from 15 minutes to 8 hours")
    who = await get_user_by_username(context.store, counsellor)
    if who is None or who.desk != desk:
        raise Invalid("counsellor: no such user at this desk")
    slot = Slot(desk=desk, starts_at=starts_at, ends_at=ends_at, place=place.strip(), counsellor=who.id,
                counsellor_name=who.display_name, capacity=capacity, free=capacity, created_by=user.id,
                created_at=now)
    if not slot.place:
        raise Invalid("place: required")
    await stored.insert_slot(context.store, slot)
    return slot


async def open_slots(context: HandoffContext, user: User) -> list[Slot]:
    """Future slots of the desks the user sees."""
    return await stored.slots_of(context.store, visible_desks(user, context.settings), after=context.now())


async def book(context: HandoffContext, user: User, case: Case, slot_id: str) -> Appointment:
    """One seat of ``slot_id`` for ``case`` (whose scope the caller checked), and the confirmation queued."""
    now = context.now()
    slot = await stored.find_slot(context.store, slot_id)
    if slot is None or slot.desk not in visible_desks(user, context.settings):
        raise NotFound(slot_id)
    if user.role == Role.COUNSELLOR and slot.desk != user.desk:
        raise NotPermitted("a counsellor books slots of their own desk")
    if slot.starts_at <= now:
        raise Invalid("slot_id: this slot has already begun")
    if await stored.booked_on_slot(context.store, slot.id, case.id):
        raise Conflict("this case already holds a seat in this slot")
    if await stored.take_seat(context.store, slot.id) is None:
        raise Conflict("this slot is full")
    remind_at = slot.starts_at - REMINDER_LEAD
    appointment = Appointment(
        slot_id=slot.id, case_id=case.id, conversation_id=case.conversation_id, desk=slot.desk,
        starts_at=slot.starts_at, ends_at=slot.ends_at, place=slot.place, counsellor_name=slot.counsellor_name,
        booked_by=user.id, booked_at=now, remind_at=remind_at if remind_at > now else None)
    try:
        inserted = await stored.insert_appointment(context.store, appointment)
    except BaseException:
        await stored.give_back_seat(context.store, slot.id)
        raise
    if not inserted:  # a second request for the same case won the race past the check above
        await stored.give_back_seat(context.store, slot.id)
        raise Conflict("this case already holds a seat in this slot")
    message = await context.stream.send(case.conversation_id, confirmation_text(appointment), sender=SenderKind.SYSTEM)
    await stored.set_confirmation(context.store, appointment.id, message.id)
    appointment = appointment.model_copy(update={"confirmation_message_id": message.id})
    await _announce(context, appointment, "booked")
    return appointment


async def record_outcome(context: HandoffContext, user: User, case: Case, appointment_id: str,
                         status: AppointmentStatus, note: str) -> Appointment:
    """Attended or no-show once it has begun; cancelled before it begins (the youth is told, the seat freed)."""
    appointment = await stored.find_appointment(context.store, appointment_id)
    if appointment is None or appointment.case_id != case.id:
        raise NotFound(appointment_id)
    if appointment.status != "booked":
        raise Conflict(f"already recorded as {appointment.status}")
    now = context.now()
    if status == "cancelled" and appointment.starts_at <= now:
        raise Invalid("status: an appointment that has begun is attended or no_show, not cancelled")
    if status in ("attended", "no_show") and appointment.starts_at > now:
        raise Invalid(f"status: {status} can be recorded once the appointment has begun")
    updated = await stored.record_outcome(context.store, appointment.id, status, by=user.id, at=now, note=note)
    if updated is None:
        raise Conflict("recorded by someone else meanwhile")
    if status == "cancelled":
        await stored.give_back_seat(context.store, appointment.slot_id)
        await context.stream.send(case.conversation_id, cancellation_text(updated), sender=SenderKind.SYSTEM)
    await _announce(context, updated, status)
    return updated


async def of_case(context: HandoffContext, case: Case) -> list[Appointment]:
    return await stored.of_case(context.store, case.id)


async def _announce(context: HandoffContext, appointment: Appointment, what: str) -> None:
    await context.stream.record_event(Event(
        type=f"appointment.{what}", conversation_id=appointment.conversation_id, desk=appointment.desk,
        data={"appointment": appointment.public()}))


# ------------------------------------------------------------------ the case timeline

TimelineKind = Literal["call", "appointment"]
OUTCOME_TEXT = {"attended": "已到访", "no_show": "未到访", "cancelled": "已取消"}


@dataclass(frozen=True, slots=True)
class TimelineEntry:
    at: datetime
    kind: TimelineKind
    text: str
    ref: str  # the message or appointment it comes from

    def public(self) -> dict[str, str]:
        return {"at": self.at.isoformat(), "kind": self.kind, "text": self.text, "ref": self.ref}


async def timeline(context: HandoffContext, case: Case) -> list[TimelineEntry]:
    """What happened on the case beyond chat text, in time order: phone calls and appointments."""
    entries = [TimelineEntry(message.created_at, "call", message.text, message.id)
               for message in await messages.events_named(context.store, case.conversation_id, PHONE_CALL_EVENTS)]
    for appointment in await stored.of_case(context.store, case.id):
        what = f"{when_text(appointment.starts_at, appointment.ends_at)} · {appointment.place}"
        entries.append(TimelineEntry(appointment.booked_at, "appointment",
                                     f"预约面询：{what} · {appointment.counsellor_name}（确认已发送）", appointment.id))
        if appointment.reminded_at is not None:
            entries.append(TimelineEntry(appointment.reminded_at, "appointment", f"已提醒面询：{what}", appointment.id))
        if appointment.outcome_at is not None:
            entries.append(TimelineEntry(appointment.outcome_at, "appointment",
                                         f"面询{OUTCOME_TEXT[appointment.status]}：{what}", appointment.id))
    return sorted(entries, key=lambda entry: entry.at)


# ------------------------------------------------------------------ reminders


class AppointmentReminders(Ticker):
    """Sends each due reminder once, on the handoff tick."""

    name = "appointment-reminders"

    async def tick(self) -> int:
        """Send the reminders due now; how many went out."""
        context, now = self.context, self.context.now()
        sent = 0
        for appointment in await stored.due_reminders(context.store, now):
            if not await stored.claim_reminder(context.store, appointment.id, now):
                continue  # another tick or instance has it
            message = await context.stream.send(appointment.conversation_id, reminder_text(appointment),
                                                sender=SenderKind.SYSTEM)
            await stored.set_reminder_message(context.store, appointment.id, message.id)
            await _announce(context, appointment.model_copy(update={"reminded_at": now}), "reminded")
            sent += 1
        return sent
