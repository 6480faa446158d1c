"""What overflow (``handoff.overflow``) reads and keeps: the waiting conversations at risk it may move,
and when each must next be looked at (``handoff.overflow_due_at``).

Every write in ``store.handoff`` that can make a waiting conversation due (queued, moved, raised,
requeued, transferred to a desk) sets its due time to the time of the write (``due_after_write``);
the check that then looks at it sets the end of its window (``set_due``). So a tick reads the due
ones, not everyone waiting, and no restart or other gateway instance misses one.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from contract.models import ConversationState
from contract.queue import Handed
from store.database import Store
from store.queue_places import seen_by
from store.times import aware_document

OVERFLOW_DUE = "handoff.overflow_due_at"
OVERFLOW_FROM_LEVEL = 2  # below it a conversation never overflows: it keeps no due time (the index stays small)


def due_after_write(level: int, at: datetime) -> datetime | None:
    return at if level >= OVERFLOW_FROM_LEVEL else None


def _waiting_at_risk() -> dict[str, Any]:
    """Queued, unowned conversations at risk, outside 留言: what overflow may move."""
    return {"state": ConversationState.QUEUED, "owner": None, "risk_level": {"$gte": OVERFLOW_FROM_LEVEL},
            "handoff.leave_message": {"$ne": True}}


def _handed(doc: dict[str, Any]) -> Handed:
    return Handed.from_doc(aware_document(doc))


async def due(store: Store, now: datetime) -> list[Handed]:
    """The waiting conversations at risk whose overflow check is due by ``now``."""
    docs = await store.conversations.find({**_waiting_at_risk(), OVERFLOW_DUE: {"$lte": now}}).to_list(None)
    return [_handed(doc) for doc in docs]


async def anyone_waiting_at(store: Store, desk: str) -> bool:
    # A limited find, not find_one: the embedded store then stops matching at the first (mongomock's
    # find_one matches every candidate first).
    docs = await store.conversations.find({**_waiting_at_risk(), "desk": desk}, {"_id": 1}).limit(1).to_list(1)
    return bool(docs)


async def waiting_at(store: Store, desk: str, skills: list[str] | None) -> list[Handed]:
    """The waiting conversations at risk at ``desk``: those needing one of ``skills``, or all (None)."""
    query: dict[str, Any] = {**_waiting_at_risk(), "desk": desk}
    if skills is not None:
        query["handoff.skill"] = {"$in": skills}
    return [_handed(doc) for doc in await store.conversations.find(query).to_list(None)]


async def waiting_seen_by(store: Store, desks: set[str], *, not_at: list[str]) -> list[Handed]:
    """The waiting conversations at risk that ``desks`` see (there or moved up from there), not at ``not_at``."""
    docs = await store.conversations.find({**_waiting_at_risk(), "$or": seen_by(desks),
                                           "desk": {"$nin": not_at}}).to_list(None)
    return [_handed(doc) for doc in docs]


async def set_due(store: Store, item: Handed, due_at: datetime | None) -> None:
    """Record when overflow must next look at ``item``, unless it changed since it was read (a write
    that can make it due sets its own time there, which this must not push back)."""
    conversation = item.conversation
    await store.conversations.update_one(
        {"_id": conversation.id, "state": ConversationState.QUEUED, "desk": conversation.desk,
         "risk_level": conversation.risk_level, OVERFLOW_DUE: item.info.overflow_due_at},
        {"$set": {OVERFLOW_DUE: due_at}})


async def due_where_unknown(store: Store, now: datetime) -> int:
    """Waiting conversations at risk from a store kept before due times were: due ``now``, so overflow
    looks at each once (a missing due would never come). Returns how many."""
    result = await store.conversations.update_many({**_waiting_at_risk(), OVERFLOW_DUE: {"$exists": False}},
                                                   {"$set": {OVERFLOW_DUE: now}})
    return result.modified_count
