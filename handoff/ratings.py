"""Satisfaction ratings (1-5) a youth gives after a counsellor closed their conversation.

A rating is either the widget's ``satisfaction`` event (score in the conversation's tags, comment
as text) or a bare digit 1-5 typed in any channel. It counts only within 24 h of a closing that
asked for a rating, once per closed conversation; anything else is an ordinary message.
"""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass
from datetime import timedelta

from contract.cases import Rating
from contract.models import Conversation, ConversationState, Message, MessageType, SenderKind, new_id
from gateway.stream import ConversationStream
from store import cases as stored
from store.client import Store
from store.times import aware

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


async def record_rating_if_answer(store: Store, stream: ConversationStream, conversation: Conversation,
                                  message: Message) -> bool:
    """Record ``message`` as a rating if it is one; True means it was consumed and needs no routing."""
    answer = parse_answer(conversation, message)
    if answer is None or message.sender != SenderKind.YOUTH:
        return False
    at = aware(message.created_at)
    rated = await stored.last_closed_conversation(store, conversation.contact_id, at - RATING_WINDOW,
                                                  answer.rated_conversation_id)
    if rated is None or rated.closed_at is None or not await stored.has_system_message_starting(
            store, rated.id, RATING_REQUEST_PREFIX, since=rated.closed_at):
        return False
    rating = Rating(id=new_id("rt"), conversation_id=rated.id, contact_id=conversation.contact_id,
                    case_id=await stored.case_id_of_conversation(store, rated.id), desk=rated.desk,
                    platform=rated.platform, score=answer.score, comment=answer.comment, at=at, message_id=message.id)
    if not await stored.insert_rating(store, rating):
        return False  # already rated: a later "3" is just a message
    await stream.send(conversation.id, THANKS, sender=SenderKind.SYSTEM)
    if conversation.id != rated.id and conversation.state != ConversationState.CLOSED:
        # The rating opened this conversation and nothing else was said in it.
        if await stored.youth_message_count(store, conversation.id) <= 1:
            await stream.set_state(conversation.id, ConversationState.CLOSED, reason="rating_received", by=None)
    return True

