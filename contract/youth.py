"""What a counsellor may record about a youth for statistics, and legal holds on cases.

Every profile field is optional and none of them ever gates help: a youth who tells us nothing
is served exactly like one who tells us everything.
"""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

AgeBand = Literal["under_12", "12_14", "15_17", "18_24", "25_35", "over_35"]
Gender = Literal["female", "male", "other"]
SchoolStage = Literal["primary", "junior_secondary", "senior_secondary", "vocational", "university", "not_in_school"]


class YouthProfile(BaseModel):
    """Recorded on a case by its counsellor; ``region_code`` is a GB/T 2260 division code."""

    case_id: str
    age_band: AgeBand | None = None
    gender: Gender | None = None
    school_stage: SchoolStage | None = None
    region_code: str | None = Field(default=None, pattern=r"^\d{6}$")
    left_behind: bool | None = None  # 留守儿童
    migrant: bool | None = None  # 流动儿童
    recorded_by: str
    recorded_at: datetime


class LegalHold(BaseModel):
    """A case that retention must not touch until the hold is released (litigation, an investigation)."""

    case_id: str
    by: str
    reason: str = Field(min_length=1)
    at: datetime
    released_by: str | None = None
    released_at: datetime | None = None


ConsentPurpose = Literal["profile", "follow_up_contact"]
# Not a consent but a fact kept in the same ledger: the privacy notice (its version) was shown.
PRIVACY_NOTICE = "privacy_notice"


class ConsentRecord(BaseModel):
    """One entry of a contact's consent ledger; frozen because the ledger is append-only.

    ``purpose``: ``profile`` (recording the optional youth profile), ``follow_up_contact`` (the desk
    may contact the youth again later), or ``privacy_notice``: the service showed the youth the notice
    ``notice_version`` (``decision="shown"``, ``given_by="service"``; nobody decided anything and no age
    was asked, so ``under_14`` is None). The latest entry per purpose is the current decision.
    """

    model_config = ConfigDict(frozen=True)

    id: str
    contact_id: str
    seq: int = Field(ge=1)
    purpose: ConsentPurpose | Literal["privacy_notice"]
    decision: Literal["granted", "withdrawn", "shown"]
    given_by: Literal["youth", "guardian", "service"]
    under_14: bool | None  # 不满十四周岁: consent must come from a guardian (个人信息保护法 art. 31)
    notice_version: str | None = None
    note: str = ""
    recorded_by: str
    recorded_at: datetime
