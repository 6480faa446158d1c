"""Oversight records: alerts raised for supervisors, and the audit log of access to minors' data."""

from __future__ import annotations

import secrets
import time
from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, Field

from contract.escalation import AlertStep
from contract.models import new_id, utcnow

AlertType = Literal["risk_level_3", "deadline_breached", "outreach", "window_closed", "possible_flood",
                    "early_warning"]
AlertState = Literal["open", "acknowledged"]


class Alert(BaseModel):
    id: str = Field(default_factory=lambda: new_id("al"))
    type: AlertType
    conversation_id: str
    desk: str
    created_at: datetime = Field(default_factory=utcnow)
    state: AlertState = "open"
    acknowledged_by: str | None = None
    acknowledged_at: datetime | None = None
    recipients: list[str] = Field(default_factory=list)
    data: dict[str, Any] = Field(default_factory=dict)
    steps: list[AlertStep] = Field(default_factory=list)  # re-escalations and pages, oldest first

    def public(self) -> dict[str, Any]:
        return {"id": self.id, "type": self.type, "conversation_id": self.conversation_id, "desk": self.desk,
                "created_at": self.created_at.isoformat(), "state": self.state,
                "acknowledged_by": self.acknowledged_by, "recipients": list(self.recipients),
                "data": self.data, "steps": [step.model_dump(mode="json") for step in self.steps]}


class AuditEntry(BaseModel):
    id: str
    actor: str
    action: str
    target: str
    reason: str | None = None
    at: datetime

    @classmethod
    def now(cls, actor: str, action: str, target: str, reason: str | None = None) -> AuditEntry:
        # Ids sort by creation time, so entries stored within one millisecond still list newest first.
        return cls(id=f"au_{time.time_ns():020d}_{secrets.token_hex(4)}", actor=actor, action=action, target=target,
                   reason=reason, at=utcnow())

    def public(self) -> dict[str, object]:
        return {**self.model_dump(), "at": self.at.isoformat()}
