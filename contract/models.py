"""The normalised conversation model shared by every part of youthdesk.

Documents are stored as ``model_dump()`` output with ``id`` mapped to Mongo's ``_id``;
``from_doc``/``to_doc`` are the only places that know about that mapping.
"""

from __future__ import annotations

import secrets
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any, Self

from pydantic import BaseModel, ConfigDict, Field


def utcnow() -> datetime:
    return datetime.now(UTC)


def new_id(prefix: str) -> str:
    return f"{prefix}_{secrets.token_hex(10)}"


class ConversationState(StrEnum):
    BOT = "bot"
    QUEUED = "queued"
    ASSIGNED = "assigned"
    CLOSED = "closed"


class Direction(StrEnum):
    INBOUND = "in"
    OUTBOUND = "out"


class SenderKind(StrEnum):
    YOUTH = "youth"
    BOT = "bot"
    COUNSELLOR = "counsellor"
    SYSTEM = "system"


class MessageType(StrEnum):
    TEXT = "text"
    IMAGE = "image"
    VOICE = "voice"
    EVENT = "event"
    LINK = "link"


class DeliveryStatus(StrEnum):
    RECEIVED = "received"  # inbound: stored
    PENDING = "pending"  # outbound: in the outbox
    SENDING = "sending"  # outbound: a worker holds it
    SENT = "sent"
    FAILED = "failed"
    READ = "read"


class Document(BaseModel):
    model_config = ConfigDict(validate_assignment=True)

    id: str

    def to_doc(self) -> dict[str, Any]:
        doc = self.model_dump(mode="python")
        doc["_id"] = doc.pop("id")
        return doc

    @classmethod
    def from_doc(cls, doc: dict[str, Any]) -> Self:
        data = dict(doc)
        data["id"] = data.pop("_id")
        return cls.model_validate(data)


class ChannelIdentity(BaseModel):
    """How a platform names a youth. ``external_id`` is encrypted at rest by the store."""

    platform: str
    account: str
    external_id: str
    union_id: str | None = None


class Contact(Document):
    identities: list[ChannelIdentity] = Field(default_factory=list)
    created_at: datetime = Field(default_factory=utcnow)


class ReplyWindow(BaseModel):
    """The platform's customer-service window: how long and how often we may still write."""

    last_youth_message_at: datetime | None = None
    sent_since_youth_message: int = 0
    closed_reason: str | None = None


class Conversation(Document):
    contact_id: str
    platform: str
    account: str
    desk: str
    state: ConversationState = ConversationState.BOT
    risk_level: int = Field(default=0, ge=0, le=3)
    risk_category: str | None = None
    topic: str | None = None
    owner: str | None = None
    # Desks besides ``desk`` that still see it: an overflow or surge moved it up from them, and whoever
    # is first takes it. Their consoles hear its events too (``Event.about``); a transfer ends the trail.
    also_visible_to: list[str] = Field(default_factory=list)
    tags: dict[str, str] = Field(default_factory=dict)
    window: ReplyWindow = Field(default_factory=ReplyWindow)
    last_seq: int = 0
    created_at: datetime = Field(default_factory=utcnow)
    updated_at: datetime = Field(default_factory=utcnow)
    closed_at: datetime | None = None


class MediaRef(BaseModel):
    kind: str  # "image", "voice", "miniprogrampage", …
    media_id: str | None = None
    url: str | None = None
    format: str | None = None
    title: str | None = None


class DeliveryAttempt(BaseModel):
    at: datetime
    ok: bool
    error: str | None = None


class Message(Document):
    conversation_id: str
    seq: int
    direction: Direction
    sender: SenderKind
    sender_id: str | None = None
    type: MessageType = MessageType.TEXT
    text: str = ""
    media: MediaRef | None = None
    event: str | None = None
    channel_message_id: str | None = None
    created_at: datetime = Field(default_factory=utcnow)
    status: DeliveryStatus
    # Inbound: whether the routing stage (bot/handoff) has seen it.
    processed: bool = False
    # Outbound delivery bookkeeping.
    attempts: list[DeliveryAttempt] = Field(default_factory=list)
    next_attempt_at: datetime | None = None
    lease_until: datetime | None = None
    error: str | None = None
    private: bool = False  # counsellor notes and whispers never leave the console


class Event(BaseModel):
    """Something that happened in the stream; published on the bus, state changes also stored."""

    type: str
    conversation_id: str | None = None
    desk: str | None = None
    # The other desks the conversation is visible to (``Conversation.also_visible_to``): their consoles hear it too.
    also_desks: list[str] = Field(default_factory=list)
    data: dict[str, Any] = Field(default_factory=dict)
    at: datetime = Field(default_factory=utcnow)

    @classmethod
    def about(cls, type: str, conversation: Conversation, data: dict[str, Any] | None = None) -> Event:
        """An event of ``conversation`` for its desk and every desk that also sees it."""
        return cls(type=type, conversation_id=conversation.id, desk=conversation.desk,
                   also_desks=list(conversation.also_visible_to), data=data or {})

    @property
    def desks(self) -> set[str]:
        """Every desk whose consoles this event is for."""
        return {desk for desk in (self.desk, *self.also_desks) if desk is not None}
