"""The stored facts desk statistics are computed from, as the store hands them out."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime


@dataclass(frozen=True, slots=True)
class ConversationSample:
    """The little of a conversation the volume figures need."""

    id: str
    platform: str
    risk_level: int
    created_at: datetime


@dataclass(frozen=True, slots=True)
class StateChange:
    """One ``conversation.state_changed`` event: which conversation moved to which state, when."""

    conversation_id: str
    to: str | None
    at: datetime


@dataclass(frozen=True, slots=True)
class CaseSample:
    """The little of a case early warning counts: where, which 案由, when it was opened."""

    id: str
    desk: str
    classification: str | None
    created_at: datetime
