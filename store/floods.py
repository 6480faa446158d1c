"""Possible floods (``flood_groups``): anonymous risk conversations from one source, grouped.

One open group per source collects the conversations that arrive within the window; a group whose
last arrival is older than the window is left as it is and a new one starts.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pymongo import ASCENDING, DESCENDING, ReturnDocument

from contract.models import new_id
from store.database import Index, Store
from store.times import aware

INDEXES = {"flood_groups": [Index([("source", ASCENDING), ("last_at", DESCENDING)], "source_last"),
                            Index([("desk", ASCENDING), ("last_at", DESCENDING)], "desk_last")]}


def _public(doc: dict[str, Any]) -> dict[str, Any]:
    return {"id": doc["_id"], "desk": doc["desk"], "partner": doc.get("partner"),
            "conversation_ids": list(doc["conversation_ids"]), "count": len(doc["conversation_ids"]),
            "first_at": aware(doc["first_at"]).isoformat(), "last_at": aware(doc["last_at"]).isoformat()}


async def add_to_group(store: Store, *, source: str, desk: str, partner: str | None, conversation_ids: list[str],
                       since: datetime, now: datetime) -> tuple[dict[str, Any], bool]:
    """Add conversations to the source's group still within the window, or start one.
    Returns the group and whether it was just started."""
    doc = await store["flood_groups"].find_one_and_update(
        {"source": source, "last_at": {"$gte": since}},
        {"$addToSet": {"conversation_ids": {"$each": conversation_ids}}, "$set": {"last_at": now}},
        return_document=ReturnDocument.AFTER)
    if doc is not None:
        return _public(doc), False
    doc = {"_id": new_id("fl"), "source": source, "desk": desk, "partner": partner,
           "conversation_ids": conversation_ids, "first_at": now, "last_at": now}
    await store["flood_groups"].insert_one(doc)
    return _public(doc), True


async def recent_groups(store: Store, desks: set[str], limit: int = 100) -> list[dict[str, Any]]:
    docs = await store["flood_groups"].find({"desk": {"$in": sorted(desks)}}).sort("last_at", -1
                                                                                  ).limit(limit).to_list(None)
    return [_public(doc) for doc in docs]
