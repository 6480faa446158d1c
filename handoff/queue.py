"""What the engine keeps on a handed-off conversation, and the queue order.

The engine's bookkeeping lives in the conversation document under ``handoff`` so that one
conditional update can change state, owner and deadlines together (the claim is atomic).
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any, Literal

from pydantic import BaseModel, Field, field_validator

from contract.models import Conversation, ConversationState
from store.client import Store

DeadlineState = Literal["ok", "warning", "breached"]


def aware(value: datetime | None) -> datetime | None:
    """The embedded store hands back naive UTC datetimes; MongoDB (tz_aware) aware ones."""
    if value is None or value.tzinfo is not None:
        return value
    return value.replace(tzinfo=UTC)


class Transfer(BaseModel):
    at: datetime
    by: str
    to: Literal["user", "desk", "bot", "queue"]
    from_user: str | None = None
    to_user: str | None = None
    from_desk: str
    to_desk: str
    note: str


class HandoffInfo(BaseModel):
    reason: str = "ask_human"
    waiting_since: datetime | None = None
    skill: str | None = None
    leave_message: bool = False  # 留言: arrived out of hours, waits for the next shift
    queue_notice_sent: bool = False
    assigned_at: datetime | None = None
    first_responded_at: datetime | None = None
    # The deadline running now: first response while nobody has answered, then reply deadlines.
    deadline_started_at: datetime | None = None
    deadline_due_at: datetime | None = None
    deadline_state: DeadlineState = "ok"
    last_youth_at: datetime | None = None
    outreach_raised_at: datetime | None = None
    level3_alerted: bool = False
    previous_counsellor: str | None = None
    joined: list[str] = Field(default_factory=list)
    cues: list[str] = Field(default_factory=list)
    transfers: list[Transfer] = Field(default_factory=list)

    @field_validator("waiting_since", "assigned_at", "first_responded_at", "deadline_started_at",
                     "deadline_due_at", "last_youth_at", "outreach_raised_at")
    @classmethod
    def _aware(cls, value: datetime | None) -> datetime | None:
        return aware(value)

    @property
    def first_response_due_at(self) -> datetime | None:
        return self.deadline_due_at if self.first_responded_at is None else None

    @property
    def reply_due_at(self) -> datetime | None:
        return self.deadline_due_at if self.first_responded_at is not None else None


class Handed(BaseModel):
    """A conversation with the engine's bookkeeping."""

    conversation: Conversation
    info: HandoffInfo

    @classmethod
    def from_doc(cls, doc: dict[str, Any]) -> Handed:
        return cls(conversation=Conversation.from_doc(doc), info=HandoffInfo.model_validate(doc.get("handoff") or {}))


def queue_key(item: Handed) -> tuple[int, datetime]:
    """Risk level first (highest first), then who has waited longest."""
    since = item.info.waiting_since or aware(item.conversation.created_at)
    return (-item.conversation.risk_level, since or datetime.max.replace(tzinfo=UTC))


async def queued(store: Store, desks: set[str] | None = None) -> list[Handed]:
    """Queued conversations in engine order (optionally only some desks)."""
    query: dict[str, Any] = {"state": ConversationState.QUEUED}
    if desks is not None:
        query["desk"] = {"$in": sorted(desks)}
    docs = await store.conversations.find(query).to_list(None)
    return sorted((Handed.from_doc(doc) for doc in docs), key=queue_key)


async def load(store: Store, conversation_id: str) -> Handed | None:
    doc = await store.conversations.find_one({"_id": conversation_id})
    return Handed.from_doc(doc) if doc else None


def positions(items: list[Handed]) -> dict[str, int]:
    """1-based position of each queued conversation within its own desk's queue."""
    counters: dict[str, int] = {}
    result: dict[str, int] = {}
    for item in items:
        desk = item.conversation.desk
        counters[desk] = counters.get(desk, 0) + 1
        result[item.conversation.id] = counters[desk]
    return result
