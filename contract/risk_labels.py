"""A counsellor's saved judgement of a youth's risk, kept as a label the risk model can learn from.

Every risk assessment (on the case) and every risk change a counsellor saves (on the conversation)
writes one ``RiskLabel``. It holds no text: the example's text is the youth's messages up to
``up_to_seq``, read from the conversation at export time and de-identified there
(``youthdesk risk export-feedback``). So the one sealed copy of a youth's words stays the only one,
and whatever retention, an erasure or a key rotation does to the messages reaches the examples too.
"""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, Field

from contract.models import Conversation, new_id

LabelKind = Literal["assessment", "risk_change"]


class RiskLabel(BaseModel):
    id: str
    conversation_id: str
    desk: str
    level: int = Field(ge=0, le=3)
    category: str | None  # the conversation's risk category when the counsellor saved the level
    kind: LabelKind
    by: str  # the counsellor's user id
    at: datetime
    up_to_seq: int  # the youth's messages numbered up to here are what the counsellor judged

    @classmethod
    def saved(cls, conversation: Conversation, *, level: int, kind: LabelKind, by: str, at: datetime) -> RiskLabel:
        return cls(id=new_id("rl"), conversation_id=conversation.id, desk=conversation.desk, level=level,
                   category=conversation.risk_category, kind=kind, by=by, at=at, up_to_seq=conversation.last_seq)
