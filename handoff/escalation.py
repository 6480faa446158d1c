"""Escalation: risk changes, level-3 alerts, and the 留言 that turns out to be a crisis.

A higher level shortens a running deadline (a lower one never extends it) and reorders the
queue; level 3 alerts the supervisors once per handoff. A waiting conversation raised to level >= 2
is routed as if it had arrived at that level: a 留言 goes to the nearest staffed desk above (or, with
none, the youth hears where to turn tonight and the first shift gets an outreach task), and a desk
where nobody can take it overflows it upwards at once. Lowering a level 3, or any level to 0, is a
supervisor's decision with a stated reason, and it is audited (closing still needs the assessment
the highest level ever reached asks for: ``store.handoff.highest_risk_level``).
"""

from __future__ import annotations

from datetime import datetime, timedelta

from contract import crash_points
from contract.handoff import HandoffRequest
from contract.models import Conversation, ConversationState, Event
from contract.people import Role
from contract.queue import Deadline, HandoffInfo, MessageRisk, Transfer
from contract.risk_labels import RiskLabel
from handoff import audit, cases
from handoff.alerts import raise_alert
from handoff.assignment import Assignment
from handoff.context import HandoffContext
from handoff.desks import nearest_open_ancestor, open_now
from handoff.errors import Invalid, NotFound, NotPermitted
from handoff.overflow import OVERFLOW_FROM_LEVEL, Overflow
from handoff.queue import load
from handoff.users import get_user
from store import handoff as stored
from store import risk_labels


class Escalation:
    def __init__(self, context: HandoffContext, assignment: Assignment, overflow: Overflow) -> None:
        self.context = context
        self.assignment = assignment
        self.overflow = overflow

    async def note_detection(self, request: HandoffRequest) -> None:
        """Keep what the detector found, and the model's estimate, next to the message that fired it."""
        if not request.message_id:
            return
        found = None
        if request.risk_level or request.cues:
            found = MessageRisk(level=request.risk_level, category=request.category, cues=list(request.cues))
        await stored.record_detection(self.context.store, request.message_id, risk=found,
                                      probability=request.risk_probability)

    async def note_probability(self, message_id: str, probability: float) -> None:
        """The model's calibrated P(level >= 2) for a youth message: the console shows the latest one."""
        await stored.record_detection(self.context.store, message_id, probability=probability)

    async def raise_to(self, conversation: Conversation, request: HandoffRequest) -> None:
        """A conversation already with a human: only a higher risk than it has changes anything."""
        if request.risk_level > conversation.risk_level:
            await self.set_risk(conversation.id, request.risk_level, request.category, by=None,
                                reason=f"detector: {', '.join(request.cues)[:200]}")

    async def set_risk(self, conversation_id: str, level: int, category: str | None, *, by: str | None,
                       reason: str) -> Conversation:
        if not 0 <= level <= 3:
            raise Invalid("level: 0-3")
        context = self.context
        item = await load(context.store, conversation_id)
        if item is None:
            raise NotFound(conversation_id)
        await self._ensure_may_lower(item.conversation.risk_level, level, by=by, reason=reason,
                                     conversation_id=conversation_id)
        info, now = item.info, context.now()
        shortened: datetime | None = None
        if info.deadline_due_at is not None and info.deadline_started_at is not None:
            rule = context.settings.handoff.deadline(level)
            seconds = rule.first_response_seconds if info.first_responded_at is None else rule.reply_seconds
            due = info.deadline_started_at + timedelta(seconds=seconds)
            if due < info.deadline_due_at:
                shortened = due
        conversation = await stored.change_risk(
            context.store, conversation_id, level=level, category=category, now=now, deadline_due_at=shortened,
            last_youth_at=now if level >= 2 and info.last_youth_at is None else None)
        await cases.follow_risk(context.store, conversation_id, level)
        if by is not None:  # a counsellor's judgement teaches the risk model; the detector's own does not
            await risk_labels.insert_label(context.store, RiskLabel.saved(conversation, level=level, kind="risk_change",
                                                                          by=by, at=now))
        await context.stream.record_event(Event.about("conversation.risk_changed", conversation, {
            "from": item.conversation.risk_level, "to": level, "category": conversation.risk_category,
            "by": by, "reason": reason}))
        at_risk = level >= OVERFLOW_FROM_LEVEL
        if at_risk and conversation.state == ConversationState.QUEUED and info.leave_message:
            conversation = await self._escalate_waiting_message(conversation, level, now)
        if level >= 3 and not info.level3_alerted and conversation.state != ConversationState.CLOSED:
            await self.alert_level3(conversation, info)
        if conversation.state == ConversationState.QUEUED:
            await self.assignment.queues_changed(conversation)
            if conversation.desk != item.conversation.desk:
                await self.assignment.queue_changed(item.conversation.desk)
            await self.assignment.auto_assign(conversation.desk)
        if at_risk and conversation.state == ConversationState.QUEUED:  # as if it had arrived at this level
            await self.assignment.tell_youth(conversation_id)
            waiting = await load(context.store, conversation_id)
            if waiting is not None:
                await self.overflow.check(waiting)
        return conversation

    async def _ensure_may_lower(self, current: int, level: int, *, by: str | None, reason: str,
                                conversation_id: str) -> None:
        """Only a supervisor (or admin) may lower a level 3, or any level to 0; with a reason; audited."""
        if level >= current or (current < 3 and level > 0):
            return
        actor = await get_user(self.context.store, by) if by else None
        if actor is None or actor.role not in (Role.SUPERVISOR, Role.ADMIN):
            raise NotPermitted("lowering a level-3 risk, or any risk to 0, needs a supervisor")
        if not reason.strip():
            raise Invalid("reason: required to lower the risk level")
        await audit.record(self.context.store, actor.id, "risk.lowered", conversation_id,
                           f"{current} → {level}: {reason}")

    async def alert_level3(self, conversation: Conversation, info: HandoffInfo) -> None:
        context = self.context
        await raise_alert(context.stream, context.settings, type="risk_level_3", conversation_id=conversation.id,
                          desk=conversation.desk, data={"risk_level": 3, "category": conversation.risk_category,
                                                        "cues": info.cues}, now=context.now())
        crash_points.reached("alert.raised")
        await stored.mark_level3_alerted(context.store, conversation.id)

    async def _escalate_waiting_message(self, conversation: Conversation, level: int, now: datetime) -> Conversation:
        """A 留言 that turns out to be at risk moves to the nearest staffed desk above, clock running;
        with none staffed, the youth hears where to turn tonight and the first shift will reach out."""
        settings = self.context.settings
        if open_now(settings.desk(conversation.desk), now):
            return conversation  # the shift has begun: the deadline tick starts its clock
        staffed = nearest_open_ancestor(settings, conversation.desk, now)
        if staffed is None:
            await self.assignment.tell_nobody_on_duty(conversation)
            return conversation
        record = Transfer(at=now, by="system", to="desk", from_desk=conversation.desk, to_desk=staffed,
                          note="留言中出现高危信号，自动转至上级值班台")
        moved = await stored.move_waiting_message(
            self.context.store, conversation, to_desk=staffed, record=record,
            deadline=Deadline.starting(now, settings.handoff.deadline(level).first_response_seconds))
        if moved is None:
            return conversation
        await cases.move_case(self.context.store, moved.id, staffed)
        return moved
