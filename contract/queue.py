"""What the handoff engine keeps on a handed-off conversation, as the store returns it.

The bookkeeping lives in the conversation document under ``handoff`` so that one conditional
update can change state, owner and deadlines together (the claim is atomic). ``store.handoff``
reads and writes it; the handoff domain decides what goes in.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from contract.escalation import Offer
from contract.models import Conversation

DeadlineState = Literal["ok", "warning", "breached"]


class Transfer(BaseModel):
    at: datetime
    by: str
    to: Literal["user", "desk", "bot", "queue"]
    from_user: str | None = None
    to_user: str | None = None
    from_desk: str
    to_desk: str
    note: str


class Deadline(BaseModel):
    """The clock a counsellor is on; both ends ``None`` means no clock runs."""

    started_at: datetime | None
    due_at: datetime | None

    @classmethod
    def starting(cls, now: datetime, seconds: float) -> Deadline:
        return cls(started_at=now, due_at=now + timedelta(seconds=seconds))

    @classmethod
    def stopped(cls) -> Deadline:
        return cls(started_at=None, due_at=None)


class PositionNotice(BaseModel):
    """What a waiting youth's widget is told about their place (``queue.position``). A youth at risk is
    never told a place or a wait, only that a person is coming (``urgent``)."""

    model_config = ConfigDict(frozen=True)

    position: int | None = None
    expected_wait_seconds: int | None = None
    urgent: bool = False


class HandoffInfo(BaseModel):
    reason: str = "ask_human"
    waiting_since: datetime | None = None
    skill: str | None = None
    # 留言: waits as a message for a counsellor to answer later — it arrived out of hours, or nobody
    # took it within the desk's window (``message_offered_at``); ``message_task`` is its worklist task.
    leave_message: bool = False
    message_offered_at: datetime | None = None
    message_task: str | None = None
    queue_notice_sent: bool = False
    at_risk_notice_sent: bool = False  # "a person is coming", once per handoff even after a queue notice
    assigned_at: datetime | None = None
    first_responded_at: datetime | None = None
    # The deadline running now: first response while nobody has answered, then reply deadlines.
    deadline_started_at: datetime | None = None
    deadline_due_at: datetime | None = None
    deadline_state: DeadlineState = "ok"
    last_youth_at: datetime | None = None
    outreach_raised_at: datetime | None = None
    level3_alerted: bool = False
    # The "possible flood" group this anonymous risk conversation belongs to (``handoff.floods``).
    flood_group: str | None = None
    previous_counsellor: str | None = None
    joined: list[str] = Field(default_factory=list)
    cues: list[str] = Field(default_factory=list)
    transfers: list[Transfer] = Field(default_factory=list)
    # Overflow and surge move a waiting risk conversation up to where someone can take it
    # (``Conversation.also_visible_to`` keeps it in the queues it came from). Offers: oldest first.
    offers: list[Offer] = Field(default_factory=list)
    # When the overflow rules must next look at this waiting conversation (``handoff.overflow``): every
    # write that can make it due (queued, moved, raised, requeued) sets it to the time of the write, and
    # the check that then looks sets it to its window's end. None: nothing will fall due by waiting.
    overflow_due_at: datetime | None = None

    def start(self, deadline: Deadline) -> None:
        self.deadline_started_at, self.deadline_due_at = deadline.started_at, deadline.due_at
        self.deadline_state = "ok"

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


@dataclass(frozen=True, slots=True, kw_only=True)
class QueueEntry:
    """What a queue position needs of a queued conversation: a few fields, read without the whole document."""

    conversation_id: str
    desk: str
    also_visible_to: tuple[str, ...]
    home_desk: str  # the desk the youth wrote to (overflow moves it up; its place stays counted there)
    risk_level: int
    in_flood: bool
    waiting_since: datetime  # or, for a document without it, when the conversation began

    @classmethod
    def of(cls, item: Handed) -> QueueEntry:
        conversation, info = item.conversation, item.info
        return cls(conversation_id=conversation.id, desk=conversation.desk,
                   also_visible_to=tuple(conversation.also_visible_to),
                   home_desk=info.offers[0].from_desk if info.offers else conversation.desk,
                   risk_level=conversation.risk_level, in_flood=info.flood_group is not None,
                   waiting_since=info.waiting_since or conversation.created_at)


class MessageRisk(BaseModel):
    """What the risk detector found in one youth message (shown next to it in the transcript)."""

    level: int
    category: str | None = None
    cues: list[str] = Field(default_factory=list)


@dataclass(frozen=True, slots=True)
class YouthWords:
    """The youth's own latest words in a conversation, and the risk model's calibrated P(level >= 2) for
    them (None: not scored by a calibrated model)."""

    text: str
    risk_probability: float | None
