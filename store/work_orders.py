"""Work orders to other hotlines (``work_orders``): the order, its outbox state and its status history.

The document is its own outbox, like outbound messages: a sender claims a due order with a lease
(a crashed sender's claim expires), records each attempt, and either marks it sent or schedules the
next attempt; nothing is kept only in memory, so a restart loses no order. Status callbacks are
appended conditionally on the status the caller checked and on their ``event_id`` being new, so a
replayed or racing callback changes nothing. The note, the contact and the status notes are sealed.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from pymongo import ASCENDING, ReturnDocument
from pymongo.errors import DuplicateKeyError

from contract.work_orders import StatusUpdate, WorkOrder, WorkOrderStatus
from store.database import Index, Store
from store.fields import SEALED, seal, seal_paths, unseal_paths
from store.times import aware

INDEXES = {
    "work_orders": [
        Index([("delivery.state", ASCENDING), ("delivery.next_attempt_at", ASCENDING)], "due"),
        Index([("case_id", ASCENDING)], "case"),
        # One order per referral: a referral added twice (a retried request) is sent once.
        Index([("referral_id", ASCENDING)], "referral", unique=True),
    ],
}


def _order(store: Store, doc: dict[str, Any]) -> WorkOrder:
    opened = unseal_paths(store, doc, SEALED["work_orders"])
    order = WorkOrder.model_validate({**opened, "id": doc["_id"]})
    delivery = order.delivery.model_copy(update={
        "next_attempt_at": aware(order.delivery.next_attempt_at), "lease_until": aware(order.delivery.lease_until),
        "sent_at": aware(order.delivery.sent_at)})
    return order.model_copy(update={"delivery": delivery, "created_at": aware(order.created_at)})


async def insert_once(store: Store, order: WorkOrder) -> bool:
    """Store a new order; False if its referral has one already."""
    doc = seal_paths(store, order.model_dump(exclude={"id"}), SEALED["work_orders"])
    try:
        await store["work_orders"].insert_one({"_id": order.id, **doc})
    except DuplicateKeyError:
        return False
    return True


async def find(store: Store, order_id: str) -> WorkOrder | None:
    doc = await store["work_orders"].find_one({"_id": order_id})
    return _order(store, doc) if doc else None


async def for_case(store: Store, case_id: str) -> list[WorkOrder]:
    docs = await store["work_orders"].find({"case_id": case_id}).sort("created_at", 1).to_list(None)
    return [_order(store, doc) for doc in docs]


async def claim_due(store: Store, now: datetime, lease: timedelta) -> WorkOrder | None:
    """One pending order whose next attempt is due and that nobody holds, leased to the caller."""
    doc = await store["work_orders"].find_one_and_update(
        {"delivery.state": "pending", "delivery.next_attempt_at": {"$lte": now},
         "$or": [{"delivery.lease_until": None}, {"delivery.lease_until": {"$lte": now}}]},
        {"$set": {"delivery.lease_until": now + lease}},
        sort=[("delivery.next_attempt_at", 1)], return_document=ReturnDocument.AFTER)
    return _order(store, doc) if doc else None


async def mark_sent(store: Store, order_id: str, *, attempts: int, now: datetime) -> None:
    await store["work_orders"].update_one({"_id": order_id}, {"$set": {
        "delivery.state": "sent", "delivery.attempts": attempts, "delivery.sent_at": now,
        "delivery.lease_until": None, "delivery.last_error": ""}})


async def retry_later(store: Store, order_id: str, *, attempts: int, at: datetime, error: str) -> None:
    await store["work_orders"].update_one({"_id": order_id}, {"$set": {
        "delivery.attempts": attempts, "delivery.next_attempt_at": at, "delivery.lease_until": None,
        "delivery.last_error": error[:500]}})


async def mark_failed(store: Store, order_id: str, *, attempts: int, error: str) -> None:
    await store["work_orders"].update_one({"_id": order_id}, {"$set": {
        "delivery.state": "failed", "delivery.attempts": attempts, "delivery.lease_until": None,
        "delivery.last_error": error[:500]}})


async def append_status(store: Store, order_id: str, expected: WorkOrderStatus | None,
                        update: StatusUpdate) -> WorkOrder | None:
    """Record a status callback if the order is still at ``expected`` and has not seen its event id.
    A callback proves the hotline has the order, so delivery counts as done (its 2xx may have been lost)."""
    doc = await store["work_orders"].find_one_and_update(
        {"_id": order_id, "status": expected, "history.event_id": {"$ne": update.event_id}},
        {"$set": {"status": update.status, "delivery.state": "sent", "delivery.lease_until": None},
         "$push": {"history": {**update.model_dump(), "note": seal(store, update.note)}}},
        return_document=ReturnDocument.AFTER)
    return _order(store, doc) if doc else None
