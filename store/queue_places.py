"""The queue as a waiting youth's place sees it: the projected read of the queued conversations some
desks see, and what the youths waiting in each desk's queue were last told of their places.

That record (collection ``told_places``, one document per desk, replaced by each reading of the desk's
queue) is kept in the store, not in one gateway's memory: gateways sharing the store tell each change
of place once, none skips one because another told it, and a reconnecting widget is told its place
again. One write per reading, not one per youth: a youth at risk arriving moves everyone's place.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pymongo.errors import DuplicateKeyError

from contract.models import ConversationState
from contract.queue import PositionNotice, QueueEntry
from store.database import Store
from store.times import aware

TOLD_PLACES = "told_places"

# Just what a queue position needs (``QueueEntry``): position notices are recomputed on every queue change.
_QUEUE_ENTRY_FIELDS = {"desk": 1, "also_visible_to": 1, "risk_level": 1, "created_at": 1,
                       "handoff.waiting_since": 1, "handoff.flood_group": 1, "handoff.offers.from_desk": 1}


async def queue_entries(store: Store, desks: set[str]) -> list[QueueEntry]:
    """The queued conversations ``desks`` see, each as the few fields of its queue position."""
    docs = await store.conversations.find({"state": ConversationState.QUEUED, "$or": seen_by(desks)},
                                          _QUEUE_ENTRY_FIELDS).to_list(None)
    entries = []
    for doc in docs:
        info = doc.get("handoff") or {}
        offers = info.get("offers") or []
        entries.append(QueueEntry(
            conversation_id=doc["_id"], desk=doc["desk"], also_visible_to=tuple(doc.get("also_visible_to") or ()),
            home_desk=offers[0]["from_desk"] if offers else doc["desk"], risk_level=doc.get("risk_level", 0),
            in_flood=info.get("flood_group") is not None,
            waiting_since=aware(info.get("waiting_since") or doc["created_at"])))
    return entries


def seen_by(desks: set[str]) -> list[dict[str, Any]]:
    """At one of ``desks``, or moved up from one of them by overflow or surge."""
    return [{"desk": {"$in": sorted(desks)}}, {"also_visible_to": {"$in": sorted(desks)}}]


async def record_told(store: Store, desk: str, told: dict[str, PositionNotice],
                      read_at: datetime) -> dict[str, PositionNotice] | None:
    """Keep ``told`` as what the youths waiting in ``desk``'s queue are told of their places, from a reading
    of the queue at ``read_at``; returns what they had been told before (tell each youth whose notice
    differs), or None when a newer reading was recorded meanwhile (by another gateway): nobody is told
    from an older one. Readings in the same millisecond (what the store keeps of a time) are not ordered."""
    places, newer_or_equal = store[TOLD_PLACES], {"_id": desk, "read_at": {"$lte": read_at}}
    update = {"$set": {"read_at": read_at, "places": {cid: notice.model_dump() for cid, notice in told.items()}}}
    try:
        before = await places.find_one_and_update(newer_or_equal, update, upsert=True)
    except DuplicateKeyError:  # the record exists: from a newer reading, or another gateway just made it
        before = await places.find_one_and_update(newer_or_equal, update)
        if before is None:
            return None
    return {cid: PositionNotice.model_validate(notice) for cid, notice in ((before or {}).get("places") or {}).items()}


async def told_place(store: Store, conversation_id: str) -> int | None:
    """The place a queued youth below risk 2 was last told (their widget shows it again on reconnecting);
    None when they are not waiting, are at risk (never told a place) or were told none yet."""
    doc = await store.conversations.find_one(
        {"_id": conversation_id, "state": ConversationState.QUEUED, "risk_level": {"$lt": 2}}, {"desk": 1})
    if doc is None:
        return None
    record = await store[TOLD_PLACES].find_one({"_id": doc["desk"]}, {f"places.{conversation_id}": 1})
    notice = ((record or {}).get("places") or {}).get(conversation_id)
    return None if notice is None or notice.get("urgent") else notice.get("position")
