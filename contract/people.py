"""The people who take conversations (counsellors, supervisors, admins) and their console sessions."""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any

from pydantic import Field

from contract.models import Document, utcnow


def normalise_username(username: str) -> str:
    """The one form of a username for storing, looking up and throttling.

    NFKC first (a full-width letter or U+3000 becomes its ASCII twin), then strip, then casefold:
    every spelling that signs in as an account is also counted as that account by the throttle.
    """
    return unicodedata.normalize("NFKC", username).strip().casefold()


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


@dataclass(frozen=True, slots=True)
class Session:
    """A console sign-in; only the token's SHA-256 is stored, so a database read hands out no session."""

    token_hash: str
    user_id: str
    csrf_token: str
    created_at: datetime
    last_seen_at: datetime
