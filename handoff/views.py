"""What the API shows of conversations and messages: masked, scoped, never raw identifiers."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from contract.crypto import mask
from contract.models import Message
from contract.people import User
from contract.queue import Handed, MessageRisk
from handoff import cases
from handoff.engine import HandoffEngine
from handoff.leave_message import mask_numbers
from handoff.overflow import arrival
from handoff.users import get_user
from store import handoff as stored
from store.contacts import find_contact
from store.times import aware

SENDER_NAMES = {"youth": "青少年", "bot": "智能助手", "system": "系统"}


def _iso(value: datetime | None) -> str | None:
    value = aware(value)
    return value.isoformat() if value else None


async def _contact_label(engine: HandoffEngine, item: Handed, viewer: User) -> str:
    conversation = item.conversation
    if caller := conversation.tags.get("caller_masked"):
        return f"来电 {caller}"  # a phone caller: their id is a keyed hash, the number is kept only masked
    contact = await find_contact(engine.store, engine.stream.protector, conversation.contact_id)
    identities = contact.identities if contact is not None else []
    external = next((i.external_id for i in identities
                     if i.platform == conversation.platform and i.account == conversation.account), None)
    if external is None:
        return "未知"
    shown = external if conversation.owner == viewer.id else mask(external)
    return f"{conversation.platform} {shown}"


def _window(engine: HandoffEngine, item: Handed) -> dict[str, Any]:
    conversation = item.conversation
    policy = engine.reply_policies.get(conversation.platform)
    window = conversation.window
    last = aware(window.last_youth_message_at)
    if policy is None:
        return {"policy": None, "last_youth_message_at": _iso(last), "expires_at": None, "messages_left": None,
                "closed_reason": window.closed_reason}
    expires = last + policy.window if last else None
    left = max(0, policy.max_messages - window.sent_since_youth_message)
    return {"policy": {"hours": policy.window / timedelta(hours=1), "max_messages": policy.max_messages},
            "last_youth_message_at": _iso(last), "expires_at": _iso(expires), "messages_left": left,
            "closed_reason": window.closed_reason}


async def _owner(engine: HandoffEngine, user_id: str | None) -> dict[str, str] | None:
    if not user_id:
        return None
    user = await get_user(engine.store, user_id)
    return {"id": user_id, "display_name": user.display_name if user else user_id}


async def summary(engine: HandoffEngine, item: Handed, viewer: User, *, position: int | None = None,
                  detail: bool = False) -> dict[str, Any]:
    conversation, info = item.conversation, item.info
    words = await stored.last_youth_words(engine.store, conversation.id)
    case = await cases.get_case_for_conversation(engine.store, conversation.id)
    case_id, case_number = (case.id, case.number) if case is not None else (None, None)
    result: dict[str, Any] = {
        "id": conversation.id, "desk": conversation.desk, "platform": conversation.platform,
        "account": conversation.account, "state": conversation.state.value,
        "risk_level": conversation.risk_level, "risk_category": conversation.risk_category,
        "topic": conversation.topic, "owner": await _owner(engine, conversation.owner),
        "waiting_since": _iso(info.waiting_since), "first_response_due_at": _iso(info.first_response_due_at),
        "reply_due_at": _iso(info.reply_due_at), "deadline_state": info.deadline_state,
        "last_message_preview": mask_numbers(words.text)[:80],  # a callback number is not for the whole desk
        # The model's estimate for the youth's latest words, shown next to the level as an estimate, not a judgement.
        "risk_probability": words.risk_probability,
        "contact": {"id": conversation.contact_id, "label": await _contact_label(engine, item, viewer)},
        "case_id": case_id, "case_number": case_number, "window": _window(engine, item),
        "queue_position": position, "leave_message": info.leave_message, "overflow": arrival(info),
    }
    if detail:
        result["tags"] = dict(conversation.tags)
        result["previous_counsellor"] = await _owner(engine, info.previous_counsellor)
        result["joined"] = list(info.joined)
        result["transfers"] = [{**t.model_dump(mode="json"), "at": _iso(t.at)} for t in info.transfers]
    return result


async def message_public(engine: HandoffEngine, message: Message, names: dict[str, str],
                         risk: MessageRisk | None = None) -> dict[str, Any]:
    sender_name = SENDER_NAMES.get(message.sender.value, "")
    if message.sender_id:
        if message.sender_id not in names:
            user = await get_user(engine.store, message.sender_id)
            names[message.sender_id] = user.display_name if user else message.sender_id
        sender_name = names[message.sender_id]
    return {"id": message.id, "seq": message.seq, "direction": message.direction.value,
            "sender": message.sender.value, "sender_id": message.sender_id, "sender_name": sender_name,
            "type": message.type.value, "text": message.text,
            "media": message.media.model_dump(mode="json") if message.media else None,
            "created_at": _iso(message.created_at), "status": message.status.value, "error": message.error,
            "private": message.private, "risk": risk.model_dump() if risk else None}
