"""The queries behind desk statistics: conversations, cases, state changes, replies and ratings of a period.

Each returns only the fields the figures need; ``handoff.stats`` does the arithmetic.
"""

from __future__ import annotations

from datetime import datetime

from contract.models import SenderKind
from contract.stats import ConversationSample, StateChange
from store.database import Store
from store.times import aware


async def conversations_since(store: Store, desks: list[str], since: datetime, limit: int) -> list[ConversationSample]:
    docs = await store.conversations.find({"desk": {"$in": desks}, "created_at": {"$gte": since}},
                                          {"platform": 1, "risk_level": 1, "created_at": 1}).limit(limit).to_list(None)
    return [ConversationSample(doc["_id"], doc["platform"], doc.get("risk_level", 0), aware(doc["created_at"]))
            for doc in docs]


async def case_open_times_since(store: Store, desks: list[str], since: datetime) -> list[datetime]:
    """When each case opened since ``since`` was opened (the daily series counts them per Beijing day)."""
    docs = await store["cases"].find({"desk": {"$in": desks}, "created_at": {"$gte": since}},
                                     {"created_at": 1}).to_list(None)
    return [aware(doc["created_at"]) for doc in docs]


async def case_classifications_since(store: Store, desks: list[str], since: datetime) -> list[str | None]:
    """The 案由 code of every case opened since ``since`` (None where unclassified)."""
    docs = await store["cases"].find({"desk": {"$in": desks}, "created_at": {"$gte": since}},
                                     {"classification": 1}).to_list(None)
    return [doc.get("classification") for doc in docs]


async def state_changes(store: Store, conversation_ids: list[str]) -> list[StateChange]:
    """The conversations' state changes, oldest first."""
    events = await store.events.find({"type": "conversation.state_changed",
                                      "conversation_id": {"$in": conversation_ids}}).sort("at", 1).to_list(None)
    return [StateChange(event["conversation_id"], event["data"].get("to"), aware(event["at"])) for event in events]


async def first_counsellor_replies(store: Store, conversation_ids: list[str]) -> dict[str, datetime]:
    """When a counsellor first wrote to the youth in each conversation (private notes do not count)."""
    # One grouped query for all conversations rather than one per conversation.
    cursor = await store.messages.aggregate([
        {"$match": {"conversation_id": {"$in": conversation_ids}, "sender": SenderKind.COUNSELLOR.value,
                    "private": {"$ne": True}}},
        {"$group": {"_id": "$conversation_id", "first": {"$min": "$created_at"}}},
    ])
    return {doc["_id"]: aware(doc["first"]) for doc in await cursor.to_list(None)}


async def rating_scores_since(store: Store, desks: list[str], since: datetime) -> list[int]:
    docs = await store["ratings"].find({"desk": {"$in": desks}, "at": {"$gte": since}}, {"score": 1}).to_list(None)
    return [int(doc["score"]) for doc in docs]
