"""Alerts for supervisors: level-3 risk, deadline breaches, outreach tasks, closed reply windows.

An alert is stored (``alerts``) and published (``alert.raised``) with the ids of the supervisors
who must see it now: the online supervisors of the conversation's desk, or, when none is online,
those of the nearest ancestor desk that has one.
"""

from __future__ import annotations

import logging
from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, Field

from contract.config import Settings
from contract.models import Event, new_id, utcnow
from gateway.stream import ConversationStream
from handoff.queue import aware
from handoff.users import Presence, Role
from handoff.web.auth import ancestors
from store.client import Store

log = logging.getLogger("youthdesk.handoff.alerts")

AlertType = Literal["risk_level_3", "deadline_breached", "outreach", "window_closed"]


class Alert(BaseModel):
    id: str = Field(default_factory=lambda: new_id("al"))
    type: AlertType
    conversation_id: str
    desk: str
    created_at: datetime = Field(default_factory=utcnow)
    state: Literal["open", "acknowledged"] = "open"
    acknowledged_by: str | None = None
    acknowledged_at: datetime | None = None
    recipients: list[str] = Field(default_factory=list)
    data: dict[str, Any] = Field(default_factory=dict)

    def public(self) -> dict[str, Any]:
        return {"id": self.id, "type": self.type, "conversation_id": self.conversation_id, "desk": self.desk,
                "created_at": aware(self.created_at).isoformat(), "state": self.state,
                "acknowledged_by": self.acknowledged_by, "recipients": list(self.recipients),
                "data": self.data}


async def supervisors_to_notify(store: Store, settings: Settings, desk: str) -> list[str]:
    for candidate in [desk, *ancestors(settings, desk)]:
        docs = await store["users"].find(
            {"desk": candidate, "role": Role.SUPERVISOR.value, "presence": Presence.ONLINE.value}, {"_id": 1}
        ).to_list(None)
        if docs:
            return sorted(doc["_id"] for doc in docs)
    return []


async def raise_alert(stream: ConversationStream, settings: Settings, *, type: AlertType,  # noqa: A002
                      conversation_id: str, desk: str, data: dict[str, Any] | None = None) -> Alert:
    recipients = await supervisors_to_notify(stream.store, settings, desk)
    if not recipients:
        log.error("%s alert for %s: no supervisor online on desk %s or above", type, conversation_id, desk)
    alert = Alert(type=type, conversation_id=conversation_id, desk=desk, recipients=recipients, data=data or {})
    doc = alert.model_dump()
    doc["_id"] = doc.pop("id")
    await stream.store["alerts"].insert_one(doc)
    await stream.record_event(Event(type="alert.raised", conversation_id=conversation_id, desk=desk,
                                    data={"alert": alert.public()}))
    return alert


def alert_from_doc(doc: dict[str, Any]) -> Alert:
    data = dict(doc)
    data["id"] = data.pop("_id")
    return Alert.model_validate(data)
