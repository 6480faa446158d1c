"""The triage router's bookkeeping per conversation (``bot_sessions``): welcomed once, paused in Rasa.

One document per conversation, keyed by its id; every change is conditional, so two gateway
instances agree on who sends the welcome.
"""

from __future__ import annotations

from pymongo.errors import DuplicateKeyError

from store.database import Store

COLLECTION = "bot_sessions"


async def welcome_once(store: Store, conversation_id: str) -> bool:
    """True exactly once per conversation: whoever gets True sends the welcome."""
    sessions = store[COLLECTION]
    if await sessions.find_one({"_id": conversation_id}) is None:
        try:
            await sessions.insert_one({"_id": conversation_id, "welcomed": True, "paused": False})
        except DuplicateKeyError:
            return False
        return True
    result = await sessions.update_one({"_id": conversation_id, "welcomed": {"$ne": True}},
                                       {"$set": {"welcomed": True}})
    return bool(result.modified_count)


async def is_paused(store: Store, conversation_id: str) -> bool:
    doc = await store[COLLECTION].find_one({"_id": conversation_id})
    return bool(doc and doc.get("paused"))


async def mark_paused(store: Store, conversation_id: str) -> None:
    await store[COLLECTION].update_one({"_id": conversation_id}, {"$set": {"paused": True}}, upsert=True)


async def mark_resumed(store: Store, conversation_id: str) -> None:
    await store[COLLECTION].update_one({"_id": conversation_id}, {"$set": {"paused": False}})
