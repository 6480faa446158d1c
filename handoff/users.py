"""Counsellors, supervisors and admins: the people who take conversations.

Passwords are kept only as argon2 hashes. Presence and capacity drive auto-assignment;
``active_conversations`` is always counted from the conversations themselves, never cached.
"""

from __future__ import annotations

import asyncio
import re
from datetime import datetime
from enum import StrEnum
from typing import Any

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from pydantic import Field
from pymongo import ReturnDocument
from pymongo.errors import DuplicateKeyError

from contract.config import Settings
from contract.models import ConversationState, Document, new_id, utcnow
from store.client import Store

_hasher = PasswordHasher()
USERNAME = re.compile(r"^[a-z0-9][a-z0-9._-]{1,39}$")
MIN_PASSWORD_LENGTH = 8


class Role(StrEnum):
    COUNSELLOR = "counsellor"
    SUPERVISOR = "supervisor"
    ADMIN = "admin"


class Presence(StrEnum):
    ONLINE = "online"
    AWAY = "away"
    OFFLINE = "offline"


class User(Document):
    username: str
    display_name: str
    role: Role
    desk: str
    skills: list[str] = Field(default_factory=list)
    capacity: int = Field(default=3, ge=0, le=50)
    presence: Presence = Presence.OFFLINE
    password_hash: str = ""
    created_at: datetime = Field(default_factory=utcnow)

    def public(self, active_conversations: int) -> dict[str, Any]:
        """The API's ``User`` shape: never the password hash."""
        return {"id": self.id, "username": self.username, "display_name": self.display_name,
                "role": self.role.value, "desk": self.desk, "skills": list(self.skills),
                "capacity": self.capacity, "presence": self.presence.value,
                "active_conversations": active_conversations}


class UserError(ValueError):
    """A user cannot be created as asked; the message says why."""


def hash_password(password: str) -> str:
    return _hasher.hash(password)


async def verify_password(user: User, password: str) -> bool:
    """argon2 is deliberately slow: keep it off the event loop."""
    if not user.password_hash:
        return False
    try:
        return await asyncio.to_thread(_hasher.verify, user.password_hash, password)
    except (VerificationError, InvalidHashError):
        return False


async def create_user(
    store: Store,
    settings: Settings,
    *,
    username: str,
    password: str,
    role: Role | str,
    desk: str,
    display_name: str | None = None,
    skills: list[str] | None = None,
    capacity: int = 3,
) -> User:
    username = username.strip().lower()
    if not USERNAME.match(username):
        raise UserError("username: 2-40 characters a-z 0-9 . _ -")
    if len(password) < MIN_PASSWORD_LENGTH:
        raise UserError(f"password: at least {MIN_PASSWORD_LENGTH} characters")
    try:
        settings.desk(desk)
    except KeyError:
        raise UserError(f"desk: unknown desk {desk!r}") from None
    try:
        role = Role(role)
    except ValueError:
        raise UserError("role: counsellor, supervisor or admin") from None
    user = User(
        id=new_id("u"), username=username, display_name=(display_name or username).strip()[:60],
        role=role, desk=desk, skills=sorted({s.strip() for s in skills or [] if s.strip()}),
        capacity=capacity, password_hash=await asyncio.to_thread(hash_password, password),
    )
    try:
        await store["users"].insert_one(user.to_doc())
    except DuplicateKeyError:
        raise UserError(f"username: {username!r} already exists") from None
    return user


async def get_user(store: Store, user_id: str) -> User | None:
    doc = await store["users"].find_one({"_id": user_id})
    return User.from_doc(doc) if doc else None


async def get_user_by_username(store: Store, username: str) -> User | None:
    doc = await store["users"].find_one({"username": username.strip().lower()})
    return User.from_doc(doc) if doc else None


async def list_users(store: Store, desks: set[str] | None = None) -> list[User]:
    query: dict[str, Any] = {} if desks is None else {"desk": {"$in": sorted(desks)}}
    docs = await store["users"].find(query).sort("username", 1).to_list(None)
    return [User.from_doc(doc) for doc in docs]


async def set_presence(store: Store, user_id: str, presence: Presence) -> User | None:
    doc = await store["users"].find_one_and_update(
        {"_id": user_id}, {"$set": {"presence": presence.value}}, return_document=ReturnDocument.AFTER
    )
    return User.from_doc(doc) if doc else None


async def active_count(store: Store, user_id: str) -> int:
    return await store.conversations.count_documents({"owner": user_id, "state": ConversationState.ASSIGNED})


async def public_user(store: Store, user: User) -> dict[str, Any]:
    return user.public(await active_count(store, user.id))


USER_SCHEMA: dict[str, Any] = {
    "type": "object",
    "required": ["id", "username", "display_name", "role", "desk", "skills", "capacity", "presence",
                 "active_conversations"],
    "properties": {
        "id": {"type": "string"}, "username": {"type": "string"}, "display_name": {"type": "string"},
        "role": {"type": "string", "enum": [r.value for r in Role]}, "desk": {"type": "string"},
        "skills": {"type": "array", "items": {"type": "string"}}, "capacity": {"type": "integer"},
        "presence": {"type": "string", "enum": [p.value for p in Presence]},
        "active_conversations": {"type": "integer"},
    },
}

_DUMMY_HASH = _hasher.hash("youthdesk-no-such-user")


async def authenticate(store: Store, username: str, password: str) -> User | None:
    """The user for these credentials, or None; unknown users cost the same time as wrong passwords."""
    user = await get_user_by_username(store, username)
    if user is None:
        await verify_password(User(id="-", username="-", display_name="-", role=Role.COUNSELLOR, desk="-",
                                   password_hash=_DUMMY_HASH), password)
        return None
    return user if await verify_password(user, password) else None
