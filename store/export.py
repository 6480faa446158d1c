"""The reads behind record-level exports and reports, and the youth profiles counsellors record (``youth_profiles``).

Each read takes a batch of conversation ids, so an export costs a handful of queries, not one per record.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from contract.cases import Case
from contract.models import Conversation, SenderKind
from contract.youth import YouthProfile
from store.database import Store
from store.times import aware


async def conversations_opened(store: Store, desks: list[str], start: datetime, end: datetime) -> list[Conversation]:
    """Conversations of ``desks`` opened in [start, end), oldest first (the queue's desk index narrows the scan)."""
    docs = await store.conversations.find({"desk": {"$in": desks}, "created_at": {"$gte": start, "$lt": end}}) \
        .sort("created_at", 1).to_list(None)
    return [Conversation.from_doc(doc | {"created_at": aware(doc["created_at"]),
                                         "closed_at": aware(doc.get("closed_at"))}) for doc in docs]


async def cases_of_conversations(store: Store, conversation_ids: list[str]) -> dict[str, Case]:
    """conversation id -> its case, without mandatory reports (see :func:`mandatory_report_counts`)."""
    docs = await store["cases"].find({"conversation_id": {"$in": conversation_ids}}).to_list(None)
    return {doc["conversation_id"]: Case(id=doc["_id"], **{k: v for k, v in doc.items()
                                                         if k not in ("_id", "report_head", "report_count")})
            for doc in docs}


async def mandatory_report_counts(store: Store, case_ids: list[str]) -> dict[str, int]:
    cursor = await store["mandatory_reports"].aggregate([
        {"$match": {"case_id": {"$in": case_ids}}}, {"$group": {"_id": "$case_id", "n": {"$sum": 1}}}])
    return {doc["_id"]: int(doc["n"]) for doc in await cursor.to_list(None)}


async def rating_scores(store: Store, conversation_ids: list[str]) -> dict[str, int]:
    docs = await store["ratings"].find({"conversation_id": {"$in": conversation_ids}},
                                       {"conversation_id": 1, "score": 1}).to_list(None)
    return {doc["conversation_id"]: int(doc["score"]) for doc in docs}


async def message_counts(store: Store, conversation_ids: list[str]) -> dict[str, dict[str, int]]:
    """conversation id -> {"youth": n, "counsellor": n} (private notes are not messages to the youth)."""
    cursor = await store.messages.aggregate([
        {"$match": {"conversation_id": {"$in": conversation_ids}, "private": {"$ne": True},
                    "sender": {"$in": [SenderKind.YOUTH.value, SenderKind.COUNSELLOR.value]}}},
        {"$group": {"_id": {"c": "$conversation_id", "s": "$sender"}, "n": {"$sum": 1}}}])
    counts: dict[str, dict[str, int]] = {}
    for doc in await cursor.to_list(None):
        counts.setdefault(doc["_id"]["c"], {"youth": 0, "counsellor": 0})[doc["_id"]["s"]] = int(doc["n"])
    return counts


async def profiles_of_cases(store: Store, case_ids: list[str]) -> dict[str, YouthProfile]:
    docs = await store["youth_profiles"].find({"_id": {"$in": case_ids}}).to_list(None)
    return {doc["_id"]: _profile(doc) for doc in docs}


def _profile(doc: dict[str, Any]) -> YouthProfile:
    return YouthProfile(case_id=doc["_id"], **{k: v for k, v in doc.items() if k != "_id"})


async def save_profile(store: Store, profile: YouthProfile) -> None:
    """Record (or replace) the case's profile: the counsellor's latest knowledge is the profile."""
    await store["youth_profiles"].replace_one({"_id": profile.case_id}, profile.model_dump(exclude={"case_id"}),
                                              upsert=True)
