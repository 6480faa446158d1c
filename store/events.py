"""The event log: state-changing stream events, stored before they are published."""

from __future__ import annotations

from pymongo import ASCENDING

from contract.models import Event, new_id
from store.database import Index, Store

INDEXES = {"events": [Index([("conversation_id", ASCENDING), ("at", ASCENDING)], "conversation_at")]}


async def store_event(store: Store, event: Event) -> None:
    doc = event.model_dump(mode="python")
    doc["_id"] = new_id("ev")
    await store.events.insert_one(doc)
