"""Tasks, not just alerts: outreach to a silent youth at risk, referral and follow-up dates coming due,
留言 to answer, reminders, and each counsellor's worklist (我的待办).

An alert tells a supervisor something happened; a task says who does what by when, and keeps the
outcome. The watcher turns outreach alerts and due case dates into tasks (idempotently: a task made
from the same thing twice has the same id) and reminds assignees before a task is due.
"""

from __future__ import annotations

import asyncio
import logging
from datetime import datetime, timedelta

from contract.cases import Followup, Referral
from contract.models import Conversation, Event
from contract.people import Role, User
from contract.tasks import Task, TaskKind
from handoff import audit
from handoff.access import ensure_desk_access, visible_desks
from handoff.context import HandoffContext
from handoff.desks import open_now
from handoff.errors import Conflict, NotFound, NotPermitted
from store import leases
from store import tasks as stored
from store.times import aware

log = logging.getLogger("youthdesk.handoff.tasks")

OUTREACH_TITLE = "主动联系：高危青少年已沉默"
MORNING_OUTREACH_TITLE = "主动联系：值班时间外的高危求助（无值班台接入）"
REFERRAL_TITLE = "转介跟进：{agency}"
FOLLOW_UP_TITLE = "随访：{title}"
MESSAGE_TITLE = "回复留言"
# The opening of a desk is searched in steps this small, up to a week ahead.
OPENING_STEP = timedelta(minutes=5)
OPENING_HORIZON = timedelta(days=7)
# Case dates are in days; reading every pending one on each one-second tick would be waste.
CASE_SCAN_INTERVAL = timedelta(minutes=1)


def next_opening(context: HandoffContext, desk_id: str, after: datetime) -> datetime:
    """When ``desk_id`` is next staffed after ``after`` (``after`` itself if it is open)."""
    desk = context.settings.desk(desk_id)
    at = after
    while at - after < OPENING_HORIZON:
        if open_now(desk, at):
            return at
        at += OPENING_STEP
    return after


async def open_task(context: HandoffContext, *, kind: TaskKind, title: str, desk: str, due_at: datetime,
                    conversation_id: str | None = None, case_id: str | None = None, assignee: str | None = None,
                    task_id: str | None = None) -> Task | None:
    """Store a new task and tell the desk; None if ``task_id`` exists already."""
    task = Task(kind=kind, title=title, desk=desk, due_at=due_at, conversation_id=conversation_id,
                case_id=case_id, assignee=assignee, created_at=context.now())
    if task_id is not None:
        task = task.model_copy(update={"id": task_id})
    if not await stored.insert_once(context.store, task):
        return None
    await context.stream.bus.publish(Event(type="task.created", conversation_id=conversation_id, desk=desk,
                                           data={"task": task.public()}))
    return task


async def outreach_for_the_morning(context: HandoffContext, conversation: Conversation) -> Task | None:
    """A youth at risk wrote when no desk was staffed: the first shift reaches out to them."""
    due = next_opening(context, conversation.desk, context.now())
    return await open_task(context, kind="outreach", title=MORNING_OUTREACH_TITLE, desk=conversation.desk,
                           due_at=due, conversation_id=conversation.id,
                           task_id=f"tk-night-{conversation.id}")


async def open_message_task(context: HandoffContext, conversation: Conversation, left_at: datetime) -> Task | None:
    """The worklist task that answers a 留言, due ``reply_within_minutes`` after the desk is (next) open;
    one per 留言, its id derived from when it was left."""
    windows = context.settings.desk(conversation.desk).leave_message
    due = next_opening(context, conversation.desk, left_at) + timedelta(minutes=windows.reply_within_minutes)
    return await open_task(context, kind="leave_message", title=MESSAGE_TITLE, desk=conversation.desk, due_at=due,
                           conversation_id=conversation.id, task_id=message_task_id(conversation.id, left_at))


def message_task_id(conversation_id: str, left_at: datetime) -> str:
    return f"tk-msg-{conversation_id}-{int(left_at.timestamp())}"


async def outreach_for_silence(context: HandoffContext, event: Event) -> Task | None:
    """An outreach alert (a youth at risk silent too long) becomes a task for the conversation's owner."""
    alert = event.data.get("alert") or {}
    if alert.get("type") != "outreach" or not event.conversation_id:
        return None
    conversation = await context.stream.get_conversation(event.conversation_id)
    now = context.now()
    due = now + timedelta(minutes=context.settings.handoff.outreach_task_due_minutes)
    return await open_task(context, kind="outreach", title=OUTREACH_TITLE, desk=conversation.desk, due_at=due,
                           conversation_id=conversation.id, assignee=conversation.owner,
                           task_id=f"tk-silent-{alert.get('id')}")


async def worklist(context: HandoffContext, user: User, *, desk_wide: bool) -> list[Task]:
    """我的待办: the user's open tasks, plus the unassigned ones of their desk; ``desk_wide`` (supervisors,
    admins) gives every open task of the desks they see."""
    if desk_wide and user.role != Role.COUNSELLOR:
        return await stored.open_tasks(context.store, desks=visible_desks(user, context.settings))
    mine = await stored.open_tasks(context.store, assignee=user.id)
    unassigned = [task for task in await stored.open_tasks(context.store, desks={user.desk})
                  if task.assignee is None]
    return sorted(mine + unassigned, key=lambda task: task.due_at)


async def _task_for(context: HandoffContext, user: User, task_id: str) -> Task:
    task = await stored.find(context.store, task_id)
    if task is None:
        raise NotFound(task_id)
    ensure_desk_access(user, task.desk, context.settings)
    return task


async def complete(context: HandoffContext, user: User, task_id: str, outcome: str) -> Task:
    """Record the outcome. Counsellors close their own tasks and unassigned ones of their desk."""
    task = await _task_for(context, user, task_id)
    if user.role == Role.COUNSELLOR and task.assignee not in (None, user.id):
        raise NotPermitted("only the assignee (or a supervisor) may close this task")
    done = await stored.complete(context.store, task_id, outcome=outcome, by=user.id, now=context.now())
    if done is None:
        raise Conflict("already done")
    return done


async def callback_contact(context: HandoffContext, user: User, task_id: str) -> str:
    """The whole callback number of a 留言, for whoever may answer it (audited: it identifies a minor)."""
    task = await _task_for(context, user, task_id)
    if user.role == Role.COUNSELLOR and task.assignee not in (None, user.id):
        raise NotPermitted("only the assignee (or a supervisor) may read this number")
    if not task.callback_contact:
        raise NotFound("no callback number on this task")
    await audit.record(context.store, user.id, "task.callback_contact", task_id)
    return task.callback_contact


async def assign(context: HandoffContext, user: User, task_id: str, assignee: User) -> Task:
    """Supervisors assign anyone on the desk; a counsellor may only take an unassigned task for themselves."""
    task = await _task_for(context, user, task_id)
    ensure_desk_access(assignee, task.desk, context.settings)
    if user.role == Role.COUNSELLOR and (assignee.id != user.id or task.assignee is not None):
        raise NotPermitted("counsellors may only take unassigned tasks for themselves")
    updated = await stored.update(context.store, task_id, {"assignee": assignee.id, "reminded_at": None})
    assert updated is not None
    return updated


class TaskWatcher:
    """Turns outreach alerts and due case dates into tasks, and reminds assignees before tasks are due."""

    def __init__(self, context: HandoffContext) -> None:
        self.context = context
        self._tasks: list[asyncio.Task[None]] = []
        self._cases_scanned_at: datetime | None = None

    async def start(self) -> None:
        self._tasks = [asyncio.create_task(self._run(), name="handoff:tasks"),
                       asyncio.create_task(self._follow_outreach(), name="handoff:outreach-tasks")]

    async def stop(self) -> None:
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)

    async def _run(self) -> None:
        while True:
            try:
                # One instance at a time checks (no double alerts); another takes over when it stops.
                tick_seconds = self.context.settings.handoff.tick_seconds
                if await leases.take_for_worker(self.context.store, "worker:tasks", tick_seconds):
                    await self.tick()
            except Exception:  # noqa: BLE001 - keep watching; the failure is logged loudly
                log.exception("task check failed")
            await asyncio.sleep(self.context.settings.handoff.tick_seconds)

    async def _follow_outreach(self) -> None:
        bus = self.context.stream.bus
        while True:
            subscription = bus.subscribe(lambda e: e.type == "alert.raised", maxsize=10_000, local_only=True)
            async for event in subscription:
                try:
                    await outreach_for_silence(self.context, event)
                except Exception:  # noqa: BLE001 - one bad event must not stop the others
                    log.exception("outreach task failed for %s", event.conversation_id)
            if not subscription.lagged:
                return
            log.error("task watcher lagged behind the bus; resubscribing")

    async def tick(self) -> None:
        context = self.context
        now = context.now()
        remind_before = timedelta(minutes=context.settings.handoff.task_reminder_minutes)
        # A clock set back (tests, a corrected system clock) rescans rather than waiting for it to catch up.
        if self._cases_scanned_at is None or not timedelta(0) <= now - self._cases_scanned_at < CASE_SCAN_INTERVAL:
            await self._tasks_from_cases(now + remind_before)
            self._cases_scanned_at = now
        for task in await stored.due_for_reminder(context.store, now + remind_before):
            if await stored.mark_reminded(context.store, task.id, now):
                await context.stream.bus.publish(Event(
                    type="task.reminder", conversation_id=task.conversation_id, desk=task.desk,
                    data={"task": task.public(), "overdue": task.due_at <= now}))

    async def _tasks_from_cases(self, before: datetime) -> None:
        """Referrals and follow-ups coming due: a task for the conversation's owner, once per item."""
        for doc in await stored.open_referral_follow_ups(self.context.store, before):
            made = await stored.existing_ids(self.context.store, [
                *(f"tk-ref-{raw['id']}" for raw in doc.get("referrals", [])),
                *(f"tk-fu-{raw['id']}" for raw in doc.get("followups", []))])
            conversation = await self.context.stream.get_conversation(doc["conversation_id"])
            common = {"desk": doc["desk"], "conversation_id": conversation.id, "case_id": doc["_id"],
                      "assignee": conversation.owner}
            for raw in doc.get("referrals", []):
                referral = Referral.model_validate(raw)
                if (referral.status in ("sent", "accepted") and aware(referral.due_at) <= before
                        and f"tk-ref-{referral.id}" not in made):
                    await open_task(self.context, kind="referral_follow_up", due_at=aware(referral.due_at),
                                    title=REFERRAL_TITLE.format(agency=referral.agency),
                                    task_id=f"tk-ref-{referral.id}", **common)
            for raw in doc.get("followups", []):
                followup = Followup.model_validate(raw)
                if not followup.done and aware(followup.due_at) <= before and f"tk-fu-{followup.id}" not in made:
                    await open_task(self.context, kind="case_follow_up", due_at=aware(followup.due_at),
                                    title=FOLLOW_UP_TITLE.format(title=followup.title),
                                    task_id=f"tk-fu-{followup.id}", **common)
