"""The seam between triage and the handoff engine: "a human must take this conversation".

Triage (``bot/``, the stream's router for every youth message) raises a ``HandoffRequest`` and tells
the engine when a youth writes in a conversation that is with a human; the stream raises one
(``routing_failed``) when routing a message fails. The handoff engine implements ``HandoffSink``.
Triage never decides who takes the conversation, and the engine reads message text only for a
rating's score and a 留言's callback number.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Literal, Protocol

if TYPE_CHECKING:
    from contract.models import Conversation, Message

HandoffReason = Literal["risk", "ask_human", "low_confidence", "bot_unavailable", "routing_failed", "leave_message"]


@dataclass(frozen=True, slots=True, kw_only=True)
class HandoffRequest:
    conversation_id: str
    reason: HandoffReason
    risk_level: int = 0  # 0-3; 3 = imminent danger to life
    category: str | None = None  # e.g. "suicide", "self_harm", "abuse_home", "bullying" (see nlu_data)
    cues: list[str] = field(default_factory=list)  # what fired, shown to the counsellor
    message_id: str | None = None
    # The risk model's calibrated P(level >= 2) for message_id; None without a calibrated model.
    risk_probability: float | None = None


# The events of a phone call as the hotline adapter (``channels/hotline.py``) stores them.
PHONE_CALL_EVENTS = ("call_ringing", "call_answered", "call_transferred", "call_ended")


def phone_call_handoff(message: Message) -> HandoffRequest | None:
    """A phone call event needs no triage: a person is on the line already, and the counsellor's call
    notes and risk assessment belong on a case, so the call goes to a human."""
    if message.event not in PHONE_CALL_EVENTS:
        return None
    return HandoffRequest(conversation_id=message.conversation_id, reason="ask_human", cues=[f"phone:{message.event}"],
                          message_id=message.id)


class HandoffSink(Protocol):
    async def request_handoff(self, request: HandoffRequest) -> None:
        """Queue the conversation for a human, or raise its risk if it is already with one."""

    async def youth_wrote(self, conversation: Conversation, message: Message | None = None, *,
                          risk_probability: float | None = None) -> None:
        """The youth wrote in a conversation that is queued or assigned: their silence ends, and a
        reply deadline starts if a counsellor has answered before. ``message`` is read only while the
        conversation waits as a 留言, for a callback number; ``risk_probability`` is the risk model's
        calibrated P(level >= 2) for it, kept for the counsellor's view."""

    async def take_rating(self, conversation: Conversation, message: Message) -> bool:
        """If this youth message answers a satisfaction request (a ``satisfaction`` event from the
        widget, or a bare 1-5 after a closing message), record it and return True."""
