"""留言 whenever nobody can answer: out of hours, and while the desk is open but nobody is free.

Out of hours a conversation below risk level 2 waits for the next shift (``handoff.assignment``);
while the desk is open, one nobody has taken within ``[[desks]].leave_message.offer_after_seconds``
is offered the same: the youth may leave a message and, if they like, a number to be called back
on. Either way the desk's worklist (我的待办) gets a task to answer it, due
``reply_within_minutes`` after it was left (out of hours: after the desk opens). The conversation
stays in the queue, so whoever is free first still takes it.

A youth at risk level >= 2 is never sent to 留言 instead of a human: the offer is only made below
level 2, and an offered 留言 whose risk is raised to 2 or more goes back on the clock, where the
at-risk notice and overflow (``handoff.overflow``) apply. The callback number is the one thing the
engine reads from a youth's text, and only while their conversation waits as a 留言.
"""

from __future__ import annotations

import re
import unicodedata
from datetime import datetime, timedelta

from contract.models import Conversation, ConversationState, Event, Message, SenderKind
from contract.queue import Deadline, Handed
from contract.tasks import mask_phone
from handoff import tasks
from handoff.assignment import Assignment
from handoff.context import HandoffContext
from handoff.desks import CHINA, open_now
from handoff.overflow import Overflow
from handoff.queue import load
from handoff.replies import CALLBACK_NOTED, MESSAGE_OFFER
from store import handoff as stored
from store import tasks as stored_tasks

CALLBACK_TITLE = "回复留言（青少年留了回拨电话）"
RAISED_OUTCOME = "留言中出现风险信号，已转回人工接待流程"
OFFER_NOTE = "留言：值班老师都在忙，已请青少年留言（见我的待办）"

# Mainland mobile numbers and landlines with an area code, after spaces and dashes are taken out.
_PHONE = re.compile(r"(?<!\d)(1[3-9]\d{9}|0\d{2,3}\d{7,8})(?!\d)")
_SEPARATORS = re.compile(r"(?<=\d)[\s\-－—]+(?=\d)")
_DIGIT_RUN = re.compile(r"\d(?:[\d\s\-－—]*\d)?")  # \d is Unicode: full-width digits too


def callback_number(text: str) -> str | None:
    """The first phone number in ``text`` (full-width digits and separators allowed), or None."""
    plain = _SEPARATORS.sub("", unicodedata.normalize("NFKC", text))
    found = _PHONE.search(plain)
    return found.group(1) if found else None


def mask_numbers(text: str) -> str:
    """``text`` with every phone number masked (``138****5678``), the rest as written: for previews."""

    def masked(run: re.Match[str]) -> str:
        number = callback_number(run.group(0))
        return mask_phone(number) if number is not None and len(number) == len(_digits(run.group(0))) else run.group(0)

    return _DIGIT_RUN.sub(masked, text)


def _digits(text: str) -> str:
    return "".join(ch for ch in unicodedata.normalize("NFKC", text) if ch.isdigit())


def due_words(due: datetime, now: datetime) -> str:
    """A due time as a youth reads it, in Beijing time: 今天18:30, 明天09:00, 12月3日09:00."""
    local, today = due.astimezone(CHINA), now.astimezone(CHINA).date()
    clock = local.strftime("%H:%M")
    if local.date() == today:
        return f"今天{clock}"
    if local.date() == today + timedelta(days=1):
        return f"明天{clock}"
    return f"{local.month}月{local.day}日{clock}"


class LeaveMessages:
    def __init__(self, context: HandoffContext, assignment: Assignment, overflow: Overflow) -> None:
        self.context = context
        self.assignment = assignment
        self.overflow = overflow

    async def check_all(self, items: list[Handed]) -> None:
        """On the deadline tick: offer 留言 where nobody took a conversation within the desk's window."""
        for item in items:
            await self.offer_if_unanswered(item)

    async def offer_if_unanswered(self, item: Handed) -> bool:
        context, conversation, info = self.context, item.conversation, item.info
        if (conversation.state != ConversationState.QUEUED or conversation.owner is not None
                or conversation.risk_level >= 2 or info.leave_message or info.waiting_since is None):
            return False
        desk, now = context.settings.desk(conversation.desk), context.now()
        window = timedelta(seconds=desk.leave_message.offer_after_seconds)
        if not open_now(desk, now) or now - info.waiting_since < window:
            return False
        task_id = tasks.message_task_id(conversation.id, now)
        if not await stored.offer_leave_message(context.store, conversation.id, now=now, task_id=task_id):
            return False  # taken, raised or offered meanwhile
        task = await tasks.open_message_task(context, conversation, now)
        due = task.due_at if task is not None else now
        await context.stream.send(conversation.id, MESSAGE_OFFER.format(due=due_words(due, now)),
                                  sender=SenderKind.SYSTEM)
        await context.stream.send(conversation.id, OFFER_NOTE, sender=SenderKind.SYSTEM, private=True)
        await self.assignment.queue_changed(conversation.desk)
        return True

    async def back_to_risk_path(self, conversation_id: str) -> None:
        """A risk of level >= 2 in an offered 留言: a human now, not later (the clock, the at-risk notice,
        overflow); its task is closed so nobody answers it as an ordinary 留言."""
        context = self.context
        item = await load(context.store, conversation_id)
        if item is None or item.conversation.risk_level < 2:
            return
        if item.info.message_offered_at is None:
            # An after-hours 留言: the risk path already moved it or set a morning outreach task.
            if item.info.message_task:
                await stored_tasks.complete(context.store, item.info.message_task, outcome=RAISED_OUTCOME,
                                            by="system", now=context.now())
            return
        level = item.conversation.risk_level
        deadline = Deadline.starting(context.now(), context.settings.handoff.deadline(level).first_response_seconds)
        moved = await stored.end_offered_message(context.store, conversation_id, deadline)
        if moved is None:
            return
        if item.info.message_task:
            await stored_tasks.complete(context.store, item.info.message_task, outcome=RAISED_OUTCOME, by="system",
                                        now=context.now())
        await self.assignment.queue_changed(moved.desk)
        await self.assignment.auto_assign(moved.desk)
        await self.assignment.tell_youth(conversation_id)
        fresh = await load(context.store, conversation_id)
        if fresh is not None:
            await self.overflow.check(fresh)

    async def take_callback_number(self, conversation: Conversation, message: Message) -> None:
        """A youth waiting as a 留言 wrote a phone number: it goes (sealed) on the 留言's task."""
        item = await load(self.context.store, conversation.id)
        if item is None or not item.info.leave_message or not item.info.message_task:
            return
        number = callback_number(message.text)
        if number is None:
            return
        task = await stored_tasks.set_callback_contact(self.context.store, item.info.message_task, number,
                                                       CALLBACK_TITLE)
        if task is None:
            return  # answered already: the counsellor has the conversation itself
        await self.context.stream.bus.publish(Event(type="task.updated", conversation_id=conversation.id,
                                                    desk=task.desk, data={"task": task.public()}))
        await self.context.stream.send(conversation.id, CALLBACK_NOTED.format(number=mask_phone(number)),
                                       sender=SenderKind.SYSTEM)
