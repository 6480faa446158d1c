"""The safety plan kept in a case for a youth at risk level >= 2 (安全计划).

Its five parts follow the Stanley-Brown safety plan: the youth's own warning signs, what they can
do alone to get through the moment, people and places that help, professionals and services to
contact, and making the means safe. Written with the youth, in their words.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from pydantic import BaseModel, Field, StrictStr

from contract.cases import Case
from handoff.context import HandoffContext
from store import safety_plans as stored

ITEM_CHARS = 300
ITEMS = 20
Items = list[Annotated[StrictStr, Field(max_length=ITEM_CHARS)]]


class SafetyPlanParts(BaseModel):
    warning_signs: Items = Field(default_factory=list, max_length=ITEMS)  # 预警信号
    coping_steps: Items = Field(default_factory=list, max_length=ITEMS)  # 自己可以做的应对方法
    people_and_places: Items = Field(default_factory=list, max_length=ITEMS)  # 可以求助的人和去处
    professionals: Items = Field(default_factory=list, max_length=ITEMS)  # 专业人员和机构（12356、110、120……）
    means_safety: Items = Field(default_factory=list, max_length=ITEMS)  # 让危险物品远离

    def cleaned(self) -> SafetyPlanParts:
        """Blank lines dropped, each item trimmed."""
        return SafetyPlanParts(**{name: [item.strip() for item in items if item.strip()]
                                  for name, items in self.model_dump().items()})


class SafetyPlan(SafetyPlanParts):
    case_id: str
    required: bool  # the case is at risk level >= 2
    updated_by: str | None = None
    updated_at: datetime | None = None


async def plan_for(context: HandoffContext, case: Case) -> SafetyPlan:
    """The case's plan, or an empty one to fill in."""
    saved = await stored.find(context.store, case.id) or {}
    return SafetyPlan(**saved, case_id=case.id, required=case.risk_level >= 2)


async def save_plan(context: HandoffContext, case: Case, parts: SafetyPlanParts, *, by: str) -> SafetyPlan:
    plan = SafetyPlan(**parts.cleaned().model_dump(), case_id=case.id, required=case.risk_level >= 2,
                      updated_by=by, updated_at=context.now())
    await stored.save(context.store, case.id, plan.model_dump(exclude={"case_id", "required"}))
    return plan
