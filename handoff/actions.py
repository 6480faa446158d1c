"""What happens in a conversation with a counsellor: replies, the youth writing, joining, closing,
and a platform closing the reply window.

A counsellor's reply stops the running deadline; the youth's next message starts a reply deadline
(and ends a silence the outreach rule watches).
"""

from __future__ import annotations

from contract.models import Conversation, ConversationState, Event, Message, SenderKind
from contract.people import Role, User
from contract.queue import Deadline, Handed
from handoff import cases, wellbeing
from handoff.alerts import raise_alert
from handoff.assignment import Assignment
from handoff.context import HandoffContext
from handoff.errors import Conflict, NotFound, NotPermitted
from handoff.queue import load
from store import handoff as stored
from store import messages

RATING_REQUEST = "请回复1-5为本次服务打分（5分为非常满意）。谢谢你的信任，祝你一切都好。"
WITH_A_HUMAN = (ConversationState.QUEUED, ConversationState.ASSIGNED)


class ConversationActions:
    def __init__(self, context: HandoffContext, assignment: Assignment) -> None:
        self.context = context
        self.assignment = assignment

    async def reply(self, conversation_id: str, user: User, text: str) -> Message:
        context = self.context
        item = await self._require(conversation_id)
        conversation = item.conversation
        if conversation.state != ConversationState.ASSIGNED:
            raise Conflict("conversation is not assigned")
        if conversation.owner != user.id and user.id not in item.info.joined:
            raise NotPermitted("only the owner (or a supervisor who joined) may reply")
        message = await context.stream.send(conversation_id, text, sender=SenderKind.COUNSELLOR, sender_id=user.id)
        first_response = context.now() if item.info.first_responded_at is None else None
        await stored.record_reply(context.store, conversation_id, first_response_at=first_response)
        return message

    async def youth_wrote(self, conversation_id: str, message: Message | None = None) -> None:
        """A youth wrote while waiting or assigned: the silence ends, a reply deadline starts, unless a
        counsellor already answered after ``message`` (routing runs behind intake under load, so a message
        can reach here after the reply to it)."""
        context = self.context
        item = await load(context.store, conversation_id)
        if item is None or item.conversation.state not in WITH_A_HUMAN:
            return
        now, info = context.now(), item.info
        reply_deadline = None
        if (item.conversation.state == ConversationState.ASSIGNED and info.first_responded_at is not None
                and info.deadline_due_at is None
                and not (message is not None and await messages.answered_after(context.store, conversation_id,
                                                                               message.seq))):
            seconds = context.settings.handoff.deadline(item.conversation.risk_level).reply_seconds
            reply_deadline = Deadline.starting(now, seconds)
        await stored.record_youth_message(context.store, conversation_id, now, reply_deadline=reply_deadline)

    async def window_closed(self, event: Event) -> None:
        """The platform refused a counsellor's message: a supervisor must find another way to reach the youth."""
        item = await load(self.context.store, event.conversation_id or "")
        if item is None or item.conversation.state not in WITH_A_HUMAN:
            return
        await raise_alert(self.context.stream, self.context.settings, type="window_closed",
                          conversation_id=item.conversation.id, desk=item.conversation.desk,
                          data={"reason": event.data.get("reason"), "risk_level": item.conversation.risk_level})

    async def join(self, conversation_id: str, user: User) -> Conversation:
        if user.role not in (Role.SUPERVISOR, Role.ADMIN):
            raise NotPermitted("supervisors only")
        await self._require(conversation_id)
        conversation = await stored.join(self.context.store, conversation_id, user.id)
        await self.context.stream.publish("conversation.joined", conversation, user_id=user.id,
                                          display_name=user.display_name)
        return conversation

    async def close(self, conversation_id: str, user: User, *, outcome: str, request_rating: bool,
                    no_referral_reason: str | None = None) -> Conversation:
        context = self.context
        item = await self._require(conversation_id)
        conversation = item.conversation
        if conversation.state == ConversationState.CLOSED:
            raise Conflict("already closed")
        if user.role == Role.COUNSELLOR and conversation.owner != user.id:
            raise NotPermitted("only the owner may close")
        case = await cases.get_case_for_conversation(context.store, conversation_id)
        # The highest level it ever had: lowering the risk field must not unlock closing without an assessment.
        highest = await stored.highest_risk_level(context.store, conversation_id)
        missing = cases.missing_before_close(case, highest, no_referral_reason)
        if missing:
            raise Conflict("required before closing: " + ", ".join(missing))
        closed = await context.stream.set_state(conversation_id, ConversationState.CLOSED, reason="closed",
                                                by=user.id, outcome=outcome[:200], **stored.closing_changes())
        await cases.close_case(context.store, closed.id, outcome, by=user.id, no_referral_reason=no_referral_reason)
        if request_rating:
            await context.stream.send(conversation_id, RATING_REQUEST, sender=SenderKind.SYSTEM)
        await wellbeing.after_close(context, closed, user)
        await self.assignment.queue_changed(closed.desk)
        await self.assignment.auto_assign(closed.desk)
        return closed

    async def _require(self, conversation_id: str) -> Handed:
        item = await load(self.context.store, conversation_id)
        if item is None:
            raise NotFound(conversation_id)
        return item
