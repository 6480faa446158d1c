"""Cases (工单), their mandatory reports (强制报告) and satisfaction ratings, as the store keeps them."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

ReferralStatus = Literal["sent", "accepted", "resolved", "declined"]
# The chain head of a case without mandatory reports.
GENESIS_HASH = "0" * 64


class Assessment(BaseModel):
    level: int = Field(ge=0, le=3)
    factors: list[str] = Field(default_factory=list)
    immediate_danger: bool = False
    protective_factors: list[str] = Field(default_factory=list)
    plan: str = ""
    notes: str = ""
    assessed_by: str
    assessed_at: datetime


class StatusChange(BaseModel):
    status: ReferralStatus
    by: str
    at: datetime
    note: str = ""


class Referral(BaseModel):
    id: str
    agency: str
    contact: str = ""
    note: str = ""
    due_at: datetime  # when to follow up with the agency
    status: ReferralStatus = "sent"
    created_by: str
    created_at: datetime
    history: list[StatusChange] = Field(default_factory=list)


class Followup(BaseModel):
    id: str
    title: str
    due_at: datetime
    done: bool = False
    note: str = ""
    created_by: str
    created_at: datetime
    done_by: str | None = None
    done_at: datetime | None = None


class MandatoryReport(BaseModel):
    """One 强制报告 record; frozen because it may never change once saved."""

    model_config = ConfigDict(frozen=True)

    id: str
    case_id: str
    seq: int
    reported_to: str
    reported_at: datetime
    reported_by: str
    reference: str
    note: str = ""
    recorded_at: datetime
    prev_hash: str
    hash: str


class ReportChainHead(BaseModel):
    """Where a case's mandatory-report chain ends: the last record's hash and how many records there are."""

    hash: str = GENESIS_HASH
    count: int = 0


class Case(BaseModel):
    id: str
    number: str
    conversation_id: str
    contact_id: str
    desk: str
    status: Literal["open", "closed"] = "open"
    classification: str | None = None
    summary: str = ""
    risk_level: int = Field(default=0, ge=0, le=3)
    assessment: Assessment | None = None
    referrals: list[Referral] = Field(default_factory=list)
    followups: list[Followup] = Field(default_factory=list)
    mandatory_reports: list[MandatoryReport] = Field(default_factory=list)
    outcome: str | None = None
    no_referral_reason: str | None = None
    closed_by: str | None = None
    closed_at: datetime | None = None
    created_at: datetime
    updated_at: datetime

    def public(self) -> dict[str, Any]:
        return self.model_dump(mode="json", exclude={"mandatory_reports"}) | {
            "mandatory_reports": [report.model_dump(mode="json") for report in self.mandatory_reports]}


class Rating(BaseModel):
    """A youth's 1-5 score for a closed conversation; at most one per conversation."""

    id: str
    conversation_id: str
    case_id: str | None
    contact_id: str
    desk: str
    platform: str
    score: int = Field(ge=1, le=5)
    comment: str | None
    at: datetime
    message_id: str
