"""Console users and their sessions in MongoDB (``users``, ``sessions``)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pymongo import ASCENDING, ReturnDocument
from pymongo.errors import DuplicateKeyError

from contract.models import ConversationState
from contract.people import Presence, Role, Session, User
from store.database import Index, Store
from store.times import aware

INDEXES = {
    "users": [Index([("username", ASCENDING)], "username", unique=True)],
    "sessions": [Index([("user_id", ASCENDING)], "user")],
}

# ------------------------------------------------------------------ users


async def insert_user(store: Store, user: User) -> bool:
    """Store a new user; False when the username is taken (the unique index decides, so races cannot)."""
    try:
        await store["users"].insert_one(user.to_doc())
    except DuplicateKeyError:
        return False
    return True


async def find_user(store: Store, user_id: str) -> User | None:
    doc = await store["users"].find_one({"_id": user_id})
    return User.from_doc(doc) if doc else None


async def find_user_by_username(store: Store, username: str) -> User | None:
    doc = await store["users"].find_one({"username": username})
    return User.from_doc(doc) if doc else None


async def users_by_username(store: Store, desks: set[str] | None = None) -> list[User]:
    """Every user (or those of ``desks``), ordered by username."""
    query: dict[str, Any] = {} if desks is None else {"desk": {"$in": sorted(desks)}}
    docs = await store["users"].find(query).sort("username", 1).to_list(None)
    return [User.from_doc(doc) for doc in docs]


async def update_presence(store: Store, user_id: str, presence: Presence) -> User | None:
    doc = await store["users"].find_one_and_update(
        {"_id": user_id}, {"$set": {"presence": presence.value}}, return_document=ReturnDocument.AFTER)
    return User.from_doc(doc) if doc else None


async def online_supervisor_ids(store: Store, desk: str) -> list[str]:
    """The ids of the supervisors of ``desk`` who are online, sorted."""
    docs = await store["users"].find(
        {"desk": desk, "role": Role.SUPERVISOR.value, "presence": Presence.ONLINE.value}, {"_id": 1}
    ).to_list(None)
    return sorted(doc["_id"] for doc in docs)


async def assigned_conversation_count(store: Store, user_id: str) -> int:
    """Counted from the conversations themselves on every call: a cached count would drift."""
    return await store.conversations.count_documents({"owner": user_id, "state": ConversationState.ASSIGNED})


# --------------------------------------------------------------- sessions


async def insert_session(store: Store, session: Session) -> None:
    await store["sessions"].insert_one({"_id": session.token_hash, "user_id": session.user_id,
                                        "csrf_token": session.csrf_token, "created_at": session.created_at,
                                        "last_seen_at": session.last_seen_at})


async def find_session(store: Store, token_hash: str) -> Session | None:
    doc = await store["sessions"].find_one({"_id": token_hash})
    if doc is None:
        return None
    return Session(doc["_id"], doc["user_id"], doc["csrf_token"], aware(doc["created_at"]),
                   aware(doc["last_seen_at"]))


async def touch_session(store: Store, token_hash: str, at: datetime) -> None:
    await store["sessions"].update_one({"_id": token_hash}, {"$set": {"last_seen_at": at}})


async def delete_session(store: Store, token_hash: str) -> None:
    await store["sessions"].delete_one({"_id": token_hash})


async def has_session_since(store: Store, user_id: str, *, seen_since: datetime, created_since: datetime) -> bool:
    """Whether ``user_id`` has a session used after ``seen_since`` and opened after ``created_since``."""
    return await store["sessions"].count_documents({
        "user_id": user_id, "last_seen_at": {"$gte": seen_since}, "created_at": {"$gte": created_since},
    }) > 0
