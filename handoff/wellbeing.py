"""Counsellor wellbeing: a cap on level-3 conversations in a row, a debrief after one closes, and the
supervisor's view of who carried how many high-risk conversations today.

The cap never leaves a youth waiting: a capped counsellor is passed over only when a colleague
who can take the conversation is there (``handoff.assignment`` asks ``prefer_colleague``).
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from contract.models import Conversation, Event
from contract.people import Role, User
from handoff.access import visible_desks
from handoff.context import HandoffContext
from handoff.desks import CHINA
from handoff.errors import NotPermitted
from handoff.tasks import open_task
from handoff.users import list_users
from store import handoff as stored

DEBRIEF_TITLE = "复盘：刚结束一次高危会话"
DEBRIEF_PROMPT = ("刚刚结束了一次高危会话，辛苦了。先花几分钟照顾一下自己：喝口水，起来走一走。"
                  "如果心里还压着什么，可以约督导一起复盘这次会话。")
# A debrief is worth doing the same shift; a day later it is a formality.
DEBRIEF_WITHIN = timedelta(hours=2)


async def consecutive_level3(context: HandoffContext, user_id: str) -> int:
    """How many of the user's most recent conversations in a row were level 3 (up to the cap)."""
    cap = context.settings.handoff.consecutive_level3_cap
    levels = await stored.latest_assigned_levels(context.store, user_id, cap)
    run = 0
    for level in levels:
        if level < 3:
            break
        run += 1
    return run


async def at_level3_cap(context: HandoffContext, user_id: str) -> bool:
    return await consecutive_level3(context, user_id) >= context.settings.handoff.consecutive_level3_cap


async def after_close(context: HandoffContext, conversation: Conversation, closed_by: User) -> None:
    """A level-3 conversation closed: prompt its counsellor to debrief, and keep the prompt as a task."""
    if conversation.risk_level < 3 or not conversation.owner:
        return
    now = context.now()
    await open_task(context, kind="debrief", title=DEBRIEF_TITLE, desk=conversation.desk,
                    due_at=now + DEBRIEF_WITHIN, conversation_id=conversation.id, assignee=conversation.owner,
                    task_id=f"tk-debrief-{conversation.id}")
    await context.stream.bus.publish(Event.about("wellbeing.debrief", conversation, {
        "user_id": conversation.owner, "prompt": DEBRIEF_PROMPT, "closed_by": closed_by.id}))


def _start_of_day(now: datetime) -> datetime:
    local = now.astimezone(CHINA)
    return local.replace(hour=0, minute=0, second=0, microsecond=0)


async def high_risk_today(context: HandoffContext, viewer: User) -> list[dict[str, Any]]:
    """Per counsellor of the desks the supervisor sees: high-risk (level >= 2) and level-3 conversations
    taken today (UTC+8), and the current level-3 run against the cap."""
    if viewer.role == Role.COUNSELLOR:
        raise NotPermitted("supervisors only")
    desks = visible_desks(viewer, context.settings)
    since = _start_of_day(context.now())
    counts: dict[str, dict[str, int]] = {}
    for row in await stored.risk_counts_since(context.store, desks, since):
        entry = counts.setdefault(row["owner"], {"high_risk": 0, "level3": 0})
        entry["high_risk"] += 1
        entry["level3"] += row["risk_level"] >= 3
    cap = context.settings.handoff.consecutive_level3_cap
    result = []
    for user in await list_users(context.store, desks):
        if user.role != Role.COUNSELLOR:
            continue
        entry = counts.get(user.id, {"high_risk": 0, "level3": 0})
        run = await consecutive_level3(context, user.id)
        result.append({"user_id": user.id, "display_name": user.display_name, "desk": user.desk, **entry,
                       "consecutive_level3": run, "at_cap": run >= cap})
    return sorted(result, key=lambda row: (-row["high_risk"], row["display_name"]))
