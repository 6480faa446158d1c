"""Alerts for supervisors: level-3 risk, deadline breaches, outreach tasks, closed reply windows.

An alert is stored (``alerts``) and published (``alert.raised``) with the ids of the supervisors
who must see it now: the online supervisors of the conversation's desk, or, when none is online,
those of the nearest ancestor desk that has one.
"""

from __future__ import annotations

import logging
from datetime import datetime
from typing import Any

from contract.alerts import Alert, AlertState, AlertType
from contract.config import Settings
from contract.models import Event
from contract.people import User
from gateway.stream import ConversationStream
from handoff.access import ancestors, ensure_desk_access, visible_desks
from handoff.errors import Conflict, NotFound
from store import alerts as stored
from store.client import Store
from store.users import online_supervisor_ids

log = logging.getLogger("youthdesk.handoff.alerts")

MAX_LISTED = 200


async def supervisors_to_notify(store: Store, settings: Settings, desk: str) -> list[str]:
    for candidate in [desk, *ancestors(settings, desk)]:
        if found := await online_supervisor_ids(store, candidate):
            return found
    return []


async def raise_alert(stream: ConversationStream, settings: Settings, *, type: AlertType,  # noqa: A002
                      conversation_id: str, desk: str, data: dict[str, Any] | None = None) -> Alert:
    recipients = await supervisors_to_notify(stream.store, settings, desk)
    if not recipients:
        log.error("%s alert for %s: no supervisor online on desk %s or above", type, conversation_id, desk)
    alert = Alert(type=type, conversation_id=conversation_id, desk=desk, recipients=recipients, data=data or {})
    await stored.insert_alert(stream.store, alert)
    await stream.record_event(Event(type="alert.raised", conversation_id=conversation_id, desk=desk,
                                    data={"alert": alert.public()}))
    return alert


async def alerts_in_scope(store: Store, settings: Settings, user: User, state: AlertState | None) -> list[Alert]:
    """The newest alerts of the desks ``user`` sees; ``state=None`` for open and acknowledged alike."""
    return await stored.alerts_on_desks(store, visible_desks(user, settings), state, MAX_LISTED)


async def acknowledge(store: Store, settings: Settings, user: User, alert_id: str, now: datetime) -> Alert:
    alert = await stored.find_alert(store, alert_id)
    if alert is None:
        raise NotFound(alert_id)
    ensure_desk_access(user, alert.desk, settings)
    acknowledged = await stored.acknowledge_open_alert(store, alert_id, user.id, now)
    if acknowledged is None:
        raise Conflict("already acknowledged")
    return acknowledged
