"""Alerts, surges and the audit log in MongoDB (``alerts``, ``surges``, ``audit``).

Audit entries are only ever inserted: this module has no update or delete path for them.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pymongo import ASCENDING, DESCENDING, ReturnDocument
from pymongo.errors import DuplicateKeyError

from contract.alerts import Alert, AlertState, AlertType, AuditEntry
from contract.escalation import AlertStep, Surge
from store.database import Index, Store
from store.times import aware

INDEXES = {
    "alerts": [Index([("desk", ASCENDING), ("state", ASCENDING), ("created_at", DESCENDING)], "desk_state"),
               Index([("published", ASCENDING)], "published")],
    "audit": [Index([("target", ASCENDING), ("at", DESCENDING)], "target_at")],
    "surges": [Index([("ended_at", ASCENDING), ("desk", ASCENDING)], "active_desk")],
}


def _alert(doc: dict[str, Any]) -> Alert:
    fields = {k: v for k, v in doc.items() if k not in ("_id", "step_claimed", "published")}
    steps = [step | {"at": aware(step["at"])} for step in doc.get("steps", [])]
    return Alert(id=doc["_id"], **fields | {"created_at": aware(doc["created_at"]),
                                            "acknowledged_at": aware(doc.get("acknowledged_at")), "steps": steps})


async def insert_alert(store: Store, alert: Alert) -> None:
    await store["alerts"].insert_one({"_id": alert.id, **alert.model_dump(exclude={"id"})})


async def insert_unpublished_alert(store: Store, alert: Alert) -> bool:
    """Store an alert raised outside the request path (early warning), for ``claim_unpublished_alerts`` to
    publish; False when an alert with its id is already stored (another process raised the same one)."""
    try:
        await store["alerts"].insert_one({"_id": alert.id, **alert.model_dump(exclude={"id"}), "published": False})
    except DuplicateKeyError:
        return False
    return True


async def claim_unpublished_alerts(store: Store, limit: int = 100) -> list[Alert]:
    """Alerts stored unpublished, each handed to exactly one caller (one gateway instance publishes it)."""
    claimed = []
    for _ in range(limit):
        doc = await store["alerts"].find_one_and_update({"published": False}, {"$set": {"published": True}},
                                                        sort=[("created_at", ASCENDING)])
        if doc is None:
            break
        claimed.append(_alert(doc))
    return claimed


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


async def open_alerts_of_type(store: Store, type: AlertType, *,  # noqa: A002
                              created_by: datetime | None = None) -> list[Alert]:
    """Every open alert of ``type`` (raised by ``created_by``, if given), oldest first: what the alert
    escalation looks at."""
    query: dict[str, Any] = {"state": "open", "type": type}
    if created_by is not None:
        query["created_at"] = {"$lte": created_by}
    docs = await store["alerts"].find(query).sort("created_at", 1).to_list(None)
    return [_alert(doc) for doc in docs]


async def claim_alert_step(store: Store, alert: Alert) -> bool:
    """True for exactly one caller per step of a still-open alert, so a page is sent once even when two
    ticks (or two gateway instances) look at the same alert."""
    result = await store["alerts"].update_one(
        {"_id": alert.id, "state": "open", "steps": {"$size": len(alert.steps)},
         "step_claimed": {"$ne": len(alert.steps)}},
        {"$set": {"step_claimed": len(alert.steps)}})
    return bool(result.modified_count)


async def add_alert_step(store: Store, alert: Alert, step: AlertStep, *, recipients: list[str]) -> Alert | None:
    """Record ``step`` on a still-open alert that has exactly the steps ``alert`` had (two ticks never
    take one step twice) and add ``recipients``; None if it was acknowledged or moved on meanwhile."""
    doc = await store["alerts"].find_one_and_update(
        {"_id": alert.id, "state": "open", "steps": {"$size": len(alert.steps)}},
        {"$push": {"steps": step.model_dump()}, "$addToSet": {"recipients": {"$each": recipients}}},
        return_document=ReturnDocument.AFTER)
    return _alert(doc) if doc else None


def _surge(doc: dict[str, Any]) -> Surge:
    fields = {k: v for k, v in doc.items() if k != "_id"}
    return Surge(id=doc["_id"], **fields | {"started_at": aware(doc["started_at"]),
                                            "ended_at": aware(doc.get("ended_at"))})


async def insert_surge(store: Store, surge: Surge) -> None:
    await store["surges"].insert_one({"_id": surge.id, **surge.model_dump(exclude={"id"})})


async def active_surges(store: Store) -> list[Surge]:
    docs = await store["surges"].find({"ended_at": None}).sort("started_at", 1).to_list(None)
    return [_surge(doc) for doc in docs]


async def end_surge(store: Store, surge_id: str, by: str, at: datetime) -> Surge | None:
    """The ended surge, or None when it is not active (any more)."""
    doc = await store["surges"].find_one_and_update(
        {"_id": surge_id, "ended_at": None}, {"$set": {"ended_by": by, "ended_at": at}},
        return_document=ReturnDocument.AFTER)
    return _surge(doc) if doc else None


async def insert_audit_entry(store: Store, entry: AuditEntry) -> None:
    await store["audit"].insert_one({"_id": entry.id, **entry.model_dump(exclude={"id"})})


async def audit_entries(store: Store, target: str | None, limit: int) -> list[AuditEntry]:
    """Newest first (ids break ties within one timestamp); all targets when ``target`` is None."""
    query = {"target": target} if target else {}
    docs = await store["audit"].find(query).sort([("at", -1), ("_id", -1)]).limit(limit).to_list(None)
    return [AuditEntry(id=doc["_id"], **{k: v for k, v in doc.items() if k != "_id"}) for doc in docs]
