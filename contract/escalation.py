"""Escalation beyond one desk: overflow windows, on-call rosters, the pager, and what they record.

Config models (``[[desks]].overflow``, ``[[desks.on_call]]``, ``[handoff.alert_escalation]``,
``[handoff.pager]``) and the records the engine keeps: an ``Offer`` (a conversation offered to a desk
above its own), an ``AlertStep`` (what happened to an unacknowledged alert) and a ``Surge``
(重大突发事件: a desk whose risk conversations go straight to named regional centres).
"""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from contract.models import new_id, utcnow


class _Config(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class OverflowWindows(_Config):
    """How long a risk conversation may wait unclaimed at a desk before it is offered to the desk above."""

    level_3_seconds: int = Field(default=30, gt=0)
    level_2_seconds: int = Field(default=120, gt=0)

    def for_level(self, level: int) -> int:
        return self.level_3_seconds if level >= 3 else self.level_2_seconds


class LeaveMessageWindows(_Config):
    """留言 while the desk is open: a conversation below risk level 2 that nobody has taken within
    ``offer_after_seconds`` is offered to leave a message (and a callback number); the desk's worklist
    gets a task due ``reply_within_minutes`` later (after hours: after the desk opens)."""

    offer_after_seconds: int = Field(default=300, gt=0)
    reply_within_minutes: int = Field(default=240, gt=0)


class OnCallEntry(_Config):
    """A person the pager reaches when a level-3 alert of the desk stays unacknowledged."""

    name: str
    phone: str = Field(pattern=r"^\+?[0-9]{5,20}$")
    via: Literal["sms", "voice"] = "sms"


class AlertEscalationConfig(_Config):
    # Unacknowledged this long: the parent desk's supervisors are added; as long again: the pager.
    reescalate_after_seconds: int = Field(default=60, gt=0)
    page_after_seconds: int = Field(default=60, gt=0)


class PagerConfig(_Config):
    """``standin``: the local stand-in (demo/test); ``aliyun``: Aliyun SMS ``SendSms``; ``none``: no pager."""

    provider: Literal["none", "standin", "aliyun"] = "none"
    # For ``standin``: "standin" means this server's own stand-in; for ``aliyun``: the API endpoint.
    endpoint: str = "standin"
    access_key_id: str = ""
    access_key_secret: str = ""
    sign_name: str = ""
    template_code: str = ""
    timeout_seconds: float = Field(default=5.0, gt=0)


OfferReason = Literal["nobody_online", "unanswered", "surge"]


class Offer(BaseModel):
    """A queued conversation offered to a desk above its own; it stays in its own desk's queue too."""

    at: datetime
    from_desk: str
    to_desk: str
    reason: OfferReason
    label: str  # what the console shows, e.g. "由深圳转入：30秒无人接听"


AlertStepKind = Literal["reescalated", "paged", "page_failed", "nobody_to_page"]


class AlertStep(BaseModel):
    at: datetime
    kind: AlertStepKind
    desk: str
    recipients: list[str] = Field(default_factory=list)  # supervisor ids added, or the on-call names paged
    detail: str = ""


class Surge(BaseModel):
    id: str = Field(default_factory=lambda: new_id("sg"))
    desk: str
    to_desks: list[str]
    reason: str
    started_by: str
    started_at: datetime = Field(default_factory=utcnow)
    ended_by: str | None = None
    ended_at: datetime | None = None

    def public(self) -> dict[str, object]:
        return {"id": self.id, "desk": self.desk, "to_desks": list(self.to_desks), "reason": self.reason,
                "started_by": self.started_by, "started_at": self.started_at.isoformat(),
                "ended_at": self.ended_at.isoformat() if self.ended_at else None}
