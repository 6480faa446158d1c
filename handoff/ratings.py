"""Satisfaction ratings (1-5) a youth gives after a counsellor closed their conversation.

A rating is either the widget's ``satisfaction`` event (score in the conversation's tags, comment
as text) or a bare digit 1-5 typed in any channel. It counts only within 24 h of a closing that
asked for a rating, once per closed conversation; anything else is an ordinary message.
"""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from pymongo.errors import DuplicateKeyError

from contract.models import Conversation, ConversationState, Message, MessageType, SenderKind, new_id
from gateway.stream import ConversationStream
from store.client import Store

RATING_WINDOW = timedelta(hours=24)
THANKS = "谢谢你的评价！"
MAX_COMMENT_CHARS = 500
# The closing message the engine sends when it asks for a rating (handoff.engine.RATING_REQUEST).
RATING_REQUEST_PREFIX = "请回复1-5为本次服务打分"


@dataclass(frozen=True, slots=True)
class RatingAnswer:
    score: int
    comment: str | None
    rated_conversation_id: str | None  # named by the widget; otherwise the contact's last closing


def _aware(value: datetime) -> datetime:
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def parse_answer(conversation: Conversation, message: Message) -> RatingAnswer | None:
    if message.type == MessageType.EVENT and message.event == "satisfaction":
        raw = conversation.tags.get("score", "")
        if raw not in ("1", "2", "3", "4", "5"):
            return None
        comment = message.text.strip()[:MAX_COMMENT_CHARS] or None
        return RatingAnswer(int(raw), comment, conversation.tags.get("rated_conversation_id"))
    if message.type == MessageType.TEXT:
        text = unicodedata.normalize("NFKC", message.text).strip()  # full-width "５" counts too
        if text in ("1", "2", "3", "4", "5"):
            return RatingAnswer(int(text), None, None)
    return None


async def _rated_conversation(store: Store, contact_id: str, answer: RatingAnswer,
                              at: datetime) -> dict[str, Any] | None:
    query: dict[str, Any] = {"contact_id": contact_id, "state": ConversationState.CLOSED,
                             "closed_at": {"$gte": at - RATING_WINDOW}}
    if answer.rated_conversation_id:
        query["_id"] = answer.rated_conversation_id
    docs = await store.conversations.find(query).sort("closed_at", -1).limit(1).to_list(None)
    return docs[0] if docs else None


async def _asked_for_rating(store: Store, conversation: dict[str, Any]) -> bool:
    request = await store.messages.find_one({
        "conversation_id": conversation["_id"], "sender": SenderKind.SYSTEM,
        "created_at": {"$gte": conversation["closed_at"]},
        "text": {"$regex": f"^{RATING_REQUEST_PREFIX}"}})
    return request is not None


async def record_rating_if_answer(store: Store, stream: ConversationStream, conversation: Conversation,
                                  message: Message) -> bool:
    """Record ``message`` as a rating if it is one; True means it was consumed and needs no routing."""
    answer = parse_answer(conversation, message)
    if answer is None or message.sender != SenderKind.YOUTH:
        return False
    at = _aware(message.created_at)
    rated = await _rated_conversation(store, conversation.contact_id, answer, at)
    if rated is None or not await _asked_for_rating(store, rated):
        return False
    case = await store["cases"].find_one({"conversation_id": rated["_id"]}, {"_id": 1})
    try:
        await store["ratings"].insert_one({
            "_id": new_id("rt"), "conversation_id": rated["_id"], "case_id": case["_id"] if case else None,
            "contact_id": conversation.contact_id, "desk": rated["desk"], "platform": rated["platform"],
            "score": answer.score, "comment": answer.comment, "at": at, "message_id": message.id})
    except DuplicateKeyError:
        return False  # already rated: a later "3" is just a message
    await stream.send(conversation.id, THANKS, sender=SenderKind.SYSTEM)
    if conversation.id != rated["_id"] and conversation.state != ConversationState.CLOSED:
        youth_messages = await store.messages.count_documents(
            {"conversation_id": conversation.id, "sender": SenderKind.YOUTH})
        if youth_messages <= 1:  # the rating opened this conversation and nothing else was said in it
            await stream.set_state(conversation.id, ConversationState.CLOSED, reason="rating_received", by=None)
    return True

