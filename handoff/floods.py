"""Possible floods: many anonymous risk conversations from one source in a short time.

Forty sockets from one browser must not become forty level-3 alerts that bury a real one. Past
``handoff.flood_threshold`` conversations at risk level >= 2 from one widget source (a keyed hash of
the address, tagged by the widget) within ``flood_window_seconds``, they are grouped into one
"possible flood" item and one alert for a supervisor. Nothing is dropped: every message is stored,
every conversation stays queued and reachable, and the queue lists them after other conversations
of the same level (``handoff.queue``).
"""

from __future__ import annotations

from datetime import timedelta

from contract.models import Conversation
from contract.people import Role, User
from handoff.access import visible_desks
from handoff.alerts import raise_alert
from handoff.context import HandoffContext
from handoff.errors import NotPermitted
from store import floods as stored
from store import handoff as conversations

SOURCE_TAG = "widget_source"
ANONYMOUS_TAG = "widget_anonymous"


async def group_if_flood(context: HandoffContext, conversation: Conversation) -> bool:
    """True when ``conversation`` belongs to a possible flood (and is now in its group)."""
    source = conversation.tags.get(SOURCE_TAG)
    if not source or conversation.tags.get(ANONYMOUS_TAG) != "1":
        return False
    settings, now = context.settings.handoff, context.now()
    since = now - timedelta(seconds=settings.flood_window_seconds)
    members = await conversations.risk_conversations_from_source(context.store, source, since)
    if len(members) <= settings.flood_threshold:
        return False
    group, started = await stored.add_to_group(context.store, source=source, desk=conversation.desk,
                                               partner=conversation.account, conversation_ids=members,
                                               since=since, now=now)
    await conversations.mark_flood(context.store, members, group["id"])
    if started:
        await raise_alert(context.stream, context.settings, type="possible_flood", conversation_id=conversation.id,
                          desk=conversation.desk, data={"flood_group": group["id"], "count": group["count"],
                                                        "partner": conversation.account})
    return True


async def groups_in_scope(context: HandoffContext, user: User) -> list[dict[str, object]]:
    if user.role == Role.COUNSELLOR:
        raise NotPermitted("supervisors only")
    return await stored.recent_groups(context.store, visible_desks(user, context.settings))
