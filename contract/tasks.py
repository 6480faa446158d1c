"""Work a counsellor owes someone: reaching out to a silent youth, a referral or follow-up coming due,
a debrief after a level-3 conversation, a 留言 to answer. Each has an assignee, a due time and, when
done, an outcome. A 留言's callback number is shown masked; the whole number is read on its own."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, Field

from contract.models import new_id, utcnow

TaskKind = Literal["outreach", "referral_follow_up", "case_follow_up", "debrief", "leave_message"]
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
    callback_contact: str = ""  # a 留言's callback number, as the youth wrote it (sealed at rest)

    def public(self) -> dict[str, Any]:
        return self.model_dump(mode="json", exclude={"callback_contact"}) | {
            "callback_contact": mask_phone(self.callback_contact) if self.callback_contact else None}


def mask_phone(number: str) -> str:
    """``13812345678`` → ``138****5678``: enough for a colleague to recognise it, not to dial it."""
    digits = number.replace("-", "")
    if len(digits) <= 7:
        return "*" * len(digits)
    return digits[:3] + "****" + digits[-4:]
