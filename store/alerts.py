"""Alerts and the audit log in MongoDB (``alerts``, ``audit``).

Audit entries are only ever inserted: this module has no update or delete path for them.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pymongo import ASCENDING, DESCENDING, ReturnDocument

from contract.alerts import Alert, AlertState, AuditEntry
from store.database import Index, Store
from store.times import aware

INDEXES = {
    "alerts": [Index([("desk", ASCENDING), ("state", ASCENDING), ("created_at", DESCENDING)], "desk_state")],
    "audit": [Index([("target", ASCENDING), ("at", DESCENDING)], "target_at")],
}


def _alert(doc: dict[str, Any]) -> Alert:
    fields = {k: v for k, v in doc.items() if k != "_id"}
    return Alert(id=doc["_id"], **fields | {"created_at": aware(doc["created_at"]),
                                            "acknowledged_at": aware(doc.get("acknowledged_at"))})


async def insert_alert(store: Store, alert: Alert) -> None:
    await store["alerts"].insert_one({"_id": alert.id, **alert.model_dump(exclude={"id"})})


async def find_alert(store: Store, alert_id: str) -> Alert | None:
    doc = await store["alerts"].find_one({"_id": alert_id})
    return _alert(doc) if doc else None


async def alerts_on_desks(store: Store, desks: set[str], state: AlertState | None, limit: int) -> list[Alert]:
    """Newest first; ``state=None`` for open and acknowledged alike."""
    query: dict[str, Any] = {"desk": {"$in": sorted(desks)}}
    if state is not None:
        query["state"] = state
    docs = await store["alerts"].find(query).sort("created_at", -1).limit(limit).to_list(None)
    return [_alert(doc) for doc in docs]


async def acknowledge_open_alert(store: Store, alert_id: str, by: str, at: datetime) -> Alert | None:
    """The acknowledged alert, or None when it is not open (any more)."""
    doc = await store["alerts"].find_one_and_update(
        {"_id": alert_id, "state": "open"},
        {"$set": {"state": "acknowledged", "acknowledged_by": by, "acknowledged_at": at}},
        return_document=ReturnDocument.AFTER)
    return _alert(doc) if doc else None


async def insert_audit_entry(store: Store, entry: AuditEntry) -> None:
    await store["audit"].insert_one({"_id": entry.id, **entry.model_dump(exclude={"id"})})


async def audit_entries(store: Store, target: str | None, limit: int) -> list[AuditEntry]:
    """Newest first (ids break ties within one timestamp); all targets when ``target`` is None."""
    query = {"target": target} if target else {}
    docs = await store["audit"].find(query).sort([("at", -1), ("_id", -1)]).limit(limit).to_list(None)
    return [AuditEntry(id=doc["_id"], **{k: v for k, v in doc.items() if k != "_id"}) for doc in docs]
