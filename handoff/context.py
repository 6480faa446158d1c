"""What every part of the handoff engine works with: the stream, the settings and one clock."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime

from contract.channel import ReplyPolicy
from contract.config import Settings
from contract.models import utcnow
from gateway.stream import ConversationStream
from store.client import Store


@dataclass(slots=True)
class HandoffContext:
    stream: ConversationStream
    settings: Settings
    # Per platform: its reply window and budget, or None where counsellors may always write.
    reply_policies: dict[str, ReplyPolicy | None]
    # Platforms whose waiting youth hear of the wait by a text message (``Channel.queue_notice``).
    text_notice_platforms: frozenset[str] = frozenset()
    # Shared by every part so that a test moving the engine's clock moves it for all of them.
    now: Callable[[], datetime] = field(default=utcnow)

    @property
    def store(self) -> Store:
        return self.stream.store
