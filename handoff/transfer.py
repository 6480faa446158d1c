"""Transfers: to a colleague, to another desk (up the hierarchy or across regions), back to the bot.

The note travels with the conversation (``handoff.transfers`` and a private note in the
transcript) and the case stays attached, so nobody asks the youth to tell their story again.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Literal

from contract.models import Conversation, ConversationState, Event, SenderKind
from handoff import cases
from handoff.engine import Conflict, HandoffEngine, Invalid, NotFound, NotPermitted
from handoff.queue import Transfer, load
from handoff.users import Role, User, active_count, get_user

TransferTarget = Literal["user", "desk", "bot"]


async def transfer(engine: HandoffEngine, conversation_id: str, actor: User, *, to: TransferTarget,
                   note: str, user_id: str | None = None, desk_id: str | None = None) -> Conversation:
    item = await load(engine.store, conversation_id)
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
    now = engine.now()
    record = Transfer(at=now, by=actor.id, to=to, from_user=conversation.owner, from_desk=conversation.desk,
                      to_desk=conversation.desk, note=note[:2000])
    rule = engine.settings.handoff.deadline(conversation.risk_level)
    changes: dict[str, object] = {"updated_at": now}

    if to == "user":
        target = await get_user(engine.store, user_id or "")
        if target is None or target.role == Role.ADMIN:
            raise Invalid("user_id: not a counsellor or supervisor")
        if actor.role == Role.COUNSELLOR and target.desk != actor.desk:
            raise NotPermitted("counsellors transfer to colleagues of their desk; use a desk transfer otherwise")
        if target.id == conversation.owner:
            raise Invalid("user_id: already the owner")
        if target.role == Role.COUNSELLOR and await active_count(engine.store, target.id) >= target.capacity:
            raise Conflict("colleague is at capacity")
        record.to_user, record.to_desk = target.id, target.desk
        changes.update({"state": ConversationState.ASSIGNED, "owner": target.id, "desk": target.desk,
                        "handoff.assigned_at": now})
        if conversation.state == ConversationState.QUEUED or item.info.first_responded_at is None:
            changes.update(_deadline(now, rule.first_response_seconds))
    elif to == "desk":
        try:
            engine.settings.desk(desk_id or "")
        except KeyError:
            raise Invalid("desk_id: unknown desk") from None
        if desk_id == conversation.desk and conversation.state == ConversationState.QUEUED:
            raise Invalid("desk_id: already queued there")
        record.to_desk = desk_id or conversation.desk
        changes.update({"state": ConversationState.QUEUED, "owner": None, "desk": record.to_desk,
                        "handoff.waiting_since": item.info.waiting_since or now,
                        **_deadline(now, rule.first_response_seconds if item.info.first_responded_at is None
                                    else rule.reply_seconds)})
    else:
        changes.update({"state": ConversationState.BOT, "owner": None, "handoff.deadline_due_at": None,
                        "handoff.deadline_started_at": None, "handoff.deadline_state": "ok"})

    updated = await engine.store.conversations.find_one_and_update(
        {"_id": conversation_id, "state": conversation.state, "owner": conversation.owner},
        {"$set": changes, "$push": {"handoff.transfers": record.model_dump()}},
        return_document=True,
    )
    if updated is None:
        raise Conflict("conversation changed meanwhile; reload and try again")
    result = Conversation.from_doc(updated)
    if result.desk != conversation.desk:
        await cases.move_case(engine.store, result.id, result.desk)
    await engine.stream.send(conversation_id, f"转接备注：{record.note}", sender=SenderKind.SYSTEM,
                             sender_id=actor.id, private=True)
    await engine.stream.record_event(Event(
        type="conversation.state_changed", conversation_id=conversation_id, desk=result.desk,
        data={"from": conversation.state, "to": result.state, "reason": f"transfer_{to}", "by": actor.id,
              "owner": result.owner, "from_desk": conversation.desk}))
    if to == "user" and result.owner:
        target = await get_user(engine.store, result.owner)
        await engine.stream.publish("conversation.assigned", result, owner=result.owner, by=actor.id,
                                    display_name=target.display_name if target else None)
    for desk in {conversation.desk, result.desk}:
        await engine.queue_changed(desk)
        await engine.auto_assign(desk)
    return result


def _deadline(now, seconds: int) -> dict[str, object]:  # type: ignore[no-untyped-def]
    return {"handoff.deadline_started_at": now, "handoff.deadline_due_at": now + timedelta(seconds=seconds),
            "handoff.deadline_state": "ok"}
