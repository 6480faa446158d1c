"""The queue as a waiting youth's place sees it: the projected read of the queued conversations some
desks see, and what each waiting youth was last told of their place (``handoff.told``).

That record is kept on the conversation, not in one gateway's memory: gateways sharing the store tell
each change of place once, none skips one because another told it, and a reconnecting widget is
told its place again.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from contract.models import ConversationState
from contract.queue import PositionNotice, QueueEntry
from store.database import Store
from store.times import aware

# Just what a queue position needs (``QueueEntry``): position notices are recomputed on every queue change.
_QUEUE_ENTRY_FIELDS = {"desk": 1, "also_visible_to": 1, "risk_level": 1, "created_at": 1,
                       "handoff.waiting_since": 1, "handoff.flood_group": 1, "handoff.offers.from_desk": 1,
                       "handoff.told.notice": 1}


async def queue_entries(store: Store, desks: set[str]) -> list[QueueEntry]:
    """The queued conversations ``desks`` see, each as the few fields of its queue position."""
    docs = await store.conversations.find({"state": ConversationState.QUEUED, "$or": seen_by(desks)},
                                          _QUEUE_ENTRY_FIELDS).to_list(None)
    entries = []
    for doc in docs:
        info = doc.get("handoff") or {}
        offers = info.get("offers") or []
        told = info.get("told")
        entries.append(QueueEntry(
            conversation_id=doc["_id"], desk=doc["desk"], also_visible_to=tuple(doc.get("also_visible_to") or ()),
            home_desk=offers[0]["from_desk"] if offers else doc["desk"], risk_level=doc.get("risk_level", 0),
            in_flood=info.get("flood_group") is not None,
            waiting_since=aware(info.get("waiting_since") or doc["created_at"]),
            told=PositionNotice.model_validate(told["notice"]) if told else None))
    return entries


def seen_by(desks: set[str]) -> list[dict[str, Any]]:
    """At one of ``desks``, or moved up from one of them by overflow or surge."""
    return [{"desk": {"$in": sorted(desks)}}, {"also_visible_to": {"$in": sorted(desks)}}]


async def record_position_told(store: Store, conversation_id: str, notice: PositionNotice, read_at: datetime) -> bool:
    """Keep ``notice`` as what the waiting youth was last told of their place; True for the one caller
    who then tells them. False when they were told just that already, or were told from a newer reading
    of the queue than ``read_at`` (by another gateway, say): an older place never follows a newer one.
    Readings in the same millisecond (what the store keeps of a time) are not ordered."""
    told = notice.model_dump()
    result = await store.conversations.update_one(
        {"_id": conversation_id, "state": ConversationState.QUEUED, "handoff.told.notice": {"$ne": told},
         "$or": [{"handoff.told": None}, {"handoff.told.read_at": {"$lte": read_at}}]},
        {"$set": {"handoff.told": {"notice": told, "read_at": read_at}}})
    return bool(result.modified_count)


async def told_place(store: Store, conversation_id: str) -> int | None:
    """The place a queued youth below risk 2 was last told (their widget shows it again on reconnecting);
    None when they are not waiting, are at risk (never told a place) or were told none yet."""
    doc = await store.conversations.find_one(
        {"_id": conversation_id, "state": ConversationState.QUEUED, "risk_level": {"$lt": 2}}, {"handoff.told": 1})
    told = ((doc or {}).get("handoff") or {}).get("told")
    if not told:
        return None
    notice = PositionNotice.model_validate(told["notice"])
    return None if notice.urgent else notice.position
