"""Time rules, checked by one background task on a short tick.

Per risk level (config ``handoff.deadlines``): a first-response deadline from queueing and a
reply deadline from each unanswered youth message. At ``warn_fraction`` of the time the console
is warned; at the deadline the supervisors get an alert; ``requeue_after_seconds`` later an
assigned conversation is offered back to the queue. Out-of-hours messages (留言) get their
first-response deadline when the desk opens. A youth at risk level >= 2 silent for
``outreach_after_minutes`` creates an outreach task. The same tick moves waiting risk conversations
up the hierarchy (``handoff.overflow``), offers 留言 where nobody answered in time (``handoff.leave_message``)
and escalates unacknowledged level-3 alerts (``handoff.alerts``).
"""

from __future__ import annotations

import asyncio
import logging
from datetime import datetime, timedelta

from contract.models import ConversationState, Event
from contract.queue import Deadline, Handed, Transfer
from handoff.alerts import AlertEscalation, raise_alert
from handoff.assignment import Assignment
from handoff.context import HandoffContext
from handoff.desks import open_now
from handoff.leave_message import LeaveMessages
from handoff.overflow import OVERFLOW_FROM_LEVEL, Overflow
from handoff.ticker import Ticker
from store import handoff as stored

log = logging.getLogger("youthdesk.handoff.deadlines")


class DeadlineWatcher(Ticker):
    name = "deadlines"
    lease = "worker:deadlines"  # one instance at a time checks: no double alerts

    def __init__(self, context: HandoffContext, assignment: Assignment, *, overflow: Overflow,
                 alert_escalation: AlertEscalation, leave_messages: LeaveMessages) -> None:
        super().__init__(context)
        self.assignment = assignment
        self.overflow = overflow
        self.leave_messages = leave_messages
        self.alert_escalation = alert_escalation

    async def tick(self) -> None:
        """Reads only what may be due now, so a tick costs the same with 20 or 2,000 conversations waiting."""
        store, now = self.context.store, self.context.now()
        for item in await stored.due_for_check(store, **self._due_bounds(now)):
            await self._check(item)
        # The loop is given back between the tick's parts, as a networked store would: on the embedded
        # store a tick with ~500 waiting held it 10-41 ms in one block every half second, the most frequent
        # stall of a 500 pushes/s burst. Each part reads what it acts on afresh, so nothing goes stale.
        await asyncio.sleep(0)
        # Conditional moves: a conversation claimed meanwhile stays put.
        await self.overflow.tick()
        await asyncio.sleep(0)
        # Below risk 2 and unanswered for the shortest desk window: 留言 (each desk's own window decides).
        shortest = min(desk.leave_message.offer_after_seconds for desk in self.context.settings.desks)
        await self.leave_messages.check_all(
            await stored.unanswered_below_risk(store, OVERFLOW_FROM_LEVEL, now - timedelta(seconds=shortest)))
        await asyncio.sleep(0)
        await self.alert_escalation.tick()

    def _due_bounds(self, now: datetime) -> dict[str, datetime]:
        """The bounds of ``stored.due_for_check``, generous enough for every risk level's rule: a warning
        comes ``1 - warn_fraction`` of the deadline before it, at most that of the longest deadline."""
        rules = self.context.settings.handoff
        levels = [rules.deadline(level) for level in range(4)]
        longest = max(max(rule.first_response_seconds, rule.reply_seconds) for rule in levels)
        return {"deadline_due_by": now + timedelta(seconds=longest * (1 - rules.warn_fraction)),
                "requeue_due_before": now - timedelta(seconds=min(rule.requeue_after_seconds for rule in levels)),
                "silent_since": now - timedelta(minutes=rules.outreach_after_minutes)}

    async def _check(self, item: Handed) -> None:
        context, settings = self.context, self.context.settings
        conversation, info, now = item.conversation, item.info, context.now()
        store, cid = context.store, conversation.id
        rule = settings.handoff.deadline(conversation.risk_level)

        if (info.leave_message and info.message_offered_at is None and info.deadline_due_at is None
                and info.first_responded_at is None):  # out of hours: the clock starts when the desk opens
            if open_now(settings.desk(conversation.desk), now):
                await stored.start_deadline(store, cid, Deadline.starting(now, rule.first_response_seconds))
                await self.assignment.auto_assign(conversation.desk)
            return

        outreach_after = timedelta(minutes=settings.handoff.outreach_after_minutes)
        if (conversation.risk_level >= 2 and info.last_youth_at is not None
                and now - info.last_youth_at >= outreach_after
                and (info.outreach_raised_at is None or info.outreach_raised_at <= info.last_youth_at)):
            await stored.mark_outreach_raised(store, cid, now)
            await raise_alert(context.stream, settings, type="outreach", conversation_id=cid, desk=conversation.desk,
                              data={"silent_seconds": int((now - info.last_youth_at).total_seconds()),
                                    "risk_level": conversation.risk_level})

        if info.deadline_due_at is None or info.deadline_started_at is None:
            return
        total = (info.deadline_due_at - info.deadline_started_at).total_seconds()
        warn_at = info.deadline_started_at + timedelta(seconds=total * settings.handoff.warn_fraction)
        kind = "first_response" if info.first_responded_at is None else "reply"
        data = {"kind": kind, "due_at": info.deadline_due_at.isoformat(), "owner": conversation.owner}

        if info.deadline_state == "ok" and warn_at <= now < info.deadline_due_at:
            if await stored.advance_deadline_state(store, cid, "ok", "warning"):
                await context.stream.bus.publish(Event.about("deadline.warning", conversation, data))
        elif info.deadline_state in ("ok", "warning") and now >= info.deadline_due_at:
            if await stored.advance_deadline_state(store, cid, info.deadline_state, "breached"):
                await context.stream.record_event(Event.about("deadline.breached", conversation, data))
                await raise_alert(context.stream, settings, type="deadline_breached", conversation_id=cid,
                                  desk=conversation.desk, data=data)
        elif (info.deadline_state == "breached" and conversation.state == ConversationState.ASSIGNED
              and now >= info.deadline_due_at + timedelta(seconds=rule.requeue_after_seconds)):
            await self._offer_back(item)

    async def _offer_back(self, item: Handed) -> None:
        context, conversation, now = self.context, item.conversation, self.context.now()
        rule = context.settings.handoff.deadline(conversation.risk_level)
        seconds = rule.first_response_seconds if item.info.first_responded_at is None else rule.reply_seconds
        record = Transfer(at=now, by="system", to="queue", from_user=conversation.owner, to_user=None,
                          from_desk=conversation.desk, to_desk=conversation.desk, note="回复超时，已退回队列")
        if not await stored.offer_back(context.store, conversation, waiting_since=item.info.waiting_since or now,
                                       deadline=Deadline.starting(now, seconds), record=record, now=now):
            return
        log.warning("conversation %s offered back to the queue after a missed deadline", conversation.id)
        await context.stream.record_event(Event.about("conversation.state_changed", conversation, {
            "from": ConversationState.ASSIGNED, "to": ConversationState.QUEUED, "reason": "deadline_requeue",
            "by": "system", "previous_owner": conversation.owner}))
        await self.assignment.queues_changed(conversation)
        await self.assignment.auto_assign(conversation.desk)
