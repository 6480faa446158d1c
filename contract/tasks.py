"""Work a counsellor owes someone: reaching out to a silent youth, a referral or follow-up coming due,
a debrief after a level-3 conversation. Each has an assignee, a due time and, when done, an outcome."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, Field

from contract.models import new_id, utcnow

TaskKind = Literal["outreach", "referral_follow_up", "case_follow_up", "debrief"]
TaskState = Literal["open", "done"]


class Task(BaseModel):
    id: str = Field(default_factory=lambda: new_id("tk"))
    kind: TaskKind
    title: str
    desk: str
    conversation_id: str | None = None
    case_id: str | None = None
    assignee: str | None = None  # None: anyone on the desk (supervisors see it unassigned)
    due_at: datetime
    state: TaskState = "open"
    outcome: str = ""
    created_at: datetime = Field(default_factory=utcnow)
    reminded_at: datetime | None = None
    done_by: str | None = None
    done_at: datetime | None = None

    def public(self) -> dict[str, Any]:
        return self.model_dump(mode="json")
