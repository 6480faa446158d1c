"""Transfers: to a colleague, to another desk (up the hierarchy or across regions), back to the bot.

The note travels with the conversation (``handoff.transfers`` and a private note in the
transcript) and the case stays attached, so nobody asks the youth to tell their story again.

A transfer is a person's decision about where the conversation belongs, so the receiving desk owns
it alone: an overflow trail ends there (the desks it overflowed from no longer see it, the arrival
label goes, and its overflow window starts again at the receiving desk). The desks that lose it hear so.
"""

from __future__ import annotations

from typing import Literal

from contract.models import Conversation, ConversationState, Event, SenderKind
from contract.people import Role, User
from contract.queue import Deadline, Transfer
from handoff import cases
from handoff.assignment import Assignment
from handoff.context import HandoffContext
from handoff.errors import Conflict, Invalid, NotFound, NotPermitted
from handoff.queue import load
from handoff.users import active_count, get_user
from store import handoff as stored

TransferTarget = Literal["user", "desk", "bot"]


async def transfer(context: HandoffContext, assignment: Assignment, conversation_id: str, actor: User, *,
                   to: TransferTarget, note: str, user_id: str | None = None,
                   desk_id: str | None = None) -> Conversation:
    store = context.store
    item = await load(store, conversation_id)
    if item is None:
        raise NotFound(conversation_id)
    conversation = item.conversation
    if conversation.state == ConversationState.CLOSED:
        raise Conflict("conversation is closed")
    if actor.role == Role.COUNSELLOR and conversation.owner != actor.id:
        raise NotPermitted("only the owner may transfer")
    note = note.strip()
    if not note:
        raise Invalid("note: required")
    now = context.now()
    record = Transfer(at=now, by=actor.id, to=to, from_user=conversation.owner, from_desk=conversation.desk,
                      to_desk=conversation.desk, note=note[:2000])
    rule = context.settings.handoff.deadline(conversation.risk_level)
    first_response = Deadline.starting(now, rule.first_response_seconds)

    if to == "user":
        target = await get_user(store, user_id or "")
        if target is None or target.role == Role.ADMIN:
            raise Invalid("user_id: not a counsellor or supervisor")
        if actor.role == Role.COUNSELLOR and target.desk != actor.desk:
            raise NotPermitted("counsellors transfer to colleagues of their desk; use a desk transfer otherwise")
        if target.id == conversation.owner:
            raise Invalid("user_id: already the owner")
        if target.role == Role.COUNSELLOR and await active_count(store, target.id) >= target.capacity:
            raise Conflict("colleague is at capacity")
        record.to_user, record.to_desk = target.id, target.desk
        # Nobody has answered yet: the new owner's first-response clock starts now.
        unanswered = conversation.state == ConversationState.QUEUED or item.info.first_responded_at is None
        result = await stored.transfer(store, conversation, record, state=ConversationState.ASSIGNED,
                                       owner=target.id, desk=target.desk, now=now, assigned=True,
                                       deadline=first_response if unanswered else None)
    elif to == "desk":
        try:
            context.settings.desk(desk_id or "")
        except KeyError:
            raise Invalid("desk_id: unknown desk") from None
        if desk_id == conversation.desk and conversation.state == ConversationState.QUEUED:
            raise Invalid("desk_id: already queued there")
        record.to_desk = desk_id or conversation.desk
        deadline = (first_response if item.info.first_responded_at is None
                    else Deadline.starting(now, rule.reply_seconds))
        result = await stored.transfer(store, conversation, record, state=ConversationState.QUEUED, owner=None,
                                       desk=record.to_desk, now=now, waiting_since=item.info.waiting_since or now,
                                       deadline=deadline)
    else:
        result = await stored.transfer(store, conversation, record, state=ConversationState.BOT, owner=None,
                                       desk=conversation.desk, now=now, deadline=Deadline.stopped())
    if result is None:
        raise Conflict("conversation changed meanwhile; reload and try again")
    if result.desk != conversation.desk:
        await cases.move_case(store, result.id, result.desk)
    await context.stream.send(conversation_id, f"转接备注：{record.note}", sender=SenderKind.SYSTEM,
                              sender_id=actor.id, private=True)
    left = {conversation.desk, *conversation.also_visible_to} - {result.desk}
    await context.stream.record_event(Event(
        type="conversation.state_changed", conversation_id=conversation_id, desk=result.desk, also_desks=sorted(left),
        data={"from": conversation.state, "to": result.state, "reason": f"transfer_{to}", "by": actor.id,
              "owner": result.owner, "from_desk": conversation.desk}))
    if to == "user" and result.owner:
        target = await get_user(store, result.owner)
        await context.stream.publish("conversation.assigned", result, owner=result.owner, by=actor.id,
                                     display_name=target.display_name if target else None)
    for desk in sorted(left | {result.desk}):
        await assignment.queue_changed(desk)
    for desk in {conversation.desk, result.desk}:  # the previous owner has room again
        await assignment.auto_assign(desk)
    return result
