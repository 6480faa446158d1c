"""The optional youth profile a counsellor records on a case (age band, gender, school stage, region, 留守/流动).

Recording is never a step of helping: no flow asks for these fields or waits for them. Who may
record: the counsellor who owns or joined the conversation, and supervisors and admins of its desk;
not once the youth (or their guardian) has withdrawn consent to it (``handoff.consent``).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from contract.config import Settings
from contract.people import Role, User
from contract.youth import YouthProfile
from handoff import audit
from handoff.access import ensure_desk_access
from handoff.cases import get_case
from handoff.consent import profile_withdrawn
from handoff.errors import Conflict, NotFound, NotPermitted
from handoff.queue import load
from store import export as stored
from store.client import Store


async def record_profile(store: Store, settings: Settings, user: User, case_id: str, fields: dict[str, Any],
                         now: datetime) -> YouthProfile:
    case = await get_case(store, case_id)
    ensure_desk_access(user, case.desk, settings)
    if user.role == Role.COUNSELLOR:
        item = await load(store, case.conversation_id)
        if item is None:
            raise NotFound(case_id)
        if item.conversation.owner != user.id and user.id not in item.info.joined:
            raise NotPermitted("only the counsellor who owns the conversation may record its profile")
    if await profile_withdrawn(store, case.contact_id):
        raise Conflict("来访者已撤回记录画像的同意")
    profile = YouthProfile(case_id=case_id, recorded_by=user.id, recorded_at=now, **fields)
    await stored.save_profile(store, profile)
    await audit.record(store, user.id, "case.profile", case_id)
    return profile
